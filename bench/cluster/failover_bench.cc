// Failover and alarm delivery across a cluster (issue 23's figures), on
// loopback: three nats-server nodes (stream replicas 3) and three vigild
// nodes. One gateway knows all three vigild addresses and moves to the next
// when its node fails it, as deploy/examples' gateways do; command centers
// are subscribed at the gateway's node and at another one.
//
// Prints `name value unit` lines:
// - alarm delivery: from a Write carrying a reading over the threshold to the
//   RAISED event at a center subscribed at the same node and at another node
//   (p50, p99, max over `--alarms` alarms);
// - failover after kill -9 of the gateway's vigild and of the NATS stream
//   leader: from the kill to the gateway's first ack (at another node, or
//   the same one once the stream has a new leader), and to the RAISED event
//   of the first reading sent after the kill, seen by a center at a node
//   that was not killed;
// - probe_late_*: how late this machine wakes from a 1 ms sleep, the floor
//   under every latency above.
//
// Uses the e2e harness of tests/ (real processes); Catch2 runs the one case.
// Not part of ctest. Bounded: every wait has a deadline; about a minute.
//   [ALARMS=30] [KILLS=2] build/bench/cluster_failover_bench
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/cluster/cluster_e2e_support.h"
#include "tests/cluster/stream_leader.h"
#include "tests/e2e/vigild_process.h"
#include "tests/testing/nats_cluster.h"
#include "tests/testing/temp_dir.h"
#include "vigil/v1/alarms.grpc.pb.h"

namespace vigil::e2e {
namespace {

using Clock = std::chrono::steady_clock;

int Flag(const char* name, int fallback) {
  if (const char* v = std::getenv(name)) return std::max(1, std::atoi(v));
  return fallback;
}

// A Subscribe stream read on its own thread; keeps when each RAISED event
// arrived, by the reading time it carries.
class RaisedWatch {
 public:
  explicit RaisedWatch(v1::Alarms::Stub& stub) {
    reader_ = stub.Subscribe(&context_, v1::SubscribeRequest());
    thread_ = std::thread([this] {
      v1::AlarmStreamMessage message;
      while (reader_->Read(&message)) {
        if (!message.has_event() || message.event().kind() != v1::ALARM_EVENT_KIND_RAISED) {
          continue;
        }
        std::lock_guard lock(mu_);
        raised_.emplace_back(message.event().reading_at_ms(), Clock::now());
      }
    });
  }
  ~RaisedWatch() {
    context_.TryCancel();
    thread_.join();
  }
  RaisedWatch(const RaisedWatch&) = delete;
  RaisedWatch& operator=(const RaisedWatch&) = delete;

