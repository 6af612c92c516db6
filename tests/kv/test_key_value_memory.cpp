// Tests for mann/kv/key_value_memory.hpp: hand-computed query, loss and update cases, the
// finite-difference check of the query gradient, ages and the oldest-slot rule, LSH search, errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <string>

#include "knn/knn_test_support.hpp"
#include "mann/kv/key_value_memory.hpp"
#include "mann/train/grad_check.hpp"

namespace {

using mann::Index;
using Memory = mann::KeyValueMemory<double>;
using Value = Memory::Value;

mann::KeyValueMemoryOptions hand_options(Index k = 2) {
  mann::KeyValueMemoryOptions o;
  o.k = k;
  o.age_noise = 0;
  return o;
}

// Four unit keys in the plane, values 5 7 5 9, ages 3 1 5 0 (clock 5).
Memory hand_memory(mann::KeyValueMemoryOptions options = hand_options()) {
  Memory m(4, 2, options);
  mann::MatrixD keys(2, 4);
  keys << 1.0, 0.8, 0.0, -1.0,  //
      0.0, 0.6, 1.0, 0.0;
  m.restore(keys, {5, 7, 5, 9}, {3, 1, 5, 0});
  return m;
}

mann::MatrixD column(double a, double b) {
  mann::MatrixD x(2, 1);
  x << a, b;
  return x;
}

template <class E, class F>
void expect_message_of(F&& f, const std::string& text) {
  try {
    f();
    ADD_FAILURE() << "no throw: " << text;
  } catch (const E& e) {
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
  }
}

TEST(KeyValueMemory, QueryByHand) {
  const Memory m = hand_memory();
  EXPECT_EQ(m.clock(), 5);
  EXPECT_EQ(m.age(2), 5);
  Memory::Cache cache;
  m.query(column(3, 4), cache);  // q̂ = (0.6, 0.8): similarities 0.6 0.96 0.8 −0.6
  EXPECT_NEAR(cache.norms(0), 5.0, 1e-12);
  EXPECT_EQ(cache.neighbours(0, 0), 1);
  EXPECT_EQ(cache.neighbours(1, 0), 2);
  EXPECT_NEAR(cache.similarities(0, 0), 0.96, 1e-12);
  EXPECT_NEAR(cache.similarities(1, 0), 0.8, 1e-12);
  EXPECT_EQ(cache.predictions[0], 7);
  const double e = std::exp(40 * (0.8 - 0.96));
  EXPECT_NEAR(cache.softmax(0, 0), 1 / (1 + e), 1e-12);
  EXPECT_NEAR(cache.softmax(1, 0), e / (1 + e), 1e-12);
}

struct LossCase {
  const char* name;
  mann::MatrixD x;
  Value target;
  double alpha;
  mann::PositiveFallback fallback;
  bool subtract;
  double loss;
  Index positive, negative;
  std::vector<double> grad;  // dL/dx
};

TEST(KeyValueMemory, LossAndGradientByHand) {
  // q̂ = (0.6, 0.8), n = 5; for dL/dq̂ = g, dL/dx = (g − q̂ (q̂ · g)) / 5.
  auto dx = [](double g0, double g1) {
    const double along = 0.6 * g0 + 0.8 * g1;
    return std::vector<double>{(g0 - 0.6 * along) / 5, (g1 - 0.8 * along) / 5};
  };
  const auto recent = mann::PositiveFallback::most_recent, none = mann::PositiveFallback::none;
  const std::vector<LossCase> cases = {
      // positive first (0.96), negative second (0.8): 0.8 − 0.96 + 0.1 < 0
      {"positive first, margin met", column(3, 4), 7, 0.1, recent, false, 0.0, 1, 2, {0, 0}},
      {"positive first, margin violated", column(3, 4), 7, 0.3, recent, false, 0.8 - 0.96 + 0.3, 1, 2,
       dx(0.0 - 0.8, 1.0 - 0.6)},
      // V[n1] ≠ v: positive is the second neighbour
      {"positive second", column(3, 4), 5, 0.1, recent, false, 0.96 - 0.8 + 0.1, 2, 1, dx(0.8 - 0.0, 0.6 - 1.0)},
      {"authors' shifted loss", column(3, 4), 5, 0.1, recent, true, 0.96 - 0.8, 2, 1, dx(0.8, -0.4)},
      // no positive among the k: the most recent slot with v (slot 3, similarity −0.6)
      {"recent positive outside the top-k", column(3, 4), 9, 0.1, recent, false, 0.96 + 0.6 + 0.1, 3, 1,
       dx(0.8 + 1.0, 0.6 - 0.0)},
      {"no fallback: positive term 0", column(3, 4), 9, 0.1, none, false, 0.96 + 0.1, -1, 1, dx(0.8, 0.6)},
      {"value nowhere in memory", column(3, 4), 3, 0.1, recent, false, 0.96 + 0.1, -1, 1, dx(0.8, 0.6)},
  };
  for (const auto& c : cases) {
    auto options = hand_options();
    options.alpha = c.alpha;
    options.positive_fallback = c.fallback;
    options.subtract_margin = c.subtract;
    const Memory m = hand_memory(options);
    Memory::Cache cache;
    m.query(c.x, cache);
    const double loss = m.loss({c.target}, cache);
    EXPECT_NEAR(loss, c.loss, 1e-12) << c.name;
    EXPECT_EQ(cache.positive[0], c.positive) << c.name;
    EXPECT_EQ(cache.negative[0], c.negative) << c.name;
    mann::MatrixD grad = mann::MatrixD::Constant(2, 1, std::numeric_limits<double>::quiet_NaN());  // overwritten
    m.backward(cache, grad);
    EXPECT_NEAR(grad(0, 0), c.grad[0], 1e-12) << c.name;
    EXPECT_NEAR(grad(1, 0), c.grad[1], 1e-12) << c.name;
  }
}

TEST(KeyValueMemory, NoNegativeAmongTheNeighboursAndTiesByIndex) {
  Memory m(4, 2, hand_options());
  mann::MatrixD keys(2, 4);
  keys << 1.0, 0.8, 0.0, -1.0,  //
      0.0, 0.6, 1.0, 0.0;
  m.restore(keys, {5, 5, 5, 5}, {0, 0, 0, 0});
  Memory::Cache cache;
  m.query(column(0, -2), cache);  // q̂ = (0, −1): similarities 0 −0.6 −1 0, a tie of slots 0 and 3
  EXPECT_EQ(cache.neighbours(0, 0), 0);
  EXPECT_EQ(cache.neighbours(1, 0), 3);
  EXPECT_NEAR(m.loss({5}, cache), 0.1, 1e-12);  // [0 − 0 + 0.1]₊ with the negative term 0
  EXPECT_EQ(cache.negative[0], -1);
  mann::MatrixD grad;
  m.backward(cache, grad, 2.0);
  // dL/dq̂ = −K[0] = (−1, 0), scaled by 2, projected: q̂ · g = 0, so dx = g / 2
  EXPECT_NEAR(grad(0, 0), -1.0, 1e-12);
  EXPECT_NEAR(grad(1, 0), 0.0, 1e-12);
}

TEST(KeyValueMemory, UpdateByHand) {
  Memory m = hand_memory();
  Memory::Cache cache;
  // V[n1] = 7 = v: the key moves to the normalised average, its age becomes 0, others grow
  m.query(column(3, 4), cache);
  m.update(cache, {7});
  EXPECT_NEAR(m.keys()(0, 1), std::sqrt(0.5), 1e-12);
  EXPECT_NEAR(m.keys()(1, 1), std::sqrt(0.5), 1e-12);
  EXPECT_EQ(m.value(1), 7);
  EXPECT_EQ(m.clock(), 6);
  EXPECT_EQ(m.ages(), (std::vector<std::int64_t>{4, 0, 6, 1}));
  // V[n1] ≠ v: the oldest slot (2, age 6) gets (q̂, v)
  m.query(column(3, 4), cache);
  EXPECT_EQ(cache.neighbours(0, 0), 1);
  m.update(cache, {9});
  EXPECT_NEAR(m.keys()(0, 2), 0.6, 1e-12);
  EXPECT_NEAR(m.keys()(1, 2), 0.8, 1e-12);
  EXPECT_EQ(m.value(2), 9);
  EXPECT_EQ(m.ages(), (std::vector<std::int64_t>{5, 1, 0, 2}));
  EXPECT_EQ(m.most_recent_slot(9), 2);
  EXPECT_EQ(m.most_recent_slot(5), 0);  // slot 2 no longer holds 5
  // a batch is applied column by column: two misses take the two oldest slots in turn; the whole
  // batch is one tick of the clock, so both written slots get age 0 and the others grow by 1
  mann::MatrixD two(2, 2);
  two << -3, 0,  //
      0, -1;
  m.query(two, cache);
  m.update(cache, {11, 12});
  EXPECT_EQ(m.value(0), 11);  // age 5 → oldest
  EXPECT_EQ(m.value(3), 12);  // then slot 3 (age 2)
  EXPECT_EQ(m.clock(), 8);
  EXPECT_EQ(m.ages(), (std::vector<std::int64_t>{0, 2, 1, 0}));
  EXPECT_EQ(m.most_recent_slot(5), -1);
}

TEST(KeyValueMemory, OneUpdateIsOneTickOfTheAges) {
  // Kaiser et al.'s code adds 1 to every age once per update (batch of writes); written slots get 0.
  mann::Rng rng(12);
  Memory m(6, 3, hand_options(1));
  Memory::Cache cache;
  m.query(knn_test::unit_columns<double>(3, 3, rng), cache);
  m.update(cache, {1, 2, 3});
  EXPECT_EQ(m.clock(), 1);
  std::vector<std::int64_t> ages = m.ages();
  EXPECT_EQ(std::count(ages.begin(), ages.end(), 0), 3);  // the three written
  EXPECT_EQ(std::count(ages.begin(), ages.end(), 1), 3);  // the three empty: the clock
  m.query(knn_test::unit_columns<double>(3, 2, rng), cache);
  m.update(cache, {4, 5});
  EXPECT_EQ(m.clock(), 2);
  for (Value v = 1; v <= 5; ++v) EXPECT_EQ(m.age(m.most_recent_slot(v)), v <= 3 ? 1 : 0) << v;
  ages = m.ages();
  EXPECT_EQ(std::count(ages.begin(), ages.end(), 2), 1);  // the one still empty
  m.query(mann::MatrixD(3, 0), cache);
  m.update(cache, {});  // an empty batch writes nothing and does not tick
  EXPECT_EQ(m.clock(), 2);
}

TEST(KeyValueMemory, MissesOfOneBatchGoToDistinctSlots) {
  // Under age noise every slot of a young memory can win the oldest-slot draw, the ones the batch
  // has just written (age 0) too; they are skipped, so each miss takes a slot of its own.
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    mann::KeyValueMemoryOptions options;
    options.k = 1;
    options.age_noise = 8;
    options.seed = seed;
    Memory m(16, 4, options);
    mann::Rng rng(seed);
    Memory::Cache cache;
    std::vector<Value> first(16), second(16);
    for (Index j = 0; j < 16; ++j) {
      first[static_cast<std::size_t>(j)] = j;
      second[static_cast<std::size_t>(j)] = 100 + j;
    }
    m.query(knn_test::unit_columns<double>(4, 16, rng), cache);
    m.update(cache, first);  // fills the memory
    EXPECT_EQ(m.written(), 16);
    m.query(knn_test::unit_columns<double>(4, 16, rng), cache);
    m.update(cache, second);  // 16 misses, memory full, every age 0 or 1
    std::vector<Value> held = m.values();
    std::sort(held.begin(), held.end());
    EXPECT_EQ(held, second) << "seed " << seed;
    EXPECT_EQ(m.ages(), std::vector<std::int64_t>(16, 0));
  }
  // more misses than slots: the later ones overwrite this batch's writes, oldest first
  Memory small(4, 2, hand_options(1));
  mann::Rng rng(7);
  Memory::Cache cache;
  small.query(knn_test::unit_columns<double>(2, 6, rng), cache);
  small.update(cache, {1, 2, 3, 4, 5, 6});
  EXPECT_EQ(small.written(), 4);
  EXPECT_EQ(small.clock(), 1);
}

