// mann/memory/ntm_head.hpp: the Neural Turing Machine memory access of Graves et al. 2014
// (arXiv:1410.5401 §3), the baseline "MANN (LSTM, NTM access)" of Santoro et al. Table 2: every
// head is addressed by content, interpolated with its previous weights, shifted circularly and
// sharpened (Graves eqs 5–9); write heads erase and add (eqs 3–4); read heads read weighted sums
// (eq. 2). Same interface as LruaHead, so Mann<Scalar, Controller, NtmHead<Scalar>> works unchanged.
#pragma once

#include <cmath>
#include <charconv>
#include <map>
#include <string>
#include <vector>

#include "mann/core/activations.hpp"
#include "mann/core/error.hpp"
#include "mann/memory/cosine.hpp"

namespace mann {

/// NTM memory access with H read heads and E write heads over a memory of N slots of width W per
/// batch element. Every head a has its own addressing (Graves §3.3), from its previous weights:
///   w_c(i) = exp(β K(k, M(i))) / Σ_j exp(β K(k, M(j)))         eq. 5, K the cosine of eq. 6
///   w_g    = g w_c + (1 − g) w_{t−1}                             eq. 7
///   w̃(i)   = Σ_j w_g(j) s((i − j) mod N),  shifts −1, 0, +1       eq. 8 (circular)
///   w(i)   = (w̃(i) + δ)^γ / Σ_j (w̃(j) + δ)^γ                     eq. 9
/// with β = softplus(β̂) ≥ 0, g = σ(ĝ), s = softmax of 3 logits, γ = 1 + softplus(γ̂) ≥ 1.
/// One step, per batch element, in LRUA's order (SPEC §1):
///   1. the write heads address M_{t−1} (with their weights of step t−1),
///   2. M_t(i) = M_{t−1}(i) ⊙ Π_e (1 − w_e(i) e_e) + Σ_e w_e(i) a_e     eqs 3–4 (Graves' form for
///      several write heads: all erasures, then all adds; with E = 1 exactly eqs 3–4),
///   3. the read heads address M_t (with their weights of step t−1),
///   4. r_h = Σ_i w_h(i) M_t(i)                                           eq. 2.
/// The erase vector is e = σ(ê) ∈ (0, 1)^W; the add vector a is linear (no squashing), like
/// LRUA's written key.
/// NOTE: δ (Options::sharpen_epsilon, 1e-12) keeps w̃ + δ > 0, so the power and its gradient
/// (which divides by w̃ + δ) stay finite when w̃(i) underflows to 0. Eq. 9 is evaluated as
/// softmax_i(γ log(w̃(i) + δ)), which neither underflows nor overflows for large γ.
/// Everything is differentiated, through time: keys, strengths, gates, shifts, sharpening,
/// erase and add vectors, the memory contents and every head's previous weights.
///
/// Input each step: a projection of the controller output, projection_size() × B, with
/// A = E + H heads, write heads first (head a = e for write head e, a = E + h for read head h):
///   rows a·W … a·W + W − 1         key k of head a               (A·W rows)
///   row  A·W + a                   β̂ of head a (key strength)
///   row  A·W + A + a               ĝ of head a (interpolation gate)
///   rows A·W + 2A + 3a + 0, 1, 2   shift logits of head a for the shifts −1, 0, +1
///   row  A·W + 5A + a              γ̂ of head a (sharpening)
///   rows A·W + 6A + e·W …          erase logits ê of write head e (W rows each)
///   rows A·W + 6A + E·W + e·W …    add vector a of write head e (W rows each)
/// projection_size() = A·(W + 6) + 2·E·W. Output: reads, H·W × B (read head h at rows h·W …).
///
/// The wiped state (before an episode): memory zero (the cosine of a zero row is 0, not NaN: ε
/// sits inside the square root), reads zero, and every head's previous weights one-hot on slot 0.
/// NOTE: uniform previous weights over a zero memory would keep the whole step invariant under a
/// circular rotation of the slots, so every row would stay equal for ever; the one-hot start breaks
/// that symmetry and gives location-based addressing (shifts) a defined origin.
///
/// Thread-safety: forward_step/backward_step are const and touch only the Step/Carry passed in.
template <class Scalar = float>
class NtmHead {
 public:
  using Mat = Matrix<Scalar>;
  using ConstRef = Eigen::Ref<const Mat>;

