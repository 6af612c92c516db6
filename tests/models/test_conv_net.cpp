// Tests for mann/models/conv_net.hpp and conv_net_memory.hpp: shapes, the whole encoder against
// finite differences (dropout on, odd image sizes), float vs double, and the memory loss's gradient
// w.r.t. the encoder's parameters with the memory contents fixed; episode semantics. Float32 against
// float64 gradients at the training settings: test_conv_net_precision.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "mann/core/init.hpp"
#include "mann/models/conv_net.hpp"
#include "mann/models/conv_net_memory.hpp"
#include "mann/train/grad_check.hpp"

namespace {

using mann::Index;
using mann::MatrixD;

mann::ConvNetEncoderOptions small_encoder() {
  mann::ConvNetEncoderOptions o;
  o.channels = 2;
  o.height = 9;  // odd: 9 × 10 → 4 × 5 → 2 × 2
  o.width = 10;
  o.conv1_channels = 2;
  o.conv2_channels = 3;
  o.hidden_size = 5;
  o.embedding_size = 4;
  o.dropout = 0.3;
  return o;
}

TEST(ConvNetEncoder, PaperShapes) {
  mann::Rng rng(1);
  mann::ConvNetEncoder<float> encoder(mann::ConvNetEncoderOptions{}, rng);
  EXPECT_EQ(encoder.input_size(), 784);
  EXPECT_EQ(encoder.embedding_size(), 256);
  EXPECT_EQ(encoder.fc1().input_size(), 128 * 7 * 7);
  mann::ParameterList<float> params;
  encoder.parameters(params, "enc");
  ASSERT_EQ(params.size(), 12u);
  EXPECT_EQ(params[0].name, "enc.conv1.weight");
  EXPECT_EQ(params[11].name, "enc.fc2.bias");
  // 64·9 + 64·576 + 128·576 + 128·1152 conv weights + biases, 6272·256 + 256·256 + biases
  EXPECT_EQ(mann::parameter_count(params),
            64 * 9 + 64 + 64 * 576 + 64 + 128 * 576 + 128 + 128 * 1152 + 128 + 6272 * 256 + 256 + 256 * 256 + 256);
}

TEST(ConvNetEncoder, RejectsBadOptionsAndInputs) {
  mann::Rng rng(1);
  auto o = small_encoder();
  o.height = 3;
  EXPECT_THROW(mann::ConvNetEncoder<float>(o, rng), mann::ValueError);
  o = small_encoder();
  o.dropout = 1.0;
  EXPECT_THROW(mann::ConvNetEncoder<float>(o, rng), mann::ValueError);
  mann::ConvNetEncoder<float> encoder(small_encoder(), rng);
  mann::ConvNetEncoder<float>::Cache cache;
  EXPECT_THROW(encoder.forward(mann::MatrixF::Zero(179, 2), cache, false, rng), mann::ShapeError);
  mann::MatrixF bad = mann::MatrixF::Zero(180, 2);
  bad(3, 1) = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(encoder.forward(bad, cache, false, rng), mann::ValueError);
}

class ConvNetEncoderGradients : public ::testing::TestWithParam<bool> {};  // hidden_relu

TEST_P(ConvNetEncoderGradients, MatchFiniteDifferences) {
  mann::Rng rng(2);
  mann::ConvNetEncoderOptions options = small_encoder();
  options.hidden_relu = GetParam();
  mann::ConvNetEncoder<double> encoder(options, rng);
  mann::ParameterList<double> params;
  encoder.parameters(params);
  for (const auto& p : params)  // non-zero biases so every term is exercised
    if (p.name.find("bias") != std::string::npos) mann::init_normal(p.parameter->value, rng, 0.1);
  MatrixD images(encoder.input_size(), 3), g(encoder.embedding_size(), 3);
  mann::init_normal(images, rng, 1.0);
  mann::init_normal(g, rng, 1.0);
  mann::ConvNetEncoder<double>::Cache cache;
  auto loss = [&] {
    mann::Rng dropout_rng(7);  // the same mask every evaluation
    const MatrixD& e = encoder.forward(images, cache, true, dropout_rng);
    return (e.array() * g.array()).sum();
  };
  MatrixD d_images;
  auto backward = [&] {
    mann::zero_grad(params);
    loss();
    encoder.backward(cache, g, &d_images);
  };
  const auto result = mann::grad_check_parameters(loss, backward, params);
  EXPECT_LT(result.max_relative_error, 1e-6) << result.worst << " analytic " << result.analytic << " numeric "
                                             << result.numeric;
  EXPECT_GT(mann::global_grad_norm(params), 0.0);
  backward();
  mann::GradCheckResult input_result;
  mann::grad_check_tensor(loss, images, d_images, "images", input_result);
  EXPECT_LT(input_result.max_relative_error, 1e-6) << input_result.worst;
}

INSTANTIATE_TEST_SUITE_P(HiddenReluOrLinear, ConvNetEncoderGradients, ::testing::Bool());

TEST(ConvNetEncoder, LinearHiddenLayerKeepsNegativeValues) {
  // hidden_relu = false (the authors' code): the first fully connected layer's output is not
  // clipped at 0, and the embedding is fc2(fc1(features)) exactly.
  auto o = small_encoder();
  o.dropout = 0;
  o.hidden_relu = false;
  mann::Rng rng(5);
  mann::ConvNetEncoder<double> encoder(o, rng);
  MatrixD images(encoder.input_size(), 3);
  mann::init_uniform(images, rng, 0.0, 1.0);
  mann::ConvNetEncoder<double>::Cache cache;
  const MatrixD e = encoder.forward(images, cache, true, rng);
  EXPECT_LT(cache.hidden.minCoeff(), 0.0);
  const MatrixD expected = (encoder.fc2().weight.value * (encoder.fc1().weight.value * cache.pool2)).colwise() +
                           encoder.fc2().bias.value.col(0);
  EXPECT_LT((e - expected).cwiseAbs().maxCoeff(), 1e-12);
}

TEST(ConvNetEncoder, TruncatedNormalInitialisationOfTheAuthorsCode) {
  auto o = mann::ConvNetEncoderOptions{};
  o.init_stddev = 0.1;
  o.query_init_stddev = 0.01;
  mann::Rng rng(6);
  mann::ConvNetEncoder<float> encoder(o, rng);
  auto check = [](const mann::MatrixF& w, double stddev, const char* name) {
    // inside ±2σ, and the standard deviation of N(0, σ²) truncated at 2σ: 0.8796 σ
    EXPECT_LE(w.cwiseAbs().maxCoeff(), 2 * stddev) << name;
    const double mean = w.cast<double>().mean();
    const double sd = std::sqrt((w.cast<double>().array() - mean).square().mean());
    EXPECT_NEAR(sd, 0.8796 * stddev, 0.03 * stddev) << name;
    EXPECT_NEAR(mean, 0.0, 0.05 * stddev) << name;
  };
  for (int i = 1; i <= 4; ++i) check(encoder.conv(i).weight.value, 0.1, "conv");
  check(encoder.fc1().weight.value, 0.1, "fc1");
  check(encoder.fc2().weight.value, 0.01, "fc2");
  EXPECT_TRUE(encoder.fc2().bias.value.isZero());
  o.init_stddev = -1;
  EXPECT_THROW(mann::ConvNetEncoder<float>(o, rng), mann::ValueError);
}

TEST(ConvNetEncoder, EvaluationIgnoresDropoutAndFloatMatchesDouble) {
  auto o = small_encoder();
  o.conv1_channels = 4;
  o.conv2_channels = 5;
  o.hidden_size = 16;
  o.embedding_size = 8;
  mann::Rng rng_d(3), rng_f(3);
  mann::ConvNetEncoder<double> encoder_d(o, rng_d);
  mann::ConvNetEncoder<float> encoder_f(o, rng_f);
  mann::Rng data(4);
  MatrixD images(encoder_d.input_size(), 5);
  mann::init_uniform(images, data, 0.0, 1.0);
  mann::ConvNetEncoder<double>::Cache cache_d, cache_d2;
  mann::ConvNetEncoder<float>::Cache cache_f;
  const MatrixD e_d = encoder_d.forward(images, cache_d, false, rng_d);
  const mann::MatrixF e_f = encoder_f.forward(images.cast<float>(), cache_f, false, rng_f);
  EXPECT_LT((e_f.cast<double>() - e_d).cwiseAbs().maxCoeff(), 1e-4 * (1 + e_d.cwiseAbs().maxCoeff()));
  mann::Rng other(99);
  EXPECT_EQ(encoder_d.forward(images, cache_d2, false, other), e_d);  // eval: no randomness
}

// ------------------------------------------------------------------------- ConvNet with memory

mann::ConvNetWithMemoryOptions small_memory_net() {
  mann::ConvNetWithMemoryOptions o;
  o.encoder = small_encoder();
  o.encoder.channels = 1;
  o.encoder.height = 8;
  o.encoder.width = 8;
  o.encoder.embedding_size = 6;
  o.memory_size = 12;
  o.memory.k = 4;
  // NOTE: with the authors' ±8 age noise a 12-slot memory may overwrite a fresh write before
  // every empty slot is used; these tests want every write kept.
  o.memory.age_noise = 0;
  o.seed = 5;
  return o;
}

TEST(ConvNetWithMemory, MemoryLossGradientMatchesFiniteDifferences) {
  mann::ConvNetWithMemory<double> net(small_memory_net());
  mann::Rng data(6);
  const Index input = net.encoder().input_size();
  // fill the memory with labelled examples of 3 classes, then freeze it
  MatrixD support(input, 9);
  mann::init_uniform(support, data, 0.0, 1.0);
  net.write(support, {0, 1, 2, 0, 1, 2, 0, 1, 2});
  ASSERT_EQ(net.memory().written(), 9);
  MatrixD images(input, 4);
  mann::init_uniform(images, data, 0.0, 1.0);
  const std::vector<mann::KeyValueMemory<double>::Value> labels{0, 2, 1, 3};  // 3: no positive anywhere
  for (bool training : {false, true}) {
    net.rng().seed(11);
    const double analytic_loss = net.compute_gradients(images, labels, training);
    EXPECT_GT(analytic_loss, 0.0);
    mann::ConvNetEncoder<double>::Cache cache;
    mann::KeyValueMemory<double>::Cache memory_cache;
    const std::uint64_t version = net.memory().version();
    auto loss = [&] {  // forward only, through the public pieces; the memory is not written
      mann::Rng rng(11);
      const MatrixD& q = net.encoder().forward(images, cache, training, rng);
      net.memory().query(q, memory_cache);
      return net.memory().loss(labels, memory_cache) / 4.0;
    };
    EXPECT_NEAR(loss(), analytic_loss, 1e-12);
    // NOTE: the loss is piecewise smooth (ReLU, max-pool, hinge, neighbour order). Here a conv2
    // activation is 3.5e-4 from its ReLU kink, so the default stencil (±2e-4) of a few conv1 weights
    // crosses it (error ~1e-3, the loss's slope visibly changes there); a smaller step stays on one
    // piece, and in double its round-off is far below 1e-6.
    mann::GradCheckOptions options;
    options.step = 1e-6;
    mann::GradCheckResult result;
    for (const auto& p : net.parameters()) {
      const MatrixD analytic = p.parameter->grad;
      mann::grad_check_tensor(loss, p.parameter->value, analytic, p.name, result, options);
    }
    EXPECT_LT(result.max_relative_error, 1e-6) << training << " " << result.worst << " analytic " << result.analytic
                                               << " numeric " << result.numeric;
    EXPECT_GT(mann::global_grad_norm(net.parameters()), 0.0);
    EXPECT_EQ(net.memory().version(), version);
  }
}

TEST(ConvNetWithMemory, EpisodeSemantics) {
  mann::ConvNetWithMemory<float> net(small_memory_net());
  mann::Rng data(7);
  mann::MatrixF support(net.encoder().input_size(), 4);
  mann::init_uniform(support, data, 0.0, 1.0);
  const std::vector<std::int64_t> labels{3, 1, 4, 1};
  EXPECT_EQ(net.predict(support), std::vector<std::int64_t>(4, mann::KeyValueMemory<float>::kEmpty));
  const mann::MatrixF before = net.parameters()[0].parameter->value;
  net.write(support, labels);
  EXPECT_EQ(net.predict(support), labels);  // each image's own key is its nearest neighbour
  EXPECT_EQ(net.parameters()[0].parameter->value, before);  // evaluation changes no weight
  net.clear_memory();
  EXPECT_EQ(net.memory().written(), 0);
  EXPECT_EQ(net.predict(support)[0], mann::KeyValueMemory<float>::kEmpty);
}

TEST(ConvNetWithMemory, TrainStepUpdatesWeightsAndMemory) {
  mann::ConvNetWithMemory<float> net(small_memory_net());
  mann::Rng data(8);
  mann::MatrixF images(net.encoder().input_size(), 4);
  mann::init_uniform(images, data, 0.0, 1.0);
  const std::vector<std::int64_t> labels{0, 1, 0, 1};
  net.train_step(images, labels);  // empty memory: no gradient yet, but the writes happen
  EXPECT_GE(net.memory().written(), 2);
  const mann::MatrixF before = net.parameters()[0].parameter->value;
  const auto result = net.train_step(images, labels);
  EXPECT_TRUE(std::isfinite(result.loss));
  EXPECT_GT(result.grad_norm, 0.0);
  EXPECT_GE(result.correct, 0);
  EXPECT_NE(net.parameters()[0].parameter->value, before);
  EXPECT_THROW(net.train_step(images, {0, 1}), mann::Error);
}

TEST(ConvNetWithMemory, ThreadsGiveTheSameGradientsAsOneThread) {
  // Without dropout the blocks' forward/backward must add up to the one-thread pass exactly (up to
  // the order of sums), for a batch that does not split evenly (7 columns over 3 threads).
  mann::ConvNetWithMemoryOptions options = small_memory_net();
  options.encoder.dropout = 0;
  mann::ConvNetWithMemory<double> one(options);
  options.threads = 3;
  mann::ConvNetWithMemory<double> three(options);
  mann::Rng data(9);
  MatrixD support(one.encoder().input_size(), 6), images(one.encoder().input_size(), 7);
  mann::init_uniform(support, data, 0.0, 1.0);
  mann::init_uniform(images, data, 0.0, 1.0);
  const std::vector<std::int64_t> support_labels{0, 1, 2, 0, 1, 2}, labels{0, 1, 2, 2, 1, 0, 1};
  one.write(support, support_labels);
  three.write(support, support_labels);
  for (int step = 0; step < 3; ++step) {  // steps change the weights: the copies must follow
    const double loss_one = one.compute_gradients(images, labels, true);
    const double loss_three = three.compute_gradients(images, labels, true);
    EXPECT_NEAR(loss_one, loss_three, 1e-12);
    ASSERT_GT(loss_one, 0.0);
    for (std::size_t p = 0; p < one.parameters().size(); ++p) {
      const MatrixD& g1 = one.parameters()[p].parameter->grad;
      const MatrixD& g3 = three.parameters()[p].parameter->grad;
      EXPECT_LT((g1 - g3).cwiseAbs().maxCoeff(), 1e-12 * (1 + g1.cwiseAbs().maxCoeff())) << one.parameters()[p].name;
    }
    const auto r1 = one.train_step(images, labels);
    const auto r3 = three.train_step(images, labels);
    EXPECT_EQ(r1.correct, r3.correct);
    EXPECT_EQ(one.memory().values(), three.memory().values());
  }
  EXPECT_THROW({
    options.threads = 0;
    mann::ConvNetWithMemory<double> bad(options);
  }, mann::ValueError);
}

TEST(ConvNetMemoryClassifier, WritesSupportInOrderAndPredictsWithoutWriting) {
  mann::ConvNetWithMemoryOptions options = small_memory_net();
  mann::ConvNetWithMemory<double> net(options);
  mann::ConvNetMemoryClassifier<double> classifier(net.encoder(), options.memory_size, options.memory);
  mann::Rng data(10);
  const Index input = net.encoder().input_size();
  MatrixD support(input, 6), queries(input, 6);
  mann::init_uniform(support, data, 0.0, 1.0);
  support.col(3) = support.col(0);  // a second shot identical to the first: it must merge, not add a slot
  queries = support;  // each query is a support image: its own key (or the key it merged into) is nearest
  const std::vector<int> labels{0, 1, 2, 0, 1, 2};
  std::vector<int> predictions;
  classifier(support, labels, 3, queries, predictions);
  // The expected predictions by hand: embeddings, cosine 1-NN among the support keys written one by
  // one with the update rule (merge when the nearest key has the same label).
  mann::ConvNetEncoder<double>::Cache cache;
  mann::Rng unused(1);
  const MatrixD embedding = net.encoder().forward(support, cache, false, unused);
  std::vector<Eigen::VectorXd> keys;
  std::vector<int> values;
  auto nearest = [&](const Eigen::VectorXd& q) {
    int best = -1;
    double best_similarity = -2;
    for (std::size_t i = 0; i < keys.size(); ++i) {
      const double similarity = keys[i].dot(q);
      if (similarity > best_similarity) best_similarity = similarity, best = static_cast<int>(i);
    }
    return best;
  };
  for (Index j = 0; j < 6; ++j) {
    const Eigen::VectorXd q = embedding.col(j).normalized();
    const int n = nearest(q);
    if (n >= 0 && values[static_cast<std::size_t>(n)] == labels[static_cast<std::size_t>(j)]) {
      keys[static_cast<std::size_t>(n)] = (keys[static_cast<std::size_t>(n)] + q).normalized();
    } else {
      keys.push_back(q);
      values.push_back(labels[static_cast<std::size_t>(j)]);
    }
  }
  EXPECT_EQ(classifier.memory().written(), static_cast<Index>(keys.size()));
  EXPECT_LE(keys.size(), 5u);
  for (Index j = 0; j < 6; ++j) {
    const int n = nearest(embedding.col(j).normalized());
    EXPECT_EQ(predictions[static_cast<std::size_t>(j)], values[static_cast<std::size_t>(n)]) << j;
  }
  // a second episode starts from an empty memory
  classifier(support.leftCols(1), {1}, 1, queries, predictions);
  EXPECT_EQ(predictions, std::vector<int>(6, 1));
  EXPECT_EQ(classifier.memory().written(), 1);
  EXPECT_THROW(classifier(support, {0, 1}, 2, queries, predictions), mann::ShapeError);
}

TEST(ConvNetMemoryClassifier, SequentialWritesEachQueryAfterPredictingIt) {
  mann::ConvNetWithMemoryOptions options = small_memory_net();
  mann::ConvNetWithMemory<double> net(options);
  mann::ConvNetMemoryClassifier<double> classifier(net.encoder(), options.memory_size, options.memory);
  mann::ConvNetMemoryClassifier<double> reference(net.encoder(), options.memory_size, options.memory);
  mann::Rng data(11);
  const Index input = net.encoder().input_size();
  const std::vector<int> support_labels{2, 0, 3, 1, 1, 3, 0, 2};  // two rounds of 4 classes
  const std::vector<int> query_labels{3, 1, 0, 2};
  int changed_by_the_writes = 0;
  for (int episode = 0; episode < 20; ++episode) {
    MatrixD support(input, 8), queries(input, 4);
    mann::init_uniform(support, data, 0.0, 1.0);
    mann::init_uniform(queries, data, 0.0, 1.0);
    std::vector<int> predictions, without_writes, one;
    classifier.sequential(support, support_labels, 4, queries, query_labels, predictions);
    ASSERT_EQ(predictions.size(), 4u);
    // Query j sees the support set and queries 0 … j−1 written in that order: the plain classifier
    // with those as its support set predicts the same.
    for (Index j = 0; j < 4; ++j) {
      MatrixD seen(input, 8 + j);
      seen.leftCols(8) = support;
      seen.rightCols(j) = queries.leftCols(j);
      std::vector<int> seen_labels = support_labels;
      seen_labels.insert(seen_labels.end(), query_labels.begin(), query_labels.begin() + j);
      reference(seen, seen_labels, 4, queries.col(j), one);
      EXPECT_EQ(predictions[static_cast<std::size_t>(j)], one[0]) << "episode " << episode << ", query " << j;
    }
    EXPECT_EQ(classifier.memory().written(), reference.memory().written() + (query_labels.back() == one[0] ? 0 : 1));
    reference(support, support_labels, 4, queries, without_writes);
    for (std::size_t j = 0; j < 4; ++j) changed_by_the_writes += predictions[j] != without_writes[j] ? 1 : 0;
  }
  EXPECT_GT(changed_by_the_writes, 0);  // the query writes matter on these untrained embeddings
  std::vector<int> predictions;
  EXPECT_THROW(classifier.sequential(MatrixD::Zero(input, 2), {0, 1}, 2, MatrixD::Zero(input, 2), {0}, predictions),
               mann::ShapeError);
}

}  // namespace
