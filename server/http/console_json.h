// The console's JSON (nlohmann-json): alarms and journal events as the
// HTTP/JSON API and the alarm stream send them, and the alarm filter read
// from query parameters. Pure functions of their arguments; any thread.
// Field names follow the gRPC API's (docs/api.md), in snake_case, with names
// (severity_name, state, kind) where gRPC sends enum numbers, so a page
// never shows a colour without its word.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "alarm/journal.h"
#include "alarm/registry.h"
#include "alarm/rule.h"
#include "alarm/status.h"

namespace vigil::server {

// "red", "orange", "yellow", "blue".
std::string_view SeverityName(alarm::Severity severity);

// The alarm as of `entry` (its latest journal entry), with the enterprise's
// name and the sensor's quantity and unit from `registry` (null: ids only).
nlohmann::json AlarmJson(const alarm::JournalEntry& entry, const alarm::Registry* registry);
// One journal entry: seq, kind ("raised", "acknowledged"...), the alarm
// after it, the reading, the time, and who acted with their comment.
nlohmann::json EventJson(const alarm::JournalEntry& entry, const alarm::Registry* registry);

// The threshold levels of `rule` (the rule in force for a sensor), most
// severe high first: [{level: "HH", value, severity, severity_name}], for the
// trend plot's level lines.
nlohmann::json RuleLevelsJson(const alarm::Rule& rule);

// A filter from query parameters, each optional: `region` (0..6 digits),
// `min_severity` (1 red .. 4 blue), `enterprise_kind` (comma-separated
// names: coal_mine,tailings), `enterprise` (comma-separated ids).
// `param(name)` gives a parameter's decoded value. kInvalidArgument names
// the bad parameter.
template <typename Param>
alarm::Result<alarm::AlarmFilter> FilterFromParams(const Param& param);

// The non-template core of FilterFromParams.
alarm::Result<alarm::AlarmFilter> FilterFrom(const std::optional<std::string>& region,
                                             const std::optional<std::string>& min_severity,
                                             const std::optional<std::string>& enterprise_kinds,
                                             const std::optional<std::string>& enterprises);

template <typename Param>
alarm::Result<alarm::AlarmFilter> FilterFromParams(const Param& param) {
  return FilterFrom(param("region"), param("min_severity"), param("enterprise_kind"),
                    param("enterprise"));
}

// {"error": message, "code": "PERMISSION_DENIED"}: what every refusal carries.
std::string ErrorJson(const alarm::Status& status);
// The HTTP status of an error: 401 kUnauthenticated, 403 kPermissionDenied,
// 404 kNotFound, 400 kInvalidArgument, 429 kResourceExhausted, 503
// kUnavailable, 500 otherwise.
unsigned HttpStatusFor(alarm::Status::Code code);

}  // namespace vigil::server
