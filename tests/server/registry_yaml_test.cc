#include "server/config/registry_yaml.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <set>
#include <string>

#include "server/api/proto_convert.h"
#include "tests/testing/temp_dir.h"

namespace vigil::server {
namespace {

using namespace std::chrono_literals;

// "" on success, else the error message: REQUIRE(ErrorOf(r) == "") prints it.
template <class T>
std::string ErrorOf(const alarm::Result<T>& result) {
  return result ? std::string() : result.error().message();
}

// The message of a registry that must fail.
std::string ParseError(const std::string& yaml) {
  alarm::Result<alarm::RegistryEntries> result = ParseRegistryYaml(yaml, "registry.yaml");
  REQUIRE_FALSE(result.has_value());
  CHECK(result.error().code() == alarm::Status::Code::kInvalidArgument);
  return result.error().message();
}

// One valid enterprise; tests append sensors and gateways.
constexpr const char* kEnterprise = R"(enterprises:
  - id: e-370105-001
    name: Jinan Tank Farm 1
    kind: hazardous_chemical
    region_code: "370105"
)";

// kEnterprise and a sensor s-1 whose last line, line 11, is "    <key>: ".
std::string SensorThen(const std::string& key) {
  return std::string(kEnterprise) +
         "sensors:\n"
         "  - id: s-1\n"
         "    enterprise: e-370105-001\n"
         "    quantity: level\n"
         "    unit: m\n"
         "    " +
         key + ": ";
}

TEST_CASE("Registry YAML parses every field", "[server][registry]") {
  const std::string text = R"(enterprises:
  - id: e-370105-001
    name: Jinan Tank Farm 1
    kind: hazardous_chemical
    region_code: "370105"
  - id: e-370883-001
    kind: coal_mine
    region_code: 370883
sensors:
  - id: s-370105-001-tt101
    enterprise: e-370105-001
    quantity: temperature
    unit: degC
    range: [-40, 200]
    expected_interval: 10s
  - id: s-370883-001-ch4
    enterprise: e-370883-001
    quantity: methane
    unit: "%CH4"
    range: [0, 4.5e0]
gateways:
  - id: gw-370105-001
    enterprise: e-370105-001
)";
  alarm::Result<alarm::RegistryEntries> result = ParseRegistryYaml(text, "registry.yaml");
  REQUIRE(ErrorOf(result) == "");
  const alarm::RegistryEntries& e = *result;

  REQUIRE(e.enterprises.size() == 2);
  CHECK(e.enterprises[0].id == "e-370105-001");
  CHECK(e.enterprises[0].name == "Jinan Tank Farm 1");
  CHECK(e.enterprises[0].kind == alarm::EnterpriseKind::kHazardousChemical);
  CHECK(e.enterprises[0].region_code == "370105");
  CHECK(e.enterprises[1].name.empty());
  CHECK(e.enterprises[1].kind == alarm::EnterpriseKind::kCoalMine);
  CHECK(e.enterprises[1].region_code == "370883");  // Given as a bare integer.

  REQUIRE(e.sensors.size() == 2);
  CHECK(e.sensors[0].id == "s-370105-001-tt101");
  CHECK(e.sensors[0].enterprise_id == "e-370105-001");
  CHECK(e.sensors[0].quantity == "temperature");
  CHECK(e.sensors[0].unit == "degC");
  CHECK(e.sensors[0].range_low == -40);
  CHECK(e.sensors[0].range_high == 200);
  CHECK(e.sensors[0].expected_interval == 10s);
  CHECK(e.sensors[1].unit == "%CH4");
  CHECK(e.sensors[1].range_high == 4.5);
  CHECK(e.sensors[1].expected_interval == 0ms);  // Undeclared.

  REQUIRE(e.gateways.size() == 1);
  CHECK(e.gateways[0].id == "gw-370105-001");
  CHECK(e.gateways[0].enterprise_id == "e-370105-001");
  CHECK(alarm::Registry::Build(e).has_value());
}

