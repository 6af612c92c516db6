// mann/memory/slot_products.hpp: the products of one memory (N slots × W, column-major) with a few
// head vectors (H ≈ 4), written as loops over register-sized row chunks. At these sizes (128 × 40
// against 4 columns) Eigen's GEMM packs the memory for every product; these loops read the operands
// in place (1.15–1.7× faster here, docs/results.md) and compile to vector FMAs with -O2/-O3.
#pragma once

#include <algorithm>

#include "mann/core/error.hpp"
#include "mann/core/types.hpp"

namespace mann {
namespace detail {

// Rows per chunk: two 64-byte vectors of Scalar, kept in registers across the inner loop.
template <class Scalar>
constexpr Index slot_chunk_rows = 128 / static_cast<Index>(sizeof(Scalar));

// A chunk of R rows held in registers: Eigen's fixed-size arrays map onto whole SIMD vectors.
template <class Scalar>
using SlotChunk = Eigen::Array<Scalar, slot_chunk_rows<Scalar>, 1>;

template <class Scalar>
inline Eigen::Map<const SlotChunk<Scalar>> chunk_at(const Scalar* p) {
  return Eigen::Map<const SlotChunk<Scalar>>(p);
}

template <class Scalar>
inline Eigen::Map<SlotChunk<Scalar>> chunk_at(Scalar* p) {
  return Eigen::Map<SlotChunk<Scalar>>(p);
}

}  // namespace detail

/// out += a · b for a N × K (the tall operand, e.g. the memory), b K × H, out N × H. Four output
/// columns at a time, so eight independent FMA chains hide the FMA latency.
template <class Scalar>
void add_slot_product(const Eigen::Ref<const Matrix<Scalar>>& a, const Eigen::Ref<const Matrix<Scalar>>& b,
                      Eigen::Ref<Matrix<Scalar>> out) {
  MANN_ASSERT(a.cols() == b.rows() && out.rows() == a.rows() && out.cols() == b.cols());
  using Chunk = detail::SlotChunk<Scalar>;
  constexpr Index R = detail::slot_chunk_rows<Scalar>;
  const Index N = a.rows(), K = a.cols(), H = b.cols(), full = N - N % R;
  for (Index i0 = 0; i0 < full; i0 += R) {
    Index h = 0;
    for (; h + 4 <= H; h += 4) {
      Chunk acc0 = detail::chunk_at(out.col(h).data() + i0), acc1 = detail::chunk_at(out.col(h + 1).data() + i0);
      Chunk acc2 = detail::chunk_at(out.col(h + 2).data() + i0), acc3 = detail::chunk_at(out.col(h + 3).data() + i0);
      for (Index k = 0; k < K; ++k) {
        const Chunk x = detail::chunk_at(a.col(k).data() + i0);
        acc0 += b(k, h) * x;
        acc1 += b(k, h + 1) * x;
        acc2 += b(k, h + 2) * x;
        acc3 += b(k, h + 3) * x;
      }
      detail::chunk_at(out.col(h).data() + i0) = acc0;
      detail::chunk_at(out.col(h + 1).data() + i0) = acc1;
      detail::chunk_at(out.col(h + 2).data() + i0) = acc2;
      detail::chunk_at(out.col(h + 3).data() + i0) = acc3;
    }
    for (; h < H; ++h) {
      Chunk acc = detail::chunk_at(out.col(h).data() + i0);
      for (Index k = 0; k < K; ++k) acc += b(k, h) * detail::chunk_at(a.col(k).data() + i0);
      detail::chunk_at(out.col(h).data() + i0) = acc;
    }
  }
  if (full < N) out.bottomRows(N - full).noalias() += a.bottomRows(N - full) * b;
}

/// out += aᵀ · b for a N × K, b N × H, out K × H: K · H dot products over the N slots, four at a
/// time so that each chunk of a is loaded once for four heads.
template <class Scalar>
void add_slot_transpose_product(const Eigen::Ref<const Matrix<Scalar>>& a, const Eigen::Ref<const Matrix<Scalar>>& b,
                                Eigen::Ref<Matrix<Scalar>> out) {
  MANN_ASSERT(a.rows() == b.rows() && out.rows() == a.cols() && out.cols() == b.cols());
  using Chunk = detail::SlotChunk<Scalar>;
  constexpr Index R = detail::slot_chunk_rows<Scalar>;
  const Index N = a.rows(), K = a.cols(), H = b.cols(), full = N - N % R;
  for (Index k = 0; k < K; ++k) {
    Index h = 0;
    for (; h + 4 <= H; h += 4) {
      Chunk acc0 = Chunk::Zero(), acc1 = Chunk::Zero(), acc2 = Chunk::Zero(), acc3 = Chunk::Zero();
      for (Index i0 = 0; i0 < full; i0 += R) {
        const Chunk x = detail::chunk_at(a.col(k).data() + i0);
        acc0 += x * detail::chunk_at(b.col(h).data() + i0);
        acc1 += x * detail::chunk_at(b.col(h + 1).data() + i0);
        acc2 += x * detail::chunk_at(b.col(h + 2).data() + i0);
        acc3 += x * detail::chunk_at(b.col(h + 3).data() + i0);
      }
      out(k, h) += acc0.sum();
      out(k, h + 1) += acc1.sum();
      out(k, h + 2) += acc2.sum();
      out(k, h + 3) += acc3.sum();
    }
    for (; h < H; ++h) {
      Chunk acc = Chunk::Zero();
      for (Index i0 = 0; i0 < full; i0 += R) {
        acc += detail::chunk_at(a.col(k).data() + i0) * detail::chunk_at(b.col(h).data() + i0);
      }
      out(k, h) += acc.sum();
    }
  }
  if (full < N) out.noalias() += a.bottomRows(N - full).transpose() * b.bottomRows(N - full);
}

/// out += a · bᵀ for a N × H, b K × H, out N × K: a rank-H update of the memory.
template <class Scalar>
void add_slot_outer_product(const Eigen::Ref<const Matrix<Scalar>>& a, const Eigen::Ref<const Matrix<Scalar>>& b,
                            Eigen::Ref<Matrix<Scalar>> out) {
  MANN_ASSERT(a.cols() == b.cols() && out.rows() == a.rows() && out.cols() == b.rows());
  using Chunk = detail::SlotChunk<Scalar>;
  constexpr Index R = detail::slot_chunk_rows<Scalar>;
  const Index N = a.rows(), K = b.rows(), H = a.cols(), full = N - N % R;
  for (Index i0 = 0; i0 < full; i0 += R) {
    Index h = 0;
    for (; h + 4 <= H; h += 4) {  // four columns of a held in registers across all of out's columns
      const Chunk x0 = detail::chunk_at(a.col(h).data() + i0), x1 = detail::chunk_at(a.col(h + 1).data() + i0);
      const Chunk x2 = detail::chunk_at(a.col(h + 2).data() + i0), x3 = detail::chunk_at(a.col(h + 3).data() + i0);
      for (Index k = 0; k < K; ++k) {
        const Chunk sum = (b(k, h) * x0 + b(k, h + 1) * x1) + (b(k, h + 2) * x2 + b(k, h + 3) * x3);
        detail::chunk_at(out.col(k).data() + i0) += sum;
      }
    }
    for (; h < H; ++h) {
      const Chunk x = detail::chunk_at(a.col(h).data() + i0);
      for (Index k = 0; k < K; ++k) {
        detail::chunk_at(out.col(k).data() + i0) += b(k, h) * x;
      }
    }
  }
  if (full < N) out.bottomRows(N - full).noalias() += a.bottomRows(N - full) * b.transpose();
}

}  // namespace mann
