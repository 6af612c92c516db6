// An LshIndex, or a KeyValueMemory over one, whose structures cannot grow (std::bad_alloc from the
// n-th allocation, for every n a run of writes makes) stays consistent: the slot being written is
// left inactive and in no bucket (empty, in the memory), and the index answers as one built from
// its active keys alone. On its own: it replaces the global operator new in this test binary.
#include "replaced_operator_new.hpp"  // first: the global operator new of this binary

#include <gtest/gtest.h>

#include <new>
#include <vector>

#include "knn/knn_test_support.hpp"
#include "mann/knn/lsh.hpp"
#include "mann/kv/key_value_memory.hpp"

namespace {

using mann::Index;

// 4 tables of 4 bits, every bucket probed, no cap: every active slot is a candidate of every query.
mann::LshIndex<float> make_index(Index d) {
  mann::LshParams params;
  params.tables = 4;
  params.bits_per_table = 4;
  params.sketch_bits = 16;
  mann::LshSearchParams search;
  search.probes_per_table = 16;
  search.max_candidates = 0;
  return mann::LshIndex<float>(d, params, search);
}

// The index holds exactly its active slots: the buckets of each table hold size() entries, and a
// search over all buckets finds (and re-ranks) exactly the active slots, as a fresh index of the
// same keys does.
void expect_consistent(const mann::LshIndex<float>& index, const mann::MatrixF& queries) {
  std::vector<std::uint64_t> code(static_cast<std::size_t>(index.code_words()));
  for (Index s = 0; s < index.slots(); ++s) {
    if (index.active(s)) continue;
    index.slot_code(s, code.data());
    for (const std::uint64_t word : code) EXPECT_EQ(word, 0u) << "inactive slot " << s << " keeps a code";
  }
  for (Index t = 0; t < 4; ++t) {
    Index entries = 0;
    for (std::uint64_t b = 0; b < 16; ++b) entries += index.bucket_size(t, b);
    EXPECT_EQ(entries, index.size()) << "table " << t;
  }
  mann::LshIndex<float> fresh = make_index(index.dimension());
  fresh.add_empty(index.slots());
  for (Index s = 0; s < index.slots(); ++s) {
    if (index.active(s)) fresh.set(s, index.key(s));
  }
  const Index k = index.size();
  mann::KnnResult<float> got, want;
  mann::KnnWorkspace<float> ws;
  index.search(queries, k, got, ws);
  EXPECT_EQ(ws.reranked, k * queries.cols());
  fresh.search(queries, k, want);
  EXPECT_EQ(got.indices, want.indices);
}

TEST(LshIndexAllocationFailure, AWriteThatCannotGrowLeavesNoTrace) {
  const Index d = 8, first = 60, total = 400;
  mann::Rng rng(11);
  const mann::MatrixF keys = knn_test::unit_columns<float>(d, total, rng);
  const mann::MatrixF queries = knn_test::unit_columns<float>(d, 6, rng);
  long failures = 0;
  for (long fail_at = 0;; ++fail_at) {
    mann::LshIndex<float> index = make_index(d);
    index.add(keys.leftCols(first));
    bool threw = false;
    Index next = first;
    mann_test::fail_in.store(fail_at);
    try {
      for (; next < total; ++next) {  // one at a time; every 7th replaces an earlier slot instead
        if (next % 7 == 0) {
          index.set(next % first, keys.col(next));
        } else {
          index.add(keys.col(next));
        }
      }
    } catch (const std::bad_alloc&) {
      threw = true;
    }
    mann_test::fail_in.store(-1);
    if (!threw) break;  // every allocation of the run has failed once
    ++failures;
    SCOPED_TRACE(testing::Message() << "allocation " << fail_at << " failed, at key " << next);
    if (next % 7 == 0) {
      EXPECT_FALSE(index.active(next % first));  // its old key is gone too
    }
    expect_consistent(index, queries);
    for (++next; next < total; ++next) index.add(keys.col(next));  // and the index goes on
    expect_consistent(index, queries);
    if (HasFailure()) break;
  }
  EXPECT_GT(failures, 20);  // the writes did allocate, in the arena and elsewhere
}

using Memory = mann::KeyValueMemory<float>;

// Written slots (value ≠ kEmpty) are exactly the index's active ones, and each value's most recent
// slot is its written slot of the smallest age (of equal ages, written by one update: the largest id).
void expect_consistent(const Memory& memory, Memory::Value values) {
  Index written = 0;
  for (Index s = 0; s < memory.memory_size(); ++s) {
    const bool has_value = memory.value(s) != Memory::kEmpty;
    EXPECT_EQ(has_value, memory.index().active(s)) << "slot " << s;
    if (!has_value) {
      EXPECT_EQ(memory.age(s), memory.clock()) << "empty slot " << s << " is not the oldest";
    }
    written += has_value;
  }
  EXPECT_EQ(memory.written(), written);
  for (Memory::Value v = 0; v < values; ++v) {
    Index newest = -1;
    for (Index s = 0; s < memory.memory_size(); ++s) {
      if (memory.value(s) == v && (newest < 0 || memory.age(s) <= memory.age(newest))) newest = s;
    }
    EXPECT_EQ(memory.most_recent_slot(v), newest) << "value " << v;
  }
}

TEST(KeyValueMemoryAllocationFailure, AnUpdateThatCannotGrowLeavesTheMemoryConsistent) {
  const Index key_size = 8, slots = 100, steps = 40, batch = 4;
  const Memory::Value values = 12;  // new values appear along the run: their lists allocate
  mann::Rng rng(3);
  const mann::MatrixF x = knn_test::clustered_columns<float>(key_size, steps * batch, 6, 0.4, rng);
  std::vector<std::vector<Memory::Value>> labels(steps);
  for (auto& step : labels) {
    for (Index j = 0; j < batch; ++j) step.push_back(static_cast<Memory::Value>(rng.below(values)));
  }
  mann::KeyValueMemoryOptions options;
  options.k = 4;
  options.method = mann::KnnMethod::lsh;
  options.lsh = mann::LshParams{};
  options.lsh->tables = 4;
  options.lsh->bits_per_table = 4;
  options.lsh->sketch_bits = 16;
  auto run = [&](Memory& memory, Memory::Cache& cache) {
    for (Index step = 0; step < steps; ++step) {
      memory.query(x.middleCols(step * batch, batch), cache);
      memory.update(cache, labels[static_cast<std::size_t>(step)]);
    }
  };
  long failures = 0;
  for (long fail_at = 0;; ++fail_at) {
    Memory memory(slots, key_size, options);
    Memory::Cache cache;
    bool threw = false;
    mann_test::fail_in.store(fail_at);
    try {
      run(memory, cache);
    } catch (const std::bad_alloc&) {
      threw = true;
    }
    mann_test::fail_in.store(-1);
    if (!threw) break;
    ++failures;
    SCOPED_TRACE(testing::Message() << "allocation " << fail_at << " failed");
    expect_consistent(memory, values);
    run(memory, cache);  // and the memory goes on
    expect_consistent(memory, values);
    if (HasFailure()) break;
  }
  EXPECT_GT(failures, 10);
}

}  // namespace
