// Tests for mann/models/pixel_nearest_neighbour.hpp: the pixel nearest-neighbour baseline on tiny
// hand-made cases (Euclidean and cosine differ). Its use in whole episodes is tested with the
// evaluator in tests/data/test_few_shot_evaluation.cpp.
#include <gtest/gtest.h>

#include <vector>

#include "mann/models/pixel_nearest_neighbour.hpp"

namespace {

TEST(PixelNearestNeighbour, HandMadeEuclideanAndCosine) {
  // Support: label 0 = (1, 0), label 1 = (3, 3), label 2 = (0, 0.5).
  mann::MatrixF support(2, 3);
  support << 1, 3, 0,
             0, 3, 0.5f;
  const std::vector<int> labels{0, 1, 2};
  // Query (2.5, 2.6): nearest and most similar is (3, 3). Query (0.2, 0.3): nearest (0, 0.5), but
  // by angle (45°-ish) closest to (3, 3). Query (4, 0.1): nearest (3, 3)? |(1,-2.9)|² = 9.41 vs
  // |(3, 0.1)|² = 9.01 → (1, 0); cosine → (1, 0) too.
  mann::MatrixF queries(2, 3);
  queries << 2.5f, 0.2f, 4,
             2.6f, 0.3f, 0.1f;
  std::vector<int> predictions;
  mann::PixelNearestNeighbour<float> euclidean(mann::PixelDistance::euclidean);
  euclidean(support, labels, 3, queries, predictions);
  EXPECT_EQ(predictions, (std::vector<int>{1, 2, 0}));
  mann::PixelNearestNeighbour<float> cosine(mann::PixelDistance::cosine);
  cosine(support, labels, 3, queries, predictions);
  EXPECT_EQ(predictions, (std::vector<int>{1, 1, 0}));
  // Ties go to the first support column; labels are taken from support_labels.
  mann::MatrixF twins(2, 2);
  twins << 1, 1,
           1, 1;
  euclidean(twins, {4, 2}, 5, queries, predictions);
  EXPECT_EQ(predictions, (std::vector<int>{4, 4, 4}));
  // An all-zero query has cosine 0 to everything: the first column, no NaN.
  cosine(support, labels, 3, mann::MatrixF::Zero(2, 1), predictions);
  EXPECT_EQ(predictions, (std::vector<int>{0}));
  EXPECT_THROW(euclidean(support, {0, 1}, 3, queries, predictions), mann::ShapeError);
  EXPECT_THROW(euclidean(support, labels, 3, mann::MatrixF::Zero(3, 1), predictions), mann::ShapeError);
}

}  // namespace
