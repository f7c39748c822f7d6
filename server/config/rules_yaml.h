// The alarm rules file (see deploy/rules.yaml): alarm rules in YAML, read into
// alarm::Rule values (alarm/rule.h) for alarm::RuleSet::Build. A proposed file
// can be backtested against stored history first (docs/backtest.md). Free functions
// without state; any thread may call them (start-up and the control thread's
// reload), never the data path.
//
//   rules:
//     - id: ch4-coal-face                      # required; 1..128 printable ASCII, no spaces
//       select: { quantity: methane, enterprise_kind: coal_mine }  # required; one of:
//         # { sensor: s-1 }                      one sensor
//         # { quantity: q, enterprise: e-1 }     a quantity in one enterprise
//         # { quantity: q, region: "3701" }      ... in a region-code prefix (1..6 digits)
//         # { quantity: q, enterprise_kind: k }  ... in every enterprise of a kind
//         #   (hazardous_chemical | coal_mine | tailings | other)
//       levels:                                # optional; each level optional, ll < l < h < hh
//         hh: { value: 1.5, severity: 1 }      # high: alarm when reading >= value
//         h:  { value: 1.0, severity: 2 }      #   or { above: 1.0, ... }: reading > 1.0
//         l:  { value: 0.3, severity: 3 }      # low: alarm when reading <= value
//         ll: { value: 0.2, severity: 2 }      #   or { below: 0.2, ... }: reading < 0.2
//       deadband: 0.05                         # optional, >= 0 (default 0)
//       restore_high: 1.0                      # optional: high side clears when reading < this
//       restore_low: 0.35                      # optional: low side clears when reading > this
//       on_delay: 0s                           # optional duration (default 0s): per level,
//                                              # a raise or escalation (H -> HH) waits it
//       off_delay: 10s                         # optional duration (default 0s): per level,
//                                              # a clear or de-escalation (HH -> H) waits it
//       rate_of_change: { limit: 5, window: 1m, severity: 2, direction: rising }
//                                              # optional: change over window (at most 31d);
//                                              # direction rising|falling|either (default)
//       no_data: { intervals: 3, severity: 3 } # optional; `no_data: off` or intervals 0 disable
//       sensor_fault: { severity: 3 }          # optional; `sensor_fault: off` disables
//       stuck_value: { after: 6h, severity: 3 }  # optional (default off): the same value
//                                              # (exactly) for longer than `after` (at most
//                                              # 31d) raises a stuck-value alarm
//
//   gateway_offline: { after: 2m, severity: 2 }  # optional top-level key: a gateway
//     # silent for `after` raises one gateway-offline alarm and its sensors'
//     # no-data alarms are suppressed meanwhile; left out (or `off`): disabled
//
//   rollups:                                 # optional (docs/rollup.md): raise an item,
//     - id: gb39496-item                     #   facility or enterprise from its children
//       parent: item                         # item | facility | enterprise
//       from: sensors                        # item: sensors; facility: sensors | items;
//                                            #   enterprise: facilities
//       select: { facility_kind: tailings_reservoir }  # optional, each narrows: facility_kind,
//                                            #   facility (ids), enterprise_kind: a name or a list
//       when:                                # N children at `level` or worse -> parent at `raise`
//         - { count: 4, level: blue, raise: yellow }
//     # The first roll-up (file order) of a parent's kind that selects it applies.
//
// Severity: 1 (red) .. 4 (blue), or the names red, orange, yellow, blue. In a
// level and in rate_of_change severity is required; in no_data and
// sensor_fault and stuck_value it defaults to 3 (yellow). Durations as config.h ParseDuration
// ("250ms", "10s", "5m", "2h", "1d"). Defaults when a key is left out are
// those of alarm::Rule: no levels, no rate, no_data off, sensor_fault on with
// severity 3, stuck_value off. A missing or null `rules` is an empty list.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "alarm/rollup.h"
#include "alarm/rule.h"
#include "alarm/status.h"

namespace vigil::server {

// A whole rules file: the rules, in the file's order, and the gateway rule.
struct RulesDocument {
  std::vector<alarm::Rule> rules;
  alarm::GatewayOfflineRule gateway_offline;  // after == 0: disabled
  std::vector<alarm::RollupRule> rollups{};   // docs/rollup.md

  bool operator==(const RulesDocument&) const = default;
};

// Parses a whole rules file; errors as ParseRulesYaml's.
alarm::Result<RulesDocument> ParseRulesDocument(std::string_view text,
                                                const std::string& source_name);
// `document` in the rules file format; ParseRulesDocument of the result
// equals `document`.
std::string FormatRulesYaml(const RulesDocument& document);
// `overlay` applied on top of `base`: its rules added or replaced by id, in
// place, new ones at the end; its gateway rule when `overlay_sets_gateway`.
RulesDocument MergeRules(RulesDocument base, const RulesDocument& overlay,
                         bool overlay_sets_gateway);
// True when `text` sets the top-level gateway_offline key.
bool SetsGatewayOffline(std::string_view text);

// Parses `text` into rules, in the file's order. Checks YAML syntax, types,
// unknown, duplicate and missing keys, severities, durations, selectors
// (exactly one kind) and duplicate rule ids, then alarm::Rule::Validate of
// each rule. Errors (kInvalidArgument) name the first problem as
// "<source_name>:<line>:<column>: rules[<index>] (<id>).<field>: <reason>",
// e.g. "rules.yaml:14:9: rules[2] (ch4-face).levels.hh.severity: must be
// 1 (red) .. 4 (blue), got 5"; the index is 0-based and "(<id>)" is left out
// while the rule has no usable id. A Validate() failure reads
// "<source_name>:<line>:<column>: rules[<index>] (<id>): <Validate's message>"
// pointing at the rule's first line. References to sensors and enterprises
// are checked later, against a registry, by alarm::RuleSet::Build.
alarm::Result<std::vector<alarm::Rule>> ParseRulesYaml(std::string_view text,
                                                       const std::string& source_name);

// Reads `path` and parses it with ParseRulesDocument (source name = `path`
// as given). Errors: kIOError naming the path when the file cannot be read;
// otherwise those of ParseRulesYaml.
alarm::Result<RulesDocument> LoadRulesFile(const std::filesystem::path& path);

}  // namespace vigil::server
