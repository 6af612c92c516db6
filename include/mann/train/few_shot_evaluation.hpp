// mann/train/few_shot_evaluation.hpp: evaluation of any few-shot classifier on N-way K-shot Omniglot
// episodes (Vinyals et al. 2016; Kaiser et al. 2017 Table 1) and on Lake et al.'s 20 one-shot runs,
// and the pixel nearest-neighbour baseline. Needs Eigen only (the data come from
// mann/data/omniglot_fewshot.hpp; Lake's runs are read by mann/data/omniglot_lake_runs.hpp).
//
// A classifier is any callable
//   void(const Matrix<Scalar>& support, const std::vector<int>& support_labels, int ways,
//        const Matrix<Scalar>& queries, std::vector<int>& predictions)
// that, given a labelled support set (pixels × S, labels in [0, ways)) and a query batch
// (pixels × Q), writes Q predicted labels. It must not keep anything between calls that would let one
// episode see another (a memory model clears its memory first, writes the support set in column order,
// then predicts the queries without writing them).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
#include <mutex>
#include <thread>
#include <vector>

#include "mann/core/error.hpp"
#include "mann/core/types.hpp"
#include "mann/data/omniglot_fewshot.hpp"

namespace mann {

/// Distance of the pixel nearest-neighbour baseline.
enum class PixelDistance {
  euclidean,  ///< smallest ‖q − s‖
  cosine,     ///< largest q·s / (‖q‖ ‖s‖) (an all-zero image has similarity 0 to everything)
};

/// The pixel nearest-neighbour baseline: each query gets the label of its nearest support image
/// (1-NN over all N · K support images, raw pixels; ties go to the lowest support column).
/// Stateless apart from workspaces: use one per thread.
template <class Scalar = float>
class PixelNearestNeighbour {
 public:
  explicit PixelNearestNeighbour(PixelDistance distance = PixelDistance::euclidean) : distance_(distance) {}

  PixelDistance distance() const { return distance_; }

  /// \throws ShapeError when support and queries differ in rows or support_labels has the wrong length.
  void operator()(const Matrix<Scalar>& support, const std::vector<int>& support_labels, int /*ways*/,
                  const Matrix<Scalar>& queries, std::vector<int>& predictions) {
    const char* where = "mann::PixelNearestNeighbour";
    check_shape(queries, support.rows(), -1, where, "queries");
    if (static_cast<Index>(support_labels.size()) != support.cols()) {
      throw ShapeError(detail::concat(where, ": support_labels has ", support_labels.size(), " labels, expected ",
                                      support.cols(), " (the support columns)"));
    }
    predictions.assign(static_cast<std::size_t>(queries.cols()), -1);
    if (support.cols() == 0) return;
    // Score to maximise: −‖s‖² + 2 q·s (Euclidean; ‖q‖² is the same for every s), or the cosine.
    scores_.noalias() = support.transpose() * queries;
    support_norms_ = support.colwise().squaredNorm().transpose();
    if (distance_ == PixelDistance::euclidean) {
      scores_ *= Scalar(2);
      scores_.colwise() -= support_norms_;
    } else {
      const Vector<Scalar> inverse_support = support_norms_.unaryExpr(&PixelNearestNeighbour::inverse_root);
      const RowVector<Scalar> inverse_query = queries.colwise().squaredNorm().unaryExpr(&PixelNearestNeighbour::inverse_root);
      scores_ = inverse_support.asDiagonal() * scores_ * inverse_query.asDiagonal();
    }
    for (Index j = 0; j < queries.cols(); ++j) {
      Index best = 0;
      scores_.col(j).maxCoeff(&best);  // the first maximum
      predictions[static_cast<std::size_t>(j)] = support_labels[static_cast<std::size_t>(best)];
    }
  }

 private:
  static Scalar inverse_root(Scalar x) { return x > Scalar(0) ? Scalar(1) / std::sqrt(x) : Scalar(0); }

