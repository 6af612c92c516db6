// mann/data/gp.hpp: regression data of Santoro et al. section 4.3 (figures 5–6): functions drawn
// from a Gaussian-process prior with a squared-exponential kernel and fixed hyper-parameters, on
// inputs of 1, 2 or 3 dimensions; the exact GP posterior predictive (Cholesky) as the reference;
// and regression episodes in the EpisodeBatch form the MANN's Gaussian output consumes. Eigen only.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include <Eigen/Cholesky>

#include "mann/core/error.hpp"
#include "mann/core/random.hpp"
#include "mann/core/types.hpp"
#include "mann/core/episode.hpp"

namespace mann {

/// The GP prior and its inputs. The paper gives no values; these are ours, fixed for every episode:
///   k(x, x') = σ_f² exp(−‖x − x'‖² / (2 ℓ²))        squared-exponential kernel, one ℓ for all axes
///   y = f(x) + ε,  ε ~ N(0, σ_n²)                      the episode's targets are noisy observations
///   x uniform in [input_low, input_high]^D
/// With the defaults (ℓ = 0.5 on [−1, 1]) a 1-D function has a few bumps across the range, and
/// σ_n = 0.1 bounds the best possible per-sample NLL at ½ log(2πe σ_n²) ≈ −0.88.
struct GpOptions {
  int dimension = 1;             ///< D: 1, 2 or 3
  double length_scale = 0.5;     ///< ℓ
  double signal_variance = 1.0;  ///< σ_f²
  double noise_variance = 0.01;  ///< σ_n²
  double input_low = -1.0;       ///< inputs uniform in [input_low, input_high] per axis
  double input_high = 1.0;
};

/// \throws ValueError unless D ∈ {1, 2, 3}, ℓ, σ_f², σ_n² > 0 and finite, low < high finite.
inline void check_gp_options(const GpOptions& o, const char* where) {
  check_value(o.dimension >= 1 && o.dimension <= 3, where, "options.dimension", o.dimension, "1, 2 or 3");
  check_value(std::isfinite(o.length_scale) && o.length_scale > 0, where, "options.length_scale", o.length_scale,
              "finite and > 0");
  check_value(std::isfinite(o.signal_variance) && o.signal_variance > 0, where, "options.signal_variance",
              o.signal_variance, "finite and > 0");
  check_value(std::isfinite(o.noise_variance) && o.noise_variance > 0, where, "options.noise_variance",
              o.noise_variance, "finite and > 0");
  check_value(std::isfinite(o.input_low) && std::isfinite(o.input_high) && o.input_low < o.input_high, where,
              "options.[input_low, input_high]", detail::concat("[", o.input_low, ", ", o.input_high, "]"),
              "finite with input_low < input_high");
}

/// Gaussian negative log-likelihood of one value: ½ [log 2π + log σ² + (y − μ)² / σ²].
inline double gaussian_nll(double y, double mean, double variance) {
  const double r = y - mean;
  return 0.5 * (1.8378770664093453 + std::log(variance) + r * r / variance);
}

/// A GP prior with known hyper-parameters: draws inputs and function values, and gives the exact
/// posterior predictive. Points are columns: inputs are D × n.
/// Scalar is double by default (not float as elsewhere): the Cholesky factor of a kernel matrix
/// loses too much in single precision; float works for a few well-separated points.
/// Thread-safety: the sampling and prediction methods use workspaces held by the object, so use one
/// GaussianProcess per thread.
template <class Scalar = double>
class GaussianProcess {
 public:
  using Mat = Matrix<Scalar>;
  using Vec = Vector<Scalar>;
  using ConstRef = Eigen::Ref<const Mat>;
  using ConstVecRef = Eigen::Ref<const Vec>;

  /// Added to the diagonal when drawing the noise-free f (the kernel matrix of close points is
  /// singular to rounding), relative to σ_f²: its effect on f is a standard deviation of 1e-4 σ_f.
  static constexpr double jitter = 1e-8;

  /// \throws ValueError for bad options (see check_gp_options).
  explicit GaussianProcess(const GpOptions& options = {}) : options_(options) {
    check_gp_options(options_, "mann::GaussianProcess");
  }

  const GpOptions& options() const { return options_; }
  Index dimension() const { return options_.dimension; }

  /// k(a_i, b_j) for every column pair: out is n × m for a D × n, b D × m.
  /// \throws ShapeError if a or b does not have D rows.
  void covariance(const ConstRef& a, const ConstRef& b, Mat& out) const {
    check_shape(a, dimension(), -1, "mann::GaussianProcess::covariance", "a");
    check_shape(b, dimension(), -1, "mann::GaussianProcess::covariance", "b");
    out.resize(a.cols(), b.cols());
    const Scalar scale = Scalar(-0.5 / (options_.length_scale * options_.length_scale));
    const Scalar variance = static_cast<Scalar>(options_.signal_variance);
    for (Index j = 0; j < b.cols(); ++j) {
      for (Index i = 0; i < a.cols(); ++i) {
        out(i, j) = variance * std::exp(scale * (a.col(i) - b.col(j)).squaredNorm());
      }
    }
  }

