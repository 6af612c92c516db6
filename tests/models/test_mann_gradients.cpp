// Whole-episode finite-difference checks of the MANN in double: every parameter of the controller,
// the head projection and the output layer, through time and through the memory.
#include <gtest/gtest.h>

#include <iostream>

#include "mann/memory/lrua_head.hpp"
#include "mann/models/mann.hpp"
#include "mann/nn/feed_forward.hpp"
#include "mann/nn/lstm.hpp"
#include "mann/train/grad_check.hpp"

namespace {

using mann::MatrixD;

// A random episode batch: T steps, B episodes, labels one-hot / string / real.
mann::EpisodeBatch<double> random_batch(mann::OutputKind kind, mann::Index T, mann::Index B, mann::Index input,
                                        mann::Index labels, mann::Rng& rng) {
  mann::EpisodeBatch<double> e;
  e.resize(T, B, input, labels);
  for (mann::Index t = 0; t < T; ++t) {
    mann::init_normal(e.inputs[t], rng, 1.0);
    e.targets[t].setZero();
    for (mann::Index b = 0; b < B; ++b) {
      if (kind == mann::OutputKind::one_hot) {
        e.targets[t](static_cast<mann::Index>(rng.below(labels)), b) = 1;
      } else if (kind == mann::OutputKind::string) {
        for (int g = 0; g < 5; ++g) e.targets[t](g * 5 + static_cast<mann::Index>(rng.below(5)), b) = 1;
      } else {
        for (mann::Index i = 0; i < labels; ++i) e.targets[t](i, b) = rng.normal();
      }
      e.instance[t][b] = 1;
    }
  }
  return e;
}

template <class Model>
void check_model_gradients(Model& model, const mann::EpisodeBatch<double>& episodes) {
  typename Model::Workspace ws;
  auto params = model.parameters();
  mann::Rng rng(7);
  for (auto& p : params) {  // move biases off zero so every path is exercised
    if (p.name.find("bias") != std::string::npos) mann::init_normal(p.parameter->value, rng, 0.5);
  }
  auto loss = [&] { return static_cast<double>(model.forward(episodes, ws)); };
  auto backward = [&] {
    mann::zero_grad(params);
    loss();
    model.backward(episodes, ws);
  };
  const auto result = mann::grad_check_parameters(loss, backward, params);  // every entry
  std::cout << "max relative error " << result.max_relative_error << " at " << result.worst << " over "
            << result.entries_checked << " entries\n";
  EXPECT_LT(result.max_relative_error, 1e-6)
      << result.worst << " analytic " << result.analytic << " numeric " << result.numeric;
  EXPECT_EQ(result.entries_checked, mann::parameter_count(params));
}

struct Case {
  mann::OutputKind kind;
  mann::Index labels;
};

class MannLruaGradients : public ::testing::TestWithParam<Case> {};

mann::LruaHead<double>::Options small_memory() {
  mann::LruaHead<double>::Options o;
  o.slots = 6;
  o.width = 4;
  o.heads = 2;
  return o;
}

TEST_P(MannLruaGradients, LstmControllerMatchesFiniteDifferences) {
  const Case c = GetParam();
  mann::Rng rng(11);
  mann::MannConfig config;
  config.input_size = 3;
  config.label_size = c.labels;
  config.output = c.kind;
  mann::LruaHead<double> head(small_memory());
  mann::Lstm<double> lstm(mann::Mann<double, mann::Lstm<double>, mann::LruaHead<double>>::controller_input_size(config, head), 5, rng);
  mann::Mann<double, mann::Lstm<double>, mann::LruaHead<double>> model(config, lstm, head, rng);
  auto episodes = random_batch(c.kind, 7, 2, config.input_size, c.labels, rng);
  check_model_gradients(model, episodes);
}

TEST_P(MannLruaGradients, FeedForwardControllerMatchesFiniteDifferences) {
  const Case c = GetParam();
  mann::Rng rng(12);
  mann::MannConfig config;
  config.input_size = 3;
  config.label_size = c.labels;
  config.output = c.kind;
  mann::LruaHead<double> head(small_memory());
  using Model = mann::Mann<double, mann::FeedForward<double>, mann::LruaHead<double>>;
  mann::FeedForward<double> ff(Model::controller_input_size(config, head), {5}, rng);
  Model model(config, ff, head, rng);
  auto episodes = random_batch(c.kind, 6, 2, config.input_size, c.labels, rng);
  check_model_gradients(model, episodes);
}

INSTANTIATE_TEST_SUITE_P(Outputs, MannLruaGradients,
                         ::testing::Values(Case{mann::OutputKind::one_hot, 3}, Case{mann::OutputKind::string, 25},
                                           Case{mann::OutputKind::gaussian, 1}),
                         [](const auto& info) { return mann::to_string(info.param.kind); });

}  // namespace

namespace {

TEST(MannPrecision, FloatAndDoubleForwardAgree) {
  mann::MannConfig config;
  config.input_size = 10;
  config.label_size = 5;
  mann::LruaHead<double>::Options od;
  od.slots = 16;
  od.width = 8;
  od.heads = 2;
  mann::LruaHead<float>::Options of;
  of.slots = 16;
  of.width = 8;
  of.heads = 2;
  using ModelD = mann::Mann<double, mann::Lstm<double>, mann::LruaHead<double>>;
  using ModelF = mann::Mann<float, mann::Lstm<float>, mann::LruaHead<float>>;
  mann::Rng rng_d(5), rng_f(5), data(6);
  mann::LruaHead<double> hd(od);
  mann::LruaHead<float> hf(of);
  ModelD md(config, mann::Lstm<double>(ModelD::controller_input_size(config, hd), 12, rng_d), hd, rng_d);
  ModelF mf(config, mann::Lstm<float>(ModelF::controller_input_size(config, hf), 12, rng_f), hf, rng_f);
  auto ed = random_batch(mann::OutputKind::one_hot, 20, 3, 10, 5, data);
  mann::EpisodeBatch<float> ef;
  ef.resize(20, 3, 10, 5);
  for (int t = 0; t < 20; ++t) {
    ef.inputs[t] = ed.inputs[t].cast<float>();
    ef.targets[t] = ed.targets[t].cast<float>();
  }
  ModelD::Workspace wd;
  ModelF::Workspace wf;
  const double loss_d = md.forward(ed, wd);
  const float loss_f = mf.forward(ef, wf);
  EXPECT_NEAR(loss_f, loss_d, 1e-5 * std::abs(loss_d));
  for (int t = 0; t < 20; ++t) {
    EXPECT_LT((wd.outputs[t].cast<float>() - wf.outputs[t]).cwiseAbs().maxCoeff(), 1e-4f) << "step " << t;
  }
}

}  // namespace
