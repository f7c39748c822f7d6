#include "alarm/registry.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>
#include <unordered_set>

namespace vigil::alarm {
namespace {

bool IsRegionCode(std::string_view code) {
  return code.size() == 6 &&
         std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; });
}

template <class T>
void Upsert(std::vector<T>& list, const std::vector<T>& changes) {
  if (changes.empty()) return;
  // Index once: a change of many entries stays linear in the registry size.
  std::unordered_map<std::string, size_t> position;
  position.reserve(list.size() + changes.size());
  for (size_t i = 0; i < list.size(); ++i) position.emplace(list[i].id, i);
  for (const T& changed : changes) {
    auto it = position.find(changed.id);
    if (it == position.end()) {
      list.push_back(changed);
      position.emplace(list.back().id, list.size() - 1);
    } else {
      list[it->second] = changed;
    }
  }
}

// Removes the entries of `ids`; kInvalidArgument, naming the first id
// without an entry, when one has none (a typo must not pass silently).
template <class T>
Status Remove(std::vector<T>& list, const std::vector<std::string>& ids, std::string_view what) {
  if (ids.empty()) return Status::Ok();
  std::unordered_set<std::string_view> doomed(ids.begin(), ids.end());
  std::unordered_set<std::string_view> found;
  for (const T& entry : list) {
    if (doomed.contains(entry.id)) found.insert(entry.id);
  }
  for (const std::string& id : ids) {
    if (!found.contains(id)) {
      return Status::InvalidArgument("remove_" + std::string(what) + "_ids: no " +
                                     std::string(what) + " '" + Echo(id) + "' in the registry");
    }
  }
  std::erase_if(list, [&](const T& entry) { return doomed.contains(entry.id); });
  return Status::Ok();
}

// The members of `id` in a Registry::Members map; empty when it has none.
template <class Map>
auto MembersOf(const Map& map, std::string_view id)
    -> std::span<const typename Map::mapped_type::value_type> {
  const auto it = map.find(id);
  if (it == map.end()) return {};
  return it->second;
}

}  // namespace

bool IsValidId(std::string_view id) {
  return !id.empty() && id.size() <= kMaxIdBytes &&
         std::all_of(id.begin(), id.end(), [](char c) { return c > ' ' && c < 0x7f; });
}

EnterpriseKind EnterpriseKindFromName(std::string_view name) {
  if (name == "hazardous_chemical") return EnterpriseKind::kHazardousChemical;
  if (name == "coal_mine") return EnterpriseKind::kCoalMine;
  if (name == "tailings") return EnterpriseKind::kTailings;
  if (name == "other") return EnterpriseKind::kOther;
  return EnterpriseKind::kUnspecified;
}

std::string_view EnterpriseKindName(EnterpriseKind kind) {
  switch (kind) {
    case EnterpriseKind::kHazardousChemical:
      return "hazardous_chemical";
    case EnterpriseKind::kCoalMine:
      return "coal_mine";
    case EnterpriseKind::kTailings:
      return "tailings";
    case EnterpriseKind::kOther:
      return "other";
    case EnterpriseKind::kUnspecified:
      break;
  }
  return "unspecified";
}

FacilityKind FacilityKindFromName(std::string_view name) {
  for (uint8_t k = 1; k <= static_cast<uint8_t>(FacilityKind::kOther); ++k) {
    if (FacilityKindName(static_cast<FacilityKind>(k)) == name) return static_cast<FacilityKind>(k);
  }
  return FacilityKind::kUnspecified;
}

std::string_view FacilityKindName(FacilityKind kind) {
  switch (kind) {
    case FacilityKind::kMajorHazardSource:
      return "major_hazard_source";
    case FacilityKind::kTankFarm:
      return "tank_farm";
    case FacilityKind::kTailingsReservoir:
      return "tailings_reservoir";
    case FacilityKind::kWorkingFace:
      return "working_face";
    case FacilityKind::kOther:
      return "other";
    case FacilityKind::kUnspecified:
      break;
  }
  return "unspecified";
}

