// mann/data/episodes.hpp: episode generators that fill EpisodeBatch (Santoro et al. section 2, 4.1,
// 4.2.2): Omniglot classification episodes (n characters, fresh labels per episode, augmented
// images) and synthetic episodes (random prototype vectors plus noise) for tests of learning
// without data; and the curriculum of 4.2.2. Needs Eigen only (the images are loaded by
// mann/data/omniglot.hpp, which needs libpng and libzip).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "mann/core/episode.hpp"
#include "mann/core/error.hpp"
#include "mann/core/random.hpp"
#include "mann/core/thread_pool.hpp"
#include "mann/core/types.hpp"
#include "mann/data/augment.hpp"
#include "mann/data/omniglot_images.hpp"

namespace mann {

/// What every classification episode looks like.
struct EpisodeOptions {
  int classes = 5;  ///< n: distinct classes per episode (5, 10, 15 in the paper)
  int length = 0;   ///< T: samples per episode; 0 means 10 × classes
  LabelEncoding encoding = LabelEncoding::one_hot;
  /// One-hot rows; 0 means `classes`. Larger (e.g. the curriculum's final class count) keeps the
  /// output size fixed while `classes` grows: the n labels are then n distinct values of [0, one_hot_size).
  int one_hot_size = 0;
  /// false (the paper): each sample's class is uniform over the n classes, so counts differ between
  /// classes. true: every class appears ⌊T/n⌋ times (plus one more for T mod n random classes), in random order.
  bool balanced = false;
};

/// Omniglot episodes: EpisodeOptions plus the image pipeline of data/augment.hpp.
struct OmniglotEpisodeOptions : EpisodeOptions {
  int image_size = 20;          ///< side of the downscaled image (20 in Santoro et al., 28 in Kaiser et al.)
  bool augment = true;          ///< per-sample random rotation and translation
  bool rotate_classes = true;   ///< per-class, per-episode rotation by 0, 90, 180 or 270° (new classes, 4.1)
  double max_rotation = pi / 16;                      ///< radians (±π/16)
  double max_translation = 10.0;                      ///< pixels of the 105 × 105 original (±10)
};

/// Synthetic episodes: EpisodeOptions plus the prototype model.
struct SyntheticEpisodeOptions : EpisodeOptions {
  int dimension = 400;  ///< input size
  double noise = 0.5;   ///< per-sample noise standard deviation (prototype entries are N(0, 1))
};

/// Santoro et al. 4.2.2: the maximum number of classes after `episodes_done` training episodes:
/// `start` (15 in the paper), plus one every `every` episodes (10 000), capped at `limit` (0: no cap).
/// Use it as EpisodeOptions::classes with length curriculum_length(classes) = 10 × classes.
/// \throws ValueError for start < 1, every < 1 or 0 < limit < start.
inline int curriculum_classes(std::uint64_t episodes_done, int start = 15, std::uint64_t every = 10000, int limit = 0) {
  check_value(start >= 1, "mann::curriculum_classes", "start", start, ">= 1");
  check_value(every >= 1, "mann::curriculum_classes", "every", every, ">= 1");
  check_value(limit == 0 || limit >= start, "mann::curriculum_classes", "limit", limit, "0 or >= start");
  const std::uint64_t steps = episodes_done / every;
  const std::uint64_t cap = limit > 0 ? static_cast<std::uint64_t>(limit) : std::uint64_t{1} << 30;
  return static_cast<int>(std::min<std::uint64_t>(static_cast<std::uint64_t>(start) + steps, cap));
}

/// Episode length of the curriculum: 10 × the maximum class count.
inline int curriculum_length(int classes) { return 10 * classes; }

namespace detail {

/// The 5-character string labels: five groups of five, group 0 the most significant base-5 digit
/// (as predicted_label reads them).
inline constexpr int string_groups = 5;
inline constexpr int string_letters = 5;
inline constexpr int string_labels = 3125;

/// Checks the shared options; returns the episode length.
inline int check_episode_options(const EpisodeOptions& options, const char* where) {
  check_value(options.classes >= 1, where, "options.classes", options.classes, ">= 1");
  check_value(options.length >= 0, where, "options.length", options.length, ">= 0 (0: 10 x classes)");
  if (options.encoding == LabelEncoding::one_hot) {
    check_value(options.one_hot_size == 0 || options.one_hot_size >= options.classes, where, "options.one_hot_size",
                options.one_hot_size, "0 or >= options.classes");
  } else {
    check_value(options.classes <= string_labels, where, "options.classes", options.classes,
                "<= 3125 (distinct 5-character labels)");
  }
  return options.length > 0 ? options.length : 10 * options.classes;
}

/// Common machinery of the generators (CRTP): labels, class sequence, instance counts, threading.
/// Generator provides options(), input_size(), a Workspace type, make_workspace(),
/// begin_episode(rng, workspace) and sample(rng, workspace, class, Scalar* out).
template <class Scalar, class Generator>
class EpisodeGeneratorBase {
 public:
  Index classes() const { return self().options().classes; }
  Index length() const { return self().options().length > 0 ? self().options().length : 10 * classes(); }
  LabelEncoding encoding() const { return self().options().encoding; }
  /// Target rows: n (or one_hot_size) for one-hot labels, 25 for string labels.
  Index label_size() const {
    if (encoding() == LabelEncoding::string) return string_groups * string_letters;
    return self().options().one_hot_size > 0 ? self().options().one_hot_size : classes();
  }
  std::uint64_t seed() const { return seed_; }

