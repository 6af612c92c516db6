// mann/knn/sharded_index.hpp: nearest-neighbour search over slots split across the ranks of an MPI
// communicator (issue 20). Each rank keeps its shard in a local ExactIndex or LshIndex and finds
// its k best per query; one MPI_Allgather of those candidates lets every rank merge the global k
// best. With exact shards the result is bit-identical to one ExactIndex over all the keys. Also the
// oldest slot across ranks, for the write rule of the key-value memory (Kaiser et al. 2017, §2).
// Opt-in (in neither mann.hpp nor mann/knn.hpp): needs MPI, see mann/mpi/communicator.hpp.
//
// Layout: N = global_slots() slots; rank r of P owns the contiguous range [⌊N·r/P⌋, ⌊N·(r+1)/P⌋)
// (shard sizes differ by at most one; with P > N some ranks own none). Local slot = global slot −
// first_slot().
//
// Collectives (every rank calls them with the same arguments, in the same order): the constructor,
// search(), global_size(), oldest_slot(), oldest_slots(). set() and remove() do not communicate:
// call them on every rank with the same arguments (only the owner stores; no routing needed) or
// only on the owner; set_owned() / remove_owned() insist on the owner.
//
// search() on B queries, per rank: (1) the shard's top k with global slot ids; (2) one MPI_Allgather
// of one uint64 buffer, 3 header words (the shard's active keys, k, B) and B × k candidates (score
// bits and int32 global slot in one word for float, two for double; slot −1 pads a short list);
// (3) per query, the k best of the P lists: larger inner product first, ties by smaller global slot
// (ranks_before, topk.hpp), the order of a single index. Since every shard's top k holds each of its
// keys that is in the global top k, the merge is exact. Each rank sends 3 + B·k·w words (w = 1 for
// float, 2 for double: 32 KiB for B = 16, k = 256 floats) and receives P times that.
//
// Bit-identical exact search: Eigen's GEMM rounds a key's inner product differently depending on
// where its row falls in the product (the last rows of a block take other kernels), so an exact
// shard is scanned in the blocks one ExactIndex over all N keys uses (block_keys(B) keys from global
// slot 0, ExactParams::threads = 1); a block the shard owns only part of is multiplied as a
// zero-padded copy of the whole block (at most two per shard and search: extra work ≤ 2 blocks,
// scratch d × block_keys(B)). The local ExactIndex's `threads` is not used (the ranks are the
// parallelism). Other shards (LshIndex) are searched with their own search().
//
// A sharded key-value memory write (KeyValueMemory's rule, §2; not a class here): keep the keys in
// a ShardedIndex, the values replicated on every rank (8 bytes a slot; every rank knows each
// write's slot and value, so all stay equal without communication), each slot's age (stamp) on its
// owner, and the clock on every rank. For query j with target v: n_1 comes from search() on every
// rank. V[n_1] = v: the owner sets K[n_1] ← normalise(q̂ + K[n_1]) (set_owned) and stamps n_1.
// Otherwise the oldest slot n' = oldest_slot(scores), scores = the owner's ages (−∞ for the slots
// this update already wrote), then set(n', q̂) on every rank and the owner stamps n'. Ties go to the
// smaller slot, as in KeyValueMemory, except among never-written slots, where KeyValueMemory draws
// at random (add a random fraction < 1 to their ages to do the same); with age_noise a > 0 each owner
// adds r_i ~ U(−a, a) to its ages from its own random stream (the same distribution as one process,
// not the same draws). Cost: one MPI_Allreduce (MPI_MAXLOC) of one (double, int) pair per miss,
// latency-bound, ≈ ⌈log2 P⌉ message latencies, plus an O(local slots) scan of the ages on each
// rank; oldest_slots(count) serves all misses of a batch with one MPI_Allgather of count (score,
// slot) pairs per rank instead (the same slots for age_noise = 0; with noise it draws once per batch
// instead of once per miss). Replicating the ages too (8 bytes a slot) would let every rank pick the
// oldest slot alone, with no communication.
#pragma once

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "mann/core/error.hpp"
#include "mann/core/types.hpp"
#include "mann/knn/exact.hpp"
#include "mann/knn/index.hpp"
#include "mann/knn/topk.hpp"
#include "mann/mpi/communicator.hpp"

