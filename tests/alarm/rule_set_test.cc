#include "alarm/rule_set.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <vector>

namespace vigil::alarm {
namespace {

using Catch::Matchers::Contains;
using namespace std::chrono_literals;

std::shared_ptr<const Registry> TestRegistry() {
  RegistryEntries entries;
  entries.enterprises = {
      Enterprise{
          .id = "mine", .name = "Mine", .kind = EnterpriseKind::kCoalMine, .region_code = "370105"},
      Enterprise{.id = "chem1",
                 .name = "Chem 1",
                 .kind = EnterpriseKind::kHazardousChemical,
                 .region_code = "370102"},
      Enterprise{.id = "chem2",
                 .name = "Chem 2",
                 .kind = EnterpriseKind::kHazardousChemical,
                 .region_code = "370201"},
      Enterprise{.id = "chem3",
                 .name = "Chem 3",
                 .kind = EnterpriseKind::kHazardousChemical,
                 .region_code = "110101"},
  };
  auto sensor = [](std::string id, std::string ent, std::string quantity) {
    return Sensor{.id = std::move(id),
                  .enterprise_id = std::move(ent),
                  .quantity = std::move(quantity),
                  .unit = "",
                  .range_low = 0,
                  .range_high = 0,
                  .expected_interval = 1000ms};
  };
  entries.sensors = {sensor("m1", "mine", "methane"),      sensor("m2", "mine", "methane"),
                     sensor("c1", "chem1", "temperature"), sensor("c2", "chem2", "temperature"),
                     sensor("c3", "chem3", "temperature"), sensor("c4", "chem1", "pressure")};
  auto built = Registry::Build(std::move(entries));
  REQUIRE(built.has_value());
  return *built;
}

Rule HighRule(std::string id, Selector selector, double h = 1.0) {
  return Rule{.id = std::move(id),
              .selector = std::move(selector),
              .h = ThresholdLevel{.value = h, .severity = Severity::kOrange}};
}

std::string BuildError(std::vector<Rule> rules) {
  auto built = RuleSet::Build(std::move(rules), TestRegistry());
  REQUIRE_FALSE(built.has_value());
  CHECK(built.error().code() == Status::Code::kInvalidArgument);
  return built.error().message();
}

TEST_CASE("RuleSet resolves the most specific rule per sensor", "[alarm][rule_set]") {
  std::vector<Rule> rules = {
      HighRule("by-sensor", Selector{.sensor_id = "m1"}),
      HighRule("mine-methane", Selector{.quantity = "methane", .enterprise_id = "mine"}),
      HighRule("coal-methane",
               Selector{.quantity = "methane", .enterprise_kind = EnterpriseKind::kCoalMine}),
      HighRule("province-37", Selector{.quantity = "temperature", .region_prefix = "37"}),
      HighRule("city-3701", Selector{.quantity = "temperature", .region_prefix = "3701"}),
      HighRule("chem-temp", Selector{.quantity = "temperature",
                                     .enterprise_kind = EnterpriseKind::kHazardousChemical}),
      HighRule("chem2-temp", Selector{.quantity = "temperature", .enterprise_id = "chem2"}),
  };
  auto built = RuleSet::Build(rules, TestRegistry());
  REQUIRE(built.has_value());
  const RuleSet& set = **built;
  auto rule_of = [&](std::string_view sensor) -> std::string {
    const Rule* rule = set.ForSensor(sensor);
    return rule == nullptr ? "none" : rule->id;
  };
  CHECK(rule_of("m1") == "by-sensor");     // sensor beats enterprise
  CHECK(rule_of("m2") == "mine-methane");  // enterprise beats kind
  CHECK(rule_of("c1") == "city-3701");     // longer prefix beats shorter
  CHECK(rule_of("c2") == "chem2-temp");    // enterprise beats region
  CHECK(rule_of("c3") == "chem-temp");     // kind when no region matches
  CHECK(rule_of("c4") == "none");          // no rule for the quantity
  CHECK(rule_of("unknown") == "none");

  SECTION("region beats enterprise kind") {
    rules.erase(rules.begin() + 6);
    auto again = RuleSet::Build(rules, TestRegistry());
    REQUIRE(again.has_value());
    CHECK((*again)->ForSensor("c2")->id == "province-37");
  }
}

TEST_CASE("RuleSet rejects ties, duplicates and unknown references", "[alarm][rule_set]") {
  CHECK_THAT(BuildError({HighRule("a", Selector{.sensor_id = "m1"}),
                         HighRule("b", Selector{.sensor_id = "m1"})}),
             Contains("rules 'a' and 'b' both select sensor 'm1'"));
  CHECK_THAT(BuildError({HighRule("a", Selector{.quantity = "t", .region_prefix = "37"}),
                         HighRule("b", Selector{.quantity = "t", .region_prefix = "37"})}),
             Contains("both select quantity 't' in region '37'"));
  CHECK_THAT(BuildError({HighRule("a", Selector{.quantity = "t", .enterprise_id = "mine"}),
                         HighRule("b", Selector{.quantity = "t", .enterprise_id = "mine"})}),
             Contains("both select"));
  CHECK_THAT(
      BuildError(
          {HighRule("a", Selector{.quantity = "t", .enterprise_kind = EnterpriseKind::kTailings}),
           HighRule("b", Selector{.quantity = "t", .enterprise_kind = EnterpriseKind::kTailings})}),
      Contains("enterprise kind 'tailings'"));
  CHECK_THAT(BuildError({HighRule("a", Selector{.sensor_id = "m1"}),
                         HighRule("a", Selector{.sensor_id = "m2"})}),
             Contains("rule 'a': duplicate rule id"));
  CHECK_THAT(BuildError({HighRule("a", Selector{.sensor_id = "nope"})}),
             Contains("rule 'a': selector.sensor_id 'nope' is not a registered sensor"));
  CHECK_THAT(BuildError({HighRule("a", Selector{.quantity = "t", .enterprise_id = "nope"})}),
             Contains("selector.enterprise_id 'nope' is not a registered enterprise"));
  // Different quantities are no tie.
  auto ok = RuleSet::Build({HighRule("a", Selector{.quantity = "t", .region_prefix = "37"}),
                            HighRule("b", Selector{.quantity = "p", .region_prefix = "37"})},
                           TestRegistry());
  CHECK(ok.has_value());
}

TEST_CASE("Rule validation names the rule, the field and the reason", "[alarm][rule_set]") {
  Rule rule = HighRule("ch4", Selector{.sensor_id = "m1"});
  auto error = [&]() {
    Status s = rule.Validate();
    REQUIRE_FALSE(s.ok());
    CHECK(s.code() == Status::Code::kInvalidArgument);
    return s.message();
  };
  REQUIRE(rule.Validate().ok());

  SECTION("h above hh") {
    rule.h = ThresholdLevel{.value = 1.6, .severity = Severity::kOrange};
    rule.hh = ThresholdLevel{.value = 1.5, .severity = Severity::kRed};
    CHECK(error() == "rule 'ch4': h.value 1.6 must be below hh.value 1.5");
  }
  SECTION("l above h") {
    rule.l = ThresholdLevel{.value = 2, .severity = Severity::kBlue};
    CHECK_THAT(error(), Contains("l.value 2 must be below h.value 1"));
  }
  SECTION("negative deadband") {
    rule.deadband = -0.1;
    CHECK(error() == "rule 'ch4': deadband must be >= 0");
  }
  SECTION("severity out of 1..4") {
    rule.h->severity = static_cast<Severity>(5);
    CHECK(error() == "rule 'ch4': h.severity must be 1..4 (1 red .. 4 blue)");
    rule.h->severity = static_cast<Severity>(0);
    CHECK_THAT(error(), Contains("h.severity"));
  }
  SECTION("empty selector") {
    rule.selector = Selector{};
    CHECK(error() == "rule 'ch4': selector is empty");
  }
  SECTION("selector quantity without scope, or with two scopes") {
    rule.selector = Selector{.quantity = "methane"};
    CHECK_THAT(error(), Contains("exactly one of enterprise_id, region_prefix"));
    rule.selector = Selector{.quantity = "methane", .enterprise_id = "e", .region_prefix = "37"};
    CHECK_THAT(error(), Contains("exactly one of"));
    rule.selector = Selector{.enterprise_id = "e"};
    CHECK_THAT(error(), Contains("selector.quantity is required"));
    rule.selector = Selector{.sensor_id = "m1", .quantity = "methane"};
    CHECK_THAT(error(), Contains("selector.sensor_id excludes"));
  }
  SECTION("ids over 128 bytes, quoted cut short") {
    const std::string huge(1 << 20, 'x');
    rule.selector = Selector{.sensor_id = huge};
    CHECK(error() == "rule 'ch4': selector.sensor_id '" + Echo(huge) +
                         "' is not a valid id: 1..128 printable ASCII bytes without spaces");
    rule.selector = Selector{.quantity = "methane", .enterprise_id = huge};
    CHECK_THAT(error(), Contains("selector.enterprise_id '" + Echo(huge) + "' is not a valid id"));
    rule.selector = Selector{.sensor_id = "m1"};
    rule.id = huge;
    CHECK(error() ==
          "rule '" + Echo(huge) + "': id must be 1..128 printable ASCII bytes without spaces");
  }
  SECTION("region prefix not digits") {
    rule.selector = Selector{.quantity = "methane", .region_prefix = "37a"};
    CHECK_THAT(error(), Contains("selector.region_prefix '37a' must be 1..6 digits"));
  }
  SECTION("restore above the alarm level") {
    rule.restore_high = 1.2;
    CHECK_THAT(error(), Contains("restore_high 1.2 must be at most the lowest high level 1"));
  }
  SECTION("restore_low without a low level") {
    rule.restore_low = 0.5;
    CHECK_THAT(error(), Contains("restore_low needs l or ll"));
  }
  SECTION("negative delays, bad rate") {
    rule.on_delay = -1ms;
    CHECK_THAT(error(), Contains("on_delay must be >= 0"));
    rule.on_delay = 0ms;
    rule.off_delay = -1ms;
    CHECK_THAT(error(), Contains("off_delay must be >= 0"));
    rule.off_delay = 0ms;
    rule.rate = RateOfChange{.limit = 0, .window = 60s, .severity = Severity::kYellow};
    CHECK_THAT(error(), Contains("rate.limit must be > 0"));
    rule.rate->limit = 5;
    rule.rate->window = 0ms;
    CHECK_THAT(error(), Contains("rate.window must be > 0"));
    rule.rate->window = kMaxRateWindow + 1ms;
    CHECK_THAT(error(), Contains("rate.window must be at most 31d"));
    rule.rate->window = kMaxRateWindow;
    CHECK(rule.Validate().ok());
    rule.rate->direction = static_cast<RateDirection>(3);
    CHECK_THAT(error(), Contains("rate.direction must be either, rising or falling"));
  }
  SECTION("bad id") {
    rule.id = "has space";
    CHECK_THAT(error(), Contains("id must be"));
  }
}

}  // namespace
}  // namespace vigil::alarm
