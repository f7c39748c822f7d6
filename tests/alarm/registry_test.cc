#include "alarm/registry.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace vigil::alarm {
namespace {

using Catch::Matchers::Contains;
using namespace std::chrono_literals;

Enterprise MakeEnterprise(std::string id, EnterpriseKind kind = EnterpriseKind::kCoalMine,
                          std::string region = "370105") {
  return Enterprise{
      .id = std::move(id), .name = "Enterprise", .kind = kind, .region_code = std::move(region)};
}

Sensor MakeSensor(std::string id, std::string enterprise, double low = 0, double high = 0) {
  return Sensor{.id = std::move(id),
                .enterprise_id = std::move(enterprise),
                .quantity = "methane",
                .unit = "%CH4",
                .range_low = low,
                .range_high = high,
                .expected_interval = 1000ms};
}

Gateway MakeGateway(std::string id, std::string enterprise) {
  return Gateway{.id = std::move(id), .enterprise_id = std::move(enterprise)};
}

// Two enterprises, each with a sensor and a gateway.
RegistryEntries SampleEntries() {
  RegistryEntries entries;
  entries.enterprises = {MakeEnterprise("e1", EnterpriseKind::kCoalMine),
                         MakeEnterprise("e2", EnterpriseKind::kTailings, "110101")};
  entries.sensors = {MakeSensor("s1", "e1", 0, 5), MakeSensor("s2", "e2")};
  entries.gateways = {MakeGateway("g1", "e1"), MakeGateway("g2", "e2")};
  return entries;
}

std::shared_ptr<const Registry> BuildOk(RegistryEntries entries) {
  auto built = Registry::Build(std::move(entries));
  REQUIRE(built.has_value());
  REQUIRE(*built != nullptr);
  return *built;
}

// The error message of a Build that must fail with kInvalidArgument.
std::string BuildError(RegistryEntries entries) {
  auto built = Registry::Build(std::move(entries));
  REQUIRE_FALSE(built.has_value());
  CHECK(built.error().code() == Status::Code::kInvalidArgument);
  CHECK_FALSE(built.error().message().empty());
  return built.error().message();
}

std::vector<std::string> SensorIds(const Registry& registry) {
  std::vector<std::string> ids;
  for (const Sensor& s : registry.entries().sensors) ids.push_back(s.id);
  return ids;
}

TEST_CASE("Registry builds valid entries and finds each by id", "[alarm][registry]") {
  auto registry = BuildOk(SampleEntries());

  const Enterprise* e2 = registry->FindEnterprise("e2");
  REQUIRE(e2 != nullptr);
  CHECK(e2->id == "e2");
  CHECK(e2->kind == EnterpriseKind::kTailings);
  CHECK(e2->region_code == "110101");

  const Sensor* s1 = registry->FindSensor("s1");
  REQUIRE(s1 != nullptr);
  CHECK(s1->enterprise_id == "e1");
  CHECK(s1->range_high == 5);
  CHECK(s1->expected_interval == 1000ms);

  const Gateway* g2 = registry->FindGateway("g2");
  REQUIRE(g2 != nullptr);
  CHECK(g2->enterprise_id == "e2");

  // Lookups point into entries().
  CHECK(s1 == &registry->entries().sensors[0]);
  CHECK(registry->entries().enterprises.size() == 2);
  CHECK(registry->entries().gateways.size() == 2);
}

TEST_CASE("Registry lists the sensors of an enterprise in registry order", "[alarm][registry]") {
  RegistryEntries entries = SampleEntries();
  entries.sensors.push_back(MakeSensor("s3", "e1"));
  entries.sensors.push_back(MakeSensor("s0", "e1"));
  auto registry = BuildOk(std::move(entries));
  std::vector<std::string> e1;
  for (const Sensor* s : registry->SensorsOf("e1")) e1.push_back(s->id);
  CHECK(e1 == std::vector<std::string>{"s1", "s3", "s0"});
  REQUIRE(registry->SensorsOf("e2").size() == 1);
  CHECK(registry->SensorsOf("e2")[0] == registry->FindSensor("s2"));
  CHECK(registry->SensorsOf("e3").empty());
  RegistryChange change;
  change.remove_sensor_ids = {"s3"};
  auto next = registry->Apply(change);
  REQUIRE(next.has_value());
  CHECK((*next)->SensorsOf("e1").size() == 2);
}

TEST_CASE("Registry lookups return nullptr on a miss", "[alarm][registry]") {
  auto registry = BuildOk(SampleEntries());
  CHECK(registry->FindEnterprise("e3") == nullptr);
  CHECK(registry->FindSensor("s3") == nullptr);
  CHECK(registry->FindGateway("g3") == nullptr);
  // Ids live in separate namespaces: a sensor id is not a gateway id.
  CHECK(registry->FindGateway("s1") == nullptr);
  CHECK(registry->FindSensor("g1") == nullptr);
  CHECK(registry->FindEnterprise("") == nullptr);
  // Prefixes and extensions of an id do not match.
  CHECK(registry->FindSensor("s") == nullptr);
  CHECK(registry->FindSensor("s10") == nullptr);
}

TEST_CASE("Registry finds each of 30,000 sensors as its own record", "[alarm][registry]") {
  RegistryEntries entries = SampleEntries();
  for (int i = 0; i < 30'000; ++i) {
    entries.sensors.push_back(MakeSensor("e1-gas-" + std::to_string(i), "e1", 0, i));
  }
  auto registry = BuildOk(std::move(entries));
  for (int i = 0; i < 30'000; i += 7) {
    const Sensor* sensor = registry->FindSensor("e1-gas-" + std::to_string(i));
    REQUIRE(sensor != nullptr);
    CHECK(sensor->id == "e1-gas-" + std::to_string(i));
    CHECK(sensor->range_high == i);
  }
  CHECK(registry->FindSensor("e1-gas-30000") == nullptr);
  CHECK(registry->FindSensor("s2")->enterprise_id == "e2");
}

TEST_CASE("Registry batch lookups (hash given, entries prefetched) find what FindSensor finds",
          "[alarm][registry]") {
  RegistryEntries entries = SampleEntries();
  for (int i = 0; i < 2'000; ++i) {
    entries.sensors.push_back(MakeSensor("e1-gas-" + std::to_string(i), "e1", 0, i));
  }
  auto registry = BuildOk(std::move(entries));
  // As a batch does it: every id hashed first (unknown ones too), then the hints, then the lookups.
  std::vector<std::string> ids = {"s2", "unknown", "", "e1-gas-2000"};
  for (int i = 0; i < 2'000; i += 3) ids.push_back("e1-gas-" + std::to_string(i));
  std::vector<uint64_t> hashes;
  hashes.reserve(ids.size());
  for (const std::string& id : ids) hashes.push_back(IdIndex::Hash(id));
  registry->PrefetchSensors(hashes);
  for (size_t i = 0; i < ids.size(); ++i) {
    CAPTURE(ids[i]);
    const Sensor* by_hash = registry->FindSensor(ids[i], hashes[i]);
    CHECK(by_hash == registry->FindSensor(ids[i]));
    if (by_hash != nullptr) CHECK(by_hash->id == ids[i]);
  }
  CHECK(registry->FindSensor("s2", hashes[0])->enterprise_id == "e2");
  CHECK(registry->FindSensor("unknown", hashes[1]) == nullptr);
  // An empty registry has no table to prefetch from.
  auto empty = BuildOk(RegistryEntries{});
  empty->PrefetchSensors(hashes);
  CHECK(empty->FindSensor("s2", hashes[0]) == nullptr);
}

TEST_CASE("Registry builds an empty registry", "[alarm][registry]") {
  auto registry = BuildOk(RegistryEntries{});
  CHECK(registry->entries().enterprises.empty());
  CHECK(registry->FindSensor("s1") == nullptr);
}

TEST_CASE("Registry accepts ids of 1 and 128 printable bytes", "[alarm][registry]") {
  RegistryEntries entries = SampleEntries();
  const std::string long_id(kMaxIdBytes, 'x');
  entries.enterprises.push_back(MakeEnterprise(long_id));
  entries.sensors.push_back(MakeSensor("a", long_id));
  entries.sensors.push_back(MakeSensor("tank-1/level~!#", long_id));
  auto registry = BuildOk(entries);
  CHECK(registry->FindEnterprise(long_id) != nullptr);
  CHECK(registry->FindSensor("a") != nullptr);
  CHECK(registry->FindSensor("tank-1/level~!#") != nullptr);
  CHECK(IsValidId("a"));
  CHECK(IsValidId(long_id));
}

TEST_CASE("IsValidId rejects empty, over-long, spaced and non-printable ids", "[alarm][registry]") {
  CHECK_FALSE(IsValidId(""));
  CHECK_FALSE(IsValidId(std::string(kMaxIdBytes + 1, 'x')));
  CHECK_FALSE(IsValidId("a b"));
  CHECK_FALSE(IsValidId("a\tb"));
  CHECK_FALSE(IsValidId(std::string("a\0b", 3)));
  CHECK_FALSE(IsValidId("a\x7f"));
  CHECK_FALSE(IsValidId("caf\xc3\xa9"));
}

TEST_CASE("Registry Build rejects bad ids", "[alarm][registry]") {
  RegistryEntries entries = SampleEntries();
  std::string bad;
  SECTION("empty enterprise id") {
    entries.enterprises.push_back(MakeEnterprise(""));
    CHECK_THAT(BuildError(entries), Contains("enterprise id ''"));
  }
  SECTION("over-long enterprise id") {
    bad = std::string(kMaxIdBytes + 1, 'e');
    entries.enterprises.push_back(MakeEnterprise(bad));
    CHECK_THAT(BuildError(entries), Contains(Echo(bad)));
  }
  SECTION("enterprise id with a space") {
    entries.enterprises.push_back(MakeEnterprise("e 3"));
    CHECK_THAT(BuildError(entries), Contains("'e 3'"));
  }
  SECTION("sensor id with a space") {
    entries.sensors.push_back(MakeSensor("s 3", "e1"));
    CHECK_THAT(BuildError(entries), Contains("sensor id 's 3'"));
  }
  SECTION("empty sensor id") {
    entries.sensors.push_back(MakeSensor("", "e1"));
    CHECK_THAT(BuildError(entries), Contains("sensor id ''"));
  }
  SECTION("over-long sensor id") {
    bad = std::string(kMaxIdBytes + 1, 's');
    entries.sensors.push_back(MakeSensor(bad, "e1"));
    CHECK_THAT(BuildError(entries), Contains(Echo(bad)));
  }
  SECTION("a 1 MB gateway id, quoted cut short") {
    bad = std::string(1 << 20, 'g');
    entries.gateways.push_back(MakeGateway(bad, "e1"));
    const std::string error = BuildError(entries);
    CHECK_THAT(error, Contains("...(1048576 bytes)"));
    CHECK(error.size() < 300);
  }
  SECTION("a 1 MB enterprise id referenced by a sensor, quoted cut short") {
    bad = std::string(1 << 20, 'e');
    entries.sensors.push_back(MakeSensor("s3", bad));
    const std::string error = BuildError(entries);
    CHECK_THAT(error, Contains("unknown enterprise") && Contains("...(1048576 bytes)"));
    CHECK(error.size() < 300);
  }
  SECTION("gateway id with a control character") {
    entries.gateways.push_back(MakeGateway("g\n3", "e1"));
    CHECK_THAT(BuildError(entries), Contains("gateway id"));
  }
  SECTION("empty gateway id") {
    entries.gateways.push_back(MakeGateway("", "e1"));
    CHECK_THAT(BuildError(entries), Contains("gateway id ''"));
  }
}

TEST_CASE("Registry Build rejects duplicate ids", "[alarm][registry]") {
  RegistryEntries entries = SampleEntries();
  SECTION("enterprise") {
    entries.enterprises.push_back(MakeEnterprise("e1", EnterpriseKind::kOther));
    CHECK_THAT(BuildError(entries), Contains("enterprise 'e1' is listed twice"));
  }
  SECTION("sensor") {
    entries.sensors.push_back(MakeSensor("s1", "e2"));
    CHECK_THAT(BuildError(entries), Contains("sensor 's1' is listed twice"));
  }
  SECTION("gateway") {
    entries.gateways.push_back(MakeGateway("g2", "e1"));
    CHECK_THAT(BuildError(entries), Contains("gateway 'g2' is listed twice"));
  }
}

TEST_CASE("Registry Build accepts the same id as a sensor, a gateway and an enterprise",
          "[alarm][registry]") {
  RegistryEntries entries = SampleEntries();
  entries.enterprises.push_back(MakeEnterprise("x"));
  entries.sensors.push_back(MakeSensor("x", "x"));
  entries.gateways.push_back(MakeGateway("x", "x"));
  auto registry = BuildOk(entries);
  CHECK(registry->FindEnterprise("x") != nullptr);
  CHECK(registry->FindSensor("x") != nullptr);
  CHECK(registry->FindGateway("x") != nullptr);
}

TEST_CASE("Registry Build rejects a region code that is not 6 digits", "[alarm][registry]") {
  RegistryEntries entries = SampleEntries();
  std::string code;
  SECTION("5 digits") { code = "37010"; }
  SECTION("7 digits") { code = "3701051"; }
  SECTION("letters") { code = "37A105"; }
  SECTION("all letters") { code = "abcdef"; }
  SECTION("empty") { code = ""; }
  SECTION("space padded") { code = " 37010"; }
  SECTION("sign") { code = "-37010"; }
  entries.enterprises.push_back(MakeEnterprise("e3", EnterpriseKind::kOther, code));
  const std::string message = BuildError(entries);
  CHECK_THAT(message, Contains("e3"));
  CHECK_THAT(message, Contains("region_code '" + code + "'"));
}

TEST_CASE("Registry Build rejects an unspecified enterprise kind", "[alarm][registry]") {
  RegistryEntries entries = SampleEntries();
  entries.enterprises.push_back(MakeEnterprise("e3", EnterpriseKind::kUnspecified));
  const std::string message = BuildError(entries);
  CHECK_THAT(message, Contains("e3"));
  CHECK_THAT(message, Contains("kind"));
}

TEST_CASE("Registry Build accepts every named enterprise kind", "[alarm][registry]") {
  RegistryEntries entries;
  entries.enterprises = {MakeEnterprise("a", EnterpriseKind::kHazardousChemical),
                         MakeEnterprise("b", EnterpriseKind::kCoalMine),
                         MakeEnterprise("c", EnterpriseKind::kTailings),
                         MakeEnterprise("d", EnterpriseKind::kOther)};
  auto registry = BuildOk(entries);
  CHECK(registry->FindEnterprise("a")->kind == EnterpriseKind::kHazardousChemical);
  CHECK(registry->FindEnterprise("d")->kind == EnterpriseKind::kOther);
}

TEST_CASE("Registry Build rejects a sensor or gateway of an unknown enterprise",
          "[alarm][registry]") {
  RegistryEntries entries = SampleEntries();
  SECTION("sensor") {
    entries.sensors.push_back(MakeSensor("s3", "e9"));
    const std::string message = BuildError(entries);
    CHECK_THAT(message, Contains("sensor 's3'"));
    CHECK_THAT(message, Contains("unknown enterprise 'e9'"));
  }
  SECTION("gateway") {
    entries.gateways.push_back(MakeGateway("g3", "e9"));
    const std::string message = BuildError(entries);
    CHECK_THAT(message, Contains("gateway 'g3'"));
    CHECK_THAT(message, Contains("unknown enterprise 'e9'"));
  }
  SECTION("sensor with an empty enterprise id") {
    entries.sensors.push_back(MakeSensor("s3", ""));
    CHECK_THAT(BuildError(entries), Contains("sensor 's3'"));
  }
}

TEST_CASE("Registry Build checks the sensor range and interval", "[alarm][registry]") {
  RegistryEntries entries = SampleEntries();
  SECTION("range_low above range_high is rejected") {
    entries.sensors.push_back(MakeSensor("s3", "e1", 10, 9.5));
    const std::string message = BuildError(entries);
    CHECK_THAT(message, Contains("s3"));
    CHECK_THAT(message, Contains("range_low"));
  }
  // Found by tests/fuzz/registry_api_fuzzer: a NaN bound passed the order check
  // (every comparison with NaN is false), so RegistryAdmin.ApplyRegistry stored a
  // declared range that the sensor-fault check never enforces.
  SECTION("a NaN bound is rejected") {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    for (auto [low, high] : {std::pair{nan, 100.0}, std::pair{-0.5, nan}, std::pair{nan, nan}}) {
      entries.sensors = {MakeSensor("s3", "e1", low, high)};
      const std::string message = BuildError(entries);
      CHECK_THAT(message, Contains("s3"));
      CHECK_THAT(message, Contains("not a number"));
    }
  }
  SECTION("infinite bounds are accepted when ordered") {
    const double inf = std::numeric_limits<double>::infinity();
    entries.sensors.push_back(MakeSensor("s3", "e1", -inf, inf));
    CHECK(BuildOk(entries)->FindSensor("s3") != nullptr);
  }
  SECTION("equal bounds are accepted") {
    entries.sensors.push_back(MakeSensor("s3", "e1", 4, 4));
    CHECK(BuildOk(entries)->FindSensor("s3") != nullptr);
  }
  SECTION("negative ranges are accepted when ordered") {
    entries.sensors.push_back(MakeSensor("s3", "e1", -40, -10));
    CHECK(BuildOk(entries)->FindSensor("s3")->range_low == -40);
  }
  SECTION("negative expected_interval is rejected") {
    Sensor s = MakeSensor("s3", "e1");
    s.expected_interval = -1ms;
    entries.sensors.push_back(s);
    CHECK_THAT(BuildError(entries), Contains("s3"));
  }
  // The API and the stored registry carry the interval as uint32 milliseconds.
  SECTION("expected_interval is at most 49 days") {
    Sensor s = MakeSensor("s3", "e1");
    s.expected_interval = kMaxExpectedInterval;
    entries.sensors.push_back(s);
    CHECK(BuildOk(entries)->FindSensor("s3")->expected_interval == 49 * 24h);
    entries.sensors.back().expected_interval = kMaxExpectedInterval + 1ms;
    CHECK_THAT(BuildError(entries), Contains("s3"));
  }
}

TEST_CASE("Registry Apply replaces upserted entries by id and adds new ones", "[alarm][registry]") {
  auto before = BuildOk(SampleEntries());
  RegistryChange change;
  Sensor changed = MakeSensor("s1", "e1", -1, 99);
  changed.unit = "ppm";
  change.upsert.sensors = {changed, MakeSensor("s3", "e2")};
  change.upsert.gateways = {MakeGateway("g1", "e2")};
  change.upsert.enterprises = {MakeEnterprise("e3", EnterpriseKind::kOther, "440305")};

  auto after = before->Apply(change);
  REQUIRE(after.has_value());
  const Registry& next = **after;

  // Replaced in place (same position), not duplicated; new ones appended.
  CHECK(SensorIds(next) == std::vector<std::string>{"s1", "s2", "s3"});
  REQUIRE(next.FindSensor("s1") != nullptr);
  CHECK(next.FindSensor("s1")->unit == "ppm");
  CHECK(next.FindSensor("s1")->range_low == -1);
  CHECK(next.FindSensor("s1")->range_high == 99);
  REQUIRE(next.FindSensor("s3") != nullptr);
  CHECK(next.FindSensor("s3")->enterprise_id == "e2");
  CHECK(next.FindGateway("g1")->enterprise_id == "e2");
  CHECK(next.entries().gateways.size() == 2);
  CHECK(next.FindEnterprise("e3") != nullptr);
  CHECK(next.entries().enterprises.size() == 3);
  // Untouched entries are kept.
  CHECK(next.FindSensor("s2") != nullptr);
  CHECK(next.FindGateway("g2") != nullptr);
}

TEST_CASE("Registry Apply leaves the original registry unchanged", "[alarm][registry]") {
  auto before = BuildOk(SampleEntries());
  const Sensor* old_s1 = before->FindSensor("s1");
  REQUIRE(old_s1 != nullptr);

  RegistryChange change;
  Sensor changed = MakeSensor("s1", "e1");
  changed.unit = "ppm";
  change.upsert.sensors = {changed, MakeSensor("s3", "e1")};
  change.remove_gateway_ids = {"g2"};
  change.remove_sensor_ids = {"s2"};

  auto after = before->Apply(change);
  REQUIRE(after.has_value());
  CHECK((*after)->FindSensor("s1")->unit == "ppm");
  CHECK((*after)->FindSensor("s2") == nullptr);

  // The old registry still answers as before, through the same pointers.
  CHECK(before->FindSensor("s1") == old_s1);
  CHECK(old_s1->unit == "%CH4");
  CHECK(before->FindSensor("s2") != nullptr);
  CHECK(before->FindSensor("s3") == nullptr);
  CHECK(before->FindGateway("g2") != nullptr);
  CHECK(SensorIds(*before) == std::vector<std::string>{"s1", "s2"});
}

TEST_CASE("Registry Apply removes sensors, gateways and enterprises", "[alarm][registry]") {
  auto before = BuildOk(SampleEntries());
  RegistryChange change;
  change.remove_sensor_ids = {"s2"};
  change.remove_gateway_ids = {"g2"};
  change.remove_enterprise_ids = {"e2"};
  auto after = before->Apply(change);
  REQUIRE(after.has_value());
  CHECK((*after)->FindSensor("s2") == nullptr);
  CHECK((*after)->FindGateway("g2") == nullptr);
  CHECK((*after)->FindEnterprise("e2") == nullptr);
  CHECK((*after)->FindSensor("s1") != nullptr);
  CHECK((*after)->FindGateway("g1") != nullptr);
  CHECK((*after)->entries().enterprises.size() == 1);
  CHECK((*after)->entries().sensors.size() == 1);
  CHECK((*after)->entries().gateways.size() == 1);
}

TEST_CASE("Registry Apply refuses, whole, the removal of an id that does not exist",
          "[alarm][registry]") {
  auto before = BuildOk(SampleEntries());
  RegistryChange change;
  // Valid parts beside the bad one.
  change.upsert.sensors = {MakeSensor("s3", "e1")};
  change.remove_gateway_ids = {"g2"};
  std::string expected;
  SECTION("a sensor") {
    change.remove_sensor_ids = {"s1", "nope"};
    expected = "remove_sensor_ids: no sensor 'nope' in the registry";
  }
  SECTION("a gateway") {
    change.remove_gateway_ids = {"g2", "nope"};
    expected = "remove_gateway_ids: no gateway 'nope' in the registry";
  }
  SECTION("an enterprise") {
    change.remove_enterprise_ids = {"nope"};
    expected = "remove_enterprise_ids: no enterprise 'nope' in the registry";
  }
  SECTION("a sensor by a gateway's id") {
    change.remove_sensor_ids = {"g1"};
    expected = "remove_sensor_ids: no sensor 'g1' in the registry";
  }
  SECTION("a 1 MB sensor id, quoted cut short") {
    change.remove_sensor_ids = {std::string(1 << 20, 's')};
    expected =
        "remove_sensor_ids: no sensor '" + Echo(change.remove_sensor_ids[0]) + "' in the registry";
  }
  auto after = before->Apply(change);
  REQUIRE_FALSE(after.has_value());
  CHECK(after.error().code() == Status::Code::kInvalidArgument);
  CHECK(after.error().message() == expected);
}

TEST_CASE("Registry Apply removes an id listed twice once", "[alarm][registry]") {
  auto before = BuildOk(SampleEntries());
  RegistryChange change;
  change.remove_gateway_ids = {"g2", "g2"};
  auto after = before->Apply(change);
  REQUIRE(after.has_value());
  CHECK((*after)->FindGateway("g2") == nullptr);
}

TEST_CASE("Registry Apply applies upserts before removals", "[alarm][registry]") {
  auto before = BuildOk(SampleEntries());
  RegistryChange change;
  change.upsert.sensors = {MakeSensor("s3", "e1")};
  change.remove_sensor_ids = {"s3"};
  auto after = before->Apply(change);
  REQUIRE(after.has_value());
  CHECK((*after)->FindSensor("s3") == nullptr);
}

TEST_CASE("Registry Apply fails to remove an enterprise still referenced", "[alarm][registry]") {
  auto before = BuildOk(SampleEntries());
  RegistryChange change;
  change.remove_enterprise_ids = {"e2"};
  SECTION("by a sensor and a gateway") {}
  SECTION("by a gateway only") { change.remove_sensor_ids = {"s2"}; }
  SECTION("by a sensor only") { change.remove_gateway_ids = {"g2"}; }
  SECTION("by a sensor upserted in the same change") {
    change.remove_sensor_ids = {"s2"};
    change.remove_gateway_ids = {"g2"};
    change.upsert.sensors = {MakeSensor("s9", "e2")};
  }
  auto after = before->Apply(change);
  REQUIRE_FALSE(after.has_value());
  CHECK(after.error().code() == Status::Code::kInvalidArgument);
  CHECK_THAT(after.error().message(), Contains("'e2'"));
  // The failed change left the original untouched.
  CHECK(before->FindEnterprise("e2") != nullptr);
  CHECK(before->FindSensor("s2") != nullptr);
  CHECK(before->FindGateway("g2") != nullptr);
}

TEST_CASE("Registry Apply rejects an invalid upsert", "[alarm][registry]") {
  auto before = BuildOk(SampleEntries());
  RegistryChange change;
  change.upsert.sensors = {MakeSensor("s1", "e1", 5, 1)};
  auto after = before->Apply(change);
  REQUIRE_FALSE(after.has_value());
  CHECK(after.error().code() == Status::Code::kInvalidArgument);
  CHECK_THAT(after.error().message(), Contains("s1"));
  CHECK(before->FindSensor("s1")->range_high == 5);
}

TEST_CASE("EnterpriseKind names round trip", "[alarm][registry]") {
  const std::vector<std::pair<EnterpriseKind, std::string_view>> kinds = {
      {EnterpriseKind::kHazardousChemical, "hazardous_chemical"},
      {EnterpriseKind::kCoalMine, "coal_mine"},
      {EnterpriseKind::kTailings, "tailings"},
      {EnterpriseKind::kOther, "other"},
  };
  for (const auto& [kind, name] : kinds) {
    CAPTURE(name);
    CHECK(EnterpriseKindName(kind) == name);
    CHECK(EnterpriseKindFromName(name) == kind);
    CHECK(EnterpriseKindFromName(EnterpriseKindName(kind)) == kind);
  }
  CHECK(EnterpriseKindName(EnterpriseKind::kUnspecified) == "unspecified");
  CHECK(EnterpriseKindFromName("unspecified") == EnterpriseKind::kUnspecified);
  CHECK(EnterpriseKindFromName("") == EnterpriseKind::kUnspecified);
  CHECK(EnterpriseKindFromName("Coal_Mine") == EnterpriseKind::kUnspecified);
  CHECK(EnterpriseKindFromName("coal_mine ") == EnterpriseKind::kUnspecified);
  CHECK(EnterpriseKindFromName("coal") == EnterpriseKind::kUnspecified);
}

}  // namespace
}  // namespace vigil::alarm

