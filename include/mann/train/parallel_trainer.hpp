// mann/train/parallel_trainer.hpp: one training step on a batch of episodes split across threads:
// each thread runs forward + BPTT on its share with its own replica of the model, the gradients
// are summed, and the optimiser steps once.
#pragma once

#include <algorithm>
#include <memory>
#include <vector>

#include "mann/core/error.hpp"
#include "mann/train/episode.hpp"
#include "mann/train/thread_pool.hpp"

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

  /// Forward + backward on `batch` (gradients zeroed first, then left in the master's parameters,
  /// averaged over all episodes); returns the mean loss per episode. Records accuracy by instance
  /// into `accuracy` when not null (classification outputs). Does not step an optimiser.
  Scalar compute_gradients(const EpisodeBatch<Scalar>& batch, LabelEncoding encoding,
                           InstanceAccuracy* accuracy = nullptr, bool with_backward = true) {
    const Index B = batch.batch();
    const int parts = static_cast<int>(std::min<Index>(threads(), B));
    split(batch, parts);
    for (std::size_t k = 0; k < replicas_.size() && static_cast<int>(k) + 1 < parts; ++k) {
      for (std::size_t i = 0; i < master_parameters_.size(); ++i) {
        replica_parameters_[k][i].parameter->value = master_parameters_[i].parameter->value;
      }
    }
    auto task = [&](int k) {
      Model& m = k == 0 ? model_ : *replicas_[static_cast<std::size_t>(k - 1)];
      const EpisodeBatch<Scalar>& share = parts == 1 ? batch : shares_[static_cast<std::size_t>(k)];
      Workspace& ws = workspaces_[static_cast<std::size_t>(k)];
      auto& params = k == 0 ? master_parameters_ : replica_parameters_[static_cast<std::size_t>(k - 1)];
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
    pool_.run(parts, task);
    // Each share's gradient is a mean over its episodes: weight by its share of the batch.
    Scalar loss = 0;
    for (int k = 0; k < parts; ++k) {
      const Scalar weight = static_cast<Scalar>(share_size(B, parts, k)) / static_cast<Scalar>(B);
      loss += weight * losses_[static_cast<std::size_t>(k)];
      if (accuracy != nullptr) accuracy->merge(accuracy_[static_cast<std::size_t>(k)]);
      if (!with_backward) continue;
      for (std::size_t i = 0; i < master_parameters_.size(); ++i) {
        auto& g = master_parameters_[i].parameter->grad;
        if (k == 0) {
          g *= weight;
        } else {
          g += weight * replica_parameters_[static_cast<std::size_t>(k - 1)][i].parameter->grad;
        }
      }
    }
    return loss;
  }

  /// compute_gradients, then optimizer.step(). Returns the mean loss per episode.
  template <class Optimizer>
  Scalar train_step(const EpisodeBatch<Scalar>& batch, Optimizer& optimizer, LabelEncoding encoding,
                    InstanceAccuracy* accuracy = nullptr) {
    const Scalar loss = compute_gradients(batch, encoding, accuracy);
    check_value(std::isfinite(static_cast<double>(loss)), "mann::ParallelTrainer::train_step", "loss",
                static_cast<double>(loss), "finite (the model diverged)");
    optimizer.step();
    return loss;
  }

  /// Forward only (no weight change), e.g. for evaluation; returns the mean loss per episode.
  Scalar evaluate(const EpisodeBatch<Scalar>& batch, LabelEncoding encoding, InstanceAccuracy* accuracy) {
    return compute_gradients(batch, encoding, accuracy, false);
  }

  /// The workspace of thread k (its outputs hold the last batch share's predictions).
  const Workspace& workspace(int k) const { return workspaces_.at(static_cast<std::size_t>(k)); }

 private:
  static Index share_begin(Index B, int parts, int k) { return B * k / parts; }
  static Index share_size(Index B, int parts, int k) { return share_begin(B, parts, k + 1) - share_begin(B, parts, k); }

  void split(const EpisodeBatch<Scalar>& batch, int parts) {
    if (parts == 1) return;
    const Index T = batch.length(), B = batch.batch();
    for (int k = 0; k < parts; ++k) {
      auto& share = shares_[static_cast<std::size_t>(k)];
      const Index begin = share_begin(B, parts, k), size = share_size(B, parts, k);
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
};

}  // namespace mann
