// Tests for mann/data/omniglot_fewshot.hpp: the 28 × 28 few-shot store (downscale, exact 90° rotation
// classes), the splits, and the seeded N-way K-shot and training-episode samplers, on small synthetic
// OmniglotImages (no PNGs needed).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "mann/data/omniglot_fewshot.hpp"

namespace {

// `characters` synthetic characters (the first `background` in images_background) whose drawing d
// of character c has a few ink pixels placed by (c, d), all drawings distinct.
mann::OmniglotImages synthetic_images(int characters, int background) {
  std::vector<mann::OmniglotCharacter> list;
  for (int c = 0; c < characters; ++c) {
    mann::OmniglotCharacter ch;
    ch.set = c < background ? "images_background" : "images_evaluation";
    ch.alphabet = "Alphabet" + std::to_string(c / 10);
    ch.character = "character" + std::to_string(c % 10);
    for (int d = 0; d < 20; ++d) ch.drawings.push_back(std::to_string(d) + ".png");
    list.push_back(ch);
  }
  mann::OmniglotImages images(list);
  for (int c = 0; c < characters; ++c) {
    for (int d = 0; d < 20; ++d) {
      std::uint8_t* bits = images.packed(c, d);
      auto set = [&](int row, int col) {
        const int i = row * 105 + col;
        bits[i >> 3] = static_cast<std::uint8_t>(bits[i >> 3] | (1u << (i & 7)));
      };
      // An asymmetric "L" whose place encodes the character and a bar whose length encodes the drawing.
      for (int k = 0; k < 30; ++k) set(10 + (c % 40), 5 + k);
      for (int k = 0; k < 20; ++k) set(10 + (c % 40) + k, 5);
      for (int k = 0; k < 4 + 3 * d; ++k) set(95, 10 + k);
    }
  }
  return images;
}

std::vector<mann::Index> range(int begin, int end) {
  std::vector<mann::Index> v;
  for (int i = begin; i < end; ++i) v.push_back(i);
  return v;
}

TEST(FewShotSplit, SizesOfBothSplits) {
  const mann::OmniglotImages images = synthetic_images(1623, 964);
  const mann::CharacterSplit vinyals = mann::few_shot_split(images, mann::FewShotSplit::vinyals_1200);
  EXPECT_EQ(vinyals.train.size(), 1200u);
  EXPECT_EQ(vinyals.test.size(), 423u);
  EXPECT_EQ(vinyals.test.front(), 1200);
  const mann::CharacterSplit by_set = mann::few_shot_split(images, mann::FewShotSplit::background_evaluation);
  EXPECT_EQ(by_set.train.size(), 964u);
  EXPECT_EQ(by_set.test.size(), 659u);
  EXPECT_EQ(by_set.test.front(), 964);
  EXPECT_THROW(mann::few_shot_split(synthetic_images(100, 50), mann::FewShotSplit::vinyals_1200), mann::ValueError);
}

TEST(FewShotImages, CountsAndDownscaleMatchesAugmenter) {
  const mann::OmniglotImages images = synthetic_images(6, 6);
  const mann::FewShotImages<float> rotated(images, range(2, 5), true);
  EXPECT_EQ(rotated.classes(), 12);
  EXPECT_EQ(rotated.pixels(), 784);
  EXPECT_EQ(rotated.image_size(), 28);
  EXPECT_EQ(rotated.character(5), 3);
  EXPECT_EQ(rotated.quarter_turns(5), 1);
  const mann::FewShotImages<float> upright(images, range(2, 5), false);
  EXPECT_EQ(upright.classes(), 3);
  EXPECT_EQ(upright.character(2), 4);
  EXPECT_EQ(upright.quarter_turns(2), 0);

  // Class 0 drawing 7 is character 2 drawing 7 downscaled by area averaging (augment.hpp).
  const mann::MatrixF full = images.image(2, 7);
  const Eigen::VectorXf expected = mann::augment_image<float>(full, mann::ImageTransform{}, 28);
  EXPECT_EQ(rotated.image(0, 7), expected);
  EXPECT_EQ(upright.image(0, 7), expected);
  EXPECT_NEAR(rotated.image(0, 7).sum(), full.sum() * (28.0 * 28.0) / (105.0 * 105.0), 1e-3);
  EXPECT_GE(rotated.image(0, 7).minCoeff(), 0.0f);
  EXPECT_LE(rotated.image(0, 7).maxCoeff(), 1.0f);
  EXPECT_THROW(rotated.image(12, 0), mann::ValueError);
  EXPECT_THROW(rotated.image(0, 20), mann::ValueError);
  EXPECT_THROW(mann::FewShotImages<float>(images, {6}, false), mann::ValueError);
  EXPECT_THROW(mann::FewShotImages<float>(images, {0}, false, 0), mann::ValueError);
}

TEST(FewShotImages, RotationClassesAreExactQuarterTurns) {
  const mann::OmniglotImages images = synthetic_images(3, 3);
  const mann::FewShotImages<float> store(images, range(0, 3), true);
  const int s = 28;
  for (mann::Index c = 0; c < 3; ++c) {
    for (int d : {0, 13}) {
      const float* up = store.data(4 * c, d);
      for (int turns = 1; turns < 4; ++turns) {
        const float* turned = store.data(4 * c + turns, d);
        // Counter-clockwise: (r, col) → (s−1−col, r), applied `turns` times.
        for (int r = 0; r < s; ++r) {
          for (int col = 0; col < s; ++col) {
            int rr = r, cc = col;
            for (int t = 0; t < turns; ++t) {
              const int nr = s - 1 - cc, nc = rr;
              rr = nr;
              cc = nc;
            }
            ASSERT_EQ(turned[rr * s + cc], up[r * s + col]) << "class " << 4 * c + turns << " pixel " << r << "," << col;
          }
        }
        // Same direction as augment.hpp's quarter turns of the 105 × 105 drawing (equal up to rounding).
        mann::ImageTransform transform;
        transform.quarter_turns = turns;
        const Eigen::VectorXf reference = mann::augment_image<float>(images.image(c, d), transform, 28);
        EXPECT_LT((store.image(4 * c + turns, d) - reference).cwiseAbs().maxCoeff(), 1e-5f);
      }
    }
  }
}

TEST(FewShotSampler, ReproducibleBySeedAndIndex) {
  const mann::OmniglotImages images = synthetic_images(30, 30);
  const mann::FewShotImages<float> store(images, range(0, 30), true);
  const mann::FewShotSampler<float> a(store, 7), b(store, 7), c(store, 8);
  const mann::FewShotEpisodeOptions options{5, 2, 3};
  const auto e1 = a.episode(11, options);
  const auto e2 = b.episode(11, options);
  EXPECT_EQ(e1.support, e2.support);
  EXPECT_EQ(e1.query, e2.query);
  EXPECT_EQ(e1.support_labels, e2.support_labels);
  EXPECT_EQ(e1.query_labels, e2.query_labels);
  EXPECT_EQ(e1.classes, e2.classes);
  // Order independence: episode 11 after others is still episode 11.
  mann::FewShotEpisode<float> reused;
  b.episode(3, options, reused);
  b.episode(11, options, reused);
  EXPECT_EQ(reused.query, e1.query);
  EXPECT_EQ(reused.support_drawings, e1.support_drawings);
  // Another seed or index gives another episode.
  EXPECT_NE(c.episode(11, options).classes, e1.classes);
  EXPECT_NE(a.episode(12, options).classes, e1.classes);
  // Training batches too.
  mann::FewShotTrainingBatch<float> t1, t2;
  a.training_batch(5, 3, {}, t1);
  b.training_batch(5, 3, {}, t2);
  ASSERT_EQ(t1.length(), 30);
  for (std::size_t t = 0; t < 30; ++t) {
    EXPECT_EQ(t1.inputs[t], t2.inputs[t]);
    EXPECT_EQ(t1.labels[t], t2.labels[t]);
  }
  // Column b of a batch is episode first + b, whatever the batch it is in.
  b.training_batch(6, 1, {}, t2);
  for (std::size_t t = 0; t < 30; ++t) {
    EXPECT_EQ(t2.inputs[t].col(0), t1.inputs[t].col(1));
    EXPECT_EQ(t2.labels[t][0], t1.labels[t][1]);
  }
}

TEST(FewShotSampler, EpisodeStructure) {
  const mann::OmniglotImages images = synthetic_images(25, 25);
  const mann::FewShotImages<float> store(images, range(0, 25), false);
  const mann::FewShotSampler<float> sampler(store, 1);
  std::vector<int> label_of_class0_seen;
  for (std::uint64_t e = 0; e < 200; ++e) {
    const mann::FewShotEpisodeOptions options{20, 5, 3};
    const auto ep = sampler.episode(e, options);
    ASSERT_EQ(ep.support.rows(), 784);
    ASSERT_EQ(ep.support.cols(), 100);
    ASSERT_EQ(ep.query.cols(), 60);
    ASSERT_EQ(ep.classes.size(), 20u);
    // Classes distinct within the episode.
    EXPECT_EQ(std::set<mann::Index>(ep.classes.begin(), ep.classes.end()).size(), 20u);
    // Shot-major support, each label `shots` times; queries `queries` times.
    std::vector<int> support_count(20, 0), query_count(20, 0);
    for (int s = 0; s < 5; ++s) {
      for (int l = 0; l < 20; ++l) EXPECT_EQ(ep.support_labels[static_cast<std::size_t>(s * 20 + l)], l);
    }
    for (int l : ep.query_labels) ++query_count[static_cast<std::size_t>(l)];
    EXPECT_EQ(query_count, std::vector<int>(20, 3));
    // Support and query drawings of a class are distinct; the pixels are those of the store.
    for (int l = 0; l < 20; ++l) {
      std::set<int> drawings;
      for (std::size_t i = 0; i < ep.support_labels.size(); ++i) {
        if (ep.support_labels[i] != l) continue;
        drawings.insert(ep.support_drawings[i]);
        EXPECT_EQ(ep.support.col(static_cast<mann::Index>(i)), store.image(ep.classes[static_cast<std::size_t>(l)], ep.support_drawings[i]));
      }
      for (std::size_t j = 0; j < ep.query_labels.size(); ++j) {
        if (ep.query_labels[j] != l) continue;
        drawings.insert(ep.query_drawings[j]);
        EXPECT_EQ(ep.query.col(static_cast<mann::Index>(j)), store.image(ep.classes[static_cast<std::size_t>(l)], ep.query_drawings[j]));
      }
      EXPECT_EQ(drawings.size(), 8u) << "episode " << e << " label " << l;
    }
    const auto it = std::find(ep.classes.begin(), ep.classes.end(), 0);
    if (it != ep.classes.end()) label_of_class0_seen.push_back(static_cast<int>(it - ep.classes.begin()));
  }
  // Labels are shuffled per episode: class 0 gets many different labels.
  EXPECT_GT(std::set<int>(label_of_class0_seen.begin(), label_of_class0_seen.end()).size(), 10u);
  // Every class of the store can be drawn (20 of 25 per episode).
  EXPECT_THROW(sampler.episode(0, {26, 1, 1}), mann::ValueError);
  EXPECT_THROW(sampler.episode(0, {5, 0, 1}), mann::ValueError);
  EXPECT_THROW(sampler.episode(0, {5, 15, 6}), mann::ValueError);
  EXPECT_THROW(sampler.episode(0, {5, 1, -1}), mann::ValueError);
  EXPECT_NO_THROW(sampler.episode(0, {25, 19, 1}));
}

TEST(FewShotSampler, SequentialEpisodesShuffleEachRoundOfThePlainEpisode) {
  const mann::OmniglotImages images = synthetic_images(25, 25);
  const mann::FewShotImages<float> store(images, range(0, 25), false);
  const mann::FewShotSampler<float> sampler(store, 3);
  int rounds_out_of_label_order = 0, rounds = 0;
  for (std::uint64_t e = 0; e < 50; ++e) {
    const auto plain = sampler.episode(e, {6, 5, 1});
    const auto sequential = sampler.episode(e, {6, 5, 1, true});
    // The same classes, queries and, shot by shot, the same drawing of each label.
    EXPECT_EQ(sequential.classes, plain.classes);
    EXPECT_EQ(sequential.query, plain.query);
    EXPECT_EQ(sequential.query_labels, plain.query_labels);
    EXPECT_EQ(sequential.query_drawings, plain.query_drawings);
    for (std::size_t round = 0; round < 30; round += 6) {
      std::vector<int> labels(sequential.support_labels.begin() + static_cast<std::ptrdiff_t>(round),
                              sequential.support_labels.begin() + static_cast<std::ptrdiff_t>(round + 6));
      std::vector<int> sorted = labels;
      std::sort(sorted.begin(), sorted.end());
      EXPECT_EQ(sorted, (std::vector<int>{0, 1, 2, 3, 4, 5})) << "episode " << e << ": every label once per round";
      rounds_out_of_label_order += std::is_sorted(labels.begin(), labels.end()) ? 0 : 1;
      ++rounds;
      for (std::size_t i = round; i < round + 6; ++i) {
        const std::size_t l = static_cast<std::size_t>(sequential.support_labels[i]);
        EXPECT_EQ(sequential.support_drawings[i], plain.support_drawings[round + l]);
        EXPECT_EQ(sequential.support.col(static_cast<mann::Index>(i)), plain.support.col(static_cast<mann::Index>(round + l)));
      }
    }
  }
  // Each round has an order of its own (all 250 in label order would be chance 1 in 720^250).
  EXPECT_GT(rounds_out_of_label_order, rounds / 2);
  // The queries are the one round after the K-th.
  EXPECT_THROW(sampler.episode(0, {6, 5, 2, true}), mann::ValueError);
  EXPECT_THROW(sampler.episode(0, {6, 5, 0, true}), mann::ValueError);
}

TEST(FewShotSampler, TrainingEpisodesShowEveryClassOncePerRound) {
  const mann::OmniglotImages images = synthetic_images(12, 12);
  const mann::FewShotImages<float> store(images, range(0, 12), true);
  const mann::FewShotSampler<float> sampler(store, 3);
  mann::FewShotTrainingOptions options;
  options.ways = 5;
  options.length = 32;  // 7 showings of 2 classes, 6 of 3
  options.offset_labels = true;
  mann::FewShotTrainingBatch<float> batch;
  sampler.training_batch(0, 4, options, batch);
  ASSERT_EQ(batch.length(), 32);
  ASSERT_EQ(batch.batch(), 4);
  for (std::size_t b = 0; b < 4; ++b) {
    std::vector<int> shown(5, 0);
    std::set<std::vector<float>> images_of_episode;
    for (std::size_t t = 0; t < 32; ++t) {
      const int label = batch.labels[t][b];
      ASSERT_GE(label, static_cast<int>(b) * 5);
      ASSERT_LT(label, static_cast<int>(b) * 5 + 5);
      const std::size_t l = static_cast<std::size_t>(label) - b * 5;
      EXPECT_EQ(batch.shown[t][b], shown[l]);
      // Rounds: step t is in round t / 5, and its class was shown exactly that many times before.
      EXPECT_EQ(shown[l], static_cast<int>(t / 5));
      ++shown[l];
      const auto column = batch.inputs[t].col(static_cast<mann::Index>(b));
      images_of_episode.insert(std::vector<float>(column.data(), column.data() + column.size()));
    }
    std::sort(shown.begin(), shown.end());
    EXPECT_EQ(shown, (std::vector<int>{6, 6, 6, 7, 7}));
    EXPECT_EQ(images_of_episode.size(), 32u);  // no drawing repeats within an episode
  }
  options.offset_labels = false;
  sampler.training_batch(0, 4, options, batch);
  for (const auto& row : batch.labels) {
    for (int label : row) EXPECT_LT(label, 5);
  }
  options.length = 101;  // 21 showings per class
  EXPECT_THROW(sampler.training_batch(0, 1, options, batch), mann::ValueError);
  options.length = 30;
  EXPECT_THROW(sampler.training_batch(0, 0, options, batch), mann::ValueError);
  options.ways = 49;
  EXPECT_THROW(sampler.training_batch(0, 1, options, batch), mann::ValueError);
}

TEST(FewShotImages, DistortedRendersTheStoredDrawingAfresh) {
  const mann::OmniglotImages images = synthetic_images(6, 6);
  const mann::FewShotImages<float> store(images, range(2, 5), true);
  mann::ImageAugmenter augmenter(105, 28);
  std::vector<float> out(784);
  // No distortion: the stored drawing (turned by the class's quarter turns), up to float rounding.
  for (mann::Index cls = 0; cls < store.classes(); ++cls) {
    for (int d : {0, 7, 19}) {
      mann::ImageTransform none;
      none.quarter_turns = 3;  // ignored: the class decides
      store.distorted(cls, d, none, augmenter, out.data());
      const float* stored = store.data(cls, d);
      for (int i = 0; i < 784; ++i) ASSERT_NEAR(out[static_cast<std::size_t>(i)], stored[i], 1e-5f) << cls << " " << d << " " << i;
    }
  }
  // A shift of 15 source pixels is exactly 4 output pixels (105 / 28 = 3.75): the stored drawing
  // moved 4 columns right and 4 rows up (the ink of class 0 is far from the frame's edges).
  mann::ImageTransform shifted;
  shifted.shift_x = 15;
  shifted.shift_y = -15;
  store.distorted(0, 5, shifted, augmenter, out.data());
  const float* stored = store.data(0, 5);
  for (int r = 0; r < 28; ++r) {
    for (int c = 0; c < 28; ++c) {
      const int from_r = r + 4, from_c = c - 4;
      const float expected = from_r < 28 && from_c >= 0 ? stored[from_r * 28 + from_c] : 0.0f;
      ASSERT_NEAR(out[static_cast<std::size_t>(r * 28 + c)], expected, 1e-5f) << r << " " << c;
    }
  }
  // A rotation keeps the ink (far from the edges) and changes the image.
  mann::ImageTransform turned;
  turned.angle = 0.15;
  store.distorted(1, 3, turned, augmenter, out.data());
  double ink = 0, stored_ink = 0, moved = 0;
  for (int i = 0; i < 784; ++i) {
    ink += out[static_cast<std::size_t>(i)];
    stored_ink += store.data(1, 3)[i];
    moved += std::abs(out[static_cast<std::size_t>(i)] - store.data(1, 3)[i]);
  }
  EXPECT_NEAR(ink, stored_ink, 0.02 * stored_ink);
  EXPECT_GT(moved, 0.3 * stored_ink);
  mann::ImageAugmenter wrong(105, 20);
  EXPECT_THROW(store.distorted(0, 0, mann::ImageTransform{}, wrong, out.data()), mann::ShapeError);
}

TEST(FewShotSampler, DistortedTrainingEpisodesKeepTheEpisodes) {
  const mann::OmniglotImages images = synthetic_images(12, 12);
  const mann::FewShotImages<float> store(images, range(0, 12), true);
  const mann::FewShotSampler<float> sampler(store, 5);
  mann::FewShotTrainingOptions plain;
  plain.offset_labels = true;
  mann::FewShotTrainingOptions distorted = plain;
  distorted.max_rotation = 0.2;
  distorted.max_translation = 10;
  mann::FewShotTrainingBatch<float> a, b, c;
  sampler.training_batch(0, 4, plain, a);
  sampler.training_batch(0, 4, distorted, b);
  EXPECT_EQ(a.labels, b.labels);  // the same episodes, drawn from their own stream
  EXPECT_EQ(a.shown, b.shown);
  int changed = 0;
  for (mann::Index t = 0; t < a.length(); ++t) {
    for (mann::Index e = 0; e < 4; ++e) {
      const auto x = b.inputs[static_cast<std::size_t>(t)].col(e);
      EXPECT_GE(x.minCoeff(), 0.0f);
      EXPECT_LE(x.maxCoeff(), 1.0f);
      if ((x - a.inputs[static_cast<std::size_t>(t)].col(e)).cwiseAbs().maxCoeff() > 0.05f) ++changed;
    }
  }
  EXPECT_GE(changed, 4 * 30 - 4);  // a draw near (0, 0, 0) may leave an image almost as it was
  // A pure function of (seed, episode): the same on a second call and in another batch split.
  sampler.training_batch(0, 4, distorted, c);
  for (std::size_t t = 0; t < b.inputs.size(); ++t) EXPECT_EQ(b.inputs[t], c.inputs[t]);
  sampler.training_batch(2, 1, distorted, c);
  for (std::size_t t = 0; t < b.inputs.size(); ++t) EXPECT_EQ(b.inputs[t].col(2), c.inputs[t].col(0));
  distorted.max_rotation = -0.1;
  EXPECT_THROW(sampler.training_batch(0, 1, distorted, c), mann::ValueError);
  distorted.max_rotation = 0.1;
  distorted.max_translation = std::nan("");
  EXPECT_THROW(sampler.training_batch(0, 1, distorted, c), mann::ValueError);
  // Scale and shear: the same episodes again; the scale range must keep the factor > 0.
  distorted.max_translation = 10;
  distorted.max_scale = 0.1;
  distorted.max_shear = 0.2;
  sampler.training_batch(0, 4, distorted, c);
  EXPECT_EQ(a.labels, c.labels);
  int moved = 0;
  for (std::size_t t = 0; t < c.inputs.size(); ++t) moved += (c.inputs[t] - b.inputs[t]).cwiseAbs().maxCoeff() > 0.05f ? 1 : 0;
  EXPECT_GT(moved, 0);
  distorted.max_scale = 1.0;
  EXPECT_THROW(sampler.training_batch(0, 1, distorted, c), mann::ValueError);
  distorted.max_scale = 0.1;
  distorted.max_shear = -0.1;
  EXPECT_THROW(sampler.training_batch(0, 1, distorted, c), mann::ValueError);
}

}  // namespace
