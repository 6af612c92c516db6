// Tests for mann/knn/huge_pages.hpp: large arrays are 2 MiB-aligned on Linux and usable, small ones
// usable, rebinding works; impossible sizes throw.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <new>
#include <numeric>
#include <vector>

#include "mann/knn/huge_pages.hpp"

namespace {

using Allocator = mann::knn::HugePageAllocator<std::uint64_t>;

TEST(HugePageAllocator, LargeArraysAreAlignedToHugePagesAndUsable) {
  std::vector<std::uint64_t, Allocator> large(3u << 20);  // 24 MiB
#if defined(__linux__)
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(large.data()) % Allocator::kHugePageBytes, 0u);
#endif
  std::iota(large.begin(), large.end(), std::uint64_t{0});
  large.resize(large.size() + 12345, 7);  // reallocates and copies
  EXPECT_EQ(large[0], 0u);
  EXPECT_EQ(large[(3u << 20) - 1], (3u << 20) - 1);
  EXPECT_EQ(large.back(), 7u);
}

TEST(HugePageAllocator, SmallArraysAndRebinding) {
  std::vector<std::uint64_t, Allocator> small(10, 3);
  EXPECT_EQ(std::accumulate(small.begin(), small.end(), std::uint64_t{0}), 30u);
  using IntAllocator = std::allocator_traits<Allocator>::rebind_alloc<int>;
  IntAllocator ints{Allocator()};
  int* p = ints.allocate(5);
  for (int i = 0; i < 5; ++i) p[i] = i;
  EXPECT_EQ(p[4], 4);
  ints.deallocate(p, 5);
  std::vector<std::vector<int>, mann::knn::HugePageAllocator<std::vector<int>>> nested(300000);  // 7 MiB of headers
  nested[299999].push_back(5);
  EXPECT_EQ(nested[299999][0], 5);
}

TEST(HugePageAllocator, ImpossibleSizesThrow) {
  Allocator allocator;
  EXPECT_THROW(allocator.allocate(static_cast<std::size_t>(-1) / 4), std::bad_array_new_length);
  // n · 8 fits in size_t but not once rounded up to whole huge pages
  EXPECT_THROW(allocator.allocate(static_cast<std::size_t>(-1) / 8), std::bad_alloc);
}

TEST(AdviseHugePages, LeavesTheContentsAsTheyWere) {
  // a large buffer not aligned to huge pages, already written, and a small one: advice only
  std::vector<std::uint64_t> large((5u << 20) / 8 + 3);
  std::iota(large.begin(), large.end(), std::uint64_t{1});
  mann::knn::advise_huge_pages(large.data() + 1, (large.size() - 1) * 8);
  for (std::size_t i = 0; i < large.size(); i += 4099) ASSERT_EQ(large[i], i + 1);
  EXPECT_EQ(large.back(), large.size());
  std::vector<std::uint64_t> small(100, 5);
  mann::knn::advise_huge_pages(small.data(), small.size() * 8);
  mann::knn::advise_huge_pages(nullptr, 0);
  EXPECT_EQ(small[99], 5u);
}

}  // namespace
