#include "server/config/rules_yaml.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "alarm/rule_set.h"
#include "server/config/registry_yaml.h"
#include "tests/testing/temp_dir.h"

namespace vigil::server {
namespace {

using namespace std::chrono_literals;
using alarm::EnterpriseKind;
using alarm::Severity;
using alarm::ThresholdLevel;
using Catch::Matchers::StartsWith;

// "" on success, else the error message: REQUIRE(ErrorOf(r) == "") prints it.
template <class T>
std::string ErrorOf(const alarm::Result<T>& result) {
  return result ? std::string() : result.error().message();
}

// The message of a rules file that must fail.
std::string ParseError(const std::string& yaml) {
  alarm::Result<std::vector<alarm::Rule>> result = ParseRulesYaml(yaml, "rules.yaml");
  REQUIRE_FALSE(result.has_value());
  CHECK(result.error().code() == alarm::Status::Code::kInvalidArgument);
  return result.error().message();
}

// A file with one rule "r1": line 2 is "  - id: r1", `body` starts on line 3
// and is indented by 4 spaces.
std::string OneRule(const std::string& body) { return "rules:\n  - id: r1\n" + body; }

TEST_CASE("Rules YAML parses every field", "[server][rules]") {
  const std::string text = R"(# comment
rules:
  - id: ch4-face
    select: { quantity: methane, enterprise_kind: coal_mine }
    levels:
      hh: { value: 1.5, severity: 1 }
      h: { value: 1.0, severity: orange }
      l: { value: 0.2, severity: 3 }
      ll: { value: 0.1, severity: blue }
    deadband: 0.05
    restore_high: 1.0
    restore_low: 0.25
    on_delay: 250ms
    off_delay: 10s
    rate_of_change: { limit: 5, window: 1m, severity: 2 }
    no_data: { intervals: 3, severity: 4 }
    sensor_fault: { severity: 1 }
  - select: { sensor: s-1 }
    id: ch4-s1
    sensor_fault: off
    no_data: off
  - id: ch4-e1
    select: { quantity: methane, enterprise: e-1 }
    no_data: { intervals: 2 }
    sensor_fault: {}
  - id: ch4-region
    select: { quantity: methane, region: 3701 }
)";
  alarm::Result<std::vector<alarm::Rule>> rules = ParseRulesYaml(text, "rules.yaml");
  REQUIRE(ErrorOf(rules) == "");
  REQUIRE(rules->size() == 4);

  const alarm::Rule full{
      .id = "ch4-face",
      .selector = {.quantity = "methane", .enterprise_kind = EnterpriseKind::kCoalMine},
      .hh = ThresholdLevel{.value = 1.5, .severity = Severity::kRed},
      .h = ThresholdLevel{.value = 1.0, .severity = Severity::kOrange},
      .l = ThresholdLevel{.value = 0.2, .severity = Severity::kYellow},
      .ll = ThresholdLevel{.value = 0.1, .severity = Severity::kBlue},
      .deadband = 0.05,
      .restore_high = 1.0,
      .restore_low = 0.25,
      .on_delay = 250ms,
      .off_delay = 10s,
      .rate = alarm::RateOfChange{.limit = 5, .window = 60s, .severity = Severity::kOrange},
      .no_data_intervals = 3,
      .no_data_severity = Severity::kBlue,
      .sensor_fault = true,
      .sensor_fault_severity = Severity::kRed,
  };
  CHECK((*rules)[0] == full);

  // Defaults of alarm::Rule for everything left out.
  const alarm::Rule sensor{
      .id = "ch4-s1",
      .selector = {.sensor_id = "s-1"},
      .no_data_intervals = 0,
      .sensor_fault = false,
  };
  CHECK((*rules)[1] == sensor);

  const alarm::Rule enterprise{
      .id = "ch4-e1",
      .selector = {.quantity = "methane", .enterprise_id = "e-1"},
      .no_data_intervals = 2,
      .no_data_severity = Severity::kYellow,
      .sensor_fault = true,
      .sensor_fault_severity = Severity::kYellow,
  };
  CHECK((*rules)[2] == enterprise);

