// Tests for mann/models/controller_only.hpp: whole-episode finite differences (LSTM and
// feed-forward baselines), shape checks.
#include <gtest/gtest.h>

#include "mann/core/init.hpp"
#include "mann/models/controller_only.hpp"
#include "mann/nn/feed_forward.hpp"
#include "mann/nn/lstm.hpp"
#include "mann/train/grad_check.hpp"

namespace {

template <class Model>
void check(Model& model, mann::Rng& rng) {
  mann::EpisodeBatch<double> e;
  e.resize(6, 2, 3, 4);
  for (int t = 0; t < 6; ++t) {
    mann::init_normal(e.inputs[t], rng, 1.0);
    e.targets[t].setZero();
    for (int b = 0; b < 2; ++b) e.targets[t](static_cast<mann::Index>(rng.below(4)), b) = 1;
  }
  typename Model::Workspace ws;
  auto params = model.parameters();
  auto loss = [&] { return model.forward(e, ws); };
  auto backward = [&] {
    mann::zero_grad(params);
    loss();
    model.backward(e, ws);
  };
  const auto r = mann::grad_check_parameters(loss, backward, params);
  EXPECT_LT(r.max_relative_error, 1e-6) << r.worst;
  EXPECT_EQ(r.entries_checked, mann::parameter_count(params));
}

TEST(ControllerOnly, LstmBaselineGradientsMatchFiniteDifferences) {
  mann::Rng rng(1);
  mann::MannConfig config;
  config.input_size = 3;
  config.label_size = 4;
  using Model = mann::ControllerOnly<double, mann::Lstm<double>>;
  Model model(config, mann::Lstm<double>(Model::controller_input_size(config), 5, rng), rng);
  check(model, rng);
}

TEST(ControllerOnly, FeedForwardBaselineGradientsMatchFiniteDifferences) {
  mann::Rng rng(2);
  mann::MannConfig config;
  config.input_size = 3;
  config.label_size = 4;
  using Model = mann::ControllerOnly<double, mann::FeedForward<double>>;
  Model model(config, mann::FeedForward<double>(Model::controller_input_size(config), {6, 5}, rng), rng);
  check(model, rng);
}

TEST(ControllerOnly, RejectsMismatchedController) {
  mann::Rng rng(3);
  mann::MannConfig config;
  config.input_size = 3;
  config.label_size = 4;
  EXPECT_THROW((mann::ControllerOnly<float, mann::Lstm<float>>(config, mann::Lstm<float>(6, 5, rng), rng)),
               mann::ValueError);
}

}  // namespace
