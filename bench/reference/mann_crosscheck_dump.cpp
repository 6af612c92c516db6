// mann_crosscheck_dump: builds the paper-size Mann<float, Lstm<float>, LruaHead<float>> from a seed,
// draws a random episode batch, runs one forward + BPTT pass and two RMSProp steps, and writes
//   <dir>/weights.safetensors   the model's parameters (model.parameters(), metadata = model.metadata())
//   <dir>/episode.safetensors   inputs (I × T·B) and targets (L × T·B), column t·B + b = step t, episode b
//   <dir>/grads.safetensors     loss (1 × 1), every parameter's gradient under the parameter's name,
//                               and diagnostics: logits (L × T·B), zeroed slot per step (T × B),
//                               least-used indicator w_lu (N × T·B), usage w_u (N × T·B)
//   <dir>/stepped.safetensors   the parameters after two RMSProp steps from zero state, both on the gradients
//                               above (lr 1e-4, ρ 0.95, μ 0.9, ε 1e-8), and the optimiser's state:
//                               rmsprop.mean_square.<name>, rmsprop.velocity.<name> (the last update)
// for bench/reference/mann_torch.py --check <dir>.
// Usage: mann_crosscheck_dump <dir> [seed=7] [batch=4] [length=50]
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "mann/core/init.hpp"
#include "mann/io/checkpoint.hpp"
#include "mann/memory/lrua_head.hpp"
#include "mann/models/mann_model.hpp"
#include "mann/nn/lstm.hpp"
#include "mann/optim/rmsprop.hpp"

namespace {

using Model = mann::Mann<float, mann::Lstm<float>, mann::LruaHead<float>>;
using Mat = mann::Matrix<float>;

/// Stacks per-step matrices (rows × B each) side by side: column t·B + b.
template <class Get>
mann::Parameter<float> stack_steps(mann::Index T, Get get) {
  const Mat& first = get(0);
  mann::Parameter<float> p(first.rows(), first.cols() * T);
  for (mann::Index t = 0; t < T; ++t) p.value.middleCols(t * first.cols(), first.cols()) = get(t);
  return p;
}

}  // namespace

int run(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: " << argv[0] << " <dir> [seed=7] [batch=4] [length=50]\n";
    return 2;
  }
  const std::string dir = argv[1];
  const unsigned long long seed = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 7;
  const mann::Index B = argc > 3 ? std::atol(argv[3]) : 4;
  const mann::Index T = argc > 4 ? std::atol(argv[4]) : 50;
  std::filesystem::create_directories(dir);

  // The paper's sizes: input 400, 5 classes one-hot, LSTM 200, memory 128 × 40, 4 heads, γ 0.99.
  mann::Rng rng(seed);
  mann::MannConfig config;
  mann::LruaHead<float> head;  // defaults: 128 × 40, 4 heads, γ 0.99, ε 1e-6
  mann::Lstm<float> lstm(Model::controller_input_size(config, head), 200, rng);
  Model model(config, lstm, head, rng);
  const mann::Index I = config.input_size, L = config.label_size;

  mann::EpisodeBatch<float> batch;
  batch.resize(T, B, I, L);
  for (mann::Index t = 0; t < T; ++t) {
    mann::init_uniform(batch.inputs[t], rng, 0.0, 1.0);
    batch.targets[t].setZero();
    for (mann::Index b = 0; b < B; ++b) batch.targets[t](static_cast<mann::Index>(rng.below(L)), b) = 1;
  }

  mann::ParameterList<float> params = model.parameters();
  auto meta = model.metadata();
  meta["seed"] = std::to_string(seed);
  meta["slots"] = std::to_string(head.options().slots);
  meta["width"] = std::to_string(head.options().width);
  meta["heads"] = std::to_string(head.options().heads);
  meta["usage_decay"] = std::to_string(head.options().usage_decay);
  meta["epsilon"] = std::to_string(head.options().epsilon);
  mann::save_checkpoint(dir + "/weights.safetensors", params, meta);

  mann::Parameter<float> inputs = stack_steps(T, [&](mann::Index t) -> const Mat& { return batch.inputs[t]; });
  mann::Parameter<float> targets = stack_steps(T, [&](mann::Index t) -> const Mat& { return batch.targets[t]; });
  mann::save_checkpoint(dir + "/episode.safetensors", mann::ParameterList<float>{{"inputs", &inputs}, {"targets", &targets}},
                        {{"layout", "rows x (T*B), column t*B+b"},
                         {"length", std::to_string(T)},
                         {"batch", std::to_string(B)}});

  Model::Workspace ws;
  mann::zero_grad(params);
  const float loss = model.forward(batch, ws);
  model.backward(batch, ws);

  mann::Parameter<float> loss_tensor(1, 1);
  loss_tensor.value(0, 0) = loss;
  std::vector<mann::Parameter<float>> grads(params.size());
  mann::ParameterList<float> out{{"loss", &loss_tensor}};
  for (std::size_t i = 0; i < params.size(); ++i) {
    grads[i].value = params[i].parameter->grad;
    out.push_back({params[i].name, &grads[i]});
  }
  mann::Parameter<float> logits = stack_steps(T, [&](mann::Index t) -> const Mat& { return ws.outputs[t]; });
  mann::Parameter<float> least_used =
      stack_steps(T, [&](mann::Index t) -> const Mat& { return ws.memory_steps[t].least_used; });
  mann::Parameter<float> usage = stack_steps(T, [&](mann::Index t) -> const Mat& { return ws.memory_steps[t].usage; });
  mann::Parameter<float> zeroed(T, B);
  for (mann::Index t = 0; t < T; ++t)
    for (mann::Index b = 0; b < B; ++b) zeroed.value(t, b) = static_cast<float>(ws.memory_steps[t].zeroed[b]);
  out.push_back({"diag.logits", &logits});
  out.push_back({"diag.least_used", &least_used});
  out.push_back({"diag.usage", &usage});
  out.push_back({"diag.zeroed", &zeroed});
  mann::save_checkpoint(dir + "/grads.safetensors", out, {{"loss", "summed over steps, mean over episodes"}});

  // Two RMSProp steps from zero state on these same gradients (the second exercises ρ and μ).
  mann::RmsProp<float> optimizer(params);  // lr 1e-4, ρ 0.95, μ 0.9, ε 1e-8
  optimizer.step();
  optimizer.step();
  mann::ParameterList<float> stepped = params;  // the weights after the steps, then the optimiser's state
  for (const auto& s : optimizer.state()) stepped.push_back(s);  // rmsprop.{mean_square,velocity}.<name>
  mann::save_checkpoint(dir + "/stepped.safetensors", stepped, meta);

  std::cout << "mann_crosscheck_dump: seed " << seed << ", B " << B << ", T " << T << ", loss " << loss << ", "
            << mann::parameter_count(params) << " parameters -> " << dir << "\n";
  return 0;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "mann_crosscheck_dump: " << e.what() << "\n";
    return 1;
  }
}
