// Tests for mann/core: errors, random, initialisers, activations.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "mann/core/activations.hpp"
#include "mann/core/error.hpp"
#include "mann/core/init.hpp"
#include "mann/core/random.hpp"

namespace {

TEST(Error, CheckShapeNamesArgumentReceivedAndExpected) {
  mann::MatrixF m(3, 4);
  try {
    mann::check_shape(m, 5, 4, "mann::Foo::bar", "input");
    FAIL() << "no throw";
  } catch (const mann::ShapeError& e) {
    EXPECT_STREQ(e.what(), "mann::Foo::bar: input is 3 x 4, expected 5 x 4");
  }
  EXPECT_NO_THROW(mann::check_shape(m, -1, 4, "f", "m"));
}

TEST(Error, CheckFiniteFindsNaNAndInf) {
  mann::MatrixD m = mann::MatrixD::Zero(2, 2);
  EXPECT_NO_THROW(mann::check_finite(m, "f", "m"));
  m(1, 0) = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW(mann::check_finite(m, "f", "m"), mann::ValueError);
  m(1, 0) = std::numeric_limits<double>::infinity();
  EXPECT_THROW(mann::check_finite(m, "f", "m"), mann::ValueError);
  static_assert(std::is_base_of_v<mann::Error, mann::ValueError>);
}

TEST(Rng, SameSeedSameStream) {
  mann::Rng a(7), b(7), c(8);
  for (int i = 0; i < 100; ++i) {
    const double x = a.uniform();
    EXPECT_EQ(x, b.uniform());
    EXPECT_GE(x, 0.0);
    EXPECT_LT(x, 1.0);
  }
  EXPECT_NE(a.next_u64(), c.next_u64());
}

TEST(Rng, NormalHasUnitMomentsAndBelowIsInRange) {
  mann::Rng rng(3);
  double sum = 0, sum_sq = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const double x = rng.normal();
    sum += x;
    sum_sq += x * x;
  }
  EXPECT_NEAR(sum / n, 0.0, 0.01);
  EXPECT_NEAR(sum_sq / n, 1.0, 0.02);
  int counts[3] = {0, 0, 0};
  for (int i = 0; i < 30000; ++i) ++counts[rng.below(3)];
  for (int k : counts) EXPECT_NEAR(k, 10000, 400);
}

TEST(Init, GlorotUniformWithinLimit) {
  mann::Rng rng(1);
  mann::MatrixF m(30, 20);
  mann::init_glorot_uniform(m, rng);
  const float limit = std::sqrt(6.0f / 50.0f);
  EXPECT_LE(m.cwiseAbs().maxCoeff(), limit);
  EXPECT_GT(m.cwiseAbs().maxCoeff(), 0.8f * limit);
}

TEST(Init, OrthogonalHasOrthonormalRowsOrColumns) {
  mann::Rng rng(2);
  mann::MatrixD tall(8, 5), wide(5, 8), square(6, 6);
  mann::init_orthogonal(tall, rng);
  mann::init_orthogonal(wide, rng);
  mann::init_orthogonal(square, rng);
  EXPECT_TRUE((tall.transpose() * tall).isApprox(mann::MatrixD::Identity(5, 5), 1e-12));
  EXPECT_TRUE((wide * wide.transpose()).isApprox(mann::MatrixD::Identity(5, 5), 1e-12));
  EXPECT_TRUE((square * square.transpose()).isApprox(mann::MatrixD::Identity(6, 6), 1e-12));
}

TEST(Activations, SigmoidStableAtExtremes) {
  EXPECT_EQ(mann::sigmoid(1000.0), 1.0);
  EXPECT_EQ(mann::sigmoid(-1000.0), 0.0);
  EXPECT_NEAR(mann::sigmoid(0.3), 1.0 / (1.0 + std::exp(-0.3)), 1e-15);
  EXPECT_NEAR(mann::softplus(800.0), 800.0, 1e-12);
  EXPECT_NEAR(mann::softplus(-800.0), 0.0, 1e-300);
  EXPECT_NEAR(mann::softplus(0.5), std::log1p(std::exp(0.5)), 1e-15);
}

TEST(Activations, SoftmaxAndLogSoftmaxHandCase) {
  mann::MatrixD z(3, 2);
  z << 1, 1000, 2, 1000, 3, -1000;
  mann::MatrixD p(3, 2), lp(3, 2);
  mann::softmax_columns(z, p);
  mann::log_softmax_columns(z, lp);
  const double denom = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  EXPECT_NEAR(p(0, 0), std::exp(1.0) / denom, 1e-15);
  EXPECT_NEAR(p(2, 0), std::exp(3.0) / denom, 1e-15);
  EXPECT_NEAR(p(0, 1), 0.5, 1e-15);
  EXPECT_NEAR(lp(0, 1), std::log(0.5), 1e-15);
  EXPECT_TRUE(lp.allFinite());
  EXPECT_NEAR(lp(2, 1), -2000.0 - std::log(2.0), 1e-9);
}

}  // namespace
