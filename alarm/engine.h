// Engine: the alarm state machine of one evaluator shard. Pure: no threads,
// no clock reads, no I/O; time is an argument. Not thread-safe: an Engine is
// owned by one shard thread, which alone calls every method. The RuleSet it
// is given is immutable and may be shared by all shards.
//
// Deterministic: the same calls with the same arguments produce the same
// events. The server relies on it to rebuild alarm state after a crash by
// replaying its input log from a Snapshot().
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "alarm/event.h"
#include "alarm/id_index.h"
#include "alarm/rule_set.h"
#include "alarm/status.h"
#include "alarm/types.h"

namespace vigil::alarm {

// Stable shard of a sensor or gateway id (FNV-1a), the same in every process.
uint32_t ShardOf(std::string_view id, uint32_t shard_count);

struct EngineOptions {
  // The Engine keeps state for the registry sensors with ShardOf(id,
  // shard_count) == shard that have an effective rule, and raises the
  // gateway-offline alarms of the gateways with ShardOf(id, shard_count) ==
  // shard. Default: 0 of 1.
  uint32_t shard = 0;
  uint32_t shard_count = 1;
  // Planned work (PlannedWork): a red (severity 1) condition breaks through
  // -- raised and annunciated as a normal alarm -- instead of being planned.
  // Every node applying one log must agree. Default: false.
  bool planned_red_breaks_through = false;
  // How long a sensor's calibration-flagged readings (kQualityCalibration)
  // keep its conditions planned, from the first flagged reading's arrival;
  // after that they are normal alarms until a reading without the flag ends
  // the calibration. Default: 8 h.
  std::chrono::milliseconds max_calibration = std::chrono::hours(8);
};

// A planned-work window (ISA-18.2 "out of service"): while it is in force
// (start <= now < end), conditions of the sensors it covers are raised as
// kPlanned alarms -- evaluated and journaled, not annunciated. Its target is
// one enterprise, narrowed to `sensor_ids` when given; a facility (a later
// registry level) would narrow it the same way. A whole-enterprise window also
// covers the gateway-offline alarms of the enterprise's gateways.
struct PlannedWork {
  std::string id{};
  std::string enterprise_id{};
  std::vector<std::string> sensor_ids{};  // empty: every sensor of the enterprise
  TimestampMs start = 0;
  TimestampMs end = 0;
  std::string reason{};
  std::string owner{};      // who is responsible for the work, as typed
  std::string opened_by{};  // the authenticated identity that opened it

  // Whether the window's target includes `sensor` (whatever the time).
  bool Covers(const Sensor& sensor) const;
  bool operator==(const PlannedWork&) const = default;
};

// A sensor whose readings carry kQualityCalibration, since `since` (arrival;
// INT64_MIN: for longer than max_calibration, no longer planned).
struct CalibrationSnapshot {
  std::string sensor_id{};
  TimestampMs since = 0;
  bool operator==(const CalibrationSnapshot&) const = default;
};

struct EngineStats {
  uint64_t readings = 0;            // evaluated
  uint64_t late_readings = 0;       // before the newest reading seen: stored, not evaluated
  uint64_t unknown_series = 0;      // sensor not owned or without a rule: skipped
  uint64_t no_data_suppressed = 0;  // no-data alarms not raised because the gateway went silent
};

// Names one alarm for an operator action: its source (sensor id, or gateway
// id for kGatewayOffline), its kind, and optionally its occurrence (0: the
// open one, whichever it is).
struct AlarmRef {
  std::string source_id{};
  AlarmKind alarm = AlarmKind::kThreshold;
  uint64_t occurrence = 0;
};

// Restart state of one sensor: plain values, for the journal. Only sensors
// whose state differs from a fresh one appear.
struct SensorSnapshot {
  std::string sensor_id{};
  std::string rule_id{};  // effective rule when taken; Restore skips on mismatch
  Level level = Level::kNone;
  // An on-delay (pending_level worse than level) or off-delay (better) running.
  bool pending = false;
  Level pending_level = Level::kNone;
  TimestampMs pending_since = 0;
  int32_t pending_lag_ms = 0;  // arrival minus event time of the pending's first reading
  // On-delay towards H (L): the first reading at HH (LL) came this long after
  // pending_since; 0: none.
  int32_t pending_next_ms = 0;
  uint32_t unchanged_ms = 0;  // event time the value has been unchanged (stuck value)
  bool stuck = false;         // stuck-value alarm active
  bool fault = false;
  bool no_data = false;
  bool rate_alarm = false;
  bool gateway_silent = false;  // no-data suppressed until its gateway returns
  TimestampMs last_seen = 0;    // arrival time of the last series
  bool seen = false;
  TimestampMs last_reading_at = 0;  // newest reading time
  bool has_reading = false;
  double last_value = 0;
  double peak = 0;
  int32_t gateway = -1;    // index into EngineSnapshot::gateways; -1 none
  uint8_t rate_count = 0;  // rate-of-change checkpoints, oldest first
  std::array<TimestampMs, 5> rate_at{};
  std::array<double, 5> rate_value{};

