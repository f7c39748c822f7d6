// RocksDbStore: the RocksDB implementation of Store, one class over one
// database, its methods split across files by concern as RocksDB splits
// DBImpl (db_impl_open.cc, db_impl_write.cc, ...):
//   rocksdb_store_open.cc       options, open, start-up (Init, legacy chunk move)
//   rocksdb_store_log.cc        IngestLog: append, replay, checkpoint, watermarks
//   rocksdb_store_chunks.cc     ChunkStore: chunk and rollup writes and reads, snapshots
//   rocksdb_store_retention.cc  horizons and partition drops
//   rocksdb_store_journal.cc    JournalStore
//   rocksdb_store_registry.cc   RegistryStore: registry entries, rules
//   rocksdb_store_admin.cc      Resume, statistics, backups
// Private to storage/: only rocksdb_*.cc include it (tests/check_layering.sh).
// Thread-safety: as the Store interfaces state; members say who touches them.
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "alarm/status.h"
#include "alarm/types.h"
#include "storage/mutex.h"
#include "storage/rocksdb_partitions.h"
#include "storage/store.h"

namespace vigil::storage {

inline constexpr alarm::TimestampMs kMinTime = std::numeric_limits<alarm::TimestampMs>::min();
inline constexpr alarm::TimestampMs kMaxTime = std::numeric_limits<alarm::TimestampMs>::max();
inline constexpr alarm::TimestampMs kSpanMs = kMaxChunkSpan.count();
inline constexpr alarm::TimestampMs kBucketMs = kRollupStep.count();
// Time partitions: a week of raw chunks (13-14 families at the default 90-day
// retention), a quarter of rollups (13 at 3 years). Expired data stays on disk
// at most one span past its horizon; reads never see it.
inline constexpr int64_t kChunkPartitionDays = 7;
inline constexpr int64_t kRollupPartitionDays = 91;

inline alarm::TimestampMs SaturatingSub(alarm::TimestampMs a, alarm::TimestampMs b) {
  alarm::TimestampMs out = 0;
  return __builtin_sub_overflow(a, b, &out) ? kMinTime : out;
}
inline alarm::TimestampMs SaturatingAdd(alarm::TimestampMs a, alarm::TimestampMs b) {
  alarm::TimestampMs out = 0;
  return __builtin_add_overflow(a, b, &out) ? kMaxTime : out;
}

// A time a new chunk repeats from a stored chunk of its sensor; `changed`
// when the new value differs from the stored one that reads win, `identical`
// when value and quality are the same as that one's.
struct Repeat {
  alarm::TimestampMs at;
  bool changed;
  bool identical;
};

// The ingest log is the "ingest_log" family, keyed by big-endian position
// (1, 2, 3, ... with no gaps: Append completes before it returns), each
// gateway's watermark in the meta family written in the same WriteBatch.
// Checkpoint need not sync the chunks first: chunks and checkpoint share the
// WAL and the chunks were written first, so any surviving WAL prefix that
// holds the checkpoint holds them too (tests/storage/power_loss_test.cc).
class RocksDbStore final : public Store {
 public:
  // `handles`: the fixed families (OpenRocksDbStore); `others`: every other
  // family found at open (time partitions, and any unknown ones, kept as is).
  RocksDbStore(const StoreOptions& options, std::unique_ptr<rocksdb::DB> db,
               std::vector<rocksdb::ColumnFamilyHandle*> handles,
               const std::vector<rocksdb::ColumnFamilyHandle*>& others,
               const rocksdb::ColumnFamilyOptions& chunk_options,
               const rocksdb::ColumnFamilyOptions& rollup_options);
  ~RocksDbStore() override;

  // rocksdb_store_open.cc: reads the checkpoint and the log's end, then moves
  // legacy chunks. Once, right after the constructor.
  alarm::Status Init();
  void SetRecoveryCounts(uint64_t dropped_bytes, uint64_t corruptions) {
    wal_dropped_at_open_ = dropped_bytes;
    wal_corruptions_at_open_ = corruptions;
  }

  // IngestLog (rocksdb_store_log.cc).
  void Append(std::span<const LogAppend> group, AppendDone done) override;
  uint64_t end_position() const override { return next_log_seq_.load(std::memory_order_relaxed); }
  uint64_t replay_from() const override { return replay_from_; }
  alarm::Status Replay(
      uint64_t from, const std::function<alarm::Status(uint64_t, const LogEntry&)>& visit) override;
  alarm::Status Checkpoint(uint64_t replay_from) override;
  alarm::Result<std::unordered_map<std::string, Watermark>> LoadWatermarks() override;
  alarm::Result<std::optional<Watermark>> LoadWatermark(std::string_view gateway_id) override;
  alarm::Status Resume() override;  // rocksdb_store_admin.cc

  // ChunkStore (rocksdb_store_chunks.cc, rocksdb_store_retention.cc).
  alarm::Status WriteChunks(std::span<const SealedChunk> chunks) override;
  alarm::Status ReadChunksAt(const ReadSnapshot* snapshot, std::string_view sensor_id,
                             alarm::TimestampMs from, alarm::TimestampMs to, size_t max_readings,
                             std::vector<alarm::Reading>* out) override;
  alarm::Status ReadRollups(const ReadSnapshot* snapshot, std::string_view sensor_id,
                            alarm::TimestampMs from, alarm::TimestampMs to,
                            std::vector<Step>* out) override;
  alarm::Result<std::optional<alarm::Reading>> ReadLatest(std::string_view sensor_id) override;
  std::shared_ptr<const ReadSnapshot> NewSnapshot() override;
  alarm::TimestampMs Horizon(DataClass data) const override;
  alarm::Result<std::vector<std::string>> EnforceRetention() override;