  /// n inputs uniform in [input_low, input_high]^D, as the columns of `inputs` (D × n).
  void sample_inputs(Rng& rng, Index n, Mat& inputs) const {
    check_value(n >= 0, "mann::GaussianProcess::sample_inputs", "n", n, ">= 0");
    inputs.resize(dimension(), n);
    for (Index j = 0; j < n; ++j) {
      for (Index i = 0; i < dimension(); ++i) {
        inputs(i, j) = static_cast<Scalar>(rng.uniform(options_.input_low, options_.input_high));
      }
    }
  }

  /// Noisy observations y = f(x) + ε at the columns of `inputs`, drawn jointly from the prior:
  /// y ~ N(0, K + σ_n² I), y = L z with L Lᵀ = K + σ_n² I and z standard normal.
  /// \throws ShapeError if inputs does not have D rows.
  void sample_observations(Rng& rng, const ConstRef& inputs, Vec& values) {
    sample(rng, inputs, static_cast<Scalar>(options_.noise_variance), values);
  }

  /// The noise-free function f at the columns of `inputs`, drawn jointly: f ~ N(0, K + jitter σ_f² I).
  /// \throws ShapeError if inputs does not have D rows.
  void sample_function(Rng& rng, const ConstRef& inputs, Vec& values) {
    sample(rng, inputs, static_cast<Scalar>(jitter * options_.signal_variance), values);
  }

  /// Exact posterior predictive at the columns of `test_inputs` given observations `targets` at
  /// `inputs` (Rasmussen & Williams 2006, eqs 2.25–2.26), with L Lᵀ = K + σ_n² I:
  ///   mean = K*ᵀ (K + σ_n² I)⁻¹ y,   variance = k(x*, x*) − ‖L⁻¹ k*‖² (+ σ_n² if with_noise)
  /// with_noise: the variance of a new noisy observation y* (what the episodes' targets are), else of f(x*).
  /// No observations (inputs D × 0) gives the prior. \throws ShapeError on mismatched shapes.
  void predict(const ConstRef& inputs, const ConstVecRef& targets, const ConstRef& test_inputs, Vec& mean,
               Vec& variance, bool with_noise = true) {
    const char* where = "mann::GaussianProcess::predict";
    check_shape(inputs, dimension(), -1, where, "inputs");
    check_shape(targets, inputs.cols(), 1, where, "targets");
    check_shape(test_inputs, dimension(), -1, where, "test_inputs");
    const Index m = test_inputs.cols();
    const Scalar noise = static_cast<Scalar>(options_.noise_variance);
    const Scalar prior = static_cast<Scalar>(options_.signal_variance) + (with_noise ? noise : Scalar(0));
    if (inputs.cols() == 0) {
      mean.setZero(m);
      variance.setConstant(m, prior);
      return;
    }
    factorise(inputs, noise);
    covariance(inputs, test_inputs, cross_);       // K*, n × m
    alpha_ = llt_.solve(targets);                  // (K + σ_n² I)⁻¹ y
    mean.noalias() = cross_.transpose() * alpha_;
    llt_.matrixL().solveInPlace(cross_);           // L⁻¹ K*
    variance.resize(m);
    for (Index j = 0; j < m; ++j) {
      // NOTE: rounding can push k** − ‖v‖² of a point at an observation slightly below zero.
      variance(j) = std::max(Scalar(0), static_cast<Scalar>(options_.signal_variance) - cross_.col(j).squaredNorm()) +
                    (with_noise ? noise : Scalar(0));
    }
  }

  /// The GP's one-step-ahead predictions along an episode, as the MANN makes them (figure 6): for
  /// t = 0 … n−1 the predictive mean and variance of targets(t) given the first t observations.
  /// With L Lᵀ = K + σ_n² I and z = L⁻¹ y (z ~ N(0, I) under the prior), y_t = Σ_{j≤t} L_tj z_j, so
  /// given y_0 … y_{t−1} (equivalently z_0 … z_{t−1}): mean_t = Σ_{j<t} L_tj z_j, variance_t = L_tt².
  /// One O(n³) factorisation gives all n predictions. \throws ShapeError on mismatched shapes.
  void sequential_predictive(const ConstRef& inputs, const ConstVecRef& targets, Vec& mean, Vec& variance) {
    const char* where = "mann::GaussianProcess::sequential_predictive";
    check_shape(inputs, dimension(), -1, where, "inputs");
    check_shape(targets, inputs.cols(), 1, where, "targets");
    const Index n = inputs.cols();
    mean.resize(n);
    variance.resize(n);
    if (n == 0) return;
    factorise(inputs, static_cast<Scalar>(options_.noise_variance));
    alpha_ = llt_.matrixL().solve(targets);  // z
    const auto& L = llt_.matrixLLT();        // lower triangle holds L
    for (Index t = 0; t < n; ++t) {
      mean(t) = t ? L.row(t).head(t).dot(alpha_.head(t)) : Scalar(0);
      variance(t) = L(t, t) * L(t, t);
    }
  }

