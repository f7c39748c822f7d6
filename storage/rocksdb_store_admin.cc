// RocksDbStore: resume after a write error, statistics, backups.
#include <rocksdb/transaction_log.h>
#include <rocksdb/utilities/checkpoint.h>

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "storage/rocksdb_store_impl.h"

namespace vigil::storage {

using alarm::Result;
using alarm::Status;

Status RocksDbStore::Resume() { return FromRocks(db_->Resume(), "resume after a write error"); }

StoreStats RocksDbStore::GetStats() {
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
  if (db_->GetAggregatedIntProperty(rocksdb::DB::Properties::kEstimatePendingCompactionBytes, &v)) {
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

Status RocksDbStore::CreateBackup(const std::filesystem::path& dir) {
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

}  // namespace vigil::storage