TEST_CASE("Registry YAML allows empty sections and forward references", "[server][registry]") {
  SECTION("empty") {
    for (const char* text : {"", "# none yet\n", "enterprises:\nsensors: []\ngateways:\n"}) {
      CAPTURE(text);
      alarm::Result<alarm::RegistryEntries> result = ParseRegistryYaml(text, "registry.yaml");
      REQUIRE(ErrorOf(result) == "");
      CHECK(result->enterprises.empty());
      CHECK(result->sensors.empty());
      CHECK(result->gateways.empty());
    }
  }
  SECTION("gateways before enterprises") {
    alarm::Result<alarm::RegistryEntries> result = ParseRegistryYaml(
        std::string("gateways:\n  - {id: gw-1, enterprise: e-370105-001}\n") + kEnterprise,
        "registry.yaml");
    REQUIRE(ErrorOf(result) == "");
    CHECK(result->gateways.size() == 1);
  }
}

TEST_CASE("Registry YAML errors name source, line, column and path", "[server][registry]") {
  SECTION("bad YAML syntax") {
    CHECK(ParseError("enterprises:\n  - id: [e-1\n") ==
          "registry.yaml:3:1: invalid YAML: end of sequence flow not found");
  }
  SECTION("missing id") {
    CHECK(ParseError("enterprises:\n"
                     "  - name: No Id\n"
                     "    kind: other\n"
                     "    region_code: \"370105\"\n") ==
          "registry.yaml:2:5: enterprises[0].id: required key missing");
    CHECK(ParseError(std::string(kEnterprise) + "gateways:\n  - enterprise: e-370105-001\n") ==
          "registry.yaml:7:5: gateways[0].id: required key missing");
  }
  SECTION("invalid id") {
    CHECK(ParseError("gateways:\n  - {id: \"gw 1\", enterprise: e}\n") ==
          "registry.yaml:2:10: gateways[0].id: 'gw 1' is not a valid id: 1..128 printable ASCII "
          "bytes without spaces");
  }
  SECTION("bad kind") {
    CHECK(ParseError("enterprises:\n"
                     "  - id: e-1\n"
                     "    kind: chemical\n"
                     "    region_code: \"370105\"\n") ==
          "registry.yaml:3:11: enterprises[0].kind: must be one of hazardous_chemical, coal_mine, "
          "tailings, other, got 'chemical'");
  }
  SECTION("bad region code") {
    CHECK(ParseError("enterprises:\n"
                     "  - id: e-1\n"
                     "    kind: tailings\n"
                     "    region_code: \"3701\"\n") ==
          "registry.yaml:4:18: enterprises[0].region_code: must be a 6-digit administrative "
          "division code such as \"370105\", got '3701'");
    CHECK_THAT(ParseError("enterprises:\n  - {id: e-1, kind: other, region_code: 37010A}\n"),
               Catch::StartsWith("registry.yaml:2:41: enterprises[0].region_code: must be"));
  }
  SECTION("range not a pair") {
    const std::string sensor = SensorThen("range");
    CHECK(ParseError(sensor + "[0, 10, 20]\n") ==
          "registry.yaml:11:12: sensors[0].range: expected [low, high], got a list");
    CHECK(ParseError(sensor + "10\n") ==
          "registry.yaml:11:12: sensors[0].range: expected [low, high], got '10'");
    CHECK(ParseError(sensor + "[0, high]\n") ==
          "registry.yaml:11:16: sensors[0].range: expected [low, high] of finite numbers, got "
          "'high'");
    CHECK(ParseError(sensor + "[+-5, 10]\n") ==
          "registry.yaml:11:13: sensors[0].range: expected [low, high] of finite numbers, got "
          "'+-5'");
    CHECK(ParseError(sensor + "[0, .inf]\n") ==
          "registry.yaml:11:16: sensors[0].range: expected [low, high] of finite numbers, got "
          "'.inf'");
  }
  SECTION("range low above high") {
    CHECK(ParseError(std::string(kEnterprise) + "sensors:\n"
                                                "  - id: s-1\n"
                                                "    enterprise: e-370105-001\n"
                                                "    quantity: level\n"
                                                "    unit: m\n"
                                                "    range: [20, 0]\n") ==
          "registry.yaml:11:12: sensors[0].range: low must be below high, got [20, 0]");
  }
  SECTION("bad expected_interval") {
    const std::string sensor = SensorThen("expected_interval");
    CHECK(ParseError(sensor + "10\n") ==
          "registry.yaml:11:24: sensors[0].expected_interval: expected a duration like 250ms, "
          "10s, 5m, 2h or 90d, got '10'");
    CHECK(ParseError(sensor + "0s\n") ==
          "registry.yaml:11:24: sensors[0].expected_interval: must be positive; leave the key out "
          "when there is no expected interval");
    CHECK(ParseError(sensor + "40000d\n") ==
          "registry.yaml:11:24: sensors[0].expected_interval: must be at most 49d, got "
          "'40000d'");
  }
  SECTION("duplicate id") {
    CHECK(ParseError(std::string(kEnterprise) + "gateways:\n"
                                                "  - id: gw-1\n"
                                                "    enterprise: e-370105-001\n"
                                                "  - id: gw-1\n"
                                                "    enterprise: e-370105-001\n") ==
          "registry.yaml:9:9: gateways[1].id: duplicate gateway id 'gw-1', first at line 7 "
          "(gateways[0].id)");
  }
  SECTION("unknown enterprise reference") {
    CHECK(ParseError(std::string(kEnterprise) + "sensors:\n"
                                                "  - id: s-1\n"
                                                "    enterprise: e-370105-999\n"
                                                "    quantity: level\n"
                                                "    unit: m\n") ==
          "registry.yaml:8:17: sensors[0].enterprise: unknown enterprise 'e-370105-999'");
  }
  SECTION("unknown key") {
    CHECK(ParseError(std::string(kEnterprise) + "gateways:\n"
                                                "  - id: gw-1\n"
                                                "    enterprise: e-370105-001\n"
                                                "    enterprize: e-370105-001\n") ==
          "registry.yaml:9:5: gateways[0].enterprize: unknown key (known: id, enterprise)");
    CHECK(ParseError("sensor:\n  - id: s-1\n") ==
          "registry.yaml:1:1: sensor: unknown key (known: enterprises, facilities, sensors, "
          "gateways)");
  }
  SECTION("wrong shape") {
    CHECK(ParseError("sensors:\n  id: s-1\n") ==
          "registry.yaml:2:3: sensors: expected a list of entries, got a mapping");
    CHECK(ParseError("gateways:\n  - gw-1\n") ==
          "registry.yaml:2:5: gateways[0]: expected a mapping, got 'gw-1'");
    CHECK(
        ParseError("[1, 2]\n") ==
        "registry.yaml:1:1: expected a mapping with enterprises, facilities, sensors and gateways");
  }
}

