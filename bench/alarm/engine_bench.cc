// alarm::Engine throughput on one thread (= one shard), over 1,000,000
// sensors: Evaluate for threshold rules, for a mix of threshold, rate-of-change
// and no-data rules with a few transitions, and Tick with a million no-data
// deadlines armed. Figures are printed as `name value unit` lines:
//   engine_<benchmark>_readings_per_s, engine_<benchmark>_ns_per_reading,
//   engine_state_bytes_per_sensor_<rules>; and the checkpoint snapshot of 1 M sensors.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "alarm/engine.h"

namespace vigil::alarm {
namespace {

constexpr int kSensors = 1'000'000;
constexpr int kPerSeries = 10;

enum class Mix { kThreshold, kMixed };

std::shared_ptr<const RuleSet> BuildRules(Mix mix) {
  RegistryEntries entries;
  entries.enterprises.push_back(Enterprise{.id = "plant",
                                           .name = "Plant",
                                           .kind = EnterpriseKind::kHazardousChemical,
                                           .region_code = "370105"});
  entries.gateways.push_back(Gateway{.id = "gw", .enterprise_id = "plant"});
  const char* quantities[] = {"combustible_gas", "temperature", "level"};
  for (int i = 0; i < kSensors; ++i) {
    entries.sensors.push_back(
        Sensor{.id = "sensor-" + std::to_string(i),
               .enterprise_id = "plant",
               .quantity = mix == Mix::kThreshold ? "combustible_gas" : quantities[i % 3],
               .unit = "",
               .range_low = 0,
               .range_high = 100,
               .expected_interval = std::chrono::seconds(1)});
  }
  auto registry = Registry::Build(std::move(entries));
  const Selector any{.quantity = "combustible_gas",
                     .enterprise_kind = EnterpriseKind::kHazardousChemical};
  std::vector<Rule> rules = {Rule{.id = "gas",
                                  .selector = any,
                                  .hh = ThresholdLevel{.value = 50, .severity = Severity::kRed},
                                  .h = ThresholdLevel{.value = 25, .severity = Severity::kOrange},
                                  .deadband = 2}};
  if (mix == Mix::kMixed) {
    Selector temperature = any;
    temperature.quantity = "temperature";
    rules.push_back(
        Rule{.id = "tank-temperature",
             .selector = temperature,
             .h = ThresholdLevel{.value = 40, .severity = Severity::kOrange},
             .rate = RateOfChange{
                 .limit = 5, .window = std::chrono::minutes(1), .severity = Severity::kOrange}});
    Selector level = any;
    level.quantity = "level";
    rules.push_back(Rule{.id = "tank-level",
                         .selector = level,
                         .hh = ThresholdLevel{.value = 90, .severity = Severity::kRed},
                         .l = ThresholdLevel{.value = 10, .severity = Severity::kYellow},
                         .on_delay = std::chrono::seconds(5),
                         .no_data_intervals = 30});
  }
  auto set = RuleSet::Build(std::move(rules), *registry,
                            GatewayOfflineRule{.after = std::chrono::minutes(1)});
  return *set;
}

std::vector<std::string> SensorIds() {
  std::vector<std::string> ids;
  ids.reserve(kSensors);
  for (int i = 0; i < kSensors; ++i) ids.push_back("sensor-" + std::to_string(i));
  return ids;
}

const std::shared_ptr<const RuleSet>& Rules(Mix mix) {
  static const auto threshold = BuildRules(Mix::kThreshold);
  static const auto mixed = BuildRules(Mix::kMixed);
  return mix == Mix::kThreshold ? threshold : mixed;
}

// Series of 10 readings, one per second of event time, sensor after sensor;
// in the mixed run one series in 10,000 crosses a level (a transition), so
// the figure includes the cost of events.
void RunEvaluate(benchmark::State& state, Mix mix) {
  Engine engine;
  std::vector<AlarmEvent> events;
  engine.SetRuleSet(Rules(mix), 0, &events);
  static const std::vector<std::string> ids = SensorIds();
  std::vector<TimestampMs> ts(kPerSeries);
  std::vector<double> vs(kPerSeries);
  TimestampMs t = 1'700'000'000'000;
  size_t sensor = 0;
  int64_t readings = 0;
  uint64_t series = 0;
  for (auto _ : state) {
    if (sensor == 0) {
      for (int i = 0; i < kPerSeries; ++i) ts[i] = t + i * 1000;
      t += kPerSeries * 1000;
      engine.BeginBatch("gw", t, &events);
    }
    const bool excursion = mix == Mix::kMixed && series % 10'000 == 0;
    for (int i = 0; i < kPerSeries; ++i) vs[i] = excursion ? 60 : 20 + 0.01 * (i % 7);
    engine.Evaluate(ids[sensor], ts, vs, {}, t, &events);
    events.clear();
    readings += kPerSeries;
    ++series;
    if (++sensor == ids.size()) sensor = 0;
  }
  state.SetItemsProcessed(readings);
}

void BM_EvaluateThreshold(benchmark::State& state) { RunEvaluate(state, Mix::kThreshold); }
void BM_EvaluateMixed(benchmark::State& state) { RunEvaluate(state, Mix::kMixed); }
BENCHMARK(BM_EvaluateThreshold);
BENCHMARK(BM_EvaluateMixed);

// What a shard does with a gateway's batch: one reading for each of 250
// sensors at a time, in an order unrelated to the engine's slots, so each
// series misses on its index entry, state and registry entry. "Prefetched"
// hints the whole batch first (Engine::Prefetch), as the shard thread does.
void RunEvaluateBatch(benchmark::State& state, bool prefetch) {
  constexpr size_t kBatch = 250;
  Engine engine;
  std::vector<AlarmEvent> events;
  engine.SetRuleSet(Rules(Mix::kThreshold), 0, &events);
  static const std::vector<std::string> ids = SensorIds();
  static const std::vector<size_t> order = [] {
    std::vector<size_t> o(ids.size());
    for (size_t i = 0; i < o.size(); ++i) o[i] = i;
    std::shuffle(o.begin(), o.end(), std::mt19937_64(7));
    return o;
  }();
  std::vector<uint64_t> hashes(kBatch);
  TimestampMs t = 1'700'000'000'000;
  size_t next = 0;
  for (auto _ : state) {
    for (size_t i = 0; i < kBatch; ++i)
      hashes[i] = IdIndex::Hash(ids[order[(next + i) % ids.size()]]);
    if (prefetch) engine.Prefetch(hashes);
    for (size_t i = 0; i < kBatch; ++i) {
      TimestampMs ts[] = {t};
      double vs[] = {20 + 0.01 * static_cast<double>(i % 7)};
      engine.Evaluate(ids[order[(next + i) % ids.size()]], hashes[i], ts, vs, {}, t, &events);
    }
    events.clear();
    next += kBatch;
    if (next >= ids.size()) {
      next -= ids.size();
      t += 1000;
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kBatch));
}
void BM_EvaluateBatch(benchmark::State& state) { RunEvaluateBatch(state, false); }
void BM_EvaluateBatchPrefetched(benchmark::State& state) { RunEvaluateBatch(state, true); }
BENCHMARK(BM_EvaluateBatch);
BENCHMARK(BM_EvaluateBatchPrefetched);

// One Tick a second over the mixed rule set after every sensor reported once:
// the cost of a tick when nothing is due (the heap's top only) and of the
// tick that fires a third of a million no-data deadlines... suppressed, since
// the gateway went silent with them (one gateway alarm).
void BM_TickIdle(benchmark::State& state) {
  Engine engine;
  std::vector<AlarmEvent> events;
  engine.SetRuleSet(Rules(Mix::kMixed), 0, &events);
  static const std::vector<std::string> ids = SensorIds();
  const TimestampMs t0 = 1'700'000'000'000;
  engine.BeginBatch("gw", t0, &events);
  for (const std::string& id : ids) {
    TimestampMs ts[] = {t0};
    double vs[] = {20};
    engine.Evaluate(id, ts, vs, {}, t0, &events);
  }
  TimestampMs now = t0;
  for (auto _ : state) {
    engine.Tick(now += 1, &events);  // nothing due for 30 s
    events.clear();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TickIdle);

// The engine snapshot a shard takes at every checkpoint (on its own thread),
// after every sensor reported: one iteration = one snapshot of 1 M sensors.
void BM_Snapshot(benchmark::State& state) {
  Engine engine;
  std::vector<AlarmEvent> events;
  engine.SetRuleSet(Rules(Mix::kMixed), 0, &events);
  static const std::vector<std::string> ids = SensorIds();
  const TimestampMs t0 = 1'700'000'000'000;
  engine.BeginBatch("gw", t0, &events);
  for (const std::string& id : ids) {
    TimestampMs ts[] = {t0};
    double vs[] = {20};
    engine.Evaluate(id, ts, vs, {}, t0, &events);
  }
  size_t sensors = 0;
  for (auto _ : state) {
    EngineSnapshot snapshot = engine.Snapshot();
    sensors = snapshot.sensors.size();
    benchmark::DoNotOptimize(snapshot);
  }
  state.counters["sensors"] = static_cast<double>(sensors);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Snapshot)->Unit(benchmark::kMillisecond);

void PrintStateBytes() {
  for (Mix mix : {Mix::kThreshold, Mix::kMixed}) {
    Engine engine;
    std::vector<AlarmEvent> events;
    engine.SetRuleSet(Rules(mix), 0, &events);
    // Steady state: every sensor reported (its no-data deadline is in the heap).
    const TimestampMs t0 = 1'700'000'000'000;
    engine.BeginBatch("gw", t0, &events);
    for (const std::string& id : SensorIds()) {
      TimestampMs ts[] = {t0};
      double vs[] = {20};
      engine.Evaluate(id, ts, vs, {}, t0, &events);
    }
    std::printf(
        "engine_state_bytes_per_sensor_%s %.1f bytes\n",
        mix == Mix::kThreshold ? "threshold" : "mixed",
        static_cast<double>(engine.state_bytes()) / static_cast<double>(engine.sensor_count()));
  }
  std::printf("engine_sensor_state_fixed %zu bytes\n", Engine::kSensorStateBytes);
  std::fflush(stdout);
}

// Prints every run as `name value unit` lines next to the usual table.
class FigureReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      std::string name = run.benchmark_name();
      if (name.rfind("BM_", 0) == 0) name = name.substr(3);
      for (char& c : name) c = c == '/' ? '_' : static_cast<char>(std::tolower(c));
      auto it = run.counters.find("items_per_second");
      if (it == run.counters.end()) continue;
      const double per_s = it->second.value;
      std::printf("engine_%s_items_per_s %.0f items/s\n", name.c_str(), per_s);
      if (per_s > 0) std::printf("engine_%s_ns_per_item %.2f ns\n", name.c_str(), 1e9 / per_s);
    }
    std::fflush(stdout);
  }
};

}  // namespace
}  // namespace vigil::alarm

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  vigil::alarm::PrintStateBytes();
  vigil::alarm::FigureReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