TEST(KeyValueMemory, LossUpdateAndBackwardRefuseACacheOfAnotherMemoryOrAStaleOne) {
  Memory m = hand_memory();
  Memory::Cache cache;
  // never filled by query()
  EXPECT_THROW(m.loss({}, cache), mann::ShapeError);
  EXPECT_THROW(m.update(cache, {}), mann::ShapeError);
  // another key size, another k
  Memory wide(4, 3, hand_options());
  wide.query(mann::MatrixD::Ones(3, 1), cache);
  expect_message_of<mann::ShapeError>([&] { m.loss({5}, cache); },
                                      "mann::KeyValueMemory::loss: cache.normalised is 3 x 1, expected 2 x any");
  EXPECT_THROW(m.update(cache, {5}), mann::ShapeError);
  Memory more_neighbours(4, 2, hand_options(3));
  more_neighbours.query(column(1, 0), cache);
  expect_message_of<mann::ShapeError>([&] { m.update(cache, {5}); },
                                      "mann::KeyValueMemory::update: cache.neighbours is 3 x 1, expected 2 x 1");
  EXPECT_EQ(m.clock(), 5);
  // same shapes and the same version, but slots of a larger memory
  Memory large(40, 2, hand_options());
  mann::MatrixD keys = mann::MatrixD::Zero(2, 40);
  keys.row(0).setConstant(1.0);
  keys(0, 30) = 0.0;
  keys(1, 30) = 1.0;
  large.restore(keys, std::vector<Value>(40, 3), std::vector<std::int64_t>(40, 0));
  ASSERT_EQ(large.version(), m.version());
  large.query(column(0, 1), cache);
  ASSERT_EQ(cache.neighbours(0, 0), 30);
  expect_message_of<mann::ValueError>([&] { m.loss({3}, cache); },
                                      "cache.neighbours(0, 0) is 30, expected -1 or a slot in [0, 4)");
  EXPECT_THROW(m.update(cache, {3}), mann::ValueError);
  large.loss({3}, cache);  // backward through the softmax would read m's key of slot 30
  mann::MatrixD dqueries;
  expect_message_of<mann::ValueError>([&] { m.backward(cache, mann::MatrixD::Zero(2, 1), dqueries); },
                                      "cache.neighbours(0, 0) is 30, expected -1 or a slot in [0, 4)");
  EXPECT_EQ(m.values(), (std::vector<Value>{5, 7, 5, 9}));
  // a cache made before the last write
  m.query(column(3, 4), cache);
  m.loss({7}, cache);
  m.update(cache, {7});
  expect_message_of<mann::ValueError>([&] { m.loss({7}, cache); }, "(call loss before update)");
  expect_message_of<mann::ValueError>([&] { m.update(cache, {7}); }, "(query again after an update)");
  EXPECT_EQ(m.clock(), 6);
}

