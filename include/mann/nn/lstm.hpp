// mann/nn/lstm.hpp: the LSTM of Santoro et al. supplement eqs 9–15, stepped one time step at a
// time (the MANN feeds each step's reads into the next) with explicit per-step caches for BPTT.
#pragma once

#include <string>
#include <vector>

#include "mann/core/activations.hpp"
#include "mann/core/error.hpp"
#include "mann/core/init.hpp"
#include "mann/core/packed_product.hpp"
#include "mann/core/parameter.hpp"

namespace mann {

/// LSTM layer. Gates in the order forget, input, output, candidate:
///   [ĝf; ĝi; ĝo; û] = W [x_t; h_{t-1}] + b                       eq. 9 (W = [W_xh W_hh])
///   gf = σ(ĝf), gi = σ(ĝi), go = σ(ĝo), u = tanh(û)            eqs 10–13
///   c_t = gf ⊙ c_{t-1} + gi ⊙ u,  h_t = go ⊙ tanh(c_t)          eqs 14–15
/// Shapes: weight 4H × (I + H), bias 4H × 1, x I × B, h and c H × B. The state before the first
/// step is zero.
template <class Scalar = float>
class Lstm {
 public:
  using Mat = Matrix<Scalar>;
  using ConstRef = Eigen::Ref<const Mat>;

  /// One time step's cache; `h` and `c` are also the state after the step.
  struct Step {
    Mat xh;      ///< (I + H) × B: [x_t; h_{t-1}]
    Mat gates;   ///< 4H × B: gf, gi, go, u after their nonlinearities
    Mat c_prev;  ///< H × B
    Mat c;       ///< H × B
    Mat tanh_c;  ///< H × B
    Mat h;       ///< H × B
  };

  /// Gradients flowing backwards from step t to step t-1, plus backward workspace.
  struct Carry {
    Mat dh;      ///< dL/dh_{t} arriving from step t+1 (H × B); on return dL/dh_{t-1}
    Mat dc;      ///< dL/dc_{t} arriving from step t+1 (H × B); on return dL/dc_{t-1}
    Mat dgates;  ///< workspace 4H × B
    Mat dxh;     ///< workspace (I + H) × B
  };

  Parameter<Scalar> weight;
  Parameter<Scalar> bias;

  Lstm() = default;

  /// Glorot-uniform input weights, orthogonal recurrent weights (per gate), bias 0 except the
  /// forget gate's, which is `forget_bias` (1 by default, so early gradients flow).
  Lstm(Index input_size, Index hidden_size, Rng& rng, double forget_bias = 1.0)
      : input_size_(input_size), hidden_size_(hidden_size) {
    check_value(input_size > 0, "mann::Lstm", "input_size", input_size, "> 0");
    check_value(hidden_size > 0, "mann::Lstm", "hidden_size", hidden_size, "> 0");
    const Index H = hidden_size;
    weight.resize(4 * H, input_size + H);
    bias.resize(4 * H, 1);
    Mat input_part(4 * H, input_size);
    init_glorot_uniform(input_part, rng);
    weight.value.leftCols(input_size) = input_part;
    for (int gate = 0; gate < 4; ++gate) {
      Mat recurrent(H, H);
      init_orthogonal(recurrent, rng);
      weight.value.block(gate * H, input_size, H, H) = recurrent;
    }
    bias.value.topRows(H).setConstant(static_cast<Scalar>(forget_bias));
  }

  Index input_size() const { return input_size_; }
  Index hidden_size() const { return hidden_size_; }
  Index output_size() const { return hidden_size_; }

  /// Sizes a step cache for batch B (done once; forward_step reuses the buffers afterwards).
  void resize_step(Step& s, Index batch) const {
    const Index I = input_size_, H = hidden_size_;
    s.xh.resize(I + H, batch);
    s.gates.resize(4 * H, batch);
    s.c_prev.resize(H, batch);
    s.c.resize(H, batch);
    s.tanh_c.resize(H, batch);
    s.h.resize(H, batch);
  }

  /// Sets the carry to zero gradients for batch B (before the last step of backprop).
  void reset_carry(Carry& carry, Index batch) const {
    carry.dh.setZero(hidden_size_, batch);
    carry.dc.setZero(hidden_size_, batch);
    carry.dgates.resize(4 * hidden_size_, batch);
    carry.dxh.resize(input_size_ + hidden_size_, batch);
  }

  /// One step forward from state `prev` (null: zero state) into `cur`.
  /// \throws ShapeError if x does not have input_size() rows or prev's batch differs.
  void forward_step(const ConstRef& x, const Step* prev, Step& cur) const {
    set_inputs(x, prev, cur);
    cur.gates.noalias() = weight.value * cur.xh;  // eq. 9
    cur.gates.colwise() += bias.value.col(0);
    apply_gates(cur);
  }