  const alarm::Rule region{
      .id = "ch4-region",
      .selector = {.quantity = "methane", .region_prefix = "3701"},
  };
  CHECK((*rules)[3] == region);
}

TEST_CASE("Rules YAML: strict levels (above, below) and stuck_value", "[server][rules]") {
  auto rules = ParseRulesYaml(OneRule("    select: { sensor: s-1 }\n"
                                      "    levels:\n"
                                      "      hh: { value: 50, severity: 1 }\n"
                                      "      h: { above: 24, severity: 2 }\n"
                                      "      l: { below: 0.25, severity: 2 }\n"
                                      "      ll: { value: 0.1, severity: 1 }\n"
                                      "    stuck_value: { after: 12h }\n"),
                              "rules.yaml");
  REQUIRE(ErrorOf(rules) == "");
  const alarm::Rule& r = (*rules)[0];
  CHECK(r.hh == ThresholdLevel{.value = 50, .severity = Severity::kRed, .strict = false});
  CHECK(r.h == ThresholdLevel{.value = 24, .severity = Severity::kOrange, .strict = true});
  CHECK(r.l == ThresholdLevel{.value = 0.25, .severity = Severity::kOrange, .strict = true});
  CHECK_FALSE(r.ll->strict);
  CHECK(r.stuck_after == 12h);
  CHECK(r.stuck_severity == Severity::kYellow);
  // Formatting keeps both and parses back.
  auto again = ParseRulesDocument(
      FormatRulesYaml(RulesDocument{.rules = *rules, .gateway_offline = {}}), "formatted");
  REQUIRE(ErrorOf(again) == "");
  CHECK(again->rules == *rules);
  CHECK((*ParseRulesYaml(OneRule("    select: { sensor: s-1 }\n    stuck_value: off\n"), "x"))[0]
            .stuck_after == 0ms);

  CHECK(ParseError(OneRule("    select: { sensor: s-1 }\n"
                           "    levels: { h: { value: 1, above: 1, severity: 2 } }\n")) ==
        "rules.yaml:4:18: rules[0] (r1).levels.h: give exactly one of value (alarm when reading "
        ">= it) and above (when reading > it)");
  CHECK(ParseError(OneRule("    select: { sensor: s-1 }\n"
                           "    levels: { l: { severity: 2 } }\n")) ==
        "rules.yaml:4:18: rules[0] (r1).levels.l: give exactly one of value (alarm when reading "
        "<= it) and below (when reading < it)");
  CHECK(ParseError(OneRule("    select: { sensor: s-1 }\n"
                           "    levels: { l: { above: 1, severity: 2 } }\n")) ==
        "rules.yaml:4:20: rules[0] (r1).levels.l.above: unknown key (known: value, below, "
        "severity)");
  CHECK(ParseError(OneRule("    select: { sensor: s-1 }\n    stuck_value: { after: 32d }\n")) ==
        "rules.yaml:4:27: rules[0] (r1).stuck_value.after: must be at most 31d, got '32d'");
  CHECK(ParseError(OneRule("    select: { sensor: s-1 }\n    stuck_value: { severity: 2 }\n")) ==
        "rules.yaml:4:18: rules[0] (r1).stuck_value.after: required key missing");
  CHECK(ParseError(OneRule("    select: { sensor: s-1 }\n    stuck_value: 6h\n")) ==
        "rules.yaml:4:18: rules[0] (r1).stuck_value: expected { after: D, severity: S } or off, "
        "got '6h'");
}

TEST_CASE("Rules YAML: an empty file or an empty list has no rules", "[server][rules]") {
  for (const char* text : {"", "# only a comment\n", "rules:\n", "rules: []\n"}) {
    alarm::Result<std::vector<alarm::Rule>> rules = ParseRulesYaml(text, "rules.yaml");
    REQUIRE(ErrorOf(rules) == "");
    CHECK(rules->empty());
  }
}

TEST_CASE("Rules YAML: syntax errors name the position", "[server][rules]") {
  CHECK_THAT(ParseError(OneRule("    select: { quantity: methane\n")),
             StartsWith("rules.yaml:4:1: invalid YAML: "));
  CHECK_THAT(ParseError("rules:\n  - id: r1\n   select: { sensor: s-1 }\n"),
             StartsWith("rules.yaml:3:"));
}

TEST_CASE("Rules YAML: unknown keys are errors", "[server][rules]") {
  CHECK_THAT(
      ParseError("rule:\n  - id: r1\n"),
      StartsWith("rules.yaml:1:1: rule: unknown key (known: rules, gateway_offline, rollups)"));
  CHECK_THAT(ParseError(OneRule("    select: { sensor: s-1 }\n    levles: {}\n")),
             StartsWith("rules.yaml:4:5: rules[0] (r1).levles: unknown key (known: id, select, "
                        "levels, deadband,"));
  CHECK(ParseError(OneRule("    select: { sensor: s-1 }\n"
                           "    levels:\n"
                           "      hh: { value: 1, severity: 1, colour: red }\n")) ==
        "rules.yaml:5:36: rules[0] (r1).levels.hh.colour: unknown key (known: value, above, "
        "severity)");
  CHECK(ParseError(OneRule("    select: { sensor: s-1, site: x }\n")) ==
        "rules.yaml:3:28: rules[0] (r1).select.site: unknown key (known: sensor, quantity, "
        "enterprise, region, enterprise_kind)");
  CHECK(ParseError(OneRule("    select: { sensor: s-1 }\n    levels: { hhh: {} }\n")) ==
        "rules.yaml:4:15: rules[0] (r1).levels.hhh: unknown key (known: hh, h, l, ll)");
  CHECK(ParseError(OneRule("    select: { sensor: s-1 }\n    deadband: 1\n    deadband: 2\n")) ==
        "rules.yaml:5:5: rules[0] (r1).deadband: key given twice");
}

TEST_CASE("Rules YAML: wrong types name the field", "[server][rules]") {
  CHECK(ParseError("- id: r1\n") == "rules.yaml:1:1: expected a mapping with a 'rules' list");
  CHECK(ParseError("rules: { id: r1 }\n") ==
        "rules.yaml:1:8: rules: expected a list of rules, got a mapping");
  CHECK(ParseError("rules:\n  - r1\n") == "rules.yaml:2:5: rules[0]: expected a mapping, got 'r1'");
  CHECK(ParseError(OneRule("    select: { sensor: s-1 }\n    levels: [1, 2]\n")) ==
        "rules.yaml:4:13: rules[0] (r1).levels: expected a mapping, got a list");
  CHECK(ParseError(OneRule("    select: { sensor: s-1 }\n"
                           "    levels: { h: { value: high, severity: 2 } }\n")) ==
        "rules.yaml:4:27: rules[0] (r1).levels.h.value: expected a number, got 'high'");
  CHECK(ParseError(OneRule("    select: { sensor: s-1 }\n    deadband: [1]\n")) ==
        "rules.yaml:4:15: rules[0] (r1).deadband: expected a number, got a list");
  CHECK(ParseError(OneRule("    select: { sensor: s-1 }\n    restore_high: inf\n")) ==
        "rules.yaml:4:19: rules[0] (r1).restore_high: must be a finite number, got 'inf'");
  CHECK(ParseError(OneRule("    select: { sensor: s-1 }\n    no_data: 3\n")) ==
        "rules.yaml:4:14: rules[0] (r1).no_data: expected { intervals: N, severity: S } or off, "
        "got '3'");
  CHECK(ParseError(OneRule("    select: { sensor: s-1 }\n    no_data: { intervals: -1 }\n")) ==
        "rules.yaml:4:27: rules[0] (r1).no_data.intervals: must be an integer 0 (off) .. "
        "1000000, got '-1'");
  CHECK(ParseError(OneRule("    select: { sensor: s-1 }\n    sensor_fault: maybe\n")) ==
        "rules.yaml:4:19: rules[0] (r1).sensor_fault: expected { severity: S }, on or off, got "
        "'maybe'");
  CHECK(ParseError(OneRule("    select: { sensor: s-1 }\n    deadband: -0.1\n")) ==
        "rules.yaml:4:15: rules[0] (r1).deadband: must be >= 0, got '-0.1'");
  CHECK(ParseError("rules:\n  - id: two words\n    select: { sensor: s-1 }\n") ==
        "rules.yaml:2:9: rules[0].id: 'two words' is not a valid id: 1..128 printable ASCII "
        "bytes without spaces");
  CHECK(ParseError(OneRule("    select: { sensor: s-1 }\n    levels: { h: { value: 1 } }\n")) ==
        "rules.yaml:4:18: rules[0] (r1).levels.h.severity: required key missing");
}

TEST_CASE("Rules YAML: a number has one sign at most", "[server][rules]") {
  CHECK(ParseError(OneRule("    select: { sensor: s-1 }\n"
                           "    levels: { l: { value: +-1.5, severity: 2 } }\n")) ==
        "rules.yaml:4:27: rules[0] (r1).levels.l.value: expected a number, got '+-1.5'");
  CHECK(ParseError(OneRule("    select: { sensor: s-1 }\n    no_data: { intervals: +-0 }\n")) ==
        "rules.yaml:4:27: rules[0] (r1).no_data.intervals: must be an integer 0 (off) .. "
        "1000000, got '+-0'");
  alarm::Result<std::vector<alarm::Rule>> plus =
      ParseRulesYaml(OneRule("    select: { sensor: s-1 }\n"
                             "    levels: { h: { value: +2.5, severity: +1 } }\n"),
                     "rules.yaml");
  REQUIRE(ErrorOf(plus) == "");
  CHECK(plus->at(0).h == ThresholdLevel{.value = 2.5, .severity = Severity::kRed});
}

TEST_CASE("Rules YAML: bad severities name rule, field and value", "[server][rules]") {
  const std::string text = R"(rules:
  - id: a
    select: { sensor: s-1 }
  - id: b
    select: { sensor: s-2 }
  - id: ch4-face
    select: { quantity: methane, enterprise_kind: coal_mine }
    levels:
      hh:
        value: 1.5
        severity: 5
)";
  CHECK(ParseError(text) ==
        "rules.yaml:11:19: rules[2] (ch4-face).levels.hh.severity: must be 1 (red) .. 4 (blue), "
        "got 5");
  CHECK(ParseError(OneRule("    select: { sensor: s-1 }\n"
                           "    levels: { h: { value: 1, severity: 0 } }\n")) ==
        "rules.yaml:4:40: rules[0] (r1).levels.h.severity: must be 1 (red) .. 4 (blue), got 0");
  CHECK(ParseError(OneRule("    select: { sensor: s-1 }\n"
                           "    rate_of_change: { limit: 5, window: 1m, severity: purple }\n")) ==
        "rules.yaml:4:55: rules[0] (r1).rate_of_change.severity: must be 1 (red) .. 4 (blue), got "
        "purple");
  CHECK(ParseError(OneRule("    select: { sensor: s-1 }\n"
                           "    no_data: { intervals: 3, severity: 2.5 }\n")) ==
        "rules.yaml:4:40: rules[0] (r1).no_data.severity: must be 1 (red) .. 4 (blue), got 2.5");
  CHECK(ParseError(OneRule("    select: { sensor: s-1 }\n    sensor_fault: { severity: [1] }\n")) ==
        "rules.yaml:4:31: rules[0] (r1).sensor_fault.severity: must be 1 (red) .. 4 (blue), got "
        "a list");
}

