// The alarm journal's vocabulary: a JournalEntry is one alarm event with its
// global journal sequence, the alarm it belongs to and where that alarm is
// (enterprise, region), so that command centers can filter and resume on it
// without the registry of the day. AlarmFilter is what a command center
// subscribes to. Plain values and pure functions; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "alarm/event.h"
#include "alarm/registry.h"
#include "alarm/types.h"

namespace vigil::alarm {

struct JournalEntry {
  uint64_t seq = 0;       // global, gap-free, increasing from 1
  uint64_t alarm_id = 0;  // seq of the entry that raised this alarm
  AlarmEvent event{};
  std::string enterprise_id{};
  std::string region_code{};  // 6-digit GB/T 2260 code of the enterprise
  EnterpriseKind enterprise_kind = EnterpriseKind::kUnspecified;
  // Most severe severity this alarm reached so far (1 is most severe): what
  // severity filters look at, so a subscriber that saw an alarm sees it to
  // the end even when it de-escalates below its filter.
  Severity peak_severity = Severity::kBlue;

  bool operator==(const JournalEntry&) const = default;
};

// Every field narrows: an empty list or prefix matches everything.
struct AlarmFilter {
  std::string region_prefix{};  // "" national, "37" a province, "370105" a county
  std::vector<std::string> enterprise_ids{};
  Severity min_severity = Severity::kBlue;  // kRed: only red; kBlue: all
  std::vector<EnterpriseKind> enterprise_kinds{};
  std::vector<AlarmKind> alarm_kinds{};
  // Also planned-work entries (IsPlanned): planned alarms and their events,
  // and the windows' own entries. Default: false -- they are not annunciated.
  bool include_planned = false;

  // True when the alarm of `entry` is of interest (judged on peak_severity).
  bool Matches(const JournalEntry& entry) const;
};

// True when `code` (6 digits) lies in the area `prefix` names.
inline bool InRegion(std::string_view code, std::string_view prefix) {
  return code.substr(0, prefix.size()) == prefix;
}

// True when `prefix` is 0..6 digits (empty: national).
bool IsRegionPrefix(std::string_view prefix);

}  // namespace vigil::alarm
