// bench/faiss/bench_knn_faiss.cpp: mann's nearest-neighbour search side by side with FAISS
// (IndexFlatIP, IndexLSH with and without exact refinement, IndexHNSWFlat) and hnswlib, on the
// data sets of bench_knn.cpp, in one run.
//
// Every library runs on ONE thread by default; FAISS_THREADS=2 gives FAISS/OpenBLAS two threads,
// MANN_THREADS=2 mann's exact search (ExactParams::threads). The BLAS FAISS loaded is recorded in
// the context.
// Built HNSW graphs are cached in $MANN_BENCH_CACHE (default /tmp/mann_knn_bench_cache).
//
// Arguments: lib, kind (0 uniform, 1 clustered), N, d, k, B. Counters: items_per_second =
// queries/s, recall = recall@k against the exact search over the same 256 queries.
// BM_Compare_Interleaved times hnswlib and mann's LSH in alternating blocks and reports their
// paired ratios (the comparison to trust on a shared, noisy host).
//
//   ./bench_knn_faiss --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
//                     --benchmark_filter='BM_Compare_Exact'
#include <benchmark/benchmark.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexLSH.h>
#include <faiss/IndexRefine.h>
#include <faiss/index_io.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>
#if defined(MANN_HAVE_HNSWLIB)
#include <hnswlib/hnswlib.h>
#endif

#include "bench_knn_data.hpp"
#include "mann/knn/exact.hpp"
#include "mann/knn/lsh.hpp"

extern "C" {
// OpenBLAS's own description of its build, when OpenBLAS is the BLAS loaded (weak: may be absent).
char* openblas_get_config(void) __attribute__((weak));
}

