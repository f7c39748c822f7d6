// The shard side of history reads: a head read with a store snapshot that
// together hold every reading once, latest values with the store's latest
// folded in, and the alarm state of the sensors asked for.
#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "alarm/engine.h"
#include "alarm/registry.h"
#include "alarm/rule_set.h"
#include "server/pipeline/shard.h"
#include "storage/history.h"
#include "storage/ingest_record_v1.h"
#include "storage/store.h"
#include "tests/testing/temp_dir.h"

namespace vigil::server {
namespace {

using alarm::Reading;
using alarm::TimestampMs;

constexpr TimestampMs kMin = std::numeric_limits<TimestampMs>::min();
constexpr TimestampMs kMax = std::numeric_limits<TimestampMs>::max();
constexpr TimestampMs kT0 = 1'700'000'000'000;
constexpr auto kTimeout = std::chrono::seconds(20);

std::string Record(uint64_t sequence, const std::string& sensor,
                   const std::vector<TimestampMs>& times) {
  storage::IngestRecordV1Builder builder;
  builder.Reset("gw", 1, sequence);
  auto slots = builder.AddSeries(sensor, static_cast<uint32_t>(times.size()), false);
  for (size_t i = 0; i < times.size(); ++i) {
    slots.timestamps[i] = times[i];
    slots.values[i] = static_cast<double>(i + 1);
  }
  return builder.Release();
}

struct Rig {
  explicit Rig(storage::HeadSetOptions heads = {}) {
    storage::StoreOptions options;
    options.dir = dir.path();
    auto opened = storage::Store::Open(options);
    REQUIRE(opened.has_value());
    store = std::move(*opened);
    auto state = store->LoadJournalState();
    REQUIRE(state.has_value());
    auto started = AlarmJournal::Start(store.get(), &registry, &feed, 2, *state);
    REQUIRE(started.has_value());
    journal = std::move(*started);
    shards = std::make_unique<ShardSet>(2, store.get(), journal.get(), heads);
  }
  ~Rig() {
    shards->Stop();
    journal->Stop();
  }

  HeadRead ReadHead(const std::string& sensor) {
    auto done = std::make_shared<std::promise<HeadRead>>();
    ReadHeadWithSnapshot(*shards, sensor, kMin, kMax,
                         [done](HeadRead read) { done->set_value(std::move(read)); });
    auto future = done->get_future();
    REQUIRE(future.wait_for(kTimeout) == std::future_status::ready);
    return future.get();
  }

  std::vector<SensorLatest> Latest(const std::vector<std::string_view>& ids) {
    auto done = std::make_shared<std::promise<std::vector<SensorLatest>>>();
    ReadLatest(*shards, ShardFor(ids.front(), shards->count()), ids,
               [done](std::vector<SensorLatest> latest) { done->set_value(std::move(latest)); });
    auto future = done->get_future();
    REQUIRE(future.wait_for(kTimeout) == std::future_status::ready);
    return future.get();
  }

