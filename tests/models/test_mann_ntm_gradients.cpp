// Whole-episode finite-difference checks of the MANN with the NTM access module (Santoro et al.
// Table 2, "MANN (LSTM, NTM access)") in double: every parameter of the controller, the head
// projection and the output layer, through time and through the memory, for each output kind.
#include <gtest/gtest.h>

#include <iostream>
#include <string>

#include "mann/memory/ntm_head.hpp"
#include "mann/models/mann.hpp"
#include "mann/nn/feed_forward.hpp"
#include "mann/nn/lstm.hpp"
#include "mann/train/grad_check.hpp"

namespace {

using mann::MatrixD;
using Head = mann::NtmHead<double>;

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
  // The memory path is live: the head projection gets a gradient.
  for (const auto& p : params) {
    if (p.name.rfind("head_projection", 0) == 0) {
      EXPECT_GT(p.parameter->grad.norm(), 0) << p.name;
    }
  }
}

struct Case {
  mann::OutputKind kind;
  mann::Index labels;
};

class MannNtmGradients : public ::testing::TestWithParam<Case> {};

Head::Options small_memory(mann::Index write_heads = 1) {
  Head::Options o;
  o.slots = 6;
  o.width = 4;
  o.heads = 2;
  o.write_heads = write_heads;
  return o;
}

template <class Controller>
using Model = mann::Mann<double, Controller, Head>;

mann::MannConfig config_for(const Case& c) {
  mann::MannConfig config;
  config.input_size = 3;
  config.label_size = c.labels;
  config.output = c.kind;
  return config;
}

TEST_P(MannNtmGradients, LstmControllerMatchesFiniteDifferences) {
  const Case c = GetParam();
  mann::Rng rng(11);
  const mann::MannConfig config = config_for(c);
  Head head(small_memory());
  mann::Lstm<double> lstm(Model<mann::Lstm<double>>::controller_input_size(config, head), 5, rng);
  Model<mann::Lstm<double>> model(config, lstm, head, rng);
  EXPECT_EQ(model.metadata().at("head"), "ntm");
  auto episodes = random_batch(c.kind, 7, 2, config.input_size, c.labels, rng);
  check_model_gradients(model, episodes);
}

TEST_P(MannNtmGradients, LstmControllerTwoWriteHeadsMatchesFiniteDifferences) {
  const Case c = GetParam();
  mann::Rng rng(13);
  const mann::MannConfig config = config_for(c);
  Head head(small_memory(2));
  mann::Lstm<double> lstm(Model<mann::Lstm<double>>::controller_input_size(config, head), 4, rng);
  Model<mann::Lstm<double>> model(config, lstm, head, rng);
  auto episodes = random_batch(c.kind, 6, 2, config.input_size, c.labels, rng);
  check_model_gradients(model, episodes);
}

TEST_P(MannNtmGradients, FeedForwardControllerMatchesFiniteDifferences) {
  const Case c = GetParam();
  mann::Rng rng(12);
  const mann::MannConfig config = config_for(c);
  Head head(small_memory());
  mann::FeedForward<double> ff(Model<mann::FeedForward<double>>::controller_input_size(config, head), {5}, rng);
  Model<mann::FeedForward<double>> model(config, ff, head, rng);
  auto episodes = random_batch(c.kind, 6, 2, config.input_size, c.labels, rng);
  check_model_gradients(model, episodes);
}

INSTANTIATE_TEST_SUITE_P(Outputs, MannNtmGradients,
                         ::testing::Values(Case{mann::OutputKind::one_hot, 3}, Case{mann::OutputKind::string, 25},
                                           Case{mann::OutputKind::gaussian, 1}),
                         [](const auto& info) { return mann::to_string(info.param.kind); });

}  // namespace
