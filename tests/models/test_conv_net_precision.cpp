// Float32 gradients of the ConvNet with memory (mann/models/conv_net_memory.hpp) against float64, at
// the settings omniglot_fewshot trains with (paper sizes: 28 × 28, 64/128 channels, 256-dimensional
// keys, memory 8192, k 256, dropout on): from initial weights on Omniglot-like images, for our recipe
// and the authors', and from the pretrained checkpoints in pretrained/ on real Omniglot training
// episodes. Every parameter tensor's normwise relative error must stay below 1e-3.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "mann/data/omniglot.hpp"
#include "mann/data/omniglot_fewshot.hpp"
#include "mann/io/checkpoint.hpp"
#include "mann/models/conv_net_memory.hpp"
#include "mann/train/precision_check.hpp"
#include "support/omniglot_test_data.hpp"
#include "support/omniglot_test_images.hpp"

namespace {

using mann::Index;
using mann::MatrixD;
using Labels = std::vector<std::int64_t>;

constexpr double kTolerance = 1e-3;

/// Copies the float32 model's weights into the float64 one, writes the same support set into both
/// memories, takes the gradient of one batch with the same dropout masks, and returns the worst
/// tensor's normwise relative error (a NaN counts as infinite; printing each tensor's).
double worst_gradient_error(mann::ConvNetWithMemory<double>& net_d, mann::ConvNetWithMemory<float>& net_f,
                            const MatrixD& support, const Labels& support_labels, const MatrixD& images,
                            const Labels& labels) {
  mann::copy_weights_to_double(net_f.parameters(), net_d.parameters(), "worst_gradient_error");
  net_d.clear_memory();
  net_f.clear_memory();
  net_d.write(support, support_labels);
  net_f.write(support.cast<float>(), support_labels);
  net_d.rng().seed(13);
  net_f.rng().seed(13);
  mann::PrecisionCheckResult result;
  result.loss_double = net_d.compute_gradients(images, labels, true);
  result.loss_float = net_f.compute_gradients(images.cast<float>(), labels, true);
  EXPECT_GT(result.loss_double, 0.0);
  EXPECT_NEAR(result.loss_float, result.loss_double, 1e-4 * result.loss_double);
  result.tensors = mann::compare_gradients(net_f.parameters(), net_d.parameters());
  for (const mann::TensorPrecision& tensor : result.tensors) {
    EXPECT_GT(tensor.reference_norm, 0.0) << tensor.name;
    std::cout << "  " << tensor.name << ": " << tensor.relative_error << "\n";
  }
  return result.worst_error();
}

class InitialWeights : public ::testing::TestWithParam<bool> {};  // the authors' recipe

TEST_P(InitialWeights, OmniglotLikeImages) {
  mann::ConvNetWithMemoryOptions options;
  if (GetParam()) {
    options.encoder.hidden_relu = false;
    options.encoder.dropout = 0.7;
    options.encoder.init_stddev = 0.1;
    options.encoder.query_init_stddev = 0.01;
  }
  mann::ConvNetWithMemory<double> net_d(options);
  mann::ConvNetWithMemory<float> net_f(options);
  mann::Rng data(12);
  const Index input = net_d.encoder().input_size();
  auto strokes = [&](Index columns) {  // mostly 0, some 1, as a drawing
    MatrixD images(input, columns);
    for (Index j = 0; j < columns; ++j)
      for (Index i = 0; i < input; ++i) images(i, j) = data.uniform() < 0.15 ? 1.0 : 0.0;
    return images;
  };
  const MatrixD support = strokes(48), images = strokes(16);
  Labels support_labels(48), labels(16);
  for (std::size_t i = 0; i < support_labels.size(); ++i) support_labels[i] = static_cast<std::int64_t>(i % 16);
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<std::int64_t>((5 * i) % 16);
  EXPECT_LE(worst_gradient_error(net_d, net_f, support, support_labels, images, labels), kTolerance);
}

INSTANTIATE_TEST_SUITE_P(OursAndTheAuthorsRecipe, InitialWeights, ::testing::Bool());

/// A model of the settings a pretrained checkpoint's metadata holds, its weights loaded.
template <class Scalar>
std::unique_ptr<mann::ConvNetWithMemory<Scalar>> load_pretrained(const std::string& path) {
  const mann::CheckpointMetadata metadata = mann::read_checkpoint_metadata(path);
  mann::ConvNetWithMemoryOptions options;
  options.encoder.embedding_size = mann::metadata_int(metadata, "embedding", 1, 1 << 16);
  options.encoder.dropout = mann::metadata_double(metadata, "dropout", 0, 0.99);
  options.encoder.hidden_relu = metadata.at("hidden_activation") == "relu";
  options.memory_size = mann::metadata_int(metadata, "memory_size", 1, 1 << 27);
  options.memory.k = static_cast<int>(mann::metadata_int(metadata, "k", 1, 1024));
  auto model = std::make_unique<mann::ConvNetWithMemory<Scalar>>(options);
  mann::load_checkpoint(path, model->parameters());
  return model;
}

class Pretrained : public ::testing::TestWithParam<const char*> {};  // file in pretrained/

// Training episodes as the file was trained on (its `train_ways` classes, 5 if the metadata predates
// the field, every class shown once per round; 80 classes in all, 16 episodes of 5 or 4 of 20): the
// memory holds the first two rounds, the gradient is of the next step (the 3rd showing of its classes).
TEST_P(Pretrained, RealTrainingEpisodes) {
  MANN_OMNIGLOT_DIR_OR_SKIP(dir, "");
  const std::string path = std::string(MANN_SOURCE_DIR) + "/pretrained/" + GetParam();
  const mann::OmniglotImages images = mann_test::first_two_alphabets(dir);
  const mann::FewShotImages<double> store(images, mann_test::all_characters(images), true);
  const mann::FewShotSampler<double> sampler(store, 3);
  const mann::CheckpointMetadata metadata = mann::read_checkpoint_metadata(path);
  mann::FewShotTrainingOptions episode;
  episode.ways = metadata.count("train_ways") ? static_cast<int>(mann::metadata_int(metadata, "train_ways", 1, 80)) : 5;
  episode.length = 6 * episode.ways;
  episode.offset_labels = true;
  mann::FewShotTrainingBatch<double> batch;
  sampler.training_batch(0, 80 / episode.ways, episode, batch);
  const std::size_t step = 2 * static_cast<std::size_t>(episode.ways);
  MatrixD support(store.pixels(), 0);
  Labels support_labels;
  for (std::size_t t = 0; t < step; ++t) {
    support.conservativeResize(Eigen::NoChange, support.cols() + batch.inputs[t].cols());
    support.rightCols(batch.inputs[t].cols()) = batch.inputs[t];
    support_labels.insert(support_labels.end(), batch.labels[t].begin(), batch.labels[t].end());
  }
  const Labels labels(batch.labels[step].begin(), batch.labels[step].end());
  auto net_d = load_pretrained<double>(path);
  auto net_f = load_pretrained<float>(path);
  EXPECT_LE(worst_gradient_error(*net_d, *net_f, support, support_labels, batch.inputs[step], labels), kTolerance);
}

INSTANTIATE_TEST_SUITE_P(ConvNetWithMemory, Pretrained, ::testing::Values("omniglot_convnet_vinyals.safetensors",
                                                                    "omniglot_convnet_background.safetensors"));

}  // namespace
