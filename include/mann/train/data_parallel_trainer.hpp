// mann/train/data_parallel_trainer.hpp: data-parallel training over MPI ranks. Every rank trains its
// share of the global minibatch with a ParallelTrainer (threads within the rank); the gradients,
// the loss and the accuracy counts are summed with one MPI_Allreduce over one flat buffer per step;
// then every rank applies the same optimiser step to the same sum, so the replicas stay equal (a
// hash of the weights is compared across ranks every check_every steps).
// Opt-in (mann/mpi.hpp): needs MPI, link MPI::MPI_CXX.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

#include "mann/core/episode.hpp"
#include "mann/core/error.hpp"
#include "mann/core/parameter.hpp"
#include "mann/mpi/communicator.hpp"
#include "mann/optim/clip.hpp"
#include "mann/optim/step_in_parts.hpp"
#include "mann/train/parallel_trainer.hpp"

namespace mann {

/// The replicas of a data-parallel run hold different weights (a bug, or a non-deterministic
/// reduction): thrown on every rank by DataParallelTrainer::check_replicas.
class ReplicaMismatchError : public Error {
 public:
  using Error::Error;
};

/// A 64-bit hash of the weights' bits (every parameter's values, in list order).
template <class Scalar>
std::uint64_t weights_hash(const ParameterList<Scalar>& list) {
  std::uint64_t hash = 0xcbf29ce484222325ull;
  for (const auto& p : list) {
    const auto& value = p.parameter->value;
    for (Index i = 0; i < value.size(); ++i) {
      std::uint64_t bits = 0;
      std::memcpy(&bits, value.data() + i, sizeof(Scalar));
      hash = (hash ^ bits) * 0x100000001b3ull;
      hash ^= hash >> 29;
    }
  }
  return hash;
}

/// Data-parallel trainer over the ranks of an MPI communicator, for the models ParallelTrainer
/// takes. The global minibatch of B episodes is cut into near-equal contiguous shares, one per rank
/// (share(B)); each rank generates and passes only its own share. Generators that seed each episode
/// by its index (mann/data/episodes.hpp, gp.hpp) make the union of the shares exactly the batch one
/// process would train on, whatever the number of ranks.
///
/// A step: the rank's gradient (mean over its share) is scaled by its share of B and packed with
/// the loss and the accuracy counts into one buffer; one MPI_Allreduce sums it; every rank unpacks
/// the same sum (the gradient of the mean loss over all B episodes), clips it if asked, and steps
/// its optimiser. Up to the order of the summation this is one process's step on the whole batch:
/// with R ranks of one thread each, it is the ParallelTrainer step with R threads.
///
/// Every member that takes a batch is collective: every rank must call it, in the same order.
template <class Model>
class DataParallelTrainer {
 public:
  using Scalar = typename ParallelTrainer<Model>::Scalar;

  /// `threads` per rank; check_every: steps between weight-hash comparisons (0: never).
  DataParallelTrainer(Model& model, int threads, mpi::Communicator comm = mpi::Communicator(), long check_every = 100)
      : trainer_(model, threads), comm_(comm), parameters_(model.parameters()), check_every_(check_every) {
    check_value(check_every >= 0, "mann::DataParallelTrainer", "check_every", check_every, ">= 0");
    Index size = 0;
    for (const auto& p : parameters_) size += p.parameter->grad.size();
    gradient_size_ = size;
    buffer_.resize(static_cast<std::size_t>(size + 1 + 2 * (kMaxInstance + 1)));
  }

  int rank() const { return comm_.rank(); }
  int ranks() const { return comm_.size(); }
  const mpi::Communicator& communicator() const { return comm_; }
  int threads() const { return trainer_.threads(); }
  ThreadPool& pool() { return trainer_.pool(); }
  /// Floats summed per step (gradients + loss + accuracy counts): the allreduce's payload.
  std::size_t buffer_size() const { return buffer_.size(); }
  /// Seconds spent in the last step's MPI_Allreduce (waiting for the slowest rank included), and
  /// in all of them so far.
  double last_allreduce_seconds() const { return allreduce_seconds_; }
  double total_allreduce_seconds() const { return total_allreduce_seconds_; }

  /// This rank's episodes [first, first + count) of a global batch of `global_batch` episodes.
  std::pair<Index, Index> share(Index global_batch) const {
    check_value(global_batch >= ranks(), "mann::DataParallelTrainer::share", "global_batch", global_batch,
                ">= the number of ranks (every rank trains at least one episode)");
    const Index begin = global_batch * rank() / ranks(), end = global_batch * (rank() + 1) / ranks();
    return {begin, end - begin};
  }

