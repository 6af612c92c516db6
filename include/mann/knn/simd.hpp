// mann/knn/simd.hpp: the hand-written kernels of the nearest-neighbour search — popcount, Hamming
// distances over packed binary codes, and the "scores at or above a threshold" scan used by top-k
// selection. Every kernel has a portable scalar version that is always compiled; AVX2 and AVX-512
// versions are compiled when the target flags allow them (__AVX2__, __AVX512F__,
// __AVX512VPOPCNTDQ__) and give bit-identical results. Defining MANN_DONT_VECTORIZE removes the wide
// kernels altogether, so the dispatching functions use the scalar ones.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#if !defined(MANN_DONT_VECTORIZE) && (defined(__AVX2__) || defined(__AVX512F__))
#include <immintrin.h>
#endif

#if !defined(MANN_DONT_VECTORIZE) && defined(__AVX2__)
#define MANN_KNN_HAVE_AVX2 1
#endif
#if !defined(MANN_DONT_VECTORIZE) && defined(__AVX512F__)
#define MANN_KNN_HAVE_AVX512 1
#endif
#if !defined(MANN_DONT_VECTORIZE) && defined(__AVX512F__) && defined(__AVX512VPOPCNTDQ__)
#define MANN_KNN_HAVE_AVX512_POPCNT 1
#endif

namespace mann {
namespace knn {

/// The instruction-set level a kernel family runs at.
enum class SimdLevel { scalar, avx2, avx512 };

inline const char* to_string(SimdLevel level) {
  switch (level) {
    case SimdLevel::avx512:
      return "avx512";
    case SimdLevel::avx2:
      return "avx2";
    default:
      return "scalar";
  }
}

#if defined(MANN_KNN_HAVE_AVX2)
constexpr bool kHaveAvx2 = true;
#else
constexpr bool kHaveAvx2 = false;
#endif
#if defined(MANN_KNN_HAVE_AVX512)
constexpr bool kHaveAvx512 = true;
#else
constexpr bool kHaveAvx512 = false;
#endif
#if defined(MANN_KNN_HAVE_AVX512_POPCNT)
constexpr bool kHaveAvx512Popcount = true;
#else
constexpr bool kHaveAvx512Popcount = false;
#endif

/// Level used by hamming_distances() (AVX-512 needs VPOPCNTDQ).
constexpr SimdLevel hamming_simd_level() {
#if defined(MANN_KNN_HAVE_AVX512_POPCNT)
  return SimdLevel::avx512;
#elif defined(MANN_KNN_HAVE_AVX2)
  return SimdLevel::avx2;
#else
  return SimdLevel::scalar;
#endif
}

/// Level used by the float threshold scan of top-k selection.
constexpr SimdLevel scan_simd_level() {
#if defined(MANN_KNN_HAVE_AVX512)
  return SimdLevel::avx512;
#elif defined(MANN_KNN_HAVE_AVX2)
  return SimdLevel::avx2;
#else
  return SimdLevel::scalar;
#endif
}

/// Number of set bits; the builtin becomes one POPCNT instruction when the target has it.
inline int popcount64(std::uint64_t x) {
#if defined(__GNUC__) || defined(__clang__)
  return __builtin_popcountll(x);
#else
  x = x - ((x >> 1) & 0x5555555555555555ull);
  x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
  x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0Full;
  return static_cast<int>((x * 0x0101010101010101ull) >> 56);
#endif
}

/// Position of the lowest set bit of x ≠ 0.
inline int lowest_set_bit(std::uint64_t x) {
#if defined(__GNUC__) || defined(__clang__)
  return __builtin_ctzll(x);
#else
  int position = 0;
  while ((x & 1) == 0) {
    x >>= 1;
    ++position;
  }
  return position;
#endif
}

// ---------------------------------------------------------------------------------------------
// Hamming distances over codes in the blocked layout.
//
// Layout: slots are grouped in blocks of kCodeBlock = 8; a code has `words` 64-bit words; block b
// stores word w of its 8 slots contiguously at codes[(b * words + w) * 8 + lane]. One AVX-512
// register then holds word w of a whole block, so the wide kernels need no gathers.
// ---------------------------------------------------------------------------------------------

constexpr std::size_t kCodeBlock = 8;

/// Position of word `w` of slot `slot` in the blocked layout.
inline std::size_t code_word_offset(std::size_t slot, std::size_t words, std::size_t w) {
  return ((slot / kCodeBlock) * words + w) * kCodeBlock + slot % kCodeBlock;
}

/// out[b * 8 + lane] = Hamming distance between `query` (words words) and slot b·8+lane, for the
/// `blocks` blocks starting at `codes`. Portable reference.
inline void hamming_distances_scalar(const std::uint64_t* codes, std::size_t blocks, std::size_t words,
                                     const std::uint64_t* query, std::uint32_t* out) {
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::uint64_t* block = codes + b * words * kCodeBlock;
    std::uint32_t acc[kCodeBlock] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (std::size_t w = 0; w < words; ++w) {
      for (std::size_t lane = 0; lane < kCodeBlock; ++lane) {
        acc[lane] += static_cast<std::uint32_t>(popcount64(block[w * kCodeBlock + lane] ^ query[w]));
      }
    }
    for (std::size_t lane = 0; lane < kCodeBlock; ++lane) out[b * kCodeBlock + lane] = acc[lane];
  }
}

#if defined(MANN_KNN_HAVE_AVX2)
/// AVX2: popcount by nibble table lookup (two PSHUFB) and byte sums (PSADBW), four slots per vector.
inline void hamming_distances_avx2(const std::uint64_t* codes, std::size_t blocks, std::size_t words,
                                   const std::uint64_t* query, std::uint32_t* out) {
  const __m256i table = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,  //
                                         0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i low_nibbles = _mm256_set1_epi8(0x0F);
  const __m256i zero = _mm256_setzero_si256();
  const __m256i even_ints = _mm256_setr_epi32(0, 2, 4, 6, 0, 0, 0, 0);
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::uint64_t* block = codes + b * words * kCodeBlock;
    __m256i acc_low = zero, acc_high = zero;  // lanes 0–3 and 4–7, 64-bit counts
    for (std::size_t w = 0; w < words; ++w) {
      const __m256i q = _mm256_set1_epi64x(static_cast<long long>(query[w]));
      const __m256i* p = reinterpret_cast<const __m256i*>(block + w * kCodeBlock);
      const __m256i x0 = _mm256_xor_si256(_mm256_loadu_si256(p), q);
      const __m256i x1 = _mm256_xor_si256(_mm256_loadu_si256(p + 1), q);
      const __m256i c0 =
          _mm256_add_epi8(_mm256_shuffle_epi8(table, _mm256_and_si256(x0, low_nibbles)),
                          _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi64(x0, 4), low_nibbles)));
      const __m256i c1 =
          _mm256_add_epi8(_mm256_shuffle_epi8(table, _mm256_and_si256(x1, low_nibbles)),
                          _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi64(x1, 4), low_nibbles)));
      acc_low = _mm256_add_epi64(acc_low, _mm256_sad_epu8(c0, zero));
      acc_high = _mm256_add_epi64(acc_high, _mm256_sad_epu8(c1, zero));
    }
    // NOTE: counts fit in 32 bits; keep the low half of each 64-bit lane.
    const __m128i low = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(acc_low, even_ints));
    const __m128i high = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(acc_high, even_ints));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + b * kCodeBlock), low);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + b * kCodeBlock + 4), high);
  }
}
#endif

