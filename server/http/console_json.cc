#include "server/http/console_json.h"

#include <charconv>

#include "alarm/event.h"
#include "alarm/rule.h"

namespace vigil::server {

using nlohmann::json;

std::string_view SeverityName(alarm::Severity severity) {
  switch (severity) {
    case alarm::Severity::kRed:
      return "red";
    case alarm::Severity::kOrange:
      return "orange";
    case alarm::Severity::kYellow:
      return "yellow";
    case alarm::Severity::kBlue:
      return "blue";
  }
  return "unknown";
}

json AlarmJson(const alarm::JournalEntry& entry, const alarm::Registry* registry) {
  const alarm::ActiveAlarm& a = entry.event.record;
  json out = {
      {"alarm_id", entry.alarm_id},
      {"kind", alarm::AlarmKindName(a.alarm)},
      {"state", alarm::AlarmStateName(a.state)},
      {"severity", static_cast<int>(a.severity)},
      {"severity_name", SeverityName(a.severity)},
      {"peak_severity", static_cast<int>(entry.peak_severity)},
      {"level", alarm::LevelName(a.level)},
      {"enterprise_id", entry.enterprise_id},
      {"enterprise_kind", alarm::EnterpriseKindName(entry.enterprise_kind)},
      {"region_code", entry.region_code},
      {"rule_id", a.rule_id},
      {"threshold", a.threshold},
      {"peak_value", a.peak_value},
      {"raised_at_ms", a.raised_at},
      {"changed_at_ms", a.changed_at},
      {"shelved_until_ms", a.shelved_until},
  };
  const bool gateway = a.alarm == alarm::AlarmKind::kGatewayOffline;
  out[gateway ? "gateway_id" : "sensor_id"] = a.source_id;
  if (alarm::HasReading(a.alarm, a.trigger_reading_at)) {
    out["trigger_value"] = a.trigger_value;
    out["trigger_reading_at_ms"] = a.trigger_reading_at;
  }
  if (registry == nullptr) return out;
  if (const alarm::Enterprise* e = registry->FindEnterprise(entry.enterprise_id)) {
    out["enterprise_name"] = e->name;
  }
  if (!gateway) {
    if (const alarm::Sensor* s = registry->FindSensor(a.source_id)) {
      out["sensor_quantity"] = s->quantity;
      out["sensor_unit"] = s->unit;
    }
  }
  return out;
}

json RuleLevelsJson(const alarm::Rule& rule) {
  json out = json::array();
  const std::pair<const char*, const std::optional<alarm::ThresholdLevel>*> levels[] = {
      {"HH", &rule.hh}, {"H", &rule.h}, {"L", &rule.l}, {"LL", &rule.ll}};
  for (const auto& [name, level] : levels) {
    if (!level->has_value()) continue;
    out.push_back({{"level", name},
                   {"value", (*level)->value},
                   {"severity", static_cast<int>((*level)->severity)},
                   {"severity_name", SeverityName((*level)->severity)}});
  }
  return out;
}

json EventJson(const alarm::JournalEntry& entry, const alarm::Registry* registry) {
  json out = {
      {"seq", entry.seq},
      {"kind", alarm::EventKindName(entry.event.kind)},
      {"alarm", AlarmJson(entry, registry)},
      {"at_ms", entry.event.at},
  };
  if (alarm::HasReading(entry.event.record.alarm, entry.event.reading_at)) {
    out["value"] = entry.event.value;
    out["reading_at_ms"] = entry.event.reading_at;
  }
  if (!entry.event.actor.empty()) out["actor"] = entry.event.actor;
  if (!entry.event.comment.empty()) out["comment"] = entry.event.comment;
  return out;
}

namespace {

// Calls `each` with every comma-separated non-empty part of `list`.
template <typename Each>
void ForEachPart(std::string_view list, const Each& each) {
  while (!list.empty()) {
    const size_t comma = list.find(',');
    const std::string_view part = list.substr(0, comma);
    if (!part.empty()) each(part);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
  }
}

}  // namespace

alarm::Result<alarm::AlarmFilter> FilterFrom(const std::optional<std::string>& region,
                                             const std::optional<std::string>& min_severity,
                                             const std::optional<std::string>& enterprise_kinds,
                                             const std::optional<std::string>& enterprises) {
  alarm::AlarmFilter filter;
  if (region) {
    if (!alarm::IsRegionPrefix(*region)) {
      return alarm::Status::InvalidArgument("region must be 0..6 digits, got '" +
                                            alarm::Echo(*region) + "'");
    }
    filter.region_prefix = *region;
  }
  if (min_severity && !min_severity->empty()) {
    int n = 0;
    const char* end = min_severity->data() + min_severity->size();
    auto [ptr, ec] = std::from_chars(min_severity->data(), end, n);
    if (ec != std::errc() || ptr != end || n < 1 || n > 4) {
      return alarm::Status::InvalidArgument("min_severity must be 1 (red) .. 4 (blue), got '" +
                                            alarm::Echo(*min_severity) + "'");
    }
    filter.min_severity = static_cast<alarm::Severity>(n);
  }
  alarm::Status bad;
  if (enterprise_kinds) {
    ForEachPart(*enterprise_kinds, [&](std::string_view name) {
      const alarm::EnterpriseKind kind = alarm::EnterpriseKindFromName(name);
      if (kind == alarm::EnterpriseKind::kUnspecified) {
        bad = alarm::Status::InvalidArgument("enterprise_kind: unknown kind '" + alarm::Echo(name) +
                                             "'");
      }
      filter.enterprise_kinds.push_back(kind);
    });
  }
  if (!bad.ok()) return bad;
  if (enterprises) {
    ForEachPart(*enterprises, [&](std::string_view id) { filter.enterprise_ids.emplace_back(id); });
  }
  return filter;
}

unsigned HttpStatusFor(alarm::Status::Code code) {
  using C = alarm::Status::Code;
  switch (code) {
    case C::kOk:
      return 200;
    case C::kUnauthenticated:
      return 401;
    case C::kPermissionDenied:
      return 403;
    case C::kNotFound:
      return 404;
    case C::kInvalidArgument:
    case C::kOutOfRange:
      return 400;
    case C::kFailedPrecondition:
    case C::kAborted:
      return 409;
    case C::kResourceExhausted:
      return 429;
    case C::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

std::string ErrorJson(const alarm::Status& status) {
  using C = alarm::Status::Code;
  const char* code = "INTERNAL";
  switch (status.code()) {
    case C::kUnauthenticated:
      code = "UNAUTHENTICATED";
      break;
    case C::kPermissionDenied:
      code = "PERMISSION_DENIED";
      break;
    case C::kNotFound:
      code = "NOT_FOUND";
      break;
    case C::kInvalidArgument:
      code = "INVALID_ARGUMENT";
      break;
    case C::kOutOfRange:
      code = "OUT_OF_RANGE";
      break;
    case C::kResourceExhausted:
      code = "RESOURCE_EXHAUSTED";
      break;
    case C::kUnavailable:
      code = "UNAVAILABLE";
      break;
    default:
      break;
  }
  // Messages may quote what a client sent: dump() escapes, and replaces
  // invalid UTF-8 rather than throwing.
  return json{{"error", status.message()}, {"code", code}}.dump(-1, ' ', false,
                                                                json::error_handler_t::replace);
}

}  // namespace vigil::server