TEST(KeyValueMemory, UpdateFromPredictionVersusFreshSearch) {
  // the same new (query, value) twice in one batch: the authors' rule writes it twice (both
  // predictions were made before the writes); the fresh search averages into the first write
  for (bool from_prediction : {true, false}) {
    auto options = hand_options();
    options.update_from_prediction = from_prediction;
    Memory m = hand_memory(options);
    mann::MatrixD x(2, 2);
    x << 1, 1,  //
        -1, -1;
    Memory::Cache cache;
    m.query(x, cache);
    m.update(cache, {42, 42});
    Index holding = 0;
    for (Index s = 0; s < 4; ++s) holding += m.value(s) == 42 ? 1 : 0;
    EXPECT_EQ(holding, from_prediction ? 2 : 1);
  }
}

TEST(KeyValueMemory, EmptySlotsFillFirstThenLeastRecentlyWritten) {
  mann::Rng rng(3);
  Memory m(5, 3, hand_options(3));
  Memory::Cache cache;
  EXPECT_EQ(m.written(), 0);
  m.query(knn_test::unit_columns<double>(3, 1, rng), cache);
  EXPECT_EQ(cache.predictions[0], Memory::kEmpty);
  EXPECT_EQ(cache.neighbours(0, 0), -1);
  EXPECT_EQ(cache.softmax(0, 0), 0.0);
  std::vector<Index> order;
  for (Value v = 0; v < 5; ++v) {
    m.query(knn_test::unit_columns<double>(3, 1, rng), cache);
    // fewer than k written: the found ones first, then −1 with similarity −∞ and weight 0
    const Index found = std::min<Index>(v, 3);
    for (Index i = 0; i < 3; ++i) {
      EXPECT_EQ(cache.neighbours(i, 0) >= 0, i < found);
      if (i >= found) {
        EXPECT_EQ(cache.similarities(i, 0), -std::numeric_limits<double>::infinity());
      }
    }
    if (found > 0) {
      EXPECT_NEAR(cache.softmax.col(0).sum(), 1.0, 1e-12);
    }
    m.loss({v}, cache);  // fine with missing neighbours
    m.update(cache, {v});
    EXPECT_EQ(m.written(), v + 1);
    order.push_back(m.most_recent_slot(v));
  }
  EXPECT_EQ(std::set<Index>(order.begin(), order.end()).size(), 5u);
  m.query(knn_test::unit_columns<double>(3, 1, rng), cache);
  m.update(cache, {99});
  EXPECT_EQ(m.most_recent_slot(99), order[0]);  // the least recently written
}

