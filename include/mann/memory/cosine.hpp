// mann/memory/cosine.hpp: cosine content addressing (Santoro et al. eqs 2–4, 17–19) for one batch
// element, forward and backward: similarity K(k, M(i)) = k·M(i) / (‖k‖ ‖M(i)‖), read weights
// softmax_i K, read vectors r = Σ_i w(i) M(i).
#pragma once

#include "mann/core/types.hpp"
#include "mann/memory/slot_products.hpp"

namespace mann {

/// NOTE: norms are ‖v‖_ε = √(‖v‖² + ε) — the ε sits inside the square root, so a zeroed memory row
/// has similarity 0 (not NaN) and a finite gradient.
template <class Scalar>
struct CosineAddressing {
  using Mat = Matrix<Scalar>;
  using MapMat = Eigen::Ref<Mat>;
  using ConstMat = Eigen::Ref<const Mat>;

  Scalar epsilon = Scalar(1e-6);

  /// memory N × W, keys W × H → similarity N × H, memory_norm N × 1, key_norm H × 1. eq. 2
  void similarity(const ConstMat& memory, const ConstMat& keys, MapMat similarity, MapMat memory_norm,
                  MapMat key_norm) const {
    memory_norm = (memory.rowwise().squaredNorm().array() + epsilon).sqrt().matrix();
    key_norm = (keys.colwise().squaredNorm().transpose().array() + epsilon).sqrt().matrix();
    similarity.setZero();
    add_slot_product<Scalar>(memory, keys, similarity);
    similarity.array().colwise() /= memory_norm.col(0).array();
    similarity.array().rowwise() /= key_norm.col(0).transpose().array();
  }

  /// Backward of similarity: given dL/dS (N × H, overwritten as workspace), adds dL/dM into
  /// d_memory and dL/dk into d_keys. Workspace: scratch_n exactly N × 1, scratch_h exactly H × 1.
  void similarity_backward(const ConstMat& memory, const ConstMat& keys, const ConstMat& similarity,
                           const ConstMat& memory_norm, const ConstMat& key_norm, MapMat d_similarity,
                           MapMat d_memory, MapMat d_keys, MapMat scratch_n, MapMat scratch_h) const {
    // S = D / (m kᵀ) with D = M K: d‖M(i)‖ = −Σ_h dS S / ‖M(i)‖, d‖k_h‖ = −Σ_i dS S / ‖k_h‖.
    scratch_n = -(d_similarity.array() * similarity.array()).rowwise().sum().matrix();
    scratch_n.array() /= memory_norm.array().square();  // d‖M(i)‖ / ‖M(i)‖
    scratch_h = -(d_similarity.array() * similarity.array()).colwise().sum().transpose().matrix();
    scratch_h.array() /= key_norm.array().square();  // d‖k_h‖ / ‖k_h‖
    d_memory += scratch_n.col(0).asDiagonal() * memory;
    d_keys += keys * scratch_h.col(0).asDiagonal();
    // dD = dS / (m kᵀ), then D = M K.
    d_similarity.array().colwise() /= memory_norm.col(0).array();
    d_similarity.array().rowwise() /= key_norm.col(0).transpose().array();
    add_slot_outer_product<Scalar>(d_similarity, keys, d_memory);
    add_slot_transpose_product<Scalar>(memory, d_similarity, d_keys);
  }
};

/// Column-wise softmax of scores N × H into weights (eq. 3), and its backward: given dL/dw,
/// overwrites d_scores with dL/dscores = w ⊙ (dw − ⟨w, dw⟩).
template <class Scalar>
void softmax_weights_backward(const Eigen::Ref<const Matrix<Scalar>>& weights,
                              const Eigen::Ref<const Matrix<Scalar>>& d_weights, Eigen::Ref<Matrix<Scalar>> d_scores) {
  for (Index h = 0; h < weights.cols(); ++h) {
    const Scalar inner = weights.col(h).dot(d_weights.col(h));
    d_scores.col(h).array() = weights.col(h).array() * (d_weights.col(h).array() - inner);
  }
}

}  // namespace mann
