// mann/knn/index.hpp: the interface shared by the exact and the LSH nearest-neighbour indexes —
// maximum-inner-product top-k search over keys held in numbered slots that can be inserted,
// replaced and removed one at a time — with the result and workspace types.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "mann/core/error.hpp"
#include "mann/core/thread_pool.hpp"
#include "mann/core/types.hpp"
#include "mann/knn/huge_pages.hpp"
#include "mann/knn/topk.hpp"

namespace mann {

/// Integer matrix of slot ids.
using IndexMatrix = Eigen::Matrix<Index, Eigen::Dynamic, Eigen::Dynamic>;

/// The answer to a batch of B queries: column j holds query j's neighbours, best first
/// (larger inner product first, ties by smaller slot id).
template <class Scalar>
struct KnnResult {
  IndexMatrix indices;    ///< k × B slot ids; −1 where an approximate search found fewer than k
  Matrix<Scalar> scores;  ///< k × B inner products; −∞ where indices is −1
};

/// One per-thread perturbation of a query's bucket (LSH multi-probe).
struct LshProbeSet {
  double score;         ///< Σ of squared projections of the flipped bits (Lv et al. 2007)
  std::uint64_t flips;  ///< the flipped positions in margin order (bit i: the i-th least certain bit)
  int last;             ///< largest flipped position in margin order
};

/// The state of an exact search over one range of keys (one per thread of the search).
template <class Scalar>
struct ExactSearchPart {
  Matrix<Scalar> block_scores;                  ///< block of keys × queries
  std::vector<TopKSelector<Scalar>> selectors;  ///< one per query of the batch
  Vector<Scalar> best_scores;                   ///< k = 1: the running maximum of each query
  Eigen::Matrix<Index, Eigen::Dynamic, 1> best_slots;
};

/// Scratch memory of a search. One workspace per calling thread; reusing it makes searches
/// allocation-free after the first call with the largest batch and k (except the start of extra
/// threads when ExactParams::threads > 1).
template <class Scalar>
struct KnnWorkspace {
  // exact search
  std::vector<ExactSearchPart<Scalar>> exact_parts;  ///< one per thread of the search
  std::vector<Index> merge_indices;
  std::vector<Scalar> merge_scores;
  /// The threads of a multi-threaded exact search (ExactParams::threads > 1), started at its first
  /// search and kept for the next; a workspace serves one search at a time, so one pool is enough.
  std::unique_ptr<ThreadPool> exact_pool;
  // LSH search
  std::vector<TopKSelector<Scalar>> selectors;  ///< re-ranking
  Matrix<Scalar> projections;              ///< hash-bit projections of the queries
  std::vector<std::uint64_t> query_codes;  ///< packed codes of the queries
  std::vector<std::uint64_t> seen;         ///< bit set of the slots already candidates
  std::vector<Index> candidates;
  std::vector<std::uint32_t> distances;    ///< Hamming distances of the candidates
  std::vector<std::uint32_t> histogram;    ///< Hamming distance → count
  std::vector<Index> ties;
  std::vector<std::int32_t> agreements;
  std::vector<TopKSelector<std::int32_t>> code_selectors;
  std::vector<LshProbeSet> probe_heap;
  std::vector<std::size_t> probe_buckets;  ///< buckets to visit, all tables (t · 2^l + bucket)
  std::vector<int> margin_order;
  std::vector<double> margin_squares;
  /// Statistics of the last search: candidates scored exactly, summed over the batch.
  Index reranked = 0;
};

/// Maximum-inner-product k-nearest-neighbour index over keys of a fixed dimension d.
///
/// Keys live in slots 0 … slots()−1, each active (searchable) or not. add() appends slots,
/// set() stores a key in a slot (inserting or replacing), remove() deactivates one; none of them
/// rebuilds anything. Storage: a d × slots() column-major matrix, one key per column (inactive
/// columns are zero).
///
/// Thread safety: search() is const and safe from several threads at once, each with its own
/// workspace, as long as nothing modifies the index meanwhile; add/set/remove/reserve and the
/// derived classes' setters are not safe concurrently with anything.
template <class Scalar = float>
class KnnIndex {
 public:
  using Mat = Matrix<Scalar>;
  using ConstRef = Eigen::Ref<const Mat>;

