// The registry: enterprises, their sensors, and the gateways that write for
// them. A Registry is immutable once built, so any number of threads may read
// one concurrently; a change builds a new one (copy-on-write) that the server
// publishes in place of the old.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "alarm/id_index.h"
#include "alarm/status.h"

namespace vigil::alarm {

enum class EnterpriseKind : uint8_t {
  kUnspecified = 0,
  kHazardousChemical = 1,
  kCoalMine = 2,
  kTailings = 3,
  kOther = 4,
};

// "hazardous_chemical", "coal_mine", "tailings", "other"; nullopt-like
// kUnspecified for anything else.
EnterpriseKind EnterpriseKindFromName(std::string_view name);
std::string_view EnterpriseKindName(EnterpriseKind kind);

struct Enterprise {
  std::string id;
  std::string name;
  EnterpriseKind kind = EnterpriseKind::kUnspecified;
  // 6-digit GB/T 2260 administrative division code, e.g. "370105".
  std::string region_code;
};

// What a facility is (the level between enterprise and sensor that
// regulators think in).
enum class FacilityKind : uint8_t {
  kUnspecified = 0,
  kMajorHazardSource = 1,  // hazardous chemicals: a major hazard source (GB 18218)
  kTankFarm = 2,
  kTailingsReservoir = 3,
  kWorkingFace = 4,  // coal mine
  kOther = 5,
};
// "major_hazard_source", "tank_farm", "tailings_reservoir", "working_face",
// "other"; kUnspecified for anything else.
FacilityKind FacilityKindFromName(std::string_view name);
std::string_view FacilityKindName(FacilityKind kind);

// A monitoring item within a facility (GB 39496's 监测项目: e.g. the dam's
// surface displacement, the phreatic line): a group of sensors rolled up
// together.
struct MonitoringItem {
  std::string id{};
  std::string name{};

  bool operator==(const MonitoringItem&) const = default;
};

// A facility of an enterprise: a major hazard source, a tank farm, a
// tailings reservoir, a working face. Its items are upserted with it, whole.
struct Facility {
  std::string id{};
  std::string enterprise_id{};
  FacilityKind kind = FacilityKind::kUnspecified;
  std::string name{};
  std::vector<MonitoringItem> items{};

  bool operator==(const Facility&) const = default;
};

struct Sensor {
  std::string id;
  std::string enterprise_id;
  // The facility it belongs to (of the same enterprise), empty for none; and
  // optionally one monitoring item of that facility.
  std::string facility_id{};
  std::string item_id{};
  std::string quantity;  // e.g. "methane"
  std::string unit;      // e.g. "%CH4"
  // Instrument measuring range in `unit`; both 0 when not declared.
  double range_low = 0;
  double range_high = 0;
  // 0 when not declared; at most kMaxExpectedInterval.
  std::chrono::milliseconds expected_interval{0};
  // The server's stable number for this sensor in the ingest log
  // (storage/sensor_numbers.h); 0 when none was given (the log then names
  // the sensor by its id). Not part of the API or the stored sensor entry.
  uint32_t log_number = 0;
};

// The longest Sensor::expected_interval: vigil.v1.Sensor, and with it the
// registry as the server stores it, carries the interval as uint32
// milliseconds (49.7 days).
inline constexpr std::chrono::milliseconds kMaxExpectedInterval = std::chrono::days(49);

struct Gateway {
  std::string id;
  std::string enterprise_id;
};

// The registry's content as plain lists, in the order given.
struct RegistryEntries {
  std::vector<Enterprise> enterprises;
  std::vector<Sensor> sensors;
  std::vector<Gateway> gateways;
  std::vector<Facility> facilities{};
};

// A change: upserts (matched by id) then removals.
struct RegistryChange {
  RegistryEntries upsert;
  std::vector<std::string> remove_enterprise_ids;
  std::vector<std::string> remove_sensor_ids;
  std::vector<std::string> remove_gateway_ids;
  std::vector<std::string> remove_facility_ids{};
};

class Registry {
 public:
  // Validates and indexes `entries`. Errors (kInvalidArgument) name the first
  // offending entry: empty or over-long id, duplicate id, region code not 6
  // digits, unknown enterprise referenced, range_low > range_high or either NaN,
  // unknown kind,
  // expected_interval negative or over kMaxExpectedInterval; a facility of
  // unknown kind or enterprise, a facility or item id used twice or equal to
  // an enterprise id (facility, item and enterprise ids name roll-up alarms:
  // one namespace), a sensor naming an unknown facility, a facility of
  // another enterprise, an item without a facility or not of its facility.
  static Result<std::shared_ptr<const Registry>> Build(RegistryEntries entries);

