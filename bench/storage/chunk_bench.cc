// Chunk codec speed (encode, decode, HeadSet append) on realistic sensor
// signals, and the compressed size of each signal. Before the timed runs it
// prints one line per signal: `chunk_bytes_per_reading_<signal> <value> bytes`,
// and `shard_snapshot_encode_ns_per_sensor`: what a checkpoint's encoding of
// the engine state costs the shard thread per sensor.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "storage/alarm_codec.h"
#include "storage/chunk.h"
#include "storage/head_set.h"

namespace vigil::storage {
namespace {

using alarm::Reading;
using alarm::TimestampMs;

constexpr TimestampMs kT0 = 1'700'000'000'000;
constexpr size_t kChunkReadings = 480;  // HeadSetOptions default
constexpr size_t kChunks = 64;
constexpr size_t kReadings = kChunkReadings * kChunks;

enum Signal { kDriftNoise1s, kDriftNoise10s, kConstant, kQuantized001, kFloat32, kSignalCount };
const char* const kSignalNames[kSignalCount] = {"drift_noise_1s", "drift_noise_10s", "constant",
                                                "quantized_0_01", "float32_drift_noise"};

// Slow drift (a daily-ish swing) plus Gaussian noise, like a tank temperature.
std::vector<Reading> MakeSignal(Signal signal) {
  std::mt19937_64 rng(1234 + static_cast<uint64_t>(signal));
  std::normal_distribution<double> noise(0.0, 0.05);
  std::uniform_int_distribution<TimestampMs> jitter(-5, 5);
  std::vector<Reading> out;
  out.reserve(kReadings);
  for (size_t i = 0; i < kReadings; ++i) {
    const double x = static_cast<double>(i);
    const double drift = 40.0 + 3.0 * std::sin(x / 5000.0);
    Reading r;
    r.at = kT0 + static_cast<TimestampMs>(i) * 1000;
    switch (signal) {
      case kDriftNoise1s:
        r.value = drift + noise(rng);
        break;
      case kDriftNoise10s:
        r.at = kT0 + static_cast<TimestampMs>(i) * 10'000 + jitter(rng);
        r.value = drift + noise(rng);
        break;
      case kConstant:
        r.value = 21.5;
        break;
      case kQuantized001:  // an instrument reporting 2 decimals
        r.value = std::round((drift + noise(rng)) * 100.0) / 100.0;
        break;
      case kFloat32:  // a gateway that sends IEEE single precision
        r.value = static_cast<float>(drift + noise(rng));
        break;
      case kSignalCount:
        break;
    }
    out.push_back(r);
  }
  return out;
}

const std::vector<Reading>& SignalData(Signal signal) {
  static const std::vector<std::vector<Reading>> data = [] {
    std::vector<std::vector<Reading>> d;
    for (int s = 0; s < kSignalCount; ++s) d.push_back(MakeSignal(static_cast<Signal>(s)));
    return d;
  }();
  return data[static_cast<size_t>(signal)];
}

std::vector<std::string> EncodeChunks(const std::vector<Reading>& readings) {
  std::vector<std::string> chunks;
  ChunkEncoder enc;
  for (size_t i = 0; i < readings.size(); ++i) {
    enc.Append(readings[i].at, readings[i].value, readings[i].quality);
    if (enc.count() == kChunkReadings) {
      chunks.push_back(enc.Finish());
      enc.Clear();
    }
  }
  return chunks;
}

// A head's life: Append 480 readings, Finish, Clear (frees the buffer, as HeadSet does).
void BM_Encode(benchmark::State& state) {
  const auto& readings = SignalData(static_cast<Signal>(state.range(0)));
  ChunkEncoder enc;
  size_t chunk = 0;
  size_t bytes = 0;
  for (auto _ : state) {
    const Reading* r = readings.data() + chunk * kChunkReadings;
    for (size_t i = 0; i < kChunkReadings; ++i) enc.Append(r[i].at, r[i].value, r[i].quality);
    std::string out = enc.Finish();
    bytes += out.size();
    benchmark::DoNotOptimize(out.data());
    enc.Clear();
    chunk = (chunk + 1) % kChunks;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kChunkReadings));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.SetLabel(kSignalNames[state.range(0)]);
}

// Whole-chunk decode (CRC check included) into a reused vector.
void BM_Decode(benchmark::State& state) {
  const auto chunks = EncodeChunks(SignalData(static_cast<Signal>(state.range(0))));
  std::vector<Reading> out;
  out.reserve(kChunkReadings);
  size_t chunk = 0;
  size_t bytes = 0;
  for (auto _ : state) {
    out.clear();
    const alarm::Status s = DecodeChunk(chunks[chunk], 0, kT0 * 2, &out);
    if (!s.ok() || out.size() != kChunkReadings) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(out.data());
    bytes += chunks[chunk].size();
    chunk = (chunk + 1) % kChunks;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kChunkReadings));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.SetLabel(kSignalNames[state.range(0)]);
}

// HeadSet::Append of series of 10 readings over 10k sensors, sealing included.
void BM_HeadSetAppend(benchmark::State& state) {
  constexpr size_t kSensors = 10'000;
  constexpr size_t kPerSeries = 10;
  const auto& readings = SignalData(kDriftNoise1s);
  std::vector<std::string> ids;
  for (size_t s = 0; s < kSensors; ++s)
    ids.push_back("enterprise-370105-0042/sensor-" + std::to_string(s));
  HeadSet heads(HeadSetOptions{});
  std::vector<SealedChunk> sealed;
  std::vector<TimestampMs> at(kPerSeries);
  std::vector<double> values(kPerSeries);
  size_t round = 0;
  uint64_t log_seq = 0;
  for (auto _ : state) {
    // Every sensor gets the same 10 readings per round, moved forward in time.
    const size_t base = (round * kPerSeries) % (kReadings - kPerSeries);
    for (size_t i = 0; i < kPerSeries; ++i) {
      at[i] = kT0 + static_cast<TimestampMs>((round * kPerSeries + i) * 1000);
      values[i] = readings[base + i].value;
    }
    for (size_t s = 0; s < kSensors; ++s) heads.Append(ids[s], at, values, {}, ++log_seq, &sealed);
    sealed.clear();
    ++round;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kSensors * kPerSeries));
  state.counters["head_bytes_per_sensor"] =
      static_cast<double>(heads.memory_bytes()) / static_cast<double>(kSensors);
}

