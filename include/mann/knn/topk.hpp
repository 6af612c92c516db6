// mann/knn/topk.hpp: streaming top-k selection. Scores arrive in any order (blocks of a matrix
// product, or LSH candidates); the selector keeps the k best in a buffer of about 2k entries and
// prunes it with nth_element when it fills, so nothing is ever sorted but the final k.
// Order: larger score first, ties broken by smaller index (deterministic whatever the arrival order).
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "mann/core/error.hpp"
#include "mann/core/types.hpp"
#include "mann/knn/simd.hpp"

namespace mann {

/// A score and the slot it belongs to.
template <class T>
struct ScoredIndex {
  T score;
  Index index;
};

/// True when `a` ranks before `b`: a larger score, or the same score and a smaller index.
template <class T>
inline bool ranks_before(const ScoredIndex<T>& a, const ScoredIndex<T>& b) {
  return a.score > b.score || (a.score == b.score && a.index < b.index);
}

/// ranks_before as a function object, so that the sorting algorithms inline it.
struct RanksBefore {
  template <class T>
  bool operator()(const ScoredIndex<T>& a, const ScoredIndex<T>& b) const {
    return ranks_before(a, b);
  }
};

/// Keeps the k best (score, index) pairs of a stream.
///
/// Usage: reset(k); push(...) / push_scores(...) any number of times; finish(...). Memory is
/// 2k + 16 entries whatever the stream length; after the first reset with the largest k, nothing
/// allocates. Not thread-safe: use one selector per thread.
template <class T>
class TopKSelector {
 public:
  /// Starts a new selection of the k best. Requires k ≥ 1.
  void reset(Index k) {
    MANN_ASSERT(k >= 1);
    k_ = k;
    capacity_ = 2 * k + 16;  // NOTE: small, so that the first compaction (and the bar) comes early
    if (static_cast<Index>(buffer_.size()) < capacity_) buffer_.resize(static_cast<std::size_t>(capacity_));
    size_ = 0;
    full_ = false;
  }

  Index k() const { return k_; }

  /// The smallest score that may still enter (the current k-th best once k have been seen).
  T threshold() const { return full_ ? worst_.score : std::numeric_limits<T>::lowest(); }

  /// Offers one pair; kept if it ranks before the current k-th best.
  void push(T score, Index index) {
    const ScoredIndex<T> item{score, index};
    if (full_ && !ranks_before(item, worst_)) return;
    buffer_[static_cast<std::size_t>(size_++)] = item;
    if (size_ == capacity_) compact();
  }

  /// Offers scores[i] with index first_index + i for i in [0, n); entries with active[i] == 0 are
  /// skipped when `active` is not null. The threshold scan runs at `level` (default: the widest
  /// compiled in); every level keeps the same pairs.
  void push_scores(const T* scores, Index n, Index first_index, const std::uint8_t* active = nullptr,
                   knn::SimdLevel level = knn::scan_simd_level()) {
    auto threshold_now = [this]() { return threshold(); };
    if (active == nullptr) {
      knn::scan_at_least(
          scores, n, threshold_now, [&](std::ptrdiff_t i) { push(scores[i], first_index + i); }, level);
    } else {
      knn::scan_at_least(
          scores, n, threshold_now,
          [&](std::ptrdiff_t i) {
            if (active[i] != 0) push(scores[i], first_index + i);
          },
          level);
    }
  }

  /// Writes the best min(k, pairs seen) in rank order to indices[0..) and scores[0..) (either may be
  /// null) and returns how many were written. The selector must be reset before reuse.
  Index finish(Index* indices, T* scores) {
    auto* begin = buffer_.data();
    if (size_ > k_) {
      std::nth_element(begin, begin + (k_ - 1), begin + size_, RanksBefore{});
      size_ = k_;
    }
    std::sort(begin, begin + size_, RanksBefore{});
    for (Index i = 0; i < size_; ++i) {
      if (indices != nullptr) indices[i] = begin[i].index;
      if (scores != nullptr) scores[i] = begin[i].score;
    }
    return size_;
  }

 private:
  // Keeps the k best of the buffer; the k-th best becomes the bar to enter.
  void compact() {
    auto* begin = buffer_.data();
    std::nth_element(begin, begin + (k_ - 1), begin + size_, RanksBefore{});
    size_ = k_;
    worst_ = begin[k_ - 1];  // nth_element puts the k-th best there, the better ones before it
    full_ = true;
  }

  std::vector<ScoredIndex<T>> buffer_;
  Index k_ = 1, capacity_ = 0, size_ = 0;
  bool full_ = false;
  ScoredIndex<T> worst_{T(0), 0};
};

}  // namespace mann