  void SealEverything(uint64_t round) {
    shards->StartCheckpoint(round, std::numeric_limits<uint64_t>::max());
    const auto deadline = std::chrono::steady_clock::now() + kTimeout;
    while (!shards->CheckpointResult(round)) {
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  testing::TempDir dir;
  std::unique_ptr<storage::Store> store;
  RegistryHolder registry{*alarm::Registry::Build({})};
  AlarmFeed feed;
  std::unique_ptr<AlarmJournal> journal;
  std::unique_ptr<ShardSet> shards;
};

std::vector<TimestampMs> Times(const std::vector<Reading>& readings) {
  std::vector<TimestampMs> out;
  out.reserve(readings.size());
  for (const Reading& r : readings) out.push_back(r.at);
  return out;
}

TEST_CASE("A head read and the chunks at its snapshot hold every reading once",
          "[server][shard][history]") {
  Rig rig;
  rig.shards->PostBatch(1, kT0, Record(1, "s1", {kT0, kT0 + 1000, kT0 + 2000}));
  const HeadRead before = rig.ReadHead("s1");
  REQUIRE(before.status.ok());
  CHECK(Times(before.readings) == std::vector<TimestampMs>{kT0, kT0 + 1000, kT0 + 2000});

  rig.SealEverything(1);  // the head becomes a chunk after the read
  std::vector<Reading> at_snapshot;
  REQUIRE(rig.store
              ->ReadChunksAt(before.snapshot.get(), "s1", kMin, kMax, storage::Store::kAllReadings,
                             &at_snapshot)
              .ok());
  CHECK(at_snapshot.empty());  // so head + snapshot count each reading once
  std::vector<Reading> now;
  REQUIRE(rig.store->ReadChunks("s1", kMin, kMax, &now).ok());
  CHECK(now.size() == 3);

  const HeadRead after = rig.ReadHead("s1");
  REQUIRE(after.status.ok());
  CHECK(after.readings.empty());
  std::vector<Reading> chunked;
  REQUIRE(rig.store
              ->ReadChunksAt(after.snapshot.get(), "s1", kMin, kMax, storage::Store::kAllReadings,
                             &chunked)
              .ok());
  CHECK(Times(chunked) == std::vector<TimestampMs>{kT0, kT0 + 1000, kT0 + 2000});
}

std::vector<TimestampMs> Seconds(int count) {
  std::vector<TimestampMs> times(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) times[static_cast<size_t>(i)] = kT0 + TimestampMs{1000} * i;
  return times;
}

// Shards write the chunks that ingest seals in groups, not one write per
// batch; a read must still see every chunk sealed before it.
TEST_CASE("A history read sees chunks sealed by ingest just before it",
          "[server][shard][history]") {
  Rig rig(storage::HeadSetOptions{.max_readings_per_chunk = 16});
  rig.shards->PostBatch(1, kT0, Record(1, "s1", Seconds(40)));  // seals two chunks or more
  const HeadRead read = rig.ReadHead("s1");
  REQUIRE(read.status.ok());
  CHECK(read.readings.size() < 16);
  std::vector<Reading> chunked;
  REQUIRE(rig.store
              ->ReadChunksAt(read.snapshot.get(), "s1", kMin, kMax, storage::Store::kAllReadings,
                             &chunked)
              .ok());
  CHECK(chunked.size() + read.readings.size() == 40);
}

TEST_CASE("Chunks sealed by ingest reach the store while ingest goes on, without any read",
          "[server][shard][history]") {
  Rig rig(storage::HeadSetOptions{.max_readings_per_chunk = 16});
  rig.shards->PostBatch(1, kT0, Record(1, "s1", Seconds(40)));
  // Other sensors' batches keep both shards running; none reads s1.
  const auto start = std::chrono::steady_clock::now();
  std::vector<Reading> stored;
  uint64_t seq = 1;
  while (stored.empty()) {
    REQUIRE(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    for (const char* other : {"s2", "s3", "s4", "s5"}) {
      ++seq;
      rig.shards->PostBatch(seq, kT0, Record(seq, other, {kT0 + static_cast<TimestampMs>(seq)}));
    }
    REQUIRE(rig.store->ReadChunks("s1", kMin, kMax, &stored).ok());
  }
  CHECK(stored.size() >= 8);
}

TEST_CASE("Shard latest values: in memory, seeded once with the store's latest",
          "[server][shard][latest]") {
  Rig rig;
  rig.shards->PostBatch(1, kT0, Record(1, "s1", {kT0, kT0 + 1000}));
  rig.shards->PostBatch(2, kT0, Record(2, "s1", {kT0 + 500}));  // late
  auto latest = rig.Latest({"s1"});
  REQUIRE(latest.size() == 1);
  REQUIRE(latest[0].reading.has_value());
  CHECK(latest[0].reading->at == kT0 + 1000);
  CHECK(latest[0].reading->value == 2);
  CHECK_FALSE(latest[0].seeded);

  const uint32_t shard = ShardFor("s1", rig.shards->count());
  SeedLatest(*rig.shards, shard, {{"s1", Reading{.at = kT0 + 5000, .value = 9, .quality = 3}}});
  latest = rig.Latest({"s1"});
  CHECK(latest[0].seeded);
  CHECK(latest[0].reading->at == kT0 + 5000);
  CHECK(latest[0].reading->quality == 3);
}

TEST_CASE("OpenAlarmsOf gives each sensor asked for its own open alarms, most severe first",
          "[server][shard][latest]") {
  using namespace std::chrono_literals;
  alarm::RegistryEntries entries;
  entries.enterprises = {alarm::Enterprise{
      .id = "e", .name = "E", .kind = alarm::EnterpriseKind::kCoalMine, .region_code = "370105"}};
  for (const char* id : {"a", "b", "c"}) {
    entries.sensors.push_back(alarm::Sensor{.id = id,
                                            .enterprise_id = "e",
                                            .quantity = "q",
                                            .unit = "",
                                            .range_low = 0,
                                            .range_high = 10,
                                            .expected_interval = 0ms});
  }
  auto registry = alarm::Registry::Build(std::move(entries));
  REQUIRE(registry.has_value());
  std::vector<alarm::Rule> rules;
  for (const char* id : {"a", "b", "c"}) {
    rules.push_back(
        alarm::Rule{.id = std::string("r-") + id,
                    .selector = alarm::Selector{.sensor_id = id},
                    .h = alarm::ThresholdLevel{.value = 5, .severity = alarm::Severity::kOrange}});
  }
  auto rule_set = alarm::RuleSet::Build(std::move(rules), *registry);
  REQUIRE(rule_set.has_value());
  alarm::Engine engine;
  std::vector<alarm::AlarmEvent> events;
  engine.SetRuleSet(*rule_set, 0, &events);
  auto feed = [&](std::string_view sensor, double value, alarm::Quality quality) {
    const TimestampMs at[] = {kT0};
    const double values[] = {value};
    const alarm::Quality qualities[] = {quality};
    engine.Evaluate(sensor, at, values, qualities, kT0, &events);
  };
  feed("a", 7, 0);   // threshold H, orange
  feed("c", 20, 0);  // out of range: sensor fault (yellow); readings then skip thresholds
  feed("b", 1, 0);   // normal

  const std::vector<std::string_view> ids = {"c", "b", "a"};
  std::vector<SensorLatest> out(ids.size());
  OpenAlarmsOf(engine, ids, &out);
  REQUIRE(out[2].alarms.size() == 1);
  CHECK(out[2].alarms[0].source_id == "a");
  CHECK(out[2].alarms[0].alarm == alarm::AlarmKind::kThreshold);
  CHECK(out[1].alarms.empty());
  REQUIRE_FALSE(out[0].alarms.empty());
  for (const alarm::ActiveAlarm& a : out[0].alarms) CHECK(a.source_id == "c");
  for (size_t i = 1; i < out[0].alarms.size(); ++i) {
    CHECK(out[0].alarms[i - 1].severity <= out[0].alarms[i].severity);
  }
}

}  // namespace
}  // namespace vigil::server