  bool operator==(const SensorSnapshot&) const = default;
};

struct GatewaySnapshot {
  std::string gateway_id{};
  TimestampMs last_seen = 0;
  bool seen = false;
  bool offline = false;

  bool operator==(const GatewaySnapshot&) const = default;
};

struct ShelfSnapshot {
  std::string source_id{};
  AlarmKind alarm = AlarmKind::kThreshold;
  TimestampMs until = 0;
  // The threshold level it covers; kNone: unknown (an older snapshot), taken
  // from the open alarm on Restore (none open: the next raise ends it).
  Level level = Level::kNone;

  bool operator==(const ShelfSnapshot&) const = default;
};

struct EngineSnapshot {
  std::vector<SensorSnapshot> sensors{};
  std::vector<GatewaySnapshot> gateways{};
  std::vector<ActiveAlarm> alarms{};
  std::vector<ShelfSnapshot> shelves{};
  uint64_t next_occurrence = 1;
  std::vector<PlannedWork> planned_work{};
  std::vector<CalibrationSnapshot> calibrating{};

  bool operator==(const EngineSnapshot&) const = default;
};

// Per sensor the Engine keeps a fixed 80-byte SensorState (plus ~17 bytes of
// id index, and 72 bytes more for a rate-of-change rule); open alarms live in a
// separate map touched only on transitions. Evaluate does one hash lookup per
// series and allocates nothing unless an event is produced. Timers (on/off
// delays, no-data deadlines) sit in a min-heap with at most one live entry per
// sensor, so Tick costs O(log n) per due timer, not a scan; gateways and
// shelves (few) are scanned.
//
// Time: an on- or off-delay is met by a later reading whose event time is a
// delay after the first reading in the new condition, or, when no reading
// comes, by Tick's `now` a delay after that first reading *arrived*. So a
// gateway clock that runs behind, or a backfill, never shortens a delay, and
// a condition that a backfill shows held for its delay takes effect at once.
// No-data and gateway-offline deadlines run on `now` (arrival), never on
// event time.
//
// Levels (ISA-18.2: H and HH are separate alarms kept as one record): every
// level change waits its delay -- a raise or an escalation (H -> HH) the
// on-delay, held at least at the new level; a clear or a de-escalation
// (HH -> H) the off-delay, held below the old level past its deadband. HH
// reached during H's on-delay keeps its own start (one 32-bit offset); a
// clear after a de-escalation counts from the de-escalation (later, never
// earlier, than the value's own return). An escalation makes the alarm
// active-unacked again. A shelve covers the level
// the alarm had when shelved (and the less severe ones of that side): an
// escalation or raise past it ends the shelve (kUnshelved, "escalated past
// the shelved level") and is annunciated.
//
// Planned work (PlannedWork, and readings flagged kQualityCalibration): an
// alarm that opens while its source is covered is kPlanned (unless it is red
// and EngineOptions::planned_red_breaks_through); its escalations and clears
// stay planned, and it closes without acknowledgement. Alarms already open
// when a window starts stay as they are. When the cover ends (the window is
// closed or expires, a reading comes without the calibration flag), a planned
// alarm whose condition is still present becomes a normal alarm (kRaised,
// active-unacked); the others close. No-data alarms are planned by windows
// only (a silent sensor sends no calibration flag).
//
// Suppression: while a sensor-fault alarm is active, that sensor's readings do
// not feed threshold or rate evaluation; pending delays are cancelled and
// active process alarms stay as they are until good readings return. While a
// gateway is silent (gateway_offline rule on) -- it sent nothing from the
// sensor's last series until the sensor's next report was due, or nothing for
// gateway_offline.after -- a sensor whose
// last series came through it raises no no-data alarm; its no-data clock
// restarts when the gateway returns. The stuck-value rule looks at every
// reading's value, whatever its quality, and suppresses nothing.
class Engine {
 public:
  explicit Engine(EngineOptions options = {});

  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Installs a new rule set. Sensors whose effective rule (by content) and
  // registry range/interval are unchanged keep their state and alarms; the
  // others start fresh, and their open alarms are closed with a kCleared
  // event (state kClosed) at `now` appended to *out. Gateway state is kept by
  // id; the alarms of gateways no longer registered are closed likewise.
  // REQUIRES: rules != nullptr.
  void SetRuleSet(std::shared_ptr<const RuleSet> rules, TimestampMs now,
                  std::vector<AlarmEvent>* out);

