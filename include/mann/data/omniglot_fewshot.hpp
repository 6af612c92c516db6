// mann/data/omniglot_fewshot.hpp: the N-way K-shot Omniglot protocol of Vinyals et al. 2016 as Kaiser
// et al. 2017 (section 4, Table 1) use it: 28 × 28 images pre-rendered for every class (90° rotations as
// extra classes), seeded N-way K-shot evaluation episodes (support set + queries), and the sequential
// training episodes of Kaiser's released code. Also the in-memory form of Lake's twenty 20-way one-shot
// runs (loaded by mann/data/omniglot_lake_runs.hpp). Needs Eigen only; opt-in (not in mann/mann.hpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mann/core/error.hpp"
#include "mann/core/random.hpp"
#include "mann/core/types.hpp"
#include "mann/data/augment.hpp"
#include "mann/data/omniglot_images.hpp"

namespace mann {

/// Which characters train and which are held out (both in the fixed order of OmniglotImages).
enum class FewShotSplit {
  /// Vinyals et al. 2016 / Kaiser et al. 2017's text: the first 1200 characters train, the remaining
  /// 423 are held out. In the fixed order these are all 964 background characters plus the first 236
  /// evaluation ones (Angelic … Gurmukhi/character41); held out: Gurmukhi/character42 … ULOG.
  /// NOTE: Lake's runs 1–8 use Atlantean, Ge_ez, Glagolitic and Gurmukhi, partly training characters
  /// here; a trained model should be scored on Lake's runs after training on background_evaluation.
  vinyals_1200,
  /// Kaiser et al.'s released code: the 964 images_background characters train, the 659
  /// images_evaluation characters are held out (Lake's runs come from the evaluation set only).
  background_evaluation,
};

/// The training and held-out characters of `split`. \throws ValueError (vinyals_1200) when `images`
/// holds fewer than 1200 characters.
inline CharacterSplit few_shot_split(const OmniglotImages& images, FewShotSplit split) {
  return split == FewShotSplit::vinyals_1200 ? split_characters(images, 1200) : split_by_set(images);
}

/// Quarter turn of a square row-major image, counter-clockwise as displayed (row 0 on top), as in
/// augment.hpp: pixel (r, c) goes to (side − 1 − c, r) per turn. `in` and `out` must not overlap.
template <class Scalar>
void rotate_quarter_turns(const Scalar* in, int side, int turns, Scalar* out) {
  const int t = ((turns % 4) + 4) % 4, last = side - 1;
  for (int r = 0; r < side; ++r) {
    for (int c = 0; c < side; ++c) {
      const int rr = t == 0 ? r : t == 1 ? last - c : t == 2 ? last - r : c;
      const int cc = t == 0 ? c : t == 1 ? r : t == 2 ? last - c : last - r;
      out[rr * side + cc] = in[r * side + c];
    }
  }
}

/// Pre-rendered few-shot classes: every drawing of the chosen characters downscaled by area averaging
/// (augment.hpp) to image_size² (28 × 28 = 784) values in [0, 1], ink = 1, row-major; with
/// `rotations`, each character gives four classes (0°, 90°, 180°, 270° counter-clockwise; the turns are
/// exact pixel permutations of the downscaled image). Class `i · turns + r` is character
/// characters[i] turned r times. Drawings keep their order (20 per class). The store also keeps the
/// characters' 105 × 105 bitmaps, so that distorted() can render a drawing afresh with a per-sample
/// rotation and shift. Memory: classes × 20 × pixels scalars (4800 classes of 28²: 301 MB in float),
/// plus 1.4 kB per drawing of a character for the bitmaps (1200 characters: 33 MB).
/// Thread-safety: const member functions are safe for concurrent readers.
template <class Scalar = float>
class FewShotImages {
 public:
  static constexpr int drawings_per_class = OmniglotImages::drawings_per_character;

  FewShotImages() = default;