TEST(KeyValueMemory, RandomChoiceAmongTiedOldestIsSeededAndSpread) {
  std::set<Index> chosen;
  std::vector<Index> first_run;
  for (std::uint64_t seed = 1; seed <= 60; ++seed) {
    auto options = hand_options(1);
    options.seed = seed;
    Memory m(5, 2, options);
    Memory::Cache cache;
    m.query(column(1, 0), cache);
    m.update(cache, {1});
    chosen.insert(m.most_recent_slot(1));
    Memory again(5, 2, options);
    again.query(column(1, 0), cache);
    again.update(cache, {1});
    EXPECT_EQ(again.most_recent_slot(1), m.most_recent_slot(1));  // same seed, same choice
  }
  EXPECT_EQ(chosen.size(), 5u);
}

TEST(KeyValueMemory, AgeNoisePicksOnlyAmongNearlyOldest) {
  // ages 0 … 99 (slot s has age s): with noise ±8 only slots of age ≥ 99 − 16 can win
  std::set<Index> chosen;
  for (std::uint64_t seed = 1; seed <= 200; ++seed) {
    mann::KeyValueMemoryOptions options;
    options.k = 1;
    options.age_noise = 8;
    options.seed = seed;
    Memory m(100, 2, options);
    mann::MatrixD keys(2, 100);
    std::vector<Value> values(100);
    std::vector<std::int64_t> ages(100);
    for (Index s = 0; s < 100; ++s) {
      keys(0, s) = std::cos(0.01 * double(s));
      keys(1, s) = std::sin(0.01 * double(s));
      values[static_cast<std::size_t>(s)] = s;
      ages[static_cast<std::size_t>(s)] = s;
    }
    m.restore(keys, values, ages);
    Memory::Cache cache;
    m.query(column(1, 0), cache);
    m.update(cache, {1000});
    const Index slot = m.most_recent_slot(1000);
    EXPECT_GE(slot, 83);
    chosen.insert(slot);
  }
  EXPECT_GT(chosen.size(), 5u);
}

