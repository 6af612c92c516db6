// examples/kv_memory/main.cpp — put the key-value memory (Kaiser et al. 2017) in your own network.
//
// The task: 230 classes of 64-dimensional inputs; a class is a direction in 32 "signal" dimensions
// (plus noise), and 32 more dimensions carry only noise. 200 classes are common; the other 30 are
// rare: after training on the common ones, each rare class is shown once (or twice) in a stream of
// common examples, then every class is tested on fresh samples.
//
//   with memory:    x → MLP encoder → linear query → KeyValueMemory → prediction V[n_1]
//                   trained by the memory loss (its gradient flows back into the encoder)
//   without memory: x → the same MLP → linear → softmax over the 50 classes (cross-entropy)
//
// The memory model recalls a rare class after one sight: the encoder has learned from the common
// classes to map one class to one place and to ignore the noise dimensions, and the memory stores
// the single example. The softmax classifier cannot learn a class from one gradient step among
// thousands. Run: ./kv_memory [--quick]
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "mann/core/parameter.hpp"
#include "mann/core/random.hpp"
#include "mann/kv/key_value_memory.hpp"
#include "mann/nn/feed_forward.hpp"
#include "mann/nn/linear.hpp"
#include "mann/nn/losses.hpp"
#include "mann/optim/adam.hpp"

namespace {

using mann::Index;
using Mat = mann::MatrixF;
using Value = mann::KeyValueMemory<float>::Value;

constexpr Index kSignal = 32, kNoise = 32, kInput = kSignal + kNoise;
constexpr Index kCommon = 200, kRare = 30, kClasses = kCommon + kRare;

// Class prototypes in the signal dimensions; samples add noise everywhere.
struct Task {
  Mat prototypes;  // kSignal × kClasses
  explicit Task(mann::Rng& rng) : prototypes(kSignal, kClasses) {
    for (Index c = 0; c < kClasses; ++c) {
      for (Index i = 0; i < kSignal; ++i) prototypes(i, c) = static_cast<float>(rng.normal());
      prototypes.col(c) *= 2.0f / prototypes.col(c).norm();
    }
  }
  void sample(Index c, mann::Rng& rng, Eigen::Ref<Mat> x) const {
    for (Index i = 0; i < kSignal; ++i) x(i, 0) = prototypes(i, c) + static_cast<float>(0.2 * rng.normal());
    for (Index i = kSignal; i < kInput; ++i) x(i, 0) = static_cast<float>(0.5 * rng.normal());
  }
  // A batch of the given classes, one column each.
  Mat batch(const std::vector<Value>& classes, mann::Rng& rng) const {
    Mat x(kInput, static_cast<Index>(classes.size()));
    for (Index j = 0; j < x.cols(); ++j) sample(classes[static_cast<std::size_t>(j)], rng, x.col(j));
    return x;
  }
};

// ------------------------------------------------------------------------------------------------
// The memory model: encoder → query → memory. Everything the memory needs is in these ~40 lines.
struct MemoryModel {
  mann::FeedForward<float> encoder;
  mann::Linear<float> query_layer;
  mann::KeyValueMemory<float> memory;
  mann::ParameterList<float> parameters;
  mann::Adam<float> adam;
  // per-step buffers
  mann::FeedForward<float>::Step step;
  mann::FeedForward<float>::Carry carry;
  mann::KeyValueMemory<float>::Cache cache;
  Mat query, dquery, dh, dx;

  static mann::KeyValueMemoryOptions memory_options() {
    mann::KeyValueMemoryOptions o;
    o.k = 32;  // the paper uses 256 with much larger memories
    return o;
  }
  MemoryModel(mann::Rng& rng)
      : encoder(kInput, {128, 64}, rng, mann::Activation::tanh),
        query_layer(64, 32, rng),
        memory(2000, 32, memory_options()),
        parameters(collect()),
        adam(parameters, {}) {}

  mann::ParameterList<float> collect() {
    mann::ParameterList<float> list;
    encoder.parameters(list, "encoder");
    query_layer.parameters(list, "query");
    return list;
  }

  // One training step: predict, learn from the memory loss, then write to the memory.
  float train(const Mat& x, const std::vector<Value>& labels) {
    mann::zero_grad(parameters);
    encoder.forward_step(x, nullptr, step);
    query_layer.forward(step.h, query);
    memory.query(query, cache);                                           // forward: neighbours, prediction
    const float loss = memory.loss(labels, cache);                        // margin loss
    memory.backward(cache, dquery, 1.0f / static_cast<float>(x.cols()));  // dL/dquery
    query_layer.backward(step.h, dquery, &dh);
    encoder.backward_step(step, dh, carry, dx);
    adam.step();
    memory.update(cache, labels);  // write rule (after the prediction)
    return loss / static_cast<float>(x.cols());
  }

  std::vector<Value> predict(const Mat& x) {
    encoder.forward_step(x, nullptr, step);
    query_layer.forward(step.h, query);
    memory.query(query, cache);
    return cache.predictions;
  }
};

// ------------------------------------------------------------------------------------------------
// The baseline: the same MLP with a softmax classifier.
struct SoftmaxModel {
  mann::FeedForward<float> encoder;
  mann::Linear<float> output;
  mann::SoftmaxCrossEntropy<float> loss;
  mann::ParameterList<float> parameters;
  mann::Adam<float> adam;
  mann::FeedForward<float>::Step step;
  mann::FeedForward<float>::Carry carry;
  Mat logits, targets, dlogits, dh, dx;

