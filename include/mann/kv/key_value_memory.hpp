// mann/kv/key_value_memory.hpp: the life-long key-value memory module of Kaiser et al. 2017 (§2,
// SPEC §2): a query through k-nearest-neighbour search, the margin loss with its hand-written
// gradient into the (un-normalised) query, and the write rule with ages.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "mann/core/error.hpp"
#include "mann/core/random.hpp"
#include "mann/core/types.hpp"
#include "mann/knn/exact.hpp"
#include "mann/knn/lsh.hpp"

namespace mann {

/// Which nearest-neighbour search a KeyValueMemory uses.
enum class KnnMethod { exact, lsh };

/// Where the loss finds its positive neighbour when none of the k neighbours holds the target.
enum class PositiveFallback {
  most_recent,  ///< the slot most recently written with the target value (authors' code; the paper
                ///< says "any key in memory with value v"); none in memory: the positive term is 0
  none,         ///< the positive term is 0 (pos = 0, as the authors' code without its recent slot)
};

/// Options of a KeyValueMemory. Defaults: the paper's k = 256, α = 0.1, t = 40; where the paper
/// is silent, the authors' released code (SPEC §2).
struct KeyValueMemoryOptions {
  Index k = 256;                    ///< neighbours per query
  double alpha = 0.1;               ///< margin α of the loss
  double inverse_temperature = 40;  ///< t of softmax(t · d_1 … t · d_k)
  KnnMethod method = KnnMethod::exact;
  ExactParams exact;             ///< used when method == exact
  std::optional<LshParams> lsh;  ///< used when method == lsh; unset: LshParams::for_size(memory size)
  LshSearchParams lsh_search;    ///< used when method == lsh
  /// Authors' code, "recent correct slot added to the candidates in training".
  PositiveFallback positive_fallback = PositiveFallback::most_recent;
  /// Authors' code, "predict before update": update() uses the nearest neighbour found by query(),
  /// before any of the batch's writes. false: update() searches the current memory again for each
  /// column, so a batch behaves like the same queries one at a time.
  bool update_from_prediction = true;
  /// Authors' code: the oldest slot is argmax_i A[i] + r_i with r_i uniform in ±age_noise (8 there),
  /// ages counted in update() calls (batches). 0: the oldest exactly: uniformly at random among the
  /// never-written slots if any, else the least recently written (among the slots written by one
  /// update(), the smallest slot id).
  double age_noise = 8;
  /// Authors' code reports relu(neg − pos + α) − α; the gradient is the same.
  bool subtract_margin = false;
  std::uint64_t seed = 1;  ///< random choice among the oldest slots
};

/// The memory M = (K, V, A): `memory_size` slots of a unit key (key_size), an integer value and an
/// age. Keys are stored d × memory_size, one per column, in the search index.
///
/// Ages count update() calls, as the authors' code does (every age grows by 1 once per batch of
/// writes): the slots one update() writes get age 0, all others grow by 1. Slots written by the
/// same update() share their age; among them the smaller slot id counts as older (restore() keeps
/// that order too).
///
/// A slot that was never written is empty: value kEmpty, zero key, never returned by a query, and
/// older than every written slot (so the first memory_size distinct writes fill the memory).
/// Until k slots are written a query returns fewer than k neighbours: the rest of its cache column
/// is slot −1, similarity −∞, softmax weight 0.
///
/// Use per training step: query(x, cache) → predictions, softmax; loss(targets, cache) → margin
/// loss; backward(cache, dx) → dL/dx; update(cache, targets) → the write rule. loss() and update()
/// need a cache filled by query() on this memory since its last write (one update per query).
///
/// Thread safety: query(), loss() and backward() are const and may run concurrently from several
/// threads, each with its own Cache, while nothing writes. update(), clear(), restore() and
/// set_search_params() write and must not run concurrently with anything.
template <class Scalar = float>
class KeyValueMemory {
 public:
  using Mat = Matrix<Scalar>;
  using Vec = Vector<Scalar>;
  using ConstRef = Eigen::Ref<const Mat>;
  using Value = std::int64_t;
  static constexpr Value kEmpty = -1;

