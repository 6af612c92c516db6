// Tests for mann/nn/dropout.hpp: keep-rate statistics, scaling, evaluation identity, seeding,
// gradient check with a fixed mask.
#include <gtest/gtest.h>

#include "mann/core/init.hpp"
#include "mann/nn/dropout.hpp"
#include "mann/train/grad_check.hpp"

namespace {

using mann::MatrixD;

TEST(Dropout, TrainingStatistics) {
  const double rate = 0.3;
  mann::Dropout<double> dropout(rate);
  mann::Rng rng(1);
  MatrixD x = MatrixD::Ones(200, 500), y;
  mann::Dropout<double>::Cache cache;
  dropout.forward(x, y, cache, true, rng);
  const double n = static_cast<double>(x.size());
  const double dropped = static_cast<double>((y.array() == 0).count()) / n;
  EXPECT_NEAR(dropped, rate, 0.005);  // σ = √(0.21 / 1e5) ≈ 0.0015
  EXPECT_NEAR(y.mean(), 1.0, 0.01);   // inverted dropout keeps the expectation
  for (mann::Index k = 0; k < y.size(); ++k) {
    const double v = y.data()[k];
    ASSERT_TRUE(v == 0 || std::abs(v - 1 / (1 - rate)) < 1e-12) << v;
  }
}

TEST(Dropout, EvaluationIsIdentityAndDrawsNothing) {
  mann::Dropout<double> dropout(0.5);
  mann::Rng rng(2), untouched(2);
  MatrixD x = MatrixD::Random(7, 3), y, dx;
  mann::Dropout<double>::Cache cache;
  dropout.forward(x, y, cache, false, rng);
  EXPECT_EQ(y, x);
  EXPECT_EQ(rng.next_u64(), untouched.next_u64());
  MatrixD dy = MatrixD::Random(7, 3);
  dropout.backward(cache, dy, dx);
  EXPECT_EQ(dx, dy);
  mann::Dropout<double> none(0.0);  // rate 0 is the identity in training too
  none.forward(x, y, cache, true, rng);
  EXPECT_EQ(y, x);
}

TEST(Dropout, SameSeedSameMask) {
  mann::Dropout<float> dropout(0.5);
  mann::Rng a(3), b(3);
  mann::MatrixF x = mann::MatrixF::Ones(10, 10), ya, yb;
  mann::Dropout<float>::Cache ca, cb;
  dropout.forward(x, ya, ca, true, a);
  dropout.forward(x, yb, cb, true, b);
  EXPECT_EQ(ya, yb);
  dropout.forward(x, yb, cb, true, b);
  EXPECT_NE(ya, yb);
}

TEST(Dropout, GradientMatchesFiniteDifferencesWithFixedMask) {
  mann::Dropout<double> dropout(0.4);
  mann::Rng data(4);
  MatrixD x(5, 4), g(5, 4);
  mann::init_normal(x, data, 1.0);
  mann::init_normal(g, data, 1.0);
  mann::Dropout<double>::Cache cache;
  auto loss = [&] {
    mann::Rng rng(9);  // the same mask every evaluation
    MatrixD y;
    dropout.forward(x, y, cache, true, rng);
    return (y.array() * g.array()).sum();
  };
  loss();
  MatrixD dx;
  dropout.backward(cache, g, dx);
  mann::GradCheckResult result;
  mann::grad_check_tensor(loss, x, dx, "x", result);
  EXPECT_LT(result.max_relative_error, 1e-6) << result.worst;
}

TEST(Dropout, RejectsBadRateAndShape) {
  EXPECT_THROW(mann::Dropout<float>(1.0), mann::ValueError);
  EXPECT_THROW(mann::Dropout<float>(-0.1), mann::ValueError);
  mann::Dropout<double> dropout(0.5);
  mann::Rng rng(5);
  MatrixD x = MatrixD::Ones(3, 3), y, dx;
  mann::Dropout<double>::Cache cache;
  dropout.forward(x, y, cache, true, rng);
  EXPECT_THROW(dropout.backward(cache, MatrixD::Ones(3, 2), dx), mann::ShapeError);
}

}  // namespace
