// Tests for mann/knn/lsh.hpp: codes and buckets, incremental insert/replace/remove against a fresh
// build, the probe modes, recall@k against the exact index, and the errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <set>

#include "knn/knn_test_support.hpp"
#include "mann/knn/exact.hpp"
#include "mann/knn/lsh.hpp"

namespace {

using mann::Index;

mann::LshParams small_params(Index tables, Index bits, bool buckets = true) {
  mann::LshParams p;
  p.tables = tables;
  p.bits_per_table = bits;
  p.bucket_tables = buckets;
  p.seed = 7;
  return p;
}

// Every active slot sits in exactly the bucket its stored code names, in every table.
void expect_buckets_consistent(const mann::LshIndex<float>& index) {
  std::vector<std::uint64_t> code(static_cast<std::size_t>(index.code_words()));
  std::vector<std::uint64_t> fresh(code.size());
  for (Index t = 0; t < index.tables(); ++t) {
    std::map<std::uint64_t, Index> expected;
    for (Index s = 0; s < index.slots(); ++s) {
      if (!index.active(s)) continue;
      index.slot_code(s, code.data());
      index.encode(index.key(s), fresh.data());
      ASSERT_EQ(code, fresh) << "slot " << s;
      if (t == 0) {
        ASSERT_EQ(index.slot_sketch(s), index.sketch(index.key(s))) << "slot " << s;
      }
      ++expected[index.table_code(code.data(), t)];
    }
    Index total = 0;
    for (const auto& [bucket, count] : expected) {
      EXPECT_EQ(index.bucket_size(t, bucket), count) << "table " << t << " bucket " << bucket;
      total += count;
    }
    EXPECT_EQ(total, index.size());
  }
}

TEST(LshIndex, CodesAreSignBitsOfTheHyperplanes) {
  mann::Rng rng(1);
  for (Index bits : {1, 3, 15, 16, 17, 20, 33, 64}) {
    mann::LshSearchParams scan;
    scan.probe = mann::LshProbe::hamming_scan;
    mann::LshIndex<float> index(9, small_params(5, bits, bits <= 17), scan);
    const mann::MatrixF keys = knn_test::unit_columns<float>(9, 33, rng);
    index.add(keys);
    std::vector<std::uint64_t> code(static_cast<std::size_t>(index.code_words()));
    for (Index s = 0; s < 33; ++s) {
      index.slot_code(s, code.data());
      const Eigen::VectorXf projection = index.hyperplanes() * keys.col(s);
      for (Index t = 0; t < index.tables(); ++t) {
        const std::uint64_t bucket = index.table_code(code.data(), t);
        for (Index i = 0; i < bits; ++i) {
          EXPECT_EQ((bucket >> i) & 1u, projection(t * bits + i) > 0 ? 1u : 0u);
        }
      }
    }
    EXPECT_NEAR(index.hyperplanes().row(0).norm(), 1.0f, 1e-5f);
    if (bits <= 17) expect_buckets_consistent(index);
  }
}

TEST(LshIndex, IncrementalUpdatesEqualAFreshBuild) {
  mann::Rng rng(2);
  const Index d = 16, n = 300;
  mann::MatrixF keys = knn_test::clustered_columns<float>(d, n, 10, 0.6, rng);
  const auto params = small_params(6, 7);
  mann::LshIndex<float> index(d, params);
  index.add(keys);
  std::vector<bool> active(n, true);
  for (int step = 0; step < 500; ++step) {
    const auto s = static_cast<Index>(rng.below(n));
    if (rng.uniform() < 0.3) {
      index.remove(s);
      active[static_cast<std::size_t>(s)] = false;
    } else {
      const mann::MatrixF key = knn_test::clustered_columns<float>(d, 1, 10, 0.6, rng);
      index.set(s, key);
      keys.col(s) = key.col(0);
      active[static_cast<std::size_t>(s)] = true;
    }
  }
  expect_buckets_consistent(index);
  mann::LshIndex<float> fresh(d, params);
  fresh.add_empty(n);
  for (Index s = 0; s < n; ++s)
    if (active[static_cast<std::size_t>(s)]) fresh.set(s, keys.col(s));
  ASSERT_EQ(fresh.size(), index.size());
  const mann::MatrixF queries = knn_test::clustered_columns<float>(d, 17, 10, 0.6, rng);
  for (auto probe : {mann::LshProbe::multi_probe, mann::LshProbe::hamming_ball, mann::LshProbe::hamming_scan}) {
    mann::LshSearchParams sp;
    sp.probe = probe;
    sp.scan_candidates = 40;
    sp.max_candidates = probe == mann::LshProbe::hamming_scan ? 0 : 50;
    index.set_search_params(sp);
    fresh.set_search_params(sp);
    mann::KnnResult<float> a, b;
    index.search(queries, 10, a);
    fresh.search(queries, 10, b);
    EXPECT_EQ(a.indices, b.indices) << static_cast<int>(probe);
    EXPECT_EQ(a.scores, b.scores);
    for (Index j = 0; j < a.indices.cols(); ++j)
      for (Index r = 0; r < a.indices.rows(); ++r)
        if (a.indices(r, j) >= 0) {
          EXPECT_TRUE(active[static_cast<std::size_t>(a.indices(r, j))]);
        }
  }
}

TEST(LshIndex, ExhaustiveProbesAreExact) {
  // a Hamming ball covering every bucket, or a scan keeping every code, is an exact search
  mann::Rng rng(3);
  const Index d = 12;
  for (Index n : {1, 3, 15, 16, 17, 33, 100}) {
    const mann::MatrixF keys = knn_test::integer_matrix<float>(d, n, 2, rng);
    const mann::MatrixF queries = knn_test::integer_matrix<float>(d, 5, 2, rng);
    mann::ExactIndex<float> exact(d);
    exact.add(keys);
    mann::LshIndex<float> lsh(d, small_params(3, 5));
    lsh.add(keys);
    for (Index k : {Index{1}, Index{3}, n}) {
      if (k > n) continue;
      mann::KnnResult<float> truth, got;
      exact.search(queries, k, truth);
      for (int mode = 0; mode < 4; ++mode) {
        mann::LshSearchParams sp;
        if (mode == 0) {
          sp.probe = mann::LshProbe::hamming_ball;
          sp.hamming_radius = 5;
        }
        if (mode == 1 || mode == 3) {
          sp.probe = mann::LshProbe::multi_probe;
          sp.probes_per_table = 32;
          sp.probe_order = mode == 1 ? mann::LshProbeOrder::expected : mann::LshProbeOrder::query;
        }
        if (mode == 2) {
          sp.probe = mann::LshProbe::hamming_scan;
          sp.scan_candidates = n;
        }
        lsh.set_search_params(sp);
        lsh.search(queries, k, got);
        EXPECT_EQ(got.indices, truth.indices) << "mode " << mode << " n=" << n << " k=" << k;
        EXPECT_EQ(got.scores, truth.scores);
      }
    }
  }
}

TEST(LshIndex, MultiProbeVisitsTheLeastCertainBitsFirst) {
  // with one table, probes_per_table = 1 + l visits the home bucket and its l neighbours at
  // distance 1, exactly as a Hamming ball of radius 1
  mann::Rng rng(4);
  const Index d = 10, n = 2000;
  const mann::MatrixF keys = knn_test::unit_columns<float>(d, n, rng);
  mann::LshIndex<float> lsh(d, small_params(1, 6));
  lsh.add(keys);
  const mann::MatrixF queries = knn_test::unit_columns<float>(d, 8, rng);
  mann::LshSearchParams ball, probe;
  ball.probe = mann::LshProbe::hamming_ball;
  ball.hamming_radius = 1;
  probe.probe = mann::LshProbe::multi_probe;
  probe.probes_per_table = 2;
  mann::KnnResult<float> r_ball, r_probe2;
  lsh.set_search_params(ball);
  lsh.search(queries, n, r_ball);
  // the second bucket probed flips the bit with the smallest |h·q|, in either order
  std::vector<std::uint64_t> code(1);
  for (auto order : {mann::LshProbeOrder::expected, mann::LshProbeOrder::query}) {
    probe.probe_order = order;
    lsh.set_search_params(probe);
    lsh.search(queries, n, r_probe2);
    for (Index j = 0; j < queries.cols(); ++j) {
      lsh.encode(queries.col(j), code.data());
      const Eigen::VectorXf projection = lsh.hyperplanes() * queries.col(j);
      Index weakest = 0;
      for (Index i = 1; i < 6; ++i)
        if (std::abs(projection(i)) < std::abs(projection(weakest))) weakest = i;
      std::set<Index> expected;
      for (Index s = 0; s < n; ++s) {
        std::vector<std::uint64_t> key_code(1);
        lsh.slot_code(s, key_code.data());
        const std::uint64_t diff = key_code[0] ^ code[0];
        if (diff == 0 || diff == (std::uint64_t{1} << weakest)) expected.insert(s);
      }
      std::set<Index> got;
      for (Index r = 0; r < n; ++r)
        if (r_probe2.indices(r, j) >= 0) got.insert(r_probe2.indices(r, j));
      EXPECT_EQ(got, expected) << "query " << j;
    }
  }
  // expected order, 4 probes: flip sets {}, {0}, {1}, {0, 1} of the two least certain bits
  probe.probe_order = mann::LshProbeOrder::expected;
  probe.probes_per_table = 4;
  lsh.set_search_params(probe);
  lsh.search(queries, n, r_probe2);
  for (Index j = 0; j < queries.cols(); ++j) {
    lsh.encode(queries.col(j), code.data());
    const Eigen::VectorXf projection = lsh.hyperplanes() * queries.col(j);
    std::vector<Index> order(6);
    for (Index i = 0; i < 6; ++i) order[static_cast<std::size_t>(i)] = i;
    std::sort(order.begin(), order.end(), [&](Index a, Index b) { return std::abs(projection(a)) < std::abs(projection(b)); });
    const std::uint64_t b0 = std::uint64_t{1} << order[0], b1 = std::uint64_t{1} << order[1];
    std::set<Index> expected;
    for (Index s = 0; s < n; ++s) {
      std::vector<std::uint64_t> key_code(1);
      lsh.slot_code(s, key_code.data());
      const std::uint64_t diff = key_code[0] ^ code[0];
      if (diff == 0 || diff == b0 || diff == b1 || diff == (b0 | b1)) expected.insert(s);
    }
    std::set<Index> got;
    for (Index r = 0; r < n; ++r)
      if (r_probe2.indices(r, j) >= 0) got.insert(r_probe2.indices(r, j));
    EXPECT_EQ(got, expected) << "expected order, query " << j;
  }
  // every valid ball entry is sorted and padded with -1 / -inf
  for (Index j = 0; j < queries.cols(); ++j) {
    bool padding = false;
    for (Index r = 0; r < n; ++r) {
      if (r_ball.indices(r, j) < 0) {
        padding = true;
        EXPECT_EQ(r_ball.scores(r, j), -std::numeric_limits<float>::infinity());
      } else {
        EXPECT_FALSE(padding);
        if (r > 0) {
          EXPECT_GE(r_ball.scores(r - 1, j), r_ball.scores(r, j));
        }
      }
    }
    EXPECT_TRUE(padding);
  }
}

TEST(LshIndex, ExpectedProbeSequenceIsTheBruteForceOrder) {
  // Every subset of the l positions scored by Σ z_i², z_i the half-normal quantile at (i + 1)/(l + 1)
  // (here by Newton's method on erf, not the library's bisection), sorted: the first P are the
  // sequence. l = 10 gives 1024 subsets and no ties among the first 200.
  const Index l = 10, P = 200;
  std::vector<double> z2(l);
  for (Index i = 0; i < l; ++i) {
    const double p = (i + 1.0) / (l + 1.0);
    double z = 1;
    for (int it = 0; it < 50; ++it) z -= (std::erf(z / std::sqrt(2.0)) - p) / (std::sqrt(2.0 / M_PI) * std::exp(-z * z / 2));
    z2[static_cast<std::size_t>(i)] = z * z;
  }
  std::vector<std::pair<double, std::uint64_t>> subsets;
  for (std::uint64_t mask = 0; mask < (std::uint64_t{1} << l); ++mask) {
    double score = 0;
    for (Index i = 0; i < l; ++i)
      if (mask >> i & 1) score += z2[static_cast<std::size_t>(i)];
    subsets.push_back({score, mask});
  }
  std::sort(subsets.begin(), subsets.end());
  mann::LshSearchParams sp;
  sp.probes_per_table = P;
  mann::LshIndex<float> lsh(4, small_params(2, l), sp);
  const auto& sequence = lsh.probe_sequence();
  ASSERT_EQ(static_cast<Index>(sequence.size()), P);
  for (Index n = 0; n < P; ++n) {
    EXPECT_EQ(sequence[static_cast<std::size_t>(n)], subsets[static_cast<std::size_t>(n)].second) << "probe " << n;
  }
  // hand-computed start: {}, {0}, {1}, {0,1}, {2}, {0,2}, {1,2}, {0,1,2}, {3}
  const std::vector<std::uint64_t> start{0, 1, 2, 3, 4, 5, 6, 7, 8};
  EXPECT_TRUE(std::equal(start.begin(), start.end(), sequence.begin()));
  // the query order keeps no sequence
  sp.probe_order = mann::LshProbeOrder::query;
  lsh.set_search_params(sp);
  EXPECT_TRUE(lsh.probe_sequence().empty());
}

TEST(LshIndex, ScanSearchEqualsPortableReference) {
  // candidates by Hamming distance computed bit by bit, re-ranked exactly: the SIMD scan must agree
  mann::Rng rng(5);
  const Index d = 20, n = 1000, keep = 37, k = 9;
  const mann::MatrixF keys = knn_test::unit_columns<float>(d, n, rng);
  mann::LshSearchParams sp;
  sp.probe = mann::LshProbe::hamming_scan;
  sp.scan_candidates = keep;
  mann::LshIndex<float> lsh(d, small_params(3, 33, false), sp);
  lsh.add(keys);
  const mann::MatrixF queries = knn_test::unit_columns<float>(d, 40, rng);  // more than one group of 32
  mann::KnnResult<float> got;
  lsh.search(queries, k, got);
  const auto words = static_cast<std::size_t>(lsh.code_words());
  std::vector<std::uint64_t> qc(words), kc(words);
  for (Index j = 0; j < queries.cols(); ++j) {
    lsh.encode(queries.col(j), qc.data());
    std::vector<std::pair<int, Index>> by_distance;
    for (Index s = 0; s < n; ++s) {
      lsh.slot_code(s, kc.data());
      int distance = 0;
      for (std::size_t w = 0; w < words; ++w) distance += mann::knn::popcount64(kc[w] ^ qc[w]);
      by_distance.emplace_back(distance, s);
    }
    std::sort(by_distance.begin(), by_distance.end());
    std::vector<std::pair<float, Index>> reranked;
    for (Index c = 0; c < keep; ++c) {
      const Index s = by_distance[static_cast<std::size_t>(c)].second;
      reranked.emplace_back(keys.col(s).dot(queries.col(j)), s);
    }
    std::sort(reranked.begin(), reranked.end(), [](const auto& a, const auto& b) {
      return a.first > b.first || (a.first == b.first && a.second < b.second);
    });
    for (Index r = 0; r < k; ++r) EXPECT_EQ(got.indices(r, j), reranked[static_cast<std::size_t>(r)].second);
  }
}

struct RecallCase {
  const char* name;
  mann::LshParams params;
  mann::LshSearchParams search;
  double bound;
};

TEST(LshIndex, RecallAboveBoundAgainstExactOnRandomUnitVectors) {
  // Uniform unit vectors are the worst case for LSH. Each setting re-ranks at most 15% of the keys;
  // the bounds sit a little below the values measured with these seeds.
  mann::Rng rng(6);
  const Index d = 32, n = 20000, k = 10, b = 64;
  const mann::MatrixF keys = knn_test::unit_columns<float>(d, n, rng);
  const mann::MatrixF queries = knn_test::unit_columns<float>(d, b, rng);
  mann::ExactIndex<float> exact(d);
  exact.add(keys);
  mann::KnnResult<float> truth;
  exact.search(queries, k, truth);
  std::vector<RecallCase> cases;
  {
    RecallCase c{"multi_probe", small_params(16, 12), {}, 0.83};
    c.search.probes_per_table = 16;
    cases.push_back(c);
    c.name = "multi_probe, query order";
    c.search.probe_order = mann::LshProbeOrder::query;
    cases.push_back(c);
  }
  {
    RecallCase c{"hamming_ball", small_params(16, 12), {}, 0.7};
    c.search.probe = mann::LshProbe::hamming_ball;
    c.search.hamming_radius = 1;
    cases.push_back(c);
  }
  {
    RecallCase c{"hamming_scan", small_params(4, 64, false), {}, 0.95};
    c.search.probe = mann::LshProbe::hamming_scan;
    c.search.scan_candidates = 2000;
    cases.push_back(c);
  }
  for (const auto& c : cases) {
    mann::LshIndex<float> lsh(d, c.params, c.search);
    lsh.add(keys);
    mann::KnnResult<float> got;
    mann::KnnWorkspace<float> workspace;
    lsh.search(queries, k, got, workspace);
    const double recall = knn_test::recall_at_k(truth.indices, got.indices);
    const double fraction = static_cast<double>(workspace.reranked) / static_cast<double>(b * n);
    std::printf("uniform recall@%ld %s: %.3f, re-ranking %.3f of the keys\n", static_cast<long>(k), c.name, recall,
                fraction);
    EXPECT_GE(recall, c.bound) << c.name;
    EXPECT_LE(fraction, 0.15) << c.name;
  }
}

TEST(LshIndex, RecallOnClusteredKeysWithCandidateCap) {
  mann::Rng rng(7);
  const Index d = 32, n = 20000, k = 50;
  const mann::MatrixF keys = knn_test::clustered_columns<float>(d, n, 100, 0.5, rng);
  mann::MatrixF queries(d, 64);
  for (Index j = 0; j < 64; ++j) {  // near stored keys
    queries.col(j) = keys.col(static_cast<Index>(rng.below(n)));
    for (Index i = 0; i < d; ++i) queries(i, j) += static_cast<float>(0.1 / std::sqrt(double(d)) * rng.normal());
    queries.col(j).normalize();
  }
  mann::ExactIndex<float> exact(d);
  exact.add(keys);
  mann::KnnResult<float> truth, got;
  exact.search(queries, k, truth);
  mann::LshSearchParams sp;
  sp.probes_per_table = 4;
  sp.max_candidates = 1000;
  mann::LshIndex<float> lsh(d, small_params(8, 12), sp);
  lsh.add(keys);
  mann::KnnWorkspace<float> workspace;
  lsh.search(queries, k, got, workspace);
  const double recall = knn_test::recall_at_k(truth.indices, got.indices);
  const double fraction = static_cast<double>(workspace.reranked) / static_cast<double>(64 * n);
  std::printf("clustered recall@%ld: %.3f, re-ranking %.3f of the keys\n", static_cast<long>(k), recall, fraction);
  EXPECT_GE(recall, 0.9);
  EXPECT_LE(fraction, 0.05);
}

// The whole candidate pipeline by brute force: the slots sharing a bucket with the query in some
// table (hamming_ball of radius 0); if more than max_candidates, the max(max_candidates,
// sketch_candidates) closest by sketch distance, then the max_candidates closest by the distance
// over all bits, code and sketch (ties by smaller slot id each time); then the exact top-k of those.
TEST(LshIndex, CandidateCapKeepsTheClosestBySketchThenByAllBits) {
  mann::Rng rng(12);
  const Index d = 12, n = 240, k = n;  // k = n: the whole candidate set, padded with slot -1
  const mann::MatrixF keys = knn_test::integer_matrix<float>(d, n, 2, rng);  // integer scores: ties
  const mann::MatrixF queries = knn_test::integer_matrix<float>(d, 6, 2, rng);
  for (Index sketch_bits : {0, 13, 64}) {
    mann::LshParams params = small_params(3, 3);
    params.sketch_bits = sketch_bits;
    mann::LshIndex<float> lsh(d, params);
    lsh.add(keys);
    ASSERT_EQ(lsh.sketch_bits(), sketch_bits);
    std::vector<std::uint64_t> code(static_cast<std::size_t>(lsh.code_words())), qcode(code.size());
    mann::KnnWorkspace<float> workspace;
    for (Index cap : {0, 5, 20}) {
      for (Index sketch_candidates : {0, 5, 30, 1000}) {
        mann::LshSearchParams sp;
        sp.probe = mann::LshProbe::hamming_ball;
        sp.hamming_radius = 0;
        sp.max_candidates = cap;
        sp.sketch_candidates = sketch_candidates;
        lsh.set_search_params(sp);
        mann::KnnResult<float> got;
        lsh.search(queries, k, got, workspace);  // one workspace throughout, as a long-lived cache
        for (Index j = 0; j < queries.cols(); ++j) {
          lsh.encode(queries.col(j), qcode.data());
          const std::uint64_t qsketch = lsh.sketch(queries.col(j));
          std::vector<Index> candidates;
          for (Index s = 0; s < n; ++s) {
            lsh.slot_code(s, code.data());
            for (Index t = 0; t < lsh.tables(); ++t) {
              if (lsh.table_code(code.data(), t) == lsh.table_code(qcode.data(), t)) {
                candidates.push_back(s);
                break;
              }
            }
          }
          auto keep_closest = [&](std::size_t keep, auto distance) {
            if (candidates.size() <= keep) return;
            std::sort(candidates.begin(), candidates.end(), [&](Index a, Index b) {
              const int da = distance(a), db = distance(b);
              return da < db || (da == db && a < b);
            });
            candidates.resize(keep);
          };
          const auto capped = static_cast<std::size_t>(cap);
          if (cap > 0 && candidates.size() > capped) {
            if (sketch_bits > 0) {
              keep_closest(std::max(capped, static_cast<std::size_t>(sketch_candidates)), [&](Index s) {
                return mann::knn::popcount64(lsh.sketch(keys.col(s)) ^ qsketch);
              });
            }
            keep_closest(capped, [&](Index s) {  // over all bits: the code's and the sketch's
              lsh.slot_code(s, code.data());
              int distance = mann::knn::popcount64(lsh.sketch(keys.col(s)) ^ qsketch);
              for (std::size_t w = 0; w < code.size(); ++w) distance += mann::knn::popcount64(code[w] ^ qcode[w]);
              return distance;
            });
          }
          std::sort(candidates.begin(), candidates.end(), [&](Index a, Index b) {
            const float sa = keys.col(a).dot(queries.col(j)), sb = keys.col(b).dot(queries.col(j));
            return sa > sb || (sa == sb && a < b);
          });
          for (Index r = 0; r < k; ++r) {
            const Index expected = r < static_cast<Index>(candidates.size()) ? candidates[static_cast<std::size_t>(r)] : -1;
            ASSERT_EQ(got.indices(r, j), expected) << "sketch " << sketch_bits << " cap " << cap << " sketch_candidates "
                                                   << sketch_candidates << " query " << j << " rank " << r;
          }
        }
      }
    }
  }
}

// One workspace through scans that keep many candidates and bucket searches that gather many:
// its buffers must fit each (a scan once shrank the distances below a later gather's count).
TEST(LshIndex, OneWorkspaceServesEveryProbeMode) {
  mann::Rng rng(15);
  const Index d = 8, n = 6000;
  const mann::MatrixF keys = knn_test::unit_columns<float>(d, n, rng);
  const mann::MatrixF queries = knn_test::unit_columns<float>(d, 3, rng);
  mann::LshIndex<float> lsh(d, small_params(4, 2));  // 4 buckets per table: every search gathers all
  lsh.add(keys);
  mann::KnnResult<float> fresh, got;
  mann::KnnWorkspace<float> workspace;
  for (int round = 0; round < 2; ++round) {
    for (auto probe : {mann::LshProbe::hamming_scan, mann::LshProbe::hamming_ball, mann::LshProbe::multi_probe}) {
      mann::LshSearchParams sp;
      sp.probe = probe;
      sp.scan_candidates = n;
      sp.hamming_radius = 2;
      sp.probes_per_table = 4;
      sp.max_candidates = round == 0 ? 0 : 5000;
      sp.sketch_candidates = 5500;
      lsh.set_search_params(sp);
      lsh.search(queries, 7, got, workspace);
      lsh.search(queries, 7, fresh);  // a new workspace
      EXPECT_EQ(got.indices, fresh.indices) << mann::to_string(probe) << " round " << round;
      EXPECT_EQ(got.scores, fresh.scores);
      EXPECT_EQ(got.indices(0, 0) >= 0, true);
    }
  }
}

TEST(LshIndex, SketchBitsAreTheSketchHyperplanesSigns) {
  mann::Rng rng(13);
  for (Index bits : {0, 1, 13, 64}) {
    mann::LshParams params = small_params(2, 4);
    params.sketch_bits = bits;
    mann::LshIndex<float> lsh(7, params);
    ASSERT_EQ(lsh.hyperplanes().rows(), 8 + bits);
    const mann::MatrixF keys = knn_test::unit_columns<float>(7, 20, rng);
    lsh.add(keys);
    for (Index s = 0; s < 20; ++s) {
      std::uint64_t expected = 0;
      for (Index i = 0; i < bits; ++i) {
        if (lsh.hyperplanes().row(8 + i).dot(keys.col(s)) > 0) expected |= std::uint64_t{1} << i;
      }
      EXPECT_EQ(lsh.sketch(keys.col(s)), expected);
      EXPECT_EQ(lsh.slot_sketch(s), expected);
    }
  }
  // the code's hyperplanes do not depend on the sketch: same seed, same codes
  mann::LshParams with = small_params(3, 5), without = with;
  without.sketch_bits = 0;
  EXPECT_EQ(mann::LshIndex<float>(6, with).hyperplanes().topRows(15),
            mann::LshIndex<float>(6, without).hyperplanes());
}

TEST(LshIndex, ErrorsAtTheApiBoundary) {
  mann::Rng rng(8);
  EXPECT_THROW(mann::LshIndex<float>(0), mann::ValueError);
  EXPECT_THROW(mann::LshIndex<float>(4, small_params(0, 8)), mann::ValueError);
  EXPECT_THROW(mann::LshIndex<float>(4, small_params(65, 8)), mann::ValueError);
  EXPECT_THROW(mann::LshIndex<float>(4, small_params(2, 21)), mann::ValueError);
  mann::LshSearchParams scan;
  scan.probe = mann::LshProbe::hamming_scan;
  EXPECT_NO_THROW(mann::LshIndex<float>(4, small_params(2, 64, false), scan));
  EXPECT_THROW(mann::LshIndex<float>(4, small_params(2, 64, false)), mann::ValueError);
  mann::LshSearchParams ball;
  ball.probe = mann::LshProbe::hamming_ball;
  EXPECT_THROW(mann::LshIndex<float>(4, small_params(2, 30, false), ball), mann::ValueError);
  mann::LshIndex<float> lsh(8, small_params(4, 6));
  lsh.add(knn_test::unit_columns<float>(8, 10, rng));
  mann::KnnResult<float> result;
  const mann::MatrixF q = knn_test::unit_columns<float>(8, 3, rng);
  EXPECT_THROW(lsh.search(q, 0, result), mann::ValueError);
  EXPECT_THROW(lsh.search(q, 11, result), mann::ValueError);
  try {
    lsh.search(knn_test::unit_columns<float>(5, 1, rng), 1, result);
    FAIL();
  } catch (const mann::ShapeError& e) {
    EXPECT_STREQ(e.what(), "mann::LshIndex::search: queries has 5 rows, keys have 8");
  }
  mann::MatrixF bad = q;
  bad(0, 2) = -std::numeric_limits<float>::infinity();
  EXPECT_THROW(lsh.search(bad, 1, result), mann::ValueError);
  EXPECT_THROW(lsh.set(3, bad.col(2)), mann::ValueError);
  EXPECT_THROW(lsh.add(bad), mann::ValueError);
  mann::LshSearchParams zero;
  zero.probes_per_table = 0;
  EXPECT_THROW(lsh.set_search_params(zero), mann::ValueError);
  mann::LshSearchParams negative;
  negative.sketch_candidates = -1;
  EXPECT_THROW(lsh.set_search_params(negative), mann::ValueError);
  mann::LshParams sketchy = small_params(2, 8);
  sketchy.sketch_bits = 65;
  EXPECT_THROW(mann::LshIndex<float>(4, sketchy), mann::ValueError);
  sketchy.sketch_bits = -1;
  EXPECT_THROW(mann::LshIndex<float>(4, sketchy), mann::ValueError);
  expect_buckets_consistent(lsh);  // nothing half-done
}

TEST(LshIndex, DoublePrecisionScan) {
  mann::Rng rng(9);
  const mann::MatrixD keys = knn_test::unit_columns<double>(6, 50, rng);
  mann::LshParams p = small_params(2, 8);
  mann::LshSearchParams sp;
  sp.probe = mann::LshProbe::hamming_scan;
  sp.scan_candidates = 50;
  mann::LshIndex<double> lsh(6, p, sp);
  lsh.add(keys);
  mann::ExactIndex<double> exact(6);
  exact.add(keys);
  mann::KnnResult<double> a, b;
  const mann::MatrixD q = knn_test::unit_columns<double>(6, 4, rng);
  lsh.search(q, 7, a);
  exact.search(q, 7, b);
  EXPECT_EQ(a.indices, b.indices);
}

}  // namespace

