// Fuzz target: the ingest hot path on untrusted bytes. The input is parsed as
// a vigil.v1.IngestBatch (as gRPC would hand it over), validated by
// PrepareBatch against a fixed registry, and the record it produces is parsed
// back with ShardSeriesReader and compared with what the batch held: exactly
// the readings that pass validation, in order, bit for bit.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>

#include "alarm/validation.h"
#include "server/api/batch_prep.h"
#include "server/api/proto_convert.h"
#include "storage/ingest_record.h"
#include "tests/fuzz/fuzz_support.h"
#include "vigil/v1/ingest.pb.h"

namespace vigil::fuzz {
namespace {

// Wall time of the run: 2023-11-14T22:13:20Z.
constexpr alarm::TimestampMs kNow = 1'700'000'000'000;

void Run(const uint8_t* data, size_t size) {
  v1::IngestBatch batch;
  if (!batch.ParseFromArray(data, static_cast<int>(size))) return;

  const alarm::Registry& registry = *FixedRegistry();
  const alarm::Gateway* gateway = registry.FindGateway(batch.gateway_id());
  // The server answers an unknown gateway PERMISSION_DENIED before validation;
  // go on as a known one so that the rest of the input still gets exercised.
  if (gateway == nullptr) {
    gateway = &registry.entries().gateways[batch.epoch() % registry.entries().gateways.size()];
    batch.set_gateway_id(gateway->id);
  }
  // Small limits, so that the whole-batch rejection is reached too.
  const alarm::IngestLimits limits{.max_series_per_batch = 16, .max_readings_per_batch = 256};
  const alarm::TimeWindow window = alarm::AcceptedWindow(kNow, limits);
  storage::IngestRecordBuilder builder;
  server::PreparedBatch out;
  alarm::Status status =
      server::PrepareBatch(batch, registry, *gateway, window, limits, 1, &builder, &out);
  if (!status.ok()) {
    VIGIL_FUZZ_CHECK(batch.sequence() == 0);
    return;
  }
  VIGIL_FUZZ_CHECK(out.ack.epoch() == batch.epoch() && out.ack.sequence() == batch.sequence());
  VIGIL_FUZZ_CHECK(out.ack.rejections_size() <= server::kMaxListedRejections);
  // Ids are echoed cut short ("...(N bytes)" adds at most 24), whatever was sent.
  for (const v1::Rejection& r : out.ack.rejections()) {
    VIGIL_FUZZ_CHECK(r.sensor_id().size() <= alarm::kMaxEchoBytes + 24 && r.detail().size() <= 512);
  }
  uint64_t rejected_by_reason = 0;
  for (uint32_t n : out.rejected_by_reason) rejected_by_reason += n;
  VIGIL_FUZZ_CHECK(rejected_by_reason == out.ack.rejected_readings());

  // The record, from an exact-size heap copy so that ASan sees any overread.
  std::unique_ptr<char[]> copy(new char[out.record.size()]);
  std::memcpy(copy.get(), out.record.data(), out.record.size());
  storage::ShardSeriesReader reader;
  VIGIL_FUZZ_CHECK(reader.Read({copy.get(), out.record.size()}, 0, 1, nullptr).ok());
  const storage::IngestRecordHeader& header = reader.header();
  VIGIL_FUZZ_CHECK(header.gateway_id == batch.gateway_id() && header.epoch == batch.epoch() &&
                   header.sequence == batch.sequence() &&
                   header.reading_count == out.accepted_readings);

  size_t next = 0;
  alarm::SeriesView stored;
  uint64_t total = 0;
  for (const v1::Series& s : batch.series()) {
    total += static_cast<size_t>(std::max(s.timestamps_ms_size(), s.values_size()));
  }
  if (alarm::IsBatchTooLarge(static_cast<size_t>(batch.series_size()), total, limits)) {
    VIGIL_FUZZ_CHECK(reader.series().empty() && out.accepted_readings == 0);
    VIGIL_FUZZ_CHECK(out.ack.rejected_readings() == std::min<uint64_t>(total, UINT32_MAX));
    return;
  }
  uint64_t accepted = 0;
  for (const v1::Series& s : batch.series()) {
    const alarm::SeriesView in = server::SeriesViewOf(s);
    const alarm::Sensor* sensor = nullptr;
    if (alarm::CheckSeries(registry, *gateway, in, &sensor)) continue;
    size_t good = 0;
    for (size_t k = 0; k < in.values.size(); ++k) {
      good += !alarm::CheckReading(in.timestamps[k], in.values[k], window).has_value();
    }
    if (good == 0) continue;
    VIGIL_FUZZ_CHECK(next < reader.series().size());
    stored = reader.series()[next++];
    VIGIL_FUZZ_CHECK(stored.sensor_id == in.sensor_id && stored.timestamps.size() == good &&
                     stored.values.size() == good && stored.quality.empty() == in.quality.empty());
    size_t j = 0;
    for (size_t k = 0; k < in.values.size(); ++k) {
      if (alarm::CheckReading(in.timestamps[k], in.values[k], window)) continue;
      VIGIL_FUZZ_CHECK(stored.timestamps[j] == in.timestamps[k]);
      VIGIL_FUZZ_CHECK(std::memcmp(&stored.values[j], &in.values[k], sizeof(double)) == 0);
      if (!in.quality.empty()) VIGIL_FUZZ_CHECK(stored.quality[j] == in.quality[k]);
      ++j;
    }
    accepted += good;
  }
  VIGIL_FUZZ_CHECK(next == reader.series().size());
  VIGIL_FUZZ_CHECK(accepted == out.accepted_readings);
  VIGIL_FUZZ_CHECK(accepted + out.ack.rejected_readings() == total);
}

}  // namespace
}  // namespace vigil::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vigil::fuzz::Run(data, size);
  return 0;
}