  /// One step backward. Input: the step's cache, dL/dh_t from this step's consumers (dh_out), and
  /// the carry from step t+1. Output: carry holds dL/dh_{t-1}, dL/dc_{t-1}; dx is overwritten with
  /// dL/dx_t; weight.grad and bias.grad are added to.
  void backward_step(const Step& cur, const ConstRef& dh_out, Carry& carry, Mat& dx) {
    const Index H = hidden_size_, B = cur.h.cols();
    if (carry.dh.cols() != B) reset_carry(carry, B);
    gate_gradients(cur, dh_out, carry, carry.dgates);
    weight.grad.noalias() += carry.dgates * cur.xh.transpose();
    bias.grad.col(0) += carry.dgates.rowwise().sum();
    carry.dxh.noalias() = weight.value.transpose() * carry.dgates;
    dx = carry.dxh.topRows(input_size_);
    carry.dh = carry.dxh.bottomRows(H);  // dL/dh_{t-1}
  }

  // ---- The same computation, batched over a run whose first `known` input rows of every step are
  // known before the run starts (the MANN's x_t and y_{t-1}; only its reads r_{t-1} depend on the
  // previous step). Eq. 9's known part for all T steps is one large product instead of T skinny ones,
  // and dL/dW for all steps is one large product at the end; per step only the columns of W that
  // meet [x_t rows known..I); h_{t-1}] are used. Same values as forward_step/backward_step up to
  // the order of floating-point sums (the whole-episode finite-difference tests cover this path).

  /// The columns of W that meet the per-step rows (from `known` on), packed once per run for the
  /// per-step products of this path (W does not change during a run), and their transpose for the
  /// backward (mann/core/packed_product.hpp). One per thread.
  struct StepWeights {
    Index known = 0;
    PackedMatrix<Scalar> forward;   ///< W[:, known:]
    PackedMatrix<Scalar> backward;  ///< W[:, known:]ᵀ
  };

  /// known_gates = W[:, :known] · known_inputs + b for all columns at once; known_inputs holds the
  /// known rows of every step side by side (known × T·B, step t in columns t·B ... t·B + B − 1).
  /// Also packs `step_weights` for the run's steps.
  void precompute_known_gates(const ConstRef& known_inputs, Mat& known_gates, StepWeights& step_weights) const {
    const Index known = known_inputs.rows();
    check_value(known <= input_size_, "mann::Lstm::precompute_known_gates", "known_inputs.rows()", known,
                "<= input_size()");
    known_gates.noalias() = weight.value.leftCols(known) * known_inputs;  // eq. 9, known part
    known_gates.colwise() += bias.value.col(0);
    const auto per_step = weight.value.rightCols(input_size_ + hidden_size_ - known);
    step_weights.known = known;
    step_weights.forward.pack(per_step);
    step_weights.backward.pack(per_step, true);
  }

  /// forward_step with eq. 9's known part (and the bias) taken from `known_gates_t` (4H × B, the
  /// step's columns of precompute_known_gates' result); x is still the whole input (I × B).
  void forward_step_known(const ConstRef& x, const ConstRef& known_gates_t, StepWeights& step_weights,
                          const Step* prev, Step& cur) const {
    const Index H = hidden_size_, known = step_weights.known;
    MANN_ASSERT(known_gates_t.rows() == 4 * H && known_gates_t.cols() == x.cols() && known <= input_size_);
    MANN_ASSERT(step_weights.forward.rows() == 4 * H && step_weights.forward.cols() == input_size_ + H - known);
    set_inputs(x, prev, cur);
    cur.gates = known_gates_t;
    step_weights.forward.multiply_add(cur.xh.bottomRows(input_size_ + H - known), cur.gates);  // eq. 9, the rest
    apply_gates(cur);
  }

  /// backward_step for the batched path: this step's dL/d(gate pre-activations) go to `dgates_t`
  /// (4H × B, the step's columns of the run's dG) instead of into the parameter gradients, and
  /// dx_rest is overwritten with rows known..I of dL/dx_t only (the known rows need no gradient).
  void backward_step_deferred(const Step& cur, const ConstRef& dh_out, Carry& carry, StepWeights& step_weights,
                              Eigen::Ref<Mat> dgates_t, Mat& dx_rest) {
    const Index H = hidden_size_, B = cur.h.cols(), known = step_weights.known;
    MANN_ASSERT(dgates_t.rows() == 4 * H && dgates_t.cols() == B && known <= input_size_);
    MANN_ASSERT(step_weights.backward.cols() == 4 * H && step_weights.backward.rows() == input_size_ + H - known);
    if (carry.dh.cols() != B) reset_carry(carry, B);
    gate_gradients(cur, dh_out, carry, dgates_t);
    auto dxh_rest = carry.dxh.bottomRows(input_size_ + H - known);
    dxh_rest.setZero();
    step_weights.backward.multiply_add(dgates_t, dxh_rest);
    dx_rest = carry.dxh.middleRows(known, input_size_ - known);
    carry.dh = carry.dxh.bottomRows(H);  // dL/dh_{t-1}
  }

