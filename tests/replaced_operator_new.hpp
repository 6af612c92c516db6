// tests/replaced_operator_new.hpp: replaces the global operator new/delete of a test binary, to
// count its allocations (mann_test::allocations) or to make one of them fail (mann_test::fail_in).
// Include it in exactly ONE source file of the binary, before the other headers. Eigen allocates
// with std::malloc, which this does not see (EIGEN_RUNTIME_NO_MALLOC does).
#pragma once

#include <atomic>
#include <cstdlib>
#include <new>

#if defined(__GNUC__) && !defined(__clang__)
// NOTE: GCC pairs the replaced new/delete below after inlining and flags malloc/free as mismatched.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace mann_test {
inline std::atomic<long> allocations{0};  ///< calls of operator new so far
inline std::atomic<long> fail_in{-1};     ///< ≥ 0: grant that many more, then throw std::bad_alloc once
}  // namespace mann_test

void* operator new(std::size_t size) {
  mann_test::allocations.fetch_add(1, std::memory_order_relaxed);
  if (mann_test::fail_in.load(std::memory_order_relaxed) >= 0 &&
      mann_test::fail_in.fetch_sub(1, std::memory_order_relaxed) == 0) {
    mann_test::fail_in.store(-1, std::memory_order_relaxed);
    throw std::bad_alloc();
  }
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