namespace mann {

/// Scratch memory of ShardedIndex::search (one per calling thread; reuse makes searches
/// allocation-free after the first with the largest batch and k).
template <class Scalar>
struct ShardedKnnWorkspace {
  KnnWorkspace<Scalar> local;                   ///< the local index's search (non-exact shards)
  KnnResult<Scalar> local_result;               ///< the shard's top k (non-exact shards)
  std::vector<TopKSelector<Scalar>> selectors;  ///< one per query: the shard's scan, then the merge
  Matrix<Scalar> block_scores;                  ///< one block of keys × queries (exact shards)
  Matrix<Scalar> padded_block;                  ///< a block owned in part, zero-padded (exact shards)
  std::vector<Index> indices;
  std::vector<Scalar> scores;
  std::vector<std::uint64_t> sent, received;  ///< the allgather's buffers
};

/// The shard of a global slot range kept by this rank, with collective search (see the file
/// comment for the layout, the collectives and the merge).
template <class Scalar = float>
class ShardedIndex {
 public:
  using Mat = Matrix<Scalar>;
  using ConstRef = Eigen::Ref<const Mat>;

  /// Collective. `local` (an empty index: ExactIndex, LshIndex, …) gets this rank's local_slots()
  /// inactive slots. One MPI_Allreduce checks that every rank agrees. \throws ValueError on every
  /// rank if any rank's local index is null or not empty or global_slots is outside [0, 2^31 − 1], or
  /// if global_slots, the dimension, the kind of index (exact or not) or the exact block sizes differ
  /// between ranks; MpiError if MPI fails.
  ShardedIndex(const mpi::Communicator& comm, Index global_slots, std::unique_ptr<KnnIndex<Scalar>> local)
      : comm_(comm), global_slots_(global_slots), local_(std::move(local)) {
    const char* where = "mann::ShardedIndex";
    std::string error;
    if (!local_) {
      error = detail::concat(where, ": local is null, expected an empty index");
    } else if (local_->slots() != 0) {
      error = detail::concat(where, ": local has ", local_->slots(), " slots, expected an empty index");
    } else if (global_slots < 0 || global_slots > KnnIndex<Scalar>::kMaxSlots) {
      error = detail::concat(where, ": global_slots is ", global_slots, ", expected in [0, 2^31 - 1]");
    }
    // One allreduce: each rank's own failure (its rank + 1), then max(x) and max(−x) of each setting.
    const auto* exact = dynamic_cast<const ExactIndex<Scalar>*>(local_.get());
    const std::int64_t settings[6] = {global_slots,
                                      local_ ? static_cast<std::int64_t>(local_->dimension()) : -1,
                                      exact != nullptr ? 1 : 0,
                                      exact != nullptr ? exact->params().block_bytes : 0,
                                      exact != nullptr ? exact->params().min_block_keys : 0,
                                      exact != nullptr ? exact->params().max_block_keys : 0};
    const char* names[6] = {"global_slots", "the dimension of local", "the kind of local (1: ExactIndex, 0: another)",
                            "local's ExactParams::block_bytes", "local's ExactParams::min_block_keys",
                            "local's ExactParams::max_block_keys"};
    std::int64_t agreed[13] = {error.empty() ? 0 : comm_.rank() + 1};
    for (int i = 0; i < 6; ++i) {
      agreed[1 + 2 * i] = settings[i];
      agreed[2 + 2 * i] = -settings[i];
    }
    comm_.allreduce_max(agreed, 13);
    if (!error.empty()) throw ValueError(error);
    if (agreed[0] != 0) {
      throw ValueError(detail::concat(where, ": rank ", agreed[0] - 1, " got invalid arguments (see its error)"));
    }
    for (int i = 0; i < 6; ++i) {  // NOTE: the same blocks on every rank keep exact search bit-identical
      if (agreed[1 + 2 * i] != -agreed[2 + 2 * i]) {
        throw ValueError(detail::concat(where, ": ", names[i], " differs between ranks (from ", -agreed[2 + 2 * i],
                                        " to ", agreed[1 + 2 * i], "), expected the same on every rank"));
      }
    }
    first_ = first_slot_of(comm_.rank());
    local_slots_ = first_slot_of(comm_.rank() + 1) - first_;
    local_->add_empty(local_slots_);
    exact_ = exact;
  }

