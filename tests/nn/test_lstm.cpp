// Tests for mann/nn/lstm.hpp: hand-computed step, BPTT against finite differences, float vs double.
#include <gtest/gtest.h>

#include <cmath>

#include "mann/nn/lstm.hpp"
#include "mann/train/grad_check.hpp"

namespace {

using mann::MatrixD;

double sig(double x) { return 1 / (1 + std::exp(-x)); }

// T random inputs (I × B) and T random output weightings (H × B), for a loss sum_t <h_t, g_t>.
void random_sequences(int T, int I, int H, int B, mann::Rng& rng, std::vector<MatrixD>& xs,
                      std::vector<MatrixD>& gs) {
  xs.assign(T, MatrixD(I, B));
  gs.assign(T, MatrixD(H, B));
  for (auto& x : xs) mann::init_normal(x, rng, 1.0);
  for (auto& g : gs) mann::init_normal(g, rng, 1.0);
}

TEST(Lstm, OneStepHandCase) {
  mann::Rng rng(1);
  mann::Lstm<double> lstm(1, 1, rng, 0.0);
  // weight rows f, i, o, u; columns [x, h].
  lstm.weight.value << 0.5, 0.1, -0.3, 0.2, 0.8, -0.4, 1.0, 0.3;
  lstm.bias.value << 0.1, 0.0, -0.1, 0.2;
  mann::Lstm<double>::Step s1, s2;
  MatrixD x(1, 1);
  x << 2.0;
  lstm.forward_step(x, nullptr, s1);
  const double f1 = sig(1.1), i1 = sig(-0.6), o1 = sig(1.5), u1 = std::tanh(2.2);
  const double c1 = i1 * u1, h1 = o1 * std::tanh(c1);
  EXPECT_NEAR(s1.c(0, 0), c1, 1e-15);
  EXPECT_NEAR(s1.h(0, 0), h1, 1e-15);
  (void)f1;
  x << -1.0;
  lstm.forward_step(x, &s1, s2);
  const double f2 = sig(-0.5 + 0.1 * h1 + 0.1), i2 = sig(0.3 + 0.2 * h1), o2 = sig(-0.8 - 0.4 * h1 - 0.1),
               u2 = std::tanh(-1.0 + 0.3 * h1 + 0.2);
  const double c2 = f2 * c1 + i2 * u2;
  EXPECT_NEAR(s2.c(0, 0), c2, 1e-15);
  EXPECT_NEAR(s2.h(0, 0), o2 * std::tanh(c2), 1e-15);
}

TEST(Lstm, ForgetBiasIsConfigurable) {
  mann::Rng rng(1);
  mann::Lstm<float> lstm(3, 4, rng, 2.5);
  EXPECT_TRUE((lstm.bias.value.topRows(4).array() == 2.5f).all());
  EXPECT_TRUE((lstm.bias.value.bottomRows(12).array() == 0.0f).all());
}

TEST(Lstm, BpttMatchesFiniteDifferences) {
  mann::Rng rng(4);
  const int T = 5, I = 3, H = 4, B = 3;
  mann::Lstm<double> lstm(I, H, rng, 1.0);
  mann::init_normal(lstm.bias.value, rng, 0.3);
  std::vector<MatrixD> xs, gs;
  random_sequences(T, I, H, B, rng, xs, gs);
  std::vector<mann::Lstm<double>::Step> steps;
  auto loss = [&] {
    lstm.forward(xs, steps);
    double f = 0;
    for (int t = 0; t < T; ++t) f += (steps[t].h.array() * gs[t].array()).sum();
    return f;
  };
  std::vector<MatrixD> dxs;
  auto backward = [&] {
    lstm.weight.zero_grad();
    lstm.bias.zero_grad();
    loss();
    lstm.backward(steps, gs, dxs);
  };
  mann::ParameterList<double> params;
  lstm.parameters(params);
  const auto result = mann::grad_check_parameters(loss, backward, params);
  EXPECT_LT(result.max_relative_error, 1e-6) << result.worst << " a=" << result.analytic << " n=" << result.numeric;
  mann::GradCheckResult input_result;
  const std::vector<MatrixD> analytic = dxs;
  for (int t = 0; t < T; ++t) mann::grad_check_tensor(loss, xs[t], analytic[t], "x" + std::to_string(t), input_result);
  EXPECT_LT(input_result.max_relative_error, 1e-6) << input_result.worst;
  EXPECT_GT(input_result.entries_checked, 0);
}

TEST(Lstm, FloatAndDoubleForwardAgree) {
  mann::Rng rng_d(9), rng_f(9);
  mann::Lstm<double> lstm_d(6, 5, rng_d);
  mann::Lstm<float> lstm_f(6, 5, rng_f);
  EXPECT_TRUE(lstm_d.weight.value.cast<float>().isApprox(lstm_f.weight.value));
  std::vector<MatrixD> xs(7, MatrixD(6, 2));
  mann::Rng rng(10);
  for (auto& x : xs) mann::init_normal(x, rng, 1.0);
  std::vector<mann::MatrixF> xs_f;
  for (auto& x : xs) xs_f.push_back(x.cast<float>());
  std::vector<mann::Lstm<double>::Step> sd;
  std::vector<mann::Lstm<float>::Step> sf;
  lstm_d.forward(xs, sd);
  lstm_f.forward(xs_f, sf);
  for (int t = 0; t < 7; ++t) EXPECT_LT((sd[t].h.cast<float>() - sf[t].h).cwiseAbs().maxCoeff(), 1e-5f);
}

// The batched known-input path (used by the MANN) gives the per-step path's values: the same h_t,
// dL/dx_t rows and parameter gradients, in double to rounding; with each kernel of the per-step
// products.
TEST(Lstm, BatchedKnownInputPathEqualsPerStepPath) {
  for (const mann::PackedKernel kernel : {mann::PackedKernel::plain, mann::best_packed_kernel()}) {
    SCOPED_TRACE(kernel == mann::PackedKernel::plain ? "plain" : "eigen_gebp");
    mann::Rng rng(21);
    const int T = 6, I = 7, H = 5, B = 3, known = 4;
    mann::Lstm<double> lstm(I, H, rng, 1.0);
    mann::init_normal(lstm.bias.value, rng, 0.3);
    std::vector<MatrixD> xs, gs;
    random_sequences(T, I, H, B, rng, xs, gs);

    std::vector<mann::Lstm<double>::Step> steps;
    std::vector<MatrixD> dxs;
    lstm.forward(xs, steps);
    lstm.backward(steps, gs, dxs);
    const MatrixD weight_grad = lstm.weight.grad, bias_grad = lstm.bias.grad;
    lstm.weight.zero_grad();
    lstm.bias.zero_grad();

    MatrixD known_inputs(known, T * B), known_gates, dgates(4 * H, T * B), xh;
    for (int t = 0; t < T; ++t) known_inputs.middleCols(t * B, B) = xs[t].topRows(known);
    mann::Lstm<double>::StepWeights step_weights{0, mann::PackedMatrix<double>(kernel),
                                                 mann::PackedMatrix<double>(kernel)};
    lstm.precompute_known_gates(known_inputs, known_gates, step_weights);
    EXPECT_EQ(step_weights.known, known);
    std::vector<mann::Lstm<double>::Step> batched(T);
    for (int t = 0; t < T; ++t) {
      lstm.forward_step_known(xs[t], known_gates.middleCols(t * B, B), step_weights, t ? &batched[t - 1] : nullptr,
                              batched[t]);
      EXPECT_LT((batched[t].h - steps[t].h).cwiseAbs().maxCoeff(), 1e-14) << "step " << t;
    }
    mann::Lstm<double>::Carry carry;
    lstm.reset_carry(carry, B);
    MatrixD dx_rest;
    for (int t = T; t-- > 0;) {
      lstm.backward_step_deferred(batched[t], gs[t], carry, step_weights, dgates.middleCols(t * B, B), dx_rest);
      ASSERT_EQ(dx_rest.rows(), I - known);
      EXPECT_LT((dx_rest - dxs[t].bottomRows(I - known)).cwiseAbs().maxCoeff(), 1e-13) << "step " << t;
    }
    EXPECT_EQ(lstm.weight.grad.cwiseAbs().maxCoeff(), 0.0);  // deferred until the end
    lstm.accumulate_deferred_gradients(dgates, batched, xh);
    EXPECT_LT((lstm.weight.grad - weight_grad).cwiseAbs().maxCoeff(), 1e-13);
    EXPECT_LT((lstm.bias.grad - bias_grad).cwiseAbs().maxCoeff(), 1e-13);
    EXPECT_GT(weight_grad.cwiseAbs().maxCoeff(), 0.1);
  }
}

TEST(Lstm, RejectsWrongInput) {
  mann::Rng rng(1);
  mann::Lstm<float> lstm(3, 2, rng);
  mann::Lstm<float>::Step s;
  mann::MatrixF x(4, 1);
  EXPECT_THROW(lstm.forward_step(x, nullptr, s), mann::ShapeError);
}

}  // namespace
