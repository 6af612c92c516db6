// mann/knn/lsh.hpp: approximate maximum-inner-product search by random-hyperplane LSH (Kaiser et
// al. 2017, §2 "Efficient nearest neighbor computation"; Charikar 2002). Each key gets a code of
// `tables` × `bits_per_table` sign bits [h_j · key > 0], packed in 64-bit words. Candidates come
// either from per-table hash buckets (multi-probe after Lv et al. 2007, or every bucket within a
// Hamming ball) or from a popcount scan of all codes for the smallest Hamming distances;
// the candidates are then re-ranked exactly. Keys are inserted, replaced and removed one at a time
// without any rebuild.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "mann/core/random.hpp"
#include "mann/knn/bucket_arena.hpp"
#include "mann/knn/huge_pages.hpp"
#include "mann/knn/index.hpp"
#include "mann/knn/simd.hpp"

namespace mann {

/// How an LshIndex finds its candidates.
enum class LshProbe {
  multi_probe,   ///< per table, the query's bucket and the next most likely ones (by |h_j · q|)
  hamming_ball,  ///< per table, every bucket within `hamming_radius` bits of the query's
  hamming_scan,  ///< no buckets: the `scan_candidates` codes closest in Hamming distance (popcount scan)
};

/// How multi_probe orders the perturbations of a table's home bucket (Lv et al. 2007). Both visit
/// the home bucket, then the bucket of the least certain bit (smallest |h_j · q|), and so on.
enum class LshProbeOrder {
  /// One sequence of flip sets for every query and table, ranked by Σ z_i² over the flipped sorted
  /// positions, z_i the half-normal's quantile at (i + 1)/(l + 1) (our stand-in for the expected
  /// margin of the i-th least certain bit), mapped through each table's margin order. This adapts Lv
  /// et al.'s precomputed probing sequence (theirs uses E2LSH's expected boundary distances); 7–8×
  /// cheaper per probe than `query` (docs/knn.md).
  expected,
  /// Flip sets ranked by the query's own Σ (h_j · q)² per table (query-directed probing), built with
  /// a heap per table and query.
  query,
};

inline const char* to_string(LshProbe probe) {
  switch (probe) {
    case LshProbe::multi_probe:
      return "multi_probe";
    case LshProbe::hamming_ball:
      return "hamming_ball";
    default:
      return "hamming_scan";
  }
}

/// Construction parameters of an LshIndex (fixed for its lifetime).
struct LshParams {
  Index tables = 16;          ///< number of hash tables
  Index bits_per_table = 14;  ///< l: sign bits per table (≤ 20 with bucket tables, else ≤ 64)
  bool bucket_tables = true;  ///< keep per-table buckets (needed by multi_probe and hamming_ball)
  /// With bucket tables, 0 … 64: bits of a second sign code, the sketch (own hyperplanes), stored in
  /// every bucket entry beside the slot. A search then ranks its candidates by the sketch as it reads
  /// the buckets, and reads full codes at random only for the `sketch_candidates` closest.
  /// 0: every candidate is ranked by its full code. Bucket entries are 12 bytes either way; without
  /// bucket tables there is no sketch.
  Index sketch_bits = 64;
  std::uint64_t seed = 1;     ///< seed of the random hyperplanes

  /// Defaults for about `keys` keys: 16 tables of about log2(keys / 16) bits (clamped to 4 … 20),
  /// so a bucket holds ~16 keys of a uniform distribution.
  static LshParams for_size(Index keys) {
    LshParams p;
    const double bits = std::round(std::log2(std::max(1.0, static_cast<double>(keys) / 16.0)));
    p.bits_per_table = static_cast<Index>(std::clamp(bits, 4.0, 20.0));
    return p;
  }
};

/// Search-time parameters of an LshIndex (may change between searches).
struct LshSearchParams {
  LshProbe probe = LshProbe::multi_probe;
  Index probes_per_table = 16;   ///< multi_probe: buckets visited per table, the query's own included
  LshProbeOrder probe_order = LshProbeOrder::expected;  ///< multi_probe: how the perturbations are ranked
  Index hamming_radius = 1;      ///< hamming_ball: radius in bits per table
  Index max_candidates = 1024;   ///< > 0: keep only this many bucket candidates, the closest in
                                 ///< Hamming distance over all bits (every table's and the sketch's)
                                 ///< among the sketch's survivors, before re-ranking
  /// With a sketch (LshParams::sketch_bits > 0) and more than max_candidates > 0 candidates: the
  /// max(max_candidates, sketch_candidates) closest in sketch distance go on to the ranking over all
  /// bits, which reads their full codes; ≤ max_candidates: the sketch alone keeps max_candidates.
  Index sketch_candidates = 3072;
  Index scan_candidates = 1024;  ///< hamming_scan: candidates kept for exact re-ranking
  /// Popcount kernel; every compiled level gives the same result.
  knn::SimdLevel simd = knn::hamming_simd_level();
};

/// Random-hyperplane LSH index with exact re-ranking. An approximate search may find fewer than k
/// candidates: the missing entries of a result column have slot −1 and score −∞.
/// Thread safety as KnnIndex; set_search_params() is a write.
template <class Scalar = float>
class LshIndex : public KnnIndex<Scalar> {
 public:
  using Base = KnnIndex<Scalar>;
  using typename Base::ConstRef;
  using typename Base::Mat;