  ShardedIndex(const ShardedIndex&) = delete;
  ShardedIndex& operator=(const ShardedIndex&) = delete;
  ShardedIndex(ShardedIndex&&) = default;
  ShardedIndex& operator=(ShardedIndex&&) = default;

  const mpi::Communicator& communicator() const { return comm_; }
  Index dimension() const { return local_->dimension(); }
  Index global_slots() const { return global_slots_; }
  /// This rank's slots are [first_slot(), first_slot() + local_slots()).
  Index first_slot() const { return first_; }
  Index local_slots() const { return local_slots_; }
  /// First global slot of `rank` (rank = size(): global_slots()).
  Index first_slot_of(int rank) const {
    return static_cast<Index>(static_cast<std::int64_t>(global_slots_) * rank / comm_.size());
  }
  /// The rank that owns `global_slot`. \throws ValueError for a slot outside [0, global_slots()).
  int owner(Index global_slot) const {
    check_slot(global_slot, "owner");
    // the largest r with ⌊N·r/P⌋ ≤ s, i.e. N·r < (s + 1)·P
    return static_cast<int>(((global_slot + 1) * static_cast<std::int64_t>(comm_.size()) - 1) / global_slots_);
  }
  bool owns(Index global_slot) const { return global_slot >= first_ && global_slot < first_ + local_slots_; }

  /// Active keys of this shard.
  Index size() const { return local_->size(); }
  /// Collective: active keys of all shards (one MPI_Allreduce).
  Index global_size() const {
    std::int64_t total = local_->size();
    comm_.allreduce_sum(&total, 1);
    return static_cast<Index>(total);
  }
  /// Whether `global_slot` holds a key; false on every rank but its owner.
  bool active(Index global_slot) const { return owns(global_slot) && local_->active(global_slot - first_); }
  /// The shard (its slot i is global slot first_slot() + i).
  const KnnIndex<Scalar>& local_index() const { return *local_; }

  /// Stores `key` (d × 1) in `global_slot` if this rank owns it (returns whether it did). No
  /// communication. \throws ValueError for a slot outside [0, global_slots()) or a NaN/Inf key,
  /// ShapeError for a wrong size, on every rank that is called.
  bool set(Index global_slot, const ConstRef& key) {
    check_slot(global_slot, "set");
    check_key(key, "set");
    if (!owns(global_slot)) return false;
    local_->set(global_slot - first_, key);
    return true;
  }
  /// Deactivates `global_slot` if this rank owns it (returns whether it does); no communication.
  /// \throws ValueError for a slot outside [0, global_slots()).
  bool remove(Index global_slot) {
    check_slot(global_slot, "remove");
    if (!owns(global_slot)) return false;
    local_->remove(global_slot - first_);
    return true;
  }
  /// set() on the owner only. \throws ValueError on any other rank, as set() otherwise.
  void set_owned(Index global_slot, const ConstRef& key) {
    check_owned(global_slot, "set_owned");
    set(global_slot, key);
  }
  /// remove() on the owner only. \throws ValueError on any other rank, as remove() otherwise.
  void remove_owned(Index global_slot) {
    check_owned(global_slot, "remove_owned");
    remove(global_slot);
  }

