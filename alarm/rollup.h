// Roll-up rules: a parent (a monitoring item, a facility, an enterprise) is
// raised from its children's open alarms -- "N children at level L or worse
// -> the parent at level L'" -- as data in the rules file, not code per
// standard (GB 39496-2020 §5.5.4 for tailings: 4 blue points of an item ->
// the item yellow; 3 yellow -> orange; 2 orange -> red). Plain values and
// pure functions; any thread.
//
// The state a roll-up is evaluated from is the journal's table of open
// alarms (server/pipeline/journal_book.h): every child transition of every
// shard meets there, in journal order, so the parent's event is journaled in
// the same group right after the child's that caused it, and restarts and
// replays need no state of their own.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "alarm/registry.h"
#include "alarm/status.h"
#include "alarm/types.h"

namespace vigil::alarm {

// Where a roll-up alarm is raised, and from what.
enum class RollupParent : uint8_t { kItem = 1, kFacility = 2, kEnterprise = 3 };
enum class RollupChildren : uint8_t { kSensors = 1, kItems = 2, kFacilities = 3 };
std::string_view RollupParentName(RollupParent parent);        // "item", "facility", "enterprise"
std::string_view RollupChildrenName(RollupChildren children);  // "sensors", "items", "facilities"

// `count` children at `level` or worse (severity number <= level's) raise
// the parent at `raise`.
struct RollupCondition {
  uint32_t count = 1;
  Severity level = Severity::kBlue;
  Severity raise = Severity::kYellow;

  bool operator==(const RollupCondition&) const = default;
};

// The most conditions a roll-up may list (one per level is the norm).
inline constexpr size_t kMaxRollupConditions = 16;

struct RollupRule {
  std::string id{};
  RollupParent parent = RollupParent::kItem;
  RollupChildren children = RollupChildren::kSensors;
  // Which parents: every one given narrows (an empty list: any). Facility
  // kinds and ids select items (by their facility) and facilities;
  // enterprise kinds select any parent (by its enterprise).
  std::vector<FacilityKind> facility_kinds{};
  std::vector<std::string> facility_ids{};
  std::vector<EnterpriseKind> enterprise_kinds{};
  std::vector<RollupCondition> when{};

  // kInvalidArgument naming the problem: a bad id; a pairing other than
  // item <- sensors, facility <- sensors, facility <- items, enterprise <-
  // facilities; facility selectors on an enterprise roll-up; no condition,
  // more than kMaxRollupConditions, a count of 0.
  Status Validate() const;
  // Whether this rule applies to a parent of facility `facility` (nullptr
  // for an enterprise parent) in `enterprise`.
  bool Selects(const Facility* facility, const Enterprise& enterprise) const;

  bool operator==(const RollupRule&) const = default;
};

// What a roll-up makes of its children's severities (nullopt: the child has
// no alarm that counts).
struct RollupOutcome {
  std::optional<Severity> severity;  // nullopt: the parent has no alarm
  // The condition that set it (index into `when`), and the children that
  // meet it (indices into the children, in order).
  size_t condition = 0;
  std::vector<size_t> contributing{};
};

// The most severe `raise` among the conditions met (a tie: the first
// listed). Allocation-free when no condition is met.
RollupOutcome EvaluateRollup(const RollupRule& rule,
                             std::span<const std::optional<Severity>> children);

// The first rule in `rules` (file order) of parent kind `parent` that
// selects the place (`facility` nullptr for an enterprise), or nullptr.
const RollupRule* RollupFor(std::span<const RollupRule> rules, RollupParent parent,
                            const Facility* facility, const Enterprise& enterprise);

}  // namespace vigil::alarm