// f(x) = scale · Σ loss + ⟨G, softmax⟩ in double, against backward(); the neighbour lists must
// not change within the stencil.
TEST(KeyValueMemory, QueryGradientMatchesFiniteDifferences) {
  mann::Rng rng(4);
  const Index n = 60, d = 8, b = 6, k = 5;
  mann::KeyValueMemoryOptions options;
  options.k = k;
  options.alpha = 0.5;
  options.inverse_temperature = 4;  // a smooth softmax keeps the finite differences accurate
  for (const auto fallback : {mann::PositiveFallback::most_recent, mann::PositiveFallback::none}) {
    options.positive_fallback = fallback;
    Memory m(n, d, options);
    std::vector<Value> values(n);
    for (auto& v : values) v = static_cast<Value>(rng.below(4));
    std::vector<std::int64_t> ages(n);
    for (Index s = 0; s < n; ++s) ages[static_cast<std::size_t>(s)] = s;
    m.restore(knn_test::unit_columns<double>(d, n, rng), values, ages);
    mann::MatrixD x = 3.0 * knn_test::unit_columns<double>(d, b, rng);
    x.col(1) *= 0.2;
    const std::vector<Value> targets = {0, 1, 2, 3, 4, 1};  // 4: in no slot
    mann::MatrixD G(k, b);
    for (Index i = 0; i < G.size(); ++i) G.data()[i] = rng.normal();
    const double scale = 0.7;

    Memory::Cache cache;
    auto f = [&](bool with_softmax) {
      m.query(x, cache);
      double value = scale * m.loss(targets, cache);
      if (with_softmax) value += (G.array() * cache.softmax.array()).sum();
      return value;
    };
    f(true);
    const mann::IndexMatrix neighbours = cache.neighbours;
    const std::vector<Index> positive = cache.positive, negative = cache.negative;
    Index active = 0;
    for (auto a : cache.margin_active) active += a;
    EXPECT_GE(active, 2);
    for (bool with_softmax : {false, true}) {
      m.query(x, cache);
      m.loss(targets, cache);
      mann::MatrixD analytic;
      if (with_softmax)
        m.backward(cache, G, analytic, scale);
      else
        m.backward(cache, analytic, scale);
      mann::GradCheckResult result;
      mann::grad_check_tensor([&] { return f(with_softmax); }, x, analytic, "x", result);
      EXPECT_LT(result.max_relative_error, 1e-6) << result.worst << " analytic " << result.analytic << " numeric "
                                                 << result.numeric << " softmax " << with_softmax;
      EXPECT_EQ(result.entries_checked, d * b);
    }
    // the stencil did not cross a change of neighbours
    for (Index i = 0; i < x.size(); ++i) {
      for (double h : {-2e-4, 2e-4}) {
        mann::MatrixD moved = x;
        moved.data()[i] += h;
        m.query(moved, cache);
        m.loss(targets, cache);
        EXPECT_EQ(cache.neighbours, neighbours);
        EXPECT_EQ(cache.positive, positive);
        EXPECT_EQ(cache.negative, negative);
      }
    }
  }
}