  /// \throws ValueError for dimension < 1, tables outside [1, 64], bits_per_table outside [1, 20]
  /// (bucket tables: 2^l buckets per table) or [1, 64] (no bucket tables), sketch_bits outside
  /// [0, 64], or invalid search
  /// parameters (without bucket tables the probe must be hamming_scan).
  LshIndex(Index dimension, LshParams params = {}, LshSearchParams search = {})
      : Base(check_dimension(dimension)), params_(params) {
    const char* where = "mann::LshIndex";
    check_value(params.tables >= 1 && params.tables <= 64, where, "params.tables", params.tables, "in [1, 64]");
    const Index max_bits = params.bucket_tables ? 20 : 64;
    check_value(params.bits_per_table >= 1 && params.bits_per_table <= max_bits, where, "params.bits_per_table",
                params.bits_per_table, params.bucket_tables ? "in [1, 20] with bucket tables" : "in [1, 64]");
    check_value(params.sketch_bits >= 0 && params.sketch_bits <= 64, where, "params.sketch_bits", params.sketch_bits,
                "in [0, 64]");
    tables_ = params.tables;
    bits_ = params.bits_per_table;
    code_bits_ = tables_ * bits_;
    sketch_bits_ = params.bucket_tables ? params.sketch_bits : 0;
    words_ = (code_bits_ + 63) / 64;
    set_search_params(search);
    // Random unit hyperplanes h_1 … h_{T·l}, then the sketch's, one per row.
    Rng rng(params.seed);
    hyperplanes_.resize(code_bits_ + sketch_bits_, dimension);
    for (Index r = 0; r < hyperplanes_.rows(); ++r) {
      for (Index c = 0; c < dimension; ++c) hyperplanes_(r, c) = static_cast<Scalar>(rng.normal());
      hyperplanes_.row(r).normalize();
    }
    if (params.bucket_tables) {
      bucket_count_ = Index{1} << bits_;
      buckets_ = knn::BucketArena<BucketEntry>(static_cast<std::size_t>(tables_ * bucket_count_));
    }
    projection_.resize(code_bits_ + sketch_bits_);
    code_.resize(static_cast<std::size_t>(words_));
  }

  const char* name() const override { return "mann::LshIndex"; }
  const LshParams& params() const { return params_; }
  const LshSearchParams& search_params() const { return search_; }

  /// \throws ValueError for a probe mode needing buckets the index does not keep, or counts < 1.
  void set_search_params(const LshSearchParams& search) {
    const char* where = "mann::LshIndex::set_search_params";
    check_value(search.probe == LshProbe::hamming_scan || params_.bucket_tables, where, "search.probe",
                to_string(search.probe), "hamming_scan (the index keeps no bucket tables)");
    check_value(search.probes_per_table >= 1, where, "search.probes_per_table", search.probes_per_table, ">= 1");
    check_value(search.hamming_radius >= 0, where, "search.hamming_radius", search.hamming_radius, ">= 0");
    check_value(search.max_candidates >= 0, where, "search.max_candidates", search.max_candidates, ">= 0");
    check_value(search.scan_candidates >= 1, where, "search.scan_candidates", search.scan_candidates, ">= 1");
    check_value(search.sketch_candidates >= 0, where, "search.sketch_candidates", search.sketch_candidates, ">= 0");
    check_value(knn::hamming_level_compiled(search.simd), where, "search.simd", knn::to_string(search.simd),
                "a level compiled in");
    std::vector<std::uint64_t> sequence;  // built first, so that a throw leaves the index unchanged
    if (params_.bucket_tables && search.probe == LshProbe::multi_probe &&
        search.probe_order == LshProbeOrder::expected) {
      std::vector<double> expected(static_cast<std::size_t>(bits_));
      for (Index i = 0; i < bits_; ++i) {
        expected[static_cast<std::size_t>(i)] = square(half_normal_quantile((i + 1.0) / (bits_ + 1.0)));
      }
      std::vector<LshProbeSet> heap;
      sequence.push_back(0);
      perturbations(expected.data(), search.probes_per_table, heap,
                    [&](std::uint64_t positions) { sequence.push_back(positions); });
    }
    search_ = search;
    probe_sequence_.swap(sequence);
  }

