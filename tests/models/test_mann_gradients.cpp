// Whole-episode finite-difference checks of the MANN in double: every parameter of the controller,
// the head projection and the output layer, through time and through the memory.
#include <gtest/gtest.h>

#include <iostream>

#include "mann/memory/lrua_head.hpp"
#include "mann/models/mann_model.hpp"
#include "mann/nn/feed_forward.hpp"
#include "mann/nn/lstm.hpp"
#include "mann/train/grad_check.hpp"
#include "models/model_test_support.hpp"

namespace {

using mann::MatrixD;

using model_test::check_model_gradients;
using model_test::random_batch;
using Case = model_test::OutputCase;

class MannLruaGradients : public ::testing::TestWithParam<Case> {};

mann::LruaHead<double>::Options small_lrua_memory() {
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
  mann::LruaHead<double> head(small_lrua_memory());
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
  mann::LruaHead<double> head(small_lrua_memory());
  using Model = mann::Mann<double, mann::FeedForward<double>, mann::LruaHead<double>>;
  mann::FeedForward<double> ff(Model::controller_input_size(config, head), {5}, rng);
  Model model(config, ff, head, rng);
  // The head's settings go into the checkpoint metadata under "head.".
  EXPECT_EQ(model.metadata().at("head.read_sharpness"), head.metadata().at("read_sharpness"));
  EXPECT_EQ(model.metadata().at("head.slots"), std::to_string(head.options().slots));
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
  mann::LruaHeadOptions memory;
  memory.slots = 16;
  memory.width = 8;
  memory.heads = 2;
  using ModelD = mann::Mann<double, mann::Lstm<double>, mann::LruaHead<double>>;
  using ModelF = mann::Mann<float, mann::Lstm<float>, mann::LruaHead<float>>;
  mann::Rng rng_d(5), rng_f(5), data(6);
  mann::LruaHead<double> hd(memory);
  mann::LruaHead<float> hf(memory);
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
