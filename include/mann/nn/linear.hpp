// mann/nn/linear.hpp: the affine layer y = W x + b, batch as columns.
#pragma once

#include <string>

#include "mann/core/error.hpp"
#include "mann/core/init.hpp"
#include "mann/core/parameter.hpp"

namespace mann {

/// Affine layer y = W x + b.
/// Shapes: weight out × in, bias out × 1, x in × B, y out × B.
/// The layer's cache is its input: the caller keeps x and hands it back to backward.
template <class Scalar = float>
class Linear {
 public:
  using Mat = Matrix<Scalar>;
  using ConstRef = Eigen::Ref<const Mat>;

  Parameter<Scalar> weight;
  Parameter<Scalar> bias;

  Linear() = default;

  /// Glorot-uniform weight, zero bias. \throws ValueError for a size < 1.
  Linear(Index input_size, Index output_size, Rng& rng) {
    check_value(input_size > 0, "mann::Linear", "input_size", input_size, "> 0");
    check_value(output_size > 0, "mann::Linear", "output_size", output_size, "> 0");
    weight.resize(output_size, input_size);
    bias.resize(output_size, 1);
    init_glorot_uniform(weight.value, rng);
  }

  Index input_size() const { return weight.value.cols(); }
  Index output_size() const { return weight.value.rows(); }

  /// y = W x + b. \throws ShapeError if x does not have input_size() rows.
  void forward(const ConstRef& x, Mat& y) const {
    check_shape(x, input_size(), -1, "mann::Linear::forward", "x");
    y.resize(output_size(), x.cols());
    y.noalias() = weight.value * x;
    y.colwise() += bias.value.col(0);
  }

  /// Adds dL/dW = dy xᵀ and dL/db = Σ_columns dy into the gradients; overwrites *dx with Wᵀ dy
  /// when dx is not null. Requires: x is the input given to forward, dy is output_size() × B.
  void backward(const ConstRef& x, const ConstRef& dy, Mat* dx) {
    MANN_ASSERT(dy.rows() == output_size() && dy.cols() == x.cols());
    weight.grad.noalias() += dy * x.transpose();
    bias.grad.col(0) += dy.rowwise().sum();
    if (dx != nullptr) {
      dx->resize(input_size(), dy.cols());
      dx->noalias() = weight.value.transpose() * dy;
    }
  }

  void parameters(ParameterList<Scalar>& list, const std::string& prefix = "") {
    add_parameter(list, prefix, "weight", weight);
    add_parameter(list, prefix, "bias", bias);
  }
};

}  // namespace mann