  /// What one query() leaves for loss(), backward() and update(). Reusing a cache makes queries
  /// allocation-free after the first one of the largest batch.
  struct Cache {
    // query()
    Mat normalised;                       ///< q̂ = x / √(‖x‖² + ε), key_size × B
    Vec norms;                            ///< √(‖x‖² + ε), B
    IndexMatrix neighbours;               ///< k × B slots n_1 … n_k, best first; −1 past the found ones
    Mat similarities;                     ///< k × B, d_i = q̂ · K[n_i]; −∞ for slot −1
    Mat softmax;                          ///< k × B, softmax(t · d) over the found ones; 0 for slot −1
    std::vector<Value> neighbour_values;  ///< k × B column-major, V[n_i] at query time
    std::vector<Value> predictions;       ///< B, V[n_1] (kEmpty when the memory is empty)
    std::uint64_t version = 0;            ///< the memory's version at query time
    // loss()
    std::vector<Index> positive, negative;         ///< B slots of the positive / negative neighbour, or −1
    Vec positive_similarity, negative_similarity;  ///< B, q̂ · K[n_p], q̂ · K[n_b] (0 when absent)
    Vec losses;                                    ///< B, per-column loss
    std::vector<std::uint8_t> margin_active;       ///< B, neg − pos + α > 0
    Mat positive_keys, negative_keys;              ///< key_size × B copies (0 when absent)
    bool has_loss = false;
    // search scratch
    KnnResult<Scalar> result;
    KnnWorkspace<Scalar> workspace;
    Mat single_query;  ///< update() with update_from_prediction = false
  };

  /// \throws ValueError for memory_size or key_size < 1, k outside [1, memory_size], α < 0,
  /// t ≤ 0, age_noise < 0, or invalid search parameters.
  KeyValueMemory(Index memory_size, Index key_size, KeyValueMemoryOptions options = {})
      : options_(std::move(options)), rng_(options_.seed) {
    const char* where = "mann::KeyValueMemory";
    check_value(memory_size >= 1 && memory_size <= KnnIndex<Scalar>::kMaxSlots, where, "memory_size", memory_size,
                "in [1, 2^31 - 1]");
    check_value(key_size >= 1, where, "key_size", key_size, ">= 1");
    check_value(options_.k >= 1 && options_.k <= memory_size, where, "options.k", options_.k,
                detail::concat("in [1, ", memory_size, "] (the memory size)").c_str());
    check_value(options_.alpha >= 0 && std::isfinite(options_.alpha), where, "options.alpha", options_.alpha, ">= 0");
    check_value(options_.inverse_temperature > 0 && std::isfinite(options_.inverse_temperature), where,
                "options.inverse_temperature", options_.inverse_temperature, "> 0");
    check_value(options_.age_noise >= 0 && std::isfinite(options_.age_noise), where, "options.age_noise",
                options_.age_noise, ">= 0");
    if (options_.method == KnnMethod::exact) {
      index_ = std::make_unique<ExactIndex<Scalar>>(key_size, options_.exact);
    } else {
      if (!options_.lsh) options_.lsh = LshParams::for_size(memory_size);
      index_ = std::make_unique<LshIndex<Scalar>>(key_size, *options_.lsh, options_.lsh_search);
    }
    index_->add_empty(memory_size);
    values_.assign(static_cast<std::size_t>(memory_size), kEmpty);
    stamps_.assign(static_cast<std::size_t>(memory_size), 0);
    lru_prev_.assign(static_cast<std::size_t>(memory_size), -1);
    lru_next_.assign(static_cast<std::size_t>(memory_size), -1);
    value_prev_.assign(static_cast<std::size_t>(memory_size), -1);
    value_next_.assign(static_cast<std::size_t>(memory_size), -1);
    pool_position_.assign(static_cast<std::size_t>(memory_size), -1);
    pool_.reserve(static_cast<std::size_t>(memory_size));
    new_key_.resize(key_size);
    reset_structures();
  }

  KeyValueMemory(const KeyValueMemory&) = delete;
  KeyValueMemory& operator=(const KeyValueMemory&) = delete;
  KeyValueMemory(KeyValueMemory&&) = default;
  KeyValueMemory& operator=(KeyValueMemory&&) = default;

  Index memory_size() const { return static_cast<Index>(values_.size()); }
  Index key_size() const { return index_->dimension(); }
  Index k() const { return options_.k; }
  const KeyValueMemoryOptions& options() const { return options_; }
  /// Number of slots written at least once.
  Index written() const { return index_->size(); }
  /// Number of update() calls of a non-empty batch so far (each is one tick of the ages).
  std::int64_t clock() const { return clock_; }
  /// Increases with every write; a cache remembers the version it was made with.
  std::uint64_t version() const { return version_; }

  /// Keys, key_size × memory_size, one per column (empty slots are zero).
  auto keys() const { return index_->keys(); }
  Value value(Index slot) const { return values_[static_cast<std::size_t>(slot)]; }
  const std::vector<Value>& values() const { return values_; }
  /// A[slot]: update() calls since the one that last wrote the slot (the clock for a never-written
  /// slot).
  std::int64_t age(Index slot) const { return clock_ - stamps_[static_cast<std::size_t>(slot)]; }
  std::vector<std::int64_t> ages() const {
    std::vector<std::int64_t> a(values_.size());
    for (std::size_t i = 0; i < a.size(); ++i) a[i] = clock_ - stamps_[i];
    return a;
  }
  /// The slot most recently written with value v (of those one update() wrote, the largest id), or −1.
  Index most_recent_slot(Value v) const {
    const auto it = value_lists_.find(v);
    return it == value_lists_.end() ? -1 : it->second.newest;
  }
  const KnnIndex<Scalar>& index() const { return *index_; }

