// A small simulated province (bench/sim) streamed in compressed time through
// the real vigild, with the registry and rules vigil-sim generates: every
// batch acked, every reading read back, and the alarm transitions vigild
// reports on its alarm stream (vigil.v1.Alarms/Subscribe, subscribed before
// the first batch) compared with the scenario's ground truth.
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include "bench/sim/alarm_stream.h"
#include "bench/sim/checker.h"
#include "bench/sim/gateway_client.h"
#include "bench/sim/ground_truth.h"
#include "bench/sim/province.h"
#include "bench/sim/scenario.h"
#include "tests/e2e/vigild_process.h"
#include "tests/testing/temp_dir.h"

namespace vigil::e2e {
namespace {

using namespace std::chrono_literals;

struct SimRun {
  sim::StreamResult stream;
  sim::CheckReport check;
  sim::AlarmStreamStats alarm_stream;
  bool caught_up = false;
};

// Starts vigild with the province's registry and rules, subscribes to its
// alarms, streams `options` (ending now) and checks what the stream reported.
SimRun RunThroughVigild(const sim::Province& province, sim::ScenarioOptions options,
                        uint32_t min_events) {
  testing::TempDir dir;
  std::ofstream(dir / "rules.yaml") << sim::RulesYaml(province);
  VigildProcess vigild({.config_yaml = "rules_file: " + (dir / "rules.yaml").string() +
                                       "\nalarms:\n  heartbeat_interval: 200ms\n",
                        .registry_yaml = sim::RegistryYaml(province)});
  vigild.Start();
  sim::AlarmStream alarms({.target = vigild.address()});
  std::string error;
  REQUIRE(alarms.Start(10s, &error));

  const int64_t wall_start = (NowMs() / 1000 + 1) * 1000;
  options.start_ms =
      wall_start - options.duration.count() +
      static_cast<int64_t>(static_cast<double>(options.duration.count()) / options.speed);
  const sim::Scenario scenario(province, options);
  REQUIRE(scenario.events().size() >= min_events);
  const sim::GroundTruth truth = sim::ComputeGroundTruth(scenario, wall_start);

  sim::StreamOptions stream;
  stream.target = vigild.address();
  stream.wall_start = wall_start;
  stream.drain_timeout = 20s;
  stream.progress_every = 0ms;
  SimRun run;
  run.stream = sim::StreamScenario(scenario, stream);
  INFO(sim::FormatStreamResult(run.stream));
  CHECK(run.stream.complete());
  CHECK(run.stream.batches == scenario.slice_count() * province.enterprises.size());
  CHECK(run.stream.batches_acked == run.stream.batches);
  CHECK(run.stream.readings_rejected == 0);
  CHECK(run.stream.readings_stored + run.stream.readings_duplicate == run.stream.readings);
  CHECK(run.stream.stream_errors == 0);

  // Read back through the harness's own client: every reading, exactly.
  uint64_t read = 0;
  std::vector<sim::Sample> expected;
  for (uint32_t s = 0; s < province.sensors.size(); ++s) {
    expected.clear();
    scenario.Readings(s, scenario.start(), scenario.end(), &expected);
    const std::vector<Reading> got =
        ReadAll(vigild.query(), province.sensors[s].id, scenario.start(), scenario.end());
    INFO(province.sensors[s].id);
    REQUIRE(got.size() == expected.size());
    for (size_t i = 0; i < got.size(); ++i) {
      REQUIRE(got[i].ts == expected[i].t);
      REQUIRE(got[i].value == expected[i].value);
    }
    read += got.size();
  }
  CHECK(read == run.stream.readings);

  // Alarms: vigild journals each transition after the shard evaluated the
  // batch, which may be just after its ack; the stream has them all once it
  // shows a server time past the run's end and the tolerance. The silence
  // after the run falls outside the scenario's time and is not compared.
  run.caught_up = alarms.WaitForServerTime(truth.clock.ToWall(truth.clock.sim_end) + 3000, 20s);
  alarms.Stop();
  run.alarm_stream = alarms.stats();
  run.check = sim::CheckAlarms(truth, alarms.Transitions(), sim::CheckOptions{.tolerance = 2s});
  return run;
}

std::string Describe(const SimRun& run) {
  std::string text =
      sim::FormatAlarmStreamStats(run.alarm_stream) + sim::FormatCheckReport(run.check);
  for (const std::string& f : run.check.findings) text += f + "\n";
  return text;
}

TEST_CASE("A simulated province in compressed time is acked, stored and alarmed as expected",
          "[e2e][sim]") {
  const sim::Province province = sim::BuildProvince({.seed = 7, .enterprises = 3});
  // 90 simulated minutes in about 4.5 s, ending now. Events whose server-clock
  // timeouts do not fit at this speed (freeze, outage) are left out by the planner.
  sim::ScenarioOptions options;
  options.duration = 90min;
  options.speed = 1200;
  options.events_per_enterprise = 2;
  options.event_kinds = {sim::EventKind::kGasRise, sim::EventKind::kChatter,
                         sim::EventKind::kBrokenInstrument, sim::EventKind::kTankTemperatureRise};
  const SimRun run = RunThroughVigild(province, options, 4);
  INFO(Describe(run));
  CHECK(run.caught_up);
  CHECK(run.alarm_stream.reconnects == 0);
  CHECK(run.check.expected >= 4);
  CHECK(run.check.missed == 0);
  CHECK(run.check.chattering == 0);
  // A stall of the shared test machine longer than a gas sensor's 3 s no-data
  // timeout while its gateway keeps sending would show up as extra no_data
  // alarms: not counted against vigild here.
  const auto no_data_extra = run.check.extra_by_kind.find(sim::AlarmKind::kNoData);
  CHECK(run.check.extra ==
        (no_data_extra == run.check.extra_by_kind.end() ? 0 : no_data_extra->second));
}

TEST_CASE("A gateway outage raises one gateway_offline alarm, not one no_data per sensor",
          "[e2e][sim]") {
  // One chemical plant whose gateway goes offline for about 6 s (2 x the gas
  // sensors' 3 s no-data timeout), with a 3 s gateway rule: the gateway
  // alarm, no no-data (every sensor reports in every batch), the acks lost
  // before the outage resent and deduplicated.
  const sim::Province province = sim::BuildProvince(
      {.seed = 7, .enterprises = 1, .gateway_offline_after = std::chrono::seconds(3)});
  sim::ScenarioOptions options;
  options.duration = 90min;
  options.speed = 600;
  options.event_kinds = {sim::EventKind::kGatewayOutage};
  const SimRun run = RunThroughVigild(province, options, 1);
  INFO(Describe(run));
  CHECK(run.stream.outages == 1);
  CHECK(run.stream.batches_resent > 0);
  CHECK(run.caught_up);
  CHECK(run.check.expected == 1);
  CHECK(run.check.expected_by_kind.count(sim::AlarmKind::kGatewayOffline) == 1);
  CHECK(run.check.missed == 0);
  CHECK(run.check.extra == 0);
  CHECK(run.check.chattering == 0);
  CHECK(run.check.clear_missed == 0);
}

}  // namespace
}  // namespace vigil::e2e
