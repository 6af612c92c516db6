// mann/train/parallel_trainer.hpp: one training step on a batch of episodes split across threads:
// each thread copies its share of the batch and its slice of the master's weights into every replica,
// meets the others at a barrier, then runs forward + BPTT on its share with its own replica of the
// model; then the threads sum the gradients and apply the optimiser's step together, each on a slice
// of every parameter.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <memory>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "mann/core/episode.hpp"
#include "mann/core/error.hpp"
#include "mann/core/parameter.hpp"
#include "mann/core/thread_pool.hpp"
#include "mann/optim/step_in_parts.hpp"

namespace mann {

/// Data-parallel trainer for any model with forward(batch, workspace) → mean loss,
/// backward(batch, workspace) and parameters(). Replica k > 0 is a copy of the model whose weights
/// are refreshed from the master before every step; replica 0 is the master itself.
/// After the first step at a given batch size, a step allocates nothing.
template <class Model>
class ParallelTrainer {
 public:
  using Scalar = typename std::decay_t<decltype(std::declval<Model&>().parameters()[0].parameter->value)>::Scalar;
  using Workspace = typename Model::Workspace;

  ParallelTrainer(Model& model, int threads) : model_(model), pool_(std::max(1, threads)) {
    check_value(threads >= 1, "mann::ParallelTrainer", "threads", threads, ">= 1");
    master_parameters_ = model_.parameters();
    replicas_.reserve(static_cast<std::size_t>(threads - 1));
    for (int k = 1; k < threads; ++k) replicas_.push_back(std::make_unique<Model>(model_));
    for (auto& r : replicas_) replica_parameters_.push_back(r->parameters());
    workspaces_.resize(static_cast<std::size_t>(threads));
    shares_.resize(static_cast<std::size_t>(threads));
    losses_.assign(static_cast<std::size_t>(threads), Scalar(0));
    accuracy_.assign(static_cast<std::size_t>(threads), InstanceAccuracy());
  }

  int threads() const { return pool_.size(); }
  /// The trainer's threads, free between steps: e.g. for an episode generator's generate(…, pool).
  ThreadPool& pool() { return pool_; }

  /// Forward + backward on `batch` (gradients zeroed first, then left in the master's parameters,
  /// averaged over all episodes); returns the mean loss per episode. Records accuracy by instance
  /// into `accuracy` when not null (classification outputs). Does not step an optimiser.
  Scalar compute_gradients(const EpisodeBatch<Scalar>& batch, LabelEncoding encoding,
                           InstanceAccuracy* accuracy = nullptr, bool with_backward = true) {
    const Scalar loss = run_shares(batch, encoding, accuracy, with_backward);
    if (with_backward && parts_ > 1) {
      auto task = [&](int k) { reduce_part(k); };
      pool_.run(parts_, task);
    }
    return loss;
  }

  /// compute_gradients, then optimizer.step(). Returns the mean loss per episode. With an optimiser
  /// that can step in parts (RmsProp::step_part), the threads sum the shares' gradients and apply
  /// the update together, each on its slice of every parameter.
  template <class Optimizer>
  Scalar train_step(const EpisodeBatch<Scalar>& batch, Optimizer& optimizer, LabelEncoding encoding,
                    InstanceAccuracy* accuracy = nullptr) {
    const Scalar loss = run_shares(batch, encoding, accuracy, true);
    check_value(std::isfinite(static_cast<double>(loss)), "mann::ParallelTrainer::train_step", "loss",
                static_cast<double>(loss), "finite (the model diverged)");
    if constexpr (can_step_in_parts<Optimizer>::value) {
      auto task = [&](int k) {
        if (parts_ > 1) reduce_part(k);
        optimizer.step_part(k, parts_);
      };
      pool_.run(parts_, task);
      optimizer.end_step();
    } else {
      if (parts_ > 1) {
        auto task = [&](int k) { reduce_part(k); };
        pool_.run(parts_, task);
      }
      optimizer.step();
    }
    return loss;
  }

  /// Forward only (no weight change), e.g. for evaluation; returns the mean loss per episode.
  Scalar evaluate(const EpisodeBatch<Scalar>& batch, LabelEncoding encoding, InstanceAccuracy* accuracy) {
    return compute_gradients(batch, encoding, accuracy, false);
  }

  /// The workspace of thread k (its outputs hold the last batch share's predictions).
  const Workspace& workspace(int k) const { return workspaces_.at(static_cast<std::size_t>(k)); }

