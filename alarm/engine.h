// Engine: the alarm state machine of one evaluator shard. Pure: no threads,
// no clock reads, no I/O; time is an argument. Not thread-safe: an Engine is
// owned by one shard thread, which alone calls every method. The RuleSet it
// is given is immutable and may be shared by all shards.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "alarm/event.h"
#include "alarm/rule_set.h"
#include "alarm/status.h"
#include "alarm/types.h"

namespace vigil::alarm {

// Stable shard of a sensor id (FNV-1a), the same in every process.
uint32_t ShardOf(std::string_view sensor_id, uint32_t shard_count);

struct EngineOptions {
  // The Engine keeps state for the registry sensors with ShardOf(id,
  // shard_count) == shard that have an effective rule. Default: 0 of 1.
  uint32_t shard = 0;
  uint32_t shard_count = 1;
};

struct EngineStats {
  uint64_t readings = 0;        // evaluated
  uint64_t late_readings = 0;   // at or before the newest reading seen: skipped
  uint64_t unknown_series = 0;  // sensor not owned or without a rule: skipped
};

// Restart state of one sensor: plain values, for the journal. Only sensors
// whose state differs from a fresh one appear.
struct SensorSnapshot {
  std::string sensor_id{};
  std::string rule_id{};  // effective rule when taken; Restore skips on mismatch
  Level level = Level::kNone;
  bool pending = false;  // on-delay (level none) or off-delay (level set) running
  Level pending_level = Level::kNone;
  TimestampMs pending_since = 0;
  bool fault = false;
  bool no_data = false;
  bool rate_alarm = false;
  TimestampMs last_seen = 0;  // arrival time of the last series
  bool seen = false;
  TimestampMs last_reading_at = 0;  // newest reading time
  bool has_reading = false;
  double last_value = 0;
  double peak = 0;
  uint8_t rate_count = 0;  // rate-of-change checkpoints, oldest first
  std::array<TimestampMs, 5> rate_at{};
  std::array<double, 5> rate_value{};
};

struct EngineSnapshot {
  std::vector<SensorSnapshot> sensors{};
  std::vector<ActiveAlarm> alarms{};
};

// Per sensor the Engine keeps a fixed 72-byte SensorState (plus its id-map
// entry, and 88 bytes more for a rate-of-change rule); open alarms live in a
// separate map touched only on transitions. Evaluate does one hash lookup per
// series and allocates nothing unless an event is produced. Timers (on/off
// delays, no-data deadlines) sit in a min-heap with at most one live entry per
// sensor, so Tick costs O(log n) per due timer, not a scan.
//
// Suppression: while a sensor-fault alarm is active, that sensor's readings do
// not feed threshold or rate evaluation; pending delays are cancelled and
// active process alarms stay as they are until good readings return.
class Engine {
 public:
  explicit Engine(EngineOptions options = {});

  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Installs a new rule set. Sensors whose effective rule (by content) and
  // registry range/interval are unchanged keep their state and alarms; the
  // others start fresh, and their open alarms are closed with a kCleared
  // event (state kClosed) at `now` appended to *out.
  // REQUIRES: rules != nullptr.
  void SetRuleSet(std::shared_ptr<const RuleSet> rules, TimestampMs now,
                  std::vector<AlarmEvent>* out);

  // Evaluates one series (readings in event-time order) received at `now`.
  // Readings at or before the sensor's newest reading are late: skipped and
  // counted. Arrays of unequal length are cut to the shortest; `quality` may
  // be empty (all good). Events are appended to *out.
  void Evaluate(std::string_view sensor_id, std::span<const TimestampMs> timestamps,
                std::span<const double> values, std::span<const Quality> quality, TimestampMs now,
                std::vector<AlarmEvent>* out);

  // Fires due on-delays, off-delays and no-data deadlines at `now`. The first
  // Tick after SetRuleSet starts the no-data clock of sensors never seen.
  void Tick(TimestampMs now, std::vector<AlarmEvent>* out);

  // Acknowledges the open alarm of (sensor, alarm): active-unacked becomes
  // active-acked; cleared-unacked becomes closed. Appends a kAcknowledged
  // event; none if already acknowledged. kNotFound when no alarm is open.
  Status Acknowledge(std::string_view sensor_id, AlarmKind alarm, TimestampMs at,
                     std::vector<AlarmEvent>* out);

