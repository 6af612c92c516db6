// mann/nn/relu.hpp: the rectified linear unit, element-wise.
#pragma once

#include "mann/core/error.hpp"
#include "mann/core/types.hpp"

namespace mann {

/// y = max(x, 0), element-wise, any shape. No parameters; the cache is the output y (the
/// derivative is 1 where y > 0, 0 elsewhere, taking 0 at x = 0). In-place use (y aliasing x)
/// is allowed in both directions.
template <class Scalar = float>
class ReLU {
 public:
  using Mat = Matrix<Scalar>;
  using ConstRef = Eigen::Ref<const Mat>;

  /// y = max(x, 0).
  static void forward(const ConstRef& x, Mat& y) {
    y.resize(x.rows(), x.cols());
    y.array() = x.array().max(Scalar(0));
  }
  /// x ← max(x, 0).
  static void forward_inplace(Mat& x) { x.array() = x.array().max(Scalar(0)); }

  /// Overwrites dx with dy ⊙ [y > 0]. \throws ShapeError if dy and y differ in shape.
  static void backward(const ConstRef& y, const ConstRef& dy, Mat& dx) {
    check_shape(dy, y.rows(), y.cols(), "mann::ReLU::backward", "dy");
    dx.resize(y.rows(), y.cols());
    dx.array() = (y.array() > Scalar(0)).select(dy.array(), Scalar(0));
  }
  /// d ← d ⊙ [y > 0].
  static void backward_inplace(const ConstRef& y, Mat& d) {
    MANN_ASSERT(d.rows() == y.rows() && d.cols() == y.cols());
    d.array() = (y.array() > Scalar(0)).select(d.array(), Scalar(0));
  }
};

}  // namespace mann