  // Starts one stored batch of `gateway_id` received at `now`: the gateway
  // is alive (its offline alarm clears), and the series Evaluate()d until the
  // next BeginBatch came through it. An unknown gateway id is ignored.
  void BeginBatch(std::string_view gateway_id, TimestampMs now, std::vector<AlarmEvent>* out);

  // Evaluates one series (readings in event-time order) received at `now`.
  // Readings before the sensor's newest reading are late: skipped and
  // counted. A reading at the same time as the newest is evaluated as the
  // current value (last written wins, as storage keeps it). Arrays of unequal
  // length are cut to the shortest; `quality` may be empty (all good). Events
  // are appended to *out.
  void Evaluate(std::string_view sensor_id, std::span<const TimestampMs> timestamps,
                std::span<const double> values, std::span<const Quality> quality, TimestampMs now,
                std::vector<AlarmEvent>* out) {
    Evaluate(sensor_id, IdIndex::Hash(sensor_id), timestamps, values, quality, now, out);
  }
  // The same, with id_hash == IdIndex::Hash(sensor_id) (computed once per
  // series by a caller that also prefetches, below).
  void Evaluate(std::string_view sensor_id, uint64_t id_hash,
                std::span<const TimestampMs> timestamps, std::span<const double> values,
                std::span<const Quality> quality, TimestampMs now, std::vector<AlarmEvent>* out);

  // The state slot of each series' sensor, in order, into *slots (resized;
  // kNoSensor for a sensor this Engine holds no state of), then fetches the
  // batch's states, registry entries and rate checkpoints so that the cache
  // misses of EvaluateAt overlap. A series with a log_number
  // (SeriesView) is found by an array read when the rule set's registry
  // numbers its sensor; else by its id's hash. Const: safe beside nothing
  // but other const calls (the Engine is single-threaded).
  void Locate(std::span<const SeriesView> series, std::vector<uint32_t>* slots) const;
  static constexpr uint32_t kNoSensor = UINT32_MAX;
  // Evaluate, for the sensor at `slot` (from Locate; kNoSensor counts an
  // unknown series).
  void EvaluateAt(uint32_t slot, std::span<const TimestampMs> timestamps,
                  std::span<const double> values, std::span<const Quality> quality, TimestampMs now,
                  std::vector<AlarmEvent>* out);

  // A hint that the sensors whose IdIndex::Hash values are `id_hashes` are
  // about to be evaluated: fetches their index entries, states and registry
  // entries in passes, so that the cache misses of a batch's sensors overlap
  // instead of following one another. No effect on state.
  void Prefetch(std::span<const uint64_t> id_hashes) const;

  // Fires due on-delays, off-delays, no-data and gateway-offline deadlines and
  // ends expired shelving at `now`. The first Tick after SetRuleSet starts
  // the no-data clock of sensors and gateways never seen.
  void Tick(TimestampMs now, std::vector<AlarmEvent>* out);