  /// Changes the LSH search parameters (a write). \throws ValueError unless method == lsh.
  void set_search_params(const LshSearchParams& search) {
    auto* lsh = dynamic_cast<LshIndex<Scalar>*>(index_.get());
    check_value(lsh != nullptr, "mann::KeyValueMemory::set_search_params", "options.method", "exact", "lsh");
    lsh->set_search_params(search);
    options_.lsh_search = search;
  }

  // ----------------------------------------------------------------------------------- forward

  /// Forward: normalises each column of `queries` (key_size × B, un-normalised), finds its k
  /// nearest keys and fills `cache`: predictions V[n_1], similarities d_i = q̂ · K[n_i] and
  /// softmax(t · d) (§2). \throws ShapeError if queries has not key_size rows; ValueError on NaN/Inf.
  void query(const ConstRef& queries, Cache& cache) const {
    const char* where = "mann::KeyValueMemory::query";
    if (queries.rows() != key_size()) {
      throw ShapeError(detail::concat(where, ": query has ", queries.rows(), " rows, memory keys have ", key_size()));
    }
    if (!queries.allFinite()) check_finite(queries, where, "queries");
    const Index batch = queries.cols(), k = options_.k;
    // NOTE: ε inside the square root, so a zero query gives q̂ = 0 rather than NaN.
    cache.norms.resize(batch);
    cache.normalised.resize(key_size(), batch);
    for (Index j = 0; j < batch; ++j) {
      cache.norms(j) = std::sqrt(queries.col(j).squaredNorm() + epsilon());
      cache.normalised.col(j) = queries.col(j) / cache.norms(j);
    }
    cache.neighbours.resize(k, batch);
    cache.similarities.resize(k, batch);
    cache.softmax.resize(k, batch);
    cache.neighbour_values.resize(static_cast<std::size_t>(k * batch));
    cache.predictions.resize(static_cast<std::size_t>(batch));
    cache.version = version_;
    cache.has_loss = false;
    const Index found = std::min(k, index_->size());
    if (found > 0 && batch > 0) index_->search(cache.normalised, found, cache.result, cache.workspace);
    const Scalar t = static_cast<Scalar>(options_.inverse_temperature);
    for (Index j = 0; j < batch; ++j) {
      Index count = 0;
      for (Index i = 0; i < found; ++i) {
        const Index slot = cache.result.indices(i, j);
        if (slot < 0) break;
        cache.neighbours(i, j) = slot;
        cache.similarities(i, j) = cache.result.scores(i, j);
        cache.neighbour_values[static_cast<std::size_t>(j * k + i)] = values_[static_cast<std::size_t>(slot)];
        ++count;
      }
      for (Index i = count; i < k; ++i) {
        cache.neighbours(i, j) = -1;
        cache.similarities(i, j) = -std::numeric_limits<Scalar>::infinity();
        cache.neighbour_values[static_cast<std::size_t>(j * k + i)] = kEmpty;
        cache.softmax(i, j) = Scalar(0);
      }
      cache.predictions[static_cast<std::size_t>(j)] =
          count > 0 ? cache.neighbour_values[static_cast<std::size_t>(j * k)] : kEmpty;
      if (count > 0) {  // NOTE: d_1 is the largest, so every exponent is ≤ 0
        auto top = cache.softmax.col(j).head(count);
        top = (t * (cache.similarities.col(j).head(count).array() - cache.similarities(0, j))).exp().matrix();
        top /= top.sum();
      }
    }
  }

