// mann/models/controller_only.hpp: the memory-less baselines of Santoro et al. Tables 1–2 — an LSTM
// (or a feed-forward net) alone, shown (x_t, y_{t−1}) and trained exactly like the MANN.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "mann/core/error.hpp"
#include "mann/models/mann_model.hpp"

namespace mann {

/// Controller + output layer, no external memory: input [x_t; y_{t−1}], output W_o h_t + b_o.
/// Same interface as Mann (forward/backward/parameters/Workspace), so ParallelTrainer, the
/// Omniglot example and checkpoints treat both alike.
template <class Scalar, class Controller>
class ControllerOnly {
 public:
  using Mat = Matrix<Scalar>;

  struct Workspace {
    std::vector<Mat> controller_inputs;
    std::vector<typename Controller::Step> controller_steps;
    std::vector<Mat> outputs;  ///< outputs[t]: logits (or μ, raw σ²) at step t
    std::vector<StepLoss<Scalar>> losses;
    typename Controller::Carry controller_carry;
    Mat d_outputs, d_hidden, d_controller_input;
    // batched controller path (an LSTM): the whole input is known before the run (see Mann)
    Mat known_inputs, known_gates, dgates, controller_xh;
    typename detail::step_weights<Controller>::type step_weights;
  };

  ControllerOnly() = default;
  ControllerOnly(const MannConfig& config, Controller controller, Rng& rng)
      : config_(config), controller_(std::move(controller)) {
    check_value(controller_.input_size() == controller_input_size(config), "mann::ControllerOnly",
                "controller input size", controller_.input_size(), "input_size + label_size");
    output_ = Linear<Scalar>(controller_.output_size(), StepLoss<Scalar>::output_rows(config.output, config.label_size),
                             rng);
  }

  static Index controller_input_size(const MannConfig& config) { return config.input_size + config.label_size; }
  const MannConfig& config() const { return config_; }

  Scalar forward(const EpisodeBatch<Scalar>& episodes, Workspace& ws) const {
    episodes.validate("mann::ControllerOnly::forward");
    check_shape(episodes.inputs[0], config_.input_size, -1, "mann::ControllerOnly::forward", "episode inputs[0]");
    check_shape(episodes.targets[0], config_.label_size, -1, "mann::ControllerOnly::forward", "episode targets[0]");
    const Index T = episodes.length(), B = episodes.batch(), I = config_.input_size, L = config_.label_size;
    if (static_cast<Index>(ws.controller_inputs.size()) != T) {
      ws.controller_inputs.resize(T);
      ws.controller_steps.resize(T);
      ws.outputs.resize(T);
      ws.losses.resize(T);
    }
    for (Index t = 0; t < T; ++t) {
      Mat& in = ws.controller_inputs[t];
      in.resize(I + L, B);
      in.topRows(I) = episodes.inputs[t];
      if (t == 0) {
        in.bottomRows(L).setZero();
      } else {
        in.bottomRows(L) = episodes.targets[t - 1];
      }
    }
    if constexpr (kBatched) {  // eq. 9's input part for all steps in one product
      ws.known_inputs.resize(I + L, T * B);
      for (Index t = 0; t < T; ++t) ws.known_inputs.middleCols(t * B, B) = ws.controller_inputs[t];
      controller_.precompute_known_gates(ws.known_inputs, ws.known_gates, ws.step_weights);
    }
    Scalar loss = 0;
    for (Index t = 0; t < T; ++t) {
      const auto* prev_step = t ? &ws.controller_steps[t - 1] : nullptr;
      if constexpr (kBatched) {
        controller_.forward_step_known(ws.controller_inputs[t], ws.known_gates.middleCols(t * B, B),
                                       ws.step_weights, prev_step, ws.controller_steps[t]);
      } else {
        controller_.forward_step(ws.controller_inputs[t], prev_step, ws.controller_steps[t]);
      }
      output_.forward(ws.controller_steps[t].h, ws.outputs[t]);
      ws.losses[t].kind = config_.output;
      loss += ws.losses[t].forward(ws.outputs[t], episodes.targets[t]);
    }
    return loss / static_cast<Scalar>(B);
  }

  void backward(const EpisodeBatch<Scalar>& episodes, Workspace& ws) {
    const Index T = episodes.length(), B = episodes.batch();
    controller_.reset_carry(ws.controller_carry, B);
    if constexpr (kBatched) ws.dgates.resize(4 * controller_.output_size(), T * B);
    const Scalar scale = Scalar(1) / static_cast<Scalar>(B);
    for (Index t = T; t-- > 0;) {
      ws.losses[t].backward(episodes.targets[t], scale, ws.d_outputs);
      output_.backward(ws.controller_steps[t].h, ws.d_outputs, &ws.d_hidden);
      if constexpr (kBatched) {  // no input gradient is needed
        controller_.backward_step_deferred(ws.controller_steps[t], ws.d_hidden, ws.controller_carry,
                                           ws.step_weights, ws.dgates.middleCols(t * B, B),
                                           ws.d_controller_input);
      } else {
        controller_.backward_step(ws.controller_steps[t], ws.d_hidden, ws.controller_carry, ws.d_controller_input);
      }
    }
    if constexpr (kBatched) {
      controller_.accumulate_deferred_gradients(ws.dgates, ws.controller_steps, ws.controller_xh);
    }
  }

  void carry_memory(Workspace&) const {}  // no memory to carry

  void parameters(ParameterList<Scalar>& list, const std::string& prefix = "") {
    const std::string p = prefix.empty() ? "" : prefix + ".";
    controller_.parameters(list, p + "controller");
    output_.parameters(list, p + "output");
  }
  ParameterList<Scalar> parameters() {
    ParameterList<Scalar> list;
    parameters(list);
    return list;
  }

  std::map<std::string, std::string> metadata() const {
    return {{"model", "controller_only"},
            {"input_size", std::to_string(config_.input_size)},
            {"label_size", std::to_string(config_.label_size)},
            {"output", to_string(config_.output)},
            {"controller_output_size", std::to_string(controller_.output_size())}};
  }

 private:
  static constexpr bool kBatched = detail::batches_known_inputs<Controller>::value;

  MannConfig config_;
  Controller controller_;
  Linear<Scalar> output_;
};

}  // namespace mann