TEST_CASE("Rules YAML: bad durations name the field", "[server][rules]") {
  CHECK(ParseError(OneRule("    select: { sensor: s-1 }\n    on_delay: 10 s\n")) ==
        "rules.yaml:4:15: rules[0] (r1).on_delay: expected a duration like 250ms, 10s, 5m, 2h or "
        "90d, got '10 s'");
  CHECK(ParseError(OneRule("    select: { sensor: s-1 }\n    off_delay: -5s\n")) ==
        "rules.yaml:4:16: rules[0] (r1).off_delay: expected a duration like 250ms, 10s, 5m, 2h or "
        "90d, got '-5s'");
  CHECK(ParseError(OneRule("    select: { sensor: s-1 }\n"
                           "    rate_of_change: { limit: 5, window: 0s, severity: 2 }\n")) ==
        "rules.yaml:4:41: rules[0] (r1).rate_of_change.window: must be positive, got '0s'");
  CHECK(ParseError(OneRule("    select: { sensor: s-1 }\n    on_delay: 36501d\n")) ==
        "rules.yaml:4:15: rules[0] (r1).on_delay: must be at most 36500d, got '36501d'");
}

TEST_CASE("Rules YAML: the selector must name exactly one kind", "[server][rules]") {
  CHECK(ParseError("rules:\n  - id: r1\n    deadband: 1\n") ==
        "rules.yaml:2:5: rules[0] (r1).select: required key missing");
  CHECK(ParseError("rules:\n  - select: { sensor: s-1 }\n") ==
        "rules.yaml:2:5: rules[0].id: required key missing");
  CHECK(ParseError(OneRule("    select: {}\n")) ==
        "rules.yaml:3:13: rules[0] (r1).select: select needs sensor, or quantity with one of "
        "enterprise, region, enterprise_kind");
  CHECK(
      ParseError(OneRule("    select: { quantity: methane, enterprise: e-1, region: \"37\" }\n")) ==
      "rules.yaml:3:13: rules[0] (r1).select: give only one of enterprise, region, "
      "enterprise_kind, got enterprise and region");
  CHECK(ParseError(OneRule("    select: { sensor: s-1, quantity: methane }\n")) ==
        "rules.yaml:3:13: rules[0] (r1).select: sensor selects one sensor and excludes quantity, "
        "enterprise, region and enterprise_kind");
  CHECK(ParseError(OneRule("    select: { quantity: methane }\n")) ==
        "rules.yaml:3:13: rules[0] (r1).select: quantity needs one of enterprise, region, "
        "enterprise_kind");
  CHECK(ParseError(OneRule("    select: { enterprise_kind: coal_mine }\n")) ==
        "rules.yaml:3:13: rules[0] (r1).select: quantity is required with enterprise_kind");
  CHECK(ParseError(OneRule("    select: { quantity: methane, enterprise_kind: mine }\n")) ==
        "rules.yaml:3:51: rules[0] (r1).select.enterprise_kind: must be one of hazardous_chemical, "
        "coal_mine, tailings, other, got 'mine'");
  CHECK(ParseError(OneRule("    select: { quantity: methane, region: 3701001 }\n")) ==
        "rules.yaml:3:42: rules[0] (r1).select.region: must be a prefix of 1..6 digits of a GB/T "
        "2260 code such as \"3701\", got '3701001'");
  CHECK(ParseError(OneRule("    select: sensor\n")) ==
        "rules.yaml:3:13: rules[0] (r1).select: expected a mapping, got 'sensor'");
}