  /// The memory loss of §2 for the cached queries with true values `targets` (B, each ≥ 0):
  /// loss_j = [q̂ · K[n_b] − q̂ · K[n_p] + α]₊, n_p the first neighbour holding the target
  /// (positive), n_b the first holding another value (negative). No positive among the k: see
  /// PositiveFallback; no negative: the negative term is 0. Returns Σ_j loss_j and fills the cache.
  /// \throws ShapeError if the cache was not filled by query() on a memory of this key_size and k;
  /// ValueError if the memory was written since that query, for a neighbour slot out of range, if
  /// targets does not have one entry per cached query, or for a negative target.
  Scalar loss(const std::vector<Value>& targets, Cache& cache) const {
    const char* where = "mann::KeyValueMemory::loss";
    check_cache(cache, where, "call loss before update");
    const Index batch = cache.normalised.cols(), k = options_.k;
    check_targets(targets, batch, where);
    cache.positive.resize(static_cast<std::size_t>(batch));
    cache.negative.resize(static_cast<std::size_t>(batch));
    cache.positive_similarity.resize(batch);
    cache.negative_similarity.resize(batch);
    cache.losses.resize(batch);
    cache.margin_active.resize(static_cast<std::size_t>(batch));
    cache.positive_keys.resize(key_size(), batch);
    cache.negative_keys.resize(key_size(), batch);
    const Scalar alpha = static_cast<Scalar>(options_.alpha);
    Scalar total = 0;
    for (Index j = 0; j < batch; ++j) {
      const Value v = targets[static_cast<std::size_t>(j)];
      Index p = -1, b = -1;
      for (Index i = 0; i < k && (p < 0 || b < 0); ++i) {
        if (cache.neighbours(i, j) < 0) break;
        const Value value = cache.neighbour_values[static_cast<std::size_t>(j * k + i)];
        if (value == v && p < 0) p = i;
        if (value != v && b < 0) b = i;
      }
      Index positive = p >= 0 ? cache.neighbours(p, j) : -1;
      Scalar positive_similarity = p >= 0 ? cache.similarities(p, j) : Scalar(0);
      if (p < 0 && options_.positive_fallback == PositiveFallback::most_recent) {
        positive = most_recent_slot(v);
        if (positive >= 0) positive_similarity = index_->key(positive).dot(cache.normalised.col(j));
      }
      const Index negative = b >= 0 ? cache.neighbours(b, j) : -1;
      const Scalar negative_similarity = b >= 0 ? cache.similarities(b, j) : Scalar(0);
      const Scalar margin = negative_similarity - positive_similarity + alpha;
      cache.positive[static_cast<std::size_t>(j)] = positive;
      cache.negative[static_cast<std::size_t>(j)] = negative;
      cache.positive_similarity(j) = positive_similarity;
      cache.negative_similarity(j) = negative_similarity;
      cache.margin_active[static_cast<std::size_t>(j)] = margin > 0 ? 1 : 0;
      cache.losses(j) = std::max(margin, Scalar(0)) - (options_.subtract_margin ? alpha : Scalar(0));
      if (positive >= 0)
        cache.positive_keys.col(j) = index_->key(positive);
      else
        cache.positive_keys.col(j).setZero();
      if (negative >= 0)
        cache.negative_keys.col(j) = index_->key(negative);
      else
        cache.negative_keys.col(j).setZero();
      total += cache.losses(j);
    }
    cache.has_loss = true;
    return total;
  }

  // ---------------------------------------------------------------------------------- backward

  /// Overwrites dqueries (key_size × B) with d(loss_scale · Σ_j loss_j)/dx for the un-normalised
  /// queries x: dL/dq̂ = K[n_b] − K[n_p] where the margin is violated, then through q̂ = x/‖x‖:
  /// dL/dx = (g − q̂ (q̂ · g)) / √(‖x‖² + ε). Keys get no gradient (they change by update() only).
  /// \throws Error if loss() was not called on this cache.
  void backward(const Cache& cache, Mat& dqueries, Scalar loss_scale = Scalar(1)) const {
    check_value(cache.has_loss, "mann::KeyValueMemory::backward", "cache", "without loss()",
                "a cache filled by loss()");
    dqueries.resize(key_size(), cache.normalised.cols());
    for (Index j = 0; j < cache.normalised.cols(); ++j) {
      if (cache.margin_active[static_cast<std::size_t>(j)] != 0) {
        dqueries.col(j) = loss_scale * (cache.negative_keys.col(j) - cache.positive_keys.col(j));
      } else {
        dqueries.col(j).setZero();
      }
    }
    through_normalisation(cache, dqueries);
  }

  /// As backward(), plus the gradient through the softmax output: dsoftmax (k × B) is dL/d(softmax).
  /// d(softmax)/dd is t · (diag(s) − s sᵀ) and dd_i/dq̂ = K[n_i], read from the current keys.
  /// \throws Error if the memory was written since the query (the neighbours' keys changed).
  void backward(const Cache& cache, const ConstRef& dsoftmax, Mat& dqueries, Scalar loss_scale = Scalar(1)) const {
    const char* where = "mann::KeyValueMemory::backward";
    check_value(cache.has_loss, where, "cache", "without loss()", "a cache filled by loss()");
    check_cache(cache, where, "call backward before update");  // it reads the neighbours' keys now
    check_shape(dsoftmax, options_.k, cache.normalised.cols(), where, "dsoftmax");
    dqueries.resize(key_size(), cache.normalised.cols());
    const Scalar t = static_cast<Scalar>(options_.inverse_temperature);
    for (Index j = 0; j < cache.normalised.cols(); ++j) {
      auto g = dqueries.col(j);
      if (cache.margin_active[static_cast<std::size_t>(j)] != 0) {
        g = loss_scale * (cache.negative_keys.col(j) - cache.positive_keys.col(j));
      } else {
        g.setZero();
      }
      Index count = 0;
      while (count < options_.k && cache.neighbours(count, j) >= 0) ++count;
      const Scalar weighted = cache.softmax.col(j).head(count).dot(dsoftmax.col(j).head(count));
      for (Index i = 0; i < count; ++i) {
        const Scalar dd = t * cache.softmax(i, j) * (dsoftmax(i, j) - weighted);
        g += dd * index_->key(cache.neighbours(i, j));
      }
    }
    through_normalisation(cache, dqueries);
  }

