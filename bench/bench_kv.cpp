// bench/bench_kv.cpp: the key-value memory module — the cost of one update (the write rule with
// ages and the index maintenance) and of a whole training step (query, loss, backward, update),
// with exact or LSH search, on a full memory of clustered keys (d = 128).
//
//   ./bench_kv --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <memory>
#include <vector>

#include "bench_knn_data.hpp"
#include "mann/kv/key_value_memory.hpp"

namespace {

using knn_bench::Index;
using Memory = mann::KeyValueMemory<float>;

// A full memory of the clustered data set; method 0 exact, 1 LSH (setting 1 of bench_knn: the default).
Memory& full_memory(int method, Index n, Index k) {
  static std::unique_ptr<Memory> memory;
  static int cached_method = -1;
  static Index cached_n = 0, cached_k = 0;
  if (memory && cached_method == method && cached_n == n && cached_k == k) return *memory;
  memory.reset();
  auto& data = knn_bench::dataset(knn_bench::clustered, n, 128);
  mann::KeyValueMemoryOptions options;
  options.k = k;
  if (method == 1) {
    options.method = mann::KnnMethod::lsh;
    const auto setting = knn_bench::lsh_setting(1, n);
    options.lsh = setting.params;
    options.lsh_search = setting.search;
  }
  memory = std::make_unique<Memory>(n, 128, options);
  std::vector<Memory::Value> values(static_cast<std::size_t>(n));
  std::vector<std::int64_t> ages(static_cast<std::size_t>(n));
  mann::Rng rng(3);
  for (Index s = 0; s < n; ++s) {
    values[static_cast<std::size_t>(s)] = static_cast<Memory::Value>(rng.below(1000));
    ages[static_cast<std::size_t>(s)] = n - 1 - s;
  }
  memory->restore(data.keys, values, ages);
  cached_method = method;
  cached_n = n;
  cached_k = k;
  return *memory;
}

const char* method_name(int method) { return method == 0 ? "exact" : "lsh"; }

void BM_Kv_Update(benchmark::State& state) {
  const int method = static_cast<int>(state.range(0));
  const Index n = state.range(1);
  Memory& memory = full_memory(method, n, 1);
  auto& data = knn_bench::dataset(knn_bench::clustered, n, 128);
  state.SetLabel(method_name(method));
  // A cache serves one update and only while nothing else was written: each iteration queries with
  // the timer paused (pausing and resuming adds a little to the figure), then times the write rule.
  Memory::Cache cache;
  std::vector<Memory::Value> target(1);
  mann::Rng rng(4);
  std::vector<Memory::Value> labels(4096);
  for (auto& l : labels) l = static_cast<Memory::Value>(rng.below(1000));
  std::size_t next = 0;
  for (auto _ : state) {
    state.PauseTiming();
    memory.query(data.queries.col(static_cast<Index>(next % static_cast<std::size_t>(knn_bench::kQueryPool))), cache);
    target[0] = labels[next % labels.size()];
    state.ResumeTiming();
    memory.update(cache, target);
    ++next;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_Kv_Update)
    ->ArgNames({"lsh", "N"})
    ->ArgsProduct({{0, 1}, {1000, 10000, 100000, 1000000}})
    ->Unit(benchmark::kMicrosecond);

void BM_Kv_Step(benchmark::State& state) {
  const int method = static_cast<int>(state.range(0));
  const Index n = state.range(1), b = state.range(2);
  Memory& memory = full_memory(method, n, 256);
  auto& data = knn_bench::dataset(knn_bench::clustered, n, 128);
  state.SetLabel(method_name(method));
  Memory::Cache cache;
  mann::MatrixF grad;
  std::vector<Memory::Value> targets(static_cast<std::size_t>(b));
  mann::Rng rng(5);
  Index next = 0;
  for (auto _ : state) {
    for (auto& t : targets) t = static_cast<Memory::Value>(rng.below(1000));
    memory.query(data.queries.middleCols(next, b), cache);
    benchmark::DoNotOptimize(memory.loss(targets, cache));
    memory.backward(cache, grad);
    memory.update(cache, targets);
    next = (next + b) % knn_bench::kQueryPool;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * b);
}
BENCHMARK(BM_Kv_Step)
    ->ArgNames({"lsh", "N", "B"})
    ->ArgsProduct({{0, 1}, {10000, 1000000}, {1, 16, 256}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