  /// Collective: the k keys of all shards with the largest inner product with each query
  /// (queries: d × B, the same on every rank), best first, ties by smaller global slot; every rank
  /// gets the whole result (k × B). Exact shards: identical to ExactIndex::search over all keys with
  /// the same ExactParams (threads = 1). LSH shards: entries not found are −1 / −∞ (as LshIndex).
  /// \throws ShapeError if queries has not d rows; ValueError for k outside [1, global_slots()] or
  /// NaN/Inf queries (before any communication: same arguments, same throw on every rank), or, on
  /// every rank after the allgather, for k > global_size() (as a single index) or arguments that
  /// differ between ranks; MpiError if MPI fails.
  void search(const ConstRef& queries, Index k, KnnResult<Scalar>& result, ShardedKnnWorkspace<Scalar>& ws) const {
    const char* where = "mann::ShardedIndex::search";
    // NOTE: messages are built only on failure.
    if (queries.rows() != dimension()) {
      throw ShapeError(detail::concat(where, ": queries has ", queries.rows(), " rows, keys have ", dimension()));
    }
    if (k < 1 || k > global_slots_) {
      check_value(false, where, "k", k, detail::concat("in [1, ", global_slots_, "] (the number of slots)").c_str());
    }
    if (!queries.allFinite()) check_finite(queries, where, "queries");
    const Index batch = queries.cols();
    const std::size_t list = static_cast<std::size_t>(k) * kWords;  // one query's candidates
    const std::size_t message = kHeader + static_cast<std::size_t>(batch) * list;
    ws.sent.resize(message);
    ws.received.resize(message * static_cast<std::size_t>(comm_.size()));
    ws.sent[0] = static_cast<std::uint64_t>(local_->size());
    ws.sent[1] = static_cast<std::uint64_t>(k);
    ws.sent[2] = static_cast<std::uint64_t>(batch);
    if (batch > 0) local_top_k(queries, k, ws);
    comm_.allgather(ws.sent.data(), message, ws.received.data());

    std::uint64_t total = 0;
    for (int r = 0; r < comm_.size(); ++r) {
      const std::uint64_t* header = ws.received.data() + static_cast<std::size_t>(r) * message;
      if (header[1] != static_cast<std::uint64_t>(k) || header[2] != static_cast<std::uint64_t>(batch)) {
        throw ValueError(detail::concat(where, ": rank ", r, " passed k = ", header[1], " and ", header[2],
                                        " queries, rank ", comm_.rank(), " k = ", k, " and ", batch,
                                        ": every rank must pass the same arguments"));
      }
      total += header[0];
    }
    if (static_cast<std::uint64_t>(k) > total) {
      check_value(false, where, "k", k,
                  detail::concat("in [1, ", total, "] (the number of stored keys on all ranks)").c_str());
    }
    result.indices.resize(k, batch);
    result.scores.resize(k, batch);
    merge(k, batch, message, result, ws);
  }

  /// search() with a temporary workspace (allocates; keep a workspace for repeated calls).
  void search(const ConstRef& queries, Index k, KnnResult<Scalar>& result) const {
    ShardedKnnWorkspace<Scalar> ws;
    search(queries, k, result, ws);
  }

  /// Collective: the global slot with the largest score, ties by smaller slot, or −1 if no slot has
  /// a score above −∞; the same on every rank. `scores` holds this rank's local_slots() values
  /// (ages, as KeyValueMemory::ages(), or ages plus noise; integers exact up to 2^53; −∞ excludes a
  /// slot). One MPI_Allreduce (MPI_MAXLOC) of one (double, int) pair. \throws ValueError on every
  /// rank if any rank's scores have the wrong size or a NaN / +∞ (the culprit's message names the
  /// entry, the others name the rank); MpiError if MPI fails.
  template <class T>
  Index oldest_slot(const std::vector<T>& scores) const {
    static_assert(std::is_arithmetic_v<T>, "scores must be numbers");
    const char* where = "mann::ShardedIndex::oldest_slot";
    const std::string error = check_scores(scores, where);
    struct {
      double value;
      int slot;
    } best{-std::numeric_limits<double>::infinity(), INT_MAX};
    if (!error.empty()) {
      best = {std::numeric_limits<double>::infinity(), -(comm_.rank() + 1)};  // wins the MAXLOC
    } else {
      for (Index i = 0; i < local_slots_; ++i) {  // strict >: the smaller slot among equal scores
        const double s = static_cast<double>(scores[static_cast<std::size_t>(i)]);
        if (s > best.value) best = {s, static_cast<int>(first_ + i)};
      }
    }
    // MPI_MAXLOC: the largest value; among equal values the smallest index, i.e. the smaller slot.
    mpi::detail::check(MPI_Allreduce(MPI_IN_PLACE, &best, 1, MPI_DOUBLE_INT, MPI_MAXLOC, comm_.handle()),
                       "MPI_Allreduce");
    if (!error.empty()) throw ValueError(error);
    if (best.value == std::numeric_limits<double>::infinity()) {
      throw ValueError(detail::concat(where, ": rank ", -best.slot - 1, " passed invalid scores (see its error)"));
    }
    return best.value == -std::numeric_limits<double>::infinity() ? Index{-1} : Index{best.slot};
  }