  // ------------------------------------------------------------------------------------ update

  /// The write rule of §2 for each cached query in turn, with its true value targets[j] ≥ 0:
  /// if V[n_1] = v, K[n_1] ← (q̂ + K[n_1]) / ‖q̂ + K[n_1]‖; otherwise the oldest slot n' (ties and
  /// noise: see age_noise) gets K[n'] ← q̂, V[n'] ← v. n_1 is query()'s prediction
  /// (update_from_prediction) or a fresh search. One call is one tick of the ages (authors' code):
  /// every slot it writes gets age 0, every other age grows by 1 (an empty batch changes nothing).
  /// The oldest-slot choice skips the slots this call already wrote, so the misses of one batch go
  /// to distinct slots (unless the batch has more misses than the memory has slots).
  /// \throws ShapeError / ValueError as loss(). On std::bad_alloc the queries before j are
  /// written, and the slot query j was writing is left empty (never written; its old key and value
  /// gone); the memory stays consistent (the random draw of that write is spent).
  void update(Cache& cache, const std::vector<Value>& targets) {
    const char* where = "mann::KeyValueMemory::update";
    check_cache(cache, where, "query again after an update");
    const Index batch = cache.normalised.cols();
    check_targets(targets, batch, where);
    if (batch == 0) return;
    // NOTE: may allocate (first call, or a larger batch), so before anything changes.
    batch_slots_.reserve(static_cast<std::size_t>(std::min(batch, memory_size())));
    ++clock_;  // one tick per batch: a slot written below gets stamp clock_, i.e. age 0
    try {
      write_batch(cache, targets);
    } catch (...) {
      order_batch_by_slot();
      throw;
    }
    order_batch_by_slot();
  }

  /// Empties every slot (keys zero, values kEmpty, ages and clock 0).
  void clear() {
    for (Index s = 0; s < memory_size(); ++s) index_->remove(s);
    std::fill(values_.begin(), values_.end(), kEmpty);
    std::fill(stamps_.begin(), stamps_.end(), 0);
    clock_ = 0;
    value_lists_.clear();
    reset_structures();
    ++version_;
  }

  /// Replaces the whole state: keys (key_size × memory_size), values (kEmpty or ≥ 0), ages (≥ 0)
  /// and the clock (≥ every age; −1: the largest age). Slots with value kEmpty are empty whatever
  /// their key and age (an empty slot's age is the clock). Among written slots of equal age the
  /// smaller slot id counts as older. All or nothing: the new state (a new index and lists) is
  /// built aside and then swapped in, so the memory holds two states for a moment.
  /// \throws ShapeError / ValueError on wrong sizes, NaN/Inf keys, bad values, ages or clock, and
  /// std::bad_alloc; the memory is unchanged then.
  void restore(const ConstRef& keys, const std::vector<Value>& values, const std::vector<std::int64_t>& ages,
               std::int64_t clock = -1) {
    const char* where = "mann::KeyValueMemory::restore";
    check_shape(keys, key_size(), memory_size(), where, "keys");
    check_finite(keys, where, "keys");
    check_value(static_cast<Index>(values.size()) == memory_size(), where, "values.size()", values.size(),
                detail::concat(memory_size()).c_str());
    check_value(static_cast<Index>(ages.size()) == memory_size(), where, "ages.size()", ages.size(),
                detail::concat(memory_size()).c_str());
    for (std::size_t i = 0; i < values.size(); ++i) {
      check_value(values[i] >= kEmpty, where, detail::concat("values[", i, "]").c_str(), values[i], ">= -1");
      check_value(ages[i] >= 0, where, detail::concat("ages[", i, "]").c_str(), ages[i], ">= 0");
    }
    const std::int64_t oldest = ages.empty() ? 0 : *std::max_element(ages.begin(), ages.end());
    if (clock != -1 && clock < oldest) {
      check_value(false, where, "clock", clock, detail::concat("-1 or >= ", oldest, " (the largest age)").c_str());
    }
    // written slots, oldest first (equal ages: smaller id first), rejoin the recency lists in that
    // order. NOTE: std::sort with the id as tie-break, not stable_sort: no temporary buffer.
    std::vector<Index> order;
    for (Index s = 0; s < memory_size(); ++s)
      if (values[static_cast<std::size_t>(s)] != kEmpty) order.push_back(s);
    std::sort(order.begin(), order.end(), [&](Index a, Index b) {
      const std::int64_t age_a = ages[static_cast<std::size_t>(a)], age_b = ages[static_cast<std::size_t>(b)];
      return age_a != age_b ? age_a > age_b : a < b;
    });
    KeyValueMemory next(memory_size(), key_size(), options_);  // empty, with an index like ours
    next.clock_ = clock == -1 ? oldest : clock;
    for (const Index s : order) {
      next.index_->set(s, keys.col(s));
      next.stamps_[static_cast<std::size_t>(s)] = next.clock_ - ages[static_cast<std::size_t>(s)];
      next.remove_from_pool(s);
      next.lru_append(s);
      next.set_value(s, values[static_cast<std::size_t>(s)]);
    }
    take_state(next);
    ++version_;
  }

