// Tests for mann/knn/topk.hpp: streaming top-k selection against a full sort, ties, the SIMD and
// portable threshold scans.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <vector>

#include "mann/core/random.hpp"
#include "mann/knn/topk.hpp"

namespace {

template <class T>
std::vector<mann::ScoredIndex<T>> sorted_truth(const std::vector<T>& scores, mann::Index first_index) {
  std::vector<mann::ScoredIndex<T>> all;
  for (std::size_t i = 0; i < scores.size(); ++i) all.push_back({scores[i], first_index + static_cast<mann::Index>(i)});
  std::sort(all.begin(), all.end(), mann::ranks_before<T>);
  return all;
}

template <class T>
std::vector<T> tied_scores(std::size_t n, int levels, mann::Rng& rng) {
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(static_cast<int>(rng.below(static_cast<std::uint64_t>(levels))) - levels / 2);
  return v;
}

TEST(TopKSelector, EqualsFullSortWithTiesForAwkwardSizes) {
  mann::Rng rng(3);
  for (std::size_t n : {1, 3, 15, 16, 17, 33, 100, 1000, 5000}) {
    for (mann::Index k : {1, 3, 15, 16, 17, 33, 100, 1024}) {
      if (k > static_cast<mann::Index>(n)) continue;
      const auto scores = tied_scores<float>(n, 7, rng);
      mann::TopKSelector<float> selector;
      selector.reset(k);
      // arrival in a random order: ties must still be resolved by index
      std::vector<std::size_t> order(n);
      std::iota(order.begin(), order.end(), std::size_t{0});
      rng.shuffle(order);
      for (auto i : order) selector.push(scores[i], static_cast<mann::Index>(i) + 10);
      std::vector<mann::Index> indices(static_cast<std::size_t>(k));
      std::vector<float> got(static_cast<std::size_t>(k));
      ASSERT_EQ(selector.finish(indices.data(), got.data()), k);
      const auto truth = sorted_truth(scores, 10);
      for (mann::Index r = 0; r < k; ++r) {
        EXPECT_EQ(indices[static_cast<std::size_t>(r)], truth[static_cast<std::size_t>(r)].index)
            << "n=" << n << " k=" << k;
        EXPECT_EQ(got[static_cast<std::size_t>(r)], truth[static_cast<std::size_t>(r)].score);
      }
    }
  }
}

TEST(TopKSelector, FewerThanKReturnsAllSorted) {
  mann::TopKSelector<double> selector;
  selector.reset(10);
  selector.push(1.0, 5);
  selector.push(2.0, 7);
  selector.push(1.0, 2);
  mann::Index idx[10];
  double sc[10];
  ASSERT_EQ(selector.finish(idx, sc), 3);
  EXPECT_EQ(idx[0], 7);
  EXPECT_EQ(idx[1], 2);
  EXPECT_EQ(idx[2], 5);
}

template <class T>
void check_scans_agree(const char* label) {
  mann::Rng rng(11);
  for (std::size_t n : {1, 3, 15, 16, 17, 33, 100, 4099}) {
    for (mann::Index k : {1, 3, 16, 17, 64}) {
      auto scores = tied_scores<T>(n, 9, rng);
      std::vector<std::uint8_t> active(n);
      for (auto& a : active) a = rng.uniform() < 0.8 ? 1 : 0;
      for (const std::uint8_t* act :
           {static_cast<const std::uint8_t*>(nullptr), static_cast<const std::uint8_t*>(active.data())}) {
        mann::TopKSelector<T> simd, scalar;
        simd.reset(k);
        scalar.reset(k);
        // two chunks, as the exact search feeds blocks
        const auto half = static_cast<mann::Index>(n / 2);
        simd.push_scores(scores.data(), half, 0, act);
        simd.push_scores(scores.data() + half, static_cast<mann::Index>(n) - half, half, act ? act + half : nullptr);
        scalar.push_scores(scores.data(), static_cast<mann::Index>(n), 0, act, mann::knn::SimdLevel::scalar);
        std::vector<mann::Index> a(static_cast<std::size_t>(k)), b(static_cast<std::size_t>(k));
        std::vector<T> sa(static_cast<std::size_t>(k)), sb(static_cast<std::size_t>(k));
        const auto ca = simd.finish(a.data(), sa.data());
        const auto cb = scalar.finish(b.data(), sb.data());
        ASSERT_EQ(ca, cb) << label;
        for (mann::Index r = 0; r < ca; ++r) {
          EXPECT_EQ(a[static_cast<std::size_t>(r)], b[static_cast<std::size_t>(r)])
              << label << " n=" << n << " k=" << k;
          EXPECT_EQ(sa[static_cast<std::size_t>(r)], sb[static_cast<std::size_t>(r)]);
        }
      }
    }
  }
}

TEST(TopKSelector, SimdScanEqualsPortableScanFloat) { check_scans_agree<float>("float"); }
TEST(TopKSelector, SimdScanEqualsPortableScanInt32) { check_scans_agree<std::int32_t>("int32"); }
TEST(TopKSelector, SimdScanEqualsPortableScanDouble) { check_scans_agree<double>("double"); }

TEST(ThresholdScan, EveryCompiledLevelVisitsTheSameIndices) {
  mann::Rng rng(5);
  for (std::size_t n : {1, 3, 15, 16, 17, 33, 100}) {
    std::vector<float> v(n);
    for (auto& x : v) x = static_cast<float>(rng.uniform(-1, 1));
    auto collect = [&](auto scan) {
      std::vector<std::ptrdiff_t> seen;
      float bar = -0.5f;
      scan(
          v.data(), static_cast<std::ptrdiff_t>(n), [&] { return bar; },
          [&](std::ptrdiff_t i) {
            if (v[static_cast<std::size_t>(i)] >= bar) {
              seen.push_back(i);
              bar += 0.05f;  // a rising threshold, as a selector's
            }
          });
      return seen;
    };
    const auto reference = collect([](auto... a) { mann::knn::scan_at_least_scalar(a...); });
#if defined(MANN_KNN_HAVE_AVX2)
    EXPECT_EQ(collect([](auto... a) { mann::knn::scan_at_least_avx2(a...); }), reference) << n;
#endif
#if defined(MANN_KNN_HAVE_AVX512)
    EXPECT_EQ(collect([](auto... a) { mann::knn::scan_at_least_avx512(a...); }), reference) << n;
#endif
    EXPECT_EQ(collect([](auto... a) { mann::knn::scan_at_least(a...); }), reference) << n;
  }
}

}  // namespace