  virtual ~KnnIndex() = default;
  KnnIndex(const KnnIndex&) = default;
  KnnIndex& operator=(const KnnIndex&) = default;

  /// "mann::ExactIndex", "mann::LshIndex": the prefix of error messages.
  virtual const char* name() const = 0;

  Index dimension() const { return keys_.rows(); }
  /// Number of slots, active or not; slot ids are 0 … slots()−1.
  Index slots() const { return slots_; }
  /// Number of active (searchable) slots.
  Index size() const { return active_count_; }
  bool active(Index slot) const { return slot >= 0 && slot < slots_ && active_[static_cast<std::size_t>(slot)] != 0; }
  /// slots() flags, 1 for an active slot.
  const std::uint8_t* active_flags() const { return active_.data(); }
  /// The keys, d × slots(), one per column; inactive columns are zero.
  auto keys() const { return keys_.leftCols(slots_); }
  auto key(Index slot) const { return keys_.col(slot); }

  /// Reserves storage for `slots` slots (no effect on the contents).
  void reserve(Index slots) {
    if (slots > keys_.cols()) {
      keys_.conservativeResize(Eigen::NoChange, slots);
      // NOTE: searches read keys at random (LSH re-ranking): huge pages spare a TLB miss per key.
      // Advised before the new columns are first written, so that those pages come huge.
      knn::advise_huge_pages(keys_.data(), static_cast<std::size_t>(keys_.size()) * sizeof(Scalar));
      keys_.rightCols(slots - slots_).setZero();
    }
    active_.reserve(static_cast<std::size_t>(slots));
    on_reserve(slots);
  }

  /// Appends keys.cols() active slots holding the columns of `keys` (d × n); returns the first new
  /// slot id. \throws ShapeError if keys has not d rows, ValueError on NaN/Inf.
  Index add(const ConstRef& keys) {
    check_key_rows(keys, "add", "keys");
    if (!keys.allFinite()) check_finite(keys, where("add").c_str(), "keys");
    const Index first = add_empty(keys.cols());
    for (Index j = 0; j < keys.cols(); ++j) store(first + j, keys.col(j));
    return first;
  }

  /// Appends `count` inactive slots; returns the first new slot id.
  Index add_empty(Index count) {
    // NOTE: the messages (and where()'s string) are built only on failure
    if (count < 0) check_value(false, where("add_empty").c_str(), "count", count, ">= 0");
    if (slots_ + count > kMaxSlots) {
      check_value(false, where("add_empty").c_str(), "slots() + count", slots_ + count, "<= 2^31 - 1");
    }
    const Index first = slots_;
    if (slots_ + count > keys_.cols()) reserve(std::max<Index>(slots_ + count, 2 * keys_.cols()));
    // NOTE: what may throw (a reserve that failed half-way leaves these to allocate) comes before
    // slots_ grows
    active_.resize(static_cast<std::size_t>(slots_ + count), 0);
    on_grow(slots_ + count);
    slots_ += count;
    return first;
  }

  /// Stores `key` (d × 1) in `slot`: inserts it if the slot is inactive, replaces the key if not.
  /// \throws ValueError for a slot outside [0, slots()) or a NaN/Inf key, ShapeError for a wrong size.
  /// If the index's structures cannot grow (std::bad_alloc), the slot is left inactive (its old key
  /// removed) and the index consistent.
  void set(Index slot, const ConstRef& key) {
    check_slot(slot, "set");
    check_key_rows(key, "set", "key");
    if (key.cols() != 1) check_shape(key, -1, 1, where("set").c_str(), "key");
    if (!key.allFinite()) check_finite(key, where("set").c_str(), "key");
    store(slot, key.col(0));
  }

  /// Deactivates `slot` (its key is zeroed); a no-op for an inactive slot.
  /// \throws ValueError for a slot outside [0, slots()).
  void remove(Index slot) {
    check_slot(slot, "remove");
    if (active_[static_cast<std::size_t>(slot)] == 0) return;
    on_remove(slot);
    active_[static_cast<std::size_t>(slot)] = 0;
    keys_.col(slot).setZero();
    --active_count_;
  }

