#include "server/api/batch_prep.h"

#include <cstring>
#include <vector>

#include "alarm/engine.h"
#include "server/api/proto_convert.h"

namespace vigil::server {
namespace {

std::string Detail(alarm::RejectReason reason, const alarm::Registry& registry,
                   const alarm::SeriesView& series, int reading, const alarm::TimeWindow& window) {
  using alarm::RejectReason;
  const auto at = [&series, reading] { return series.timestamps[static_cast<size_t>(reading)]; };
  switch (reason) {
    case RejectReason::kIdTooLong:
      return "sensor id is " + std::to_string(series.sensor_id.size()) +
             " bytes; ids are at most " + std::to_string(alarm::kMaxIdBytes);
    case RejectReason::kUnknownSensor:
      return "sensor '" + alarm::Echo(series.sensor_id) + "' is not in the registry";
    case RejectReason::kSensorOfAnotherEnterprise: {
      const alarm::Sensor* s = registry.FindSensor(series.sensor_id);
      return "sensor '" + alarm::Echo(series.sensor_id) + "' belongs to enterprise '" +
             (s ? s->enterprise_id : std::string("?")) + "', not the gateway's";
    }
    case RejectReason::kNonFiniteValue:
      return "value is " + std::to_string(series.values[static_cast<size_t>(reading)]);
    case RejectReason::kTimestampInFuture:
      return "timestamp " + std::to_string(at()) + " ms is after the latest accepted " +
             std::to_string(window.latest) + " ms";
    case RejectReason::kTimestampBeforeRetention:
      return "timestamp " + std::to_string(at()) + " ms is before the earliest retained " +
             std::to_string(window.earliest) + " ms";
    case RejectReason::kArrayLengthMismatch:
      return std::to_string(series.timestamps.size()) + " timestamps, " +
             std::to_string(series.values.size()) + " values, " +
             std::to_string(series.quality.size()) + " quality codes";
    case RejectReason::kBatchTooLarge:
      break;
  }
  return "";
}

void AddRejection(v1::IngestAck* ack, int series_index, std::string_view sensor_id,
                  int reading_index, alarm::RejectReason reason, std::string detail) {
  if (ack->rejections_size() >= kMaxListedRejections) return;
  v1::Rejection* r = ack->add_rejections();
  r->set_series_index(series_index);
  r->set_sensor_id(alarm::Echo(sensor_id));
  r->set_reading_index(reading_index);
  r->set_reason(RejectReasonToProto(reason));
  r->set_detail(std::move(detail));
}

}  // namespace

alarm::Status CheckGatewayId(std::string_view gateway_id) {
  if (gateway_id.size() <= alarm::kMaxIdBytes) return alarm::Status::Ok();
  return alarm::Status::InvalidArgument("gateway_id is " + std::to_string(gateway_id.size()) +
                                        " bytes; ids are at most " +
                                        std::to_string(alarm::kMaxIdBytes));
}

alarm::Status PrepareBatch(const v1::IngestBatch& batch, const alarm::Registry& registry,
                           const alarm::Gateway& gateway, const alarm::TimeWindow& window,
                           const alarm::IngestLimits& limits, uint32_t shard_count,
                           storage::IngestRecordBuilder* builder, PreparedBatch* out,
                           bool by_number) {
  // Views and hashes of the batch's series; the scratch is per thread and
  // keeps its capacity (no allocation per batch).
  thread_local std::vector<alarm::SeriesView> views;
  thread_local std::vector<uint64_t> id_hashes;
  views.clear();
  id_hashes.clear();
  for (const v1::Series& s : batch.series()) {
    views.push_back(SeriesViewOf(s));
    // A too-long id is refused unread (kIdTooLong): not worth hashing a megabyte.
    id_hashes.push_back(
        s.sensor_id().size() > alarm::kMaxIdBytes ? 0 : alarm::IdIndex::Hash(s.sensor_id()));
  }
  const SeriesBatch series{.gateway_id = batch.gateway_id(),
                           .epoch = batch.epoch(),
                           .sequence = batch.sequence(),
                           .series = views,
                           .id_hashes = id_hashes};
  return PrepareSeries(series, registry, gateway, window, limits, shard_count, builder, out,
                       by_number);
}

alarm::Status PrepareSeries(const SeriesBatch& batch, const alarm::Registry& registry,
                            const alarm::Gateway& gateway, const alarm::TimeWindow& window,
                            const alarm::IngestLimits& limits, uint32_t shard_count,
                            storage::IngestRecordBuilder* builder, PreparedBatch* out,
                            bool by_number) {
  if (batch.sequence == 0) {
    return alarm::Status::InvalidArgument("batch sequence must start at 1");
  }
  out->accepted_readings = 0;
  out->rejected_by_reason.fill(0);
  out->ack.Clear();
  out->ack.set_epoch(batch.epoch);
  out->ack.set_sequence(batch.sequence);

  size_t total = 0;
  for (const alarm::SeriesView& s : batch.series) {
    total += std::max(s.timestamps.size(), s.values.size());
  }
  const size_t series_count = batch.series.size();
  // About a record's size: a few bytes per series (number, count), a value
  // and a short timestamp delta per reading.
  builder->Reset(batch.gateway_id, batch.epoch, batch.sequence, shard_count,
                 4 * series_count + 10 * total);
  if (alarm::IsBatchTooLarge(series_count, total, limits)) {
    out->ack.set_rejected_readings(static_cast<uint32_t>(std::min<size_t>(total, UINT32_MAX)));
    out->rejected_by_reason[static_cast<size_t>(alarm::RejectReason::kBatchTooLarge)] =
        out->ack.rejected_readings();
    AddRejection(&out->ack, -1, "", -1, alarm::RejectReason::kBatchTooLarge,
                 std::to_string(series_count) + " series and " + std::to_string(total) +
                     " readings; the limits are " + std::to_string(limits.max_series_per_batch) +
                     " series and " + std::to_string(limits.max_readings_per_batch) +
                     " readings per batch");
    out->record = builder->Release();
    return alarm::Status::Ok();
  }

  // Every id's registry entry prefetched before the checks: a batch's cache
  // misses overlap instead of queueing one per series.
  registry.PrefetchSensors(batch.id_hashes);

  uint32_t rejected = 0;
  for (size_t i = 0; i < series_count; ++i) {
    const alarm::SeriesView& view = batch.series[i];
    const int index = static_cast<int>(i);
    const alarm::Sensor* sensor = nullptr;
    if (auto reason = alarm::CheckSeries(registry, gateway, view, batch.id_hashes[i], &sensor)) {
      const auto count =
          static_cast<uint32_t>(std::max(view.timestamps.size(), view.values.size()));
      rejected += count;
      out->rejected_by_reason[static_cast<size_t>(*reason)] += count;
      AddRejection(&out->ack, index, view.sensor_id, -1, *reason,
                   Detail(*reason, registry, view, -1, window));
      continue;
    }
    const size_t n = view.values.size();
    if (n == 0) continue;
    const bool has_quality = !view.quality.empty();
    size_t bad = 0;
    for (size_t k = 0; k < n; ++k) {
      bad += alarm::CheckReading(view.timestamps[k], view.values[k], window).has_value();
    }
    rejected += static_cast<uint32_t>(bad);
    const size_t good = n - bad;
    // Routed once, here: the series goes to the section of the shard that
    // owns it, and no shard reads another's.
    if (good > 0) {
      builder->BeginSeries(shard_count == 1 ? 0 : alarm::ShardOf(view.sensor_id, shard_count),
                           by_number ? sensor->log_number : 0, view.sensor_id,
                           static_cast<uint32_t>(good), has_quality);
    }
    for (size_t k = 0; k < n; ++k) {
      if (bad > 0) {
        if (auto reason = alarm::CheckReading(view.timestamps[k], view.values[k], window)) {
          ++out->rejected_by_reason[static_cast<size_t>(*reason)];
          AddRejection(&out->ack, index, view.sensor_id, static_cast<int>(k), *reason,
                       Detail(*reason, registry, view, static_cast<int>(k), window));
          continue;
        }
      }
      builder->AddReading(view.timestamps[k], view.values[k], has_quality ? view.quality[k] : 0);
    }
    out->accepted_readings += static_cast<uint32_t>(good);
  }
  out->ack.set_rejected_readings(rejected);
  out->record = builder->Release();
  return alarm::Status::Ok();
}

}  // namespace vigil::server