TEST_CASE("Rules YAML: Rule::Validate failures carry source and the rule's position",
          "[server][rules]") {
  CHECK(ParseError(OneRule("    select: { sensor: s-1 }\n"
                           "    levels:\n"
                           "      hh: { value: 1.5, severity: 1 }\n"
                           "      h: { value: 1.6, severity: 2 }\n")) ==
        "rules.yaml:2:5: rules[0] (r1): rule 'r1': h.value 1.6 must be below hh.value 1.5");
  CHECK(ParseError(OneRule("    select: { sensor: s-1 }\n    restore_high: 1.0\n")) ==
        "rules.yaml:2:5: rules[0] (r1): rule 'r1': restore_high needs h or hh");
  CHECK(ParseError(OneRule("    select: { sensor: s-1 }\n"
                           "    rate_of_change: { limit: 0, window: 1m, severity: 2 }\n")) ==
        "rules.yaml:4:30: rules[0] (r1).rate_of_change.limit: must be > 0, got '0'");
  CHECK(ParseError(OneRule("    select: { sensor: s-1 }\n"
                           "    rate_of_change: { limit: 5, window: 1m, severity: 2, "
                           "direction: up }\n")) ==
        "rules.yaml:4:69: rules[0] (r1).rate_of_change.direction: must be either, rising or "
        "falling, got 'up'");
}