namespace vigil::alarm {
namespace {

RegistryEntries WithFacility() {
  RegistryEntries e;
  e.enterprises = {
      {.id = "e1", .name = "", .kind = EnterpriseKind::kTailings, .region_code = "370105"},
      {.id = "e2", .name = "", .kind = EnterpriseKind::kCoalMine, .region_code = "140105"}};
  e.facilities = {{.id = "res",
                   .enterprise_id = "e1",
                   .kind = FacilityKind::kTailingsReservoir,
                   .name = "R",
                   .items = {{.id = "disp", .name = ""}, {.id = "phr", .name = ""}}},
                  {.id = "face", .enterprise_id = "e2", .kind = FacilityKind::kWorkingFace}};
  e.sensors = {
      {.id = "d1",
       .enterprise_id = "e1",
       .facility_id = "res",
       .item_id = "disp",
       .quantity = "q",
       .unit = "u"},
      {.id = "d2", .enterprise_id = "e1", .facility_id = "res", .quantity = "q", .unit = "u"},
      {.id = "m1", .enterprise_id = "e2", .facility_id = "face", .quantity = "q", .unit = "u"}};
  return e;
}

TEST_CASE("Registry facilities: lookups by facility, item and place", "[registry]") {
  auto r = Registry::Build(WithFacility());
  REQUIRE(r.has_value());
  const Registry& reg = **r;
  const Facility* of = nullptr;
  REQUIRE(reg.FindItem("phr", &of) != nullptr);
  CHECK(of->id == "res");
  CHECK(reg.FindFacility("face")->kind == FacilityKind::kWorkingFace);
  CHECK(reg.SensorsOfItem("disp").size() == 1);
  CHECK(reg.SensorsOfItem("phr").empty());
  CHECK(reg.SensorsOfFacility("res").size() == 2);
  CHECK(reg.FacilitiesOf("e1").size() == 1);
  CHECK(reg.EnterpriseOfPlace("disp")->id == "e1");
  CHECK(reg.EnterpriseOfPlace("face")->id == "e2");
  CHECK(reg.EnterpriseOfPlace("e2")->id == "e2");
  CHECK(reg.EnterpriseOfPlace("d1") == nullptr);
  CHECK(FacilityKindFromName("tank_farm") == FacilityKind::kTankFarm);
  CHECK(FacilityKindFromName("dam") == FacilityKind::kUnspecified);
}

TEST_CASE("Registry facilities: every broken reference is refused, naming it", "[registry]") {
  RegistryEntries e = WithFacility();
  e.sensors[0].item_id = "phr-9";
  CHECK(BuildError(e) == "sensor 'd1': facility 'res' has no item 'phr-9'");
  e = WithFacility();
  e.sensors[2].facility_id = "res";
  CHECK(BuildError(e) == "sensor 'm1': facility 'res' belongs to enterprise 'e1', not 'e2'");
  e = WithFacility();
  e.sensors[1].facility_id.clear();
  e.sensors[1].item_id = "disp";
  CHECK(BuildError(e) == "sensor 'd2': item 'disp' given without its facility");
  e = WithFacility();
  e.facilities[1].items = {{.id = "disp", .name = ""}};
  CHECK(
      BuildError(e) ==
      "facility 'face': item 'disp': id already names an enterprise, facility or monitoring item");
  e = WithFacility();
  e.facilities[1].id = "e1";
  CHECK(BuildError(e) ==
        "facility 'e1': id already names an enterprise, facility or monitoring item");
  e = WithFacility();
  e.facilities[1].kind = FacilityKind::kUnspecified;
  CHECK(BuildError(e) ==
        "facility 'face': kind must be one of major_hazard_source, tank_farm, tailings_reservoir, "
        "working_face, other");

  // Removing a facility its sensors still name is refused; with them, fine.
  auto r = Registry::Build(WithFacility());
  REQUIRE(r.has_value());
  RegistryChange change;
  change.remove_facility_ids = {"face"};
  auto applied = (*r)->Apply(change);
  REQUIRE_FALSE(applied.has_value());
  CHECK(applied.error().message() == "sensor 'm1': unknown facility 'face'");
  change.remove_sensor_ids = {"m1"};
  applied = (*r)->Apply(change);
  REQUIRE(applied.has_value());
  CHECK((*applied)->FindFacility("face") == nullptr);
}

}  // namespace
}  // namespace vigil::alarm
