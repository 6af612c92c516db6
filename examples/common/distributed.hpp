// What the examples need to train under mpirun (issue 20): the job's ranks, output from rank 0
// only, and a trainer that is data-parallel across the ranks (mann/train/data_parallel_trainer.hpp)
// when the examples are built with MPI (MANN_EXAMPLES_WITH_MPI, set by examples/CMakeLists.txt when
// CMake finds MPI) and the ParallelTrainer of one process otherwise. Started without mpirun, a
// build with MPI is a job of one rank and trains exactly as a build without.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>

#include "mann/core/episode.hpp"
#include "mann/optim/clip.hpp"
#include "mann/optim/step_in_parts.hpp"
#include "mann/train/parallel_trainer.hpp"

#ifdef MANN_EXAMPLES_WITH_MPI
#include "mann/mpi/communicator.hpp"
#include "mann/train/data_parallel_trainer.hpp"
#endif

namespace mann_examples {

/// The ranks of the job (one without MPI). Make it first in main(): it initialises MPI.
class Ranks {
 public:
  Ranks(int* argc, char*** argv) {
#ifdef MANN_EXAMPLES_WITH_MPI
    environment_.emplace(argc, argv);
    world_.emplace();
#else
    (void)argc;
    (void)argv;
#endif
  }

  int rank() const {
#ifdef MANN_EXAMPLES_WITH_MPI
    return world_->rank();
#else
    return 0;
#endif
  }
  int size() const {
#ifdef MANN_EXAMPLES_WITH_MPI
    return world_->size();
#else
    return 1;
#endif
  }
  bool is_root() const { return rank() == 0; }

  /// Every rank but 0 writes nothing to std::cout and std::cerr from here on: one progress display,
  /// one table. (Errors still reach stderr through fail().)
  void quiet_other_ranks() {
    if (is_root()) return;
    std::cout.rdbuf(nullptr);
    std::cerr.rdbuf(nullptr);
  }

  /// Threads per rank for --threads 0: the cores divided among the ranks that share this machine.
  int default_threads() const {
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    int local = 1;
    if (const char* value = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE")) local = std::max(1, std::atoi(value));
    return std::max(1, cores / local);
  }

  /// Waits for every rank (nothing without MPI).
  void barrier() const {
#ifdef MANN_EXAMPLES_WITH_MPI
    world_->barrier();
#endif
  }

  /// An error on this rank: prints "<program>: <message>" and returns `code`; in a job of several
  /// ranks it ends them all (MPI_Abort), so that none waits forever for this one.
  int fail(const std::string& program, const std::string& message, int code) const {
#ifdef MANN_EXAMPLES_WITH_MPI
    if (size() > 1) world_->abort(program + ": " + message, code);
#endif
    std::fprintf(stderr, "%s: %s\n", program.c_str(), message.c_str());
    return code;
  }

#ifdef MANN_EXAMPLES_WITH_MPI
  const mann::mpi::Communicator& world() const { return *world_; }
#endif

 private:
#ifdef MANN_EXAMPLES_WITH_MPI
  std::optional<mann::mpi::Environment> environment_;
  std::optional<mann::mpi::Communicator> world_;
#endif
};

/// The examples' training step over the job's ranks: each rank generates and trains its share
/// (share()) of every global batch; gradients are summed across ranks (one allreduce a step), then
/// clipped (clip_norm > 0) and stepped alike on every rank.
template <class Model>
class RankTrainer {
 public:
  using Scalar = typename mann::ParallelTrainer<Model>::Scalar;

  RankTrainer(Model& model, int threads, const Ranks& ranks)
#ifdef MANN_EXAMPLES_WITH_MPI
      : trainer_(model, threads, ranks.world()) {}
#else
      : trainer_(model, threads), parameters_(model.parameters()) {
    (void)ranks;
  }
#endif

  int threads() const { return trainer_.threads(); }
  mann::ThreadPool& pool() { return trainer_.pool(); }

  /// Without MPI: "". Under MPI: the bytes summed per step and the time spent in the allreduce
  /// (per step and as a share of `seconds`, the wall time of `steps` steps), for the final report.
  std::string communication_report(long long steps, double seconds) const {
#ifdef MANN_EXAMPLES_WITH_MPI
    if (trainer_.ranks() < 2 || steps <= 0) return {};
    const double total = trainer_.total_allreduce_seconds();
    std::ostringstream out;
    out << "allreduce of " << trainer_.buffer_size() * sizeof(Scalar) / 1024.0 << " KiB per step: "
        << 1e3 * total / static_cast<double>(steps) << " ms per step, " << 100 * total / seconds
        << "% of the training time (rank 0)";
    return out.str();
#else
    (void)steps;
    (void)seconds;
    return {};
#endif
  }

