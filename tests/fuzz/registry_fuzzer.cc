// Fuzz target: the registry file. Whatever ParseRegistryYaml accepts must
// build into a Registry (its own checks cover Build's) in which every entry
// can be found by its id, and must survive the way the server persists the
// registry: as vigil.v1 protobuf (RegistryToProto), read back with
// RegistryFromProto.
#include <cstdint>
#include <string_view>

#include "alarm/registry.h"
#include "server/api/proto_convert.h"
#include "server/config/registry_yaml.h"
#include "tests/fuzz/fuzz_support.h"

namespace vigil::fuzz {
namespace {

void Run(std::string_view text) {
  auto entries = server::ParseRegistryYaml(text, "fuzz.yaml");
  if (!entries) {
    VIGIL_FUZZ_CHECK(entries.error().message().starts_with("fuzz.yaml"));  // names the file first
    return;
  }
  auto registry = alarm::Registry::Build(*entries);
  VIGIL_FUZZ_CHECK(registry.has_value());
  const alarm::Registry& r = **registry;
  for (const alarm::Enterprise& e : entries->enterprises) {
    VIGIL_FUZZ_CHECK(r.FindEnterprise(e.id) != nullptr);
  }
  for (const alarm::Sensor& s : entries->sensors) {
    const alarm::Sensor* found = r.FindSensor(s.id);
    VIGIL_FUZZ_CHECK(found != nullptr && r.FindEnterprise(found->enterprise_id) != nullptr);
  }
  for (const alarm::Gateway& g : entries->gateways) {
    VIGIL_FUZZ_CHECK(r.FindGateway(g.id) != nullptr);
  }

  v1::Registry proto;
  server::RegistryToProto(*entries, &proto);
  auto stored = server::RegistryFromProto(proto);
  VIGIL_FUZZ_CHECK(stored.has_value());
  CheckSameEntries(*entries, *stored);
}

}  // namespace
}  // namespace vigil::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vigil::fuzz::Run({reinterpret_cast<const char*>(data), size});
  return 0;
}