  /// multi_probe with LshProbeOrder::expected: the flip sets visited in every table, in order, as
  /// masks of margin-order positions (bit i: the i-th least certain bit); the first is the home bucket.
  const std::vector<std::uint64_t>& probe_sequence() const { return probe_sequence_; }

  Index tables() const { return tables_; }
  Index bits_per_table() const { return bits_; }
  /// Bits and 64-bit words of a whole code (all tables).
  Index code_bits() const { return code_bits_; }
  Index code_words() const { return words_; }
  Index sketch_bits() const { return sketch_bits_; }
  /// The hyperplanes, (tables · bits_per_table + sketch_bits) × d, unit rows: the code's, then the sketch's.
  const Mat& hyperplanes() const { return hyperplanes_; }

  /// Writes the stored code of `slot` (code_words() words) to `out`.
  void slot_code(Index slot, std::uint64_t* out) const {
    for (Index w = 0; w < words_; ++w) out[w] = codes_[word_offset(slot, w)];
  }

  /// Writes the code of any vector v (d × 1) to `out`: bit j is [h_j · v > 0].
  void encode(const ConstRef& v, std::uint64_t* out) const {
    const Vector<Scalar> projection = hyperplanes_ * v.col(0);
    pack(projection.data(), out);
  }

  /// The sketch of any vector v (d × 1): bit i is [h_{T·l+i} · v > 0]; 0 without a sketch.
  std::uint64_t sketch(const ConstRef& v) const {
    const Vector<Scalar> projection = hyperplanes_ * v.col(0);
    return pack_sketch(projection.data() + code_bits_);
  }

  /// The sketch stored with `slot` in every bucket holding it (for tests); needs bucket tables and an
  /// active slot.
  std::uint64_t slot_sketch(Index slot) const {
    const std::size_t bucket = arena_bucket(0, table_code(slot_codes_.data() + slot * words_, 0));
    return buckets_.at(bucket, static_cast<std::size_t>(positions_[link(slot, 0)])).sketch();
  }

  /// Bits [t·l, t·l + l) of a code: the code's bucket in table t.
  std::uint64_t table_code(const std::uint64_t* code, Index t) const {
    const Index start = t * bits_;
    const Index word = start / 64, offset = start % 64;
    std::uint64_t value = code[word] >> offset;
    if (offset + bits_ > 64) value |= code[word + 1] << (64 - offset);
    return bits_ == 64 ? value : value & ((std::uint64_t{1} << bits_) - 1);
  }

  /// Number of active slots in bucket `bucket` of table `t` (for tests and tuning).
  Index bucket_size(Index t, std::uint64_t bucket) const {
    return static_cast<Index>(buckets_.size(arena_bucket(t, bucket)));
  }

