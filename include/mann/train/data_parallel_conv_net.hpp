// mann/train/data_parallel_conv_net.hpp: data-parallel training of the ConvNet with memory
// (mann/models/conv_net_memory.hpp) over MPI ranks. The memory is state every replica must hold
// alike, so a step exchanges queries, not only gradients: each rank encodes its columns of the
// batch, one MPI_Allgather gives every rank the whole batch's queries, every rank runs the memory
// part (query, loss, dL/dq) on the whole batch, back-propagates its own columns through its
// encoder, one MPI_Allreduce sums the encoder gradients, and every rank clips, steps Adam and
// writes the memory alike. Opt-in (mann/distributed.hpp): needs MPI, link MPI::MPI_CXX.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <exception>
#include <utility>
#include <vector>

#include "mann/core/error.hpp"
#include "mann/core/parameter.hpp"
#include "mann/models/conv_net_memory.hpp"
#include "mann/mpi/communicator.hpp"
#include "mann/train/data_parallel_trainer.hpp"  // weights_hash, ReplicaMismatchError

namespace mann {

/// Data-parallel train_step of a ConvNetWithMemory over the ranks of a communicator. Every rank
/// builds the model with the same options (the same seed: the same weights and memory) and passes
/// its share of every batch's images (share(B): contiguous columns) and the whole batch's labels.
///
/// Equivalence: R ranks of T threads (options.threads) cut the batch into the blocks of one process
/// with R·T threads and draw the same dropout masks (ConvNetWithMemory::set_replica), so a step is
/// that process's train_step up to the order in which the blocks' gradients are summed. On one or
/// two ranks of one thread that order cannot matter (a + b = b + a): the result is bit-identical.
///
/// Per step: one MPI_Allreduce of 5 integers (the ranks agree on the batch and on valid input
/// before anything is exchanged, so bad input throws on every rank instead of hanging the others),
/// one MPI_Allgather of the queries (embedding × the largest share per rank), one MPI_Allreduce of
/// the encoder gradients. The loss and the correct count need no exchange: every rank computes them
/// on the whole batch. A hash of weights, Adam state and memory is compared every check_every steps.
///
/// Every member but the accessors is collective: every rank calls it, in the same order.
template <class Scalar = float>
class DataParallelConvNetTrainer {
 public:
  using Model = ConvNetWithMemory<Scalar>;
  using Value = typename Model::Value;
  using StepResult = typename Model::StepResult;
  using ConstRef = Eigen::Ref<const Matrix<Scalar>>;

  /// Makes `model` replica comm.rank() of comm.size() (set_replica) and checks that the replicas
  /// start equal (check_replicas). check_every: steps between replica checks (0: never).
  /// \throws ValueError on every rank if the ranks' options.threads differ or check_every < 0;
  /// ReplicaMismatchError if the replicas differ.
  DataParallelConvNetTrainer(Model& model, mpi::Communicator comm = mpi::Communicator(), long check_every = 100)
      : model_(model), comm_(comm), parameters_(model.parameters()), adam_state_(model.optimizer().state()),
        check_every_(check_every) {
    check_value(check_every >= 0, "mann::DataParallelConvNetTrainer", "check_every", check_every, ">= 0");
    std::int64_t threads[2] = {model.options().threads, -model.options().threads};
    comm_.allreduce_max(threads, 2);
    check_value(threads[0] == -threads[1], "mann::DataParallelConvNetTrainer", "options.threads",
                model.options().threads, "the same on every rank");
    model_.set_replica(comm_.rank(), comm_.size());
    for (const auto& p : parameters_) gradient_size_ += static_cast<std::size_t>(p.parameter->grad.size());
    gradients_.resize(gradient_size_);
    check_replicas();
  }