#if defined(MANN_KNN_HAVE_AVX512_POPCNT)
/// AVX-512 VPOPCNTDQ: one register holds word w of a whole block of eight slots.
inline void hamming_distances_avx512(const std::uint64_t* codes, std::size_t blocks, std::size_t words,
                                     const std::uint64_t* query, std::uint32_t* out) {
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::uint64_t* block = codes + b * words * kCodeBlock;
    __m512i acc = _mm512_setzero_si512();
    for (std::size_t w = 0; w < words; ++w) {
      const __m512i x = _mm512_xor_si512(_mm512_loadu_si512(block + w * kCodeBlock),
                                         _mm512_set1_epi64(static_cast<long long>(query[w])));
      acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(x));
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + b * kCodeBlock), _mm512_cvtepi64_epi32(acc));
  }
}
#endif

/// True when the Hamming kernel of `level` is compiled in.
constexpr bool hamming_level_compiled(SimdLevel level) {
  return level == SimdLevel::scalar || (level == SimdLevel::avx2 && kHaveAvx2) ||
         (level == SimdLevel::avx512 && kHaveAvx512Popcount);
}

/// Hamming distances with the kernel of `level` (default: the widest compiled in). Every level
/// is compiled for the same target, so choosing a narrower one at run time is safe; a level that
/// is not compiled in falls back to the scalar kernel.
inline void hamming_distances(const std::uint64_t* codes, std::size_t blocks, std::size_t words,
                              const std::uint64_t* query, std::uint32_t* out, SimdLevel level = hamming_simd_level()) {
#if defined(MANN_KNN_HAVE_AVX512_POPCNT)
  if (level == SimdLevel::avx512) return hamming_distances_avx512(codes, blocks, words, query, out);
#endif
#if defined(MANN_KNN_HAVE_AVX2)
  if (level == SimdLevel::avx2) return hamming_distances_avx2(codes, blocks, words, query, out);
#endif
  (void)level;
  hamming_distances_scalar(codes, blocks, words, query, out);
}

