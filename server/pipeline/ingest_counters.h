// What the ingest path counts, for logs and /metrics: plain relaxed atomics,
// bumped once per batch (never per reading), read at scrape time.
// Thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

#include "alarm/validation.h"

namespace vigil::server {

// A fixed-bucket histogram of durations that any thread records into
// without a lock; read by the metrics collector.
class LatencyHistogram {
 public:
  // Upper bounds, seconds: 0.25 ms .. 10 s, fine below 10 ms where the
  // alarm latency targets (p99 <= 2 ms) are judged.
  static constexpr std::array<double, 19> kBounds = {
      0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.0075, 0.01,
      0.025,   0.05,   0.1,     0.25,  0.5,    1,     2.5,   5,     10};

  void Record(std::chrono::nanoseconds d) {
    const double seconds = std::chrono::duration<double>(d).count();
    size_t i = 0;
    while (i < kBounds.size() && seconds > kBounds[i]) ++i;
    buckets_[i].fetch_add(1, std::memory_order_relaxed);  // i == size(): +Inf only
    sum_nanos_.fetch_add(static_cast<uint64_t>(d.count()), std::memory_order_relaxed);
  }

  // Non-cumulative count of bucket i; i == kBounds.size() is above the last bound.
  uint64_t bucket(size_t i) const { return buckets_[i].load(std::memory_order_relaxed); }
  double sum_seconds() const {
    return static_cast<double>(sum_nanos_.load(std::memory_order_relaxed)) * 1e-9;
  }

 private:
  std::array<std::atomic<uint64_t>, kBounds.size() + 1> buckets_{};
  std::atomic<uint64_t> sum_nanos_{0};
};

// Indexed by alarm::RejectReason's value; slot 0 unused.
using alarm::kRejectReasonSlots;

// The protocol a batch came in by, for the per-protocol counters.
enum class IngestProtocol : uint8_t { kGrpc, kHttpJson, kLineProtocol, kMqtt };
inline constexpr size_t kIngestProtocols = 4;
// Its metric label: grpc, http_json, line_protocol, mqtt.
constexpr const char* IngestProtocolName(IngestProtocol p) {
  switch (p) {
    case IngestProtocol::kGrpc:
      return "grpc";
    case IngestProtocol::kHttpJson:
      return "http_json";
    case IngestProtocol::kLineProtocol:
      return "line_protocol";
    case IngestProtocol::kMqtt:
      return "mqtt";
  }
  return "unknown";
}

// What one protocol's batches came to, once each is answered.
struct ProtocolCounters {
  std::atomic<uint64_t> batches_stored{0};
  std::atomic<uint64_t> batches_duplicate{0};
  std::atomic<uint64_t> batches_failed{0};  // not stored: storage failed or refused after queueing
  std::atomic<uint64_t> readings_stored{0};
  std::atomic<uint64_t> readings_rejected{0};
};

struct IngestCounters {
  std::atomic<uint64_t> batches_stored{0};
  std::atomic<uint64_t> readings_stored{0};
  std::atomic<uint64_t> batches_duplicate{0};
  std::atomic<uint64_t> readings_rejected{0};
  std::array<std::atomic<uint64_t>, kRejectReasonSlots> rejected_by_reason{};
  std::atomic<uint32_t> streams_open{0};
  // Bytes of accepted batches between read and the shards (ingest.max_buffered_bytes).
  std::atomic<int64_t> buffered_bytes{0};
  // Batches refused with RESOURCE_EXHAUSTED because buffered_bytes was over the cap.
  std::atomic<uint64_t> batches_refused_overload{0};
  // Batch read from the network -> durable (stored or found duplicate).
  LatencyHistogram durable_latency;
  // The same outcomes split by protocol (indexed by IngestProtocol); the
  // totals above stay unlabelled, as dashboards and alerts read them.
  std::array<ProtocolCounters, kIngestProtocols> by_protocol{};
};

}  // namespace vigil::server