TEST_CASE("Rules YAML: duplicate rule ids", "[server][rules]") {
  CHECK(ParseError("rules:\n"
                   "  - id: r1\n"
                   "    select: { sensor: s-1 }\n"
                   "  - id: r1\n"
                   "    select: { sensor: s-2 }\n") ==
        "rules.yaml:4:9: rules[1] (r1).id: duplicate rule id 'r1', first at line 2");
}

TEST_CASE("Rules file: read errors name the path", "[server][rules]") {
  testing::TempDir dir;
  alarm::Result<RulesDocument> missing = LoadRulesFile(dir / "absent.yaml");
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().code() == alarm::Status::Code::kIOError);
  CHECK_THAT(missing.error().message(),
             StartsWith((dir / "absent.yaml").string() + ": cannot open"));

  {
    std::ofstream out(dir / "rules.yaml");
    out << "rules:\n  - id: r1\n    select: { sensor: s-1 }\n    levels: { h: 1 }\n";
  }
  alarm::Result<RulesDocument> bad = LoadRulesFile(dir / "rules.yaml");
  CHECK(ErrorOf(bad) == (dir / "rules.yaml").string() +
                            ":4:18: rules[0] (r1).levels.h: expected a mapping, got '1'");
}

TEST_CASE("Shipped deploy/rules.yaml builds a RuleSet against deploy/registry.yaml",
          "[server][rules][deploy]") {
  const std::filesystem::path deploy = std::filesystem::path(VIGIL_SOURCE_DIR) / "deploy";
  alarm::Result<alarm::RegistryEntries> entries = LoadRegistryFile(deploy / "registry.yaml");
  REQUIRE(ErrorOf(entries) == "");
  auto registry = alarm::Registry::Build(*entries);
  REQUIRE(ErrorOf(registry) == "");
  alarm::Result<RulesDocument> rules = LoadRulesFile(deploy / "rules.yaml");
  REQUIRE(ErrorOf(rules) == "");
  auto set = alarm::RuleSet::Build(rules->rules, *registry, rules->gateway_offline);
  REQUIRE(ErrorOf(set) == "");

  // Coal-face methane, AQ 1029 practice: alarm >= 1.0 (orange), power cut-off
  // >= 1.5 (red), both cleared only below 1.0.
  const alarm::Rule* face = (*set)->ForSensor("s-370883-001-ch4-wf3101");
  REQUIRE(face != nullptr);
  CHECK(face->id == "ch4-coal-face");
  CHECK(face->selector ==
        alarm::Selector{.quantity = "methane", .enterprise_kind = EnterpriseKind::kCoalMine});
  CHECK(face->hh == ThresholdLevel{.value = 1.5, .severity = Severity::kRed});
  CHECK(face->h == ThresholdLevel{.value = 1.0, .severity = Severity::kOrange});
  CHECK_FALSE(face->l.has_value());
  CHECK_FALSE(face->ll.has_value());
  CHECK(face->restore_high == 1.0);
  CHECK(face->hh->value - face->deadband == 1.0);  // HH held until below 1.0
  CHECK(face->on_delay == 0ms);
  CHECK(face->no_data_intervals == 3);
  CHECK(face->sensor_fault);

  // The return airway's per-sensor override.
  const alarm::Rule* airway = (*set)->ForSensor("s-370883-001-ch4-ra3101");
  REQUIRE(airway != nullptr);
  CHECK(airway->id == "ch4-return-airway-3101");
  CHECK(airway->h == ThresholdLevel{.value = 0.75, .severity = Severity::kOrange});
  CHECK(airway->hh == ThresholdLevel{.value = 1.0, .severity = Severity::kRed});

  const alarm::Rule* gas = (*set)->ForSensor("s-370305-001-gt201");
  REQUIRE(gas != nullptr);
  CHECK(gas->id == "combustible-gas-shandong");
  CHECK(gas->h == ThresholdLevel{.value = 25, .severity = Severity::kOrange});
  CHECK(gas->hh == ThresholdLevel{.value = 50, .severity = Severity::kRed});

  const alarm::Rule* tank = (*set)->ForSensor("s-370105-001-tt101");
  REQUIRE(tank != nullptr);
  REQUIRE(tank->rate.has_value());
  CHECK(tank->rate->limit == 5);
  CHECK(tank->rate->window == 1min);

  // Every sensor has a rule with no-data and sensor fault on; every selector
  // kind is used.
  for (const alarm::Sensor& sensor : (*registry)->entries().sensors) {
    INFO(sensor.id);
    const alarm::Rule* rule = (*set)->ForSensor(sensor.id);
    REQUIRE(rule != nullptr);
    CHECK(rule->no_data_intervals == 3);
    CHECK(rule->sensor_fault);
  }
  bool by_sensor = false, by_enterprise = false, by_region = false, by_kind = false;
  for (const alarm::Rule& rule : (*set)->rules()) {
    by_sensor |= !rule.selector.sensor_id.empty();
    by_enterprise |= !rule.selector.enterprise_id.empty();
    by_region |= !rule.selector.region_prefix.empty();
    by_kind |= rule.selector.enterprise_kind != EnterpriseKind::kUnspecified;
  }
  CHECK(by_sensor);
  CHECK(by_enterprise);
  CHECK(by_region);
  CHECK(by_kind);
}

