#include "alarm/rollup.h"

#include <algorithm>

namespace vigil::alarm {
namespace {

template <class T>
bool AnyOrHas(const std::vector<T>& list, const T& value) {
  return list.empty() || std::find(list.begin(), list.end(), value) != list.end();
}

bool ValidSeverity(Severity s) {
  return static_cast<uint8_t>(s) >= 1 && static_cast<uint8_t>(s) <= 4;
}

}  // namespace

std::string_view RollupParentName(RollupParent parent) {
  switch (parent) {
    case RollupParent::kItem:
      return "item";
    case RollupParent::kFacility:
      return "facility";
    case RollupParent::kEnterprise:
      return "enterprise";
  }
  return "invalid";
}

std::string_view RollupChildrenName(RollupChildren children) {
  switch (children) {
    case RollupChildren::kSensors:
      return "sensors";
    case RollupChildren::kItems:
      return "items";
    case RollupChildren::kFacilities:
      return "facilities";
  }
  return "invalid";
}

Status RollupRule::Validate() const {
  const std::string where = "rollup '" + Echo(id) + "'";
  if (!IsValidId(id)) {
    return Status::InvalidArgument(where +
                                   ": id must be 1..128 printable ASCII bytes without spaces");
  }
  const bool paired =
      (parent == RollupParent::kItem && children == RollupChildren::kSensors) ||
      (parent == RollupParent::kFacility &&
       (children == RollupChildren::kSensors || children == RollupChildren::kItems)) ||
      (parent == RollupParent::kEnterprise && children == RollupChildren::kFacilities);
  if (!paired) {
    return Status::InvalidArgument(
        where + ": a " + std::string(RollupParentName(parent)) + " cannot roll up " +
        std::string(RollupChildrenName(children)) +
        " (item from sensors, facility from sensors or items, enterprise from facilities)");
  }
  if (parent == RollupParent::kEnterprise && (!facility_kinds.empty() || !facility_ids.empty())) {
    return Status::InvalidArgument(where +
                                   ": an enterprise roll-up selects by enterprise_kind only");
  }
  if (when.empty()) return Status::InvalidArgument(where + ": `when` lists no condition");
  if (when.size() > kMaxRollupConditions) {
    return Status::InvalidArgument(where + ": at most " + std::to_string(kMaxRollupConditions) +
                                   " conditions");
  }
  for (size_t i = 0; i < when.size(); ++i) {
    const RollupCondition& c = when[i];
    const std::string at = where + ": when[" + std::to_string(i) + "]";
    if (c.count == 0) return Status::InvalidArgument(at + ".count must be at least 1");
    if (!ValidSeverity(c.level) || !ValidSeverity(c.raise)) {
      return Status::InvalidArgument(at + ": severities are 1 (red) .. 4 (blue)");
    }
  }
  return Status::Ok();
}

bool RollupRule::Selects(const Facility* facility, const Enterprise& enterprise) const {
  if (!AnyOrHas(enterprise_kinds, enterprise.kind)) return false;
  if (facility == nullptr) return true;
  return AnyOrHas(facility_kinds, facility->kind) && AnyOrHas(facility_ids, facility->id);
}

RollupOutcome EvaluateRollup(const RollupRule& rule,
                             std::span<const std::optional<Severity>> children) {
  RollupOutcome out;
  for (size_t c = 0; c < rule.when.size(); ++c) {
    const RollupCondition& cond = rule.when[c];
    // Severity numbers run the other way: 1 (red) is the worst.
    if (out.severity && *out.severity <= cond.raise) continue;
    const auto at_or_worse = [&](const std::optional<Severity>& s) {
      return s.has_value() && *s <= cond.level;
    };
    if (static_cast<size_t>(std::count_if(children.begin(), children.end(), at_or_worse)) >=
        cond.count) {
      out.severity = cond.raise;
      out.condition = c;
    }
  }
  if (out.severity) {
    const Severity level = rule.when[out.condition].level;
    for (size_t i = 0; i < children.size(); ++i) {
      if (children[i] && *children[i] <= level) out.contributing.push_back(i);
    }
  }
  return out;
}

const RollupRule* RollupFor(std::span<const RollupRule> rules, RollupParent parent,
                            const Facility* facility, const Enterprise& enterprise) {
  for (const RollupRule& rule : rules) {
    if (rule.parent == parent && rule.Selects(facility, enterprise)) return &rule;
  }
  return nullptr;
}

}  // namespace vigil::alarm