  /// Sizes `batch` for `batch_size` episodes (T × (input_size × B), T × (label_size × B)).
  void resize(EpisodeBatch<Scalar>& batch, Index batch_size) const {
    batch.resize(length(), batch_size, self().input_size(), label_size());
  }

  /// Fills `batch` with episodes first_episode … first_episode + batch_size − 1 (column b holds
  /// episode first_episode + b), split over the threads of `pool`; the result does not depend on
  /// their number. \throws ValueError for batch_size < 0.
  void generate(EpisodeBatch<Scalar>& batch, Index batch_size, std::uint64_t first_episode, ThreadPool& pool) const {
    check_value(batch_size >= 0, "mann::EpisodeGenerator::generate", "batch_size", batch_size, ">= 0");
    resize(batch, batch_size);
    const int parts = static_cast<int>(std::min<Index>(pool.size(), std::max<Index>(batch_size, 1)));
    auto part = [&](int p) {
      generate_columns(batch, first_episode, batch_size * p / parts, batch_size * (p + 1) / parts);
    };
    pool.run(parts, part);
  }

  /// As above on `threads` threads (the calling thread and threads − 1 started for this call; pass a
  /// ThreadPool to reuse its threads). \throws ValueError for batch_size < 0 or threads < 1.
  void generate(EpisodeBatch<Scalar>& batch, Index batch_size, std::uint64_t first_episode, int threads = 1) const {
    check_value(threads >= 1, "mann::EpisodeGenerator::generate", "threads", threads, ">= 1");
    if (threads == 1 || batch_size <= 1) {
      check_value(batch_size >= 0, "mann::EpisodeGenerator::generate", "batch_size", batch_size, ">= 0");
      resize(batch, batch_size);
      generate_columns(batch, first_episode, 0, batch_size);
      return;
    }
    ThreadPool pool(static_cast<int>(std::min<Index>(threads, batch_size)));
    generate(batch, batch_size, first_episode, pool);
  }

