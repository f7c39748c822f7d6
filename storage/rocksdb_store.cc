// The RocksDB implementation of Store: the only file that sees RocksDB.
#include <fcntl.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <charconv>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <system_error>
#include <unordered_set>

#include "storage/chunk.h"
#include "storage/log_entry.h"
#include "storage/mutex.h"
#include "storage/rocksdb_partitions.h"
#include "storage/rocksdb_store_testing.h"
#include "storage/store.h"

namespace vigil::storage {
namespace {

using alarm::Result;
using alarm::Status;

constexpr alarm::TimestampMs kMinTime = std::numeric_limits<alarm::TimestampMs>::min();
constexpr alarm::TimestampMs kMaxTime = std::numeric_limits<alarm::TimestampMs>::max();
constexpr alarm::TimestampMs kSpanMs = kMaxChunkSpan.count();
constexpr alarm::TimestampMs kBucketMs = kRollupStep.count();
// Time partitions: a week of raw chunks (13-14 families at the default 90-day
// retention), a quarter of rollups (13 at 3 years). Expired data stays on disk
// at most one span past its horizon; reads never see it.
constexpr int64_t kChunkPartitionDays = 7;
constexpr int64_t kRollupPartitionDays = 91;
// Bytes of chunks (and their statistics) per RocksDB write.
constexpr size_t kMaxChunkWriteBytes = size_t{1} << 20;

alarm::TimestampMs SaturatingSub(alarm::TimestampMs a, alarm::TimestampMs b) {
  alarm::TimestampMs out = 0;
  return __builtin_sub_overflow(a, b, &out) ? kMinTime : out;
}
alarm::TimestampMs SaturatingAdd(alarm::TimestampMs a, alarm::TimestampMs b) {
  alarm::TimestampMs out = 0;
  return __builtin_add_overflow(a, b, &out) ? kMaxTime : out;
}

class RocksSnapshot final : public ReadSnapshot {
 public:
  explicit RocksSnapshot(rocksdb::DB* db) : db_(db), snapshot_(db->GetSnapshot()) {}
  ~RocksSnapshot() override { db_->ReleaseSnapshot(snapshot_); }
  RocksSnapshot(const RocksSnapshot&) = delete;
  RocksSnapshot& operator=(const RocksSnapshot&) = delete;
  const rocksdb::Snapshot* get() const { return snapshot_; }

 private:
  rocksdb::DB* db_;
  const rocksdb::Snapshot* snapshot_;
};

const rocksdb::Snapshot* RocksSnapshotOf(const ReadSnapshot* snapshot) {
  return snapshot == nullptr ? nullptr : static_cast<const RocksSnapshot*>(snapshot)->get();
}

// A time a new chunk repeats from a stored chunk of its sensor; `changed`
// when the new value differs from the stored one that reads win, `identical`
// when value and quality are the same as that one's.
struct Repeat {
  alarm::TimestampMs at;
  bool changed;
  bool identical;
};

class RocksDbStore final : public Store {
 public:
  // `handles`: the fixed families (OpenRocksDbStore); `others`: every other
  // family found at open (time partitions, and any unknown ones, kept as is).
  RocksDbStore(const StoreOptions& options, std::unique_ptr<rocksdb::DB> db,
               std::vector<rocksdb::ColumnFamilyHandle*> handles,
               const std::vector<rocksdb::ColumnFamilyHandle*>& others,
               const rocksdb::ColumnFamilyOptions& chunk_options,
               const rocksdb::ColumnFamilyOptions& rollup_options)
      : options_(options),
        db_(std::move(db)),
        handles_(std::move(handles)),
        chunk_parts_(std::make_unique<PartitionedFamily>(db_.get(), kChunksFamily,
                                                         kChunkPartitionDays, chunk_options)),
        rollup_parts_(std::make_unique<PartitionedFamily>(db_.get(), kRollupsFamily,
                                                          kRollupPartitionDays, rollup_options)) {
    for (rocksdb::ColumnFamilyHandle* h : others) {
      const auto name = ParsePartitionFamilyName(h->GetName());
      if (name && name->base == chunk_parts_->base()) {
        chunk_parts_->Adopt(*name, h);
      } else if (name && name->base == rollup_parts_->base()) {
        rollup_parts_->Adopt(*name, h);
      } else {
        handles_.push_back(h);
      }
    }
  }

  ~RocksDbStore() override {
    chunk_parts_.reset();  // their handles go before the database closes
    rollup_parts_.reset();
    for (rocksdb::ColumnFamilyHandle* h : handles_) {
      db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    }
    db_->Close().PermitUncheckedError();
  }

  Status Init() {
    std::string value;
    rocksdb::Status s = db_->Get({}, meta(), ToSlice(kCheckpointKey), &value);
    if (s.ok()) {
      if (value.size() != 8) return Status::Corruption("meta checkpoint: bad length");
      replay_from_ = GetBigEndian64(value.data());
    } else if (!s.IsNotFound()) {
      return FromRocks(s, "read checkpoint");
    }
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, log()));
    it->SeekToLast();
    uint64_t next = replay_from_;
    if (it->Valid()) {
      auto seq = ParseLogKey(ToView(it->key()));
      if (!seq) return Status::Corruption("ingest log: malformed key");
      next = std::max(next, *seq + 1);
    }
    if (!it->status().ok()) return FromRocks(it->status(), "scan ingest log");
    next_log_seq_.store(std::max<uint64_t>(next, 1), std::memory_order_relaxed);
    if (replay_from_ == 0) replay_from_ = 1;
    return MoveLegacyChunks();
  }

  Result<uint64_t> AppendLog(std::span<const LogAppend> appends) override {
    const uint64_t first = next_log_seq_.load(std::memory_order_relaxed);
    // Reused: keeps its buffer's capacity from one group to the next.
    rocksdb::WriteBatch& batch = log_batch_;
    batch.Clear();
    uint64_t seq = first;
    char key[8];
    char header[kLogEntryHeaderBytes];
    for (const LogAppend& a : appends) {
      for (int i = 7, shift = 0; i >= 0; --i, shift += 8) {
        key[i] = static_cast<char>((seq >> shift) & 0xff);
      }
      ++seq;
      EncodeLogEntryHeader(a.kind, a.stored_at, header);
      // The header and the record are concatenated by RocksDB: no copy here.
      const rocksdb::Slice value_parts[] = {rocksdb::Slice(header, sizeof header),
                                            ToSlice(a.record)};
      const rocksdb::Slice key_slice(key, 8);
      rocksdb::Status s =
          batch.Put(log(), rocksdb::SliceParts(&key_slice, 1), rocksdb::SliceParts(value_parts, 2));
      if (s.ok() && !a.gateway_id.empty()) {
        s = batch.Put(meta(), WatermarkKey(a.gateway_id), EncodeWatermark(a.watermark));
      }
      if (!s.ok()) return FromRocks(s, "build write batch");
    }
    rocksdb::WriteOptions wo;
    wo.sync = options_.sync;
    rocksdb::Status s = db_->Write(wo, &batch);
    if (!s.ok()) return FromRocks(s, "append ingest log");
    next_log_seq_.store(seq, std::memory_order_relaxed);
    return first;
  }

  uint64_t next_log_seq() const override { return next_log_seq_.load(std::memory_order_relaxed); }