TEST(KeyValueMemory, OneShotRecallAfterASingleWrite) {
  mann::Rng rng(5);
  for (auto method : {mann::KnnMethod::exact, mann::KnnMethod::lsh}) {
    mann::KeyValueMemoryOptions options;
    options.k = 8;
    options.method = method;
    mann::KeyValueMemory<float> m(500, 32, options);
    mann::KeyValueMemory<float>::Cache cache;
    const mann::MatrixF stored = knn_test::unit_columns<float>(32, 300, rng);
    std::vector<Value> labels(300);
    for (Index j = 0; j < 300; ++j) labels[static_cast<std::size_t>(j)] = j;
    m.query(stored, cache);
    m.update(cache, labels);  // 300 distinct values, each seen once
    EXPECT_EQ(m.written(), 300);
    mann::MatrixF noisy = stored;
    for (Index i = 0; i < noisy.size(); ++i) noisy.data()[i] += static_cast<float>(0.02 * rng.normal());
    m.query(noisy, cache);
    Index correct = 0;
    for (Index j = 0; j < 300; ++j) correct += cache.predictions[static_cast<std::size_t>(j)] == j ? 1 : 0;
    EXPECT_GE(correct, method == mann::KnnMethod::exact ? 300 : 285) << static_cast<int>(method);
  }
}

