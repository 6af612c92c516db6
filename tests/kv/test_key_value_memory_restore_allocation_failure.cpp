// KeyValueMemory::restore() (and so load_key_value_memory()) is all or nothing under
// std::bad_alloc: with the n-th allocation failing, for every n it makes, the memory keeps its
// keys, values, ages, clock and recency lists, and behaves as an untouched twin afterwards.
// NOTE: the whole load is not run this way: nlohmann::json allocates while destroying a parsed
// header (~basic_json is noexcept), so a failure there terminates. On its own: it replaces the
// global operator new in this test binary.
#include "replaced_operator_new.hpp"  // first: the global operator new of this binary

#include <gtest/gtest.h>

#include <new>
#include <string>
#include <vector>

#include "knn/knn_test_support.hpp"
#include "mann/kv/key_value_memory.hpp"

namespace {

using mann::Index;
using Memory = mann::KeyValueMemory<float>;

constexpr Index kSlots = 40, kKeySize = 6;

mann::KeyValueMemoryOptions restore_options(mann::KnnMethod method) {
  mann::KeyValueMemoryOptions options;
  options.k = 3;
  options.method = method;
  if (method == mann::KnnMethod::lsh) {
    options.lsh = mann::LshParams{};
    options.lsh->tables = 4;
    options.lsh->bits_per_table = 4;
    options.lsh->sketch_bits = 16;
  }
  return options;
}

// A memory after `steps` batches of 4 writes drawn from `seed` (the same seed, the same memory).
void run_batches(Memory& memory, int steps, std::uint64_t seed) {
  mann::Rng rng(seed);
  Memory::Cache cache;
  for (int s = 0; s < steps; ++s) {
    memory.query(knn_test::clustered_columns<float>(kKeySize, 4, 3, 0.4, rng), cache);
    std::vector<Memory::Value> labels(4);
    for (auto& l : labels) l = static_cast<Memory::Value>(rng.below(9));
    memory.update(cache, labels);
  }
}

void expect_same_state(const Memory& a, const Memory& b) {
  EXPECT_EQ(a.keys(), b.keys());
  EXPECT_EQ(a.values(), b.values());
  EXPECT_EQ(a.ages(), b.ages());
  EXPECT_EQ(a.clock(), b.clock());
  EXPECT_EQ(a.written(), b.written());
  for (Memory::Value v = 0; v < 9; ++v) EXPECT_EQ(a.most_recent_slot(v), b.most_recent_slot(v)) << "value " << v;
}

// Fails every allocation of `replace(memory)` in turn; after each failure the memory must equal an
// untouched twin, now and after more writes. Returns how many allocations failed.
template <class Replace>
long fail_each_allocation(mann::KnnMethod method, Replace&& replace, const Memory& wanted) {
  long failures = 0;
  for (long fail_at = 0;; ++fail_at) {
    Memory memory(kSlots, kKeySize, restore_options(method)), twin(kSlots, kKeySize, restore_options(method));
    run_batches(memory, 6, 21);
    run_batches(twin, 6, 21);
    bool threw = false;
    mann_test::fail_in.store(fail_at);
    try {
      replace(memory);
    } catch (const std::bad_alloc&) {
      threw = true;
    }
    // NOTE: ≥ 0 left: the run made fewer allocations than fail_at, so every one has been failed.
    const long left = mann_test::fail_in.exchange(-1);
    if (!threw) {  // done, or the failure went to an allocation with a fallback (a nothrow new)
      expect_same_state(memory, wanted);
      if (left >= 0 || testing::Test::HasFailure()) break;
      continue;
    }
    ++failures;
    SCOPED_TRACE(testing::Message() << "allocation " << fail_at << " failed");
    expect_same_state(memory, twin);
    run_batches(memory, 4, 22);  // and it goes on as the twin does
    run_batches(twin, 4, 22);
    expect_same_state(memory, twin);
    if (testing::Test::HasFailure()) break;
  }
  return failures;
}

TEST(KeyValueMemoryRestoreAllocationFailure, RestoreIsAllOrNothing) {
  for (auto method : {mann::KnnMethod::exact, mann::KnnMethod::lsh}) {
    SCOPED_TRACE(method == mann::KnnMethod::exact ? "exact" : "lsh");
    Memory source(kSlots, kKeySize, restore_options(method));
    run_batches(source, 8, 5);
    const mann::MatrixF keys = source.keys();
    const std::vector<Memory::Value> values = source.values();
    const std::vector<std::int64_t> ages = source.ages();
    const long failures = fail_each_allocation(
        method, [&](Memory& memory) { memory.restore(keys, values, ages, source.clock()); }, source);
    EXPECT_GT(failures, 5);
  }
}

}  // namespace
