// Scenario checker: compares the alarm transitions a server reported with the
// ground truth of the scenario that was streamed to it, and sums up what was
// missed, extra, chattering, early or late, and how long alarms took. Pure:
// reads values, returns values; any thread may call it.
//
// The observed transitions come as text, one per line, either vigild's log
// line (`... event=alarm transition=raised alarm=threshold ... sensor=S ...
// severity=2 level=H ... at=MS`) or the plain form `at_ms source alarm
// transition level severity` (e.g. from the alarm Subscribe stream).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bench/sim/ground_truth.h"

namespace vigil::sim {

struct ObservedTransition {
  TimestampMs at = 0;  // the server's (wall-clock) time of the transition
  std::string source;  // sensor id; gateway id for gateway_offline
  AlarmKind kind = AlarmKind::kThreshold;
  Transition what = Transition::kRaised;
  Level level = Level::kNone;
  int severity = 3;
};

// One line in either form; nullopt for any other line (and for
// acknowledgements, which are not transitions of the condition).
std::optional<ObservedTransition> ParseObservedLine(std::string_view line);
// Every transition found in `text`, in order.
std::vector<ObservedTransition> ParseObserved(std::string_view text);
// The plain form, without a newline.
std::string FormatObserved(const ObservedTransition& t);

struct CheckOptions {
  // Slack around every expected window, in wall time: server latency and
  // timer period. Default: 2 s.
  std::chrono::milliseconds tolerance{2000};
  // How far (wall time) outside its raise window an observed alarm level
  // still matches a required expectation, then counted early or late (a
  // `may` one matches only inside its window). Default: 10 min.
  std::chrono::milliseconds match_limit{600'000};
};

struct CheckReport {
  uint32_t expected = 0;        // required expectations
  uint32_t optional = 0;        // "may" expectations
  uint32_t observed = 0;        // observed alarm levels inside the scenario's time
  uint32_t outside_window = 0;  // observed before its start or after its end: not compared
  uint32_t matched = 0;         // required expectations found (on time, early or late)
  uint32_t missed = 0;
  uint32_t extra = 0;       // observed, not expected
  uint32_t chattering = 0;  // observed again while an expected alarm of that source was on
  uint32_t early = 0;
  uint32_t late = 0;
  uint32_t clear_missed = 0;  // expected to clear in the run; did not
  uint32_t clear_early = 0;   // includes clearing when it should have stayed on
  uint32_t clear_late = 0;
  std::map<AlarmKind, uint32_t> expected_by_kind, missed_by_kind, extra_by_kind;
  std::vector<int64_t> raise_latency_ms;  // observed raise - start of the expected window
  std::vector<int64_t> clear_latency_ms;
  std::vector<std::string> findings;  // one line per problem, for people
};

CheckReport CheckAlarms(const GroundTruth& truth, std::span<const ObservedTransition> observed,
                        const CheckOptions& options);

// `name value unit` lines, one per figure.
std::string FormatCheckReport(const CheckReport& report);

}  // namespace vigil::sim
