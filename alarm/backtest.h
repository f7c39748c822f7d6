// Backtest: stored history replayed through the alarm Engine (engine.h, the
// code that runs live) with a proposed RuleSet, and what it would have raised
// compared with what was raised (the journal of the period). Pure: readings
// come from a HistorySource the caller implements (the server reads chunks
// and heads), time is the readings' own, nothing here reads a clock or does
// I/O. Not thread-safe: one replay is one caller's.
//
// The replay's clock (docs/backtest.md says when it equals the live one):
//   - every reading is evaluated on its own, at `now` = its event time (live:
//     the commit time of the batch that brought it), in time order over all
//     sensors in scope (a k-way merge of per-sensor pages);
//   - with a gateway-offline rule, before a reading its sensor's gateway (the
//     first gateway registered to its enterprise) starts a batch (BeginBatch)
//     whenever the gateway or the time changes;
//   - the alarm clock ticks on every whole second (live: a tick about every
//     second), from the first reading on; at the same millisecond readings go
//     first, then operator actions, then the tick;
//   - operator actions (acknowledge, shelve, unshelve by an operator) are
//     taken from the journal and applied at their journal time to the alarm
//     point they name (its open alarm, whatever occurrence), or skipped when
//     the proposal has no such alarm open.
// It starts `warmup` before `from` so that delays, rate windows and open
// alarms are under way at `from`; only transitions in [from, to) count.
//
// Memory: the Engine's state for the RuleSet's registry (as live: ~100 bytes
// a sensor), at most `page_readings` buffered readings per sensor in scope
// (stats().max_buffered_readings counts them), and one transition record
// (~80 bytes) per process transition of either side, at most max_transitions
// each (kResourceExhausted beyond: narrow the range or region).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "alarm/engine.h"
#include "alarm/event.h"
#include "alarm/journal.h"
#include "alarm/rule_set.h"
#include "alarm/status.h"
#include "alarm/types.h"

namespace vigil::alarm {

// One sensor's stored readings, page by page.
class HistorySource {
 public:
  virtual ~HistorySource() = default;
  // Appends to *out at most `max` readings of `sensor_id` with from <= at <
  // to, in time order, one per timestamp. Fewer than `max`: none remain.
  virtual Status ReadPage(std::string_view sensor_id, TimestampMs from, TimestampMs to, size_t max,
                          std::vector<Reading>* out) = 0;
};

struct BacktestOptions {
  // The period compared, [from, to).
  TimestampMs from = 0;
  TimestampMs to = 0;
  // Replayed before `from`, not compared. Default: 1 h.
  TimestampMs warmup_ms = 3'600'000;
  // Sensors (and gateways) of enterprises whose region code starts with it.
  // Default: "" (all).
  std::string region_prefix{};
  // Readings buffered per sensor (one page read). Default: 256.
  size_t page_readings = 256;
  // Most process transitions kept per side. Default: 1,000,000.
  size_t max_transitions = 1'000'000;
  // Asked every few thousand readings; true stops the replay (kAborted).
  std::function<bool()> stop{};
};

// One process transition (raised, escalated, de-escalated, cleared) of
// either side, as compared.
struct BacktestTransition {
  std::string source_id{};  // sensor id; gateway id for kGatewayOffline
  AlarmKind alarm = AlarmKind::kThreshold;
  std::string rule_id{};
  EventKind event = EventKind::kRaised;
  Level level = Level::kNone;
  Severity severity = Severity::kYellow;
  TimestampMs at = 0;          // event time (live: commit time)
  TimestampMs reading_at = 0;  // the reading that caused it
  double value = 0;
  uint64_t alarm_id = 0;  // live only: the journal's alarm id

