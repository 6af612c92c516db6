// mann/knn/exact.hpp: exact maximum-inner-product top-k search. The keys are streamed in blocks:
// each block's scores for the whole batch come from one matrix product (Kaiser et al. 2017, §2:
// "a single matrix multiplication Q × Kᵀ"), then a threshold scan feeds each query's top-k
// selector. Extra memory is one block of scores plus the selectors, however many keys there are.
// Optionally several threads search contiguous ranges of keys and their top-k lists are merged.
#pragma once

#include <algorithm>
#include <limits>
#include <memory>
#include <vector>

#include "mann/knn/index.hpp"

namespace mann {

/// Tuning of the exact search (no global state: each index holds its own).
struct ExactParams {
  /// Target size in bytes of one block of scores (block keys × batch); about the L2 cache.
  Index block_bytes = Index{1} << 20;
  Index min_block_keys = 256;
  Index max_block_keys = Index{1} << 16;
  /// Kernel of the top-k threshold scan; every compiled level gives the same result.
  knn::SimdLevel simd = knn::scan_simd_level();
  /// Threads for one search: the keys are split into contiguous ranges, one per thread (the
  /// calling thread takes the first; ranges start on block boundaries), and the per-range top-k
  /// lists are merged; the result is the same, bit for bit, for any number. An index with too few
  /// keys to split (min_keys_per_thread) splits the batch instead: the same neighbours, the scores
  /// equal up to the last bit (a query's column in a smaller product is rounded differently). 1: the calling thread only. The threads are started at the first such
  /// search with a workspace and kept in it (KnnWorkspace::exact_pool) for the next.
  int threads = 1;
  /// A range is never smaller than this (small searches stay on one thread).
  Index min_keys_per_thread = Index{1} << 16;
};

/// Exact top-k by inner product: the oracle the approximate indexes are tested against.
/// Thread safety as KnnIndex: concurrent const searches with one workspace each.
template <class Scalar = float>
class ExactIndex : public KnnIndex<Scalar> {
 public:
  using Base = KnnIndex<Scalar>;
  using typename Base::ConstRef;
  using typename Base::Mat;

  /// An empty index of keys of size `dimension` ≥ 1. \throws ValueError otherwise.
  explicit ExactIndex(Index dimension, ExactParams params = {}) : Base(check_dimension(dimension)) {
    set_params(params);
  }

  const char* name() const override { return "mann::ExactIndex"; }
  const ExactParams& params() const { return params_; }
  /// \throws ValueError for block sizes < 1 or a SIMD level not compiled in.
  void set_params(const ExactParams& params) {
    const char* where = "mann::ExactIndex::set_params";
    check_value(params.block_bytes > 0, where, "params.block_bytes", params.block_bytes, "> 0");
    check_value(params.min_block_keys >= 1 && params.min_block_keys <= params.max_block_keys, where,
                "params.min_block_keys", params.min_block_keys, ">= 1 and <= params.max_block_keys");
    check_value(knn::scan_level_compiled(params.simd), where, "params.simd", knn::to_string(params.simd),
                "a level compiled in");
    check_value(params.threads >= 1, where, "params.threads", params.threads, ">= 1");
    check_value(params.min_keys_per_thread >= 1, where, "params.min_keys_per_thread", params.min_keys_per_thread,
                ">= 1");
    params_ = params;
  }

  /// Keys per block for a batch of `batch` queries.
  Index block_keys(Index batch) const {
    const Index fit = params_.block_bytes / (std::max<Index>(batch, 1) * static_cast<Index>(sizeof(Scalar)));
    const Index keys = std::clamp(fit, params_.min_block_keys, params_.max_block_keys);
    return std::max<Index>(16, keys / 16 * 16);
  }

