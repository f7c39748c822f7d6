// Stored gateway batches on the shards: each shard takes the series it owns
// from the compact record (its own section, or every section when the record
// was split for another shard count), resolving sensor numbers, and still
// from records of the old VGR1 format.
#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "alarm/engine.h"
#include "alarm/registry.h"
#include "server/pipeline/shard.h"
#include "storage/ingest_record.h"
#include "storage/ingest_record_v1.h"
#include "storage/sensor_numbers.h"
#include "storage/store.h"
#include "tests/testing/temp_dir.h"

namespace vigil::server {
namespace {

using alarm::TimestampMs;

constexpr TimestampMs kMin = std::numeric_limits<TimestampMs>::min();
constexpr TimestampMs kMax = std::numeric_limits<TimestampMs>::max();
constexpr TimestampMs kT0 = 1'700'000'000'000;
constexpr auto kTimeout = std::chrono::seconds(20);

struct Rig {
  explicit Rig(uint32_t shard_count) {
    storage::StoreOptions options;
    options.dir = dir.path();
    auto opened = storage::Store::Open(options);
    REQUIRE(opened.has_value());
    store = std::move(*opened);
    auto state = store->LoadJournalState();
    REQUIRE(state.has_value());
    auto started = AlarmJournal::Start(store.get(), &registry, &feed, shard_count, *state);
    REQUIRE(started.has_value());
    journal = std::move(*started);
    shards = std::make_unique<ShardSet>(shard_count, store.get(), journal.get(),
                                        storage::HeadSetOptions{}, &numbers);
  }
  ~Rig() {
    shards->Stop();
    journal->Stop();
  }

  // The values in the head of `sensor`, read on its shard.
  std::vector<double> Head(const std::string& sensor) {
    auto done = std::make_shared<std::promise<std::vector<alarm::Reading>>>();
    shards->ReadHead(sensor, kMin, kMax,
                     [done](std::vector<alarm::Reading> r) { done->set_value(std::move(r)); });
    auto future = done->get_future();
    REQUIRE(future.wait_for(kTimeout) == std::future_status::ready);
    std::vector<double> values;
    for (const alarm::Reading& r : future.get()) values.push_back(r.value);
    return values;
  }

  testing::TempDir dir;
  storage::SensorNumbers numbers;
  std::unique_ptr<storage::Store> store;
  RegistryHolder registry{*alarm::Registry::Build({})};
  AlarmFeed feed;
  std::unique_ptr<AlarmJournal> journal;
  std::unique_ptr<ShardSet> shards;
};

std::vector<std::string> Sensors() {
  std::vector<std::string> ids;
  for (int i = 0; i < 24; ++i) ids.push_back("sensor-" + std::to_string(i));
  return ids;
}

// Sensor i (numbered i + 1 when `numbers`, else named inline) gets readings
// i and i + 0.5, split for `split` shards.
std::string Record(const std::vector<std::string>& ids, uint32_t split, bool numbered) {
  storage::IngestRecordBuilder builder;
  builder.Reset("gw", 1, 1, split);
  for (size_t i = 0; i < ids.size(); ++i) {
    builder.BeginSeries(alarm::ShardOf(ids[i], split), numbered ? static_cast<uint32_t>(i + 1) : 0,
                        ids[i], 2, false);
    builder.AddReading(kT0, static_cast<double>(i), 0);
    builder.AddReading(kT0 + 1000, static_cast<double>(i) + 0.5, 0);
  }
  return builder.Release();
}

void CheckHeads(Rig& rig, const std::vector<std::string>& ids) {
  for (size_t i = 0; i < ids.size(); ++i) {
    INFO(ids[i]);
    CHECK(rig.Head(ids[i]) ==
          std::vector<double>{static_cast<double>(i), static_cast<double>(i) + 0.5});
  }
}

TEST_CASE("Shards take their series of a record, sensors by number", "[shard][record]") {
  Rig rig(3);
  const std::vector<std::string> ids = Sensors();
  for (size_t i = 0; i < ids.size(); ++i) {
    REQUIRE(rig.numbers.Add(static_cast<uint32_t>(i + 1), ids[i]).ok());
  }
  rig.shards->PostBatch(1, kT0, Record(ids, 3, /*numbered=*/true));
  CheckHeads(rig, ids);
}

TEST_CASE("A record split for another shard count is taken whole by its owners",
          "[shard][record]") {
  // The shard count changed between restarts: replay of a record split for
  // 5 shards on 2 (and on 7) still puts every series in its owner's heads.
  const std::vector<std::string> ids = Sensors();
  for (uint32_t running : {2u, 7u}) {
    Rig rig(running);
    rig.shards->PostBatch(1, kT0, Record(ids, 5, /*numbered=*/false));
    CheckHeads(rig, ids);
  }
}

TEST_CASE("A VGR1 record (a data folder of an older server) is still taken", "[shard][record]") {
  Rig rig(2);
  const std::vector<std::string> ids = Sensors();
  storage::IngestRecordV1Builder builder;
  builder.Reset("gw", 1, 1);
  for (size_t i = 0; i < ids.size(); ++i) {
    auto slots = builder.AddSeries(ids[i], 2, false);
    slots.timestamps[0] = kT0;
    slots.timestamps[1] = kT0 + 1000;
    slots.values[0] = static_cast<double>(i);
    slots.values[1] = static_cast<double>(i) + 0.5;
  }
  rig.shards->PostBatch(1, kT0, builder.Release());
  CheckHeads(rig, ids);
}

}  // namespace
}  // namespace vigil::server
