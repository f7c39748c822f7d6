#include "alarm/engine.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <vector>

namespace vigil::alarm {
namespace {

using namespace std::chrono_literals;

// One coal mine with a few sensors; tests give rules by sensor id.
std::shared_ptr<const Registry> TestRegistry() {
  RegistryEntries entries;
  entries.enterprises = {Enterprise{
      .id = "mine", .name = "Mine", .kind = EnterpriseKind::kCoalMine, .region_code = "370105"}};
  auto sensor = [](std::string id, double low, double high) {
    return Sensor{.id = std::move(id),
                  .enterprise_id = "mine",
                  .quantity = "q",
                  .unit = "",
                  .range_low = low,
                  .range_high = high,
                  .expected_interval = 1000ms};
  };
  entries.sensors = {sensor("s1", 0, 0), sensor("s2", 0, 0), sensor("ch4", 0, 4),
                     sensor("s3", 0, 0)};
  auto built = Registry::Build(std::move(entries));
  REQUIRE(built.has_value());
  return *built;
}

std::shared_ptr<const RuleSet> Rules(std::vector<Rule> rules) {
  auto built = RuleSet::Build(std::move(rules), TestRegistry());
  REQUIRE(built.has_value());
  return *built;
}

ThresholdLevel Level(double value, Severity severity) {
  return ThresholdLevel{.value = value, .severity = severity};
}

// Coal-face methane: alarm >= 1.0 %CH4, power cut-off >= 1.5 %, restore below 1.0 %.
Rule MethaneRule(std::string sensor = "ch4") {
  return Rule{.id = "methane-face",
              .selector = Selector{.sensor_id = std::move(sensor)},
              .hh = Level(1.5, Severity::kRed),
              .h = Level(1.0, Severity::kOrange),
              .restore_high = 1.0};
}

// Feeds readings to one engine and collects the events.
struct Harness {
  explicit Harness(std::vector<Rule> rules, EngineOptions options = {}) : engine(options) {
    engine.SetRuleSet(Rules(std::move(rules)), 0, &events);
  }

  // One reading at time t (seconds), received at the same time.
  std::vector<AlarmEvent> Feed(std::string_view sensor, double t_s, double value,
                               Quality quality = kQualityGood) {
    events.clear();
    const auto t = static_cast<TimestampMs>(t_s * 1000);
    TimestampMs ts[] = {t};
    double vs[] = {value};
    Quality qs[] = {quality};
    engine.Evaluate(sensor, ts, vs, qs, t, &events);
    return events;
  }
  std::vector<AlarmEvent> Tick(double t_s) {
    events.clear();
    engine.Tick(static_cast<TimestampMs>(t_s * 1000), &events);
    return events;
  }