TEST(KeyValueMemory, LshMemoryKeepsItsIndexInStepWithUpdates) {
  mann::Rng rng(6);
  mann::KeyValueMemoryOptions options;
  options.k = 4;
  options.method = mann::KnnMethod::lsh;
  options.lsh_search.probe = mann::LshProbe::hamming_scan;
  options.lsh_search.scan_candidates = 1000;  // every key: the search is exact
  mann::KeyValueMemory<float> lsh(200, 16, options);
  options.method = mann::KnnMethod::exact;
  mann::KeyValueMemory<float> exact(200, 16, options);
  mann::KeyValueMemory<float>::Cache a, b;
  for (int step = 0; step < 40; ++step) {
    const mann::MatrixF x = knn_test::clustered_columns<float>(16, 16, 5, 0.3, rng);
    std::vector<Value> labels(16);
    for (auto& l : labels) l = static_cast<Value>(rng.below(12));
    lsh.query(x, a);
    exact.query(x, b);
    ASSERT_EQ(a.neighbours, b.neighbours) << step;
    EXPECT_NEAR(lsh.loss(labels, a), exact.loss(labels, b), 1e-5);
    lsh.update(a, labels);
    exact.update(b, labels);
    ASSERT_EQ(lsh.values(), exact.values());
  }
}

template <class F>
void expect_message(F&& f, const std::string& text) {
  try {
    f();
    FAIL() << "no throw: " << text;
  } catch (const mann::Error& e) {
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
  }
}

TEST(KeyValueMemory, ErrorsAtTheApiBoundary) {
  mann::KeyValueMemoryOptions options;
  options.k = 300;
  EXPECT_THROW(mann::KeyValueMemory<float>(256, 128, options), mann::ValueError);  // k > N
  expect_message([&] { mann::KeyValueMemory<float>(256, 128, options); },
                 "mann::KeyValueMemory: options.k is 300, expected in [1, 256] (the memory size)");
  options.k = 0;
  EXPECT_THROW(mann::KeyValueMemory<float>(256, 128, options), mann::ValueError);
  options.k = 4;
  EXPECT_THROW(mann::KeyValueMemory<float>(0, 128, options), mann::ValueError);
  options.inverse_temperature = 0;
  EXPECT_THROW(mann::KeyValueMemory<float>(16, 128, options), mann::ValueError);
  options.inverse_temperature = 40;
  mann::KeyValueMemory<float> m(16, 128, options);
  mann::KeyValueMemory<float>::Cache cache;
  EXPECT_THROW(m.query(mann::MatrixF::Ones(64, 2), cache), mann::ShapeError);
  expect_message([&] { m.query(mann::MatrixF::Ones(64, 2), cache); },
                 "mann::KeyValueMemory::query: query has 64 rows, memory keys have 128");
  mann::MatrixF bad = mann::MatrixF::Ones(128, 2);
  bad(5, 1) = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(m.query(bad, cache), mann::ValueError);
  bad(5, 1) = std::numeric_limits<float>::infinity();
  EXPECT_THROW(m.query(bad, cache), mann::ValueError);
  m.query(mann::MatrixF::Ones(128, 2), cache);
  mann::MatrixF grad;
  EXPECT_THROW(m.backward(cache, grad), mann::ValueError);  // loss() first
  EXPECT_THROW(m.loss({1}, cache), mann::ValueError);
  expect_message([&] { m.loss({1}, cache); }, "mann::KeyValueMemory::loss: targets.size() is 1, expected 2");
  EXPECT_THROW(m.loss({1, -3}, cache), mann::ValueError);
  EXPECT_THROW(m.update(cache, {1, -3}), mann::ValueError);
  EXPECT_EQ(m.written(), 0);
  m.loss({1, 2}, cache);
  m.update(cache, {1, 2});
  EXPECT_THROW(m.backward(cache, mann::MatrixF::Zero(4, 2), grad), mann::ValueError);  // keys changed
  mann::MatrixF keys = mann::MatrixF::Zero(128, 16);
  keys(0, 0) = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(m.restore(keys, std::vector<Value>(16, 1), std::vector<std::int64_t>(16, 0)), mann::ValueError);
  EXPECT_THROW(m.restore(mann::MatrixF::Zero(128, 15), std::vector<Value>(16, 1), std::vector<std::int64_t>(16, 0)),
               mann::ShapeError);
  EXPECT_EQ(m.written(), 2);                                // unchanged by the failed restores
  EXPECT_THROW(m.set_search_params({}), mann::ValueError);  // exact memory
}

}  // namespace
