// One full MANN training step (forward, BPTT, RMSProp) at the paper's sizes: a batch of 16 episodes
// of length 50, 20 × 20 inputs, 5 classes one-hot, LSTM 200, memory 128 × 40, 4 heads; on 1 and 2
// threads (the batch split across them). Reports episodes per second. Also the feed-forward
// controller and the LSTM alone (the baselines).
#include <benchmark/benchmark.h>

#include <thread>

#include "mann/memory/lrua_head.hpp"
#include "mann/models/controller_only.hpp"
#include "mann/models/mann.hpp"
#include "mann/nn/feed_forward.hpp"
#include "mann/nn/lstm.hpp"
#include "mann/train/parallel_trainer.hpp"
#include "mann/train/rmsprop.hpp"

namespace {

template <class Model>
void run_training_steps(benchmark::State& state, Model& model) {
  const int threads = static_cast<int>(state.range(0));
  const int T = 50, B = 16;
  mann::Rng rng(2);
  mann::EpisodeBatch<float> batch;
  batch.resize(T, B, 400, 5);
  for (int t = 0; t < T; ++t) {
    mann::init_uniform(batch.inputs[t], rng, 0.0, 1.0);
    batch.targets[t].setZero();
    for (int b = 0; b < B; ++b) {
      batch.targets[t](static_cast<mann::Index>(rng.below(5)), b) = 1;
      batch.instance[t][static_cast<std::size_t>(b)] = 1 + t / 5;
    }
  }
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

void BM_MannLstmLrua_TrainStep(benchmark::State& state) {
  using Model = mann::Mann<float, mann::Lstm<float>, mann::LruaHead<float>>;
  mann::Rng rng(1);
  mann::MannConfig config;  // the paper's sizes
  mann::LruaHead<float> head;
  mann::Lstm<float> lstm(Model::controller_input_size(config, head), 200, rng);
  Model model(config, lstm, head, rng);
  run_training_steps(state, model);
}
BENCHMARK(BM_MannLstmLrua_TrainStep)->Arg(1)->Arg(2)->ArgName("threads")->Unit(benchmark::kMillisecond)->UseRealTime();

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