  /// Collective: the `count` slots with the largest scores, largest first (ties by smaller slot),
  /// into `slots` (fewer if fewer slots have a score above −∞); the same on every rank. Arguments as
  /// oldest_slot(). One MPI_Allgather of 1 + 2·count words per rank. \throws ValueError for count
  /// outside [1, global_slots()] (on every rank: same count), as oldest_slot() otherwise.
  template <class T>
  void oldest_slots(const std::vector<T>& scores, Index count, std::vector<Index>& slots) const {
    static_assert(std::is_arithmetic_v<T>, "scores must be numbers");
    const char* where = "mann::ShardedIndex::oldest_slots";
    if (count < 1 || count > global_slots_) {
      check_value(false, where, "count", count, detail::concat("in [1, ", global_slots_, "] (the number of slots)").c_str());
    }
    const std::string error = check_scores(scores, where);
    const std::size_t message = 1 + 2 * static_cast<std::size_t>(count);
    std::vector<std::uint64_t> sent(message, 0), received(message * static_cast<std::size_t>(comm_.size()));
    TopKSelector<double> selector;
    selector.reset(count);
    sent[0] = error.empty() ? 0 : 1;
    if (error.empty()) {
      for (Index i = 0; i < local_slots_; ++i) {
        const double s = static_cast<double>(scores[static_cast<std::size_t>(i)]);
        if (s != -std::numeric_limits<double>::infinity()) selector.push(s, first_ + i);
      }
    }
    std::vector<Index> best(static_cast<std::size_t>(count), -1);
    std::vector<double> best_scores(static_cast<std::size_t>(count), 0);
    const Index found = selector.finish(best.data(), best_scores.data());
    for (Index i = 0; i < count; ++i) {
      const auto u = static_cast<std::size_t>(i);
      std::memcpy(&sent[1 + 2 * u], &best_scores[u], sizeof(double));
      sent[2 + 2 * u] = static_cast<std::uint64_t>(i < found ? best[u] : -1);
    }
    comm_.allgather(sent.data(), message, received.data());
    if (!error.empty()) throw ValueError(error);
    selector.reset(count);
    for (int r = 0; r < comm_.size(); ++r) {
      const std::uint64_t* words = received.data() + static_cast<std::size_t>(r) * message;
      if (words[0] != 0) throw ValueError(detail::concat(where, ": rank ", r, " passed invalid scores (see its error)"));
      for (Index i = 0; i < count; ++i) {
        const auto slot = static_cast<std::int64_t>(words[2 + 2 * i]);
        if (slot < 0) break;
        double s;
        std::memcpy(&s, &words[1 + 2 * i], sizeof(double));
        selector.push(s, static_cast<Index>(slot));
      }
    }
    slots.resize(static_cast<std::size_t>(count));
    slots.resize(static_cast<std::size_t>(selector.finish(slots.data(), nullptr)));
  }

 private:
  // Words of one packed candidate (score bits, then the int32 slot) and of the message header.
  static constexpr std::size_t kWords = (sizeof(Scalar) + sizeof(std::int32_t) + 7) / 8;
  static constexpr std::size_t kHeader = 3;

