// mann/optim/optimizer_state.hpp: helpers shared by the optimisers for their per-parameter state.
#pragma once

#include <string>
#include <vector>

#include "mann/core/parameter.hpp"

namespace mann {

/// One zero tensor per parameter, of its shape (only `value` is used; the grad stays empty).
template <class Scalar>
std::vector<Parameter<Scalar>> make_state_like(const ParameterList<Scalar>& parameters) {
  std::vector<Parameter<Scalar>> state(parameters.size());
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    state[i].value.setZero(parameters[i].parameter->value.rows(), parameters[i].parameter->value.cols());
  }
  return state;
}

/// Names state[i] as prefix + parameters[i].name, for checkpoints.
template <class Scalar>
ParameterList<Scalar> name_state(const ParameterList<Scalar>& parameters, const std::string& prefix,
                                 std::vector<Parameter<Scalar>>& state) {
  ParameterList<Scalar> list;
  for (std::size_t i = 0; i < parameters.size(); ++i) list.push_back({prefix + parameters[i].name, &state[i]});
  return list;
}

}  // namespace mann
