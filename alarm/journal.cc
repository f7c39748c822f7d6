#include "alarm/journal.h"

#include <algorithm>

namespace vigil::alarm {

bool AlarmFilter::Matches(const JournalEntry& entry) const {
  auto contains = [](const auto& list, const auto& value) {
    return list.empty() || std::find(list.begin(), list.end(), value) != list.end();
  };
  if (!include_planned && IsPlanned(entry.event.record)) return false;
  return InRegion(entry.region_code, region_prefix) &&
         static_cast<uint8_t>(entry.peak_severity) <= static_cast<uint8_t>(min_severity) &&
         contains(enterprise_ids, entry.enterprise_id) &&
         contains(enterprise_kinds, entry.enterprise_kind) &&
         contains(alarm_kinds, entry.event.record.alarm);
}

bool IsRegionPrefix(std::string_view prefix) {
  return prefix.size() <= 6 &&
         std::all_of(prefix.begin(), prefix.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace vigil::alarm
