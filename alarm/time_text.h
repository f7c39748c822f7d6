// Durations and points in time as people type them: the one parser for
// vigild's config files, vigilctl's options and the bench tools' flags, so
// that "90s" or "2025-12-31T18:00:00Z" means the same thing everywhere.
// Pure functions on values (no clock, no time zone), safe on any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "alarm/status.h"

namespace vigil::alarm {

// One or more "<integer><unit>" terms, summed; unit ms, s, m, h or d:
// "250ms", "10s", "5m", "2h", "90d", "1h30m". No sign, no fraction, no
// spaces (a sign, where a caller accepts one, is the caller's to strip).
// Errors (kInvalidArgument): "expected a duration like 250ms, 10s, 5m, 2h or
// 90d, got '<text>'" when malformed; "duration '<text>' is too large" past
// std::chrono::milliseconds.
Result<std::chrono::milliseconds> ParseDuration(std::string_view text);

// ParseDuration, then min <= value <= max. Errors beyond ParseDuration's
// (kInvalidArgument): "must be positive, got '<text>'" (min is 1ms), "must be
// at least <min>, got '<text>'", "must be at most <max>, got '<text>'", with
// min and max as FormatDuration writes them.
Result<std::chrono::milliseconds> ParseDuration(std::string_view text,
                                                std::chrono::milliseconds min,
                                                std::chrono::milliseconds max);

// The inverse of ParseDuration, in the largest unit that divides `d` exactly:
// 90 days -> "90d", 60 s -> "1m", 1500 ms -> "1500ms", 0 -> "0s"; a negative
// `d` gets a leading '-'.
std::string FormatDuration(std::chrono::milliseconds d);

// A point in time as ms since the Unix epoch, from
// - RFC 3339: "2025-12-31T18:00:00Z", "2025-12-31T18:00:00.5+08:00" (a 't' or
//   a space may stand for the 'T', 'z' for 'Z'; fraction digits past
//   milliseconds are dropped), or
// - a date alone, "2025-12-31": midnight UTC that day.
// Years 1970..9999. Errors (kInvalidArgument): "expected a time like
// 2025-12-31T18:00:00Z, 2025-12-31T18:00:00+08:00 or 2025-12-31 (midnight
// UTC), got '<text>'"; "no such date 2025-02-30 in '<text>'"; "no such time
// of day 24:00:00 in '<text>'"; "no such UTC offset +24:00 in '<text>'";
// "'<text>' is before 1970-01-01T00:00:00Z".
Result<int64_t> ParseTime(std::string_view text);

// ParseTime, or digits alone as ms since the Unix epoch ("1717200000000"):
// for command lines, where a time copied from JSON output is common. The
// error for malformed text names the digits form too.
Result<int64_t> ParseTimeOrEpochMs(std::string_view text);

// `ms` (>= 0) as RFC 3339 UTC: "2025-12-31T18:00:00Z", with ".250" before the
// 'Z' when `ms` is not whole seconds. ParseTime reads it back exactly.
std::string FormatTimeUtc(int64_t ms);

}  // namespace vigil::alarm
