// mann/core/activations.hpp: numerically stable sigmoid, tanh, softplus, softmax, log-softmax
// (column-wise: each column is one sample).
#pragma once

#include <cmath>

#include "mann/core/types.hpp"

namespace mann {

/// NOTE: branch on the sign so exp never overflows.
template <class Scalar>
inline Scalar sigmoid(Scalar x) {
  if (x >= Scalar(0)) {
    const Scalar e = std::exp(-x);
    return Scalar(1) / (Scalar(1) + e);
  }
  const Scalar e = std::exp(x);
  return e / (Scalar(1) + e);
}

/// log(1 + e^x) without overflow.
template <class Scalar>
inline Scalar softplus(Scalar x) {
  return x > Scalar(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}

/// out = sigmoid(in), element-wise.
template <class In, class Out>
void sigmoid_inplace(const Eigen::MatrixBase<In>& in, Eigen::MatrixBase<Out> const& out_) {
  auto& out = const_cast<Eigen::MatrixBase<Out>&>(out_);
  using Scalar = typename Out::Scalar;
  out = in.unaryExpr([](Scalar x) { return sigmoid(x); });
}

/// Column-wise softmax: out.col(j) = exp(in.col(j) - max) / Σ exp(in.col(j) - max).
template <class In, class Out>
void softmax_columns(const Eigen::MatrixBase<In>& in, Eigen::MatrixBase<Out> const& out_) {
  auto& out = const_cast<Eigen::MatrixBase<Out>&>(out_);
  for (Index j = 0; j < in.cols(); ++j) {
    const auto max = in.col(j).maxCoeff();
    out.col(j) = (in.col(j).array() - max).exp().matrix();
    out.col(j) /= out.col(j).sum();
  }
}

/// Column-wise log-softmax: in - max - log Σ exp(in - max).
template <class In, class Out>
void log_softmax_columns(const Eigen::MatrixBase<In>& in, Eigen::MatrixBase<Out> const& out_) {
  auto& out = const_cast<Eigen::MatrixBase<Out>&>(out_);
  for (Index j = 0; j < in.cols(); ++j) {
    const auto max = in.col(j).maxCoeff();
    const auto log_sum = std::log((in.col(j).array() - max).exp().sum());
    out.col(j) = (in.col(j).array() - max - log_sum).matrix();
  }
}

}  // namespace mann
