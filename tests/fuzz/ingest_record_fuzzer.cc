// Fuzz target: the ingest-log record readers on raw bytes, as the shards read
// the ingest log (a corrupt or foreign record must be refused, never
// overread): ShardSeriesReader (VGR2 and VGR1) for each shard of 1..3, whose
// shards together must return every series of an accepted record once; and
// IngestRecordV1View::Parse, whose accepted records are walked whole,
// rebuilt with IngestRecordV1Builder and must parse again to the same content.
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "alarm/engine.h"
#include "storage/ingest_record.h"
#include "storage/ingest_record_v1.h"
#include "storage/sensor_numbers.h"
#include "tests/fuzz/fuzz_support.h"

namespace vigil::fuzz {
namespace {

// Sensor numbers 1..4 are known (the corpus's records use them).
const storage::SensorNumbers& Numbers() {
  static const storage::SensorNumbers* numbers = [] {
    auto* n = new storage::SensorNumbers();
    for (uint32_t i = 1; i <= 4; ++i) (void)n->Add(i, "s" + std::to_string(i));
    return n;
  }();
  return *numbers;
}

void ReadByShards(std::string_view bytes) {
  storage::ShardSeriesReader reader;
  const bool whole = reader.Read(bytes, 0, 1, &Numbers()).ok();
  const size_t all = whole ? reader.series().size() : 0;
  for (uint32_t count = 2; count <= 3; ++count) {
    size_t seen = 0;
    bool ok = true;
    bool split_for_count = false;
    for (uint32_t shard = 0; shard < count; ++shard) {
      if (!reader.Read(bytes, shard, count, &Numbers()).ok()) {
        ok = false;
        continue;
      }
      // A record split for this count is trusted to have placed each
      // series in its owner's section (the server wrote it); else filtered.
      const bool filtered = reader.header().shard_count != count;
      split_for_count = !filtered;
      for (const alarm::SeriesView& s : reader.series()) {
        VIGIL_FUZZ_CHECK(!filtered || alarm::ShardOf(s.sensor_id, count) == shard);
        VIGIL_FUZZ_CHECK(s.timestamps.size() == s.values.size() && !s.values.empty());
        VIGIL_FUZZ_CHECK(s.quality.empty() || s.quality.size() == s.values.size());
        volatile double sum = 0;
        for (size_t k = 0; k < s.values.size(); ++k) sum = sum + s.values[k];
      }
      seen += reader.series().size();
    }
    // Read whole and filtered, the shards together return every series once.
    if (whole && ok && !split_for_count) VIGIL_FUZZ_CHECK(seen == all);
  }
}

void Run(const uint8_t* data, size_t size) {
  // Exact-size heap copy (new[] is 16-byte aligned): ASan sees any overread.
  std::unique_ptr<char[]> copy(new char[size]);
  if (size > 0) std::memcpy(copy.get(), data, size);
  ReadByShards({copy.get(), size});
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
