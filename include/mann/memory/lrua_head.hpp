// mann/memory/lrua_head.hpp: the Least Recently Used Access memory of Santoro et al. (eqs 2–8,
// 17–23): H heads, each with a key k (read and write) and a write gate α, over a memory of N slots
// of width W per batch element.
#pragma once

#include <charconv>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "mann/core/activations.hpp"
#include "mann/core/error.hpp"
#include "mann/memory/cosine.hpp"
#include "mann/memory/slot_products.hpp"

namespace mann {

/// The options of LruaHead (one type for float and double heads, so a float and a double model
/// can be built from the same options).
struct LruaHeadOptions {
  Index slots = 128;          ///< N
  Index width = 40;           ///< W
  Index heads = 4;            ///< H (reads = writes = H)
  double usage_decay = 0.99;  ///< γ
  /// ε inside the cosine's square roots, ‖v‖_ε = √(‖v‖² + ε) (eq. 2). It floors the norm of a
  /// nearly empty row at √ε, and with it the factor β / ‖M(i)‖_ε by which each step back through
  /// such a row multiplies the memory's gradient. The default 1e-2 (with β = 10) keeps float32
  /// gradients within 1e-4 of float64 ones; at the paper's 1e-6 with β = 10 they are rounding noise
  /// at initial weights (docs/results.md, "The LRUA read in float32").
  double epsilon = 1e-2;
  /// β in w_r = softmax(β K) when the key strength is fixed (eq. 3 has β = 1). Cosines lie in
  /// [−1, 1], so with β = 1 the best of 128 slots gets at most e²/(e² + 127) of the weight and the
  /// MANN does not learn Omniglot in 40 000 episodes; the default 10 learns (docs/results.md).
  double read_sharpness = 10.0;
  /// β learned per head and step from the controller, β = 1 + softplus(β̂) (the NTM's key
  /// strength, Graves et al. eq. 5, floored at eq. 3's β = 1); read_sharpness must then be 1.
  bool learned_key_strength = false;
  /// Every entry of the wiped memory (0: the paper). The slot that eq. 8 zeroes is still zeroed.
  double initial_memory = 0.0;
  /// n in eq. 6, the slots w_lu marks and eq. 7 writes with weight 1 − σ(α); 0: n = heads, as the
  /// paper sets it ("n equal to the number of reads"). With n = 1 the write goes to exactly the slot
  /// eq. 8 zeroed, so each step replaces one slot instead of adding to H (docs/results.md).
  Index least_used_slots = 0;

  /// Eqs 2–8 exactly as the paper writes them: β = 1, ε = 1e-6, memory wiped to zero.
  static LruaHeadOptions paper() {
    LruaHeadOptions o;
    o.epsilon = 1e-6;
    o.read_sharpness = 1.0;
    o.learned_key_strength = false;
    o.initial_memory = 0.0;
    return o;
  }
};

/// LRUA memory access. One step, per batch element, in the order SPEC §1 gives:
///   w_w_t = σ(α) w_r_{t−1} + (1 − σ(α)) w_lu_{t−1}                    eq. 7 (per head)
///   zero the least used slot argmin w_u_{t−1}, then M_t = M_{t−1} + Σ_h w_w_t kᵀ   eq. 8
///   w_r_t = softmax_i β K(k, M_t(i)),  r_t = M_tᵀ w_r_t                eqs 2–4 (read from M_t;
///                                                                      β = 1 is eq. 3 as written)
///   w_u_t = γ w_u_{t−1} + Σ_h w_r_t + Σ_h w_w_t                        eq. 5
///   w_lu_t = 1 on the n smallest entries of w_u_t, else 0               eq. 6 (n = H reads, or
///                                                                      least_used_slots)
/// Gradient: the least-used indicator w_lu and the choice of the zeroed slot are piecewise constant
/// in the parameters, so they are constants for the gradient (and usage, which only feeds them,
/// carries none); everything else — gates, keys, write weights, memory contents, read weights,
/// cosine similarities — is differentiated, through time.
/// NOTE: where usages tie (at the start of an episode all are 0), w_lu takes exactly n slots and
/// argmin the first slot, lowest index first; eq. 6's "≤ m(w_u, n)" would select every tied slot.
///
/// Input each step: a projection of the controller output, projection_size() × B: rows
/// h·W … h·W + W − 1 the key of head h, rows H·W + h the gate logit α of head h, and with a learned
/// key strength rows H·W + H + h its logit β̂ of head h.
/// Output: reads, H·W × B (head h at rows h·W …).
template <class Scalar = float>
class LruaHead {
 public:
  using Mat = Matrix<Scalar>;
  using ConstRef = Eigen::Ref<const Mat>;