  /// This rank's episodes [first, first + count) of a global batch.
  std::pair<mann::Index, mann::Index> share(mann::Index global_batch) const {
#ifdef MANN_EXAMPLES_WITH_MPI
    return trainer_.share(global_batch);
#else
    return {0, global_batch};
#endif
  }

  /// One step; `grad_norm` (if not null) receives the global gradient norm before clipping (the
  /// result is the same with or without it). A gradient holding Inf or NaN skips the step with
  /// `skip_nonfinite` (weights and optimiser unchanged; the norm tells), else throws ValueError.
  template <class Optimizer>
  Scalar train_step(const mann::EpisodeBatch<Scalar>& local, mann::Index global_batch, Optimizer& optimizer,
                    mann::LabelEncoding encoding, mann::InstanceAccuracy* accuracy, double clip_norm,
                    double* grad_norm = nullptr, bool skip_nonfinite = false) {
#ifdef MANN_EXAMPLES_WITH_MPI
    return trainer_.train_step(local, global_batch, optimizer, encoding, accuracy, clip_norm, grad_norm, skip_nonfinite);
#else
    (void)global_batch;
    if (clip_norm <= 0 && grad_norm == nullptr && !skip_nonfinite) {
      return trainer_.train_step(local, optimizer, encoding, accuracy);
    }
    const Scalar loss = trainer_.compute_gradients(local, encoding, accuracy);
    mann::check_value(std::isfinite(static_cast<double>(loss)), "mann_examples::RankTrainer::train_step", "loss",
                      static_cast<double>(loss), "finite (the model diverged)");
    const double norm = mann::clip_grad_norm_if_finite(parameters_, std::max(clip_norm, 0.0));
    if (grad_norm != nullptr) *grad_norm = norm;
    if (skip_nonfinite && !std::isfinite(norm)) return loss;
    mann::check_value(std::isfinite(norm), "mann_examples::RankTrainer::train_step", "gradient norm", norm,
                      "finite (NaN/Inf in a gradient)");
    mann::step_in_parts(optimizer, trainer_.pool(), trainer_.threads());
    return loss;
#endif
  }

  Scalar evaluate(const mann::EpisodeBatch<Scalar>& local, mann::Index global_batch, mann::LabelEncoding encoding,
                  mann::InstanceAccuracy* accuracy) {
#ifdef MANN_EXAMPLES_WITH_MPI
    return trainer_.evaluate(local, global_batch, encoding, accuracy);
#else
    (void)global_batch;
    return trainer_.evaluate(local, encoding, accuracy);
#endif
  }

 private:
#ifdef MANN_EXAMPLES_WITH_MPI
  mann::DataParallelTrainer<Model> trainer_;
#else
  mann::ParallelTrainer<Model> trainer_;
  mann::ParameterList<Scalar> parameters_;
#endif
};

}  // namespace mann_examples

// --- the ConvNet with memory (examples/omniglot_fewshot) -------------------------------------------
// Added for the few-shot example; needs mann/models/conv_net_memory.hpp and
// mann/data/few_shot_evaluation.hpp, included here.
#include "mann/data/few_shot_evaluation.hpp"
#include "mann/models/conv_net_memory.hpp"
#ifdef MANN_EXAMPLES_WITH_MPI
#include "mann/train/data_parallel_conv_net.hpp"
#endif

namespace mann_examples {

/// The ConvNet with memory's training step over the job's ranks
/// (mann/train/data_parallel_conv_net.hpp): every rank passes its columns (share()) of each batch's
/// images and the whole batch's labels; the queries are gathered and the gradients summed across
/// ranks, and the weights, Adam state and memory stay alike on every rank. Without MPI (or on one
/// rank): the model's own train_step.
template <class Scalar>
class ConvNetRankTrainer {
 public:
  using Model = mann::ConvNetWithMemory<Scalar>;
  using StepResult = typename Model::StepResult;