  struct Options {
    Index slots = 128;              ///< N
    Index width = 40;               ///< W
    Index heads = 4;                ///< H read heads (same name as LruaHead::Options::heads)
    Index write_heads = 1;          ///< E
    double epsilon = 1e-6;          ///< inside the cosine's square roots (> 0)
    double sharpen_epsilon = 1e-12; ///< δ added to w̃ before the power of eq. 9 (> 0)
  };

  /// One step's cache and the state after it. Per batch element b: memory N × W at columns b·W;
  /// write weights at columns b·E, read weights at b·H; per-head caches (A = E + H heads, write
  /// heads first) at columns b·A (N × A blocks) or column b (A × 1 blocks).
  struct Step {
    Mat memory;                ///< M_t, N × W·B
    Mat write_weights;         ///< w_t of the write heads (eq. 9), N × E·B
    Mat read_weights;          ///< w_t of the read heads (eq. 9), N × H·B
    Mat reads;                 ///< r_t, H·W × B
    Mat similarity;            ///< K(k_a, M(i)), N × A·B (write heads on M_{t−1}, read heads on M_t)
    Mat content;               ///< w_c (eq. 5), N × A·B
    Mat gated;                 ///< w_g (eq. 7), N × A·B
    Mat shifted;               ///< w̃ + δ (eq. 8 plus the guard), N × A·B
    Mat shifts;                ///< s for the shifts −1, 0, +1, 3 × A·B
    Mat strength;              ///< β, A × B
    Mat gate;                  ///< g, A × B
    Mat sharpening;            ///< γ, A × B
    Mat key_norm;              ///< ‖k_a‖_ε, A × B
    Mat previous_memory_norm;  ///< ‖M_{t−1}(i)‖_ε, N × B (write addressing)
    Mat memory_norm;           ///< ‖M_t(i)‖_ε, N × B (read addressing)
    Mat erase;                 ///< e = σ(ê), W × E·B
  };

  /// Gradients carried from step t+1 to step t — dL/dM_t and dL/dw_t of every head (through the
  /// interpolation of eq. 7 at t+1) — plus workspace.
  struct Carry {
    Mat d_memory;         ///< N × W·B
    Mat d_write_weights;  ///< N × E·B
    Mat d_read_weights;   ///< N × H·B
    Mat d_similarity;     ///< N × A workspace
    Mat d_vectors;        ///< N × 3 workspace
    Mat erase_others;     ///< N × W workspace
    Mat scratch_n, scratch_h;
  };

  NtmHead() : NtmHead(Options{}) {}
  /// \throws ValueError if slots, width, heads or write_heads is < 1, or an epsilon is not > 0.
  explicit NtmHead(const Options& options) : options_(options) {
    check_value(options.slots > 0, "mann::NtmHead", "slots", options.slots, "> 0");
    check_value(options.width > 0, "mann::NtmHead", "width", options.width, "> 0");
    check_value(options.heads > 0, "mann::NtmHead", "heads", options.heads, "> 0");
    check_value(options.write_heads > 0, "mann::NtmHead", "write_heads", options.write_heads, "> 0");
    check_value(options.epsilon > 0, "mann::NtmHead", "epsilon", options.epsilon, "> 0");
    check_value(options.sharpen_epsilon > 0, "mann::NtmHead", "sharpen_epsilon", options.sharpen_epsilon, "> 0");
    cosine_.epsilon = static_cast<Scalar>(options.epsilon);
    delta_ = static_cast<Scalar>(options.sharpen_epsilon);
  }

  const Options& options() const { return options_; }
  Index projection_size() const {
    const Index W = options_.width, E = options_.write_heads, A = E + options_.heads;
    return A * (W + 6) + 2 * E * W;
  }
  Index read_size() const { return options_.heads * options_.width; }
  static std::string name() { return "ntm"; }
  /// Every option as text (numbers in shortest round-trip form), for checkpoint metadata; Mann
  /// stores them under "head.".
  std::map<std::string, std::string> metadata() const {
    auto number = [](double value) {
      char text[32];
      return std::string(text, std::to_chars(text, text + sizeof text, value).ptr);
    };
    return {{"slots", std::to_string(options_.slots)},
            {"width", std::to_string(options_.width)},
            {"heads", std::to_string(options_.heads)},
            {"write_heads", std::to_string(options_.write_heads)},
            {"epsilon", number(options_.epsilon)},
            {"sharpen_epsilon", number(options_.sharpen_epsilon)}};
  }

