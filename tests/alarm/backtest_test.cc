#include "alarm/backtest.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace vigil::alarm {
namespace {

using namespace std::chrono_literals;

// Two enterprises in two counties, one gateway each.
std::shared_ptr<const Registry> TestRegistry(int sensors_per_plant = 2) {
  RegistryEntries entries;
  entries.enterprises = {Enterprise{.id = "jn",
                                    .name = "Jinan",
                                    .kind = EnterpriseKind::kHazardousChemical,
                                    .region_code = "370105"},
                         Enterprise{.id = "qd",
                                    .name = "Qingdao",
                                    .kind = EnterpriseKind::kCoalMine,
                                    .region_code = "370202"}};
  for (const std::string plant : {"jn", "qd"}) {
    for (int i = 0; i < sensors_per_plant; ++i) {
      entries.sensors.push_back(Sensor{.id = plant + "-" + std::to_string(i),
                                       .enterprise_id = plant,
                                       .quantity = "temperature",
                                       .unit = "degC",
                                       .range_low = 0,
                                       .range_high = 0,
                                       .expected_interval = 1000ms});
    }
    entries.gateways.push_back(Gateway{.id = "gw-" + plant, .enterprise_id = plant});
  }
  auto built = Registry::Build(std::move(entries));
  REQUIRE(built.has_value());
  return *built;
}

// Temperature high at `h` in both plants.
std::shared_ptr<const RuleSet> HighRule(double h, int sensors_per_plant = 2,
                                        std::chrono::milliseconds on_delay = 0ms) {
  Rule rule{.id = "temp-high",
            .selector = Selector{.quantity = "temperature", .region_prefix = "37"},
            .h = ThresholdLevel{.value = h, .severity = Severity::kOrange},
            .on_delay = on_delay,
            .sensor_fault = false};
  auto built = RuleSet::Build({rule}, TestRegistry(sensors_per_plant));
  REQUIRE(built.has_value());
  return *built;
}

// Readings by sensor, served in pages; counts what was asked.
class MemoryHistory final : public HistorySource {
 public:
  std::map<std::string, std::vector<Reading>, std::less<>> readings;
  std::set<std::string, std::less<>> asked;
  uint64_t pages = 0;