// ---------------------------------------------------------------------------------------------
// Threshold scan: call visit(i) for every i in [0, n) with values[i] >= threshold(), in increasing
// order. threshold() is re-read after each visit (top-k selection raises it as it goes), so the
// wide kernels, which test 8 or 16 values against a threshold read once, are only a prefilter:
// visit() must apply the exact test itself. All versions visit the same i in the same order as
// long as visit() rejects every value below the current threshold.
// ---------------------------------------------------------------------------------------------

template <class T, class Threshold, class Visit>
void scan_at_least_scalar(const T* values, std::ptrdiff_t n, Threshold&& threshold, Visit&& visit) {
  T current = threshold();
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    if (values[i] >= current) {
      visit(i);
      current = threshold();
    }
  }
}

#if defined(MANN_KNN_HAVE_AVX2)
template <class Threshold, class Visit>
void scan_at_least_avx2(const float* values, std::ptrdiff_t n, Threshold&& threshold, Visit&& visit) {
  std::ptrdiff_t i = 0;
  __m256 current = _mm256_set1_ps(threshold());
  for (; i + 8 <= n; i += 8) {
    unsigned mask =
        static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(values + i), current, _CMP_GE_OQ)));
    if (mask != 0) {
      while (mask != 0) {
        const int bit = __builtin_ctz(mask);
        mask &= mask - 1;
        visit(i + bit);
      }
      current = _mm256_set1_ps(threshold());
    }
  }
  scan_at_least_scalar(values + i, n - i, threshold, [&](std::ptrdiff_t j) { visit(i + j); });
}
#endif

#if defined(MANN_KNN_HAVE_AVX512)
template <class Threshold, class Visit>
void scan_at_least_avx512(const float* values, std::ptrdiff_t n, Threshold&& threshold, Visit&& visit) {
  std::ptrdiff_t i = 0;
  __m512 current = _mm512_set1_ps(threshold());
  for (; i + 16 <= n; i += 16) {
    unsigned mask = _mm512_cmp_ps_mask(_mm512_loadu_ps(values + i), current, _CMP_GE_OQ);
    if (mask != 0) {
      while (mask != 0) {
        const int bit = __builtin_ctz(mask);
        mask &= mask - 1;
        visit(i + bit);
      }
      current = _mm512_set1_ps(threshold());
    }
  }
  scan_at_least_scalar(values + i, n - i, threshold, [&](std::ptrdiff_t j) { visit(i + j); });
}

template <class Threshold, class Visit>
void scan_at_least_avx512(const std::int32_t* values, std::ptrdiff_t n, Threshold&& threshold, Visit&& visit) {
  std::ptrdiff_t i = 0;
  __m512i current = _mm512_set1_epi32(threshold());
  for (; i + 16 <= n; i += 16) {
    unsigned mask = _mm512_cmpge_epi32_mask(_mm512_loadu_si512(values + i), current);
    if (mask != 0) {
      while (mask != 0) {
        const int bit = __builtin_ctz(mask);
        mask &= mask - 1;
        visit(i + bit);
      }
      current = _mm512_set1_epi32(threshold());
    }
  }
  scan_at_least_scalar(values + i, n - i, threshold, [&](std::ptrdiff_t j) { visit(i + j); });
}
#endif

/// True when the float threshold scan of `level` is compiled in (int32 has scalar and AVX-512
/// kernels, double only the scalar one).
constexpr bool scan_level_compiled(SimdLevel level) {
  return level == SimdLevel::scalar || (level == SimdLevel::avx2 && kHaveAvx2) ||
         (level == SimdLevel::avx512 && kHaveAvx512);
}

/// The threshold scan with the kernel of `level` (default: the widest compiled in) where one
/// exists for T; otherwise the widest narrower one, down to the scalar loop.
template <class T, class Threshold, class Visit>
void scan_at_least(const T* values, std::ptrdiff_t n, Threshold&& threshold, Visit&& visit,
                   SimdLevel level = scan_simd_level()) {
#if defined(MANN_KNN_HAVE_AVX512)
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, std::int32_t>) {
    if (level == SimdLevel::avx512) return scan_at_least_avx512(values, n, threshold, visit);
  }
#endif
#if defined(MANN_KNN_HAVE_AVX2)
  if constexpr (std::is_same_v<T, float>) {
    if (level != SimdLevel::scalar) return scan_at_least_avx2(values, n, threshold, visit);
  }
#endif
  (void)level;
  scan_at_least_scalar(values, n, threshold, visit);
}

}  // namespace knn
}  // namespace mann