  Status WriteChunks(std::span<const SealedChunk> chunks) override {
    if (chunks.empty()) return Status::Ok();
    // Partitions cannot be dropped between choosing them and writing.
    ReaderMutexLock drop_lock(&drop_mu_);
    const alarm::TimestampMs raw_horizon = Horizon(DataClass::kRaw);
    const alarm::TimestampMs stats_horizon = Horizon(DataClass::kStats);
    rocksdb::WriteBatch batch;
    // Per sensor in `batch`: the greatest last_at of its chunks there.
    std::unordered_map<std::string_view, alarm::TimestampMs> batch_ends;
    StoredRepeats repeats(this);
    uint64_t written = 0;  // readings in `batch`
    auto flush = [&] {
      Status s = FromRocks(db_->Write({}, &batch), "write chunks");
      if (s.ok()) readings_written_.fetch_add(written, std::memory_order_relaxed);
      written = 0;
      batch.Clear();
      batch_ends.clear();
      repeats.Refresh();
      return s;
    };
    std::vector<alarm::Reading> readings;
    SealedChunk trimmed;  // a chunk without its identical repeats
    for (const SealedChunk& c : chunks) {
      // The repeat check reads the database: it must see this sensor's
      // chunks that overlap this one in time.
      const auto pending = batch_ends.find(c.sensor_id);
      bool sensor_pending = pending != batch_ends.end();
      if (sensor_pending && c.first_at <= pending->second) {
        if (Status s = flush(); !s.ok()) return s;
        sensor_pending = false;
      }
      readings.clear();
      // A chunk that does not decode (a codec bug) is stored as is, for reads
      // to report as corruption, without statistics.
      if (!DecodeChunk(c.bytes, kMinTime, kMaxTime, &readings).ok()) readings.clear();
      auto repeated = repeats.Find(c, readings);
      if (!repeated) return repeated.error();
      // Readings stored already, identical, are left out: a replay after a
      // crash seals again what was sealed before it, and rewriting those
      // would grow the data (and every later overlap check) with each crash.
      const size_t identical = static_cast<size_t>(std::count_if(
          repeated->begin(), repeated->end(), [](const Repeat& r) { return r.identical; }));
      if (identical > 0 && identical == readings.size()) {
        readings_repeated_.fetch_add(identical, std::memory_order_relaxed);
        continue;
      }
      const SealedChunk* chunk = &c;
      if (identical > 0) {
        TrimIdentical(c, &readings, &*repeated, &trimmed);
        readings_repeated_.fetch_add(identical, std::memory_order_relaxed);
        chunk = &trimmed;
      }
      // A recomputed bucket replaces (Put) what the batch merged into it so
      // far: the sensor's earlier chunks must be in the database first.
      if (sensor_pending && std::any_of(repeated->begin(), repeated->end(),
                                        [](const Repeat& r) { return r.changed; })) {
        if (Status s = flush(); !s.ok()) return s;
      }
      Status s = AddChunk(*chunk, readings, *repeated, raw_horizon, stats_horizon, &batch);
      if (!s.ok()) return s;
      written += readings.size();
      // Keyed by the caller's id: `trimmed` is reused.
      alarm::TimestampMs& end = batch_ends.try_emplace(c.sensor_id, chunk->last_at).first->second;
      end = std::max(end, chunk->last_at);
      // A backlog (a replay, writes failing meanwhile) goes in bounded writes:
      // one huge write that a full disk cuts off wastes all it took of the
      // disk, and a start would redo it again and again.
      if (batch.GetDataSize() >= kMaxChunkWriteBytes) {
        if (Status flushed = flush(); !flushed.ok()) return flushed;
      }
    }
    Status s = FromRocks(db_->Write({}, &batch), "write chunks");
    if (s.ok()) readings_written_.fetch_add(written, std::memory_order_relaxed);
    return s;
  }

