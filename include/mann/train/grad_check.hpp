// mann/train/grad_check.hpp: finite-difference gradient checking (double precision).
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>

#include "mann/core/parameter.hpp"
#include "mann/core/types.hpp"

namespace mann {

/// Result of comparing an analytic gradient with finite differences.
struct GradCheckResult {
  double max_relative_error = 0;  ///< max over entries of |a − n| / max(|a| + |n|, floor)
  std::string worst;              ///< the tensor and entry where it occurred
  double analytic = 0, numeric = 0;
  Index entries_checked = 0;
};

struct GradCheckOptions {
  double step = 1e-4;    ///< h of the five-point stencil (error O(h⁴))
  double floor = 1e-3;   ///< denominator floor: entries near zero are judged by absolute error
  Index max_entries = 0; ///< 0: check every entry; else a deterministic stride through each tensor
};

/// Five-point central difference of loss() in each entry of `values`, compared with `analytic`.
/// loss() must recompute everything from the current values. The result accumulates into `result`.
inline void grad_check_tensor(const std::function<double()>& loss, MatrixD& values, const MatrixD& analytic,
                              const std::string& name, GradCheckResult& result,
                              const GradCheckOptions& options = {}) {
  const Index n = values.size();
  const Index stride = options.max_entries > 0 ? std::max<Index>(1, n / options.max_entries) : 1;
  for (Index k = 0; k < n; k += stride) {
    double& x = values.data()[k];
    const double saved = x, h = options.step;
    x = saved + h;       const double f1 = loss();
    x = saved - h;       const double fm1 = loss();
    x = saved + 2 * h;   const double f2 = loss();
    x = saved - 2 * h;   const double fm2 = loss();
    x = saved;
    const double numeric = (8 * (f1 - fm1) - (f2 - fm2)) / (12 * h);
    const double a = analytic.data()[k];
    const double error = std::abs(a - numeric) / std::max(std::abs(a) + std::abs(numeric), options.floor);
    ++result.entries_checked;
    if (error > result.max_relative_error || !std::isfinite(error)) {
      result.max_relative_error = std::isfinite(error) ? error : INFINITY;
      result.worst = name + "[" + std::to_string(k) + "]";
      result.analytic = a;
      result.numeric = numeric;
    }
  }
}

/// Checks every parameter's grad against finite differences of loss(). `backward()` must zero the
/// gradients, run forward and backward, and leave dL/dθ in the grads.
inline GradCheckResult grad_check_parameters(const std::function<double()>& loss,
                                             const std::function<void()>& backward,
                                             const ParameterList<double>& parameters,
                                             const GradCheckOptions& options = {}) {
  backward();
  GradCheckResult result;
  for (const auto& p : parameters) {
    const MatrixD analytic = p.parameter->grad;
    grad_check_tensor(loss, p.parameter->value, analytic, p.name, result, options);
  }
  return result;
}

}  // namespace mann