  /// \throws ValueError for an image_size < 1 or a character index outside `images`.
  FewShotImages(const OmniglotImages& images, const std::vector<Index>& characters, bool rotations,
                int image_size = 28)
      : image_size_(image_size), turns_(rotations ? 4 : 1), characters_(characters) {
    const char* where = "mann::FewShotImages";
    check_value(image_size >= 1, where, "image_size", image_size, ">= 1");
    for (Index c : characters_) {
      check_value(c >= 0 && c < images.size(), where, "character", c,
                  ("in [0, " + std::to_string(images.size()) + ")").c_str());
    }
    const std::size_t pixels = static_cast<std::size_t>(image_size) * image_size;
    data_.resize(static_cast<std::size_t>(classes()) * drawings_per_class * pixels);
    bitmaps_.resize(characters_.size() * drawings_per_class * OmniglotImages::bytes_per_image);
    ImageAugmenter augmenter(OmniglotImages::image_size, image_size);
    std::vector<float> full(OmniglotImages::pixels_per_image);
    std::vector<Scalar> upright(pixels);
    for (std::size_t i = 0; i < characters_.size(); ++i) {
      for (int d = 0; d < drawings_per_class; ++d) {
        const std::uint8_t* bits = images.packed(characters_[i], d);
        std::copy(bits, bits + OmniglotImages::bytes_per_image, bitmaps_.data() + bitmap_offset(static_cast<Index>(i), d));
        images.unpack(characters_[i], d, full.data());
        augmenter.downscale(full.data(), upright.data());
        for (int r = 0; r < turns_; ++r) {
          rotate_quarter_turns(upright.data(), image_size, r, mutable_data(static_cast<Index>(i) * turns_ + r, d));
        }
      }
    }
  }

  /// Number of classes (characters × 4 with rotations, else characters).
  Index classes() const { return static_cast<Index>(characters_.size()) * turns_; }
  int image_size() const { return image_size_; }
  Index pixels() const { return static_cast<Index>(image_size_) * image_size_; }
  /// 4 with rotations, else 1.
  int turns() const { return turns_; }
  /// The OmniglotImages index of the character of class `cls`. No range check.
  Index character(Index cls) const { return characters_[static_cast<std::size_t>(cls / turns_)]; }
  /// Counter-clockwise quarter turns of class `cls` (0–3).
  int quarter_turns(Index cls) const { return static_cast<int>(cls % turns_); }

  /// Drawing `d` of class `cls`: pixels() values, row-major. No range check.
  const Scalar* data(Index cls, int d) const { return data_.data() + offset(cls, d); }

  /// Drawing `d` of class `cls` as a column. \throws ValueError when out of range.
  Eigen::Map<const Vector<Scalar>> image(Index cls, int d) const {
    const char* where = "mann::FewShotImages::image";
    check_value(cls >= 0 && cls < classes(), where, "class", cls, ("in [0, " + std::to_string(classes()) + ")").c_str());
    check_value(d >= 0 && d < drawings_per_class, where, "drawing", d, "in [0, 20)");
    return Eigen::Map<const Vector<Scalar>>(data(cls, d), pixels());
  }

  /// Drawing `d` of class `cls` rendered afresh: the 105 × 105 original turned by the class's quarter
  /// turns (transform.quarter_turns is ignored), then rotated by transform.angle and shifted by
  /// (transform.shift_x, transform.shift_y) pixels of the original (augment.hpp), then downscaled as
  /// data() is; pixels() values into `out`. With a zero angle and zero shifts it is data(cls, d) up to
  /// float rounding. `augmenter` is the caller's workspace, ImageAugmenter(105, image_size()).
  /// No range check on cls and d. \throws ShapeError for an augmenter of other sizes.
  void distorted(Index cls, int d, ImageTransform transform, ImageAugmenter& augmenter, Scalar* out) const {
    if (augmenter.input_size() != OmniglotImages::image_size || augmenter.output_size() != image_size_) {
      throw ShapeError("mann::FewShotImages::distorted: the augmenter maps " + std::to_string(augmenter.input_size()) +
                       " to " + std::to_string(augmenter.output_size()) + " pixels, expected " +
                       std::to_string(OmniglotImages::image_size) + " to " + std::to_string(image_size_));
    }
    transform.quarter_turns = quarter_turns(cls);
    augmenter.apply_packed(bitmaps_.data() + bitmap_offset(cls / turns_, d), transform, out);
  }

