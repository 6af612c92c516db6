// mann/optim/adam.hpp: Adam (Kingma & Ba 2015) with bias correction.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "mann/core/error.hpp"
#include "mann/optim/optimizer_state.hpp"

namespace mann {

template <class Scalar = float>
class Adam {
 public:
  struct Options {
    double learning_rate = 1e-3;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double epsilon = 1e-8;  ///< added to √v̂
  };

  Adam(ParameterList<Scalar> parameters, Options options = {})
      : parameters_(std::move(parameters)), options_(options) {
    check_value(options.learning_rate > 0, "mann::Adam", "learning_rate", options.learning_rate, "> 0");
    check_value(options.beta1 >= 0 && options.beta1 < 1, "mann::Adam", "beta1", options.beta1, "in [0, 1)");
    check_value(options.beta2 >= 0 && options.beta2 < 1, "mann::Adam", "beta2", options.beta2, "in [0, 1)");
    first_moment_ = make_state_like(parameters_);
    second_moment_ = make_state_like(parameters_);
    step_count_.value.setZero(1, 1);
  }

  /// m ← β1 m + (1−β1) g; v ← β2 v + (1−β2) g²; w ← w − lr m̂ / (√v̂ + ε).
  void step() {
    step_count_.value(0, 0) += Scalar(1);
    const double t = static_cast<double>(step_count_.value(0, 0));
    const Scalar b1 = static_cast<Scalar>(options_.beta1), b2 = static_cast<Scalar>(options_.beta2);
    const Scalar correction1 = static_cast<Scalar>(1 - std::pow(options_.beta1, t));
    const Scalar correction2 = static_cast<Scalar>(1 - std::pow(options_.beta2, t));
    const Scalar lr = static_cast<Scalar>(options_.learning_rate), eps = static_cast<Scalar>(options_.epsilon);
    for (std::size_t i = 0; i < parameters_.size(); ++i) {
      auto& p = *parameters_[i].parameter;
      auto m = first_moment_[i].value.array();
      auto v = second_moment_[i].value.array();
      const auto g = p.grad.array();
      m = b1 * m + (Scalar(1) - b1) * g;
      v = b2 * v + (Scalar(1) - b2) * g.square();
      p.value.array() -= lr * (m / correction1) / ((v / correction2).sqrt() + eps);
    }
  }

  const Options& options() const { return options_; }
  void set_learning_rate(double lr) { options_.learning_rate = lr; }

  /// State for checkpoints: "adam.m.<param>", "adam.v.<param>", "adam.step".
  ParameterList<Scalar> state() {
    ParameterList<Scalar> list = name_state(parameters_, "adam.m.", first_moment_);
    const ParameterList<Scalar> v = name_state(parameters_, "adam.v.", second_moment_);
    list.insert(list.end(), v.begin(), v.end());
    list.push_back({"adam.step", &step_count_});
    return list;
  }

 private:
  ParameterList<Scalar> parameters_;
  Options options_;
  std::vector<Parameter<Scalar>> first_moment_, second_moment_;
  Parameter<Scalar> step_count_;  // 1 × 1, a tensor so checkpoints carry it
};

}  // namespace mann
