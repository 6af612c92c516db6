// mann/nn/conv2d.hpp: 3 × 3 convolution, "same" zero padding, stride 1, batch as columns (im2col + GEMM).
#pragma once

#include <algorithm>
#include <cmath>
#include <string>

#include "mann/core/error.hpp"
#include "mann/core/init.hpp"
#include "mann/core/parameter.hpp"

namespace mann {

/// Image layout used by Conv2d, MaxPool2d and the ConvNet: a batch of images is a matrix of
/// (C·H·W) × B, one image per column; inside a column the entries are channel-major, then
/// row-major: pixel (c, y, x) is at row c·H·W + y·W + x. A 28 × 28 grey image flattened row by row
/// is already in this layout (C = 1), and so is the flatten that feeds a Linear layer.
///
/// 3 × 3 convolution (cross-correlation, as every deep-learning library), zero "same" padding,
/// stride 1: y[o, y, x] = b[o] + Σ_{c, dy, dx ∈ {−1,0,1}} W[o, c, dy, dx] · in[c, y+dy, x+dx].
/// Shapes: weight out_channels × (in_channels·9), column c·9 + (dy+1)·3 + (dx+1); bias
/// out_channels × 1; x (in_channels·H·W) × B; y (out_channels·H·W) × B.
///
/// Computation: per image, the patches matrix P (H·W × in_channels·9, im2col) times Wᵀ gives the
/// image's output as an (H·W) × out_channels matrix, which is exactly the output column in the
/// channel-major layout (no transposition). Backward recomputes P from the input instead of caching
/// it (the cache is the input, as for Linear), which keeps the workspace one image large.
template <class Scalar = float>
class Conv2d {
 public:
  using Mat = Matrix<Scalar>;
  using ConstRef = Eigen::Ref<const Mat>;
  using MapMat = Eigen::Map<Mat>;
  using ConstMapMat = Eigen::Map<const Mat>;
  static constexpr Index kKernel = 3;
  static constexpr Index kTaps = kKernel * kKernel;

  /// Scratch of one forward/backward; reuse it and nothing is allocated after the first call.
  /// One workspace per thread: forward() is const and may run concurrently with separate workspaces.
  struct Workspace {
    Mat patches;       ///< H·W × in_channels·9, im2col of one image
    Mat patches_grad;  ///< H·W × in_channels·9, dL/dP of one image
  };

  Parameter<Scalar> weight;
  Parameter<Scalar> bias;

  Conv2d() = default;

  /// He (Kaiming) normal weight, N(0, 2 / fan_in) with fan_in = in_channels·9 (He et al. 2015, the
  /// initialisation for ReLU networks); zero bias. \throws ValueError for a size < 1.
  Conv2d(Index in_channels, Index out_channels, Index height, Index width, Rng& rng)
      : in_channels_(in_channels), out_channels_(out_channels), height_(height), width_(width) {
    const char* where = "mann::Conv2d";
    check_value(in_channels > 0, where, "in_channels", in_channels, "> 0");
    check_value(out_channels > 0, where, "out_channels", out_channels, "> 0");
    check_value(height > 0, where, "height", height, "> 0");
    check_value(width > 0, where, "width", width, "> 0");
    weight.resize(out_channels, in_channels * kTaps);
    bias.resize(out_channels, 1);
    init_normal(weight.value, rng, std::sqrt(2.0 / static_cast<double>(in_channels * kTaps)));
  }

  Index in_channels() const { return in_channels_; }
  Index out_channels() const { return out_channels_; }
  Index height() const { return height_; }
  Index width() const { return width_; }
  Index input_size() const { return in_channels_ * height_ * width_; }
  Index output_size() const { return out_channels_ * height_ * width_; }
  /// Multiply-adds of one image's forward pass (the backward pass does twice as many).
  double multiply_adds_per_image() const {
    return static_cast<double>(height_ * width_) * static_cast<double>(out_channels_ * in_channels_ * kTaps);
  }

  /// y = conv(x) + b. \throws ShapeError unless x has input_size() rows.
  void forward(const ConstRef& x, Mat& y, Workspace& ws) const {
    check_shape(x, input_size(), -1, "mann::Conv2d::forward", "x (in_channels*height*width x batch)");
    const Index pixels = height_ * width_, batch = x.cols();
    y.resize(output_size(), batch);
    ws.patches.resize(pixels, in_channels_ * kTaps);
    for (Index b = 0; b < batch; ++b) {
      im2col(x.col(b).data(), ws.patches);
      MapMat out(y.col(b).data(), pixels, out_channels_);
      out.noalias() = ws.patches * weight.value.transpose();
      out.rowwise() += bias.value.col(0).transpose();
    }
  }