  static void pack(std::uint64_t* out, Scalar score, Index slot) {
    unsigned char bytes[kWords * 8] = {};
    const auto slot32 = static_cast<std::int32_t>(slot);
    std::memcpy(bytes, &score, sizeof(Scalar));
    std::memcpy(bytes + sizeof(Scalar), &slot32, sizeof(slot32));
    std::memcpy(out, bytes, sizeof(bytes));
  }
  static Index unpack(const std::uint64_t* in, Scalar& score) {
    unsigned char bytes[kWords * 8];
    std::int32_t slot32;
    std::memcpy(bytes, in, sizeof(bytes));
    std::memcpy(&score, bytes, sizeof(Scalar));
    std::memcpy(&slot32, bytes + sizeof(Scalar), sizeof(slot32));
    return slot32;
  }

  // The shard's k best per query, packed into ws.sent after the header (global slots; −1 pads).
  void local_top_k(const ConstRef& queries, Index k, ShardedKnnWorkspace<Scalar>& ws) const {
    const Index batch = queries.cols();
    const std::size_t list = static_cast<std::size_t>(k) * kWords;
    ws.indices.resize(static_cast<std::size_t>(k));
    ws.scores.resize(static_cast<std::size_t>(k));
    auto write = [&](Index j, const Index* slots, const Scalar* scores, Index found, Index offset) {
      std::uint64_t* out = ws.sent.data() + kHeader + static_cast<std::size_t>(j) * list;
      for (Index i = 0; i < k; ++i) {
        if (i < found && slots[i] >= 0)
          pack(out + static_cast<std::size_t>(i) * kWords, scores[i], slots[i] + offset);
        else
          pack(out + static_cast<std::size_t>(i) * kWords, Scalar(0), -1);
      }
    };
    if (exact_ != nullptr) {
      exact_scan(queries, k, ws);
      for (Index j = 0; j < batch; ++j) {
        const Index found = ws.selectors[static_cast<std::size_t>(j)].finish(ws.indices.data(), ws.scores.data());
        write(j, ws.indices.data(), ws.scores.data(), found, 0);
      }
      return;
    }
    const Index local_k = std::min(k, local_->size());
    if (local_k == 0) {
      for (Index j = 0; j < batch; ++j) write(j, nullptr, nullptr, 0, 0);
      return;
    }
    local_->search(queries, local_k, ws.local_result, ws.local);
    for (Index j = 0; j < batch; ++j) {
      write(j, ws.local_result.indices.col(j).data(), ws.local_result.scores.col(j).data(), local_k, first_);
    }
  }

  // The exact shard scanned in the blocks of one ExactIndex over all global_slots() keys (see the
  // file comment); ws.selectors[j] gets query j's scores with global slot ids.
  void exact_scan(const ConstRef& queries, Index k, ShardedKnnWorkspace<Scalar>& ws) const {
    const Index batch = queries.cols(), d = dimension();
    const Index block = exact_->block_keys(batch);
    const Index begin = first_, end = first_ + local_slots_;
    const std::uint8_t* active = exact_->size() == local_slots_ ? nullptr : exact_->active_flags();
    if (static_cast<Index>(ws.selectors.size()) < batch) ws.selectors.resize(static_cast<std::size_t>(batch));
    for (Index j = 0; j < batch; ++j) ws.selectors[static_cast<std::size_t>(j)].reset(k);
    if (ws.block_scores.rows() < block || ws.block_scores.cols() < batch) {
      ws.block_scores.resize(std::max(block, ws.block_scores.rows()), std::max(batch, ws.block_scores.cols()));
    }
    const auto keys = exact_->keys();
    for (Index start = begin / block * block; start < end; start += block) {
      const Index count = std::min(block, global_slots_ - start);  // the single index's block
      const Index own_begin = std::max(start, begin), own_end = std::min(start + count, end);
      auto scores = ws.block_scores.topLeftCorner(count, batch);
      if (own_begin == start && own_end == start + count) {
        scores.noalias() = keys.middleCols(start - begin, count).transpose() * queries;
      } else {
        if (ws.padded_block.rows() != d || ws.padded_block.cols() < count) ws.padded_block.resize(d, block);
        auto padded = ws.padded_block.leftCols(count);
        padded.setZero();
        padded.middleCols(own_begin - start, own_end - own_begin) =
            keys.middleCols(own_begin - begin, own_end - own_begin);
        scores.noalias() = padded.transpose() * queries;
      }
      for (Index j = 0; j < batch; ++j) {
        ws.selectors[static_cast<std::size_t>(j)].push_scores(
            scores.col(j).data() + (own_begin - start), own_end - own_begin, own_begin,
            active != nullptr ? active + (own_begin - begin) : nullptr, exact_->params().simd);
      }
    }
  }