// Found with the protobuf round trip of tests/fuzz/registry_fuzzer: the server
// stores the registry as vigil.v1 protobuf, whose expected_interval_ms is a
// uint32. An interval the file accepted came back truncated: 2^32 ms as 0,
// which turns the sensor's no-data alarm off.
TEST_CASE("Registry YAML expected_interval survives the stored protobuf form",
          "[server][registry]") {
  const std::string sensor = SensorThen("expected_interval");
  alarm::Result<alarm::RegistryEntries> longest = ParseRegistryYaml(sensor + "49d\n", "r.yaml");
  REQUIRE(ErrorOf(longest) == "");
  v1::Registry proto;
  RegistryToProto(*longest, &proto);
  alarm::Result<alarm::RegistryEntries> stored = RegistryFromProto(proto);
  REQUIRE(ErrorOf(stored) == "");
  CHECK(stored->sensors.at(0).expected_interval == 49 * 24h);

  CHECK(ParseError(sensor + "4294967296ms\n") ==
        "registry.yaml:11:24: sensors[0].expected_interval: must be at most 49d, got "
        "'4294967296ms'");
  CHECK(ParseError(sensor + "50d\n") ==
        "registry.yaml:11:24: sensors[0].expected_interval: must be at most 49d, got '50d'");
}

TEST_CASE("LoadRegistryFile reads a file and names it in errors", "[server][registry]") {
  testing::TempDir dir;
  const std::filesystem::path path = dir / "registry.yaml";
  {
    std::ofstream out(path);
    out << kEnterprise << "gateways:\n  - {id: gw-1, enterprise: e-nope}\n";
  }
  CHECK(ErrorOf(LoadRegistryFile(path)) ==
        path.string() + ":7:28: gateways[0].enterprise: unknown enterprise 'e-nope'");

  alarm::Result<alarm::RegistryEntries> missing = LoadRegistryFile(dir / "nope.yaml");
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().code() == alarm::Status::Code::kIOError);
  CHECK_THAT(missing.error().message(), Catch::StartsWith((dir / "nope.yaml").string()));
}