  Status ReadPage(std::string_view sensor_id, TimestampMs from, TimestampMs to, size_t max,
                  std::vector<Reading>* out) override {
    asked.emplace(sensor_id);
    ++pages;
    auto it = readings.find(sensor_id);
    if (it == readings.end()) return Status::Ok();
    for (const Reading& r : it->second) {
      if (r.at >= from && r.at < to && out->size() < max) out->push_back(r);
    }
    return Status::Ok();
  }
};

constexpr TimestampMs kT0 = 1'700'000'000'000;

BacktestOptions Window(TimestampMs from, TimestampMs to) {
  BacktestOptions options;
  options.from = from;
  options.to = to;
  options.warmup_ms = 0;
  return options;
}

// `values` one a second from kT0.
std::vector<Reading> EverySecond(const std::vector<double>& values) {
  std::vector<Reading> out;
  for (size_t i = 0; i < values.size(); ++i) {
    out.push_back(Reading{.at = kT0 + static_cast<TimestampMs>(i) * 1000, .value = values[i]});
  }
  return out;
}

std::vector<BacktestTransition> Replay(const std::shared_ptr<const RuleSet>& rules,
                                       MemoryHistory& history, const BacktestOptions& options,
                                       std::span<const AlarmEvent> actions = {}) {
  auto replay = ReplayHistory(rules, actions, history, options);
  REQUIRE(replay.has_value());
  return replay->transitions;
}

uint64_t Raised(const std::vector<BacktestTransition>& transitions) {
  uint64_t n = 0;
  for (const auto& t : transitions) n += t.event == EventKind::kRaised ? 1 : 0;
  return n;
}

TEST_CASE("backtest: a higher threshold raises fewer alarms and the report names the missed",
          "[backtest]") {
  MemoryHistory history;
  // jn-0 peaks at 85 and 95; jn-1 at 95 only.
  history.readings["jn-0"] = EverySecond({70, 85, 70, 95, 70});
  history.readings["jn-1"] = EverySecond({70, 70, 70, 95, 70});
  const BacktestOptions options = Window(kT0, kT0 + 10'000);
  const auto live = Replay(HighRule(80), history, options);
  const auto proposed = Replay(HighRule(90), history, options);
  CHECK(Raised(live) == 3);
  CHECK(Raised(proposed) == 2);

  const BacktestReport report = CompareTransitions(proposed, live, 10);
  CHECK(report.backtest_raised == 2);
  CHECK(report.live_raised == 3);
  REQUIRE(report.per_rule.size() == 1);
  CHECK(report.per_rule[0] == BacktestCount{.key = "temp-high", .backtest = 2, .live = 3});
  CHECK(report.per_sensor == std::vector<BacktestCount>{{"jn-0", 1, 2}, {"jn-1", 1, 1}});
  REQUIRE(report.missed_total == 1);
  CHECK(report.missed[0].source_id == "jn-0");
  CHECK(report.missed[0].raised_at == kT0 + 1000);
  CHECK(report.missed[0].cleared_at == kT0 + 2000);
  CHECK(report.added_total == 0);
  // The 95s: raised on both sides, by the same reading; the H 90 alarm's
  // threshold is another value but the transition is the same.
  CHECK(report.matched == 4);
  CHECK(report.only_live == 2);
  CHECK(report.only_backtest == 0);

  const BacktestReport same = CompareTransitions(live, live, 10);
  CHECK(same.matched == live.size());
  CHECK(same.only_live + same.only_backtest + same.missed_total + same.added_total == 0);
}

TEST_CASE("backtest: region scoping reads and reports only the sensors of the region",
          "[backtest]") {
  MemoryHistory history;
  history.readings["jn-0"] = EverySecond({70, 85, 70});
  history.readings["qd-0"] = EverySecond({70, 85, 70});
  BacktestOptions options = Window(kT0, kT0 + 10'000);
  options.region_prefix = "370202";
  auto replay = ReplayHistory(HighRule(80), {}, history, options);
  REQUIRE(replay.has_value());
  CHECK(history.asked == std::set<std::string, std::less<>>{"qd-0", "qd-1"});
  CHECK(replay->stats.sensors == 2);
  REQUIRE(replay->transitions.size() == 2);
  CHECK(replay->transitions[0].source_id == "qd-0");
}

TEST_CASE("backtest: a long range is streamed in pages, not loaded", "[backtest]") {
  MemoryHistory history;
  constexpr int kSensorsPerPlant = 5;
  constexpr int kReadings = 20'000;
  for (const std::string plant : {"jn", "qd"}) {
    for (int i = 0; i < kSensorsPerPlant; ++i) {
      std::vector<double> values(kReadings, 70);
      values[static_cast<size_t>(i * 1000 + 10)] = 99;  // one alarm each
      history.readings[plant + "-" + std::to_string(i)] = EverySecond(values);
    }
  }
  BacktestOptions options = Window(kT0, kT0 + kReadings * 1000);
  options.page_readings = 64;
  auto replay = ReplayHistory(HighRule(80, kSensorsPerPlant), {}, history, options);
  REQUIRE(replay.has_value());
  CHECK(replay->stats.readings == 10 * kReadings);
  CHECK(Raised(replay->transitions) == 10);
  // Never more than a page per sensor held, though the range is 3,000 pages.
  CHECK(replay->stats.max_buffered_readings <= 10 * 64);
  CHECK(replay->stats.page_reads >= 10 * kReadings / 64);
}

TEST_CASE("backtest: chattering points and floods are found on both sides", "[backtest]") {
  std::vector<BacktestTransition> live;
  std::vector<BacktestTransition> backtest;
  auto raise = [](std::string source, TimestampMs at) {
    return BacktestTransition{.source_id = std::move(source),
                              .rule_id = "r",
                              .event = EventKind::kRaised,
                              .level = Level::kH,
                              .severity = Severity::kOrange,
                              .at = at,
                              .reading_at = at};
  };
  auto clear = [](std::string source, TimestampMs at) {
    return BacktestTransition{.source_id = std::move(source),
                              .rule_id = "r",
                              .event = EventKind::kCleared,
                              .level = Level::kNone,
                              .severity = Severity::kOrange,
                              .at = at,
                              .reading_at = at};
  };
  // Live: "chatty" raised 4 times within 45 s (chattering), then 12 sensors
  // raised one a minute: 12 raises within 11 min, 10 within any 9 min: a flood.
  for (int i = 0; i < 4; ++i) {
    live.push_back(raise("chatty", kT0 + i * 15'000));
    live.push_back(clear("chatty", kT0 + i * 15'000 + 5'000));
  }
  for (int i = 0; i < 12; ++i) {
    live.push_back(raise("s" + std::to_string(i), kT0 + 3'600'000 + i * 60'000));
  }
  // Backtest (a proposal with an off-delay): "chatty" raised once; 9 of the
  // 12 sensors within 10 min: no flood.
  backtest.push_back(raise("chatty", kT0));
  for (int i = 0; i < 9; ++i) {
    backtest.push_back(raise("s" + std::to_string(i), kT0 + 3'600'000 + i * 60'000));
  }
  const BacktestReport report = CompareTransitions(backtest, live, 10);
  REQUIRE(report.chattering.size() == 1);
  CHECK(report.chattering[0].source_id == "chatty");
  CHECK(report.chattering[0].live_chatter == 4);
  CHECK(report.chattering[0].backtest_chatter == 1);
  REQUIRE(report.floods.size() == 1);
  CHECK(report.floods[0] == BacktestFlood{.live = true,
                                          .start = kT0 + 3'600'000,
                                          .end = kT0 + 3'600'000 + 11 * 60'000,
                                          .raised = 12,
                                          .peak = 10});
  REQUIRE(report.bad_actors.size() == 10);
  CHECK(report.bad_actors[0].source_id == "chatty");
  CHECK(report.missed_total == 3);  // s9, s10, s11

  // Ten raises within the same 10 minutes in the backtest: a flood there too.
  backtest.push_back(raise("s9", kT0 + 3'600'000 + 9 * 60'000));
  const BacktestReport more = CompareTransitions(backtest, live, 10);
  REQUIRE(more.floods.size() == 2);
  CHECK_FALSE(more.floods[0].live);
  CHECK(more.floods[0].raised == 10);
}

TEST_CASE("backtest: operator actions from the journal are replayed on the proposal's alarms",
          "[backtest]") {
  MemoryHistory history;
  history.readings["jn-0"] = EverySecond({70, 85, 85, 85, 70, 70});
  AlarmEvent ack{.kind = EventKind::kAcknowledged,
                 .record = ActiveAlarm{.source_id = "jn-0", .alarm = AlarmKind::kThreshold},
                 .at = kT0 + 2500,
                 .actor = "duty officer"};
  // An acknowledgement of another sensor's alarm: none open there.
  AlarmEvent stray = ack;
  stray.record.source_id = "jn-1";
  const std::vector<AlarmEvent> actions = {ack, stray};
  auto replay = ReplayHistory(HighRule(80), actions, history, Window(kT0, kT0 + 10'000));
  REQUIRE(replay.has_value());
  CHECK(replay->stats.actions_applied == 1);
  CHECK(replay->stats.actions_skipped == 1);
  REQUIRE(replay->transitions.size() == 2);
  CHECK(replay->transitions[1].event == EventKind::kCleared);

  SECTION("generic: any operator action kind the replay knows, others ignored") {
    CHECK(IsOperatorAction(ack));
    AlarmEvent timed_out{.kind = EventKind::kUnshelved, .at = kT0};
    CHECK_FALSE(IsOperatorAction(timed_out));  // the Engine ends shelving itself
    timed_out.actor = "officer";
    CHECK(IsOperatorAction(timed_out));
    CHECK_FALSE(IsOperatorAction(AlarmEvent{.kind = EventKind::kRaised}));
  }
}

TEST_CASE("backtest: the clock ticks between readings, so a delay met by no reading fires",
          "[backtest]") {
  MemoryHistory history;
  // jn-0 over 80 once, then silent: the 3 s on-delay is met by the clock.
  history.readings["jn-0"] = {Reading{.at = kT0, .value = 70},
                              Reading{.at = kT0 + 500, .value = 90}};
  history.readings["jn-1"] = EverySecond(std::vector<double>(10, 70));
  auto replay = ReplayHistory(HighRule(80, 2, 3s), {}, history, Window(kT0, kT0 + 10'000));
  REQUIRE(replay.has_value());
  REQUIRE(replay->transitions.size() == 1);
  CHECK(replay->transitions[0].event == EventKind::kRaised);
  CHECK(replay->transitions[0].at == kT0 + 4000);  // the first whole second past kT0 + 3500
  CHECK(replay->transitions[0].reading_at == kT0 + 500);
  CHECK(replay->stats.ticks >= 9);
}

TEST_CASE("backtest: invalid windows, a transition bound and a stop end the replay", "[backtest]") {
  MemoryHistory history;
  history.readings["jn-0"] = EverySecond({70, 85, 70, 85, 70});
  CHECK(ReplayHistory(HighRule(80), {}, history, Window(kT0, kT0)).error().code() ==
        Status::Code::kInvalidArgument);
  BacktestOptions options = Window(kT0, kT0 + 10'000);
  options.max_transitions = 3;
  CHECK(ReplayHistory(HighRule(80), {}, history, options).error().code() ==
        Status::Code::kResourceExhausted);
  options.max_transitions = 100;
  options.stop = [] { return true; };
  // Stops are checked every few thousand readings: a short replay finishes,
  // a long one stops.
  CHECK(ReplayHistory(HighRule(80), {}, history, options).has_value());
  history.readings["jn-0"] = EverySecond(std::vector<double>(10'000, 70));
  options.to = kT0 + 10'000'000;
  CHECK(ReplayHistory(HighRule(80), {}, history, options).error().code() == Status::Code::kAborted);
}

// What the server does live, in miniature: batches evaluated at their commit
// time, which runs `ahead_ms` behind the readings' own (a gateway clock
// ahead, streaming as it measures) with jitter, and a tick about every
// second of commit time at an arbitrary phase; an operator acknowledges now
// and then. The backtest of the same readings and actions must make the
// same transitions (docs/backtest.md: exact conditions).
// Readings are stored `ahead_ms` before their own time (a gateway clock
// ahead; negative: a delivery delay) plus 0 .. `jitter_ms`. Returns the
// report and the live transitions' count.
std::pair<BacktestReport, size_t> LiveAgainstReplay(TimestampMs ahead_ms, int jitter_ms,
                                                    uint64_t seed) {
  constexpr int kSensors = 5;
  Rule rule{.id = "temp",
            .selector = Selector{.quantity = "temperature", .region_prefix = "37"},
            .hh = ThresholdLevel{.value = 90, .severity = Severity::kRed},
            .h = ThresholdLevel{.value = 80, .severity = Severity::kOrange},
            .deadband = 1,
            .on_delay = 600ms,
            .off_delay = 400ms,
            .rate = RateOfChange{.limit = 12, .window = 1s, .severity = Severity::kYellow},
            .no_data_intervals = 3,
            .sensor_fault = false};
  auto built = RuleSet::Build({rule}, TestRegistry(kSensors));
  REQUIRE(built.has_value());
  const std::shared_ptr<const RuleSet> rules = *built;

  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> jitter(0, jitter_ms);
  std::uniform_int_distribution<int> tick_jitter(0, 50);
  std::normal_distribution<double> step(0, 2.5);
  constexpr TimestampMs kPeriod = 200;
  constexpr int kSteps = 2000;  // 400 s
  const TimestampMs from = kT0 + 5'000;
  const TimestampMs to = kT0 + kSteps * kPeriod;

  MemoryHistory history;
  std::vector<AlarmEvent> actions;
  std::vector<BacktestTransition> live;
  Engine engine;
  std::vector<AlarmEvent> events;
  engine.SetRuleSet(rules, kT0 - 1000, &events);
  events.clear();
  auto keep = [&] {
    for (const AlarmEvent& e : events) {
      if (e.kind == EventKind::kAcknowledged) actions.push_back(e);
      if (IsProcessTransition(e.kind) && PeriodTime(e) >= from && PeriodTime(e) < to) {
        live.push_back(ToBacktestTransition(e));
      }
    }
    events.clear();
  };
  std::vector<double> value(kSensors * 2, 75);
  TimestampMs commit = kT0 - 1000;
  TimestampMs next_tick = kT0 + 377;  // the live clock's own phase
  for (int k = 0; k < kSteps; ++k) {
    const TimestampMs t = kT0 + k * kPeriod;
    commit = std::max(commit, t - ahead_ms + jitter(rng));
    while (next_tick < commit) {
      engine.Tick(next_tick, &events);
      keep();
      next_tick += 1000 + tick_jitter(rng);  // a timer, not a metronome
    }
    engine.BeginBatch("gw-jn", commit, &events);
    for (int i = 0; i < kSensors; ++i) {
      // Each sensor silent for 8 s once (no data after 3 s).
      if (k >= 500 + i * 200 && k < 540 + i * 200) continue;
      double& v = value[static_cast<size_t>(i)];
      v = std::clamp(v + step(rng), 60.0, 100.0);
      const std::string id = "jn-" + std::to_string(i);
      history.readings[id].push_back(Reading{.at = t, .value = v});
      engine.Evaluate(id, std::span(&t, 1), std::span(&v, 1), {}, commit, &events);
    }
    keep();
    if (k % 97 == 0) {  // an operator acknowledges jn-0's alarm, if open
      (void)engine.Acknowledge(AlarmRef{.source_id = "jn-0"}, commit, "officer", "", &events);
      keep();
    }
  }

  BacktestOptions options = Window(from, to);
  options.warmup_ms = 10'000;
  auto replay = ReplayHistory(rules, actions, history, options);
  REQUIRE(replay.has_value());
  CHECK(replay->stats.actions_applied > 0);
  BacktestReport report = CompareTransitions(replay->transitions, live, 10);
  for (const BacktestDifference& d : report.differences) {
    UNSCOPED_INFO((d.live ? "live " : "backtest ")
                  << d.transition.source_id << " " << AlarmKindName(d.transition.alarm) << " "
                  << EventKindName(d.transition.event) << " at " << d.transition.at - kT0
                  << " reading " << d.transition.reading_at - kT0);
  }
  return {std::move(report), live.size()};
}

TEST_CASE("backtest: the rules in force replayed match a live run transition by transition",
          "[backtest]") {
  for (const uint64_t seed : {42, 7, 1}) {
    INFO("seed " << seed);
    // Readings stored before their time, whatever the jitter, or with a
    // constant delivery delay: every transition the same, with the same
    // causing reading.
    for (const auto& [ahead, jitter] : {std::pair{300, 50}, std::pair{-100, 0}}) {
      INFO("ahead " << ahead << " jitter " << jitter);
      auto [exact, live] = LiveAgainstReplay(ahead, jitter, seed);
      CHECK(live > 100);
      CHECK(exact.matched == live);
      CHECK(exact.matched_by_clock == 0);
      CHECK(exact.only_live + exact.only_backtest == 0);
      CHECK(exact.max_at_offset_ms <= 1300);
    }
    // A delivery delay of 100 to 150 ms: live, a delay is now and then met
    // by the clock while the reading that decides it is still on its way
    // (docs/backtest.md). A few transitions differ, not more.
    auto [delayed, live] = LiveAgainstReplay(-100, 50, seed);
    CHECK(delayed.matched + delayed.matched_by_clock > live * 95 / 100);
    CHECK(delayed.only_live + delayed.only_backtest < live / 50);
  }
}

TEST_CASE("backtest: a gateway silent with its sensors raises one gateway alarm, no no-data",
          "[backtest]") {
  Rule rule{.id = "temp",
            .selector = Selector{.quantity = "temperature", .region_prefix = "37"},
            .h = ThresholdLevel{.value = 80, .severity = Severity::kOrange},
            .no_data_intervals = 3,
            .sensor_fault = false};
  auto rules = RuleSet::Build({rule}, TestRegistry(),
                              GatewayOfflineRule{.after = 5s, .severity = Severity::kOrange});
  REQUIRE(rules.has_value());
  MemoryHistory history;
  // Jinan's gateway (both sensors) silent from 10 s to 30 s; Qingdao's goes on.
  for (const std::string id : {"jn-0", "jn-1", "qd-0", "qd-1"}) {
    for (int i = 0; i < 40; ++i) {
      if (id.starts_with("jn") && i > 10 && i < 30) continue;
      history.readings[id].push_back(Reading{.at = kT0 + i * 1000, .value = 70});
    }
  }
  auto replay = ReplayHistory(*rules, {}, history, Window(kT0, kT0 + 40'000));
  REQUIRE(replay.has_value());
  REQUIRE(replay->transitions.size() == 2);
  CHECK(replay->transitions[0].source_id == "gw-jn");
  CHECK(replay->transitions[0].alarm == AlarmKind::kGatewayOffline);
  CHECK(replay->transitions[0].event == EventKind::kRaised);
  CHECK(replay->transitions[0].at == kT0 + 15'000);
  CHECK(replay->transitions[1].event == EventKind::kCleared);
  CHECK(replay->transitions[1].at == kT0 + 30'000);
}

}  // namespace
}  // namespace vigil::alarm
