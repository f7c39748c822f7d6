// Ingest-log record benchmark: bytes per reading and encode/decode time of
// the VGR1 record (per-series header, padded id, i64 timestamps, f64 values)
// and the VGR2 record (storage/ingest_record.h: sensor numbers, zigzag
// timestamp deltas, per-shard sections), for a gateway batch of --series
// series (sim-style ids, ~15 bytes) at 1 and at 10 readings per series.
// Encode is what batch prep does (VGR2: a ShardOf per series); decode is
// what the shards do together (VGR1: each parses the whole record and
// filters; VGR2: each decodes its own section). Prints `name value unit`.
//
//   ingest_record_bench [--series N] [--shards N] [--reps N]
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "alarm/engine.h"
#include "storage/ingest_record.h"
#include "storage/ingest_record_v1.h"
#include "storage/sensor_numbers.h"

namespace {

using vigil::alarm::TimestampMs;
using vigil::storage::IngestRecordBuilder;
using vigil::storage::IngestRecordV1Builder;
using vigil::storage::IngestRecordV1View;
using vigil::storage::SensorNumbers;
using vigil::storage::ShardSeriesReader;
using Clock = std::chrono::steady_clock;

constexpr TimestampMs kT0 = 1'765'000'000'000;

void Figure(const std::string& name, double value, const char* unit) {
  std::printf("%s %.3f %s\n", name.c_str(), value, unit);
  std::fflush(stdout);
}

void Check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "ingest_record_bench: %s\n", what);
  std::exit(1);
}

struct Batch {
  std::vector<std::string> ids;
  std::vector<uint32_t> numbers;
  std::vector<uint32_t> shards;         // what batch prep computes once per series
  std::vector<TimestampMs> timestamps;  // per series, `per_series` each
  std::vector<double> values;
  uint32_t per_series = 1;
};

std::string EncodeV1(const Batch& b, IngestRecordV1Builder* builder) {
  builder->Reset("gw-0042", 1, 7);
  for (size_t i = 0; i < b.ids.size(); ++i) {
    auto slots = builder->AddSeries(b.ids[i], b.per_series, false);
    for (uint32_t k = 0; k < b.per_series; ++k) {
      slots.timestamps[k] = b.timestamps[i * b.per_series + k];
      slots.values[k] = b.values[i * b.per_series + k];
    }
  }
  return builder->Release();
}

std::string EncodeV2(const Batch& b, uint32_t shard_count, IngestRecordBuilder* builder) {
  // The size hint batch prep gives.
  builder->Reset("gw-0042", 1, 7, shard_count, b.ids.size() * (4 + 10 * size_t{b.per_series}));
  for (size_t i = 0; i < b.ids.size(); ++i) {
    const uint32_t shard = vigil::alarm::ShardOf(b.ids[i], shard_count);
    builder->BeginSeries(shard, b.numbers[i], b.ids[i], b.per_series, false);
    for (uint32_t k = 0; k < b.per_series; ++k) {
      builder->AddReading(b.timestamps[i * b.per_series + k], b.values[i * b.per_series + k], 0);
    }
  }
  return builder->Release();
}

void Run(uint32_t series, uint32_t per_series, uint32_t shard_count, int reps) {
  SensorNumbers numbers;
  Batch b;
  b.per_series = per_series;
  for (uint32_t i = 0; i < series; ++i) {
    b.ids.push_back("s-0042-ch4-" + std::to_string(1000 + i));
    b.numbers.push_back(5000 + i);  // a registry of a few thousand sensors
    Check(numbers.Add(b.numbers.back(), b.ids.back()).ok(), "numbering");
    for (uint32_t k = 0; k < per_series; ++k) {
      b.timestamps.push_back(kT0 + 15'000 * k);
      b.values.push_back(0.25 + 0.01 * i + 0.001 * k);
    }
  }
  const double readings = double{1} * series * per_series;
  const std::string suffix = "_" + std::to_string(per_series) + "_per_series";

  IngestRecordV1Builder v1_builder;
  IngestRecordBuilder v2_builder;
  const std::string v1 = EncodeV1(b, &v1_builder);
  const std::string v2 = EncodeV2(b, shard_count, &v2_builder);
  Figure("ingest_log_bytes_per_reading_vgr1" + suffix, static_cast<double>(v1.size()) / readings,
         "B");
  Figure("ingest_log_bytes_per_reading" + suffix, static_cast<double>(v2.size()) / readings, "B");

  auto ns_per_reading = [&](auto&& body) {
    const auto start = Clock::now();
    for (int r = 0; r < reps; ++r) body();
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start);
    return static_cast<double>(ns.count()) / (readings * reps);
  };
  size_t sink = 0;
  Figure("ingest_record_encode_vgr1" + suffix,
         ns_per_reading([&] { sink += EncodeV1(b, &v1_builder).size(); }), "ns/reading");
  Figure("ingest_record_encode" + suffix,
         ns_per_reading([&] { sink += EncodeV2(b, shard_count, &v2_builder).size(); }),
         "ns/reading");

  // Decode: every shard's share, one after another on this thread.
  Figure("ingest_record_decode_vgr1" + suffix, ns_per_reading([&] {
           for (uint32_t shard = 0; shard < shard_count; ++shard) {
             auto view = IngestRecordV1View::Parse(v1);
             Check(view.has_value(), "VGR1 parse");
             vigil::alarm::SeriesView s;
             for (auto it = view->series(); it.Next(&s);) {
               if (vigil::alarm::ShardOf(s.sensor_id, shard_count) == shard)
                 sink += s.values.size();
             }
           }
         }),
         "ns/reading");
  ShardSeriesReader reader;
  Figure("ingest_record_decode" + suffix, ns_per_reading([&] {
           for (uint32_t shard = 0; shard < shard_count; ++shard) {
             Check(reader.Read(v2, shard, shard_count, &numbers).ok(), "VGR2 read");
             for (const auto& s : reader.series()) sink += s.values.size();
           }
         }),
         "ns/reading");
  Check(sink > 0, "nothing decoded");
}

}  // namespace

int main(int argc, char** argv) {
  uint32_t series = 500;
  uint32_t shards = 4;
  int reps = 2000;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (i + 1 < argc && flag == "--series") {
      series = static_cast<uint32_t>(std::atoi(argv[++i]));
    } else if (i + 1 < argc && flag == "--shards") {
      shards = static_cast<uint32_t>(std::atoi(argv[++i]));
    } else if (i + 1 < argc && flag == "--reps") {
      reps = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: ingest_record_bench [--series N] [--shards N] [--reps N]\n");
      return 2;
    }
  }
  Check(series >= 1 && shards >= 1 && shards <= IngestRecordBuilder::kMaxSections && reps >= 1,
        "need --series >= 1, 1 <= --shards <= 4096, --reps >= 1");
  Figure("ingest_record_series_per_batch", series, "series");
  Figure("ingest_record_shards", shards, "shards");
  Run(series, 1, shards, reps);
  Run(series, 10, shards, std::max(1, reps / 10));
  return 0;
}
