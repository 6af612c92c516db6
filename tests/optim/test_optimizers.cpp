// Tests for mann/train: RMSProp and Adam against hand-computed steps, clipping, the gradient checker.
#include <gtest/gtest.h>

#include <cmath>

#include "mann/nn/linear.hpp"
#include "mann/optim/adam.hpp"
#include "mann/optim/clip.hpp"
#include "mann/train/grad_check.hpp"
#include "mann/optim/rmsprop.hpp"
#include "mann/optim/step_in_parts.hpp"

namespace {

using mann::MatrixD;

TEST(RmsProp, TwoStepsHandComputed) {
  mann::Parameter<double> p(1, 1);
  p.value(0, 0) = 1.0;
  mann::ParameterList<double> list{{"p", &p}};
  mann::RmsProp<double> opt(list, {0.1, 0.9, 0.5, 0.0});
  p.grad(0, 0) = 2.0;
  opt.step();
  double ms = 0.1 * 4, v = 0.1 * 2 / std::sqrt(ms), w = 1 - v;
  EXPECT_NEAR(p.value(0, 0), w, 1e-15);
  p.grad(0, 0) = -1.0;
  opt.step();
  ms = 0.9 * ms + 0.1 * 1;
  v = 0.5 * v + 0.1 * -1 / std::sqrt(ms);
  EXPECT_NEAR(p.value(0, 0), w - v, 1e-15);
  EXPECT_EQ(opt.state().size(), 2u);
  EXPECT_EQ(opt.state()[0].name, "rmsprop.mean_square.p");
}

// Three threads' worth of parts (applied here one after another) give step()'s update exactly,
// parameters smaller than the number of parts included.
TEST(RmsProp, StepInPartsEqualsStep) {
  mann::Rng rng(4);
  mann::Parameter<double> a(7, 5), b(2, 1), c(1, 1);
  for (auto* p : {&a, &b, &c}) {
    mann::init_normal(p->value, rng, 1.0);
    mann::init_normal(p->grad, rng, 1.0);
  }
  mann::Parameter<double> a2 = a, b2 = b, c2 = c;
  mann::RmsProp<double> whole({{"a", &a}, {"b", &b}, {"c", &c}}), parts({{"a", &a2}, {"b", &b2}, {"c", &c2}});
  for (int s = 0; s < 2; ++s) {
    whole.step();
    for (int k = 0; k < 3; ++k) parts.step_part(k, 3);
    parts.end_step();
  }
  EXPECT_EQ(a.value, a2.value);
  EXPECT_EQ(b.value, b2.value);
  EXPECT_EQ(c.value, c2.value);
  EXPECT_EQ(parts.steps(), 2);
}

// step_in_parts on a pool of 3 gives step()'s update exactly: RMSProp in slices, Adam (no
// step_part) and a step()-only optimiser through step().
TEST(StepInParts, EqualsStepAndFallsBackToStep) {
  mann::ThreadPool pool(3);
  mann::Rng rng(8);
  mann::Parameter<double> a(9, 4), b(2, 1);
  for (auto* p : {&a, &b}) {
    mann::init_normal(p->value, rng, 1.0);
    mann::init_normal(p->grad, rng, 1.0);
  }
  mann::Parameter<double> a2 = a, b2 = b, a3 = a, b3 = b, a4 = a, b4 = b;
  mann::RmsProp<double> whole({{"a", &a}, {"b", &b}}), parts({{"a", &a2}, {"b", &b2}});
  mann::Adam<double> adam_whole({{"a", &a3}, {"b", &b3}}), adam_parts({{"a", &a4}, {"b", &b4}});
  for (int s = 0; s < 2; ++s) {
    whole.step();
    mann::step_in_parts(parts, pool, 3);
    adam_whole.step();
    mann::step_in_parts(adam_parts, pool, 3);
  }
  EXPECT_EQ(a.value, a2.value);
  EXPECT_EQ(b.value, b2.value);
  EXPECT_EQ(a3.value, a4.value);
  EXPECT_EQ(b3.value, b4.value);
  EXPECT_NE(a.value, a3.value);  // the two optimisers did move differently
  EXPECT_EQ(parts.steps(), 2);
  struct StepOnly {
    int steps = 0;
    void step() { ++steps; }
  } step_only;
  static_assert(!mann::can_step_in_parts<StepOnly>::value);
  static_assert(mann::can_step_in_parts<mann::RmsProp<double>>::value);
  static_assert(!mann::can_step_in_parts<mann::Adam<double>>::value);
  mann::step_in_parts(step_only, pool, 3);
  EXPECT_EQ(step_only.steps, 1);
}

TEST(RmsProp, DefaultsAreThePapers) {
  mann::RmsProp<float> opt({});
  EXPECT_DOUBLE_EQ(opt.options().learning_rate, 1e-4);
  EXPECT_DOUBLE_EQ(opt.options().decay, 0.95);
  EXPECT_DOUBLE_EQ(opt.options().momentum, 0.9);
  EXPECT_THROW(mann::RmsProp<float>({}, {-1, 0.95, 0.9, 1e-8}), mann::ValueError);
}

TEST(Adam, FirstStepIsLearningRateTimesSign) {
  mann::Parameter<double> p(2, 1);
  p.value << 1, 1;
  p.grad << 3, -0.01;
  mann::Adam<double> opt({{"p", &p}}, {0.01, 0.9, 0.999, 0.0});
  opt.step();
  EXPECT_NEAR(p.value(0), 0.99, 1e-12);
  EXPECT_NEAR(p.value(1), 1.01, 1e-12);
}

TEST(Adam, MinimisesAQuadratic) {
  mann::Parameter<double> p(3, 1);
  p.value << 5, -3, 2;
  mann::Adam<double> opt({{"p", &p}}, {0.1});
  for (int i = 0; i < 500; ++i) {
    p.grad = 2 * p.value;
    opt.step();
  }
  EXPECT_LT(p.value.norm(), 1e-2);
}

TEST(Clip, ScalesToMaxNormAndReportsNorm) {
  mann::Parameter<double> a(1, 2), b(1, 1);
  a.grad << 3, 0;
  b.grad << 4;
  mann::ParameterList<double> list{{"a", &a}, {"b", &b}};
  EXPECT_DOUBLE_EQ(mann::clip_grad_norm(list, 1.0), 5.0);
  EXPECT_NEAR(mann::global_grad_norm(list), 1.0, 1e-15);
  EXPECT_NEAR(b.grad(0), 0.8, 1e-15);
  EXPECT_DOUBLE_EQ(mann::clip_grad_norm(list, 10.0), 1.0);  // below: unchanged
  b.grad(0) = NAN;
  EXPECT_THROW(mann::clip_grad_norm(list, 1.0), mann::ValueError);
  // The variant for callers that skip such a step: the norm is returned, the gradients untouched.
  b.grad(0) = INFINITY;
  EXPECT_TRUE(std::isinf(mann::clip_grad_norm_if_finite(list, 1.0)));
  EXPECT_NEAR(a.grad(0), 0.6, 1e-15);
  b.grad(0) = 4;
  a.grad << 3, 0;
  EXPECT_DOUBLE_EQ(mann::clip_grad_norm_if_finite(list, 0.0), 5.0);  // 0: the norm only
  EXPECT_DOUBLE_EQ(a.grad(0), 3.0);
  EXPECT_DOUBLE_EQ(mann::clip_grad_norm_if_finite(list, 2.5), 5.0);
  EXPECT_NEAR(a.grad(0), 1.5, 1e-15);
}

TEST(GradCheck, DetectsAWrongGradient) {
  MatrixD x(2, 1);
  x << 0.5, -1.5;
  auto loss = [&] { return x(0) * x(0) * x(1) + std::sin(x(1)); };
  MatrixD right(2, 1), wrong(2, 1);
  right << 2 * x(0) * x(1), x(0) * x(0) + std::cos(x(1));
  wrong = right;
  wrong(1) *= 1.001;
  mann::GradCheckResult good, bad;
  mann::grad_check_tensor(loss, x, right, "x", good);
  mann::grad_check_tensor(loss, x, wrong, "x", bad);
  EXPECT_LT(good.max_relative_error, 1e-9);
  EXPECT_GT(bad.max_relative_error, 1e-4);
  EXPECT_EQ(bad.worst, "x[1]");
}

TEST(Optimizers, VisitAnyModuleGenerically) {
  mann::Rng rng(1);
  mann::Linear<float> layer(3, 2, rng);
  mann::ParameterList<float> params;
  layer.parameters(params, "out");
  for (auto& p : params) p.parameter->grad.setConstant(1.0f);
  const mann::MatrixF before = layer.weight.value;
  mann::RmsProp<float> opt(params);
  opt.step();
  EXPECT_TRUE(((before - layer.weight.value).array() > 0).all());
}

}  // namespace
