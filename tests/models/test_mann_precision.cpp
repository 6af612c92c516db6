// Float32 gradients against float64 ones (same weights, same episodes, every parameter tensor,
// normwise relative error ≤ 1e-3) at the settings the examples train with by default: the paper's
// sizes (LSTM 200, LRUA 128 × 40, 4 heads), batches of 16, and LruaHead's default formulation; from
// initial weights, after some training, and from the pretrained checkpoints in pretrained/. Plus
// double-precision directional finite differences at those settings, and the check that catches
// the formulation it replaced (β = 10, ε = 1e-6), whose float32 gradients are rounding noise.
// An episode whose LRUA choices fork between the two precisions (a near-tie of usages) is left out
// of its batch's comparison, and more than 2 such episodes in a batch fail the check.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "mann/data/episodes.hpp"
#include "mann/data/omniglot.hpp"
#include "mann/data/gp.hpp"
#include "mann/io/checkpoint.hpp"
#include "mann/memory/lrua_head.hpp"
#include "mann/models/mann_model.hpp"
#include "mann/nn/lstm.hpp"
#include "mann/optim/rmsprop.hpp"
#include "mann/train/grad_check.hpp"
#include "mann/train/precision_check.hpp"
#include "support/omniglot_test_data.hpp"
#include "support/omniglot_test_images.hpp"