 private:
  struct ValueList {
    Index oldest = -1, newest = -1;
  };

  static Scalar epsilon() { return Scalar(1e-12); }

  // The write rule for each column of the cache in turn, at the clock update() advanced.
  void write_batch(Cache& cache, const std::vector<Value>& targets) {
    const Index batch = cache.normalised.cols();
    for (Index j = 0; j < batch; ++j) {
      const Value v = targets[static_cast<std::size_t>(j)];
      const auto q = cache.normalised.col(j);
      Index nearest = -1;
      if (options_.update_from_prediction) {
        nearest = cache.neighbours.rows() > 0 ? cache.neighbours(0, j) : -1;
      } else if (index_->size() > 0) {
        cache.single_query = q;
        index_->search(cache.single_query, 1, cache.result, cache.workspace);
        nearest = cache.result.indices(0, 0);
      }
      Index slot;
      if (nearest >= 0 && values_[static_cast<std::size_t>(nearest)] == v) {
        slot = nearest;
        new_key_ = q + index_->key(slot);
        const Scalar norm = new_key_.norm();
        // NOTE: q̂ = −K[n_1] would leave nothing to normalise; store q̂ then.
        if (norm > Scalar(1e-6))
          new_key_ /= norm;
        else
          new_key_ = q;
      } else {
        slot = oldest_slot();
        new_key_ = q;
      }
      value_lists_[v];  // NOTE: may allocate (a new value's list), so before anything changes
      try {
        index_->set(slot, new_key_);
      } catch (...) {  // std::bad_alloc: the index dropped the slot, so it becomes empty here too
        if (!index_->active(slot)) forget(slot);
        throw;
      }
      write(slot, v);
    }
  }

  // A cache filled by query() on this memory as it is now: shapes of this key_size and k, slots
  // in range, and no write since. `advice` completes the version message.
  void check_cache(const Cache& cache, const char* where, const char* advice) const {
    const Index batch = cache.normalised.cols(), k = options_.k;
    check_shape(cache.normalised, key_size(), -1, where, "cache.normalised");
    check_shape(cache.norms, batch, 1, where, "cache.norms");
    check_shape(cache.neighbours, k, batch, where, "cache.neighbours");
    check_shape(cache.similarities, k, batch, where, "cache.similarities");
    check_shape(cache.softmax, k, batch, where, "cache.softmax");
    if (static_cast<Index>(cache.neighbour_values.size()) != k * batch ||
        static_cast<Index>(cache.predictions.size()) != batch) {
      throw ShapeError(detail::concat(where, ": cache.neighbour_values has ", cache.neighbour_values.size(),
                                      " entries and cache.predictions ", cache.predictions.size(), ", expected ",
                                      k * batch, " and ", batch, " (k x batch and batch)"));
    }
    if (cache.version != version_) {
      check_value(false, where, "cache.version", cache.version, detail::concat(version_, " (", advice, ")").c_str());
    }
    for (Index j = 0; j < batch; ++j) {
      for (Index i = 0; i < k; ++i) {
        const Index slot = cache.neighbours(i, j);
        if (slot < -1 || slot >= memory_size()) {
          check_value(false, where, detail::concat("cache.neighbours(", i, ", ", j, ")").c_str(), slot,
                      detail::concat("-1 or a slot in [0, ", memory_size(), ")").c_str());
        }
      }
    }
  }

  // NOTE: messages are built only on failure, so a valid call allocates nothing.
  void check_targets(const std::vector<Value>& targets, Index batch, const char* where) const {
    if (static_cast<Index>(targets.size()) != batch) {
      check_value(false, where, "targets.size()", targets.size(), detail::concat(batch, " (the cached batch)").c_str());
    }
    for (std::size_t j = 0; j < targets.size(); ++j) {
      if (targets[j] < 0) check_value(false, where, detail::concat("targets[", j, "]").c_str(), targets[j], ">= 0");
    }
  }