  Status ReadChunksAt(const ReadSnapshot* snapshot, std::string_view sensor_id,
                      alarm::TimestampMs from, alarm::TimestampMs to, size_t max_readings,
                      std::vector<alarm::Reading>* out) override {
    from = std::max(from, Horizon(DataClass::kRaw));
    if (from >= to) return Status::Ok();
    const std::string prefix = ChunkSensorPrefix(sensor_id);
    // A chunk starting up to kMaxChunkSpan before `from` may still reach into the range.
    const alarm::TimestampMs seek_from = SaturatingSub(from, kSpanMs);
    std::string upper = prefix;
    PutOrderedInt64(&upper, to);  // chunks starting at or after `to` hold nothing for us
    rocksdb::Slice upper_slice(upper);
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &upper_slice;
    ro.snapshot = RocksSnapshotOf(snapshot);
    std::string seek = prefix;
    PutOrderedInt64(&seek, seek_from);

    // Chunks decode straight into *out; only when they overlap (rewrites,
    // late data) are the readings tagged with their chunk and re-sorted.
    struct Segment {
      size_t begin;  // index in *out
      uint64_t chunk_id;
    };
    std::vector<Segment> segments;
    const size_t base = out->size();
    bool ordered = true;
    for (const PartitionedFamily::Ptr& partition : chunk_parts_->Overlapping(seek_from, to)) {
      std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, partition->handle));
      for (it->Seek(seek); it->Valid(); it->Next()) {
        auto parts = ParseChunkKey(ToView(it->key()));
        if (!parts || parts->sensor_id != sensor_id) break;
        // Chunks come by first_at: once the first max_readings are in, in
        // order, a chunk starting after the last of them adds nothing before.
        if (ordered && max_readings > 0 && out->size() - base >= max_readings &&
            parts->first_at > (*out)[base + max_readings - 1].at) {
          out->resize(base + max_readings);  // later ones may be rewritten further on
          return Status::Ok();
        }
        const size_t begin = out->size();
        Status s = DecodeChunk(ToView(it->value()), from, to, out);
        if (!s.ok()) {
          out->resize(base);
          return Status::Corruption("chunk of sensor '" + std::string(sensor_id) + "' at " +
                                    std::to_string(parts->first_at) + ": " + s.message());
        }
        if (out->size() == begin) continue;
        if (begin > base && (*out)[begin].at <= (*out)[begin - 1].at) ordered = false;
        segments.push_back({begin, parts->chunk_id});
      }
      if (!it->status().ok()) {
        out->resize(base);
        return FromRocks(it->status(), "scan chunks");
      }
    }
    if (ordered) {
      if (out->size() - base > max_readings) out->resize(base + max_readings);
      return Status::Ok();
    }
    struct Tagged {
      alarm::Reading reading;
      uint64_t chunk_id;
    };
    std::vector<Tagged> tagged;
    tagged.reserve(out->size() - base);
    for (size_t k = 0; k < segments.size(); ++k) {
      const size_t end = k + 1 < segments.size() ? segments[k + 1].begin : out->size();
      for (size_t i = segments[k].begin; i < end; ++i) {
        tagged.push_back({(*out)[i], segments[k].chunk_id});
      }
    }
    std::stable_sort(tagged.begin(), tagged.end(), [](const Tagged& a, const Tagged& b) {
      return a.reading.at != b.reading.at ? a.reading.at < b.reading.at : a.chunk_id < b.chunk_id;
    });
    out->resize(base);
    for (size_t i = 0; i < tagged.size() && out->size() - base < max_readings; ++i) {
      // Of equal timestamps keep the last, i.e. the latest chunk.
      if (i + 1 < tagged.size() && tagged[i + 1].reading.at == tagged[i].reading.at) continue;
      out->push_back(tagged[i].reading);
    }
    return Status::Ok();
  }

  Status ReadRollups(const ReadSnapshot* snapshot, std::string_view sensor_id,
                     alarm::TimestampMs from, alarm::TimestampMs to,
                     std::vector<Step>* out) override {
    // Bucket b is kept while b + kRollupStep > horizon, i.e. b >= its bucket.
    from = std::max(from, RollupBucket(Horizon(DataClass::kStats)));
    if (from >= to) return Status::Ok();
    const std::string prefix = ChunkSensorPrefix(sensor_id);
    std::string upper = prefix;
    PutOrderedInt64(&upper, to);
    rocksdb::Slice upper_slice(upper);
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &upper_slice;
    ro.snapshot = RocksSnapshotOf(snapshot);
    const std::string seek = RollupKey(sensor_id, from);
    for (const PartitionedFamily::Ptr& partition : rollup_parts_->Overlapping(from, to)) {
      std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, partition->handle));
      for (it->Seek(seek); it->Valid(); it->Next()) {
        auto parts = ParseRollupKey(ToView(it->key()));
        if (!parts || parts->sensor_id != sensor_id) break;
        auto stats = DecodeStepStats(ToView(it->value()));
        if (!stats) {
          return Status::Corruption("rollup of sensor '" + std::string(sensor_id) + "' at " +
                                    std::to_string(parts->bucket_start) + ": bad value");
        }
        out->push_back(Step{.start = parts->bucket_start, .stats = *stats});
      }
      if (!it->status().ok()) return FromRocks(it->status(), "scan rollups");
    }
    return Status::Ok();
  }

  Result<std::optional<alarm::Reading>> ReadLatest(std::string_view sensor_id) override {
    const std::string prefix = ChunkSensorPrefix(sensor_id);
    std::string last_key = prefix;
    PutOrderedInt64(&last_key, kMaxTime);
    PutBigEndian64(&last_key, std::numeric_limits<uint64_t>::max());
    rocksdb::Slice lower(prefix);
    rocksdb::ReadOptions ro;
    ro.iterate_lower_bound = &lower;
    const alarm::TimestampMs horizon = Horizon(DataClass::kRaw);
    std::vector<PartitionedFamily::Ptr> partitions =
        chunk_parts_->Overlapping(SaturatingSub(horizon, kSpanMs), kMaxTime);
    for (auto p = partitions.rbegin(); p != partitions.rend(); ++p) {
      std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, (*p)->handle));
      it->SeekForPrev(last_key);
      if (!it->status().ok()) return FromRocks(it->status(), "scan chunks");
      if (!it->Valid()) continue;
      auto parts = ParseChunkKey(ToView(it->key()));
      if (!parts || parts->sensor_id != sensor_id) continue;
      // The newest chunk by start; one that started up to a span earlier may end later.
      std::vector<alarm::Reading> readings;
      Status s = ReadChunksAt(nullptr, sensor_id, SaturatingSub(parts->first_at, kSpanMs), kMaxTime,
                              kAllReadings, &readings);
      if (!s.ok()) return s;
      if (readings.empty()) return std::optional<alarm::Reading>();
      return std::optional<alarm::Reading>(readings.back());
    }
    return std::optional<alarm::Reading>();
  }

  std::shared_ptr<const ReadSnapshot> NewSnapshot() override {
    return std::make_shared<RocksSnapshot>(db_.get());
  }

  alarm::TimestampMs Horizon(DataClass data) const override {
    const std::chrono::milliseconds keep =
        data == DataClass::kRaw ? options_.retention.raw : options_.retention.stats;
    if (keep.count() <= 0) return kMinTime;
    return SaturatingSub(Now(), keep.count());
  }

  Result<std::vector<std::string>> EnforceRetention() override {
    WriterMutexLock drop_lock(&drop_mu_);
    std::vector<std::string> dropped;
    // A chunk partition ending at E holds readings before E + kMaxChunkSpan.
    const alarm::TimestampMs raw_horizon = Horizon(DataClass::kRaw);
    if (raw_horizon != kMinTime) {
      auto chunks = chunk_parts_->DropEndingBy(SaturatingSub(raw_horizon, kSpanMs));
      if (!chunks) return chunks.error();
      dropped = std::move(*chunks);
    }
    // A rollup partition ending at E (a bucket boundary) holds buckets ending by E.
    const alarm::TimestampMs stats_horizon = Horizon(DataClass::kStats);
    if (stats_horizon != kMinTime) {
      auto rollups = rollup_parts_->DropEndingBy(RollupBucket(stats_horizon));
      if (!rollups) return rollups.error();
      dropped.insert(dropped.end(), rollups->begin(), rollups->end());
    }
    return dropped;
  }

  Result<std::unordered_map<std::string, Watermark>> LoadWatermarks() override {
    std::unordered_map<std::string, Watermark> marks;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, meta()));
    for (it->Seek(ToSlice(kWatermarkPrefix)); it->Valid(); it->Next()) {
      std::string_view key = ToView(it->key());
      if (!key.starts_with(kWatermarkPrefix)) break;
      auto mark = DecodeWatermark(ToView(it->value()));
      if (!mark) return Status::Corruption("watermark of '" + std::string(key) + "'");
      marks.emplace(key.substr(kWatermarkPrefix.size()), *mark);
    }
    if (!it->status().ok()) return FromRocks(it->status(), "scan watermarks");
    return marks;
  }

  Result<std::optional<Watermark>> LoadWatermark(std::string_view gateway_id) override {
    std::string value;
    const rocksdb::Status s = db_->Get({}, meta(), WatermarkKey(gateway_id), &value);
    if (s.IsNotFound()) return std::optional<Watermark>();
    if (!s.ok()) return FromRocks(s, "read a watermark");
    auto mark = DecodeWatermark(value);
    if (!mark) return Status::Corruption("watermark of gateway '" + std::string(gateway_id) + "'");
    return std::optional<Watermark>(*mark);
  }

  uint64_t replay_from() const override { return replay_from_; }

  Status ReplayLog(uint64_t from,
                   const std::function<Status(uint64_t, const LogEntry&)>& visit) override {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, log()));
    std::string aligned;
    for (it->Seek(LogKey(from)); it->Valid(); it->Next()) {
      auto seq = ParseLogKey(ToView(it->key()));
      if (!seq) return Status::Corruption("ingest log: malformed key");
      aligned.assign(it->value().data(), it->value().size());
      auto entry = ParseLogEntry(aligned);
      if (!entry) {
        return Status::Corruption("ingest log entry " + std::to_string(*seq) + ": " +
                                  entry.error().message());
      }
      Status s = visit(*seq, *entry);
      if (!s.ok()) return s;
    }
    return FromRocks(it->status(), "replay ingest log");
  }

  Status Checkpoint(uint64_t replay_from) override {
    if (replay_from <= replay_from_) return Status::Ok();
    rocksdb::WriteBatch batch;
    std::string value;
    PutBigEndian64(&value, replay_from);
    rocksdb::Status s = batch.Put(meta(), ToSlice(kCheckpointKey), value);
    if (s.ok()) s = batch.DeleteRange(log(), LogKey(0), LogKey(replay_from));
    if (!s.ok()) return FromRocks(s, "build checkpoint");
    rocksdb::WriteOptions wo;
    wo.sync = options_.sync;
    s = db_->Write(wo, &batch);
    if (!s.ok()) return FromRocks(s, "write checkpoint");
    replay_from_ = replay_from;
    return Status::Ok();
  }

  Status WriteRegistryEntries(std::span<const RegistryEntryWrite> writes) override {
    if (writes.empty()) return Status::Ok();
    rocksdb::WriteBatch batch;
    for (const RegistryEntryWrite& w : writes) {
      const std::string key = RegistryEntryKey(w.kind, w.id);
      rocksdb::Status s =
          w.blob ? batch.Put(meta(), key, ToSlice(*w.blob)) : batch.Delete(meta(), key);
      if (!s.ok()) return FromRocks(s, "build registry batch");
    }
    rocksdb::WriteOptions wo;
    wo.sync = true;  // rare, and an admin expects a change to stick
    return FromRocks(db_->Write(wo, &batch), "store registry entries");
  }

  Status ForEachRegistryEntry(const std::function<Status(RegistryEntryKind, std::string_view,
                                                         std::string_view)>& visit) override {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, meta()));
    for (it->Seek(ToSlice(kRegistryPrefix)); it->Valid(); it->Next()) {
      const std::string_view key = ToView(it->key());
      if (!key.starts_with(kRegistryPrefix)) break;
      auto parts = ParseRegistryEntryKey(key);
      if (!parts) return Status::Corruption("malformed registry key '" + std::string(key) + "'");
      Status s = visit(parts->kind, parts->id, ToView(it->value()));
      if (!s.ok()) return s;
    }
    return FromRocks(it->status(), "scan registry");
  }

  Status WriteRules(std::string_view rules) override {
    rocksdb::WriteOptions wo;
    wo.sync = true;  // rare, and an admin expects a change to stick
    return FromRocks(db_->Put(wo, meta(), ToSlice(kRulesKey), ToSlice(rules)), "store rules");
  }

  Result<std::optional<std::string>> LoadRules() override {
    std::string value;
    rocksdb::Status s = db_->Get({}, meta(), ToSlice(kRulesKey), &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    if (!s.ok()) return FromRocks(s, "read rules");
    return std::optional<std::string>(std::move(value));
  }

  Status WriteJournal(const JournalBatch& j) override {
    rocksdb::WriteBatch batch;
    rocksdb::Status s;
    auto put = [&](rocksdb::ColumnFamilyHandle* cf, const std::string& key,
                   std::string_view value) {
      if (s.ok()) s = batch.Put(cf, key, ToSlice(value));
    };
    for (const JournalAppend& e : j.entries) {
      put(journal(), JournalEntryKey(e.seq), e.entry);
      put(journal(), AlarmHistoryKey(e.alarm_id, e.seq), {});
      put(journal(), JournalTimeKey(e.at, e.seq), {});
    }
    for (const OpenAlarmWrite& o : j.open) {
      const std::string key = OpenAlarmKey(o.alarm_kind, o.source_id);
      if (o.entry) {
        put(journal(), key, *o.entry);
      } else if (s.ok()) {
        s = batch.Delete(journal(), key);
      }
    }
    if (!j.marks.empty() || !j.snapshots.empty()) {
      if (j.shard_count != shard_count_) {
        // Marks and snapshots of another shard layout no longer apply.
        if (s.ok())
          s = batch.DeleteRange(meta(), ShardKey(kJournalMarkPrefix, 0),
                                ShardKey(kJournalMarkPrefix, UINT32_MAX));
        if (s.ok())
          s = batch.DeleteRange(meta(), ShardKey(kEngineSnapshotPrefix, 0),
                                ShardKey(kEngineSnapshotPrefix, UINT32_MAX));
        std::string count;
        PutBigEndian64(&count, j.shard_count);
        put(meta(), std::string(kJournalShardsKey), count);
      }
      for (const JournalMark& m : j.marks) {
        std::string value;
        PutBigEndian64(&value, m.log_seq);
        put(meta(), ShardKey(kJournalMarkPrefix, m.shard), value);
      }
      for (const SnapshotWrite& w : j.snapshots) {
        put(meta(), ShardKey(kEngineSnapshotPrefix, w.shard), w.bytes);
      }
    }
    if (!s.ok()) return FromRocks(s, "build journal batch");
    rocksdb::WriteOptions wo;
    wo.sync = options_.sync;
    s = db_->Write(wo, &batch);
    if (!s.ok()) return FromRocks(s, "write alarm journal");
    if (!j.marks.empty() || !j.snapshots.empty()) shard_count_ = j.shard_count;
    return Status::Ok();
  }

  Result<JournalState> LoadJournalState() override {
    JournalState state;
    std::string value;
    rocksdb::Status s = db_->Get({}, meta(), ToSlice(kJournalFirstKey), &value);
    if (s.ok() && value.size() == 8) {
      state.first_seq = GetBigEndian64(value.data());
    } else if (!s.ok() && !s.IsNotFound()) {
      return FromRocks(s, "read journal start");
    }
    {
      std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, journal()));
      const std::string upper(1, 'e' + 1);
      it->SeekForPrev(upper);
      if (it->Valid() && it->key().size() == 9 && it->key()[0] == 'e') {
        state.last_seq = GetBigEndian64(it->key().data() + 1);
      }
      if (!it->status().ok()) return FromRocks(it->status(), "scan alarm journal");
      state.last_seq = std::max(state.last_seq, state.first_seq - 1);
      for (it->Seek(std::string(1, 'o')); it->Valid() && it->key()[0] == 'o'; it->Next()) {
        state.open_entries.emplace_back(ToView(it->value()));
      }
      if (!it->status().ok()) return FromRocks(it->status(), "scan open alarms");
    }
    s = db_->Get({}, meta(), ToSlice(kJournalShardsKey), &value);
    if (s.ok() && value.size() == 8) {
      state.shard_count = static_cast<uint32_t>(GetBigEndian64(value.data()));
    } else if (!s.ok() && !s.IsNotFound()) {
      return FromRocks(s, "read journal shards");
    }
    shard_count_ = state.shard_count;
    state.marks.assign(state.shard_count, 0);
    state.snapshots.assign(state.shard_count, {});
    for (uint32_t shard = 0; shard < state.shard_count; ++shard) {
      s = db_->Get({}, meta(), ShardKey(kJournalMarkPrefix, shard), &value);
      if (s.ok() && value.size() == 8) state.marks[shard] = GetBigEndian64(value.data());
      if (!s.ok() && !s.IsNotFound()) return FromRocks(s, "read journal mark");
      s = db_->Get({}, meta(), ShardKey(kEngineSnapshotPrefix, shard), &state.snapshots[shard]);
      if (!s.ok() && !s.IsNotFound()) return FromRocks(s, "read engine snapshot");
    }
    return state;
  }

  Status ReadJournal(uint64_t from,
                     const std::function<bool(uint64_t, std::string_view)>& visit) override {
    const std::string upper(1, 'e' + 1);
    rocksdb::Slice upper_slice(upper);
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &upper_slice;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, journal()));
    for (it->Seek(JournalEntryKey(from)); it->Valid(); it->Next()) {
      if (it->key().size() != 9) return Status::Corruption("alarm journal: malformed key");
      if (!visit(GetBigEndian64(it->key().data() + 1), ToView(it->value()))) break;
    }
    return FromRocks(it->status(), "read alarm journal");
  }

  Status ReadAlarmHistory(uint64_t alarm_id,
                          const std::function<bool(uint64_t, std::string_view)>& visit) override {
    std::string prefix(1, 'a');
    PutBigEndian64(&prefix, alarm_id);
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, journal()));
    std::string entry;
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      if (it->key().size() != 17) return Status::Corruption("alarm history: malformed key");
      const uint64_t seq = GetBigEndian64(it->key().data() + 9);
      rocksdb::Status s = db_->Get({}, journal(), JournalEntryKey(seq), &entry);
      if (s.IsNotFound()) continue;  // expired
      if (!s.ok()) return FromRocks(s, "read alarm history");
      if (!visit(seq, entry)) break;
    }
    return FromRocks(it->status(), "read alarm history");
  }

  Status ScanJournalByTime(
      alarm::TimestampMs from, alarm::TimestampMs to,
      const std::function<bool(uint64_t, alarm::TimestampMs)>& visit) override {
    if (from >= to) return Status::Ok();
    const std::string upper = JournalTimeKey(to, 0);
    rocksdb::Slice upper_slice(upper);
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &upper_slice;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, journal()));
    for (it->Seek(JournalTimeKey(from, 0)); it->Valid(); it->Next()) {
      if (it->key().size() != 17) return Status::Corruption("journal time index: malformed key");
      if (!visit(GetBigEndian64(it->key().data() + 9), GetOrderedInt64(it->key().data() + 1))) {
        break;
      }
    }
    return FromRocks(it->status(), "scan journal by time");
  }

  Result<uint64_t> ExpireJournal(alarm::TimestampMs before) override {
    auto state = LoadJournalFirst();
    if (!state) return state.error();
    uint64_t first = *state;
    // Entries are nearly in time order (a replay after a restart journals
    // events up to a checkpoint interval old). The first kept seq is the
    // smallest seq at or after `before`, looked for within a day past it, so
    // nothing inside the window is ever deleted.
    constexpr alarm::TimestampMs kSkew = 24LL * 3600 * 1000;
    uint64_t keep_from = UINT64_MAX;
    Status s = ScanJournalByTime(before, before > INT64_MAX - kSkew ? INT64_MAX : before + kSkew,
                                 [&](uint64_t seq, alarm::TimestampMs) {
                                   keep_from = std::min(keep_from, seq);
                                   return true;
                                 });
    if (!s.ok()) return s;
    if (keep_from == UINT64_MAX) {
      // Nothing in the window's first day: keep everything from the newest old entry on.
      uint64_t last_old = 0;
      s = ScanJournalByTime(INT64_MIN, before, [&](uint64_t seq, alarm::TimestampMs) {
        last_old = std::max(last_old, seq);
        return true;
      });
      if (!s.ok()) return s;
      keep_from = last_old + 1;
    }
    if (keep_from <= first) return first;
    rocksdb::WriteBatch batch;
    std::string value;
    PutBigEndian64(&value, keep_from);
    rocksdb::Status rs = batch.Put(meta(), ToSlice(kJournalFirstKey), value);
    if (rs.ok()) rs = batch.DeleteRange(journal(), JournalEntryKey(0), JournalEntryKey(keep_from));
    if (rs.ok()) {
      rs = batch.DeleteRange(journal(), AlarmHistoryKey(0, 0), AlarmHistoryKey(keep_from, 0));
    }
    if (rs.ok()) {
      rs = batch.DeleteRange(journal(), JournalTimeKey(INT64_MIN, 0), JournalTimeKey(before, 0));
    }
    if (!rs.ok()) return FromRocks(rs, "build journal expiry");
    rocksdb::WriteOptions wo;
    wo.sync = options_.sync;
    rs = db_->Write(wo, &batch);
    if (!rs.ok()) return FromRocks(rs, "expire alarm journal");
    return keep_from;
  }

  Status Resume() override { return FromRocks(db_->Resume(), "resume after a write error"); }

  void SetRecoveryCounts(uint64_t dropped_bytes, uint64_t corruptions) {
    wal_dropped_at_open_ = dropped_bytes;
    wal_corruptions_at_open_ = corruptions;
  }

  StoreStats GetStats() override {
    StoreStats stats;
    stats.wal_bytes_dropped_at_open = wal_dropped_at_open_;
    stats.wal_corruptions_at_open = wal_corruptions_at_open_;
    stats.chunk_readings_written = readings_written_.load(std::memory_order_relaxed);
    stats.chunk_readings_repeated = readings_repeated_.load(std::memory_order_relaxed);
    uint64_t v = 0;
    if (db_->GetAggregatedIntProperty(rocksdb::DB::Properties::kTotalSstFilesSize, &v)) {
      stats.sst_bytes = v;
    }
    if (db_->GetAggregatedIntProperty(rocksdb::DB::Properties::kCurSizeAllMemTables, &v)) {
      stats.memtable_bytes = v;
    }
    if (db_->GetAggregatedIntProperty(rocksdb::DB::Properties::kEstimatePendingCompactionBytes,
                                      &v)) {
      stats.pending_compaction_bytes = v;
    }
    if (db_->GetIntProperty(rocksdb::DB::Properties::kLiveSstFilesSize, &v)) {
      stats.sst_bytes = std::max(stats.sst_bytes, v);
    }
    if (db_->GetIntProperty(rocksdb::DB::Properties::kIsWriteStopped, &v)) {
      stats.writes_stopped = v != 0;
    }
    if (db_->GetIntProperty(rocksdb::DB::Properties::kActualDelayedWriteRate, &v)) {
      stats.delayed_write_rate = v;
    }
    rocksdb::VectorLogPtr wal_files;
    if (db_->GetSortedWalFiles(wal_files).ok()) {
      for (const auto& f : wal_files) stats.wal_bytes += f->SizeFileBytes();
    }
    return stats;
  }

 private:
  rocksdb::ColumnFamilyHandle* log() const { return handles_[1]; }
  // The chunk family before time partitions; empty once MoveLegacyChunks ran.
  rocksdb::ColumnFamilyHandle* legacy_chunks() const { return handles_[2]; }
  rocksdb::ColumnFamilyHandle* meta() const { return handles_[3]; }
  rocksdb::ColumnFamilyHandle* journal() const { return handles_[4]; }

  Result<uint64_t> LoadJournalFirst() {
    std::string value;
    rocksdb::Status s = db_->Get({}, meta(), ToSlice(kJournalFirstKey), &value);
    if (s.IsNotFound()) return uint64_t{1};
    if (!s.ok()) return FromRocks(s, "read journal start");
    if (value.size() != 8) return Status::Corruption("meta journal_first: bad length");
    return GetBigEndian64(value.data());
  }

  Status CreateBackup(const std::filesystem::path& dir) override {
    std::error_code ec;
    const std::filesystem::path target = std::filesystem::absolute(dir, ec).lexically_normal();
    if (ec) return Status::IOError("backup " + dir.string() + ": " + ec.message());
    if (std::filesystem::exists(std::filesystem::symlink_status(target, ec))) {
      return Status::InvalidArgument("backup folder " + target.string() + " already exists");
    }
    std::filesystem::create_directories(target.parent_path(), ec);
    if (ec) {
      return Status::IOError("backup: cannot create " + target.parent_path().string() + ": " +
                             ec.message());
    }
    rocksdb::Checkpoint* raw = nullptr;
    rocksdb::Status s = rocksdb::Checkpoint::Create(db_.get(), &raw);
    if (!s.ok()) return Status::IOError("backup: " + s.ToString());
    std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
    // Every write goes through the WAL, so the copied WAL tail completes the
    // copy whether or not memtables are flushed first. Below this WAL size,
    // copying it is cheaper than flushing five column families into small
    // SSTs (more files, more compaction, a flush stall for ingest); above it,
    // flushing keeps the bytes copied bounded (the WAL may grow to
    // max_total_wal_size, 512 MiB) and the rest are hard links.
    constexpr uint64_t kWalSizeForFlush = uint64_t{64} << 20;
    s = checkpoint->CreateCheckpoint(target.string(), kWalSizeForFlush);
    if (s.ok()) return Status::Ok();
    if (s.IsInvalidArgument() && std::filesystem::exists(target, ec)) {
      return Status::InvalidArgument("backup folder " + target.string() + " already exists");
    }
    return Status::IOError("backup into " + target.string() + ": " + s.ToString());
  }

  alarm::TimestampMs Now() const {
    if (options_.retention.clock) return options_.retention.clock();
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  // The timestamps a new chunk repeats from stored chunks of its sensor. One
  // seek per chunk, on iterators kept for one WriteChunks call; a stored chunk
  // is decoded only when its time range overlaps the new one's.
  class StoredRepeats {
   public:
    explicit StoredRepeats(RocksDbStore* store) : store_(store) {}

    // After a write the iterators no longer see the database as it is.
    void Refresh() { iterators_.clear(); }

    Result<std::vector<Repeat>> Find(const SealedChunk& c,
                                     std::span<const alarm::Reading> readings) {
      std::vector<Repeat> repeats;
      if (readings.empty()) return repeats;
      const alarm::TimestampMs seek_from = SaturatingSub(c.first_at, kSpanMs);
      std::string seek = ChunkSensorPrefix(c.sensor_id);
      PutOrderedInt64(&seek, seek_from);
      struct Common {
        alarm::TimestampMs at;
        uint64_t chunk_id;  // of the stored reading; the greatest wins
        bool changed;
        bool identical;
      };
      std::vector<Common> common;
      std::vector<alarm::Reading> stored;
      for (const PartitionedFamily::Ptr& partition :
           store_->chunk_parts_->Overlapping(seek_from, SaturatingAdd(c.last_at, 1))) {
        rocksdb::Iterator* it = Iterator(partition);
        for (it->Seek(seek); it->Valid(); it->Next()) {
          auto key = ParseChunkKey(ToView(it->key()));
          if (!key || key->sensor_id != c.sensor_id || key->first_at > c.last_at) break;
          auto summary = InspectChunk(ToView(it->value()));
          if (!summary || summary->last_at < c.first_at) continue;
          stored.clear();
          Status s =
              DecodeChunk(ToView(it->value()), c.first_at, SaturatingAdd(c.last_at, 1), &stored);
          if (!s.ok()) {
            return Status::Corruption("chunk of sensor '" + c.sensor_id + "': " + s.message());
          }
          for (size_t i = 0, j = 0; i < stored.size() && j < readings.size();) {
            if (stored[i].at < readings[j].at) {
              ++i;
            } else if (readings[j].at < stored[i].at) {
              ++j;
            } else {
              const bool changed = std::bit_cast<uint64_t>(stored[i].value) !=
                                   std::bit_cast<uint64_t>(readings[j].value);
              const bool identical = !changed && stored[i].quality == readings[j].quality;
              common.push_back({stored[i].at, key->chunk_id, changed, identical});
              ++i;
              ++j;
            }
          }
        }
        if (!it->status().ok()) return FromRocks(it->status(), "scan chunks");
      }
      std::sort(common.begin(), common.end(), [](const Common& a, const Common& b) {
        return a.at != b.at ? a.at < b.at : a.chunk_id < b.chunk_id;
      });
      for (size_t i = 0; i < common.size(); ++i) {
        // Of one time in several stored chunks, reads see the latest chunk's.
        if (i + 1 < common.size() && common[i + 1].at == common[i].at) continue;
        repeats.push_back({common[i].at, common[i].changed, common[i].identical});
      }
      return repeats;
    }

   private:
    rocksdb::Iterator* Iterator(const PartitionedFamily::Ptr& partition) {
      for (auto& [p, it] : iterators_) {
        if (p == partition) return it.get();
      }
      iterators_.emplace_back(partition, store_->db_->NewIterator({}, partition->handle));
      return iterators_.back().second.get();
    }

    RocksDbStore* store_;
    std::vector<std::pair<PartitionedFamily::Ptr, std::unique_ptr<rocksdb::Iterator>>> iterators_;
  };

  // *out = chunk `c` without the readings `repeated` marks identical; those
  // are removed from *readings and *repeated too. VIGIL_REQUIRES: some remain.
  static void TrimIdentical(const SealedChunk& c, std::vector<alarm::Reading>* readings,
                            std::vector<Repeat>* repeated, SealedChunk* out) {
    ChunkEncoder encoder;
    size_t kept = 0;
    size_t k = 0;
    for (const alarm::Reading& r : *readings) {
      while (k < repeated->size() && (*repeated)[k].at < r.at) ++k;
      if (k < repeated->size() && (*repeated)[k].at == r.at && (*repeated)[k].identical) continue;
      encoder.Append(r.at, r.value, r.quality);
      (*readings)[kept++] = r;
    }
    readings->resize(kept);
    std::erase_if(*repeated, [](const Repeat& r) { return r.identical; });
    out->sensor_id = c.sensor_id;
    out->first_at = encoder.first_at();
    out->last_at = encoder.last_at();
    out->chunk_id = c.chunk_id;
    out->bytes = encoder.Finish();
  }

  // Adds chunk `c` (decoded: `readings`) and its 5-minute statistics to
  // *batch; `repeated`: the times it repeats from stored chunks, in order.
  Status AddChunk(const SealedChunk& c, std::span<const alarm::Reading> readings,
                  std::span<const Repeat> repeated, alarm::TimestampMs raw_horizon,
                  alarm::TimestampMs stats_horizon, rocksdb::WriteBatch* batch) {
    if (c.last_at >= raw_horizon) {
      auto partition = chunk_parts_->ForTime(c.first_at);
      if (!partition) return partition.error();
      rocksdb::Status s =
          batch->Put((*partition)->handle, ChunkKey(c.sensor_id, c.first_at, c.chunk_id), c.bytes);
      if (!s.ok()) return FromRocks(s, "build chunk batch");
    }
    // A repeated time with the stored value (a replay after a restart) is
    // already counted: left out. A changed value (a correction) makes its
    // bucket be recomputed from the raw readings, this chunk winning; before
    // the raw horizon, whose readings may be gone, the stored value stays.
    const alarm::TimestampMs first_kept_bucket = RollupBucket(stats_horizon);
    size_t next_repeat = 0;
    for (size_t i = 0; i < readings.size();) {
      const alarm::TimestampMs bucket = RollupBucket(readings[i].at);
      const alarm::TimestampMs bucket_end = SaturatingAdd(bucket, kBucketMs);
      size_t end = i;
      while (end < readings.size() && readings[end].at < bucket_end) ++end;
      const std::span<const alarm::Reading> in_bucket = readings.subspan(i, end - i);
      i = end;
      const size_t repeats_from = next_repeat;
      while (next_repeat < repeated.size() && repeated[next_repeat].at < bucket_end) ++next_repeat;
      if (bucket < first_kept_bucket) continue;  // expired already
      const std::span<const Repeat> bucket_repeats =
          repeated.subspan(repeats_from, next_repeat - repeats_from);
      StepStats stats;
      bool replace = false;
      if (bucket >= raw_horizon && std::any_of(bucket_repeats.begin(), bucket_repeats.end(),
                                               [](const Repeat& r) { return r.changed; })) {
        Status s = RecomputeBucket(c.sensor_id, bucket, in_bucket, &stats);
        if (!s.ok()) return s;
        replace = true;
      } else {
        size_t k = 0;
        for (const alarm::Reading& r : in_bucket) {
          while (k < bucket_repeats.size() && bucket_repeats[k].at < r.at) ++k;
          if (k < bucket_repeats.size() && bucket_repeats[k].at == r.at) continue;
          stats.Add(r.at, r.value);
        }
      }
      if (stats.count == 0) continue;
      auto partition = rollup_parts_->ForTime(bucket);
      if (!partition) return partition.error();
      const std::string key = RollupKey(c.sensor_id, bucket);
      const std::string value = EncodeStepStats(stats);
      rocksdb::Status s = replace ? batch->Put((*partition)->handle, key, value)
                                  : batch->Merge((*partition)->handle, key, value);
      if (!s.ok()) return FromRocks(s, "build rollup batch");
    }
    return Status::Ok();
  }

  // Statistics of `bucket` from every stored reading plus `added` (time
  // ordered; wins over a stored reading at the same time).
  Status RecomputeBucket(std::string_view sensor_id, alarm::TimestampMs bucket,
                         std::span<const alarm::Reading> added, StepStats* stats) {
    std::vector<alarm::Reading> stored;
    Status s = ReadChunksAt(nullptr, sensor_id, bucket, SaturatingAdd(bucket, kBucketMs),
                            kAllReadings, &stored);
    if (!s.ok()) return s;
    size_t i = 0;
    for (const alarm::Reading& r : added) {
      for (; i < stored.size() && stored[i].at < r.at; ++i)
        stats->Add(stored[i].at, stored[i].value);
      if (i < stored.size() && stored[i].at == r.at) ++i;
      stats->Add(r.at, r.value);
    }
    for (; i < stored.size(); ++i) stats->Add(stored[i].at, stored[i].value);
    return Status::Ok();
  }

  // Moves the chunks of a database written before time partitions into them
  // (with their statistics), then deletes them. Idempotent: after a crash
  // midway, the chunks moved already are found as repeats, not counted twice.
  Status MoveLegacyChunks() {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, legacy_chunks()));
    it->SeekToFirst();
    if (!it->Valid()) return FromRocks(it->status(), "scan legacy chunks");
    const std::string first_key(ToView(it->key()));
    std::string last_key;
    std::vector<SealedChunk> group;
    size_t group_bytes = 0;
    for (; it->Valid(); it->Next()) {
      auto parts = ParseChunkKey(ToView(it->key()));
      auto summary = InspectChunk(ToView(it->value()));
      if (!parts || !summary) return Status::Corruption("legacy chunk: malformed key or header");
      group.push_back(SealedChunk{.sensor_id = std::string(parts->sensor_id),
                                  .first_at = summary->first_at,
                                  .last_at = summary->last_at,
                                  .chunk_id = parts->chunk_id,
                                  .bytes = std::string(ToView(it->value()))});
      group_bytes += group.back().bytes.size();
      last_key.assign(it->key().data(), it->key().size());
      if (group_bytes >= (size_t{4} << 20)) {
        Status s = WriteChunks(group);
        if (!s.ok()) return s;
        group.clear();
        group_bytes = 0;
      }
    }
    if (!it->status().ok()) return FromRocks(it->status(), "scan legacy chunks");
    Status s = WriteChunks(group);
    if (!s.ok()) return s;
    last_key.push_back('\0');  // just past the last key
    s = FromRocks(db_->DeleteRange({}, legacy_chunks(), first_key, last_key),
                  "delete legacy chunks");
    if (!s.ok()) return s;
    return FromRocks(db_->CompactRange({}, legacy_chunks(), nullptr, nullptr),
                     "compact legacy chunks");
  }

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
  rocksdb::WriteBatch log_batch_;               // AppendLog's single caller only
  uint64_t replay_from_ = 0;                    // control thread (Checkpoint) and start-up only
  uint32_t shard_count_ = 0;              // of stored marks/snapshots; journal thread and start-up
  uint64_t wal_dropped_at_open_ = 0;      // set once at open
  uint64_t wal_corruptions_at_open_ = 0;  // set once at open
};