  PixelDistance distance_;
  Matrix<Scalar> scores_;
  Vector<Scalar> support_norms_;
};

/// Accuracy over evaluation episodes.
struct FewShotAccuracy {
  std::vector<double> episode_accuracy;  ///< per episode, in episode order
  long long correct = 0, total = 0;      ///< query predictions
  /// Mean of the per-episode accuracies (equal to correct / total, every episode having the same size).
  double mean() const {
    if (episode_accuracy.empty()) return std::nan("");
    double sum = 0;
    for (double a : episode_accuracy) sum += a;
    return sum / static_cast<double>(episode_accuracy.size());
  }
  /// Half-width of the 95% confidence interval of mean(): 1.96 · sd / √episodes, sd the sample standard
  /// deviation of the per-episode accuracies (the usual few-shot convention); NaN below 2 episodes.
  double confidence95() const {
    const std::size_t n = episode_accuracy.size();
    if (n < 2) return std::nan("");
    const double m = mean();
    double squares = 0;
    for (double a : episode_accuracy) squares += (a - m) * (a - m);
    return 1.96 * std::sqrt(squares / static_cast<double>(n - 1)) / std::sqrt(static_cast<double>(n));
  }
};

/// What evaluate_few_shot runs.
struct FewShotEvaluationOptions {
  FewShotEpisodeOptions episode;   ///< ways, shots, queries per class
  std::uint64_t episodes = 1000;   ///< evaluation episodes
  std::uint64_t first_episode = 0; ///< index of the first episode of the sampler
  int threads = 1;                 ///< episodes are split over this many threads; the result does not depend on it
  /// Called (under a lock, from any thread) with the number of episodes done, after each episode; may be empty.
  std::function<void(std::uint64_t)> progress;
};

/// Runs `options.episodes` episodes of `sampler` through classifiers made by `make_classifier()`
/// (called once per thread; each classifier is used by one thread only) and returns the accuracy.
/// A ValueError or ShapeError from the sampler or a classifier is rethrown (the first one).
/// \throws ValueError for threads < 1 or a classifier that returns the wrong number of predictions.
template <class Scalar, class MakeClassifier>
FewShotAccuracy evaluate_few_shot(const FewShotSampler<Scalar>& sampler, MakeClassifier&& make_classifier,
                                  const FewShotEvaluationOptions& options) {
  const char* where = "mann::evaluate_few_shot";
  check_value(options.threads >= 1, where, "options.threads", options.threads, ">= 1");
  const std::uint64_t count = options.episodes;
  FewShotAccuracy result;
  result.episode_accuracy.assign(static_cast<std::size_t>(count), 0.0);
  std::vector<long long> correct(static_cast<std::size_t>(count), 0), total(static_cast<std::size_t>(count), 0);
  const std::uint64_t parts = std::max<std::uint64_t>(1, std::min<std::uint64_t>(static_cast<std::uint64_t>(options.threads), count));
  std::mutex mutex;
  std::exception_ptr error;
  std::uint64_t done = 0;
  auto work = [&](std::uint64_t begin, std::uint64_t end) {
    try {
      auto classifier = make_classifier();
      FewShotEpisode<Scalar> episode;
      std::vector<int> predictions;
      for (std::uint64_t e = begin; e < end; ++e) {
        {
          std::lock_guard<std::mutex> lock(mutex);
          if (error) return;
        }
        sampler.episode(options.first_episode + e, options.episode, episode);
        classifier(episode.support, episode.support_labels, episode.ways, episode.query, predictions);
        if (predictions.size() != episode.query_labels.size()) {
          throw ValueError(detail::concat(where, ": the classifier returned ", predictions.size(), " predictions, expected ",
                                          episode.query_labels.size(), " (one per query)"));
        }
        long long right = 0;
        for (std::size_t j = 0; j < predictions.size(); ++j) right += predictions[j] == episode.query_labels[j] ? 1 : 0;
        const std::size_t i = static_cast<std::size_t>(e);
        correct[i] = right;
        total[i] = static_cast<long long>(predictions.size());
        result.episode_accuracy[i] = predictions.empty() ? 0.0 : static_cast<double>(right) / static_cast<double>(predictions.size());
        if (options.progress) {
          std::lock_guard<std::mutex> lock(mutex);
          options.progress(++done);
        }
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex);
      if (!error) error = std::current_exception();
    }
  };
  std::vector<std::thread> pool;
  for (std::uint64_t p = 1; p < parts; ++p) pool.emplace_back(work, count * p / parts, count * (p + 1) / parts);
  work(0, count / parts);
  for (std::thread& t : pool) t.join();
  if (error) std::rethrow_exception(error);
  for (std::size_t i = 0; i < correct.size(); ++i) {
    result.correct += correct[i];
    result.total += total[i];
  }
  return result;
}

/// Errors on Lake et al.'s 20-way one-shot runs.
struct LakeRunsResult {
  std::vector<int> errors;  ///< wrong test items of each run (of 20)
  /// Mean error rate over all runs (the measure Lake et al. report), in [0, 1].
  double error_rate() const {
    if (errors.empty()) return std::nan("");
    double sum = 0;
    for (int e : errors) sum += e;
    return sum / (20.0 * static_cast<double>(errors.size()));
  }
};

/// Classifies each run's 20 test drawings given its 20 training drawings (support labels 0 … 19, one
/// shot each, in class order) with `classifier` (a classifier as described at the top of this file).
/// \throws ValueError for a classifier that returns the wrong number of predictions.
template <class Scalar, class Classifier>
LakeRunsResult evaluate_lake_runs(const std::vector<LakeRun<Scalar>>& runs, Classifier&& classifier) {
  LakeRunsResult result;
  std::vector<int> labels, predictions;
  for (const LakeRun<Scalar>& run : runs) {
    labels.resize(static_cast<std::size_t>(run.training.cols()));
    for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<int>(i);
    classifier(run.training, labels, static_cast<int>(labels.size()), run.test, predictions);
    if (predictions.size() != run.answers.size()) {
      throw ValueError(detail::concat("mann::evaluate_lake_runs: the classifier returned ", predictions.size(),
                                      " predictions for ", run.name, ", expected ", run.answers.size()));
    }
    int wrong = 0;
    for (std::size_t j = 0; j < predictions.size(); ++j) wrong += predictions[j] == run.answers[j] ? 0 : 1;
    result.errors.push_back(wrong);
  }
  return result;
}

}  // namespace mann
