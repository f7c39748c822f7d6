// End-to-end: ingest, dedupe, rejections, queries, registry admin, health,
// graceful shutdown and --check-config, against the real vigild binary.
#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "tests/e2e/vigild_process.h"

namespace vigil::e2e {
namespace {

using v1::IngestAck;
using v1::IngestBatch;
using v1::RejectReason;

constexpr int64_t kMinute = 60'000;
constexpr int64_t kHour = 60 * kMinute;
constexpr int64_t kDay = 24 * kHour;

constexpr char kRegistryYaml[] = R"(enterprises:
  - { id: e-1, name: Plant One, kind: hazardous_chemical, region_code: "370105" }
  - { id: e-2, name: Mine Two, kind: coal_mine, region_code: "140202" }
sensors:
  - { id: s-1, enterprise: e-1, quantity: temperature, unit: degC, range: [-40, 200], expected_interval: 10s }
  - { id: s-2, enterprise: e-1, quantity: pressure, unit: MPa, range: [0, 4], expected_interval: 10s }
  - { id: s-3, enterprise: e-1, quantity: level, unit: m, range: [0, 20], expected_interval: 30s }
  - { id: s-4, enterprise: e-1, quantity: toxic_gas, unit: ppm, range: [0, 100], expected_interval: 10s }
  - { id: s-5, enterprise: e-1, quantity: combustible_gas, unit: "%LEL", range: [0, 100], expected_interval: 10s }
  - { id: m-1, enterprise: e-2, quantity: methane, unit: "%CH4", range: [0, 100], expected_interval: 10s }
gateways:
  - { id: gw-1, enterprise: e-1 }
  - { id: gw-2, enterprise: e-1 }
  - { id: gw-9, enterprise: e-2 }
)";

constexpr char kDefaultConfig[] = "storage: { durability: wal }\n";

VigildProcess::Options DefaultOptions(std::string config = kDefaultConfig) {
  VigildProcess::Options options;
  options.config_yaml = std::move(config);
  options.registry_yaml = kRegistryYaml;
  return options;
}

// Expected readings of one sensor: timestamp -> reading (the last written wins).
using Expected = std::map<std::string, std::map<int64_t, Reading>>;

std::vector<Reading> Sorted(const std::map<int64_t, Reading>& readings) {
  std::vector<Reading> sorted;
  for (const auto& [ts, reading] : readings) sorted.push_back(reading);
  return sorted;
}

IngestBatch MakeBatch(const std::string& gateway, uint64_t epoch, uint64_t sequence) {
  IngestBatch batch;
  batch.set_gateway_id(gateway);
  batch.set_epoch(epoch);
  batch.set_sequence(sequence);
  return batch;
}

// Adds a series and, when `expected` is given, records its readings there.
void AddSeries(IngestBatch* batch, const std::string& sensor, const std::vector<int64_t>& ts,
               const std::vector<double>& values, const std::vector<uint32_t>& quality = {},
               Expected* expected = nullptr) {
  v1::Series* series = batch->add_series();
  series->set_sensor_id(sensor);
  for (int64_t t : ts) series->add_timestamps_ms(t);
  for (double v : values) series->add_values(v);
  for (uint32_t q : quality) series->add_quality(q);
  if (expected != nullptr) {
    for (size_t i = 0; i < ts.size(); ++i) {
      (*expected)[sensor][ts[i]] = Reading{ts[i], values[i], quality.empty() ? 0u : quality[i]};
    }
  }
}

uint32_t ReadingCount(const IngestBatch& batch) {
  uint32_t count = 0;
  for (const v1::Series& series : batch.series()) {
    count += static_cast<uint32_t>(series.timestamps_ms_size());
  }
  return count;
}

struct StreamResult {
  std::vector<IngestAck> acks;
  grpc::Status status;
};

// One Ingest.Stream: writes every batch (from a second thread, so acks are
// read while writing), half-closes, reads every ack, then Finish().
StreamResult StreamBatches(v1::Ingest::Stub& stub, const std::vector<IngestBatch>& batches) {
  grpc::ClientContext context;
  SetDeadline(&context);
  auto stream = stub.Stream(&context);
  std::thread writer([&] {
    for (const IngestBatch& batch : batches) {
      if (!stream->Write(batch)) break;
    }
    stream->WritesDone();
  });
  StreamResult result;
  IngestAck ack;
  while (stream->Read(&ack)) result.acks.push_back(ack);
  writer.join();
  result.status = stream->Finish();
  return result;
}

IngestAck WriteOk(v1::Ingest::Stub& stub, const IngestBatch& batch) {
  grpc::ClientContext context;
  SetDeadline(&context);
  IngestAck ack;
  const grpc::Status status = stub.Write(&context, batch, &ack);
  INFO("Write " << batch.gateway_id() << " (" << batch.epoch() << ", " << batch.sequence()
                << "): " << status.error_code() << " " << status.error_message());
  REQUIRE(status.ok());
  return ack;
}

std::string Describe(const StreamResult& result) {
  std::string text = "stream status " + std::to_string(result.status.error_code()) + " \"" +
                     result.status.error_message() + "\", " + std::to_string(result.acks.size()) +
                     " acks:";
  for (const IngestAck& ack : result.acks) text += "\n  " + ack.ShortDebugString();
  return text;
}

// The acks of a stream whose batches are all new and all valid.
void CheckAllStored(const StreamResult& result, const std::vector<IngestBatch>& batches) {
  INFO(Describe(result));
  REQUIRE(result.status.ok());
  REQUIRE(result.acks.size() == batches.size());
  for (size_t i = 0; i < batches.size(); ++i) {
    INFO("ack " << i);
    CHECK(result.acks[i].epoch() == batches[i].epoch());
    CHECK(result.acks[i].sequence() == batches[i].sequence());
    CHECK(result.acks[i].stored_readings() == ReadingCount(batches[i]));
    CHECK_FALSE(result.acks[i].duplicate());
    CHECK(result.acks[i].rejected_readings() == 0);
    CHECK(result.acks[i].rejections_size() == 0);
  }
}

// ReadRaw of every sensor in `expected` (and of `also_empty`, which must have
// nothing) over [from_ms, to_ms) equals the expectation exactly.
void CheckStored(VigildProcess& vigild, const Expected& expected, int64_t from_ms, int64_t to_ms,
                 const std::vector<std::string>& also_empty = {}) {
  for (const auto& [sensor, readings] : expected) {
    INFO("sensor " << sensor);
    CHECK(ToString(ReadAll(vigild.query(), sensor, from_ms, to_ms)) == ToString(Sorted(readings)));
  }
  for (const std::string& sensor : also_empty) {
    INFO("sensor " << sensor);
    CHECK(ToString(ReadAll(vigild.query(), sensor, from_ms, to_ms)) ==
          ToString(std::vector<Reading>{}));
  }
}

std::string Describe(const v1::Rejection& r) {
  return "{series " + std::to_string(r.series_index()) + ", reading " +
         std::to_string(r.reading_index()) + ", " + v1::RejectReason_Name(r.reason()) +
         ", sensor \"" + r.sensor_id() + "\"}";
}

std::string DescribeRejections(std::vector<v1::Rejection> rejections) {
  std::sort(rejections.begin(), rejections.end(), [](const auto& a, const auto& b) {
    return std::tuple(a.series_index(), a.reading_index()) <
           std::tuple(b.series_index(), b.reading_index());
  });
  std::string text;
  for (const v1::Rejection& r : rejections) text += Describe(r) + "\n";
  return text;
}

v1::Rejection MakeRejection(int32_t series, int32_t reading, RejectReason reason,
                            const std::string& sensor) {
  v1::Rejection r;
  r.set_series_index(series);
  r.set_reading_index(reading);
  r.set_reason(reason);
  r.set_sensor_id(sensor);
  return r;
}

// Time range wide enough for every reading the tests write.
struct Range {
  int64_t from;
  int64_t to;
};
Range WideRange(int64_t now) { return Range{now - 120 * kDay, now + 2 * kHour}; }

}  // namespace

