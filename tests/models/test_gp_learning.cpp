// Learning test (issue 7): a small MANN with a Gaussian output, trained on regression episodes of
// fresh 1-D functions from the GP prior of mann/data/gp.hpp (Santoro et al. 4.3), lowers its
// held-out negative log-likelihood clearly, and below what any predictor that ignores the episode
// can reach: such a predictor sees only x_t, and f(x_t) is N(0, σ_f² + σ_n²) over functions, so its
// per-sample NLL is at least ½ log(2πe · 1.01) ≈ 1.424. The exact GP is a floor the MANN cannot beat
// on average. About 2 s in Release on 2 threads; excluded from the sanitizer run (label "learning").
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <iostream>
#include <vector>

#include "mann/data/gp.hpp"
#include "mann/memory/lrua_head.hpp"
#include "mann/models/mann_model.hpp"
#include "mann/nn/lstm.hpp"
#include "mann/train/parallel_trainer.hpp"
#include "mann/optim/rmsprop.hpp"

namespace gp_learning_test {  // named: shares a unity translation unit with test_mann_learning

using Model = mann::Mann<float, mann::Lstm<float>, mann::LruaHead<float>>;
constexpr int kLength = 30, kBatch = 16, kEpisodes = 12000, kTestEpisodes = 320;

struct Nll {
  std::vector<double> mann = std::vector<double>(kLength, 0.0), gp = std::vector<double>(kLength, 0.0);
  static double mean(const std::vector<double>& v, int from = 0, int to = kLength) {
    double s = 0;
    for (int t = from; t < to; ++t) s += v[static_cast<std::size_t>(t)];
    return s / (to - from);
  }
};

// Per-sample NLL by index on held-out functions (another generator seed), MANN and exact GP.
Nll evaluate(mann::ParallelTrainer<Model>& trainer) {
  const mann::GpOptions options;  // 1-D, ℓ = 0.5, σ_f² = 1, σ_n² = 0.01
  mann::GpEpisodes<float> test(options, kLength, 99);
  mann::GaussianProcess<double> gp(options);
  mann::EpisodeBatch<float> batch;
  mann::Matrix<double> x(1, kLength);
  mann::Vector<double> y(kLength), mean, variance;
  Nll nll;
  for (int e = 0; e < kTestEpisodes; e += kBatch) {
    test.generate(batch, kBatch, static_cast<std::uint64_t>(e));
    trainer.evaluate(batch, mann::LabelEncoding::one_hot, nullptr);
    for (int k = 0; k < trainer.threads(); ++k) {
      for (int t = 0; t < kLength; ++t) {
        const auto& g = trainer.workspace(k).losses[static_cast<std::size_t>(t)].gaussian;
        for (mann::Index j = 0; j < g.variance.cols(); ++j) {
          nll.mann[static_cast<std::size_t>(t)] += mann::gaussian_nll(g.residual(0, j), 0.0, g.variance(0, j));
        }
      }
    }
    for (int b = 0; b < kBatch; ++b) {
      for (int t = 0; t < kLength; ++t) {
        x(0, t) = batch.inputs[static_cast<std::size_t>(t)](0, b);
        y(t) = batch.targets[static_cast<std::size_t>(t)](0, b);
      }
      gp.sequential_predictive(x, y, mean, variance);
      for (int t = 0; t < kLength; ++t) {
        nll.gp[static_cast<std::size_t>(t)] += mann::gaussian_nll(y(t), mean(t), variance(t));
      }
    }
  }
  for (int t = 0; t < kLength; ++t) {
    nll.mann[static_cast<std::size_t>(t)] /= kTestEpisodes;
    nll.gp[static_cast<std::size_t>(t)] /= kTestEpisodes;
  }
  return nll;
}

TEST(GpLearning, MannNllFallsWellBelowWhatIgnoringTheEpisodeAllows) {
  const auto start = std::chrono::steady_clock::now();
  mann::MannConfig config;
  config.input_size = 1;
  config.label_size = 1;
  config.output = mann::OutputKind::gaussian;
  mann::LruaHead<float>::Options memory;
  memory.slots = 32;
  memory.width = 16;
  memory.heads = 2;
  mann::LruaHead<float> head(memory);
  mann::Rng rng(3);
  Model model(config, mann::Lstm<float>(Model::controller_input_size(config, head), 48, rng), head, rng);
  mann::ParallelTrainer<Model> trainer(model, 2);
  mann::RmsProp<float>::Options rmsprop;
  rmsprop.learning_rate = 1e-3;
  mann::RmsProp<float> optimizer(model.parameters(), rmsprop);

  const Nll before = evaluate(trainer);
  mann::GpEpisodes<float> train(mann::GpOptions{}, kLength, 1);
  mann::EpisodeBatch<float> batch;
  for (int done = 0; done < kEpisodes; done += kBatch) {
    train.generate(batch, kBatch, static_cast<std::uint64_t>(done));
    trainer.train_step(batch, optimizer, mann::LabelEncoding::one_hot);
  }
  const Nll after = evaluate(trainer);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "per-sample NLL on " << kTestEpisodes << " held-out functions after " << kEpisodes << " episodes ("
            << seconds << " s): MANN before " << Nll::mean(before.mann) << ", after " << Nll::mean(after.mann)
            << " (index 1: " << after.mann[0] << ", last 10: " << Nll::mean(after.mann, kLength - 10)
            << "); exact GP " << Nll::mean(after.gp) << " (last 10: " << Nll::mean(after.gp, kLength - 10) << ")\n";

  // Untrained (μ ≈ 0, σ² ≈ softplus(0)) it does no better than ignoring the episode: measured 1.45.
  // After training: measured 0.36–0.47 over four training seeds.
  EXPECT_GT(Nll::mean(before.mann), 1.1);
  EXPECT_LT(Nll::mean(after.mann), 0.7);
  EXPECT_LT(Nll::mean(after.mann), Nll::mean(before.mann) - 0.5);
  // It uses the samples it has seen: late in the episode it is far below the 1.424 bound (measured
  // ≈ 0.2), while the first sample, with nothing seen yet, is no better predicted than by the prior
  // (the GP's first prediction; measured 1.33 against the GP's 1.32 on these 320 functions).
  EXPECT_LT(Nll::mean(after.mann, kLength - 10), 0.8);
  EXPECT_GT(after.mann[0], after.gp[0] - 0.1);
  // No predictor beats the exact posterior on average (a check of the evaluation itself).
  EXPECT_GT(Nll::mean(after.mann), Nll::mean(after.gp) - 0.05);
  EXPECT_LT(Nll::mean(after.gp), -0.2);
}

}  // namespace gp_learning_test
