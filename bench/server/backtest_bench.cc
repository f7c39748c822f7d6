// Rule backtest benchmark: an enterprise of N sensors (default 2,000) with
// H hours (default 24) of readings every I (default 10 s) written as chunks,
// then an in-process server backtests a proposed rule set over them through
// vigil.v1.RulesBacktest. Prints `name value unit` lines: readings replayed
// per second, and the ingest rate of a gateway writing 1,000-reading batches
// alone and while a backtest runs (the hot path must not notice it).
//
// The figure is a week of a 10,000-sensor enterprise (6 billion
// readings at 1 s, 600 million at 10 s); this is scaled down to run in about a
// minute; the rate is what scales.
//
//   backtest_bench [--sensors N] [--hours N] [--interval 10s] [--ingest-seconds N]
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench/common/flags.h"
#include "server/log/log.h"
#include "server/server.h"
#include "storage/head_set.h"
#include "storage/store.h"
#include "tests/testing/temp_dir.h"
#include "vigil/v1/backtest.grpc.pb.h"
#include "vigil/v1/ingest.grpc.pb.h"

namespace {

using vigil::alarm::TimestampMs;
using Clock = std::chrono::steady_clock;

struct Config {
  int sensors = 2'000;
  int hours = 24;
  std::chrono::milliseconds interval{10'000};
  int ingest_seconds = 5;
};

void Figure(const char* name, double value, const char* unit) {
  std::printf("%s %.3f %s\n", name, value, unit);
  std::fflush(stdout);
}

void Check(bool ok, const std::string& what) {
  if (ok) return;
  std::fprintf(stderr, "backtest_bench: %s\n", what.c_str());
  std::exit(1);
}

std::string SensorId(int i) {
  char id[24];
  std::snprintf(id, sizeof(id), "t-%05d", i);
  return id;
}

double Seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The rules: a temperature high/high-high with deadband and delays, a rate
// of change, no data. `high` moves the H level (the proposal).
std::string Rules(double high) {
  return "rules:\n"
         "  - id: temperature\n"
         "    select: { quantity: temperature, region: \"3701\" }\n"
         "    levels:\n"
         "      hh: { value: " +
         std::to_string(high + 10) +
         ", severity: 1 }\n"
         "      h: { value: " +
         std::to_string(high) +
         ", severity: 2 }\n"
         "    deadband: 0.5\n"
         "    on_delay: 20s\n"
         "    off_delay: 30s\n"
         "    rate_of_change: { limit: 8, window: 1m, severity: 3 }\n"
         "    no_data: { intervals: 6, severity: 3 }\n"
         "    sensor_fault: off\n";
}

// A random walk around 50 per sensor, a few excursions over 60.
void WriteHistory(vigil::storage::Store& store, const Config& config, TimestampMs start) {
  vigil::storage::HeadSet heads(vigil::storage::HeadSetOptions{});
  std::vector<vigil::storage::SealedChunk> sealed;
  std::mt19937_64 rng(11);
  std::normal_distribution<double> step(0, 0.4);
  const int64_t per_sensor = config.hours * 3'600'000LL / config.interval.count();
  std::vector<TimestampMs> times;
  std::vector<double> values;
  for (int s = 0; s < config.sensors; ++s) {
    times.clear();
    values.clear();
    double v = 50;
    for (int64_t i = 0; i < per_sensor; ++i) {
      v += step(rng) - (v - 50) * 0.01;
      times.push_back(start + i * config.interval.count());
      values.push_back(std::round(v * 10) / 10);
    }
    heads.Append(SensorId(s), times, values, {}, static_cast<uint64_t>(s) + 1, &sealed);
    heads.SealAll(&sealed);
    if (sealed.size() >= 2000) {
      Check(store.WriteChunks(sealed).ok(), "WriteChunks failed");
      sealed.clear();
    }
  }
  Check(store.WriteChunks(sealed).ok(), "WriteChunks failed");
}

// Ingest.Write of 1,000-reading batches (10 sensors x 100, 1 ms apart, the
// sensors in turn so that their clocks stay near now) for `seconds`;
// readings acked per second. `next_at`: each sensor's next reading time.
double IngestRate(const std::shared_ptr<grpc::Channel>& channel, int seconds, uint64_t* sequence,
                  std::vector<TimestampMs>* next_at) {
  auto stub = vigil::v1::Ingest::NewStub(channel);
  uint64_t readings = 0;
  size_t sensor = 0;
  const auto start = Clock::now();
  while (Seconds(start) < seconds) {
    vigil::v1::IngestBatch batch;
    batch.set_gateway_id("gw-1");
    batch.set_epoch(1);
    batch.set_sequence(++*sequence);
    for (int s = 0; s < 10; ++s) {
      auto* series = batch.add_series();
      series->set_sensor_id(SensorId(static_cast<int>(sensor)));
      TimestampMs& at = (*next_at)[sensor];
      for (int i = 0; i < 100; ++i) {
        series->add_timestamps_ms(at++);
        series->add_values(50);
      }
      sensor = (sensor + 1) % next_at->size();
    }
    grpc::ClientContext context;
    vigil::v1::IngestAck ack;
    const grpc::Status status = stub->Write(&context, batch, &ack);
    Check(status.ok(), "Ingest.Write: " + status.error_message());
    Check(ack.rejected_readings() == 0, "Ingest.Write rejected readings");
    readings += ack.stored_readings();
  }
  return static_cast<double>(readings) / Seconds(start);
}

}  // namespace

int main(int argc, char** argv) {
  Config config;
  vigil::bench::CommandLine cli(
      "backtest_bench",
      "usage: backtest_bench [--sensors N] [--hours N] [--interval 10s] [--ingest-seconds N]\n");
  cli.Number("--sensors", &config.sensors, 1);
  cli.Number("--hours", &config.hours, 1);
  cli.Duration("--interval", &config.interval, std::chrono::milliseconds(100),
               std::chrono::milliseconds(3'600'000));
  cli.Number("--ingest-seconds", &config.ingest_seconds, 1);
  if (const int rc = cli.Parse(argc, argv); rc >= 0) return rc;

  vigil::testing::TempDir dir;
  const TimestampMs now = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
  const TimestampMs from = (now - config.hours * 3'600'000LL - 3'600'000) / 60'000 * 60'000;
  const TimestampMs to = from + config.hours * 3'600'000LL;
  const double readings = static_cast<double>(config.sensors) *
                          static_cast<double>(config.hours * 3'600'000LL / config.interval.count());
  std::printf("# %d sensors, %d h every %lld ms: %.0f readings\n", config.sensors, config.hours,
              static_cast<long long>(config.interval.count()), readings);

  {
    std::ofstream registry(dir / "registry.yaml");
    registry << "enterprises:\n  - { id: e-1, name: Plant, kind: hazardous_chemical, "
                "region_code: \"370105\" }\nsensors:\n";
    for (int s = 0; s < config.sensors; ++s) {
      registry << "  - { id: " << SensorId(s)
               << ", enterprise: e-1, quantity: temperature, unit: degC, expected_interval: "
               << config.interval.count() << "ms }\n";
    }
    registry << "gateways:\n  - { id: gw-1, enterprise: e-1 }\n";
    std::ofstream(dir / "rules.yaml") << Rules(60);
  }
  {
    vigil::storage::StoreOptions options;
    options.dir = dir / "data";
    options.write_buffer_bytes = size_t{16} << 20;
    auto store = vigil::storage::Store::Open(options);
    Check(store.has_value(), "cannot open the store");
    const auto start = Clock::now();
    WriteHistory(**store, config, from);
    Figure("setup_write_chunks_s", Seconds(start), "s");
  }

  vigil::server::ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.metrics_listen = "";
  options.data_dir = dir / "data";
  options.registry_file = dir / "registry.yaml";
  options.rules_file = dir / "rules.yaml";
  options.log_level = vigil::server::LogLevel::kWarn;
  vigil::server::SetLogLevel(options.log_level);
  auto server = vigil::server::Server::Start(options);
  Check(server.has_value(), "server: " + (server ? "" : server.error().ToString()));
  std::thread control([&] { (*server)->Run(); });
  auto channel = grpc::CreateChannel((*server)->grpc_address(), grpc::InsecureChannelCredentials());
  auto backtest = vigil::v1::RulesBacktest::NewStub(channel);

  auto run = [&](double high, vigil::v1::BacktestReport* report) {
    vigil::v1::BacktestRequest request;
    request.set_rules_yaml(Rules(high));
    request.set_from_ms(from + 3'600'000);
    request.set_to_ms(to);
    grpc::ClientContext context;
    const auto start = Clock::now();
    const grpc::Status status = backtest->Run(&context, request, report);
    Check(status.ok(), "RulesBacktest.Run: " + status.error_message());
    return Seconds(start);
  };

  vigil::v1::BacktestReport report;
  const double seconds = run(61, &report);
  Figure("backtest_readings", static_cast<double>(report.readings()), "readings");
  Figure("backtest_s", seconds, "s");
  Figure("backtest_rate", static_cast<double>(report.readings()) / seconds, "readings/s");
  Figure("backtest_max_buffered_readings", static_cast<double>(report.max_buffered_readings()),
         "readings");
  Figure("backtest_raised", static_cast<double>(report.backtest_raised()), "alarms");
  Figure("backtest_week_10000_sensors_10s_estimate",
         10'000.0 * 7 * 86'400 / 10 / (static_cast<double>(report.readings()) / seconds) / 60,
         "min");

  // The hot path beside a backtest: the same ingest load alone, then while
  // backtests run back to back.
  uint64_t sequence = 0;
  std::vector<TimestampMs> next_at(static_cast<size_t>(config.sensors), now - 60'000);
  const double alone = IngestRate(channel, config.ingest_seconds, &sequence, &next_at);
  std::atomic<bool> busy{true};
  std::thread beside([&] {
    while (busy.load()) {
      vigil::v1::BacktestReport r;
      run(59, &r);
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const double during = IngestRate(channel, config.ingest_seconds, &sequence, &next_at);
  busy.store(false);
  beside.join();
  Figure("ingest_rate_alone", alone, "readings/s");
  Figure("ingest_rate_during_backtest", during, "readings/s");
  Figure("ingest_rate_during_backtest_ratio", during / alone, "x");

  (*server)->RequestStop();
  control.join();
  return 0;
}
