// bench/bench_knn_data.hpp: the data sets of the nearest-neighbour benchmarks (bench_knn.cpp and
// the FAISS/hnswlib comparison in bench/faiss/), generated the same way in both:
//   uniform    keys and queries uniform on the unit sphere (the worst case for approximate search)
//   clustered  keys in 1000 Gaussian clusters on the sphere (noise of norm 0.5 around unit centres,
//              so a key's cosine to its centre is about 0.9), like a trained network's embeddings;
//              queries are stored keys plus noise of norm 0.25, renormalised
// Only the most recently used data set is kept (1e6 × 256 floats is 1 GB).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "mann/core/random.hpp"
#include "mann/knn/exact.hpp"
#include "mann/knn/lsh.hpp"

namespace knn_bench {

using mann::Index;

enum Kind : int { uniform = 0, clustered = 1 };

inline const char* kind_name(int kind) { return kind == clustered ? "clustered" : "uniform"; }

constexpr Index kQueryPool = 256;  // queries per data set; batches cycle through them
constexpr Index kClusters = 1000;

struct Dataset {
  int kind = uniform;
  Index n = 0, d = 0;
  mann::MatrixF keys;                        // d × n
  mann::MatrixF queries;                     // d × kQueryPool
  std::map<Index, mann::IndexMatrix> truth;  // k → exact top-k of the query pool
};

namespace detail {

// Gaussian draws through a fast generator (splitmix64 + Box–Muller): data generation is not timed,
// but 2.5e8 draws should not take minutes either.
class FastNormal {
 public:
  explicit FastNormal(std::uint64_t seed) : state_(seed) {}
  float operator()() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double u1 = (static_cast<double>(next() >> 11) + 0.5) * 0x1.0p-53;
    const double u2 = static_cast<double>(next() >> 11) * 0x1.0p-53;
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = static_cast<float>(r * std::sin(6.283185307179586 * u2));
    has_spare_ = true;
    return static_cast<float>(r * std::cos(6.283185307179586 * u2));
  }
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

 private:
  std::uint64_t state_;
  float spare_ = 0;
  bool has_spare_ = false;
};

inline void fill_unit(mann::MatrixF& m, FastNormal& normal) {
  for (Index j = 0; j < m.cols(); ++j) {
    for (Index i = 0; i < m.rows(); ++i) m(i, j) = normal();
    m.col(j).normalize();
  }
}

}  // namespace detail

/// The data set (kind, n, d), generated on first use with a fixed seed.
inline Dataset& dataset(int kind, Index n, Index d) {
  static std::unique_ptr<Dataset> current;
  if (current && current->kind == kind && current->n == n && current->d == d) return *current;
  current.reset();
  auto data = std::make_unique<Dataset>();
  data->kind = kind;
  data->n = n;
  data->d = d;
  data->keys.resize(d, n);
  data->queries.resize(d, kQueryPool);
  detail::FastNormal normal(1000003ull * static_cast<std::uint64_t>(n) + 7919ull * static_cast<std::uint64_t>(d) +
                            static_cast<std::uint64_t>(kind));
  if (kind == uniform) {
    detail::fill_unit(data->keys, normal);
    detail::fill_unit(data->queries, normal);
  } else {
    mann::MatrixF centres(d, kClusters);
    detail::fill_unit(centres, normal);
    const float key_noise = 0.5f / std::sqrt(static_cast<float>(d));
    const float query_noise = 0.25f / std::sqrt(static_cast<float>(d));
    for (Index j = 0; j < n; ++j) {
      const Index c = static_cast<Index>(normal.next() % kClusters);
      for (Index i = 0; i < d; ++i) data->keys(i, j) = centres(i, c) + key_noise * normal();
      data->keys.col(j).normalize();
    }
    for (Index j = 0; j < kQueryPool; ++j) {
      const Index source = static_cast<Index>(normal.next() % static_cast<std::uint64_t>(n));
      for (Index i = 0; i < d; ++i) data->queries(i, j) = data->keys(i, source) + query_noise * normal();
      data->queries.col(j).normalize();
    }
  }
  current = std::move(data);
  return *current;
}

/// The exact top-k of the data set's query pool (computed once per k).
inline const mann::IndexMatrix& exact_truth(Dataset& data, Index k) {
  auto found = data.truth.find(k);
  if (found != data.truth.end()) return found->second;
  mann::ExactIndex<float> exact(data.d);
  exact.add(data.keys);
  mann::KnnResult<float> result;
  exact.search(data.queries, k, result);
  return data.truth[k] = result.indices;
}