 private:
  std::size_t bitmap_offset(Index character_index, int d) const {
    return (static_cast<std::size_t>(character_index) * drawings_per_class + static_cast<std::size_t>(d)) *
           OmniglotImages::bytes_per_image;
  }
  std::size_t offset(Index cls, int d) const {
    return (static_cast<std::size_t>(cls) * drawings_per_class + static_cast<std::size_t>(d)) * static_cast<std::size_t>(pixels());
  }
  Scalar* mutable_data(Index cls, int d) { return data_.data() + offset(cls, d); }

  int image_size_ = 28;
  int turns_ = 1;
  std::vector<Index> characters_;
  std::vector<Scalar> data_;
  std::vector<std::uint8_t> bitmaps_;  // characters_.size() × 20 packed 105 × 105 bitmaps
};

/// Shape of an N-way K-shot evaluation episode.
struct FewShotEpisodeOptions {
  int ways = 5;     ///< N: classes per episode
  int shots = 1;    ///< K: support drawings per class
  int queries = 1;  ///< query drawings per class (shots + queries <= 20)
  /// Kaiser et al.'s reading (§4: "measure its accuracy the K-th time it sees the character class";
  /// the per-showing accuracy of their train.py): the episode is K + 1 rounds of one showing per
  /// class, each round in a random order of its own, and every showing is predicted and then written
  /// with its label, the queries too (mann/data/few_shot_evaluation.hpp). The queries are the last
  /// round, so this needs queries = 1. The classes and drawings are those of the episode without it.
  bool sequential = false;
};

/// One N-way K-shot episode. Labels are 0 … N−1; label l is class `classes[l]` of the store, and the
/// classes are drawn at random, so the label of a class is a fresh random choice every episode.
/// Support columns are shot-major: round s (columns s · N … s · N + N − 1) holds shot s of every
/// label (every class once, then every class again, as a memory network would be shown them), in
/// label order (column s · N + l is label l), or with options.sequential in a random order drawn
/// afresh for each round. Query columns are in random order.
template <class Scalar = float>
struct FewShotEpisode {
  int ways = 0, shots = 0, queries = 0;
  Matrix<Scalar> support;            ///< pixels × (ways · shots)
  std::vector<int> support_labels;   ///< ways · shots labels in [0, ways)
  Matrix<Scalar> query;              ///< pixels × (ways · queries)
  std::vector<int> query_labels;     ///< ways · queries labels in [0, ways)
  std::vector<Index> classes;        ///< store class of each label
  std::vector<int> support_drawings; ///< drawing index (0–19) of each support column
  std::vector<int> query_drawings;   ///< drawing index (0–19) of each query column
};

/// Shape of the sequential training episodes of Kaiser et al.'s released code (train.py): each
/// episode has `ways` distinct classes and `length` samples, length / ways drawings of each class
/// (the first length mod ways classes one more), all distinct; shown in rounds (every class once
/// before any is shown again), in random order within a round. The memory is cleared at the start of
/// every episode; the model predicts each sample before it writes it (so the first showing of a
/// class is a guess and the k-th is k−1-shot). The code's default is ways 5, length 30, batch 16.
struct FewShotTrainingOptions {
  int ways = 5;
  int length = 30;
  /// Labels of episode column b are b · ways + l (as in the released code, so the episodes of a batch
  /// can share one memory without their labels colliding); false: 0 … ways − 1 in every column.
  bool offset_labels = false;
  /// Per-sample distortion (none by default; not in Kaiser et al.'s code): each drawing is rendered
  /// afresh (FewShotImages::distorted) with a rotation uniform in ±max_rotation radians and two shifts
  /// uniform in ±max_translation pixels of the 105 × 105 original, and optionally each axis scaled by
  /// a factor uniform in 1 ± max_scale and sheared by a factor uniform in ±max_shear (ImageTransform;
  /// not in either paper). The draws come from a stream of their own, so the episodes (classes,
  /// drawings, order, labels) are those of the undistorted run.
  double max_rotation = 0.0;
  double max_translation = 0.0;
  double max_scale = 0.0;  ///< in [0, 1)
  double max_shear = 0.0;
  bool distorted() const {
    return max_rotation != 0.0 || max_translation != 0.0 || max_scale != 0.0 || max_shear != 0.0;
  }
};

/// A batch of training episodes laid out step by step: inputs[t] is pixels × B (column b is step t of
/// episode b), labels[t][b] its label, shown[t][b] how many times that class was shown before in
/// the episode (0 = first showing).
template <class Scalar = float>
struct FewShotTrainingBatch {
  std::vector<Matrix<Scalar>> inputs;
  std::vector<std::vector<int>> labels;
  std::vector<std::vector<int>> shown;
  std::optional<ImageAugmenter> augmenter;  ///< workspace of the distortions, made on first use
  Index length() const { return static_cast<Index>(inputs.size()); }
  Index batch() const { return inputs.empty() ? 0 : inputs.front().cols(); }
};

/// Seeded sampler of few-shot episodes over a FewShotImages store (kept by pointer: it must outlive
/// the sampler). Episode e is a pure function of (seed, e): any order or split over threads gives the
/// same episodes. Classes are drawn uniformly without replacement from all classes of the store (two
/// rotations of one character may meet in an episode, as in the released code); the drawings of a
/// class in one episode are distinct, so support and query drawings are disjoint.
/// Thread-safety: const member functions are safe to call concurrently.
template <class Scalar = float>
class FewShotSampler {
 public:
  /// \throws ValueError when the store has no class.
  FewShotSampler(const FewShotImages<Scalar>& images, std::uint64_t seed) : images_(&images), seed_(seed) {
    check_value(images.classes() >= 1, "mann::FewShotSampler", "images.classes()", images.classes(), ">= 1");
  }