  /// The k keys with the largest inner product with each query (queries: d × B, one per column),
  /// best first, ties by smaller slot id. result.indices and result.scores become k × B.
  /// \throws ShapeError if queries has not d rows; ValueError if k < 1 or k > size(), or on NaN/Inf.
  void search(const ConstRef& queries, Index k, KnnResult<Scalar>& result, KnnWorkspace<Scalar>& workspace) const {
    // NOTE: messages are built only on failure, so a valid call allocates nothing.
    check_key_rows(queries, "search", "queries");
    if (k < 1 || k > size()) {
      check_value(false, where("search").c_str(), "k", k,
                  detail::concat("in [1, ", size(), "] (the number of stored keys)").c_str());
    }
    if (!queries.allFinite()) check_finite(queries, where("search").c_str(), "queries");
    result.indices.resize(k, queries.cols());
    result.scores.resize(k, queries.cols());
    if (queries.cols() == 0) return;
    do_search(queries, k, result, workspace);
  }

  /// search() with a temporary workspace (allocates; keep a workspace for repeated calls).
  void search(const ConstRef& queries, Index k, KnnResult<Scalar>& result) const {
    KnnWorkspace<Scalar> workspace;
    search(queries, k, result, workspace);
  }

  static constexpr Index kMaxSlots = std::numeric_limits<std::int32_t>::max();

 protected:
  explicit KnnIndex(Index dimension) : keys_(dimension, 0) {}

  /// Searches with validated arguments (k in [1, size()], B ≥ 1, finite queries); the result is
  /// already k × B.
  virtual void do_search(const ConstRef& queries, Index k, KnnResult<Scalar>& result,
                         KnnWorkspace<Scalar>& workspace) const = 0;
  /// Hooks for derived indexes' own structures.
  virtual void on_reserve(Index /*slots*/) {}
  virtual void on_grow(Index /*slots*/) {}
  /// After the key is stored and the slot active; if it throws, it must leave no trace of the slot.
  virtual void on_insert(Index /*slot*/) {}
  virtual void on_remove(Index /*slot*/) {}  ///< before the slot is deactivated, key still there

  /// Fills the unused tail of result column j (from `count` on) with −1 / −∞.
  static void pad_result(KnnResult<Scalar>& result, Index j, Index count) {
    const Index k = result.indices.rows();
    for (Index i = count; i < k; ++i) {
      result.indices(i, j) = -1;
      result.scores(i, j) = -std::numeric_limits<Scalar>::infinity();
    }
  }

  Mat keys_;  // d × capacity; columns ≥ slots_ unused
  Index slots_ = 0, active_count_ = 0;
  std::vector<std::uint8_t> active_;

 private:
  template <class Column>
  void store(Index slot, const Column& key) {
    const bool was_active = active_[static_cast<std::size_t>(slot)] != 0;
    if (was_active) on_remove(slot);
    keys_.col(slot) = key;
    if (!was_active) {
      active_[static_cast<std::size_t>(slot)] = 1;
      ++active_count_;
    }
    try {
      on_insert(slot);
    } catch (...) {  // e.g. std::bad_alloc from a derived index's structures, which undo their part
      active_[static_cast<std::size_t>(slot)] = 0;
      keys_.col(slot).setZero();
      --active_count_;
      throw;
    }
  }

  // "mann::ExactIndex::search" for method "search".
  std::string where(const char* method) const { return std::string(name()) + "::" + method; }

  void check_slot(Index slot, const char* method) const {
    if (slot < 0 || slot >= slots_) {
      check_value(false, where(method).c_str(), "slot", slot,
                  detail::concat("in [0, ", slots_, ") (the number of slots)").c_str());
    }
  }

  template <class Derived>
  void check_key_rows(const Eigen::MatrixBase<Derived>& keys, const char* method, const char* argument) const {
    if (keys.rows() != dimension()) {
      throw ShapeError(
          detail::concat(where(method), ": ", argument, " has ", keys.rows(), " rows, keys have ", dimension()));
    }
  }
};

}  // namespace mann
