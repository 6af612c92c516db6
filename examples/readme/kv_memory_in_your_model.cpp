// Put the key-value memory of Kaiser et al. 2017 at the end of your own network: a linear encoder
// makes the query, the memory predicts the value of the nearest key, its margin loss trains the
// encoder, and the update rule writes what was seen. Then a class seen once is recalled.
#include <cstdio>
#include <vector>

#include <mann/mann.hpp>

int main() {
  using Mat = mann::MatrixF;
  using Value = mann::KeyValueMemory<float>::Value;
  const mann::Index inputs = 32, key_size = 16, batch = 8, classes = 50;
  mann::Rng rng(1);
  const Mat prototypes = Mat::NullaryExpr(inputs, classes, [&] { return static_cast<float>(rng.normal()); });
  auto sample = [&](const std::vector<Value>& labels) {  // one noisy column per label
    Mat x(inputs, static_cast<mann::Index>(labels.size()));
    for (mann::Index j = 0; j < x.cols(); ++j) {
      x.col(j) = prototypes.col(labels[static_cast<std::size_t>(j)]);
      for (mann::Index i = 0; i < inputs; ++i) x(i, j) += static_cast<float>(0.1 * rng.normal());
    }
    return x;
  };

  mann::Linear<float> encoder(inputs, key_size, rng);
  mann::KeyValueMemoryOptions options;  // the paper's k is 256 with a memory of 8192
  options.k = 16;
  mann::KeyValueMemory<float> memory(/*memory_size=*/512, key_size, options);
  mann::ParameterList<float> parameters;
  encoder.parameters(parameters, "encoder");
  mann::Adam<float> adam(parameters, {});
  mann::KeyValueMemory<float>::Cache cache;
  Mat query, dquery;

  std::vector<Value> labels(batch);
  for (int step = 0; step < 200; ++step) {  // train on classes 0 … 39
    for (Value& label : labels) label = static_cast<Value>(rng.below(40));
    const Mat x = sample(labels);
    mann::zero_grad(parameters);
    encoder.forward(x, query);
    memory.query(query, cache);                            // nearest keys, prediction V[n_1]
    memory.loss(labels, cache);                            // margin loss
    memory.backward(cache, dquery, 1.0f / float(batch));   // dL/dquery
    encoder.backward(x, dquery, nullptr);                  // into the encoder's gradients
    adam.step();
    memory.update(cache, labels);                          // the write rule
  }
  // Classes 40 … 49 are shown once each, then recognised from a new sample.
  for (Value c = 40; c < classes; ++c) {
    const std::vector<Value> once{c};
    encoder.forward(sample(once), query);
    memory.query(query, cache);
    memory.update(cache, once);
  }
  int correct = 0;
  for (Value c = 40; c < classes; ++c) {
    encoder.forward(sample({c}), query);
    memory.query(query, cache);
    correct += cache.predictions[0] == c ? 1 : 0;
  }
  std::printf("classes seen once, recalled: %d of 10\n", correct);
  return correct >= 8 ? 0 : 1;
}