 private:
  // Forward (+ backward) of each thread's share of the batch, each into its own model's gradients;
  // first each thread copies its share and its slice of the master's weights into every replica.
  // Returns the mean loss.
  Scalar run_shares(const EpisodeBatch<Scalar>& batch, LabelEncoding encoding, InstanceAccuracy* accuracy,
                    bool with_backward) {
    batch.validate_shape("mann::ParallelTrainer");  // the shares are cut by it; values are checked per share
    const Index B = batch.batch();
    parts_ = static_cast<int>(std::min<Index>(threads(), B));
    arrived_.store(0, std::memory_order_relaxed);  // the pool's start publishes these to the workers
    copy_failed_.store(false, std::memory_order_relaxed);
    auto task = [&](int k) {
      Model& m = k == 0 ? model_ : *replicas_[static_cast<std::size_t>(k - 1)];
      const EpisodeBatch<Scalar>& share = parts_ == 1 ? batch : shares_[static_cast<std::size_t>(k)];
      Workspace& ws = workspaces_[static_cast<std::size_t>(k)];
      auto& params = k == 0 ? master_parameters_ : replica_parameters_[static_cast<std::size_t>(k - 1)];
      if (parts_ > 1) {
        // Every thread arrives at the barrier, even after an exception, or the others would wait forever.
        // If any thread's copies failed, the replicas are incomplete: every thread stops there.
        std::exception_ptr error;
        try {
          copy_share(batch, k);
          refresh_replicas_part(k);
        } catch (...) {
          error = std::current_exception();
          copy_failed_.store(true, std::memory_order_relaxed);
        }
        wait_for_all();
        if (error) std::rethrow_exception(error);
        if (copy_failed_.load(std::memory_order_relaxed)) return;  // the failing thread reports it
      }
      for (auto& p : params) p.parameter->grad.setZero();
      losses_[static_cast<std::size_t>(k)] = m.forward(share, ws);
      if (with_backward) m.backward(share, ws);
      m.carry_memory(ws);
      if (accuracy != nullptr) {
        accuracy_[static_cast<std::size_t>(k)].clear();
        for (Index t = 0; t < share.length(); ++t) {
          accuracy_[static_cast<std::size_t>(k)].add_step(ws.outputs[t], share.targets[t], share.instance[t], encoding);
        }
      }
    };
    pool_.run(parts_, task);
    Scalar loss = 0;
    for (int k = 0; k < parts_; ++k) {
      loss += share_weight(B, k) * losses_[static_cast<std::size_t>(k)];
      if (accuracy != nullptr) accuracy->merge(accuracy_[static_cast<std::size_t>(k)]);
    }
    batch_ = B;
    return loss;
  }

  // Slice k of every master parameter's values into every replica (the slices of reduce_part).
  void refresh_replicas_part(int k) {
    for (std::size_t i = 0; i < master_parameters_.size(); ++i) {
      const auto& value = master_parameters_[i].parameter->value;
      const Index begin = part_begin(value.size(), parts_, k), size = part_size(value.size(), parts_, k);
      for (auto& replica : replica_parameters_) {
        replica[i].parameter->value.reshaped().segment(begin, size) = value.reshaped().segment(begin, size);
      }
    }
  }

  // Spin barrier of the parts_ tasks of one run (the waits are short: the tasks start together and
  // do equal copies before it).
  void wait_for_all() {
    arrived_.fetch_add(1, std::memory_order_acq_rel);
    while (arrived_.load(std::memory_order_acquire) < parts_) std::this_thread::yield();
  }

  // Each share's gradient is a mean over its episodes: the master's gradient becomes the sum weighted
  // by the shares' sizes. Part k of parts_ sums slice k of every parameter's elements.
  void reduce_part(int k) {
    for (std::size_t i = 0; i < master_parameters_.size(); ++i) {
      auto& g = master_parameters_[i].parameter->grad;
      const Index begin = part_begin(g.size(), parts_, k), size = part_size(g.size(), parts_, k);
      auto sum = g.reshaped().segment(begin, size);
      sum *= share_weight(batch_, 0);
      for (int r = 1; r < parts_; ++r) {
        const auto& other = replica_parameters_[static_cast<std::size_t>(r - 1)][i].parameter->grad;
        sum += share_weight(batch_, r) * other.reshaped().segment(begin, size);
      }
    }
  }

  Scalar share_weight(Index B, int k) const {
    return static_cast<Scalar>(part_size(B, parts_, k)) / static_cast<Scalar>(B);
  }

  // Part k of `parts` near-equal contiguous parts of n items: the episodes of a share, the elements of
  // a parameter slice (RmsProp::step_part slices the same way).
  static Index part_begin(Index n, int parts, int k) { return n * k / parts; }
  static Index part_size(Index n, int parts, int k) { return part_begin(n, parts, k + 1) - part_begin(n, parts, k); }

  // Share k of parts_: a copy of its columns of the batch, made by thread k.
  void copy_share(const EpisodeBatch<Scalar>& batch, int k) {
    const Index T = batch.length(), B = batch.batch();
    auto& share = shares_[static_cast<std::size_t>(k)];
    const Index begin = part_begin(B, parts_, k), size = part_size(B, parts_, k);
    if (share.length() != T || share.batch() != size || share.input_size() != batch.input_size() ||
        share.label_size() != batch.label_size()) {
      share.resize(T, size, batch.input_size(), batch.label_size());
    }
    for (Index t = 0; t < T; ++t) {
      share.inputs[t] = batch.inputs[t].middleCols(begin, size);
      share.targets[t] = batch.targets[t].middleCols(begin, size);
      std::copy(batch.instance[t].begin() + begin, batch.instance[t].begin() + begin + size,
                share.instance[t].begin());
    }
  }

  Model& model_;
  ThreadPool pool_;
  ParameterList<Scalar> master_parameters_;
  std::vector<std::unique_ptr<Model>> replicas_;
  std::vector<ParameterList<Scalar>> replica_parameters_;
  std::vector<Workspace> workspaces_;
  std::vector<EpisodeBatch<Scalar>> shares_;
  std::vector<Scalar> losses_;
  std::vector<InstanceAccuracy> accuracy_;
  std::atomic<int> arrived_{0};          // tasks past their copies in the current run (wait_for_all)
  std::atomic<bool> copy_failed_{false};  // a task's copies threw in the current run
  int parts_ = 1;   // threads used by the last step: min(threads, batch)
  Index batch_ = 1;  // episodes in the last step's batch
};

}  // namespace mann
