// Tests for mann/data/episodes.hpp: episode shapes, label validity, labels ↔ classes, instance counts,
// determinism (seeds, episode indices, threads), relabelling across episodes, class rotations, the
// held-out split, the curriculum, the synthetic generator, and augmented episodes from real data.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/omniglot_test_data.hpp"
#include "mann/data/omniglot.hpp"
#include "mann/data/episodes.hpp"

namespace {

using mann::Index;

// `count` characters with random 10%-ink bitmaps; with `same_drawings` all 20 drawings of a character
// are one bitmap (so a class is recognisable from its unaugmented input).
mann::OmniglotImages fake_images(int count, bool same_drawings = true, std::uint64_t seed = 1) {
  std::vector<mann::OmniglotCharacter> characters;
  for (int i = 0; i < count; ++i) {
    mann::OmniglotCharacter c{i < count / 2 ? "images_background" : "images_evaluation", "Fake",
                              "character" + std::to_string(100 + i), {}};
    for (int d = 0; d < 20; ++d) c.drawings.push_back(std::to_string(d) + ".png");
    characters.push_back(c);
  }
  mann::OmniglotImages images(characters);
  mann::Rng rng(seed);
  for (Index c = 0; c < count; ++c) {
    for (int d = 0; d < 20; ++d) {
      std::uint8_t* bits = images.packed(c, d);
      if (same_drawings && d > 0) {
        std::copy(images.packed(c, 0), images.packed(c, 0) + mann::OmniglotImages::bytes_per_image, bits);
        continue;
      }
      for (int p = 0; p < mann::OmniglotImages::pixels_per_image; ++p) {
        if (rng.uniform() < 0.1) bits[p / 8] = static_cast<std::uint8_t>(bits[p / 8] | (1u << (p % 8)));
      }
    }
  }
  return images;
}

using Signature = std::vector<float>;

Signature column(const mann::EpisodeBatch<float>& batch, Index t, Index b) {
  const auto col = batch.inputs[static_cast<std::size_t>(t)].col(b);
  return Signature(col.data(), col.data() + col.size());
}

// The unaugmented input of (character, drawing, quarter turns) → what it is.
struct Key {
  Index character;
  int drawing, turns;
};
std::map<Signature, Key> signatures(const mann::OmniglotImages& images, int size = 20, bool all_drawings = false) {
  std::map<Signature, Key> table;
  mann::ImageAugmenter augmenter(105, size);
  for (Index c = 0; c < images.size(); ++c) {
    for (int d = 0; d < (all_drawings ? 20 : 1); ++d) {
      for (int turns = 0; turns < 4; ++turns) {
        Signature s(static_cast<std::size_t>(size * size));
        mann::ImageTransform t;
        t.quarter_turns = turns;
        augmenter.apply_packed(images.packed(c, d), t, s.data());
        table[s] = Key{c, d, turns};
      }
    }
  }
  return table;
}

int label_of(const mann::EpisodeBatch<float>& batch, Index t, Index b, mann::LabelEncoding encoding) {
  return mann::predicted_label(batch.targets[static_cast<std::size_t>(t)], b, encoding);
}

bool batches_equal(const mann::EpisodeBatch<float>& a, const mann::EpisodeBatch<float>& b) {
  if (a.length() != b.length() || a.batch() != b.batch()) return false;
  for (std::size_t t = 0; t < a.inputs.size(); ++t) {
    if (a.inputs[t] != b.inputs[t] || a.targets[t] != b.targets[t] || a.instance[t] != b.instance[t]) return false;
  }
  return true;
}

mann::OmniglotEpisodeOptions plain_options(int classes = 5) {
  mann::OmniglotEpisodeOptions options;
  options.classes = classes;
  options.augment = false;
  options.rotate_classes = false;
  return options;
}

std::vector<Index> all_characters(const mann::OmniglotImages& images) {
  std::vector<Index> ids;
  for (Index c = 0; c < images.size(); ++c) ids.push_back(c);
  return ids;
}

TEST(OmniglotEpisodes, ShapesAndValidLabels) {
  const mann::OmniglotImages images = fake_images(12);
  for (auto encoding : {mann::LabelEncoding::one_hot, mann::LabelEncoding::string}) {
    for (int size : {20, 28}) {
      mann::OmniglotEpisodeOptions options;
      options.classes = 5;
      options.encoding = encoding;
      options.image_size = size;
      const mann::OmniglotEpisodes<float> generator(images, all_characters(images), options, 3);
      EXPECT_EQ(generator.length(), 50);
      EXPECT_EQ(generator.input_size(), size * size);
      EXPECT_EQ(generator.label_size(), encoding == mann::LabelEncoding::one_hot ? 5 : 25);
      mann::EpisodeBatch<float> batch;
      generator.generate(batch, 3, 0);
      ASSERT_EQ(batch.length(), 50);
      ASSERT_EQ(batch.batch(), 3);
      ASSERT_EQ(batch.input_size(), size * size);
      ASSERT_EQ(batch.label_size(), generator.label_size());
      ASSERT_EQ(batch.instance.size(), 50u);
      EXPECT_NO_THROW(batch.validate("test"));
      for (Index t = 0; t < 50; ++t) {
        EXPECT_GE(batch.inputs[static_cast<std::size_t>(t)].minCoeff(), 0.0f);
        EXPECT_LE(batch.inputs[static_cast<std::size_t>(t)].maxCoeff(), 1.0f);
        for (Index b = 0; b < 3; ++b) {
          const auto y = batch.targets[static_cast<std::size_t>(t)].col(b);
          EXPECT_EQ((y.array() == 0.0f).count() + (y.array() == 1.0f).count(), y.size());
          if (encoding == mann::LabelEncoding::one_hot) {
            EXPECT_EQ(y.sum(), 1.0f);
          } else {
            for (int g = 0; g < 5; ++g) EXPECT_EQ(y.segment(5 * g, 5).sum(), 1.0f);
          }
        }
      }
    }
  }
}

TEST(OmniglotEpisodes, LabelsMatchClassesOneToOneAndInstancesCountAppearances) {
  const mann::OmniglotImages images = fake_images(20);
  const auto table = signatures(images);
  for (auto encoding : {mann::LabelEncoding::one_hot, mann::LabelEncoding::string}) {
    for (int classes : {1, 5, 15}) {
      mann::OmniglotEpisodeOptions options = plain_options(classes);
      options.encoding = encoding;
      const mann::OmniglotEpisodes<float> generator(images, all_characters(images), options, 11);
      mann::EpisodeBatch<float> batch;
      generator.generate(batch, 6, 40);
      for (Index b = 0; b < 6; ++b) {
        std::map<Index, int> label_of_class, count;
        std::map<int, Index> class_of_label;
        for (Index t = 0; t < generator.length(); ++t) {
          const auto found = table.find(column(batch, t, b));
          ASSERT_NE(found, table.end());
          const Index c = found->second.character;
          const int label = label_of(batch, t, b, encoding);
          if (encoding == mann::LabelEncoding::one_hot) {
            ASSERT_LT(label, classes);
          }
          ASSERT_TRUE(label_of_class.emplace(c, label).first->second == label) << "a class changed label";
          ASSERT_TRUE(class_of_label.emplace(label, c).first->second == c) << "two classes share a label";
          ASSERT_EQ(batch.instance[static_cast<std::size_t>(t)][static_cast<std::size_t>(b)], ++count[c]);
        }
        EXPECT_LE(static_cast<int>(label_of_class.size()), classes);
        EXPECT_GE(static_cast<int>(label_of_class.size()), std::min(classes, 3));
      }
    }
  }
}

TEST(OmniglotEpisodes, SameSeedSameEpisodesWhateverTheThreadSplit) {
  const mann::OmniglotImages images = fake_images(30, false);
  mann::OmniglotEpisodeOptions options;  // augmented, rotated
  options.length = 12;
  const mann::OmniglotEpisodes<float> a(images, all_characters(images), options, 99);
  const mann::OmniglotEpisodes<float> b(images, all_characters(images), options, 99);
  const mann::OmniglotEpisodes<float> other(images, all_characters(images), options, 100);
  mann::EpisodeBatch<float> x, y, z;
  a.generate(x, 8, 1000);
  b.generate(y, 8, 1000);
  EXPECT_TRUE(batches_equal(x, y));
  a.generate(y, 8, 1000);
  EXPECT_TRUE(batches_equal(x, y));
  other.generate(z, 8, 1000);
  EXPECT_FALSE(batches_equal(x, z));
  a.generate(z, 8, 1008);
  EXPECT_FALSE(batches_equal(x, z));
  // Deterministic in the episode index: episodes 1003… are the same in any batch.
  a.generate(z, 5, 1003);
  for (Index t = 0; t < a.length(); ++t) {
    EXPECT_EQ(z.inputs[static_cast<std::size_t>(t)], x.inputs[static_cast<std::size_t>(t)].rightCols(5));
    EXPECT_EQ(z.targets[static_cast<std::size_t>(t)], x.targets[static_cast<std::size_t>(t)].rightCols(5));
  }
  // Threads.
  for (int threads : {2, 3, 8, 16}) {
    a.generate(y, 8, 1000, threads);
    EXPECT_TRUE(batches_equal(x, y)) << threads;
  }
  a.resize(y, 8);
  std::thread first([&] { a.generate_columns(y, 1000, 0, 3); });
  std::thread second([&] { a.generate_columns(y, 1000, 3, 8); });
  first.join();
  second.join();
  EXPECT_TRUE(batches_equal(x, y));
}

TEST(OmniglotEpisodes, LabelsAreReshuffledAcrossEpisodes) {
  // With exactly 5 characters every episode has the same classes; only their labels change.
  const mann::OmniglotImages images = fake_images(5);
  const auto table = signatures(images);
  mann::OmniglotEpisodeOptions first_step = plain_options(5);
  first_step.length = 1;  // only step 0 is looked at
  const mann::OmniglotEpisodes<float> one_hot(images, all_characters(images), first_step, 5);
  mann::EpisodeBatch<float> batch;
  one_hot.generate(batch, 200, 0);
  std::vector<std::vector<int>> label_counts(5, std::vector<int>(5, 0));
  for (Index b = 0; b < 200; ++b) {
    const Index c = table.at(column(batch, 0, b)).character;
    ++label_counts[static_cast<std::size_t>(c)][static_cast<std::size_t>(label_of(batch, 0, b, mann::LabelEncoding::one_hot))];
  }
  for (const auto& counts : label_counts) {
    for (int n : counts) EXPECT_GE(n, 1);
  }
  mann::OmniglotEpisodeOptions strings = plain_options(5);
  strings.encoding = mann::LabelEncoding::string;
  strings.length = 5;
  strings.balanced = true;  // every character once per episode
  const mann::OmniglotEpisodes<float> string(images, all_characters(images), strings, 5);
  string.generate(batch, 100, 0);
  std::set<int> labels_of_character0;
  for (Index b = 0; b < 100; ++b) {
    for (Index t = 0; t < string.length(); ++t) {
      if (table.at(column(batch, t, b)).character == 0) labels_of_character0.insert(label_of(batch, t, b, mann::LabelEncoding::string));
    }
  }
  EXPECT_GE(labels_of_character0.size(), 95u);  // of 100 episodes; 3125 possible labels
}

TEST(OmniglotEpisodes, OneRandomQuarterTurnPerClassAndEpisode) {
  const mann::OmniglotImages images = fake_images(8);
  const auto table = signatures(images);
  mann::OmniglotEpisodeOptions options = plain_options(4);
  options.rotate_classes = true;
  const mann::OmniglotEpisodes<float> generator(images, all_characters(images), options, 21);
  mann::EpisodeBatch<float> batch;
  generator.generate(batch, 40, 0);
  std::set<int> turns_seen;
  for (Index b = 0; b < 40; ++b) {
    std::map<Index, int> turns_of_class;
    for (Index t = 0; t < generator.length(); ++t) {
      const Key key = table.at(column(batch, t, b));
      ASSERT_EQ(turns_of_class.emplace(key.character, key.turns).first->second, key.turns);
      turns_seen.insert(key.turns);
    }
  }
  EXPECT_EQ(turns_seen, (std::set<int>{0, 1, 2, 3}));
}

TEST(OmniglotEpisodes, DrawingsRepeatOnlyAfterAllTwentyWereShown) {
  const mann::OmniglotImages images = fake_images(3, false);
  const auto table = signatures(images, 20, true);
  mann::OmniglotEpisodeOptions options = plain_options(1);
  options.length = 45;
  const mann::OmniglotEpisodes<float> generator(images, all_characters(images), options, 4);
  mann::EpisodeBatch<float> batch;
  generator.generate(batch, 4, 0);
  for (Index b = 0; b < 4; ++b) {
    std::set<int> first, second;
    for (Index t = 0; t < 40; ++t) (t < 20 ? first : second).insert(table.at(column(batch, t, b)).drawing);
    EXPECT_EQ(first.size(), 20u);
    EXPECT_EQ(second.size(), 20u);
  }
}

TEST(OmniglotEpisodes, HeldOutCharactersNeverAppearInTraining) {
  const mann::OmniglotImages images = fake_images(30);
  const auto table = signatures(images);
  const mann::CharacterSplit split = mann::split_characters(images, 20);
  std::set<Index> train(split.train.begin(), split.train.end()), test(split.test.begin(), split.test.end());
  for (Index c : test) EXPECT_EQ(train.count(c), 0u);
  EXPECT_EQ(train.size() + test.size(), 30u);
  mann::OmniglotEpisodeOptions options = plain_options(5);
  options.rotate_classes = true;
  const mann::OmniglotEpisodes<float> training(images, split.train, options, 1), testing(images, split.test, options, 1);
  mann::EpisodeBatch<float> batch;
  std::set<Index> seen_train, seen_test;
  training.generate(batch, 30, 0);
  for (Index b = 0; b < 30; ++b) {
    for (Index t = 0; t < 50; ++t) seen_train.insert(table.at(column(batch, t, b)).character);
  }
  testing.generate(batch, 30, 0);
  for (Index b = 0; b < 30; ++b) {
    for (Index t = 0; t < 50; ++t) seen_test.insert(table.at(column(batch, t, b)).character);
  }
  EXPECT_EQ(seen_train, train);
  EXPECT_EQ(seen_test, test);
}

TEST(OmniglotEpisodes, UniformClassCountsVaryBalancedOnesDoNot) {
  const mann::OmniglotImages images = fake_images(10);
  for (bool balanced : {false, true}) {
    for (int length : {50, 52}) {
      mann::OmniglotEpisodeOptions options = plain_options(5);
      options.balanced = balanced;
      options.length = length;
      const mann::OmniglotEpisodes<float> generator(images, all_characters(images), options, 8);
      mann::EpisodeBatch<float> batch;
      generator.generate(batch, 12, 0);
      int unequal = 0;
      for (Index b = 0; b < 12; ++b) {
        std::map<int, int> counts;
        for (Index t = 0; t < length; ++t) ++counts[label_of(batch, t, b, mann::LabelEncoding::one_hot)];
        int low = length, high = 0;
        for (const auto& [label, n] : counts) {
          low = std::min(low, n);
          high = std::max(high, n);
        }
        if (counts.size() < 5) low = 0;
        if (balanced) {
          EXPECT_EQ(counts.size(), 5u);
          EXPECT_EQ(low, 10);
          EXPECT_EQ(high, length == 50 ? 10 : 11);
        }
        unequal += low != high;
      }
      if (!balanced) {
        EXPECT_GE(unequal, 10);  // P(all five counts equal) < 0.001 per episode
      }
    }
  }
}

TEST(OmniglotEpisodes, OneHotSizeAndSetClassesForTheCurriculum) {
  const mann::OmniglotImages images = fake_images(40);
  mann::OmniglotEpisodeOptions options = plain_options(5);
  options.one_hot_size = 25;
  mann::OmniglotEpisodes<float> generator(images, all_characters(images), options, 2);
  EXPECT_EQ(generator.label_size(), 25);
  mann::EpisodeBatch<float> batch;
  generator.generate(batch, 20, 0);
  std::set<int> used;
  for (Index b = 0; b < 20; ++b) {
    std::set<int> in_episode;
    for (Index t = 0; t < 50; ++t) in_episode.insert(label_of(batch, t, b, mann::LabelEncoding::one_hot));
    EXPECT_LE(in_episode.size(), 5u);
    used.insert(in_episode.begin(), in_episode.end());
  }
  EXPECT_GT(used.size(), 20u);
  EXPECT_LT(*used.rbegin(), 25);
  generator.set_classes(mann::curriculum_classes(20000, 15));
  EXPECT_EQ(generator.classes(), 17);
  EXPECT_EQ(generator.length(), 170);
  EXPECT_EQ(generator.label_size(), 25);
  generator.generate(batch, 2, 0);
  EXPECT_EQ(batch.length(), 170);
  EXPECT_THROW(generator.set_classes(26), mann::ValueError);  // > one_hot_size
  EXPECT_EQ(generator.classes(), 17);                          // unchanged
  generator.set_classes(3, 7);
  EXPECT_EQ(generator.length(), 7);
}

TEST(Curriculum, OneMoreClassEveryTenThousandEpisodes) {
  EXPECT_EQ(mann::curriculum_classes(0), 15);
  EXPECT_EQ(mann::curriculum_classes(9999), 15);
  EXPECT_EQ(mann::curriculum_classes(10000), 16);
  EXPECT_EQ(mann::curriculum_classes(100000), 25);
  EXPECT_EQ(mann::curriculum_classes(1000000, 15, 10000, 100), 100);
  EXPECT_EQ(mann::curriculum_classes(25, 5, 10), 7);
  EXPECT_EQ(mann::curriculum_length(25), 250);
  EXPECT_THROW(mann::curriculum_classes(0, 0), mann::ValueError);
  EXPECT_THROW(mann::curriculum_classes(0, 15, 0), mann::ValueError);
  EXPECT_THROW(mann::curriculum_classes(0, 15, 10, 10), mann::ValueError);
}

TEST(OmniglotEpisodes, BadArgumentsThrow) {
  const mann::OmniglotImages images = fake_images(6);
  const std::vector<Index> ids = all_characters(images);
  mann::OmniglotEpisodeOptions options;
  options.classes = 7;
  EXPECT_THROW(mann::OmniglotEpisodes<float>(images, ids, options), mann::ValueError);
  options.classes = 2;
  EXPECT_THROW(mann::OmniglotEpisodes<float>(images, {}, options), mann::ValueError);
  EXPECT_THROW(mann::OmniglotEpisodes<float>(images, {0, 1, 1}, options), mann::ValueError);
  EXPECT_THROW(mann::OmniglotEpisodes<float>(images, {0, 6}, options), mann::ValueError);
  EXPECT_THROW(mann::OmniglotEpisodes<float>(images, {-1, 2}, options), mann::ValueError);
  options.image_size = 0;
  EXPECT_THROW(mann::OmniglotEpisodes<float>(images, ids, options), mann::ValueError);
  options.image_size = 20;
  options.max_translation = -1;
  EXPECT_THROW(mann::OmniglotEpisodes<float>(images, ids, options), mann::ValueError);
  options.max_translation = 10;
  options.one_hot_size = 1;
  EXPECT_THROW(mann::OmniglotEpisodes<float>(images, ids, options), mann::ValueError);
  options.one_hot_size = 0;
  options.length = -1;
  EXPECT_THROW(mann::OmniglotEpisodes<float>(images, ids, options), mann::ValueError);
  options.length = 0;
  const mann::OmniglotEpisodes<float> generator(images, ids, options);
  mann::EpisodeBatch<float> batch;
  EXPECT_THROW(generator.generate_columns(batch, 0, 0, 1), mann::ValueError);  // not resized
  generator.resize(batch, 4);
  EXPECT_THROW(generator.generate_columns(batch, 0, 2, 5), mann::ValueError);
  EXPECT_THROW(generator.generate(batch, -1, 0), mann::ValueError);
  EXPECT_THROW(generator.generate(batch, 2, 0, 0), mann::ValueError);
  mann::EpisodeBatch<float> wrong;
  wrong.resize(generator.length(), 4, 10, 2);
  EXPECT_THROW(generator.generate_columns(wrong, 0, 0, 4), mann::ShapeError);
  mann::SyntheticEpisodeOptions synthetic;
  synthetic.encoding = mann::LabelEncoding::string;
  synthetic.classes = 3126;
  EXPECT_THROW(mann::SyntheticEpisodes<float>{synthetic}, mann::ValueError);
  synthetic.classes = 5;
  synthetic.dimension = 0;
  EXPECT_THROW(mann::SyntheticEpisodes<float>{synthetic}, mann::ValueError);
}

TEST(SyntheticEpisodes, PrototypesPlusNoiseWithFreshLabels) {
  mann::SyntheticEpisodeOptions options;
  options.classes = 4;
  options.dimension = 64;
  options.noise = 0.0;
  const mann::SyntheticEpisodes<float> exact(options, 5);
  EXPECT_EQ(exact.input_size(), 64);
  EXPECT_EQ(exact.length(), 40);
  mann::EpisodeBatch<float> batch;
  exact.generate(batch, 10, 0);
  EXPECT_NO_THROW(batch.validate("test"));
  std::set<Signature> all_prototypes;
  for (Index b = 0; b < 10; ++b) {
    std::map<Signature, int> label;
    std::map<Signature, int> count;
    for (Index t = 0; t < 40; ++t) {
      const Signature x = column(batch, t, b);
      const int y = label_of(batch, t, b, mann::LabelEncoding::one_hot);
      EXPECT_EQ(label.emplace(x, y).first->second, y);
      EXPECT_EQ(batch.instance[static_cast<std::size_t>(t)][static_cast<std::size_t>(b)], ++count[x]);
      all_prototypes.insert(x);
    }
    std::set<int> labels;
    for (const auto& [x, y] : label) labels.insert(y);
    EXPECT_EQ(labels.size(), label.size());
  }
  EXPECT_GT(all_prototypes.size(), 30u);  // fresh prototypes every episode
  // Noise of the requested size around the class means.
  options.noise = 0.5;
  options.classes = 2;
  options.length = 400;
  options.encoding = mann::LabelEncoding::string;
  const mann::SyntheticEpisodes<double> noisy(options, 6);
  mann::EpisodeBatch<double> wide;
  noisy.generate(wide, 1, 0);
  EXPECT_EQ(noisy.label_size(), 25);
  std::map<int, std::vector<Index>> steps;
  for (Index t = 0; t < 400; ++t) steps[mann::predicted_label(wide.targets[static_cast<std::size_t>(t)], 0, mann::LabelEncoding::string)].push_back(t);
  ASSERT_EQ(steps.size(), 2u);
  double squares = 0, n = 0;
  for (const auto& [label, ts] : steps) {
    Eigen::VectorXd mean = Eigen::VectorXd::Zero(64);
    for (Index t : ts) mean += wide.inputs[static_cast<std::size_t>(t)].col(0) / static_cast<double>(ts.size());
    for (Index t : ts) {
      squares += (wide.inputs[static_cast<std::size_t>(t)].col(0) - mean).squaredNorm();
      n += 64;
    }
  }
  EXPECT_NEAR(std::sqrt(squares / n), 0.5, 0.02);
  // Determinism and threads, as for Omniglot.
  const mann::SyntheticEpisodes<float> again(mann::SyntheticEpisodeOptions{}, 5);
  mann::EpisodeBatch<float> x, y;
  again.generate(x, 6, 17, 1);
  again.generate(y, 6, 17, 2);
  EXPECT_TRUE(batches_equal(x, y));
}

TEST(OmniglotEpisodes, AugmentedEpisodesFromRealData) {
  MANN_OMNIGLOT_DIR_OR_SKIP(data_dir, "");
  mann::OmniglotLoadOptions load;
  load.alphabet_limit = 1;  // Alphabet_of_the_Magi (20) and Angelic (20)
  load.use_cache = false;
  load.progress = false;
  const mann::OmniglotImages images = mann::load_omniglot(data_dir, load);
  ASSERT_EQ(images.size(), 40);
  const mann::CharacterSplit split = mann::split_characters(images, 30);
  for (int size : {20, 28}) {
    mann::OmniglotEpisodeOptions options;
    options.image_size = size;
    const mann::OmniglotEpisodes<float> generator(images, split.train, options, 12);
    mann::EpisodeBatch<float> batch;
    generator.generate(batch, 4, 0, 2);
    EXPECT_NO_THROW(batch.validate("test"));
    double ink = 0;
    std::set<Signature> distinct;
    for (Index t = 0; t < generator.length(); ++t) {
      const auto& x = batch.inputs[static_cast<std::size_t>(t)];
      EXPECT_GE(x.minCoeff(), 0.0f);
      EXPECT_LE(x.maxCoeff(), 1.0f);
      ink += x.sum() / static_cast<double>(x.size());
      for (Index b = 0; b < 4; ++b) distinct.insert(column(batch, t, b));
    }
    ink /= static_cast<double>(generator.length());
    EXPECT_GT(ink, 0.02) << size;
    EXPECT_LT(ink, 0.3) << size;
    EXPECT_EQ(distinct.size(), static_cast<std::size_t>(4 * generator.length()));  // every sample differs
  }
}

}  // namespace
