// mann/train/grad_check.hpp: finite-difference gradient checking (double precision).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cmath>
#include <functional>
#include <string>

#include "mann/core/init.hpp"
#include "mann/core/parameter.hpp"
#include "mann/core/random.hpp"
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

/// The five-point central difference of f at 0 with step h (error O(h⁴)).
inline double five_point_derivative(const std::function<double(double)>& f, double h) {
  return (8 * (f(h) - f(-h)) - (f(2 * h) - f(-2 * h))) / (12 * h);
}

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
    const double numeric = five_point_derivative([&](double step) {
      x = saved + step;
      return loss();
    }, h);
    x = saved;
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

/// Directional checks, cheap at any model size: for each parameter tensor one random unit direction
/// v (seeded by `seed`), the analytic ⟨dL/dθ, v⟩ against the five-point difference of
/// L(θ + h v), four losses per tensor. `backward()` as for grad_check_parameters.
inline GradCheckResult grad_check_directions(const std::function<double()>& loss,
                                             const std::function<void()>& backward,
                                             const ParameterList<double>& parameters, std::uint64_t seed,
                                             const GradCheckOptions& options = {}) {
  backward();
  Rng rng(seed);
  GradCheckResult result;
  for (const auto& p : parameters) {
    MatrixD& values = p.parameter->value;
    MatrixD direction(values.rows(), values.cols());
    init_normal(direction, rng, 1.0);
    direction /= direction.norm();
    const double analytic = p.parameter->grad.cwiseProduct(direction).sum();
    const MatrixD saved = values;
    const double numeric = five_point_derivative([&](double step) {
      values = saved + step * direction;
      return loss();
    }, options.step);
    values = saved;
    const double error =
        std::abs(analytic - numeric) / std::max(std::abs(analytic) + std::abs(numeric), options.floor);
    ++result.entries_checked;
    if (error > result.max_relative_error || !std::isfinite(error)) {
      result.max_relative_error = std::isfinite(error) ? error : INFINITY;
      result.worst = p.name + " (direction)";
      result.analytic = analytic;
      result.numeric = numeric;
    }
  }
  return result;
}

}  // namespace mann
