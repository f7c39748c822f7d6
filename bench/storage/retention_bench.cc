// Retention benchmark: what expiring a week of raw chunks costs with
//   (a) one chunk family and a RocksDB CompactionFilter that drops chunks past
//       the horizon, forced through a full CompactRange (with sensor-major
//       keys every SST file holds every age, so that is what makes expiry
//       happen; without it, expired chunks wait for compaction to reach them);
//   (b) the Store's time-partitioned families: EnforceRetention drops the
//       week's family whole.
// Both hold the same chunks: --sensors sensors x --days days, one 480-reading
// chunk (15 s interval, 2 h) per sensor per 2 h. Prints `name value unit`;
// disk bytes come from /proc/self/io (write_bytes, read_bytes).
//
//   retention_bench [--sensors N] [--days N]
#include <rocksdb/compaction_filter.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/statistics.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "storage/chunk.h"
#include "storage/head_set.h"
#include "storage/keys.h"
#include "storage/store.h"
#include "tests/testing/temp_dir.h"

namespace {

using vigil::alarm::TimestampMs;
using Clock = std::chrono::steady_clock;

constexpr TimestampMs kHour = 3'600'000;
constexpr TimestampMs kDay = 24 * kHour;
constexpr TimestampMs kSpan = vigil::storage::kMaxChunkSpan.count();
constexpr TimestampMs kT0 = 1'699'488'000'000;  // 2023-11-09T00:00Z: day 19670, a multiple of 7

void Figure(const char* name, double value, const char* unit) {
  std::printf("%s %.3f %s\n", name, value, unit);
  std::fflush(stdout);
}

void Check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "retention_bench: %s\n", what);
  std::exit(1);
}

// This process's disk traffic so far (/proc/self/io).
struct Io {
  double read = 0;
  double written = 0;
};
Io ProcessIo() {
  std::ifstream in("/proc/self/io");
  Io io;
  std::string key;
  double value = 0;
  while (in >> key >> value) {
    if (key == "read_bytes:") io.read = value;
    if (key == "write_bytes:") io.written = value;
  }
  return io;
}

double SstBytes(const std::filesystem::path& dir) {
  double bytes = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".sst") bytes += static_cast<double>(entry.file_size());
  }
  return bytes;
}

// Every sensor's chunks, day by day (the order they arrive in).
template <class Sink>
void ForEachChunk(int sensors, int days, Sink&& sink) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> noise(0, 0.05);
  std::vector<TimestampMs> times(480);
  std::vector<double> values(480);
  std::vector<vigil::storage::SealedChunk> sealed;
  vigil::storage::HeadSet heads(vigil::storage::HeadSetOptions{});
  for (TimestampMs start = kT0; start < kT0 + days * kDay; start += kSpan) {
    for (int s = 0; s < sensors; ++s) {
      char id[16];
      std::snprintf(id, sizeof(id), "s-%05d", s);
      double v = 20 + s % 7;
      for (size_t i = 0; i < times.size(); ++i) {
        times[i] = start + static_cast<TimestampMs>(i) * 15'000;
        v += noise(rng);
        values[i] = std::round(v * 100) / 100;
      }
      heads.Append(id, times, values, {}, 1, &sealed);
    }
    heads.SealAll(&sealed);
    sink(sealed);
    sealed.clear();
  }
}

// Drops chunks whose readings all lie before the horizon (first_at + the
// longest chunk span), as a filter-based retention would.
class ExpiredChunkFilter final : public rocksdb::CompactionFilter {
 public:
  explicit ExpiredChunkFilter(const std::atomic<TimestampMs>* horizon) : horizon_(horizon) {}
  bool Filter(int /*level*/, const rocksdb::Slice& key, const rocksdb::Slice& /*value*/,
              std::string* /*new_value*/, bool* /*value_changed*/) const override {
    auto parts = vigil::storage::ParseChunkKey(std::string_view(key.data(), key.size()));
    const bool drop = parts && parts->first_at + kSpan < horizon_->load();
    if (drop) dropped.fetch_add(1, std::memory_order_relaxed);
    return drop;
  }
  const char* Name() const override { return "ExpiredChunkFilter"; }
  mutable std::atomic<uint64_t> dropped{0};

 private:
  const std::atomic<TimestampMs>* horizon_;
};