  // dq̂ → dx for q̂ = x / n, n = √(‖x‖² + ε): dx = (g − q̂ (q̂ · g)) / n.
  void through_normalisation(const Cache& cache, Mat& dqueries) const {
    for (Index j = 0; j < dqueries.cols(); ++j) {
      const auto q = cache.normalised.col(j);
      const Scalar along = q.dot(dqueries.col(j));
      dqueries.col(j) = (dqueries.col(j) - along * q) / cache.norms(j);
    }
  }

  // Random among the never-written slots if any (they are the oldest); else the least recently
  // written. With age noise: argmax_i A[i] + r_i, r_i ~ U(−a, a), drawn only for the slots that
  // can win (A[i] ≥ max A − 2a); the never-written group, all of one age, is drawn as a whole (the
  // largest of M uniforms has CDF u^M). Slots this update already wrote (stamp = clock, at the
  // recent end of the list) are skipped, unless no other slot is left.
  Index oldest_slot() {
    const double noise = options_.age_noise;
    if (noise == 0) {
      if (!pool_.empty()) return pool_[static_cast<std::size_t>(rng_.below(pool_.size()))];
      return lru_oldest_;
    }
    Index best = -1;
    double best_score = -std::numeric_limits<double>::infinity();
    double max_age;
    if (!pool_.empty()) {
      const double m = static_cast<double>(pool_.size());
      const double largest = noise * (2 * std::pow(rng_.uniform(), 1.0 / m) - 1);
      best = pool_[static_cast<std::size_t>(rng_.below(pool_.size()))];
      max_age = static_cast<double>(clock_);
      best_score = max_age + largest;
    } else {
      max_age = static_cast<double>(age(lru_oldest_));
    }
    for (Index s = lru_oldest_; s >= 0; s = lru_next_[static_cast<std::size_t>(s)]) {
      const double a = static_cast<double>(age(s));
      if (a < max_age - 2 * noise || stamps_[static_cast<std::size_t>(s)] == clock_) break;
      const double score = a + rng_.uniform(-noise, noise);
      if (score > best_score) {
        best_score = score;
        best = s;
      }
    }
    return best >= 0 ? best : lru_oldest_;  // every slot written by this update: reuse the first
  }

  // Bookkeeping of one write at the current clock: the slot's age becomes 0 and it becomes the
  // most recently written. Allocates nothing if value v has a list.
  void write(Index slot, Value v) {
    stamps_[static_cast<std::size_t>(slot)] = clock_;
    if (pool_position_[static_cast<std::size_t>(slot)] >= 0)
      remove_from_pool(slot);
    else
      lru_unlink(slot);
    lru_append(slot);
    if (values_[static_cast<std::size_t>(slot)] != kEmpty) value_unlink(slot);
    set_value(slot, v);
    ++version_;
  }

  void set_value(Index slot, Value v) {
    ValueList& list = value_lists_[v];  // may allocate: before the slot changes
    values_[static_cast<std::size_t>(slot)] = v;
    value_prev_[static_cast<std::size_t>(slot)] = list.newest;
    value_next_[static_cast<std::size_t>(slot)] = -1;
    if (list.newest >= 0)
      value_next_[static_cast<std::size_t>(list.newest)] = slot;
    else
      list.oldest = slot;
    list.newest = slot;
  }

  void value_unlink(Index slot) {
    ValueList& list = value_lists_[values_[static_cast<std::size_t>(slot)]];
    const Index before = value_prev_[static_cast<std::size_t>(slot)],
                after = value_next_[static_cast<std::size_t>(slot)];
    if (before >= 0)
      value_next_[static_cast<std::size_t>(before)] = after;
    else
      list.oldest = after;
    if (after >= 0)
      value_prev_[static_cast<std::size_t>(after)] = before;
    else
      list.newest = before;
  }

  void lru_append(Index slot) {
    lru_prev_[static_cast<std::size_t>(slot)] = lru_newest_;
    lru_next_[static_cast<std::size_t>(slot)] = -1;
    if (lru_newest_ >= 0)
      lru_next_[static_cast<std::size_t>(lru_newest_)] = slot;
    else
      lru_oldest_ = slot;
    lru_newest_ = slot;
  }

  void lru_unlink(Index slot) {
    const Index before = lru_prev_[static_cast<std::size_t>(slot)], after = lru_next_[static_cast<std::size_t>(slot)];
    if (before >= 0)
      lru_next_[static_cast<std::size_t>(before)] = after;
    else
      lru_oldest_ = after;
    if (after >= 0)
      lru_prev_[static_cast<std::size_t>(after)] = before;
    else
      lru_newest_ = before;
  }

  void remove_from_pool(Index slot) {
    const Index position = pool_position_[static_cast<std::size_t>(slot)];
    const Index last = pool_.back();
    pool_[static_cast<std::size_t>(position)] = last;
    pool_position_[static_cast<std::size_t>(last)] = position;
    pool_.pop_back();
    pool_position_[static_cast<std::size_t>(slot)] = -1;
  }

