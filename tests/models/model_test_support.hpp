// Shared helpers of the whole-model gradient tests: random episode batches and the finite-difference
// check of every parameter through a whole episode.
#pragma once

#include <gtest/gtest.h>

#include <iostream>
#include <string>

#include "mann/core/init.hpp"
#include "mann/models/mann_model.hpp"
#include "mann/train/grad_check.hpp"

namespace model_test {

/// A random episode batch: T steps, B episodes, labels one-hot / string (5 groups of 5) / real.
inline mann::EpisodeBatch<double> random_batch(mann::OutputKind kind, mann::Index T, mann::Index B,
                                               mann::Index input, mann::Index labels, mann::Rng& rng) {
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

/// Checks every parameter entry of a MANN against central differences (max relative error < 1e-6),
/// with the biases moved off zero so every path is exercised, and that the memory path is live (the
/// head projection gets a gradient).
template <class Model>
void check_model_gradients(Model& model, const mann::EpisodeBatch<double>& episodes) {
  typename Model::Workspace ws;
  auto params = model.parameters();
  mann::Rng rng(7);
  for (auto& p : params) {
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
  for (const auto& p : params) {
    if (p.name.rfind("head_projection", 0) == 0) {
      EXPECT_GT(p.parameter->grad.norm(), 0) << p.name;
    }
  }
}

/// One output kind of the parameterised model tests.
struct OutputCase {
  mann::OutputKind kind;
  mann::Index labels;
};

}  // namespace model_test