  // Operator actions on the open alarm `ref` names; each appends its event.
  // kNotFound when no such alarm is open (or `ref.occurrence` names an
  // earlier one). Acknowledge: active-unacked becomes active-acked,
  // cleared-unacked becomes closed; an acked alarm is left as is (no event).
  Status Acknowledge(const AlarmRef& ref, TimestampMs at, std::string_view actor,
                     std::string_view comment, std::vector<AlarmEvent>* out);
  // Shelves the alarm point (source, kind) until `until`: the alarm and any
  // raised again before then carry shelved_until; Tick ends it at `until`.
  // A threshold alarm's shelve covers its current level: a worse one ends it
  // (see the class comment). Shelving again moves `until` and takes the
  // current level. kInvalidArgument when until <= at.
  Status Shelve(const AlarmRef& ref, TimestampMs until, TimestampMs at, std::string_view actor,
                std::string_view reason, std::vector<AlarmEvent>* out);
  // Ends shelving early. kFailedPrecondition when the point is not shelved.
  Status Unshelve(const AlarmRef& ref, TimestampMs at, std::string_view actor,
                  std::string_view comment, std::vector<AlarmEvent>* out);
  // (Acknowledge, Shelve and Unshelve of a kPlanned alarm: kFailedPrecondition.)

  // Opens planned-work window `work` at `at`: it starts at max(work.start,
  // at) and lasts `duration`; Tick ends it. Every shard's Engine holds every
  // window; the one owning it (ShardOf(work.id)) appends its
  // kPlannedWorkOpened event. kInvalidArgument for an empty id or
  // enterprise, or duration <= 0; kFailedPrecondition when a window of that
  // id is open.
  Status OpenPlannedWork(PlannedWork work, std::chrono::milliseconds duration, TimestampMs at,
                         std::vector<AlarmEvent>* out);
  // Ends window `id` early (before or after its start); planned alarms it
  // covered become normal ones or close (see the class comment), then the
  // owning Engine appends kPlannedWorkClosed (Tick's expiry likewise).
  // kNotFound when no such window is open.
  Status ClosePlannedWork(std::string_view id, TimestampMs at, std::string_view actor,
                          std::string_view comment, std::vector<AlarmEvent>* out);
  // Windows open (in force or yet to start), in the order opened.
  const std::vector<PlannedWork>& planned_work() const { return planned_; }

  // Open alarms (active or cleared-unacked): sensors by slot, then gateways.
  std::vector<ActiveAlarm> Active() const;

  // Restart state: Restore(Snapshot()) on an Engine given the same RuleSet
  // continues exactly as this one would. Restore REQUIRES SetRuleSet first;
  // entries of sensors and gateways this Engine does not hold, or of another
  // rule id, are skipped, so the snapshots of several shards may be restored
  // one after the other. kInvalidArgument on out-of-range enum values.
  EngineSnapshot Snapshot() const;
  Status Restore(const EngineSnapshot& snapshot);

  const EngineStats& stats() const { return stats_; }
  size_t sensor_count() const { return states_.size(); }
  // Bytes of per-sensor state: the fixed state, rate-of-change state, the id
  // index (its open-addressing table) and the timer heap, as allocated.
  // Open alarms and gateways are not included (few).
  size_t state_bytes() const;
  static constexpr size_t kSensorStateBytes = 80;

 private:
  static constexpr size_t kRatePoints = 5;
  static constexpr TimestampMs kUnset = INT64_MIN;  // never seen / no reading
  static constexpr TimestampMs kNoTimer = INT64_MAX;
  static constexpr uint32_t kNone = UINT32_MAX;
  // Slots at or above it name gateways (slot - kGatewaySlot), below it sensors.
  static constexpr uint32_t kGatewaySlot = 1u << 31;
  enum Flag : uint8_t {
    kPending = 1,
    kFault = 2,
    kNoData = 4,
    kRateAlarm = 8,
    kGatewaySilent = 16,
    kStuck = 32,
    kCalibrating = 64,  // its last reading carried kQualityCalibration
  };

