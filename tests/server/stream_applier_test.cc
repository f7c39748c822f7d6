// StreamApplier: what a node applies from a shared ingest log depends on the
// log alone -- duplicates dropped by the applied watermark, one tick a second,
// and after a restart the entries between the saved state and the replay
// point only move the state. A fake shared log feeds real shards.
#include "server/pipeline/stream_applier.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "alarm/registry.h"
#include "alarm/rule_set.h"
#include "server/pipeline/action_handoff.h"
#include "server/pipeline/shard.h"
#include "storage/control_record.h"
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
const std::string kSensor = "s-1";

// One stored entry of the fake log, owning its payload.
struct FakeEntry {
  uint64_t position;
  storage::LogEntryKind kind;
  TimestampMs stored_at;
  std::string gateway_id;
  storage::Watermark watermark;
  std::string payload;
  bool published_here = false;
};

class FakeSharedLog final : public storage::SharedIngestLog {
 public:
  std::vector<FakeEntry> entries;
  std::optional<storage::AppliedState> opened;

  std::optional<storage::AppliedState> applied_state_at_open() const override { return opened; }
  bool connected() const override { return true; }
  uint64_t reconnects() const override { return 0; }
  alarm::Status CheckpointApplied(const storage::AppliedState&) override {
    return alarm::Status::Ok();
  }
  alarm::Result<uint64_t> LastStored() override {
    return entries.empty() ? uint64_t{0} : entries.back().position;
  }
  alarm::Status Follow(uint64_t from, std::chrono::milliseconds poll,
                       const std::function<alarm::Status(const storage::SharedLogEntry&)>& visit,
                       const std::function<bool(uint64_t, bool)>& keep_going) override {
    uint64_t last = 0;
    for (const FakeEntry& f : entries) {
      if (f.position < from) continue;
      storage::SharedLogEntry e;
      e.position = f.position;
      e.entry = {.kind = f.kind, .stored_at = f.stored_at, .payload = f.payload};
      e.gateway_id = f.gateway_id;
      e.watermark = f.watermark;
      e.published_here = f.published_here;
      if (alarm::Status s = visit(e); !s.ok()) return s;
      last = f.position;
      if (!keep_going(last, false)) return alarm::Status::Ok();
    }
    while (keep_going(last, true)) std::this_thread::sleep_for(poll);
    return alarm::Status::Ok();
  }

  // IngestLog: not used by the applier.
  void Append(std::span<const storage::LogAppend>, AppendDone done) override {
    done(alarm::Status::Unavailable("fake"));
  }
  uint64_t end_position() const override { return 0; }
  uint64_t replay_from() const override { return 0; }
  alarm::Status Replay(
      uint64_t, const std::function<alarm::Status(uint64_t, const storage::LogEntry&)>&) override {
    return alarm::Status::Ok();
  }
  alarm::Status Checkpoint(uint64_t) override { return alarm::Status::Ok(); }
  alarm::Result<std::unordered_map<std::string, storage::Watermark>> LoadWatermarks() override {
    return std::unordered_map<std::string, storage::Watermark>{};
  }
  alarm::Result<std::optional<storage::Watermark>> LoadWatermark(std::string_view) override {
    return std::optional<storage::Watermark>();
  }
  alarm::Status Resume() override { return alarm::Status::Ok(); }

  // A gateway batch of one reading of kSensor at kT0 + ts_s seconds.
  void AddBatch(uint64_t position, uint64_t epoch, uint64_t sequence, int ts_s, double value) {
    storage::IngestRecordV1Builder builder;
    builder.Reset("gw", epoch, sequence);
    auto slots = builder.AddSeries(kSensor, 1, false);
    slots.timestamps[0] = kT0 + ts_s * 1000;
    slots.values[0] = value;
    entries.push_back({.position = position,
                       .kind = storage::LogEntryKind::kBatch,
                       .stored_at = kT0 + ts_s * 1000,
                       .gateway_id = "gw",
                       .watermark = {.epoch = epoch, .sequence = sequence},
                       .payload = builder.Release()});
  }
  void AddTick(uint64_t position, TimestampMs stored_at, std::string text = "") {
    storage::ControlRecord tick;
    tick.kind = storage::ControlKind::kTick;
    tick.text = std::move(text);
    entries.push_back({.position = position,
                       .kind = storage::LogEntryKind::kControl,
                       .stored_at = stored_at,
                       .gateway_id = "",
                       .watermark = {},
                       .payload = storage::EncodeControlRecord(tick)});
  }
};

