// mann/data/few_shot_evaluation.hpp: evaluation of any few-shot classifier on N-way K-shot Omniglot
// episodes (Vinyals et al. 2016; Kaiser et al. 2017 Table 1). Needs Eigen only (the data come from
// mann/data/omniglot_fewshot.hpp; Lake's runs and their evaluation are in
// mann/data/omniglot_lake_runs.hpp; the pixel nearest-neighbour baseline is
// mann/models/pixel_nearest_neighbour.hpp).
//
// A classifier is any callable
//   void(const Matrix<Scalar>& support, const std::vector<int>& support_labels, int ways,
//        const Matrix<Scalar>& queries, std::vector<int>& predictions)
// that, given a labelled support set (pixels × S, labels in [0, ways)) and a query batch
// (pixels × Q), writes Q predicted labels. It must not keep anything between calls that would let one
// episode see another (a memory model clears its memory first, writes the support set in column order,
// then predicts the queries without writing them).
//
// Episodes with options.episode.sequential (Kaiser et al.'s reading, FewShotEpisodeOptions) call the
// classifier's member instead
//   void sequential(support, support_labels, ways, queries, query_labels, predictions)
// which writes the support set as above, then predicts each query in column order and writes it
// with its label before the next (query_labels are for those writes only).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
#include <mutex>
#include <type_traits>
#include <utility>
#include <vector>

#include "mann/core/error.hpp"
#include "mann/core/thread_pool.hpp"
#include "mann/core/types.hpp"
#include "mann/data/omniglot_fewshot.hpp"

namespace mann {

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

namespace detail {
// Whether Classifier has the sequential(...) member of the file comment.
template <class Classifier, class Scalar, class = void>
struct has_sequential : std::false_type {};
template <class Classifier, class Scalar>
struct has_sequential<Classifier, Scalar,
                      std::void_t<decltype(std::declval<Classifier&>().sequential(
                          std::declval<const Matrix<Scalar>&>(), std::declval<const std::vector<int>&>(), 0,
                          std::declval<const Matrix<Scalar>&>(), std::declval<const std::vector<int>&>(),
                          std::declval<std::vector<int>&>()))>> : std::true_type {};

template <class Classifier, class Scalar>
void classify(Classifier& classifier, const FewShotEpisode<Scalar>& e, bool sequential, std::vector<int>& predictions) {
  if constexpr (has_sequential<Classifier, Scalar>::value) {
    if (sequential) {
      classifier.sequential(e.support, e.support_labels, e.ways, e.query, e.query_labels, predictions);
      return;
    }
  }
  classifier(e.support, e.support_labels, e.ways, e.query, predictions);
}
}  // namespace detail

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
/// \throws ValueError for threads < 1, a classifier that returns the wrong number of predictions,
/// or sequential episodes for a classifier without sequential(...).
template <class Scalar, class MakeClassifier>
FewShotAccuracy evaluate_few_shot(const FewShotSampler<Scalar>& sampler, MakeClassifier&& make_classifier,
                                  const FewShotEvaluationOptions& options) {
  const char* where = "mann::evaluate_few_shot";
  check_value(options.threads >= 1, where, "options.threads", options.threads, ">= 1");
  using Classifier = std::decay_t<decltype(make_classifier())>;
  if (options.episode.sequential && !detail::has_sequential<Classifier, Scalar>::value) {
    throw ValueError(detail::concat(where, ": options.episode.sequential needs a classifier with a sequential(support, "
                                           "support_labels, ways, queries, query_labels, predictions) member"));
  }
  const std::uint64_t count = options.episodes;
  FewShotAccuracy result;
  result.episode_accuracy.assign(static_cast<std::size_t>(count), 0.0);
  std::vector<long long> correct(static_cast<std::size_t>(count), 0), total(static_cast<std::size_t>(count), 0);
  const int parts = static_cast<int>(std::max<std::uint64_t>(1, std::min<std::uint64_t>(static_cast<std::uint64_t>(options.threads), count)));
  std::mutex mutex;
  std::exception_ptr error;
  std::uint64_t done = 0;
  auto work = [&](int part) {
    const std::uint64_t begin = count * static_cast<std::uint64_t>(part) / static_cast<std::uint64_t>(parts);
    const std::uint64_t end = count * static_cast<std::uint64_t>(part + 1) / static_cast<std::uint64_t>(parts);
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
        detail::classify(classifier, episode, options.episode.sequential, predictions);
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
  ThreadPool pool(parts);  // an evaluation runs for seconds: starting its threads costs nothing here
  pool.run(parts, work);
  if (error) std::rethrow_exception(error);
  for (std::size_t i = 0; i < correct.size(); ++i) {
    result.correct += correct[i];
    result.total += total[i];
  }
  return result;
}

}  // namespace mann
