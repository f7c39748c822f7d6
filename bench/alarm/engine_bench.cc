// Engine::Evaluate throughput: 100k sensors with threshold rules, series of
// 10 readings, all normal (the common case). items_per_second = readings/s.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "alarm/engine.h"

namespace vigil::alarm {
namespace {

constexpr int kSensors = 100'000;
constexpr int kPerSeries = 10;

std::shared_ptr<const RuleSet> BuildRules() {
  RegistryEntries entries;
  entries.enterprises.push_back(Enterprise{
      .id = "mine", .name = "Mine", .kind = EnterpriseKind::kCoalMine, .region_code = "370105"});
  for (int i = 0; i < kSensors; ++i) {
    entries.sensors.push_back(Sensor{.id = "sensor-" + std::to_string(i),
                                     .enterprise_id = "mine",
                                     .quantity = "methane",
                                     .unit = "%CH4",
                                     .range_low = 0,
                                     .range_high = 4,
                                     .expected_interval = std::chrono::seconds(1)});
  }
  auto registry = Registry::Build(std::move(entries));
  std::vector<Rule> rules = {Rule{
      .id = "methane",
      .selector = Selector{.quantity = "methane", .enterprise_kind = EnterpriseKind::kCoalMine},
      .hh = ThresholdLevel{.value = 1.5, .severity = Severity::kRed},
      .h = ThresholdLevel{.value = 1.0, .severity = Severity::kOrange},
      .restore_high = 1.0,
      .no_data_intervals = 60}};
  auto set = RuleSet::Build(std::move(rules), *registry);
  return *set;
}

void BM_EvaluateThreshold(benchmark::State& state) {
  Engine engine;
  std::vector<AlarmEvent> events;
  engine.SetRuleSet(BuildRules(), 0, &events);
  std::vector<std::string> ids;
  for (int i = 0; i < kSensors; ++i) ids.push_back("sensor-" + std::to_string(i));
  std::vector<TimestampMs> ts(kPerSeries);
  std::vector<double> vs(kPerSeries);
  TimestampMs t = 1;
  size_t sensor = 0;
  int64_t readings = 0;
  for (auto _ : state) {
    if (sensor == 0) {
      for (int i = 0; i < kPerSeries; ++i) {
        ts[i] = t++;
        vs[i] = 0.2 + 0.01 * (i % 7);
      }
    }
    engine.Evaluate(ids[sensor], ts, vs, {}, t, &events);
    readings += kPerSeries;
    if (++sensor == ids.size()) sensor = 0;
  }
  state.SetItemsProcessed(readings);
  state.counters["ns_per_reading"] = benchmark::Counter(
      static_cast<double>(readings), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  if (!events.empty()) state.SkipWithError("unexpected alarm events");
}
BENCHMARK(BM_EvaluateThreshold);

}  // namespace
}  // namespace vigil::alarm
