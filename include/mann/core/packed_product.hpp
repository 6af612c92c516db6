// mann/core/packed_product.hpp: a matrix packed once into the panel layout of Eigen's matrix-product
// kernel, for many products with thin right-hand sides (a recurrent net's per-step W · h). Eigen's
// `A * X` packs both operands on every call; with an 800 × 360 weight block against 8–16 columns the
// packing of A costs about as much as the multiplication (perf: 21% of a 2-thread MANN training
// step), and a training run repeats it at every time step with the same weights.
//
// The `eigen_gebp` kernel calls Eigen 3.4's own packing routines and block-panel kernel
// (Eigen/src/Core/products/GeneralBlockPanelKernel.h, namespace Eigen::internal) once per pack() and
// once per product. Those are internal to Eigen, so they are used only with the Eigen version they
// were written against (3.4.x); elsewhere, or with MANN_PLAIN_PRODUCTS defined, `plain` (an ordinary
// Eigen product with a copy of the matrix) is the only kernel.
#pragma once

#include <Eigen/Core>

#include "mann/core/error.hpp"
#include "mann/core/types.hpp"

#if EIGEN_VERSION_AT_LEAST(3, 4, 0) && !EIGEN_VERSION_AT_LEAST(3, 4, 90) && !defined(MANN_PLAIN_PRODUCTS)
#define MANN_HAS_EIGEN_GEBP 1
#else
#define MANN_HAS_EIGEN_GEBP 0
#endif

namespace mann {

/// How PackedMatrix multiplies: `eigen_gebp` (pre-packed, Eigen's kernel; when available) or
/// `plain` (an ordinary product; always available, the reference the tests compare with).
enum class PackedKernel { eigen_gebp, plain };

/// The best kernel this build has.
constexpr PackedKernel best_packed_kernel() { return MANN_HAS_EIGEN_GEBP ? PackedKernel::eigen_gebp : PackedKernel::plain; }

/// A (rows × cols), or the transpose of a given matrix, prepared once for out += A · X.
/// Same value as Eigen's product up to the order of floating-point sums. Not thread-safe (each
/// thread keeps its own: multiply_add uses a workspace); allocates only when a size grows.
template <class Scalar>
class PackedMatrix {
 public:
  using Mat = Matrix<Scalar>;
  using ConstRef = Eigen::Ref<const Mat, 0, Eigen::OuterStride<>>;
  using Ref = Eigen::Ref<Mat, 0, Eigen::OuterStride<>>;

  explicit PackedMatrix(PackedKernel kernel = best_packed_kernel()) : kernel_(kernel) {
    check_value(kernel == PackedKernel::plain || MANN_HAS_EIGEN_GEBP, "mann::PackedMatrix", "kernel", "eigen_gebp",
                "plain (this build has no Eigen 3.4 block-panel kernel)");
  }

  PackedKernel kernel() const { return kernel_; }
  Index rows() const { return rows_; }
  Index cols() const { return cols_; }

  /// A = a, or A = aᵀ when `transpose`.
  void pack(const ConstRef& a, bool transpose = false) {
    rows_ = transpose ? a.cols() : a.rows();
    cols_ = transpose ? a.rows() : a.cols();
    if (kernel_ == PackedKernel::plain || rows_ == 0 || cols_ == 0) {
      if (transpose) {
        packed_ = a.transpose();
      } else {
        packed_ = a;
      }
      return;
    }
#if MANN_HAS_EIGEN_GEBP
    packed_.resize(rows_ * cols_, 1);
    if (transpose) {  // aᵀ is a row-major view of a
      pack_lhs<Eigen::RowMajor>(a.data(), a.outerStride());
    } else {
      pack_lhs<Eigen::ColMajor>(a.data(), a.outerStride());
    }
#endif
  }

  /// out += A · x (x: cols() × n, out: rows() × n; columns may have any outer stride).
  void multiply_add(const ConstRef& x, Ref out) {
    MANN_ASSERT(x.rows() == cols_ && out.rows() == rows_ && out.cols() == x.cols());
    if (kernel_ == PackedKernel::plain || rows_ == 0 || cols_ == 0 || x.cols() == 0) {
      out.noalias() += packed_ * x;
      return;
    }
#if MANN_HAS_EIGEN_GEBP
    using namespace Eigen::internal;
    using Traits = gebp_traits<Scalar, Scalar>;
    using RhsMapper = const_blas_data_mapper<Scalar, Index, Eigen::ColMajor>;
    using ResMapper = blas_data_mapper<Scalar, Index, Eigen::ColMajor, Eigen::Unaligned, 1>;
    const Index n = x.cols();
    if (packed_rhs_.size() < cols_ * n) packed_rhs_.resize(cols_ * n, 1);
    gemm_pack_rhs<Scalar, Index, RhsMapper, Traits::nr, Eigen::ColMajor> pack_rhs;
    pack_rhs(packed_rhs_.data(), RhsMapper(x.data(), x.outerStride()), cols_, n);
    gebp_kernel<Scalar, Scalar, Index, ResMapper, Traits::mr, Traits::nr, false, false> gebp;
    gebp(ResMapper(out.data(), out.outerStride()), packed_.data(), packed_rhs_.data(), rows_, cols_, n, Scalar(1));
#endif
  }

 private:
#if MANN_HAS_EIGEN_GEBP
  // The whole matrix as one block (depth cols_, rows_ rows), in the panel order gebp_kernel reads.
  template <int StorageOrder>
  void pack_lhs(const Scalar* data, Index stride) {
    using namespace Eigen::internal;
    using Traits = gebp_traits<Scalar, Scalar>;
    using LhsMapper = const_blas_data_mapper<Scalar, Index, StorageOrder>;
    gemm_pack_lhs<Scalar, Index, LhsMapper, Traits::mr, Traits::LhsProgress, typename Traits::LhsPacket4Packing,
                  StorageOrder>
        pack;
    pack(packed_.data(), LhsMapper(data, stride), cols_, rows_);
  }
#endif

  PackedKernel kernel_;
  Index rows_ = 0, cols_ = 0;
  Mat packed_;      // eigen_gebp: rows_ · cols_ scalars in panel order; plain: A itself
  Mat packed_rhs_;  // eigen_gebp: the packed right-hand side of the current product
};

}  // namespace mann
