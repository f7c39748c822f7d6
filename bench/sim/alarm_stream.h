// Alarm stream: a command center's view of vigild for the simulator. Follows
// vigil.v1.Alarms/Subscribe from the snapshot of open alarms on, resumes after
// a disconnect from the last seq it saw (no gap, no duplicate), keeps every
// alarm transition with the server's time of it (event.at_ms), and can hand
// each event, as one readable line, to a callback (`vigil-sim --watch`).
//
// Threads: one reader thread of its own, started by Start() and joined by
// Stop() or the destructor; the callback runs on it. Every other method may
// be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench/sim/checker.h"

namespace vigil::sim {

struct AlarmStreamOptions {
  std::string target;  // vigild's gRPC address, host:port
  // Bearer token (auth.tokens); empty sends none, which a server without
  // tokens accepts.
  std::string token{};
  // Called with one line per event (no newline), on the reader thread.
  std::function<void(const std::string&)> on_line{};
  // Also call on_line for each open alarm of the snapshot. Default: off.
  bool print_snapshot = false;
};

struct AlarmStreamStats {
  uint64_t snapshot_alarms = 0;  // open alarms in the first snapshot
  uint64_t events = 0;           // every event received (operator actions included)
  uint64_t transitions = 0;      // raised, escalated, de-escalated, cleared
  uint64_t heartbeats = 0;
  uint64_t reconnects = 0;     // streams opened again after the first ended
  uint64_t resyncs = 0;        // OUT_OF_RANGE: resubscribed from a snapshot, events may be lost
  uint64_t last_seq = 0;       // highest seq the stream vouched for
  int64_t server_time_ms = 0;  // latest server time seen (events and heartbeats)
  std::string last_error{};    // of the last stream that ended with an error
};

class AlarmStream {
 public:
  explicit AlarmStream(AlarmStreamOptions options);
  ~AlarmStream();
  AlarmStream(const AlarmStream&) = delete;
  AlarmStream& operator=(const AlarmStream&) = delete;

  // Subscribes (snapshot, then live events) and waits until the whole
  // snapshot is in, so that every later transition is caught. False, with the
  // reason in *error, when that does not happen within `timeout` (the stream
  // is then stopped). Call once.
  bool Start(std::chrono::milliseconds timeout, std::string* error);

  // Waits until the stream has shown a server time (an event's at_ms or a
  // heartbeat's server_time_ms) at or after `wall_ms`, or until `timeout`.
  // True when it did.
  bool WaitForServerTime(int64_t wall_ms, std::chrono::milliseconds timeout) const;

  // Ends the stream and joins the reader. Idempotent.
  void Stop();

  // Every transition received so far, in stream order.
  std::vector<ObservedTransition> Transitions() const;
  AlarmStreamStats stats() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// `name value unit` lines of the stream's figures (alarm_stream_*).
std::string FormatAlarmStreamStats(const AlarmStreamStats& stats);

}  // namespace vigil::sim
