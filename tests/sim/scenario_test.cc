#include "bench/sim/scenario.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "bench/sim/ground_truth.h"
#include "tests/sim/sim_testing.h"

namespace vigil::sim {
namespace {

using namespace std::chrono_literals;
using testing::kStart;

std::vector<Sample> AllReadings(const Scenario& sc, uint32_t sensor) {
  std::vector<Sample> out;
  sc.Readings(sensor, sc.start(), sc.end(), &out);
  return out;
}

std::string Label(const Event& ev) {
  return "e" + std::to_string(ev.id) + ":" + std::string(EventKindName(ev.kind));
}

std::vector<Expectation> Of(const GroundTruth& truth, const Event& ev) {
  std::vector<Expectation> out;
  for (const Expectation& e : truth.expectations) {
    if (e.event == Label(ev)) out.push_back(e);
  }
  return out;
}

const Expectation* Find(const std::vector<Expectation>& list, AlarmKind kind, Level level) {
  for (const Expectation& e : list) {
    if (e.kind == kind && e.level == level) return &e;
  }
  return nullptr;
}

TEST_CASE("The same seed gives identical readings and ground truth, another seed does not",
          "[sim][scenario]") {
  const Province a = testing::SmallProvince(7, 6);
  const Province b = testing::SmallProvince(7, 6);
  const Province c = testing::SmallProvince(8, 6);
  ScenarioOptions options = testing::EveryEventOptions();
  options.duration = 12h;
  const Scenario sa(a, options);
  const Scenario sb(b, options);
  const Scenario sc(c, options);
  CHECK(RegistryYaml(a) == RegistryYaml(b));
  CHECK(RulesYaml(a) == RulesYaml(b));
  CHECK(ReadingsDigest(sa) == ReadingsDigest(sb));
  CHECK(FormatGroundTruth(ComputeGroundTruth(sa, kStart)) ==
        FormatGroundTruth(ComputeGroundTruth(sb, kStart)));
  CHECK(RegistryYaml(a) != RegistryYaml(c));
  CHECK(ReadingsDigest(sa) != ReadingsDigest(sc));
  CHECK(FormatGroundTruth(ComputeGroundTruth(sa, kStart)) !=
        FormatGroundTruth(ComputeGroundTruth(sc, kStart)));
}

TEST_CASE("Normal readings come every interval, inside the normal band, and raise nothing",
          "[sim][scenario]") {
  const Province p = testing::SmallProvince(3, 6);
  ScenarioOptions options = testing::EveryEventOptions();
  options.duration = 48h;
  options.events_per_enterprise = 0;
  const Scenario sc(p, options);
  CHECK(sc.events().empty());
  for (uint32_t s = 0; s < p.sensors.size(); ++s) {
    const SensorSpec& spec = p.sensors[s];
    const std::vector<Sample> readings = AllReadings(sc, s);
    REQUIRE(readings.size() == static_cast<size_t>(48h / spec.interval));
    double lo = readings.front().value;
    double hi = lo;
    for (size_t i = 0; i < readings.size(); ++i) {
      if (i > 0) REQUIRE(readings[i].t - readings[i - 1].t == spec.interval.count());
      REQUIRE(readings[i].value >= spec.signal.normal_low - spec.resolution);
      REQUIRE(readings[i].value <= spec.signal.normal_high + spec.resolution);
      REQUIRE(std::fabs(readings[i].value / spec.resolution -
                        std::nearbyint(readings[i].value / spec.resolution)) < 1e-6);
      lo = std::min(lo, readings[i].value);
      hi = std::max(hi, readings[i].value);
    }
    INFO(spec.id);
    CHECK(hi > lo);  // the signal moves
  }
  // Nothing crosses a level, a rate or the range, and every gateway delivers on
  // time: nothing expected but what a server started earlier may raise before
  // each sensor's and gateway's first delivery.
  const GroundTruth truth = ComputeGroundTruth(sc, kStart);
  CHECK(truth.expectations.size() == p.sensors.size() + p.enterprises.size());
  for (const Expectation& e : truth.expectations) {
    INFO(e.source);
    CHECK(!e.required);
    CHECK(e.event == kBeforeFirstDelivery);
    CHECK(e.raise_from == sc.start());
    CHECK(*e.clear_from == e.raise_to);
    CHECK(e.raise_to - sc.start() <= sc.batch_period().count() + 10 * 60'000);
  }
}

TEST_CASE("Every event kind is injected and crosses the rule figures when the ground truth says",
          "[sim][scenario]") {
  const Province p = testing::SmallProvince(7, 6);
  const Scenario sc(p, testing::EveryEventOptions());
  const GroundTruth truth = ComputeGroundTruth(sc, kStart);
  std::set<EventKind> seen;
  for (const Expectation& e : truth.expectations) {
    INFO(e.source << " " << AlarmKindName(e.kind));
    CHECK(e.event != "-");  // every alarm comes from an injected event, or may come before
    if (e.event == kBeforeFirstDelivery) CHECK(!e.required);
    CHECK(e.raise_from <= e.raise_to);
    if (e.clear_from) CHECK(*e.clear_from <= *e.clear_to);
  }
  for (const Event& ev : sc.events()) {
    seen.insert(ev.kind);
    const std::vector<Expectation> expected = Of(truth, ev);
    INFO(Label(ev));
    REQUIRE(!expected.empty());
    for (const Expectation& e : expected) CHECK(e.required);
    if (!ev.sensor) {
      // Gateway outage: everything read meanwhile is delivered when it ends.
      const EnterpriseSpec& ent = p.enterprises[ev.enterprise];
      for (uint32_t s : ent.sensors) {
        for (const Sample& r : AllReadings(sc, s)) {
          if (r.t >= ev.start && r.t < ev.end - sc.batch_period().count()) {
            REQUIRE(sc.Arrival(ev.enterprise, r.t) == ev.end);
          }
        }
      }
      const Expectation* offline = Find(expected, AlarmKind::kGatewayOffline, Level::kNone);
      REQUIRE(offline != nullptr);
      CHECK(offline->source == ent.gateway_id);
      CHECK(*offline->clear_from == ev.end);
      // One gateway alarm, not one per sensor: the no-data of a sensor whose
      // last reading came with the gateway's last batch is suppressed; only a
      // sensor that had missed batches before, and whose timeout runs out
      // before the gateway's, raises it (alarm/engine.h).
      uint32_t no_data = 0;
      for (const Expectation& e : expected) {
        if (e.kind != AlarmKind::kNoData) continue;
        ++no_data;
        INFO(e.source);
        for (uint32_t s : ent.sensors) {
          if (p.sensors[s].id != e.source) continue;
          CHECK(p.sensors[s].interval > sc.batch_period());
          CHECK(sc.NoDataTimeout(s) < sc.GatewayOfflineAfter());
        }
        CHECK(e.raise_from < offline->raise_from);
        CHECK(*e.clear_from == ev.end);
      }
      CHECK(no_data < ent.sensors.size());
      continue;
    }
    const uint32_t sensor = *ev.sensor;
    const SensorSpec& spec = p.sensors[sensor];
    const RuleFigures& rule = p.RuleOf(spec);
    const std::vector<Sample> readings = AllReadings(sc, sensor);
    auto arrival = [&](const Sample& r) { return sc.Arrival(spec.enterprise, r.t); };
    // The first reading of the event at or beyond `value` (high side: >=).
    auto first_beyond = [&](double value, bool high, TimestampMs from) -> const Sample* {
      for (const Sample& r : readings) {
        if (r.t >= from && r.t < ev.end && (high ? r.value >= value : r.value <= value)) return &r;
      }
      return nullptr;
    };
    switch (ev.kind) {
      case EventKind::kGasRise: {
        // No on-delay: H when a reading reaches the alarm level, HH at the cut-off.
        const Expectation* h = Find(expected, AlarmKind::kThreshold, Level::kH);
        const Expectation* hh = Find(expected, AlarmKind::kThreshold, Level::kHH);
        REQUIRE(h != nullptr);
        REQUIRE(hh != nullptr);
        REQUIRE(rule.on_delay == 0ms);
        const Sample* at_h = first_beyond(rule.h->value, true, ev.start);
        const Sample* at_hh = first_beyond(rule.hh->value, true, ev.start);
        REQUIRE(at_h != nullptr);
        REQUIRE(at_hh != nullptr);
        CHECK(h->raise_from == arrival(*at_h));
        CHECK(hh->raise_from == arrival(*at_hh));
        CHECK(*h->clear_from == hh->raise_from);  // escalated out of H
        break;
      }
      case EventKind::kSlowDrift:
      case EventKind::kTankTemperatureRise: {
        // Raised only after every reading of the on-delay was beyond the level.
        const Expectation& e = expected.front();
        REQUIRE(e.kind == (ev.kind == EventKind::kSlowDrift ? AlarmKind::kThreshold
                                                            : AlarmKind::kRateOfChange));
        if (e.kind == AlarmKind::kRateOfChange) {
          // Some reading delivered by the raise changed by more than the limit in a window.
          bool over = false;
          for (const Sample& r : readings) {
            if (arrival(r) > e.raise_to) break;
            for (const Sample& old : readings) {
              const int64_t age = r.t - old.t;
              if (age >= rule.rate->window.count() &&
                  age <= rule.rate->window.count() * 5 / 4 + spec.interval.count()) {
                const double per_window = (r.value - old.value) / static_cast<double>(age) *
                                          static_cast<double>(rule.rate->window.count());
                over = over || std::fabs(per_window) > rule.rate->limit;
              }
            }
          }
          CHECK(over);
          CHECK(e.raise_from >= ev.start);
          CHECK(e.raise_to <= ev.start + ev.rise.count());
          break;
        }
        const bool high = e.level > Level::kNone;
        const double level = high ? rule.h->value : rule.l->value;
        const Sample* first = first_beyond(level, high, ev.start);
        REQUIRE(first != nullptr);
        CHECK(e.raise_from >= first->t + rule.on_delay.count());
        for (const Sample& r : readings) {
          if (r.t >= e.raise_from - rule.on_delay.count() && r.t <= e.raise_from) {
            CHECK((high ? r.value >= level : r.value <= level));
          }
        }
        REQUIRE(e.clear_from.has_value());
        CHECK(*e.clear_from <= ev.end + rule.off_delay.count() + sc.batch_period().count());
        break;
      }
      case EventKind::kChatter: {
        // One alarm, not one per crossing: the readings cross the level both ways
        // but stay inside the deadband until the event ends.
        REQUIRE(expected.size() == 1);
        const Expectation& e = expected.front();
        CHECK(e.kind == AlarmKind::kThreshold);
        CHECK(e.level == Level::kH);
        const double exit = rule.h->value - rule.deadband;
        int above = 0;
        int below = 0;
        for (const Sample& r : readings) {
          if (arrival(r) < e.raise_to || r.t >= ev.start + (ev.rise + ev.hold).count()) continue;
          CHECK(r.value >= exit);
          (r.value >= rule.h->value ? above : below)++;
        }
        CHECK(above > 0);
        CHECK(below > 0);
        break;
      }
      case EventKind::kBrokenInstrument: {
        REQUIRE(expected.size() == 1);
        const Expectation& e = expected.front();
        CHECK(e.kind == AlarmKind::kSensorFault);
        const Sample* first = first_beyond(spec.range_low, false, ev.start);
        REQUIRE(first != nullptr);
        CHECK(first->value < spec.range_low);
        CHECK(e.raise_from == arrival(*first));
        const auto repaired = std::find_if(readings.begin(), readings.end(),
                                           [&](const Sample& r) { return r.t >= ev.end; });
        REQUIRE(repaired != readings.end());
        CHECK(*e.clear_from == arrival(*repaired));
        break;
      }
      case EventKind::kFreeze: {
        REQUIRE(expected.size() == 1);
        const Expectation& e = expected.front();
        CHECK(e.kind == AlarmKind::kNoData);
        auto last = std::find_if(readings.rbegin(), readings.rend(),
                                 [&](const Sample& r) { return r.t < ev.start; });
        auto next = std::find_if(readings.begin(), readings.end(),
                                 [&](const Sample& r) { return r.t >= ev.start; });
        REQUIRE(last != readings.rend());
        REQUIRE(next != readings.end());
        CHECK(next->t >= ev.end);  // silent meanwhile
        CHECK(e.raise_from == arrival(*last) + sc.NoDataTimeout(sensor).count());
        CHECK(*e.clear_from == arrival(*next));
        break;
      }
      case EventKind::kGatewayOutage:
        break;
    }
  }
  CHECK(seen.size() == std::size(kAllEventKinds));
  CHECK(sc.skipped_events() <= 4);
}

TEST_CASE("In compressed time, batches cover more and the server's silence timers stretch",
          "[sim][scenario]") {
  const Province p = testing::SmallProvince(7, 3);
  ScenarioOptions options = testing::EveryEventOptions();
  options.speed = 60;
  options.event_kinds = {EventKind::kFreeze, EventKind::kGatewayOutage};
  options.events_per_enterprise = 2;
  const Scenario sc(p, options);
  CHECK(sc.batch_period() == 6s);
  const GroundTruth truth = ComputeGroundTruth(sc, kStart);
  CHECK(truth.clock.speed == 60);
  REQUIRE(!sc.events().empty());
  for (const Event& ev : sc.events()) {
    INFO(Label(ev));
    if (ev.kind != EventKind::kFreeze) continue;
    const SensorSpec& spec = p.sensors[*ev.sensor];
    CHECK(sc.NoDataTimeout(*ev.sensor) == 60 * 3 * spec.interval);
    CHECK(ev.end - ev.start >= 2 * sc.NoDataTimeout(*ev.sensor).count());
    const std::vector<Expectation> expected = Of(truth, ev);
    REQUIRE(expected.size() == 1);
    CHECK(expected.front().kind == AlarmKind::kNoData);
  }
  // Outages outlast twice the gateway rule's `after`, which stretches too.
  CHECK(sc.GatewayOfflineAfter() == 60 * 60s);
  for (const Event& ev : sc.events()) {
    INFO(Label(ev));
    if (ev.kind != EventKind::kGatewayOutage) continue;
    CHECK(ev.end - ev.start >= 2 * sc.GatewayOfflineAfter().count());
    const std::vector<Expectation> expected = Of(truth, ev);
    const Expectation* offline = Find(expected, AlarmKind::kGatewayOffline, Level::kNone);
    REQUIRE(offline != nullptr);
    for (const Expectation& e : expected) {
      if (e.kind == AlarmKind::kNoData) CHECK(e.raise_from < offline->raise_from);
    }
  }
}

TEST_CASE("Spread events cover the whole run, still one after another per enterprise",
          "[sim][scenario]") {
  const Province p = testing::SmallProvince(7, 6);
  ScenarioOptions options = testing::EveryEventOptions();
  options.events_per_enterprise = 3;
  const Scenario packed(p, options);
  options.spread_events = true;
  const Scenario spread(p, options);
  auto latest_start = [](const Scenario& sc) {
    TimestampMs latest = 0;
    for (const Event& ev : sc.events()) latest = std::max(latest, ev.start);
    return latest;
  };
  CHECK(latest_start(spread) > kStart + 2 * 3'600'000 * 24 / 3);
  CHECK(latest_start(spread) > latest_start(packed));
  std::vector<TimestampMs> last_end(p.enterprises.size(), 0);
  for (const Event& ev : spread.events()) {
    INFO(Label(ev));
    CHECK(ev.start > last_end[ev.enterprise]);
    last_end[ev.enterprise] = ev.end;
  }
  CHECK(spread.events().size() >= packed.events().size() - 2);
}

TEST_CASE("Event kinds read back from their names", "[sim][scenario]") {
  for (EventKind kind : kAllEventKinds) CHECK(EventKindFromName(EventKindName(kind)) == kind);
  CHECK(!EventKindFromName("earthquake").has_value());
}

}  // namespace
}  // namespace vigil::sim