void FilterVariant(const std::filesystem::path& dir, int sensors, int days) {
  std::atomic<TimestampMs> horizon{std::numeric_limits<TimestampMs>::min()};
  ExpiredChunkFilter filter(&horizon);
  rocksdb::Options options;
  options.create_if_missing = true;
  options.max_background_jobs = 2;
  options.compression = rocksdb::kNoCompression;  // as the chunk families: chunks are compressed
  options.level_compaction_dynamic_level_bytes = true;
  options.compaction_filter = &filter;
  options.statistics = rocksdb::CreateDBStatistics();
  rocksdb::DB* raw = nullptr;
  Check(rocksdb::DB::Open(options, dir.string(), &raw).ok(), "open");
  std::unique_ptr<rocksdb::DB> db(raw);
  ForEachChunk(sensors, days, [&](const std::vector<vigil::storage::SealedChunk>& chunks) {
    rocksdb::WriteBatch batch;
    for (const auto& c : chunks) {
      Check(batch.Put(vigil::storage::ChunkKey(c.sensor_id, c.first_at, c.chunk_id), c.bytes).ok(),
            "put");
    }
    Check(db->Write({}, &batch).ok(), "write");
  });
  Check(db->Flush({}).ok(), "flush");
  rocksdb::CompactRangeOptions settle;
  Check(db->CompactRange(settle, nullptr, nullptr).ok(), "settle");
  uint64_t before = 0;
  db->GetIntProperty(rocksdb::DB::Properties::kTotalSstFilesSize, &before);
  Figure("data_sst_bytes", static_cast<double>(before), "bytes");

  // A week past: the first week's chunks expire.
  horizon = kT0 + 7 * kDay + kSpan;
  const uint64_t written_before = options.statistics->getTickerCount(rocksdb::COMPACT_WRITE_BYTES);
  const Io io = ProcessIo();
  const auto start = Clock::now();
  rocksdb::CompactRangeOptions force;
  force.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  Check(db->CompactRange(force, nullptr, nullptr).ok(), "compact");
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  const Io after = ProcessIo();
  uint64_t remaining = 0;
  db->GetIntProperty(rocksdb::DB::Properties::kTotalSstFilesSize, &remaining);
  Figure("filter_expire_week_ms", ms, "ms");
  Figure("filter_expire_week_compaction_bytes_written",
         static_cast<double>(options.statistics->getTickerCount(rocksdb::COMPACT_WRITE_BYTES) -
                             written_before),
         "bytes");
  Figure("filter_expire_week_disk_bytes_written", after.written - io.written, "bytes");
  Figure("filter_expire_week_disk_bytes_read", after.read - io.read, "bytes");
  Figure("filter_expire_week_chunks_dropped", static_cast<double>(filter.dropped.load()), "chunks");
  Figure("filter_expire_week_bytes_freed", static_cast<double>(before - remaining), "bytes");
}

void PartitionVariant(const std::filesystem::path& dir, int sensors, int days) {
  std::atomic<TimestampMs> now{kT0};
  vigil::storage::StoreOptions options;
  options.dir = dir;
  options.write_buffer_bytes = size_t{8} << 20;  // flushed to SST files like the other variant
  options.retention = {.raw = std::chrono::hours(24 * 365),
                       .stats = std::chrono::hours(24 * 365 * 3),
                       .clock = [&] { return now.load(); }};
  auto store = vigil::storage::Store::Open(options);
  Check(store.has_value(), "open store");
  ForEachChunk(sensors, days, [&](const std::vector<vigil::storage::SealedChunk>& chunks) {
    Check((*store)->WriteChunks(chunks).ok(), "WriteChunks");
  });
  const double before = SstBytes(dir);
  now = kT0 + 365 * kDay + 7 * kDay + kSpan;  // the first week is past the raw horizon
  const Io io = ProcessIo();
  const auto start = Clock::now();
  auto dropped = (*store)->EnforceRetention();
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  const Io after = ProcessIo();
  Check(dropped.has_value() && dropped->size() == 1, "expected one partition dropped");
  Figure("partition_expire_week_ms", ms, "ms");
  Figure("partition_expire_week_disk_bytes_written", after.written - io.written, "bytes");
  Figure("partition_expire_week_disk_bytes_read", after.read - io.read, "bytes");
  store->reset();  // the dropped family's files go with its last handle
  Figure("partition_expire_week_sst_bytes_freed", before - SstBytes(dir), "bytes");
}

}  // namespace

int main(int argc, char** argv) {
  int sensors = 500;
  int days = 28;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    if (flag == "--sensors") {
      sensors = std::atoi(argv[i + 1]);
    } else if (flag == "--days") {
      days = std::atoi(argv[i + 1]);
    } else {
      std::fprintf(stderr, "usage: retention_bench [--sensors N] [--days N]\n");
      return 2;
    }
  }
  Check(sensors >= 1 && days >= 8, "need --sensors >= 1 and --days >= 8");
  std::printf("# %d sensors x %d days, one 480-reading chunk per sensor per 2 h\n", sensors, days);
  vigil::testing::TempDir dir;
  FilterVariant(dir / "filter", sensors, days);
  PartitionVariant(dir / "partitions", sensors, days);
  return 0;
}
