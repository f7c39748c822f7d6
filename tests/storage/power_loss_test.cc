// Power-loss tests: the Store runs on a FileSystem that drops every byte not
// made durable (tests/storage/power_loss_fs.h for the fault model), then the
// database is reopened and compared with what was acked.
#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "storage/chunk.h"
#include "storage/head_set.h"
#include "storage/ingest_record_v1.h"
#include "storage/rocksdb_store_testing.h"
#include "storage/store.h"
#include "tests/storage/power_loss_fs.h"
#include "tests/testing/temp_dir.h"

namespace vigil::storage {
namespace {

using alarm::Status;
using alarm::TimestampMs;
using testing::PowerLossFileSystem;

constexpr TimestampMs kMin = std::numeric_limits<TimestampMs>::min();
constexpr TimestampMs kMax = std::numeric_limits<TimestampMs>::max();
constexpr TimestampMs kT0 = 1'700'000'000'000;
// RocksDB's smallest memtable: records of ~1.7 KB make it flush every ~40
// records, so the tests also cross memtable switches, new WAL files, SST
// flushes and MANIFEST updates.
constexpr size_t kSmallMemtable = size_t{64} << 10;
constexpr uint32_t kReadingsPerSeries = 25;
const std::vector<std::string> kSensors = {"temp-1", "temp-2", "flow-1", "level-1"};

// The simulated machine: a power-loss FileSystem and an Env on it.
struct Machine {
  std::shared_ptr<PowerLossFileSystem> fs = std::make_shared<PowerLossFileSystem>();
  std::unique_ptr<rocksdb::Env> env = testing::NewPowerLossEnv(fs);

  std::unique_ptr<Store> Open(const std::filesystem::path& dir, bool sync) {
    auto store = OpenStoreWithEnv(
        StoreOptions{.dir = dir, .sync = sync, .write_buffer_bytes = kSmallMemtable}, env.get());
    REQUIRE(store.has_value());
    return std::move(*store);
  }