 protected:
  void do_search(const ConstRef& queries, Index k, KnnResult<Scalar>& result, KnnWorkspace<Scalar>& ws) const override {
    const Index batch = queries.cols();
    const Index rows = hyperplanes_.rows();
    if (ws.projections.rows() != rows || ws.projections.cols() < batch) ws.projections.resize(rows, batch);
    auto projections = ws.projections.leftCols(batch);
    projections.noalias() = hyperplanes_ * queries;
    ws.query_codes.resize(static_cast<std::size_t>(words_ * batch));
    for (Index j = 0; j < batch; ++j) pack(projections.col(j).data(), query_code(ws, j));
    if (ws.selectors.empty()) ws.selectors.resize(1);
    ws.reranked = 0;

    if (search_.probe == LshProbe::hamming_scan) {
      scan_search(queries, k, result, ws);
      return;
    }
    const std::size_t seen_words = static_cast<std::size_t>(this->slots() + 63) / 64;
    if (ws.seen.size() < seen_words) ws.seen.resize(seen_words, 0);
    std::uint64_t* seen = ws.seen.data();
    for (Index j = 0; j < batch; ++j) {
      // 1. the buckets to visit, all tables
      ws.probe_buckets.clear();
      const std::uint64_t* code = query_code(ws, j);
      for (Index t = 0; t < tables_; ++t) {
        const std::uint64_t home = table_code(code, t);
        auto add = [&](std::uint64_t bucket) { ws.probe_buckets.push_back(arena_bucket(t, bucket)); };
        if (search_.probe == LshProbe::multi_probe) {
          multi_probe(projections.col(j).data() + t * bits_, home, ws, add);
        } else {
          hamming_ball(home, add);
        }
      }
      // 2. their slots, each once, with their sketch distances
      const std::uint64_t sketch = sketch_bits_ > 0 ? pack_sketch(projections.col(j).data() + code_bits_) : 0;
      // NOTE: ws.candidates only grows (resizing it would zero-fill); n counts the valid ones
      const auto cap = static_cast<std::size_t>(search_.max_candidates);
      const std::size_t by_sketch = sketch_bits_ > 0 && cap > 0
                                        ? std::max(cap, static_cast<std::size_t>(search_.sketch_candidates))
                                        : std::numeric_limits<std::size_t>::max();
      std::size_t n = gather(sketch, seen, by_sketch, ws);
      // 3. the closest in Hamming distance: by sketch, then by full code
      if (cap > 0 && n > cap) {
        if (n > by_sketch) n = keep_closest(ws, n, by_sketch, static_cast<std::size_t>(sketch_bits_));
        if (n > cap) {  // by the Hamming distance over all the bits, the code's and the sketch's
          code_distances(code, ws, n);
          n = keep_closest(ws, n, cap, static_cast<std::size_t>(code_bits_ + sketch_bits_));
        }
      }
      rerank(queries, j, k, n, result, ws);
    }
  }

  void on_reserve(Index slots) override {
    codes_.reserve(static_cast<std::size_t>(code_array_size(slots)));
    if (params_.bucket_tables) {
      positions_.reserve(static_cast<std::size_t>(slots * tables_));
      slot_codes_.reserve(static_cast<std::size_t>(slots * words_));
    }
  }

  void on_grow(Index slots) override {
    codes_.resize(static_cast<std::size_t>(code_array_size(slots)), 0);
    if (params_.bucket_tables) {
      positions_.resize(static_cast<std::size_t>(slots * tables_), -1);
      slot_codes_.resize(static_cast<std::size_t>(slots * words_), 0);
    }
  }

  void on_insert(Index slot) override {
    projection_.noalias() = hyperplanes_ * this->keys_.col(slot);
    pack(projection_.data(), code_.data());
    for (Index w = 0; w < words_; ++w) codes_[word_offset(slot, w)] = code_[static_cast<std::size_t>(w)];
    if (!params_.bucket_tables) return;
    std::copy(code_.begin(), code_.end(), slot_codes_.begin() + slot * words_);
    const BucketEntry entry = BucketEntry::make(static_cast<std::int32_t>(slot), pack_sketch(projection_.data() + code_bits_));
    Index t = 0;
    try {  // a bucket's growth may throw std::bad_alloc: then undo the tables done, all or nothing
      for (; t < tables_; ++t) {
        positions_[link(slot, t)] = static_cast<std::int32_t>(buckets_.push_back(slot_bucket(t), entry));
      }
    } catch (...) {
      for (Index u = 0; u < t; ++u) {  // the slot is still the last entry of its bucket there
        buckets_.pop_back(slot_bucket(u));
        positions_[link(slot, u)] = -1;
      }
      clear_codes(slot);
      throw;
    }
  }

  void on_remove(Index slot) override {
    slot_code(slot, code_.data());
    clear_codes(slot);
    if (!params_.bucket_tables) return;
    for (Index t = 0; t < tables_; ++t) {  // swap with the bucket's last entry, then drop it
      const std::size_t bucket = slot_bucket(t);
      const std::int32_t position = positions_[link(slot, t)];
      const BucketEntry moved = buckets_.back(bucket);
      buckets_.at(bucket, static_cast<std::size_t>(position)) = moved;
      positions_[link(moved.slot, t)] = position;
      buckets_.pop_back(bucket);
      positions_[link(slot, t)] = -1;
    }
  }

 private:
  static Index check_dimension(Index dimension) {
    check_value(dimension >= 1, "mann::LshIndex", "dimension", dimension, ">= 1");
    return dimension;
  }

  static void prefetch(const void* address) {
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(address);
#else
    (void)address;
#endif
  }

