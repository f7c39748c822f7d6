// The files a configuration names (rules_file, registry_file,
// alertmanager.ca_file), read and
// checked as vigild would use them: by `vigild --check-config` (systemd's
// ExecReload, the Kubernetes init container) and before start-up, so that a
// bad rules or registry file is exit 2 (fix the file) rather than a start
// failure that a supervisor retries. Free functions; any thread.
#pragma once

#include <cstddef>
#include <string>

#include "alarm/status.h"
#include "server/config/options.h"

namespace vigil::server {

// What the check found.
struct ConfigFilesSummary {
  size_t rules = 0;        // rules in rules_file (0 when none is set)
  size_t enterprises = 0;  // entries in registry_file (0 when none is set)
  size_t sensors = 0;
  size_t gateways = 0;
  // True when the rules were resolved against the registry file's entries.
  bool rules_checked_against_registry = false;
};

// Reads and parses registry_file and rules_file (each when set), and checks
// that alertmanager.ca_file (when set) holds a PEM certificate and
// journal.signing_key_file (when set) an Ed25519 private key. With
// `against_registry` and a registry_file, also builds the rules against the
// file's registry (alarm::RuleSet::Build): a selector naming a sensor or
// enterprise the file lacks is an error. Entries added through RegistryAdmin
// live in the database only and are not seen here, so start-up checks
// without `against_registry` and lets the server resolve the rules against
// the registry it has. Errors name the file: kIOError when a file cannot be
// read (e.g. "rules_file: /etc/vigil/rules.yaml: cannot read: No such file
// or directory"), kInvalidArgument for what the parsers and RuleSet::Build
// report ("<file>:<line>:<column>: rules[2] (id).levels.hh.severity: must be
// 1 (red) .. 4 (blue), got 9").
alarm::Result<ConfigFilesSummary> CheckConfigFiles(const ServerOptions& options,
                                                   bool against_registry);

// One line for --check-config's output, e.g. "rules: 18 (rules.yaml), checked
// against registry: 4 enterprises, 12 sensors, 3 gateways (registry.yaml)".
std::string FormatConfigFilesSummary(const ServerOptions& options,
                                     const ConfigFilesSummary& summary);

}  // namespace vigil::server