  int rank() const { return comm_.rank(); }
  int ranks() const { return comm_.size(); }
  const mpi::Communicator& communicator() const { return comm_; }
  Model& model() { return model_; }
  /// Values summed per step (the encoder's gradients): the gradient allreduce's payload.
  std::size_t gradient_size() const { return gradient_size_; }
  /// Seconds spent in the three collectives of the last step and of all steps (waiting for the
  /// slowest rank included).
  double last_communication_seconds() const { return last_seconds_; }
  double total_communication_seconds() const { return total_seconds_; }

  /// This rank's columns [first, first + count) of a batch of `batch` columns (count may be 0 when
  /// the batch has fewer columns than the job has threads).
  std::pair<Index, Index> share(Index batch) const { return model_.replica_columns(batch, rank()); }

  /// One training step (ConvNetWithMemory::train_step) on the batch whose labels are `labels` (all
  /// B, the same on every rank) and of whose images `images` are this rank's columns (share(B)).
  /// Returns the same result on every rank. \throws on every rank: ValueError / ShapeError when any
  /// rank's input is wrong (that rank's own message there, "rank r: ..." elsewhere), the batch or
  /// the labels differ across ranks, or the gradient is not finite; ReplicaMismatchError.
  StepResult train_step(const ConstRef& images, const std::vector<Value>& labels) {
    const Index batch = static_cast<Index>(labels.size());
    agree_on_input(images, labels);
    const auto start = std::chrono::steady_clock::now();
    const Matrix<Scalar>& local = model_.encode_columns(images, batch, true);
    const double encode_end = seconds_since(start);
    gather_queries(local, batch);
    const double gather_end = seconds_since(start);
    model_.query_memory(queries_, labels);
    model_.backward_columns();
    const double reduce_start = seconds_since(start);
    reduce_gradients();
    last_seconds_ = check_seconds_ + (gather_end - encode_end) + (seconds_since(start) - reduce_start);
    total_seconds_ += last_seconds_;
    const StepResult result = model_.apply_step(labels);
    if (check_every_ > 0 && ++steps_ % check_every_ == 0) check_replicas();
    return result;
  }

  /// Compares a hash of the weights, Adam's state and the memory (keys, values, ages) across the
  /// ranks; throws ReplicaMismatchError on every rank if any two differ.
  void check_replicas() {
    std::uint64_t low = replica_hash(), high = low;
    comm_.allreduce_min(&low, 1);
    comm_.allreduce_max(&high, 1);
    if (low != high) {
      throw ReplicaMismatchError(detail::concat("mann::DataParallelConvNetTrainer: the ranks' weights or memories ",
                                                "differ after ", steps_, " steps (hashes ", low, " to ", high, ")"));
    }
  }

  /// The hash check_replicas compares (this rank's).
  std::uint64_t replica_hash() const {
    std::uint64_t hash = weights_hash(parameters_) ^ (weights_hash(adam_state_) * 0x9E3779B97F4A7C15ull);
    auto mix = [&hash](std::uint64_t bits) {
      hash = (hash ^ bits) * 0x100000001b3ull;
      hash ^= hash >> 29;
    };
    const auto& memory = model_.memory();
    const auto keys = memory.keys();
    for (Index s = 0; s < memory.memory_size(); ++s) {
      for (Index i = 0; i < keys.rows(); ++i) {
        std::uint64_t bits = 0;
        const Scalar key = keys(i, s);
        std::memcpy(&bits, &key, sizeof(Scalar));
        mix(bits);
      }
      mix(static_cast<std::uint64_t>(memory.value(s)));
      mix(static_cast<std::uint64_t>(memory.age(s)));
    }
    return hash;
  }

 private:
  static double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }

  // Checks this rank's input, then one allreduce (max) of [bad input, B, −B, label hash, −hash]:
  // every rank learns whether all inputs are valid and all ranks hold the same batch, and throws
  // alike if not, before any exchange whose sizes depend on them.
  void agree_on_input(const ConstRef& images, const std::vector<Value>& labels) {
    const char* where = "mann::DataParallelConvNetTrainer::train_step";
    const auto start = std::chrono::steady_clock::now();
    const Index batch = static_cast<Index>(labels.size());
    std::exception_ptr error;
    std::uint64_t label_hash = 0xcbf29ce484222325ull;
    try {
      check_value(batch >= 1, where, "labels.size()", batch, ">= 1");
      for (std::size_t j = 0; j < labels.size(); ++j) {
        if (labels[j] < 0) check_value(false, where, detail::concat("labels[", j, "]").c_str(), labels[j], ">= 0");
        label_hash = (label_hash ^ static_cast<std::uint64_t>(labels[j])) * 0x100000001b3ull;
      }
      check_shape(images, model_.encoder().input_size(), share(batch).second, where, "images (this rank's share)");
      if (!images.allFinite()) check_finite(images, where, "images");
    } catch (...) {
      error = std::current_exception();
    }
    const std::int64_t hash = static_cast<std::int64_t>(label_hash >> 1);
    std::int64_t agreement[5] = {error ? 1 : 0, batch, -batch, hash, -hash};
    comm_.allreduce_max(agreement, 5);
    check_seconds_ = seconds_since(start);
    if (error) std::rethrow_exception(error);
    if (agreement[0] != 0) {
      throw ValueError(detail::concat(where, ": another rank's input is wrong (see its message); nothing was changed"));
    }
    if (agreement[1] != -agreement[2] || agreement[3] != -agreement[4]) {
      throw ValueError(detail::concat(where, ": the ranks passed different labels (batch sizes ", -agreement[2], " to ",
                                      agreement[1], "); every rank must pass the whole batch's labels"));
    }
  }

  // Every rank's queries into queries_ (embedding × B, in column order). The shares differ by up to
  // one block's worth of columns, so each rank sends the largest share's size (its own padded).
  void gather_queries(const Matrix<Scalar>& local, Index batch) {
    const Index rows = model_.encoder().embedding_size();
    Index largest = 0;
    for (int r = 0; r < ranks(); ++r) largest = std::max(largest, model_.replica_columns(batch, r).second);
    const std::size_t segment = static_cast<std::size_t>(rows * largest);
    send_.resize(segment);
    received_.resize(segment * static_cast<std::size_t>(ranks()));
    std::copy(local.data(), local.data() + local.size(), send_.data());
    comm_.allgather(send_.data(), segment, received_.data());
    queries_.resize(rows, batch);
    for (int r = 0; r < ranks(); ++r) {
      const auto [begin, count] = model_.replica_columns(batch, r);
      if (count == 0) continue;
      queries_.middleCols(begin, count) =
          Eigen::Map<const Matrix<Scalar>>(received_.data() + segment * static_cast<std::size_t>(r), rows, count);
    }
  }

  // The sum over the ranks of each rank's gradient (its columns' share of d(mean loss)/dθ).
  void reduce_gradients() {
    Scalar* out = gradients_.data();
    for (const auto& p : parameters_) {
      const auto& g = p.parameter->grad;
      Eigen::Map<Vector<Scalar>>(out, g.size()) = g.reshaped();
      out += g.size();
    }
    comm_.allreduce_sum(gradients_.data(), gradients_.size());
    const Scalar* in = gradients_.data();
    for (const auto& p : parameters_) {
      auto& g = p.parameter->grad;
      g.reshaped() = Eigen::Map<const Vector<Scalar>>(in, g.size());
      in += g.size();
    }
  }

  Model& model_;
  mpi::Communicator comm_;
  ParameterList<Scalar> parameters_, adam_state_;
  long check_every_;
  long steps_ = 0;
  std::size_t gradient_size_ = 0;
  std::vector<Scalar> gradients_, send_, received_;
  Matrix<Scalar> queries_;
  double check_seconds_ = 0, last_seconds_ = 0, total_seconds_ = 0;
};

}  // namespace mann
