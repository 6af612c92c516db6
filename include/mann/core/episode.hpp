// mann/core/episode.hpp: a batch of episodes as the models consume them, and accuracy by instance
// (Santoro et al. section 2 and Tables 1–2).
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "mann/core/error.hpp"
#include "mann/core/types.hpp"

namespace mann {

/// How labels are encoded: one-hot over the episode's n classes, or five characters over {a…e}
/// as five concatenated one-hots (25 values, 3125 labels).
enum class LabelEncoding { one_hot, string };

/// B episodes of T steps, step-major: inputs[t] holds x_t of every episode as columns.
/// The model shows (x_t, y_{t-1}) at step t itself; targets[t] is y_t (not shifted).
template <class Scalar = float>
struct EpisodeBatch {
  std::vector<Matrix<Scalar>> inputs;   ///< T × (input_size × B)
  std::vector<Matrix<Scalar>> targets;  ///< T × (label_size × B): one-hot, 5 one-hots, or reals
  /// instance[t][b]: the how-many-th time (1-based) episode b shows step t's class; 0 for regression.
  std::vector<std::vector<int>> instance;

  Index length() const { return static_cast<Index>(inputs.size()); }
  Index batch() const { return inputs.empty() ? 0 : inputs[0].cols(); }
  Index input_size() const { return inputs.empty() ? 0 : inputs[0].rows(); }
  Index label_size() const { return targets.empty() ? 0 : targets[0].rows(); }

  /// Sizes every buffer (reused across batches without reallocating).
  void resize(Index T, Index B, Index input_rows, Index label_rows) {
    inputs.resize(T);
    targets.resize(T);
    instance.resize(T);
    for (Index t = 0; t < T; ++t) {
      inputs[t].resize(input_rows, B);
      targets[t].resize(label_rows, B);
      instance[t].assign(B, 0);
    }
  }

  /// validate_shape, and every input and target finite. \throws ValueError on NaN/Inf too.
  void validate(const char* where) const {
    validate_shape(where);
    for (std::size_t t = 0; t < inputs.size(); ++t) {
      check_finite(inputs[t], where, "inputs[t]");
      check_finite(targets[t], where, "targets[t]");
    }
  }

  /// \throws ValueError for no steps, no episodes or a negative instance; ShapeError if the steps,
  /// targets or instance counts disagree in shape.
  void validate_shape(const char* where) const {
    check_value(!inputs.empty(), where, "episode length", 0, ">= 1");
    check_value(batch() >= 1, where, "episodes in the batch (inputs[0].cols())", batch(), ">= 1");
    check_value(targets.size() == inputs.size(), where, "targets.size()", targets.size(), "inputs.size()");
    check_value(instance.size() == inputs.size(), where, "instance.size()", instance.size(), "inputs.size()");
    for (std::size_t t = 0; t < inputs.size(); ++t) {
      check_shape(inputs[t], input_size(), batch(), where, "inputs[t]");
      check_shape(targets[t], label_size(), batch(), where, "targets[t]");
      if (static_cast<Index>(instance[t].size()) != batch()) {
        throw ShapeError(detail::concat(where, ": instance[", t, "] has ", instance[t].size(), " entries, expected ",
                                        batch(), " (one per episode)"));
      }
      for (int count : instance[t]) {
        if (count < 0) throw ValueError(detail::concat(where, ": instance[", t, "] holds ", count, ", expected >= 0"));
      }
    }
  }
};

/// Index of the predicted class of column j: argmax (one-hot), or the 5 per-group argmaxes packed
/// base 5 (string labels, `groups` groups of `classes`).
template <class Derived>
int predicted_label(const Eigen::MatrixBase<Derived>& scores, Index j, LabelEncoding encoding, Index groups = 5,
                    Index classes = 5) {
  Index best = 0;
  if (encoding == LabelEncoding::one_hot) {
    scores.col(j).maxCoeff(&best);
    return static_cast<int>(best);
  }
  int label = 0;
  for (Index g = 0; g < groups; ++g) {
    scores.col(j).segment(g * classes, classes).maxCoeff(&best);
    label = label * static_cast<int>(classes) + static_cast<int>(best);
  }
  return label;
}

/// Accuracy by instance: counts of correct predictions at the 1st, 2nd, … appearance of a class.
class InstanceAccuracy {
 public:
  explicit InstanceAccuracy(int max_instance = 10) : correct_(max_instance + 1, 0.0), total_(max_instance + 1, 0.0) {}

  /// Records one prediction at `instance` (1-based); instances beyond max_instance are ignored.
  void add(int instance, bool correct) {
    if (instance < 1 || instance >= static_cast<int>(total_.size())) return;
    total_[instance] += 1;
    correct_[instance] += correct ? 1 : 0;
  }

  /// Scores a batch step: predictions from `scores` (label_size × B) against `targets`.
  /// \throws ShapeError unless targets and instance have one column / entry per column of scores.
  template <class S, class T>
  void add_step(const Eigen::MatrixBase<S>& scores, const Eigen::MatrixBase<T>& targets,
                const std::vector<int>& instance, LabelEncoding encoding) {
    const char* where = "mann::InstanceAccuracy::add_step";
    check_shape(targets, scores.rows(), scores.cols(), where, "targets");
    if (static_cast<Index>(instance.size()) != scores.cols()) {
      throw ShapeError(detail::concat(where, ": instance has ", instance.size(), " entries, expected ", scores.cols(),
                                      " (one per column of scores)"));
    }
    for (Index j = 0; j < scores.cols(); ++j) {
      add(instance[j], predicted_label(scores, j, encoding) == predicted_label(targets, j, encoding));
    }
  }

  void merge(const InstanceAccuracy& other) {
    for (std::size_t i = 0; i < total_.size() && i < other.total_.size(); ++i) {
      correct_[i] += other.correct_[i];
      total_[i] += other.total_[i];
    }
  }

  int max_instance() const { return static_cast<int>(total_.size()) - 1; }
  double count(int instance) const { return total_.at(instance); }
  /// Correct predictions recorded at `instance`.
  double correct_count(int instance) const { return correct_.at(instance); }
  /// Adds counts recorded elsewhere (e.g. summed over ranks) at `instance`, 1..max_instance().
  void add_counts(int instance, double correct, double total) {
    correct_.at(static_cast<std::size_t>(instance)) += correct;
    total_.at(static_cast<std::size_t>(instance)) += total;
  }
  /// Fraction correct at `instance`, NaN when nothing was recorded there.
  double accuracy(int instance) const {
    return total_.at(instance) > 0 ? correct_.at(instance) / total_.at(instance) : std::nan("");
  }
  /// Half-width of the 95% normal-approximation confidence interval of accuracy(instance).
  double confidence95(int instance) const {
    const double n = total_.at(instance);
    if (n <= 0) return std::nan("");
    const double p = accuracy(instance);
    return 1.96 * std::sqrt(p * (1 - p) / n);
  }
  void clear() {
    std::fill(correct_.begin(), correct_.end(), 0.0);
    std::fill(total_.begin(), total_.end(), 0.0);
  }

 private:
  std::vector<double> correct_, total_;
};

}  // namespace mann