namespace {

TEST(LshIndex, EverySimdLevelCompiledInGivesIdenticalResults) {
  mann::Rng rng(10);
  for (mann::Index n : {1, 3, 15, 16, 17, 33, 100, 5000}) {
    for (mann::Index bits : {5, 64}) {  // 2 words and 4 words of code
      const mann::MatrixF keys = knn_test::unit_columns<float>(12, n, rng);
      const mann::MatrixF queries = knn_test::unit_columns<float>(12, 35, rng);
      mann::LshSearchParams sp;
      sp.probe = mann::LshProbe::hamming_scan;
      sp.scan_candidates = 20;
      sp.simd = mann::knn::SimdLevel::scalar;
      mann::LshIndex<float> lsh(12, small_params(bits == 5 ? 25 : 4, bits, false), sp);
      lsh.add(keys);
      if (n > 2) lsh.remove(2);
      const mann::Index k = std::min<mann::Index>(lsh.size(), 5);
      mann::KnnResult<float> reference, got;
      lsh.search(queries, k, reference);
      for (auto level : {mann::knn::SimdLevel::avx2, mann::knn::SimdLevel::avx512}) {
        if (!mann::knn::hamming_level_compiled(level)) continue;
        sp.simd = level;
        lsh.set_search_params(sp);
        lsh.search(queries, k, got);
        EXPECT_EQ(got.indices, reference.indices) << mann::knn::to_string(level) << " n=" << n;
        EXPECT_EQ(got.scores, reference.scores);
      }
    }
  }
}

}  // namespace