  Index code_array_size(Index slots) const {
    return (slots + static_cast<Index>(knn::kCodeBlock) - 1) / static_cast<Index>(knn::kCodeBlock) * words_ *
           static_cast<Index>(knn::kCodeBlock);
  }
  std::size_t word_offset(Index slot, Index w) const {
    return knn::code_word_offset(static_cast<std::size_t>(slot), static_cast<std::size_t>(words_),
                                 static_cast<std::size_t>(w));
  }
  std::size_t link(Index slot, Index t) const {
    return static_cast<std::size_t>(slot) * static_cast<std::size_t>(tables_) + static_cast<std::size_t>(t);
  }
  std::uint64_t* query_code(KnnWorkspace<Scalar>& ws, Index j) const { return ws.query_codes.data() + j * words_; }
  // Bucket `bucket` of table t in the arena.
  std::size_t arena_bucket(Index t, std::uint64_t bucket) const {
    return static_cast<std::size_t>(t * bucket_count_) + static_cast<std::size_t>(bucket);
  }
  // The arena bucket of table t holding the slot whose code is in code_ (on_insert, on_remove).
  std::size_t slot_bucket(Index t) const { return arena_bucket(t, table_code(code_.data(), t)); }
  // Zeroes the slot's stored codes (both copies).
  void clear_codes(Index slot) {
    for (Index w = 0; w < words_; ++w) codes_[word_offset(slot, w)] = 0;
    if (params_.bucket_tables)
      std::fill(slot_codes_.begin() + slot * words_, slot_codes_.begin() + (slot + 1) * words_, std::uint64_t{0});
  }

  // Bit j of out (count bits, in (count + 63) / 64 words) is [projection_j > 0].
  static void pack_signs(const Scalar* projection, Index count, std::uint64_t* out) {
    std::fill(out, out + (count + 63) / 64, std::uint64_t{0});
    for (Index j = 0; j < count; ++j) {
      if (projection[j] > Scalar(0)) out[j / 64] |= std::uint64_t{1} << (j % 64);
    }
  }
  void pack(const Scalar* projection, std::uint64_t* out) const { pack_signs(projection, code_bits_, out); }
  // The sketch from the sketch hyperplanes' projections (0 without a sketch).
  std::uint64_t pack_sketch(const Scalar* projection) const {
    std::uint64_t sketch = 0;
    pack_signs(projection, sketch_bits_, &sketch);
    return sketch;
  }

  // Multi-probe (Lv et al. 2007): the home bucket, then perturbations in increasing score Σ over the
  // flipped bits; with LshProbeOrder::query the score is the query's (h_j · q)², else the expected one
  // (probe_sequence_). Positions count in margin order, mapped to table bits through the sort.
  template <class Visit>
  void multi_probe(const Scalar* margins, std::uint64_t home, KnnWorkspace<Scalar>& ws, Visit& visit) const {
    visit(home);
    if (search_.probes_per_table <= 1) return;
    ws.margin_order.resize(static_cast<std::size_t>(bits_));
    for (Index i = 0; i < bits_; ++i) ws.margin_order[static_cast<std::size_t>(i)] = static_cast<int>(i);
    std::sort(ws.margin_order.begin(), ws.margin_order.end(), [&](int a, int b) {
      const Scalar ma = std::abs(margins[a]), mb = std::abs(margins[b]);
      return ma < mb || (ma == mb && a < b);
    });
    auto flips = [&](std::uint64_t positions) {
      std::uint64_t bits = 0;
      for (; positions != 0; positions &= positions - 1) {
        bits |= std::uint64_t{1} << ws.margin_order[static_cast<std::size_t>(knn::lowest_set_bit(positions))];
      }
      return bits;
    };
    if (search_.probe_order == LshProbeOrder::expected) {
      for (std::size_t n = 1; n < probe_sequence_.size(); ++n) visit(home ^ flips(probe_sequence_[n]));
      return;
    }
    ws.margin_squares.resize(static_cast<std::size_t>(bits_));
    for (Index i = 0; i < bits_; ++i) {
      ws.margin_squares[static_cast<std::size_t>(i)] =
          square(static_cast<double>(margins[ws.margin_order[static_cast<std::size_t>(i)]]));
    }
    perturbations(ws.margin_squares.data(), search_.probes_per_table, ws.probe_heap,
                  [&](std::uint64_t positions) { visit(home ^ flips(positions)); });
  }

