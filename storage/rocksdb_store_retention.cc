// RocksDbStore: retention horizons and the drop of expired time partitions.
#include <chrono>
#include <mutex>

#include "storage/rocksdb_store_impl.h"

namespace vigil::storage {

using alarm::Result;
using alarm::Status;

alarm::TimestampMs RocksDbStore::Now() const {
  if (options_.retention.clock) return options_.retention.clock();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

alarm::TimestampMs RocksDbStore::Horizon(DataClass data) const {
  const std::chrono::milliseconds keep =
      data == DataClass::kRaw ? options_.retention.raw : options_.retention.stats;
  if (keep.count() <= 0) return kMinTime;
  return SaturatingSub(Now(), keep.count());
}

Result<std::vector<std::string>> RocksDbStore::EnforceRetention() {
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

}  // namespace vigil::storage
