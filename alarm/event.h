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
  kRaised = 1,        // a new alarm: active-unacked
  kEscalated = 2,     // same alarm, more severe level (H -> HH, L -> LL)
  kDeEscalated = 3,   // same alarm, less severe level (HH -> H)
  kCleared = 4,       // returned to normal
  kAcknowledged = 5,  // an operator acknowledged it
  // Reserved: kShelved = 6, kUnshelved = 7.
};

// Which condition. One open alarm at most per (sensor, AlarmKind).
enum class AlarmKind : uint8_t {
  kThreshold = 1,
  kRateOfChange = 2,
  kNoData = 3,          // communication lost
  kSensorFault = 4,     // bad quality or out of instrument range
  kGatewayOffline = 5,  // reserved: not produced by the Engine yet
};

// ISA-18.2 states. An alarm leaves the Engine's books when it reaches kClosed.
enum class AlarmState : uint8_t {
  kActiveUnacked = 1,
  kActiveAcked = 2,
  kClearedUnacked = 3,  // returned to normal before anyone acknowledged
  kClosed = 4,
};

std::string_view EventKindName(EventKind kind);
std::string_view AlarmKindName(AlarmKind kind);
std::string_view AlarmStateName(AlarmState state);

struct AlarmEvent {
  EventKind kind = EventKind::kRaised;
  AlarmKind alarm = AlarmKind::kThreshold;
  AlarmState state = AlarmState::kActiveUnacked;  // state after the event
  std::string sensor_id{};
  std::string rule_id{};
  Severity severity = Severity::kYellow;
  Level level = Level::kNone;  // threshold alarms only
  // The reading that caused the event; for rate-of-change alarms the rate in
  // units per window. Last reading known for timer-driven events.
  double value = 0;
  TimestampMs reading_at = 0;
  TimestampMs at = 0;  // event time: the `now` of Evaluate/Tick/Acknowledge
};

// An open alarm (active, or cleared but not yet acknowledged).
struct ActiveAlarm {
  std::string sensor_id{};
  std::string rule_id{};
  AlarmKind alarm = AlarmKind::kThreshold;
  AlarmState state = AlarmState::kActiveUnacked;
  Severity severity = Severity::kYellow;
  Level level = Level::kNone;
  double trigger_value = 0;  // value that raised it
  TimestampMs trigger_reading_at = 0;
  double peak_value = 0;       // most extreme value while active (threshold alarms)
  TimestampMs raised_at = 0;   // event time of kRaised
  TimestampMs changed_at = 0;  // event time of the last transition

  bool operator==(const ActiveAlarm&) const = default;
};

}  // namespace vigil::alarm
