// Tests for mann/knn/bucket_arena.hpp: random pushes and pops against one std::vector per bucket,
// positions that stay put while a bucket moves, and reuse of the blocks a bucket left behind.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "mann/core/random.hpp"
#include "mann/knn/bucket_arena.hpp"

namespace {

struct Entry {
  std::int32_t slot;
  std::uint32_t tag;
};

void expect_equal(const mann::knn::BucketArena<Entry>& arena, const std::vector<std::vector<Entry>>& reference) {
  ASSERT_EQ(arena.buckets(), reference.size());
  for (std::size_t b = 0; b < reference.size(); ++b) {
    ASSERT_EQ(arena.size(b), reference[b].size()) << "bucket " << b;
    for (std::size_t i = 0; i < reference[b].size(); ++i) {
      EXPECT_EQ(arena.data(b)[i].slot, reference[b][i].slot) << "bucket " << b << " entry " << i;
      EXPECT_EQ(arena.data(b)[i].tag, reference[b][i].tag);
    }
  }
}

TEST(BucketArena, RandomPushesAndPopsMatchOneVectorPerBucket) {
  mann::Rng rng(4);
  const std::size_t buckets = 37;
  mann::knn::BucketArena<Entry> arena(buckets);
  std::vector<std::vector<Entry>> reference(buckets);
  for (int step = 0; step < 20000; ++step) {
    const auto b = static_cast<std::size_t>(rng.below(buckets));
    if (!reference[b].empty() && rng.uniform() < 0.4) {
      // remove a random entry as LshIndex does: the last one takes its place
      const auto i = static_cast<std::size_t>(rng.below(reference[b].size()));
      arena.at(b, i) = arena.back(b);
      arena.pop_back(b);
      reference[b][i] = reference[b].back();
      reference[b].pop_back();
    } else {
      const Entry e{step, static_cast<std::uint32_t>(rng.below(1000))};
      EXPECT_EQ(arena.push_back(b, e), reference[b].size());
      reference[b].push_back(e);
    }
  }
  expect_equal(arena, reference);
  const mann::knn::BucketArena<Entry> copy = arena;  // a plain value
  expect_equal(copy, reference);
}

TEST(BucketArena, BlocksLeftBehindAreReused) {
  mann::knn::BucketArena<Entry> arena(3);
  for (int i = 0; i < 5; ++i) arena.push_back(0, {i, 0});  // 4 entries, then a block of 8
  EXPECT_EQ(arena.arena_entries(), 12u);
  for (int i = 0; i < 4; ++i) arena.push_back(1, {i, 1});  // takes the free block of 4
  EXPECT_EQ(arena.arena_entries(), 12u);
  arena.push_back(2, {9, 2});  // nothing free of that size: a new block
  EXPECT_EQ(arena.arena_entries(), 16u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(arena.data(0)[i].slot, i);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(arena.data(1)[i].slot, i);
  EXPECT_EQ(arena.data(2)[0].slot, 9);
  EXPECT_EQ(arena.size(2), 1u);
}

}  // namespace
