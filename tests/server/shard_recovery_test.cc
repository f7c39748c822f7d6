// Shard recovery bookkeeping: with the shard count unchanged, each shard's
// alarm engine continues from its own snapshot, so a replay after a restart
// numbers alarms as the run it repeats did.
#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "alarm/engine.h"
#include "alarm/registry.h"
#include "alarm/rule_set.h"
#include "server/pipeline/shard.h"
#include "storage/alarm_codec.h"
#include "storage/ingest_record_v1.h"
#include "storage/store.h"
#include "tests/testing/temp_dir.h"

namespace vigil::server {
namespace {

using alarm::TimestampMs;
using namespace std::chrono_literals;

constexpr TimestampMs kT0 = 1'700'000'000'000;
constexpr auto kTimeout = std::chrono::seconds(20);
constexpr uint32_t kShards = 2;

// One reading of `sensor`, as a stored gateway batch.
std::string Record(uint64_t sequence, const std::string& sensor, double value) {
  storage::IngestRecordV1Builder builder;
  builder.Reset("gw", 1, sequence);
  auto slots = builder.AddSeries(sensor, 1, false);
  slots.timestamps[0] = kT0 + static_cast<TimestampMs>(sequence) * 1000;
  slots.values[0] = value;
  return builder.Release();
}

struct Rig {
  explicit Rig(const std::vector<std::string>& sensors) {
    alarm::RegistryEntries entries;
    entries.enterprises = {alarm::Enterprise{
        .id = "e", .name = "E", .kind = alarm::EnterpriseKind::kCoalMine, .region_code = "370105"}};
    std::vector<alarm::Rule> rules;
    for (const std::string& id : sensors) {
      entries.sensors.push_back(alarm::Sensor{.id = id,
                                              .enterprise_id = "e",
                                              .quantity = "q",
                                              .unit = "",
                                              .range_low = 0,
                                              .range_high = 10,
                                              .expected_interval = 0ms});
      rules.push_back(alarm::Rule{
          .id = "r-" + id,
          .selector = alarm::Selector{.sensor_id = id},
          .h = alarm::ThresholdLevel{.value = 5, .severity = alarm::Severity::kOrange}});
    }
    auto built = alarm::Registry::Build(std::move(entries));
    REQUIRE(built.has_value());
    auto rule_set = alarm::RuleSet::Build(std::move(rules), *built);
    REQUIRE(rule_set.has_value());
    registry = std::make_unique<RegistryHolder>(std::move(*built));

    storage::StoreOptions options;
    options.dir = dir.path();
    auto opened = storage::Store::Open(options);
    REQUIRE(opened.has_value());
    store = std::move(*opened);
    auto state = store->LoadJournalState();
    REQUIRE(state.has_value());
    auto started = AlarmJournal::Start(store.get(), registry.get(), &feed, kShards, *state);
    REQUIRE(started.has_value());
    journal = std::move(*started);
    shards =
        std::make_unique<ShardSet>(kShards, store.get(), journal.get(), storage::HeadSetOptions{});
    shards->SetRules(*rule_set, kT0);
  }
  ~Rig() {
    shards->Stop();
    journal->Stop();
  }

  std::vector<alarm::ActiveAlarm> OpenAlarms(const std::string& sensor) {
    auto done = std::make_shared<std::promise<std::vector<SensorLatest>>>();
    ReadLatest(*shards, ShardFor(sensor, kShards), {sensor},
               [done](std::vector<SensorLatest> latest) { done->set_value(std::move(latest)); });
    auto future = done->get_future();
    REQUIRE(future.wait_for(kTimeout) == std::future_status::ready);
    return future.get().at(0).alarms;
  }

