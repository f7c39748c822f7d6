// RocksDbStore, the ChunkStore: chunk and rollup writes and reads, snapshots.
#include <rocksdb/iterator.h>
#include <rocksdb/slice.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <bit>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "storage/chunk.h"
#include "storage/rocksdb_store_impl.h"

namespace vigil::storage {

using alarm::Result;
using alarm::Status;

namespace {

// Bytes of chunks (and their statistics) per RocksDB write.
constexpr size_t kMaxChunkWriteBytes = size_t{1} << 20;

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

}  // namespace

// The timestamps a new chunk repeats from stored chunks of its sensor. One
// seek per chunk, on iterators kept for one WriteChunks call; a stored chunk
// is decoded only when its time range overlaps the new one's.
class RocksDbStore::StoredRepeats {
 public:
  explicit StoredRepeats(RocksDbStore* store) : store_(store) {}

  // After a write the iterators no longer see the database as it is.
  void Refresh() { iterators_.clear(); }

  Result<std::vector<Repeat>> Find(const SealedChunk& c, std::span<const alarm::Reading> readings) {
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

Status RocksDbStore::WriteChunks(std::span<const SealedChunk> chunks) {
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

Status RocksDbStore::ReadChunksAt(const ReadSnapshot* snapshot, std::string_view sensor_id,
                                  alarm::TimestampMs from, alarm::TimestampMs to,
                                  size_t max_readings, std::vector<alarm::Reading>* out) {
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

Status RocksDbStore::ReadRollups(const ReadSnapshot* snapshot, std::string_view sensor_id,
                                 alarm::TimestampMs from, alarm::TimestampMs to,
                                 std::vector<Step>* out) {
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

Result<std::optional<alarm::Reading>> RocksDbStore::ReadLatest(std::string_view sensor_id) {
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

std::shared_ptr<const ReadSnapshot> RocksDbStore::NewSnapshot() {
  return std::make_shared<RocksSnapshot>(db_.get());
}

// *out = chunk `c` without the readings `repeated` marks identical; those
// are removed from *readings and *repeated too. REQUIRES: some remain.
void RocksDbStore::TrimIdentical(const SealedChunk& c, std::vector<alarm::Reading>* readings,
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
Status RocksDbStore::AddChunk(const SealedChunk& c, std::span<const alarm::Reading> readings,
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
Status RocksDbStore::RecomputeBucket(std::string_view sensor_id, alarm::TimestampMs bucket,
                                     std::span<const alarm::Reading> added, StepStats* stats) {
  std::vector<alarm::Reading> stored;
  Status s = ReadChunksAt(nullptr, sensor_id, bucket, SaturatingAdd(bucket, kBucketMs),
                          kAllReadings, &stored);
  if (!s.ok()) return s;
  size_t i = 0;
  for (const alarm::Reading& r : added) {
    for (; i < stored.size() && stored[i].at < r.at; ++i) stats->Add(stored[i].at, stored[i].value);
    if (i < stored.size() && stored[i].at == r.at) ++i;
    stats->Add(r.at, r.value);
  }
  for (; i < stored.size(); ++i) stats->Add(stored[i].at, stored[i].value);
  return Status::Ok();
}

}  // namespace vigil::storage
