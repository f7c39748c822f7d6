#include "alarm/rule.h"

#include <cmath>
#include <limits>
#include <sstream>

namespace vigil::alarm {
namespace {

bool IsSeverity(Severity s) {
  auto v = static_cast<int>(s);
  return v >= 1 && v <= 4;
}

std::string Num(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

bool IsDigits(std::string_view s) {
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

std::string_view LevelName(Level level) {
  switch (level) {
    case Level::kLL:
      return "LL";
    case Level::kL:
      return "L";
    case Level::kNone:
      return "none";
    case Level::kH:
      return "H";
    case Level::kHH:
      return "HH";
  }
  return "invalid";
}

Status Rule::Validate() const {
  const std::string where = "rule '" + Echo(id) + "': ";
  auto bad = [&](const std::string& what) { return Status::InvalidArgument(where + what); };

  if (!IsValidId(id)) return bad("id must be 1..128 printable ASCII bytes without spaces");

  // Selector.
  const Selector& s = selector;
  for (const auto& [name, value] :
       {std::pair<const char*, const std::string&>{"selector.sensor_id", s.sensor_id},
        {"selector.enterprise_id", s.enterprise_id}}) {
    if (!value.empty() && !IsValidId(value)) {
      return bad(std::string(name) + " '" + Echo(value) +
                 "' is not a valid id: 1..128 printable ASCII bytes without spaces");
    }
  }
  int scopes = (s.enterprise_id.empty() ? 0 : 1) + (s.region_prefix.empty() ? 0 : 1) +
               (s.enterprise_kind == EnterpriseKind::kUnspecified ? 0 : 1);
  if (!s.sensor_id.empty()) {
    if (!s.quantity.empty() || scopes != 0) {
      return bad(
          "selector.sensor_id excludes quantity, enterprise_id, region_prefix and "
          "enterprise_kind");
    }
  } else {
    if (s.quantity.empty() && scopes == 0) return bad("selector is empty");
    if (s.quantity.empty()) return bad("selector.quantity is required without sensor_id");
    if (scopes != 1) {
      return bad("selector needs exactly one of enterprise_id, region_prefix, enterprise_kind");
    }
    if (!s.region_prefix.empty() && (s.region_prefix.size() > 6 || !IsDigits(s.region_prefix))) {
      return bad("selector.region_prefix '" + Echo(s.region_prefix) + "' must be 1..6 digits");
    }
  }

  // Threshold levels: finite values, valid severities, strict order.
  struct Named {
    const char* name;
    const std::optional<ThresholdLevel>* level;
  };
  const Named levels[] = {{"ll", &ll}, {"l", &l}, {"h", &h}, {"hh", &hh}};
  const Named* prev = nullptr;
  for (const Named& n : levels) {
    if (!n.level->has_value()) continue;
    const ThresholdLevel& lv = **n.level;
    if (!std::isfinite(lv.value)) return bad(std::string(n.name) + ".value must be finite");
    if (!IsSeverity(lv.severity)) {
      return bad(std::string(n.name) + ".severity must be 1..4 (1 red .. 4 blue)");
    }
    if (prev != nullptr && !((**prev->level).value < lv.value)) {
      return bad(std::string(prev->name) + ".value " + Num((**prev->level).value) +
                 " must be below " + n.name + ".value " + Num(lv.value));
    }
    prev = &n;
  }

  if (!std::isfinite(deadband) || deadband < 0) return bad("deadband must be >= 0");

  if (restore_high) {
    if (!h && !hh) return bad("restore_high needs h or hh");
    double lowest_high = h ? h->value : hh->value;
    if (!std::isfinite(*restore_high) || *restore_high > lowest_high) {
      return bad("restore_high " + Num(*restore_high) + " must be at most the lowest high level " +
                 Num(lowest_high));
    }
    double highest_low = l ? l->value : (ll ? ll->value : -std::numeric_limits<double>::infinity());
    if (*restore_high <= highest_low) {
      return bad("restore_high must be above the highest low level " + Num(highest_low));
    }
  }
  if (restore_low) {
    if (!l && !ll) return bad("restore_low needs l or ll");
    double highest_low = l ? l->value : ll->value;
    if (!std::isfinite(*restore_low) || *restore_low < highest_low) {
      return bad("restore_low " + Num(*restore_low) + " must be at least the highest low level " +
                 Num(highest_low));
    }
    double lowest_high = h ? h->value : (hh ? hh->value : std::numeric_limits<double>::infinity());
    if (*restore_low >= lowest_high) {
      return bad("restore_low must be below the lowest high level " + Num(lowest_high));
    }
  }

  if (on_delay.count() < 0) return bad("on_delay must be >= 0");
  if (off_delay.count() < 0) return bad("off_delay must be >= 0");

  if (rate) {
    if (!std::isfinite(rate->limit) || rate->limit <= 0) return bad("rate.limit must be > 0");
    if (rate->window.count() <= 0) return bad("rate.window must be > 0");
    if (rate->window > kMaxRateWindow) return bad("rate.window must be at most 31d");
    if (!IsSeverity(rate->severity)) return bad("rate.severity must be 1..4 (1 red .. 4 blue)");
    if (rate->direction > RateDirection::kFalling) {
      return bad("rate.direction must be either, rising or falling");
    }
  }
  if (!IsSeverity(no_data_severity)) {
    return bad("no_data_severity must be 1..4 (1 red .. 4 blue)");
  }
  if (!IsSeverity(sensor_fault_severity)) {
    return bad("sensor_fault_severity must be 1..4 (1 red .. 4 blue)");
  }
  if (stuck_after.count() < 0) return bad("stuck_after must be >= 0");
  if (stuck_after > kMaxStuckAfter) return bad("stuck_after must be at most 31d");
  if (!IsSeverity(stuck_severity)) return bad("stuck_severity must be 1..4 (1 red .. 4 blue)");
  return Status::Ok();
}

Status GatewayOfflineRule::Validate() const {
  if (after.count() < 0) return Status::InvalidArgument("gateway_offline.after must be >= 0");
  if (!IsSeverity(severity)) {
    return Status::InvalidArgument("gateway_offline.severity must be 1..4 (1 red .. 4 blue)");
  }
  return Status::Ok();
}

}  // namespace vigil::alarm