  bool operator==(const BacktestTransition&) const = default;
};

// True for the transitions a rule decides (what is compared); operator
// actions and shelving are not.
bool IsProcessTransition(EventKind kind);
// The time by which a transition belongs to a period: the time of the
// reading that caused it (for a clock-driven one, the sensor's last reading),
// which both sides share; `at` for a gateway-offline alarm and a sensor never
// heard from. Live, `at` is the commit time, up to a delivery delay away
// from the reading's: a period cut by `at` would split a pair.
TimestampMs PeriodTime(const AlarmEvent& event);
BacktestTransition ToBacktestTransition(const AlarmEvent& event, uint64_t alarm_id = 0);

// True when the journal event `event` is an operator action a replay applies
// (ReplayOperatorAction): acknowledged, shelved, or unshelved by an actor.
bool IsOperatorAction(const AlarmEvent& event);
// Applies the operator action recorded as `event` to `engine` at event.at,
// to the open alarm of its point (occurrence 0: the proposal numbers alarms
// its own way). kNotFound / kFailedPrecondition as the Engine's: the
// proposal has no such alarm or shelve (the caller counts it as skipped).
// New kinds of operator action (planned work) are added here.
Status ReplayOperatorAction(Engine& engine, const AlarmEvent& event, std::vector<AlarmEvent>* out);

struct BacktestReplayStats {
  uint64_t sensors = 0;  // in scope
  // Sensors the Engine holds state for (those of the RuleSet's registry
  // with a rule), and its bytes of per-sensor state (Engine::state_bytes).
  uint64_t engine_sensors = 0;
  uint64_t engine_state_bytes = 0;
  uint64_t readings = 0;  // replayed (warm-up included)
  uint64_t ticks = 0;
  uint64_t actions_applied = 0;
  uint64_t actions_skipped = 0;
  uint64_t page_reads = 0;
  // Most readings held in page buffers at once.
  uint64_t max_buffered_readings = 0;
  // Readings before an earlier one of their sensor (not possible from the
  // store; counted for a source that gives them).
  uint64_t late_readings = 0;
};

struct BacktestReplay {
  // Process transitions whose PeriodTime is in [from, to), in scope, in the
  // order made.
  std::vector<BacktestTransition> transitions;
  BacktestReplayStats stats;
};

// Replays [from - warmup, to) through a fresh Engine with `rules`.
// `actions`: journal events in time order (others than operator actions are
// ignored). Errors: kInvalidArgument (from >= to, page_readings 0), the
// source's, kResourceExhausted past max_transitions, kAborted on stop().
Result<BacktestReplay> ReplayHistory(std::shared_ptr<const RuleSet> rules,
                                     std::span<const AlarmEvent> actions, HistorySource& source,
                                     const BacktestOptions& options);

// ---- The report ----

// ISA-18.2 / EEMUA 191 figures.
inline constexpr TimestampMs kFloodWindowMs = 600'000;   // 10 min
inline constexpr uint32_t kFloodRaises = 10;             // raised within it: a flood
inline constexpr TimestampMs kChatterWindowMs = 60'000;  // 1 min
inline constexpr uint32_t kChatterRaises = 3;            // of one point within it: chattering
// A transition made by the clock this close to the reading that made the
// same transition on the other side is that one (a tick's resolution).
inline constexpr TimestampMs kClockToleranceMs = 1000;

struct BacktestCount {
  std::string key{};  // a rule id, or a sensor (gateway) id
  uint64_t backtest = 0;
  uint64_t live = 0;
  bool operator==(const BacktestCount&) const = default;
};

// One alarm point (source, kind): raises on each side and the most raises
// within any kChatterWindowMs.
struct BacktestPoint {
  std::string source_id{};
  AlarmKind alarm = AlarmKind::kThreshold;
  std::string rule_id{};
  uint64_t backtest_raised = 0;
  uint64_t live_raised = 0;
  uint32_t backtest_chatter = 0;
  uint32_t live_chatter = 0;
  bool operator==(const BacktestPoint&) const = default;
};

// A period in which every raise had at least kFloodRaises - 1 others within
// kFloodWindowMs before it or after it: the union of the 10-minute windows
// holding kFloodRaises raises.
struct BacktestFlood {
  bool live = false;
  TimestampMs start = 0;  // first raise
  TimestampMs end = 0;    // last raise
  uint64_t raised = 0;
  uint32_t peak = 0;  // most raises within any kFloodWindowMs
  bool operator==(const BacktestFlood&) const = default;
};

// One alarm: from its raise to its clear (0: still active at `to`).
struct BacktestAlarm {
  std::string source_id{};
  AlarmKind alarm = AlarmKind::kThreshold;
  std::string rule_id{};
  Level level = Level::kNone;  // worst reached
  Severity severity = Severity::kBlue;
  TimestampMs raised_at = 0;
  TimestampMs cleared_at = 0;
  uint64_t alarm_id = 0;  // live only
  bool operator==(const BacktestAlarm&) const = default;
};

struct BacktestDifference {
  bool live = false;  // only in the journal; else only in the backtest
  BacktestTransition transition{};
};

struct BacktestReport {
  uint64_t backtest_raised = 0;
  uint64_t live_raised = 0;
  // Transition by transition, per alarm point in order: the same event,
  // level, severity, rule, causing reading (time and value; for gateway
  // offline the event alone). `at` is not compared (see the header comment).
  uint64_t matched = 0;
  // The same event, level, severity and rule, but another causing reading:
  // on one side the clock met a delay (or timeout) within kClockToleranceMs
  // of the reading that met it on the other (docs/backtest.md: when).
  uint64_t matched_by_clock = 0;
  uint64_t only_backtest = 0;
  uint64_t only_live = 0;
  // Largest |at(backtest) - at(live)| over matched transitions.
  TimestampMs max_at_offset_ms = 0;
  std::vector<BacktestCount> per_rule;    // by rule id
  std::vector<BacktestCount> per_sensor;  // by source id, raised on either side
  std::vector<BacktestPoint> chattering;  // points chattering on either side, worst first
  std::vector<BacktestPoint> bad_actors;  // the `top` points most raised by the backtest
  std::vector<BacktestFlood> floods;      // both sides, by start
  // Live alarms during which the proposal had no alarm of that point (all
  // counted, the first `top` * 10 listed by raise time).
  uint64_t missed_total = 0;
  std::vector<BacktestAlarm> missed;
  // Alarms of the proposal during which there was no live alarm of that point.
  uint64_t added_total = 0;
  std::vector<BacktestAlarm> added;
  std::vector<BacktestDifference> differences;  // the first `top` * 10
};

// Compares the two sides' process transitions (each in time order) of one
// period [from, to): alarms still open at `from` have no raise in it.
BacktestReport CompareTransitions(std::span<const BacktestTransition> backtest,
                                  std::span<const BacktestTransition> live, size_t top);

}  // namespace vigil::alarm