  // Open alarms (active or cleared-unacked), ordered by sensor slot and kind.
  std::vector<ActiveAlarm> Active() const;

  // Restart state: Restore(Snapshot()) on an Engine given the same RuleSet
  // continues exactly as this one would. Restore REQUIRES SetRuleSet first;
  // entries of unknown sensors or of another rule id are skipped.
  // kInvalidArgument on out-of-range enum values.
  EngineSnapshot Snapshot() const;
  Status Restore(const EngineSnapshot& snapshot);

  const EngineStats& stats() const { return stats_; }
  size_t sensor_count() const { return states_.size(); }

 private:
  static constexpr size_t kRatePoints = 5;
  static constexpr TimestampMs kUnset = INT64_MIN;  // never seen / no reading
  static constexpr TimestampMs kNoTimer = INT64_MAX;
  static constexpr uint32_t kNoRate = UINT32_MAX;
  enum Flag : uint8_t { kPending = 1, kFault = 2, kNoData = 4, kRateAlarm = 8 };

  struct SensorState {
    const Rule* rule = nullptr;
    const Sensor* sensor = nullptr;
    TimestampMs last_seen = kUnset;
    TimestampMs last_reading_at = kUnset;
    TimestampMs pending_since = 0;
    TimestampMs heap_due = kNoTimer;  // due of this sensor's live heap entry
    double last_value = 0;
    double peak = 0;
    uint32_t rate_index = kNoRate;
    Level level = Level::kNone;
    Level pending_level = Level::kNone;
    uint8_t flags = 0;
  };
  struct RateState {
    uint8_t count = 0;  // oldest first
    std::array<TimestampMs, kRatePoints> at{};
    std::array<double, kRatePoints> value{};
  };
  struct AlarmRecord {
    AlarmState state = AlarmState::kActiveUnacked;
    Severity severity = Severity::kYellow;
    Level level = Level::kNone;
    double trigger_value = 0;
    TimestampMs trigger_reading_at = 0;
    double peak = 0;
    TimestampMs raised_at = 0;
    TimestampMs changed_at = 0;
  };
  struct Timer {
    TimestampMs due;
    uint32_t slot;
  };
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  // Key of alarms_: slot * 8 + AlarmKind.
  static uint64_t AlarmKey(uint32_t slot, AlarmKind kind) {
    return uint64_t{slot} * 8 + static_cast<uint8_t>(kind);
  }

  void EvaluateThreshold(uint32_t slot, TimestampMs t, double v, TimestampMs now,
                         std::vector<AlarmEvent>* out);
  void EvaluateRate(uint32_t slot, TimestampMs t, double v, TimestampMs now,
                    std::vector<AlarmEvent>* out);
  void RunTimers(uint32_t slot, TimestampMs now, std::vector<AlarmEvent>* out);
  TimestampMs NextDue(const SensorState& s) const;
  void Schedule(uint32_t slot);
  void RebuildTimers();

  void Raise(uint32_t slot, AlarmKind kind, Severity severity, Level level, double v, TimestampMs t,
             TimestampMs now, std::vector<AlarmEvent>* out);
  void ChangeLevel(uint32_t slot, Level level, double v, TimestampMs t, TimestampMs now,
                   std::vector<AlarmEvent>* out);
  void Clear(uint32_t slot, AlarmKind kind, double v, TimestampMs t, TimestampMs now,
             std::vector<AlarmEvent>* out);
  void Emit(uint32_t slot, EventKind event, AlarmKind kind, const AlarmRecord& rec, double v,
            TimestampMs t, TimestampMs now, std::vector<AlarmEvent>* out) const;
  ActiveAlarm ToActive(uint64_t key, const AlarmRecord& rec) const;

  EngineOptions options_;
  std::shared_ptr<const RuleSet> rules_;
  // Keys view into rules_->registry() sensor ids.
  std::unordered_map<std::string_view, uint32_t, StringHash, std::equal_to<>> index_;
  std::vector<SensorState> states_{};
  std::vector<RateState> rates_{};
  std::map<uint64_t, AlarmRecord> alarms_;
  std::vector<Timer> timers_{};  // min-heap on (due, slot)
  EngineStats stats_;
};

}  // namespace vigil::alarm