  const FewShotImages<Scalar>& images() const { return *images_; }
  std::uint64_t seed() const { return seed_; }

  /// Fills `out` with evaluation episode `episode`. \throws ValueError unless 1 <= ways <= classes,
  /// shots >= 1, queries >= 0, shots + queries <= 20 and (sequential) queries = 1.
  void episode(std::uint64_t episode, const FewShotEpisodeOptions& options, FewShotEpisode<Scalar>& out) const {
    const char* where = "mann::FewShotSampler::episode";
    check_episode(options, where);
    const int n = options.ways, k = options.shots, q = options.queries;
    Rng rng(episode_seed(seed_ ^ 0x45564C4641535445ull, episode));  // "evaluation" stream
    out.ways = n;
    out.shots = k;
    out.queries = q;
    out.classes = pick_classes(rng, n);
    const Index pixels = images_->pixels();
    out.support.resize(pixels, static_cast<Index>(n) * k);
    out.query.resize(pixels, static_cast<Index>(n) * q);
    out.support_labels.resize(static_cast<std::size_t>(n) * k);
    out.support_drawings.resize(static_cast<std::size_t>(n) * k);
    std::vector<std::pair<int, int>> queries;  // (label, drawing)
    queries.reserve(static_cast<std::size_t>(n) * q);
    for (int l = 0; l < n; ++l) {
      const std::vector<int> drawings = pick_drawings(rng, k + q);
      for (int s = 0; s < k; ++s) {
        const std::size_t column = static_cast<std::size_t>(s) * n + l;
        out.support_labels[column] = l;
        out.support_drawings[column] = drawings[static_cast<std::size_t>(s)];
      }
      for (int j = 0; j < q; ++j) queries.emplace_back(l, drawings[static_cast<std::size_t>(k + j)]);
    }
    rng.shuffle(queries);
    out.query_labels.resize(queries.size());
    out.query_drawings.resize(queries.size());
    for (std::size_t j = 0; j < queries.size(); ++j) {
      out.query_labels[j] = queries[j].first;
      out.query_drawings[j] = queries[j].second;
    }
    if (options.sequential) {  // drawn last: the classes, drawings and queries stay those of the plain episode
      const std::size_t count = static_cast<std::size_t>(n);
      std::vector<int> order(count), drawings(count);
      for (std::size_t round = 0; round < out.support_labels.size(); round += count) {
        for (std::size_t l = 0; l < count; ++l) {
          order[l] = static_cast<int>(l);
          drawings[l] = out.support_drawings[round + l];  // label order so far
        }
        rng.shuffle(order);
        for (std::size_t i = 0; i < count; ++i) {
          out.support_labels[round + i] = order[i];
          out.support_drawings[round + i] = drawings[static_cast<std::size_t>(order[i])];
        }
      }
    }
    for (std::size_t i = 0; i < out.support_labels.size(); ++i) {
      copy_image(out.classes[static_cast<std::size_t>(out.support_labels[i])], out.support_drawings[i],
                 out.support.col(static_cast<Index>(i)).data());
    }
    for (std::size_t j = 0; j < queries.size(); ++j) {
      copy_image(out.classes[static_cast<std::size_t>(out.query_labels[j])], out.query_drawings[j],
                 out.query.col(static_cast<Index>(j)).data());
    }
  }