  // Applies `change` to this registry's entries and builds the result; this
  // registry is unchanged. Fails (kInvalidArgument) when a removed id has no
  // entry (after the change's upserts), or an enterprise removed is still
  // referenced.
  Result<std::shared_ptr<const Registry>> Apply(const RegistryChange& change) const;

  // Lookups return nullptr on a miss. Pointers live as long as the Registry.
  const Enterprise* FindEnterprise(std::string_view id) const;
  const Sensor* FindSensor(std::string_view id) const;
  // The same, with id_hash == IdIndex::Hash(id): a batch hashes each id once.
  const Sensor* FindSensor(std::string_view id, uint64_t id_hash) const;
  // Cache hints for a batch of FindSensor calls (ids by IdIndex::Hash), so
  // that their misses overlap instead of following one another. No effect on
  // results; any thread, like the lookups.
  void PrefetchSensors(std::span<const uint64_t> id_hashes) const;
  const Gateway* FindGateway(std::string_view id) const;
  const Facility* FindFacility(std::string_view id) const;
  // A monitoring item and the facility holding it; nullptr on a miss.
  const MonitoringItem* FindItem(std::string_view id, const Facility** facility = nullptr) const;
  // The sensors of a facility or item (any sensor of the facility, with or
  // without an item), in registry order; empty for an unknown id.
  std::span<const Sensor* const> SensorsOfFacility(std::string_view facility_id) const;
  std::span<const Sensor* const> SensorsOfItem(std::string_view item_id) const;
  // The facilities of an enterprise, in registry order.
  std::span<const Facility* const> FacilitiesOf(std::string_view enterprise_id) const;
  // The enterprise a facility, item or enterprise id belongs to (the places
  // a roll-up alarm can be raised at), or nullptr.
  const Enterprise* EnterpriseOfPlace(std::string_view id) const;
  // The sensors of an enterprise, in registry order; empty for an unknown
  // enterprise or one without sensors. Valid as long as the Registry.
  std::span<const Sensor* const> SensorsOf(std::string_view enterprise_id) const;

  const RegistryEntries& entries() const { return entries_; }

 private:
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  template <class T>
  using Index = std::unordered_map<std::string_view, const T*, StringHash, std::equal_to<>>;

  Registry() = default;

  RegistryEntries entries_;
  Index<Enterprise> enterprises_;
  IdIndex sensor_index_;  // into entries_.sensors: looked up for every series ingested
  Index<Gateway> gateways_;
  template <class T>
  using Members =
      std::unordered_map<std::string_view, std::vector<const T*>, StringHash, std::equal_to<>>;
  Members<Sensor> sensors_by_enterprise_;
  Index<Facility> facilities_;
  // Item id -> (item, its facility).
  std::unordered_map<std::string_view, std::pair<const MonitoringItem*, const Facility*>,
                     StringHash, std::equal_to<>>
      items_;
  Members<Sensor> sensors_by_facility_;
  Members<Sensor> sensors_by_item_;
  Members<Facility> facilities_by_enterprise_;
};

// Ids are 1..128 bytes of printable ASCII without spaces. 128 leaves room for
// hierarchical ids (region code, plant, area, ISA tag: rarely over 64 bytes)
// and keeps what quotes them small: an ack lists at most 100 rejections, each
// naming its sensor twice, so ids of 128 bytes keep it near 30 KB, far below
// a gRPC client's 4 MB default receive limit. Ingest refuses a longer sensor
// id (REJECT_REASON_ID_TOO_LONG) or gateway id (INVALID_ARGUMENT) outright.
inline constexpr size_t kMaxIdBytes = 128;
static_assert(kMaxEchoBytes >= kMaxIdBytes, "a valid id must be echoed whole");
bool IsValidId(std::string_view id);

}  // namespace vigil::alarm
