// HeadSet: the open (unsealed) chunk of every sensor of one shard, and the
// rules that seal them into SealedChunks for the shard to write to the store.
// Thread-safety: not thread-safe. Owned and used by its shard's thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "alarm/id_index.h"
#include "alarm/types.h"
#include "storage/chunk.h"

namespace vigil::storage {

struct SealedChunk {
  std::string sensor_id;
  alarm::TimestampMs first_at = 0;
  alarm::TimestampMs last_at = 0;
  uint64_t chunk_id = 0;  // unique; increasing in seal order within one HeadSet
  std::string bytes;      // ChunkEncoder::Finish()
};

struct HeadSetOptions {
  // Readings per chunk before a head is sealed. Default: 480.
  uint32_t max_readings_per_chunk = 480;
  // chunk ids: first_chunk_id, then + chunk_id_stride each seal (shards use disjoint sequences).
  uint64_t first_chunk_id = 1;
  uint64_t chunk_id_stride = 1;
};

// Open (unsealed) chunks, one per sensor, of one shard. Owned and used by one
// thread only. Lifecycle: heads are created on a sensor's first reading and live
// as long as the HeadSet; sealing empties a head (and frees its buffer) but keeps
// the sensor's entry, since the sensor will report again.
// Trade-off: one node-based hash map entry per sensor (stable addresses, one
// lookup per series) instead of a flat table; plus a lazily pruned min-heap of
// open heads by oldest log sequence, so SealThrough and OldestUnsealedLogSeq cost
// O(sealed heads * log n) and O(1) instead of a scan of every sensor.
// The entry also keeps the sensor's latest reading (32 bytes), so the latest
// values are kept up to date on ingest without a second lookup per series.
class HeadSet {
 public:
  explicit HeadSet(HeadSetOptions options);
  // Movable (map nodes, which the open-head index points into, move along); a
  // copy would point into the original, hence none.
  HeadSet(HeadSet&&) = default;
  HeadSet& operator=(HeadSet&&) = default;
  HeadSet(const HeadSet&) = delete;
  HeadSet& operator=(const HeadSet&) = delete;

  // Appends one series that came from ingest-log record `log_seq`. quality empty =
  // all good. REQUIRES: timestamps.size() == values.size() (and quality.size() when
  // not empty). A head is sealed into *sealed (and a new one started) when it
  // reaches max_readings_per_chunk (a head's first chunk: less, by up to half,
  // depending on the sensor, to spread seals over time), when the next reading would make
  // last_at - first_at exceed kMaxChunkSpan, or when the next reading's timestamp is
  // <= the head's last_at (out of order or repeated: overlapping chunks are allowed;
  // readers merge them, the later chunk_id wins for equal timestamps).
  // One hash lookup per series; allocates only for a new sensor and buffer growth.
  void Append(std::string_view sensor_id, std::span<const alarm::TimestampMs> timestamps,
              std::span<const double> values, std::span<const alarm::Quality> quality,
              uint64_t log_seq, std::vector<SealedChunk>* sealed) {
    Append(sensor_id, alarm::IdIndex::Hash(sensor_id), timestamps, values, quality, log_seq,
           sealed);
  }
  // The same, with id_hash == alarm::IdIndex::Hash(sensor_id) (computed once
  // per series by a caller that also prefetches, below).
  void Append(std::string_view sensor_id, uint64_t id_hash,
              std::span<const alarm::TimestampMs> timestamps, std::span<const double> values,
              std::span<const alarm::Quality> quality, uint64_t log_seq,
              std::vector<SealedChunk>* sealed);

  // The head slot of each series' sensor, in order, into *slots (resized);
  // a sensor's head is created (empty) on its first series. A series with a
  // log_number (alarm::SeriesView) is found by an array read once its sensor
  // has a head, without hashing its id; one without, by its id. Then fetches
  // the heads and encoder tails of the batch (as Prefetch), so that AppendAt's
  // cache misses overlap. REQUIRES: a log number names one sensor for this
  // HeadSet's life (storage/sensor_numbers.h never reuses one).
  void Locate(std::span<const alarm::SeriesView> series, std::vector<uint32_t>* slots);
  // Append, to the head at `slot` (from Locate).
  void AppendAt(uint32_t slot, std::span<const alarm::TimestampMs> timestamps,
                std::span<const double> values, std::span<const alarm::Quality> quality,
                uint64_t log_seq, std::vector<SealedChunk>* sealed);

  // A hint that the sensors whose alarm::IdIndex::Hash values are `id_hashes`
  // are about to be appended to: fetches their index entries, heads and
  // encoder tails in three passes, so that the cache misses of a batch's
  // sensors overlap instead of following one another. No effect on contents.
  void Prefetch(std::span<const uint64_t> id_hashes) const;

