#include "alarm/time_text.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <iterator>
#include <limits>
#include <optional>

namespace vigil::alarm {
namespace {

using std::chrono::milliseconds;

struct DurationUnit {
  std::string_view suffix;
  int64_t millis;
};
// Largest first: FormatDuration takes the first that divides exactly.
constexpr DurationUnit kDurationUnits[] = {
    {"d", int64_t{24} * 3600 * 1000},
    {"h", int64_t{3600} * 1000},
    {"m", int64_t{60} * 1000},
    {"s", 1000},
    {"ms", 1},
};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// The `n` digits of `text` at `at` as a number; nullopt when any is not a digit.
std::optional<int> Digits(std::string_view text, size_t at, size_t n) {
  if (at + n > text.size()) return std::nullopt;
  int value = 0;
  for (size_t i = at; i < at + n; ++i) {
    if (!IsDigit(text[i])) return std::nullopt;
    value = value * 10 + (text[i] - '0');
  }
  return value;
}

}  // namespace

Result<milliseconds> ParseDuration(std::string_view text) {
  const auto bad = [text] {
    return Status::InvalidArgument("expected a duration like 250ms, 10s, 5m, 2h or 90d, got '" +
                                   Echo(text) + "'");
  };
  const auto too_large = [text] {
    return Status::InvalidArgument("duration '" + Echo(text) + "' is too large");
  };
  if (text.empty()) return bad();
  int64_t total = 0;
  for (std::string_view rest = text; !rest.empty();) {
    const size_t digits = rest.find_first_not_of("0123456789");
    if (digits == 0 || digits == std::string_view::npos) return bad();
    // The unit: the letters up to the next digit ("ms" in "1500ms", "h" in "1h30m").
    const size_t unit_end = std::min(rest.find_first_of("0123456789", digits), rest.size());
    const std::string_view suffix = rest.substr(digits, unit_end - digits);
    const auto unit = std::find_if(std::begin(kDurationUnits), std::end(kDurationUnits),
                                   [&](const DurationUnit& u) { return u.suffix == suffix; });
    if (unit == std::end(kDurationUnits)) return bad();
    int64_t count = 0;
    const auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + digits, count);
    if (ec == std::errc::result_out_of_range) return too_large();
    if (ec != std::errc() || ptr != rest.data() + digits) return bad();
    if (count > (std::numeric_limits<int64_t>::max() - total) / unit->millis) return too_large();
    total += count * unit->millis;
    rest.remove_prefix(unit_end);
  }
  return milliseconds(total);
}

Result<milliseconds> ParseDuration(std::string_view text, milliseconds min, milliseconds max) {
  Result<milliseconds> value = ParseDuration(text);
  if (!value) return value;
  const std::string got = ", got '" + Echo(text) + "'";
  if (*value < min) {
    return Status::InvalidArgument(min == milliseconds(1)
                                       ? "must be positive" + got
                                       : "must be at least " + FormatDuration(min) + got);
  }
  if (*value > max) return Status::InvalidArgument("must be at most " + FormatDuration(max) + got);
  return value;
}

std::string FormatDuration(milliseconds d) {
  const int64_t ms = d.count();
  if (ms == 0) return "0s";
  if (ms < 0) {
    // -INT64_MIN overflows; its only exact unit is ms.
    if (ms == std::numeric_limits<int64_t>::min()) return std::to_string(ms) + "ms";
    return "-" + FormatDuration(milliseconds(-ms));
  }
  for (const DurationUnit& unit : kDurationUnits) {
    if (ms % unit.millis == 0) return std::to_string(ms / unit.millis) + std::string(unit.suffix);
  }
  return std::to_string(ms) + "ms";  // Unreachable: every count is a multiple of 1 ms.
}

