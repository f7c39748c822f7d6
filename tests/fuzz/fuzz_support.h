// Shared by the fuzz targets: a check that reports and aborts (libFuzzer then
// saves the input), registry entry comparison, and the small fixed registry
// the batch, rules and registry API targets check against, with short ids so
// that mutated inputs still name known entries often. The registry is built on
// first use, read-only afterwards.
//
//   e1 coal_mine 370105            gateway g1; sensors s1 methane, s2 carbon_monoxide
//   e2 hazardous_chemical 370305   gateway g2; sensor s3 temperature
//   e3 tailings 370685             sensor x1 rainfall (no gateway)
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "alarm/registry.h"

// Aborts with the failed condition when `condition` is false: a property of
// the code under test does not hold for this input.
#define VIGIL_FUZZ_CHECK(condition)                                                      \
  do {                                                                                   \
    if (!(condition)) {                                                                  \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (false)

namespace vigil::fuzz {

inline const std::shared_ptr<const alarm::Registry>& FixedRegistry() {
  static const std::shared_ptr<const alarm::Registry> registry = [] {
    using alarm::EnterpriseKind;
    using std::chrono::seconds;
    alarm::RegistryEntries entries;
    entries.enterprises = {
        {.id = "e1", .name = "Mine", .kind = EnterpriseKind::kCoalMine, .region_code = "370105"},
        {.id = "e2",
         .name = "Tanks",
         .kind = EnterpriseKind::kHazardousChemical,
         .region_code = "370305"},
        {.id = "e3", .name = "Dam", .kind = EnterpriseKind::kTailings, .region_code = "370685"},
    };
    entries.sensors = {
        {.id = "s1",
         .enterprise_id = "e1",
         .quantity = "methane",
         .unit = "%CH4",
         .range_low = 0,
         .range_high = 4,
         .expected_interval = seconds(1)},
        {.id = "s2",
         .enterprise_id = "e1",
         .quantity = "carbon_monoxide",
         .unit = "ppm",
         .range_low = 0,
         .range_high = 500,
         .expected_interval = seconds(5)},
        {.id = "s3",
         .enterprise_id = "e2",
         .quantity = "temperature",
         .unit = "degC",
         .range_low = -40,
         .range_high = 200,
         .expected_interval = seconds(10)},
        {.id = "x1",
         .enterprise_id = "e3",
         .quantity = "rainfall",
         .unit = "mm",
         .range_low = 0,
         .range_high = 0,
         .expected_interval = seconds(0)},
    };
    entries.gateways = {{"g1", "e1"}, {"g2", "e2"}};
    auto built = alarm::Registry::Build(std::move(entries));
    if (!built) std::abort();
    return *built;
  }();
  return registry;
}

// Aborts unless `a` and `b` hold the same entries in the same order.
inline void CheckSameEntries(const alarm::RegistryEntries& a, const alarm::RegistryEntries& b) {
  VIGIL_FUZZ_CHECK(a.enterprises.size() == b.enterprises.size() &&
                   a.sensors.size() == b.sensors.size() && a.gateways.size() == b.gateways.size());
  for (size_t i = 0; i < a.enterprises.size(); ++i) {
    const alarm::Enterprise& x = a.enterprises[i];
    const alarm::Enterprise& y = b.enterprises[i];
    VIGIL_FUZZ_CHECK(x.id == y.id && x.name == y.name && x.kind == y.kind &&
                     x.region_code == y.region_code);
  }
  for (size_t i = 0; i < a.sensors.size(); ++i) {
    const alarm::Sensor& x = a.sensors[i];
    const alarm::Sensor& y = b.sensors[i];
    VIGIL_FUZZ_CHECK(x.id == y.id && x.enterprise_id == y.enterprise_id &&
                     x.quantity == y.quantity && x.unit == y.unit);
    VIGIL_FUZZ_CHECK(x.range_low == y.range_low && x.range_high == y.range_high);
    VIGIL_FUZZ_CHECK(x.expected_interval == y.expected_interval);
  }
  for (size_t i = 0; i < a.gateways.size(); ++i) {
    VIGIL_FUZZ_CHECK(a.gateways[i].id == b.gateways[i].id &&
                     a.gateways[i].enterprise_id == b.gateways[i].enterprise_id);
  }
}

}  // namespace vigil::fuzz
