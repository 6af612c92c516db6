// One full MANN training step (forward, BPTT, RMSProp) at the paper's sizes: a batch of 16 episodes
// of length 50, 20 × 20 inputs, 5 classes one-hot, LSTM 200, memory 128 × 40, 4 heads; on 1 and 2
// threads (the batch split across them). Reports episodes per second. Also the feed-forward
// controller and the LSTM alone (the baselines). BM_MannLstmLrua_Scaling measures the speed-up from
// 1 to 2 threads with the two trainers' steps interleaved, so that a slow phase of a shared host
// slows both alike.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

#include "mann/memory/lrua_head.hpp"
#include "mann/models/controller_only.hpp"
#include "mann/models/mann_model.hpp"
#include "mann/nn/feed_forward.hpp"
#include "mann/nn/lstm.hpp"
#include "mann/train/parallel_trainer.hpp"
#include "mann/optim/rmsprop.hpp"

namespace {

constexpr int kLength = 50, kBatch = 16;

mann::EpisodeBatch<float> random_batch() {
  mann::Rng rng(2);
  mann::EpisodeBatch<float> batch;
  batch.resize(kLength, kBatch, 400, 5);
  for (int t = 0; t < kLength; ++t) {
    mann::init_uniform(batch.inputs[t], rng, 0.0, 1.0);
    batch.targets[t].setZero();
    for (int b = 0; b < kBatch; ++b) {
      batch.targets[t](static_cast<mann::Index>(rng.below(5)), b) = 1;
      batch.instance[t][static_cast<std::size_t>(b)] = 1 + t / 5;
    }
  }
  return batch;
}

template <class Model>
void run_training_steps(benchmark::State& state, Model& model) {
  const int threads = static_cast<int>(state.range(0));
  const int B = kBatch;
  const mann::EpisodeBatch<float> batch = random_batch();
  mann::ParallelTrainer<Model> trainer(model, threads);
  mann::RmsProp<float> optimizer(model.parameters());
  trainer.train_step(batch, optimizer, mann::LabelEncoding::one_hot);  // warm-up: sizes the buffers
  for (auto _ : state) {
    benchmark::DoNotOptimize(trainer.train_step(batch, optimizer, mann::LabelEncoding::one_hot));
  }
  state.SetItemsProcessed(state.iterations() * B);
  state.counters["episodes/s"] =
      benchmark::Counter(static_cast<double>(B), benchmark::Counter::kIsIterationInvariantRate);
}

using MannLstmLrua = mann::Mann<float, mann::Lstm<float>, mann::LruaHead<float>>;

MannLstmLrua paper_sized_mann() {
  mann::Rng rng(1);
  mann::MannConfig config;  // the paper's sizes
  mann::LruaHead<float> head;
  mann::Lstm<float> lstm(MannLstmLrua::controller_input_size(config, head), 200, rng);
  return MannLstmLrua(config, lstm, head, rng);
}

void BM_MannLstmLrua_TrainStep(benchmark::State& state) {
  MannLstmLrua model = paper_sized_mann();
  run_training_steps(state, model);
}
BENCHMARK(BM_MannLstmLrua_TrainStep)->Arg(1)->Arg(2)->ArgName("threads")->Unit(benchmark::kMillisecond)->UseRealTime();

// Each iteration: one step on 1 thread, then one on 2 threads (two models, two optimisers). Counters:
// median ms per step of each and speedup = the ratio of the medians.
void BM_MannLstmLrua_Scaling(benchmark::State& state) {
  MannLstmLrua one_model = paper_sized_mann(), two_model = paper_sized_mann();
  const mann::EpisodeBatch<float> batch = random_batch();
  mann::ParallelTrainer<MannLstmLrua> one(one_model, 1), two(two_model, 2);
  mann::RmsProp<float> one_optimizer(one_model.parameters()), two_optimizer(two_model.parameters());
  one.train_step(batch, one_optimizer, mann::LabelEncoding::one_hot);  // warm-up
  two.train_step(batch, two_optimizer, mann::LabelEncoding::one_hot);
  std::vector<double> one_ms, two_ms;
  auto timed_step = [&](auto& trainer, auto& optimizer, std::vector<double>& ms) {
    const auto start = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(trainer.train_step(batch, optimizer, mann::LabelEncoding::one_hot));
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  };
  for (auto _ : state) {
    timed_step(one, one_optimizer, one_ms);
    timed_step(two, two_optimizer, two_ms);
  }
  auto median = [](std::vector<double> v) {
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
    return v[v.size() / 2];
  };
  const double one_median = median(one_ms), two_median = median(two_ms);
  state.counters["ms_1_thread"] = one_median;
  state.counters["ms_2_threads"] = two_median;
  state.counters["speedup"] = one_median / two_median;
}
BENCHMARK(BM_MannLstmLrua_Scaling)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(5);

void BM_MannFeedForwardLrua_TrainStep(benchmark::State& state) {
  using Model = mann::Mann<float, mann::FeedForward<float>, mann::LruaHead<float>>;
  mann::Rng rng(1);
  mann::MannConfig config;
  mann::LruaHead<float> head;
  mann::FeedForward<float> ff(Model::controller_input_size(config, head), {200}, rng);
  Model model(config, ff, head, rng);
  run_training_steps(state, model);
}
BENCHMARK(BM_MannFeedForwardLrua_TrainStep)->Arg(1)->Arg(2)->ArgName("threads")->Unit(benchmark::kMillisecond)->UseRealTime();

// The memory-less baseline of Tables 1–2 at the same sizes: an LSTM of 200 shown [x_t; y_{t−1}].
void BM_LstmAlone_TrainStep(benchmark::State& state) {
  using Model = mann::ControllerOnly<float, mann::Lstm<float>>;
  mann::Rng rng(1);
  mann::MannConfig config;
  mann::Lstm<float> lstm(Model::controller_input_size(config), 200, rng);
  Model model(config, lstm, rng);
  run_training_steps(state, model);
}
BENCHMARK(BM_LstmAlone_TrainStep)->Arg(1)->Arg(2)->ArgName("threads")->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
