// Fuzz target: the alarm rules file. The input is read as rules YAML
// (ParseRulesYaml); every rule it accepts must pass Rule::Validate, and the
// rules are then resolved with RuleSet::Build against a fixed registry, whose
// every sensor must get a rule that really selects it (or none).
#include <cstdint>
#include <string_view>

#include "alarm/rule_set.h"
#include "server/config/rules_yaml.h"
#include "tests/fuzz/fuzz_support.h"

namespace vigil::fuzz {
namespace {

// How specifically `s` selects `sensor`: 0 not at all, then enterprise kind <
// region prefix (longer is more specific) < enterprise < the sensor itself.
size_t Rank(const alarm::Selector& s, const alarm::Sensor& sensor,
            const alarm::Registry& registry) {
  if (!s.sensor_id.empty()) return s.sensor_id == sensor.id ? 100 : 0;
  if (s.quantity != sensor.quantity) return 0;
  const alarm::Enterprise* e = registry.FindEnterprise(sensor.enterprise_id);
  if (!s.enterprise_id.empty()) return s.enterprise_id == e->id ? 50 : 0;
  if (!s.region_prefix.empty()) {
    return e->region_code.starts_with(s.region_prefix) ? 10 + s.region_prefix.size() : 0;
  }
  return s.enterprise_kind == e->kind ? 1 : 0;
}

void Run(std::string_view text) {
  auto rules = server::ParseRulesYaml(text, "fuzz.yaml");
  if (!rules) {
    // Every error names the file first.
    VIGIL_FUZZ_CHECK(rules.error().message().starts_with("fuzz.yaml"));
    return;
  }
  for (const alarm::Rule& rule : *rules) VIGIL_FUZZ_CHECK(rule.Validate().ok());

  const std::shared_ptr<const alarm::Registry>& registry = FixedRegistry();
  auto set = alarm::RuleSet::Build(*rules, registry);
  if (!set) return;
  VIGIL_FUZZ_CHECK((*set)->rules().size() == rules->size());
  for (const alarm::Sensor& sensor : registry->entries().sensors) {
    // The most specific rule that selects the sensor, by brute force.
    const alarm::Rule* best = nullptr;
    size_t best_rank = 0;
    for (const alarm::Rule& rule : *rules) {
      const size_t rank = Rank(rule.selector, sensor, *registry);
      VIGIL_FUZZ_CHECK(rank == 0 || rank != best_rank);  // Build refuses ties
      if (rank > best_rank) {
        best = &rule;
        best_rank = rank;
      }
    }
    const alarm::Rule* rule = (*set)->ForSensor(sensor.id);
    VIGIL_FUZZ_CHECK(best == nullptr ? rule == nullptr : rule != nullptr && rule->id == best->id);
  }
  VIGIL_FUZZ_CHECK((*set)->ForSensor("not-a-sensor") == nullptr);
}

}  // namespace
}  // namespace vigil::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vigil::fuzz::Run({reinterpret_cast<const char*>(data), size});
  return 0;
}