// Store::Open and the test seam OpenStoreWithEnv; env nullptr = RocksDB's default.
// The database's families and options; a database that exists may hold
// time partitions (and families this version does not know): all are listed.
struct Layout {
  rocksdb::DBOptions db;
  std::vector<rocksdb::ColumnFamilyDescriptor> families;  // the fixed ones first
  size_t fixed = 0;
  rocksdb::ColumnFamilyOptions chunk;
  rocksdb::ColumnFamilyOptions rollup;
};

Layout DatabaseLayout(const StoreOptions& options, rocksdb::Env* env) {
  Layout layout;
  rocksdb::DBOptions& db_options = layout.db;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = 2;
  db_options.bytes_per_sync = 1 << 20;
  db_options.max_total_wal_size = size_t{512} << 20;
  db_options.keep_log_file_num = 5;
  // No preallocation (a WAL reserved 1.1 write buffers, ~70 MiB, at once):
  // on a nearly full disk it hid how full the disk was from
  // storage.min_free_space and took what an operator freed for a restart.
  db_options.allow_fallocate = false;
  if (env != nullptr) db_options.env = env;

  rocksdb::ColumnFamilyOptions log_options;
  log_options.write_buffer_size = options.write_buffer_bytes;
  log_options.max_write_buffer_number = 4;
  // The log lives minutes before its range is deleted, but under load its
  // flushes dominate disk traffic: LZ4 costs ~10 % CPU and cuts them ~2.5x
  // (measured: without it p99 ack latency at 3 M/s rose from ~14 ms to ~340 ms).
  log_options.compression = rocksdb::kLZ4Compression;

  rocksdb::ColumnFamilyOptions& chunk_options = layout.chunk;
  chunk_options.write_buffer_size = options.write_buffer_bytes;
  chunk_options.compression = rocksdb::kNoCompression;  // chunks are compressed already
  chunk_options.level_compaction_dynamic_level_bytes = true;

  rocksdb::ColumnFamilyOptions meta_options;
  meta_options.write_buffer_size = size_t{8} << 20;

  // 49-byte statistics, merged per (sensor, bucket) by compaction; LZ4 for
  // the doubles and the repeated key prefixes.
  rocksdb::ColumnFamilyOptions& rollup_options = layout.rollup;
  rollup_options.write_buffer_size = std::max<size_t>(options.write_buffer_bytes / 4, 1 << 20);
  rollup_options.compression = rocksdb::kLZ4Compression;
  rollup_options.level_compaction_dynamic_level_bytes = true;
  rollup_options.merge_operator = NewStepStatsMergeOperator();

  layout.families = {
      {rocksdb::kDefaultColumnFamilyName, meta_options},
      {kIngestLogFamily, log_options},
      {kChunksFamily, chunk_options},
      {kMetaFamily, meta_options},
      {kAlarmJournalFamily, meta_options},
  };
  layout.fixed = layout.families.size();
  std::vector<std::string> existing;
  if (rocksdb::DB::ListColumnFamilies(db_options, options.dir.string(), &existing).ok()) {
    for (const std::string& name : existing) {
      const auto fixed_end = layout.families.begin() + static_cast<ptrdiff_t>(layout.fixed);
      if (std::any_of(layout.families.begin(), fixed_end,
                      [&](const auto& f) { return f.name == name; })) {
        continue;
      }
      const auto partition = ParsePartitionFamilyName(name);
      const bool rollups = partition && partition->base == kRollupsFamily;
      layout.families.emplace_back(name, rollups ? rollup_options : chunk_options);
    }
  }
  return layout;
}