struct Rig {
  Rig() {
    alarm::RegistryEntries entries;
    entries.enterprises = {alarm::Enterprise{
        .id = "e", .name = "E", .kind = alarm::EnterpriseKind::kCoalMine, .region_code = "370105"}};
    entries.sensors.push_back(alarm::Sensor{.id = kSensor,
                                            .enterprise_id = "e",
                                            .quantity = "q",
                                            .unit = "",
                                            .range_low = 0,
                                            .range_high = 100,
                                            .expected_interval = 0ms});
    auto built = alarm::Registry::Build(std::move(entries));
    REQUIRE(built.has_value());
    auto rule_set = alarm::RuleSet::Build({}, *built);
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

  // The values of kSensor's open head, in time order.
  std::vector<double> HeadValues() {
    auto done = std::make_shared<std::promise<std::vector<alarm::Reading>>>();
    shards->ReadHead(kSensor, 0, kT0 * 2,
                     [done](std::vector<alarm::Reading> r) { done->set_value(std::move(r)); });
    auto future = done->get_future();
    REQUIRE(future.wait_for(kTimeout) == std::future_status::ready);
    std::vector<double> values;
    for (const alarm::Reading& r : future.get()) values.push_back(r.value);
    return values;
  }

  testing::TempDir dir;
  std::unique_ptr<RegistryHolder> registry;
  AlarmFeed feed;
  std::unique_ptr<storage::Store> store;
  std::unique_ptr<AlarmJournal> journal;
  std::unique_ptr<ShardSet> shards;
  ActionHandoff handoff;
};

TEST_CASE("StreamApplier drops a batch at or below its gateway's applied watermark",
          "[server][applier]") {
  Rig rig;
  FakeSharedLog log;
  log.AddBatch(10, 1, 1, 1, 1.0);
  log.AddBatch(20, 1, 2, 2, 2.0);
  log.AddBatch(30, 1, 1, 3, 3.0);  // seq 1 again, stored through another node
  log.AddBatch(40, 1, 2, 4, 4.0);  // seq 2 again
  log.AddBatch(50, 1, 3, 5, 5.0);
  log.AddBatch(60, 2, 1, 6, 6.0);  // a new epoch starts over
  log.AddBatch(70, 1, 9, 7, 7.0);  // an older epoch: not applied
  StreamApplier applier(&log, rig.shards.get(), &rig.handoff);
  uint64_t entries = 0;
  uint64_t readings = 0;
  REQUIRE(applier.CatchUp(&entries, &readings).ok());
  CHECK(entries == 4);
  CHECK(readings == 4);
  CHECK(applier.counters().duplicates == 3);
  CHECK(rig.HeadValues() == std::vector<double>{1.0, 2.0, 5.0, 6.0});
  const storage::AppliedState state = applier.StateNow();
  CHECK(state.marks_through == 71);
  CHECK(state.marks.at("gw") == storage::Watermark{.epoch = 2, .sequence = 1});
}

TEST_CASE("StreamApplier applies one tick a second and never moves its clock back",
          "[server][applier]") {
  Rig rig;
  FakeSharedLog log;
  log.AddTick(1, kT0 + 100);
  log.AddTick(2, kT0 + 600);  // the same second, from another node
  log.AddTick(3, kT0 + 1200);
  log.AddTick(4, kT0 + 900);  // a node whose clock is behind: clamped to the same second
  StreamApplier applier(&log, rig.shards.get(), &rig.handoff);
  uint64_t entries = 0;
  uint64_t readings = 0;
  REQUIRE(applier.CatchUp(&entries, &readings).ok());
  CHECK(entries == 2);
  CHECK(applier.counters().ticks_dropped == 2);
  CHECK(applier.StateNow().clock_ms == kT0 + 1200);
  CHECK(applier.StateNow().last_tick_second == (kT0 + 1200) / 1000);
}

TEST_CASE("StreamApplier reports a node whose ticks say another shard count", "[server][applier]") {
  Rig rig;
  FakeSharedLog log;
  log.AddTick(1, kT0 + 100, "shards=2");
  log.AddTick(2, kT0 + 1100, "shards=8");
  ApplierOptions options;
  options.shard_count = kShards;
  StreamApplier applier(&log, rig.shards.get(), &rig.handoff, options);
  uint64_t entries = 0;
  uint64_t readings = 0;
  REQUIRE(applier.CatchUp(&entries, &readings).ok());
  CHECK(applier.counters().other_shard_count == 8);
}

TEST_CASE("StreamApplier after a restart: entries below the replay point only move its state",
          "[server][applier]") {
  Rig rig;
  FakeSharedLog log;
  log.AddBatch(10, 1, 1, 1, 1.0);
  log.AddBatch(20, 1, 2, 2, 2.0);
  log.AddBatch(30, 1, 2, 3, 3.0);  // a duplicate of seq 2: dropped again
  log.AddBatch(40, 1, 3, 4, 4.0);
  // Saved with the state through position 9 and chunks through position 29.
  storage::AppliedState saved;
  saved.replay_from = 30;
  saved.marks_through = 10;
  log.opened = saved;
  StreamApplier applier(&log, rig.shards.get(), &rig.handoff);
  uint64_t entries = 0;
  uint64_t readings = 0;
  REQUIRE(applier.CatchUp(&entries, &readings).ok());
  CHECK(entries == 1);
  CHECK(rig.HeadValues() == std::vector<double>{4.0});
}

TEST_CASE("StreamApplier follows new entries until stopped, and snapshots on request",
          "[server][applier]") {
  Rig rig;
  FakeSharedLog log;
  log.AddBatch(10, 1, 1, 1, 1.0);
  ApplierOptions options;
  options.poll = 5ms;
  StreamApplier applier(&log, rig.shards.get(), &rig.handoff, options);
  applier.Start();
  applier.RequestSnapshot();
  std::optional<storage::AppliedState> snapshot;
  const auto deadline = std::chrono::steady_clock::now() + kTimeout;
  while (!(snapshot = applier.TakeSnapshot()) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  applier.Stop();
  REQUIRE(snapshot.has_value());
  CHECK(snapshot->marks_through == 11);
  CHECK(snapshot->marks.at("gw") == storage::Watermark{.epoch = 1, .sequence = 1});
  CHECK(rig.HeadValues() == std::vector<double>{1.0});
}

TEST_CASE("ActionHandoff hands a local action over whichever side comes first",
          "[server][applier]") {
  ActionHandoff handoff;
  struct Recorder final : CommandCompletion {
    void Done(const alarm::Status&, uint64_t) override {}
  } completion;

  handoff.Stored(7, {.completion = &completion, .rules = nullptr});
  CHECK(handoff.Take(7, 0ms).completion == &completion);
  CHECK(handoff.waiting() == 0);

  std::thread late([&] {
    std::this_thread::sleep_for(50ms);
    handoff.Stored(8, {.completion = &completion, .rules = nullptr});
  });
  CHECK(handoff.Take(8, 10s).completion == &completion);
  late.join();

  CHECK(handoff.Take(9, 20ms).completion == nullptr);  // never stored: the bound ends the wait
}

}  // namespace
}  // namespace vigil::server