 protected:
  void do_search(const ConstRef& queries, Index k, KnnResult<Scalar>& result,
                 KnnWorkspace<Scalar>& workspace) const override {
    const Index batch = queries.cols(), slots = this->slots();
    const std::uint8_t* active = this->size() == slots ? nullptr : this->active_flags();
    workspace.reranked = this->size() * batch;
    // NOTE: for k = 1 with every slot active a running maximum replaces the selectors; strict
    // comparisons keep the smallest index among equal scores, since keys come in index order.
    const bool running_max = k == 1 && active == nullptr;
    // Threads split the keys into ranges (merged below) when there are enough keys, else the batch.
    const Index threads = params_.threads, min_keys = params_.min_keys_per_thread;
    const Index parts = std::max<Index>(1, std::min<Index>(threads, slots / min_keys));
    const Index query_parts =
        parts == 1 && slots * batch >= min_keys ? std::max<Index>(1, std::min<Index>(threads, batch)) : 1;
    const Index needed = std::max(parts, query_parts);
    if (static_cast<Index>(workspace.exact_parts.size()) < needed) {
      workspace.exact_parts.resize(static_cast<std::size_t>(needed));
    }
    auto part = [&](Index p) -> ExactSearchPart<Scalar>& { return workspace.exact_parts[static_cast<std::size_t>(p)]; };

    // Blocks of the whole batch's size in every part: the same block boundaries as the single
    // thread's search. (A query's scores can still differ in the last bit when the batch is split:
    // its column's place in the product changes, and Eigen's GEMM rounds panels and tails apart.)
    const Index block = block_keys(batch);
    if (query_parts > 1) {  // each thread: all keys, a range of the batch, written to its own columns
      auto first_query = [&](Index p) { return batch * p / query_parts; };
      for (Index p = 0; p < query_parts; ++p) {
        prepare(part(p), first_query(p + 1) - first_query(p), k, running_max, block);
      }
      run_parts(query_parts, workspace, [&](Index p) {
        const Index first = first_query(p), count = first_query(p + 1) - first;
        search_range(queries.middleCols(first, count), 0, slots, active, running_max, part(p), block);
        write_results(part(p), count, k, running_max, result, first);
      });
      return;
    }
    for (Index p = 0; p < parts; ++p) prepare(part(p), batch, k, running_max, block);
    // Ranges start on the single thread's block boundaries: a key's score depends on its row in its
    // block's product (Eigen's GEMM rounds tail rows differently), so the same blocks give the same bits.
    auto range_begin = [&](Index p) { return p == parts ? slots : slots * p / parts / block * block; };
    run_parts(parts, workspace, [&](Index p) {
      search_range(queries, range_begin(p), range_begin(p + 1), active, running_max, part(p), block);
    });
    if (parts == 1) {
      write_results(part(0), batch, k, running_max, result, 0);
      return;
    }

    auto& first = part(0);
    if (running_max) {  // ranges in index order: a later range wins only with a larger score
      for (Index j = 0; j < batch; ++j) {
        Index best = 0;
        for (Index p = 1; p < parts; ++p) {
          if (workspace.exact_parts[static_cast<std::size_t>(p)].best_scores(j) >
              workspace.exact_parts[static_cast<std::size_t>(best)].best_scores(j)) {
            best = p;
          }
        }
        result.indices(0, j) = workspace.exact_parts[static_cast<std::size_t>(best)].best_slots(j);
        result.scores(0, j) = workspace.exact_parts[static_cast<std::size_t>(best)].best_scores(j);
      }
      return;
    }
    workspace.merge_indices.resize(static_cast<std::size_t>(k));
    workspace.merge_scores.resize(static_cast<std::size_t>(k));
    for (Index j = 0; j < batch; ++j) {
      auto& selector = first.selectors[static_cast<std::size_t>(j)];
      for (Index p = 1; p < parts; ++p) {  // the other ranges' lists join the first range's selector
        const Index count = workspace.exact_parts[static_cast<std::size_t>(p)].selectors[static_cast<std::size_t>(j)].finish(
            workspace.merge_indices.data(), workspace.merge_scores.data());
        for (Index i = 0; i < count; ++i) {
          selector.push(workspace.merge_scores[static_cast<std::size_t>(i)], workspace.merge_indices[static_cast<std::size_t>(i)]);
        }
      }
      const Index found = selector.finish(result.indices.col(j).data(), result.scores.col(j).data());
      MANN_ASSERT(found == k);
      (void)found;
    }
  }

