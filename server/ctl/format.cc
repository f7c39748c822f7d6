#include "server/ctl/format.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <limits>

namespace vigil::ctl {
namespace {

// "ALARM_KIND_RATE_OF_CHANGE" without `prefix`, in lower case.
std::string EnumText(const std::string& name, std::string_view prefix, int value) {
  if (name.empty() || !std::string_view(name).starts_with(prefix)) {
    return "unknown-" + std::to_string(value);
  }
  std::string out = name.substr(prefix.size());
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The prefixed upper-case name of `text` for an enum's _Parse.
std::string EnumName(std::string_view prefix, std::string_view text) {
  std::string out(prefix);
  for (char c : text) out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// A JSON object built field by field, in the order written.
class JsonObject {
 public:
  JsonObject& Raw(std::string_view key, std::string_view json) {
    out_ += out_.size() == 1 ? "" : ",";
    out_ += QuotedString(key);
    out_ += ':';
    out_ += json;
    return *this;
  }
  JsonObject& Str(std::string_view key, std::string_view value) {
    return Raw(key, QuotedString(value));
  }
  // Left out when empty.
  JsonObject& OptStr(std::string_view key, std::string_view value) {
    return value.empty() ? *this : Str(key, value);
  }
  JsonObject& Int(std::string_view key, int64_t value) { return Raw(key, std::to_string(value)); }
  JsonObject& UInt(std::string_view key, uint64_t value) { return Raw(key, std::to_string(value)); }
  JsonObject& Num(std::string_view key, double value) {
    return Raw(key, std::isfinite(value) ? FormatNumber(value) : "null");
  }
  // null when `present` is false (an optional field left unset).
  JsonObject& OptNum(std::string_view key, bool present, double value) {
    return present ? Num(key, value) : Raw(key, "null");
  }
  JsonObject& OptInt(std::string_view key, bool present, int64_t value) {
    return present ? Int(key, value) : Raw(key, "null");
  }
  std::string Done() { return out_ + "}"; }

 private:
  std::string out_ = "{";
};

// A value in a text line: as is when it is one plain word, else quoted.
std::string Word(std::string_view s) {
  bool plain = !s.empty();
  for (char c : s) {
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f) plain = false;
  }
  return plain ? std::string(s) : QuotedString(s);
}

std::string Severity(uint32_t severity, const TextStyle& style) {
  const std::string name = SeverityName(severity);
  if (!style.color) return name;
  static constexpr const char* kColors[] = {"\033[1;31m", "\033[1;38;5;208m", "\033[1;33m",
                                            "\033[1;34m"};
  if (severity < 1 || severity > 4) return name;
  return kColors[severity - 1] + name + "\033[0m";
}

// What the alarm is about: sensor or gateway, enterprise, region, level.
std::string Source(const v1::Alarm& a) {
  std::string out;
  if (!a.sensor_id().empty()) {
    out += " sensor=" + Named(Word(a.sensor_id()), {a.sensor_quantity(), a.sensor_unit()});
  }
  if (!a.gateway_id().empty()) out += " gateway=" + Word(a.gateway_id());
  out += " enterprise=" + Named(Word(a.enterprise_id()), {a.enterprise_name()}) +
         " region=" + Word(a.region_code());
  if (a.level() != v1::ALARM_LEVEL_NONE) out += " level=" + AlarmLevelName(a.level());
  return out;
}

}  // namespace

std::string QuotedString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned char>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string Named(std::string_view id, std::initializer_list<std::string_view> about) {
  std::string out(id);
  bool first = true;
  for (std::string_view part : about) {
    if (part.empty()) continue;
    const bool plain = std::none_of(part.begin(), part.end(), [](char c) {
      return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
    });
    out += first ? " (" : ", ";
    out += plain ? std::string(part) : QuotedString(part);
    first = false;
  }
  return first ? out : out + ")";
}

std::string AlarmKindName(v1::AlarmKind kind) {
  return EnumText(v1::AlarmKind_Name(kind), "ALARM_KIND_", kind);
}
std::string AlarmStateName(v1::AlarmState state) {
  return EnumText(v1::AlarmState_Name(state), "ALARM_STATE_", state);
}
std::string AlarmLevelName(v1::AlarmLevel level) {
  return EnumText(v1::AlarmLevel_Name(level), "ALARM_LEVEL_", level);
}
std::string EventKindName(v1::AlarmEventKind kind) {
  return EnumText(v1::AlarmEventKind_Name(kind), "ALARM_EVENT_KIND_", kind);
}
std::string EnterpriseKindName(v1::EnterpriseKind kind) {
  return EnumText(v1::EnterpriseKind_Name(kind), "ENTERPRISE_KIND_", kind);
}

std::string SeverityName(uint32_t severity) {
  static constexpr const char* kNames[] = {"red", "orange", "yellow", "blue"};
  if (severity >= 1 && severity <= 4) return kNames[severity - 1];
  return "severity-" + std::to_string(severity);
}

std::optional<v1::AlarmKind> ParseAlarmKind(std::string_view name) {
  v1::AlarmKind kind{};
  if (!v1::AlarmKind_Parse(EnumName("ALARM_KIND_", name), &kind) ||
      kind == v1::ALARM_KIND_UNSPECIFIED) {
    return std::nullopt;
  }
  return kind;
}

std::optional<v1::EnterpriseKind> ParseEnterpriseKind(std::string_view name) {
  v1::EnterpriseKind kind{};
  if (!v1::EnterpriseKind_Parse(EnumName("ENTERPRISE_KIND_", name), &kind) ||
      kind == v1::ENTERPRISE_KIND_UNSPECIFIED) {
    return std::nullopt;
  }
  return kind;
}

std::optional<uint32_t> ParseSeverity(std::string_view text) {
  for (uint32_t s = 1; s <= 4; ++s) {
    if (text == SeverityName(s) || text == std::to_string(s)) return s;
  }
  return std::nullopt;
}

std::string LocalTime(int64_t ms) {
  const std::time_t seconds = static_cast<std::time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  std::tm tm{};
  char buf[32];
  if (localtime_r(&seconds, &tm) == nullptr ||
      std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm) == 0) {
    return std::to_string(ms) + "ms";
  }
  return buf;
}

std::string Rfc3339Local(int64_t ms) {
  const int64_t seconds = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  const std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  char buf[40];
  if (localtime_r(&t, &tm) == nullptr ||
      std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
    return std::to_string(ms) + "ms";
  }
  char frac[8];
  std::snprintf(frac, sizeof(frac), ".%03d", static_cast<int>(ms - seconds * 1000));
  const long offset_min = tm.tm_gmtoff / 60;
  if (offset_min == 0) return std::string(buf) + frac + "Z";
  char zone[40];
  std::snprintf(zone, sizeof(zone), "%c%02ld:%02ld", offset_min < 0 ? '-' : '+',
                std::labs(offset_min) / 60, std::labs(offset_min) % 60);
  return std::string(buf) + frac + zone;
}

std::string Rfc3339Utc(int64_t ms) {
  const int64_t seconds = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  const std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  char buf[40];
  if (gmtime_r(&t, &tm) == nullptr ||
      std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
    return std::to_string(ms) + "ms";
  }
  char frac[8];
  std::snprintf(frac, sizeof(frac), ".%03d", static_cast<int>(ms - seconds * 1000));
  return std::string(buf) + frac + "Z";
}

std::string FormatNumber(double value) {
  char buf[64];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  return ec == std::errc() ? std::string(buf, end) : "?";
}

std::string AlarmText(const v1::Alarm& a, const TextStyle& style) {
  std::string out = "alarm=" + std::to_string(a.alarm_id()) + " " + AlarmKindName(a.kind()) + " " +
                    Severity(a.severity(), style) + " " + AlarmStateName(a.state()) + Source(a);
  // No value when no reading raised it (gateway offline, a sensor never heard from).
  if (a.has_trigger_value()) out += " value=" + FormatNumber(a.trigger_value());
  if (a.kind() == v1::ALARM_KIND_THRESHOLD && a.peak_value() != a.trigger_value()) {
    out += " peak=" + FormatNumber(a.peak_value());
  }
  out += " threshold=" + FormatNumber(a.threshold()) + " raised=\"" + LocalTime(a.raised_at_ms()) +
         "\"";
  if (a.shelved_until_ms() != 0)
    out += " shelved_until=\"" + LocalTime(a.shelved_until_ms()) + "\"";
  if (!a.planned_work_id().empty()) out += " planned_work=" + Word(a.planned_work_id());
  return out;
}

std::string EventText(const v1::AlarmEvent& e, const TextStyle& style) {
  const v1::Alarm& a = e.alarm();
  std::string out = LocalTime(e.at_ms()) + " #" + std::to_string(e.seq()) + " " +
                    EventKindName(e.kind()) + " " + Severity(a.severity(), style) + " " +
                    AlarmStateName(a.state()) + " alarm=" + std::to_string(a.alarm_id()) + " " +
                    AlarmKindName(a.kind()) + Source(a) +
                    (e.has_value() ? " value=" + FormatNumber(e.value()) : std::string()) +
                    " threshold=" + FormatNumber(a.threshold());
  if (a.shelved_until_ms() != 0)
    out += " shelved_until=\"" + LocalTime(a.shelved_until_ms()) + "\"";
  if (!a.planned_work_id().empty()) out += " planned_work=" + Word(a.planned_work_id());
  if (!e.actor().empty()) out += " by=" + Word(e.actor());
  if (!e.comment().empty()) out += " comment=" + QuotedString(e.comment());
  return out;
}

std::string AlarmJson(const v1::Alarm& a) {
  return JsonObject()
      .UInt("alarm_id", a.alarm_id())
      .Str("kind", AlarmKindName(a.kind()))
      .Str("state", AlarmStateName(a.state()))
      .UInt("severity", a.severity())
      .Str("severity_name", SeverityName(a.severity()))
      .UInt("peak_severity", a.peak_severity())
      .Str("level", AlarmLevelName(a.level()))
      .Str("sensor_id", a.sensor_id())
      .Str("gateway_id", a.gateway_id())
      .Str("enterprise_id", a.enterprise_id())
      .Str("region_code", a.region_code())
      .Str("enterprise_kind", EnterpriseKindName(a.enterprise_kind()))
      .Str("rule_id", a.rule_id())
      .Num("threshold", a.threshold())
      .OptNum("trigger_value", a.has_trigger_value(), a.trigger_value())
      .OptInt("trigger_reading_at_ms", a.has_trigger_reading_at_ms(), a.trigger_reading_at_ms())
      .Num("peak_value", a.peak_value())
      .Int("raised_at_ms", a.raised_at_ms())
      .Int("changed_at_ms", a.changed_at_ms())
      .Int("shelved_until_ms", a.shelved_until_ms())
      .Str("enterprise_name", a.enterprise_name())
      .Str("sensor_quantity", a.sensor_quantity())
      .Str("sensor_unit", a.sensor_unit())
      .OptStr("planned_work_id", a.planned_work_id())
      .Done();
}

std::string EventJson(const v1::AlarmEvent& e) {
  return JsonObject()
      .Str("type", "event")
      .UInt("seq", e.seq())
      .Str("kind", EventKindName(e.kind()))
      .Int("at_ms", e.at_ms())
      .Str("at", Rfc3339Utc(e.at_ms()))
      .OptNum("value", e.has_value(), e.value())
      .OptInt("reading_at_ms", e.has_reading_at_ms(), e.reading_at_ms())
      .Str("actor", e.actor())
      .Str("comment", e.comment())
      .Raw("alarm", AlarmJson(e.alarm()))
      .Done();
}

const char kJsonFieldsHelp[] =
    R"(JSON (--json), one object per line; times are ms since the Unix epoch (UTC):
  event     {"type":"event","seq","kind","at_ms","at" (RFC 3339, UTC),"value",
             "reading_at_ms" (both null without a reading),"actor","comment",
             "alarm":ALARM}
             kind: raised|escalated|de_escalated|cleared|acknowledged|shelved|
                   unshelved|reconciled|planned_work_opened|planned_work_closed
  snapshot  {"type":"snapshot","seq","alarms":[ALARM...]}   (watch, list)
  show      {"alarm":ALARM,"history":[EVENT...]}
  ALARM     {"alarm_id","kind","state","severity" (1..4),"severity_name"
             (red|orange|yellow|blue),"peak_severity","level" (hh|h|l|ll|none),
             "sensor_id","gateway_id","enterprise_id","region_code",
             "enterprise_kind","rule_id","threshold","trigger_value",
             "trigger_reading_at_ms" (both null when no reading raised it:
             gateway offline, a sensor silent since start),"peak_value",
             "raised_at_ms","changed_at_ms",
             "shelved_until_ms" (0: not shelved),"enterprise_name",
             "sensor_quantity","sensor_unit" (from the registry in force;
             "" when not in it, sensor ones "" for gateway-offline alarms),
             "planned_work_id" (only for planned work: the window's id, or
             "calibration")}
             state: active_unacked|active_acked|cleared_unacked|closed|planned
)";

}  // namespace vigil::ctl