  /// One step on the global batch of which `local` is this rank's share (share(global_batch)):
  /// forward + backward on the share, one allreduce, clip (clip_norm > 0: the global gradient's
  /// L2 norm), optimizer.step(). Returns the mean loss per episode over the global batch and adds
  /// the global batch's accuracy counts to `accuracy` (not null); `grad_norm` (not null) receives
  /// the global gradient's norm before clipping. With `skip_nonfinite`, a gradient holding Inf or
  /// NaN (float32 overflow in the backward pass) skips the step on every rank: weights and optimiser
  /// unchanged, `grad_norm` non-finite. \throws ValueError for a share of the wrong size, a
  /// non-finite loss, or (without `skip_nonfinite`) a non-finite gradient whose norm was computed
  /// (clipping on or `grad_norm` asked; on every rank alike: they hold the same sum).
  template <class Optimizer>
  Scalar train_step(const EpisodeBatch<Scalar>& local, Index global_batch, Optimizer& optimizer, LabelEncoding encoding,
                    InstanceAccuracy* accuracy = nullptr, double clip_norm = 0, double* grad_norm = nullptr,
                    bool skip_nonfinite = false) {
    const Scalar loss = compute_gradients(local, global_batch, encoding, accuracy);
    check_value(std::isfinite(static_cast<double>(loss)), "mann::DataParallelTrainer::train_step", "loss",
                static_cast<double>(loss), "finite (the model diverged)");
    if (clip_norm > 0 || grad_norm != nullptr || skip_nonfinite) {
      const double norm = clip_grad_norm_if_finite(parameters_, std::max(clip_norm, 0.0));
      if (grad_norm != nullptr) *grad_norm = norm;
      if (skip_nonfinite && !std::isfinite(norm)) return loss;
      check_value(std::isfinite(norm), "mann::DataParallelTrainer::train_step", "gradient norm", norm,
                  "finite (NaN/Inf in a gradient; skip_nonfinite skips such a step)");
    }
    step_in_parts(optimizer, trainer_.pool(), threads());
    if (check_every_ > 0 && ++steps_ % check_every_ == 0) check_replicas();
    return loss;
  }

  /// train_step without the clipping and the optimiser's step: leaves the gradient of the mean loss
  /// over the global batch in the model's parameters (on every rank). Collective.
  Scalar compute_gradients(const EpisodeBatch<Scalar>& local, Index global_batch, LabelEncoding encoding,
                           InstanceAccuracy* accuracy = nullptr) {
    return reduce(local, global_batch, encoding, accuracy, true, "mann::DataParallelTrainer::compute_gradients");
  }

  /// Forward only on this rank's share; returns the global batch's mean loss and adds its accuracy
  /// counts to `accuracy` (not null). Collective.
  Scalar evaluate(const EpisodeBatch<Scalar>& local, Index global_batch, LabelEncoding encoding,
                  InstanceAccuracy* accuracy) {
    return reduce(local, global_batch, encoding, accuracy, false, "mann::DataParallelTrainer::evaluate");
  }

  /// Compares the hash of the weights across ranks; throws ReplicaMismatchError on every rank if
  /// any two differ. Collective.
  void check_replicas() {
    std::uint64_t low = weights_hash(parameters_), high = low;
    comm_.allreduce_min(&low, 1);
    comm_.allreduce_max(&high, 1);
    if (low != high) {
      throw ReplicaMismatchError(detail::concat("mann::DataParallelTrainer: the ranks' weights differ after ", steps_,
                                                " steps (hashes ", low, " to ", high, ")"));
    }
  }

 private:
  static constexpr int kMaxInstance = 10;  // InstanceAccuracy's default

  // Forward (+ backward) of the share, then one allreduce of [weighted gradients, weighted loss,
  // accuracy counts]; the sums are unpacked into the master's gradients and `accuracy`.
  Scalar reduce(const EpisodeBatch<Scalar>& local, Index global_batch, LabelEncoding encoding,
                InstanceAccuracy* accuracy, bool with_backward, const char* where) {
    const Index expected = share(global_batch).second;
    check_value(local.batch() == expected, where, "local.batch()", local.batch(),
                detail::concat("share(", global_batch, ").second = ", expected).c_str());
    InstanceAccuracy counts(kMaxInstance);
    const Scalar local_loss = trainer_.compute_gradients(local, encoding, &counts, with_backward);
    const Scalar weight = static_cast<Scalar>(expected) / static_cast<Scalar>(global_batch);
    Scalar* out = buffer_.data();
    if (with_backward) {
      for (const auto& p : parameters_) {
        const auto& g = p.parameter->grad;
        Eigen::Map<Vector<Scalar>>(out, g.size()) = weight * g.reshaped();
        out += g.size();
      }
    }
    *out++ = weight * local_loss;
    for (int k = 0; k <= kMaxInstance; ++k) {
      *out++ = static_cast<Scalar>(counts.correct_count(k));
      *out++ = static_cast<Scalar>(counts.count(k));
    }
    const std::size_t used = static_cast<std::size_t>(out - buffer_.data());
    const auto start = std::chrono::steady_clock::now();
    comm_.allreduce_sum(buffer_.data(), used);
    allreduce_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    total_allreduce_seconds_ += allreduce_seconds_;
    const Scalar* in = buffer_.data();
    if (with_backward) {
      for (const auto& p : parameters_) {
        auto& g = p.parameter->grad;
        g.reshaped() = Eigen::Map<const Vector<Scalar>>(in, g.size());
        in += g.size();
      }
    }
    const Scalar loss = *in++;
    if (accuracy != nullptr) {
      for (int k = 1; k <= std::min(kMaxInstance, accuracy->max_instance()); ++k) {
        accuracy->add_counts(k, static_cast<double>(in[2 * k]), static_cast<double>(in[2 * k + 1]));
      }
    }
    return loss;
  }

  ParallelTrainer<Model> trainer_;
  mpi::Communicator comm_;
  ParameterList<Scalar> parameters_;
  long check_every_;
  long steps_ = 0;
  Index gradient_size_ = 0;
  std::vector<Scalar> buffer_;
  double allreduce_seconds_ = 0, total_allreduce_seconds_ = 0;
};

}  // namespace mann
