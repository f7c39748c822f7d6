// The registry file (see deploy/registry.yaml): enterprises, sensors and
// gateways in YAML, read into alarm::RegistryEntries. Free functions without
// state; any thread may call them (start-up and the control thread's reload).
//
//   enterprises: [{id, name, kind, region_code}]
//   facilities:  [{id, enterprise, kind, name, items: [{id, name}]}]
//   sensors:     [{id, enterprise, facility, item, quantity, unit, range: [low, high],
//                  expected_interval}]
//   gateways:    [{id, enterprise}]
//
// Facility kind: major_hazard_source | tank_farm | tailings_reservoir |
// working_face | other. Facility and item ids share one namespace, apart
// from enterprise ids (a roll-up alarm is raised at one by its id). A sensor
// names at most one facility (of its own enterprise) and optionally one item
// of that facility; both optional.
//
// Required keys: every id, enterprise.kind, enterprise.region_code,
// facility.enterprise/kind,
// sensor.enterprise/quantity/unit, gateway.enterprise. Optional: name (empty),
// range (undeclared: 0, 0), expected_interval (undeclared: 0). A missing or
// null section is empty.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "alarm/registry.h"
#include "alarm/status.h"

namespace vigil::server {

// Parses and validates `text`: YAML syntax, types, unknown or duplicate keys,
// required keys, ids, kind, 6-digit region_code (quoted or a bare integer),
// range (two finite numbers, low < high), expected_interval (a positive
// duration, as config.h ParseDuration, at most 49d), duplicate ids and references to
// unknown enterprises; finally alarm::Registry::Build. The entries keep the
// file's order. Errors (kInvalidArgument) name the first problem as
// "<source_name>:<line>:<column>: <path>: <reason>", e.g.
// "registry.yaml:40:12: sensors[3].range: expected [low, high]"; list indexes
// are 0-based. An error found only by Registry::Build reads
// "<source_name>: <Build's message>".
alarm::Result<alarm::RegistryEntries> ParseRegistryYaml(std::string_view text,
                                                        const std::string& source_name);

// Reads `path` and parses it with ParseRegistryYaml (source name = `path` as
// given). Errors: kIOError naming the path when the file cannot be read;
// otherwise those of ParseRegistryYaml.
alarm::Result<alarm::RegistryEntries> LoadRegistryFile(const std::filesystem::path& path);

}  // namespace vigil::server
