// mann/train/precision_check.hpp: float32 gradients against float64 ones of the same model, weights
// and episodes, per parameter tensor. Finite differences (grad_check.hpp) say the backward pass is
// the derivative; this says whether float32 can compute it at the weights and settings you train with.
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "mann/core/episode.hpp"
#include "mann/core/error.hpp"
#include "mann/core/parameter.hpp"

namespace mann {

/// One tensor's normwise relative error ‖g32 − g64‖ / ‖g64‖ (absolute where ‖g64‖ = 0).
struct TensorPrecision {
  std::string name;
  double relative_error = 0;
  double reference_norm = 0;  ///< ‖g64‖
};

struct PrecisionCheckResult {
  std::vector<TensorPrecision> tensors;
  double loss_float = 0, loss_double = 0;
  /// The tensor with the largest relative error (a NaN counts as infinite).
  const TensorPrecision& worst() const {
    MANN_ASSERT(!tensors.empty());
    return *std::max_element(tensors.begin(), tensors.end(),
                             [](const auto& a, const auto& b) { return severity(a) < severity(b); });
  }
  double worst_error() const { return tensors.empty() ? 0.0 : severity(worst()); }

 private:
  static double severity(const TensorPrecision& t) {
    return std::isnan(t.relative_error) ? INFINITY : t.relative_error;
  }
};

/// The episodes cast to double (exactly: every float is a double).
inline EpisodeBatch<double> to_double(const EpisodeBatch<float>& episodes) {
  EpisodeBatch<double> result;
  result.resize(episodes.length(), episodes.batch(), episodes.inputs.at(0).rows(), episodes.targets.at(0).rows());
  for (Index t = 0; t < episodes.length(); ++t) {
    result.inputs[t] = episodes.inputs[t].cast<double>();
    result.targets[t] = episodes.targets[t].cast<double>();
    result.instance[t] = episodes.instance[t];
  }
  return result;
}

/// Copies float32 weights into a float64 model's parameters of the same names and shapes.
/// \throws ShapeError if the two lists differ in length, name or shape (`where` names the caller).
inline void copy_weights_to_double(const ParameterList<float>& p32, const ParameterList<double>& p64,
                                   const char* where) {
  if (p32.size() != p64.size()) {
    throw ShapeError(std::string(where) + ": the models have " + std::to_string(p32.size()) + " and " +
                     std::to_string(p64.size()) + " parameter tensors");
  }
  for (std::size_t i = 0; i < p32.size(); ++i) {
    if (p32[i].name != p64[i].name) {
      throw ShapeError(std::string(where) + ": parameter " + std::to_string(i) + " is " + p32[i].name +
                       " in one model and " + p64[i].name + " in the other");
    }
    check_shape(p64[i].parameter->value, p32[i].parameter->value.rows(), p32[i].parameter->value.cols(), where,
                p64[i].name.c_str());
    p64[i].parameter->value = p32[i].parameter->value.template cast<double>();
  }
}

/// Every tensor's normwise relative error of the float32 gradients against the float64 ones (lists
/// as copy_weights_to_double left them: same names and shapes).
inline std::vector<TensorPrecision> compare_gradients(const ParameterList<float>& p32, const ParameterList<double>& p64) {
  std::vector<TensorPrecision> tensors;
  for (std::size_t i = 0; i < p32.size(); ++i) {
    const MatrixD& reference = p64[i].parameter->grad;
    const double norm = reference.norm();
    const double difference = (p32[i].parameter->grad.template cast<double>() - reference).norm();
    tensors.push_back({p32[i].name, norm > 0 ? difference / norm : difference, norm});
  }
  return tensors;
}

/// Copies model32's weights into model64 (copy_weights_to_double), runs forward and backward of both
/// on `episodes` from zeroed gradients and compares every parameter tensor's gradient. Both models'
/// gradients are left holding this batch's, and ws32 / ws64 its forward caches (e.g. a Mann's
/// discrete LRUA choices, to see whether both precisions took the same path).
/// Model: anything with forward(batch, workspace), backward(batch, workspace), parameters() and a
/// Workspace type, e.g. Mann<float, …> and Mann<double, …>.
/// \throws ShapeError if the two models' parameters differ in name or shape.
template <class Model32, class Model64>
PrecisionCheckResult compare_float_gradients(Model32& model32, Model64& model64, const EpisodeBatch<float>& episodes,
                                             typename Model32::Workspace& ws32, typename Model64::Workspace& ws64) {
  auto p32 = model32.parameters();
  auto p64 = model64.parameters();
  copy_weights_to_double(p32, p64, "mann::compare_float_gradients");
  const EpisodeBatch<double> episodes64 = to_double(episodes);
  zero_grad(p32);
  zero_grad(p64);
  PrecisionCheckResult result;
  result.loss_float = static_cast<double>(model32.forward(episodes, ws32));
  model32.backward(episodes, ws32);
  result.loss_double = model64.forward(episodes64, ws64);
  model64.backward(episodes64, ws64);
  result.tensors = compare_gradients(p32, p64);
  return result;
}

/// As above, with workspaces of its own.
template <class Model32, class Model64>
PrecisionCheckResult compare_float_gradients(Model32& model32, Model64& model64, const EpisodeBatch<float>& episodes) {
  typename Model32::Workspace ws32;
  typename Model64::Workspace ws64;
  return compare_float_gradients(model32, model64, episodes, ws32, ws64);
}

}  // namespace mann
