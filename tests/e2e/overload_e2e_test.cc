// End-to-end: gateways offer far more than vigild can store (every stream
// keeps a large window full, as fast as the client can build batches). vigild
// must push back (HTTP/2 flow control, RESOURCE_EXHAUSTED over
// ingest.max_buffered_bytes), keep its resident memory bounded, never crash,
// store every batch it acked, and be healthy once the load stops. Figures
// (ack latency of accepted batches, peak memory, refusals) are printed with
// VIGIL_E2E_VERBOSE; bench/run_overload.sh runs it longer.
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/vigild_process.h"

namespace vigil::e2e {
namespace {

using namespace std::chrono_literals;

constexpr int kGateways = 8;
constexpr int kSensors = 500;  // per gateway
constexpr int kStepsPerBatch = 10;
constexpr uint32_t kReadingsPerBatch = kSensors * kStepsPerBatch;
constexpr size_t kWindow = 64;

std::string RegistryYaml() {
  std::string yaml = "enterprises:\n";
  for (int g = 0; g < kGateways; ++g) {
    yaml += "  - { id: e-" + std::to_string(g) +
            ", name: Plant, kind: hazardous_chemical, region_code: \"370105\" }\n";
  }
  yaml += "sensors:\n";
  for (int g = 0; g < kGateways; ++g) {
    for (int s = 0; s < kSensors; ++s) {
      yaml += "  - { id: s-" + std::to_string(g) + "-" + std::to_string(s) + ", enterprise: e-" +
              std::to_string(g) + ", quantity: level, unit: m }\n";
    }
  }
  yaml += "gateways:\n";
  for (int g = 0; g < kGateways; ++g) {
    yaml += "  - { id: gw-" + std::to_string(g) + ", enterprise: e-" + std::to_string(g) + " }\n";
  }
  return yaml;
}

// Resident memory of `pid`, bytes (0 when unreadable).
uint64_t ResidentBytes(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

struct Totals {
  // The streams' contexts, so that stopping cancels a Write or Read that
  // flow control holds.
  std::mutex contexts_mu;
  std::vector<grpc::ClientContext*> contexts;  // GUARDED_BY(contexts_mu)
  std::atomic<uint64_t> acked{0};
  std::atomic<uint64_t> refused{0};  // streams ended with RESOURCE_EXHAUSTED
  std::atomic<uint64_t> other_errors{0};
  std::mutex mu;
  std::vector<double> latencies_ms;  // GUARDED_BY(mu)
  std::string last_error;            // GUARDED_BY(mu)
};

// One gateway: opens a stream, keeps kWindow batches in flight until told to
// stop; a refused stream backs off and reconnects with a new epoch.
void Gateway(VigildProcess& vigild, int g, const std::atomic<bool>& stop, Totals& totals) {
  const int64_t t0 = NowMs() - 3'600'000;
  uint64_t epoch = 1;
  int64_t step = 0;
  while (!stop) {
    grpc::ClientContext context;
    SetDeadline(&context, 60s);
    {
      std::lock_guard<std::mutex> lock(totals.contexts_mu);
      if (stop) break;
      totals.contexts.push_back(&context);
    }
    auto stream = vigild.ingest().Stream(&context);
    std::vector<std::chrono::steady_clock::time_point> sent;  // in flight, in order
    uint64_t seq = 0;
    bool broken = false;
    while (!stop && !broken) {
      while (sent.size() < kWindow && !stop) {
        v1::IngestBatch batch;
        batch.set_gateway_id("gw-" + std::to_string(g));
        batch.set_epoch(epoch);
        batch.set_sequence(++seq);
        for (int s = 0; s < kSensors; ++s) {
          v1::Series* series = batch.add_series();
          series->set_sensor_id("s-" + std::to_string(g) + "-" + std::to_string(s));
          for (int k = 0; k < kStepsPerBatch; ++k) {
            series->add_timestamps_ms(t0 + (step + k) * 100);
            series->add_values(static_cast<double>((step + k + s) % 100));
          }
        }
        step += kStepsPerBatch;
        sent.push_back(std::chrono::steady_clock::now());
        if (!stream->Write(batch)) {
          broken = true;
          break;
        }
      }
      if (broken) break;
      v1::IngestAck ack;
      if (!stream->Read(&ack)) break;
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - sent.front())
              .count();
      sent.erase(sent.begin());
      totals.acked.fetch_add(ack.stored_readings() == kReadingsPerBatch ? 1 : 0);
      std::lock_guard<std::mutex> lock(totals.mu);
      totals.latencies_ms.push_back(ms);
    }
    if (stop) context.TryCancel();  // else the server ended it: its status tells why
    const grpc::Status status = stream->Finish();
    {
      std::lock_guard<std::mutex> lock(totals.contexts_mu);
      std::erase(totals.contexts, &context);
    }
    if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      totals.refused.fetch_add(1);
    } else if (!stop && !status.ok()) {
      totals.other_errors.fetch_add(1);
      std::lock_guard<std::mutex> lock(totals.mu);
      totals.last_error = status.error_message();
    }
    ++epoch;  // resend nothing: this test counts what was acked
    if (!stop) std::this_thread::sleep_for(50ms);
  }
}

TEST_CASE("Overload: pushed back, memory bounded, no crash, every ack kept", "[e2e][overload]") {
  // Long enough for every gateway to fill its window and read acks: a
  // sanitizer build is slower, so it offers load for longer.
  int seconds = static_cast<int>(8 * TimeScale());
  if (const char* env = std::getenv("VIGIL_OVERLOAD_SECONDS")) seconds = std::atoi(env);
  VigildProcess vigild({.config_yaml = "ingest: { max_buffered_bytes: 64MiB, stream_window: 16 }\n"
                                       "storage: { checkpoint_interval: 5s }\n",
                        .registry_yaml = RegistryYaml()});
  vigild.Start();
  const pid_t pid = vigild.pid();
  std::atomic<bool> stop{false};
  Totals totals;
  uint64_t peak_rss = 0;
  std::vector<std::thread> gateways;
  for (int g = 0; g < kGateways; ++g) {
    gateways.emplace_back(Gateway, std::ref(vigild), g, std::cref(stop), std::ref(totals));
  }
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < end) {
    peak_rss = std::max(peak_rss, ResidentBytes(pid));
    REQUIRE(vigild.running());
    std::this_thread::sleep_for(100ms);
  }
  {
    std::lock_guard<std::mutex> lock(totals.contexts_mu);
    stop = true;
    for (grpc::ClientContext* context : totals.contexts) context->TryCancel();
  }
  for (std::thread& t : gateways) t.join();