namespace {

using Model32 = mann::Mann<float, mann::Lstm<float>, mann::LruaHead<float>>;
using Model64 = mann::Mann<double, mann::Lstm<double>, mann::LruaHead<double>>;
using Batches = std::function<void(mann::EpisodeBatch<float>&, std::uint64_t first_episode)>;

constexpr double kTolerance = 1e-3;
constexpr mann::Index kBatch = 16;  // both examples' --batch

/// What an example trains with by default (examples/omniglot, examples/gp_regression).
struct TrainingSettings {
  std::string name;
  mann::MannConfig config;
  mann::Index controller_size = 200;
  mann::LruaHeadOptions head;  // the library's defaults unless the example has its own
  double learning_rate = 1e-4;
  Batches batches;
};

void PrintTo(const TrainingSettings& s, std::ostream* out) { *out << s.name; }  // test names in ctest

TrainingSettings omniglot_example() {
  TrainingSettings s;
  s.name = "omniglot";
  s.config.input_size = 400;  // 20 × 20 images
  s.config.label_size = 5;
  s.config.output = mann::OutputKind::one_hot;
  s.learning_rate = 1e-4;
  mann::SyntheticEpisodeOptions options;  // 5 classes, 50 steps, 400 inputs
  options.classes = 5;
  auto generator = std::make_shared<mann::SyntheticEpisodes<float>>(options, 17);
  s.batches = [generator](mann::EpisodeBatch<float>& batch, std::uint64_t first) {
    generator->generate(batch, kBatch, first);
  };
  return s;
}

TrainingSettings gp_example(int dimension) {
  TrainingSettings s;
  s.name = "gp" + std::to_string(dimension) + "d";
  s.config.input_size = dimension;
  s.config.label_size = 1;
  s.config.output = mann::OutputKind::gaussian;
  s.learning_rate = 1e-3;
  s.head = mann::LruaHeadOptions::paper();  // the GP example's read (examples/gp_regression)
  mann::GpOptions options;
  options.dimension = dimension;
  auto generator = std::make_shared<mann::GpEpisodes<float>>(options, 50, 23);
  s.batches = [generator](mann::EpisodeBatch<float>& batch, std::uint64_t first) {
    generator->generate(batch, kBatch, first);
  };
  return s;
}

template <class Scalar, class Model>
Model make_model(const TrainingSettings& s, std::uint64_t seed) {
  mann::LruaHead<Scalar> head(s.head);
  mann::Rng rng(seed);
  mann::Lstm<Scalar> lstm(Model::controller_input_size(s.config, head), s.controller_size, rng);
  return Model(s.config, lstm, head, rng);
}

/// The episodes whose LRUA choices (least-used slots, zeroed slot) differ at some step between a
/// float32 and a float64 forward pass of the same batch (their workspaces). A choice is discrete:
/// where two usages nearly tie, the last bits decide it, and the two precisions then follow
/// different paths whose gradients are both right and need not agree. Such an episode compares
/// paths, not precisions.
std::vector<mann::Index> episodes_off_the_shared_path(const Model32::Workspace& ws32, const Model64::Workspace& ws64) {
  std::vector<mann::Index> off;
  const mann::Index B = static_cast<mann::Index>(ws32.memory_steps.front().zeroed.size());
  for (mann::Index b = 0; b < B; ++b) {
    for (std::size_t t = 0; t < ws32.memory_steps.size(); ++t) {
      const auto& a = ws32.memory_steps[t];
      const auto& d = ws64.memory_steps[t];
      if (a.zeroed[static_cast<std::size_t>(b)] != d.zeroed[static_cast<std::size_t>(b)] ||
          a.least_used.col(b).cast<double>() != d.least_used.col(b)) {
        off.push_back(b);
        break;
      }
    }
  }
  return off;
}

/// `batch` without the episodes in `drop` (sorted).
mann::EpisodeBatch<float> without_episodes(const mann::EpisodeBatch<float>& batch, const std::vector<mann::Index>& drop) {
  std::vector<mann::Index> keep;
  for (mann::Index b = 0; b < batch.batch(); ++b) {
    if (!std::binary_search(drop.begin(), drop.end(), b)) keep.push_back(b);
  }
  mann::EpisodeBatch<float> result;
  result.resize(batch.length(), static_cast<mann::Index>(keep.size()), batch.inputs[0].rows(), batch.targets[0].rows());
  for (mann::Index t = 0; t < batch.length(); ++t) {
    const auto u = static_cast<std::size_t>(t);
    for (std::size_t j = 0; j < keep.size(); ++j) {
      result.inputs[u].col(static_cast<mann::Index>(j)) = batch.inputs[u].col(keep[j]);
      result.targets[u].col(static_cast<mann::Index>(j)) = batch.targets[u].col(keep[j]);
      result.instance[u][j] = batch.instance[u][static_cast<std::size_t>(keep[j])];
    }
  }
  return result;
}

/// At most this many of a batch's 16 episodes may leave the shared path: a near-tie is rare; a
/// float32 forward pass that drifts from float64's would take many episodes off it.
constexpr std::size_t kMaxEpisodesOffPath = 2;

/// The worst tensor over `batches` batches (episodes far from the training ones), printed, on the
/// episodes where both precisions make the same LRUA choices (see episodes_off_the_shared_path).
double worst_error(Model32& model32, const TrainingSettings& s, int batches, const std::string& when) {
  Model64 model64 = make_model<double, Model64>(s, 0);
  mann::EpisodeBatch<float> batch;
  double worst = 0;
  for (int k = 0; k < batches; ++k) {
    s.batches(batch, (1ull << 40) + static_cast<std::uint64_t>(k) * kBatch);
    Model32::Workspace ws32;
    Model64::Workspace ws64;
    auto result = mann::compare_float_gradients(model32, model64, batch, ws32, ws64);
    const std::vector<mann::Index> off = episodes_off_the_shared_path(ws32, ws64);
    EXPECT_LE(off.size(), kMaxEpisodesOffPath) << s.name << ", " << when << ", batch " << k;
    if (!off.empty()) result = mann::compare_float_gradients(model32, model64, without_episodes(batch, off));
    const auto& tensor = result.worst();
    std::cout << s.name << ", " << when << ", batch " << k << ": worst " << tensor.name << " "
              << tensor.relative_error << " (loss " << result.loss_float << " vs " << result.loss_double << ")";
    if (!off.empty()) std::cout << "; " << off.size() << " of " << batch.batch() << " episodes left out: a near-tie sent them down different LRUA paths";
    std::cout << "\n";
    worst = std::max(worst, result.worst_error());
  }
  return worst;
}

/// Trains as the examples do: RMSProp (decay 0.95, momentum 0.9, their learning rate), one batch
/// of 16 per step, on the episodes after those already trained.
class ExampleTraining {
 public:
  ExampleTraining(Model32& model, const TrainingSettings& s)
      : model_(model), settings_(s), parameters_(model.parameters()), optimizer_(parameters_, options(s)) {}

