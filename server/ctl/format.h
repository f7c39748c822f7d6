// vigilctl output and input formats: names of the API's enums, times,
// durations, numbers, and alarms and alarm events as one text line or one
// JSON object (field names in kJsonFieldsHelp). Pure functions, except that
// LocalTime reads the process's time zone.
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "vigil/v1/alarms.pb.h"
#include "vigil/v1/registry.pb.h"

namespace vigil::ctl {

// Lower-case enum names without their prefix, as in the JSON output and the
// command-line filters: "threshold", "active_unacked", "raised", "coal_mine".
// Levels are "hh", "h", "l", "ll", "none". Severity 1..4 is "red", "orange",
// "yellow", "blue"; anything else "severity-N".
std::string AlarmKindName(v1::AlarmKind kind);
std::string AlarmStateName(v1::AlarmState state);
std::string AlarmLevelName(v1::AlarmLevel level);
std::string EventKindName(v1::AlarmEventKind kind);
std::string EnterpriseKindName(v1::EnterpriseKind kind);
std::string SeverityName(uint32_t severity);

// The inverse, for command-line filters; nullopt when `name` is none of them.
std::optional<v1::AlarmKind> ParseAlarmKind(std::string_view name);
std::optional<v1::EnterpriseKind> ParseEnterpriseKind(std::string_view name);
// 1..4 or red|orange|yellow|blue.
std::optional<uint32_t> ParseSeverity(std::string_view text);

// "2024-06-01 20:00:03" in the local time zone.
std::string LocalTime(int64_t ms);
// "2024-06-01T12:00:03.120Z".
std::string Rfc3339Utc(int64_t ms);
// "2024-06-01T20:00:03.120+08:00" in the local time zone ("Z" at offset 0):
// what vigilctl prints for readings. `vigilctl --utc` sets TZ=UTC, so this,
// LocalTime and every other local time print UTC.
std::string Rfc3339Local(int64_t ms);
// Shortest text that reads back as the same double ("0.1", "1e+21").
std::string FormatNumber(double value);

// `s` in double quotes with JSON's escapes: a JSON string, and also a YAML
// double-quoted scalar.
std::string QuotedString(std::string_view s);

// An id with what the registry says of it, for people: "s-1 (methane, %CH4)",
// "e-1 (Qilu Chemical)"; the empty parts left out, the bare id when all are
// empty. A part with control characters is printed quoted.
std::string Named(std::string_view id, std::initializer_list<std::string_view> about);

// How text lines look: severity words in colour on a terminal.
struct TextStyle {
  bool color = false;
};

// One line, no newline:
// "alarm=12 threshold orange active_unacked sensor=t-1 (temperature, degC)
//  enterprise=e-1 (Qilu Chemical) region=370105 level=h value=60 threshold=50
//  raised=2024-06-01 20:00:03 [shelved_until=...]" (names as Named, when the
//  server sent them).
std::string AlarmText(const v1::Alarm& alarm, const TextStyle& style);
// One line, no newline: "2024-06-01 20:00:03 #17 raised orange active_unacked alarm=12
// threshold sensor=... value=60 threshold=50 [by=... comment="..."]".
std::string EventText(const v1::AlarmEvent& event, const TextStyle& style);

// JSON objects on one line (see kJsonFieldsHelp).
std::string AlarmJson(const v1::Alarm& alarm);
// {"type":"event","seq":..., ..., "alarm":{...}}
std::string EventJson(const v1::AlarmEvent& event);

extern const char kJsonFieldsHelp[];

}  // namespace vigil::ctl