/// Mean fraction of the exact top-k present in `found` (k × B for the first B pool queries, −1
/// entries count as misses).
inline double recall(const mann::IndexMatrix& truth, const mann::IndexMatrix& found) {
  double total = 0;
  for (Index j = 0; j < found.cols(); ++j) {
    std::vector<Index> t(truth.col(j).data(), truth.col(j).data() + truth.rows());
    std::sort(t.begin(), t.end());
    Index hits = 0;
    for (Index i = 0; i < found.rows(); ++i)
      if (std::binary_search(t.begin(), t.end(), found(i, j))) ++hits;
    total += static_cast<double>(hits) / static_cast<double>(truth.rows());
  }
  return found.cols() == 0 ? 0.0 : total / static_cast<double>(found.cols());
}

/// The LSH settings benchmarked, by number. Bits per table follow the number of keys:
/// l = round(log2(n / 16)), clamped to [4, 20], so that a bucket holds about 16 uniform keys
/// (setting 9: about 4). multi_probe uses the expected probe order unless the name says otherwise.
struct LshSetting {
  const char* name;
  mann::LshParams params;
  mann::LshSearchParams search;
};

inline LshSetting lsh_setting(int id, Index n) {
  auto bits_for = [n](double load) {
    const double b = std::round(std::log2(std::max(2.0, static_cast<double>(n) / load)));
    return static_cast<Index>(std::clamp(b, 4.0, 20.0));
  };
  LshSetting s{"", {}, {}};
  s.params.seed = 1;
  s.params.tables = 16;
  s.params.bits_per_table = bits_for(16);
  s.search.max_candidates = 1024;  // the closest in Hamming distance over all 16·l bits
  switch (id) {
    case 0:
      s.name = "multi_probe T16 P8 cap1024";
      s.search.probes_per_table = 8;
      break;
    case 1:  // the KeyValueMemory default
      s.name = "multi_probe T16 P16 cap1024";
      s.search.probes_per_table = 16;
      break;
    case 2:
      s.name = "multi_probe T16 P32 cap1024";
      s.search.probes_per_table = 32;
      break;
    case 3:
      s.name = "multi_probe T16 P48 cap1024";
      s.search.probes_per_table = 48;
      break;
    case 7:
      s.name = "multi_probe T16 P32 cap2048";
      s.search.probes_per_table = 32;
      s.search.max_candidates = 2048;
      break;
    case 8:
      s.name = "multi_probe T16 P48 cap2048";
      s.search.probes_per_table = 48;
      s.search.max_candidates = 2048;
      break;
    case 9:  // buckets of ~4 uniform keys, more probes: fewer candidates for the same recall
      s.name = "multi_probe T16 l+2 P96 cap1024";
      s.params.bits_per_table = bits_for(4);
      s.search.probes_per_table = 96;
      break;
    case 10:  // setting 3 with the per-query probe order
      s.name = "multi_probe T16 P48 cap1024 query order";
      s.search.probes_per_table = 48;
      s.search.probe_order = mann::LshProbeOrder::query;
      break;
    case 11:  // setting 3 ranking every candidate by its full code (no sketch in the buckets)
      s.name = "multi_probe T16 P48 cap1024 no sketch";
      s.params.sketch_bits = 0;
      s.search.probes_per_table = 48;
      break;
    case 12:
      s.name = "multi_probe T16 P56 cap1024";
      s.search.probes_per_table = 56;
      break;
    case 13:  // high recall: more candidates survive the sketch (it caps the recall near 0.9995)
      s.name = "multi_probe T16 P80 cap1280 sketch6144";
      s.search.probes_per_table = 80;
      s.search.max_candidates = 1280;
      s.search.sketch_candidates = 6144;
      break;
    case 14:  // twice the tables, fewer probes: each table's probes need to reach fewer of the k nearest
      s.name = "multi_probe T32 P18 cap1024 sketch2048";
      s.params.tables = 32;
      s.search.probes_per_table = 18;
      s.search.sketch_candidates = 2048;
      break;
    case 15:
      s.name = "multi_probe T32 P25 cap1024";
      s.params.tables = 32;
      s.search.probes_per_table = 25;
      break;
    case 4:
      s.name = "hamming_ball T16 r1 cap1024";
      s.search.probe = mann::LshProbe::hamming_ball;
      s.search.hamming_radius = 1;
      break;
    default:  // 5, 6: popcount scan of 256-bit codes
      s.name = id == 5 ? "hamming_scan 256b c1024" : "hamming_scan 256b c4096";
      s.params.tables = 4;
      s.params.bits_per_table = 64;
      s.params.bucket_tables = false;
      s.search.probe = mann::LshProbe::hamming_scan;
      s.search.max_candidates = 0;
      s.search.scan_candidates = id == 5 ? 1024 : 4096;
      break;
  }
  return s;
}

constexpr int kLshSettings = 16;

}  // namespace knn_bench
