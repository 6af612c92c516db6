// Tests for mann/data/gp.hpp: the kernel, the sampler's empirical mean and covariance against the
// kernel (1-D, 2-D, 3-D), a hand-computed 2-point posterior, the one-step-ahead predictions against
// the explicit posterior, float against double, errors, and the regression episodes.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "mann/data/gp.hpp"

namespace {

using mann::Index;
using Mat = mann::Matrix<double>;
using Vec = mann::Vector<double>;

template <class Exception, class F>
void expect_throw_containing(F&& f, const std::string& text) {
  try {
    f();
    ADD_FAILURE() << "no exception; expected one containing \"" << text << "\"";
  } catch (const Exception& e) {
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
  }
}

TEST(GaussianProcess, KernelIsSquaredExponential) {
  mann::GpOptions o;
  o.dimension = 2;
  o.length_scale = 0.5;
  o.signal_variance = 2.0;
  mann::GaussianProcess<double> gp(o);
  Mat a(2, 2), b(2, 1), k;
  a << 0, 0.3,
       0, 0.4;  // column 1 is at distance 0.5 from the origin
  b << 0, 0;
  gp.covariance(a, b, k);
  ASSERT_EQ(k.rows(), 2);
  ASSERT_EQ(k.cols(), 1);
  EXPECT_NEAR(k(0, 0), 2.0, 1e-15);
  EXPECT_NEAR(k(1, 0), 2.0 * std::exp(-0.25 / (2 * 0.25)), 1e-15);  // σ_f² exp(−r²/2ℓ²) = 2 e^{−1/2}
}

// The sampler's empirical mean and covariance over N independent draws at fixed inputs match 0 and
// K (+ σ_n² I for noisy observations). Each entry's estimate has standard deviation at most
// √((Σ_ii Σ_jj + Σ_ij²)/N) (Gaussian fourth moments); with N = 20000 and Σ_ii ≈ 1 that is ≤ 0.01.
// We allow 5 of them per entry (a false failure has probability < 1e-5 over all entries), and a
// wrong kernel (e.g. exp(−r²/ℓ²) instead of exp(−r²/2ℓ²)) moves the off-diagonal entries here by
// 0.04–0.25, up to 25 times the tolerance.
void check_empirical_covariance(int dimension, bool noisy) {
  mann::GpOptions o;
  o.dimension = dimension;
  mann::GaussianProcess<double> gp(o);
  const Index n = 5;
  Mat x(dimension, n);
  for (Index j = 0; j < n; ++j) {
    for (Index i = 0; i < dimension; ++i) x(i, j) = 0.15 * static_cast<double>(j) * (i == 0 ? 1.0 : -0.5);
  }
  Mat expected(n, n);  // the kernel written out here, independently of GaussianProcess::covariance
  for (Index i = 0; i < n; ++i) {
    for (Index j = 0; j < n; ++j) {
      const double r2 = (x.col(i) - x.col(j)).squaredNorm();
      expected(i, j) = o.signal_variance * std::exp(-r2 / (2 * o.length_scale * o.length_scale));
    }
  }
  if (noisy) expected.diagonal().array() += o.noise_variance;
  const int draws = 20000;
  mann::Rng rng(11 + static_cast<std::uint64_t>(dimension));
  Vec y, sum = Vec::Zero(n);
  Mat products = Mat::Zero(n, n);
  for (int d = 0; d < draws; ++d) {
    if (noisy) {
      gp.sample_observations(rng, x, y);
    } else {
      gp.sample_function(rng, x, y);
    }
    sum += y;
    products += y * y.transpose();
  }
  const Vec mean = sum / draws;
  const Mat covariance = products / draws - mean * mean.transpose();
  for (Index i = 0; i < n; ++i) {
    EXPECT_NEAR(mean(i), 0.0, 5 * std::sqrt(expected(i, i) / draws)) << "D = " << dimension << ", point " << i;
    for (Index j = 0; j < n; ++j) {
      const double sd = std::sqrt((expected(i, i) * expected(j, j) + expected(i, j) * expected(i, j)) / draws);
      EXPECT_NEAR(covariance(i, j), expected(i, j), 5 * sd) << "D = " << dimension << ", entry " << i << ", " << j;
    }
  }
  // The points are close, so the test does check correlations: neighbours correlate well above 0.5.
  EXPECT_GT(expected(0, 1), 0.5);
}

TEST(GaussianProcess, ObservationCovarianceMatchesKernelPlusNoise) {
  for (int d = 1; d <= 3; ++d) check_empirical_covariance(d, true);
}

TEST(GaussianProcess, FunctionCovarianceMatchesKernel) {
  for (int d = 1; d <= 3; ++d) check_empirical_covariance(d, false);
}

TEST(GaussianProcess, InputsUniformOverTheRange) {
  mann::GpOptions o;
  o.dimension = 3;
  o.input_low = -2;
  o.input_high = 1;
  mann::GaussianProcess<double> gp(o);
  mann::Rng rng(3);
  Mat x;
  const Index n = 30000;
  gp.sample_inputs(rng, n, x);
  ASSERT_EQ(x.rows(), 3);
  ASSERT_EQ(x.cols(), n);
  EXPECT_GE(x.minCoeff(), -2.0);
  EXPECT_LT(x.maxCoeff(), 1.0);
  // Uniform on [−2, 1]: mean −0.5, variance 9/12 = 0.75; the mean's standard error is √(0.75/n) ≈ 0.005.
  for (Index i = 0; i < 3; ++i) {
    EXPECT_NEAR(x.row(i).mean(), -0.5, 0.025);
    EXPECT_NEAR((x.row(i).array() + 0.5).square().mean(), 0.75, 0.03);
  }
}

// Two observations, 1-D, ℓ = 1, σ_f² = 1, σ_n² = 0.1: x = (0, 1), y = (1, 0), test point x* = 0.5.
//   a  = k(0, 1)   = e^{−1/2}  = 0.6065306597
//   k* = k(0.5, 0) = k(0.5, 1) = e^{−1/8} = 0.8824969026
//   K + σ_n² I = [[1.1, a], [a, 1.1]], inverse [[1.1, −a], [−a, 1.1]] / ((1.1 − a)(1.1 + a))
//   mean = k*ᵀ (K + σ_n² I)⁻¹ y = k* (1.1 − a) / ((1.1 − a)(1.1 + a)) = k* / (1.1 + a)
//        = 0.8824969026 / 1.7065306597 = 0.5171292397
//   var f = 1 − k*² · 1ᵀ(K + σ_n² I)⁻¹1 = 1 − k*² · 2 / (1.1 + a) = 1 − 2 e^{−1/4} / 1.7065306597
//         = 1 − 1.5576015661 / 1.7065306597 = 0.0872700955;  var y = var f + 0.1 = 0.1872700955
// One step ahead, the second observation given the first (eq. of sequential_predictive):
//   mean = a / 1.1 · y_0 = 0.5513915088,  var = 1.1 − a² / 1.1 = 1.1 − e^{−1} / 1.1 = 0.7655641444
// and the first given nothing is the prior: mean 0, var 1.1.
TEST(GaussianProcess, TwoPointPosteriorMatchesHandComputation) {
  mann::GpOptions o;
  o.length_scale = 1;
  o.signal_variance = 1;
  o.noise_variance = 0.1;
  mann::GaussianProcess<double> gp(o);
  Mat x(1, 2), test(1, 1);
  x << 0, 1;
  test << 0.5;
  Vec y(2), mean, variance;
  y << 1, 0;
  gp.predict(x, y, test, mean, variance, /*with_noise=*/false);
  EXPECT_NEAR(mean(0), 0.5171292397, 1e-9);
  EXPECT_NEAR(variance(0), 0.0872700955, 1e-9);
  gp.predict(x, y, test, mean, variance, /*with_noise=*/true);
  EXPECT_NEAR(mean(0), 0.5171292397, 1e-9);
  EXPECT_NEAR(variance(0), 0.1872700955, 1e-9);

  gp.sequential_predictive(x, y, mean, variance);
  ASSERT_EQ(mean.size(), 2);
  EXPECT_NEAR(mean(0), 0.0, 1e-15);
  EXPECT_NEAR(variance(0), 1.1, 1e-12);
  EXPECT_NEAR(mean(1), 0.5513915088, 1e-9);
  EXPECT_NEAR(variance(1), 0.7655641444, 1e-9);

  // No observations: the prior.
  gp.predict(Mat(1, 0), Vec(0), test, mean, variance, true);
  EXPECT_EQ(mean(0), 0.0);
  EXPECT_NEAR(variance(0), 1.1, 1e-15);
}

// sequential_predictive's t-th entry equals predict() from the first t points at point t.
TEST(GaussianProcess, SequentialPredictiveEqualsPosteriorOnPrefixes) {
  mann::GpOptions o;
  o.dimension = 3;
  mann::GaussianProcess<double> gp(o);
  mann::Rng rng(5);
  Mat x;
  Vec y, seq_mean, seq_var, mean, variance;
  gp.sample_inputs(rng, 12, x);
  gp.sample_observations(rng, x, y);
  gp.sequential_predictive(x, y, seq_mean, seq_var);
  for (Index t = 0; t < x.cols(); ++t) {
    gp.predict(x.leftCols(t), y.head(t), x.col(t), mean, variance, true);
    EXPECT_NEAR(seq_mean(t), mean(0), 1e-10) << "t = " << t;
    EXPECT_NEAR(seq_var(t), variance(0), 1e-10) << "t = " << t;
  }
  // Observing more can only shrink the predictive variance at a point; it never goes below σ_n².
  EXPECT_GE(seq_var.minCoeff(), o.noise_variance - 1e-12);
}

// The posterior at an observed input is pulled to the observation (noise small against the signal).
TEST(GaussianProcess, PosteriorInterpolatesObservations) {
  mann::GpOptions o;
  o.noise_variance = 1e-4;
  mann::GaussianProcess<double> gp(o);
  mann::Rng rng(9);
  Mat x;
  Vec y, mean, variance;
  gp.sample_inputs(rng, 8, x);
  gp.sample_observations(rng, x, y);
  gp.predict(x, y, x, mean, variance, false);
  EXPECT_LT((mean - y).cwiseAbs().maxCoeff(), 0.05);
  EXPECT_LT(variance.maxCoeff(), 2e-4);
}

TEST(GaussianProcess, FloatAgreesWithDouble) {
  mann::GpOptions o;
  o.dimension = 2;
  mann::GaussianProcess<double> gp(o);
  mann::GaussianProcess<float> gpf(o);
  mann::Rng rng(21);
  Mat x, test;
  Vec y, mean, variance;
  gp.sample_inputs(rng, 6, x);
  gp.sample_inputs(rng, 4, test);
  gp.sample_observations(rng, x, y);
  gp.predict(x, y, test, mean, variance);
  mann::Vector<float> mean_f, variance_f;
  gpf.predict(x.cast<float>(), y.cast<float>(), test.cast<float>(), mean_f, variance_f);
  EXPECT_LT((mean_f.cast<double>() - mean).cwiseAbs().maxCoeff(), 1e-3);
  EXPECT_LT((variance_f.cast<double>() - variance).cwiseAbs().maxCoeff(), 1e-3);
}

TEST(GaussianProcess, RejectsBadOptionsWithClearMessages) {
  auto make = [](auto change) {
    return [change]() {
      mann::GpOptions o;
      change(o);
      mann::GaussianProcess<double> gp(o);
    };
  };
  expect_throw_containing<mann::ValueError>(make([](mann::GpOptions& o) { o.dimension = 0; }),
                                            "options.dimension is 0, expected 1, 2 or 3");
  expect_throw_containing<mann::ValueError>(make([](mann::GpOptions& o) { o.dimension = 4; }),
                                            "options.dimension is 4");
  expect_throw_containing<mann::ValueError>(make([](mann::GpOptions& o) { o.length_scale = 0; }),
                                            "options.length_scale is 0, expected finite and > 0");
  expect_throw_containing<mann::ValueError>(make([](mann::GpOptions& o) { o.signal_variance = -1; }),
                                            "options.signal_variance is -1");
  expect_throw_containing<mann::ValueError>(make([](mann::GpOptions& o) { o.noise_variance = 0; }),
                                            "options.noise_variance is 0");
  expect_throw_containing<mann::ValueError>(make([](mann::GpOptions& o) { o.length_scale = NAN; }),
                                            "options.length_scale is nan");
  expect_throw_containing<mann::ValueError>(make([](mann::GpOptions& o) { o.input_high = -1; }),
                                            "expected finite with input_low < input_high");
  expect_throw_containing<mann::ValueError>([] { mann::GpEpisodes<float>(mann::GpOptions{}, 0); },
                                            "mann::GpEpisodes: length is 0, expected >= 1");
}

TEST(GaussianProcess, RejectsMismatchedShapes) {
  mann::GpOptions o;
  o.dimension = 2;
  mann::GaussianProcess<double> gp(o);
  Vec mean, variance;
  expect_throw_containing<mann::ShapeError>([&] { gp.predict(Mat(3, 4), Vec(4), Mat(2, 1), mean, variance); },
                                            "predict: inputs is 3 x 4, expected 2 x any");
  expect_throw_containing<mann::ShapeError>([&] { gp.predict(Mat::Zero(2, 4), Vec(3), Mat(2, 1), mean, variance); },
                                            "predict: targets is 3 x 1, expected 4 x 1");
  expect_throw_containing<mann::ShapeError>([&] { gp.predict(Mat::Zero(2, 4), Vec(4), Mat(1, 1), mean, variance); },
                                            "test_inputs is 1 x 1, expected 2 x any");
  expect_throw_containing<mann::ShapeError>([&] { gp.sequential_predictive(Mat::Zero(2, 4), Vec(5), mean, variance); },
                                            "targets is 5 x 1, expected 4 x 1");
  mann::Rng rng(1);
  Vec y;
  expect_throw_containing<mann::ShapeError>([&] { gp.sample_observations(rng, Mat(1, 3), y); }, "inputs is 1 x 3");
  // Two equal inputs without noise: the covariance is singular.
  expect_throw_containing<mann::ValueError>([&] {
    mann::GpOptions tiny;
    tiny.noise_variance = 1e-300;
    mann::GaussianProcess<double> g(tiny);
    g.predict(Mat::Zero(1, 2), Vec::Zero(2), Mat::Zero(1, 1), mean, variance);
  }, "not positive definite");
}

TEST(GpEpisodes, ShapesTimeOffsetAndFreshFunctions) {
  mann::GpOptions o;
  o.dimension = 2;
  mann::GpEpisodes<float> episodes(o, 30, 7);
  mann::EpisodeBatch<float> batch;
  episodes.generate(batch, 6, 100);
  ASSERT_EQ(batch.length(), 30);
  ASSERT_EQ(batch.batch(), 6);
  ASSERT_EQ(batch.input_size(), 2);
  ASSERT_EQ(batch.label_size(), 1);
  batch.validate("test");
  for (Index t = 0; t < 30; ++t) {
    for (int b = 0; b < 6; ++b) EXPECT_EQ(batch.instance[static_cast<std::size_t>(t)][static_cast<std::size_t>(b)], 0);
    EXPECT_GE(batch.inputs[static_cast<std::size_t>(t)].minCoeff(), -1.0f);
    EXPECT_LT(batch.inputs[static_cast<std::size_t>(t)].maxCoeff(), 1.0f);
  }
  // targets[t] is the observation at inputs[t] (the model shows it one step late): the episode's
  // (x, y) pairs are a draw of the GP, which we check through their one-step-ahead likelihood: the
  // true GP predicts them far better than the prior alone would (close inputs have close values).
  mann::GaussianProcess<double> gp(o);
  double nll_gp = 0, nll_prior = 0;
  for (Index b = 0; b < 6; ++b) {
    Mat x(2, 30);
    Vec y(30), mean, variance;
    for (Index t = 0; t < 30; ++t) {
      x.col(t) = batch.inputs[static_cast<std::size_t>(t)].col(b).cast<double>();
      y(t) = batch.targets[static_cast<std::size_t>(t)](0, b);
    }
    gp.sequential_predictive(x, y, mean, variance);
    for (Index t = 0; t < 30; ++t) {
      nll_gp += mann::gaussian_nll(y(t), mean(t), variance(t));
      nll_prior += mann::gaussian_nll(y(t), 0.0, o.signal_variance + o.noise_variance);
    }
  }
  EXPECT_LT(nll_gp, nll_prior - 0.5 * 6 * 30);
  // Every episode has its own inputs and function.
  for (int b = 1; b < 6; ++b) {
    EXPECT_NE(batch.inputs[0](0, b), batch.inputs[0](0, 0));
    EXPECT_NE(batch.targets[0](0, b), batch.targets[0](0, 0));
  }
}

TEST(GpEpisodes, EpisodesDependOnSeedAndIndexOnly) {
  mann::GpEpisodes<double> episodes(mann::GpOptions{}, 10, 3), other_seed(mann::GpOptions{}, 10, 4);
  mann::EpisodeBatch<double> four, one, other;
  episodes.generate(four, 4, 20);
  episodes.generate(one, 1, 22);
  other_seed.generate(other, 1, 22);
  for (Index t = 0; t < 10; ++t) {
    EXPECT_EQ(four.inputs[static_cast<std::size_t>(t)](0, 2), one.inputs[static_cast<std::size_t>(t)](0, 0));
    EXPECT_EQ(four.targets[static_cast<std::size_t>(t)](0, 2), one.targets[static_cast<std::size_t>(t)](0, 0));
  }
  EXPECT_NE(other.inputs[0](0, 0), one.inputs[0](0, 0));
  // A batch of another size is rejected by generate_columns.
  mann::EpisodeBatch<double> wrong;
  wrong.resize(9, 2, 1, 1);
  expect_throw_containing<mann::ValueError>([&] { episodes.generate_columns(wrong, 0, 0, 2); },
                                            "batch.length() is 9, expected length()");
}

}  // namespace