  FewShotEpisode<Scalar> episode(std::uint64_t index, const FewShotEpisodeOptions& options) const {
    FewShotEpisode<Scalar> out;
    episode(index, options, out);
    return out;
  }

  /// Fills `out` with training episodes first_episode … first_episode + batch_size − 1 (column b is
  /// episode first_episode + b). \throws ValueError unless 1 <= ways <= classes, length >= 1,
  /// ceil(length / ways) <= 20, batch_size >= 1, the distortion ranges are finite and >= 0 and max_scale < 1.
  void training_batch(std::uint64_t first_episode, Index batch_size, const FewShotTrainingOptions& options,
                      FewShotTrainingBatch<Scalar>& out) const {
    const char* where = "mann::FewShotSampler::training_batch";
    check_value(options.ways >= 1 && options.ways <= images_->classes(), where, "options.ways", options.ways,
                ("in [1, " + std::to_string(images_->classes()) + "] (the classes of the store)").c_str());
    check_value(options.length >= 1, where, "options.length", options.length, ">= 1");
    const int per_class = (options.length + options.ways - 1) / options.ways;
    check_value(per_class <= FewShotImages<Scalar>::drawings_per_class, where, "ceil(options.length / options.ways)",
                per_class, "<= 20 (drawings per class)");
    check_value(batch_size >= 1, where, "batch_size", batch_size, ">= 1");
    check_value(std::isfinite(options.max_rotation) && options.max_rotation >= 0, where, "options.max_rotation",
                options.max_rotation, "finite and >= 0");
    check_value(std::isfinite(options.max_translation) && options.max_translation >= 0, where,
                "options.max_translation", options.max_translation, "finite and >= 0");
    check_value(options.max_scale >= 0 && options.max_scale < 1, where, "options.max_scale", options.max_scale,
                "in [0, 1) (a scale factor stays > 0)");
    check_value(std::isfinite(options.max_shear) && options.max_shear >= 0, where, "options.max_shear",
                options.max_shear, "finite and >= 0");
    const int n = options.ways, T = options.length;
    AugmentOptions distortion;
    distortion.max_rotation = options.max_rotation;
    distortion.max_translation = options.max_translation;
    distortion.max_scale = options.max_scale;
    distortion.max_shear = options.max_shear;
    if (options.distorted() && (!out.augmenter || out.augmenter->output_size() != images_->image_size())) {
      out.augmenter.emplace(OmniglotImages::image_size, images_->image_size());
    }
    out.inputs.resize(static_cast<std::size_t>(T));
    out.labels.assign(static_cast<std::size_t>(T), std::vector<int>(static_cast<std::size_t>(batch_size)));
    out.shown.assign(static_cast<std::size_t>(T), std::vector<int>(static_cast<std::size_t>(batch_size)));
    for (Matrix<Scalar>& x : out.inputs) x.resize(images_->pixels(), batch_size);
    struct Sample {
      int label, drawing, showing;
    };
    std::vector<Sample> samples;
    for (Index b = 0; b < batch_size; ++b) {
      Rng rng(episode_seed(seed_ ^ 0x545241494E494E47ull, first_episode + static_cast<std::uint64_t>(b)));  // "training"
      const std::vector<Index> classes = pick_classes(rng, n);
      samples.clear();
      for (int l = 0; l < n; ++l) {
        const int count = T / n + (l < T % n ? 1 : 0);  // labels are random, so "the first" classes are random too
        const std::vector<int> drawings = pick_drawings(rng, count);
        for (int s = 0; s < count; ++s) samples.push_back({l, drawings[static_cast<std::size_t>(s)], s});
      }
      // Rounds: all first showings (in random order), then all second showings, …
      rng.shuffle(samples);
      std::stable_sort(samples.begin(), samples.end(), [](const Sample& a, const Sample& c) { return a.showing < c.showing; });
      const int offset = options.offset_labels ? static_cast<int>(b) * n : 0;
      Rng distortions(episode_seed(seed_ ^ 0x444953544F525455ull, first_episode + static_cast<std::uint64_t>(b)));  // "DISTORTU"
      for (int t = 0; t < T; ++t) {
        const Sample& s = samples[static_cast<std::size_t>(t)];
        const Index cls = classes[static_cast<std::size_t>(s.label)];
        Scalar* column = out.inputs[static_cast<std::size_t>(t)].col(b).data();
        if (options.distorted()) {
          images_->distorted(cls, s.drawing, random_transform(distortions, distortion), *out.augmenter, column);
        } else {
          copy_image(cls, s.drawing, column);
        }
        out.labels[static_cast<std::size_t>(t)][static_cast<std::size_t>(b)] = s.label + offset;
        out.shown[static_cast<std::size_t>(t)][static_cast<std::size_t>(b)] = s.showing;
      }
    }
  }

