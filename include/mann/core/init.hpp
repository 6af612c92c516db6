// mann/core/init.hpp: weight initialisers (Glorot uniform, orthogonal, uniform, normal, truncated normal).
#pragma once

#include <algorithm>
#include <cmath>

#include "mann/core/random.hpp"
#include "mann/core/types.hpp"

namespace mann {

/// Fills `m` uniformly in [low, high).
template <class Scalar>
void init_uniform(Matrix<Scalar>& m, Rng& rng, double low, double high) {
  for (Index j = 0; j < m.cols(); ++j)
    for (Index i = 0; i < m.rows(); ++i) m(i, j) = static_cast<Scalar>(rng.uniform(low, high));
}

/// Fills `m` from N(0, stddev²).
template <class Scalar>
void init_normal(Matrix<Scalar>& m, Rng& rng, double stddev) {
  for (Index j = 0; j < m.cols(); ++j)
    for (Index i = 0; i < m.rows(); ++i) m(i, j) = static_cast<Scalar>(rng.normal() * stddev);
}

/// Fills `m` from N(0, stddev²) truncated at ±2·stddev (a draw beyond is drawn again): the
/// initialiser of Kaiser et al.'s released code (TensorFlow's truncated_normal_initializer).
template <class Scalar>
void init_truncated_normal(Matrix<Scalar>& m, Rng& rng, double stddev) {
  for (Index j = 0; j < m.cols(); ++j) {
    for (Index i = 0; i < m.rows(); ++i) {
      double z = rng.normal();
      while (std::abs(z) > 2.0) z = rng.normal();
      m(i, j) = static_cast<Scalar>(z * stddev);
    }
  }
}

/// Glorot & Bengio (2010) uniform: U(±sqrt(6 / (fan_in + fan_out))), fan_in = cols, fan_out = rows.
template <class Scalar>
void init_glorot_uniform(Matrix<Scalar>& m, Rng& rng) {
  const double limit = std::sqrt(6.0 / static_cast<double>(m.rows() + m.cols()));
  init_uniform(m, rng, -limit, limit);
}

/// Orthogonal initialisation (Saxe et al. 2014): the Q of a Gaussian matrix's QR decomposition,
/// sign-corrected so the distribution is uniform; rows or columns orthonormal, whichever fit.
template <class Scalar>
void init_orthogonal(Matrix<Scalar>& m, Rng& rng, double gain = 1.0) {
  const Index rows = m.rows(), cols = m.cols();
  const Index big = std::max(rows, cols), small = std::min(rows, cols);
  MatrixD gaussian(big, small);
  init_normal(gaussian, rng, 1.0);
  Eigen::HouseholderQR<MatrixD> qr(gaussian);
  MatrixD q = qr.householderQ() * MatrixD::Identity(big, small);
  const MatrixD r = qr.matrixQR();
  for (Index k = 0; k < small; ++k)
    if (r(k, k) < 0) q.col(k) = -q.col(k);
  if (rows >= cols) {
    m = (gain * q).template cast<Scalar>();
  } else {
    m = (gain * q.transpose()).template cast<Scalar>();
  }
}

}  // namespace mann