  // Power goes off now; the store is then closed (its close writes nothing
  // durable) and the loss applied to disk.
  void PowerLoss(std::unique_ptr<Store>& store) {
    fs->CutPower();
    store.reset();
    std::string error;
    const bool applied = fs->SimulatePowerLoss(&error);
    INFO(error);
    REQUIRE(applied);
  }
};

std::unique_ptr<Store> Reopen(const std::filesystem::path& dir) {
  auto store = Store::Open(StoreOptions{.dir = dir, .write_buffer_bytes = kSmallMemtable});
  REQUIRE(store.has_value());
  return std::move(*store);
}

TimestampMs ReadingAt(uint64_t log_seq, uint32_t i) {
  return kT0 + static_cast<TimestampMs>(log_seq) * 1000 + i;
}
double ReadingValue(size_t sensor, uint64_t log_seq, uint32_t i) {
  return static_cast<double>(sensor * 1'000'000 + log_seq * 100 + i) / 100.0;
}

// The record stored under `log_seq`: every sensor, kReadingsPerSeries readings.
std::string Record(std::string_view gateway, uint64_t sequence, uint64_t log_seq) {
  IngestRecordV1Builder builder;
  builder.Reset(gateway, 1, sequence);
  for (size_t s = 0; s < kSensors.size(); ++s) {
    auto slots = builder.AddSeries(kSensors[s], kReadingsPerSeries, false);
    for (uint32_t i = 0; i < kReadingsPerSeries; ++i) {
      slots.timestamps[i] = ReadingAt(log_seq, i);
      slots.values[i] = ReadingValue(s, log_seq, i);
    }
  }
  return builder.Release();
}

// What the test appended and was acked.
struct Acked {
  std::map<uint64_t, std::string> records;                           // by log seq
  std::map<uint64_t, std::map<std::string, Watermark>> marks_after;  // by last log seq of a group
  uint64_t groups = 0;
};

const std::vector<std::string> kGateways = {"gw-a", "gw-b", "gw-c"};

// Appends `groups` groups of 1..3 batches (one per gateway), each batch with
// its gateway's next watermark, and records the acks in *acked.
void AppendGroups(Store& store, uint64_t groups, Acked* acked) {
  for (uint64_t g = 0; g < groups; ++g) {
    const uint64_t first = store.end_position();
    const size_t n = 1 + (acked->groups + g) % kGateways.size();
    std::vector<std::string> records;
    std::vector<LogAppend> appends;
    records.reserve(n);
    std::map<std::string, Watermark> marks = acked->marks_after.empty()
                                                 ? std::map<std::string, Watermark>{}
                                                 : acked->marks_after.rbegin()->second;
    for (size_t i = 0; i < n; ++i) {
      const std::string& gw = kGateways[i];
      const Watermark mark{.epoch = 1, .sequence = marks[gw].sequence + 1};
      marks[gw] = mark;
      records.push_back(Record(gw, mark.sequence, first + i));
      appends.push_back(LogAppend{.gateway_id = gw, .watermark = mark, .record = records.back()});
    }
    auto seq = AppendAndWait(store, appends);
    REQUIRE(seq.has_value());
    REQUIRE(*seq == first);
    for (size_t i = 0; i < n; ++i) acked->records.emplace(first + i, std::move(records[i]));
    acked->marks_after.emplace(first + n - 1, std::move(marks));
  }
  acked->groups += groups;
}

std::map<uint64_t, std::string> ReplayAll(Store& store, uint64_t from) {
  std::map<uint64_t, std::string> out;
  Status s = store.Replay(from, [&](uint64_t seq, const LogEntry& entry) {
    const std::string_view record = entry.payload;
    out.emplace(seq, std::string(record));
    return Status::Ok();
  });
  REQUIRE(s.ok());
  return out;
}

std::map<std::string, Watermark> Watermarks(Store& store) {
  auto marks = store.LoadWatermarks();
  REQUIRE(marks.has_value());
  return {marks->begin(), marks->end()};
}

// The reopened store holds exactly the acked records 1..k (a gap-free prefix)
// and the watermarks of the last surviving group; returns k.
uint64_t CheckPrefixSurvived(Store& store, const Acked& acked) {
  const std::map<uint64_t, std::string> replayed = ReplayAll(store, 1);
  const uint64_t k = replayed.empty() ? 0 : replayed.rbegin()->first;
  REQUIRE(replayed.size() == k);  // seqs 1..k, no gap
  for (const auto& [seq, record] : replayed) {
    INFO("log seq " << seq);
    REQUIRE(acked.records.count(seq) == 1);
    REQUIRE(record == acked.records.at(seq));  // byte for byte
  }
  REQUIRE(store.end_position() == k + 1);
  // Groups are atomic: the survivors end on a group boundary, and the
  // watermarks are that group's.
  if (k == 0) {
    REQUIRE(Watermarks(store).empty());
  } else {
    REQUIRE(acked.marks_after.count(k) == 1);
    REQUIRE(Watermarks(store) == acked.marks_after.at(k));
  }
  return k;
}

TEST_CASE("With fsync durability every acked append survives a power loss",
          "[storage][power_loss]") {
  vigil::testing::TempDir dir;
  Machine machine;
  auto store = machine.Open(dir / "db", /*sync=*/true);
  Acked acked;
  AppendGroups(*store, 150, &acked);  // ~300 records, ~500 KB: several memtable flushes
  const uint64_t appended = acked.records.size();
  machine.PowerLoss(store);
  INFO("bytes dropped " << machine.fs->bytes_dropped() << ", files deleted "
                        << machine.fs->files_deleted());

  auto reopened = Reopen(dir / "db");
  REQUIRE(CheckPrefixSurvived(*reopened, acked) == appended);
  REQUIRE(Watermarks(*reopened) == acked.marks_after.rbegin()->second);

  // The log continues where it was: the next group gets seq appended + 1.
  Acked more = acked;
  AppendGroups(*reopened, 1, &more);
  REQUIRE(more.records.size() > appended);
  REQUIRE(CheckPrefixSurvived(*reopened, more) == more.records.size());
}

TEST_CASE("With wal durability a power loss can lose acked appends (the test has teeth)",
          "[storage][power_loss]") {
  vigil::testing::TempDir dir;
  Machine machine;
  auto store = machine.Open(dir / "db", /*sync=*/false);
  Acked acked;
  AppendGroups(*store, 150, &acked);
  const uint64_t appended = acked.records.size();
  machine.PowerLoss(store);
  // The current WAL was never synced: its bytes (or the whole file) are gone.
  REQUIRE((machine.fs->bytes_dropped() > 0 || machine.fs->files_deleted() > 0));

  auto reopened = Reopen(dir / "db");
  const uint64_t survived = CheckPrefixSurvived(*reopened, acked);
  INFO("appended " << appended << ", survived " << survived);
  REQUIRE(survived < appended);  // acked, yet lost: wal mode promises no more
}

TEST_CASE("Synced appends survive a power loss and later unsynced ones may not",
          "[storage][power_loss]") {
  // A store has one durability mode; the mix is a fsync run, a clean close,
  // then a wal run on the same database cut by the power loss.
  vigil::testing::TempDir dir;
  Machine machine;
  Acked acked;
  {
    auto store = machine.Open(dir / "db", /*sync=*/true);
    AppendGroups(*store, 60, &acked);
  }
  const Acked synced = acked;
  auto store = machine.Open(dir / "db", /*sync=*/false);
  REQUIRE(store->end_position() == synced.records.size() + 1);
  AppendGroups(*store, 60, &acked);
  machine.PowerLoss(store);

  auto reopened = Reopen(dir / "db");
  const uint64_t survived = CheckPrefixSurvived(*reopened, acked);
  REQUIRE(survived >= synced.records.size());  // every synced append
  REQUIRE(survived < acked.records.size());    // and not the unsynced tail
}

// Every (sensor, at, value) the records 1..through hold.
using ReadingSet = std::set<std::tuple<std::string, TimestampMs, double>>;
void AddReadings(uint64_t log_seq, ReadingSet* out) {
  for (size_t s = 0; s < kSensors.size(); ++s) {
    for (uint32_t i = 0; i < kReadingsPerSeries; ++i) {
      out->emplace(kSensors[s], ReadingAt(log_seq, i), ReadingValue(s, log_seq, i));
    }
  }
}

// Seals the readings of log records [from, to) into one chunk per sensor.
std::vector<SealedChunk> Seal(uint64_t from, uint64_t to, uint64_t* chunk_id) {
  std::vector<SealedChunk> chunks;
  for (size_t s = 0; s < kSensors.size(); ++s) {
    ChunkEncoder encoder;
    for (uint64_t seq = from; seq < to; ++seq) {
      for (uint32_t i = 0; i < kReadingsPerSeries; ++i) {
        encoder.Append(ReadingAt(seq, i), ReadingValue(s, seq, i), alarm::kQualityGood);
      }
    }
    chunks.push_back(SealedChunk{.sensor_id = kSensors[s],
                                 .first_at = encoder.first_at(),
                                 .last_at = encoder.last_at(),
                                 .chunk_id = (*chunk_id)++,
                                 .bytes = encoder.Finish()});
  }
  return chunks;
}

void CheckpointedRun(bool sync) {
  vigil::testing::TempDir dir;
  Machine machine;
  auto store = machine.Open(dir / "db", sync);
  Acked acked;
  uint64_t chunk_id = 1;
  // Rounds of appends, each but the last sealed into chunks (written without
  // sync) and checkpointed, which deletes their log range.
  for (int round = 0; round < 8; ++round) {
    const uint64_t from = store->end_position();
    AppendGroups(*store, 15, &acked);
    if (round == 7) break;
    const uint64_t to = store->end_position();
    REQUIRE(store->WriteChunks(Seal(from, to, &chunk_id)).ok());
    REQUIRE(store->Checkpoint(to).ok());
  }
  const uint64_t appended = acked.records.size();
  machine.PowerLoss(store);

  auto reopened = Reopen(dir / "db");
  const uint64_t next = reopened->end_position();
  const uint64_t replay_from = reopened->replay_from();
  INFO("appended " << appended << ", end_position " << next << ", replay_from " << replay_from);
  REQUIRE(next <= appended + 1);
  REQUIRE(replay_from <= next);

  // Recoverable: the chunks plus the log from replay_from, gap-free.
  ReadingSet recovered;
  for (const std::string& sensor : kSensors) {
    std::vector<alarm::Reading> readings;
    REQUIRE(reopened->ReadChunks(sensor, kMin, kMax, &readings).ok());
    for (const alarm::Reading& r : readings) recovered.emplace(sensor, r.at, r.value);
  }
  const std::map<uint64_t, std::string> replayed = ReplayAll(*reopened, replay_from);
  REQUIRE(replayed.size() == next - replay_from);
  uint64_t expect_seq = replay_from;
  for (const auto& [seq, record] : replayed) {
    REQUIRE(seq == expect_seq++);
    REQUIRE(record == acked.records.at(seq));
    AddReadings(seq, &recovered);
  }

  // Every reading of every surviving log seq (1..next-1) is recoverable, and
  // nothing else was invented.
  ReadingSet all;
  ReadingSet survived;
  for (const auto& [seq, record] : acked.records) {
    AddReadings(seq, &all);
    if (seq < next) AddReadings(seq, &survived);
  }
  for (const auto& r : survived) {
    INFO("lost reading of " << std::get<0>(r) << " at " << std::get<1>(r));
    REQUIRE(recovered.count(r) == 1);
  }
  for (const auto& r : recovered) REQUIRE(all.count(r) == 1);
  if (sync) {
    REQUIRE(next == appended + 1);  // fsync: nothing acked is lost
    REQUIRE(recovered == all);
  }
}

TEST_CASE("After a power loss with fsync durability every reading is in chunks or the log",
          "[storage][power_loss]") {
  CheckpointedRun(/*sync=*/true);
}

TEST_CASE("After a power loss with wal durability no checkpoint outlives its chunks",
          "[storage][power_loss]") {
  CheckpointedRun(/*sync=*/false);
}

}  // namespace
}  // namespace vigil::storage
