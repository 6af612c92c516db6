// Benchmarks of the LSTM step and the Linear layer at the paper's sizes: input 400 + 5 + 160
// (image, previous label, 4 reads × 40), hidden 200, batch 16.
#include <benchmark/benchmark.h>

#include "mann/nn/linear.hpp"
#include "mann/nn/lstm.hpp"

namespace {

constexpr mann::Index kInput = 400 + 5 + 160, kHidden = 200, kBatch = 16;

void BM_Lstm_StepForwardBackward(benchmark::State& state) {
  mann::Rng rng(1);
  mann::Lstm<float> lstm(kInput, kHidden, rng);
  mann::MatrixF x = mann::MatrixF::Random(kInput, kBatch), dh = mann::MatrixF::Random(kHidden, kBatch), dx;
  mann::Lstm<float>::Step prev, cur;
  mann::Lstm<float>::Carry carry;
  lstm.forward_step(x, nullptr, prev);
  lstm.reset_carry(carry, kBatch);
  for (auto _ : state) {
    lstm.forward_step(x, &prev, cur);
    lstm.backward_step(cur, dh, carry, dx);
    benchmark::DoNotOptimize(dx.data());
    benchmark::ClobberMemory();
  }
  // Three GEMMs of 4H × (I + H) × B (forward, weight gradient, input gradient), 2 flops per MAC.
  const double flops = 3.0 * 2.0 * 4 * kHidden * (kInput + kHidden) * kBatch;
  state.counters["GFLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_Lstm_StepForwardBackward)->Unit(benchmark::kMicrosecond);

void BM_Lstm_StepForward(benchmark::State& state) {
  mann::Rng rng(1);
  mann::Lstm<float> lstm(kInput, kHidden, rng);
  mann::MatrixF x = mann::MatrixF::Random(kInput, kBatch);
  mann::Lstm<float>::Step prev, cur;
  lstm.forward_step(x, nullptr, prev);
  for (auto _ : state) {
    lstm.forward_step(x, &prev, cur);
    benchmark::DoNotOptimize(cur.h.data());
  }
  const double flops = 2.0 * 4 * kHidden * (kInput + kHidden) * kBatch;
  state.counters["GFLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
}
BENCHMARK(BM_Lstm_StepForward)->Unit(benchmark::kMicrosecond);

void BM_Linear_Forward(benchmark::State& state) {
  mann::Rng rng(1);
  const mann::Index in = kInput + kHidden, out = 4 * kHidden;
  mann::Linear<float> layer(in, out, rng);
  mann::MatrixF x = mann::MatrixF::Random(in, kBatch), y;
  layer.forward(x, y);
  for (auto _ : state) {
    layer.forward(x, y);
    benchmark::DoNotOptimize(y.data());
  }
  const double flops = 2.0 * in * out * kBatch;
  state.counters["GFLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
}
BENCHMARK(BM_Linear_Forward)->Unit(benchmark::kMicrosecond);

}  // namespace
