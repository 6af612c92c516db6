// mann/optim/rmsprop.hpp: RMSProp with momentum, as Santoro et al. train (supplement 9: lr 1e-4,
// decay 0.95, momentum 0.9), in the form of Graves (2013) / TensorFlow's RMSPropOptimizer:
//   ms ← ρ ms + (1 − ρ) g²;  mom ← μ mom + lr g / √(ms + ε);  w ← w − mom
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "mann/core/error.hpp"
#include "mann/optim/optimizer_state.hpp"

namespace mann {

template <class Scalar = float>
class RmsProp {
 public:
  struct Options {
    double learning_rate = 1e-4;
    double decay = 0.95;
    double momentum = 0.9;
    double epsilon = 1e-8;  ///< NOTE: inside the square root
  };

  /// Keeps a state tensor per parameter, in the list's order.
  RmsProp(ParameterList<Scalar> parameters, Options options = {})
      : parameters_(std::move(parameters)), options_(options) {
    check_value(options.learning_rate > 0, "mann::RmsProp", "learning_rate", options.learning_rate, "> 0");
    check_value(options.decay >= 0 && options.decay < 1, "mann::RmsProp", "decay", options.decay, "in [0, 1)");
    check_value(options.momentum >= 0 && options.momentum < 1, "mann::RmsProp", "momentum", options.momentum,
                "in [0, 1)");
    mean_square_ = make_state_like(parameters_);
    velocity_ = make_state_like(parameters_);
  }

  /// Applies one update from the current gradients (it does not zero them).
  void step() {
    step_part(0, 1);
    end_step();
  }

  /// The update of step() restricted to part `part` of `parts` equal slices of every parameter's
  /// elements, so that `parts` threads can apply one step together, each its own part (the element
  /// update is independent of the others). Call end_step() once after all parts.
  void step_part(int part, int parts) {
    MANN_ASSERT(parts >= 1 && part >= 0 && part < parts);
    const Scalar rho = static_cast<Scalar>(options_.decay), mu = static_cast<Scalar>(options_.momentum);
    const Scalar lr = static_cast<Scalar>(options_.learning_rate), eps = static_cast<Scalar>(options_.epsilon);
    for (std::size_t i = 0; i < parameters_.size(); ++i) {
      auto& p = *parameters_[i].parameter;
      const Index n = p.value.size(), begin = n * part / parts, size = n * (part + 1) / parts - begin;
      auto ms = mean_square_[i].value.reshaped().segment(begin, size).array();
      auto v = velocity_[i].value.reshaped().segment(begin, size).array();
      const auto g = p.grad.reshaped().segment(begin, size).array();
      ms = rho * ms + (Scalar(1) - rho) * g.square();
      v = mu * v + lr * g / (ms + eps).sqrt();
      p.value.reshaped().segment(begin, size).array() -= v;
    }
  }

  /// Completes a step applied with step_part.
  void end_step() { ++steps_; }

  const Options& options() const { return options_; }
  void set_learning_rate(double lr) { options_.learning_rate = lr; }
  long long steps() const { return steps_; }

  /// The optimiser's state as named tensors for checkpoints ("rmsprop.mean_square.<param>").
  ParameterList<Scalar> state() {
    ParameterList<Scalar> list = name_state(parameters_, "rmsprop.mean_square.", mean_square_);
    const ParameterList<Scalar> v = name_state(parameters_, "rmsprop.velocity.", velocity_);
    list.insert(list.end(), v.begin(), v.end());
    return list;
  }

 private:
  ParameterList<Scalar> parameters_;
  Options options_;
  std::vector<Parameter<Scalar>> mean_square_, velocity_;  // values only; grads unused
  long long steps_ = 0;
};

}  // namespace mann