  testing::TempDir dir;
  std::unique_ptr<RegistryHolder> registry;
  AlarmFeed feed;
  std::unique_ptr<storage::Store> store;
  std::unique_ptr<AlarmJournal> journal;
  std::unique_ptr<ShardSet> shards;
};

// A sensor id owned by each shard.
std::vector<std::string> OnePerShard() {
  std::vector<std::string> ids(kShards);
  for (int i = 0; std::count(ids.begin(), ids.end(), "") > 0; ++i) {
    const std::string id = "s-" + std::to_string(i);
    std::string& slot = ids[ShardFor(id, kShards)];
    if (slot.empty()) slot = id;
  }
  return ids;
}

storage::ShardSnapshot SnapshotWithCounter(uint32_t shard, uint32_t count, uint64_t next) {
  storage::ShardSnapshot snap{.shard = shard, .shard_count = count, .through_log_seq = 0};
  snap.engine.next_occurrence = next;
  return snap;
}

TEST_CASE("Recovery with the same shard count: a shard numbers alarms from its own snapshot",
          "[server][shard][recovery]") {
  const std::vector<std::string> ids = OnePerShard();
  Rig rig(ids);
  auto recovery = std::make_shared<AlarmRecovery>();
  recovery->shard_count = kShards;
  recovery->marks = {0, 0};
  // Shard 0 had raised many alarms, shard 1 two: shard 1's next is its third.
  recovery->snapshots = {SnapshotWithCounter(0, kShards, 40), SnapshotWithCounter(1, kShards, 3)};
  rig.shards->Recover(recovery);
  rig.shards->PostBatch(1, kT0 + 1000, Record(1, ids[0], 7));
  rig.shards->PostBatch(2, kT0 + 2000, Record(2, ids[1], 7));

  const std::vector<alarm::ActiveAlarm> first = rig.OpenAlarms(ids[0]);
  REQUIRE(first.size() == 1);
  CHECK(first[0].occurrence == 40);
  const std::vector<alarm::ActiveAlarm> second = rig.OpenAlarms(ids[1]);
  REQUIRE(second.size() == 1);
  CHECK(second[0].occurrence == 3);  // not 40, as it was numbered before the restart
}

TEST_CASE("Recovery with another shard count: new occurrences follow every restored one",
          "[server][shard][recovery]") {
  const std::vector<std::string> ids = OnePerShard();
  Rig rig(ids);
  auto recovery = std::make_shared<AlarmRecovery>();
  recovery->shard_count = 3;
  recovery->marks = {0, 0, 0};
  recovery->snapshots = {SnapshotWithCounter(0, 3, 40), SnapshotWithCounter(1, 3, 3),
                         SnapshotWithCounter(2, 3, 9)};
  rig.shards->Recover(recovery);
  rig.shards->PostBatch(1, kT0 + 1000, Record(1, ids[1], 7));
  const std::vector<alarm::ActiveAlarm> open = rig.OpenAlarms(ids[1]);
  REQUIRE(open.size() == 1);
  CHECK(open[0].occurrence == 40);
}

// Hears how an operator action ended.
class PromiseCompletion final : public CommandCompletion {
 public:
  void Done(const alarm::Status& status, uint64_t journal_seq) override {
    done_.set_value({status, journal_seq});
  }
  std::pair<alarm::Status, uint64_t> Wait() {
    auto future = done_.get_future();
    REQUIRE(future.wait_for(kTimeout) == std::future_status::ready);
    return future.get();
  }