TEST_CASE("Streamed batches are acked in order and read back exactly", "[e2e][ingest]") {
  VigildProcess vigild(DefaultOptions());
  vigild.Start();
  const int64_t now = NowMs();
  const int64_t base = now - 10 * kMinute;

  // 5 batches x 3 sensors. Timestamps interleave across batches (later batches
  // carry earlier readings) and s-2's series are in descending order, so the
  // server must sort. s-1 carries quality codes, s-2 none, s-3 all-zero codes.
  Expected expected;
  std::vector<IngestBatch> batches;
  for (int b = 0; b < 5; ++b) {
    IngestBatch batch = MakeBatch("gw-1", 7, static_cast<uint64_t>(b + 1));
    for (int k = 1; k <= 3; ++k) {
      const int n = 4 + b + k;
      std::vector<int64_t> ts;
      std::vector<double> values;
      std::vector<uint32_t> quality;
      for (int i = 0; i < n; ++i) {
        ts.push_back(base + 1000 * (i * 5 + (4 - b)) + k);
        values.push_back(k * 100.0 - 37.5 + b + i / 7.0);
        if (k == 1) quality.push_back(i % 3 == 0 ? 0u : 192u + static_cast<uint32_t>(i));
        if (k == 3) quality.push_back(0u);
      }
      if (k == 2) {
        std::reverse(ts.begin(), ts.end());
        std::reverse(values.begin(), values.end());
      }
      AddSeries(&batch, "s-" + std::to_string(k), ts, values, quality, &expected);
    }
    batches.push_back(batch);
  }

  const StreamResult result = StreamBatches(vigild.ingest(), batches);
  CheckAllStored(result, batches);
  const Range range = WideRange(now);
  CheckStored(vigild, expected, range.from, range.to, {"s-4", "m-1"});

  // A narrower range returns exactly the readings inside [from, to).
  const int64_t from = base + 12'000;
  const int64_t to = base + 31'000;
  std::vector<Reading> inside;
  for (const auto& [ts, reading] : expected["s-1"]) {
    if (ts >= from && ts < to) inside.push_back(reading);
  }
  REQUIRE_FALSE(inside.empty());
  CHECK(ToString(ReadAll(vigild.query(), "s-1", from, to)) == ToString(inside));
}