// RocksDB's info log file (LOG in the data folder), written with plain
// write(2). RocksDB 7.8's own (EnvLogger) fails an assertion, which Debian's
// build keeps, on the first line after a write that failed: a truly full disk
// aborted vigild (upstream fixed it in 8.1, facebook/rocksdb#11314). Here a
// line that cannot be written is lost, nothing more. Bounded, so that neither
// a long run nor a loop of failed starts fills the disk: at open and past
// kMaxBytes, LOG becomes LOG.old (replacing the one before) and a new LOG
// begins; RocksDB removes the LOG.old.<time> files it wrote itself.
class InfoLogFile final : public rocksdb::Logger {
 public:
  static constexpr off_t kMaxBytes = off_t{16} << 20;

  explicit InfoLogFile(std::filesystem::path dir)
      : Logger(rocksdb::InfoLogLevel::INFO_LEVEL),
        path_(std::move(dir) / "LOG"),
        old_path_(path_.string() + ".old") {
    MutexLock lock(&mu_);
    RollLocked();
  }
  ~InfoLogFile() override {
    if (fd_ >= 0) ::close(fd_);
  }
  // Every line is written at once: nothing to flush or close early.
  void Flush() override {}

 protected:
  rocksdb::Status CloseImpl() override { return rocksdb::Status::OK(); }