TEST_CASE("Rules file: gateway_offline, formatting that parses back, merging by id",
          "[server][rules]") {
  auto doc = ParseRulesDocument(
      "gateway_offline: { after: 2m, severity: 1 }\n"
      "rules:\n"
      "  - id: r1\n"
      "    select: { quantity: methane, region: \"37\" }\n"
      "    levels: { hh: { value: 1.5, severity: 1 }, h: { value: 1.0, severity: 2 } }\n"
      "    deadband: 0.05\n"
      "    restore_high: 0.3\n"
      "    on_delay: 10s\n"
      "    rate_of_change: { limit: 5, window: 1m, severity: 2 }\n"
      "    no_data: { intervals: 3 }\n"
      "    sensor_fault: off\n"
      "  - id: tank\n"
      "    select: { quantity: temperature, region: \"37\" }\n"
      "    rate_of_change: { limit: 5, window: 1m, severity: 2, direction: rising }\n"
      "  - id: level-drop\n"
      "    select: { quantity: level, region: \"37\" }\n"
      "    rate_of_change: { limit: 0.5, window: 10m, severity: 1, direction: falling }\n",
      "rules.yaml");
  REQUIRE(ErrorOf(doc) == "");
  REQUIRE(doc->rules.size() == 3);
  CHECK(doc->rules[0].rate->direction == alarm::RateDirection::kEither);
  CHECK(doc->rules[1].rate->direction == alarm::RateDirection::kRising);
  CHECK(doc->rules[2].rate->direction == alarm::RateDirection::kFalling);
  CHECK(doc->gateway_offline ==
        alarm::GatewayOfflineRule{.after = std::chrono::minutes(2), .severity = Severity::kRed});
  auto again = ParseRulesDocument(FormatRulesYaml(*doc), "formatted");
  REQUIRE(ErrorOf(again) == "");
  CHECK(*again == *doc);
  CHECK(ParseRulesDocument("gateway_offline: off\n", "x")->gateway_offline.after.count() == 0);
  CHECK(ErrorOf(ParseRulesDocument("gateway_offline: { severity: 2 }\n", "x")) ==
        "x:1:18: gateway_offline.after: required key missing");

  RulesDocument overlay;
  overlay.rules.push_back(doc->rules[0]);
  overlay.rules[0].deadband = 0.1;
  overlay.rules.push_back(doc->rules[0]);
  overlay.rules[1].id = "r2";
  RulesDocument merged = MergeRules(*doc, overlay, /*overlay_sets_gateway=*/false);
  REQUIRE(merged.rules.size() == 4);
  CHECK(merged.rules[0].deadband == 0.1);  // replaced in place
  CHECK(merged.rules[3].id == "r2");       // added at the end
  CHECK(merged.gateway_offline == doc->gateway_offline);
  CHECK(MergeRules(*doc, overlay, true).gateway_offline.after.count() == 0);
  CHECK(SetsGatewayOffline("gateway_offline: off\nrules: []\n"));
  CHECK_FALSE(SetsGatewayOffline("rules: []\n"));

  // The shipped rules survive the round trip too.
  auto shipped = LoadRulesFile(std::filesystem::path(VIGIL_SOURCE_DIR) / "deploy" / "rules.yaml");
  REQUIRE(ErrorOf(shipped) == "");
  CHECK(*ParseRulesDocument(FormatRulesYaml(*shipped), "formatted") == *shipped);
}

