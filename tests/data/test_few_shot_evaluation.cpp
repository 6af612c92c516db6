// Tests for mann/data/few_shot_evaluation.hpp: the episode evaluator (counts, confidence interval,
// independence of the thread count, errors from classifiers), and the Lake-runs evaluator of
// mann/data/omniglot_lake_runs.hpp.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <string>
#include <vector>

#include "mann/data/few_shot_evaluation.hpp"
#include "mann/data/omniglot_lake_runs.hpp"
#include "mann/models/pixel_nearest_neighbour.hpp"

namespace {

mann::OmniglotImages small_images(int characters) {
  std::vector<mann::OmniglotCharacter> list;
  for (int c = 0; c < characters; ++c) {
    mann::OmniglotCharacter ch{"images_background", "A", "character" + std::to_string(c), {}};
    for (int d = 0; d < 20; ++d) ch.drawings.push_back(std::to_string(d) + ".png");
    list.push_back(ch);
  }
  mann::OmniglotImages images(list);
  for (int c = 0; c < characters; ++c) {
    for (int d = 0; d < 20; ++d) {
      std::uint8_t* bits = images.packed(c, d);
      // A 16 × 16 block whose place is the character's, plus a drawing-specific speck.
      for (int r = 0; r < 16; ++r) {
        for (int k = 0; k < 16; ++k) {
          const int i = (8 + 16 * (c / 5) + r) * 105 + 8 + 16 * (c % 5) + k;
          bits[i >> 3] = static_cast<std::uint8_t>(bits[i >> 3] | (1u << (i & 7)));
        }
      }
      const int i = 100 * 105 + 2 + d;
      bits[i >> 3] = static_cast<std::uint8_t>(bits[i >> 3] | (1u << (i & 7)));
    }
  }
  return images;
}

// Character indices 0 … n − 1.
std::vector<mann::Index> first_classes(int n) {
  std::vector<mann::Index> classes;
  for (mann::Index c = 0; c < n; ++c) classes.push_back(c);
  return classes;
}

TEST(FewShotEvaluation, PixelNearestNeighbourIsPerfectOnSeparableClasses) {
  const mann::OmniglotImages images = small_images(10);
  const mann::FewShotImages<float> store(images, first_classes(10), true);  // 40 classes, distinct after rotation
  const mann::FewShotSampler<float> sampler(store, 5);
  mann::FewShotEvaluationOptions options;
  options.episode = {5, 1, 2};
  options.episodes = 50;
  const mann::FewShotAccuracy accuracy =
      mann::evaluate_few_shot(sampler, [] { return mann::PixelNearestNeighbour<float>(); }, options);
  EXPECT_EQ(accuracy.total, 50 * 10);
  EXPECT_EQ(accuracy.correct, accuracy.total);
  EXPECT_DOUBLE_EQ(accuracy.mean(), 1.0);
  EXPECT_DOUBLE_EQ(accuracy.confidence95(), 0.0);
}

TEST(FewShotEvaluation, ThreadsDoNotChangeTheResultAndConfidenceInterval) {
  const mann::OmniglotImages images = small_images(10);
  const mann::FewShotImages<float> store(images, first_classes(10), false);
  const mann::FewShotSampler<float> sampler(store, 9);
  // A classifier that is right exactly on queries whose first pixel sum parity ... simpler: guesses
  // label 0 always, so the accuracy is the share of label-0 queries (1 / ways on average).
  auto make = [] {
    return [](const mann::MatrixF&, const std::vector<int>&, int, const mann::MatrixF& queries, std::vector<int>& out) {
      out.assign(static_cast<std::size_t>(queries.cols()), 0);
    };
  };
  mann::FewShotEvaluationOptions options;
  options.episode = {4, 2, 1};
  options.episodes = 101;
  std::atomic<std::uint64_t> last{0};
  options.progress = [&](std::uint64_t done) { last = done; };
  const mann::FewShotAccuracy one = mann::evaluate_few_shot(sampler, make, options);
  EXPECT_EQ(last.load(), 101u);
  options.threads = 3;
  const mann::FewShotAccuracy three = mann::evaluate_few_shot(sampler, make, options);
  EXPECT_EQ(one.episode_accuracy, three.episode_accuracy);
  EXPECT_EQ(one.correct, 101);  // one label-0 query per episode of 4
  EXPECT_DOUBLE_EQ(one.mean(), 0.25);
  EXPECT_DOUBLE_EQ(one.confidence95(), 0.0);  // every episode exactly 1/4
  // Mixed episode accuracies: 1.96 · sd / √n by hand.
  mann::FewShotAccuracy by_hand;
  by_hand.episode_accuracy = {1.0, 0.0, 0.5, 0.5};
  EXPECT_DOUBLE_EQ(by_hand.mean(), 0.5);
  EXPECT_NEAR(by_hand.confidence95(), 1.96 * std::sqrt(0.5 / 3.0) / 2.0, 1e-12);
  EXPECT_TRUE(std::isnan(mann::FewShotAccuracy{}.mean()));

  // A classifier returning the wrong count, and a bad thread count.
  auto wrong = [] {
    return [](const mann::MatrixF&, const std::vector<int>&, int, const mann::MatrixF&, std::vector<int>& out) { out.assign(1, 0); };
  };
  options.threads = 2;
  EXPECT_THROW(mann::evaluate_few_shot(sampler, wrong, options), mann::ValueError);
  options.threads = 0;
  EXPECT_THROW(mann::evaluate_few_shot(sampler, make, options), mann::ValueError);
  options.threads = 1;
  options.episode = {11, 1, 1};
  EXPECT_THROW(mann::evaluate_few_shot(sampler, make, options), mann::ValueError);
}

// Answers label 0 to every query, except in sequential(), where it answers the label it is given
// (that member gets the query labels for its writes), and counts the calls of each.
struct CountingClassifier {
  std::atomic<int>* plain;  // the evaluator may run one classifier per thread
  std::atomic<int>* sequential_calls;
  void operator()(const mann::MatrixF&, const std::vector<int>&, int, const mann::MatrixF& queries, std::vector<int>& out) {
    ++*plain;
    out.assign(static_cast<std::size_t>(queries.cols()), 0);
  }
  void sequential(const mann::MatrixF& support, const std::vector<int>& support_labels, int ways,
                  const mann::MatrixF& queries, const std::vector<int>& query_labels, std::vector<int>& out) {
    ++*sequential_calls;
    EXPECT_EQ(support.cols(), static_cast<mann::Index>(support_labels.size()));
    EXPECT_EQ(queries.cols(), ways);  // one query per class
    out = query_labels;
  }
};

TEST(FewShotEvaluation, SequentialEpisodesCallTheSequentialMember) {
  const mann::OmniglotImages images = small_images(10);
  const mann::FewShotImages<float> store(images, first_classes(10), false);
  const mann::FewShotSampler<float> sampler(store, 4);
  std::atomic<int> plain{0}, sequential{0};
  auto make = [&] { return CountingClassifier{&plain, &sequential}; };
  mann::FewShotEvaluationOptions options;
  options.episode = {4, 3, 1};
  options.episodes = 12;
  EXPECT_DOUBLE_EQ(mann::evaluate_few_shot(sampler, make, options).mean(), 0.25);
  EXPECT_EQ(plain.load(), 12);
  EXPECT_EQ(sequential.load(), 0);
  options.episode.sequential = true;
  options.threads = 2;
  EXPECT_DOUBLE_EQ(mann::evaluate_few_shot(sampler, make, options).mean(), 1.0);
  EXPECT_EQ(plain.load(), 12);
  EXPECT_EQ(sequential.load(), 12);
  // A classifier without the member cannot run sequential episodes; nor can two queries per class.
  EXPECT_THROW(mann::evaluate_few_shot(sampler, [] { return mann::PixelNearestNeighbour<float>(); }, options),
               mann::ValueError);
  options.episode.queries = 2;
  EXPECT_THROW(mann::evaluate_few_shot(sampler, make, options), mann::ValueError);
}

TEST(FewShotEvaluation, LakeRunsErrorRate) {
  // Two runs of 20 with 20 classes: the test items are the training images (answers a permutation),
  // except that run 1's item 3 is a copy of the wrong class.
  std::vector<mann::LakeRun<float>> runs(2);
  for (std::size_t r = 0; r < 2; ++r) {
    runs[r].name = "run0" + std::to_string(r + 1);
    runs[r].training = mann::MatrixF::Identity(25, 20);
    runs[r].test.resize(25, 20);
    for (int j = 0; j < 20; ++j) {
      runs[r].answers.push_back((j * 7 + 3) % 20);
      runs[r].test.col(j) = runs[r].training.col(runs[r].answers.back());
    }
  }
  runs[1].test.col(3) = runs[1].training.col((runs[1].answers[3] + 1) % 20);
  const mann::LakeRunsResult result = mann::evaluate_lake_runs(runs, mann::PixelNearestNeighbour<float>());
  EXPECT_EQ(result.errors, (std::vector<int>{0, 1}));
  EXPECT_EQ(result.wrong(), 1);
  EXPECT_EQ(result.items(), 40);
  EXPECT_DOUBLE_EQ(result.error_rate(), 1.0 / 40.0);
  EXPECT_TRUE(std::isnan(mann::LakeRunsResult{}.error_rate()));
}

}  // namespace