// What a shard does with one gateway's batch: one reading for each of 250
// sensors, out of 32,000 whose heads (~55 MB) are far beyond the caches, so
// every series misses on its index entry, head and encoder tail. Arg 1 hints
// the whole batch first (HeadSet::Prefetch), as the shard thread does.
void BM_HeadSetBatch(benchmark::State& state) {
  constexpr size_t kSensors = 32'000;
  constexpr size_t kBatch = 250;
  const bool prefetch = state.range(0) != 0;
  std::vector<std::string> ids;
  ids.reserve(kSensors);
  for (size_t s = 0; s < kSensors; ++s) {
    ids.push_back("at-" + std::to_string(s / 500) + "-" + std::to_string(s % 500));
  }
  // Batches visit the sensors in a fixed shuffled order (gateways report in
  // no particular order relative to the heads' slots).
  std::vector<size_t> order(kSensors);
  for (size_t s = 0; s < kSensors; ++s) order[s] = s;
  std::shuffle(order.begin(), order.end(), std::mt19937_64(7));
  std::vector<uint64_t> hashes(kSensors);
  for (size_t s = 0; s < kSensors; ++s) hashes[s] = alarm::IdIndex::Hash(ids[s]);
  HeadSet heads(HeadSetOptions{});
  std::vector<SealedChunk> sealed;
  std::vector<uint64_t> batch_hashes(kBatch);
  TimestampMs at[1] = {kT0};
  double value[1] = {20.5};
  uint64_t log_seq = 0;
  size_t next = 0;
  for (auto _ : state) {
    for (size_t i = 0; i < kBatch; ++i) batch_hashes[i] = hashes[order[(next + i) % kSensors]];
    if (prefetch) heads.Prefetch(batch_hashes);
    ++log_seq;
    for (size_t i = 0; i < kBatch; ++i) {
      const size_t s = order[(next + i) % kSensors];
      heads.Append(ids[s], batch_hashes[i], at, value, {}, log_seq, &sealed);
    }
    next += kBatch;
    if (next >= kSensors) {
      next -= kSensors;
      at[0] += 1000;
      value[0] += 0.25;
    }
    sealed.clear();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kBatch));
}

void SignalArgs(benchmark::internal::Benchmark* b) {
  for (int s = 0; s < kSignalCount; ++s) b->Arg(s);
}

BENCHMARK(BM_Encode)->Apply(SignalArgs);
BENCHMARK(BM_Decode)->Apply(SignalArgs);
BENCHMARK(BM_HeadSetAppend);
BENCHMARK(BM_HeadSetBatch)->ArgName("prefetch")->Arg(0)->Arg(1);

void PrintSizes() {
  for (int s = 0; s < kSignalCount; ++s) {
    size_t bytes = 0;
    for (const std::string& c : EncodeChunks(SignalData(static_cast<Signal>(s)))) bytes += c.size();
    std::printf("chunk_bytes_per_reading_%s %.3f bytes\n", kSignalNames[s],
                static_cast<double>(bytes) / static_cast<double>(kReadings));
  }
  std::printf("chunk_encoder_sizeof %zu bytes\n", sizeof(ChunkEncoder));
  std::fflush(stdout);
}

// A checkpoint's engine state of 200,000 sensors (every third with rate-of-
// change points), encoded as the shard thread does; the best of 3 runs.
void PrintSnapshotEncode() {
  constexpr int kSnapshotSensors = 200'000;
  ShardSnapshot snapshot{.shard = 0, .shard_count = 1, .through_log_seq = 1, .engine = {}};
  snapshot.engine.sensors.reserve(kSnapshotSensors);
  for (int i = 0; i < kSnapshotSensors; ++i) {
    alarm::SensorSnapshot& s = snapshot.engine.sensors.emplace_back();
    s.sensor_id = "370105-e" + std::to_string(i / 500) + "-s" + std::to_string(i % 500);
    s.rule_id = "temperature";
    s.seen = true;
    s.last_seen = kT0;
    s.has_reading = true;
    s.last_reading_at = kT0;
    s.last_value = 20.5;
    s.peak = 20.5;
    if (i % 3 == 0) s.rate_count = 5;
  }
  double best_ns = 1e300;
  size_t bytes = 0;
  for (int rep = 0; rep < 3; ++rep) {
    const auto start = std::chrono::steady_clock::now();
    const std::string encoded = EncodeShardSnapshot(snapshot);
    const std::chrono::duration<double, std::nano> took = std::chrono::steady_clock::now() - start;
    best_ns = std::min(best_ns, took.count());
    bytes = encoded.size();
  }
  std::printf("shard_snapshot_encode_ns_per_sensor %.1f ns\n", best_ns / kSnapshotSensors);
  std::printf("shard_snapshot_bytes_per_sensor %.1f bytes\n",
              static_cast<double>(bytes) / kSnapshotSensors);
  std::fflush(stdout);
}

}  // namespace
}  // namespace vigil::storage

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  vigil::storage::PrintSizes();
  vigil::storage::PrintSnapshotEncode();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
