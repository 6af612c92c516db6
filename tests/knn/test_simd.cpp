// Tests for mann/knn/simd.hpp: every compiled popcount/Hamming kernel against the portable one and
// a bit-by-bit reference, on awkward sizes.
#include <gtest/gtest.h>

#include <cstdio>
#include <vector>

#include "mann/core/random.hpp"
#include "mann/knn/simd.hpp"

namespace {

int naive_popcount(std::uint64_t x) {
  int n = 0;
  for (int b = 0; b < 64; ++b) n += static_cast<int>((x >> b) & 1u);
  return n;
}

TEST(Popcount, MatchesBitByBit) {
  mann::Rng rng(1);
  for (int i = 0; i < 1000; ++i) {
    const std::uint64_t x = rng.next_u64() & rng.next_u64();
    EXPECT_EQ(mann::knn::popcount64(x), naive_popcount(x));
  }
  EXPECT_EQ(mann::knn::popcount64(0), 0);
  EXPECT_EQ(mann::knn::popcount64(~std::uint64_t{0}), 64);
}

TEST(HammingDistances, EveryCompiledLevelEqualsPortableOnAwkwardSizes) {
  mann::Rng rng(2);
  for (std::size_t words : {1, 2, 3, 4, 5, 8, 17}) {
    for (std::size_t slots : {1, 3, 15, 16, 17, 33, 100}) {
      const std::size_t blocks = (slots + 7) / 8;
      std::vector<std::uint64_t> codes(blocks * words * 8), query(words);
      for (auto& c : codes) c = rng.next_u64();
      for (auto& q : query) q = rng.next_u64();
      codes[0] = query[0];  // a zero distance in the first word
      std::vector<std::uint32_t> reference(blocks * 8), out(blocks * 8);
      mann::knn::hamming_distances_scalar(codes.data(), blocks, words, query.data(), reference.data());
      for (std::size_t s = 0; s < blocks * 8; ++s) {
        int d = 0;
        for (std::size_t w = 0; w < words; ++w)
          d += naive_popcount(codes[mann::knn::code_word_offset(s, words, w)] ^ query[w]);
        ASSERT_EQ(reference[s], static_cast<std::uint32_t>(d));
      }
#if defined(MANN_KNN_HAVE_AVX2)
      mann::knn::hamming_distances_avx2(codes.data(), blocks, words, query.data(), out.data());
      EXPECT_EQ(out, reference) << "avx2 words=" << words << " slots=" << slots;
#endif
#if defined(MANN_KNN_HAVE_AVX512_POPCNT)
      std::fill(out.begin(), out.end(), 0u);
      mann::knn::hamming_distances_avx512(codes.data(), blocks, words, query.data(), out.data());
      EXPECT_EQ(out, reference) << "avx512 words=" << words << " slots=" << slots;
#endif
      std::fill(out.begin(), out.end(), 0u);
      mann::knn::hamming_distances(codes.data(), blocks, words, query.data(), out.data());
      EXPECT_EQ(out, reference);
    }
  }
}

TEST(HammingDistances, AllOnesGiveFullDistance) {
  std::vector<std::uint64_t> codes(8 * 3, ~std::uint64_t{0}), query(3, 0);
  std::vector<std::uint32_t> out(8);
  mann::knn::hamming_distances(codes.data(), 1, 3, query.data(), out.data());
  for (auto d : out) EXPECT_EQ(d, 192u);
}

TEST(SimdLevel, ReportsTheCompiledKernels) {
#if defined(__AVX512VPOPCNTDQ__) && defined(__AVX512F__)
  EXPECT_EQ(mann::knn::hamming_simd_level(), mann::knn::SimdLevel::avx512);
#elif defined(__AVX2__)
  EXPECT_EQ(mann::knn::hamming_simd_level(), mann::knn::SimdLevel::avx2);
#endif
  std::printf("hamming kernels: %s, threshold scan: %s\n", mann::knn::to_string(mann::knn::hamming_simd_level()),
              mann::knn::to_string(mann::knn::scan_simd_level()));
}

}  // namespace
