#include "storage/rocksdb_partitions.h"

#include <limits>
#include <utility>

#include "storage/step_stats.h"

namespace vigil::storage {
namespace {

constexpr int64_t kDayMs = int64_t{24} * 3600 * 1000;
constexpr alarm::TimestampMs kMinTime = std::numeric_limits<alarm::TimestampMs>::min();
constexpr alarm::TimestampMs kMaxTime = std::numeric_limits<alarm::TimestampMs>::max();

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if (a % b != 0 && a < 0) --q;
  return q;
}

// day * kDayMs, clamped to the int64 range.
alarm::TimestampMs DayStart(int64_t day) {
  alarm::TimestampMs ms = 0;
  if (__builtin_mul_overflow(day, kDayMs, &ms)) return day < 0 ? kMinTime : kMaxTime;
  return ms;
}

alarm::TimestampMs EndDayStart(const PartitionName& name) {
  int64_t end_day = 0;
  if (__builtin_add_overflow(name.start_day, name.span_days, &end_day)) return kMaxTime;
  return DayStart(end_day);
}

class StepStatsMergeOperator final : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice& /*key*/, const rocksdb::Slice* existing,
             const rocksdb::Slice& value, std::string* new_value,
             rocksdb::Logger* /*logger*/) const override {
    std::optional<StepStats> merged = StepStats{};
    if (existing != nullptr) merged = DecodeStepStats(ToView(*existing));
    const std::optional<StepStats> operand = DecodeStepStats(ToView(value));
    if (!merged || !operand) return false;  // reads then report corruption
    merged->Merge(*operand);
    *new_value = EncodeStepStats(*merged);
    return true;
  }
  const char* Name() const override { return "vigil.StepStatsMerge"; }
};

}  // namespace

alarm::Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  using alarm::Status;
  if (s.ok()) return Status::Ok();
  std::string msg = std::string(what) + ": " + s.ToString();
  if (s.IsCorruption()) return Status::Corruption(std::move(msg));
  if (s.IsNoSpace()) {
    return Status::ResourceExhausted(std::move(msg));
  }
  if (s.IsIOError()) return Status::IOError(std::move(msg));
  if (s.IsBusy() || s.IsTryAgain() || s.IsIncomplete() || s.IsShutdownInProgress()) {
    return Status::Unavailable(std::move(msg));
  }
  return Status::Internal(std::move(msg));
}

std::shared_ptr<rocksdb::MergeOperator> NewStepStatsMergeOperator() {
  return std::make_shared<StepStatsMergeOperator>();
}

PartitionedFamily::PartitionedFamily(rocksdb::DB* db, std::string base, int64_t span_days,
                                     rocksdb::ColumnFamilyOptions options)
    : db_(db), base_(std::move(base)), span_days_(span_days), options_(std::move(options)) {}

PartitionedFamily::Ptr PartitionedFamily::Make(const PartitionName& name,
                                               rocksdb::ColumnFamilyHandle* handle) {
  auto* partition = new Partition{.name = PartitionFamilyName(name),
                                  .start = DayStart(name.start_day),
                                  .end = EndDayStart(name),
                                  .handle = handle};
  rocksdb::DB* db = db_;
  return Ptr(partition, [db](const Partition* p) {
    db->DestroyColumnFamilyHandle(p->handle).PermitUncheckedError();
    delete p;
  });
}

void PartitionedFamily::Adopt(const PartitionName& name, rocksdb::ColumnFamilyHandle* handle) {
  Ptr partition = Make(name, handle);
  WriterMutexLock lock(&mu_);
  by_start_[partition->start] = std::move(partition);
}

PartitionedFamily::Ptr PartitionedFamily::Find(alarm::TimestampMs t) const {
  auto it = by_start_.upper_bound(t);
  if (it == by_start_.begin()) return nullptr;
  --it;
  // The last representable partition also holds INT64_MAX.
  const alarm::TimestampMs end = it->second->end;
  return t < end || end == kMaxTime ? it->second : nullptr;
}

alarm::Result<PartitionedFamily::Ptr> PartitionedFamily::ForTime(alarm::TimestampMs t) {
  {
    ReaderMutexLock lock(&mu_);
    if (Ptr found = Find(t)) return found;
  }
  WriterMutexLock lock(&mu_);
  if (Ptr found = Find(t)) return found;  // created meanwhile
  const PartitionName name{.base = base_,
                           .start_day = FloorDiv(FloorDiv(t, kDayMs), span_days_) * span_days_,
                           .span_days = span_days_};
  rocksdb::ColumnFamilyHandle* handle = nullptr;
  const std::string family = PartitionFamilyName(name);
  rocksdb::Status s = db_->CreateColumnFamily(options_, family, &handle);
  if (!s.ok()) return FromRocks(s, "create column family " + family);
  Ptr partition = Make(name, handle);
  by_start_[partition->start] = partition;
  return partition;
}

std::vector<PartitionedFamily::Ptr> PartitionedFamily::Overlapping(alarm::TimestampMs from,
                                                                   alarm::TimestampMs to) const {
  std::vector<Ptr> out;
  ReaderMutexLock lock(&mu_);
  for (const auto& [start, partition] : by_start_) {
    if (start >= to) break;
    if (partition->end > from) out.push_back(partition);
  }
  return out;
}

std::vector<PartitionedFamily::Ptr> PartitionedFamily::All() const {
  return Overlapping(kMinTime, kMaxTime);
}

alarm::Result<std::vector<std::string>> PartitionedFamily::DropEndingBy(alarm::TimestampMs limit) {
  std::vector<std::string> dropped;
  WriterMutexLock lock(&mu_);
  for (auto it = by_start_.begin(); it != by_start_.end() && it->second->end <= limit;) {
    rocksdb::Status s = db_->DropColumnFamily(it->second->handle);
    if (!s.ok()) return FromRocks(s, "drop column family " + it->second->name);
    dropped.push_back(it->second->name);
    it = by_start_.erase(it);
  }
  return dropped;
}

}  // namespace vigil::storage
