// Replays scenarios through the real alarm::Engine the way vigild runs it in
// real time (each batch evaluated when its gateway delivers it, timers every
// second) and checks the engine's alarms against the ground truth. Pure: no
// server, no threads, no clock.
#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "alarm/engine.h"
#include "bench/sim/checker.h"
#include "bench/sim/ground_truth.h"
#include "bench/sim/scenario.h"
#include "tests/sim/sim_testing.h"

namespace vigil::sim {
namespace {

using namespace std::chrono_literals;

ObservedTransition Observed(const alarm::AlarmEvent& e) {
  return ObservedTransition{.at = e.at,
                            .source = e.record.source_id,
                            .kind = e.record.alarm,
                            .what = e.kind,
                            .level = e.record.level,
                            .severity = static_cast<int>(e.record.severity)};
}

// Every slice of every gateway, in delivery order; Tick once a second.
std::vector<ObservedTransition> Replay(const Scenario& sc) {
  const Province& p = sc.province();
  alarm::Engine engine;
  std::vector<alarm::AlarmEvent> events;
  engine.SetRuleSet(testing::ServerRules(p), sc.start(), &events);
  struct Delivery {
    TimestampMs at;
    uint32_t enterprise;
    uint64_t slice;
  };
  std::vector<Delivery> deliveries;
  for (uint32_t e = 0; e < p.enterprises.size(); ++e) {
    for (uint64_t k = 0; k < sc.slice_count(); ++k) {
      deliveries.push_back(Delivery{sc.Arrival(e, sc.SliceStart(k)), e, k});
    }
  }
  std::stable_sort(deliveries.begin(), deliveries.end(),
                   [](const Delivery& a, const Delivery& b) { return a.at < b.at; });
  const int64_t tick = sc.options().server_tick.count();
  TimestampMs next_tick = sc.start();
  std::vector<Sample> readings;
  std::vector<TimestampMs> ts;
  std::vector<double> values;
  for (const Delivery& d : deliveries) {
    for (; next_tick < d.at; next_tick += tick) engine.Tick(next_tick, &events);
    engine.BeginBatch(p.enterprises[d.enterprise].gateway_id, d.at, &events);
    for (uint32_t s : p.enterprises[d.enterprise].sensors) {
      readings.clear();
      sc.Readings(s, sc.SliceStart(d.slice), sc.SliceEnd(d.slice), &readings);
      if (readings.empty()) continue;
      ts.clear();
      values.clear();
      for (const Sample& r : readings) {
        ts.push_back(r.t);
        values.push_back(r.value);
      }
      engine.Evaluate(p.sensors[s].id, ts, values, {}, d.at, &events);
    }
  }
  for (; next_tick <= sc.end(); next_tick += tick) engine.Tick(next_tick, &events);
  std::vector<ObservedTransition> observed;
  for (const alarm::AlarmEvent& e : events) {
    if (e.kind != alarm::EventKind::kAcknowledged) observed.push_back(Observed(e));
  }
  return observed;
}

void CheckReplay(const Province& p, const ScenarioOptions& options) {
  const Scenario sc(p, options);
  const GroundTruth truth = ComputeGroundTruth(sc, sc.start());
  const std::vector<ObservedTransition> observed = Replay(sc);
  CheckReport r = CheckAlarms(truth, observed, CheckOptions{.tolerance = 0ms});
  std::string findings;
  for (const std::string& f : r.findings) findings += f + "\n";
  INFO(FormatCheckReport(r) << findings);
  CHECK(r.expected > 0);
  CHECK(r.missed == 0);
  // Gateway outages: one gateway_offline alarm each when the rule is on.
  uint32_t outages = 0;
  for (const Event& ev : sc.events()) outages += ev.kind == EventKind::kGatewayOutage ? 1 : 0;
  CHECK(outages > 0);
  CHECK(r.expected_by_kind[AlarmKind::kGatewayOffline] ==
        (p.options.gateway_offline_after.count() > 0 ? outages : 0));
  CHECK(r.extra == 0);
  CHECK(r.chattering == 0);
  CHECK(r.early == 0);
  CHECK(r.late == 0);
  CHECK(r.clear_missed == 0);
  CHECK(r.clear_early == 0);
  CHECK(r.clear_late == 0);
}

TEST_CASE("alarm::Engine, fed as in real time, raises exactly the ground truth", "[sim][engine]") {
  SECTION("every event kind, seed 7") {
    CheckReplay(testing::SmallProvince(7, 6), testing::EveryEventOptions());
  }
  SECTION("every event kind, seed 21") {
    CheckReplay(testing::SmallProvince(21, 6), testing::EveryEventOptions());
  }
  SECTION("without the gateway rule: no-data on every sensor whose timeout runs out") {
    Province p = BuildProvince({.seed = 7, .enterprises = 6, .gateway_offline_after = 0ms});
    CheckReplay(p, testing::EveryEventOptions());
  }
}

}  // namespace
}  // namespace vigil::sim
