// Tests for mann/nn/relu.hpp: values, gradient check away from the kink, in-place use.
#include <gtest/gtest.h>

#include "mann/core/init.hpp"
#include "mann/nn/relu.hpp"
#include "mann/train/grad_check.hpp"

namespace {

using mann::MatrixD;

TEST(ReLU, ForwardAndBackwardHandCase) {
  MatrixD x(2, 2), y, dx;
  x << -1, 2, 0, 3;
  mann::ReLU<double>::forward(x, y);
  MatrixD expected(2, 2);
  expected << 0, 2, 0, 3;
  EXPECT_EQ(y, expected);
  MatrixD dy = MatrixD::Constant(2, 2, 5.0);
  mann::ReLU<double>::backward(y, dy, dx);
  expected << 0, 5, 0, 5;  // derivative 0 at x = 0
  EXPECT_EQ(dx, expected);
  mann::ReLU<double>::forward_inplace(x);
  EXPECT_EQ(x, y);
  mann::ReLU<double>::backward_inplace(y, dy);
  EXPECT_EQ(dy, expected);
}

TEST(ReLU, GradientMatchesFiniteDifferences) {
  mann::Rng rng(1);
  MatrixD x(6, 4), g(6, 4);
  mann::init_normal(x, rng, 1.0);
  for (mann::Index k = 0; k < x.size(); ++k)  // keep away from the kink
    if (std::abs(x.data()[k]) < 0.05) x.data()[k] = 0.1;
  mann::init_normal(g, rng, 1.0);
  auto loss = [&] {
    MatrixD y;
    mann::ReLU<double>::forward(x, y);
    return (y.array() * g.array()).sum();
  };
  MatrixD y, dx;
  mann::ReLU<double>::forward(x, y);
  mann::ReLU<double>::backward(y, g, dx);
  mann::GradCheckResult result;
  mann::grad_check_tensor(loss, x, dx, "x", result);
  EXPECT_LT(result.max_relative_error, 1e-6) << result.worst;
}

TEST(ReLU, RejectsMismatchedGradient) {
  MatrixD y(2, 3), dy(3, 2), dx;
  EXPECT_THROW(mann::ReLU<double>::backward(y, dy, dx), mann::ShapeError);
}

}  // namespace