  // Seals every non-empty head whose oldest reading came from a log record <=
  // through_log_seq, oldest first.
  void SealThrough(uint64_t through_log_seq, std::vector<SealedChunk>* sealed);
  // Seals every non-empty head, oldest first.
  void SealAll(std::vector<SealedChunk>* sealed);

  // Appends the open head's readings of sensor_id with from <= at < to, in time order.
  void ReadHead(std::string_view sensor_id, alarm::TimestampMs from, alarm::TimestampMs to,
                std::vector<alarm::Reading>* out) const;

  // The reading with the greatest time appended (or seeded) for sensor_id
  // since this HeadSet was created, sealed or not; of equal times the last
  // appended. Late readings, older than it, never replace it. nullopt when
  // there is none. The sensor's true latest only once LatestSeeded: before,
  // a newer reading may sit in the store from before a restart.
  std::optional<alarm::Reading> Latest(std::string_view sensor_id) const;
  // Whether SeedLatest ran for sensor_id.
  bool LatestSeeded(std::string_view sensor_id) const;
  // Folds in the store's latest reading of sensor_id (nullopt: none): it
  // becomes the latest unless the latest is as new or newer.
  void SeedLatest(std::string_view sensor_id, const std::optional<alarm::Reading>& stored);

  // Smallest log_seq of any reading still only in a head; nullopt when every head
  // is empty. O(1).
  std::optional<uint64_t> OldestUnsealedLogSeq() const;

  size_t sensor_count() const { return heads_.size(); }  // sensors with a head (even empty)
  uint64_t readings_in_heads() const { return readings_in_heads_; }
  // Estimate of heap and object bytes: map nodes, buckets, ids, encoders, heap.
  size_t memory_bytes() const;

 private:
  struct Head {
    ChunkEncoder encoder;
    uint64_t oldest_log_seq = 0;  // smallest log record of the encoder's readings
    uint32_t generation = 0;      // bumped each time the head opens a chunk
    alarm::Quality latest_quality = alarm::kQualityGood;
    alarm::TimestampMs latest_at = 0;  // valid when has_latest
    double latest_value = 0;
    // How much shorter than max_readings_per_chunk the head's first chunk
    // is (see Append), from the id's hash when the head was created.
    uint32_t first_cut = 0;
    bool has_latest = false;
    bool latest_seeded = false;
  };
  using Entry = std::pair<const std::string, Head>;  // address stable for the HeadSet's life
  // Open heads by oldest log seq; an entry is stale once its head was sealed
  // (generation or emptiness differs). Invariant after every mutating call: the
  // top, if any, is live.
  struct OpenEntry {
    uint64_t log_seq;
    Entry* entry;
    uint32_t generation;
  };

  static bool Live(const OpenEntry& e) {
    return e.entry->second.encoder.count() > 0 && e.entry->second.generation == e.generation;
  }
  // The slot of sensor_id's head, created when it has none.
  uint32_t FindOrAdd(std::string_view sensor_id, uint64_t id_hash);
  void Open(Entry* entry, uint64_t log_seq);
  void Seal(Entry* entry, std::vector<SealedChunk>* sealed);
  void PopOpen();
  // Fetches the heads at `slots` and their encoders' tails (two passes, so
  // the misses of a batch overlap).
  void PrefetchHeads(std::span<const uint32_t> slots) const;
  void PruneOpen();

  // The slot in heads_ of `sensor_id`, or IdIndex::kNone.
  uint32_t SlotOf(std::string_view sensor_id) const {
    return SlotOf(sensor_id, alarm::IdIndex::Hash(sensor_id));
  }
  uint32_t SlotOf(std::string_view sensor_id, uint64_t id_hash) const;
  // The head of `sensor_id`, or nullptr.
  const Entry* Find(std::string_view sensor_id) const;

  HeadSetOptions options_;
  std::deque<Entry> heads_;  // by slot; a deque keeps addresses stable as it grows
  // Looked up for every series appended: sensor id -> slot in heads_, a cache
  // miss or two fewer than a node-based map.
  alarm::IdIndex index_;
  // Sensor log number -> slot in heads_ (IdIndex::kNone: no head yet), filled
  // as numbered series arrive: an array read per series instead of a hash of
  // the id, a probe and an id compare (each a likely cache miss).
  std::vector<uint32_t> slot_by_number_;
  std::vector<OpenEntry> open_;  // min-heap on log_seq
  uint64_t next_chunk_id_;
  uint64_t readings_in_heads_ = 0;
  size_t open_heads_ = 0;          // non-empty heads
  size_t encoder_heap_bytes_ = 0;  // sum of encoder buffers
  size_t id_heap_bytes_ = 0;       // sensor ids too long for the string's inline buffer
};

}  // namespace vigil::storage
