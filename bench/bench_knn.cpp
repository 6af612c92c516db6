// bench/bench_knn.cpp: nearest-neighbour search (exact and LSH) on uniform and clustered unit keys,
// with the memory bandwidth of this machine measured in the same run.
//
// Arguments: kind (0 uniform, 1 clustered), N keys, d, k, B queries per batch [, LSH setting].
// Counters: items_per_second = queries/s; bytes_per_second = keys read per second (N·d·4 per
// batch for the exact search); FLOP/s = 2·N·d·B per batch; recall = recall@k against the exact
// search on the same 256 queries; candidates = keys re-ranked exactly per query.
//
//   ./bench_knn --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//               --benchmark_filter='BM_Knn_Exact/kind:1/N:1000000/d:128'
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "bench_knn_data.hpp"
#include "mann/knn/exact.hpp"
#include "mann/knn/lsh.hpp"

namespace {

using knn_bench::Index;

// Build settings, recorded in the context printed before the first benchmark.
void add_context() {
  benchmark::AddCustomContext("mann.hamming_kernel", mann::knn::to_string(mann::knn::hamming_simd_level()));
  benchmark::AddCustomContext("mann.scan_kernel", mann::knn::to_string(mann::knn::scan_simd_level()));
#if defined(EIGEN_VECTORIZE_AVX512)
  benchmark::AddCustomContext("eigen.simd", "AVX-512");
#elif defined(EIGEN_VECTORIZE_AVX2)
  benchmark::AddCustomContext("eigen.simd", "AVX2");
#endif
  benchmark::AddCustomContext("threads", "1 (all mann searches are single-threaded)");
}
const bool context_added = (add_context(), true);

// ------------------------------------------------------------------------------------------------
// Memory bandwidth: read a buffer of `MB` megabytes with `threads` threads, each reading its share
// as `streams` sequential streams at once (an OR-reduction of 64-bit words; several streams keep
// more cache misses in flight, as a matrix-vector product over several columns does).

std::uint64_t read_words(const std::uint64_t* p, std::size_t n, std::size_t streams) {
  std::uint64_t a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  const std::size_t length = n / streams;
  if (streams == 1) {
    for (std::size_t i = 0; i + 8 <= n; i += 8)
      for (int j = 0; j < 8; ++j) a[j] |= p[i + static_cast<std::size_t>(j)];
  } else {
    for (std::size_t i = 0; i + 8 <= length; i += 8)
      for (std::size_t s = 0; s < streams; ++s)
        for (int j = 0; j < 8; ++j) a[j] |= p[s * length + i + static_cast<std::size_t>(j)];
  }
  return a[0] | a[1] | a[2] | a[3] | a[4] | a[5] | a[6] | a[7];
}

void BM_Memory_ReadBandwidth(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0)) << 20;
  const auto threads = static_cast<std::size_t>(state.range(1));
  const auto streams = static_cast<std::size_t>(state.range(2));
  std::vector<std::uint64_t> buffer(bytes / 8);
  for (std::size_t i = 0; i < buffer.size(); ++i) buffer[i] = i * 0x9E3779B97F4A7C15ull;
  for (auto _ : state) {
    std::vector<std::uint64_t> partial(threads);
    std::vector<std::thread> pool;
    const std::size_t share = buffer.size() / threads;
    for (std::size_t t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] { partial[t] = read_words(buffer.data() + t * share, share, streams); });
    }
    for (auto& th : pool) th.join();
    benchmark::DoNotOptimize(partial.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(bytes));
}
BENCHMARK(BM_Memory_ReadBandwidth)
    ->ArgNames({"MB", "threads", "streams"})
    ->ArgsProduct({{512, 2048}, {1, 2}, {1, 8}})
    ->UseRealTime();

// ------------------------------------------------------------------------------------------------
// Exact search.

template <class IndexType>
struct Cached {
  int kind = -1;
  Index n = 0, d = 0;
  int setting = -1;
  std::unique_ptr<IndexType> index;
};

mann::ExactIndex<float>& exact_index(knn_bench::Dataset& data) {
  static Cached<mann::ExactIndex<float>> cache;
  if (!cache.index || cache.kind != data.kind || cache.n != data.n || cache.d != data.d) {
    cache.index.reset();
    cache.index = std::make_unique<mann::ExactIndex<float>>(data.d);
    cache.index->add(data.keys);
    cache.kind = data.kind;
    cache.n = data.n;
    cache.d = data.d;
  }
  return *cache.index;
}

void set_search_counters(benchmark::State& state, Index n, Index d, Index b) {
  const auto batches = static_cast<double>(state.iterations());
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * b);
  state.counters["FLOP/s"] =
      benchmark::Counter(batches * 2.0 * double(n) * double(d) * double(b), benchmark::Counter::kIsRate);
}

void BM_Knn_Exact(benchmark::State& state) {
  const int kind = static_cast<int>(state.range(0));
  const Index n = state.range(1), d = state.range(2), k = state.range(3), b = state.range(4);
  auto& data = knn_bench::dataset(kind, n, d);
  auto& index = exact_index(data);
  mann::KnnResult<float> result;
  mann::KnnWorkspace<float> workspace;
  Index next = 0;
  for (auto _ : state) {
    index.search(data.queries.middleCols(next, b), k, result, workspace);
    benchmark::DoNotOptimize(result.indices.data());
    next = (next + b) % knn_bench::kQueryPool;
  }
  set_search_counters(state, n, d, b);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * n * d * 4);
}