 private:
  std::promise<std::pair<alarm::Status, uint64_t>> done_;
};

std::vector<alarm::PlannedWork> PlannedWorkOf(ShardSet& shards) {
  auto done = std::make_shared<std::promise<std::vector<alarm::PlannedWork>>>();
  ReadPlannedWork(
      shards, [done](std::vector<alarm::PlannedWork> work) { done->set_value(std::move(work)); });
  auto future = done->get_future();
  REQUIRE(future.wait_for(kTimeout) == std::future_status::ready);
  return future.get();
}

TEST_CASE("Planned work reaches every shard and survives a restart from the stored snapshots",
          "[server][shard][recovery][planned]") {
  const std::vector<std::string> ids = OnePerShard();
  Rig rig(ids);
  storage::ControlRecord open{.kind = storage::ControlKind::kPlannedWorkOpen,
                              .alarm = {},
                              .shelve_for_ms = 3'600'000,
                              .actor = "center",
                              .text = "",
                              .planned = {.id = "pw-1",
                                          .enterprise_id = "e",
                                          .sensor_ids = {},
                                          .start = 0,
                                          .end = 0,
                                          .reason = "tank cleaning",
                                          .owner = "Wang",
                                          .opened_by = "center"}};
  PromiseCompletion opened;
  rig.shards->PostControl(1, kT0 + 500, open, &opened);
  const auto [status, seq] = opened.Wait();
  REQUIRE(status.ok());
  CHECK(seq == 1);  // the window's own entry, journaled by the shard owning it, once
  rig.shards->PostBatch(2, kT0 + 2000, Record(2, ids[0], 7));
  rig.shards->PostBatch(3, kT0 + 3000, Record(3, ids[1], 7));
  for (const std::string& id : ids) {  // a sensor of each shard
    const std::vector<alarm::ActiveAlarm> alarms = rig.OpenAlarms(id);
    REQUIRE(alarms.size() == 1);
    CHECK(alarms[0].state == alarm::AlarmState::kPlanned);
    CHECK(alarms[0].planned_work == "pw-1");
  }

  // Checkpoint: each shard's engine snapshot goes to the store.
  rig.shards->StartCheckpoint(1, UINT64_MAX);
  for (auto deadline = std::chrono::steady_clock::now() + kTimeout;
       !rig.shards->CheckpointResult(1) && std::chrono::steady_clock::now() < deadline;) {
    std::this_thread::sleep_for(5ms);
  }
  REQUIRE(rig.shards->CheckpointResult(1).has_value());
  auto state = rig.store->LoadJournalState();
  REQUIRE(state.has_value());
  auto recovery = std::make_shared<AlarmRecovery>();
  recovery->shard_count = state->shard_count;
  recovery->marks = state->marks;
  for (const std::string& bytes : state->snapshots) {
    auto snapshot = storage::DecodeShardSnapshot(bytes);
    REQUIRE(snapshot.has_value());
    recovery->snapshots.push_back(std::move(*snapshot));
  }
  REQUIRE(recovery->snapshots.size() == kShards);

  // A new set of shards restored from them holds the window and its alarms.
  Rig restarted(ids);
  restarted.shards->Recover(recovery);
  const std::vector<alarm::PlannedWork> work = PlannedWorkOf(*restarted.shards);
  REQUIRE(work.size() == 1);
  CHECK(work[0].id == "pw-1");
  CHECK(work[0].start == kT0 + 500);
  CHECK(work[0].end == kT0 + 500 + 3'600'000);
  for (const std::string& id : ids) {
    const std::vector<alarm::ActiveAlarm> alarms = restarted.OpenAlarms(id);
    REQUIRE(alarms.size() == 1);
    CHECK(alarms[0].state == alarm::AlarmState::kPlanned);
  }
  // Closed on the restarted shards: the alarms still present are normal ones.
  storage::ControlRecord close{.kind = storage::ControlKind::kPlannedWorkClose,
                               .alarm = {},
                               .shelve_for_ms = 0,
                               .actor = "center",
                               .text = "done",
                               .planned = {.id = "pw-1"}};
  PromiseCompletion closed;
  restarted.shards->PostControl(10, kT0 + 10'000, close, &closed);
  REQUIRE(closed.Wait().first.ok());
  CHECK(PlannedWorkOf(*restarted.shards).empty());
  for (const std::string& id : ids) {
    const std::vector<alarm::ActiveAlarm> alarms = restarted.OpenAlarms(id);
    REQUIRE(alarms.size() == 1);
    CHECK(alarms[0].state == alarm::AlarmState::kActiveUnacked);
  }
}

}  // namespace
}  // namespace vigil::server