 public:
  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    char buf[4096];
    timeval now{};
    ::gettimeofday(&now, nullptr);
    tm t{};
    ::localtime_r(&now.tv_sec, &t);
    int n = std::snprintf(buf, sizeof buf, "%04d/%02d/%02d-%02d:%02d:%02d.%06ld %ld ",
                          t.tm_year + 1900, t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec,
                          static_cast<long>(now.tv_usec), static_cast<long>(::gettid()));
    if (n < 0) return;
    size_t len = std::min(static_cast<size_t>(n), sizeof buf - 1);
    va_list copy;
    va_copy(copy, ap);
    n = std::vsnprintf(buf + len, sizeof buf - len, format, copy);
    va_end(copy);
    if (n < 0) return;
    len = std::min(len + static_cast<size_t>(n), sizeof buf - 1);  // a long line is cut
    if (buf[len - 1] != '\n') buf[len++] = '\n';
    MutexLock lock(&mu_);
    if (size_ >= kMaxBytes) RollLocked();
    if (fd_ < 0) return;
    const ssize_t wrote = ::write(fd_, buf, len);
    if (wrote > 0) size_ += wrote;
  }

 private:
  void RollLocked() VIGIL_REQUIRES(mu_) {
    if (fd_ >= 0) ::close(fd_);
    std::error_code ec;
    std::filesystem::rename(path_, old_path_, ec);  // none yet: fine
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    size_ = 0;
  }

  const std::filesystem::path path_;
  const std::filesystem::path old_path_;
  Mutex mu_;
  int fd_ VIGIL_GUARDED_BY(mu_) = -1;     // -1: not open (lines are dropped)
  off_t size_ VIGIL_GUARDED_BY(mu_) = 0;  // bytes written to fd_
};

