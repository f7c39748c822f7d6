// ControlRecord: a log entry that is not a gateway batch (log_entry.h). It
// carries what must reach the shards in log order so that replaying the log
// reproduces alarm state exactly: the alarm clock's ticks, operator actions
// on alarms, and rules changes. Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "alarm/engine.h"
#include "alarm/status.h"
#include "alarm/types.h"

namespace vigil::storage {

enum class ControlKind : uint8_t {
  kTick = 1,          // fire due alarm timers at the entry's stored_at
  kAcknowledge = 2,   // alarm, actor, text = comment
  kShelve = 3,        // alarm, shelve_for_ms, actor, text = reason
  kUnshelve = 4,      // alarm, actor, text = comment
  kRulesChanged = 5,  // text = a description, or (a shared log) the rules document
  // A shared log only: text = a registry change, encoded by the server (a
  // vigil.v1.ApplyRegistryRequest), for the other nodes; the shards ignore it
  // (the rules entry that follows carries its effect on them).
  kRegistryChanged = 6,
  // Planned work: `planned` (its start 0 = the entry's commit time), lasting
  // shelve_for_ms, opened by actor. To every shard.
  kPlannedWorkOpen = 7,
  // Ends window `planned.id` early: actor, text = comment. To every shard.
  kPlannedWorkClose = 8,
};

struct ControlRecord {
  ControlKind kind = ControlKind::kTick;
  alarm::AlarmRef alarm{};
  // Shelving (planned work) lasts this long from the entry's commit time (its
  // start), so a replay ends it at the same moment.
  int64_t shelve_for_ms = 0;
  std::string actor{};
  std::string text{};
  // kPlannedWorkOpen, kPlannedWorkClose (id only) only; encoded after the
  // rest for those kinds alone.
  alarm::PlannedWork planned{};
};

std::string EncodeControlRecord(const ControlRecord& record);
// kCorruption when `bytes` is not exactly one well-formed record.
alarm::Result<ControlRecord> DecodeControlRecord(std::string_view bytes);

}  // namespace vigil::storage