  // The first `count` − 1 non-empty subsets of the positions 0 … l−1 in increasing Σ scores[i]
  // (scores ascending), each generated once by "shift" and "expand" from {0} (Lv et al. 2007).
  template <class Emit>
  void perturbations(const double* scores, Index count, std::vector<LshProbeSet>& heap, Emit&& emit) const {
    auto later = [](const LshProbeSet& a, const LshProbeSet& b) { return a.score > b.score; };
    heap.clear();
    heap.push_back({scores[0], 1, 0});
    for (Index n = 1; n < count && !heap.empty(); ++n) {
      std::pop_heap(heap.begin(), heap.end(), later);
      const LshProbeSet set = heap.back();
      heap.pop_back();
      emit(set.flips);
      const int next = set.last + 1;
      if (next < bits_) {
        const std::uint64_t last_bit = std::uint64_t{1} << set.last, next_bit = std::uint64_t{1} << next;
        const double add = scores[next], drop = scores[set.last];
        heap.push_back({set.score - drop + add, set.flips ^ last_bit ^ next_bit, next});  // shift
        std::push_heap(heap.begin(), heap.end(), later);
        heap.push_back({set.score + add, set.flips | next_bit, next});  // expand
        std::push_heap(heap.begin(), heap.end(), later);
      }
    }
  }

  static double square(double x) { return x * x; }

  // z ≥ 0 with P(|N(0, 1)| ≤ z) = p, by bisection (construction only).
  static double half_normal_quantile(double p) {
    double lo = 0, hi = 40;
    for (int i = 0; i < 100; ++i) {
      const double mid = 0.5 * (lo + hi);
      (std::erf(mid / std::sqrt(2.0)) < p ? lo : hi) = mid;
    }
    return 0.5 * (lo + hi);
  }

  // Every bucket within `hamming_radius` bits of home, nearer ones first (Gosper's hack per weight).
  template <class Visit>
  void hamming_ball(std::uint64_t home, Visit& visit) const {
    visit(home);
    const Index radius = std::min(search_.hamming_radius, bits_);
    const std::uint64_t end = std::uint64_t{1} << bits_;
    for (Index r = 1; r <= radius; ++r) {
      std::uint64_t mask = (std::uint64_t{1} << r) - 1;
      while (mask < end) {
        visit(home ^ mask);
        const std::uint64_t lowest = mask & (~mask + 1);
        const std::uint64_t ripple = mask + lowest;
        mask = (((ripple ^ mask) >> 2) / lowest) | ripple;
      }
    }
  }

  // Writes the slots of the buckets in ws.probe_buckets to ws.candidates, each once, and their
  // sketch distances to ws.distances; returns their number. Once `keep` of them are closer than
  // sketch distance L, an entry at L or farther cannot be among the `keep` closest, whenever it
  // comes: it is passed over after one popcount (its slot has the same sketch in every bucket), and
  // `limit` (L − 1) tightens as closer ones arrive; `within` counts the candidates within `limit`.
  // NOTE: the headers and contents of the buckets are scattered over memory; they are prefetched a
  // few buckets ahead, every cache line of a content. A slot already seen is written and then
  // overwritten, without a branch.
  std::size_t gather(std::uint64_t sketch, std::uint64_t* seen, std::size_t keep, KnnWorkspace<Scalar>& ws) const {
    const std::size_t probes = ws.probe_buckets.size();
    constexpr std::size_t header_ahead = 16, data_ahead = 8;
    std::size_t n = 0;
    auto limit = static_cast<std::uint32_t>(sketch_bits_);
    std::size_t within = 0;  // distinct candidates within limit
    ws.histogram.assign(static_cast<std::size_t>(sketch_bits_) + 1, 0);
    std::uint32_t* within_at = ws.histogram.data();  // [distance] → distinct candidates admitted
    for (std::size_t i = 0; i < probes; ++i) {
      if (i + header_ahead < probes) prefetch(buckets_.header(ws.probe_buckets[i + header_ahead]));
      if (i + data_ahead < probes) {
        const std::size_t ahead = ws.probe_buckets[i + data_ahead];
        const auto first = reinterpret_cast<std::uintptr_t>(buckets_.data(ahead));
        const auto end = reinterpret_cast<std::uintptr_t>(buckets_.data(ahead) + buckets_.size(ahead));
        for (std::uintptr_t line = first / 64 * 64; line < end; line += 64) prefetch(reinterpret_cast<const void*>(line));
      }
      const std::size_t bucket = ws.probe_buckets[i], size = buckets_.size(bucket);
      const BucketEntry* entries = buckets_.data(bucket);
      if (std::min(ws.candidates.size(), ws.distances.size()) < n + size) {  // grows to the largest count
        ws.candidates.resize(2 * (n + size));
        ws.distances.resize(2 * (n + size));
      }
      Index* candidates = ws.candidates.data();
      std::uint32_t* distances = ws.distances.data();
      const std::size_t from = n;
      for (const BucketEntry* e = entries; e != entries + size; ++e) {
        const auto distance = static_cast<std::uint32_t>(knn::popcount64(e->sketch() ^ sketch));
        if (distance > limit) continue;
        const auto s = static_cast<std::uint32_t>(e->slot);
        const std::uint64_t word = seen[s / 64], bit = std::uint64_t{1} << (s % 64);
        seen[s / 64] = word | bit;
        candidates[n] = e->slot;
        distances[n] = distance;
        n += (word & bit) == 0;
      }
      // the limit tightens once per bucket, which keeps the loop above short (3–4 % of a T32 P18
      // query, docs/knn.md); the few admitted above the new limit are cut by keep_closest
      for (std::size_t c = from; c < n; ++c) ++within_at[distances[c]];
      within += n - from;
      while (within - within_at[limit] >= keep) within -= within_at[limit--];
    }
    for (std::size_t i = 0; i < n; ++i) seen[ws.candidates[i] / 64] = 0;  // clear for the next query
    return n;
  }

