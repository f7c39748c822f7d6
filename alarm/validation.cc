#include "alarm/validation.h"

#include <limits>

namespace vigil::alarm {

std::string_view RejectReasonName(RejectReason reason) {
  switch (reason) {
    case RejectReason::kUnknownSensor:
      return "unknown_sensor";
    case RejectReason::kSensorOfAnotherEnterprise:
      return "sensor_of_another_enterprise";
    case RejectReason::kNonFiniteValue:
      return "non_finite_value";
    case RejectReason::kTimestampInFuture:
      return "timestamp_in_future";
    case RejectReason::kTimestampBeforeRetention:
      return "timestamp_before_retention";
    case RejectReason::kArrayLengthMismatch:
      return "array_length_mismatch";
    case RejectReason::kBatchTooLarge:
      return "batch_too_large";
    case RejectReason::kIdTooLong:
      return "id_too_long";
  }
  return "unspecified";
}

TimeWindow AcceptedWindow(TimestampMs now, const IngestLimits& limits) {
  constexpr TimestampMs kMin = std::numeric_limits<TimestampMs>::min();
  constexpr TimestampMs kMax = std::numeric_limits<TimestampMs>::max();
  const TimestampMs skew = limits.max_future_skew.count();
  const TimestampMs keep = limits.raw_retention.count();
  return TimeWindow{
      .earliest = now < kMin + keep ? kMin : now - keep,
      .latest = now > kMax - skew ? kMax : now + skew,
  };
}

std::optional<RejectReason> CheckSeries(const Registry& registry, const Gateway& gateway,
                                        const SeriesView& series, const Sensor** sensor) {
  return CheckSeries(registry, gateway, series, IdIndex::Hash(series.sensor_id), sensor);
}

std::optional<RejectReason> CheckSeries(const Registry& registry, const Gateway& gateway,
                                        const SeriesView& series, uint64_t id_hash,
                                        const Sensor** sensor) {
  if (series.sensor_id.size() > kMaxIdBytes) return RejectReason::kIdTooLong;
  const Sensor* found = registry.FindSensor(series.sensor_id, id_hash);
  if (found == nullptr) return RejectReason::kUnknownSensor;
  if (found->enterprise_id != gateway.enterprise_id) {
    return RejectReason::kSensorOfAnotherEnterprise;
  }
  if (series.timestamps.size() != series.values.size() ||
      (!series.quality.empty() && series.quality.size() != series.values.size())) {
    return RejectReason::kArrayLengthMismatch;
  }
  *sensor = found;
  return std::nullopt;
}

bool IsBatchTooLarge(size_t series_count, size_t reading_count, const IngestLimits& limits) {
  return series_count > limits.max_series_per_batch ||
         reading_count > limits.max_readings_per_batch;
}

}  // namespace vigil::alarm