  // When the RAISED event for a reading at `reading_at` arrived (waits up to 60 s).
  std::optional<Clock::time_point> Await(int64_t reading_at) {
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (Clock::now() < deadline) {
      {
        std::lock_guard lock(mu_);
        for (const auto& [at, when] : raised_) {
          if (at == reading_at) return when;
        }
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    return std::nullopt;
  }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<v1::AlarmStreamMessage>> reader_;
  std::mutex mu_;
  std::vector<std::pair<int64_t, Clock::time_point>> raised_;
  std::thread thread_;
};

// The gateway: numbered batches of s-1, sent to its current node and moved
// on to the next running one when that fails (a 2 s deadline per call).
class Gateway {
 public:
  explicit Gateway(std::vector<VigildProcess*> nodes) : nodes_(std::move(nodes)) {}

  // Sends one reading of s-1 (high: over the rule's threshold, which raises;
  // else normal, which clears). Returns the reading's time once acked.
  int64_t Send(bool high) {
    const int64_t at = std::max(NowMs(), last_at_ + 1);
    last_at_ = at;
    v1::IngestBatch batch;
    batch.set_gateway_id("gw-1");
    batch.set_epoch(1);
    batch.set_sequence(++sequence_);
    v1::Series* s = batch.add_series();
    s->set_sensor_id("s-1");
    s->add_timestamps_ms(at);
    s->add_values(high ? 150 : 20);
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    std::string error;
    while (Clock::now() < deadline) {
      VigildProcess& node = *nodes_[current_ % nodes_.size()];
      if (node.running()) {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
        v1::IngestAck ack;
        const grpc::Status status = node.ingest().Write(&context, batch, &ack);
        if (status.ok()) return at;
        error = status.error_message();
      }
      ++current_;
      // A gateway's backoff once it has tried every node.
      if (current_ % nodes_.size() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL("batch " << sequence_ << " not acked within 60 s: " << error);
    return at;
  }
  size_t current() const { return current_ % nodes_.size(); }
  void Use(size_t node) { current_ = node; }

 private:
  std::vector<VigildProcess*> nodes_;
  size_t current_ = 0;
  uint64_t sequence_ = 0;
  int64_t last_at_ = 0;
};

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

void Print(const char* name, double value, const char* unit) {
  std::printf("%s %.2f %s\n", name, value, unit);
  std::fflush(stdout);
}

// Few samples (one per kill): the best and the worst.
void PrintRange(const std::string& name, const std::vector<double>& v) {
  Print((name + "_min_ms").c_str(), v.empty() ? 0 : *std::min_element(v.begin(), v.end()), "ms");
  Print((name + "_max_ms").c_str(), v.empty() ? 0 : *std::max_element(v.begin(), v.end()), "ms");
}

void PrintSpread(const std::string& name, const std::vector<double>& v) {
  Print((name + "_p50_ms").c_str(), Quantile(v, 0.5), "ms");
  Print((name + "_p99_ms").c_str(), Quantile(v, 0.99), "ms");
  Print((name + "_max_ms").c_str(), v.empty() ? 0 : *std::max_element(v.begin(), v.end()), "ms");
}

// How late a 1 ms sleep wakes on this machine, now.
void PrintWakeupFloor() {
  std::vector<double> late;
  for (int i = 0; i < 500; ++i) {
    const auto start = Clock::now();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    late.push_back(Ms(Clock::now() - start) - 1.0);
  }
  Print("probe_late_p50_ms", Quantile(late, 0.5), "ms");
  Print("probe_late_p99_ms", Quantile(late, 0.99), "ms");
}

TEST_CASE("cluster failover and alarm delivery figures", "[bench][cluster]") {
  const int alarms = Flag("ALARMS", 30);
  const int kills = Flag("KILLS", 2);
  testing::TempDir dir;
  testing::NatsCluster nats(dir / "nats", 3);
  VigildProcess::Options options;
  options.config_yaml = JetStreamConfig(nats.urls(), "", "  replicas: 3\n  append_timeout: 2s\n",
                                        dir.path(), kPlantRulesYaml);
  options.registry_yaml = kPlantRegistryYaml;
  VigildProcess a(options);
  VigildProcess b(options);
  VigildProcess c(options);
  a.Start();
  b.Start();
  c.Start();
  Gateway gateway({&a, &b, &c});
  PrintWakeupFloor();

  {
    RaisedWatch same(a.alarms());
    RaisedWatch other(c.alarms());
    gateway.Send(false);
    std::vector<double> same_ms;
    std::vector<double> other_ms;
    for (int i = 0; i < alarms; ++i) {
      gateway.Use(0);
      const auto sent = Clock::now();
      const int64_t at = gateway.Send(true);
      const auto at_same = same.Await(at);
      const auto at_other = other.Await(at);
      REQUIRE(at_same);
      REQUIRE(at_other);
      same_ms.push_back(Ms(*at_same - sent));
      other_ms.push_back(Ms(*at_other - sent));
      gateway.Send(false);
    }
    PrintSpread("cluster_alarm_delivery_same_node", same_ms);
    PrintSpread("cluster_alarm_delivery_other_node", other_ms);
  }

  // kill -9 of the gateway's vigild (a), watched from c.
  std::vector<double> ack_ms;
  std::vector<double> alarm_ms;
  for (int i = 0; i < kills; ++i) {
    RaisedWatch watch(c.alarms());
    gateway.Use(0);
    gateway.Send(false);
    const auto killed = Clock::now();
    a.Kill9();
    const int64_t at = gateway.Send(true);
    ack_ms.push_back(Ms(Clock::now() - killed));
    const auto raised = watch.Await(at);
    REQUIRE(raised);
    alarm_ms.push_back(Ms(*raised - killed));
    a.Restart();
    gateway.Send(false);
  }
  PrintRange("failover_vigild_kill_first_ack", ack_ms);
  PrintRange("failover_vigild_kill_first_alarm", alarm_ms);

  // kill -9 of the NATS stream leader; every vigild stays up.
  ack_ms.clear();
  alarm_ms.clear();
  for (int i = 0; i < kills; ++i) {
    RaisedWatch watch(c.alarms());
    gateway.Use(0);
    gateway.Send(false);
    const int leader = nats.IndexOf(testing::StreamLeader(nats, "VIGIL_INGEST"));
    REQUIRE(leader >= 0);
    const auto killed = Clock::now();
    nats.Kill(leader);
    const int64_t at = gateway.Send(true);
    ack_ms.push_back(Ms(Clock::now() - killed));
    const auto raised = watch.Await(at);
    REQUIRE(raised);
    alarm_ms.push_back(Ms(*raised - killed));
    nats.Restart(leader);
    gateway.Send(false);
  }
  PrintRange("failover_nats_leader_kill_first_ack", ack_ms);
  PrintRange("failover_nats_leader_kill_first_alarm", alarm_ms);
}

}  // namespace
}  // namespace vigil::e2e