  /// Adds dL/dW = Σ_b dY_bᵀ P_b and dL/db = Σ_{b, pixels} dY into the gradients; overwrites *dx
  /// with dL/dx when dx is not null (col2im of dY_b W). Requires: x is the input given to forward,
  /// dy is output_size() × B.
  void backward(const ConstRef& x, const ConstRef& dy, Mat* dx, Workspace& ws) {
    MANN_ASSERT(x.rows() == input_size() && dy.rows() == output_size() && dy.cols() == x.cols());
    const Index pixels = height_ * width_, batch = x.cols();
    ws.patches.resize(pixels, in_channels_ * kTaps);
    if (dx != nullptr) {
      dx->resize(input_size(), batch);
      ws.patches_grad.resize(pixels, in_channels_ * kTaps);
    }
    for (Index b = 0; b < batch; ++b) {
      const ConstMapMat dout(dy.col(b).data(), pixels, out_channels_);
      im2col(x.col(b).data(), ws.patches);
      weight.grad.noalias() += dout.transpose() * ws.patches;
      bias.grad.col(0) += dout.colwise().sum().transpose();
      if (dx != nullptr) {
        ws.patches_grad.noalias() = dout * weight.value;
        col2im(ws.patches_grad, dx->col(b).data());
      }
    }
  }

  void parameters(ParameterList<Scalar>& list, const std::string& prefix = "") {
    add_parameter(list, prefix, "weight", weight);
    add_parameter(list, prefix, "bias", bias);
  }

  /// im2col of one image: P(y·W + x, c·9 + (dy+1)·3 + (dx+1)) = in[c, y+dy, x+dx], 0 outside the
  /// image. `patches` points at P(0, 0) of a column-major H·W × in_channels·9 block whose columns
  /// are `column_stride` apart (>= H·W), so several images can be stacked in one matrix.
  void im2col(const Scalar* image, Scalar* patches, Index column_stride) const {
    MANN_ASSERT(column_stride >= height_ * width_);
    // column by column, each a shifted copy of one channel, row segment by row segment
    for (Index c = 0; c < in_channels_; ++c) {
      const Scalar* channel = image + c * height_ * width_;
      for (Index tap = 0; tap < kTaps; ++tap) {
        const Index dy = tap / kKernel - 1, dx = tap % kKernel - 1;
        Scalar* column = patches + (c * kTaps + tap) * column_stride;
        const Index x0 = std::max<Index>(0, -dx), x1 = std::min(width_, width_ - dx);  // valid x range
        for (Index row = 0; row < height_; ++row) {
          Scalar* out = column + row * width_;
          const Index source_row = row + dy;
          if (source_row < 0 || source_row >= height_) {
            std::fill(out, out + width_, Scalar(0));
            continue;
          }
          const Scalar* in = channel + source_row * width_ + (x0 + dx);
          std::fill(out, out + x0, Scalar(0));
          std::copy(in, in + (x1 - x0), out + x0);
          std::fill(out + x1, out + width_, Scalar(0));
        }
      }
    }
  }

 private:
  void im2col(const Scalar* image, Mat& patches) const { im2col(image, patches.data(), patches.rows()); }

  // The adjoint of im2col: image[c, y+dy, x+dx] = Σ over the patch entries that copied it.
  void col2im(const Mat& patches_grad, Scalar* image) const {
    std::fill(image, image + input_size(), Scalar(0));
    for (Index c = 0; c < in_channels_; ++c) {
      Scalar* channel = image + c * height_ * width_;
      for (Index tap = 0; tap < kTaps; ++tap) {
        const Index dy = tap / kKernel - 1, dx = tap % kKernel - 1;
        const Scalar* column = patches_grad.col(c * kTaps + tap).data();
        const Index x0 = std::max<Index>(0, -dx), x1 = std::min(width_, width_ - dx);
        for (Index row = std::max<Index>(0, -dy); row < std::min(height_, height_ - dy); ++row) {
          const Scalar* in = column + row * width_ + x0;
          Scalar* out = channel + (row + dy) * width_ + (x0 + dx);
          for (Index x = 0; x < x1 - x0; ++x) out[x] += in[x];
        }
      }
    }
  }

  Index in_channels_ = 0, out_channels_ = 0, height_ = 0, width_ = 0;
};

}  // namespace mann
