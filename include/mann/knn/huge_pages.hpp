// mann/knn/huge_pages.hpp: an allocator for the large arrays an LSH search reads at random (the
// slots' codes, the bucket arena and its headers), and advice for the keys. With 4 KiB pages nearly
// every such access also misses the TLB and walks the page table; on Linux, allocations of at least
// 2 MiB are therefore 2 MiB-aligned and advised as transparent huge pages (madvise MADV_HUGEPAGE,
// honoured when the system's THP mode is "always" or "madvise"). Elsewhere, or for smaller arrays,
// it is plain operator new.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace mann::knn {

/// Size and alignment of a huge page (x86-64, and arm64 with 4 KiB base pages).
inline constexpr std::size_t kHugePageBytes = std::size_t{1} << 21;

/// Advises the whole 2 MiB pages inside [p, p + bytes) as transparent huge pages (MADV_HUGEPAGE):
/// pages not yet touched then come as huge pages where the system's THP mode allows. For storage
/// that another allocator owns (an Eigen matrix's). Advice only: errors are ignored.
inline void advise_huge_pages(void* p, std::size_t bytes) noexcept {
#if defined(__linux__)
  constexpr std::uintptr_t huge = kHugePageBytes;
  const auto address = reinterpret_cast<std::uintptr_t>(p);
  const std::uintptr_t begin = (address + huge - 1) / huge * huge, end = (address + bytes) / huge * huge;
  if (bytes < huge || end <= begin) return;
  void* const first = reinterpret_cast<void*>(begin);
  madvise(first, end - begin, MADV_HUGEPAGE);
#else
  (void)p;
  (void)bytes;
#endif
}

/// Stateless allocator: huge-page-advised storage for allocations of ≥ kHugePageBytes on Linux.
template <class T>
class HugePageAllocator {
 public:
  using value_type = T;
  static constexpr std::size_t kHugePageBytes = knn::kHugePageBytes;

  HugePageAllocator() noexcept = default;
  template <class U>
  HugePageAllocator(const HugePageAllocator<U>&) noexcept {}  // NOLINT: rebinding converts implicitly

  T* allocate(std::size_t n) {
    if (n > static_cast<std::size_t>(-1) / sizeof(T)) throw std::bad_array_new_length();
    const std::size_t bytes = n * sizeof(T);
    if (!huge(bytes)) return static_cast<T*>(::operator new(bytes));
#if defined(__linux__)
    if (bytes > static_cast<std::size_t>(-1) - kHugePageBytes) throw std::bad_alloc();  // rounding would wrap
    void* p = std::aligned_alloc(kHugePageBytes, rounded(bytes));
    if (p == nullptr) throw std::bad_alloc();
    advise_huge_pages(p, rounded(bytes));
    return static_cast<T*>(p);
#else
    return static_cast<T*>(::operator new(bytes));
#endif
  }

  void deallocate(T* p, std::size_t n) noexcept {
    if (huge(n * sizeof(T))) {
      std::free(p);
    } else {
      ::operator delete(p);
    }
  }

  template <class U>
  bool operator==(const HugePageAllocator<U>&) const noexcept {
    return true;
  }
  template <class U>
  bool operator!=(const HugePageAllocator<U>&) const noexcept {
    return false;
  }

 private:
  static bool huge(std::size_t bytes) {
#if defined(__linux__)
    return bytes >= kHugePageBytes;
#else
    (void)bytes;
    return false;
#endif
  }
  static std::size_t rounded(std::size_t bytes) { return (bytes + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes; }
};

}  // namespace mann::knn
