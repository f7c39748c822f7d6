// Fuzz target: registry changes as the RegistryAdmin.ApplyRegistry RPC
// receives them. The input is parsed as a vigil.v1.ApplyRegistryRequest,
// converted (RegistryChangeFromProto) and applied to a fixed registry. A
// registry that Apply accepts must hold only well-formed entries (the rules
// a registry file is held to), reflect the change, and survive the protobuf
// form the server stores it in.
#include <cstddef>
#include <cstdint>
#include <string>

#include "alarm/registry.h"
#include "server/api/proto_convert.h"
#include "tests/fuzz/fuzz_support.h"
#include "vigil/v1/registry.pb.h"

namespace vigil::fuzz {
namespace {

template <class List>
bool Contains(const List& ids, const std::string& id) {
  for (const std::string& x : ids) {
    if (x == id) return true;
  }
  return false;
}

template <class Entries>
bool HasId(const Entries& entries, const std::string& id) {
  for (const auto& e : entries) {
    if (e.id == id) return true;
  }
  return false;
}

void Run(const uint8_t* data, size_t size) {
  v1::ApplyRegistryRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return;
  auto change = server::RegistryChangeFromProto(request);
  if (!change) return;
  auto applied = FixedRegistry()->Apply(*change);
  if (!applied) return;
  const alarm::Registry& r = **applied;
  const alarm::RegistryEntries& entries = r.entries();

  for (const alarm::Enterprise& e : entries.enterprises) {
    VIGIL_FUZZ_CHECK(alarm::IsValidId(e.id) && r.FindEnterprise(e.id) == &e);
    VIGIL_FUZZ_CHECK(e.kind != alarm::EnterpriseKind::kUnspecified && e.region_code.size() == 6);
  }
  for (const alarm::Sensor& s : entries.sensors) {
    VIGIL_FUZZ_CHECK(alarm::IsValidId(s.id) && r.FindSensor(s.id) == &s);
    VIGIL_FUZZ_CHECK(r.FindEnterprise(s.enterprise_id) != nullptr);
    VIGIL_FUZZ_CHECK(s.range_low <= s.range_high);  // ordered; neither is NaN
    VIGIL_FUZZ_CHECK(s.expected_interval.count() >= 0 &&
                     s.expected_interval <= alarm::kMaxExpectedInterval);
  }
  for (const alarm::Gateway& g : entries.gateways) {
    VIGIL_FUZZ_CHECK(alarm::IsValidId(g.id) && r.FindGateway(g.id) == &g);
    VIGIL_FUZZ_CHECK(r.FindEnterprise(g.enterprise_id) != nullptr);
  }

  // Upserts first, then removals.
  const auto& upserted = change->upsert.sensors;
  for (size_t i = 0; i < upserted.size(); ++i) {
    const alarm::Sensor& s = upserted[i];
    bool later = false;  // a later upsert of the same id wins
    for (size_t j = i + 1; j < upserted.size(); ++j) later = later || upserted[j].id == s.id;
    if (later || Contains(change->remove_sensor_ids, s.id)) continue;
    const alarm::Sensor* found = r.FindSensor(s.id);
    VIGIL_FUZZ_CHECK(found != nullptr && found->enterprise_id == s.enterprise_id &&
                     found->quantity == s.quantity);
  }
  // Removed, and only ids that existed (before, or upserted by the change).
  const alarm::Registry& before = *FixedRegistry();
  for (const std::string& id : change->remove_sensor_ids) {
    VIGIL_FUZZ_CHECK(r.FindSensor(id) == nullptr);
    VIGIL_FUZZ_CHECK(before.FindSensor(id) != nullptr || HasId(change->upsert.sensors, id));
  }
  for (const std::string& id : change->remove_gateway_ids) {
    VIGIL_FUZZ_CHECK(r.FindGateway(id) == nullptr);
    VIGIL_FUZZ_CHECK(before.FindGateway(id) != nullptr || HasId(change->upsert.gateways, id));
  }
  for (const std::string& id : change->remove_enterprise_ids) {
    VIGIL_FUZZ_CHECK(r.FindEnterprise(id) == nullptr);
    VIGIL_FUZZ_CHECK(before.FindEnterprise(id) != nullptr || HasId(change->upsert.enterprises, id));
  }

  v1::Registry proto;
  server::RegistryToProto(entries, &proto);
  auto stored = server::RegistryFromProto(proto);
  VIGIL_FUZZ_CHECK(stored.has_value());
  CheckSameEntries(entries, *stored);
  VIGIL_FUZZ_CHECK(alarm::Registry::Build(*stored).has_value());
}

}  // namespace
}  // namespace vigil::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vigil::fuzz::Run(data, size);
  return 0;
}
