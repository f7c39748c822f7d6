// jetstream_log_bench: the JetStream ingest log on a loopback nats-server (one
// node, R1) and a loopback 3-node cluster (R3): bytes published per reading,
// appends/s and readings/s with one group in flight and with many, and the
// publish acknowledgement latency. Prints `name value unit` lines.
//   build/bench/jetstream_log_bench [--seconds 2] [--readings 100] [--batches 4] [--in-flight 64]
// A batch is one gateway's VGR2 record of `readings` sensors at one reading
// each (the storage writer's usual shape); a group holds `batches` batches.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "cluster/group_message.h"
#include "cluster/jetstream_ingest_log.h"
#include "storage/ingest_record.h"
#include "storage/mutex.h"
#include "tests/testing/nats_cluster.h"
#include "tests/testing/temp_dir.h"

namespace {

using vigil::storage::LogAppend;
using Clock = std::chrono::steady_clock;

struct Workload {
  int readings = 100;
  int batches = 4;
};

// `count` groups' worth of batch records, sequence numbers from `first_seq`.
struct Groups {
  std::vector<std::string> records;
  std::vector<std::vector<LogAppend>> groups;
  std::string gateway = "gw-bench";

  Groups(const Workload& w, size_t count, uint64_t first_seq) {
    vigil::storage::IngestRecordBuilder builder;
    records.reserve(count * static_cast<size_t>(w.batches));
    uint64_t seq = first_seq;
    for (size_t g = 0; g < count; ++g) {
      for (int b = 0; b < w.batches; ++b, ++seq) {
        builder.Reset(gateway, 1, seq, 1);
        for (int r = 0; r < w.readings; ++r) {
          // Registered sensors travel as their SensorNumbers number, as the
          // ingest service writes them.
          builder.BeginSeries(0, static_cast<uint32_t>(r + 1), {}, 1, false);
          builder.AddReading(1'765'000'000'000 + static_cast<int64_t>(seq) * 1000, 20.0 + 0.01 * r,
                             0);
        }
        records.push_back(builder.Release());
      }
    }
    seq = first_seq;
    size_t k = 0;
    for (size_t g = 0; g < count; ++g) {
      std::vector<LogAppend> group;
      for (int b = 0; b < w.batches; ++b, ++seq, ++k) {
        group.push_back({.gateway_id = gateway,
                         .watermark = {1, seq},
                         .record = records[k],
                         .stored_at = 1'765'000'000'000});
      }
      groups.push_back(std::move(group));
    }
  }
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

void Print(const std::string& name, double value, const char* unit) {
  std::printf("%s %.1f %s\n", name.c_str(), value, unit);
}

// Appends groups for `seconds` with at most `in_flight` outstanding; prints
// rates and latencies under `prefix`.
void Run(vigil::cluster::JetStreamIngestLog& log, const Workload& w, double seconds,
         size_t in_flight, const std::string& prefix, uint64_t* next_seq) {
  // Enough groups for the run at a generous rate; reused cyclically would
  // dedupe, so each group is new.
  const size_t count = in_flight == 1 ? 20000 : 60000;
  Groups groups(w, count, *next_seq);
  *next_seq += count * static_cast<size_t>(w.batches);

  vigil::storage::Mutex mu;
  vigil::storage::CondVar cv;
  size_t outstanding = 0;
  size_t completed = 0;
  size_t failed = 0;
  std::vector<double> latency_us;
  latency_us.reserve(count);
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  size_t sent = 0;
  while (sent < count && Clock::now() < end) {
    {
      vigil::storage::MutexLock lock(&mu);
      while (outstanding >= in_flight) cv.Wait(&mu);
      ++outstanding;
    }
    const auto t0 = Clock::now();
    log.Append(groups.groups[sent], [&, t0](const vigil::alarm::Result<uint64_t>& r) {
      const double us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
      vigil::storage::MutexLock lock(&mu);
      latency_us.push_back(us);
      ++completed;
      if (!r) ++failed;
      --outstanding;
      cv.NotifyAll();
    });
    ++sent;
  }
  {
    vigil::storage::MutexLock lock(&mu);
    while (outstanding > 0) cv.Wait(&mu);
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  const std::string suffix = "_inflight" + std::to_string(in_flight);
  Print(prefix + "appends_per_s" + suffix, static_cast<double>(completed) / elapsed, "1/s");
  Print(prefix + "readings_per_s" + suffix,
        static_cast<double>(completed) * w.batches * w.readings / elapsed, "1/s");
  Print(prefix + "ack_p50" + suffix, Percentile(latency_us, 0.50), "us");
  Print(prefix + "ack_p99" + suffix, Percentile(latency_us, 0.99), "us");
  Print(prefix + "failed" + suffix, static_cast<double>(failed), "groups");
}

int Bench(int nodes, const Workload& w, double seconds, size_t in_flight) {
  vigil::testing::TempDir dir;
  vigil::testing::NatsCluster nats(dir / "nats", nodes);
  vigil::cluster::JetStreamLogOptions o;
  o.nats.urls = nats.urls();
  o.replicas = nodes == 1 ? 1 : 3;
  o.state_dir = dir / "state";
  o.max_in_flight = in_flight;
  auto log = vigil::cluster::JetStreamIngestLog::Open(o);
  if (!log) {
    std::fprintf(stderr, "open: %s\n", log.error().ToString().c_str());
    return 1;
  }
  const std::string prefix = "jetstream_r" + std::to_string(o.replicas) + "_";

  Groups one(w, 1, 1);
  std::string body;
  vigil::cluster::EncodeGroup(one.groups[0], &body);
  size_t record_bytes = 0;
  for (const std::string& r : one.records) record_bytes += r.size();
  const double readings = static_cast<double>(w.batches) * w.readings;
  Print(prefix + "record_bytes_per_reading", static_cast<double>(record_bytes) / readings, "B");
  // What goes on the wire to NATS besides the body: the HPUB line (subject,
  // sizes) and the Nats-Msg-Id header, about 90 bytes per group.
  const std::string id = vigil::cluster::GroupMessageId(one.groups[0], 0, 0);
  const size_t headers = std::string("NATS/1.0\r\nNats-Msg-Id: \r\n\r\n").size() + id.size();
  const size_t hpub =
      std::string("HPUB vigil.ingest.0 _INBOX.0123456789012345678901.0123456789 ").size() + 16;
  Print(prefix + "message_bytes_per_reading", static_cast<double>(body.size()) / readings, "B");
  Print(prefix + "published_bytes_per_reading",
        static_cast<double>(body.size() + headers + hpub) / readings, "B");

  uint64_t next_seq = 1000;
  Run(**log, w, seconds, 1, prefix, &next_seq);
  Run(**log, w, seconds, in_flight, prefix, &next_seq);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("JetStream ingest log benchmark (loopback nats-server, R1 and R3)");
  double seconds = 2;
  Workload w;
  size_t in_flight = 64;
  std::string only;
  app.add_option("--seconds", seconds, "Seconds per measurement")->check(CLI::PositiveNumber);
  app.add_option("--readings", w.readings, "Readings per batch")->check(CLI::Range(1, 100000));
  app.add_option("--batches", w.batches, "Batches per group")->check(CLI::Range(1, 1024));
  app.add_option("--in-flight", in_flight, "Groups in flight in the pipelined run")
      ->check(CLI::Range(2, 4096));
  app.add_option("--only", only, "r1 or r3 (default: both)")->check(CLI::IsMember({"r1", "r3"}));
  CLI11_PARSE(app, argc, argv);
  try {
    if (only != "r3" && Bench(1, w, seconds, in_flight) != 0) return 1;
    if (only != "r1" && Bench(3, w, seconds, in_flight) != 0) return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "jetstream_log_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