  SoftmaxModel(mann::Rng& rng)
      : encoder(kInput, {128, 64}, rng, mann::Activation::tanh),
        output(64, kClasses, rng),
        parameters(collect()),
        adam(parameters, {}) {}

  mann::ParameterList<float> collect() {
    mann::ParameterList<float> list;
    encoder.parameters(list, "encoder");
    output.parameters(list, "output");
    return list;
  }

  float train(const Mat& x, const std::vector<Value>& labels) {
    mann::zero_grad(parameters);
    encoder.forward_step(x, nullptr, step);
    output.forward(step.h, logits);
    targets = Mat::Zero(kClasses, x.cols());
    for (Index j = 0; j < x.cols(); ++j) targets(labels[static_cast<std::size_t>(j)], j) = 1;
    const float value = loss.forward(logits, targets);
    loss.backward(targets, 1.0f / static_cast<float>(x.cols()), dlogits);
    output.backward(step.h, dlogits, &dh);
    encoder.backward_step(step, dh, carry, dx);
    adam.step();
    return value / static_cast<float>(x.cols());
  }

  std::vector<Value> predict(const Mat& x) {
    encoder.forward_step(x, nullptr, step);
    output.forward(step.h, logits);
    std::vector<Value> out(static_cast<std::size_t>(x.cols()));
    for (Index j = 0; j < x.cols(); ++j) {
      Index best;
      logits.col(j).maxCoeff(&best);
      out[static_cast<std::size_t>(j)] = best;
    }
    return out;
  }
};

struct Result {
  double rare = 0, common = 0;
};

// Trains both models on common classes, shows each rare class `sightings` times, tests.
template <class Model>
Result run(Model& model, const Task& task, int sightings, int train_steps, std::uint64_t seed) {
  mann::Rng rng(seed);
  const Index batch = 16;
  std::vector<Value> labels(batch);
  for (int s = 0; s < train_steps; ++s) {  // 1. common classes only
    for (auto& l : labels) l = static_cast<Value>(rng.below(kCommon));
    model.train(task.batch(labels, rng), labels);
  }
  // 2. the stream: each rare class `sightings` times, one per batch, among common examples
  std::vector<Value> rare_stream;
  for (int k = 0; k < sightings; ++k)
    for (Value c = kCommon; c < kClasses; ++c) rare_stream.push_back(c);
  rng.shuffle(rare_stream);
  for (const Value c : rare_stream) {
    for (auto& l : labels) l = static_cast<Value>(rng.below(kCommon));
    labels[static_cast<std::size_t>(rng.below(batch))] = c;
    model.train(task.batch(labels, rng), labels);
  }
  // 3. fresh samples of every class
  Result r;
  const int per_class = 20;
  for (Value c = 0; c < kClasses; ++c) {
    const std::vector<Value> tests(per_class, c);
    const std::vector<Value> predicted = model.predict(task.batch(tests, rng));
    int correct = 0;
    for (const Value p : predicted) correct += p == c ? 1 : 0;
    (c < kCommon ? r.common : r.rare) += correct;
  }
  r.common /= double(per_class * kCommon);
  r.rare /= double(per_class * kRare);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const int train_steps = quick ? 1000 : 3000;
  mann::Rng task_rng(2017);
  const Task task(task_rng);
  std::printf(
      "%ld classes (%ld common, %ld rare), %d training steps of 16 on the common classes,\n"
      "then each rare class shown once or twice; accuracy on fresh samples:\n\n",
      static_cast<long>(kClasses), static_cast<long>(kCommon), static_cast<long>(kRare), train_steps);
  std::printf("%-30s %14s %15s %8s\n", "", "rare, 1 sight", "rare, 2 sights", "common");
  Result memory_results[2], softmax_results[2];
  for (int sightings = 1; sightings <= 2; ++sightings) {
    mann::Rng init(7);
    MemoryModel with_memory(init);
    memory_results[sightings - 1] = run(with_memory, task, sightings, train_steps, 11);
    mann::Rng init2(7);
    SoftmaxModel without(init2);
    softmax_results[sightings - 1] = run(without, task, sightings, train_steps, 11);
  }
  std::printf("%-30s %13.1f%% %14.1f%% %7.1f%%\n", "MLP + softmax (no memory)", 100 * softmax_results[0].rare,
              100 * softmax_results[1].rare, 100 * softmax_results[0].common);
  std::printf("%-30s %13.1f%% %14.1f%% %7.1f%%\n", "MLP + key-value memory", 100 * memory_results[0].rare,
              100 * memory_results[1].rare, 100 * memory_results[0].common);
  // The point of the example, checked (the --quick run is a CTest test).
  const bool ok = memory_results[0].rare > 0.7 && softmax_results[0].rare < 0.2;
  std::printf("\n%s\n", ok ? "rare classes: recalled after one sight with the memory, not without it"
                           : "UNEXPECTED: the memory did not beat the softmax on rare classes");
  return ok ? 0 : 1;
}
