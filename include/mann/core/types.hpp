// mann/core/types.hpp: Scalar-templated Eigen aliases. A batch is a matrix whose columns are samples.
#pragma once

#include <Eigen/Dense>

namespace mann {

using Index = Eigen::Index;

/// Dense column-major matrix; a batch is features × batch, one sample per column.
template <class Scalar>
using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;

/// Dense column vector.
template <class Scalar>
using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

/// Dense row vector.
template <class Scalar>
using RowVector = Eigen::Matrix<Scalar, 1, Eigen::Dynamic>;

using MatrixF = Matrix<float>;
using MatrixD = Matrix<double>;

}  // namespace mann
