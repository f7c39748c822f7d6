// Store: Vigil's durable state in one RocksDB database (column families and
// key layouts in keys.h). RocksDB stays behind this header.
//
// Thread-safety: AppendLog has a single caller (the storage writer thread);
// Checkpoint has a single caller (the control thread); every other method may
// be called from any thread concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "alarm/status.h"
#include "alarm/types.h"
#include "storage/head_set.h"
#include "storage/keys.h"
#include "storage/log_entry.h"
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

struct StoreOptions {
  // Database folder; created if missing.
  std::filesystem::path dir;
  // fsync the WAL before AppendLog returns (survives power loss). Otherwise
  // the WAL is written but not synced (survives a process crash). Default: false.
  bool sync = false;
  // Memtable size per column family, bytes. Default: 64 MiB.
  size_t write_buffer_bytes = size_t{64} << 20;
  RetentionOptions retention{};
};

// One log entry to commit: a gateway batch with its gateway's new watermark,
// or a control record (empty gateway_id, no watermark).
struct LogAppend {
  std::string_view gateway_id;
  Watermark watermark;
  std::string_view record;  // IngestRecord bytes, or control record bytes
  LogEntryKind kind = LogEntryKind::kBatch;
  alarm::TimestampMs stored_at = 0;  // commit time, replayed as the shards' clock
};

// One alarm journal write (the journal thread's group): entries, the
// open-alarm table changes they imply, how far each shard's events are now
// journaled, and engine snapshots, all in one atomic write.
struct JournalAppend {
  uint64_t seq;
  uint64_t alarm_id;
  alarm::TimestampMs at;
  std::string_view entry;  // encoded JournalEntry (alarm_codec.h)
};
struct OpenAlarmWrite {
  uint8_t alarm_kind;
  std::string_view source_id;
  std::optional<std::string_view> entry;  // the alarm's latest entry; nullopt: closed, delete
};
struct JournalMark {
  uint32_t shard;
  uint64_t log_seq;  // every event of log entries <= log_seq of this shard is journaled
};
struct SnapshotWrite {
  uint32_t shard;
  std::string_view bytes;  // encoded ShardSnapshot (alarm_codec.h)
};
struct JournalBatch {
  std::span<const JournalAppend> entries{};
  std::span<const OpenAlarmWrite> open{};
  std::span<const JournalMark> marks{};
  std::span<const SnapshotWrite> snapshots{};
  // Shards the marks and snapshots are for; a change drops those of old shards.
  uint32_t shard_count = 1;
};

// What the journal thread and recovery start from.
struct JournalState {
  uint64_t first_seq = 1;                 // oldest entry kept (retention); last_seq + 1 when empty
  uint64_t last_seq = 0;                  // 0 when nothing was ever journaled
  std::vector<std::string> open_entries;  // latest entry of each open alarm
  uint32_t shard_count = 0;               // of marks and snapshots; 0 when none stored
  std::vector<uint64_t> marks;            // by shard; 0 = none
  std::vector<std::string> snapshots;     // by shard; empty = none
};

// One registry entry to store (blob set) or delete (blob empty optional).
struct RegistryEntryWrite {
  RegistryEntryKind kind;
  std::string_view id;
  std::optional<std::string_view> blob;
};

struct StoreStats {
  uint64_t sst_bytes = 0;       // live SST files, all families
  uint64_t memtable_bytes = 0;  // all memtables
  uint64_t wal_bytes = 0;       // live WAL files
  uint64_t pending_compaction_bytes = 0;
  bool writes_stopped = false;      // RocksDB stopped writes (too many L0 files, memtables)
  uint64_t delayed_write_rate = 0;  // bytes/s RocksDB throttles writes to; 0 = not delayed
  // Opening the database skipped this many bytes of corrupt or torn write-ahead
  // log (the tail a crash left half written), in this many places. Records
  // before them were recovered; those after were never acknowledged when the
  // WAL is synced before acks (durability fsync).
  uint64_t wal_bytes_dropped_at_open = 0;
  uint64_t wal_corruptions_at_open = 0;
  // Since open: readings written into chunks, and readings WriteChunks left
  // out because the same reading (time, value, quality) was stored already
  // (a replay after a crash sealing again what was sealed before it).
  uint64_t chunk_readings_written = 0;
  uint64_t chunk_readings_repeated = 0;
};

class Store {
 public:
  // Opens or creates the database. Errors: kIOError (folder not writable, or
  // locked by another process), kCorruption (unreadable database).
  static alarm::Result<std::unique_ptr<Store>> Open(const StoreOptions& options);
  virtual ~Store() = default;

  // Commits every append in one atomic write (WAL; fsync when options.sync),
  // under consecutive log sequence numbers starting at next_log_seq(), and
  // returns the first. On error nothing is committed; kIOError or
  // kResourceExhausted (disk full). Single caller thread.
  virtual alarm::Result<uint64_t> AppendLog(std::span<const LogAppend> appends) = 0;
  // The log sequence the next AppendLog will use.
  virtual uint64_t next_log_seq() const = 0;

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

