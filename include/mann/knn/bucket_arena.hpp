// mann/knn/bucket_arena.hpp: many growable buckets (an LSH index's hash buckets) stored in one
// arena instead of one heap block each. A bucket is a block of 4 · 2^c entries inside the arena;
// when it is full it moves to a block twice as large and its old block goes to a free list of
// its size class. The arena and the bucket headers use HugePageAllocator, so that a search that
// visits hundreds of buckets at random does not also miss the TLB on each (docs/knn.md).
#pragma once

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "mann/knn/huge_pages.hpp"

namespace mann::knn {

/// `buckets` unordered buckets of trivially copyable `Entry`s; entries keep their position in
/// the bucket until removed (pop_back) or overwritten. A bucket holds fewer than 2^32 entries.
/// Memory: a block left behind is reused only by a bucket growing to that size, so the arena holds
/// about twice the entries in use when buckets grow at the same pace (uniform keys), up to four
/// times for a bucket just past a power of two. The arena's capacity doubles when it is full (a
/// copy), and only entries given to blocks are touched: spare capacity stays unresident.
template <class Entry>
class BucketArena {
 public:
  BucketArena() = default;
  explicit BucketArena(std::size_t buckets) : headers_(buckets) {}

  std::size_t buckets() const { return headers_.size(); }
  std::size_t size(std::size_t bucket) const { return headers_[bucket].size; }
  const Entry* data(std::size_t bucket) const { return arena_.data() + headers_[bucket].offset; }
  /// Address of the bucket's header, for prefetching before size() and data().
  const void* header(std::size_t bucket) const { return &headers_[bucket]; }
  Entry& at(std::size_t bucket, std::size_t position) { return arena_[headers_[bucket].offset + position]; }
  const Entry& at(std::size_t bucket, std::size_t position) const { return arena_[headers_[bucket].offset + position]; }
  const Entry& back(std::size_t bucket) const { return arena_[headers_[bucket].offset + headers_[bucket].size - 1]; }

  /// Appends `entry` to `bucket` and returns its position there (moves the bucket when full).
  std::size_t push_back(std::size_t bucket, const Entry& entry) {
    Header& h = headers_[bucket];
    if (h.size == h.capacity) grow(h);
    arena_[h.offset + h.size] = entry;
    return h.size++;
  }
  /// Drops the bucket's last entry (its block stays allocated, like std::vector); the bucket must
  /// not be empty.
  void pop_back(std::size_t bucket) {
    assert(headers_[bucket].size > 0);
    --headers_[bucket].size;
  }

  /// Entries allocated in the arena, in use or free (for tests and memory accounting).
  std::size_t arena_entries() const { return used_; }

 private:
  struct Header {
    std::uint64_t offset = 0;  // first entry in arena_
    std::uint32_t size = 0, capacity = 0;
  };
  static constexpr std::uint32_t kSmallest = 4;  // entries in a bucket's first block

  static std::size_t size_class(std::uint32_t capacity) {
    std::size_t c = 0;
    while ((kSmallest << c) < capacity) ++c;
    return c;
  }

  // Strong guarantee: what may throw (the free list's room, the arena's growth) comes before any
  // change a caller could see.
  void grow(Header& h) {
    const std::uint32_t capacity = h.capacity == 0 ? kSmallest : 2 * h.capacity;
    const std::size_t new_class = size_class(capacity);
    if (free_.size() <= new_class) free_.resize(new_class + 1);  // free_ is not resized below
    std::vector<std::uint64_t>& free_list = free_[size_class(h.capacity)];  // where the old block goes
    if (h.capacity > 0 && free_list.size() == free_list.capacity())
      free_list.reserve(std::max<std::size_t>(8, 2 * free_list.size()));
    const std::uint64_t offset = take(capacity, free_[new_class]);
    std::copy(arena_.begin() + static_cast<std::ptrdiff_t>(h.offset),
              arena_.begin() + static_cast<std::ptrdiff_t>(h.offset + h.size),
              arena_.begin() + static_cast<std::ptrdiff_t>(offset));
    if (h.capacity > 0) free_list.push_back(h.offset);  // no allocation: room reserved above
    h.offset = offset;
    h.capacity = capacity;
  }

  // A block of `capacity` entries: a free one of its size class (`free_blocks`), else new at the end.
  std::uint64_t take(std::uint32_t capacity, std::vector<std::uint64_t>& free_blocks) {
    if (!free_blocks.empty()) {
      const std::uint64_t offset = free_blocks.back();
      free_blocks.pop_back();
      return offset;
    }
    if (used_ + capacity > arena_.capacity()) arena_.reserve(std::max<std::size_t>(used_ + capacity, 2 * arena_.capacity()));
    if (used_ + capacity > arena_.size()) arena_.resize(used_ + capacity);  // touches only the new block
    const std::uint64_t offset = used_;
    used_ += capacity;
    return offset;
  }

  std::vector<Header, HugePageAllocator<Header>> headers_;
  std::vector<Entry, HugePageAllocator<Entry>> arena_;
  std::vector<std::vector<std::uint64_t>> free_;  // [size class] → offsets of free blocks
  std::size_t used_ = 0;                          // arena_[0, used_) is allocated to blocks
};

}  // namespace mann::knn
