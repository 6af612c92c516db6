// mann/nn/max_pool2d.hpp: 2 × 2 max-pooling with stride 2, batch as columns.
#pragma once

#include <cstdint>

#include "mann/core/error.hpp"
#include "mann/core/types.hpp"

namespace mann {

/// 2 × 2 max-pooling, stride 2, per channel, on the image layout of Conv2d ((C·H·W) × B,
/// channel-major then row-major). Output (C·⌊H/2⌋·⌊W/2⌋) × B in the same layout.
///
/// Odd sizes: the last row (odd H) and the last column (odd W) are dropped ("floor", as the
/// default of PyTorch and TensorFlow's VALID); they receive a zero gradient. H or W = 1 is refused.
/// Ties: the first maximum in the window's row-major order wins and takes the whole gradient.
/// The cache records each output's argmax (its row in the input column).
template <class Scalar = float>
class MaxPool2d {
 public:
  using Mat = Matrix<Scalar>;
  using ConstRef = Eigen::Ref<const Mat>;
  using ArgmaxMatrix = Eigen::Matrix<std::int32_t, Eigen::Dynamic, Eigen::Dynamic>;

  struct Cache {
    ArgmaxMatrix argmax;  ///< output_size() × B: the input row of each output's maximum
  };

  MaxPool2d() = default;

  /// \throws ValueError for channels < 1, height or width < 2.
  MaxPool2d(Index channels, Index height, Index width) : channels_(channels), height_(height), width_(width) {
    const char* where = "mann::MaxPool2d";
    check_value(channels > 0, where, "channels", channels, "> 0");
    check_value(height >= 2, where, "height", height, ">= 2");
    check_value(width >= 2, where, "width", width, ">= 2");
    check_value(channels * height * width <= Index(INT32_MAX), where, "channels*height*width",
                channels * height * width, "< 2^31");
  }

  Index channels() const { return channels_; }
  Index height() const { return height_; }
  Index width() const { return width_; }
  Index output_height() const { return height_ / 2; }
  Index output_width() const { return width_ / 2; }
  Index input_size() const { return channels_ * height_ * width_; }
  Index output_size() const { return channels_ * output_height() * output_width(); }

  /// y = max over each 2 × 2 window; records the argmax. \throws ShapeError unless x has
  /// input_size() rows.
  void forward(const ConstRef& x, Mat& y, Cache& cache) const {
    check_shape(x, input_size(), -1, "mann::MaxPool2d::forward", "x (channels*height*width x batch)");
    const Index batch = x.cols(), oh = output_height(), ow = output_width();
    y.resize(output_size(), batch);
    cache.argmax.resize(output_size(), batch);
    for (Index b = 0; b < batch; ++b) {
      const Scalar* in = x.col(b).data();
      Index o = 0;
      for (Index c = 0; c < channels_; ++c) {
        for (Index oy = 0; oy < oh; ++oy) {
          const Index top = c * height_ * width_ + 2 * oy * width_;
          for (Index ox = 0; ox < ow; ++ox, ++o) {
            const Index corner = top + 2 * ox;
            Index best = corner;
            for (const Index i : {corner + 1, corner + width_, corner + width_ + 1})
              if (in[i] > in[best]) best = i;
            y(o, b) = in[best];
            cache.argmax(o, b) = static_cast<std::int32_t>(best);
          }
        }
      }
    }
  }

  /// Overwrites dx with the gradient routed to each window's argmax (zero elsewhere).
  /// Requires: cache from forward, dy output_size() × B.
  void backward(const Cache& cache, const ConstRef& dy, Mat& dx) const {
    MANN_ASSERT(dy.rows() == output_size() && dy.cols() == cache.argmax.cols());
    dx.setZero(input_size(), dy.cols());
    for (Index b = 0; b < dy.cols(); ++b)
      for (Index o = 0; o < dy.rows(); ++o) dx(cache.argmax(o, b), b) = dy(o, b);
  }

 private:
  Index channels_ = 0, height_ = 0, width_ = 0;
};

}  // namespace mann