TEST_CASE("deploy/rules/ examples for the three enterprise kinds build and apply the standards",
          "[server][rules][deploy]") {
  const std::filesystem::path dir = std::filesystem::path(VIGIL_SOURCE_DIR) / "deploy" / "rules";
  // One enterprise of each kind with one sensor per quantity the examples name.
  alarm::RegistryEntries entries;
  const std::pair<const char*, EnterpriseKind> kinds[] = {
      {"coal_mine", EnterpriseKind::kCoalMine},
      {"hazardous_chemical", EnterpriseKind::kHazardousChemical},
      {"tailings", EnterpriseKind::kTailings}};
  const char* quantities[] = {
      "methane",     "methane_return_airway", "methane_intake",   "carbon_monoxide", "wind_speed",
      "temperature", "combustible_gas",       "hydrogen_sulfide", "toxic_gas",       "level",
      "pressure",    "phreatic_line_depth",   "dam_displacement", "rainfall",        "pond_level"};
  for (const auto& [kind_name, kind] : kinds) {
    const std::string e = std::string("e-") + kind_name;
    entries.enterprises.push_back(
        alarm::Enterprise{.id = e, .name = e, .kind = kind, .region_code = "370105"});
    for (const char* q : quantities) {
      entries.sensors.push_back(alarm::Sensor{.id = e + "-" + q,
                                              .enterprise_id = e,
                                              .quantity = q,
                                              .unit = "",
                                              .range_low = 0,
                                              .range_high = 0,
                                              .expected_interval = std::chrono::seconds(10)});
    }
  }
  auto registry = alarm::Registry::Build(std::move(entries));
  REQUIRE(ErrorOf(registry) == "");
  for (const auto& [kind_name, kind] : kinds) {
    CAPTURE(kind_name);
    auto doc = LoadRulesFile(dir / (std::string(kind_name) + ".yaml"));
    REQUIRE(ErrorOf(doc) == "");
    CHECK(doc->gateway_offline.after.count() > 0);
    auto set = alarm::RuleSet::Build(doc->rules, *registry, doc->gateway_offline, doc->rollups);
    REQUIRE(ErrorOf(set) == "");
    // Every kind's file has its roll-ups, each narrowed to that kind.
    REQUIRE_FALSE(doc->rollups.empty());
    for (const alarm::RollupRule& rollup : doc->rollups) {
      CHECK(rollup.enterprise_kinds == std::vector{kind});
    }
    // Every rule of a kind's file selects that kind and applies to its sensors.
    for (const alarm::Rule& rule : doc->rules) {
      CHECK(rule.selector.enterprise_kind == kind);
      CHECK((*set)->ForSensor(std::string("e-") + kind_name + "-" + rule.selector.quantity) !=
            nullptr);
    }
  }
  auto coal = LoadRulesFile(dir / "coal_mine.yaml");
  auto set = alarm::RuleSet::Build(coal->rules, *registry);
  const alarm::Rule* face = (*set)->ForSensor("e-coal_mine-methane");
  REQUIRE(face != nullptr);
  CHECK(face->h == ThresholdLevel{.value = 1.0, .severity = Severity::kOrange});
  CHECK(face->hh == ThresholdLevel{.value = 1.5, .severity = Severity::kRed});
  CHECK(face->hh->value - face->deadband == 1.0);  // cut-off held until below 1.0
  auto hazchem = LoadRulesFile(dir / "hazardous_chemical.yaml");
  auto hazchem_set = alarm::RuleSet::Build(hazchem->rules, *registry);
  const alarm::Rule* gas = (*hazchem_set)->ForSensor("e-hazardous_chemical-combustible_gas");
  REQUIRE(gas != nullptr);
  CHECK(gas->h->value == 25);
  CHECK(gas->hh->value == 50);
  const alarm::Rule* tank = (*hazchem_set)->ForSensor("e-hazardous_chemical-temperature");
  REQUIRE(tank != nullptr);
  REQUIRE(tank->rate.has_value());
  CHECK(tank->rate->limit == 5);
  CHECK(tank->rate->window == std::chrono::minutes(1));
  CHECK(tank->rate->direction == alarm::RateDirection::kRising);
  // Tailings: GB 39496-2020 §5.5.4 for items from points and the reservoir from items.
  auto tailings = LoadRulesFile(dir / "tailings.yaml");
  REQUIRE(tailings->rollups.size() == 2);
  const std::vector<alarm::RollupCondition> gb39496 = {
      {.count = 4, .level = Severity::kBlue, .raise = Severity::kYellow},
      {.count = 3, .level = Severity::kYellow, .raise = Severity::kOrange},
      {.count = 2, .level = Severity::kOrange, .raise = Severity::kRed}};
  CHECK(tailings->rollups[0].parent == alarm::RollupParent::kItem);
  CHECK(tailings->rollups[0].when == gb39496);
  CHECK(tailings->rollups[1].children == alarm::RollupChildren::kItems);
  CHECK(tailings->rollups[1].when == gb39496);
}

}  // namespace
}  // namespace vigil::server

