// Tests for mann/nn/losses.hpp: hand cases and finite-difference checks of each loss.
#include <gtest/gtest.h>

#include <cmath>

#include "mann/core/init.hpp"
#include "mann/nn/losses.hpp"
#include "mann/train/grad_check.hpp"

namespace {

using mann::MatrixD;

MatrixD one_hot_columns(int rows, const std::vector<int>& labels) {
  MatrixD y = MatrixD::Zero(rows, static_cast<long>(labels.size()));
  for (std::size_t j = 0; j < labels.size(); ++j) y(labels[j], static_cast<long>(j)) = 1;
  return y;
}

TEST(SoftmaxCrossEntropy, HandCase) {
  MatrixD z(3, 1), y(3, 1);
  z << 1, 2, 3;
  y << 0, 1, 0;
  mann::SoftmaxCrossEntropy<double> ce;
  const double expected = -(2 - std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)));
  EXPECT_NEAR(ce.forward(z, y), expected, 1e-14);
}

TEST(SoftmaxCrossEntropy, GradientMatchesFiniteDifferences) {
  mann::Rng rng(1);
  MatrixD z(5, 4);
  mann::init_normal(z, rng, 2.0);
  const MatrixD y = one_hot_columns(5, {0, 3, 4, 1});
  mann::SoftmaxCrossEntropy<double> ce;
  auto loss = [&] { return ce.forward(z, y); };
  loss();
  MatrixD dz;
  ce.backward(y, 1.0, dz);
  mann::GradCheckResult r;
  mann::grad_check_tensor(loss, z, dz, "z", r);
  EXPECT_LT(r.max_relative_error, 1e-6) << r.worst;
  EXPECT_THROW(ce.forward(z, MatrixD(4, 4)), mann::ShapeError);
}

TEST(GroupedCategorical, EqualsSumOfGroupCrossEntropies) {
  mann::Rng rng(2);
  MatrixD z(6, 2);
  mann::init_normal(z, rng, 1.0);
  MatrixD y = MatrixD::Zero(6, 2);
  y(1, 0) = y(3, 0) = y(2, 1) = y(5, 1) = 1;  // 2 groups of 3
  mann::GroupedCategorical<double> grouped(2, 3);
  mann::SoftmaxCrossEntropy<double> ce;
  const double expected = ce.forward(z.topRows(3), y.topRows(3)) + ce.forward(z.bottomRows(3), y.bottomRows(3));
  EXPECT_NEAR(grouped.forward(z, y), expected, 1e-13);
  auto loss = [&] { return grouped.forward(z, y); };
  loss();
  MatrixD dz;
  grouped.backward(y, 1.0, dz);
  mann::GradCheckResult r;
  mann::grad_check_tensor(loss, z, dz, "z", r);
  EXPECT_LT(r.max_relative_error, 1e-6) << r.worst;
  EXPECT_THROW(grouped.forward(MatrixD(5, 2), MatrixD(5, 2)), mann::ShapeError);
}

TEST(GaussianNll, HandCaseAndGradient) {
  MatrixD out(2, 1), y(1, 1);
  out << 0.3, 0.0;  // mean 0.3, variance softplus(0) + 1e-4
  y << 1.0;
  mann::GaussianNll<double> nll;
  const double var = std::log(2.0) + 1e-4;
  const double expected = 0.5 * (std::log(2 * M_PI) + std::log(var) + 0.49 / var);
  EXPECT_NEAR(nll.forward(out, y), expected, 1e-13);

  mann::Rng rng(3);
  MatrixD outs(4, 3), ys(2, 3);
  mann::init_normal(outs, rng, 1.0);
  mann::init_normal(ys, rng, 1.0);
  auto loss = [&] { return nll.forward(outs, ys); };
  loss();
  MatrixD dout;
  nll.backward(1.0, dout);
  mann::GradCheckResult r;
  mann::grad_check_tensor(loss, outs, dout, "outputs", r);
  EXPECT_LT(r.max_relative_error, 1e-6) << r.worst;
  // Variance stays positive for very negative raw values.
  outs.bottomRows(2).setConstant(-1000);
  EXPECT_TRUE(std::isfinite(nll.forward(outs, ys)));
}

}  // namespace
