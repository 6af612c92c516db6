// mann/optim/clip.hpp: gradient clipping by global norm (Pascanu et al. 2013).
#pragma once

#include <cmath>

#include "mann/core/error.hpp"
#include "mann/core/parameter.hpp"

namespace mann {

/// The L2 norm of all gradients in `list` taken together.
template <class Scalar>
double global_grad_norm(const ParameterList<Scalar>& list) {
  double sum = 0;
  for (const auto& p : list) sum += static_cast<double>(p.parameter->grad.squaredNorm());
  return std::sqrt(sum);
}

/// The global norm before clipping; when it is finite and exceeds max_norm (> 0; 0: no clipping),
/// every gradient is scaled by max_norm / norm. A non-finite norm (NaN/Inf in a gradient) is
/// returned with the gradients untouched: the caller skips the step or fails.
template <class Scalar>
double clip_grad_norm_if_finite(const ParameterList<Scalar>& list, double max_norm) {
  check_value(max_norm >= 0, "mann::clip_grad_norm_if_finite", "max_norm", max_norm, ">= 0");
  const double norm = global_grad_norm(list);
  if (max_norm > 0 && std::isfinite(norm) && norm > max_norm) {
    const Scalar factor = static_cast<Scalar>(max_norm / norm);
    for (const auto& p : list) p.parameter->grad *= factor;
  }
  return norm;
}

/// Scales every gradient by max_norm / norm when the global norm exceeds max_norm; returns the norm
/// before clipping. \throws ValueError if max_norm ≤ 0 or the gradients hold NaN/Inf.
template <class Scalar>
double clip_grad_norm(const ParameterList<Scalar>& list, double max_norm) {
  check_value(max_norm > 0, "mann::clip_grad_norm", "max_norm", max_norm, "> 0");
  const double norm = clip_grad_norm_if_finite(list, max_norm);
  check_value(std::isfinite(norm), "mann::clip_grad_norm", "gradient norm", norm, "finite (NaN/Inf in a gradient)");
  return norm;
}

}  // namespace mann