  /// First rows of each per-head block of the projection (see the class comment).
  Index strength_row(Index a) const { return heads_total() * options_.width + a; }
  Index gate_row(Index a) const { return heads_total() * (options_.width + 1) + a; }
  Index shift_row(Index a) const { return heads_total() * (options_.width + 2) + 3 * a; }
  Index sharpening_row(Index a) const { return heads_total() * (options_.width + 5) + a; }
  Index erase_row(Index e) const { return heads_total() * (options_.width + 6) + e * options_.width; }
  Index add_row(Index e) const { return erase_row(options_.write_heads) + e * options_.width; }

  void resize_step(Step& s, Index batch) const {
    const Index N = options_.slots, W = options_.width, H = options_.heads, E = options_.write_heads;
    const Index A = E + H;
    s.memory.setZero(N, W * batch);
    s.write_weights.setZero(N, E * batch);
    s.read_weights.setZero(N, H * batch);
    s.reads.setZero(H * W, batch);
    s.similarity.setZero(N, A * batch);
    s.content.setZero(N, A * batch);
    s.gated.setZero(N, A * batch);
    s.shifted.setZero(N, A * batch);
    s.shifts.setZero(3, A * batch);
    s.strength.setZero(A, batch);
    s.gate.setZero(A, batch);
    s.sharpening.setZero(A, batch);
    s.key_norm.setZero(A, batch);
    s.previous_memory_norm.setZero(N, batch);
    s.memory_norm.setZero(N, batch);
    s.erase.setZero(W, E * batch);
  }

  /// The wiped state before an episode: memory and reads zero, every head's weights one-hot on
  /// slot 0 (see the class comment).
  void wipe(Step& s, Index batch) const {
    resize_step(s, batch);
    s.write_weights.row(0).setOnes();
    s.read_weights.row(0).setOnes();
  }

  /// One step forward from state `prev` (the wiped or carried initial state at t = 0).
  /// \throws ShapeError if projection is not projection_size() × B with B the batch of `prev`.
  void forward_step(const ConstRef& projection, const Step& prev, Step& cur) const {
    const Index N = options_.slots, W = options_.width, H = options_.heads, E = options_.write_heads;
    const Index A = E + H;
    check_shape(projection, projection_size(), prev.reads.cols(), "mann::NtmHead::forward_step", "projection");
    const Index B = projection.cols();
    check_shape(prev.memory, N, W * B, "mann::NtmHead::forward_step", "prev.memory");
    if (cur.memory.cols() != W * B || cur.memory.rows() != N) resize_step(cur, B);
    for (Index b = 0; b < B; ++b) {
      const Eigen::Map<const Mat> keys(projection.col(b).data(), W, A);
      const auto prev_memory = prev.memory.middleCols(b * W, W);
      auto memory = cur.memory.middleCols(b * W, W);
      for (Index a = 0; a < A; ++a) {  // the scalars of every head
        cur.strength(a, b) = softplus(projection(strength_row(a), b));
        cur.gate(a, b) = sigmoid(projection(gate_row(a), b));
        softmax_columns(projection.col(b).segment(shift_row(a), 3), cur.shifts.col(b * A + a));
        cur.sharpening(a, b) = Scalar(1) + softplus(projection(sharpening_row(a), b));
      }
      // 1. write addressing on M_{t−1} (eqs 5–9)
      cosine_.similarity(prev_memory, keys.leftCols(E), cur.similarity.middleCols(b * A, E),
                         cur.previous_memory_norm.col(b), cur.key_norm.col(b).head(E));
      for (Index e = 0; e < E; ++e) {
        address(cur, b, e, prev.write_weights.col(b * E + e), cur.write_weights.col(b * E + e));
      }
      // 2. erase, then add (eqs 3–4)
      memory = prev_memory;
      for (Index e = 0; e < E; ++e) {
        auto erase = cur.erase.col(b * E + e);
        for (Index k = 0; k < W; ++k) erase(k) = sigmoid(projection(erase_row(e) + k, b));
        const auto w = cur.write_weights.col(b * E + e);
        for (Index k = 0; k < W; ++k) memory.col(k).array() *= Scalar(1) - erase(k) * w.array();  // eq. 3
      }
      for (Index e = 0; e < E; ++e) {
        const auto w = cur.write_weights.col(b * E + e);
        for (Index k = 0; k < W; ++k) memory.col(k) += projection(add_row(e) + k, b) * w;  // eq. 4
      }
      // 3. read addressing on M_t (eqs 5–9)
      cosine_.similarity(memory, keys.rightCols(H), cur.similarity.middleCols(b * A + E, H), cur.memory_norm.col(b),
                         cur.key_norm.col(b).tail(H));
      for (Index h = 0; h < H; ++h) {
        address(cur, b, E + h, prev.read_weights.col(b * H + h), cur.read_weights.col(b * H + h));
      }
      // 4. r = M_tᵀ w (eq. 2)
      Eigen::Map<Mat> reads(cur.reads.col(b).data(), W, H);
      reads.noalias() = memory.transpose() * cur.read_weights.middleCols(b * H, H);
    }
  }

