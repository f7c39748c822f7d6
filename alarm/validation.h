// Validation of incoming readings: the rules that decide what is stored and
// why the rest is rejected. Pure functions; safe from any thread.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string_view>

#include "alarm/registry.h"
#include "alarm/types.h"

namespace vigil::alarm {

// Mirrors vigil.v1.RejectReason (same numbers).
enum class RejectReason : uint8_t {
  kUnknownSensor = 1,
  kSensorOfAnotherEnterprise = 2,
  kNonFiniteValue = 3,
  kTimestampInFuture = 4,
  kTimestampBeforeRetention = 5,
  kArrayLengthMismatch = 6,
  kBatchTooLarge = 7,
  kIdTooLong = 8,  // sensor id over kMaxIdBytes
};
// Size of an array of counts indexed by RejectReason value (slot 0 unused).
inline constexpr size_t kRejectReasonSlots = 9;

// "unknown_sensor", "non_finite_value", ...: stable, used as a metric label.
std::string_view RejectReasonName(RejectReason reason);

struct IngestLimits {
  // A reading later than now + max_future_skew is rejected. Default: 5 min.
  std::chrono::milliseconds max_future_skew = std::chrono::minutes(5);
  // A reading earlier than now - raw_retention is rejected. Default: 90 days.
  std::chrono::milliseconds raw_retention = std::chrono::hours(24 * 90);
  // A batch with more series or readings is rejected whole. Defaults: 10,000 / 100,000.
  uint32_t max_series_per_batch = 10'000;
  uint32_t max_readings_per_batch = 100'000;
};

// The accepted timestamp window [earliest, latest] at wall time `now`.
struct TimeWindow {
  TimestampMs earliest;
  TimestampMs latest;
};
TimeWindow AcceptedWindow(TimestampMs now, const IngestLimits& limits);

// Checks one reading; nullopt when it may be stored. Inline: runs per reading.
inline std::optional<RejectReason> CheckReading(TimestampMs at, double value,
                                                const TimeWindow& window) {
  if (!std::isfinite(value)) return RejectReason::kNonFiniteValue;
  if (at > window.latest) return RejectReason::kTimestampInFuture;
  if (at < window.earliest) return RejectReason::kTimestampBeforeRetention;
  return std::nullopt;
}

// Checks what applies to a series as a whole: the sensor id is at most
// kMaxIdBytes long (kIdTooLong, checked first), the sensor is known, belongs to
// the gateway's enterprise, and the arrays have equal lengths. On success
// returns nullopt and sets *sensor.
std::optional<RejectReason> CheckSeries(const Registry& registry, const Gateway& gateway,
                                        const SeriesView& series, const Sensor** sensor);
// The same, with id_hash == IdIndex::Hash(series.sensor_id) (see
// Registry::PrefetchSensors).
std::optional<RejectReason> CheckSeries(const Registry& registry, const Gateway& gateway,
                                        const SeriesView& series, uint64_t id_hash,
                                        const Sensor** sensor);

// Whether a batch of this shape is over the limits (kBatchTooLarge).
bool IsBatchTooLarge(size_t series_count, size_t reading_count, const IngestLimits& limits);

}  // namespace vigil::alarm
