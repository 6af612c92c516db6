// mann/models/mann_model.hpp: the memory-augmented neural network of Santoro et al. 2016: a controller
// (Lstm or FeedForward) driving a memory head (LruaHead or NtmHead), trained by backprop through
// time over whole episodes.
#pragma once

#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include "mann/core/error.hpp"
#include "mann/core/packed_product.hpp"
#include "mann/models/output_layer.hpp"
#include "mann/nn/linear.hpp"
#include "mann/core/episode.hpp"

namespace mann {

/// Shapes of a MANN. Defaults are the paper's (supplement 9): LSTM 200, memory 128 × 40, 4 heads.
struct MannConfig {
  Index input_size = 400;  ///< x_t rows (20 × 20 images)
  Index label_size = 5;    ///< y_t rows: n classes (one-hot), 25 (string), D (Gaussian)
  OutputKind output = OutputKind::one_hot;
  bool persistent_memory = false;  ///< keep the memory across episodes (section 4.2.1) instead of wiping
};

namespace detail {
// Controllers with the batched known-input path (Lstm: precompute_known_gates and friends).
template <class Controller, class = void>
struct batches_known_inputs : std::false_type {};
template <class Controller>
struct batches_known_inputs<Controller, std::void_t<decltype(&Controller::precompute_known_gates)>>
    : std::true_type {};

// The controller's per-run packed weights of that path (Lstm::StepWeights), or nothing.
struct NoStepWeights {};
template <class Controller, class = void>
struct step_weights {
  using type = NoStepWeights;
};
template <class Controller>
struct step_weights<Controller, std::void_t<typename Controller::StepWeights>> {
  using type = typename Controller::StepWeights;
};
}  // namespace detail

/// MANN step t (supplement 6.1): controller input [x_t; y_{t−1}; r_{t−1}] (y_0 = 0, r_0 from the
/// initial memory state), controller output h_t, head projection P h_t + b (keys and gates), memory
/// step → r_t, output W_o [h_t; r_t] + b_o (eq. 24), loss against y_t.
/// Controller: Lstm<Scalar> or FeedForward<Scalar> (or anything with their step interface), built
/// with input size controller_input_size(config, head). Head: LruaHead<Scalar> or NtmHead<Scalar>.
/// forward() is const and caches in the Workspace: one Workspace per thread makes concurrent forward
/// passes safe; backward() adds into this model's gradients.
template <class Scalar, class Controller, class Head>
class Mann {
 public:
  using Mat = Matrix<Scalar>;

  /// Everything one episode batch needs for forward and backward; reused without reallocating.
  struct Workspace {
    std::vector<Mat> controller_inputs;
    std::vector<typename Controller::Step> controller_steps;
    std::vector<Mat> projections;
    typename Head::Step initial_memory;
    std::vector<typename Head::Step> memory_steps;
    Mat output_inputs;         ///< [h_t; r_t] of every step side by side (step t in columns t·B ... t·B + B − 1)
    Mat all_outputs;           ///< the output layer's result for every step, side by side
    std::vector<Mat> outputs;  ///< outputs[t]: logits (or μ, raw σ²) at step t, output rows × B
    std::vector<StepLoss<Scalar>> losses;
    bool has_memory = false;   ///< initial_memory holds a previous episode's final state
    // backward workspace
    typename Controller::Carry controller_carry;
    typename Head::Carry head_carry;
    Mat d_outputs, d_hidden, d_projection, d_controller_input, d_reads;
    Mat d_all_outputs, d_output_inputs, d_projections;  ///< every step side by side
    // the head projection's weight packed for the run's per-step products, and its transpose
    PackedMatrix<Scalar> projection_weight, projection_weight_t;
    // batched controller path (an LSTM controller): steps side by side, step t in columns t·B ...
    Mat known_inputs;    ///< [x_t; y_{t−1}] of every step
    Mat known_gates;     ///< the controller's eq. 9 for the known rows, every step
    Mat dgates;          ///< dL/d(gate pre-activations), every step
    Mat controller_xh;   ///< the controller's [input; h_{t−1}], every step
    typename detail::step_weights<Controller>::type step_weights;  ///< packed for the run's steps
  };

  Mann() = default;
  Mann(const MannConfig& config, Controller controller, Head head, Rng& rng)
      : config_(config), controller_(std::move(controller)), head_(std::move(head)) {
    check_value(config.input_size > 0, "mann::Mann", "input_size", config.input_size, "> 0");
    check_value(config.label_size > 0, "mann::Mann", "label_size", config.label_size, "> 0");
    if (config.output == OutputKind::string) {
      check_value(config.label_size == 25, "mann::Mann", "label_size", config.label_size, "25 for string labels");
    }
    check_value(controller_.input_size() == controller_input_size(config, head_), "mann::Mann",
                "controller input size", controller_.input_size(), "input_size + label_size + head reads");
    projection_ = Linear<Scalar>(controller_.output_size(), head_.projection_size(), rng);
    output_ = Linear<Scalar>(controller_.output_size() + head_.read_size(),
                             StepLoss<Scalar>::output_rows(config.output, config.label_size), rng);
  }