  using Options = LruaHeadOptions;  ///< the same type for every Scalar

  /// One step's cache and the memory state after it. Per batch element b the blocks are
  /// memory N × W at columns b·W, weights N × H at columns b·H.
  struct Step {
    Mat memory;               ///< M_t, N × W·B
    Mat read_weights;         ///< w_r_t, N × H·B
    Mat write_weights;        ///< w_w_t, N × H·B
    Mat usage;                ///< w_u_t, N × B
    Mat least_used;           ///< w_lu_t, N × B (0/1)
    std::vector<Index> zeroed;///< slot zeroed this step, per b
    Mat similarity;           ///< K(k_h, M_t(i)), N × H·B
    Mat memory_norm;          ///< ‖M_t(i)‖_ε, N × B
    Mat key_norm;             ///< ‖k_h‖_ε, H × B
    Mat gates;                ///< σ(α_h), H × B
    Mat strengths;            ///< β_h, H × B
    Mat reads;                ///< r_t, H·W × B
  };

  /// Gradients carried from step t+1 to step t (dL/dM_t, dL/dw_r_t), plus workspace.
  struct Carry {
    Mat d_memory;         ///< N × W·B
    Mat d_read_weights;   ///< N × H·B
    Mat d_scores, d_write, d_keys, scratch_n, scratch_h;
  };

  LruaHead() : LruaHead(Options{}) {}
  explicit LruaHead(const Options& options) : options_(options) {
    check_value(options.slots > 0, "mann::LruaHead", "slots", options.slots, "> 0");
    check_value(options.width > 0, "mann::LruaHead", "width", options.width, "> 0");
    check_value(options.heads > 0 && options.heads <= options.slots, "mann::LruaHead", "heads", options.heads,
                "in [1, slots]");
    check_value(options.usage_decay >= 0 && options.usage_decay <= 1, "mann::LruaHead", "usage_decay",
                options.usage_decay, "in [0, 1]");
    check_value(options.read_sharpness > 0 && std::isfinite(options.read_sharpness), "mann::LruaHead",
                "read_sharpness", options.read_sharpness, "finite and > 0");
    check_value(!options.learned_key_strength || options.read_sharpness == 1.0, "mann::LruaHead", "read_sharpness",
                options.read_sharpness, "1 with a learned key strength (β = 1 + softplus(β̂))");
    check_value(options.epsilon > 0 && std::isfinite(options.epsilon), "mann::LruaHead", "epsilon", options.epsilon,
                "finite and > 0");
    check_value(std::isfinite(options.initial_memory), "mann::LruaHead", "initial_memory", options.initial_memory,
                "finite");
    check_value(options.least_used_slots >= 0 && options.least_used_slots <= options.slots, "mann::LruaHead",
                "least_used_slots", options.least_used_slots, "in [0, slots] (0: heads)");
    cosine_.epsilon = static_cast<Scalar>(options.epsilon);
  }

  const Options& options() const { return options_; }
  Index projection_size() const {
    return options_.heads * options_.width + options_.heads * (options_.learned_key_strength ? 2 : 1);
  }
  Index read_size() const { return options_.heads * options_.width; }
  static std::string name() { return "lrua"; }
  /// Every option as text (numbers in shortest round-trip form), for checkpoint metadata; Mann
  /// stores them under "head.".
  std::map<std::string, std::string> metadata() const {
    auto number = [](double value) {
      char text[32];
      return std::string(text, std::to_chars(text, text + sizeof text, value).ptr);
    };
    return {{"slots", std::to_string(options_.slots)},          {"width", std::to_string(options_.width)},
            {"heads", std::to_string(options_.heads)},          {"usage_decay", number(options_.usage_decay)},
            {"epsilon", number(options_.epsilon)},              {"read_sharpness", number(options_.read_sharpness)},
            {"key_strength", options_.learned_key_strength ? "learned" : "fixed"},
            {"initial_memory", number(options_.initial_memory)},
            {"least_used_slots", std::to_string(least_used_count())}};
  }