  void reset_carry(Carry& carry, Index batch) const {
    const Index N = options_.slots, W = options_.width, H = options_.heads, E = options_.write_heads;
    carry.d_memory.setZero(N, W * batch);
    carry.d_write_weights.setZero(N, E * batch);
    carry.d_read_weights.setZero(N, H * batch);
    carry.d_similarity.resize(N, E + H);
    carry.d_vectors.resize(N, 3);
    carry.erase_others.resize(N, W);
    carry.scratch_n.resize(N, 1);
    carry.scratch_h.resize(E + H, 1);
  }

  /// One step backward. `projection` is the step's input; d_reads is dL/dr_t (H·W × B).
  /// carry in: dL/dM_t and dL/dw_t of every head from step t+1; out: dL/dM_{t−1} and dL/dw_{t−1}.
  /// Overwrites d_projection (projection_size() × B).
  void backward_step(const ConstRef& projection, const Step& cur, const Step& prev, const ConstRef& d_reads,
                     Carry& carry, Mat& d_projection) const {
    const Index W = options_.width, H = options_.heads, E = options_.write_heads, A = E + H;
    const Index B = cur.reads.cols();
    MANN_ASSERT(projection.rows() == projection_size() && projection.cols() == B);
    MANN_ASSERT(d_reads.rows() == read_size() && d_reads.cols() == B);
    if (carry.d_memory.cols() != W * B) reset_carry(carry, B);
    d_projection.resize(projection_size(), B);
    for (Index b = 0; b < B; ++b) {
      const Eigen::Map<const Mat> keys(projection.col(b).data(), W, A);
      const Eigen::Map<const Mat> d_r(d_reads.col(b).data(), W, H);
      Eigen::Map<Mat> d_keys(d_projection.col(b).data(), W, A);
      const auto memory = cur.memory.middleCols(b * W, W);
      const auto prev_memory = prev.memory.middleCols(b * W, W);
      const auto read = cur.read_weights.middleCols(b * H, H);
      auto d_memory = carry.d_memory.middleCols(b * W, W);  // dL/dM_t, becomes dL/dM_{t−1}
      auto d_read = carry.d_read_weights.middleCols(b * H, H);
      auto d_write = carry.d_write_weights.middleCols(b * E, E);
      d_keys.setZero();
      // 4. r = M_tᵀ w (eq. 2)
      d_memory.noalias() += read * d_r.transpose();
      d_read.noalias() += memory * d_r;
      // 3. read addressing on M_t
      for (Index h = 0; h < H; ++h) {
        address_backward(projection, cur, b, E + h, prev.read_weights.col(b * H + h), read.col(h), d_read.col(h),
                         carry, d_projection);
      }
      cosine_.similarity_backward(memory, keys.rightCols(H), cur.similarity.middleCols(b * A + E, H),
                                  cur.memory_norm.col(b), cur.key_norm.col(b).tail(H),
                                  carry.d_similarity.rightCols(H), d_memory, d_keys.rightCols(H), carry.scratch_n,
                                  carry.scratch_h.topRows(H));
      // 2. M_t = M_{t−1} ⊙ Π_e (1 − w_e e_eᵀ) + Σ_e w_e a_eᵀ (eqs 3–4)
      for (Index e = 0; e < E; ++e) {
        const auto w = cur.write_weights.col(b * E + e);
        const auto erase = cur.erase.col(b * E + e);
        const Eigen::Map<const Mat> add(projection.col(b).data() + add_row(e), W, 1);
        Eigen::Map<Mat> d_add(d_projection.col(b).data() + add_row(e), W, 1);
        Eigen::Map<Mat> d_erase(d_projection.col(b).data() + erase_row(e), W, 1);
        d_add.noalias() = d_memory.transpose() * w;
        d_write.col(e).noalias() += d_memory * add;
        // X = −dM_t ⊙ M_{t−1} ⊙ Π_{e'≠e} (1 − w_e' e_e'ᵀ) is dL/d(w_e e_eᵀ).
        auto& x = carry.erase_others;
        x = prev_memory;
        for (Index other = 0; other < E; ++other) {
          if (other == e) continue;
          const auto w_other = cur.write_weights.col(b * E + other);
          for (Index k = 0; k < W; ++k) {
            x.col(k).array() *= Scalar(1) - cur.erase(k, b * E + other) * w_other.array();
          }
        }
        x.array() *= -d_memory.array();
        d_write.col(e).noalias() += x * erase;
        d_erase.noalias() = x.transpose() * w;
        d_erase.array() *= erase.array() * (Scalar(1) - erase.array());  // e = σ(ê)
      }
      for (Index e = 0; e < E; ++e) {  // dL/dM_{t−1} through the erasure
        const auto w = cur.write_weights.col(b * E + e);
        for (Index k = 0; k < W; ++k) d_memory.col(k).array() *= Scalar(1) - cur.erase(k, b * E + e) * w.array();
      }
      // 1. write addressing on M_{t−1}
      for (Index e = 0; e < E; ++e) {
        address_backward(projection, cur, b, e, prev.write_weights.col(b * E + e), cur.write_weights.col(b * E + e),
                         d_write.col(e), carry, d_projection);
      }
      cosine_.similarity_backward(prev_memory, keys.leftCols(E), cur.similarity.middleCols(b * A, E),
                                  cur.previous_memory_norm.col(b), cur.key_norm.col(b).head(E),
                                  carry.d_similarity.leftCols(E), d_memory, d_keys.leftCols(E), carry.scratch_n,
                                  carry.scratch_h.topRows(E));
    }
  }