// Forwards RocksDB's info log to its usual LOG file and counts, while the
// database opens, the write-ahead log it drops as corrupt ("dropping N bytes"):
// a torn tail after a crash is skipped, not fatal, and the operator is told.
class RecoveryLogger final : public rocksdb::Logger {
 public:
  explicit RecoveryLogger(std::shared_ptr<rocksdb::Logger> inner)
      : Logger(inner ? inner->GetInfoLogLevel() : rocksdb::InfoLogLevel::INFO_LEVEL),
        inner_(std::move(inner)) {}

  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap);
  }
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (level >= rocksdb::InfoLogLevel::WARN_LEVEL) {
      char buf[1024];
      va_list copy;
      va_copy(copy, ap);
      std::vsnprintf(buf, sizeof buf, format, copy);
      va_end(copy);
      const std::string_view text(buf);
      constexpr std::string_view kDropping = "dropping ";
      const size_t at = text.find(kDropping);
      if (at != std::string_view::npos && text.find(" bytes", at) != std::string_view::npos) {
        int64_t bytes = 0;
        const char* begin = buf + at + kDropping.size();
        std::from_chars(begin, buf + text.size(), bytes);
        if (bytes > 0) dropped_bytes_.fetch_add(static_cast<uint64_t>(bytes));
        corruptions_.fetch_add(1);
      }
    }
    if (inner_) inner_->Logv(level, format, ap);
  }
  rocksdb::Status Close() override { return inner_ ? inner_->Close() : rocksdb::Status::OK(); }
  void Flush() override {
    if (inner_) inner_->Flush();
  }

  // Forgets the counts (an open tried again reads the same logs again).
  void ResetCounts() {
    dropped_bytes_.store(0);
    corruptions_.store(0);
  }
  uint64_t dropped_bytes() const { return dropped_bytes_.load(); }
  uint64_t corruptions() const { return corruptions_.load(); }

 private:
  std::shared_ptr<rocksdb::Logger> inner_;
  std::atomic<uint64_t> dropped_bytes_{0};
  std::atomic<uint64_t> corruptions_{0};
};