  // Adds the first n candidates' Hamming distances to the query's code over all bits to ws.distances
  // (which hold their sketch distances, or 0 without a sketch).
  void code_distances(const std::uint64_t* code, KnnWorkspace<Scalar>& ws, std::size_t n) const {
    const std::size_t words = static_cast<std::size_t>(words_);
    constexpr std::size_t ahead = 32;
    for (std::size_t i = 0; i < n; ++i) {
      if (i + ahead < n) prefetch(slot_codes_.data() + static_cast<std::size_t>(ws.candidates[i + ahead]) * words);
      const std::uint64_t* c = slot_codes_.data() + static_cast<std::size_t>(ws.candidates[i]) * words;
      std::uint32_t distance = 0;
      for (std::size_t w = 0; w < words; ++w) distance += static_cast<std::uint32_t>(knn::popcount64(c[w] ^ code[w]));
      ws.distances[i] += distance;
    }
  }

  // Moves the `keep` (< n) of the first n candidates of smallest ws.distances (each ≤ max_distance),
  // ties by smaller slot id, with their distances to the front; returns keep. Distances are small integers: a
  // histogram finds the cut-off distance, and only the candidates at exactly that distance need
  // ordering (by slot id).
  std::size_t keep_closest(KnnWorkspace<Scalar>& ws, std::size_t n, std::size_t keep, std::size_t max_distance) const {
    const std::size_t bins = max_distance + 1;
    std::uint32_t* d = ws.distances.data();
    ws.histogram.assign(bins, 0);
    std::uint32_t* h = ws.histogram.data();
    for (std::size_t i = 0; i < n; ++i) ++h[d[i]];
    std::uint32_t cutoff = 0;
    std::size_t below = 0;  // candidates closer than the cut-off
    while (below + h[cutoff] < keep) below += h[cutoff++];
    // branch-free partition (7–9 % of a P48 query faster than branching, docs/knn.md): the closer
    // ones stay in place, the ones at the cut-off go to ties
    if (ws.ties.size() < n) ws.ties.resize(n);
    Index* c = ws.candidates.data();
    Index* ties = ws.ties.data();
    std::size_t kept = 0, tied = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const Index slot = c[i];
      const std::uint32_t distance = d[i];
      c[kept] = slot;
      d[kept] = distance;
      ties[tied] = slot;
      kept += distance < cutoff;
      tied += distance == cutoff;
    }
    const std::size_t from_ties = keep - below;
    std::nth_element(ties, ties + from_ties - 1, ties + tied);
    std::copy(ties, ties + from_ties, c + kept);
    std::fill(d + kept, d + keep, cutoff);
    return keep;
  }

  // Exact scores of the first n candidates; the k best go to result column j.
  void rerank(const ConstRef& queries, Index j, Index k, std::size_t count, KnnResult<Scalar>& result,
              KnnWorkspace<Scalar>& ws) const {
    auto& selector = ws.selectors[0];
    selector.reset(k);
    const auto query = queries.col(j);
    const auto n = static_cast<Index>(count);
    ws.reranked += n;
    constexpr Index ahead = 4;
    const Index bytes = this->dimension() * static_cast<Index>(sizeof(Scalar));
    for (Index i = 0; i < n; ++i) {
      if (i + ahead < n) {  // NOTE: the keys are scattered; fetch every cache line of a key ahead
        const char* p =
            reinterpret_cast<const char*>(this->keys_.col(ws.candidates[static_cast<std::size_t>(i + ahead)]).data());
        for (Index b = 0; b < bytes; b += 64) prefetch(p + b);
      }
      const Index s = ws.candidates[static_cast<std::size_t>(i)];
      selector.push(this->keys_.col(s).dot(query), s);
    }
    const Index found = selector.finish(result.indices.col(j).data(), result.scores.col(j).data());
    Base::pad_result(result, j, found);
  }