  /// Fills columns [begin, end) of an already sized `batch`: column b gets episode first_episode + b.
  /// Concurrent calls on disjoint column ranges of one batch are safe.
  /// \throws ShapeError if `batch` is not sized by resize(); ValueError for a bad range.
  void generate_columns(EpisodeBatch<Scalar>& batch, std::uint64_t first_episode, Index begin, Index end) const {
    const char* where = "mann::EpisodeGenerator::generate_columns";
    check_value(batch.length() == length(), where, "batch.length()", batch.length(), "length() (call resize first)");
    check_value(batch.instance.size() == static_cast<std::size_t>(length()), where, "batch.instance.size()",
                batch.instance.size(), "length()");
    const Index columns = batch.batch();
    check_shape(batch.inputs[0], self().input_size(), columns, where, "batch.inputs[0]");
    check_shape(batch.targets[0], label_size(), columns, where, "batch.targets[0]");
    check_value(0 <= begin && begin <= end && end <= columns, where, "[begin, end)",
                detail::concat("[", begin, ", ", end, ")"), "within [0, batch.batch()]");
    typename Generator::Workspace workspace = self().make_workspace();
    const int n = static_cast<int>(classes());
    const Index T = length();
    std::vector<int> labels(static_cast<std::size_t>(n)), counts(static_cast<std::size_t>(n)), sequence(static_cast<std::size_t>(T));
    std::vector<int> label_pool;
    for (Index b = begin; b < end; ++b) {
      Rng rng(episode_seed(seed_, first_episode + static_cast<std::uint64_t>(b)));
      draw_labels(rng, labels, label_pool);
      self().begin_episode(rng, workspace);
      draw_sequence(rng, sequence);
      std::fill(counts.begin(), counts.end(), 0);
      for (Index t = 0; t < T; ++t) {
        const int k = sequence[static_cast<std::size_t>(t)];
        batch.instance[static_cast<std::size_t>(t)][static_cast<std::size_t>(b)] = ++counts[static_cast<std::size_t>(k)];
        write_label(labels[static_cast<std::size_t>(k)], batch.targets[static_cast<std::size_t>(t)].col(b));
        self().sample(rng, workspace, k, batch.inputs[static_cast<std::size_t>(t)].col(b).data());
      }
    }
  }

 protected:
  explicit EpisodeGeneratorBase(std::uint64_t seed) : seed_(seed) {}

 private:
  const Generator& self() const { return static_cast<const Generator&>(*this); }

  // A fresh label per class: one-hot, n distinct values of [0, label_size()) (a random permutation
  // of 0…n−1 by default); string, n distinct values of [0, 3125) (five uniform letters each).
  void draw_labels(Rng& rng, std::vector<int>& labels, std::vector<int>& pool) const {
    const std::size_t n = labels.size();
    if (encoding() == LabelEncoding::one_hot) {
      pool.resize(static_cast<std::size_t>(label_size()));
      for (std::size_t i = 0; i < pool.size(); ++i) pool[i] = static_cast<int>(i);
      for (std::size_t i = 0; i < n; ++i) {
        std::swap(pool[i], pool[i + rng.below(pool.size() - i)]);
        labels[i] = pool[i];
      }
      return;
    }
    for (std::size_t i = 0; i < n; ++i) {
      int label = 0;
      do {
        label = static_cast<int>(rng.below(string_labels));
      } while (std::find(labels.begin(), labels.begin() + static_cast<std::ptrdiff_t>(i), label) !=
               labels.begin() + static_cast<std::ptrdiff_t>(i));
      labels[i] = label;
    }
  }

  // The class shown at each step (see EpisodeOptions::balanced).
  void draw_sequence(Rng& rng, std::vector<int>& sequence) const {
    const int n = static_cast<int>(classes());
    if (!self().options().balanced) {
      for (int& k : sequence) k = static_cast<int>(rng.below(static_cast<std::uint64_t>(n)));
      return;
    }
    const std::size_t T = sequence.size(), full = T / static_cast<std::size_t>(n) * static_cast<std::size_t>(n);
    for (std::size_t t = 0; t < full; ++t) sequence[t] = static_cast<int>(t % static_cast<std::size_t>(n));
    std::vector<int> extra(static_cast<std::size_t>(n));
    for (int k = 0; k < n; ++k) extra[static_cast<std::size_t>(k)] = k;
    rng.shuffle(extra);
    for (std::size_t t = full; t < T; ++t) sequence[t] = extra[t - full];
    rng.shuffle(sequence);
  }

  template <class Column>
  void write_label(int label, Column&& column) const {
    column.setZero();
    if (encoding() == LabelEncoding::one_hot) {
      column(label) = Scalar(1);
      return;
    }
    for (int g = string_groups - 1; g >= 0; --g, label /= string_letters) {
      column(g * string_letters + label % string_letters) = Scalar(1);
    }
  }