  /// Forward over a whole episode from `initial`: steps[t] caches step t.
  void forward(const std::vector<Mat>& projections, const Step& initial, std::vector<Step>& steps) const {
    steps.resize(projections.size());
    for (std::size_t t = 0; t < projections.size(); ++t) {
      forward_step(projections[t], t ? steps[t - 1] : initial, steps[t]);
    }
  }

 private:
  Index heads_total() const { return options_.write_heads + options_.heads; }

  /// Eqs 5, 7, 8, 9 for head a of batch element b; the similarity column is already in `cur`.
  template <class Previous, class Weights>
  void address(Step& cur, Index b, Index a, const Previous& previous, Weights&& weights) const {
    const Index N = options_.slots, c = b * heads_total() + a;
    const auto similarity = cur.similarity.col(c);
    auto content = cur.content.col(c);
    auto gated = cur.gated.col(c);
    auto shifted = cur.shifted.col(c);
    const auto s = cur.shifts.col(c);
    const Scalar beta = cur.strength(a, b), g = cur.gate(a, b), gamma = cur.sharpening(a, b);
    // Graves eq. 5: w_c = softmax(β K); β ≥ 0, so max(β K) = β max K.
    content = (beta * (similarity.array() - similarity.maxCoeff())).exp().matrix();
    content /= content.sum();
    // Graves eq. 7
    gated = g * content + (Scalar(1) - g) * previous;
    // Graves eq. 8: w̃(i) = s(−1) w_g(i+1) + s(0) w_g(i) + s(+1) w_g(i−1), indices mod N; plus δ.
    for (Index i = 0; i < N; ++i) {
      const Index next = i + 1 == N ? 0 : i + 1, before = i == 0 ? N - 1 : i - 1;
      shifted(i) = s(0) * gated(next) + s(1) * gated(i) + s(2) * gated(before) + delta_;
    }
    // Graves eq. 9 as softmax(γ log(w̃ + δ)).
    weights = (gamma * shifted.array().log()).matrix();
    const Scalar top = weights.maxCoeff();
    weights = (weights.array() - top).exp().matrix();
    weights /= weights.sum();
  }