  // Popcount scan of all codes, in chunks shared by a group of queries so that the codes are read
  // from memory once per group.
  void scan_search(const ConstRef& queries, Index k, KnnResult<Scalar>& result, KnnWorkspace<Scalar>& ws) const {
    constexpr Index group = 32;
    constexpr Index chunk = 4096;  // slots per chunk, a multiple of the code block
    const Index batch = queries.cols(), slots = this->slots();
    const Index keep = std::min(search_.scan_candidates, this->size());
    const std::uint8_t* active = this->size() == slots ? nullptr : this->active_flags();
    if (static_cast<Index>(ws.code_selectors.size()) < group) ws.code_selectors.resize(group);
    if (ws.distances.size() < static_cast<std::size_t>(chunk)) ws.distances.resize(chunk);  // never shrinks
    ws.agreements.resize(chunk);
    for (Index first = 0; first < batch; first += group) {
      const Index members = std::min(group, batch - first);
      for (Index g = 0; g < members; ++g) ws.code_selectors[static_cast<std::size_t>(g)].reset(keep);
      for (Index start = 0; start < slots; start += chunk) {
        const Index count = std::min(chunk, slots - start);
        const std::size_t blocks = static_cast<std::size_t>(count + 7) / knn::kCodeBlock;
        const std::uint64_t* codes = codes_.data() + word_offset(start, 0);
        for (Index g = 0; g < members; ++g) {
          knn::hamming_distances(codes, blocks, static_cast<std::size_t>(words_), query_code(ws, first + g),
                                 ws.distances.data(), search_.simd);
          const auto bits = static_cast<std::int32_t>(code_bits_);
          for (Index i = 0; i < count; ++i)
            ws.agreements[static_cast<std::size_t>(i)] =
                bits - static_cast<std::int32_t>(ws.distances[static_cast<std::size_t>(i)]);
          ws.code_selectors[static_cast<std::size_t>(g)].push_scores(
              ws.agreements.data(), count, start, active != nullptr ? active + start : nullptr, search_.simd);
        }
      }
      for (Index g = 0; g < members; ++g) {
        if (ws.candidates.size() < static_cast<std::size_t>(keep)) ws.candidates.resize(static_cast<std::size_t>(keep));
        const Index found = ws.code_selectors[static_cast<std::size_t>(g)].finish(ws.candidates.data(), nullptr);
        rerank(queries, first + g, k, static_cast<std::size_t>(found), result, ws);
      }
    }
  }

  // A bucket's entry: the slot and its sketch, 12 bytes so that a bucket's entries pack densely.
  struct BucketEntry {
    std::int32_t slot;
    std::uint32_t sketch_low, sketch_high;
    static BucketEntry make(std::int32_t slot, std::uint64_t sketch) {
      return {slot, static_cast<std::uint32_t>(sketch), static_cast<std::uint32_t>(sketch >> 32)};
    }
    std::uint64_t sketch() const { return std::uint64_t{sketch_high} << 32 | sketch_low; }
  };

  LshParams params_;
  LshSearchParams search_;
  Index tables_ = 0, bits_ = 0, code_bits_ = 0, sketch_bits_ = 0, words_ = 0, bucket_count_ = 0;
  Mat hyperplanes_;                                 // (T·l + sketch bits) × d
  std::vector<std::uint64_t> probe_sequence_;       // multi_probe, expected order: flip sets in margin-order positions
  std::vector<std::uint64_t> codes_;                // blocked layout, see knn/simd.hpp (for the scan)
  // The arrays read at random by a search or a write live in huge pages where the system allows.
  template <class T>
  using RandomAccessArray = std::vector<T, knn::HugePageAllocator<T>>;
  RandomAccessArray<std::uint64_t> slot_codes_;            // with bucket tables: slot-major copy, for random access
  knn::BucketArena<BucketEntry> buckets_;                  // [t · 2^l + bucket] → its slots, unordered
  RandomAccessArray<std::int32_t> positions_;             // [slot · T + t] → position of slot in its bucket of table t
  Vector<Scalar> projection_;                       // scratch of on_insert
  std::vector<std::uint64_t> code_;                 // scratch of on_insert/on_remove
};

}  // namespace mann