  // Alive, and back to serving by itself.
  bool serving = false;
  for (const auto until = std::chrono::steady_clock::now() + Scaled(5s);
       !serving && std::chrono::steady_clock::now() < until;) {
    REQUIRE(HealthCheck(vigild.channel(), &serving).ok());
    if (!serving) std::this_thread::sleep_for(50ms);
  }
  CHECK(serving);
  const std::string metrics = HttpGetMetrics(vigild.metrics_address());
  const double stored = Sample(metrics, "vigil_readings_ingested_total");
  const double refused_batches = Sample(metrics, "vigil_ingest_refused_overload_total");
  std::vector<double> latencies;
  {
    std::lock_guard<std::mutex> lock(totals.mu);
    latencies = totals.latencies_ms;
    INFO("last unexpected stream error: " << totals.last_error);
    CHECK(totals.other_errors == 0);
  }
  std::sort(latencies.begin(), latencies.end());
  auto pct = [&](double p) {
    return latencies.empty()
               ? 0.0
               : latencies[static_cast<size_t>(p * static_cast<double>(latencies.size() - 1))];
  };
  const uint64_t acked = totals.acked.load();
  if (std::getenv("VIGIL_E2E_VERBOSE") != nullptr) {
    std::cout << "overload_seconds " << seconds << " s\n"
              << "overload_batches_acked " << acked << " count\n"
              << "overload_readings_acked_per_s "
              << static_cast<double>(acked) * kReadingsPerBatch / seconds << " readings/s\n"
              << "overload_streams_refused " << totals.refused.load() << " count\n"
              << "overload_batches_refused_server " << refused_batches << " count\n"
              << "overload_ack_latency_p50_ms " << pct(0.5) << " ms\n"
              << "overload_ack_latency_p99_ms " << pct(0.99) << " ms\n"
              << "overload_ack_latency_max_ms " << pct(1.0) << " ms\n"
              << "overload_peak_rss_bytes " << peak_rss << " bytes\n";
  }
  CHECK(acked > 0);
  // Every acked reading is stored (the server may have stored batches whose
  // acks the cancelled streams never read: at least, never fewer).
  CHECK(stored >= static_cast<double>(acked) * kReadingsPerBatch);
  // 64 MiB of accepted batches plus RocksDB's memtables (64 MiB per column
  // family, 4 for the ingest log), heads and gRPC buffers.
  // Not in a sanitizer build (TimeScale() > 1): its shadow memory (1.1 GB
  // peak under TSan) says nothing about vigild's own bound.
  if (TimeScale() == 1) CHECK(peak_rss < (uint64_t{900} << 20));
  CHECK(peak_rss > 0);

  // Every refused or cancelled stream ended: none holds a slot, and SIGTERM
  // stops vigild (a stream never finished blocks grpc::Server::Shutdown).
  double open = -1;
  for (const auto until = std::chrono::steady_clock::now() + Scaled(10s);
       open != 0 && std::chrono::steady_clock::now() < until;) {
    open = Sample(HttpGetMetrics(vigild.metrics_address()), "vigil_ingest_streams_open");
    if (open != 0) std::this_thread::sleep_for(50ms);
  }
  CHECK(open == 0);
  const ExitStatus exit = vigild.Terminate(Scaled(20s));
  CHECK(exit.ExitedWith(0));
}

}  // namespace
}  // namespace vigil::e2e