  // Per query, the k best of every rank's list (each sorted, −1 after its last candidate).
  void merge(Index k, Index batch, std::size_t message, KnnResult<Scalar>& result, ShardedKnnWorkspace<Scalar>& ws) const {
    if (static_cast<Index>(ws.selectors.size()) < batch) ws.selectors.resize(static_cast<std::size_t>(batch));
    const std::size_t list = static_cast<std::size_t>(k) * kWords;
    for (Index j = 0; j < batch; ++j) {
      auto& selector = ws.selectors[static_cast<std::size_t>(j)];
      selector.reset(k);
      for (int r = 0; r < comm_.size(); ++r) {
        const std::uint64_t* in =
            ws.received.data() + static_cast<std::size_t>(r) * message + kHeader + static_cast<std::size_t>(j) * list;
        for (Index i = 0; i < k; ++i) {
          Scalar score;
          const Index slot = unpack(in + static_cast<std::size_t>(i) * kWords, score);
          if (slot < 0) break;
          selector.push(score, slot);
        }
      }
      const Index found = selector.finish(result.indices.col(j).data(), result.scores.col(j).data());
      for (Index i = found; i < k; ++i) {
        result.indices(i, j) = -1;
        result.scores(i, j) = -std::numeric_limits<Scalar>::infinity();
      }
    }
  }

  // "" if scores fit this shard, else the message (built only on failure).
  template <class T>
  std::string check_scores(const std::vector<T>& scores, const char* where) const {
    if (static_cast<Index>(scores.size()) != local_slots_) {
      return detail::concat(where, ": scores.size() is ", scores.size(), " on rank ", comm_.rank(), ", expected ",
                            local_slots_, " (its local_slots())");
    }
    for (std::size_t i = 0; i < scores.size(); ++i) {
      const double s = static_cast<double>(scores[i]);
      if (std::isnan(s) || s == std::numeric_limits<double>::infinity()) {
        return detail::concat(where, ": scores[", i, "] is ", s, " on rank ", comm_.rank(),
                              ", expected a number or -inf (excluded)");
      }
    }
    return {};
  }

  void check_slot(Index global_slot, const char* method) const {
    if (global_slot < 0 || global_slot >= global_slots_) {
      check_value(false, detail::concat("mann::ShardedIndex::", method).c_str(), "global_slot", global_slot,
                  detail::concat("in [0, ", global_slots_, ") (the number of slots)").c_str());
    }
  }

  void check_owned(Index global_slot, const char* method) const {
    check_slot(global_slot, method);
    if (!owns(global_slot)) {
      check_value(false, detail::concat("mann::ShardedIndex::", method).c_str(), "global_slot", global_slot,
                  detail::concat("a slot of rank ", comm_.rank(), ", [", first_, ", ", first_ + local_slots_,
                                 ") (it belongs to rank ", owner(global_slot), ")")
                      .c_str());
    }
  }

  void check_key(const ConstRef& key, const char* method) const {
    if (key.rows() != dimension() || key.cols() != 1) {
      check_shape(key, dimension(), 1, detail::concat("mann::ShardedIndex::", method).c_str(), "key");
    }
    if (!key.allFinite()) check_finite(key, detail::concat("mann::ShardedIndex::", method).c_str(), "key");
  }

  mpi::Communicator comm_;
  Index global_slots_ = 0, first_ = 0, local_slots_ = 0;
  std::unique_ptr<KnnIndex<Scalar>> local_;
  const ExactIndex<Scalar>* exact_ = nullptr;  // local_ when it is exact
};

}  // namespace mann