  // Indices, not pointers, into the rule set's rules and registry sensors:
  // 8 bytes a sensor fewer (see RuleOf, SensorOf).
  struct SensorState {
    uint32_t rule_index = 0;
    uint32_t sensor_index = 0;
    TimestampMs last_seen = kUnset;
    TimestampMs last_reading_at = kUnset;
    TimestampMs pending_since = 0;
    TimestampMs heap_due = kNoTimer;  // due of this sensor's live heap entry
    double last_value = 0;
    double peak = 0;
    uint32_t rate_index = kNone;
    uint32_t gateway = kNone;  // gateway of its last series
    Level level = Level::kNone;
    Level pending_level = Level::kNone;
    uint8_t flags = 0;
    // How late the pending's first reading arrived (0 .. ~24 days): timers
    // measure the delay from its arrival.
    int32_t pending_lag_ms = 0;
    // On-delay towards H (L) only: offset from pending_since of the first
    // reading at HH (LL) since, which the HH on-delay counts from once H is
    // raised; 0: none.
    int32_t pending_next_ms = 0;
    // For how long (event time, saturating) readings kept exactly last_value.
    uint32_t unchanged_ms = 0;
  };
  // Checkpoint i (oldest first) was taken at base + offset[i]: 32-bit offsets
  // cover the ~39 days that a rate window of at most kMaxRateWindow spans.
  struct RateState {
    TimestampMs base = 0;  // time of checkpoint 0
    std::array<double, kRatePoints> value{};
    std::array<uint32_t, kRatePoints> offset{};
    uint8_t count = 0;

    TimestampMs at(size_t i) const { return base + offset[i]; }
    // Appends checkpoint (t, v), t >= every checkpoint's time: drops the oldest
    // when full, and those too old to reach by a 32-bit offset from t.
    void Add(TimestampMs t, double v);
  };
  struct GatewayState {
    const Gateway* gateway = nullptr;
    TimestampMs last_seen = kUnset;
    bool owned = false;       // this Engine raises its offline alarm
    bool offline = false;     // owned only
    bool has_silent = false;  // some sensor of this Engine waits for it (kGatewaySilent)
  };
  struct AlarmRecord {
    AlarmState state = AlarmState::kActiveUnacked;
    Severity severity = Severity::kYellow;
    Level level = Level::kNone;
    uint64_t occurrence = 0;
    double threshold = 0;
    double trigger_value = 0;
    TimestampMs trigger_reading_at = 0;
    double peak = 0;
    TimestampMs raised_at = 0;
    TimestampMs changed_at = 0;
    std::string planned_work{};  // state kPlanned (and its closing event): the window
  };
  struct Timer {
    TimestampMs due;
    uint32_t slot;
  };
  struct Shelf {
    TimestampMs until = 0;
    Level level = Level::kNone;  // threshold alarms: the worst level it covers
  };
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using GatewayIndex = std::unordered_map<std::string_view, uint32_t, StringHash, std::equal_to<>>;
  // Key of alarms_ and shelves_: slot * 8 + AlarmKind.
  static uint64_t AlarmKey(uint32_t slot, AlarmKind kind) {
    return uint64_t{slot} * 8 + static_cast<uint8_t>(kind);
  }
  static uint32_t KeySlot(uint64_t key) { return static_cast<uint32_t>(key / 8); }
  static AlarmKind KeyKind(uint64_t key) { return static_cast<AlarmKind>(key % 8); }

  void EvaluateThreshold(uint32_t slot, TimestampMs t, double v, TimestampMs now,
                         std::vector<AlarmEvent>* out);
  void EvaluateRate(uint32_t slot, TimestampMs t, double v, TimestampMs now,
                    std::vector<AlarmEvent>* out);
  void EvaluateStuck(uint32_t slot, TimestampMs t, double v, TimestampMs now,
                     std::vector<AlarmEvent>* out);
  // Makes the pending level change of a threshold alarm, whose delay is met.
  void FirePending(uint32_t slot, double v, TimestampMs t, TimestampMs now,
                   std::vector<AlarmEvent>* out);
  // Ends a threshold shelve that `level` goes past (after the event that
  // raised or escalated to it).
  void EndShelveIfPast(uint32_t slot, Level level, TimestampMs now, std::vector<AlarmEvent>* out);
  void RunTimers(uint32_t slot, TimestampMs now, std::vector<AlarmEvent>* out);
  void TickGateways(TimestampMs now, std::vector<AlarmEvent>* out);
  void TickShelves(TimestampMs now, std::vector<AlarmEvent>* out);
  void TickPlannedWork(TimestampMs now, std::vector<AlarmEvent>* out);
  // The planned work covering alarm point (slot, kind) at `now`, or nullptr.
  const std::string* PlannedWorkOf(uint32_t slot, AlarmKind kind, TimestampMs now) const;
  bool BreaksThrough(Severity severity) const {
    return options_.planned_red_breaks_through && severity == Severity::kRed;
  }
  // Planned alarms (of `only_slot`, or all with kNone) no longer covered at
  // `now`: normal again when their condition is present, else closed.
  void EndPlanned(TimestampMs now, uint32_t only_slot, std::vector<AlarmEvent>* out);
  // Whether this Engine journals the window's own events.
  bool OwnsWork(const PlannedWork& work) const {
    return ShardOf(work.id, options_.shard_count) == options_.shard;
  }
  static AlarmEvent WorkEvent(EventKind kind, const PlannedWork& work, TimestampMs at,
                              std::string_view actor, std::string comment);
  void RearmSilentSensors(uint32_t gateway, TimestampMs now);
  TimestampMs NextDue(const SensorState& s) const;
  static void StartPending(SensorState& s, TimestampMs t, TimestampMs now);
  void Schedule(uint32_t slot);
  void RebuildTimers();

