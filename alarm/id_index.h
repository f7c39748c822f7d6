// IdIndex: string id -> dense slot, an open-addressing hash table of 8-byte
// entries (a 32-bit hash tag and the slot). The ids themselves live elsewhere
// (the caller compares a candidate slot's id), so a lookup touches one table
// entry and then the caller's own record: one cache miss fewer than a
// node-based map, and ~17 bytes per id instead of ~56. Used where a lookup
// runs per reading (engine, registry, heads). Not thread-safe: one owner;
// concurrent reads of an index nobody inserts into are fine.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

namespace vigil::alarm {

class IdIndex {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;

  // Sizes the table for `n` ids (load factor at most 0.7) and empties it.
  void Reset(size_t n) {
    size_t capacity = 16;
    while (capacity * 7 < n * 10) capacity *= 2;
    table_.assign(capacity, Entry{0, kNone});
    mask_ = capacity - 1;
    size_ = 0;
  }

  // REQUIRES: Reset(n) with n > size(); `id` not already inserted.
  void Insert(std::string_view id, uint32_t slot) {
    const uint64_t h = Hash(id);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      if (table_[i].slot == kNone) {
        table_[i] = Entry{Tag(h), slot};
        ++size_;
        return;
      }
    }
  }

  // The hash every lookup of `id` starts from: callers that look one id up
  // in several indexes (or prefetch first) compute it once.
  static uint64_t Hash(std::string_view id) { return std::hash<std::string_view>{}(id); }

  // The slot of `id`, or kNone. `id_of(slot)` returns the id stored for a
  // candidate slot (only called when the hash tags match).
  template <class IdOf>
  uint32_t Find(std::string_view id, const IdOf& id_of) const {
    return Find(id, Hash(id), id_of);
  }
  // The same, with h == Hash(id).
  template <class IdOf>
  uint32_t Find(std::string_view id, uint64_t h, const IdOf& id_of) const {
    if (table_.empty()) return kNone;
    const uint32_t tag = Tag(h);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Entry& e = table_[i];
      if (e.slot == kNone) return kNone;
      if (e.tag == tag && id_of(e.slot) == id) return e.slot;
    }
  }

  // Prefetch hints for a batch of lookups, so that their cache misses overlap
  // instead of following one another: the table entry of hash h, then (once
  // that is cached) the first slot whose tag matches h — probably the id's,
  // unverified — or kNone.
  void PrefetchEntry(uint64_t h) const {
    if (!table_.empty()) __builtin_prefetch(&table_[h & mask_]);
  }
  uint32_t Candidate(uint64_t h) const {
    if (table_.empty()) return kNone;
    const uint32_t tag = Tag(h);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Entry& e = table_[i];
      if (e.slot == kNone || e.tag == tag) return e.slot;
    }
  }

  // True when one more Insert would go over the load factor: the owner then
  // Reset()s to a larger n and inserts its ids again (they are not stored here).
  bool Full() const { return (size_ + 1) * 10 > table_.size() * 7; }

  size_t size() const { return size_; }
  size_t bytes() const { return table_.capacity() * sizeof(Entry); }

 private:
  struct Entry {
    uint32_t tag;
    uint32_t slot;  // kNone: empty
  };
  static uint32_t Tag(uint64_t h) { return static_cast<uint32_t>(h >> 32); }

  std::vector<Entry> table_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace vigil::alarm
