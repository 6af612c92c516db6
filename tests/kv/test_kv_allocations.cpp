// The hot loop of a KeyValueMemory (query, loss, backward, update) allocates nothing after warm-up:
// counted by replacing the global operator new in this test binary.
#include "replaced_operator_new.hpp"  // first: the global operator new of this binary

#include <gtest/gtest.h>

#include "knn/knn_test_support.hpp"
#include "mann/kv/key_value_memory.hpp"

namespace {

using mann::Index;
using Memory = mann::KeyValueMemory<float>;

// Runs `steps` training steps of batch b twice (the first pass warms the workspaces up); returns
// the allocations of the second pass.
long allocations_per_run(Memory& memory, Index b, bool update, int steps = 8) {
  mann::Rng rng(2);  // the seed of prefilled(): the same cluster centres
  const mann::MatrixF data = knn_test::clustered_columns<float>(memory.key_size(), b * steps, 8, 0.4, rng);
  Memory::Cache cache;
  mann::MatrixF grad;
  std::vector<std::vector<Memory::Value>> labels;
  std::vector<mann::MatrixF> batches;
  for (int s = 0; s < steps; ++s) {
    batches.push_back(data.middleCols(s * b, b));
    labels.emplace_back();
    for (Index j = 0; j < b; ++j) labels.back().push_back(static_cast<Memory::Value>(rng.below(8)));
  }
  long before = 0;
  for (int s = 0; s < 2 * steps; ++s) {
    if (s == steps) before = mann_test::allocations.load();
    memory.query(batches[static_cast<std::size_t>(s % steps)], cache);
    memory.loss(labels[static_cast<std::size_t>(s % steps)], cache);
    memory.backward(cache, grad);
    if (update) memory.update(cache, labels[static_cast<std::size_t>(s % steps)]);
  }
  return mann_test::allocations.load() - before;
}

Memory prefilled(mann::KeyValueMemoryOptions options) {
  Memory m(2000, 32, options);
  mann::Rng rng(2);
  Memory::Cache cache;
  const mann::MatrixF x = knn_test::clustered_columns<float>(32, 1500, 8, 0.4, rng);
  std::vector<Memory::Value> labels(1500);
  for (auto& l : labels) l = static_cast<Memory::Value>(rng.below(8));
  m.query(x, cache);
  m.update(cache, labels);
  return m;
}

TEST(KeyValueMemoryAllocations, ExactSingleQueryStepAllocatesNothing) {
  mann::KeyValueMemoryOptions options;
  options.k = 16;
  Memory m = prefilled(options);
  EXPECT_EQ(allocations_per_run(m, 1, true), 0);
}

TEST(KeyValueMemoryAllocations, LshStepsAllocateNothing) {
  for (auto probe : {mann::LshProbe::multi_probe, mann::LshProbe::hamming_scan}) {
    mann::KeyValueMemoryOptions options;
    options.k = 16;
    options.method = mann::KnnMethod::lsh;
    options.lsh_search.probe = probe;
    options.lsh_search.max_candidates = 200;
    Memory m = prefilled(options);
    EXPECT_EQ(allocations_per_run(m, 1, false), 0) << mann::to_string(probe);
    EXPECT_EQ(allocations_per_run(m, 16, false), 0) << mann::to_string(probe);
    // a write may grow the bucket arena (amortised); count, do not forbid
    std::printf("%s: %ld allocations in 8 updates of 16 (16 tables)\n", mann::to_string(probe),
                allocations_per_run(m, 16, true));
  }
}

}  // namespace