  void resize_step(Step& s, Index batch) const {
    const Index N = options_.slots, W = options_.width, H = options_.heads;
    s.memory.resize(N, W * batch);
    s.read_weights.resize(N, H * batch);
    s.write_weights.resize(N, H * batch);
    s.usage.resize(N, batch);
    s.least_used.resize(N, batch);
    s.zeroed.assign(static_cast<std::size_t>(batch), 0);
    s.similarity.resize(N, H * batch);
    s.memory_norm.resize(N, batch);
    s.key_norm.resize(H, batch);
    s.gates.resize(H, batch);
    s.strengths.resize(H, batch);
    s.reads.resize(H * W, batch);
  }

  /// The wiped state before an episode: memory initial_memory (0), weights, usage and reads zero;
  /// w_lu on the first n slots (the tie-break rule above applied to an all-zero usage).
  void wipe(Step& s, Index batch) const {
    resize_step(s, batch);
    s.memory.setConstant(static_cast<Scalar>(options_.initial_memory));
    s.read_weights.setZero();
    s.write_weights.setZero();
    s.usage.setZero();
    s.reads.setZero();
    for (Index b = 0; b < batch; ++b) select_least_used(s.usage.col(b), s.least_used.col(b));
  }

  /// One step forward from state `prev` (the wiped or carried initial state at t = 0).
  void forward_step(const ConstRef& projection, const Step& prev, Step& cur) const {
    check_shape(prev.memory, options_.slots, options_.width * projection.cols(), "mann::LruaHead::forward_step",
                "prev.memory (wipe() the initial state first)");
    check_shape(projection, projection_size(), prev.usage.cols(), "mann::LruaHead::forward_step", "projection");
    const Index N = options_.slots, W = options_.width, H = options_.heads, B = projection.cols();
    if (cur.memory.cols() != W * B || cur.memory.rows() != N) resize_step(cur, B);
    const Scalar gamma = static_cast<Scalar>(options_.usage_decay);
    for (Index b = 0; b < B; ++b) {
      const Eigen::Map<const Mat> keys(projection.col(b).data(), W, H);
      auto memory = cur.memory.middleCols(b * W, W);
      auto write = cur.write_weights.middleCols(b * H, H);
      auto read = cur.read_weights.middleCols(b * H, H);
      auto similarity = cur.similarity.middleCols(b * H, H);
      for (Index h = 0; h < H; ++h) {  // eq. 7
        const Scalar g = sigmoid(projection(H * W + h, b));
        cur.gates(h, b) = g;
        write.col(h) = g * prev.read_weights.col(b * H + h) + (Scalar(1) - g) * prev.least_used.col(b);
      }
      Index zeroed = 0;
      prev.usage.col(b).minCoeff(&zeroed);  // first index of the minimum
      cur.zeroed[static_cast<std::size_t>(b)] = zeroed;
      memory = prev.memory.middleCols(b * W, W);
      memory.row(zeroed).setZero();
      add_slot_outer_product<Scalar>(write, keys, memory);  // eq. 8
      cosine_.similarity(memory, keys, similarity, cur.memory_norm.col(b), cur.key_norm.col(b));
      for (Index h = 0; h < H; ++h) {
        const Scalar beta = options_.learned_key_strength
                                ? Scalar(1) + softplus(projection(strength_row(h), b))
                                : static_cast<Scalar>(options_.read_sharpness);
        cur.strengths(h, b) = beta;
        softmax_columns(beta * similarity.col(h), read.col(h));  // eq. 3
      }
      Eigen::Map<Mat> reads(cur.reads.col(b).data(), W, H);
      reads.setZero();
      add_slot_transpose_product<Scalar>(memory, read, reads);  // eq. 4
      cur.usage.col(b) = gamma * prev.usage.col(b) + read.rowwise().sum() + write.rowwise().sum();  // eq. 5
      select_least_used(cur.usage.col(b), cur.least_used.col(b));                               // eq. 6
    }
  }

  void reset_carry(Carry& carry, Index batch) const {
    const Index N = options_.slots, W = options_.width, H = options_.heads;
    carry.d_memory.setZero(N, W * batch);
    carry.d_read_weights.setZero(N, H * batch);
    carry.d_scores.resize(N, H);
    carry.d_write.resize(N, H);
    carry.d_keys.resize(W, H);
    carry.scratch_n.resize(N, 1);
    carry.scratch_h.resize(H, 1);
  }