  /// Rows of the controller's input: x_t, y_{t−1} and the head's reads r_{t−1}.
  static Index controller_input_size(const MannConfig& config, const Head& head) {
    return config.input_size + config.label_size + head.read_size();
  }

  const MannConfig& config() const { return config_; }
  Controller& controller() { return controller_; }
  Head& head() { return head_; }
  const Head& head() const { return head_; }

  /// Runs the episodes, returning the loss summed over steps and averaged over episodes (eq. 25).
  /// \throws ShapeError/ValueError if the batch does not fit the model or holds NaN/Inf.
  Scalar forward(const EpisodeBatch<Scalar>& episodes, Workspace& ws) const {
    episodes.validate("mann::Mann::forward");
    check_shape(episodes.inputs[0], config_.input_size, -1, "mann::Mann::forward", "episode inputs[0]");
    check_shape(episodes.targets[0], config_.label_size, -1, "mann::Mann::forward", "episode targets[0]");
    const Index T = episodes.length(), B = episodes.batch();
    const Index I = config_.input_size, L = config_.label_size, R = head_.read_size();
    const Index hidden = controller_.output_size();
    resize(ws, T, B);
    if (!config_.persistent_memory || !ws.has_memory || ws.initial_memory.reads.cols() != B) {
      head_.wipe(ws.initial_memory, B);
    }
    for (Index t = 0; t < T; ++t) {  // [x_t; y_{t−1}] of the controller inputs (y_0 = 0)
      Mat& in = ws.controller_inputs[t];
      in.topRows(I) = episodes.inputs[t];
      if (t == 0) {
        in.middleRows(I, L).setZero();
      } else {
        in.middleRows(I, L) = episodes.targets[t - 1];
      }
    }
    if constexpr (kBatched) {  // known before the run: the controller's product with them, all steps at once
      for (Index t = 0; t < T; ++t) {
        ws.known_inputs.middleCols(t * B, B) = ws.controller_inputs[t].topRows(I + L);
      }
      controller_.precompute_known_gates(ws.known_inputs, ws.known_gates, ws.step_weights);
    }
    ws.projection_weight.pack(projection_.weight.value);
    ws.projection_weight_t.pack(projection_.weight.value, true);
    for (Index t = 0; t < T; ++t) {
      Mat& in = ws.controller_inputs[t];
      const auto& prev_memory = t ? ws.memory_steps[t - 1] : ws.initial_memory;
      in.bottomRows(R) = prev_memory.reads;
      const auto* prev_step = t ? &ws.controller_steps[t - 1] : nullptr;
      if constexpr (kBatched) {
        controller_.forward_step_known(in, ws.known_gates.middleCols(t * B, B), ws.step_weights, prev_step,
                                       ws.controller_steps[t]);
      } else {
        controller_.forward_step(in, prev_step, ws.controller_steps[t]);
      }
      const Mat& h = ws.controller_steps[t].h;
      Mat& projection = ws.projections[t];  // P h_t + b
      for (Index b = 0; b < B; ++b) projection.col(b) = projection_.bias.value.col(0);
      ws.projection_weight.multiply_add(h, projection);
      head_.forward_step(projection, prev_memory, ws.memory_steps[t]);
      ws.output_inputs.block(0, t * B, hidden, B) = h;
      ws.output_inputs.block(hidden, t * B, R, B) = ws.memory_steps[t].reads;
    }
    // The output layer feeds nothing back: eq. 24 for all steps in one product.
    output_.forward(ws.output_inputs, ws.all_outputs);
    Scalar loss = 0;
    for (Index t = 0; t < T; ++t) {
      ws.outputs[t] = ws.all_outputs.middleCols(t * B, B);
      loss += ws.losses[t].forward(ws.outputs[t], episodes.targets[t]);
    }
    return loss / static_cast<Scalar>(B);
  }

  /// For the persistent-memory variant: the next forward starts from this batch's final memory.
  /// (Gradients never cross episodes.) Call after backward.
  void carry_memory(Workspace& ws) const {
    if (!config_.persistent_memory || ws.memory_steps.empty()) return;
    ws.initial_memory = ws.memory_steps.back();
    ws.has_memory = true;
  }

