// Gateway client: streams a scenario to vigild the way field gateways do. One
// bidirectional Ingest.Stream per gateway; batches numbered (epoch, sequence)
// and kept until acked; at an outage the stream is cut and the readings go on
// being buffered; after it (or any stream error) the gateway reconnects and
// resends every unacked batch in order, then the backlog. Acks arriving in the
// last three batch periods before an outage are dropped, as a failing link
// loses them, so the resend path and the server's dedupe are exercised. Then reads every
// sensor back (ReadRaw) to check that what was acked is stored.
//
// Threads: the caller's thread runs the simulated clock, builds the batches
// and opens the streams; gRPC's callback threads run the stream reactions.
// Each gateway's queue is guarded by its own mutex. The functions block until
// done; call them from one thread at a time.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "bench/sim/scenario.h"

namespace vigil::sim {

struct StreamOptions {
  std::string target;  // vigild's gRPC address, host:port
  // Wall time (ms since the Unix epoch) that simulated time scenario.start()
  // maps to; simulated time then runs at options().speed. Waits until then.
  TimestampMs wall_start = 0;
  // Batches written and not yet acked, per stream. Default: 8.
  uint32_t window = 8;
  // After the last batch is made, how long to wait for the acks. Default: 30 s.
  std::chrono::milliseconds drain_timeout{30'000};
  // Progress lines on stderr every this much wall time; 0 = none. Default: 10 s.
  std::chrono::milliseconds progress_every{10'000};
  // When it turns true (e.g. from a SIGINT handler), no more batches are
  // made: what was made is delivered and acked, then StreamScenario returns.
  // Null: run to the end.
  const std::atomic<bool>* stop = nullptr;
};

struct StreamResult {
  uint64_t batches = 0;  // made (one per gateway and slice; empty ones are heartbeats)
  uint64_t batches_acked = 0;
  uint64_t batches_written = 0;  // every write, resends included
  uint64_t batches_resent = 0;   // written again on a new stream
  uint64_t batches_duplicate = 0;
  uint64_t readings = 0;  // in the batches made
  uint64_t readings_stored = 0;
  uint64_t readings_duplicate = 0;  // in batches acked as duplicates (stored earlier)
  uint64_t readings_rejected = 0;
  uint64_t ack_mismatches = 0;  // an ack that did not answer the oldest unacked batch
  uint64_t acks_lost = 0;       // dropped on purpose just before an outage (the link failing)
  uint64_t outages = 0;         // streams cut on purpose (gateway outage events)
  uint64_t stream_errors = 0;   // streams that failed otherwise
  uint64_t reconnects = 0;      // streams opened after the first, per gateway
  uint64_t max_unacked = 0;     // largest queue of unacked batches of one gateway
  int64_t sim_lag_max_ms = 0;   // how far the client fell behind its simulated clock
  double wall_s = 0;
  // Simulated time up to which batches were made: scenario.end(), or earlier
  // when stopped.
  TimestampMs sim_end = 0;
  std::vector<uint32_t> ack_latency_us;  // per acked write: write started -> ack

  // Every batch acked, nothing rejected, every reading stored exactly once.
  bool complete() const {
    return batches_acked == batches && readings_rejected == 0 && ack_mismatches == 0 &&
           readings_stored + readings_duplicate == readings;
  }
};

// Streams the whole scenario. Returns when every batch is acked, or after the
// drain timeout (then result.complete() is false).
StreamResult StreamScenario(const Scenario& scenario, const StreamOptions& options);

// Registers the province (enterprises, gateways, sensors) through
// RegistryAdmin.ApplyRegistry. False, with a reason in *error, on failure.
bool RegisterProvince(const Province& province, const std::string& target, std::string* error);

struct ReadBackResult {
  uint64_t sensors = 0;
  uint64_t readings = 0;  // read back
  uint64_t readings_expected = 0;
  uint64_t bad_sensors = 0;           // whose readings differ from the scenario's
  std::vector<std::string> problems;  // the first few, for people
};

// ReadRaw of every sensor over the scenario's time, compared reading by
// reading (time and value) with what the scenario generated.
ReadBackResult ReadBack(const Scenario& scenario, const std::string& target);

// `name value unit` lines for a stream result (ack latency percentiles included).
std::string FormatStreamResult(const StreamResult& result);

}  // namespace vigil::sim
