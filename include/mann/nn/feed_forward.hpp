// mann/nn/feed_forward.hpp: a multi-layer perceptron usable wherever an Lstm controller is (same
// step interface, no recurrent state).
#pragma once

#include <string>
#include <vector>

#include "mann/core/activations.hpp"
#include "mann/core/error.hpp"
#include "mann/nn/linear.hpp"

namespace mann {

enum class Activation { tanh, relu, sigmoid };

/// MLP h = act(W_L … act(W_1 x + b_1) … + b_L): every layer, the last included, applies the
/// activation, so the output is bounded like an LSTM's for tanh.
template <class Scalar = float>
class FeedForward {
 public:
  using Mat = Matrix<Scalar>;
  using ConstRef = Eigen::Ref<const Mat>;

  /// One step's cache: each layer's input, then the output `h`.
  struct Step {
    std::vector<Mat> inputs;  ///< inputs[l] is layer l's input
    Mat h;                    ///< the output, widths.back() × B
  };
  /// Backward workspace (a feed-forward net carries nothing across time).
  struct Carry {
    Mat delta, delta_prev;
  };

  FeedForward() = default;

  /// widths: the hidden/output widths, e.g. {200} or {256, 200}. \throws ValueError on empty or < 1.
  FeedForward(Index input_size, const std::vector<Index>& widths, Rng& rng,
              Activation activation = Activation::tanh)
      : activation_(activation) {
    check_value(!widths.empty(), "mann::FeedForward", "widths.size()", widths.size(), ">= 1");
    Index in = input_size;
    for (Index w : widths) {
      layers_.emplace_back(in, w, rng);
      in = w;
    }
  }

  Index input_size() const { return layers_.front().input_size(); }
  Index output_size() const { return layers_.back().output_size(); }
  Activation activation() const { return activation_; }

  void resize_step(Step& s, Index batch) const {
    s.inputs.resize(layers_.size());
    for (std::size_t l = 0; l < layers_.size(); ++l) s.inputs[l].resize(layers_[l].input_size(), batch);
    s.h.resize(output_size(), batch);
  }
  void reset_carry(Carry& carry, Index batch) const {
    carry.delta.resize(output_size(), batch);
  }

  /// Forward; `prev` is ignored (present so FeedForward and Lstm are interchangeable controllers).
  void forward_step(const ConstRef& x, const Step* /*prev*/, Step& cur) const {
    check_shape(x, input_size(), -1, "mann::FeedForward::forward_step", "x");
    if (cur.inputs.size() != layers_.size() || cur.h.cols() != x.cols()) resize_step(cur, x.cols());
    cur.inputs[0] = x;
    for (std::size_t l = 0; l < layers_.size(); ++l) {
      Mat& out = l + 1 < layers_.size() ? cur.inputs[l + 1] : cur.h;
      layers_[l].forward(cur.inputs[l], out);
      apply_activation(out);
    }
  }

  /// Backward: dh_out = dL/dh; overwrites dx with dL/dx, adds to the layers' gradients.
  void backward_step(const Step& cur, const ConstRef& dh_out, Carry& carry, Mat& dx) {
    carry.delta = dh_out;
    for (std::size_t l = layers_.size(); l-- > 0;) {
      const Mat& out = l + 1 < layers_.size() ? cur.inputs[l + 1] : cur.h;
      activation_backward(out, carry.delta);
      Mat& target = l == 0 ? dx : carry.delta_prev;
      layers_[l].backward(cur.inputs[l], carry.delta, &target);
      if (l > 0) carry.delta.swap(carry.delta_prev);
    }
  }

  void parameters(ParameterList<Scalar>& list, const std::string& prefix = "") {
    for (std::size_t l = 0; l < layers_.size(); ++l) {
      layers_[l].parameters(list, (prefix.empty() ? "" : prefix + ".") + "layer" + std::to_string(l));
    }
  }

 private:
  void apply_activation(Mat& y) const {
    switch (activation_) {
      case Activation::tanh: y.array() = y.array().tanh(); break;
      case Activation::relu: y.array() = y.array().max(Scalar(0)); break;
      case Activation::sigmoid: y = y.unaryExpr([](Scalar v) { return sigmoid(v); }); break;
    }
  }
  // delta ← delta ⊙ act'(pre), written with the activation's output y.
  void activation_backward(const Mat& y, Mat& delta) const {
    switch (activation_) {
      case Activation::tanh: delta.array() *= Scalar(1) - y.array().square(); break;
      case Activation::relu: delta.array() *= (y.array() > Scalar(0)).template cast<Scalar>(); break;
      case Activation::sigmoid: delta.array() *= y.array() * (Scalar(1) - y.array()); break;
    }
  }

  std::vector<Linear<Scalar>> layers_;
  Activation activation_ = Activation::tanh;
};

}  // namespace mann