TEST_CASE("A later reading with the same timestamp replaces the earlier one", "[e2e][ingest]") {
  VigildProcess vigild(DefaultOptions());
  vigild.Start();
  const int64_t now = NowMs();
  const int64_t t = now - 5 * kMinute;

  Expected expected;
  IngestBatch first = MakeBatch("gw-1", 1, 1);
  AddSeries(&first, "s-1", {t, t + 1000}, {1.5, 2.5}, {}, &expected);
  // Within one series, the later of two equal timestamps wins.
  IngestBatch second = MakeBatch("gw-1", 1, 2);
  AddSeries(&second, "s-1", {t + 1000, t + 2000, t + 2000}, {20.25, 30.5, 31.75}, {0, 7, 0},
            &expected);
  const StreamResult result = StreamBatches(vigild.ingest(), {first, second});
  INFO(Describe(result));
  REQUIRE(result.status.ok());
  REQUIRE(result.acks.size() == 2);
  CHECK_FALSE(result.acks[1].duplicate());
  REQUIRE(expected["s-1"].size() == 3);
  const Range range = WideRange(now);
  CheckStored(vigild, expected, range.from, range.to);
}

TEST_CASE("Resending batches after a reconnect stores each reading once", "[e2e][ingest]") {
  VigildProcess vigild(DefaultOptions());
  vigild.Start();
  const int64_t now = NowMs();
  const int64_t base = now - 20 * kMinute;
  constexpr uint64_t kEpoch = 1'700'000'000'000;
  constexpr int kN = 4;

  Expected expected;
  std::vector<IngestBatch> batches;  // sequences 1..N+1
  for (int b = 0; b <= kN; ++b) {
    IngestBatch batch = MakeBatch("gw-1", kEpoch, static_cast<uint64_t>(b + 1));
    for (const char* sensor : {"s-1", "s-2"}) {
      std::vector<int64_t> ts;
      std::vector<double> values;
      for (int i = 0; i < 6; ++i) {
        ts.push_back(base + b * 10'000 + i * 1000);
        values.push_back(b * 10.0 + i + (sensor[2] - '0') / 3.0);
      }
      AddSeries(&batch, sensor, ts, values, {}, &expected);
    }
    batches.push_back(batch);
  }
  const std::vector<IngestBatch> first_n(batches.begin(), batches.begin() + kN);

  // First connection: 1..N, all stored; then the stream is closed.
  CheckAllStored(StreamBatches(vigild.ingest(), first_n), first_n);

  // Second connection: 1..N again plus N+1.
  {
    const StreamResult result = StreamBatches(vigild.ingest(), batches);
    INFO(Describe(result));
    REQUIRE(result.status.ok());
    REQUIRE(result.acks.size() == batches.size());
    for (int i = 0; i < kN; ++i) {
      INFO("resent batch " << i + 1);
      CHECK(result.acks[i].sequence() == static_cast<uint64_t>(i + 1));
      CHECK(result.acks[i].epoch() == kEpoch);
      CHECK(result.acks[i].duplicate());
      CHECK(result.acks[i].stored_readings() == 0);
    }
    const IngestAck& last = result.acks[kN];
    CHECK(last.sequence() == kN + 1);
    CHECK_FALSE(last.duplicate());
    CHECK(last.stored_readings() == ReadingCount(batches[kN]));
  }
  const Range range = WideRange(now);
  CheckStored(vigild, expected, range.from, range.to);

  // A higher epoch restarts sequencing at 1.
  IngestBatch new_epoch = MakeBatch("gw-1", kEpoch + 1, 1);
  AddSeries(&new_epoch, "s-3", {base + 100'000}, {3.25}, {}, &expected);
  CheckAllStored(StreamBatches(vigild.ingest(), {new_epoch}), {new_epoch});

  // The old epoch, even with a higher sequence, is refused: not stored, and not
  // acked as a duplicate either (its readings were never stored; the gateway
  // must renumber above the stored epoch).
  IngestBatch old_epoch = MakeBatch("gw-1", kEpoch, kN + 2);
  AddSeries(&old_epoch, "s-3", {base + 200'000}, {99.0});
  {
    const StreamResult result = StreamBatches(vigild.ingest(), {old_epoch});
    INFO(Describe(result));
    CHECK(result.status.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
    CHECK(result.acks.empty());
  }
  // Unary Write follows the same watermark.
  {
    IngestAck ack;
    grpc::ClientContext context;
    SetDeadline(&context);
    CHECK(vigild.ingest().Write(&context, old_epoch, &ack).error_code() ==
          grpc::StatusCode::FAILED_PRECONDITION);
  }

  // Dedupe is per gateway: gw-2 may use the same (epoch, sequence).
  IngestBatch other_gateway = MakeBatch("gw-2", kEpoch, 1);
  AddSeries(&other_gateway, "s-4", {base + 5000, base + 6000}, {0.5, 0.75}, {}, &expected);
  CheckAllStored(StreamBatches(vigild.ingest(), {other_gateway}), {other_gateway});

  CheckStored(vigild, expected, range.from, range.to);
}

namespace {
constexpr char kSmallLimitsConfig[] =
    "storage: { durability: wal }\n"
    "ingest: { max_readings_per_batch: 50, max_series_per_batch: 8 }\n";
}  // namespace

TEST_CASE("A mixed batch stores the good readings and names each rejection",
          "[e2e][ingest][validation]") {
  VigildProcess vigild(DefaultOptions(kSmallLimitsConfig));
  vigild.Start();
  const int64_t now = NowMs();
  const int64_t base = now - 30 * kMinute;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();

  Expected expected;
  IngestBatch batch = MakeBatch("gw-1", 1, 1);
  // 0: valid.
  AddSeries(&batch, "s-1", {base, base + 1000, base + 2000, base + 3000, base + 4000},
            {1, 2, 3, 4, 5}, {0, 0, 3, 0, 0}, &expected);
  // 1: unknown sensor (3 readings).
  AddSeries(&batch, "no-such-sensor", {base, base + 1000, base + 2000}, {1, 2, 3});
  // 2: sensor of enterprise e-2, gateway of e-1 (2 readings).
  AddSeries(&batch, "m-1", {base, base + 1000}, {1, 2});
  // 3: NaN at 2 and +Inf at 4 among good readings.
  {
    const std::vector<int64_t> ts = {base,        base + 1000, base + 2000,
                                     base + 3000, base + 4000, base + 5000};
    const std::vector<double> values = {0.5, 0.6, nan, 0.8, inf, 1.0};
    AddSeries(&batch, "s-2", ts, values);
    for (size_t i : {0u, 1u, 3u, 5u}) expected["s-2"][ts[i]] = Reading{ts[i], values[i], 0};
  }
  // 4: 1 h in the future at 1, 100 days old at 3.
  {
    const std::vector<int64_t> ts = {base, now + kHour, base + 2000, now - 100 * kDay};
    const std::vector<double> values = {7.0, 7.1, 7.2, 7.3};
    AddSeries(&batch, "s-3", ts, values);
    for (size_t i : {0u, 2u}) expected["s-3"][ts[i]] = Reading{ts[i], values[i], 0};
  }
  // 5: 3 timestamps, 2 values.
  AddSeries(&batch, "s-4", {base, base + 1000, base + 2000}, {1, 2});
  // 6: 3 timestamps and values, 2 quality codes.
  AddSeries(&batch, "s-5", {base, base + 1000, base + 2000}, {1, 2, 3}, {0, 0});

  std::vector<v1::Rejection> want = {
      MakeRejection(1, -1, v1::REJECT_REASON_UNKNOWN_SENSOR, "no-such-sensor"),
      MakeRejection(2, -1, v1::REJECT_REASON_SENSOR_OF_ANOTHER_ENTERPRISE, "m-1"),
      MakeRejection(3, 2, v1::REJECT_REASON_NON_FINITE_VALUE, "s-2"),
      MakeRejection(3, 4, v1::REJECT_REASON_NON_FINITE_VALUE, "s-2"),
      MakeRejection(4, 1, v1::REJECT_REASON_TIMESTAMP_IN_FUTURE, "s-3"),
      MakeRejection(4, 3, v1::REJECT_REASON_TIMESTAMP_BEFORE_RETENTION, "s-3"),
      MakeRejection(5, -1, v1::REJECT_REASON_ARRAY_LENGTH_MISMATCH, "s-4"),
      MakeRejection(6, -1, v1::REJECT_REASON_ARRAY_LENGTH_MISMATCH, "s-5"),
  };
  // 3 + 2 + 2 + 2 + 3 (a series' readings are its timestamps) + 3.
  constexpr uint32_t kRejected = 15;
  constexpr uint32_t kStored = 5 + 4 + 2;

  const StreamResult result = StreamBatches(vigild.ingest(), {batch});
  INFO(Describe(result));
  REQUIRE(result.status.ok());
  REQUIRE(result.acks.size() == 1);
  const IngestAck& ack = result.acks[0];
  CHECK(ack.sequence() == 1);
  CHECK_FALSE(ack.duplicate());
  CHECK(ack.stored_readings() == kStored);
  CHECK(ack.rejected_readings() == kRejected);
  const std::vector<v1::Rejection> got(ack.rejections().begin(), ack.rejections().end());
  CHECK(DescribeRejections(got) == DescribeRejections(want));
  for (const v1::Rejection& r : got) {
    INFO(Describe(r));
    CHECK_FALSE(r.detail().empty());
  }

  const Range range = WideRange(now);
  CheckStored(vigild, expected, range.from, range.to, {"s-4", "s-5", "m-1"});

  // Rejections are final: the unknown sensor cannot be read either.
  v1::ReadRawRequest request;
  request.set_sensor_id("no-such-sensor");
  request.set_from_ms(range.from);
  request.set_to_ms(range.to);
  v1::ReadRawResponse response;
  grpc::ClientContext context;
  SetDeadline(&context);
  CHECK(vigild.query().ReadRaw(&context, request, &response).error_code() ==
        grpc::StatusCode::NOT_FOUND);
}

TEST_CASE("A batch over the size limits is rejected whole", "[e2e][ingest][validation]") {
  VigildProcess vigild(DefaultOptions(kSmallLimitsConfig));
  vigild.Start();
  const int64_t now = NowMs();
  const int64_t base = now - 30 * kMinute;

  // Over max_readings_per_batch (50): 2 series x 30 readings.
  IngestBatch too_many_readings = MakeBatch("gw-1", 1, 1);
  for (const char* sensor : {"s-1", "s-2"}) {
    std::vector<int64_t> ts;
    std::vector<double> values;
    for (int i = 0; i < 30; ++i) {
      ts.push_back(base + i * 1000);
      values.push_back(i);
    }
    AddSeries(&too_many_readings, sensor, ts, values);
  }
  // Over max_series_per_batch (8): 9 series of one reading.
  IngestBatch too_many_series = MakeBatch("gw-1", 1, 2);
  for (int s = 0; s < 9; ++s) {
    AddSeries(&too_many_series, "s-" + std::to_string(s % 5 + 1), {base + 100'000 + s * 1000},
              {1.0 * s});
  }
  // Then a normal batch on the same stream is stored.
  Expected expected;
  IngestBatch ok = MakeBatch("gw-1", 1, 3);
  AddSeries(&ok, "s-3", {base + 500'000}, {4.5}, {}, &expected);

  const StreamResult result =
      StreamBatches(vigild.ingest(), {too_many_readings, too_many_series, ok});
  INFO(Describe(result));
  REQUIRE(result.status.ok());
  REQUIRE(result.acks.size() == 3);
  for (int i = 0; i < 2; ++i) {
    const IngestAck& ack = result.acks[i];
    INFO("batch " << i + 1 << ": " << ack.ShortDebugString());
    CHECK(ack.sequence() == static_cast<uint64_t>(i + 1));
    CHECK_FALSE(ack.duplicate());
    CHECK(ack.stored_readings() == 0);
    CHECK(ack.rejected_readings() == (i == 0 ? 60u : 9u));
    REQUIRE(ack.rejections_size() == 1);
    CHECK(ack.rejections(0).series_index() == -1);
    CHECK(ack.rejections(0).reading_index() == -1);
    CHECK(ack.rejections(0).sensor_id().empty());
    CHECK(ack.rejections(0).reason() == v1::REJECT_REASON_BATCH_TOO_LARGE);
  }
  CHECK(result.acks[2].stored_readings() == 1);

  const Range range = WideRange(now);
  CheckStored(vigild, expected, range.from, range.to, {"s-1", "s-2", "s-4", "s-5"});
}

TEST_CASE("Unary Write stores like a stream batch and checks the gateway", "[e2e][ingest]") {
  VigildProcess vigild(DefaultOptions());
  vigild.Start();
  const int64_t now = NowMs();
  const int64_t base = now - 3 * kMinute;

  Expected expected;
  IngestBatch batch = MakeBatch("gw-1", 3, 1);
  AddSeries(&batch, "s-1", {base, base + 1000, base + 2000}, {10.125, 10.25, 10.375}, {0, 1, 0},
            &expected);
  AddSeries(&batch, "s-2", {base + 500, base + 1500}, {1.0 / 3, 2.0 / 3}, {}, &expected);
  const IngestAck ack = WriteOk(vigild.ingest(), batch);
  INFO(ack.ShortDebugString());
  CHECK(ack.epoch() == 3);
  CHECK(ack.sequence() == 1);
  CHECK(ack.stored_readings() == 5);
  CHECK_FALSE(ack.duplicate());
  CHECK(ack.rejected_readings() == 0);
  const Range range = WideRange(now);
  CheckStored(vigild, expected, range.from, range.to);

  // The same batch again is a duplicate.
  const IngestAck again = WriteOk(vigild.ingest(), batch);
  CHECK(again.duplicate());
  CHECK(again.stored_readings() == 0);

  // Unknown gateway: PERMISSION_DENIED on Write and on a stream; nothing stored.
  IngestBatch stranger = MakeBatch("gw-unknown", 1, 1);
  AddSeries(&stranger, "s-1", {base + 60'000}, {66.0});
  {
    grpc::ClientContext context;
    SetDeadline(&context);
    IngestAck denied;
    const grpc::Status status = vigild.ingest().Write(&context, stranger, &denied);
    INFO(status.error_code() << " " << status.error_message());
    CHECK(status.error_code() == grpc::StatusCode::PERMISSION_DENIED);
  }
  {
    const StreamResult result = StreamBatches(vigild.ingest(), {stranger});
    INFO(Describe(result));
    CHECK(result.status.error_code() == grpc::StatusCode::PERMISSION_DENIED);
    CHECK(result.acks.empty());
  }
  CheckStored(vigild, expected, range.from, range.to);
}

namespace {

v1::Registry GetRegistry(VigildProcess& vigild) {
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::Registry registry;
  const grpc::Status status = vigild.admin().GetRegistry(&context, {}, &registry);
  INFO(status.error_code() << " " << status.error_message());
  REQUIRE(status.ok());
  return registry;
}

const v1::Sensor* FindSensor(const v1::Registry& registry, const std::string& id) {
  for (const v1::Sensor& sensor : registry.sensors()) {
    if (sensor.id() == id) return &sensor;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("Registry changes take effect at once and survive a restart", "[e2e][registry]") {
  VigildProcess vigild(DefaultOptions());
  vigild.Start();
  const int64_t now = NowMs();
  const int64_t base = now - 4 * kMinute;

  const v1::Registry initial = GetRegistry(vigild);
  CHECK(initial.enterprises_size() == 2);
  CHECK(initial.sensors_size() == 6);
  CHECK(initial.gateways_size() == 3);
  CHECK(FindSensor(initial, "s-1") != nullptr);

  // Before: s-new is unknown.
  IngestBatch before = MakeBatch("gw-1", 1, 1);
  AddSeries(&before, "s-new", {base}, {1.0});
  {
    const IngestAck ack = WriteOk(vigild.ingest(), before);
    INFO(ack.ShortDebugString());
    CHECK(ack.stored_readings() == 0);
    CHECK(ack.rejected_readings() == 1);
    REQUIRE(ack.rejections_size() == 1);
    CHECK(ack.rejections(0).reason() == v1::REJECT_REASON_UNKNOWN_SENSOR);
  }

  // An invalid change (sensor of a missing enterprise) changes nothing.
  {
    v1::ApplyRegistryRequest request;
    v1::Sensor* bad = request.mutable_upsert()->add_sensors();
    bad->set_id("s-orphan");
    bad->set_enterprise_id("e-missing");
    bad->set_quantity("level");
    bad->set_unit("m");
    grpc::ClientContext context;
    SetDeadline(&context);
    v1::ApplyRegistryResponse response;
    const grpc::Status status = vigild.admin().ApplyRegistry(&context, request, &response);
    INFO(status.error_code() << " " << status.error_message());
    CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(FindSensor(GetRegistry(vigild), "s-orphan") == nullptr);
  }

  v1::Sensor added;
  added.set_id("s-new");
  added.set_enterprise_id("e-1");
  added.set_quantity("level");
  added.set_unit("m");
  added.set_range_low(0);
  added.set_range_high(30);
  added.set_expected_interval_ms(60'000);
  {
    v1::ApplyRegistryRequest request;
    *request.mutable_upsert()->add_sensors() = added;
    grpc::ClientContext context;
    SetDeadline(&context);
    v1::ApplyRegistryResponse response;
    const grpc::Status status = vigild.admin().ApplyRegistry(&context, request, &response);
    INFO(status.error_code() << " " << status.error_message());
    REQUIRE(status.ok());
    CHECK(response.enterprises() == 2);
    CHECK(response.sensors() == 7);
    CHECK(response.gateways() == 3);
  }

  // After: a write to s-new is accepted.
  Expected expected;
  IngestBatch after = MakeBatch("gw-1", 1, 2);
  AddSeries(&after, "s-new", {base + 1000, base + 2000}, {12.5, 12.75}, {}, &expected);
  {
    const IngestAck ack = WriteOk(vigild.ingest(), after);
    INFO(ack.ShortDebugString());
    CHECK(ack.stored_readings() == 2);
    CHECK(ack.rejected_readings() == 0);
  }
  {
    const v1::Registry registry = GetRegistry(vigild);
    const v1::Sensor* sensor = FindSensor(registry, "s-new");
    REQUIRE(sensor != nullptr);
    CHECK(sensor->ShortDebugString() == added.ShortDebugString());
  }

  const ExitStatus exit = vigild.Terminate();
  INFO("vigild " << exit.ToString());
  CHECK(exit.ExitedWith(0));
  vigild.Restart();

  const v1::Registry restarted = GetRegistry(vigild);
  const v1::Sensor* sensor = FindSensor(restarted, "s-new");
  REQUIRE(sensor != nullptr);
  CHECK(sensor->ShortDebugString() == added.ShortDebugString());
  CHECK(restarted.sensors_size() == 7);
  CHECK(restarted.enterprises_size() == 2);
  CHECK(restarted.gateways_size() == 3);
  const Range range = WideRange(now);
  CheckStored(vigild, expected, range.from, range.to);

  // And it still accepts writes to s-new.
  IngestBatch later = MakeBatch("gw-1", 1, 3);
  AddSeries(&later, "s-new", {base + 3000}, {13.0}, {}, &expected);
  const IngestAck ack = WriteOk(vigild.ingest(), later);
  INFO(ack.ShortDebugString());
  CHECK(ack.stored_readings() == 1);
  CheckStored(vigild, expected, range.from, range.to);
}

TEST_CASE("ReadRaw pages through a long range without overlap", "[e2e][query]") {
  VigildProcess vigild(DefaultOptions());
  vigild.Start();
  const int64_t now = NowMs();
  const int64_t base = now - 15 * kMinute;

  Expected expected;
  IngestBatch batch = MakeBatch("gw-1", 1, 1);
  std::vector<int64_t> ts;
  std::vector<double> values;
  for (int i = 0; i < 25; ++i) {
    ts.push_back(base + i * 1000);
    values.push_back(100.0 + i / 3.0);
  }
  AddSeries(&batch, "s-1", ts, values, {}, &expected);
  CHECK(WriteOk(vigild.ingest(), batch).stored_readings() == 25);
  const std::vector<Reading> all = Sorted(expected["s-1"]);
  const Range range = WideRange(now);

  int64_t from = range.from;
  std::vector<Reading> pages;
  for (int page = 0; page < 3; ++page) {
    v1::ReadRawRequest request;
    request.set_sensor_id("s-1");
    request.set_from_ms(from);
    request.set_to_ms(range.to);
    request.set_limit(10);
    v1::ReadRawResponse response;
    grpc::ClientContext context;
    SetDeadline(&context);
    const grpc::Status status = vigild.query().ReadRaw(&context, request, &response);
    INFO("page " << page << ": " << status.error_message() << " " << response.ShortDebugString());
    REQUIRE(status.ok());
    CHECK(response.sensor_id() == "s-1");
    const size_t begin = static_cast<size_t>(page) * 10;
    const size_t end = std::min<size_t>(begin + 10, all.size());
    REQUIRE(static_cast<size_t>(response.timestamps_ms_size()) == end - begin);
    REQUIRE(response.values_size() == response.timestamps_ms_size());
    for (int i = 0; i < response.timestamps_ms_size(); ++i) {
      pages.push_back(Reading{response.timestamps_ms(i), response.values(i),
                              response.quality_size() == 0 ? 0u : response.quality(i)});
    }
    if (page < 2) {
      REQUIRE(response.truncated());
      // Next page starts after this page's last reading and at or before the next one.
      CHECK(response.next_from_ms() > all[end - 1].ts);
      CHECK(response.next_from_ms() <= all[end].ts);
      from = response.next_from_ms();
    } else {
      CHECK_FALSE(response.truncated());
    }
  }
  CHECK(ToString(pages) == ToString(all));

  // Same through the paging helper with other limits.
  for (uint32_t limit : {1u, 7u, 25u, 26u}) {
    INFO("limit " << limit);
    CHECK(ToString(ReadAll(vigild.query(), "s-1", range.from, range.to, limit)) == ToString(all));
  }
}

TEST_CASE("ReadRaw rejects an unknown sensor and an empty range", "[e2e][query]") {
  VigildProcess vigild(DefaultOptions());
  vigild.Start();
  const int64_t now = NowMs();
  auto read = [&](const std::string& sensor, int64_t from, int64_t to) {
    v1::ReadRawRequest request;
    request.set_sensor_id(sensor);
    request.set_from_ms(from);
    request.set_to_ms(to);
    v1::ReadRawResponse response;
    grpc::ClientContext context;
    SetDeadline(&context);
    return vigild.query().ReadRaw(&context, request, &response).error_code();
  };
  CHECK(read("no-such-sensor", now - kHour, now) == grpc::StatusCode::NOT_FOUND);
  CHECK(read("s-1", now, now) == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(read("s-1", now, now - kHour) == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(read("s-1", now - kHour, now) == grpc::StatusCode::OK);
}

TEST_CASE("Health check reports SERVING", "[e2e][health]") {
  VigildProcess vigild(DefaultOptions());
  vigild.Start();
  bool serving = false;
  const grpc::Status status = HealthCheck(vigild.channel(), &serving);
  INFO(status.error_code() << " " << status.error_message());
  REQUIRE(status.ok());
  CHECK(serving);
}

TEST_CASE("SIGTERM while idle exits 0 and keeps every acked reading", "[e2e][shutdown]") {
  VigildProcess vigild(DefaultOptions());
  vigild.Start();
  const int64_t now = NowMs();
  const int64_t base = now - 40 * kMinute;

  Expected expected;
  std::vector<IngestBatch> batches;
  for (int b = 0; b < 4; ++b) {
    IngestBatch batch = MakeBatch("gw-1", 2, static_cast<uint64_t>(b + 1));
    for (const char* sensor : {"s-1", "s-2", "s-3"}) {
      std::vector<int64_t> ts;
      std::vector<double> values;
      std::vector<uint32_t> quality;
      for (int i = 0; i < 50; ++i) {
        ts.push_back(base + (b * 50 + i) * 1000);
        values.push_back(std::sin(b * 50 + i) * 10 + (sensor[2] - '0'));
        quality.push_back(i % 10 == 0 ? 1u : 0u);
      }
      AddSeries(&batch, sensor, ts, values, quality, &expected);
    }
    batches.push_back(batch);
  }
  CheckAllStored(StreamBatches(vigild.ingest(), batches), batches);
  IngestBatch unary = MakeBatch("gw-2", 5, 1);
  AddSeries(&unary, "s-4", {base, base + 1000}, {1.5, -2.5}, {}, &expected);
  CHECK(WriteOk(vigild.ingest(), unary).stored_readings() == 2);

  const auto start = std::chrono::steady_clock::now();
  const ExitStatus exit = vigild.Terminate(std::chrono::seconds(20));
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  INFO("vigild " << exit.ToString() << " after " << took.count() << " ms");
  CHECK(exit.ExitedWith(0));

  vigild.Restart();
  const Range range = WideRange(now);
  CheckStored(vigild, expected, range.from, range.to, {"s-5"});

  // The dedupe watermarks survived too.
  const StreamResult resent = StreamBatches(vigild.ingest(), {batches.back()});
  INFO(Describe(resent));
  REQUIRE(resent.acks.size() == 1);
  CHECK(resent.acks[0].duplicate());
  CHECK(resent.acks[0].stored_readings() == 0);
  CHECK(WriteOk(vigild.ingest(), unary).duplicate());
  CheckStored(vigild, expected, range.from, range.to);
}

TEST_CASE("vigild --check-config accepts a good config and names a bad durability",
          "[e2e][config]") {
  VigildProcess good(DefaultOptions(
      "server: { shutdown_grace: 10s, shards: 0 }\n"
      "storage: { durability: wal, raw_retention: 90d, chunk_max_readings: 480, "
      "checkpoint_interval: 60s }\n"
      "ingest: { max_future_skew: 5m, max_series_per_batch: 10000, max_readings_per_batch: "
      "100000, max_message_bytes: 16MiB, max_concurrent_streams: 1024, stream_window: 8 }\n"));
  {
    const RunResult run = RunVigild({"--check-config", "--config", good.config_path().string()},
                                    std::chrono::seconds(20));
    INFO("vigild " << run.status.ToString() << ", output:\n" << run.output);
    CHECK(run.status.ExitedWith(0));
  }

  // The bad value is on line 2 of the file.
  VigildProcess bad(DefaultOptions("server: { shards: 0 }\nstorage: { durability: sometimes }\n"));
  {
    const RunResult run = RunVigild({"--check-config", "--config", bad.config_path().string()},
                                    std::chrono::seconds(20));
    INFO("vigild " << run.status.ToString() << ", output:\n" << run.output);
    CHECK(run.status.exited);
    CHECK_FALSE(run.status.timed_out);
    CHECK(run.status.code != 0);
    CHECK(run.output.find("durability") != std::string::npos);
    // "config.yaml:2:24: ..." or "... line 2 ...".
    CHECK((run.output.find("config.yaml:2") != std::string::npos ||
           run.output.find("line 2") != std::string::npos));
  }
}

}  // namespace vigil::e2e
