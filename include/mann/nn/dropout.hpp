// mann/nn/dropout.hpp: inverted dropout (Srivastava et al. 2014), seeded through mann::Rng.
#pragma once

#include "mann/core/error.hpp"
#include "mann/core/random.hpp"
#include "mann/core/types.hpp"

namespace mann {

/// Inverted dropout: in training each entry is kept with probability 1 − rate and scaled by
/// 1 / (1 − rate), so the expectation is unchanged and evaluation is the identity.
/// The mask (0 or 1 / (1 − rate) per entry) lives in the cache; draws come from the caller's Rng,
/// one uniform per entry in column-major order, so a seed fixes the mask.
template <class Scalar = float>
class Dropout {
 public:
  using Mat = Matrix<Scalar>;
  using ConstRef = Eigen::Ref<const Mat>;

  struct Cache {
    Mat mask;              ///< same shape as x in training; unused at evaluation
    bool training = false;
  };

  Dropout() = default;
  /// \throws ValueError unless rate is in [0, 1).
  explicit Dropout(double rate) : rate_(rate) {
    check_value(rate >= 0 && rate < 1, "mann::Dropout", "rate", rate, "in [0, 1)");
  }

  double rate() const { return rate_; }

  /// Training: y = x ⊙ mask with a fresh mask; evaluation (training = false): y = x, rng unused.
  void forward(const ConstRef& x, Mat& y, Cache& cache, bool training, Rng& rng) const {
    cache.training = training;
    if (!training || rate_ == 0) {
      cache.training = false;
      y = x;
      return;
    }
    const Scalar scale = static_cast<Scalar>(1.0 / (1.0 - rate_));
    cache.mask.resize(x.rows(), x.cols());
    for (Index k = 0; k < cache.mask.size(); ++k)
      cache.mask.data()[k] = rng.uniform() < rate_ ? Scalar(0) : scale;
    y.resize(x.rows(), x.cols());
    y.array() = x.array() * cache.mask.array();
  }

  /// Overwrites dx with dy ⊙ mask (training) or dy (evaluation). \throws ShapeError if dy does not
  /// have the mask's shape.
  void backward(const Cache& cache, const ConstRef& dy, Mat& dx) const {
    if (!cache.training) {
      dx = dy;
      return;
    }
    check_shape(dy, cache.mask.rows(), cache.mask.cols(), "mann::Dropout::backward", "dy");
    dx.resize(dy.rows(), dy.cols());
    dx.array() = dy.array() * cache.mask.array();
  }

 private:
  double rate_ = 0.5;
};

}  // namespace mann