  Engine engine;
  std::vector<AlarmEvent> events;
};

void CheckEvent(const std::vector<AlarmEvent>& events, EventKind kind, AlarmKind alarm,
                enum Level level = Level::kNone) {
  REQUIRE(events.size() == 1);
  CHECK(events[0].kind == kind);
  CHECK(events[0].record.alarm == alarm);
  CHECK(events[0].record.level == level);
}

TEST_CASE("Engine methane: alarm at 1.0, cut-off at 1.5, restore below 1.0", "[alarm][engine]") {
  Harness h({MethaneRule()});
  CHECK(h.Feed("ch4", 1, 0.9).empty());
  auto raised = h.Feed("ch4", 2, 1.0);
  CheckEvent(raised, EventKind::kRaised, AlarmKind::kThreshold, Level::kH);
  CHECK(raised[0].record.severity == Severity::kOrange);
  CHECK(raised[0].record.source_id == "ch4");
  CHECK(raised[0].record.rule_id == "methane-face");
  CHECK(raised[0].value == 1.0);
  CHECK(raised[0].reading_at == 2000);
  auto escalated = h.Feed("ch4", 3, 1.6);
  CheckEvent(escalated, EventKind::kEscalated, AlarmKind::kThreshold, Level::kHH);
  CHECK(escalated[0].record.severity == Severity::kRed);
  CheckEvent(h.Feed("ch4", 4, 1.2), EventKind::kDeEscalated, AlarmKind::kThreshold, Level::kH);
  CHECK(h.Feed("ch4", 5, 1.0).empty());  // restore is "below 1.0"
  CheckEvent(h.Feed("ch4", 6, 0.99), EventKind::kCleared, AlarmKind::kThreshold, Level::kH);
  REQUIRE(h.engine.Active().size() == 1);
  CHECK(h.engine.Active()[0].peak_value == 1.6);
  CHECK(h.engine.Active()[0].trigger_value == 1.0);
}

TEST_CASE("Engine restore value below the alarm level overrides the deadband", "[alarm][engine]") {
  Rule rule = MethaneRule();
  rule.restore_high = 0.8;
  rule.deadband = 0.05;
  Harness h({rule});
  CheckEvent(h.Feed("ch4", 1, 1.0), EventKind::kRaised, AlarmKind::kThreshold, Level::kH);
  CHECK(h.Feed("ch4", 2, 0.9).empty());  // below 1.0 - deadband, above restore
  CHECK(h.Feed("ch4", 3, 0.8).empty());
  CheckEvent(h.Feed("ch4", 4, 0.79), EventKind::kCleared, AlarmKind::kThreshold, Level::kH);
}

TEST_CASE("Engine deadband: a value oscillating around H raises exactly one alarm",
          "[alarm][engine]") {
  Harness h({Rule{.id = "t",
                  .selector = Selector{.sensor_id = "s1"},
                  .h = Level(80, Severity::kYellow),
                  .deadband = 2}});
  int raised = 0, cleared = 0;
  double t = 0;
  for (double v : {79.0, 80.0, 79.0, 80.5, 78.5, 80.0, 78.1, 81.0}) {
    for (const AlarmEvent& e : h.Feed("s1", ++t, v)) {
      raised += e.kind == EventKind::kRaised;
      cleared += e.kind == EventKind::kCleared;
    }
  }
  CHECK(raised == 1);
  CHECK(cleared == 0);
  CheckEvent(h.Feed("s1", ++t, 77.9), EventKind::kCleared, AlarmKind::kThreshold, Level::kH);
}

TEST_CASE("Engine combustible gas: 25 %LEL level 1, 50 %LEL level 2 (GB/T 50493)",
          "[alarm][engine]") {
  Harness h({Rule{.id = "lel",
                  .selector = Selector{.sensor_id = "s1"},
                  .hh = Level(50, Severity::kRed),
                  .h = Level(25, Severity::kOrange)}});
  CHECK(h.Feed("s1", 1, 24.9).empty());
  auto level1 = h.Feed("s1", 2, 25);
  CheckEvent(level1, EventKind::kRaised, AlarmKind::kThreshold, Level::kH);
  CHECK(level1[0].record.severity == Severity::kOrange);
  auto level2 = h.Feed("s1", 3, 50);
  CheckEvent(level2, EventKind::kEscalated, AlarmKind::kThreshold, Level::kHH);
  CHECK(level2[0].record.severity == Severity::kRed);
  auto active = h.engine.Active();
  REQUIRE(active.size() == 1);  // escalation updates the same alarm
  CHECK(active[0].level == Level::kHH);
  CHECK(active[0].severity == Severity::kRed);
  CHECK(active[0].raised_at == 2000);
  CheckEvent(h.Feed("s1", 4, 10), EventKind::kCleared, AlarmKind::kThreshold, Level::kHH);
}

TEST_CASE("Engine low levels mirror the high ones, with deadband", "[alarm][engine]") {
  Harness h({Rule{.id = "level",
                  .selector = Selector{.sensor_id = "s1"},
                  .l = Level(20, Severity::kYellow),
                  .ll = Level(10, Severity::kRed),
                  .deadband = 1}});
  CHECK(h.Feed("s1", 1, 20.5).empty());
  CheckEvent(h.Feed("s1", 2, 20), EventKind::kRaised, AlarmKind::kThreshold, Level::kL);
  CheckEvent(h.Feed("s1", 3, 9), EventKind::kEscalated, AlarmKind::kThreshold, Level::kLL);
  CHECK(h.Feed("s1", 4, 10.5).empty());  // inside the LL deadband
  CheckEvent(h.Feed("s1", 5, 11.5), EventKind::kDeEscalated, AlarmKind::kThreshold, Level::kL);
  CHECK(h.Feed("s1", 6, 20.5).empty());  // inside the L deadband
  CheckEvent(h.Feed("s1", 7, 21.5), EventKind::kCleared, AlarmKind::kThreshold, Level::kL);
}

TEST_CASE("Engine on-delay raises only once held for the duration", "[alarm][engine]") {
  Harness h({Rule{.id = "t",
                  .selector = Selector{.sensor_id = "s1"},
                  .h = Level(80, Severity::kYellow),
                  .on_delay = 10s}});
  CHECK(h.Feed("s1", 0, 85).empty());
  CHECK(h.Feed("s1", 5, 70).empty());  // a dip resets the delay
  CHECK(h.Feed("s1", 6, 85).empty());
  CHECK(h.Feed("s1", 15, 85).empty());  // held 9 s since the dip
  CHECK(h.Tick(15.999).empty());

  SECTION("a reading at the end of the delay raises") {
    CheckEvent(h.Feed("s1", 16, 86), EventKind::kRaised, AlarmKind::kThreshold, Level::kH);
  }
  SECTION("Tick raises at the deadline without a new reading") {
    auto raised = h.Tick(16);
    CheckEvent(raised, EventKind::kRaised, AlarmKind::kThreshold, Level::kH);
    CHECK(raised[0].value == 85);
    CHECK(raised[0].reading_at == 15000);
    CHECK(raised[0].at == 16000);
    CHECK(h.Tick(100).empty());
  }
  SECTION("a dip cancels the pending Tick") {
    CHECK(h.Feed("s1", 15.5, 10).empty());
    CHECK(h.Tick(100).empty());
  }
}

TEST_CASE(
    "Engine delays: a late reading never shortens them, a backfill that shows them met raises",
    "[alarm][engine]") {
  Harness h({Rule{.id = "t",
                  .selector = Selector{.sensor_id = "s1"},
                  .h = Level(80, Severity::kYellow),
                  .on_delay = 5s}});
  auto feed = [&](double t_s, double v, double now_s) {
    h.events.clear();
    TimestampMs ts[] = {static_cast<TimestampMs>(t_s * 1000)};
    double vs[] = {v};
    h.engine.Evaluate("s1", ts, vs, {}, static_cast<TimestampMs>(now_s * 1000), &h.events);
    return h.events;
  };
  SECTION("a reading 10 s late (gateway clock behind): the timer counts from its arrival") {
    CHECK(feed(0, 90, 10).empty());
    CHECK(h.Tick(10.5).empty());  // 10.5 s after its event time, 0.5 s after arrival
    CHECK(h.Tick(14.9).empty());
    auto raised = h.Tick(15);
    REQUIRE(raised.size() == 1);
    CHECK(raised[0].kind == EventKind::kRaised);
  }
  SECTION("a backfilled condition that held for the delay raises at once") {
    CHECK(feed(0, 90, 100).empty());
    auto raised = feed(6, 91, 100);
    REQUIRE(raised.size() == 1);
    CHECK(raised[0].record.trigger_reading_at == 6000);
    CHECK(raised[0].at == 100000);
  }
}

TEST_CASE("Engine off-delay clears only once normal for the duration", "[alarm][engine]") {
  Harness h({Rule{.id = "t",
                  .selector = Selector{.sensor_id = "s1"},
                  .h = Level(80, Severity::kYellow),
                  .off_delay = 30s}});
  CheckEvent(h.Feed("s1", 0, 85), EventKind::kRaised, AlarmKind::kThreshold, Level::kH);
  CHECK(h.Feed("s1", 10, 70).empty());
  CHECK(h.Feed("s1", 20, 81).empty());  // abnormal again: the delay restarts
  CHECK(h.Feed("s1", 30, 70).empty());
  CHECK(h.Tick(59.9).empty());
  CheckEvent(h.Tick(60), EventKind::kCleared, AlarmKind::kThreshold, Level::kH);
  CHECK(h.Tick(120).empty());
}

TEST_CASE("Engine rate of change: 5 per 60 s", "[alarm][engine]") {
  Harness h({Rule{.id = "tank-temp-rate",
                  .selector = Selector{.sensor_id = "s1"},
                  .rate = RateOfChange{.limit = 5, .window = 60s, .severity = Severity::kOrange}}});
  double t = 0, v = 20;
  // 3 per minute: no alarm.
  for (int i = 0; i < 20; ++i) CHECK(h.Feed("s1", t += 10, v += 0.5).empty());
  // 6 per minute: alarm once a window of it is seen.
  std::vector<AlarmEvent> all;
  for (int i = 0; i < 12; ++i) {
    for (const AlarmEvent& e : h.Feed("s1", t += 10, v += 1)) all.push_back(e);
  }
  CheckEvent(all, EventKind::kRaised, AlarmKind::kRateOfChange);
  CHECK(all[0].record.severity == Severity::kOrange);
  CHECK(all[0].value > 5);
  all.clear();
  // Flat again: clears.
  for (int i = 0; i < 12; ++i) {
    for (const AlarmEvent& e : h.Feed("s1", t += 10, v)) all.push_back(e);
  }
  CheckEvent(all, EventKind::kCleared, AlarmKind::kRateOfChange);

  SECTION("falling as fast also alarms") {
    all.clear();
    for (int i = 0; i < 12; ++i) {
      for (const AlarmEvent& e : h.Feed("s1", t += 10, v -= 1)) all.push_back(e);
    }
    CheckEvent(all, EventKind::kRaised, AlarmKind::kRateOfChange);
    CHECK(all[0].value < -5);
  }
}

TEST_CASE("Engine rate of change in one direction: a tank heating up fast, not cooling",
          "[alarm][engine]") {
  const RateDirection direction = GENERATE(RateDirection::kRising, RateDirection::kFalling);
  Harness h({Rule{
      .id = "tank-temp-rise",
      .selector = Selector{.sensor_id = "s1"},
      .rate = RateOfChange{
          .limit = 5, .window = 60s, .severity = Severity::kOrange, .direction = direction}}});
  const double watched = direction == RateDirection::kRising ? 1 : -1;
  double t = 0, v = 50;
  for (int i = 0; i < 7; ++i) CHECK(h.Feed("s1", t += 10, v).empty());
  // 6 per minute the other way: nothing.
  for (int i = 0; i < 24; ++i) CHECK(h.Feed("s1", t += 10, v -= watched).empty());
  for (int i = 0; i < 12; ++i) CHECK(h.Feed("s1", t += 10, v).empty());
  // 6 per minute the watched way: raised, and cleared once flat.
  std::vector<AlarmEvent> all;
  for (int i = 0; i < 12; ++i) {
    for (const AlarmEvent& e : h.Feed("s1", t += 10, v += watched)) all.push_back(e);
  }
  CheckEvent(all, EventKind::kRaised, AlarmKind::kRateOfChange);
  CHECK(all[0].value * watched > 5);
  all.clear();
  for (int i = 0; i < 12; ++i) {
    for (const AlarmEvent& e : h.Feed("s1", t += 10, v)) all.push_back(e);
  }
  CheckEvent(all, EventKind::kCleared, AlarmKind::kRateOfChange);
}

TEST_CASE("Engine rate of change over a month: dam displacement per 31 days", "[alarm][engine]") {
  // Checkpoints reach 1.25 windows (~39 days) back: past a signed 32-bit
  // millisecond offset (24.8 days), within the engine's unsigned one.
  constexpr double kDay = 86400;
  Harness h(
      {Rule{.id = "dam-displacement-month",
            .selector = Selector{.sensor_id = "s1"},
            .rate = RateOfChange{.limit = 25, .window = 31 * 24h, .severity = Severity::kRed}}});
  double v = 100;
  std::vector<AlarmEvent> all;
  double raised_on = -1;
  for (int day = 0; day <= 70 && raised_on < 0; ++day) {
    for (const AlarmEvent& e : h.Feed("s1", day * kDay, v)) {
      all.push_back(e);
      raised_on = day;
    }
    v += 1;  // 1 mm a day: 31 mm a month, over the 25 mm limit
  }
  CheckEvent(all, EventKind::kRaised, AlarmKind::kRateOfChange);
  CHECK(raised_on == 31);  // the first day with a checkpoint a whole window old
  CHECK(all[0].value == Approx(31).epsilon(0.01));
}

TEST_CASE("Engine rate of change resumes after a silence longer than its checkpoints reach",
          "[alarm][engine]") {
  constexpr double kDay = 86400;
  Harness h({Rule{.id = "dam-displacement-day",
                  .selector = Selector{.sensor_id = "s1"},
                  .rate = RateOfChange{.limit = 5, .window = 24h, .severity = Severity::kOrange}}});
  for (int hour = 0; hour <= 48; ++hour) CHECK(h.Feed("s1", hour * 3600.0, 100).empty());
  // Silent for 60 days (checkpoints ~49.7 days old are dropped), then rising
  // 10 a day: raised once a day of the new readings is seen, not before.
  std::vector<AlarmEvent> all;
  double raised_at = -1;
  for (int hour = 0; hour <= 72 && raised_at < 0; ++hour) {
    const double t = 62 * kDay + hour * 3600.0;
    for (const AlarmEvent& e : h.Feed("s1", t, 100 + 10.0 * hour / 24)) {
      all.push_back(e);
      raised_at = t;
    }
  }
  CheckEvent(all, EventKind::kRaised, AlarmKind::kRateOfChange);
  CHECK(raised_at == 63 * kDay);
  CHECK(all[0].value == Approx(10).epsilon(0.01));
}

TEST_CASE("Engine no data: raised by Tick after N intervals, cleared by data", "[alarm][engine]") {
  Harness h({Rule{.id = "nd",
                  .selector = Selector{.sensor_id = "s1"},
                  .no_data_intervals = 5,
                  .no_data_severity = Severity::kYellow}});
  SECTION("a sensor that reported then fell silent") {
    CHECK(h.Feed("s1", 1, 1.0).empty());
    CHECK(h.Tick(5.999).empty());
    auto raised = h.Tick(6);
    CheckEvent(raised, EventKind::kRaised, AlarmKind::kNoData);
    CHECK(raised[0].record.severity == Severity::kYellow);
    CHECK(h.Tick(60).empty());  // raised once
    CheckEvent(h.Feed("s1", 61, 1.0), EventKind::kCleared, AlarmKind::kNoData);
    CHECK(h.Tick(65.9).empty());
    CheckEvent(h.Tick(66), EventKind::kRaised, AlarmKind::kNoData);
  }
  SECTION("a sensor never seen: the clock starts at the first Tick") {
    CHECK(h.Tick(100).empty());
    CHECK(h.Tick(104.9).empty());
    CheckEvent(h.Tick(105), EventKind::kRaised, AlarmKind::kNoData);
  }
  SECTION("steady data keeps it quiet") {
    for (int t = 1; t < 100; t += 4) {
      CHECK(h.Feed("s1", t, 1.0).empty());
      CHECK(h.Tick(t + 3.5).empty());
    }
  }
}

TEST_CASE("Engine sensor fault suppresses process alarms while it lasts", "[alarm][engine]") {
  Harness h({MethaneRule()});  // ch4 range 0..4
  SECTION("out of range") {
    auto fault = h.Feed("ch4", 1, 4.5);
    CheckEvent(fault, EventKind::kRaised, AlarmKind::kSensorFault);
    CHECK(h.Feed("ch4", 2, 4.2).empty());  // no threshold alarm, no second fault
    CheckEvent(h.Feed("ch4", 3, 0.3), EventKind::kCleared, AlarmKind::kSensorFault);
  }
  SECTION("bad quality") {
    CheckEvent(h.Feed("ch4", 1, 2.0, 3), EventKind::kRaised, AlarmKind::kSensorFault);
    CHECK(h.Feed("ch4", 2, 1.7, 3).empty());
    auto back = h.Feed("ch4", 3, 1.7);  // good again, and above HH
    REQUIRE(back.size() == 2);
    CHECK(back[0].kind == EventKind::kCleared);
    CHECK(back[0].record.alarm == AlarmKind::kSensorFault);
    CHECK(back[1].kind == EventKind::kRaised);
    CHECK(back[1].record.level == Level::kHH);
  }
}

TEST_CASE("Engine acknowledge: both ISA-18.2 paths", "[alarm][engine]") {
  Harness h({MethaneRule()});
  CheckEvent(h.Feed("ch4", 1, 1.2), EventKind::kRaised, AlarmKind::kThreshold, Level::kH);
  REQUIRE(h.engine.Active().size() == 1);
  CHECK(h.engine.Active()[0].state == AlarmState::kActiveUnacked);

  SECTION("acked while active, then cleared: closed") {
    std::vector<AlarmEvent> out;
    REQUIRE(h.engine.Acknowledge({"ch4", AlarmKind::kThreshold}, 1500, "op", "", &out).ok());
    CheckEvent(out, EventKind::kAcknowledged, AlarmKind::kThreshold, Level::kH);
    CHECK(out[0].record.state == AlarmState::kActiveAcked);
    CHECK(out[0].at == 1500);
    CHECK(h.engine.Active()[0].state == AlarmState::kActiveAcked);
    out.clear();
    REQUIRE(h.engine.Acknowledge({"ch4", AlarmKind::kThreshold}, 1600, "op", "", &out).ok());
    CHECK(out.empty());  // already acknowledged
    auto cleared = h.Feed("ch4", 2, 0.5);
    CheckEvent(cleared, EventKind::kCleared, AlarmKind::kThreshold, Level::kH);
    CHECK(cleared[0].record.state == AlarmState::kClosed);
    CHECK(h.engine.Active().empty());
  }
  SECTION("cleared before anyone acked: cleared-unacked until acked") {
    auto cleared = h.Feed("ch4", 2, 0.5);
    CheckEvent(cleared, EventKind::kCleared, AlarmKind::kThreshold, Level::kH);
    CHECK(cleared[0].record.state == AlarmState::kClearedUnacked);
    REQUIRE(h.engine.Active().size() == 1);
    CHECK(h.engine.Active()[0].state == AlarmState::kClearedUnacked);
    std::vector<AlarmEvent> out;
    REQUIRE(h.engine.Acknowledge({"ch4", AlarmKind::kThreshold}, 3000, "op", "", &out).ok());
    CheckEvent(out, EventKind::kAcknowledged, AlarmKind::kThreshold, Level::kH);
    CHECK(out[0].record.state == AlarmState::kClosed);
    CHECK(h.engine.Active().empty());
  }
  SECTION("no open alarm: NotFound") {
    std::vector<AlarmEvent> out;
    Status s = h.engine.Acknowledge({"ch4", AlarmKind::kNoData}, 1, "op", "", &out);
    CHECK(s.code() == Status::Code::kNotFound);
    CHECK(h.engine.Acknowledge({"nope", AlarmKind::kThreshold}, 1, "op", "", &out).code() ==
          Status::Code::kNotFound);
    CHECK(out.empty());
  }
}

TEST_CASE("Engine skips late readings and never re-notifies with them", "[alarm][engine]") {
  Harness h({MethaneRule()});
  CheckEvent(h.Feed("ch4", 10, 1.2), EventKind::kRaised, AlarmKind::kThreshold, Level::kH);
  CheckEvent(h.Feed("ch4", 11, 0.5), EventKind::kCleared, AlarmKind::kThreshold, Level::kH);
  CHECK(h.Feed("ch4", 9, 1.8).empty());  // backfill older than the newest reading
  CHECK(h.engine.stats().late_readings == 1);
  CHECK(h.Feed("unknown", 12, 1.8).empty());
  CHECK(h.engine.stats().unknown_series == 1);
}

TEST_CASE("Engine SetRuleSet keeps state of unchanged rules, resets changed ones",
          "[alarm][engine]") {
  Rule s1_rule{
      .id = "s1-high", .selector = Selector{.sensor_id = "s1"}, .h = Level(80, Severity::kYellow)};
  Rule s2_rule{.id = "s2-high",
               .selector = Selector{.sensor_id = "s2"},
               .h = Level(80, Severity::kYellow),
               .on_delay = 10s};
  Rule s3_rule{
      .id = "s3-high", .selector = Selector{.sensor_id = "s3"}, .h = Level(80, Severity::kYellow)};
  Harness h({s1_rule, s2_rule, MethaneRule()});
  CheckEvent(h.Feed("s1", 1, 90), EventKind::kRaised, AlarmKind::kThreshold, Level::kH);
  CHECK(h.Feed("s2", 1, 90).empty());  // on-delay pending
  CheckEvent(h.Feed("ch4", 1, 4.5), EventKind::kRaised, AlarmKind::kSensorFault);

  SECTION("unchanged rules: alarms and pending delays survive") {
    std::vector<AlarmEvent> out;
    h.engine.SetRuleSet(Rules({s3_rule, MethaneRule(), s2_rule, s1_rule}), 2000, &out);
    CHECK(out.empty());
    CHECK(h.engine.Active().size() == 2);
    CHECK(h.Feed("s1", 2, 90).empty());  // no second raise
    CHECK(h.Feed("ch4", 2, 4.5).empty());
    CheckEvent(h.Tick(11), EventKind::kRaised, AlarmKind::kThreshold, Level::kH);  // s2
  }
  SECTION("changed rule: its sensor starts fresh, its alarm is closed") {
    Rule changed = s1_rule;
    changed.h->value = 95;
    std::vector<AlarmEvent> out;
    h.engine.SetRuleSet(Rules({changed, s2_rule}), 2000, &out);
    REQUIRE(out.size() == 2);  // s1's threshold alarm; ch4's fault (its rule is gone)
    CHECK(out[0].record.source_id == "s1");
    CHECK(out[0].kind == EventKind::kCleared);
    CHECK(out[0].record.state == AlarmState::kClosed);
    CHECK(out[0].at == 2000);
    CHECK(out[1].record.source_id == "ch4");
    CHECK(out[1].record.alarm == AlarmKind::kSensorFault);
    CHECK(h.engine.Active().empty());
    CHECK(h.Feed("s1", 2, 90).empty());  // below the new level
    CheckEvent(h.Feed("s1", 3, 96), EventKind::kRaised, AlarmKind::kThreshold, Level::kH);
    CheckEvent(h.Tick(11), EventKind::kRaised, AlarmKind::kThreshold, Level::kH);  // s2 kept
  }
}

TEST_CASE("Engine Snapshot/Restore continues exactly like the original", "[alarm][engine]") {
  std::vector<Rule> rules = {
      Rule{.id = "s1-delay",
           .selector = Selector{.sensor_id = "s1"},
           .h = Level(80, Severity::kYellow),
           .on_delay = 10s,
           .no_data_intervals = 5},
      Rule{.id = "s2-rate",
           .selector = Selector{.sensor_id = "s2"},
           .h = Level(80, Severity::kYellow),
           .off_delay = 20s,
           .rate = RateOfChange{.limit = 5, .window = 60s, .severity = Severity::kOrange}},
      MethaneRule()};
  Harness a(rules);
  a.Feed("s1", 0, 85);  // on-delay pending until 10 s
  for (int t = 0; t <= 60; t += 10) a.Feed("s2", t, 70 + t / 10.0);
  a.Feed("s2", 61, 90);  // raised; jump also trips the rate alarm
  a.Feed("s2", 62, 10);  // off-delay pending
  a.Feed("ch4", 1, 1.6);
  std::vector<AlarmEvent> ack;
  REQUIRE(a.engine.Acknowledge({"ch4", AlarmKind::kThreshold}, 1500, "op", "", &ack).ok());
  a.Tick(63);

  Harness b(rules);
  EngineSnapshot snap = a.engine.Snapshot();
  REQUIRE(b.engine.Restore(snap).ok());
  CHECK(b.engine.Active() == a.engine.Active());

  // Same inputs from here on give the same events.
  auto same = [](const std::vector<AlarmEvent>& x, const std::vector<AlarmEvent>& y) {
    REQUIRE(x.size() == y.size());
    for (size_t i = 0; i < x.size(); ++i) {
      CHECK(x[i].kind == y[i].kind);
      CHECK(x[i].record.alarm == y[i].record.alarm);
      CHECK(x[i].record.state == y[i].record.state);
      CHECK(x[i].record.source_id == y[i].record.source_id);
      CHECK(x[i].record.level == y[i].record.level);
      CHECK(x[i].value == y[i].value);
      CHECK(x[i].reading_at == y[i].reading_at);
      CHECK(x[i].at == y[i].at);
    }
  };
  size_t total = 0;
  for (double t : {70.0, 80.0, 90.0, 200.0}) {
    auto ea = a.Tick(t);
    auto eb = b.Tick(t);
    same(ea, eb);
    total += ea.size();
    ea = a.Feed("s2", t + 1, 20 + t / 100);
    eb = b.Feed("s2", t + 1, 20 + t / 100);
    same(ea, eb);
    total += ea.size();
    ea = a.Feed("ch4", t + 1, 0.5);
    eb = b.Feed("ch4", t + 1, 0.5);
    same(ea, eb);
    total += ea.size();
    const double s1 = t < 85 ? 85 : 50;
    ea = a.Feed("s1", t + 2, s1);
    eb = b.Feed("s1", t + 2, s1);
    same(ea, eb);
    total += ea.size();
  }
  CHECK(total >= 4);  // the comparison saw real transitions
  CHECK(b.engine.Active() == a.engine.Active());

  SECTION("invalid snapshot values are rejected") {
    EngineSnapshot bad = snap;
    REQUIRE_FALSE(bad.alarms.empty());
    bad.alarms[0].state = static_cast<AlarmState>(9);
    Harness c(rules);
    CHECK(c.engine.Restore(bad).code() == Status::Code::kInvalidArgument);
  }
}

TEST_CASE("Engine operator actions name one occurrence, acks carry who and why",
          "[alarm][engine]") {
  Harness h({MethaneRule()});
  auto first = h.Feed("ch4", 1, 1.2);
  REQUIRE(first.size() == 1);
  const uint64_t occurrence = first[0].record.occurrence;
  CHECK(occurrence > 0);
  CHECK(first[0].record.threshold == 1.0);
  h.Feed("ch4", 2, 0.5);               // cleared-unacked
  auto again = h.Feed("ch4", 3, 1.3);  // the same alarm, active again
  REQUIRE(again.size() == 1);
  CHECK(again[0].kind == EventKind::kRaised);
  CHECK(again[0].record.occurrence == occurrence);
  CHECK(again[0].record.raised_at == 1000);
  CHECK(again[0].record.trigger_value == 1.3);
  std::vector<AlarmEvent> out;
  REQUIRE(h.engine
              .Acknowledge({"ch4", AlarmKind::kThreshold, occurrence}, 3600, "li.wei",
                           "checked on site", &out)
              .ok());
  REQUIRE(out.size() == 1);
  CHECK(out[0].actor == "li.wei");
  CHECK(out[0].comment == "checked on site");
  CHECK(out[0].record.state == AlarmState::kActiveAcked);
  h.Feed("ch4", 4, 0.5);  // acked and cleared: closed
  auto next = h.Feed("ch4", 5, 1.4);
  REQUIRE(next.size() == 1);
  CHECK(next[0].record.occurrence > occurrence);  // a new alarm
  out.clear();
  CHECK(h.engine.Acknowledge({"ch4", AlarmKind::kThreshold, occurrence}, 5500, "li", "", &out)
            .code() == Status::Code::kNotFound);
  CHECK(out.empty());
}

TEST_CASE("Engine shelving: marks the point, ends by operator or when the time is up",
          "[alarm][engine]") {
  Harness h({Rule{
      .id = "t", .selector = Selector{.sensor_id = "s1"}, .h = Level(80, Severity::kYellow)}});
  h.Feed("s1", 1, 90);
  std::vector<AlarmEvent> out;
  CHECK(h.engine.Shelve({"s1", AlarmKind::kThreshold}, 500, 1000, "op", "x", &out).code() ==
        Status::Code::kInvalidArgument);
  CHECK(h.engine.Shelve({"s2", AlarmKind::kThreshold}, 9000, 1000, "op", "x", &out).code() ==
        Status::Code::kNotFound);
  REQUIRE(h.engine.Shelve({"s1", AlarmKind::kThreshold}, 61000, 1000, "wang", "maintenance", &out)
              .ok());
  REQUIRE(out.size() == 1);
  CHECK(out[0].kind == EventKind::kShelved);
  CHECK(out[0].record.shelved_until == 61000);
  CHECK(out[0].comment == "maintenance");
  CHECK(h.engine.Active()[0].shelved_until == 61000);

  SECTION("a re-raise while shelved is shelved too") {
    h.Feed("s1", 2, 10);  // cleared-unacked, still shelved
    auto again = h.Feed("s1", 3, 95);
    REQUIRE(again.size() == 1);
    CHECK(again[0].kind == EventKind::kRaised);
    CHECK(again[0].record.shelved_until == 61000);
  }
  SECTION("it unshelves itself when the time is up") {
    CHECK(h.Tick(60.999).empty());
    auto ended = h.Tick(61);
    REQUIRE(ended.size() == 1);
    CHECK(ended[0].kind == EventKind::kUnshelved);
    CHECK(ended[0].actor.empty());
    CHECK(ended[0].record.shelved_until == 0);
    CHECK(h.Tick(120).empty());
  }
  SECTION("an operator unshelves it early") {
    out.clear();
    REQUIRE(h.engine.Unshelve({"s1", AlarmKind::kThreshold}, 2000, "wang", "done", &out).ok());
    REQUIRE(out.size() == 1);
    CHECK(out[0].kind == EventKind::kUnshelved);
    CHECK(h.engine.Unshelve({"s1", AlarmKind::kThreshold}, 2000, "wang", "", &out).code() ==
          Status::Code::kFailedPrecondition);
    CHECK(h.Tick(120).empty());
  }
}

// One chemical plant: 500 gas sensors behind gateway gw-a, one behind gw-b.
std::shared_ptr<const Registry> PlantRegistry() {
  RegistryEntries entries;
  entries.enterprises = {Enterprise{.id = "plant",
                                    .name = "Plant",
                                    .kind = EnterpriseKind::kHazardousChemical,
                                    .region_code = "370105"}};
  for (int i = 0; i < 501; ++i) {
    entries.sensors.push_back(Sensor{.id = "gas-" + std::to_string(i),
                                     .enterprise_id = "plant",
                                     .quantity = "combustible_gas",
                                     .unit = "%LEL",
                                     .range_low = 0,
                                     .range_high = 100,
                                     .expected_interval = 10s});
  }
  entries.gateways = {Gateway{.id = "gw-a", .enterprise_id = "plant"},
                      Gateway{.id = "gw-b", .enterprise_id = "plant"}};
  auto built = Registry::Build(std::move(entries));
  REQUIRE(built.has_value());
  return *built;
}

// Feeds one batch per gateway of the given sensors at time `t` (seconds).
void FeedBatch(Engine& engine, std::string_view gateway, int first, int last, double t,
               std::vector<AlarmEvent>* out) {
  const auto now = static_cast<TimestampMs>(t * 1000);
  engine.BeginBatch(gateway, now, out);
  for (int i = first; i <= last; ++i) {
    TimestampMs ts[] = {now};
    double vs[] = {5};
    engine.Evaluate("gas-" + std::to_string(i), ts, vs, {}, now, out);
  }
}

TEST_CASE("Engine gateway offline: one alarm for 500 silent sensors, none of their no-data",
          "[alarm][engine]") {
  auto rules = RuleSet::Build(
      {Rule{.id = "gas",
            .selector = Selector{.quantity = "combustible_gas",
                                 .enterprise_kind = EnterpriseKind::kHazardousChemical},
            .no_data_intervals = 3}},
      PlantRegistry(), GatewayOfflineRule{.after = 60s, .severity = Severity::kOrange});
  REQUIRE(rules.has_value());
  Engine engine;
  std::vector<AlarmEvent> out;
  engine.SetRuleSet(*rules, 0, &out);
  FeedBatch(engine, "gw-a", 0, 499, 1, &out);
  FeedBatch(engine, "gw-b", 500, 500, 1, &out);
  REQUIRE(out.empty());
  // gw-b keeps reporting; gw-a goes silent at t = 1 s.
  for (double t = 2; t <= 120; t += 1) {
    if (static_cast<int>(t) % 10 == 0) FeedBatch(engine, "gw-b", 500, 500, t, &out);
    engine.Tick(static_cast<TimestampMs>(t * 1000), &out);
  }
  REQUIRE(out.size() == 1);
  CHECK(out[0].kind == EventKind::kRaised);
  CHECK(out[0].record.alarm == AlarmKind::kGatewayOffline);
  CHECK(out[0].record.source_id == "gw-a");
  CHECK(out[0].record.severity == Severity::kOrange);
  CHECK(out[0].at == 61000);
  CHECK(engine.stats().no_data_suppressed == 500);

  SECTION("the gateway's return clears it; a sensor that stays silent then raises no-data") {
    out.clear();
    FeedBatch(engine, "gw-a", 0, 498, 130, &out);  // gas-499 stays silent
    REQUIRE(out.size() == 1);
    CHECK(out[0].kind == EventKind::kCleared);
    CHECK(out[0].record.alarm == AlarmKind::kGatewayOffline);
    out.clear();
    for (double t = 131; t <= 170; t += 1) {
      if (static_cast<int>(t) % 10 == 0) FeedBatch(engine, "gw-a", 0, 498, t, &out);
      engine.Tick(static_cast<TimestampMs>(t * 1000), &out);
    }
    REQUIRE(out.size() == 1);
    CHECK(out[0].record.alarm == AlarmKind::kNoData);
    CHECK(out[0].record.source_id == "gas-499");
  }
  SECTION("a sensor silent while its gateway still reports raises its own no-data") {
    out.clear();
    Engine other;
    other.SetRuleSet(*rules, 0, &out);
    FeedBatch(other, "gw-a", 0, 499, 1, &out);
    FeedBatch(other, "gw-b", 500, 500, 1, &out);
    for (double t = 2; t <= 40; t += 1) {
      if (static_cast<int>(t) % 10 == 0) {
        FeedBatch(other, "gw-a", 0, 498, t, &out);
        FeedBatch(other, "gw-b", 500, 500, t, &out);
      }
      other.Tick(static_cast<TimestampMs>(t * 1000), &out);
    }
    REQUIRE(out.size() == 1);
    CHECK(out[0].record.alarm == AlarmKind::kNoData);
    CHECK(out[0].record.source_id == "gas-499");
  }
  SECTION("a sensor dead before its gateway went silent keeps its own no-data") {
    // gas-0 stopped at 1 s while gw-a reported until 20 s: its deadline (31 s)
    // finds the gateway alive, so it is its own no-data. The other 499 went
    // silent with gw-a: one gateway alarm, at 80 s.
    out.clear();
    Engine slow;
    slow.SetRuleSet(*rules, 0, &out);
    FeedBatch(slow, "gw-a", 0, 499, 1, &out);
    FeedBatch(slow, "gw-b", 500, 500, 1, &out);
    for (double t = 2; t <= 200; t += 1) {
      // gw-a reports gas-1..499 until 20 s, then goes silent; gas-0 only at 1 s.
      if (t <= 20 && static_cast<int>(t) % 10 == 0) FeedBatch(slow, "gw-a", 1, 499, t, &out);
      if (static_cast<int>(t) % 10 == 0) FeedBatch(slow, "gw-b", 500, 500, t, &out);
      slow.Tick(static_cast<TimestampMs>(t * 1000), &out);
    }
    std::vector<std::string> raised;
    for (const AlarmEvent& e : out) {
      if (e.kind == EventKind::kRaised) raised.push_back(e.record.source_id);
    }
    CHECK(raised == std::vector<std::string>{"gas-0", "gw-a"});  // gas-0 at 31 s, gw-a at 80 s
  }
  SECTION("two shards: only the owner raises; both suppress") {
    std::vector<AlarmEvent> e0, e1;
    Engine shard0(EngineOptions{.shard = 0, .shard_count = 2});
    Engine shard1(EngineOptions{.shard = 1, .shard_count = 2});
    shard0.SetRuleSet(*rules, 0, &e0);
    shard1.SetRuleSet(*rules, 0, &e1);
    FeedBatch(shard0, "gw-a", 0, 499, 1, &e0);
    FeedBatch(shard1, "gw-a", 0, 499, 1, &e1);
    FeedBatch(shard0, "gw-b", 500, 500, 1, &e0);
    FeedBatch(shard1, "gw-b", 500, 500, 1, &e1);
    for (double t = 2; t <= 120; t += 1) {
      shard0.Tick(static_cast<TimestampMs>(t * 1000), &e0);
      shard1.Tick(static_cast<TimestampMs>(t * 1000), &e1);
    }
    // gw-b went silent too: its own alarm, on its own shard; gas-500 is suppressed.
    CHECK(e0.size() + e1.size() == 2);
    for (const auto* events : {&e0, &e1}) {
      for (const AlarmEvent& e : *events) CHECK(e.record.alarm == AlarmKind::kGatewayOffline);
    }
    CHECK(shard0.stats().no_data_suppressed + shard1.stats().no_data_suppressed == 501);
    CHECK(ShardOf("gw-a", 2) != ShardOf("gw-b", 2));  // else the test proves less
  }
}

TEST_CASE("Engine Snapshot/Restore keeps gateways, shelves and occurrences", "[alarm][engine]") {
  auto rules = RuleSet::Build(
      {Rule{.id = "gas",
            .selector = Selector{.quantity = "combustible_gas",
                                 .enterprise_kind = EnterpriseKind::kHazardousChemical},
            .h = ThresholdLevel{.value = 25, .severity = Severity::kOrange},
            .no_data_intervals = 3}},
      PlantRegistry(), GatewayOfflineRule{.after = 60s, .severity = Severity::kOrange});
  REQUIRE(rules.has_value());
  Engine a;
  std::vector<AlarmEvent> out;
  a.SetRuleSet(*rules, 0, &out);
  FeedBatch(a, "gw-a", 0, 499, 1, &out);
  FeedBatch(a, "gw-b", 500, 500, 1, &out);
  a.BeginBatch("gw-b", 2000, &out);
  TimestampMs ts[] = {2000};
  double high[] = {30};
  a.Evaluate("gas-500", ts, high, {}, 2000, &out);
  REQUIRE(out.size() == 1);
  REQUIRE(a.Shelve({"gas-500", AlarmKind::kThreshold}, 90000, 3000, "op", "test", &out).ok());
  for (TimestampMs t = 3000; t <= 80000; t += 1000) a.Tick(t, &out);  // gw-a offline at 61 s

  Engine b;
  std::vector<AlarmEvent> ignored;
  b.SetRuleSet(*rules, 0, &ignored);
  const EngineSnapshot snap = a.Snapshot();
  REQUIRE(b.Restore(snap).ok());
  CHECK(b.Snapshot() == snap);
  CHECK(b.Active() == a.Active());
  std::vector<AlarmEvent> ea, eb;
  for (TimestampMs t = 81000; t <= 100000; t += 1000) {
    a.Tick(t, &ea);
    b.Tick(t, &eb);
  }
  FeedBatch(a, "gw-a", 0, 10, 101, &ea);
  FeedBatch(b, "gw-a", 0, 10, 101, &eb);
  a.Evaluate("gas-500", std::array<TimestampMs, 1>{101000}, std::array<double, 1>{40}, {}, 101000,
             &ea);
  b.Evaluate("gas-500", std::array<TimestampMs, 1>{101000}, std::array<double, 1>{40}, {}, 101000,
             &eb);
  CHECK(ea.size() >= 2);  // unshelved at 90 s, gateway back
  CHECK(ea == eb);
  std::vector<AlarmEvent> ra, rb;
  a.Evaluate("gas-500", std::array<TimestampMs, 1>{102000}, std::array<double, 1>{1}, {}, 102000,
             &ra);
  a.Evaluate("gas-500", std::array<TimestampMs, 1>{103000}, std::array<double, 1>{30}, {}, 103000,
             &ra);
  b.Evaluate("gas-500", std::array<TimestampMs, 1>{102000}, std::array<double, 1>{1}, {}, 102000,
             &rb);
  b.Evaluate("gas-500", std::array<TimestampMs, 1>{103000}, std::array<double, 1>{30}, {}, 103000,
             &rb);
  REQUIRE(ra.size() == 2);
  CHECK(ra == rb);  // the same occurrence numbers continue
}

// Issue 20 item 6: H and HH are separate alarms for the operator (ISA-18.2).
TEST_CASE("Engine escalation makes an acknowledged alarm active-unacked again", "[alarm][engine]") {
  Harness h({MethaneRule()});
  CheckEvent(h.Feed("ch4", 1, 1.2), EventKind::kRaised, AlarmKind::kThreshold, Level::kH);
  std::vector<AlarmEvent> out;
  REQUIRE(h.engine.Acknowledge({"ch4", AlarmKind::kThreshold}, 1500, "op", "", &out).ok());
  REQUIRE(h.engine.Active()[0].state == AlarmState::kActiveAcked);

  auto escalated = h.Feed("ch4", 2, 1.6);
  CheckEvent(escalated, EventKind::kEscalated, AlarmKind::kThreshold, Level::kHH);
  CHECK(escalated[0].record.state == AlarmState::kActiveUnacked);
  CHECK(h.engine.Active()[0].state == AlarmState::kActiveUnacked);
  out.clear();
  REQUIRE(h.engine.Acknowledge({"ch4", AlarmKind::kThreshold}, 2500, "op", "", &out).ok());
  CHECK(out.size() == 1);  // HH is acknowledged on its own

  // A de-escalation is no new condition: the acknowledgement stands.
  auto lower = h.Feed("ch4", 3, 1.2);
  CheckEvent(lower, EventKind::kDeEscalated, AlarmKind::kThreshold, Level::kH);
  CHECK(lower[0].record.state == AlarmState::kActiveAcked);
}

TEST_CASE("Engine shelve covers its level, never a worse one: escalation ends it",
          "[alarm][engine]") {
  Harness h({MethaneRule()});
  CheckEvent(h.Feed("ch4", 1, 1.2), EventKind::kRaised, AlarmKind::kThreshold, Level::kH);
  std::vector<AlarmEvent> out;
  REQUIRE(
      h.engine.Shelve({"ch4", AlarmKind::kThreshold}, 3'600'000, 1500, "op", "calibration", &out)
          .ok());

  SECTION("H -> HH while shelved: escalated (not shelved, unacked), then unshelved") {
    auto events = h.Feed("ch4", 2, 1.6);
    REQUIRE(events.size() == 2);
    CHECK(events[0].kind == EventKind::kEscalated);
    CHECK(events[0].record.level == Level::kHH);
    CHECK(events[0].record.shelved_until == 0);
    CHECK(events[0].record.state == AlarmState::kActiveUnacked);
    CHECK(events[1].kind == EventKind::kUnshelved);
    CHECK(events[1].record.shelved_until == 0);
    CHECK(events[1].record.level == Level::kHH);
    CHECK(events[1].actor.empty());
    CHECK(events[1].comment == "escalated past the shelved level H");
    CHECK(events[1].at == 2000);
    CHECK(h.engine.Active()[0].shelved_until == 0);
    CHECK(h.engine.Snapshot().shelves.empty());
    CHECK(h.Tick(4000).empty());  // no second unshelve when the time would have been up
  }
  SECTION("staying within the shelved level keeps it shelved") {
    CHECK(h.Feed("ch4", 2, 1.4).empty());
    CHECK(h.Feed("ch4", 3, 0.5).size() == 1);  // cleared-unacked, still shelved
    auto again = h.Feed("ch4", 4, 1.1);
    CheckEvent(again, EventKind::kRaised, AlarmKind::kThreshold, Level::kH);
    CHECK(again[0].record.shelved_until == 3'600'000);
  }
  SECTION("a re-raise straight at HH ends it too") {
    CHECK(h.Feed("ch4", 3, 0.5).size() == 1);
    auto events = h.Feed("ch4", 4, 1.7);
    REQUIRE(events.size() == 2);
    CHECK(events[0].kind == EventKind::kRaised);
    CHECK(events[0].record.level == Level::kHH);
    CHECK(events[0].record.shelved_until == 0);
    CHECK(events[1].kind == EventKind::kUnshelved);
  }
  SECTION("a shelve given at HH covers HH and H") {
    CHECK(h.Feed("ch4", 2, 1.6).size() == 2);
    out.clear();
    REQUIRE(
        h.engine.Shelve({"ch4", AlarmKind::kThreshold}, 3'600'000, 2500, "op", "again", &out).ok());
    CheckEvent(h.Feed("ch4", 3, 1.2), EventKind::kDeEscalated, AlarmKind::kThreshold, Level::kH);
    auto back = h.Feed("ch4", 4, 1.6);
    CheckEvent(back, EventKind::kEscalated, AlarmKind::kThreshold, Level::kHH);
    CHECK(back[0].record.shelved_until == 3'600'000);
  }
  SECTION("the shelved level survives Snapshot/Restore") {
    Harness b({MethaneRule()});
    const EngineSnapshot snap = h.engine.Snapshot();
    REQUIRE(snap.shelves.size() == 1);
    CHECK(snap.shelves[0].level == Level::kH);
    REQUIRE(b.engine.Restore(snap).ok());
    CHECK(b.Feed("ch4", 2, 1.6).size() == 2);
    EngineSnapshot old = snap;  // before shelves had a level: the alarm's is taken
    old.shelves[0].level = Level::kNone;
    Harness c({MethaneRule()});
    REQUIRE(c.engine.Restore(old).ok());
    CHECK(c.engine.Snapshot().shelves[0].level == Level::kH);
    CHECK(c.Feed("ch4", 2, 1.3).empty());
    CHECK(c.Feed("ch4", 3, 1.6).size() == 2);
  }
}

// Issue 20 item 7: on-delay, off-delay and deadband apply per level.
TEST_CASE("Engine on-delay applies to an escalation: a short spike during H stays H",
          "[alarm][engine]") {
  // Coal CO: H 24 ppm, HH 50 ppm, on-delay 10 s ("rides through single spikes").
  Rule co{.id = "co",
          .selector = Selector{.sensor_id = "s1"},
          .hh = Level(50, Severity::kRed),
          .h = Level(24, Severity::kOrange),
          .deadband = 2,
          .on_delay = 10s};
  Harness h({co});
  CHECK(h.Feed("s1", 0, 30).empty());
  CheckEvent(h.Feed("s1", 10, 30), EventKind::kRaised, AlarmKind::kThreshold, Level::kH);
  // A 4 s diesel spike while H is active: no escalation.
  for (double t = 20; t <= 24; ++t) CHECK(h.Feed("s1", t, 80).empty());
  CHECK(h.Feed("s1", 25, 30).empty());
  CHECK(h.Tick(40).empty());

  SECTION("held at HH for the on-delay: escalated, by a reading or by Tick") {
    CHECK(h.Feed("s1", 50, 60).empty());
    CHECK(h.Feed("s1", 59, 60).empty());
    SECTION("reading") {
      CheckEvent(h.Feed("s1", 60, 61), EventKind::kEscalated, AlarmKind::kThreshold, Level::kHH);
    }
    SECTION("tick") {
      CHECK(h.Tick(59.9).empty());
      auto escalated = h.Tick(60);
      CheckEvent(escalated, EventKind::kEscalated, AlarmKind::kThreshold, Level::kHH);
      CHECK(escalated[0].value == 60);
    }
  }
  SECTION("a ramp through H to HH: each level waits its own delay from its first reading") {
    Harness r({co});
    CHECK(r.Feed("s1", 0, 30).empty());
    CHECK(r.Feed("s1", 2, 60).empty());  // HH from 2 s
    CheckEvent(r.Feed("s1", 10, 60), EventKind::kRaised, AlarmKind::kThreshold, Level::kH);
    CHECK(r.Tick(11.9).empty());
    CheckEvent(r.Tick(12), EventKind::kEscalated, AlarmKind::kThreshold, Level::kHH);
  }
  SECTION("a jump straight to HH raises HH after one delay") {
    Harness j({co});
    CHECK(j.Feed("s1", 0, 60).empty());
    CheckEvent(j.Tick(10), EventKind::kRaised, AlarmKind::kThreshold, Level::kHH);
  }
  SECTION("a spike to HH at the end of H's on-delay raises H only") {
    Harness j({co});
    CHECK(j.Feed("s1", 0, 30).empty());
    CheckEvent(j.Feed("s1", 10, 60), EventKind::kRaised, AlarmKind::kThreshold, Level::kH);
    CHECK(j.Feed("s1", 11, 30).empty());
    CHECK(j.Tick(30).empty());
  }
}

TEST_CASE("Engine off-delay and deadband apply to a de-escalation: no flapping around HH",
          "[alarm][engine]") {
  Rule rule{.id = "lel",
            .selector = Selector{.sensor_id = "s1"},
            .hh = Level(50, Severity::kRed),
            .h = Level(25, Severity::kOrange),
            .off_delay = 5s};
  Harness h({rule});
  CheckEvent(h.Feed("s1", 0, 30), EventKind::kRaised, AlarmKind::kThreshold, Level::kH);
  int changes = 0;
  double t = 1;
  for (int i = 0; i < 14; ++i, ++t) {  // hovering around HH for 14 s
    changes += static_cast<int>(h.Feed("s1", t, i % 2 == 0 ? 50.5 : 49.5).size());
    changes += static_cast<int>(h.Tick(t + 0.5).size());
  }
  CHECK(changes == 1);  // one escalation
  CHECK(h.engine.Active()[0].level == Level::kHH);
  CHECK(h.Feed("s1", 15, 50.5).empty());
  CHECK(h.Feed("s1", 20, 40).empty());
  CheckEvent(h.Tick(25), EventKind::kDeEscalated, AlarmKind::kThreshold, Level::kH);
  // Then back to normal: its own off-delay, counted from the de-escalation.
  CHECK(h.Feed("s1", 26, 10).empty());
  CHECK(h.Tick(30.9).empty());
  CheckEvent(h.Tick(31), EventKind::kCleared, AlarmKind::kThreshold, Level::kH);

  SECTION("a drop straight to normal clears after one off-delay") {
    Harness d({rule});
    d.Feed("s1", 0, 60);
    CHECK(d.Feed("s1", 1, 10).empty());
    CHECK(d.Tick(5.9).empty());
    CheckEvent(d.Tick(6), EventKind::kCleared, AlarmKind::kThreshold, Level::kHH);
  }
  SECTION("the deadband holds HH without a delay") {
    rule.off_delay = 0s;
    rule.deadband = 2;
    Harness d({rule});
    CheckEvent(d.Feed("s1", 0, 50), EventKind::kRaised, AlarmKind::kThreshold, Level::kHH);
    for (double v : {49.0, 50.5, 48.5, 49.9}) CHECK(d.Feed("s1", ++t, v).empty());
    CheckEvent(d.Feed("s1", ++t, 47.9), EventKind::kDeEscalated, AlarmKind::kThreshold, Level::kH);
  }
}

TEST_CASE("Engine Snapshot/Restore mid-delay of an escalation continues like the original",
          "[alarm][engine]") {
  Rule co{.id = "co",
          .selector = Selector{.sensor_id = "s1"},
          .hh = Level(50, Severity::kRed),
          .h = Level(24, Severity::kOrange),
          .on_delay = 10s};
  Harness a({co});
  a.Feed("s1", 0, 30);
  a.Feed("s1", 3, 60);  // HH's delay would run from 3 s once H is raised
  Harness b({co});
  REQUIRE(b.engine.Restore(a.engine.Snapshot()).ok());
  CHECK(b.engine.Snapshot() == a.engine.Snapshot());
  for (double t : {10.0, 12.9, 13.0}) {
    auto ea = a.Tick(t);
    CHECK(ea == b.Tick(t));
    CHECK(ea.size() == (t == 12.9 ? 0u : 1u));
  }
}

// Issue 20 item 8: last written wins, as storage keeps it.
TEST_CASE("Engine evaluates a reading at the newest reading's time as the current value",
          "[alarm][engine]") {
  Harness h({MethaneRule()});
  CHECK(h.Feed("ch4", 10, 0.8).empty());
  CheckEvent(h.Feed("ch4", 10, 1.6), EventKind::kRaised, AlarmKind::kThreshold, Level::kHH);
  CHECK(h.engine.stats().late_readings == 0);
  CHECK(h.engine.Active()[0].trigger_value == 1.6);
  CheckEvent(h.Feed("ch4", 10, 0.5), EventKind::kCleared, AlarmKind::kThreshold, Level::kHH);
  CHECK(h.Feed("ch4", 9.999, 1.8).empty());  // strictly older: late, not evaluated
  CHECK(h.engine.stats().late_readings == 1);
}

// Issue 20 item 10: a frozen transmitter.
TEST_CASE("Engine stuck value: the same value for longer than stuck_after", "[alarm][engine]") {
  Rule rule{.id = "radar",
            .selector = Selector{.sensor_id = "s1"},
            .h = Level(80, Severity::kOrange),
            .stuck_after = 60s,
            .stuck_severity = Severity::kOrange};
  Harness h({rule});
  for (double t = 0; t <= 60; t += 10) CHECK(h.Feed("s1", t, 12.5).empty());  // exactly 60 s
  auto stuck = h.Feed("s1", 61, 12.5);
  CheckEvent(stuck, EventKind::kRaised, AlarmKind::kStuckValue);
  CHECK(stuck[0].record.severity == Severity::kOrange);
  CHECK(stuck[0].record.threshold == 60);
  CHECK(h.Feed("s1", 70, 12.5).empty());  // raised once
  CHECK(h.Feed("s1", 70, 12.5).empty());  // same time: evaluated, nothing new
  CheckEvent(h.Feed("s1", 71, 12.6), EventKind::kCleared, AlarmKind::kStuckValue);
  for (double t = 81; t <= 131; t += 10) CHECK(h.Feed("s1", t, 12.6).empty());  // 60 s again

  SECTION("Snapshot/Restore keeps the unchanged time") {
    Harness b({rule});
    REQUIRE(b.engine.Restore(h.engine.Snapshot()).ok());
    CheckEvent(b.Feed("s1", 133, 12.6), EventKind::kRaised, AlarmKind::kStuckValue);
  }
  SECTION("off by default") {
    rule.stuck_after = 0s;
    Harness off({rule});
    for (double t = 0; t <= 1000; t += 10) CHECK(off.Feed("s1", t, 12.5).empty());
  }
}

// Issue 20 item 11: "above"/"below" in a standard.
TEST_CASE("Engine strict levels: above and below, not at", "[alarm][engine]") {
  ThresholdLevel above24 = Level(24, Severity::kOrange);
  above24.strict = true;
  ThresholdLevel below18 = Level(18, Severity::kYellow);
  below18.strict = true;
  Harness h({Rule{.id = "co", .selector = Selector{.sensor_id = "s1"}, .h = above24},
             Rule{.id = "o2", .selector = Selector{.sensor_id = "s2"}, .l = below18}});
  CHECK(h.Feed("s1", 1, 24).empty());  // at the limit: not above it
  CheckEvent(h.Feed("s1", 2, 24.5), EventKind::kRaised, AlarmKind::kThreshold, Level::kH);
  CheckEvent(h.Feed("s1", 3, 24), EventKind::kCleared, AlarmKind::kThreshold, Level::kH);
  CHECK(h.Feed("s2", 1, 18).empty());
  CheckEvent(h.Feed("s2", 2, 17.9), EventKind::kRaised, AlarmKind::kThreshold, Level::kL);
  CheckEvent(h.Feed("s2", 3, 18), EventKind::kCleared, AlarmKind::kThreshold, Level::kL);
}

TEST_CASE("ShardOf is stable and spreads sensors", "[alarm][engine]") {
  CHECK(ShardOf("sensor-1", 4) == ShardOf("sensor-1", 4));
  int counts[4] = {};
  for (int i = 0; i < 1000; ++i) ++counts[ShardOf("s" + std::to_string(i), 4)];
  for (int c : counts) CHECK(c > 150);
}

// Sensors numbered in the ingest log are located by number: an array read,
// no hash of the id (the shard's hot path).
TEST_CASE("Engine::Locate finds numbered sensors by log number, the rest by id",
          "[alarm][engine]") {
  RegistryEntries entries;
  entries.enterprises = {Enterprise{
      .id = "mine", .name = "Mine", .kind = EnterpriseKind::kCoalMine, .region_code = "370105"}};
  auto sensor = [](std::string id, uint32_t number) {
    Sensor s;
    s.id = std::move(id);
    s.enterprise_id = "mine";
    s.quantity = "q";
    s.log_number = number;
    return s;
  };
  entries.sensors = {sensor("n1", 7), sensor("n2", 8), sensor("n3", 0)};
  auto registry = Registry::Build(std::move(entries));
  REQUIRE(registry.has_value());
  Rule n3_rule = MethaneRule("n3");
  n3_rule.id = "methane-n3";
  auto rules = RuleSet::Build({MethaneRule("n1"), n3_rule}, *registry);
  REQUIRE(rules.has_value());
  Engine engine;
  std::vector<AlarmEvent> events;
  engine.SetRuleSet(*rules, 0, &events);

  auto locate = [&](std::string_view id, uint32_t number) {
    SeriesView series[1];
    series[0].sensor_id = id;
    series[0].log_number = number;
    std::vector<uint32_t> slots;
    engine.Locate(series, &slots);
    REQUIRE(slots.size() == 1);
    return slots[0];
  };
  const uint32_t n1 = locate("n1", 0);
  REQUIRE(n1 != Engine::kNoSensor);
  CHECK(locate("n1", 7) == n1);
  // By number alone: the id is not looked at.
  CHECK(locate("not-an-id", 7) == n1);
  // Numbered, but no rule here: no state, without a lookup by id.
  CHECK(locate("n2", 8) == Engine::kNoSensor);
  // A number the rule set's registry does not know: by id.
  CHECK(locate("n1", 99) == n1);
  CHECK(locate("n3", 0) != Engine::kNoSensor);
  CHECK(locate("n3", 0) != n1);
  CHECK(locate("unknown", 0) == Engine::kNoSensor);

  // EvaluateAt on the located slot: the alarm names the sensor of the slot.
  TimestampMs ts[] = {1000};
  double vs[] = {1.2};
  engine.EvaluateAt(locate("not-an-id", 7), ts, vs, {}, 1000, &events);
  REQUIRE(events.size() == 1);
  CHECK(events[0].record.source_id == "n1");
  const uint64_t unknown_before = engine.stats().unknown_series;
  engine.EvaluateAt(Engine::kNoSensor, ts, vs, {}, 1000, &events);
  CHECK(engine.stats().unknown_series == unknown_before + 1);
}

// ---- Planned work ----

// MethaneRule with an id of its own, so several sensors may have one.
Rule Methane(std::string sensor) {
  Rule rule = MethaneRule(sensor);
  rule.id = "methane-" + sensor;
  return rule;
}

// A window over `sensors` of the test mine, opened at `at` (seconds) for
// `minutes`, starting at once.
Status OpenWork(Harness& h, std::string id, std::vector<std::string> sensors, double at_s,
                int minutes, double start_s = 0) {
  h.events.clear();
  return h.engine.OpenPlannedWork(PlannedWork{.id = std::move(id),
                                              .enterprise_id = "mine",
                                              .sensor_ids = std::move(sensors),
                                              .start = static_cast<TimestampMs>(start_s * 1000),
                                              .end = 0,
                                              .reason = "detector replacement",
                                              .owner = "Li",
                                              .opened_by = "center-1"},
                                  std::chrono::minutes(minutes),
                                  static_cast<TimestampMs>(at_s * 1000), &h.events);
}

TEST_CASE("Engine planned work: conditions under a window are planned, not active alarms",
          "[alarm][engine][planned]") {
  Harness h({MethaneRule(), Methane("s1")});
  REQUIRE(OpenWork(h, "pw-1", {"ch4"}, 1, 60).ok());
  // The window's own journal entry, with who opened it.
  REQUIRE(h.events.size() == 1);
  CHECK(h.events[0].kind == EventKind::kPlannedWorkOpened);
  CHECK(h.events[0].record.alarm == AlarmKind::kPlannedWork);
  CHECK(h.events[0].record.source_id == "mine");
  CHECK(h.events[0].record.planned_work == "pw-1");
  CHECK(h.events[0].record.state == AlarmState::kClosed);
  CHECK(h.events[0].actor == "center-1");
  CHECK(h.events[0].comment.find("detector replacement") == 0);
  REQUIRE(h.engine.planned_work().size() == 1);
  CHECK(h.engine.planned_work()[0].end == 1000 + 3'600'000);

  auto raised = h.Feed("ch4", 2, 1.2);
  CheckEvent(raised, EventKind::kRaised, AlarmKind::kThreshold, Level::kH);
  CHECK(raised[0].record.state == AlarmState::kPlanned);
  CHECK(raised[0].record.planned_work == "pw-1");
  CHECK(IsPlanned(raised[0].record));
  // Escalation to red stays planned (no break-through configured).
  auto escalated = h.Feed("ch4", 3, 1.6);
  CheckEvent(escalated, EventKind::kEscalated, AlarmKind::kThreshold, Level::kHH);
  CHECK(escalated[0].record.state == AlarmState::kPlanned);
  // Nothing to acknowledge or shelve.
  std::vector<AlarmEvent> out;
  CHECK(h.engine.Acknowledge({"ch4", AlarmKind::kThreshold}, 3500, "op", "", &out).code() ==
        Status::Code::kFailedPrecondition);
  CHECK(h.engine.Shelve({"ch4", AlarmKind::kThreshold}, 9000, 3500, "op", "x", &out).code() ==
        Status::Code::kFailedPrecondition);
  CHECK(out.empty());
  // A sensor the window does not name alarms as usual.
  auto other = h.Feed("s1", 4, 1.2);
  REQUIRE(other.size() == 1);
  CHECK(other[0].record.state == AlarmState::kActiveUnacked);
  CHECK(!IsPlanned(other[0].record));
  // Cleared: closed at once, still marked as planned work.
  auto cleared = h.Feed("ch4", 5, 0.5);
  REQUIRE(cleared.size() == 1);
  CHECK(cleared[0].kind == EventKind::kCleared);
  CHECK(cleared[0].record.state == AlarmState::kClosed);
  CHECK(IsPlanned(cleared[0].record));
  REQUIRE(h.engine.Active().size() == 1);
  CHECK(h.engine.Active()[0].source_id == "s1");
}

TEST_CASE("Engine planned work: a whole-enterprise window covers every sensor",
          "[alarm][engine][planned]") {
  Harness h({MethaneRule(), Methane("s1")});
  REQUIRE(OpenWork(h, "pw-all", {}, 1, 60).ok());
  CHECK(h.Feed("s1", 2, 1.2)[0].record.state == AlarmState::kPlanned);
  CHECK(h.Feed("ch4", 2, 1.2)[0].record.state == AlarmState::kPlanned);
  // Refusals: same id again, no duration.
  CHECK(OpenWork(h, "pw-all", {}, 3, 60).code() == Status::Code::kFailedPrecondition);
  CHECK(OpenWork(h, "pw-2", {}, 3, 0).code() == Status::Code::kInvalidArgument);
  CHECK(h.engine.ClosePlannedWork("nope", 3000, "op", "", &h.events).code() ==
        Status::Code::kNotFound);
}

TEST_CASE("Engine planned work: a red condition breaks through when configured",
          "[alarm][engine][planned]") {
  Harness h({MethaneRule()}, EngineOptions{.planned_red_breaks_through = true});
  REQUIRE(OpenWork(h, "pw-1", {"ch4"}, 1, 60).ok());
  auto raised = h.Feed("ch4", 2, 1.2);  // orange H: planned
  CHECK(raised[0].record.state == AlarmState::kPlanned);
  // Escalation to red HH: annunciated as a new alarm, no longer planned.
  auto red = h.Feed("ch4", 3, 1.6);
  REQUIRE(red.size() == 1);
  CHECK(red[0].kind == EventKind::kRaised);
  CHECK(red[0].record.state == AlarmState::kActiveUnacked);
  CHECK(red[0].record.severity == Severity::kRed);
  CHECK(!IsPlanned(red[0].record));
  CHECK(red[0].comment == "red breaks through planned work");

  SECTION("a red raise breaks through at once") {
    Harness g({MethaneRule()}, EngineOptions{.planned_red_breaks_through = true});
    REQUIRE(OpenWork(g, "pw-1", {"ch4"}, 1, 60).ok());
    auto direct = g.Feed("ch4", 2, 1.6);
    REQUIRE(direct.size() == 1);
    CHECK(direct[0].record.state == AlarmState::kActiveUnacked);
    CHECK(direct[0].record.level == Level::kHH);
  }
  SECTION("without the option red stays planned") {
    Harness g({MethaneRule()});
    REQUIRE(OpenWork(g, "pw-1", {"ch4"}, 1, 60).ok());
    CHECK(g.Feed("ch4", 2, 1.6)[0].record.state == AlarmState::kPlanned);
  }
}

TEST_CASE("Engine planned work expires on the clock tick and normal alarms resume",
          "[alarm][engine][planned]") {
  Rule slow_clear = Methane("s1");
  slow_clear.off_delay = 30s;
  Harness h({MethaneRule(), slow_clear});
  REQUIRE(OpenWork(h, "pw-1", {"ch4", "s1"}, 0, 1).ok());  // 0 s .. 60 s
  CHECK(h.Feed("ch4", 10, 1.2)[0].record.state == AlarmState::kPlanned);
  CHECK(h.Feed("s1", 10, 1.2)[0].record.state == AlarmState::kPlanned);
  CHECK(h.Feed("s1", 50, 0.5).empty());  // back to normal, off-delay running
  CHECK(h.Tick(59.9).empty());
  auto ended = h.Tick(60);
  REQUIRE(ended.size() == 3);
  // Sensors in slot order: s1, then ch4; the window's own entry last.
  // Back to normal already: closed with the window.
  CHECK(ended[0].kind == EventKind::kCleared);
  CHECK(ended[0].record.source_id == "s1");
  CHECK(ended[0].record.state == AlarmState::kClosed);
  CHECK(IsPlanned(ended[0].record));
  // Still present: a normal alarm now, annunciated as raised.
  CHECK(ended[1].kind == EventKind::kRaised);
  CHECK(ended[1].record.source_id == "ch4");
  CHECK(ended[1].record.state == AlarmState::kActiveUnacked);
  CHECK(!IsPlanned(ended[1].record));
  CHECK(ended[2].kind == EventKind::kPlannedWorkClosed);
  CHECK(ended[2].actor.empty());
  CHECK(ended[2].comment == "expired");
  CHECK(h.engine.planned_work().empty());
  // After the window, conditions raise normal alarms.
  auto again = h.Feed("s1", 70, 1.3);
  REQUIRE(again.size() == 1);
  CHECK(again[0].record.state == AlarmState::kActiveUnacked);
  CHECK(h.Tick(120).empty());  // the off-delay of the closed alarm left nothing behind
}

TEST_CASE("Engine planned work: a window that starts later covers only from its start",
          "[alarm][engine][planned]") {
  Harness h({MethaneRule(), Methane("s1")});
  REQUIRE(OpenWork(h, "pw-later", {"ch4", "s1"}, 0, 10, 100).ok());
  CHECK(h.engine.planned_work()[0].start == 100'000);
  CHECK(h.Feed("ch4", 50, 1.2)[0].record.state == AlarmState::kActiveUnacked);
  CHECK(h.Feed("s1", 150, 1.2)[0].record.state == AlarmState::kPlanned);
  // Closed early by an operator: its event names who.
  h.events.clear();
  REQUIRE(h.engine.ClosePlannedWork("pw-later", 200'000, "center-2", "done early", &h.events).ok());
  REQUIRE(h.events.size() == 2);
  CHECK(h.events[0].kind == EventKind::kRaised);
  CHECK(h.events[0].record.source_id == "s1");
  CHECK(h.events[1].kind == EventKind::kPlannedWorkClosed);
  CHECK(h.events[1].actor == "center-2");
  // The alarm open before the window stayed a normal alarm all along.
  CHECK(h.engine.Active().size() == 2);
}

TEST_CASE("Engine calibration-flagged readings put the sensor under planned work",
          "[alarm][engine][planned]") {
  Rule rule = MethaneRule();
  rule.sensor_fault = true;
  Harness h({rule});
  // Test gas: flagged readings are evaluated as values, not as faults.
  auto raised = h.Feed("ch4", 1, 1.2, kQualityCalibration);
  REQUIRE(raised.size() == 1);
  CHECK(raised[0].record.alarm == AlarmKind::kThreshold);
  CHECK(raised[0].record.state == AlarmState::kPlanned);
  CHECK(raised[0].record.planned_work == kCalibrationWork);
  CHECK(h.Feed("ch4", 2, 1.6, kQualityCalibration)[0].record.state == AlarmState::kPlanned);
  // Any other bad quality is still a sensor fault.
  CHECK(h.Feed("ch4", 3, 1.6, 7)[0].record.alarm == AlarmKind::kSensorFault);

  SECTION("the flag ends with the gas gone: the planned alarm closes") {
    Harness g({rule});
    g.Feed("ch4", 1, 1.2, kQualityCalibration);
    auto ended = g.Feed("ch4", 2, 0.3);
    REQUIRE(ended.size() == 1);
    CHECK(ended[0].kind == EventKind::kCleared);
    CHECK(ended[0].record.state == AlarmState::kClosed);
    CHECK(g.engine.Active().empty());
    CHECK(g.Feed("ch4", 3, 1.2)[0].record.state == AlarmState::kActiveUnacked);
  }
  SECTION("the flag ends while the value is still high: a normal alarm") {
    Harness g({rule});
    g.Feed("ch4", 1, 1.2, kQualityCalibration);
    auto ended = g.Feed("ch4", 2, 1.2);
    REQUIRE(ended.size() == 1);
    CHECK(ended[0].kind == EventKind::kRaised);
    CHECK(ended[0].record.state == AlarmState::kActiveUnacked);
  }
  SECTION("a calibration longer than max_calibration is planned no longer") {
    Harness g({rule}, EngineOptions{.max_calibration = std::chrono::minutes(10)});
    g.Feed("ch4", 1, 1.2, kQualityCalibration);
    CHECK(g.Tick(600).empty());
    auto over = g.Tick(601);
    REQUIRE(over.size() == 1);
    CHECK(over[0].kind == EventKind::kRaised);
    CHECK(over[0].record.state == AlarmState::kActiveUnacked);
    // Still flagged, but no longer planned.
    CHECK(g.Feed("ch4", 602, 1.6, kQualityCalibration)[0].record.state ==
          AlarmState::kActiveUnacked);
  }
}

TEST_CASE("Engine planned work survives Snapshot and Restore", "[alarm][engine][planned]") {
  Harness h({MethaneRule(), Methane("s1")});
  REQUIRE(OpenWork(h, "pw-1", {"ch4"}, 0, 1).ok());
  h.Feed("ch4", 10, 1.2);
  h.Feed("s1", 10, 1.2, kQualityCalibration);
  const EngineSnapshot snap = h.engine.Snapshot();
  CHECK(snap.planned_work.size() == 1);
  REQUIRE(snap.calibrating.size() == 1);
  CHECK(snap.calibrating[0].sensor_id == "s1");

  Harness r({MethaneRule(), Methane("s1")});
  REQUIRE(r.engine.Restore(snap).ok());
  CHECK(r.engine.Snapshot() == snap);
  // Restored twice (another shard's snapshot holds the same window): once.
  REQUIRE(r.engine.Restore(snap).ok());
  CHECK(r.engine.planned_work().size() == 1);
  // It expires as the original would.
  auto ended = r.Tick(60);
  REQUIRE(ended.size() == 2);
  CHECK(ended[0].record.source_id == "ch4");
  CHECK(ended[0].record.state == AlarmState::kActiveUnacked);
  CHECK(ended[1].kind == EventKind::kPlannedWorkClosed);
  // Calibration carries on: the flag's end closes s1's planned alarm.
  auto closed = r.Feed("s1", 61, 0.2);
  REQUIRE(closed.size() == 1);
  CHECK(closed[0].record.state == AlarmState::kClosed);
}

}  // namespace
}  // namespace vigil::alarm