// Exact search with ExactParams::threads (the key range split over threads), N = 1e6, d = 128.
void BM_Knn_ExactThreads(benchmark::State& state) {
  const int kind = static_cast<int>(state.range(0));
  const Index n = state.range(1), d = state.range(2), k = state.range(3), b = state.range(4);
  auto& data = knn_bench::dataset(kind, n, d);
  auto& index = exact_index(data);
  mann::ExactParams params = index.params();
  params.threads = static_cast<int>(state.range(5));
  index.set_params(params);
  mann::KnnResult<float> result;
  mann::KnnWorkspace<float> workspace;
  Index next = 0;
  for (auto _ : state) {
    index.search(data.queries.middleCols(next, b), k, result, workspace);
    benchmark::DoNotOptimize(result.indices.data());
    next = (next + b) % knn_bench::kQueryPool;
  }
  params.threads = 1;
  index.set_params(params);
  set_search_counters(state, n, d, b);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * n * d * 4);
}
BENCHMARK(BM_Knn_ExactThreads)
    ->ArgNames({"kind", "N", "d", "k", "B", "threads"})
    ->ArgsProduct({{1}, {1000000}, {128}, {1, 256}, {1, 16, 256}, {1, 2}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// d = 128 over every N, k, B; d = 40 and 256 at N = 1e4 and 1e6.
void exact_arguments(benchmark::internal::Benchmark* bench) {
  bench->ArgNames({"kind", "N", "d", "k", "B"});
  for (int kind : {0, 1}) {
    for (Index n : {1000, 10000, 100000, 1000000}) {
      for (Index d : {40, 128, 256}) {
        if (d != 128 && n != 10000 && n != 1000000) continue;
        for (Index k : {1, 256})
          for (Index b : {1, 16, 256}) bench->Args({kind, n, d, k, b});
      }
    }
  }
}
BENCHMARK(BM_Knn_Exact)->Apply(exact_arguments)->Unit(benchmark::kMillisecond)->UseRealTime();

// ------------------------------------------------------------------------------------------------
// LSH search: recall@k on the query pool beside the speed.

mann::LshIndex<float>& lsh_index(knn_bench::Dataset& data, int setting) {
  static Cached<mann::LshIndex<float>> cache;
  const auto preset = knn_bench::lsh_setting(setting, data.n);
  const bool same_build = cache.index && cache.kind == data.kind && cache.n == data.n && cache.d == data.d &&
                          cache.index->params().tables == preset.params.tables &&
                          cache.index->params().bits_per_table == preset.params.bits_per_table &&
                          cache.index->params().bucket_tables == preset.params.bucket_tables &&
                          cache.index->params().sketch_bits == preset.params.sketch_bits;
  if (!same_build) {
    cache.index.reset();
    cache.index = std::make_unique<mann::LshIndex<float>>(data.d, preset.params, preset.search);
    cache.index->add(data.keys);
    cache.kind = data.kind;
    cache.n = data.n;
    cache.d = data.d;
  }
  cache.index->set_search_params(preset.search);
  return *cache.index;
}

void BM_Knn_Lsh(benchmark::State& state) {
  const int kind = static_cast<int>(state.range(0));
  const Index n = state.range(1), d = state.range(2), k = state.range(3), b = state.range(4);
  const int setting = static_cast<int>(state.range(5));
  auto& data = knn_bench::dataset(kind, n, d);
  const mann::IndexMatrix& truth = knn_bench::exact_truth(data, k);
  auto& index = lsh_index(data, setting);
  state.SetLabel(knn_bench::lsh_setting(setting, n).name);
  mann::KnnResult<float> result;
  mann::KnnWorkspace<float> workspace;
  index.search(data.queries, k, result, workspace);  // the whole pool, untimed: recall
  const double recall = knn_bench::recall(truth, result.indices);
  const double candidates = static_cast<double>(workspace.reranked) / static_cast<double>(knn_bench::kQueryPool);
  Index next = 0;
  for (auto _ : state) {
    index.search(data.queries.middleCols(next, b), k, result, workspace);
    benchmark::DoNotOptimize(result.indices.data());
    next = (next + b) % knn_bench::kQueryPool;
  }
  set_search_counters(state, n, d, b);
  state.counters["recall"] = recall;
  state.counters["candidates"] = candidates;
}

void lsh_arguments(benchmark::internal::Benchmark* bench) {
  bench->ArgNames({"kind", "N", "d", "k", "B", "lsh"});
  for (int kind : {0, 1}) {
    for (Index n : {1000, 10000, 100000, 1000000}) {
      for (Index d : {40, 128, 256}) {
        if (d != 128 && n != 10000 && n != 1000000) continue;
        for (int setting = 0; setting < knn_bench::kLshSettings; ++setting)
          for (Index k : {1, 256})
            for (Index b : {1, 16, 256}) bench->Args({kind, n, d, k, b, setting});
      }
    }
  }
}
BENCHMARK(BM_Knn_Lsh)->Apply(lsh_arguments)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