  /// weight.grad += dG · XH^T and bias.grad += row sums of dG: the parameter gradients of all steps
  /// of a backward_step_deferred run at once (dG 4H × T·B). XH, every step's xh side by side, is
  /// gathered from `steps` into the workspace `xh_all`.
  void accumulate_deferred_gradients(const ConstRef& dgates_all, const std::vector<Step>& steps, Mat& xh_all) {
    const Index T = static_cast<Index>(steps.size());
    const Index B = T > 0 ? steps[0].xh.cols() : 0;
    MANN_ASSERT(dgates_all.rows() == 4 * hidden_size_ && dgates_all.cols() == T * B);
    xh_all.resize(input_size_ + hidden_size_, T * B);
    for (Index t = 0; t < T; ++t) xh_all.middleCols(t * B, B) = steps[static_cast<std::size_t>(t)].xh;
    weight.grad.noalias() += dgates_all * xh_all.transpose();
    bias.grad.col(0) += dgates_all.rowwise().sum();
  }

  /// Forward over a whole sequence: steps[t] caches step t; the output at t is steps[t].h.
  void forward(const std::vector<Mat>& xs, std::vector<Step>& steps) const {
    steps.resize(xs.size());
    for (std::size_t t = 0; t < xs.size(); ++t) forward_step(xs[t], t ? &steps[t - 1] : nullptr, steps[t]);
  }

  /// Backward through time: dhs[t] = dL/dh_t from the outputs; dxs[t] is overwritten with dL/dx_t.
  void backward(const std::vector<Step>& steps, const std::vector<Mat>& dhs, std::vector<Mat>& dxs) {
    check_value(dhs.size() == steps.size(), "mann::Lstm::backward", "dhs.size()", dhs.size(),
                "steps.size()");
    dxs.resize(steps.size());
    Carry carry;
    if (!steps.empty()) reset_carry(carry, steps[0].h.cols());
    for (std::size_t t = steps.size(); t-- > 0;) backward_step(steps[t], dhs[t], carry, dxs[t]);
  }

  void parameters(ParameterList<Scalar>& list, const std::string& prefix = "") {
    add_parameter(list, prefix, "weight", weight);
    add_parameter(list, prefix, "bias", bias);
  }

 private:
  // xh = [x; h_{t-1}] and c_{t-1} into the step's cache (zero state before the first step).
  void set_inputs(const ConstRef& x, const Step* prev, Step& cur) const {
    check_shape(x, input_size_, -1, "mann::Lstm::forward_step", "x");
    const Index B = x.cols(), H = hidden_size_;
    if (prev != nullptr) check_shape(prev->h, H, B, "mann::Lstm::forward_step", "prev->h");
    if (cur.xh.cols() != B || cur.xh.rows() != input_size_ + H) resize_step(cur, B);
    cur.xh.topRows(input_size_) = x;
    if (prev != nullptr) {
      cur.xh.bottomRows(H) = prev->h;
      cur.c_prev = prev->c;
    } else {
      cur.xh.bottomRows(H).setZero();
      cur.c_prev.setZero();
    }
  }

  // From the gate pre-activations in cur.gates: the gates, c_t and h_t.
  void apply_gates(Step& cur) const {
    const Index H = hidden_size_;
    auto sig = cur.gates.topRows(3 * H);
    // eqs 10–12, with Eigen's vectorised logistic (float: a rational fit within a few ulps; no
    // overflow for any input, so no NaN).
    sig.array() = sig.array().logistic();
    auto u = cur.gates.bottomRows(H);
    u = u.array().tanh().matrix();  // eq. 13
    cur.c.array() = cur.gates.topRows(H).array() * cur.c_prev.array() +
                    cur.gates.middleRows(H, H).array() * u.array();  // eq. 14
    cur.tanh_c.array() = cur.c.array().tanh();
    cur.h.array() = cur.gates.middleRows(2 * H, H).array() * cur.tanh_c.array();  // eq. 15
  }

  // dL/d(gate pre-activations) of one step into dg; carry.dh becomes dL/dh_t (total) and carry.dc
  // dL/dc_{t-1}.
  template <class Out>
  void gate_gradients(const Step& cur, const ConstRef& dh_out, Carry& carry, Out&& dg) const {
    const Index H = hidden_size_;
    MANN_ASSERT(dh_out.rows() == H && dh_out.cols() == cur.h.cols());
    const auto gf = cur.gates.topRows(H).array();
    const auto gi = cur.gates.middleRows(H, H).array();
    const auto go = cur.gates.middleRows(2 * H, H).array();
    const auto u = cur.gates.bottomRows(H).array();
    carry.dh += dh_out;  // total dL/dh_t
    // dL/dc_t: from the next step and through h_t = go ⊙ tanh(c_t).
    carry.dc.array() += carry.dh.array() * go * (Scalar(1) - cur.tanh_c.array().square());
    dg.middleRows(2 * H, H).array() = carry.dh.array() * cur.tanh_c.array() * go * (Scalar(1) - go);
    dg.topRows(H).array() = carry.dc.array() * cur.c_prev.array() * gf * (Scalar(1) - gf);
    dg.middleRows(H, H).array() = carry.dc.array() * u * gi * (Scalar(1) - gi);
    dg.bottomRows(H).array() = carry.dc.array() * gi * (Scalar(1) - u.square());
    carry.dc.array() *= gf;  // dL/dc_{t-1}
  }

  Index input_size_ = 0;
  Index hidden_size_ = 0;
};

}  // namespace mann
