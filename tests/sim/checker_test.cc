#include "bench/sim/checker.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "bench/sim/ground_truth.h"
#include "tests/sim/sim_testing.h"

namespace vigil::sim {
namespace {

using namespace std::chrono_literals;

TEST_CASE("Observed transitions are read from vigild log lines and from plain lines",
          "[sim][checker]") {
  const std::string log =
      "ts=2025-11-24T16:00:01.123Z level=info event=alarm transition=escalated alarm=threshold "
      "state=active_unacked sensor=s-1 rule=ch4 severity=1 level=HH value=1.6 "
      "reading_at=1764000000000 at=1764000000123\n"
      "ts=2025-11-24T16:00:02.000Z level=info event=stream_opened gateway=gw-1\n"
      "1764000000500 s-2 no_data raised none 3\n"
      "1764000000600 s-2 no_data acknowledged none 3\n";
  const std::vector<ObservedTransition> t = ParseObserved(log);
  REQUIRE(t.size() == 2);
  CHECK(t[0].at == 1764000000123);
  CHECK(t[0].source == "s-1");
  CHECK(t[0].kind == AlarmKind::kThreshold);
  CHECK(t[0].what == Transition::kEscalated);
  CHECK(t[0].level == Level::kHH);
  CHECK(t[0].severity == 1);
  CHECK(FormatObserved(t[1]) == "1764000000500 s-2 no_data raised none 3");
  CHECK(ParseObservedLine(FormatObserved(t[0]))->level == Level::kHH);
}

TEST_CASE("The ground truth reads back from its text form", "[sim][checker]") {
  const Province p = testing::SmallProvince();
  const Scenario sc(p, testing::EveryEventOptions());
  const GroundTruth truth = ComputeGroundTruth(sc, testing::kStart + 5000);
  GroundTruth back;
  std::string error;
  REQUIRE(ParseGroundTruth(FormatGroundTruth(truth), &back, &error));
  CHECK(FormatGroundTruth(back) == FormatGroundTruth(truth));
  CHECK(back.clock.wall_start == testing::kStart + 5000);
  CHECK(!ParseGroundTruth("# scenario seed=1\ns-1 threshold H 2 1 2\n", &back, &error));
  CHECK(error == "line 2: expected 10 fields, got 6");
}

// Two expected alarms on one sensor (H then escalated to HH), one elsewhere.
GroundTruth SmallTruth() {
  GroundTruth t;
  t.clock = SimClock{.sim_start = 0, .sim_end = 1'000'000, .wall_start = 0, .speed = 1};
  t.expectations = {
      {"s-1", AlarmKind::kThreshold, Level::kH, 2, 1000, 2000, 5000, 5000, true, "e1:gas_rise"},
      {"s-1", AlarmKind::kThreshold, Level::kHH, 1, 5000, 5000, 9000, 9500, true, "e1:gas_rise"},
      {"s-2", AlarmKind::kSensorFault, Level::kNone, 3, 20000, 20000, 30000, 30000, true,
       "e2:broken_instrument"},
  };
  return t;
}

std::vector<ObservedTransition> OnTime() {
  return {
      {1500, "s-1", AlarmKind::kThreshold, Transition::kRaised, Level::kH, 2},
      {5000, "s-1", AlarmKind::kThreshold, Transition::kEscalated, Level::kHH, 1},
      {9200, "s-1", AlarmKind::kThreshold, Transition::kCleared, Level::kHH, 1},
      {20000, "s-2", AlarmKind::kSensorFault, Transition::kRaised, Level::kNone, 3},
      {30000, "s-2", AlarmKind::kSensorFault, Transition::kCleared, Level::kNone, 3},
  };
}

TEST_CASE("The checker finds missed, extra, chattering, early and late alarms", "[sim][checker]") {
  const GroundTruth truth = SmallTruth();
  const CheckOptions options{.tolerance = 100ms, .match_limit = 60s};
  SECTION("all on time") {
    const CheckReport r = CheckAlarms(truth, OnTime(), options);
    CHECK(r.expected == 3);
    CHECK(r.matched == 3);
    CHECK(r.missed + r.extra + r.chattering + r.early + r.late == 0);
    CHECK(r.clear_missed + r.clear_early + r.clear_late == 0);
    CHECK(r.raise_latency_ms == std::vector<int64_t>{500, 0, 0});
    CHECK(FormatCheckReport(r).find("alarms_missed 0 alarms\n") != std::string::npos);
  }
  SECTION("missed and extra") {
    std::vector<ObservedTransition> observed = OnTime();
    observed.erase(observed.begin() + 3, observed.end());
    observed.push_back({40000, "s-3", AlarmKind::kNoData, Transition::kRaised, Level::kNone, 3});
    const CheckReport r = CheckAlarms(truth, observed, options);
    CHECK(r.missed == 1);
    CHECK(r.missed_by_kind.at(AlarmKind::kSensorFault) == 1);
    CHECK(r.extra == 1);
    CHECK(r.extra_by_kind.at(AlarmKind::kNoData) == 1);
  }
  SECTION("chattering: raised again while the expected alarm was on") {
    std::vector<ObservedTransition> observed = OnTime();
    observed.push_back(
        {22000, "s-2", AlarmKind::kSensorFault, Transition::kCleared, Level::kNone, 3});
    observed.push_back(
        {23000, "s-2", AlarmKind::kSensorFault, Transition::kRaised, Level::kNone, 3});
    const CheckReport r = CheckAlarms(truth, observed, options);
    CHECK(r.matched == 3);
    CHECK(r.chattering == 1);
    CHECK(r.clear_early == 1);
    CHECK(r.extra == 0);
  }
  SECTION("late raise, late clear") {
    std::vector<ObservedTransition> observed = OnTime();
    observed[3].at = 25000;
    observed[2].at = 12000;
    const CheckReport r = CheckAlarms(truth, observed, options);
    CHECK(r.matched == 3);
    CHECK(r.late == 1);
    CHECK(r.clear_late == 1);
    CHECK(r.raise_latency_ms.back() == 5000);
  }
  SECTION("early, and transitions outside the scenario are ignored") {
    std::vector<ObservedTransition> observed = OnTime();
    observed[0].at = 500;
    observed.push_back({-5000, "s-9", AlarmKind::kNoData, Transition::kRaised, Level::kNone, 3});
    const CheckReport r = CheckAlarms(truth, observed, options);
    CHECK(r.early == 1);
    CHECK(r.outside_window == 1);
    CHECK(r.extra == 0);
  }
  SECTION("compressed time: windows map to wall time through the clock") {
    GroundTruth fast = truth;
    fast.clock = SimClock{.sim_start = 0, .sim_end = 1'000'000, .wall_start = 100, .speed = 10};
    std::vector<ObservedTransition> observed = OnTime();
    for (ObservedTransition& t : observed) t.at = 100 + t.at / 10;
    const CheckReport r = CheckAlarms(fast, observed, options);
    CHECK(r.matched == 3);
    CHECK(r.early + r.late + r.clear_early + r.clear_late == 0);
  }
}

TEST_CASE("A run stopped early is checked over the time it lived", "[sim][checker]") {
  // Stopped at 7000: the HH level's clear window reaches past it, the fault starts after it.
  const GroundTruth cut = CutGroundTruth(SmallTruth(), 7000);
  CHECK(cut.clock.sim_end == 7000);
  REQUIRE(cut.expectations.size() == 2);
  CHECK(cut.expectations[0].required);
  CHECK(cut.expectations[0].clear_to == 5000);
  CHECK(!cut.expectations[1].required);
  CHECK(!cut.expectations[1].clear_from);
  // H raised and escalated, never cleared in the run: nothing missed, nothing extra.
  const std::vector<ObservedTransition> observed = {
      {1500, "s-1", AlarmKind::kThreshold, Transition::kRaised, Level::kH, 2},
      {5000, "s-1", AlarmKind::kThreshold, Transition::kEscalated, Level::kHH, 1},
  };
  const CheckReport r = CheckAlarms(cut, observed, CheckOptions{.tolerance = 0ms});
  CHECK(r.expected == 1);
  CHECK(r.optional == 1);
  CHECK(r.matched == 1);
  CHECK(r.missed == 0);
  CHECK(r.extra == 0);
  CHECK(r.clear_missed == 0);
}

TEST_CASE("A may expectation takes only what happens in its window", "[sim][checker]") {
  GroundTruth t = SmallTruth();
  t.expectations.push_back({"s-3", AlarmKind::kNoData, Level::kNone, 3, 0, 4000, 4000, 4000, false,
                            std::string(kBeforeFirstDelivery)});
  const std::vector<ObservedTransition> inside = {
      {3000, "s-3", AlarmKind::kNoData, Transition::kRaised, Level::kNone, 3},
      {4000, "s-3", AlarmKind::kNoData, Transition::kCleared, Level::kNone, 3},
  };
  CheckReport r = CheckAlarms(t, inside, CheckOptions{.tolerance = 0ms});
  CHECK(r.optional == 1);
  CHECK(r.extra == 0);
  const std::vector<ObservedTransition> later = {
      {60'000, "s-3", AlarmKind::kNoData, Transition::kRaised, Level::kNone, 3},
  };
  r = CheckAlarms(t, later, CheckOptions{.tolerance = 0ms});
  CHECK(r.extra == 1);
}

}  // namespace
}  // namespace vigil::sim
