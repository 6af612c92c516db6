// mann/nn/losses.hpp: the output losses of Santoro et al. supplement 6.2–6.3 — softmax cross-entropy
// (one-hot labels), grouped categorical (string labels), Gaussian negative log-likelihood (regression).
// Each forward returns the loss summed over the batch's columns and fills a cache; backward writes
// scale × dL/d(outputs).
#pragma once

#include <cmath>

#include "mann/core/activations.hpp"
#include "mann/core/error.hpp"
#include "mann/core/types.hpp"

namespace mann {

/// Softmax cross-entropy, eq. 25: L = −Σ_columns yᵀ log softmax(z). Targets are distributions
/// (one-hot in the paper) of the logits' shape.
template <class Scalar = float>
struct SoftmaxCrossEntropy {
  using Mat = Matrix<Scalar>;
  using ConstRef = Eigen::Ref<const Mat>;
  Mat log_probs;  ///< cache: log softmax(z), classes × B

  /// \throws ShapeError if targets and logits differ in shape.
  Scalar forward(const ConstRef& logits, const ConstRef& targets) {
    check_shape(targets, logits.rows(), logits.cols(), "mann::SoftmaxCrossEntropy::forward", "targets");
    log_probs.resize(logits.rows(), logits.cols());
    log_softmax_columns(logits, log_probs);
    return -(targets.array() * log_probs.array()).sum();
  }
  /// dL/dz = scale × (softmax(z) − y) for targets that sum to 1 per column.
  void backward(const ConstRef& targets, Scalar scale, Mat& dlogits) const {
    dlogits.resize(log_probs.rows(), log_probs.cols());
    for (Index j = 0; j < log_probs.cols(); ++j) {
      const Scalar mass = targets.col(j).sum();
      dlogits.col(j).array() = scale * (log_probs.col(j).array().exp() * mass - targets.col(j).array());
    }
  }
};

/// String labels, eq. 26: G groups of C logits, each its own softmax; the loss sums the groups'
/// cross-entropies. Logits and targets are G·C × B; group g is rows g·C … g·C + C − 1.
template <class Scalar = float>
struct GroupedCategorical {
  using Mat = Matrix<Scalar>;
  using ConstRef = Eigen::Ref<const Mat>;
  Index groups = 5;
  Index classes = 5;
  Mat log_probs;  ///< cache, G·C × B

  GroupedCategorical() = default;
  GroupedCategorical(Index groups_, Index classes_) : groups(groups_), classes(classes_) {
    check_value(groups_ > 0, "mann::GroupedCategorical", "groups", groups_, "> 0");
    check_value(classes_ > 0, "mann::GroupedCategorical", "classes", classes_, "> 0");
  }

  Scalar forward(const ConstRef& logits, const ConstRef& targets) {
    check_shape(logits, groups * classes, -1, "mann::GroupedCategorical::forward", "logits");
    check_shape(targets, logits.rows(), logits.cols(), "mann::GroupedCategorical::forward", "targets");
    log_probs.resize(logits.rows(), logits.cols());
    for (Index g = 0; g < groups; ++g) {
      log_softmax_columns(logits.middleRows(g * classes, classes), log_probs.middleRows(g * classes, classes));
    }
    return -(targets.array() * log_probs.array()).sum();
  }
  /// dL/dz = scale × (softmax_g(z) − y) in each group (targets one-hot per group).
  void backward(const ConstRef& targets, Scalar scale, Mat& dlogits) const {
    dlogits.resize(log_probs.rows(), log_probs.cols());
    for (Index j = 0; j < log_probs.cols(); ++j) {
      for (Index g = 0; g < groups; ++g) {
        const auto lp = log_probs.col(j).segment(g * classes, classes).array();
        const auto y = targets.col(j).segment(g * classes, classes).array();
        dlogits.col(j).segment(g * classes, classes).array() = scale * (lp.exp() * y.sum() - y);
      }
    }
  }
};

/// Gaussian negative log-likelihood. Outputs are 2D × B: rows 0…D−1 the means μ, rows D…2D−1 raw
/// values s with variance σ² = softplus(s) + min_variance (always positive). Targets D × B.
/// L = Σ ½ [log 2π + log σ² + (y − μ)² / σ²].
template <class Scalar = float>
struct GaussianNll {
  using Mat = Matrix<Scalar>;
  using ConstRef = Eigen::Ref<const Mat>;
  Scalar min_variance = Scalar(1e-4);
  Mat variance;  ///< cache: σ², D × B
  Mat residual;  ///< cache: y − μ, D × B
  Mat raw;       ///< cache: s, D × B

  Scalar forward(const ConstRef& outputs, const ConstRef& targets) {
    const Index D = targets.rows();
    check_shape(outputs, 2 * D, targets.cols(), "mann::GaussianNll::forward", "outputs");
    raw = outputs.bottomRows(D);
    variance = raw.unaryExpr([this](Scalar s) { return softplus(s) + min_variance; });
    residual = targets - outputs.topRows(D);
    const Scalar log_two_pi = Scalar(1.8378770664093453);
    return Scalar(0.5) * (log_two_pi + variance.array().log() + residual.array().square() / variance.array()).sum();
  }
  /// dL/dμ = (μ − y)/σ², dL/ds = ½ (1/σ² − (y − μ)²/σ⁴) σ'(s), all times scale.
  void backward(Scalar scale, Mat& doutputs) const {
    const Index D = variance.rows();
    doutputs.resize(2 * D, variance.cols());
    doutputs.topRows(D).array() = -scale * residual.array() / variance.array();
    doutputs.bottomRows(D).array() =
        scale * Scalar(0.5) * (variance.array().inverse() - residual.array().square() / variance.array().square()) *
        raw.unaryExpr([](Scalar s) { return sigmoid(s); }).array();
  }
  /// The predicted mean and variance for inspection: mean = outputs.topRows(D), variance = cache.
};

}  // namespace mann