  // Makes a written slot empty again (after its key left the index); no allocation.
  void forget(Index slot) {
    if (values_[static_cast<std::size_t>(slot)] == kEmpty) return;  // still in the pool
    value_unlink(slot);
    lru_unlink(slot);
    values_[static_cast<std::size_t>(slot)] = kEmpty;
    stamps_[static_cast<std::size_t>(slot)] = 0;
    pool_position_[static_cast<std::size_t>(slot)] = static_cast<Index>(pool_.size());
    pool_.push_back(slot);  // within the capacity reserved for every slot
    ++version_;
  }

  // The slots this update wrote (stamp = clock, the recent end of the recency list and of their
  // values' lists) put in slot-id order there, the order restore() gives slots of equal age. No
  // allocation: batch_slots_ has room for them and every value's list exists.
  void order_batch_by_slot() {
    batch_slots_.clear();
    Index s = lru_newest_;
    for (; s >= 0 && stamps_[static_cast<std::size_t>(s)] == clock_; s = lru_prev_[static_cast<std::size_t>(s)]) {
      batch_slots_.push_back(s);
    }
    if (batch_slots_.size() < 2) return;
    std::sort(batch_slots_.begin(), batch_slots_.end());
    const Index before = s;  // the most recent slot written earlier, or −1
    for (std::size_t i = 0; i < batch_slots_.size(); ++i) {
      const auto slot = static_cast<std::size_t>(batch_slots_[i]);
      lru_prev_[slot] = i == 0 ? before : batch_slots_[i - 1];
      lru_next_[slot] = i + 1 == batch_slots_.size() ? -1 : batch_slots_[i + 1];
    }
    if (before >= 0)
      lru_next_[static_cast<std::size_t>(before)] = batch_slots_.front();
    else
      lru_oldest_ = batch_slots_.front();
    lru_newest_ = batch_slots_.back();
    for (const Index slot : batch_slots_) {  // each to the recent end of its value's list, by id
      value_unlink(slot);
      set_value(slot, values_[static_cast<std::size_t>(slot)]);
    }
  }

  // Commit of restore(): takes every part of the state from `next` (moves of vectors, a map and
  // a pointer, none of which throws). Options, random state and version stay ours.
  void take_state(KeyValueMemory& next) noexcept {
    static_assert(std::is_nothrow_move_assignable_v<std::unordered_map<Value, ValueList>> &&
                      std::is_nothrow_move_assignable_v<std::vector<Index>>,
                  "restore() commits by moves that cannot throw");
    index_ = std::move(next.index_);
    values_ = std::move(next.values_);
    stamps_ = std::move(next.stamps_);
    clock_ = next.clock_;
    lru_prev_ = std::move(next.lru_prev_);
    lru_next_ = std::move(next.lru_next_);
    lru_oldest_ = next.lru_oldest_;
    lru_newest_ = next.lru_newest_;
    pool_ = std::move(next.pool_);
    pool_position_ = std::move(next.pool_position_);
    value_lists_ = std::move(next.value_lists_);
    value_prev_ = std::move(next.value_prev_);
    value_next_ = std::move(next.value_next_);
  }

  void reset_structures() {
    pool_.clear();
    for (Index s = 0; s < memory_size(); ++s) {
      pool_.push_back(s);
      pool_position_[static_cast<std::size_t>(s)] = s;
    }
    std::fill(lru_prev_.begin(), lru_prev_.end(), -1);
    std::fill(lru_next_.begin(), lru_next_.end(), -1);
    std::fill(value_prev_.begin(), value_prev_.end(), -1);
    std::fill(value_next_.begin(), value_next_.end(), -1);
    lru_oldest_ = lru_newest_ = -1;
  }

  KeyValueMemoryOptions options_;
  std::unique_ptr<KnnIndex<Scalar>> index_;  // holds the keys
  std::vector<Value> values_;
  std::vector<std::int64_t> stamps_;  // clock of the update() that last wrote the slot (0: never written)
  std::int64_t clock_ = 0;
  std::uint64_t version_ = 0;
  // written slots from least to most recently written
  std::vector<Index> lru_prev_, lru_next_;
  Index lru_oldest_ = -1, lru_newest_ = -1;
  // never-written slots, in no order, and each slot's position there (−1: written)
  std::vector<Index> pool_, pool_position_;
  // per value, its slots from least to most recently written
  std::unordered_map<Value, ValueList> value_lists_;
  std::vector<Index> value_prev_, value_next_;
  Rng rng_;
  Vec new_key_;
  std::vector<Index> batch_slots_;  // order_batch_by_slot() scratch
};

}  // namespace mann
