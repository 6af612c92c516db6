// Whole-episode finite-difference checks of the MANN with the NTM access module (Santoro et al.
// Table 2, "MANN (LSTM, NTM access)") in double: every parameter of the controller, the head
// projection and the output layer, through time and through the memory, for each output kind.
#include <gtest/gtest.h>

#include <iostream>
#include <string>

#include "mann/memory/ntm_head.hpp"
#include "mann/models/mann_model.hpp"
#include "mann/nn/feed_forward.hpp"
#include "mann/nn/lstm.hpp"
#include "mann/train/grad_check.hpp"
#include "models/model_test_support.hpp"

namespace {

using mann::MatrixD;
using NtmHeadD = mann::NtmHead<double>;

using model_test::check_model_gradients;
using model_test::random_batch;
using Case = model_test::OutputCase;

class MannNtmGradients : public ::testing::TestWithParam<Case> {};

NtmHeadD::Options small_ntm_memory(mann::Index write_heads = 1) {
  NtmHeadD::Options o;
  o.slots = 6;
  o.width = 4;
  o.heads = 2;
  o.write_heads = write_heads;
  return o;
}

template <class Controller>
using NtmModel = mann::Mann<double, Controller, NtmHeadD>;

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
  NtmHeadD head(small_ntm_memory());
  mann::Lstm<double> lstm(NtmModel<mann::Lstm<double>>::controller_input_size(config, head), 5, rng);
  NtmModel<mann::Lstm<double>> model(config, lstm, head, rng);
  EXPECT_EQ(model.metadata().at("head"), "ntm");
  // The head's settings go into the checkpoint metadata under "head.".
  for (const auto& [key, value] : head.metadata()) EXPECT_EQ(model.metadata().at("head." + key), value) << key;
  auto episodes = random_batch(c.kind, 7, 2, config.input_size, c.labels, rng);
  check_model_gradients(model, episodes);
}

TEST_P(MannNtmGradients, LstmControllerTwoWriteHeadsMatchesFiniteDifferences) {
  const Case c = GetParam();
  mann::Rng rng(13);
  const mann::MannConfig config = config_for(c);
  NtmHeadD head(small_ntm_memory(2));
  mann::Lstm<double> lstm(NtmModel<mann::Lstm<double>>::controller_input_size(config, head), 4, rng);
  NtmModel<mann::Lstm<double>> model(config, lstm, head, rng);
  auto episodes = random_batch(c.kind, 6, 2, config.input_size, c.labels, rng);
  check_model_gradients(model, episodes);
}

TEST_P(MannNtmGradients, FeedForwardControllerMatchesFiniteDifferences) {
  const Case c = GetParam();
  mann::Rng rng(12);
  const mann::MannConfig config = config_for(c);
  NtmHeadD head(small_ntm_memory());
  mann::FeedForward<double> ff(NtmModel<mann::FeedForward<double>>::controller_input_size(config, head), {5}, rng);
  NtmModel<mann::FeedForward<double>> model(config, ff, head, rng);
  auto episodes = random_batch(c.kind, 6, 2, config.input_size, c.labels, rng);
  check_model_gradients(model, episodes);
}

INSTANTIATE_TEST_SUITE_P(Outputs, MannNtmGradients,
                         ::testing::Values(Case{mann::OutputKind::one_hot, 3}, Case{mann::OutputKind::string, 25},
                                           Case{mann::OutputKind::gaussian, 1}),
                         [](const auto& info) { return mann::to_string(info.param.kind); });

}  // namespace
