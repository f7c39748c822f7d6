// RocksDbStore, the IngestLog: append, replay, checkpoint, watermarks.
#include <rocksdb/slice.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <string>

#include "storage/log_entry.h"
#include "storage/rocksdb_store_impl.h"

namespace vigil::storage {

using alarm::Result;
using alarm::Status;

// The group is one WriteBatch and one write: durable (as options.sync asks)
// when Write returns, so `done` runs before Append returns.
void RocksDbStore::Append(std::span<const LogAppend> group, AppendDone done) {
  done(WriteLogGroup(group));
}

Result<uint64_t> RocksDbStore::WriteLogGroup(std::span<const LogAppend> appends) {
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
    const rocksdb::Slice value_parts[] = {rocksdb::Slice(header, sizeof header), ToSlice(a.record)};
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

Result<std::unordered_map<std::string, Watermark>> RocksDbStore::LoadWatermarks() {
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

Result<std::optional<Watermark>> RocksDbStore::LoadWatermark(std::string_view gateway_id) {
  std::string value;
  const rocksdb::Status s = db_->Get({}, meta(), WatermarkKey(gateway_id), &value);
  if (s.IsNotFound()) return std::optional<Watermark>();
  if (!s.ok()) return FromRocks(s, "read a watermark");
  auto mark = DecodeWatermark(value);
  if (!mark) return Status::Corruption("watermark of gateway '" + std::string(gateway_id) + "'");
  return std::optional<Watermark>(*mark);
}

Status RocksDbStore::Replay(uint64_t from,
                            const std::function<Status(uint64_t, const LogEntry&)>& visit) {
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

Status RocksDbStore::Checkpoint(uint64_t replay_from) {
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

}  // namespace vigil::storage