  /// Backward of `address` for head a of batch element b. d_weights holds dL/dw_t on entry and
  /// dL/dw_{t−1} (through eq. 7) on return; writes the head's β̂, ĝ, shift and γ̂ rows of
  /// d_projection and dL/dK into column a of carry.d_similarity.
  template <class Previous, class Weights, class DWeights>
  void address_backward(const ConstRef& projection, const Step& cur, Index b, Index a, const Previous& previous,
                        const Weights& weights, DWeights&& d_weights, Carry& carry, Mat& d_projection) const {
    const Index N = options_.slots, c = b * heads_total() + a;
    const auto similarity = cur.similarity.col(c);
    const auto content = cur.content.col(c);
    const auto gated = cur.gated.col(c);
    const auto shifted = cur.shifted.col(c);
    const auto s = cur.shifts.col(c);
    const Scalar beta = cur.strength(a, b), g = cur.gate(a, b), gamma = cur.sharpening(a, b);
    auto d_logits = carry.d_vectors.col(0);   // dL/d(γ log(w̃ + δ)), later dL/dw_c
    auto d_shifted = carry.d_vectors.col(1);  // dL/dw̃
    auto d_gated = carry.d_vectors.col(2);    // dL/dw_g
    // eq. 9: w = softmax(γ log u), u = w̃ + δ
    d_logits = (weights.array() * (d_weights.array() - weights.dot(d_weights))).matrix();
    const Scalar d_gamma = (d_logits.array() * shifted.array().log()).sum();
    d_projection(sharpening_row(a), b) = d_gamma * sigmoid(projection(sharpening_row(a), b));  // γ = 1 + softplus
    d_shifted = (gamma * d_logits.array() / shifted.array()).matrix();
    // eq. 8, transposed: dw_g(j) = s(−1) dw̃(j−1) + s(0) dw̃(j) + s(+1) dw̃(j+1)
    Scalar d_s[3] = {0, 0, 0};
    for (Index i = 0; i < N; ++i) {
      const Index next = i + 1 == N ? 0 : i + 1, before = i == 0 ? N - 1 : i - 1;
      d_s[0] += d_shifted(i) * gated(next);
      d_s[1] += d_shifted(i) * gated(i);
      d_s[2] += d_shifted(i) * gated(before);
      d_gated(i) = s(0) * d_shifted(before) + s(1) * d_shifted(i) + s(2) * d_shifted(next);
    }
    const Scalar s_inner = s(0) * d_s[0] + s(1) * d_s[1] + s(2) * d_s[2];
    for (Index k = 0; k < 3; ++k) d_projection(shift_row(a) + k, b) = s(k) * (d_s[k] - s_inner);  // softmax
    // eq. 7
    const Scalar d_gate = d_gated.dot(content) - d_gated.dot(previous);
    d_projection(gate_row(a), b) = d_gate * g * (Scalar(1) - g);
    auto& d_content = d_logits;  // reuse: dL/dw_c
    d_content = g * d_gated;
    d_weights = (Scalar(1) - g) * d_gated;  // now dL/dw_{t−1}
    // eq. 5: w_c = softmax(β K)
    auto d_similarity = carry.d_similarity.col(a);
    d_similarity = (content.array() * (d_content.array() - content.dot(d_content))).matrix();  // dL/d(βK)
    const Scalar d_beta = d_similarity.dot(similarity);
    d_projection(strength_row(a), b) = d_beta * sigmoid(projection(strength_row(a), b));  // β = softplus
    d_similarity *= beta;
  }

  Options options_;
  CosineAddressing<Scalar> cosine_;
  Scalar delta_ = Scalar(1e-12);
};

}  // namespace mann
