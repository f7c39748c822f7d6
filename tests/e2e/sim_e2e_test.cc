// A small simulated province (bench/sim) streamed in compressed time through
// the real vigild, with the registry and rules vigil-sim generates: every
// batch acked, every reading read back, and the alarms vigild logs compared
// with the scenario's ground truth.
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

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

TEST_CASE("A simulated province in compressed time is acked, stored and alarmed as expected",
          "[e2e][sim]") {
  const sim::Province province = sim::BuildProvince({.seed = 7, .enterprises = 3});
  testing::TempDir dir;
  std::ofstream(dir / "rules.yaml") << sim::RulesYaml(province);
  VigildProcess vigild({.config_yaml = "rules_file: " + (dir / "rules.yaml").string() + "\n",
                        .registry_yaml = sim::RegistryYaml(province)});
  vigild.Start();

  // 90 simulated minutes in about 4.5 s, ending now. Events whose server-clock
  // timeouts do not fit at this speed (freeze, outage) are left out by the planner.
  sim::ScenarioOptions options;
  options.duration = 90min;
  options.speed = 1200;
  options.events_per_enterprise = 2;
  options.event_kinds = {sim::EventKind::kGasRise, sim::EventKind::kChatter,
                         sim::EventKind::kBrokenInstrument, sim::EventKind::kTankTemperatureRise};
  const int64_t wall_start = (NowMs() / 1000 + 1) * 1000;
  options.start_ms =
      wall_start - options.duration.count() +
      static_cast<int64_t>(static_cast<double>(options.duration.count()) / options.speed);
  const sim::Scenario scenario(province, options);
  REQUIRE(scenario.events().size() >= 4);
  const sim::GroundTruth truth = sim::ComputeGroundTruth(scenario, wall_start);

  sim::StreamOptions stream;
  stream.target = vigild.address();
  stream.wall_start = wall_start;
  stream.drain_timeout = 20s;
  stream.progress_every = 0ms;
  const sim::StreamResult result = sim::StreamScenario(scenario, stream);
  INFO(sim::FormatStreamResult(result));
  CHECK(result.complete());
  CHECK(result.batches == scenario.slice_count() * province.enterprises.size());
  CHECK(result.batches_acked == result.batches);
  CHECK(result.readings_rejected == 0);
  CHECK(result.readings_stored == result.readings);
  CHECK(result.stream_errors == 0);

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
  CHECK(read == result.readings);

  // Alarms: vigild logs each transition after the shard evaluated the batch,
  // which may be just after its ack. The silence after the run (no-data once
  // the stream ends) falls outside the scenario's time and is not compared.
  std::this_thread::sleep_for(300ms);
  const std::vector<sim::ObservedTransition> observed = sim::ParseObserved(vigild.Output());
  const sim::CheckReport report =
      sim::CheckAlarms(truth, observed, sim::CheckOptions{.tolerance = 2s});
  std::string findings;
  for (const std::string& f : report.findings) findings += f + "\n";
  INFO(sim::FormatCheckReport(report) << findings);
  CHECK(report.expected >= 4);
  CHECK(report.missed == 0);
  CHECK(report.chattering == 0);
  // A stall of the shared test machine longer than a gas sensor's 3 s no-data
  // timeout would show up as extra no_data alarms: not counted against vigild here.
  const auto no_data_extra = report.extra_by_kind.find(sim::AlarmKind::kNoData);
  CHECK(report.extra == (no_data_extra == report.extra_by_kind.end() ? 0 : no_data_extra->second));
}

}  // namespace
}  // namespace vigil::e2e