  /// Backprop through time of the loss of the last forward(); adds into the parameter gradients.
  void backward(const EpisodeBatch<Scalar>& episodes, Workspace& ws) {
    const Index T = episodes.length(), B = episodes.batch();
    const Index R = head_.read_size();
    const Index hidden = controller_.output_size();
    MANN_ASSERT(static_cast<Index>(ws.outputs.size()) >= T);
    controller_.reset_carry(ws.controller_carry, B);
    head_.reset_carry(ws.head_carry, B);
    ws.d_reads.setZero(R, B);  // dL/dr_t arriving through the controller input of step t+1
    const Scalar scale = Scalar(1) / static_cast<Scalar>(B);
    // The output layer for all steps at once: its parameter gradients and dL/d[h_t; r_t].
    ws.d_all_outputs.resize(ws.all_outputs.rows(), T * B);
    for (Index t = 0; t < T; ++t) {
      ws.losses[t].backward(episodes.targets[t], scale, ws.d_outputs);
      ws.d_all_outputs.middleCols(t * B, B) = ws.d_outputs;
    }
    output_.backward(ws.output_inputs, ws.d_all_outputs, &ws.d_output_inputs);
    ws.d_projections.resize(head_.projection_size(), T * B);
    for (Index t = T; t-- > 0;) {
      ws.d_hidden = ws.d_output_inputs.block(0, t * B, hidden, B);
      ws.d_reads += ws.d_output_inputs.block(hidden, t * B, R, B);
      const auto& prev_memory = t ? ws.memory_steps[t - 1] : ws.initial_memory;
      head_.backward_step(ws.projections[t], ws.memory_steps[t], prev_memory, ws.d_reads, ws.head_carry,
                          ws.d_projection);
      ws.d_projections.middleCols(t * B, B) = ws.d_projection;
      ws.projection_weight_t.multiply_add(ws.d_projection, ws.d_hidden);  // + Pᵀ dL/d(P h_t + b)
      if constexpr (kBatched) {  // d_controller_input: the reads' rows only
        controller_.backward_step_deferred(ws.controller_steps[t], ws.d_hidden, ws.controller_carry,
                                           ws.step_weights, ws.dgates.middleCols(t * B, B),
                                           ws.d_controller_input);
      } else {
        controller_.backward_step(ws.controller_steps[t], ws.d_hidden, ws.controller_carry,
                                  ws.d_controller_input);
      }
      ws.d_reads = ws.d_controller_input.bottomRows(R);
    }
    // The head projection's parameter gradients for all steps at once (its inputs h_t are the top
    // rows of the output layer's inputs).
    projection_.backward(ws.output_inputs.topRows(hidden), ws.d_projections, nullptr);
    if constexpr (kBatched) {
      controller_.accumulate_deferred_gradients(ws.dgates, ws.controller_steps, ws.controller_xh);
    }
  }

  /// Parameters: controller.*, head_projection.*, output.*.
  void parameters(ParameterList<Scalar>& list, const std::string& prefix = "") {
    const std::string p = prefix.empty() ? "" : prefix + ".";
    controller_.parameters(list, p + "controller");
    projection_.parameters(list, p + "head_projection");
    output_.parameters(list, p + "output");
  }
  ParameterList<Scalar> parameters() {
    ParameterList<Scalar> list;
    parameters(list);
    return list;
  }

  /// The configuration as checkpoint metadata, the head's settings under "head." (e.g.
  /// "head.read_sharpness"; see Head::metadata()).
  std::map<std::string, std::string> metadata() const {
    std::map<std::string, std::string> result{{"model", "mann"},
                                              {"head", Head::name()},
                                              {"input_size", std::to_string(config_.input_size)},
                                              {"label_size", std::to_string(config_.label_size)},
                                              {"output", to_string(config_.output)},
                                              {"persistent_memory", config_.persistent_memory ? "true" : "false"},
                                              {"controller_output_size", std::to_string(controller_.output_size())}};
    for (const auto& [key, value] : head_.metadata()) result["head." + key] = value;
    return result;
  }

 private:
  void resize(Workspace& ws, Index T, Index B) const {
    const Index in_rows = controller_input_size(config_, head_);
    const Index out_in_rows = controller_.output_size() + head_.read_size();
    if (static_cast<Index>(ws.controller_inputs.size()) != T) {
      ws.controller_inputs.resize(T);
      ws.controller_steps.resize(T);
      ws.projections.resize(T);
      ws.memory_steps.resize(T);
      ws.outputs.resize(T);
      ws.losses.resize(T);
    }
    for (Index t = 0; t < T; ++t) {
      ws.controller_inputs[t].resize(in_rows, B);
      ws.projections[t].resize(head_.projection_size(), B);
      ws.losses[t].kind = config_.output;
    }
    ws.output_inputs.resize(out_in_rows, T * B);
    if constexpr (kBatched) {
      const Index gates = 4 * controller_.output_size();
      ws.known_inputs.resize(config_.input_size + config_.label_size, T * B);
      ws.known_gates.resize(gates, T * B);
      ws.dgates.resize(gates, T * B);
    }
  }

  static constexpr bool kBatched = detail::batches_known_inputs<Controller>::value;

  MannConfig config_;
  Controller controller_;
  Head head_;
  Linear<Scalar> projection_;
  Linear<Scalar> output_;
};

}  // namespace mann
