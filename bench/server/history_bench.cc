// History read benchmark: one sensor with a day of 1-second readings (86,400)
// among N sensors (default 100,000) that each hold a chunk of the same day;
// reads through the Store directly and through a running in-process server
// over gRPC (ReadRaw, ReadDownsampled, ReadLatest of one enterprise). Prints
// `name value unit` lines; medians of --reps runs after one warm-up run.
//
//   history_bench [--sensors N] [--per-enterprise N] [--reps N]
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench/common/flags.h"
#include "server/log/log.h"
#include "server/server.h"
#include "storage/head_set.h"
#include "storage/history.h"
#include "storage/store.h"
#include "tests/testing/temp_dir.h"
#include "vigil/v1/ingest.grpc.pb.h"
#include "vigil/v1/query.grpc.pb.h"
#include "vigil/v1/registry.grpc.pb.h"

namespace {

using vigil::alarm::Reading;
using vigil::alarm::TimestampMs;
using Clock = std::chrono::steady_clock;

constexpr TimestampMs kSecond = 1000;
constexpr TimestampMs kDay = 86'400 * kSecond;

struct Config {
  int sensors = 100'000;
  int per_enterprise = 2'000;
  int reps = 30;
};

void Figure(const char* name, double value, const char* unit) {
  std::printf("%s %.3f %s\n", name, value, unit);
  std::fflush(stdout);
}

// Runs `f` once to warm up, then `reps` times; returns the median in ms.
double MedianMs(int reps, const std::function<void()>& f) {
  f();
  std::vector<double> ms;
  for (int i = 0; i < reps; ++i) {
    const auto start = Clock::now();
    f();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

double ElapsedMs(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

std::string SensorId(int i) {
  char id[24];
  std::snprintf(id, sizeof(id), "s-%06d", i);
  return id;
}
std::string EnterpriseId(int e) {
  char id[24];
  std::snprintf(id, sizeof(id), "e-%04d", e);
  return id;
}

void Check(bool ok, const std::string& what) {
  if (ok) return;
  std::fprintf(stderr, "history_bench: %s\n", what.c_str());
  std::exit(1);
}

// Writes the data set; returns the target sensor's first reading time.
TimestampMs WriteData(vigil::storage::Store& store, const Config& config, TimestampMs day_start) {
  vigil::storage::HeadSet heads(vigil::storage::HeadSetOptions{});
  std::vector<vigil::storage::SealedChunk> sealed;
  std::mt19937_64 rng(7);
  std::normal_distribution<double> noise(0, 0.05);
  auto series = [&](const std::string& id, TimestampMs from, int n, uint64_t log_seq) {
    std::vector<TimestampMs> times(static_cast<size_t>(n));
    std::vector<double> values(static_cast<size_t>(n));
    double v = 20;
    for (int i = 0; i < n; ++i) {
      times[static_cast<size_t>(i)] = from + i * kSecond;
      v += noise(rng);
      values[static_cast<size_t>(i)] = std::round(v * 100) / 100;
    }
    heads.Append(id, times, values, {}, log_seq, &sealed);
  };
  series(SensorId(0), day_start, 86'400, 1);
  for (int i = 1; i < config.sensors; ++i) {
    // One 480-reading chunk somewhere in the same day.
    series(SensorId(i), day_start + TimestampMs{i % 170} * 480 * kSecond, 480,
           static_cast<uint64_t>(i) + 1);
    if (sealed.size() >= 5000) {
      Check(store.WriteChunks(sealed).ok(), "WriteChunks failed");
      sealed.clear();
    }
  }
  heads.SealAll(&sealed);
  Check(store.WriteChunks(sealed).ok(), "WriteChunks failed");
  return day_start;
}

void Register(const std::shared_ptr<grpc::Channel>& channel, const Config& config) {
  auto stub = vigil::v1::RegistryAdmin::NewStub(channel);
  const int enterprises = (config.sensors + config.per_enterprise - 1) / config.per_enterprise;
  vigil::v1::ApplyRegistryRequest request;
  for (int e = 0; e < enterprises; ++e) {
    auto* enterprise = request.mutable_upsert()->add_enterprises();
    enterprise->set_id(EnterpriseId(e));
    enterprise->set_kind(vigil::v1::ENTERPRISE_KIND_HAZARDOUS_CHEMICAL);
    enterprise->set_region_code("370105");
    auto* gateway = request.mutable_upsert()->add_gateways();
    gateway->set_id("gw-" + EnterpriseId(e));
    gateway->set_enterprise_id(EnterpriseId(e));
  }
  auto apply = [&] {
    grpc::ClientContext context;
    vigil::v1::ApplyRegistryResponse response;
    const grpc::Status status = stub->ApplyRegistry(&context, request, &response);
    Check(status.ok(), "ApplyRegistry: " + status.error_message());
    request.Clear();
  };
  apply();
  for (int i = 0; i < config.sensors; ++i) {
    auto* sensor = request.mutable_upsert()->add_sensors();
    sensor->set_id(SensorId(i));
    sensor->set_enterprise_id(EnterpriseId(i / config.per_enterprise));
    sensor->set_quantity("temperature");
    sensor->set_unit("degC");
    if (request.upsert().sensors_size() == 10'000) apply();
  }
  if (request.upsert().sensors_size() > 0) apply();
}

// One reading for every sensor of enterprise 0, now.
void IngestLatest(const std::shared_ptr<grpc::Channel>& channel, const Config& config,
                  TimestampMs now) {
  auto stub = vigil::v1::Ingest::NewStub(channel);
  vigil::v1::IngestBatch batch;
  batch.set_gateway_id("gw-" + EnterpriseId(0));
  batch.set_epoch(1);
  batch.set_sequence(1);
  for (int i = 0; i < std::min(config.per_enterprise, config.sensors); ++i) {
    auto* series = batch.add_series();
    series->set_sensor_id(SensorId(i));
    series->add_timestamps_ms(now);
    series->add_values(i * 0.5);
  }
  grpc::ClientContext context;
  vigil::v1::IngestAck ack;
  const grpc::Status status = stub->Write(&context, batch, &ack);
  Check(status.ok() && ack.rejected_readings() == 0, "Ingest.Write failed");
}

}  // namespace

int main(int argc, char** argv) {
  Config config;
  vigil::bench::CommandLine cli(
      "history_bench", "usage: history_bench [--sensors N] [--per-enterprise N] [--reps N]\n");
  cli.Number("--sensors", &config.sensors, 1);
  cli.Number("--per-enterprise", &config.per_enterprise, 1);
  cli.Number("--reps", &config.reps, 1);
  if (const int rc = cli.Parse(argc, argv); rc >= 0) return rc;
  Check(config.sensors >= 1 && config.per_enterprise >= 1 && config.reps >= 1, "bad arguments");
  vigil::testing::TempDir dir;
  const TimestampMs now = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
  const TimestampMs day_start = (now - kDay - 3'600'000) / 300'000 * 300'000;
  const TimestampMs day_end = day_start + kDay;
  std::printf("# %d sensors, target s-000000 with 86400 readings, %d reps\n", config.sensors,
              config.reps);

  {
    vigil::storage::StoreOptions options;
    options.dir = dir / "data";
    options.write_buffer_bytes = size_t{16} << 20;
    auto store = vigil::storage::Store::Open(options);
    Check(store.has_value(), "cannot open the store");
    const auto start = Clock::now();
    WriteData(**store, config, day_start);
    Figure("setup_write_chunks_s", ElapsedMs(start) / 1000, "s");

    std::vector<Reading> readings;
    Figure("store_read_raw_day_ms",
           MedianMs(config.reps,
                    [&] {
                      readings.clear();
                      Check((*store)->ReadChunks(SensorId(0), day_start, day_end, &readings).ok(),
                            "read");
                    }),
           "ms");
    Check(readings.size() == 86'400,
          "expected 86400 readings, got " + std::to_string(readings.size()));
    auto downsample = [&](TimestampMs step) {
      std::vector<vigil::storage::Step> steps;
      return MedianMs(config.reps, [&] {
        steps.clear();
        auto snapshot = (*store)->NewSnapshot();
        Check(vigil::storage::ReadDownsampled(**store, snapshot.get(),
                                              {.sensor_id = SensorId(0),
                                               .from = day_start,
                                               .to = day_end,
                                               .grid = {.origin = 0, .step = step}},
                                              {}, &steps)
                  .ok(),
              "downsample");
      });
    };
    Figure("store_downsample_1000_points_raw_ms", downsample(86'400), "ms");
    Figure("store_downsample_288_points_rollups_ms", downsample(300'000), "ms");
  }

  vigil::server::ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.metrics_listen = "";
  options.data_dir = dir / "data";
  options.log_level = vigil::server::LogLevel::kWarn;
  vigil::server::SetLogLevel(options.log_level);
  auto server = vigil::server::Server::Start(options);
  Check(server.has_value(), "server: " + (server ? "" : server.error().ToString()));
  std::thread control([&] { (*server)->Run(); });
  auto channel = grpc::CreateChannel((*server)->grpc_address(), grpc::InsecureChannelCredentials());
  {
    const auto start = Clock::now();
    Register(channel, config);
    Figure("setup_register_s", ElapsedMs(start) / 1000, "s");
  }
  IngestLatest(channel, config, now);
  auto query = vigil::v1::Query::NewStub(channel);

  vigil::v1::ReadRawResponse raw;
  auto read_raw = [&](TimestampMs to) {
    return MedianMs(config.reps, [&] {
      vigil::v1::ReadRawRequest request;
      request.set_sensor_id(SensorId(0));
      request.set_from_ms(day_start);
      request.set_to_ms(to);
      grpc::ClientContext context;
      raw.Clear();
      Check(query->ReadRaw(&context, request, &raw).ok(), "ReadRaw");
    });
  };
  // The whole path (shard hop, snapshot, blocking pool, RPC) for one reading:
  // what the day's read costs beyond it is decoding and moving 86,400 readings.
  Figure("grpc_read_raw_1_reading_ms", read_raw(day_start + kSecond), "ms");
  Figure("grpc_read_raw_day_ms", read_raw(day_end), "ms");
  Figure("grpc_read_raw_day_bytes", static_cast<double>(raw.ByteSizeLong()), "bytes");
  Check(raw.timestamps_ms_size() == 86'400 && !raw.truncated(), "ReadRaw: not the whole day");

  auto downsampled = [&](TimestampMs step, uint32_t max_points, int* points) {
    vigil::v1::ReadDownsampledResponse response;
    const double ms = MedianMs(config.reps, [&] {
      vigil::v1::ReadDownsampledRequest request;
      request.set_sensor_id(SensorId(0));
      request.set_from_ms(day_start);
      request.set_to_ms(day_end);
      request.set_step_ms(step);
      request.set_max_points(max_points);
      grpc::ClientContext context;
      response.Clear();
      const grpc::Status status = query->ReadDownsampled(&context, request, &response);
      Check(status.ok(), "ReadDownsampled: " + status.error_message());
    });
    *points = response.start_ms_size();
    return ms;
  };
  int points = 0;
  Figure("grpc_downsample_1000_points_ms", downsampled(86'400, 0, &points), "ms");
  Figure("grpc_downsample_1000_points_count", points, "steps");
  Figure("grpc_downsample_max_points_1000_ms", downsampled(0, 1000, &points), "ms");
  Figure("grpc_downsample_max_points_1000_count", points, "steps");
  Figure("grpc_downsample_5m_rollups_ms", downsampled(300'000, 0, &points), "ms");

  auto latest = [&] {
    vigil::v1::ReadLatestRequest request;
    request.set_enterprise_id(EnterpriseId(0));
    vigil::v1::ReadLatestResponse response;
    grpc::ClientContext context;
    Check(query->ReadLatest(&context, request, &response).ok(), "ReadLatest");
    Check(response.values_size() == std::min(config.per_enterprise, config.sensors),
          "ReadLatest size");
  };
  {
    const auto start = Clock::now();
    latest();  // first after start: every sensor's stored latest is folded in once
    Figure("grpc_latest_enterprise_first_ms", ElapsedMs(start), "ms");
  }
  Figure("grpc_latest_enterprise_ms", MedianMs(config.reps, latest), "ms");
  Figure("latest_enterprise_sensors", std::min(config.per_enterprise, config.sensors), "sensors");

  (*server)->RequestStop();
  control.join();
  return 0;
}
