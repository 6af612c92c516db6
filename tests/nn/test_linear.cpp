// Tests for mann/nn/linear.hpp: hand case, gradient check, the overwrite/accumulate rule.
#include <gtest/gtest.h>

#include "mann/nn/linear.hpp"
#include "mann/train/grad_check.hpp"

namespace {

using mann::MatrixD;

TEST(Linear, ForwardHandCase) {
  mann::Rng rng(1);
  mann::Linear<double> layer(2, 2, rng);
  layer.weight.value << 1, 2, 3, 4;
  layer.bias.value << 0.5, -1;
  MatrixD x(2, 1), y;
  x << 1, -1;
  layer.forward(x, y);
  EXPECT_DOUBLE_EQ(y(0, 0), 1 - 2 + 0.5);
  EXPECT_DOUBLE_EQ(y(1, 0), 3 - 4 - 1);
}

TEST(Linear, RejectsWrongInputRows) {
  mann::Rng rng(1);
  mann::Linear<float> layer(3, 2, rng);
  mann::MatrixF x(4, 2), y;
  EXPECT_THROW(layer.forward(x, y), mann::ShapeError);
  EXPECT_THROW(mann::Linear<float>(0, 2, rng), mann::ValueError);
}

TEST(Linear, GradientsMatchFiniteDifferences) {
  mann::Rng rng(2);
  mann::Linear<double> layer(5, 3, rng);
  mann::init_normal(layer.bias.value, rng, 0.5);
  MatrixD x(5, 4), g(3, 4);
  mann::init_normal(x, rng, 1.0);
  mann::init_normal(g, rng, 1.0);
  auto loss = [&] {
    MatrixD y;
    layer.forward(x, y);
    return (y.array() * g.array()).sum();
  };
  MatrixD dx;
  auto backward = [&] {
    layer.weight.zero_grad();
    layer.bias.zero_grad();
    layer.backward(x, g, &dx);
  };
  mann::ParameterList<double> params;
  layer.parameters(params);
  const auto result = mann::grad_check_parameters(loss, backward, params);
  EXPECT_LT(result.max_relative_error, 1e-6) << result.worst;
  mann::GradCheckResult input_result;
  mann::grad_check_tensor(loss, x, dx, "x", input_result);
  EXPECT_LT(input_result.max_relative_error, 1e-6) << input_result.worst;
}

TEST(Linear, BackwardOverwritesInputGradAndAccumulatesParameterGrads) {
  mann::Rng rng(3);
  mann::Linear<double> layer(2, 2, rng);
  MatrixD x = MatrixD::Random(2, 3), dy = MatrixD::Random(2, 3);
  MatrixD dx = MatrixD::Constant(2, 3, 1e6);  // sentinel
  layer.weight.grad.setConstant(1.0);
  layer.backward(x, dy, &dx);
  EXPECT_TRUE(dx.isApprox(layer.weight.value.transpose() * dy));
  EXPECT_TRUE(layer.weight.grad.isApprox(MatrixD::Ones(2, 2) + dy * x.transpose()));
}

}  // namespace