namespace {

using knn_bench::Index;

// Threads of mann's exact search (ExactParams::threads), from MANN_THREADS; 1 by default.
int mann_threads() {
  const char* text = std::getenv("MANN_THREADS");
  return text != nullptr ? std::max(1, std::atoi(text)) : 1;
}

int faiss_threads() {
  const char* text = std::getenv("FAISS_THREADS");
  return text != nullptr ? std::max(1, std::atoi(text)) : 1;
}

std::string cache_dir() {
  const char* text = std::getenv("MANN_BENCH_CACHE");
  std::string dir = text != nullptr ? text : "/tmp/mann_knn_bench_cache";
  std::filesystem::create_directories(dir);
  return dir;
}

// The shared libraries whose path mentions BLAS, from /proc/self/maps.
std::string loaded_blas() {
  std::ifstream maps("/proc/self/maps");
  std::string line, found;
  while (std::getline(maps, line)) {
    const auto slash = line.find('/');
    if (slash == std::string::npos) continue;
    const std::string path = line.substr(slash);
    if ((path.find("blas") != std::string::npos || path.find("lapack") != std::string::npos) &&
        found.find(path) == std::string::npos) {
      found += (found.empty() ? "" : " ") + path;
    }
  }
  return found.empty() ? "none found in /proc/self/maps" : found;
}

// Threads and the BLAS loaded, recorded in the context printed before the first benchmark.
void setup_once() {
  omp_set_num_threads(faiss_threads());
  // make sure the BLAS is loaded before reading the maps: one tiny FAISS BLAS search
  {
    faiss::IndexFlatIP flat(4);
    std::vector<float> x(4 * 64, 0.5f), distances(64);
    std::vector<faiss::Index::idx_t> labels(64);
    flat.add(64, x.data());
    flat.search(32, x.data(), 1, distances.data(), labels.data());
  }
  benchmark::AddCustomContext("blas.loaded", loaded_blas());
  if (openblas_get_config != nullptr) benchmark::AddCustomContext("blas.openblas_config", openblas_get_config());
  benchmark::AddCustomContext("faiss.omp_threads", std::to_string(faiss_threads()));
  benchmark::AddCustomContext("mann.threads", std::to_string(mann_threads()) + " (exact search; LSH: 1)");
  benchmark::AddCustomContext("mann.hamming_kernel", mann::knn::to_string(mann::knn::hamming_simd_level()));
  benchmark::AddCustomContext("mann.scan_kernel", mann::knn::to_string(mann::knn::scan_simd_level()));
}
const bool context_added = (setup_once(), true);

// ------------------------------------------------------------------------------------------------
// One searcher at a time (the indexes of N = 1e6 are large); built on first use.

struct Searcher {
  virtual ~Searcher() = default;
  // queries d × b (column-major = row-major rows of d floats, as FAISS wants); fills k × b labels.
  virtual void search(const float* queries, Index b, Index k, mann::IndexMatrix& labels) = 0;
};

struct MannExact : Searcher {
  mann::ExactIndex<float> index;
  mann::KnnResult<float> result;
  mann::KnnWorkspace<float> workspace;
  explicit MannExact(const knn_bench::Dataset& data) : index(data.d) {
    mann::ExactParams params;
    params.threads = mann_threads();
    index.set_params(params);
    index.add(data.keys);
  }
  void search(const float* queries, Index b, Index k, mann::IndexMatrix& labels) override {
    index.search(Eigen::Map<const mann::MatrixF>(queries, index.dimension(), b), k, result, workspace);
    labels = result.indices;
  }
};

struct MannLsh : Searcher {
  mann::LshIndex<float> index;
  mann::KnnResult<float> result;
  mann::KnnWorkspace<float> workspace;
  MannLsh(const knn_bench::Dataset& data, const knn_bench::LshSetting& setting)
      : index(data.d, setting.params, setting.search) {
    index.add(data.keys);
  }
  void search(const float* queries, Index b, Index k, mann::IndexMatrix& labels) override {
    index.search(Eigen::Map<const mann::MatrixF>(queries, index.dimension(), b), k, result, workspace);
    labels = result.indices;
  }
};

struct Faiss : Searcher {
  std::unique_ptr<faiss::Index> index;
  std::vector<float> distances;
  std::vector<faiss::Index::idx_t> found;
  void search(const float* queries, Index b, Index k, mann::IndexMatrix& labels) override {
    distances.resize(static_cast<std::size_t>(b * k));
    found.resize(static_cast<std::size_t>(b * k));
    index->search(b, queries, k, distances.data(), found.data());
    labels.resize(k, b);
    for (Index j = 0; j < b; ++j)
      for (Index i = 0; i < k; ++i) labels(i, j) = found[static_cast<std::size_t>(j * k + i)];
  }
};

#if defined(MANN_HAVE_HNSWLIB)
struct Hnswlib : Searcher {
  std::unique_ptr<hnswlib::InnerProductSpace> space;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> index;
  Index d = 0;
  void search(const float* queries, Index b, Index k, mann::IndexMatrix& labels) override {
    labels.resize(k, b);
    for (Index j = 0; j < b; ++j) {
      auto heap = index->searchKnn(queries + j * d, static_cast<std::size_t>(k));  // furthest first
      for (Index i = static_cast<Index>(heap.size()) - 1; i >= 0; --i) {
        labels(i, j) = static_cast<Index>(heap.top().second);
        heap.pop();
      }
    }
  }
};
#endif

// What a benchmark asks for; `lib` numbers below.
enum Lib : int {
  mann_exact = 0,
  faiss_flat = 1,
  mann_lsh_p8 = 10,         // mann LSH settings 0 … 13 of bench_knn_data.hpp are 10 … 23
  mann_lsh_t32 = 50,        // and settings 14 … (32 tables; kFirstT32Setting) are 50 …
  faiss_lsh = 25,           // IndexLSH, 256 bits, ranked by Hamming distance only
  faiss_lsh_refine4 = 26,   // IndexRefineFlat(IndexLSH 256 bits), k_factor 4
  faiss_lsh_refine16 = 27,  // k_factor 16
  faiss_hnsw_ef256 = 30,    // IndexHNSWFlat M = 32, efConstruction 40, efSearch 256
  faiss_hnsw_ef512 = 31,
  hnswlib_ef256 = 40,  // hnswlib M = 16, ef_construction 200, ef 256
  hnswlib_ef512 = 41,
  hnswlib_ef1024 = 42,
};

// The mann LSH setting of bench_knn_data.hpp that `lib` runs, or −1.
constexpr int kFirstT32Setting = 14;  // settings from here on have 32 tables and share one build
static_assert(knn_bench::kLshSettings == 16, "a new LSH setting needs a lib id and a build (build_of)");
int lsh_setting_of(int lib) {
  if (lib >= mann_lsh_p8 && lib < mann_lsh_p8 + kFirstT32Setting) return lib - mann_lsh_p8;
  if (lib >= mann_lsh_t32 && lib < mann_lsh_t32 + knn_bench::kLshSettings - kFirstT32Setting)
    return kFirstT32Setting + lib - mann_lsh_t32;
  return -1;
}
int lib_of_lsh_setting(int setting) {
  return setting < kFirstT32Setting ? mann_lsh_p8 + setting : mann_lsh_t32 + setting - kFirstT32Setting;
}

std::string lib_name(int lib) {
  switch (lib) {
    case mann_exact:
      return "mann ExactIndex";
    case faiss_flat:
      return "faiss IndexFlatIP";
    case faiss_lsh:
      return "faiss IndexLSH 256b";
    case faiss_lsh_refine4:
      return "faiss IndexLSH 256b + RefineFlat x4";
    case faiss_lsh_refine16:
      return "faiss IndexLSH 256b + RefineFlat x16";
    case faiss_hnsw_ef256:
      return "faiss HNSWFlat M32 ef256";
    case faiss_hnsw_ef512:
      return "faiss HNSWFlat M32 ef512";
    case hnswlib_ef256:
      return "hnswlib M16 ef256";
    case hnswlib_ef512:
      return "hnswlib M16 ef512";
    case hnswlib_ef1024:
      return "hnswlib M16 ef1024";
    default:
      return std::string("mann LshIndex ") + knn_bench::lsh_setting(lsh_setting_of(lib), 1000000).name;
  }
}

// The build that `lib` needs (search-time settings like ef share a build).
int build_of(int lib) {
  const int setting = lsh_setting_of(lib);
  if (setting >= 0) {
    if (setting == 5 || setting == 6) return lib_of_lsh_setting(5);  // the scan settings share one build
    if (setting == 9) return lib_of_lsh_setting(9);                   // more bits per table
    if (setting == 11) return lib_of_lsh_setting(11);                 // no sketch
    if (setting >= kFirstT32Setting) return lib_of_lsh_setting(kFirstT32Setting);  // 32 tables
    return lib_of_lsh_setting(0);                                     // the other bucket settings share one
  }
  if (lib == faiss_lsh_refine4 || lib == faiss_lsh_refine16) return faiss_lsh_refine4;
  if (lib == faiss_hnsw_ef512) return faiss_hnsw_ef256;
  if (lib == hnswlib_ef512 || lib == hnswlib_ef1024) return hnswlib_ef256;
  return lib;
}

std::string cache_file(const char* what, const knn_bench::Dataset& data) {
  return cache_dir() + "/" + what + "_" + knn_bench::kind_name(data.kind) + "_" + std::to_string(data.n) + "_" +
         std::to_string(data.d) + ".bin";
}

#if defined(MANN_HAVE_HNSWLIB)
// hnswlib M = 16, ef_construction 200, from the cache or built (minutes at N = 1e6) and cached.
std::unique_ptr<Hnswlib> make_hnswlib(const knn_bench::Dataset& data) {
  auto h = std::make_unique<Hnswlib>();
  h->d = data.d;
  h->space = std::make_unique<hnswlib::InnerProductSpace>(static_cast<std::size_t>(data.d));
  const std::string file = cache_file("hnswlib_m16_efc200", data);
  if (std::filesystem::exists(file)) {
    h->index = std::make_unique<hnswlib::HierarchicalNSW<float>>(h->space.get(), file);
  } else {
    h->index = std::make_unique<hnswlib::HierarchicalNSW<float>>(h->space.get(), static_cast<std::size_t>(data.n), 16,
                                                                 200, 100);
    for (Index i = 0; i < data.n; ++i) h->index->addPoint(data.keys.col(i).data(), static_cast<std::size_t>(i));
    h->index->saveIndex(file);
  }
  return h;
}
#endif

Searcher& searcher(int lib, knn_bench::Dataset& data) {
  static std::unique_ptr<Searcher> current;
  static int built = -1, kind = -1;
  static Index n = 0, d = 0;
  const int build = build_of(lib);
  if (!current || built != build || kind != data.kind || n != data.n || d != data.d) {
    current.reset();
    if (build == mann_exact) {
      current = std::make_unique<MannExact>(data);
    } else if (lsh_setting_of(build) >= 0) {
      current = std::make_unique<MannLsh>(data, knn_bench::lsh_setting(lsh_setting_of(build), data.n));
    } else if (build == faiss_flat) {
      auto f = std::make_unique<Faiss>();
      f->index = std::make_unique<faiss::IndexFlatIP>(data.d);
      f->index->add(data.n, data.keys.data());
      current = std::move(f);
    } else if (build == faiss_lsh) {
      // NOTE: 256 bits > d needs rotate_data (a random d → 256 projection, trained on a sample).
      auto f = std::make_unique<Faiss>();
      f->index = std::make_unique<faiss::IndexLSH>(data.d, 256, /*rotate_data=*/true, /*train_thresholds=*/false);
      f->index->train(std::min<Index>(data.n, 10000), data.keys.data());
      f->index->add(data.n, data.keys.data());
      current = std::move(f);
    } else if (build == faiss_lsh_refine4) {
      auto f = std::make_unique<Faiss>();
      auto* lsh = new faiss::IndexLSH(data.d, 256, true, false);
      lsh->train(std::min<Index>(data.n, 10000), data.keys.data());
      auto refine = std::make_unique<faiss::IndexRefineFlat>(lsh);
      refine->own_fields = true;
      refine->add(data.n, data.keys.data());
      f->index = std::move(refine);
      current = std::move(f);
    } else if (build == faiss_hnsw_ef256) {
      auto f = std::make_unique<Faiss>();
      const std::string file = cache_file("faiss_hnsw_m32", data);
      if (std::filesystem::exists(file)) {
        f->index.reset(faiss::read_index(file.c_str()));
      } else {
        auto hnsw = std::make_unique<faiss::IndexHNSWFlat>(static_cast<int>(data.d), 32, faiss::METRIC_INNER_PRODUCT);
        hnsw->add(data.n, data.keys.data());
        faiss::write_index(hnsw.get(), file.c_str());
        f->index = std::move(hnsw);
      }
      current = std::move(f);
#if defined(MANN_HAVE_HNSWLIB)
    } else if (build == hnswlib_ef256) {
      current = make_hnswlib(data);
#endif
    } else {
      return *current;  // not available: the caller skips
    }
    built = build;
    kind = data.kind;
    n = data.n;
    d = data.d;
  }
  // search-time settings
  if (auto* f = dynamic_cast<Faiss*>(current.get())) {
    if (auto* hnsw = dynamic_cast<faiss::IndexHNSW*>(f->index.get()))
      hnsw->hnsw.efSearch = lib == faiss_hnsw_ef512 ? 512 : 256;
    if (auto* refine = dynamic_cast<faiss::IndexRefine*>(f->index.get()))
      refine->k_factor = lib == faiss_lsh_refine16 ? 16.0f : 4.0f;
  }
  if (auto* m = dynamic_cast<MannLsh*>(current.get())) {
    m->index.set_search_params(knn_bench::lsh_setting(lsh_setting_of(lib), data.n).search);
  }
#if defined(MANN_HAVE_HNSWLIB)
  if (auto* h = dynamic_cast<Hnswlib*>(current.get())) {
    h->index->setEf(lib == hnswlib_ef1024 ? 1024 : lib == hnswlib_ef512 ? 512 : 256);
  }
#endif
  return *current;
}

bool available(int lib) {
#if defined(MANN_HAVE_HNSWLIB)
  (void)lib;
  return true;
#else
  return lib < hnswlib_ef256;
#endif
}

void run(benchmark::State& state) {
  const int lib = static_cast<int>(state.range(0));
  const int kind = static_cast<int>(state.range(1));
  const Index n = state.range(2), d = state.range(3), k = state.range(4), b = state.range(5);
  if (!available(lib)) {
    state.SkipWithError("hnswlib not found at build time");
    return;
  }
  auto& data = knn_bench::dataset(kind, n, d);
  const mann::IndexMatrix& truth = knn_bench::exact_truth(data, k);
  Searcher& s = searcher(lib, data);
  state.SetLabel(lib_name(lib));
  mann::IndexMatrix labels;
  s.search(data.queries.data(), knn_bench::kQueryPool, k, labels);  // untimed: recall on the pool
  const double recall = knn_bench::recall(truth, labels);
  Index next = 0;
  for (auto _ : state) {
    s.search(data.queries.col(next).data(), b, k, labels);
    benchmark::DoNotOptimize(labels.data());
    next = (next + b) % knn_bench::kQueryPool;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * b);
  state.counters["recall"] = recall;
}

void BM_Compare_Exact(benchmark::State& state) { run(state); }
void BM_Compare_Approximate(benchmark::State& state) { run(state); }

void exact_arguments(benchmark::internal::Benchmark* bench) {
  bench->ArgNames({"lib", "kind", "N", "d", "k", "B"});
  for (int kind : {0, 1})
    for (Index n : {1000, 10000, 100000, 1000000})
      for (Index k : {1, 256})
        for (Index b : {1, 16, 256})
          for (int lib : {mann_exact, faiss_flat}) {
            if (k > n) continue;
            bench->Args({lib, kind, n, 128, k, b});
          }
}
BENCHMARK(BM_Compare_Exact)->Apply(exact_arguments)->Unit(benchmark::kMillisecond)->UseRealTime();

void approximate_arguments(benchmark::internal::Benchmark* bench) {
  bench->ArgNames({"lib", "kind", "N", "d", "k", "B"});
  const std::vector<int> libs = {mann_exact,
                                 10,
                                 11,
                                 12,
                                 13,
                                 14,
                                 15,
                                 16,
                                 17,
                                 18,
                                 19,
                                 20,
                                 21,
                                 22,
                                 23,
                                 50,
                                 51,
                                 faiss_lsh,
                                 faiss_lsh_refine4,
                                 faiss_lsh_refine16,
                                 faiss_hnsw_ef256,
                                 faiss_hnsw_ef512,
                                 hnswlib_ef256,
                                 hnswlib_ef512,
                                 hnswlib_ef1024};
  for (int kind : {1, 0})
    for (Index n : {100000, 1000000})
      for (Index b : {1, 256})
        for (int lib : libs) bench->Args({lib, kind, n, 128, 256, b});
}
BENCHMARK(BM_Compare_Approximate)->Apply(approximate_arguments)->Unit(benchmark::kMillisecond)->UseRealTime();

#if defined(MANN_HAVE_HNSWLIB)
// hnswlib M16 (ef 256 and 512) against mann's LSH (setting 12, T16 P56, and settings 14 and 15,
// T32 P18 and P25; two builds), INTERLEAVED: each iteration times one block of the 256 pool
// queries (in batches of B) with each of the five in turn, so that a slow phase of a shared host
// hits all of them. Counters: median µs per query of each; the median over the iterations of
// hnswlib's time over the LSH's in the same iteration (> 1, the LSH is faster): ef256 over T16
// P56 (speedup_t16_p56) and over T32 P18 (speedup_t32_p18), ef512 over T32 P25 (speedup_t32_p25);
// recall@k of each. The reported time is that of all five.
void BM_Compare_Interleaved(benchmark::State& state) {
  const int kind = static_cast<int>(state.range(0));
  const Index n = state.range(1), d = state.range(2), k = state.range(3), b = state.range(4);
  auto& data = knn_bench::dataset(kind, n, d);
  const mann::IndexMatrix& truth = knn_bench::exact_truth(data, k);
  const knn_bench::LshSetting settings[3] = {knn_bench::lsh_setting(12, n), knn_bench::lsh_setting(14, n),
                                             knn_bench::lsh_setting(15, n)};
  MannLsh lsh16(data, settings[0]), lsh32(data, settings[1]);
  std::unique_ptr<Hnswlib> hnsw = make_hnswlib(data);
  struct Contender {
    const char* name;
    int ef;                                // hnswlib's, or 0
    MannLsh* lsh;                          // or null
    const mann::LshSearchParams* search;  // the LSH's
  };
  const Contender contenders[5] = {{"hnswlib_ef256", 256, nullptr, nullptr},
                                   {"hnswlib_ef512", 512, nullptr, nullptr},
                                   {"lsh_t16_p56", 0, &lsh16, &settings[0].search},
                                   {"lsh_t32_p18", 0, &lsh32, &settings[1].search},
                                   {"lsh_t32_p25", 0, &lsh32, &settings[2].search}};
  auto prepare = [&](const Contender& c) -> Searcher& {
    if (c.lsh == nullptr) {
      hnsw->index->setEf(static_cast<std::size_t>(c.ef));
      return *hnsw;
    }
    c.lsh->index.set_search_params(*c.search);
    return *c.lsh;
  };
  std::vector<double> micros[5], seconds(5);
  std::vector<double> speedup[3];
  mann::IndexMatrix labels;
  double recall[5];
  for (int c = 0; c < 5; ++c) {  // untimed: recall on the pool
    prepare(contenders[c]).search(data.queries.data(), knn_bench::kQueryPool, k, labels);
    recall[c] = knn_bench::recall(truth, labels);
  }
  for (auto _ : state) {
    for (int c = 0; c < 5; ++c) {
      Searcher& searcher = prepare(contenders[c]);
      const auto start = std::chrono::steady_clock::now();
      for (Index first = 0; first < knn_bench::kQueryPool; first += b) {
        searcher.search(data.queries.col(first).data(), b, k, labels);
        benchmark::DoNotOptimize(labels.data());
      }
      seconds[static_cast<std::size_t>(c)] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      micros[c].push_back(seconds[static_cast<std::size_t>(c)] * 1e6 / static_cast<double>(knn_bench::kQueryPool));
    }
    speedup[0].push_back(seconds[0] / seconds[2]);
    speedup[1].push_back(seconds[0] / seconds[3]);
    speedup[2].push_back(seconds[1] / seconds[4]);
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
  };
  for (int c = 0; c < 5; ++c) {
    state.counters[std::string("us_") + contenders[c].name] = median(micros[c]);
    state.counters[std::string("recall_") + contenders[c].name] = recall[c];
  }
  state.counters["speedup_t16_p56"] = median(speedup[0]);
  state.counters["speedup_t32_p18"] = median(speedup[1]);
  state.counters["speedup_t32_p25"] = median(speedup[2]);
}
BENCHMARK(BM_Compare_Interleaved)
    ->ArgNames({"kind", "N", "d", "k", "B"})
    ->Args({1, 1000000, 128, 256, 1})
    ->Args({1, 1000000, 128, 256, 256})
    ->Iterations(15)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
#endif

}  // namespace
