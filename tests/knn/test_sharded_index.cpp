// Tests for mann/knn/sharded_index.hpp, run by mpirun on 1, 2 and 3 ranks (every rank runs every
// test with the same seeds): the shard layout, exact sharded search bit-identical to one ExactIndex
// (ties, k larger than a shard, removed slots, batches), LSH shards against exact search, writes
// routed to the owner, the oldest slot across ranks against one process and KeyValueMemory, and bad
// input that throws on every rank instead of hanging.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "knn/knn_test_support.hpp"
#include "mann/knn/exact.hpp"
#include "mann/knn/lsh.hpp"
#include "mann/knn/sharded_index.hpp"
#include "mann/kv/key_value_memory.hpp"
#include "mann/mpi/communicator.hpp"

namespace {

using mann::Index;
using Communicator = mann::mpi::Communicator;

template <class Scalar>
mann::ShardedIndex<Scalar> sharded_exact(const Communicator& world, Index slots, Index d, mann::ExactParams params = {}) {
  return mann::ShardedIndex<Scalar>(world, slots, std::make_unique<mann::ExactIndex<Scalar>>(d, params));
}

template <class Scalar>
mann::Matrix<Scalar> normal_matrix(Index rows, Index cols, mann::Rng& rng) {
  mann::Matrix<Scalar> m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<Scalar>(rng.normal());
  return m;
}

// Indices equal and scores equal bit for bit.
template <class Scalar>
void expect_identical(const mann::KnnResult<Scalar>& got, const mann::KnnResult<Scalar>& want, const std::string& what) {
  ASSERT_EQ(got.indices.rows(), want.indices.rows()) << what;
  ASSERT_EQ(got.indices.cols(), want.indices.cols()) << what;
  ASSERT_EQ(got.scores.rows(), want.scores.rows()) << what;
  ASSERT_EQ(got.scores.cols(), want.scores.cols()) << what;
  EXPECT_EQ(got.indices, want.indices) << what;
  EXPECT_EQ(std::memcmp(got.scores.data(), want.scores.data(), sizeof(Scalar) * static_cast<std::size_t>(got.scores.size())), 0)
      << what;
}

// The same value on every rank.
bool same_on_every_rank(const Communicator& world, std::int64_t value) {
  std::int64_t low = value, high = value;
  world.allreduce_min(&low, 1);
  world.allreduce_max(&high, 1);
  return low == high;
}

TEST(ShardedIndex, ShardsAreContiguousBalancedAndCoverEverySlot) {
  const Communicator world;
  const int r = world.rank(), p = world.size();
  for (Index n : {0, 1, 2, 5, 100, 1001}) {
    auto index = sharded_exact<float>(world, n, 4);
    EXPECT_EQ(index.global_slots(), n);
    EXPECT_EQ(index.local_index().slots(), index.local_slots());
    EXPECT_EQ(index.first_slot(), index.first_slot_of(r));
    EXPECT_EQ(index.first_slot() + index.local_slots(), index.first_slot_of(r + 1));
    EXPECT_EQ(index.first_slot_of(0), 0);
    EXPECT_EQ(index.first_slot_of(p), n);
    EXPECT_LE(std::abs(static_cast<double>(index.local_slots()) - static_cast<double>(n) / p), 1.0);
    std::int64_t total = index.local_slots();
    world.allreduce_sum(&total, 1);
    EXPECT_EQ(total, n);
    for (Index s = 0; s < n; ++s) {
      const int owner = index.owner(s);
      ASSERT_GE(owner, 0);
      ASSERT_LT(owner, p);
      EXPECT_LE(index.first_slot_of(owner), s);
      EXPECT_LT(s, index.first_slot_of(owner + 1));
      EXPECT_EQ(index.owns(s), owner == r);
    }
  }
}

// Sharded exact search equals one ExactIndex over all keys, bit for bit: random float keys (whose
// rounding depends on the GEMM block they fall in) and small-integer keys (heavy ties), duplicate keys
// across shard boundaries, removed slots, k = 1 … all keys (larger than any shard), batches of 1 … 17,
// the default blocks and small blocks (many blocks, shard boundaries inside them).
TEST(ShardedIndex, ExactSearchIsBitIdenticalToOneExactIndex) {
  const Communicator world;
  mann::ExactParams small_blocks;
  small_blocks.block_bytes = 4096;
  small_blocks.min_block_keys = 16;
  mann::Rng rng(11);
  for (Index d : {7, 16, 128}) {
    for (Index n : {1, 2, 7, 100, 1000, 2501}) {
      for (int integer_keys = 0; integer_keys < 2; ++integer_keys) {
        if (integer_keys == 1 && d == 128) continue;
        mann::MatrixF keys = integer_keys == 1 ? knn_test::integer_matrix<float>(d, n, 1, rng) : normal_matrix<float>(d, n, rng);
        if (n > 2) {  // duplicates: the first key in the middle and at the end, another pair
          keys.col(n / 2) = keys.col(0);
          keys.col(n - 1) = keys.col(0);
          keys.col(n / 3) = keys.col(n - 2);
        }
        for (const auto& params : {mann::ExactParams{}, small_blocks}) {
          mann::ExactIndex<float> single(d, params);
          single.add(keys);
          auto sharded = sharded_exact<float>(world, n, d, params);
          for (Index s = 0; s < n; ++s) sharded.set(s, keys.col(s));
          EXPECT_EQ(sharded.global_size(), n);
          mann::ShardedKnnWorkspace<float> workspace;  // reused across batches, k and removals
          for (int removed = 0; removed < 2; ++removed) {
            if (removed == 1) {
              for (Index s = 1; s < n; s += 7) {
                single.remove(s);
                sharded.remove(s);
              }
            }
            for (Index batch : {1, 2, 5, 16, 17}) {
              mann::MatrixF queries = integer_keys == 1 ? knn_test::integer_matrix<float>(d, batch, 1, rng)
                                                        : normal_matrix<float>(d, batch, rng);
              queries.col(0) = keys.col(0);  // its duplicates tie at the top
              for (Index k : {Index{1}, Index{3}, Index{37}, single.size()}) {
                if (k > single.size()) continue;
                mann::KnnResult<float> want, got;
                single.search(queries, k, want);
                sharded.search(queries, k, got, workspace);
                expect_identical(got, want,
                                 mann::detail::concat("d=", d, " n=", n, " integer=", integer_keys, " block_bytes=",
                                                      params.block_bytes, " removed=", removed, " B=", batch, " k=", k));
              }
            }
          }
        }
      }
    }
  }
}

TEST(ShardedIndex, ExactSearchInDoubleIsBitIdentical) {
  const Communicator world;
  mann::Rng rng(12);
  const Index d = 33, n = 1500;
  const mann::MatrixD keys = normal_matrix<double>(d, n, rng);
  mann::ExactIndex<double> single(d);
  single.add(keys);
  auto sharded = sharded_exact<double>(world, n, d);
  for (Index s = 0; s < n; ++s) sharded.set(s, keys.col(s));
  for (Index batch : {1, 6}) {
    const mann::MatrixD queries = normal_matrix<double>(d, batch, rng);
    for (Index k : {Index{1}, Index{20}, n}) {
      mann::KnnResult<double> want, got;
      single.search(queries, k, want);
      sharded.search(queries, k, got);
      expect_identical(got, want, mann::detail::concat("double B=", batch, " k=", k));
    }
  }
}

// A single index refuses k > its active keys (ValueError); so does the sharded one, on every rank,
// even when k exceeds every shard's own count; up to the total it matches the single index.
TEST(ShardedIndex, KAboveTheActiveKeysThrowsLikeOneIndex) {
  const Communicator world;
  mann::Rng rng(13);
  const Index d = 8, n = 60;
  const mann::MatrixF keys = normal_matrix<float>(d, n, rng);
  const mann::MatrixF queries = normal_matrix<float>(d, 3, rng);
  for (int layout = 0; layout < 2; ++layout) {
    // layout 0: 10 keys spread over all shards; layout 1: 10 keys in the first 10 slots (rank 0's
    // shard when it has them, the others empty)
    mann::ExactIndex<float> single(d);
    single.add_empty(n);
    auto sharded = sharded_exact<float>(world, n, d);
    for (Index i = 0; i < 10; ++i) {
      const Index s = layout == 0 ? i * 6 + 1 : i;
      single.set(s, keys.col(s));
      sharded.set(s, keys.col(s));
    }
    EXPECT_EQ(sharded.global_size(), 10);
    for (Index k : {Index{1}, Index{7}, Index{10}}) {
      mann::KnnResult<float> want, got;
      single.search(queries, k, want);
      sharded.search(queries, k, got);
      expect_identical(got, want, mann::detail::concat("layout ", layout, " k=", k));
    }
    mann::KnnResult<float> result;
    EXPECT_THROW(single.search(queries, 11, result), mann::ValueError);
    try {
      sharded.search(queries, 11, result);
      ADD_FAILURE() << "k = 11 with 10 keys: no exception";
    } catch (const mann::ValueError& e) {
      EXPECT_NE(std::string(e.what()).find("k is 11, expected in [1, 10]"), std::string::npos) << e.what();
    }
  }
  auto empty = sharded_exact<float>(world, n, d);
  mann::KnnResult<float> result;
  EXPECT_THROW(empty.search(queries, 1, result), mann::ValueError);
}

// LSH shards (16 tables of 12 bits, multi-probe, the same hyperplanes on every rank): every
// neighbour is a stored key with its exact score, in order, and the same on every rank. Uniform unit
// keys and queries are LSH's worst case; recall@10 against exact search must reach 0.75 while the
// shards together re-rank at most 15% of the keys per query. It cannot pass by chance: k keys at
// random would give k / n = 0.05%, a missing neighbour (slot −1) counts as a miss, and the re-ranking
// cap rules out scoring (nearly) every key.
TEST(ShardedIndex, LshShardsReturnTrueKeysWithGoodRecall) {
  const Communicator world;
  mann::Rng rng(14);
  const Index d = 32, n = 20000, k = 10, batch = 64;
  const mann::MatrixF keys = knn_test::unit_columns<float>(d, n, rng);
  const mann::MatrixF queries = knn_test::unit_columns<float>(d, batch, rng);
  mann::LshParams params;
  params.tables = 16;
  params.bits_per_table = 12;
  params.seed = 5;
  mann::ShardedIndex<float> lsh(world, n, std::make_unique<mann::LshIndex<float>>(d, params));
  auto exact = sharded_exact<float>(world, n, d);
  for (Index s = 0; s < n; ++s) {
    lsh.set(s, keys.col(s));
    exact.set(s, keys.col(s));
  }
  mann::KnnResult<float> approximate, truth;
  mann::ShardedKnnWorkspace<float> workspace;
  lsh.search(queries, k, approximate, workspace);
  exact.search(queries, k, truth);
  ASSERT_EQ(approximate.indices.rows(), k);
  ASSERT_EQ(approximate.indices.cols(), batch);
  std::int64_t checksum = 0;
  for (Index j = 0; j < batch; ++j) {
    for (Index i = 0; i < k; ++i) {
      const Index s = approximate.indices(i, j);
      checksum = checksum * 31 + s;
      if (s < 0) {
        EXPECT_EQ(approximate.scores(i, j), -std::numeric_limits<float>::infinity());
        continue;
      }
      ASSERT_LT(s, n);
      const double score = keys.col(s).cast<double>().dot(queries.col(j).cast<double>());
      EXPECT_NEAR(approximate.scores(i, j), score, 1e-5) << "query " << j << " rank " << i;
      if (i > 0) {
        ASSERT_GE(approximate.indices(i - 1, j), 0) << "a neighbour after a missing one";
        const bool ordered = approximate.scores(i - 1, j) > approximate.scores(i, j) ||
                             (approximate.scores(i - 1, j) == approximate.scores(i, j) && approximate.indices(i - 1, j) < s);
        EXPECT_TRUE(ordered) << "query " << j << " rank " << i;
      }
    }
  }
  EXPECT_TRUE(same_on_every_rank(world, checksum));
  const double recall = knn_test::recall_at_k(truth.indices, approximate.indices);
  std::int64_t reranked = workspace.local.reranked;
  world.allreduce_sum(&reranked, 1);
  const double fraction = static_cast<double>(reranked) / static_cast<double>(batch * n);
  if (world.is_root()) {
    std::printf("[ sharded LSH ] %d ranks: recall@10 = %.3f, re-ranking %.3f of the keys\n", world.size(), recall,
                fraction);
  }
  EXPECT_GE(recall, 0.75);
  EXPECT_LE(fraction, 0.15);
}

// set()/remove() called on every rank with the same arguments apply on the owner only; set_owned()/
// remove_owned() on the owner alone do the same and refuse on other ranks. After each change the
// search equals one ExactIndex changed the same way.
TEST(ShardedIndex, WritesGoToTheOwnerThenSearchMatchesOneIndex) {
  const Communicator world;
  mann::Rng rng(15);
  const Index d = 16, n = 301, k = 5;
  const mann::MatrixF keys = normal_matrix<float>(d, n, rng);
  mann::ExactIndex<float> single(d);
  single.add(keys);
  auto sharded = sharded_exact<float>(world, n, d);
  for (Index s = 0; s < n; ++s) EXPECT_EQ(sharded.set(s, keys.col(s)), sharded.owns(s));
  auto check = [&](const char* step) {
    mann::MatrixF queries = normal_matrix<float>(d, 4, rng);
    queries.col(1) = single.keys().col(n / 2);
    mann::KnnResult<float> want, got;
    single.search(queries, k, want);
    sharded.search(queries, k, got);
    expect_identical(got, want, step);
    EXPECT_EQ(sharded.global_size(), single.size()) << step;
  };
  check("all keys");
  for (Index s : {Index{0}, n / 3, n / 2, n - 1}) {  // replace, on every rank
    const mann::Vector<float> key = normal_matrix<float>(d, 1, rng);
    single.set(s, key);
    EXPECT_EQ(sharded.set(s, key), sharded.owns(s));
    if (sharded.owns(s)) {
      EXPECT_TRUE(sharded.local_index().key(s - sharded.first_slot()).isApprox(key));
    }
  }
  check("replaced");
  for (Index s : {Index{1}, n / 2 + 1, n - 2}) {  // remove, on every rank
    single.remove(s);
    EXPECT_EQ(sharded.remove(s), sharded.owns(s));
    EXPECT_FALSE(sharded.active(s));
  }
  check("removed");
  for (Index s : {Index{2}, n / 2, n - 3}) {  // the owner alone
    const mann::Vector<float> key = normal_matrix<float>(d, 1, rng);
    single.set(s, key);
    if (sharded.owns(s)) {
      sharded.set_owned(s, key);
      EXPECT_TRUE(sharded.active(s));
    } else {
      EXPECT_THROW(sharded.set_owned(s, key), mann::ValueError);
      EXPECT_THROW(sharded.remove_owned(s), mann::ValueError);
      EXPECT_FALSE(sharded.active(s));
    }
  }
  single.remove(n - 3);
  if (sharded.owns(n - 3)) sharded.remove_owned(n - 3);
  check("owner only");
  if (world.size() > 1) {  // the message names the owner
    const Index s = sharded.owns(0) ? n - 1 : 0;
    try {
      sharded.set_owned(s, keys.col(0));
      ADD_FAILURE() << "no exception";
    } catch (const mann::ValueError& e) {
      EXPECT_NE(std::string(e.what()).find(mann::detail::concat("belongs to rank ", sharded.owner(s))), std::string::npos)
          << e.what();
    }
  }
}

// One process's oldest slot: the largest score, ties by smaller slot; the `count` oldest in order.
std::vector<Index> oldest_in_one_process(const std::vector<double>& scores, Index count) {
  std::vector<Index> order;
  for (Index s = 0; s < static_cast<Index>(scores.size()); ++s)
    if (scores[static_cast<std::size_t>(s)] != -std::numeric_limits<double>::infinity()) order.push_back(s);
  std::stable_sort(order.begin(), order.end(), [&](Index a, Index b) {
    return scores[static_cast<std::size_t>(a)] > scores[static_cast<std::size_t>(b)];
  });
  if (static_cast<Index>(order.size()) > count) order.resize(static_cast<std::size_t>(count));
  return order;
}

template <class T>
std::vector<T> this_shard(const std::vector<T>& all, const mann::ShardedIndex<float>& index) {
  return std::vector<T>(all.begin() + index.first_slot(), all.begin() + index.first_slot() + index.local_slots());
}

TEST(ShardedIndex, OldestSlotEqualsOneProcessWithTies) {
  const Communicator world;
  mann::Rng rng(16);
  for (Index n : {1, 2, 5, 37, 200}) {
    auto index = sharded_exact<float>(world, n, 4);
    for (int trial = 0; trial < 20; ++trial) {
      // integer ages with many ties (as KeyValueMemory::ages()), and noisy scores with exclusions
      std::vector<std::int64_t> ages(static_cast<std::size_t>(n));
      std::vector<double> scores(static_cast<std::size_t>(n)), ages_as_double(static_cast<std::size_t>(n));
      for (std::size_t s = 0; s < ages.size(); ++s) {
        ages[s] = static_cast<std::int64_t>(rng.below(4));
        ages_as_double[s] = static_cast<double>(ages[s]);
        scores[s] = rng.below(5) == 0 ? -std::numeric_limits<double>::infinity()
                                      : static_cast<double>(rng.below(3)) + (rng.below(2) == 0 ? 0.0 : 0.5);
      }
      const auto expected_ages = oldest_in_one_process(ages_as_double, n);
      const auto expected_scores = oldest_in_one_process(scores, n);
      EXPECT_EQ(index.oldest_slot(this_shard(ages, index)), expected_ages.front()) << "n=" << n;
      EXPECT_EQ(index.oldest_slot(this_shard(scores, index)), expected_scores.empty() ? -1 : expected_scores.front())
          << "n=" << n;
      for (Index count : {Index{1}, Index{3}, n}) {
        if (count > n) continue;
        std::vector<Index> got;
        index.oldest_slots(this_shard(ages, index), count, got);
        EXPECT_EQ(got, oldest_in_one_process(ages_as_double, count)) << "n=" << n << " count=" << count;
        index.oldest_slots(this_shard(scores, index), count, got);
        EXPECT_EQ(got, oldest_in_one_process(scores, count)) << "n=" << n << " count=" << count;
      }
    }
    const std::vector<double> excluded(static_cast<std::size_t>(index.local_slots()),
                                       -std::numeric_limits<double>::infinity());
    EXPECT_EQ(index.oldest_slot(excluded), -1);
    std::vector<Index> none;
    index.oldest_slots(excluded, 1, none);
    EXPECT_TRUE(none.empty());
  }
}

// The slots KeyValueMemory's write rule picks (age_noise = 0, memory full) are those oldest_slots()
// predicts from the memory's ages split across the ranks: a batch of 3 misses writes the 3 oldest, in
// order, ties (slots written by one update) by smaller slot.
TEST(ShardedIndex, OldestSlotsPredictKeyValueMemoryWrites) {
  const Communicator world;
  mann::KeyValueMemoryOptions options;
  options.k = 1;
  options.age_noise = 0;
  const Index n = 12, d = 8;
  mann::KeyValueMemory<float> memory(n, d, options);
  auto index = sharded_exact<float>(world, n, d);
  mann::Rng rng(17);
  mann::KeyValueMemory<float>::Cache cache;
  std::int64_t value = 0;
  int predicted_batches = 0;
  for (int step = 0; step < 30; ++step) {
    const Index batch = 1 + step % 3;
    std::vector<std::int64_t> targets;
    for (Index j = 0; j < batch; ++j) targets.push_back(value++);  // new values: every write misses
    const bool full = memory.written() == n;
    std::vector<Index> predicted;
    if (full) {
      index.oldest_slots(this_shard(memory.ages(), index), batch, predicted);
      EXPECT_EQ(index.oldest_slot(this_shard(memory.ages(), index)), predicted.front());
    }
    memory.query(knn_test::unit_columns<float>(d, batch, rng), cache);
    memory.update(cache, targets);
    if (!full) continue;
    ++predicted_batches;
    ASSERT_EQ(static_cast<Index>(predicted.size()), batch);
    for (Index j = 0; j < batch; ++j) {
      EXPECT_EQ(memory.value(predicted[static_cast<std::size_t>(j)]), targets[static_cast<std::size_t>(j)])
          << "step " << step << " write " << j;
    }
  }
  EXPECT_GE(predicted_batches, 20);
}

// Bad input, the same on every rank, throws the library's exceptions on every rank, naming the
// argument, before any collective (or, where ranks differ, after one that every rank completes): no
// rank is left waiting, as the search at the end shows.
TEST(ShardedIndex, BadInputThrowsOnEveryRank) {
  const Communicator world;
  mann::Rng rng(18);
  const Index d = 6, n = 20;
  auto index = sharded_exact<float>(world, n, d);
  const mann::MatrixF keys = normal_matrix<float>(d, n, rng);
  for (Index s = 0; s < n; ++s) index.set(s, keys.col(s));
  mann::KnnResult<float> result;
  auto message = [](auto&& call) {
    try {
      call();
    } catch (const mann::Error& e) {
      return std::string(e.what());
    }
    return std::string("no exception");
  };
  auto contains = [](const std::string& text, const char* part) { return text.find(part) != std::string::npos; };

  const mann::MatrixF wrong_rows = normal_matrix<float>(d + 1, 2, rng);
  EXPECT_THROW(index.search(wrong_rows, 3, result), mann::ShapeError);
  EXPECT_PRED2(contains, message([&] { index.search(wrong_rows, 3, result); }), "queries has 7 rows");
  const mann::MatrixF queries = normal_matrix<float>(d, 2, rng);
  EXPECT_THROW(index.search(queries, 0, result), mann::ValueError);
  EXPECT_PRED2(contains, message([&] { index.search(queries, 0, result); }), "k is 0");
  EXPECT_THROW(index.search(queries, n + 1, result), mann::ValueError);
  mann::MatrixF nan_queries = queries;
  nan_queries(1, 1) = std::numeric_limits<float>::quiet_NaN();
  EXPECT_PRED2(contains, message([&] { index.search(nan_queries, 3, result); }), "queries(1, 1) is nan");

  EXPECT_THROW(index.set(-1, keys.col(0)), mann::ValueError);
  EXPECT_PRED2(contains, message([&] { index.set(n, keys.col(0)); }), "global_slot is 20");
  EXPECT_THROW(index.set(0, normal_matrix<float>(d + 1, 1, rng)), mann::ShapeError);
  mann::Vector<float> nan_key = keys.col(0);
  nan_key(2) = std::numeric_limits<float>::infinity();
  EXPECT_PRED2(contains, message([&] { index.set(3, nan_key); }), "key(2, 0) is inf");
  EXPECT_THROW(index.remove(n), mann::ValueError);
  EXPECT_THROW(index.owner(-1), mann::ValueError);
  EXPECT_THROW(index.owner(n), mann::ValueError);

  std::vector<std::int64_t> ages(static_cast<std::size_t>(index.local_slots() + 1), 0);  // wrong size everywhere
  EXPECT_PRED2(contains, message([&] { index.oldest_slot(ages); }), "scores.size()");
  ages.pop_back();
  std::vector<Index> oldest;
  EXPECT_PRED2(contains, message([&] { index.oldest_slots(ages, 0, oldest); }), "count is 0");
  // only the last rank passes a NaN: it throws its own message, the others name it
  const int culprit = world.size() - 1;
  std::vector<double> scores(static_cast<std::size_t>(index.local_slots()), 1.0);
  if (world.rank() == culprit && !scores.empty()) scores[0] = std::numeric_limits<double>::quiet_NaN();
  if (index.first_slot_of(culprit + 1) > index.first_slot_of(culprit)) {
    const std::string expected = world.rank() == culprit ? "scores[0] is nan" : mann::detail::concat("rank ", culprit);
    EXPECT_PRED2(contains, message([&] { index.oldest_slot(scores); }), expected.c_str());
    std::vector<Index> slots;
    EXPECT_PRED2(contains, message([&] { index.oldest_slots(scores, 2, slots); }), expected.c_str());
  }

  // Construction agrees on the settings: a rank with another global_slots or no index fails them all.
  if (world.size() > 1) {
    EXPECT_PRED2(contains, message([&] { sharded_exact<float>(world, n + world.rank(), d); }),
                 "global_slots differs between ranks");
    EXPECT_PRED2(contains, message([&] {
                   mann::ShardedIndex<float>(world, n,
                                             world.rank() == culprit ? nullptr : std::make_unique<mann::ExactIndex<float>>(d));
                 }),
                 world.rank() == culprit ? "local is null" : "got invalid arguments");
    mann::ExactParams other_blocks;
    other_blocks.block_bytes = world.rank() == culprit ? 4096 : other_blocks.block_bytes;
    EXPECT_PRED2(contains, message([&] { sharded_exact<float>(world, n, d, other_blocks); }),
                 "block_bytes differs between ranks");
    // k and the batch differ between ranks but the message sizes agree (k·B = 4): every rank refuses
    const bool odd = world.rank() % 2 == 1;
    const mann::MatrixF mixed = normal_matrix<float>(d, odd ? 1 : 2, rng);
    EXPECT_PRED2(contains, message([&] { index.search(mixed, odd ? 4 : 2, result); }),
                 "every rank must pass the same arguments");
  }
  EXPECT_THROW(mann::ShardedIndex<float>(world, -1, std::make_unique<mann::ExactIndex<float>>(d)), mann::ValueError);

  // every rank is still in step
  mann::ExactIndex<float> single(d);
  single.add(keys);
  mann::KnnResult<float> want;
  single.search(queries, 4, want);
  index.search(queries, 4, result);
  expect_identical(result, want, "after the errors");
}

}  // namespace