Result<std::shared_ptr<const Registry>> Registry::Build(RegistryEntries entries) {
  std::shared_ptr<Registry> registry(new Registry());
  registry->entries_ = std::move(entries);
  const RegistryEntries& e = registry->entries_;

  for (const Enterprise& enterprise : e.enterprises) {
    if (!IsValidId(enterprise.id)) {
      return Status::InvalidArgument("enterprise id '" + Echo(enterprise.id) +
                                     "': must be 1..128 printable ASCII bytes without spaces");
    }
    if (!IsRegionCode(enterprise.region_code)) {
      return Status::InvalidArgument("enterprise '" + enterprise.id + "': region_code '" +
                                     Echo(enterprise.region_code) +
                                     "' is not a 6-digit administrative division code");
    }
    if (enterprise.kind == EnterpriseKind::kUnspecified) {
      return Status::InvalidArgument(
          "enterprise '" + enterprise.id +
          "': kind must be one of hazardous_chemical, coal_mine, tailings, other");
    }
    if (!registry->enterprises_.emplace(enterprise.id, &enterprise).second) {
      return Status::InvalidArgument("enterprise '" + enterprise.id + "' is listed twice");
    }
  }
  for (const Facility& facility : e.facilities) {
    if (!IsValidId(facility.id)) {
      return Status::InvalidArgument("facility id '" + Echo(facility.id) +
                                     "': must be 1..128 printable ASCII bytes without spaces");
    }
    if (!registry->enterprises_.contains(facility.enterprise_id)) {
      return Status::InvalidArgument("facility '" + facility.id + "': unknown enterprise '" +
                                     Echo(facility.enterprise_id) + "'");
    }
    if (facility.kind == FacilityKind::kUnspecified) {
      return Status::InvalidArgument("facility '" + facility.id +
                                     "': kind must be one of major_hazard_source, tank_farm, "
                                     "tailings_reservoir, working_face, other");
    }
    auto place_taken = [&](const std::string& id) {
      return registry->enterprises_.contains(id) || registry->facilities_.contains(id) ||
             registry->items_.contains(id);
    };
    if (place_taken(facility.id)) {
      return Status::InvalidArgument(
          "facility '" + facility.id +
          "': id already names an enterprise, facility or monitoring item");
    }
    registry->facilities_.emplace(facility.id, &facility);
    registry->facilities_by_enterprise_[facility.enterprise_id].push_back(&facility);
    for (const MonitoringItem& item : facility.items) {
      if (!IsValidId(item.id)) {
        return Status::InvalidArgument("facility '" + facility.id + "': item id '" + Echo(item.id) +
                                       "': must be 1..128 printable ASCII bytes without spaces");
      }
      if (place_taken(item.id)) {
        return Status::InvalidArgument(
            "facility '" + facility.id + "': item '" + item.id +
            "': id already names an enterprise, facility or monitoring item");
      }
      registry->items_.emplace(item.id, std::pair(&item, &facility));
    }
  }
  registry->sensor_index_.Reset(e.sensors.size());
  for (size_t slot = 0; slot < e.sensors.size(); ++slot) {
    const Sensor& sensor = e.sensors[slot];
    if (!IsValidId(sensor.id)) {
      return Status::InvalidArgument("sensor id '" + Echo(sensor.id) +
                                     "': must be 1..128 printable ASCII bytes without spaces");
    }
    if (!registry->enterprises_.contains(sensor.enterprise_id)) {
      return Status::InvalidArgument("sensor '" + sensor.id + "': unknown enterprise '" +
                                     Echo(sensor.enterprise_id) + "'");
    }
    if (std::isnan(sensor.range_low) || std::isnan(sensor.range_high)) {
      return Status::InvalidArgument("sensor '" + sensor.id + "': range bound is not a number");
    }
    if (sensor.range_low > sensor.range_high) {
      return Status::InvalidArgument("sensor '" + sensor.id + "': range_low is above range_high");
    }
    if (sensor.expected_interval.count() < 0) {
      return Status::InvalidArgument("sensor '" + sensor.id +
                                     "': expected_interval must not be negative");
    }
    if (sensor.expected_interval > kMaxExpectedInterval) {
      return Status::InvalidArgument("sensor '" + sensor.id +
                                     "': expected_interval must be at most 49 days");
    }
    if (registry->FindSensor(sensor.id) != nullptr) {
      return Status::InvalidArgument("sensor '" + sensor.id + "' is listed twice");
    }
    if (!sensor.item_id.empty() && sensor.facility_id.empty()) {
      return Status::InvalidArgument("sensor '" + sensor.id + "': item '" + Echo(sensor.item_id) +
                                     "' given without its facility");
    }
    if (!sensor.facility_id.empty()) {
      const Facility* facility = registry->FindFacility(sensor.facility_id);
      if (facility == nullptr) {
        return Status::InvalidArgument("sensor '" + sensor.id + "': unknown facility '" +
                                       Echo(sensor.facility_id) + "'");
      }
      if (facility->enterprise_id != sensor.enterprise_id) {
        return Status::InvalidArgument("sensor '" + sensor.id + "': facility '" + facility->id +
                                       "' belongs to enterprise '" + facility->enterprise_id +
                                       "', not '" + sensor.enterprise_id + "'");
      }
      registry->sensors_by_facility_[facility->id].push_back(&sensor);
      if (!sensor.item_id.empty()) {
        const Facility* of = nullptr;
        if (registry->FindItem(sensor.item_id, &of) == nullptr || of != facility) {
          return Status::InvalidArgument("sensor '" + sensor.id + "': facility '" + facility->id +
                                         "' has no item '" + Echo(sensor.item_id) + "'");
        }
        registry->sensors_by_item_[sensor.item_id].push_back(&sensor);
      }
    }
    registry->sensor_index_.Insert(sensor.id, static_cast<uint32_t>(slot));
    registry->sensors_by_enterprise_[sensor.enterprise_id].push_back(&sensor);
  }
  for (const Gateway& gateway : e.gateways) {
    if (!IsValidId(gateway.id)) {
      return Status::InvalidArgument("gateway id '" + Echo(gateway.id) +
                                     "': must be 1..128 printable ASCII bytes without spaces");
    }
    if (!registry->enterprises_.contains(gateway.enterprise_id)) {
      return Status::InvalidArgument("gateway '" + gateway.id + "': unknown enterprise '" +
                                     Echo(gateway.enterprise_id) + "'");
    }
    if (!registry->gateways_.emplace(gateway.id, &gateway).second) {
      return Status::InvalidArgument("gateway '" + gateway.id + "' is listed twice");
    }
  }
  return std::shared_ptr<const Registry>(std::move(registry));
}