TEST_CASE("Sample deploy/registry.yaml covers every kind of site", "[server][registry]") {
  alarm::Result<alarm::RegistryEntries> result =
      LoadRegistryFile(std::filesystem::path(VIGIL_SOURCE_DIR) / "deploy" / "registry.yaml");
  REQUIRE(ErrorOf(result) == "");
  const alarm::RegistryEntries& e = *result;
  REQUIRE(alarm::Registry::Build(e).has_value());

  std::set<alarm::EnterpriseKind> kinds;
  for (const alarm::Enterprise& enterprise : e.enterprises) {
    CAPTURE(enterprise.id);
    kinds.insert(enterprise.kind);
    CHECK(enterprise.region_code.starts_with("37"));  // Shandong.
    CHECK(enterprise.id == "e-" + enterprise.region_code + "-" + enterprise.id.substr(9));
    const auto has_gateway = [&](const alarm::Gateway& g) {
      return g.enterprise_id == enterprise.id;
    };
    CHECK(std::count_if(e.gateways.begin(), e.gateways.end(), has_gateway) == 1);
  }
  CHECK(kinds.contains(alarm::EnterpriseKind::kHazardousChemical));
  CHECK(kinds.contains(alarm::EnterpriseKind::kCoalMine));
  CHECK(kinds.contains(alarm::EnterpriseKind::kTailings));

  alarm::Result<std::shared_ptr<const alarm::Registry>> registry = alarm::Registry::Build(e);
  for (const alarm::Sensor& sensor : e.sensors) {
    CAPTURE(sensor.id);
    CHECK(sensor.range_low < sensor.range_high);
    CHECK(sensor.id.starts_with("s-" + sensor.enterprise_id.substr(2) + "-"));
    switch ((*registry)->FindEnterprise(sensor.enterprise_id)->kind) {
      case alarm::EnterpriseKind::kHazardousChemical:
        CHECK(sensor.expected_interval >= 1s);
        CHECK(sensor.expected_interval <= 10s);
        break;
      case alarm::EnterpriseKind::kCoalMine:
        CHECK(sensor.expected_interval > 0s);
        CHECK(sensor.expected_interval <= 30s);
        break;
      case alarm::EnterpriseKind::kTailings:
        CHECK(sensor.expected_interval >= 1min);
        CHECK(sensor.expected_interval <= 10min);
        break;
      default:
        break;
    }
  }
}

}  // namespace
}  // namespace vigil::server