  /// One step backward. `projection` is the step's input; d_reads is dL/dr_t (H·W × B).
  /// carry in: dL/dM_t and dL/dw_r_t from step t+1; out: dL/dM_{t−1} and dL/dw_r_{t−1}.
  /// Overwrites d_projection (projection_size() × B).
  void backward_step(const ConstRef& projection, const Step& cur, const Step& prev, const ConstRef& d_reads,
                     Carry& carry, Mat& d_projection) const {
    const Index W = options_.width, H = options_.heads, B = cur.usage.cols();
    if (carry.d_memory.cols() != W * B) reset_carry(carry, B);
    d_projection.resize(projection_size(), B);
    for (Index b = 0; b < B; ++b) {
      const Eigen::Map<const Mat> keys(projection.col(b).data(), W, H);
      const Eigen::Map<const Mat> d_r(d_reads.col(b).data(), W, H);
      const auto memory = cur.memory.middleCols(b * W, W);
      const auto read = cur.read_weights.middleCols(b * H, H);
      const auto write = cur.write_weights.middleCols(b * H, H);
      auto d_memory = carry.d_memory.middleCols(b * W, W);     // dL/dM_t, becomes dL/dM_{t−1}
      auto d_read = carry.d_read_weights.middleCols(b * H, H);  // dL/dw_r_t, becomes dL/dw_r_{t−1}
      Eigen::Map<Mat> d_keys(d_projection.col(b).data(), W, H);
      // r = Mᵀ w_r (eq. 4)
      add_slot_outer_product<Scalar>(read, d_r, d_memory);
      add_slot_product<Scalar>(memory, d_r, d_read);
      // w_r = softmax(K) (eq. 3), then the cosine (eq. 2)
      softmax_weights_backward<Scalar>(read, d_read, carry.d_scores);  // dL/d(β K)
      for (Index h = 0; h < H; ++h) {
        if (options_.learned_key_strength) {  // β = 1 + softplus(β̂): dβ = Σ_i dL/d(βK)_i K_i
          const Scalar d_beta = carry.d_scores.col(h).dot(cur.similarity.col(b * H + h));
          d_projection(strength_row(h), b) = d_beta * sigmoid(projection(strength_row(h), b));
        }
        carry.d_scores.col(h) *= cur.strengths(h, b);
      }
      d_keys.setZero();
      cosine_.similarity_backward(memory, keys, cur.similarity.middleCols(b * H, H), cur.memory_norm.col(b),
                                  cur.key_norm.col(b), carry.d_scores, d_memory, d_keys, carry.scratch_n,
                                  carry.scratch_h);
      // M_t = M'_{t−1} + w_w kᵀ (eq. 8); M' is M_{t−1} with the zeroed row cut off from the gradient
      carry.d_write.setZero();
      add_slot_product<Scalar>(d_memory, keys, carry.d_write);
      add_slot_transpose_product<Scalar>(d_memory, write, d_keys);
      d_memory.row(cur.zeroed[static_cast<std::size_t>(b)]).setZero();
      // w_w = σ(α) w_r_{t−1} + (1 − σ(α)) w_lu_{t−1} (eq. 7)
      for (Index h = 0; h < H; ++h) {
        const Scalar g = cur.gates(h, b);
        const Scalar d_gate = carry.d_write.col(h).dot(prev.read_weights.col(b * H + h) - prev.least_used.col(b));
        d_projection(H * W + h, b) = d_gate * g * (Scalar(1) - g);
        d_read.col(h) = g * carry.d_write.col(h);
      }
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
  /// n in eq. 6.
  Index least_used_count() const { return options_.least_used_slots ? options_.least_used_slots : options_.heads; }

  /// w_lu: ones on the n smallest usages (ties: lowest index), zeros elsewhere.
  template <class In, class Out>
  void select_least_used(const In& usage, Out&& least_used) const {
    least_used.setZero();
    for (Index pick = 0, n = least_used_count(); pick < n; ++pick) {
      Index best = -1;
      for (Index i = 0; i < usage.size(); ++i) {
        if (least_used(i) != Scalar(0)) continue;
        if (best < 0 || usage(i) < usage(best)) best = i;
      }
      least_used(best) = Scalar(1);
    }
  }

  Index strength_row(Index h) const { return options_.heads * (options_.width + 1) + h; }

  Options options_;
  CosineAddressing<Scalar> cosine_;
};

}  // namespace mann