  void Raise(uint32_t slot, AlarmKind kind, Severity severity, Level level, double threshold,
             double v, TimestampMs t, TimestampMs now, std::vector<AlarmEvent>* out);
  void ChangeLevel(uint32_t slot, Level level, double v, TimestampMs t, TimestampMs now,
                   std::vector<AlarmEvent>* out);
  void Clear(uint32_t slot, AlarmKind kind, double v, TimestampMs t, TimestampMs now,
             std::vector<AlarmEvent>* out);
  // The slot of a sensor this Engine holds, or kNone.
  uint32_t FindSensor(std::string_view sensor_id) const {
    return FindSensor(sensor_id, IdIndex::Hash(sensor_id));
  }
  uint32_t FindSensor(std::string_view sensor_id, uint64_t id_hash) const;
  const Rule& RuleOf(const SensorState& s) const { return first_rule_[s.rule_index]; }
  const Sensor& SensorOf(const SensorState& s) const { return first_sensor_[s.sensor_index]; }
  // Finds the open alarm `ref` names; kNotFound otherwise.
  Result<uint64_t> FindAlarm(const AlarmRef& ref) const;
  // Last reading known of a slot's source (for timer and operator events).
  std::pair<double, TimestampMs> LastReading(uint32_t slot) const;
  const std::string& SourceId(uint32_t slot) const;
  void Emit(EventKind event, uint64_t key, const AlarmRecord& rec, double v, TimestampMs t,
            TimestampMs now, std::vector<AlarmEvent>* out) const;
  ActiveAlarm ToActive(uint64_t key, const AlarmRecord& rec) const;

  EngineOptions options_;
  std::shared_ptr<const RuleSet> rules_;
  // rules_'s rules and registry sensors (immutable): what the indices of
  // SensorState refer to.
  const Rule* first_rule_ = nullptr;
  const Sensor* first_sensor_ = nullptr;
  // Keys view into rules_->registry() ids.
  IdIndex index_;
  // Registry log number -> state slot, kNone for a numbered sensor without a
  // state here, kUnnumbered for a number the rule set's registry does not
  // know (found by id instead). Built with the rule set.
  static constexpr uint32_t kUnnumbered = kNone - 1;
  std::vector<uint32_t> slot_by_number_{};
  GatewayIndex gateway_index_;
  std::vector<SensorState> states_{};
  std::vector<RateState> rates_{};
  std::vector<GatewayState> gateways_{};
  uint32_t current_gateway_ = kNone;  // of the batch being evaluated
  std::map<uint64_t, AlarmRecord> alarms_;
  std::map<uint64_t, Shelf> shelves_;   // alarm point -> its shelve
  std::vector<Timer> timers_{};         // min-heap on (due, slot)
  std::vector<PlannedWork> planned_{};  // open windows (few)
  // Slot -> arrival of its first calibration-flagged reading (the slots
  // with kCalibrating); kCalibrationOver once max_calibration is up.
  std::map<uint32_t, TimestampMs> calibrating_{};
  static constexpr TimestampMs kCalibrationOver = INT64_MIN;
  uint64_t next_occurrence_ = 1;
  EngineStats stats_;
};

}  // namespace vigil::alarm
