// mann/core/parameter.hpp: a trainable tensor (value + gradient) and the named references that
// optimisers and checkpoints visit.
#pragma once

#include <string>
#include <vector>

#include "mann/core/types.hpp"

namespace mann {

/// A trainable tensor and its gradient, always of the same shape.
template <class Scalar>
struct Parameter {
  Matrix<Scalar> value;
  Matrix<Scalar> grad;

  Parameter() = default;
  Parameter(Index rows, Index cols) : value(Matrix<Scalar>::Zero(rows, cols)), grad(Matrix<Scalar>::Zero(rows, cols)) {}

  void resize(Index rows, Index cols) {
    value.setZero(rows, cols);
    grad.setZero(rows, cols);
  }
  void zero_grad() { grad.setZero(); }
};

/// A parameter with its dotted path name ("controller.weight"); what optimisers and checkpoints see.
template <class Scalar>
struct NamedParameter {
  std::string name;
  Parameter<Scalar>* parameter;
};

template <class Scalar>
using ParameterList = std::vector<NamedParameter<Scalar>>;

/// Appends `parameter` to `list` as prefix + name ("" prefix gives the bare name).
template <class Scalar>
void add_parameter(ParameterList<Scalar>& list, const std::string& prefix, const std::string& name,
                   Parameter<Scalar>& parameter) {
  list.push_back({prefix.empty() ? name : prefix + "." + name, &parameter});
}

/// Sets every gradient in `list` to zero.
template <class Scalar>
void zero_grad(const ParameterList<Scalar>& list) {
  for (const auto& p : list) p.parameter->zero_grad();
}

/// Total number of scalars in `list`.
template <class Scalar>
Index parameter_count(const ParameterList<Scalar>& list) {
  Index n = 0;
  for (const auto& p : list) n += p.parameter->value.size();
  return n;
}

}  // namespace mann
