// The knn headers built with MANN_DONT_VECTORIZE: only the portable kernels exist, the dispatch
// uses them, and the searches still agree with the brute-force oracle and the bit-by-bit Hamming
// reference (the SIMD builds are compared with the same oracles in test_exact/test_lsh).
#define MANN_DONT_VECTORIZE 1

#include <gtest/gtest.h>

#include "knn/knn_test_support.hpp"
#include "mann/knn/exact.hpp"
#include "mann/knn/lsh.hpp"

namespace {

using mann::Index;

TEST(KnnPortable, OnlyScalarKernelsAreCompiled) {
  EXPECT_EQ(mann::knn::hamming_simd_level(), mann::knn::SimdLevel::scalar);
  EXPECT_EQ(mann::knn::scan_simd_level(), mann::knn::SimdLevel::scalar);
  EXPECT_FALSE(mann::knn::hamming_level_compiled(mann::knn::SimdLevel::avx2));
  EXPECT_FALSE(mann::knn::scan_level_compiled(mann::knn::SimdLevel::avx512));
#if defined(MANN_KNN_HAVE_AVX2) || defined(MANN_KNN_HAVE_AVX512) || defined(MANN_KNN_HAVE_AVX512_POPCNT)
  ADD_FAILURE() << "a SIMD kernel is compiled in";
#endif
  mann::ExactParams params;
  params.simd = mann::knn::SimdLevel::avx512;
  EXPECT_THROW(mann::ExactIndex<float>(4, params), mann::ValueError);
}

TEST(KnnPortable, ExactEqualsBruteForceWithTies) {
  mann::Rng rng(1);
  for (Index n : {1, 3, 15, 16, 17, 33, 100, 1000}) {
    const mann::MatrixF keys = knn_test::integer_matrix<float>(9, n, 2, rng);
    const mann::MatrixF queries = knn_test::integer_matrix<float>(9, 17, 2, rng);
    mann::ExactIndex<float> index(9);
    index.add(keys);
    for (Index k : {Index{1}, Index{16}, n}) {
      if (k > n) continue;
      mann::KnnResult<float> got;
      index.search(queries, k, got);
      mann::IndexMatrix truth;
      mann::MatrixD scores;
      knn_test::brute_force(keys, {}, queries, k, truth, scores);
      EXPECT_EQ(got.indices, truth) << n;
    }
  }
}

TEST(KnnPortable, LshScanEqualsBitByBitReference) {
  mann::Rng rng(2);
  const Index d = 10, n = 777, keep = 30, k = 6;
  const mann::MatrixF keys = knn_test::unit_columns<float>(d, n, rng);
  mann::LshParams p;
  p.tables = 3;
  p.bits_per_table = 40;
  p.bucket_tables = false;
  mann::LshSearchParams sp;
  sp.probe = mann::LshProbe::hamming_scan;
  sp.scan_candidates = keep;
  mann::LshIndex<float> lsh(d, p, sp);
  lsh.add(keys);
  const mann::MatrixF queries = knn_test::unit_columns<float>(d, 33, rng);
  mann::KnnResult<float> got;
  lsh.search(queries, k, got);
  std::vector<std::uint64_t> qc(static_cast<std::size_t>(lsh.code_words())), kc(qc.size());
  for (Index j = 0; j < queries.cols(); ++j) {
    lsh.encode(queries.col(j), qc.data());
    std::vector<std::pair<int, Index>> by_distance;
    for (Index s = 0; s < n; ++s) {
      lsh.slot_code(s, kc.data());
      int distance = 0;
      for (std::size_t w = 0; w < qc.size(); ++w)
        for (int b = 0; b < 64; ++b) distance += static_cast<int>(((kc[w] ^ qc[w]) >> b) & 1u);
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

}  // namespace