  std::uint64_t seed_;
};

}  // namespace detail

/// Omniglot classification episodes (Santoro et al. section 2 and 4.1). For each episode:
/// n distinct characters from the given list; for each a rotation by a random multiple of 90°
/// (rotate_classes) and a fresh label; T samples, each of a class drawn uniformly (or balanced),
/// showing a drawing of that character taken in a random order without repetition until all 20
/// have been shown, rotated by its class's quarter turns and, with `augment`, by an angle uniform in
/// ±max_rotation and shifted by (dx, dy) uniform in ±max_translation, bilinear, then area-downscaled
/// to image_size × image_size (row-major column, ink = 1, values in [0, 1]).
/// targets[t] is y_t (the model shows y_{t−1} with x_t); instance[t][b] counts the appearances of
/// step t's class so far (1-based). `images` must outlive the generator.
/// Thread-safety: generate/generate_columns are const and safe to call concurrently; set_classes is not.
template <class Scalar = float>
class OmniglotEpisodes : public detail::EpisodeGeneratorBase<Scalar, OmniglotEpisodes<Scalar>> {
  using Base = detail::EpisodeGeneratorBase<Scalar, OmniglotEpisodes<Scalar>>;
  friend Base;

 public:
  /// \throws ValueError for bad options, an empty, repeated or out-of-range character list, or fewer
  ///   characters than options.classes.
  OmniglotEpisodes(const OmniglotImages& images, std::vector<Index> characters, const OmniglotEpisodeOptions& options = {},
                   std::uint64_t seed = 42)
      : Base(seed), images_(&images), characters_(std::move(characters)), options_(options) {
    const char* where = "mann::OmniglotEpisodes";
    check_value(!characters_.empty(), where, "characters.size()", 0, ">= 1");
    check_options(options_, where);
    std::vector<Index> sorted = characters_;
    std::sort(sorted.begin(), sorted.end());
    check_value(sorted.front() >= 0 && sorted.back() < images.size(), where, "character index",
                sorted.front() < 0 ? sorted.front() : sorted.back(),
                ("in [0, " + std::to_string(images.size()) + ")").c_str());
    check_value(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end(), where, "characters",
                "a list with repeats", "distinct indices");
  }

  Index input_size() const { return static_cast<Index>(options_.image_size) * options_.image_size; }
  const OmniglotEpisodeOptions& options() const { return options_; }
  const std::vector<Index>& characters() const { return characters_; }

  /// Changes the class count (and the length; 0: 10 × classes), e.g. from curriculum_classes.
  /// \throws ValueError as the constructor.
  void set_classes(int classes, int length = 0) {
    OmniglotEpisodeOptions changed = options_;
    changed.classes = classes;
    changed.length = length;
    check_options(changed, "mann::OmniglotEpisodes::set_classes");
    options_ = changed;
  }

 private:
  struct Workspace {
    ImageAugmenter augmenter;
    std::vector<Index> pool, chosen;
    std::vector<int> turns, next;
    std::vector<std::vector<int>> order;
  };

  void check_options(const OmniglotEpisodeOptions& options, const char* where) const {
    detail::check_episode_options(options, where);
    check_value(options.classes <= static_cast<int>(characters_.size()), where, "options.classes", options.classes,
                ("<= the number of characters (" + std::to_string(characters_.size()) + ")").c_str());
    check_value(options.image_size >= 1, where, "options.image_size", options.image_size, ">= 1");
    check_value(std::isfinite(options.max_rotation) && options.max_rotation >= 0, where, "options.max_rotation",
                options.max_rotation, "finite and >= 0");
    check_value(std::isfinite(options.max_translation) && options.max_translation >= 0, where,
                "options.max_translation", options.max_translation, "finite and >= 0");
  }

  Workspace make_workspace() const {
    Workspace w{ImageAugmenter(OmniglotImages::image_size, options_.image_size), {}, {}, {}, {}, {}};
    const std::size_t n = static_cast<std::size_t>(options_.classes);
    w.chosen.resize(n);
    w.turns.resize(n);
    w.next.resize(n);
    w.order.assign(n, std::vector<int>(OmniglotImages::drawings_per_character));
    return w;
  }