std::span<const Sensor* const> Registry::SensorsOf(std::string_view enterprise_id) const {
  return MembersOf(sensors_by_enterprise_, enterprise_id);
}

Result<std::shared_ptr<const Registry>> Registry::Apply(const RegistryChange& change) const {
  RegistryEntries next = entries_;
  Upsert(next.enterprises, change.upsert.enterprises);
  Upsert(next.sensors, change.upsert.sensors);
  Upsert(next.gateways, change.upsert.gateways);
  Upsert(next.facilities, change.upsert.facilities);
  Status removed = Remove(next.sensors, change.remove_sensor_ids, "sensor");
  if (removed.ok()) removed = Remove(next.gateways, change.remove_gateway_ids, "gateway");
  if (removed.ok()) removed = Remove(next.facilities, change.remove_facility_ids, "facility");
  if (removed.ok()) removed = Remove(next.enterprises, change.remove_enterprise_ids, "enterprise");
  if (!removed.ok()) return removed;
  // Build() reports a sensor or gateway left pointing at a removed enterprise.
  return Build(std::move(next));
}

const Enterprise* Registry::FindEnterprise(std::string_view id) const {
  auto it = enterprises_.find(id);
  return it == enterprises_.end() ? nullptr : it->second;
}

const Sensor* Registry::FindSensor(std::string_view id) const {
  return FindSensor(id, IdIndex::Hash(id));
}

const Sensor* Registry::FindSensor(std::string_view id, uint64_t id_hash) const {
  const uint32_t slot = sensor_index_.Find(
      id, id_hash, [&](uint32_t s) -> std::string_view { return entries_.sensors[s].id; });
  return slot == IdIndex::kNone ? nullptr : &entries_.sensors[slot];
}

void Registry::PrefetchSensors(std::span<const uint64_t> id_hashes) const {
  for (const uint64_t h : id_hashes) sensor_index_.PrefetchEntry(h);
  for (const uint64_t h : id_hashes) {
    if (const uint32_t slot = sensor_index_.Candidate(h); slot != IdIndex::kNone) {
      // id and enterprise_id are compared; a Sensor may straddle two lines.
      const Sensor& sensor = entries_.sensors[slot];
      __builtin_prefetch(&sensor.id);
      __builtin_prefetch(reinterpret_cast<const char*>(&sensor.enterprise_id) +
                         sizeof(std::string) - 1);
    }
  }
}

const Facility* Registry::FindFacility(std::string_view id) const {
  auto it = facilities_.find(id);
  return it == facilities_.end() ? nullptr : it->second;
}

const MonitoringItem* Registry::FindItem(std::string_view id, const Facility** facility) const {
  auto it = items_.find(id);
  if (it == items_.end()) return nullptr;
  if (facility != nullptr) *facility = it->second.second;
  return it->second.first;
}

std::span<const Sensor* const> Registry::SensorsOfFacility(std::string_view facility_id) const {
  return MembersOf(sensors_by_facility_, facility_id);
}

std::span<const Sensor* const> Registry::SensorsOfItem(std::string_view item_id) const {
  return MembersOf(sensors_by_item_, item_id);
}

std::span<const Facility* const> Registry::FacilitiesOf(std::string_view enterprise_id) const {
  return MembersOf(facilities_by_enterprise_, enterprise_id);
}

const Enterprise* Registry::EnterpriseOfPlace(std::string_view id) const {
  const Facility* facility = FindFacility(id);
  if (facility == nullptr) FindItem(id, &facility);
  return FindEnterprise(facility != nullptr ? std::string_view(facility->enterprise_id) : id);
}

const Gateway* Registry::FindGateway(std::string_view id) const {
  auto it = gateways_.find(id);
  return it == gateways_.end() ? nullptr : it->second;
}

}  // namespace vigil::alarm