namespace vigil::server {
namespace {

// kEnterprise, a tailings reservoir "res-1" with items "disp" and "phr",
// and `sensors` (a sensors section's entries).
std::string WithReservoir(const std::string& sensors) {
  return std::string(kEnterprise) +
         "facilities:\n"
         "  - id: res-1\n"
         "    enterprise: e-370105-001\n"
         "    kind: tailings_reservoir\n"
         "    name: Reservoir 1\n"
         "    items:\n"
         "      - { id: disp, name: surface displacement }\n"
         "      - { id: phr }\n"
         "sensors:\n" +
         sensors;
}

TEST_CASE("Registry YAML: facilities with items, sensors in a facility and an item",
          "[server][registry]") {
  auto parsed = ParseRegistryYaml(
      WithReservoir("  - { id: s-1, enterprise: e-370105-001, facility: res-1, item: disp, "
                    "quantity: displacement, unit: mm }\n"
                    "  - { id: s-2, enterprise: e-370105-001, facility: res-1, quantity: rain, "
                    "unit: mm }\n"
                    "  - { id: s-3, enterprise: e-370105-001, quantity: rain, unit: mm }\n"),
      "registry.yaml");
  REQUIRE(ErrorOf(parsed) == "");
  REQUIRE(parsed->facilities.size() == 1);
  const alarm::Facility& f = parsed->facilities[0];
  CHECK(f.id == "res-1");
  CHECK(f.enterprise_id == "e-370105-001");
  CHECK(f.kind == alarm::FacilityKind::kTailingsReservoir);
  CHECK(f.name == "Reservoir 1");
  REQUIRE(f.items.size() == 2);
  CHECK(f.items[0].id == "disp");
  CHECK(f.items[0].name == "surface displacement");
  CHECK(f.items[1].id == "phr");
  CHECK(parsed->sensors[0].facility_id == "res-1");
  CHECK(parsed->sensors[0].item_id == "disp");
  CHECK(parsed->sensors[1].facility_id == "res-1");
  CHECK(parsed->sensors[1].item_id.empty());
  CHECK(parsed->sensors[2].facility_id.empty());

  auto registry = alarm::Registry::Build(*parsed);
  REQUIRE(ErrorOf(registry) == "");
  CHECK((*registry)->SensorsOfItem("disp").size() == 1);
  CHECK((*registry)->SensorsOfFacility("res-1").size() == 2);
  CHECK((*registry)->EnterpriseOfPlace("disp")->id == "e-370105-001");

  // Through the API's proto and back: the same entries.
  v1::Registry proto;
  RegistryToProto(*parsed, &proto);
  auto back = RegistryFromProto(proto);
  REQUIRE(ErrorOf(back) == "");
  CHECK(back->facilities == parsed->facilities);
  CHECK(back->sensors[0].item_id == "disp");
}

TEST_CASE("Registry YAML: facility and item errors name the place", "[server][registry]") {
  const std::string s1 = "  - { id: s-1, enterprise: e-370105-001, quantity: q, unit: u, ";
  CHECK(ParseError(WithReservoir(s1 + "facility: res-9 }\n")) ==
        "registry.yaml:15:74: sensors[0].facility: unknown facility 'res-9'");
  CHECK(ParseError(WithReservoir(s1 + "facility: res-1, item: seep }\n")) ==
        "registry.yaml:15:87: sensors[0].item: facility 'res-1' has no item 'seep'");
  CHECK(ParseError(WithReservoir(s1 + "item: disp }\n")) ==
        "registry.yaml:15:70: sensors[0].item: an item needs the sensor's facility (key "
        "`facility`)");
  CHECK(ParseError(std::string(kEnterprise) +
                   "facilities:\n  - { id: f-1, enterprise: e-370105-001, kind: dam }\n") ==
        "registry.yaml:7:48: facilities[0].kind: must be one of major_hazard_source, tank_farm, "
        "tailings_reservoir, working_face, other, got 'dam'");
  CHECK(ParseError(std::string(kEnterprise) +
                   "facilities:\n  - { id: f-1, enterprise: e-9, kind: tank_farm }\n") ==
        "registry.yaml:7:28: facilities[0].enterprise: unknown enterprise 'e-9'");
  CHECK(ParseError(std::string(kEnterprise) +
                   "facilities:\n  - { id: f-1, enterprise: e-370105-001, kind: tank_farm,"
                   " items: [{ id: f-1 }] }\n") ==
        "registry.yaml:7:73: facilities[0].items[0].id: duplicate facility or item id 'f-1', "
        "first at line 7 (facilities[0].id)");
  CHECK(ParseError(std::string(kEnterprise) +
                   "facilities:\n  - { id: e-370105-001, enterprise: e-370105-001, kind: "
                   "tank_farm }\n") ==
        "registry.yaml:7:11: facilities[0].id: id 'e-370105-001' already names an enterprise "
        "(roll-up alarms are raised by id)");
  CHECK(ParseError(std::string(kEnterprise) +
                   "facilities:\n  - { id: f-1, enterprise: e-370105-001 }\n") ==
        "registry.yaml:7:5: facilities[0].kind: required key missing");
  // A facility of another enterprise.
  CHECK(ParseError(std::string(kEnterprise) +
                   "  - { id: e-2, kind: other, region_code: \"370105\" }\n"
                   "facilities:\n  - { id: f-2, enterprise: e-2, kind: other }\n"
                   "sensors:\n" +
                   s1 + "facility: f-2 }\n") ==
        "registry.yaml:10:74: sensors[0].facility: facility 'f-2' belongs to enterprise 'e-2', "
        "not the sensor's 'e-370105-001'");
}

}  // namespace
}  // namespace vigil::server