  void begin_episode(Rng& rng, Workspace& w) const {
    w.pool = characters_;  // partial Fisher–Yates from the same start in every episode
    for (std::size_t i = 0; i < w.chosen.size(); ++i) {
      std::swap(w.pool[i], w.pool[i + rng.below(w.pool.size() - i)]);
      w.chosen[i] = w.pool[i];
      w.turns[i] = options_.rotate_classes ? static_cast<int>(rng.below(4)) : 0;
      for (int d = 0; d < OmniglotImages::drawings_per_character; ++d) w.order[i][static_cast<std::size_t>(d)] = d;
      rng.shuffle(w.order[i]);
      w.next[i] = 0;
    }
  }

  void sample(Rng& rng, Workspace& w, int k, Scalar* out) const {
    const std::size_t i = static_cast<std::size_t>(k);
    if (w.next[i] == OmniglotImages::drawings_per_character) {
      rng.shuffle(w.order[i]);
      w.next[i] = 0;
    }
    const int drawing = w.order[i][static_cast<std::size_t>(w.next[i]++)];
    ImageTransform transform;
    transform.quarter_turns = w.turns[i];
    if (options_.augment) {
      AugmentOptions ranges;
      ranges.max_rotation = options_.max_rotation;
      ranges.max_translation = options_.max_translation;
      ranges.output_size = options_.image_size;
      transform = random_transform(rng, ranges, w.turns[i]);
    }
    w.augmenter.apply_packed(images_->packed(w.chosen[i], drawing), transform, out);
  }

  const OmniglotImages* images_;
  std::vector<Index> characters_;
  OmniglotEpisodeOptions options_;
};

/// Synthetic classification episodes for tests of learning without data: each episode draws n fresh
/// prototype vectors (entries N(0, 1)) and a fresh label per class; each sample is its class's
/// prototype plus N(0, noise²) noise per entry. Labels, class sequence and instance counts as for
/// OmniglotEpisodes. Thread-safety as OmniglotEpisodes.
template <class Scalar = float>
class SyntheticEpisodes : public detail::EpisodeGeneratorBase<Scalar, SyntheticEpisodes<Scalar>> {
  using Base = detail::EpisodeGeneratorBase<Scalar, SyntheticEpisodes<Scalar>>;
  friend Base;

 public:
  /// \throws ValueError for bad options.
  explicit SyntheticEpisodes(const SyntheticEpisodeOptions& options = {}, std::uint64_t seed = 42)
      : Base(seed), options_(options) {
    check_options(options_, "mann::SyntheticEpisodes");
  }

  Index input_size() const { return options_.dimension; }
  const SyntheticEpisodeOptions& options() const { return options_; }

  /// Changes the class count (and the length; 0: 10 × classes). \throws ValueError as the constructor.
  void set_classes(int classes, int length = 0) {
    SyntheticEpisodeOptions changed = options_;
    changed.classes = classes;
    changed.length = length;
    check_options(changed, "mann::SyntheticEpisodes::set_classes");
    options_ = changed;
  }

 private:
  struct Workspace {
    Matrix<double> prototypes;  // dimension × n
  };

  static void check_options(const SyntheticEpisodeOptions& options, const char* where) {
    detail::check_episode_options(options, where);
    check_value(options.dimension >= 1, where, "options.dimension", options.dimension, ">= 1");
    check_value(std::isfinite(options.noise) && options.noise >= 0, where, "options.noise", options.noise,
                "finite and >= 0");
  }

  Workspace make_workspace() const { return Workspace{Matrix<double>(options_.dimension, options_.classes)}; }

  void begin_episode(Rng& rng, Workspace& w) const {
    for (Index k = 0; k < w.prototypes.cols(); ++k) {
      for (Index i = 0; i < w.prototypes.rows(); ++i) w.prototypes(i, k) = rng.normal();
    }
  }

  void sample(Rng& rng, Workspace& w, int k, Scalar* out) const {
    for (Index i = 0; i < w.prototypes.rows(); ++i) {
      out[i] = static_cast<Scalar>(w.prototypes(i, k) + options_.noise * rng.normal());
    }
  }

  SyntheticEpisodeOptions options_;
};

}  // namespace mann