// Bytes of the write-ahead log files (*.log) in `dir`.
uint64_t WalBytes(const std::filesystem::path& dir) {
  uint64_t bytes = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".log" && entry.is_regular_file(ec)) {
      bytes += entry.file_size(ec);
    }
  }
  return bytes;
}

Result<std::unique_ptr<Store>> OpenRocksDbStore(const StoreOptions& options, rocksdb::Env* env) {
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  if (ec) {
    return Status::IOError("cannot create data folder " + options.dir.string() + ": " +
                           ec.message());
  }
  Layout layout = DatabaseLayout(options, env);
  auto logger = std::make_shared<RecoveryLogger>(std::make_shared<InfoLogFile>(options.dir));
  layout.db.info_log = logger;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s =
      rocksdb::DB::Open(layout.db, options.dir.string(), layout.families, &handles, &raw);
  std::vector<size_t> write_buffers;  // as configured, when the open had to raise them
  if (s.IsNoSpace()) {
    // Recovery flushes what the write-ahead logs hold into level-0 files, and
    // found no room: a full disk could then be left only by freeing as much
    // as the memtables held, and each try left files behind. Opened again
    // without that flush (avoid_flush_during_recovery) and with memtables
    // large enough for all the logs, the open writes nothing but a MANIFEST;
    // they shrink back once open, and are flushed when there is room.
    const uint64_t wal_bytes = WalBytes(options.dir);
    layout.db.avoid_flush_during_recovery = true;
    for (rocksdb::ColumnFamilyDescriptor& f : layout.families) {
      write_buffers.push_back(f.options.write_buffer_size);
      f.options.write_buffer_size =
          std::max<size_t>(f.options.write_buffer_size, static_cast<size_t>(wal_bytes) + (1 << 20));
    }
    handles.clear();
    logger->ResetCounts();
    s = rocksdb::DB::Open(layout.db, options.dir.string(), layout.families, &handles, &raw);
  }
  if (!s.ok()) return FromRocks(s, "open " + options.dir.string());
  for (size_t i = 0; i < write_buffers.size() && i < handles.size(); ++i) {
    raw->SetOptions(handles[i], {{"write_buffer_size", std::to_string(write_buffers[i])}})
        .PermitUncheckedError();  // a larger memtable until restart at worst
  }
  std::vector<rocksdb::ColumnFamilyHandle*> others(
      handles.begin() + static_cast<ptrdiff_t>(layout.fixed), handles.end());
  handles.resize(layout.fixed);
  auto store =
      std::make_unique<RocksDbStore>(options, std::unique_ptr<rocksdb::DB>(raw), std::move(handles),
                                     others, layout.chunk, layout.rollup);
  Status init = store->Init();
  if (!init.ok()) return init;
  store->SetRecoveryCounts(logger->dropped_bytes(), logger->corruptions());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace

Result<std::unique_ptr<Store>> Store::Open(const StoreOptions& options) {
  return OpenRocksDbStore(options, nullptr);
}

Result<std::unique_ptr<Store>> OpenStoreWithEnv(const StoreOptions& options, rocksdb::Env* env) {
  return OpenRocksDbStore(options, env);
}

Status PutLegacyChunks(const std::filesystem::path& dir, std::span<const SealedChunk> chunks) {
  const Layout layout = DatabaseLayout(StoreOptions{.dir = dir}, nullptr);
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  Status s = FromRocks(rocksdb::DB::Open(layout.db, dir.string(), layout.families, &handles, &raw),
                       "open " + dir.string());
  if (!s.ok()) return s;
  std::unique_ptr<rocksdb::DB> db(raw);
  for (const SealedChunk& c : chunks) {
    if (!s.ok()) break;
    s = FromRocks(db->Put({}, handles[2], ChunkKey(c.sensor_id, c.first_at, c.chunk_id), c.bytes),
                  "put legacy chunk");
  }
  for (rocksdb::ColumnFamilyHandle* h : handles)
    db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  const Status closed = FromRocks(db->Close(), "close");
  return s.ok() ? closed : s;
}

std::vector<std::string> ColumnFamilyNames(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  if (!rocksdb::DB::ListColumnFamilies({}, dir.string(), &names).ok()) names.clear();
  return names;
}

}  // namespace vigil::storage