  void train(int steps) {
    for (int step = 0; step < steps; ++step, ++done_) {
      settings_.batches(batch_, static_cast<std::uint64_t>(done_) * kBatch);
      mann::zero_grad(parameters_);
      model_.forward(batch_, ws_);
      model_.backward(batch_, ws_);
      optimizer_.step();
    }
  }
  int episodes_done() const { return done_ * static_cast<int>(kBatch); }

 private:
  static mann::RmsProp<float>::Options options(const TrainingSettings& s) {
    mann::RmsProp<float>::Options o;
    o.learning_rate = s.learning_rate;
    return o;
  }

  Model32& model_;
  const TrainingSettings& settings_;
  mann::ParameterList<float> parameters_;
  mann::RmsProp<float> optimizer_;
  Model32::Workspace ws_;
  mann::EpisodeBatch<float> batch_;
  int done_ = 0;
};

class MannFloatGradients : public ::testing::TestWithParam<TrainingSettings> {};

TEST_P(MannFloatGradients, HoldAtInitialWeights) {
  const TrainingSettings s = GetParam();
  for (std::uint64_t seed : {1, 2, 3}) {
    Model32 model = make_model<float, Model32>(s, seed);
    EXPECT_LE(worst_error(model, s, 1, "initial weights, seed " + std::to_string(seed)), kTolerance);
  }
}

TEST_P(MannFloatGradients, HoldAfterTraining) {
  const TrainingSettings s = GetParam();
  Model32 model = make_model<float, Model32>(s, 1);
  ExampleTraining training(model, s);
  for (int steps : {25, 75}) {  // to 400, then 1600 episodes
    training.train(steps);
    EXPECT_LE(worst_error(model, s, 1, std::to_string(training.episodes_done()) + " episodes trained"), kTolerance);
  }
}

TEST_P(MannFloatGradients, DoubleMatchesFiniteDifferences) {
  const TrainingSettings s = GetParam();
  Model64 model = make_model<double, Model64>(s, 5);
  mann::EpisodeBatch<float> batch32;
  s.batches(batch32, 0);
  const mann::EpisodeBatch<double> batch = mann::to_double(batch32);
  Model64::Workspace ws;
  auto parameters = model.parameters();
  auto loss = [&] { return model.forward(batch, ws); };
  auto backward = [&] {
    mann::zero_grad(parameters);
    loss();
    model.backward(batch, ws);
  };
  // The loss is piecewise smooth: a least-used slot that changes makes a small jump. Along a random
  // direction of a 200-unit model they come about 1e-4 apart, so the stencil is kept well inside one
  // piece (h = 1e-6; its rounding error is ~1e-8 to 1e-6 of the derivative here).
  mann::GradCheckOptions options;
  options.step = 1e-6;
  for (std::uint64_t direction_seed : {1, 2}) {
    const auto result = mann::grad_check_directions(loss, backward, parameters, direction_seed, options);
    std::cout << s.name << ": directional max relative error " << result.max_relative_error << " at "
              << result.worst << "\n";
    EXPECT_LT(result.max_relative_error, 1e-5)
        << result.worst << " analytic " << result.analytic << " numeric " << result.numeric;
  }
}

INSTANTIATE_TEST_SUITE_P(ExampleDefaults, MannFloatGradients,
                         ::testing::Values(omniglot_example(), gp_example(1), gp_example(2), gp_example(3)),
                         [](const auto& info) { return info.param.name; });

// The check catches what it is for: the formulation the default replaced, a fixed β = 10 with
// ε = 1e-6, has float32 gradients off by more than their size at initial weights.
TEST(MannFloatGradientsCatch, SharpReadsOverNearlyEmptyRows) {
  TrainingSettings s = omniglot_example();
  s.head.learned_key_strength = false;
  s.head.read_sharpness = 10;
  s.head.epsilon = 1e-6;
  Model32 model = make_model<float, Model32>(s, 1);
  EXPECT_GT(worst_error(model, s, 1, "beta 10, epsilon 1e-6, initial weights"), 0.1);
}

// --- the pretrained checkpoints in pretrained/ -------------------------------------------------------

/// A model built with the settings a checkpoint's metadata holds, its weights loaded.
Model32 load_pretrained(const std::string& name, TrainingSettings& s) {
  const std::string path = std::string(MANN_SOURCE_DIR) + "/pretrained/" + name;
  const mann::CheckpointMetadata metadata = mann::read_checkpoint_metadata(path);
  auto integer = [&](const char* key) { return static_cast<mann::Index>(mann::metadata_int(metadata, key, 1, 1 << 20)); };
  auto number = [&](const char* key) { return mann::metadata_double(metadata, key, -1e9, 1e9); };
  s.config.input_size = integer("input_size");
  s.config.label_size = integer("label_size");
  s.controller_size = integer("controller_output_size");
  s.head.slots = integer("head.slots");
  s.head.width = integer("head.width");
  s.head.heads = integer("head.heads");
  s.head.usage_decay = number("head.usage_decay");
  s.head.epsilon = number("head.epsilon");
  s.head.read_sharpness = number("head.read_sharpness");
  s.head.learned_key_strength = metadata.at("head.key_strength") == "learned";
  s.head.initial_memory = number("head.initial_memory");
  if (metadata.count("head.least_used_slots")) s.head.least_used_slots = integer("head.least_used_slots");
  Model32 model = make_model<float, Model32>(s, 0);
  auto parameters = model.parameters();
  mann::load_checkpoint(path, parameters);
  return model;
}

TEST(MannFloatGradientsPretrained, GpRegression) {
  for (int dimension : {1, 2, 3}) {
    TrainingSettings s = gp_example(dimension);
    Model32 model = load_pretrained("gp_mann_" + std::to_string(dimension) + "d.safetensors", s);
    EXPECT_LE(worst_error(model, s, 2, "pretrained"), kTolerance);
  }
}

// The Table 1 model on real Omniglot episodes (5 classes of the first two alphabets of each set).
TEST(MannFloatGradientsPretrainedRealData, OmniglotTable1) {
  MANN_OMNIGLOT_DIR_OR_SKIP(dir, "");
  const mann::OmniglotImages images = mann_test::first_two_alphabets(dir);
  const std::vector<mann::Index> characters = mann_test::all_characters(images);
  mann::OmniglotEpisodeOptions options;
  options.classes = 5;
  mann::OmniglotEpisodes<float> episodes(images, characters, options, 29);
  TrainingSettings s = omniglot_example();
  s.batches = [&episodes](mann::EpisodeBatch<float>& batch, std::uint64_t first) {
    episodes.generate(batch, kBatch, first);
  };
  Model32 model = load_pretrained("omniglot_mann_table1.safetensors", s);
  EXPECT_LE(worst_error(model, s, 2, "pretrained"), kTolerance);
}

// The Table 2 model (15 classes, five-character string labels) on real Omniglot episodes.
TEST(MannFloatGradientsPretrainedRealData, OmniglotTable2FifteenClassesStrings) {
  MANN_OMNIGLOT_DIR_OR_SKIP(dir, "");
  const mann::OmniglotImages images = mann_test::first_two_alphabets(dir);
  const std::vector<mann::Index> characters = mann_test::all_characters(images);
  mann::OmniglotEpisodeOptions options;
  options.classes = 15;
  options.encoding = mann::LabelEncoding::string;
  mann::OmniglotEpisodes<float> episodes(images, characters, options, 31);
  TrainingSettings s = omniglot_example();
  s.config.output = mann::OutputKind::string;
  s.batches = [&episodes](mann::EpisodeBatch<float>& batch, std::uint64_t first) {
    episodes.generate(batch, kBatch, first);
  };
  Model32 model = load_pretrained("omniglot_mann_table2_15_strings.safetensors", s);
  EXPECT_EQ(s.config.label_size, 25);
  EXPECT_LE(worst_error(model, s, 2, "pretrained"), kTolerance);
}

}  // namespace