 private:
  static Index check_dimension(Index dimension) {
    check_value(dimension >= 1, "mann::ExactIndex", "dimension", dimension, ">= 1");
    return dimension;
  }

  // Runs work(p) for p in [0, parts): p = 0 on the calling thread, the others on the workspace's
  // pool (started at the first multi-threaded search, or when it grows); the first exception is
  // rethrown after every part has finished.
  template <class Work>
  static void run_parts(Index parts, KnnWorkspace<Scalar>& workspace, Work&& work) {
    if (parts == 1) {
      work(0);
      return;
    }
    if (!workspace.exact_pool || workspace.exact_pool->size() < parts) {
      workspace.exact_pool = std::make_unique<ThreadPool>(static_cast<int>(parts));
    }
    auto task = [&](int p) { work(static_cast<Index>(p)); };
    workspace.exact_pool->run(static_cast<int>(parts), task);
  }

  // The part's top-k of `count` queries into result columns first … first + count − 1.
  static void write_results(ExactSearchPart<Scalar>& part, Index count, Index k, bool running_max,
                            KnnResult<Scalar>& result, Index first) {
    for (Index j = 0; j < count; ++j) {
      if (running_max) {
        result.indices(0, first + j) = part.best_slots(j);
        result.scores(0, first + j) = part.best_scores(j);
        continue;
      }
      const Index found = part.selectors[static_cast<std::size_t>(j)].finish(result.indices.col(first + j).data(),
                                                                              result.scores.col(first + j).data());
      MANN_ASSERT(found == k);
      (void)found;
      (void)k;
    }
  }

  // Buffers of one part for a batch (allocates only when they grow).
  void prepare(ExactSearchPart<Scalar>& part, Index batch, Index k, bool running_max, Index block) const {
    if (part.block_scores.rows() < block || part.block_scores.cols() < batch) {
      part.block_scores.resize(std::max(block, part.block_scores.rows()), std::max(batch, part.block_scores.cols()));
    }
    if (running_max) {
      if (part.best_scores.size() < batch) {
        part.best_scores.resize(batch);
        part.best_slots.resize(batch);
      }
      part.best_scores.head(batch).setConstant(std::numeric_limits<Scalar>::lowest());
      part.best_slots.head(batch).setConstant(-1);
      return;
    }
    if (static_cast<Index>(part.selectors.size()) < batch) part.selectors.resize(static_cast<std::size_t>(batch));
    for (Index j = 0; j < batch; ++j) part.selectors[static_cast<std::size_t>(j)].reset(k);
  }

  // The keys [begin, end) in blocks: one matrix product per block, then each query's selector
  // (or running maximum).
  void search_range(const ConstRef& queries, Index begin, Index end, const std::uint8_t* active, bool running_max,
                    ExactSearchPart<Scalar>& part, Index block) const {
    const Index batch = queries.cols();
    for (Index start = begin; start < end; start += block) {
      const Index count = std::min(block, end - start);
      auto scores = part.block_scores.topLeftCorner(count, batch);
      scores.noalias() = this->keys_.middleCols(start, count).transpose() * queries;
      for (Index j = 0; j < batch; ++j) {
        if (running_max) {
          const Scalar best = scores.col(j).maxCoeff();
          if (best > part.best_scores(j) || part.best_slots(j) < 0) {
            Index i = 0;
            while (scores(i, j) != best) ++i;
            part.best_scores(j) = best;
            part.best_slots(j) = start + i;
          }
          continue;
        }
        part.selectors[static_cast<std::size_t>(j)].push_scores(scores.col(j).data(), count, start,
                                                                active != nullptr ? active + start : nullptr,
                                                                params_.simd);
      }
    }
  }

  ExactParams params_;
};

}  // namespace mann
