// ChunkStore: sealed chunks of readings and their 5-minute rollups, kept in
// time partitions that retention drops whole; the newest reading of a
// sensor; point-in-time read snapshots. The shards write it, queries read it.
// Implemented by the RocksDB Store (store.h).
//
// Thread-safety: every method may be called from any thread concurrently,
// except that chunks of one sensor are written by one caller at a time (its shard).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "alarm/status.h"
#include "alarm/types.h"
#include "storage/head_set.h"
#include "storage/step_stats.h"

namespace vigil::storage {

// How long each class of data is kept. Expired data disappears from reads at
// once and from disk when EnforceRetention drops its time partition.
struct RetentionOptions {
  // Raw readings older than now - raw. 0 = kept forever. Default: 0 (the
  // server passes storage.raw_retention).
  std::chrono::milliseconds raw{0};
  // 5-minute statistics whose bucket ended at or before now - stats. 0 = kept
  // forever. Default: 0 (the server passes storage.stats_retention).
  std::chrono::milliseconds stats{0};
  // Wall clock, ms since the Unix epoch. Empty: the system clock. Tests inject
  // one; it is called from any thread.
  std::function<alarm::TimestampMs()> clock;
};

enum class DataClass { kRaw, kStats };

// A consistent point-in-time view of the database for reads (a RocksDB
// snapshot). Opaque; thread-safe; released with its last reference, which
// must go before the Store.
class ReadSnapshot {
 public:
  virtual ~ReadSnapshot() = default;
};

class ChunkStore {
 public:
  virtual ~ChunkStore() = default;

  // Stores sealed chunks (WAL on, no fsync: the ingest log keeps their
  // readings until a Checkpoint that follows a synced write) and, in the same
  // atomic write, each chunk's 5-minute partial statistics, merged into the
  // rollups. Each chunk is checked against its sensor's stored chunks (one
  // seek): where it repeats a stored timestamp (a rewrite, or a replay after a
  // restart) its buckets are recomputed from the raw readings, so rollups
  // always equal a recomputation from the raw data (in a bucket that began
  // before the raw horizon, whose raw readings may be gone, the first written
  // value of a repeated timestamp stays in the statistics). A reading equal in
  // time, value and quality to the stored one reads see is left out of its
  // chunk (a chunk of only such is not written): a replay after a crash, which
  // seals again what was sealed before it, adds no data. A chunk entirely
  // before the raw horizon is not stored; its statistics are. A chunk that
  // does not decode is stored without statistics (reads report it). Chunks of
  // one sensor must not be written by two calls at once (its shard writes them).
  virtual alarm::Status WriteChunks(std::span<const SealedChunk> chunks) = 0;
  // Appends to *out the chunked readings of `sensor_id` with from <= at < to,
  // sorted by time, one per timestamp (of overlapping chunks the later written
  // wins). Readings before the raw horizon are never returned. kCorruption
  // names the damaged chunk.
  alarm::Status ReadChunks(std::string_view sensor_id, alarm::TimestampMs from,
                           alarm::TimestampMs to, std::vector<alarm::Reading>* out) {
    return ReadChunksAt(nullptr, sensor_id, from, to, kAllReadings, out);
  }
  // ReadChunks as of `snapshot` (nullptr: the latest state), of only the
  // first `max_readings` readings (all when there are fewer): the read stops
  // once no later chunk can hold an earlier reading, so a page of a long
  // range costs about the page, not the range.
  virtual alarm::Status ReadChunksAt(const ReadSnapshot* snapshot, std::string_view sensor_id,
                                     alarm::TimestampMs from, alarm::TimestampMs to,
                                     size_t max_readings, std::vector<alarm::Reading>* out) = 0;
  static constexpr size_t kAllReadings = std::numeric_limits<size_t>::max();
  // Appends to *out the 5-minute statistics of `sensor_id` (sealed chunks
  // only; heads are the caller's) for the buckets that start in [from, to),
  // in time order, empty buckets left out, as of `snapshot` (nullptr: now).
  // Buckets that ended at or before the stats horizon are never returned.
  // kCorruption on an unreadable value.
  virtual alarm::Status ReadRollups(const ReadSnapshot* snapshot, std::string_view sensor_id,
                                    alarm::TimestampMs from, alarm::TimestampMs to,
                                    std::vector<Step>* out) = 0;
  // The newest chunked reading (by time) of `sensor_id` within the raw
  // retention; nullopt when there is none. Costs a seek per time partition
  // searched, newest first.
  virtual alarm::Result<std::optional<alarm::Reading>> ReadLatest(std::string_view sensor_id) = 0;
  // A snapshot for ReadChunksAt / ReadRollups. Cheap (no copy).
  virtual std::shared_ptr<const ReadSnapshot> NewSnapshot() = 0;

  // The oldest time `data` keeps at the store clock's now: readings at or
  // after it, buckets ending after it. INT64_MIN when kept forever.
  virtual alarm::TimestampMs Horizon(DataClass data) const = 0;
  // Drops, whole, every time partition (column family) holding only expired
  // data: no per-key deletes, no compaction; the files go once no read uses
  // them. Returns the dropped families' names. Concurrent WriteChunks calls
  // wait for it (milliseconds per dropped family: a MANIFEST write).
  virtual alarm::Result<std::vector<std::string>> EnforceRetention() = 0;
};

}  // namespace vigil::storage