Result<int64_t> ParseTime(std::string_view text) {
  const auto bad = [text] {
    return Status::InvalidArgument(
        "expected a time like 2025-12-31T18:00:00Z, 2025-12-31T18:00:00+08:00 or 2025-12-31 "
        "(midnight UTC), got '" +
        Echo(text) + "'");
  };
  const auto in_text = [text](std::string_view what, std::string_view part) {
    return Status::InvalidArgument("no such " + std::string(what) + " " + std::string(part) +
                                   " in '" + Echo(text) + "'");
  };
  // YYYY-MM-DD
  const std::optional<int> year = Digits(text, 0, 4);
  const std::optional<int> month = Digits(text, 5, 2);
  const std::optional<int> day = Digits(text, 8, 2);
  if (text.size() < 10 || !year || !month || !day || text[4] != '-' || text[7] != '-') {
    return bad();
  }
  const std::chrono::year_month_day date{std::chrono::year(*year),
                                         std::chrono::month(static_cast<unsigned>(*month)),
                                         std::chrono::day(static_cast<unsigned>(*day))};
  if (!date.ok()) return in_text("date", text.substr(0, 10));
  if (*year < 1970)
    return Status::InvalidArgument("'" + Echo(text) + "' is before 1970-01-01T00:00:00Z");
  const int64_t days = std::chrono::sys_days(date).time_since_epoch().count();
  if (text.size() == 10) return days * 86'400'000;

  // THH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)
  const char separator = text[10];
  const std::optional<int> hour = Digits(text, 11, 2);
  const std::optional<int> minute = Digits(text, 14, 2);
  const std::optional<int> second = Digits(text, 17, 2);
  if ((separator != 'T' && separator != 't' && separator != ' ') || !hour || !minute || !second ||
      text[13] != ':' || text[16] != ':') {
    return bad();
  }
  if (*hour > 23 || *minute > 59 || *second > 59) return in_text("time of day", text.substr(11, 8));
  size_t pos = 19;
  int64_t frac_ms = 0;
  if (pos < text.size() && text[pos] == '.') {
    const size_t start = ++pos;
    int64_t scale = 100;
    for (; pos < text.size() && IsDigit(text[pos]); ++pos) {
      frac_ms += (text[pos] - '0') * scale;
      scale /= 10;
    }
    if (pos == start) return bad();
  }
  const std::string_view zone = text.substr(pos);
  int64_t offset_minutes = 0;
  if (zone == "Z" || zone == "z") {
    // UTC.
  } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':') {
    const std::optional<int> offset_hour = Digits(zone, 1, 2);
    const std::optional<int> offset_minute = Digits(zone, 4, 2);
    if (!offset_hour || !offset_minute) return bad();
    if (*offset_hour > 23 || *offset_minute > 59) return in_text("UTC offset", zone);
    offset_minutes = (zone[0] == '+' ? 1 : -1) * (*offset_hour * 60 + *offset_minute);
  } else {
    return bad();
  }
  const int64_t seconds =
      days * 86'400 + *hour * 3600 + *minute * 60 + *second - offset_minutes * 60;
  if (seconds < 0)
    return Status::InvalidArgument("'" + Echo(text) + "' is before 1970-01-01T00:00:00Z");
  return seconds * 1000 + frac_ms;
}

Result<int64_t> ParseTimeOrEpochMs(std::string_view text) {
  if (!text.empty() && std::all_of(text.begin(), text.end(), IsDigit)) {
    int64_t ms = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), ms);
    if (ec != std::errc() || ptr != text.data() + text.size()) {
      return Status::InvalidArgument("time '" + Echo(text) +
                                     "' is too large (ms since the Unix epoch)");
    }
    return ms;
  }
  Result<int64_t> time = ParseTime(text);
  if (!time && time.error().message().starts_with("expected a time like")) {
    return Status::InvalidArgument(
        "expected a time like 2025-12-31T18:00:00Z, 2025-12-31T18:00:00+08:00, 2025-12-31 "
        "(midnight UTC) or ms since the Unix epoch, got '" +
        Echo(text) + "'");
  }
  return time;
}

std::string FormatTimeUtc(int64_t ms) {
  const int64_t days = ms / 86'400'000;
  const int64_t ms_of_day = ms % 86'400'000;
  const std::chrono::year_month_day date{std::chrono::sys_days(std::chrono::days(days))};
  char buffer[48];
  const int64_t seconds_of_day = ms_of_day / 1000;
  int n = std::snprintf(buffer, sizeof(buffer), "%04d-%02u-%02uT%02d:%02d:%02d",
                        static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                        static_cast<unsigned>(date.day()), static_cast<int>(seconds_of_day / 3600),
                        static_cast<int>(seconds_of_day / 60 % 60),
                        static_cast<int>(seconds_of_day % 60));
  std::string out(buffer, static_cast<size_t>(n));
  if (ms % 1000 != 0) {
    n = std::snprintf(buffer, sizeof(buffer), ".%03d", static_cast<int>(ms % 1000));
    out.append(buffer, static_cast<size_t>(n));
  }
  return out + "Z";
}

}  // namespace vigil::alarm