  // JournalStore (rocksdb_store_journal.cc).
  alarm::Status WriteJournal(const JournalBatch& batch) override;
  alarm::Result<JournalState> LoadJournalState() override;
  alarm::Status ReadJournal(uint64_t from,
                            const std::function<bool(uint64_t, std::string_view)>& visit) override;
  alarm::Status ReadAlarmHistory(
      uint64_t alarm_id, const std::function<bool(uint64_t, std::string_view)>& visit) override;
  alarm::Status ScanJournalByTime(
      alarm::TimestampMs from, alarm::TimestampMs to,
      const std::function<bool(uint64_t, alarm::TimestampMs)>& visit) override;
  alarm::Result<uint64_t> ExpireJournal(alarm::TimestampMs before) override;
  alarm::Result<ChainCheck> VerifyJournalChain(uint64_t from, uint64_t max_entries) override;
  alarm::Status ReadChainedJournal(
      uint64_t from, uint64_t to, const std::function<void(const ChainRecord&)>& start,
      const std::function<bool(uint64_t, std::string_view, const ChainHash&)>& visit) override;

  // RegistryStore (rocksdb_store_registry.cc).
  alarm::Status WriteRegistryEntries(std::span<const RegistryEntryWrite> writes) override;
  alarm::Status ForEachRegistryEntry(
      const std::function<alarm::Status(RegistryEntryKind, std::string_view, std::string_view)>&
          visit) override;
  alarm::Status WriteRules(std::string_view rules) override;
  alarm::Result<std::optional<std::string>> LoadRules() override;

  // Store (rocksdb_store_admin.cc).
  StoreStats GetStats() override;
  alarm::Status CreateBackup(const std::filesystem::path& dir) override;

 private:
  class StoredRepeats;  // rocksdb_store_chunks.cc

  rocksdb::ColumnFamilyHandle* log() const { return handles_[1]; }
  // The chunk family before time partitions; empty once MoveLegacyChunks ran.
  rocksdb::ColumnFamilyHandle* legacy_chunks() const { return handles_[2]; }
  rocksdb::ColumnFamilyHandle* meta() const { return handles_[3]; }
  rocksdb::ColumnFamilyHandle* journal() const { return handles_[4]; }

  // The store clock (options_.retention.clock, else the system clock), ms.
  alarm::TimestampMs Now() const;

  // rocksdb_store_log.cc: the write of one Append group; its first position.
  alarm::Result<uint64_t> WriteLogGroup(std::span<const LogAppend> group);
  // rocksdb_store_chunks.cc
  static void TrimIdentical(const SealedChunk& c, std::vector<alarm::Reading>* readings,
                            std::vector<Repeat>* repeated, SealedChunk* out);
  alarm::Status AddChunk(const SealedChunk& c, std::span<const alarm::Reading> readings,
                         std::span<const Repeat> repeated, alarm::TimestampMs raw_horizon,
                         alarm::TimestampMs stats_horizon, rocksdb::WriteBatch* batch);
  alarm::Status RecomputeBucket(std::string_view sensor_id, alarm::TimestampMs bucket,
                                std::span<const alarm::Reading> added, StepStats* stats);
  // rocksdb_store_open.cc
  alarm::Status MoveLegacyChunks();
  // rocksdb_store_journal.cc
  alarm::Result<uint64_t> LoadJournalFirst();
  // The "journal_chain" record at `snapshot` (nullptr: latest); nullopt when none.
  alarm::Result<std::optional<ChainRecord>> LoadChainRecord(const rocksdb::Snapshot* snapshot);
  // h(seq) as stored at `snapshot`; nullopt when none (or not 32 bytes).
  alarm::Result<std::optional<ChainHash>> LoadChainHash(const rocksdb::Snapshot* snapshot,
                                                        uint64_t seq);

  StoreOptions options_;
  std::unique_ptr<rocksdb::DB> db_;
  // default, log, chunks (legacy), meta, journal, then any unknown family.
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::unique_ptr<PartitionedFamily> chunk_parts_;
  std::unique_ptr<PartitionedFamily> rollup_parts_;
  // WriteChunks (shared) against EnforceRetention's drops (exclusive).
  SharedMutex drop_mu_;
  std::atomic<uint64_t> next_log_seq_{1};
  std::atomic<uint64_t> readings_written_{0};   // into chunks, since open
  std::atomic<uint64_t> readings_repeated_{0};  // left out as identical repeats
  rocksdb::WriteBatch log_batch_;               // Append's single caller only
  uint64_t replay_from_ = 0;                    // control thread (Checkpoint) and start-up only
  uint32_t shard_count_ = 0;  // of stored marks/snapshots; journal thread and start-up
  // A "journal_chain" record is stored; until then the first entries written
  // write it (genesis). Journal thread and start-up.
  bool chain_recorded_ = false;
  uint64_t wal_dropped_at_open_ = 0;      // set once at open
  uint64_t wal_corruptions_at_open_ = 0;  // set once at open
};

}  // namespace vigil::storage
