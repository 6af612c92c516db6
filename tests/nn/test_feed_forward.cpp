// Tests for mann/nn/feed_forward.hpp: gradient check for every activation, shape checks.
#include <gtest/gtest.h>

#include "mann/nn/feed_forward.hpp"
#include "mann/train/grad_check.hpp"

namespace {

using mann::MatrixD;

class FeedForwardGrad : public ::testing::TestWithParam<mann::Activation> {};

TEST_P(FeedForwardGrad, MatchesFiniteDifferences) {
  mann::Rng rng(5);
  mann::FeedForward<double> net(4, {6, 3}, rng, GetParam());
  mann::ParameterList<double> params;
  net.parameters(params, "ff");
  for (auto& p : params) mann::init_normal(p.parameter->value, rng, 0.7);
  // For ReLU keep pre-activations away from the kink so ±2h does not cross it.
  MatrixD x(4, 3), g(3, 3);
  mann::init_normal(x, rng, 1.0);
  mann::init_normal(g, rng, 1.0);
  mann::FeedForward<double>::Step step;
  auto loss = [&] {
    net.forward_step(x, nullptr, step);
    return (step.h.array() * g.array()).sum();
  };
  MatrixD dx;
  mann::FeedForward<double>::Carry carry;
  auto backward = [&] {
    mann::zero_grad(params);
    loss();
    net.backward_step(step, g, carry, dx);
  };
  const auto result = mann::grad_check_parameters(loss, backward, params);
  EXPECT_LT(result.max_relative_error, 1e-6) << result.worst;
  mann::GradCheckResult input_result;
  const MatrixD analytic = dx;
  mann::grad_check_tensor(loss, x, analytic, "x", input_result);
  EXPECT_LT(input_result.max_relative_error, 1e-6) << input_result.worst;
  EXPECT_EQ(params.size(), 4u);
  EXPECT_EQ(params[0].name, "ff.layer0.weight");
}

INSTANTIATE_TEST_SUITE_P(Activations, FeedForwardGrad,
                         ::testing::Values(mann::Activation::tanh, mann::Activation::relu,
                                           mann::Activation::sigmoid));

TEST(FeedForward, RejectsEmptyWidthsAndWrongInput) {
  mann::Rng rng(1);
  EXPECT_THROW(mann::FeedForward<float>(3, {}, rng), mann::ValueError);
  mann::FeedForward<float> net(3, {2}, rng);
  mann::FeedForward<float>::Step s;
  mann::MatrixF x(2, 1);
  EXPECT_THROW(net.forward_step(x, nullptr, s), mann::ShapeError);
}

}  // namespace