  /// Collective under MPI: checks that the ranks' models start alike (build it after loading a
  /// checkpoint).
  ConvNetRankTrainer(Model& model, const Ranks& ranks)
      : model_(model) {
#ifdef MANN_EXAMPLES_WITH_MPI
    if (ranks.size() > 1) trainer_.emplace(model, ranks.world());
#else
    (void)ranks;
#endif
  }

  /// This rank's columns [first, first + count) of a batch of `batch` columns.
  std::pair<mann::Index, mann::Index> share(mann::Index batch) const {
#ifdef MANN_EXAMPLES_WITH_MPI
    if (trainer_) return trainer_->share(batch);
#endif
    return {0, batch};
  }

  /// One step: `images` are this rank's columns (share(labels.size())), `labels` the whole batch's.
  StepResult train_step(const Eigen::Ref<const mann::Matrix<Scalar>>& images,
                        const std::vector<typename Model::Value>& labels) {
#ifdef MANN_EXAMPLES_WITH_MPI
    if (trainer_) return trainer_->train_step(images, labels);
#endif
    return model_.train_step(images, labels);
  }

  /// Under MPI on several ranks: the bytes exchanged per step and the time spent in the exchanges
  /// (per step and as a share of `seconds`, the wall time of `steps` steps); otherwise "".
  std::string communication_report(long long steps, double seconds) const {
#ifdef MANN_EXAMPLES_WITH_MPI
    if (!trainer_ || steps <= 0) return {};
    const double total = trainer_->total_communication_seconds();
    std::ostringstream out;
    out << "allreduce of " << trainer_->gradient_size() * sizeof(Scalar) / 1024.0
        << " KiB of gradients and allgather of the queries per step: " << 1e3 * total / static_cast<double>(steps)
        << " ms per step, " << 100 * total / seconds << "% of the training time (rank 0)";
    return out.str();
#else
    (void)steps;
    (void)seconds;
    return {};
#endif
  }

 private:
  Model& model_;
#ifdef MANN_EXAMPLES_WITH_MPI
  std::optional<mann::DataParallelConvNetTrainer<Scalar>> trainer_;
#endif
};

/// mann::evaluate_few_shot over the job's ranks: rank r evaluates its contiguous share of the
/// episodes (options.threads threads each) and the per-episode accuracies are summed across the
/// ranks, so every rank returns exactly what one process evaluating them all would (each entry is
/// one rank's value plus zeros). options.progress sees this rank's count scaled to the whole.
/// Collective under MPI.
template <class Scalar, class MakeClassifier>
mann::FewShotAccuracy evaluate_few_shot_over_ranks(const Ranks& ranks, const mann::FewShotSampler<Scalar>& sampler,
                                                   MakeClassifier&& make_classifier,
                                                   mann::FewShotEvaluationOptions options) {
  if (ranks.size() == 1) return mann::evaluate_few_shot(sampler, make_classifier, options);
#ifdef MANN_EXAMPLES_WITH_MPI
  const std::uint64_t total = options.episodes, size = static_cast<std::uint64_t>(ranks.size()),
                      rank = static_cast<std::uint64_t>(ranks.rank());
  const std::uint64_t begin = total * rank / size, count = total * (rank + 1) / size - begin;
  std::vector<double> values(static_cast<std::size_t>(total) + 2, 0.0);  // per episode, then correct and total
  if (count > 0) {
    mann::FewShotEvaluationOptions share = options;
    share.first_episode = options.first_episode + begin;
    share.episodes = count;
    if (options.progress) share.progress = [&](std::uint64_t done) { options.progress(done * total / count); };
    const mann::FewShotAccuracy part = mann::evaluate_few_shot(sampler, make_classifier, share);
    std::copy(part.episode_accuracy.begin(), part.episode_accuracy.end(),
              values.begin() + static_cast<std::ptrdiff_t>(begin));
    values[static_cast<std::size_t>(total)] = static_cast<double>(part.correct);
    values[static_cast<std::size_t>(total) + 1] = static_cast<double>(part.total);
  }
  ranks.world().allreduce_sum(values.data(), values.size());
  mann::FewShotAccuracy result;
  result.episode_accuracy.assign(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(total));
  result.correct = static_cast<long long>(values[static_cast<std::size_t>(total)]);
  result.total = static_cast<long long>(values[static_cast<std::size_t>(total) + 1]);
  return result;
#else
  return mann::evaluate_few_shot(sampler, make_classifier, options);
#endif
}

}  // namespace mann_examples
