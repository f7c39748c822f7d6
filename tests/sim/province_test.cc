#include "bench/sim/province.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <set>
#include <string>

#include "tests/sim/sim_testing.h"

namespace vigil::sim {
namespace {

using namespace std::chrono_literals;

TEST_CASE("Generated registry and rules load in vigild's parsers and give each sensor its rule",
          "[sim][province]") {
  const Province p = testing::SmallProvince(7, 30);
  const auto set = testing::ServerRules(p);
  CHECK(set->registry().entries().enterprises.size() == 30);
  CHECK(set->registry().entries().gateways.size() == 30);
  CHECK(set->registry().entries().sensors.size() == p.sensors.size());
  for (const SensorSpec& s : p.sensors) {
    const alarm::Rule* rule = set->ForSensor(s.id);
    REQUIRE(rule != nullptr);
    CHECK(rule->id == p.RuleOf(s).id);
    CHECK(rule->no_data_intervals == 3);
    CHECK(rule->sensor_fault);
  }
}

TEST_CASE("Each kind of site has its sensors, polled as such sites are", "[sim][province]") {
  const Province p = testing::SmallProvince(11, 12);
  std::set<SensorRole> roles[3];
  for (const SensorSpec& s : p.sensors) {
    const SiteKind kind = p.enterprises[s.enterprise].kind;
    roles[static_cast<int>(kind)].insert(s.role);
    CHECK(s.range_low < s.range_high);
    CHECK(s.signal.normal_low >= s.range_low);
    CHECK(s.signal.normal_high <= s.range_high);
    CHECK(s.phase_ms >= 0);
    CHECK(s.phase_ms < s.interval.count());
    switch (kind) {
      case SiteKind::kCoalMine:
        CHECK(s.interval <= 30s);
        break;
      case SiteKind::kHazardousChemical:
        CHECK(s.interval >= 1s);
        CHECK(s.interval <= 10s);
        break;
      case SiteKind::kTailings:
        CHECK(s.interval >= 1min);
        CHECK(s.interval <= 10min);
        break;
    }
  }
  CHECK(roles[static_cast<int>(SiteKind::kCoalMine)] ==
        std::set<SensorRole>{SensorRole::kMethaneFace, SensorRole::kMethaneReturn,
                             SensorRole::kMethaneIntake, SensorRole::kCarbonMonoxide,
                             SensorRole::kWindSpeed, SensorRole::kFaceTemperature});
  CHECK(roles[static_cast<int>(SiteKind::kHazardousChemical)] ==
        std::set<SensorRole>{SensorRole::kTankLevel, SensorRole::kTankTemperature,
                             SensorRole::kTankPressure, SensorRole::kCombustibleGas,
                             SensorRole::kToxicGas});
  CHECK(roles[static_cast<int>(SiteKind::kTailings)] ==
        std::set<SensorRole>{SensorRole::kPhreaticDepth, SensorRole::kDamDisplacement,
                             SensorRole::kRainfall, SensorRole::kPondLevel});
  for (const EnterpriseSpec& e : p.enterprises) {
    CHECK(e.region_code.size() == 6);
    CHECK(e.region_code.substr(0, 2) == "37");
  }
}

TEST_CASE("Rules carry the regulatory figures", "[sim][province]") {
  const Province p = testing::SmallProvince();
  auto rule = [&](const std::string& id) -> const RuleFigures& {
    for (const RuleFigures& r : p.rules) {
      if (r.id == id) return r;
    }
    FAIL("no rule " << id);
    return p.rules.front();
  };
  const RuleFigures& ch4 = rule("ch4-coal-face");  // AQ 1029
  CHECK(ch4.h->value == 1.0);
  CHECK(ch4.hh->value == 1.5);
  CHECK(ch4.hh->severity == 1);
  CHECK(*ch4.restore_high == 1.0);
  CHECK(ch4.hh->value - ch4.deadband == 1.0);
  const RuleFigures& gas = rule("combustible-gas-37");  // GB/T 50493
  CHECK(gas.h->value == 25);
  CHECK(gas.hh->value == 50);
  CHECK(gas.region_prefix == "37");
  const RuleFigures& tank = rule("tank-temperature-hazchem");
  REQUIRE(tank.rate.has_value());
  CHECK(tank.rate->limit == 5);
  CHECK(tank.rate->window == 1min);
}

TEST_CASE("Durations and numbers are written the way the config parser reads them",
          "[sim][province]") {
  CHECK(FormatDuration(0ms) == "0s");
  CHECK(FormatDuration(250ms) == "250ms");
  CHECK(FormatDuration(10s) == "10s");
  CHECK(FormatDuration(5min) == "5m");
  CHECK(FormatDuration(2h) == "2h");
  CHECK(FormatDuration(24h) == "1d");
  CHECK(FormatNumber(0.1) == "0.1");
  CHECK(FormatNumber(12.75) == "12.75");
  CHECK(FormatNumber(-100) == "-100");
}

}  // namespace
}  // namespace vigil::sim
