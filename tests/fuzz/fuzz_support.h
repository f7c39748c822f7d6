// Shared by the fuzz targets: a check that reports and aborts (libFuzzer then
// saves the input), and the small fixed registry the batch and rules targets
// check against, with short ids so that mutated inputs still name known
// sensors often. The registry is built on first use, read-only afterwards.
//
//   e1 coal_mine 370105            gateway g1; sensors s1 methane, s2 carbon_monoxide
//   e2 hazardous_chemical 370305   gateway g2; sensor s3 temperature
//   e3 tailings 370685             sensor x1 rainfall (no gateway)
#pragma once

#include <chrono>
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
        {"s1", "e1", "methane", "%CH4", 0, 4, seconds(1)},
        {"s2", "e1", "carbon_monoxide", "ppm", 0, 500, seconds(5)},
        {"s3", "e2", "temperature", "degC", -40, 200, seconds(10)},
        {"x1", "e3", "rainfall", "mm", 0, 0, seconds(0)},
    };
    entries.gateways = {{"g1", "e1"}, {"g2", "e2"}};
    auto built = alarm::Registry::Build(std::move(entries));
    if (!built) std::abort();
    return *built;
  }();
  return registry;
}

}  // namespace vigil::fuzz
