// Store::CreateBackup: a checkpoint of a live store opens as a store holding
// everything written before it.
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "storage/chunk.h"
#include "storage/head_set.h"
#include "storage/ingest_record_v1.h"
#include "storage/store.h"
#include "tests/testing/temp_dir.h"

namespace vigil::storage {
namespace {

using alarm::Reading;
using alarm::Status;
using alarm::TimestampMs;

constexpr TimestampMs kT0 = 1'700'000'000'000;

std::unique_ptr<Store> OpenStore(const std::filesystem::path& dir) {
  auto store = Store::Open({.dir = dir, .sync = false, .write_buffer_bytes = size_t{1} << 20});
  REQUIRE(store.has_value());
  REQUIRE(*store != nullptr);
  return std::move(*store);
}

std::string Record(std::string_view gateway, uint64_t epoch, uint64_t sequence) {
  IngestRecordV1Builder builder;
  builder.Reset(gateway, epoch, sequence);
  auto slots = builder.AddSeries("s1", 1, false);
  slots.timestamps[0] = kT0 + static_cast<TimestampMs>(sequence);
  slots.values[0] = static_cast<double>(epoch);
  return builder.Release();
}

void Append(Store& store, std::string_view gateway, uint64_t epoch, uint64_t sequence) {
  const std::string record = Record(gateway, epoch, sequence);
  const LogAppend append{.gateway_id = gateway, .watermark = {epoch, sequence}, .record = record};
  REQUIRE(AppendAndWait(store, {&append, 1}).has_value());
}

SealedChunk MakeChunk(std::string sensor, TimestampMs first, int n, uint64_t chunk_id) {
  ChunkEncoder encoder;
  for (int i = 0; i < n; ++i) encoder.Append(first + i * 1000, i * 0.5, alarm::kQualityGood);
  return SealedChunk{.sensor_id = std::move(sensor),
                     .first_at = encoder.first_at(),
                     .last_at = encoder.last_at(),
                     .chunk_id = chunk_id,
                     .bytes = encoder.Finish()};
}

std::vector<std::pair<TimestampMs, double>> ReadAll(Store& store, std::string_view sensor) {
  std::vector<Reading> readings;
  REQUIRE(store.ReadChunks(sensor, kT0 - 1'000'000, kT0 + 1'000'000, &readings).ok());
  std::vector<std::pair<TimestampMs, double>> out;
  for (const Reading& r : readings) out.emplace_back(r.at, r.value);
  return out;
}

std::vector<std::pair<uint64_t, std::string>> Replay(Store& store) {
  std::vector<std::pair<uint64_t, std::string>> out;
  REQUIRE(store
              .Replay(store.replay_from(),
                      [&](uint64_t seq, const LogEntry& entry) {
                        const std::string_view record = entry.payload;
                        out.emplace_back(seq, std::string(record));
                        return Status::Ok();
                      })
              .ok());
  return out;
}

TEST_CASE("Store backup opens as a store with every record, watermark and chunk",
          "[storage][backup]") {
  testing::TempDir dir;
  auto store = OpenStore(dir / "db");
  Append(*store, "g1", 1, 1);
  Append(*store, "g2", 7, 1);
  Append(*store, "g1", 1, 2);
  const std::vector<SealedChunk> chunks = {MakeChunk("s1", kT0, 10, 1),
                                           MakeChunk("s2", kT0 + 5, 3, 2)};
  REQUIRE(store->WriteChunks(chunks).ok());
  // Records 1..2 are in chunks now; record 3 stays in the log.
  REQUIRE(store->Checkpoint(3).ok());
  Append(*store, "g1", 2, 1);
  const RegistryEntryWrite entry{RegistryEntryKind::kSensor, "s1", "blob-s1"};
  REQUIRE(store->WriteRegistryEntries({&entry, 1}).ok());

  const auto original_log = Replay(*store);
  REQUIRE(original_log.size() == 2);
  REQUIRE(store->CreateBackup(dir / "backups" / "b1").ok());

  // Written after the backup: not in it.
  Append(*store, "g3", 1, 1);
  const std::vector<SealedChunk> later = {MakeChunk("s3", kT0, 2, 3)};
  REQUIRE(store->WriteChunks(later).ok());

  auto backup = OpenStore(dir / "backups" / "b1");
  CHECK(backup->end_position() == 5);
  CHECK(backup->replay_from() == 3);
  CHECK(Replay(*backup) == original_log);
  auto marks = backup->LoadWatermarks();
  REQUIRE(marks.has_value());
  CHECK(marks->size() == 2);
  CHECK(marks->at("g1") == Watermark{2, 1});
  CHECK(marks->at("g2") == Watermark{7, 1});
  CHECK(ReadAll(*backup, "s1") == ReadAll(*store, "s1"));
  CHECK(ReadAll(*backup, "s1").size() == 10);
  CHECK(ReadAll(*backup, "s2").size() == 3);
  CHECK(ReadAll(*backup, "s3").empty());
  std::vector<std::string> entries;
  REQUIRE(backup
              ->ForEachRegistryEntry(
                  [&](RegistryEntryKind, std::string_view id, std::string_view blob) {
                    entries.push_back(std::string(id) + "=" + std::string(blob));
                    return Status::Ok();
                  })
              .ok());
  CHECK(entries == std::vector<std::string>{"s1=blob-s1"});

  // The backup is a database of its own: writing to it leaves the original alone.
  Append(*backup, "g9", 1, 1);
  CHECK(store->end_position() == 6);
  CHECK(store->LoadWatermarks()->contains("g3"));
  CHECK_FALSE(store->LoadWatermarks()->contains("g9"));
}

TEST_CASE("Store backup into an existing folder fails and leaves it alone", "[storage][backup]") {
  testing::TempDir dir;
  auto store = OpenStore(dir / "db");
  Append(*store, "g1", 1, 1);
  std::filesystem::create_directories(dir / "taken");
  const Status s = store->CreateBackup(dir / "taken");
  CHECK(s.code() == Status::Code::kInvalidArgument);
  CHECK(std::filesystem::is_empty(dir / "taken"));
  // A second backup to the same folder fails too.
  REQUIRE(store->CreateBackup(dir / "b").ok());
  CHECK(store->CreateBackup(dir / "b").code() == Status::Code::kInvalidArgument);
  // An existing file counts as existing.
  {
    std::FILE* f = std::fopen((dir / "file").c_str(), "w");
    REQUIRE(f != nullptr);
    std::fclose(f);
  }
  CHECK(store->CreateBackup(dir / "file").code() == Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace vigil::storage