  // Every gateway's stored watermark.
  virtual alarm::Result<std::unordered_map<std::string, Watermark>> LoadWatermarks() = 0;
  // One gateway's stored watermark; nullopt when it never had a batch stored.
  // Thread-safe (a point read of what is committed).
  virtual alarm::Result<std::optional<Watermark>> LoadWatermark(std::string_view gateway_id) = 0;
  // The first log sequence not yet covered by chunks (replay starts there).
  virtual uint64_t replay_from() const = 0;
  // Calls `visit` for every log record with sequence >= from, in order. The
  // record buffer is 8-byte aligned and valid during the call only. Stops at
  // the first error `visit` returns and returns it.
  virtual alarm::Status ReplayLog(
      uint64_t from, const std::function<alarm::Status(uint64_t, const LogEntry&)>& visit) = 0;
  // Records that every log record below `replay_from` lives in chunks, then
  // deletes them (one range tombstone); synced in fsync mode. Safe without
  // syncing the chunks because chunks and checkpoint share the WAL and the
  // chunks were written first: any surviving WAL prefix that holds the
  // checkpoint holds them too (tests/storage/power_loss_test.cc). Single caller.
  virtual alarm::Status Checkpoint(uint64_t replay_from) = 0;

  // Registry entries, one key each, so a change writes only what changed.
  // Applies every write in one synced, atomic write. Blobs are opaque here.
  virtual alarm::Status WriteRegistryEntries(std::span<const RegistryEntryWrite> writes) = 0;
  // Calls `visit` for every stored entry, kinds in the order enterprise,
  // gateway, sensor number, sensor and ids in byte order within a kind. Stops at, and
  // returns, the first error `visit` returns.
  virtual alarm::Status ForEachRegistryEntry(
      const std::function<alarm::Status(RegistryEntryKind, std::string_view id,
                                        std::string_view blob)>& visit) = 0;

  // The alarm rules in force, as the server encodes them (rules file
  // format); nullopt when never stored. WriteRules is synced.
  virtual alarm::Status WriteRules(std::string_view rules) = 0;
  virtual alarm::Result<std::optional<std::string>> LoadRules() = 0;

  // Alarm journal (column family alarm_journal). WriteJournal has a single
  // caller (the journal thread); it is one atomic write, WAL-synced when
  // options.sync. Errors: kIOError, kResourceExhausted (disk full); nothing
  // of a failed batch is written.
  virtual alarm::Status WriteJournal(const JournalBatch& batch) = 0;
  virtual alarm::Result<JournalState> LoadJournalState() = 0;
  // Calls `visit` for entries with seq >= from in order until it returns
  // false or the journal ends.
  virtual alarm::Status ReadJournal(
      uint64_t from, const std::function<bool(uint64_t seq, std::string_view entry)>& visit) = 0;
  // Entries of one alarm (by alarm_id), in order.
  virtual alarm::Status ReadAlarmHistory(
      uint64_t alarm_id,
      const std::function<bool(uint64_t seq, std::string_view entry)>& visit) = 0;
  // Seqs of the entries with from <= at < to (the event time), in time order
  // (ties in seq order), until `visit` returns false.
  virtual alarm::Status ScanJournalByTime(
      alarm::TimestampMs from, alarm::TimestampMs to,
      const std::function<bool(uint64_t seq, alarm::TimestampMs at)>& visit) = 0;
  // Deletes every entry with event time before `before` (retention) with
  // range tombstones, and returns the new first_seq. Entries of alarms still
  // open are kept in the open-alarm table. One caller at a time.
  virtual alarm::Result<uint64_t> ExpireJournal(alarm::TimestampMs before) = 0;

  // After a write error (disk full, I/O error): asks RocksDB to leave its
  // read-only error state (DB::Resume). Ok once writes may be tried again;
  // the error when the cause is still there (still no space). Any thread.
  virtual alarm::Status Resume() = 0;

  virtual StoreStats GetStats() = 0;

  // Writes a consistent copy of the database into `dir` (a RocksDB
  // checkpoint) while writes go on: every write that returned before the call
  // is in it, whole; a later one either whole or not at all, in log order. The
  // copy is a database Store::Open opens as is. `dir` must not exist; its
  // parent folders are created if missing. SST files are hard links when `dir`
  // is on the same filesystem as the database, copies otherwise; MANIFEST,
  // OPTIONS and the WAL tail are always copied. May take seconds (flush, file
  // copies): call it off latency-sensitive threads. Errors: kInvalidArgument
  // (`dir` exists), kIOError (anything else: cannot create, disk full, ...).
  virtual alarm::Status CreateBackup(const std::filesystem::path& dir) = 0;
};

}  // namespace vigil::storage