 private:
  // L Lᵀ = K(inputs, inputs) + diagonal I, into llt_ (reusing its storage for equal sizes).
  void factorise(const ConstRef& inputs, Scalar diagonal) {
    covariance(inputs, inputs, gram_);
    gram_.diagonal().array() += diagonal;
    llt_.compute(gram_);
    if (llt_.info() != Eigen::Success) {
      throw ValueError(detail::concat("mann::GaussianProcess: the covariance of ", inputs.cols(),
                                      " points is not positive definite, expected distinct inputs"));
    }
  }

  void sample(Rng& rng, const ConstRef& inputs, Scalar diagonal, Vec& values) {
    check_shape(inputs, dimension(), -1, "mann::GaussianProcess::sample", "inputs");
    const Index n = inputs.cols();
    values.resize(n);
    if (n == 0) return;
    factorise(inputs, diagonal);
    normals_.resize(n);
    for (Index i = 0; i < n; ++i) normals_(i) = static_cast<Scalar>(rng.normal());
    values.noalias() = llt_.matrixL() * normals_;
  }

  GpOptions options_;
  Mat gram_, cross_;
  Vec alpha_, normals_;
  Eigen::LLT<Mat> llt_;
};

/// Regression episodes (Santoro et al. 4.3): every episode draws a fresh function from the GP prior
/// and T inputs uniform over the range; step t shows x_t, and the model adds f(x_{t−1}) itself
/// (time-offset targets, as for classification). inputs[t] is x_t (D × B), targets[t] the noisy
/// observation y_t = f(x_t) + ε (1 × B), instance[t] all 0. Episode e has its own random stream
/// (episode_seed), so the episodes do not depend on how batches are cut.
/// Thread-safety: generate/generate_columns are const and safe to call concurrently.
template <class Scalar = float>
class GpEpisodes {
 public:
  /// \throws ValueError for bad options or length < 1.
  GpEpisodes(const GpOptions& options, int length, std::uint64_t seed = 42)
      : options_(options), length_(length), seed_(seed) {
    check_gp_options(options_, "mann::GpEpisodes");
    check_value(length >= 1, "mann::GpEpisodes", "length", length, ">= 1");
  }

  const GpOptions& options() const { return options_; }
  Index input_size() const { return options_.dimension; }
  Index label_size() const { return 1; }
  Index length() const { return length_; }
  std::uint64_t seed() const { return seed_; }

  /// Sizes `batch` for `batch_size` episodes.
  void resize(EpisodeBatch<Scalar>& batch, Index batch_size) const {
    batch.resize(length(), batch_size, input_size(), label_size());
  }

  /// Fills `batch` with episodes first_episode … first_episode + batch_size − 1 (column b holds
  /// episode first_episode + b). \throws ValueError for batch_size < 0.
  void generate(EpisodeBatch<Scalar>& batch, Index batch_size, std::uint64_t first_episode) const {
    check_value(batch_size >= 0, "mann::GpEpisodes::generate", "batch_size", batch_size, ">= 0");
    resize(batch, batch_size);
    generate_columns(batch, first_episode, 0, batch_size);
  }

  /// Fills columns [begin, end) of a batch sized by resize(). \throws ShapeError/ValueError otherwise.
  void generate_columns(EpisodeBatch<Scalar>& batch, std::uint64_t first_episode, Index begin, Index end) const {
    const char* where = "mann::GpEpisodes::generate_columns";
    check_value(batch.length() == length(), where, "batch.length()", batch.length(), "length() (call resize first)");
    check_value(batch.instance.size() == static_cast<std::size_t>(length()), where, "batch.instance.size()",
                batch.instance.size(), "length()");
    check_shape(batch.inputs[0], input_size(), -1, where, "batch.inputs[0]");
    check_shape(batch.targets[0], label_size(), batch.batch(), where, "batch.targets[0]");
    check_value(0 <= begin && begin <= end && end <= batch.batch(), where, "[begin, end)",
                detail::concat("[", begin, ", ", end, ")"), "within [0, batch.batch()]");
    GaussianProcess<double> gp(options_);
    Matrix<double> x;
    Vector<double> y;
    for (Index b = begin; b < end; ++b) {
      Rng rng(episode_seed(seed_, first_episode + static_cast<std::uint64_t>(b)));
      gp.sample_inputs(rng, length(), x);
      gp.sample_observations(rng, x, y);
      for (Index t = 0; t < length(); ++t) {
        batch.inputs[static_cast<std::size_t>(t)].col(b) = x.col(t).cast<Scalar>();
        batch.targets[static_cast<std::size_t>(t)](0, b) = static_cast<Scalar>(y(t));
      }
    }
  }

 private:
  GpOptions options_;
  Index length_;
  std::uint64_t seed_;
};

}  // namespace mann
