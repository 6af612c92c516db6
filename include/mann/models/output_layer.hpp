// mann/models/output_layer.hpp: the output kinds of Santoro et al. supplement 6.2–6.3 behind one
// interface: one-hot softmax, string labels (grouped softmaxes), Gaussian (regression).
#pragma once

#include <string>

#include "mann/core/error.hpp"
#include "mann/nn/losses.hpp"
#include "mann/core/episode.hpp"

namespace mann {

enum class OutputKind { one_hot, string, gaussian };

inline std::string to_string(OutputKind kind) {
  switch (kind) {
    case OutputKind::one_hot: return "one_hot";
    case OutputKind::string: return "string";
    case OutputKind::gaussian: return "gaussian";
  }
  return "?";
}

inline OutputKind output_kind_from_string(const std::string& name) {
  if (name == "one_hot") return OutputKind::one_hot;
  if (name == "string") return OutputKind::string;
  if (name == "gaussian") return OutputKind::gaussian;
  throw ValueError("mann::output_kind_from_string: kind is \"" + name + "\", expected one_hot, string or gaussian");
}

/// The loss for one time step, whichever the output kind. Targets are label_size × B: one-hot over
/// the classes, 5 one-hots of 5 (string), or real values (Gaussian, whose outputs are 2 × label_size).
template <class Scalar = float>
struct StepLoss {
  using Mat = Matrix<Scalar>;
  using ConstRef = Eigen::Ref<const Mat>;

  OutputKind kind = OutputKind::one_hot;
  SoftmaxCrossEntropy<Scalar> one_hot;
  GroupedCategorical<Scalar> string{5, 5};
  GaussianNll<Scalar> gaussian;

  /// Rows of the output layer for `label_size` target rows.
  static Index output_rows(OutputKind kind, Index label_size) {
    return kind == OutputKind::gaussian ? 2 * label_size : label_size;
  }

  Scalar forward(const ConstRef& outputs, const ConstRef& targets) {
    switch (kind) {
      case OutputKind::one_hot: return one_hot.forward(outputs, targets);
      case OutputKind::string: return string.forward(outputs, targets);
      case OutputKind::gaussian: return gaussian.forward(outputs, targets);
    }
    return 0;
  }
  void backward(const ConstRef& targets, Scalar scale, Mat& d_outputs) const {
    switch (kind) {
      case OutputKind::one_hot: one_hot.backward(targets, scale, d_outputs); break;
      case OutputKind::string: string.backward(targets, scale, d_outputs); break;
      case OutputKind::gaussian: gaussian.backward(scale, d_outputs); break;
    }
  }
};

/// The label encoding an output kind scores with (Gaussian outputs have none).
inline LabelEncoding label_encoding(OutputKind kind) {
  return kind == OutputKind::string ? LabelEncoding::string : LabelEncoding::one_hot;
}

}  // namespace mann