 private:
  void check_episode(const FewShotEpisodeOptions& o, const char* where) const {
    check_value(o.ways >= 1 && o.ways <= images_->classes(), where, "options.ways", o.ways,
                ("in [1, " + std::to_string(images_->classes()) + "] (the classes of the store)").c_str());
    check_value(o.shots >= 1, where, "options.shots", o.shots, ">= 1");
    check_value(o.queries >= 0, where, "options.queries", o.queries, ">= 0");
    check_value(o.shots + o.queries <= FewShotImages<Scalar>::drawings_per_class, where, "options.shots + options.queries",
                o.shots + o.queries, "<= 20 (drawings per class)");
    if (o.sequential) {
      check_value(o.queries == 1, where, "options.queries", o.queries,
                  "1 with options.sequential (the queries are the one round after the K-th)");
    }
  }

  // n distinct classes, uniformly, in random order (Floyd's algorithm, then a shuffle).
  std::vector<Index> pick_classes(Rng& rng, int n) const {
    const std::uint64_t total = static_cast<std::uint64_t>(images_->classes());
    std::vector<Index> chosen;
    chosen.reserve(static_cast<std::size_t>(n));
    for (std::uint64_t j = total - static_cast<std::uint64_t>(n); j < total; ++j) {
      const Index t = static_cast<Index>(rng.below(j + 1));
      const bool taken = std::find(chosen.begin(), chosen.end(), t) != chosen.end();
      chosen.push_back(taken ? static_cast<Index>(j) : t);
    }
    rng.shuffle(chosen);
    return chosen;
  }

  // count distinct drawings of 20, in random order (partial Fisher–Yates).
  static std::vector<int> pick_drawings(Rng& rng, int count) {
    std::vector<int> all(FewShotImages<Scalar>::drawings_per_class);
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int>(i);
    for (int i = 0; i < count; ++i) {
      const std::size_t j = static_cast<std::size_t>(i) + static_cast<std::size_t>(rng.below(all.size() - static_cast<std::size_t>(i)));
      std::swap(all[static_cast<std::size_t>(i)], all[j]);
    }
    all.resize(static_cast<std::size_t>(count));
    return all;
  }

  void copy_image(Index cls, int drawing, Scalar* out) const {
    const Scalar* in = images_->data(cls, drawing);
    std::copy(in, in + images_->pixels(), out);
  }

  const FewShotImages<Scalar>* images_;
  std::uint64_t seed_;
};

/// One of Lake et al.'s 20-way one-shot runs (all_runs.zip): 20 training drawings (one per class) and
/// 20 test drawings, each image_size² values in a column (ink = 1, row-major), and for each test
/// drawing the index (0–19) of the training drawing of the same class.
template <class Scalar = float>
struct LakeRun {
  std::string name;                         ///< "run01" … "run20"
  Matrix<Scalar> training;                  ///< pixels × 20: column i is training/class{i+1}.png
  Matrix<Scalar> test;                      ///< pixels × 20: column j is test/item{j+1}.png
  std::vector<int> answers;                 ///< answers[j]: the training column of test item j
};

}  // namespace mann
