// Fuzz target: IngestRecordV1View::Parse on raw bytes, as the shards read the
// ingest log (a corrupt or foreign record must be refused, never overread).
// A record it accepts is walked whole, rebuilt with IngestRecordV1Builder and
// must parse again to the same content.
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "storage/ingest_record_v1.h"
#include "tests/fuzz/fuzz_support.h"

namespace vigil::fuzz {
namespace {

void Run(const uint8_t* data, size_t size) {
  // Exact-size heap copy (new[] is 16-byte aligned): ASan sees any overread.
  std::unique_ptr<char[]> copy(new char[size]);
  if (size > 0) std::memcpy(copy.get(), data, size);
  auto view = storage::IngestRecordV1View::Parse({copy.get(), size});
  if (!view) return;

  storage::IngestRecordV1Builder builder;
  builder.Reset(view->gateway_id(), view->epoch(), view->sequence());
  alarm::SeriesView s;
  uint64_t readings = 0;
  uint32_t series = 0;
  for (auto it = view->series(); it.Next(&s); ++series) {
    VIGIL_FUZZ_CHECK(s.timestamps.size() == s.values.size());
    VIGIL_FUZZ_CHECK(s.quality.empty() || s.quality.size() == s.values.size());
    readings += s.values.size();
    if (s.values.empty()) continue;  // AddSeries REQUIRES n > 0
    auto slots =
        builder.AddSeries(s.sensor_id, static_cast<uint32_t>(s.values.size()), !s.quality.empty());
    std::memcpy(slots.timestamps, s.timestamps.data(), s.timestamps.size_bytes());
    std::memcpy(slots.values, s.values.data(), s.values.size_bytes());
    if (!s.quality.empty()) std::memcpy(slots.quality, s.quality.data(), s.quality.size_bytes());
  }
  VIGIL_FUZZ_CHECK(series == view->series_count() && readings == view->reading_count());

  const std::string rebuilt = builder.Release();
  auto again = storage::IngestRecordV1View::Parse(rebuilt);
  VIGIL_FUZZ_CHECK(again.has_value());
  VIGIL_FUZZ_CHECK(again->gateway_id() == view->gateway_id() && again->epoch() == view->epoch() &&
                   again->sequence() == view->sequence() &&
                   again->reading_count() == view->reading_count());
  alarm::SeriesView a, b;
  auto it = view->series();
  for (auto it2 = again->series(); it2.Next(&b);) {
    do {
      VIGIL_FUZZ_CHECK(it.Next(&a));
    } while (a.values.empty());
    VIGIL_FUZZ_CHECK(a.sensor_id == b.sensor_id && a.values.size() == b.values.size() &&
                     a.quality.size() == b.quality.size());
    VIGIL_FUZZ_CHECK(
        std::memcmp(a.timestamps.data(), b.timestamps.data(), a.timestamps.size_bytes()) == 0);
    VIGIL_FUZZ_CHECK(std::memcmp(a.values.data(), b.values.data(), a.values.size_bytes()) == 0);
  }
}

}  // namespace
}  // namespace vigil::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vigil::fuzz::Run(data, size);
  return 0;
}