namespace vigil::server {
namespace {

constexpr const char* kRollups = R"(rollups:
  - id: gb39496-item
    parent: item
    from: sensors
    select: { facility_kind: tailings_reservoir }
    when:
      - { count: 4, level: blue, raise: yellow }
      - { count: 3, level: 3, raise: orange }
      - { count: 2, level: orange, raise: red }
  - id: hazard-source
    parent: facility
    from: sensors
    select: { facility_kind: [major_hazard_source, tank_farm], enterprise_kind: hazardous_chemical }
    when: [{ count: 1, level: red, raise: red }]
  - id: plant
    parent: enterprise
    from: facilities
    when: [{ count: 1, level: red, raise: red }]
)";

TEST_CASE("Rules YAML: roll-up rules parse, format and parse back the same", "[server][rules]") {
  auto doc = ParseRulesDocument(kRollups, "rules.yaml");
  REQUIRE(ErrorOf(doc) == "");
  REQUIRE(doc->rollups.size() == 3);
  const alarm::RollupRule& item = doc->rollups[0];
  CHECK(item.id == "gb39496-item");
  CHECK(item.parent == alarm::RollupParent::kItem);
  CHECK(item.children == alarm::RollupChildren::kSensors);
  CHECK(item.facility_kinds == std::vector{alarm::FacilityKind::kTailingsReservoir});
  REQUIRE(item.when.size() == 3);
  CHECK(item.when[1] ==
        alarm::RollupCondition{.count = 3, .level = Severity::kYellow, .raise = Severity::kOrange});
  CHECK(doc->rollups[1].facility_kinds.size() == 2);
  CHECK(doc->rollups[1].enterprise_kinds == std::vector{EnterpriseKind::kHazardousChemical});
  CHECK(doc->rollups[2].parent == alarm::RollupParent::kEnterprise);

  auto again = ParseRulesDocument(FormatRulesYaml(*doc), "formatted");
  REQUIRE(ErrorOf(again) == "");
  CHECK(*again == *doc);

  // Merged by id like rules.
  RulesDocument overlay;
  overlay.rollups.push_back(doc->rollups[2]);
  overlay.rollups[0].when[0].count = 2;
  const RulesDocument merged = MergeRules(*doc, overlay, false);
  REQUIRE(merged.rollups.size() == 3);
  CHECK(merged.rollups[2].when[0].count == 2);
}

std::string RollupError(const std::string& yaml) {
  auto result = ParseRulesDocument(yaml, "rules.yaml");
  REQUIRE_FALSE(result.has_value());
  return result.error().message();
}

TEST_CASE("Rules YAML: roll-up errors name the place", "[server][rules]") {
  const std::string head = "rollups:\n  - id: r\n";
  CHECK(RollupError(head + "    parent: item\n    from: items\n    when: [{ count: 1, level: 1, "
                           "raise: 1 }]\n") ==
        "rules.yaml:2:5: rollups[0] (r): rollup 'r': a item cannot roll up items (item from "
        "sensors, facility from sensors or items, enterprise from facilities)");
  CHECK(RollupError(head + "    parent: site\n") ==
        "rules.yaml:3:13: rollups[0] (r).parent: must be one of item, facility, enterprise, got "
        "'site'");
  CHECK(RollupError(head + "    parent: item\n    from: sensors\n    when: [{ count: 0, level: "
                           "1, raise: 1 }]\n") ==
        "rules.yaml:5:21: rollups[0] (r).when[0].count: must be a whole number 1 .. 1000000");
  CHECK(RollupError(head + "    parent: item\n    from: sensors\n    when: [{ count: 1, level: "
                           "5, raise: 1 }]\n") ==
        "rules.yaml:5:31: rollups[0] (r).when[0].level: must be 1 (red) .. 4 (blue), got 5");
  CHECK(RollupError(head + "    parent: item\n    from: sensors\n    when: []\n") ==
        "rules.yaml:2:5: rollups[0] (r): rollup 'r': `when` lists no condition");
  CHECK(RollupError(head + "    parent: item\n    from: sensors\n    select: { facility_kind: "
                           "dam }\n    when: [{ count: 1, level: 1, raise: 1 }]\n") ==
        "rules.yaml:5:30: rollups[0] (r).select.facility_kind: must be one of major_hazard_source, "
        "tank_farm, tailings_reservoir, working_face, other, got 'dam'");
  CHECK(RollupError(head + "    parent: enterprise\n    from: facilities\n    select: { "
                           "facility: f-1 }\n    when: [{ count: 1, level: 1, raise: 1 }]\n") ==
        "rules.yaml:2:5: rollups[0] (r): rollup 'r': an enterprise roll-up selects by "
        "enterprise_kind only");
  CHECK(RollupError(head + "    parent: item\n    from: sensors\n    when: [{ count: 1, level: 1, "
                           "raise: 1 }]\n  - { id: r, parent: item, from: sensors, when: [{ "
                           "count: 1, level: 1, raise: 1 }] }\n") ==
        "rules.yaml:6:5: rollups[1] (r): duplicate rollup id 'r'");
}

TEST_CASE("Rules against the registry: a roll-up naming an unknown facility is refused",
          "[server][rules]") {
  alarm::RegistryEntries entries;
  entries.enterprises = {
      {.id = "e", .name = "", .kind = EnterpriseKind::kTailings, .region_code = "370105"}};
  auto registry = alarm::Registry::Build(std::move(entries));
  REQUIRE(ErrorOf(registry) == "");
  auto doc = ParseRulesDocument(
      "rollups:\n  - { id: r, parent: facility, from: items, select: "
      "{ facility: f-9 }, when: [{ count: 1, level: 1, raise: 1 }] }\n",
      "rules.yaml");
  REQUIRE(ErrorOf(doc) == "");
  auto set = alarm::RuleSet::Build({}, *registry, {}, doc->rollups);
  REQUIRE_FALSE(set.has_value());
  CHECK(set.error().message() == "rollup 'r': select.facility 'f-9' is not a registered facility");
}

}  // namespace
}  // namespace vigil::server
