// End to end, the cluster's faults at a CI size (issue 23): three nats-server
// nodes (stream replicas 3) and three vigild nodes on loopback. A gateway
// with all three vigild addresses streams numbered batches, moving to the
// next node whenever one fails it, as a real gateway does. Meanwhile the
// NATS stream leader is killed with kill -9, then a vigild is, then another
// is stopped (SIGSTOP) for longer than a call's deadline and resumed; then
// everything restarts (every vigild, the NATS nodes one by one) and more
// batches follow. Afterwards every vigild holds every acked reading exactly
// once and has raised every ground-truth alarm exactly once, the same
// transitions under the same journal seqs at every node. (A longer run belongs in bench/.)
#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/cluster/cluster_e2e_support.h"
#include "tests/cluster/stream_leader.h"
#include "tests/e2e/vigild_process.h"
#include "tests/testing/nats_cluster.h"
#include "tests/testing/temp_dir.h"

namespace vigil::e2e {
namespace {

constexpr uint64_t kBatches = 60;  // through the faults
constexpr uint64_t kTotal = 72;    // and after a restart of everything
// Ground truth: s-1 is high in every tenth batch (raised) and normal in the
// next (cleared).
bool High(uint64_t sequence) { return sequence % 10 == 5; }

v1::IngestBatch Batch(uint64_t sequence, int64_t t0) {
  v1::IngestBatch batch;
  batch.set_gateway_id("gw-1");
  batch.set_epoch(1);
  batch.set_sequence(sequence);
  const int64_t at = t0 + static_cast<int64_t>(sequence) * 10'000;
  v1::Series* s1 = batch.add_series();
  s1->set_sensor_id("s-1");
  s1->add_timestamps_ms(at);
  s1->add_values(High(sequence) ? 150 : 20);
  v1::Series* s2 = batch.add_series();
  s2->set_sensor_id("s-2");
  s2->add_timestamps_ms(at);
  s2->add_values(static_cast<double>(sequence) / 100);
  return batch;
}

// Sends `batch` to node `*next`, moving on to the following live node until
// one acks it (bounded); false when none did.
bool SendWithFailover(std::vector<VigildProcess*>& nodes, size_t* next,
                      const v1::IngestBatch& batch, std::string* last_error) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    VigildProcess& node = *nodes[*next % nodes.size()];
    if (node.running()) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      v1::IngestAck ack;
      const grpc::Status status = node.ingest().Write(&context, batch, &ack);
      if (status.ok()) return true;
      *last_error = status.error_message();
    }
    ++*next;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

struct Transition {
  int kind;
  int64_t reading_at;
  uint64_t seq = 0;  // the journal's: the same at every node
  bool operator==(const Transition&) const = default;
};

std::vector<Transition> Transitions(VigildProcess& node) {
  std::vector<Transition> out;
  for (const v1::AlarmEvent& e : JournalEvents(node)) {
    out.push_back({static_cast<int>(e.kind()), e.reading_at_ms(), e.seq()});
  }
  return out;
}

TEST_CASE(
    "Cluster faults: NATS leader and a vigild killed, one frozen, all restarted, nothing lost",
    "[cluster][e2e][chaos]") {
  testing::TempDir dir;
  testing::NatsCluster nats(dir / "nats", 3);
  VigildProcess::Options options;
  options.config_yaml =
      JetStreamConfig(nats.urls(), "storage: { durability: wal, chunk_max_readings: 16 }\n",
                      "  replicas: 3\n  append_timeout: 2s\n", dir.path(), kPlantRulesYaml);
  options.registry_yaml = kPlantRegistryYaml;
  VigildProcess a(options);
  VigildProcess b(options);
  VigildProcess c(options);
  a.Start();
  b.Start();
  c.Start();
  std::vector<VigildProcess*> nodes = {&a, &b, &c};

  const int64_t t0 = NowMs() - 2 * int64_t{kTotal} * 10'000;
  size_t next = 0;
  int killed_nats = -1;
  auto send = [&](uint64_t seq) {
    std::string error;
    const bool acked = SendWithFailover(nodes, &next, Batch(seq, t0), &error);
    INFO("batch " << seq << ": " << error);
    REQUIRE(acked);
    ++next;  // spread the batches over the nodes
  };
  for (uint64_t seq = 1; seq <= kBatches; ++seq) {
    if (seq == kBatches / 4) {
      killed_nats = nats.IndexOf(testing::StreamLeader(nats, "VIGIL_INGEST"));
      REQUIRE(killed_nats >= 0);
      nats.Kill(killed_nats);
    }
    if (seq == kBatches / 2) b.Kill9();
    // C stopped (SIGSTOP) longer than a gateway's call deadline, then resumed.
    if (seq == 3 * kBatches / 4) REQUIRE(::kill(c.pid(), SIGSTOP) == 0);
    if (seq == 3 * kBatches / 4 + 5) REQUIRE(::kill(c.pid(), SIGCONT) == 0);
    send(seq);
  }
  b.Restart();
  nats.Restart(killed_nats);

  // A restart of everything: every vigild stopped, the NATS nodes restarted
  // one after the other, every vigild started again; then more batches.
  for (VigildProcess* node : nodes) node->Terminate();
  for (int i = 0; i < nats.size(); ++i) {
    nats.Kill(i);
    nats.Restart(i);
  }
  for (VigildProcess* node : nodes) node->Restart();
  for (uint64_t seq = kBatches + 1; seq <= kTotal; ++seq) send(seq);

  std::vector<Transition> expected;
  for (uint64_t seq = 1; seq <= kTotal; ++seq) {
    const int64_t at = t0 + static_cast<int64_t>(seq) * 10'000;
    const uint64_t journal_seq = expected.size() + 1;
    if (High(seq)) expected.push_back({v1::ALARM_EVENT_KIND_RAISED, at, journal_seq});
    if (seq > 1 && High(seq - 1)) {
      expected.push_back({v1::ALARM_EVENT_KIND_CLEARED, at, journal_seq});
    }
  }
  for (VigildProcess* node : nodes) {
    INFO(node->Output());
    const std::vector<Reading> readings = AwaitReadings(*node, "s-2", t0, kTotal);
    REQUIRE(readings.size() == kTotal);
    for (uint64_t seq = 1; seq <= kTotal; ++seq) {
      CHECK(readings[seq - 1].ts == t0 + static_cast<int64_t>(seq) * 10'000);
      CHECK(readings[seq - 1].value == static_cast<double>(seq) / 100);
    }
    std::vector<Transition> transitions;
    const auto alarm_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    do {
      transitions = Transitions(*node);
      if (transitions.size() >= expected.size()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    } while (std::chrono::steady_clock::now() < alarm_deadline);
    CHECK(transitions == expected);
  }
}

}  // namespace
}  // namespace vigil::e2e
