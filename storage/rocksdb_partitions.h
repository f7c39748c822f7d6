// Time partitions for the RocksDB store: one logical key space (chunks,
// rollups) kept as one column family per time range, so that retention drops
// whole families instead of deleting keys; and the RocksDB helpers the store
// files share. Private to storage/: only rocksdb_*.cc and rocksdb_store_impl.h
// include it.
// Thread-safety: PartitionedFamily is thread-safe; the rest are pure.
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/merge_operator.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "alarm/status.h"
#include "alarm/thread_annotations.h"
#include "alarm/types.h"
#include "storage/keys.h"
#include "storage/mutex.h"

namespace vigil::storage {

alarm::Status FromRocks(const rocksdb::Status& s, std::string_view what);
inline rocksdb::Slice ToSlice(std::string_view s) { return {s.data(), s.size()}; }
inline std::string_view ToView(const rocksdb::Slice& s) { return {s.data(), s.size()}; }

// Merges rollup values (EncodeStepStats) with StepStats::Merge, older first.
std::shared_ptr<rocksdb::MergeOperator> NewStepStatsMergeOperator();

// The column families "<base>@<start_day>+<span_days>d" of one key space, each
// holding the keys whose time (a chunk's first_at, a bucket's start) falls in
// [start, end). Owned by the store; lives between DB open and close.
// Lifecycle: Adopt the families found at open, then ForTime creates missing
// ones on demand and DropEndingBy drops expired ones. A Partition handed out
// stays readable after a drop until its last reference goes (RocksDB keeps a
// dropped family's files until its handle is destroyed).
class PartitionedFamily {
 public:
  struct Partition {
    std::string name;
    alarm::TimestampMs start = 0;  // [start, end), clamped to the int64 range
    alarm::TimestampMs end = 0;
    rocksdb::ColumnFamilyHandle* handle = nullptr;
  };
  using Ptr = std::shared_ptr<const Partition>;

  // New partitions span `span_days` days (>= 1) from a multiple of it since
  // 1970-01-01 and are created with `options`. `db` must outlive this object.
  PartitionedFamily(rocksdb::DB* db, std::string base, int64_t span_days,
                    rocksdb::ColumnFamilyOptions options);
  // Destroys the handles. REQUIRES: no Ptr is still held.
  ~PartitionedFamily() = default;
  PartitionedFamily(const PartitionedFamily&) = delete;
  PartitionedFamily& operator=(const PartitionedFamily&) = delete;

  const std::string& base() const { return base_; }
  const rocksdb::ColumnFamilyOptions& options() const { return options_; }

  // Takes over the handle of an existing family named `name` (at open).
  void Adopt(const PartitionName& name, rocksdb::ColumnFamilyHandle* handle);
  // The partition holding `t`; creates its family when missing. Errors: those
  // of CreateColumnFamily (kIOError, ...).
  alarm::Result<Ptr> ForTime(alarm::TimestampMs t);
  // The partitions overlapping [from, to), oldest first.
  std::vector<Ptr> Overlapping(alarm::TimestampMs from, alarm::TimestampMs to) const;
  // Every partition, oldest first.
  std::vector<Ptr> All() const;
  // Drops every partition with end <= `limit` and returns their names. Stops
  // at the first failure and returns it (what was dropped stays dropped).
  alarm::Result<std::vector<std::string>> DropEndingBy(alarm::TimestampMs limit);

 private:
  Ptr Make(const PartitionName& name, rocksdb::ColumnFamilyHandle* handle);
  // The partition holding `t`, or null.
  Ptr Find(alarm::TimestampMs t) const VIGIL_REQUIRES_SHARED(mu_);

  rocksdb::DB* db_;
  std::string base_;
  int64_t span_days_;
  rocksdb::ColumnFamilyOptions options_;
  mutable SharedMutex mu_;
  std::map<alarm::TimestampMs, Ptr> by_start_ VIGIL_GUARDED_BY(mu_);
};

}  // namespace vigil::storage
