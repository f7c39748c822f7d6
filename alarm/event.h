// Alarm events and alarm records: plain values produced by the Engine
// (engine.h), safe to move across threads. Every state transition of an alarm
// is one AlarmEvent; the server gives it the next journal sequence number.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "alarm/rule.h"
#include "alarm/types.h"

namespace vigil::alarm {

// What happened. Numbers are stable (journal, wire).
enum class EventKind : uint8_t {
  kRaised = 1,        // active-unacked: a new alarm, or a cleared-unacked one active again
  kEscalated = 2,     // same alarm, more severe level (H -> HH, L -> LL): active-unacked again
  kDeEscalated = 3,   // same alarm, less severe level (HH -> H)
  kCleared = 4,       // returned to normal
  kAcknowledged = 5,  // an operator acknowledged it
  kShelved = 6,       // an operator shelved its alarm point until `shelved_until`
  // Shelving ended: by an operator, its time was up (no actor), or the alarm
  // escalated past the level it was shelved at (no actor; right after the
  // kEscalated or kRaised event, which is then no longer shelved).
  kUnshelved = 7,
  // The server's record of the alarm was corrected after a restart (only when
  // the rules or registry changed while it was down); `state` is the truth.
  kReconciled = 8,
  // A planned-work window was opened (actor: who; comment: its reason, owner,
  // time span and sensors). Its record is of kind kPlannedWork: the source is
  // the window's enterprise, `planned_work` its id, `raised_at` its start.
  kPlannedWorkOpened = 9,
  // A planned-work window ended: closed early by an operator (actor set) or
  // its time was up (no actor, comment "expired").
  kPlannedWorkClosed = 10,
};
inline constexpr uint8_t kMaxEventKind = 10;

// Which condition. One open alarm at most per (source, AlarmKind).
enum class AlarmKind : uint8_t {
  kThreshold = 1,
  kRateOfChange = 2,
  kNoData = 3,          // communication lost
  kSensorFault = 4,     // bad quality or out of instrument range
  kGatewayOffline = 5,  // every sensor of a gateway went silent: its source is the gateway
  kStuckValue = 6,      // sensor fault: the same value for longer than the rule's stuck_after
  // Not an alarm: the journal entries of a planned-work window (events
  // kPlannedWorkOpened/kPlannedWorkClosed; never open, always kClosed).
  kPlannedWork = 7,
};
inline constexpr uint8_t kMaxAlarmKind = 7;  // the Engine keys alarms by kind in 3 bits

// ISA-18.2 states. An alarm leaves the Engine's books when it reaches kClosed.
enum class AlarmState : uint8_t {
  kActiveUnacked = 1,
  kActiveAcked = 2,
  kClearedUnacked = 3,  // returned to normal before anyone acknowledged
  kClosed = 4,
  // Out of service for planned work (ISA-18.2): raised while a planned-work
  // window covered its source (or the sensor's readings were flagged as
  // calibration). Journaled, never annunciated; needs no acknowledgement and
  // closes when it clears. When the window ends while the condition is still
  // present, it becomes kActiveUnacked (a kRaised event), a normal alarm.
  kPlanned = 5,
};

std::string_view EventKindName(EventKind kind);
std::string_view AlarmKindName(AlarmKind kind);
std::string_view AlarmStateName(AlarmState state);
// Inverse of AlarmKindName; false on an unknown name.
bool ParseAlarmKind(std::string_view name, AlarmKind* kind);

// An open alarm (active, or cleared but not yet acknowledged): the alarm
// record as the Engine holds it.
struct ActiveAlarm {
  // The sensor id; for kGatewayOffline the gateway id.
  std::string source_id{};
  std::string rule_id{};  // empty for kGatewayOffline
  AlarmKind alarm = AlarmKind::kThreshold;
  AlarmState state = AlarmState::kActiveUnacked;
  Severity severity = Severity::kYellow;
  Level level = Level::kNone;
  // Engine-wide counter value given when the alarm opened: tells two alarms
  // of the same (source, kind) apart, so an operator action never hits a
  // later one.
  uint64_t occurrence = 0;
  // The limit in force: the level's value (threshold), the rate limit per
  // window (rate of change), the timeout in seconds (no data, gateway
  // offline), the stuck time in seconds (stuck value); 0 for a sensor fault.
  double threshold = 0;
  double trigger_value = 0;  // value that raised it
  TimestampMs trigger_reading_at = 0;
  double peak_value = 0;          // most extreme value while active (threshold alarms)
  TimestampMs raised_at = 0;      // event time of kRaised
  TimestampMs changed_at = 0;     // event time of the last transition
  TimestampMs shelved_until = 0;  // 0 unless its alarm point is shelved
  // The planned-work window it was raised under (kCalibrationWork when the
  // sensor's readings were flagged as calibration); empty for a normal alarm.
  // Kept on the event that closes a planned alarm, so that every event of
  // it reads as planned (IsPlanned).
  std::string planned_work{};

  bool operator==(const ActiveAlarm&) const = default;
};

// The planned_work of alarms raised while their sensor's readings carried
// kQualityCalibration.
inline constexpr std::string_view kCalibrationWork = "calibration";

// Whether an alarm record (or an event's) belongs to planned work: a planned
// alarm, the event that closed one, or a window's own entry. Such entries
// are journaled but not annunciated (subscribers, Alertmanager).
inline bool IsPlanned(const ActiveAlarm& a) {
  return a.state == AlarmState::kPlanned || !a.planned_work.empty();
}

// One transition: the alarm record after it, plus what caused it.
struct AlarmEvent {
  EventKind kind = EventKind::kRaised;
  // The alarm after the event; record.state is kClosed once it left the books.
  ActiveAlarm record{};
  // The reading that caused the event; for rate-of-change alarms the rate in
  // units per window. Last reading known for timer-driven and operator events.
  double value = 0;
  TimestampMs reading_at = 0;
  TimestampMs at = 0;  // event time: the `now` of Evaluate/Tick or the operator action
  // Operator actions: who, and their comment or shelving reason.
  std::string actor{};
  std::string comment{};

  bool operator==(const AlarmEvent&) const = default;
};

// Whether a (value, reading time) pair of an alarm of `kind` names a real
// reading: a gateway-offline alarm has none, and a sensor never heard from
// since the engine started has the engine's "unset" time (INT64_MIN). The
// API leaves such values out rather than show 0 at the dawn of time.
inline bool HasReading(AlarmKind kind, TimestampMs reading_at) {
  return kind != AlarmKind::kGatewayOffline && kind != AlarmKind::kPlannedWork &&
         reading_at != INT64_MIN;
}

}  // namespace vigil::alarm
