// End-to-end: kill -9 of vigild while gateways stream and command centers
// watch the alarm stream. Every acked batch must survive, nothing may be stored
// twice, a batch is stored whole or not at all, and resending the unacked
// batches completes the data exactly once. The alarm journal has no gap, every
// subscriber's events (resumed by seq after each restart) are a gap-free,
// duplicate-free part of it, and the journal holds exactly the transitions a
// replay of the stored readings through alarm::Engine makes.
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "alarm/engine.h"
#include "tests/e2e/alarm_watch.h"
#include "tests/e2e/vigild_process.h"
#include "tests/testing/temp_dir.h"

namespace vigil::e2e {
namespace {

using std::chrono::milliseconds;

constexpr int kGateways = 3;
constexpr int kSensorsPerGateway = 2;
constexpr int kReadingsPerSeries = 8;
constexpr uint32_t kReadingsPerBatch = kSensorsPerGateway * kReadingsPerSeries;
// Batches a gateway has written but not yet seen acked, per stream.
constexpr size_t kWindow = 4;
// Bound on one ingest phase, whatever happens.
constexpr milliseconds kMaxIngestPhase{5000};

constexpr char kRegistryYaml[] = R"(enterprises:
  - { id: e-1, name: Plant One, kind: hazardous_chemical, region_code: "370105" }
sensors:
  - { id: c-1-a, enterprise: e-1, quantity: temperature, unit: degC, range: [-40, 200], expected_interval: 1s }
  - { id: c-1-b, enterprise: e-1, quantity: pressure, unit: MPa, range: [0, 4], expected_interval: 1s }
  - { id: c-2-a, enterprise: e-1, quantity: temperature, unit: degC, range: [-40, 200], expected_interval: 1s }
  - { id: c-2-b, enterprise: e-1, quantity: pressure, unit: MPa, range: [0, 4], expected_interval: 1s }
  - { id: c-3-a, enterprise: e-1, quantity: temperature, unit: degC, range: [-40, 200], expected_interval: 1s }
  - { id: c-3-b, enterprise: e-1, quantity: pressure, unit: MPa, range: [0, 4], expected_interval: 1s }
gateways:
  - { id: gw-1, enterprise: e-1 }
  - { id: gw-2, enterprise: e-1 }
  - { id: gw-3, enterprise: e-1 }
)";

// Pressure sensors alarm at 2.0 MPa; temperatures have no rule.
constexpr char kRulesYaml[] = R"(rules:
  - id: pressure-high
    select: { quantity: pressure, enterprise: e-1 }
    levels:
      h: { value: 2.0, severity: 2 }
    sensor_fault: off
)";

std::string GatewayId(int g) { return "gw-" + std::to_string(g + 1); }
std::string SensorId(int g, int j) {
  return "c-" + std::to_string(g + 1) + "-" + static_cast<char>('a' + j);
}

// A simulated field gateway: owns two sensors and numbers its batches
// (epoch, 1..). Batch `seq` holds, for each sensor, readings at
// base + (seq - 1) * 8 + i, i in [0, 8): timestamps never repeat, so every
// reading read back tells which batch it came from.
struct Gateway {
  int index = 0;
  uint64_t epoch = 0;
  int64_t base_ms = 0;
  uint64_t next_seq = 1;     // the next batch to build; 1..next_seq-1 were sent
  std::set<uint64_t> acked;  // every batch acked, by any stream

  // Set by the ingest thread during one phase.
  std::string error;
  grpc::Status status;
  uint64_t acked_in_phase = 0;
};

// Sensor b (pressure, rule: H at 2.0) alternates between about 1 and 3 MPa
// from batch to batch: one alarm transition per batch and gateway.
Reading ExpectedReading(const Gateway& gw, int sensor, uint64_t seq, int i) {
  Reading reading;
  reading.ts = gw.base_ms + static_cast<int64_t>(seq - 1) * kReadingsPerSeries + i;
  reading.value = sensor == 1
                      ? (seq % 2 == 1 ? 3.0 : 1.0) + gw.index * 0.01 + i * 0.001 +
                            static_cast<double>(seq % 1000) * 1e-6
                      : gw.index * 1000.0 + sensor * 100.0 + static_cast<double>(seq) + i / 7.0;
  reading.quality = (sensor == 0 && i == 3) ? 64u : 0u;
  return reading;
}

v1::IngestBatch BuildBatch(const Gateway& gw, uint64_t seq) {
  v1::IngestBatch batch;
  batch.set_gateway_id(GatewayId(gw.index));
  batch.set_epoch(gw.epoch);
  batch.set_sequence(seq);
  for (int j = 0; j < kSensorsPerGateway; ++j) {
    v1::Series* series = batch.add_series();
    series->set_sensor_id(SensorId(gw.index, j));
    for (int i = 0; i < kReadingsPerSeries; ++i) {
      const Reading reading = ExpectedReading(gw, j, seq, i);
      series->add_timestamps_ms(reading.ts);
      series->add_values(reading.value);
      if (j == 0) series->add_quality(reading.quality);
    }
  }
  return batch;
}

// Ingest thread body: streams new batches continuously, up to kWindow in
// flight, until the stream breaks (vigild killed). No Catch2 macros here:
// problems go to gw.error.
void StreamUntilBroken(v1::Ingest::Stub& stub, Gateway& gw, milliseconds pace,
                       std::atomic<uint64_t>& acked_total, std::atomic<int>& ended) {
  grpc::ClientContext context;
  SetDeadline(&context, std::chrono::seconds(30));
  auto stream = stub.Stream(&context);
  std::deque<uint64_t> in_flight;
  while (true) {
    if (in_flight.size() < kWindow) {
      const uint64_t seq = gw.next_seq++;
      in_flight.push_back(seq);  // unacked from here on, even if Write fails
      if (!stream->Write(BuildBatch(gw, seq))) break;
      if (pace.count() > 0) std::this_thread::sleep_for(pace);
      continue;
    }
    v1::IngestAck ack;
    if (!stream->Read(&ack)) break;
    const uint64_t want = in_flight.front();
    in_flight.pop_front();
    if (ack.epoch() != gw.epoch || ack.sequence() != want || ack.duplicate() ||
        ack.stored_readings() != kReadingsPerBatch || ack.rejected_readings() != 0) {
      gw.error = GatewayId(gw.index) + ": batch " + std::to_string(want) +
                 " got ack: " + ack.ShortDebugString();
      context.TryCancel();
      break;
    }
    gw.acked.insert(want);
    ++gw.acked_in_phase;
    ++acked_total;
  }
  gw.status = stream->Finish();
  ++ended;
}

// Resends every unacked batch of `gw` on a new stream; checks each ack against
// whether the batch was found stored after the restart (`present`).
void ResendUnacked(VigildProcess& vigild, Gateway& gw, const std::set<uint64_t>& present,
                   std::vector<std::string>* problems) {
  std::vector<uint64_t> unacked;
  for (uint64_t seq = 1; seq < gw.next_seq; ++seq) {
    if (gw.acked.count(seq) == 0) unacked.push_back(seq);
  }
  if (unacked.empty()) return;
  grpc::ClientContext context;
  SetDeadline(&context, std::chrono::seconds(30));
  auto stream = vigild.ingest().Stream(&context);
  std::thread writer([&] {
    for (uint64_t seq : unacked) {
      if (!stream->Write(BuildBatch(gw, seq))) break;
    }
    stream->WritesDone();
  });
  std::vector<v1::IngestAck> acks;
  v1::IngestAck ack;
  while (stream->Read(&ack)) acks.push_back(ack);
  writer.join();
  const grpc::Status status = stream->Finish();
  const std::string who = GatewayId(gw.index) + " resend: ";
  if (!status.ok()) {
    problems->push_back(who + "stream ended with " + std::to_string(status.error_code()) + " " +
                        status.error_message());
  }
  if (acks.size() != unacked.size()) {
    problems->push_back(who + std::to_string(unacked.size()) + " batches sent, " +
                        std::to_string(acks.size()) + " acks");
  }
  for (size_t i = 0; i < acks.size() && i < unacked.size(); ++i) {
    const uint64_t seq = unacked[i];
    const bool was_stored = present.count(seq) > 0;
    const v1::IngestAck& a = acks[i];
    if (a.sequence() != seq || a.epoch() != gw.epoch || a.duplicate() != was_stored ||
        a.stored_readings() != (was_stored ? 0u : kReadingsPerBatch) ||
        a.rejected_readings() != 0) {
      problems->push_back(
          who + "batch " + std::to_string(seq) +
          (was_stored ? " (stored before the crash, unacked)" : " (absent after the crash)") +
          " got ack: " + a.ShortDebugString());
    } else {
      gw.acked.insert(seq);
    }
  }
}

// Reads every sensor back and checks: timestamps strictly increasing (nothing
// twice), every reading belongs to a sent batch with the exact value, every
// batch is wholly present or wholly absent, and every acked batch is present.
// Returns the set of fully present batches per gateway.
std::vector<std::set<uint64_t>> Census(VigildProcess& vigild, const std::vector<Gateway>& gateways,
                                       std::vector<std::string>* problems) {
  std::vector<std::set<uint64_t>> present(gateways.size());
  for (const Gateway& gw : gateways) {
    std::map<uint64_t, uint32_t> count;  // batch -> readings found
    for (int j = 0; j < kSensorsPerGateway; ++j) {
      const std::string sensor = SensorId(gw.index, j);
      const int64_t end_ms =
          gw.base_ms + static_cast<int64_t>(gw.next_seq) * kReadingsPerSeries + 60'000;
      const std::vector<Reading> readings =
          ReadAll(vigild.query(), sensor, gw.base_ms - 60'000, end_ms);
      int64_t previous = std::numeric_limits<int64_t>::min();
      for (const Reading& reading : readings) {
        const std::string where = sensor + " " + ToString(reading) + ": ";
        if (reading.ts <= previous) {
          problems->push_back(where + "not after the previous reading (" +
                              std::to_string(previous) + "): duplicate or out of order");
        }
        previous = reading.ts;
        const int64_t offset = reading.ts - gw.base_ms;
        const uint64_t seq =
            offset < 0 ? 0 : static_cast<uint64_t>(offset / kReadingsPerSeries) + 1;
        if (seq == 0 || seq >= gw.next_seq) {
          problems->push_back(where + "belongs to no batch ever sent");
          continue;
        }
        const int i = static_cast<int>(offset % kReadingsPerSeries);
        const Reading want = ExpectedReading(gw, j, seq, i);
        if (!(reading == want)) {
          problems->push_back(where + "expected " + ToString(want) + " (batch " +
                              std::to_string(seq) + ")");
        }
        ++count[seq];
      }
    }
    for (uint64_t seq = 1; seq < gw.next_seq; ++seq) {
      const uint32_t found = count.count(seq) ? count[seq] : 0u;
      const bool acked = gw.acked.count(seq) > 0;
      if (found == kReadingsPerBatch) {
        present[static_cast<size_t>(gw.index)].insert(seq);
      } else if (acked || found != 0) {
        problems->push_back(GatewayId(gw.index) + " batch " + std::to_string(seq) + " (" +
                            (acked ? "acked" : "unacked") + "): " + std::to_string(found) + " of " +
                            std::to_string(kReadingsPerBatch) + " readings found");
      }
    }
  }
  return present;
}

std::string FirstProblems(const std::vector<std::string>& problems) {
  std::string text = std::to_string(problems.size()) + " problems";
  for (size_t i = 0; i < problems.size() && i < 40; ++i) text += "\n  " + problems[i];
  return text;
}

// The transitions alarm::Engine makes from the stored readings of every
// pressure sensor, run in time order through the rules vigild runs.
std::map<std::string, std::vector<std::string>> ReplayAlarms(VigildProcess& vigild,
                                                             const std::vector<Gateway>& gateways) {
  alarm::RegistryEntries entries;
  entries.enterprises.push_back(alarm::Enterprise{.id = "e-1",
                                                  .name = "Plant One",
                                                  .kind = alarm::EnterpriseKind::kHazardousChemical,
                                                  .region_code = "370105"});
  for (const Gateway& gw : gateways) {
    entries.sensors.push_back(alarm::Sensor{.id = SensorId(gw.index, 1),
                                            .enterprise_id = "e-1",
                                            .quantity = "pressure",
                                            .unit = "MPa",
                                            .range_low = 0,
                                            .range_high = 4,
                                            .expected_interval = std::chrono::seconds(1)});
  }
  auto registry = alarm::Registry::Build(std::move(entries));
  REQUIRE(registry.has_value());
  auto rules = alarm::RuleSet::Build(
      {alarm::Rule{.id = "pressure-high",
                   .selector = alarm::Selector{.quantity = "pressure", .enterprise_id = "e-1"},
                   .h = alarm::ThresholdLevel{.value = 2.0, .severity = alarm::Severity::kOrange},
                   .sensor_fault = false}},
      *registry);
  REQUIRE(rules.has_value());
  alarm::Engine engine;
  std::vector<alarm::AlarmEvent> events;
  engine.SetRuleSet(*rules, 0, &events);
  std::map<std::string, std::vector<std::string>> out;
  for (const Gateway& gw : gateways) {
    const std::string sensor = SensorId(gw.index, 1);
    const std::vector<Reading> readings =
        ReadAll(vigild.query(), sensor, gw.base_ms - 60'000,
                gw.base_ms + static_cast<int64_t>(gw.next_seq) * kReadingsPerSeries + 60'000);
    std::vector<int64_t> ts;
    std::vector<double> values;
    for (const Reading& r : readings) {
      ts.push_back(r.ts);
      values.push_back(r.value);
    }
    events.clear();
    engine.Evaluate(sensor, ts, values, {}, NowMs(), &events);
    for (const alarm::AlarmEvent& e : events) {
      out[sensor].push_back(std::string(alarm::EventKindName(e.kind)) + "/" +
                            std::string(alarm::AlarmStateName(e.record.state)));
    }
  }
  return out;
}

std::string EventName(const v1::AlarmEvent& e) {
  static const char* kKinds[] = {"?",         "raised",       "escalated", "de_escalated",
                                 "cleared",   "acknowledged", "shelved",   "unshelved",
                                 "reconciled"};
  static const char* kStates[] = {"?", "active_unacked", "active_acked", "cleared_unacked",
                                  "closed"};
  const auto kind = static_cast<size_t>(e.kind());
  const auto state = static_cast<size_t>(e.alarm().state());
  return std::string(kind < 9 ? kKinds[kind] : "?") + "/" + (state < 5 ? kStates[state] : "?");
}

// The journal is gap-free; each subscriber's events are exactly the journal's
// matching entries up to where it got, once each, in order; and the journal
// holds exactly the transitions a replay of the stored readings makes.
void CheckAlarms(VigildProcess& vigild, const std::vector<Gateway>& gateways,
                 const std::vector<std::vector<v1::AlarmEvent>>& received,
                 const std::vector<v1::AlarmFilter>& filters, std::vector<std::string>* problems) {
  grpc::Status status;
  const std::vector<v1::AlarmEvent> journal = ReadJournal(vigild.alarms(), nullptr, &status);
  if (!status.ok()) {
    problems->push_back("reading the journal: " + status.error_message());
    return;
  }
  for (size_t i = 0; i < journal.size(); ++i) {
    if (journal[i].seq() != i + 1) {
      problems->push_back("journal entry " + std::to_string(i) + " has seq " +
                          std::to_string(journal[i].seq()) + ": a gap or a duplicate");
      return;
    }
  }
  for (size_t w = 0; w < received.size(); ++w) {
    const auto& got = received[w];
    const uint64_t through = got.empty() ? 0 : got.back().seq();
    std::vector<uint64_t> want;
    for (const v1::AlarmEvent& e : journal) {
      const bool matches = filters[w].enterprise_ids().empty() ||
                           e.alarm().enterprise_id() == filters[w].enterprise_ids(0);
      if (matches && e.seq() <= through) want.push_back(e.seq());
    }
    std::vector<uint64_t> seqs;
    for (const v1::AlarmEvent& e : got) seqs.push_back(e.seq());
    if (seqs != want) {
      problems->push_back("subscriber " + std::to_string(w) + " received " +
                          std::to_string(seqs.size()) + " events, the journal has " +
                          std::to_string(want.size()) + " up to seq " + std::to_string(through) +
                          " (gap, duplicate or disorder)");
    }
  }
  std::map<std::string, std::vector<std::string>> journaled;
  for (const v1::AlarmEvent& e : journal) journaled[e.alarm().sensor_id()].push_back(EventName(e));
  const auto replayed = ReplayAlarms(vigild, gateways);
  if (journaled != replayed) {
    for (const auto& [sensor, events] : replayed) {
      const auto& j = journaled[sensor];
      if (j != events) {
        problems->push_back(sensor + ": journal has " + std::to_string(j.size()) +
                            " transitions, a replay of the stored readings makes " +
                            std::to_string(events.size()));
      }
    }
    if (problems->empty()) problems->push_back("journal names sensors the replay does not");
  }
}

// Bytes of the files under `dir`.
uint64_t DirBytes(const std::filesystem::path& dir) {
  uint64_t bytes = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir, ec)) {
    if (entry.is_regular_file(ec)) bytes += entry.file_size(ec);
  }
  return bytes;
}

// Readings the store was asked to put into chunks since vigild started:
// written, or left out as stored already.
struct ReplayWork {
  uint64_t written = 0;
  uint64_t repeated = 0;
  uint64_t sealed() const { return written + repeated; }
};
ReplayWork ReadReplayWork(VigildProcess& vigild) {
  const std::string metrics = HttpGetMetrics(vigild.metrics_address());
  return {static_cast<uint64_t>(Sample(metrics, "vigil_chunk_readings_written_total")),
          static_cast<uint64_t>(Sample(metrics, "vigil_chunk_readings_repeated_total"))};
}

struct Cycle {
  // Kill once at least this many batches were acked in the cycle...
  uint64_t min_acks = 0;
  // ...and at least this long after ingest started (bounded by kMaxIngestPhase).
  milliseconds min_run{0};
};

void RunCrashCycles(const std::string& config, milliseconds pace,
                    const std::vector<Cycle>& cycles) {
  testing::TempDir dir;
  std::ofstream(dir / "rules.yaml") << kRulesYaml;
  VigildProcess::Options options;
  options.config_yaml = config + "rules_file: " + (dir / "rules.yaml").string() +
                        "\nalarms: { heartbeat_interval: 200ms }\n";
  options.registry_yaml = kRegistryYaml;
  VigildProcess vigild(options);
  vigild.Start();
  // Two command centers watch throughout, resuming by seq after each restart.
  std::vector<v1::AlarmFilter> filters(2);
  filters[1].add_enterprise_ids("e-1");
  filters[1].add_alarm_kinds(v1::ALARM_KIND_THRESHOLD);
  std::vector<std::vector<v1::AlarmEvent>> received(filters.size());
  std::vector<uint64_t> cursors(filters.size(), 0);
  const bool verbose = std::getenv("VIGIL_E2E_VERBOSE") != nullptr;
  uint64_t readings_checked = 0;  // summed over cycles: every census reads everything back
  uint64_t sent_at_restart = 0;   // batches sent (all gateways) before the last restart
  uint64_t resent = 0;            // batches resent after the last restart

  std::vector<Gateway> gateways(kGateways);
  const int64_t base = NowMs() - 20 * 60'000;
  for (int g = 0; g < kGateways; ++g) {
    gateways[static_cast<size_t>(g)].index = g;
    gateways[static_cast<size_t>(g)].epoch = 1'700'000'000'000ull + static_cast<uint64_t>(g);
    // Gateways own different sensors: the same timestamps do not collide.
    gateways[static_cast<size_t>(g)].base_ms = base;
  }

  for (size_t c = 0; c < cycles.size(); ++c) {
    INFO("kill cycle " << c + 1 << " of " << cycles.size());
    std::atomic<uint64_t> acked_total{0};
    std::atomic<int> ended{0};
    std::vector<std::unique_ptr<Watch>> watches;
    for (size_t w = 0; w < filters.size(); ++w) {
      watches.push_back(std::make_unique<Watch>(vigild.alarms(), nullptr, filters[w], cursors[w]));
    }
    std::vector<std::thread> threads;
    for (Gateway& gw : gateways) {
      gw.error.clear();
      gw.acked_in_phase = 0;
      threads.emplace_back(StreamUntilBroken, std::ref(vigild.ingest()), std::ref(gw), pace,
                           std::ref(acked_total), std::ref(ended));
    }
    // Bounded polling for the moment to kill.
    const auto start = std::chrono::steady_clock::now();
    while (true) {
      const auto elapsed = std::chrono::steady_clock::now() - start;
      if (ended.load() > 0 || elapsed >= kMaxIngestPhase) break;
      if (acked_total.load() >= cycles[c].min_acks && elapsed >= cycles[c].min_run) break;
      std::this_thread::sleep_for(milliseconds(1));
    }
    const int ended_before_kill = ended.load();
    const uint64_t acked_before_kill = acked_total.load();
    const auto ran =
        std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start);
    vigild.Kill9();
    for (std::thread& thread : threads) thread.join();
    for (size_t w = 0; w < watches.size(); ++w) {
      watches[w]->Stop();
      for (const v1::AlarmEvent& e : watches[w]->Events()) {
        if (e.seq() > cursors[w]) received[w].push_back(e);
      }
      cursors[w] = std::max(cursors[w], watches[w]->Cursor());
    }

    std::string streams;
    for (const Gateway& gw : gateways) {
      streams += "\n  " + GatewayId(gw.index) + ": next_seq " + std::to_string(gw.next_seq) +
                 ", acked this phase " + std::to_string(gw.acked_in_phase) + ", stream status " +
                 std::to_string(gw.status.error_code()) + " \"" + gw.status.error_message() + "\"" +
                 (gw.error.empty() ? "" : ", error: " + gw.error);
    }
    INFO("ingest ran " << ran.count() << " ms before SIGKILL, " << acked_before_kill
                       << " batches acked; streams:" << streams);
    for (const Gateway& gw : gateways) CHECK(gw.error.empty());
    REQUIRE(ended_before_kill == 0);
    REQUIRE(acked_before_kill > 0);

    const auto restart_start = std::chrono::steady_clock::now();
    vigild.Restart();
    const auto serve_ms =
        std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - restart_start)
            .count();
    std::vector<std::string> problems;
    const std::vector<std::set<uint64_t>> present = Census(vigild, gateways, &problems);
    {
      INFO("after restart: " << FirstProblems(problems));
      REQUIRE(problems.empty());
    }
    // Replay work is bounded by what came since the last restart (which
    // checkpoints after its replay): it must not grow with the cycles.
    // Census read every sensor, so every chunk replay sealed is written.
    uint64_t sent_batches = 0;
    for (const Gateway& gw : gateways) sent_batches += gw.next_seq - 1;
    const ReplayWork work = ReadReplayWork(vigild);
    {
      INFO("cycle " << c + 1 << ": replay sealed " << work.sealed() << " readings, " << work.written
                    << " written; batches sent since the last restart: "
                    << sent_batches - sent_at_restart << ", resent after it " << resent);
      CHECK(work.sealed() <= (sent_batches - sent_at_restart + resent) * kReadingsPerBatch);
    }
    sent_at_restart = sent_batches;
    if (verbose) {
      std::cout << "crash_cycle " << c + 1 << " serve_ms " << serve_ms << " data_bytes "
                << DirBytes(vigild.data_dir()) << " replay_written " << work.written
                << " replay_repeated " << work.repeated << "\n";
    }
    if (verbose) {
      for (const Gateway& gw : gateways) {
        const size_t sent = gw.next_seq - 1;
        const size_t stored_unacked =
            present[static_cast<size_t>(gw.index)].size() - gw.acked.size();
        std::cout << "cycle " << c + 1 << " " << GatewayId(gw.index) << ": sent " << sent
                  << ", acked " << gw.acked.size() << ", unacked " << sent - gw.acked.size()
                  << " of which stored " << stored_unacked << " (ran " << ran.count() << " ms)\n";
      }
    }

    resent = 0;
    for (Gateway& gw : gateways) {
      resent += gw.next_seq - 1 - gw.acked.size();
      ResendUnacked(vigild, gw, present[static_cast<size_t>(gw.index)], &problems);
    }
    {
      INFO("resending unacked batches: " << FirstProblems(problems));
      REQUIRE(problems.empty());
    }
    const std::vector<std::set<uint64_t>> complete = Census(vigild, gateways, &problems);
    {
      INFO("after resending: " << FirstProblems(problems));
      REQUIRE(problems.empty());
    }
    CheckAlarms(vigild, gateways, received, filters, &problems);
    INFO("alarms after cycle " << c + 1 << ": " << FirstProblems(problems));
    REQUIRE(problems.empty());
    if (verbose) {
      std::cout << "cycle " << c + 1 << ": subscriber events " << received[0].size() << ", "
                << received[1].size() << "\n";
    }
    readings_checked +=
        static_cast<uint64_t>(kGateways) * (gateways[0].next_seq - 1) * kReadingsPerBatch;
    for (const Gateway& gw : gateways) {
      INFO(GatewayId(gw.index));
      CHECK(complete[static_cast<size_t>(gw.index)].size() == gw.next_seq - 1);
      CHECK(gw.acked.size() == gw.next_seq - 1);
    }
  }
  if (verbose) {
    uint64_t acked = 0;
    for (const Gateway& gw : gateways) acked += gw.acked.size();
    std::cout << "crash_cycles " << cycles.size() << " count\n"
              << "crash_batches_acked " << acked << " count\n"
              << "crash_readings_checked " << readings_checked << " count\n"
              << "crash_journal_events_checked " << received[0].size() << " count\n"
              << "crash_losses 0 count\n";
  }
}

// ---- Replay cost and alarm identity across kill -9 ----

// Sensor ids p-0, p-1, ... split by the shard (of `shards`) that owns them.
std::vector<std::vector<std::string>> SensorsByShard(uint32_t shards, size_t per_shard) {
  std::vector<std::vector<std::string>> out(shards);
  for (int i = 0;
       std::any_of(out.begin(), out.end(), [&](const auto& ids) { return ids.size() < per_shard; });
       ++i) {
    const std::string id = "p-" + std::to_string(i);
    auto& ids = out[alarm::ShardOf(id, shards)];
    if (ids.size() < per_shard) ids.push_back(id);
  }
  return out;
}

std::string PressureRegistry(const std::vector<std::string>& sensors) {
  std::string yaml =
      "enterprises:\n  - { id: e-1, name: Plant One, kind: hazardous_chemical, region_code: "
      "\"370105\" }\nsensors:\n";
  for (const std::string& id : sensors) {
    yaml += "  - { id: " + id +
            ", enterprise: e-1, quantity: pressure, unit: MPa, range: [0, 4], "
            "expected_interval: 1s }\n";
  }
  return yaml + "gateways:\n  - { id: gw-1, enterprise: e-1 }\n";
}

// One batch of gw-1: `readings` readings of each sensor, the i-th at
// base_ms + i, all `value`; acked as stored (REQUIREd).
void SendAll(VigildProcess& vigild, uint64_t sequence, const std::vector<std::string>& sensors,
             int64_t base_ms, int readings, double value) {
  v1::IngestBatch batch;
  batch.set_gateway_id("gw-1");
  batch.set_epoch(1);
  batch.set_sequence(sequence);
  for (const std::string& id : sensors) {
    v1::Series* series = batch.add_series();
    series->set_sensor_id(id);
    for (int i = 0; i < readings; ++i) {
      series->add_timestamps_ms(base_ms + i);
      series->add_values(value + i * 1e-3);
    }
  }
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::IngestAck ack;
  const grpc::Status status = vigild.ingest().Write(&context, batch, &ack);
  INFO(status.error_message());
  REQUIRE(status.ok());
  REQUIRE(ack.stored_readings() == sensors.size() * static_cast<size_t>(readings));
}

}  // namespace

TEST_CASE("kill -9 during ingest loses no acked batch and stores none twice", "[e2e][crash]") {
  RunCrashCycles(
      "storage: { durability: wal }\n", milliseconds(0),
      {Cycle{40, milliseconds(0)}, Cycle{70, milliseconds(0)}, Cycle{100, milliseconds(0)}});
}

TEST_CASE("kill -9 cycles: no acked reading lost, journal gap-free, subscribers exact",
          "[e2e][crash][alarms]") {
  // VIGIL_CRASH_CYCLES sets the count (tests/e2e/run_crash_cycles.sh runs 200).
  int count = 20;
  if (const char* env = std::getenv("VIGIL_CRASH_CYCLES")) count = std::max(1, std::atoi(env));
  std::vector<Cycle> cycles;
  for (int i = 0; i < count; ++i) {
    // Kill at varied moments: after 10..60 acked batches, some after a checkpoint.
    cycles.push_back(
        Cycle{static_cast<uint64_t>(10 + (i * 17) % 51), milliseconds(i % 4 == 3 ? 1200 : 0)});
  }
  RunCrashCycles("storage: { durability: wal, checkpoint_interval: 1s, chunk_max_readings: 16 }\n",
                 milliseconds(2), cycles);
}

TEST_CASE("kill -9 across chunk sealing and 1 s checkpoints loses no acked batch", "[e2e][crash]") {
  // 16-reading chunks fill every two batches. A checkpoint round runs every
  // second; the log is truncated from the second round on (~2 s after start).
  // So the first kill comes after chunks were sealed but before any
  // truncation, the next ones after one and two truncations.
  RunCrashCycles("storage: { durability: wal, checkpoint_interval: 1s, chunk_max_readings: 16 }\n",
                 milliseconds(5),
                 {Cycle{40, milliseconds(1300)}, Cycle{40, milliseconds(2400)},
                  Cycle{40, milliseconds(3300)}});
}

TEST_CASE("A torn write-ahead-log tail is skipped and reported, nothing acked is lost",
          "[e2e][crash][faults]") {
  VigildProcess vigild(
      {.config_yaml = "storage: { durability: fsync }\n", .registry_yaml = kRegistryYaml});
  vigild.Start();
  Gateway gw;
  gw.epoch = 7;
  gw.base_ms = NowMs() - 60'000;
  for (uint64_t seq = 1; seq <= 30; ++seq) {
    grpc::ClientContext context;
    SetDeadline(&context);
    v1::IngestAck ack;
    REQUIRE(vigild.ingest().Write(&context, BuildBatch(gw, seq), &ack).ok());
    REQUIRE(ack.stored_readings() == kReadingsPerBatch);
    gw.acked.insert(seq);
  }
  gw.next_seq = 31;
  vigild.Kill9();
  // The crash left a half-written record after the last synced one: garbage
  // at the end of the newest WAL file.
  std::filesystem::path newest;
  for (const auto& entry : std::filesystem::directory_iterator(vigild.data_dir())) {
    if (entry.path().extension() == ".log" &&
        (newest.empty() || entry.path().filename() > newest.filename())) {
      newest = entry.path();
    }
  }
  REQUIRE(!newest.empty());
  {
    std::ofstream wal(newest, std::ios::binary | std::ios::app);
    std::string garbage(300, '\0');
    for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<char>(i * 37 + 11);
    wal << garbage;
  }
  vigild.Restart();
  std::vector<std::string> problems;
  const std::vector<std::set<uint64_t>> present = Census(vigild, {gw}, &problems);
  INFO(FirstProblems(problems));
  CHECK(problems.empty());
  CHECK(present[0].size() == 30);
  CHECK(vigild.Output().find("event=wal_tail_dropped") != std::string::npos);
}

TEST_CASE(
    "kill -9 before any checkpoint: each restart replays only what came since the last one "
    "and writes no stored reading again",
    "[e2e][crash]") {
  // 16-reading chunks and no timed checkpoint: every kill lands before one.
  const std::vector<std::string> sensors = {"p-0", "p-1", "p-2", "p-3"};
  constexpr int kBatches = 25;
  constexpr int kPerSeries = 8;
  constexpr uint64_t kPerCycle = kBatches * kPerSeries * 4;
  VigildProcess vigild({.config_yaml = "storage: { durability: wal, checkpoint_interval: 1h, "
                                       "chunk_max_readings: 16 }\n",
                        .registry_yaml = PressureRegistry(sensors)});
  vigild.Start();
  const int64_t base = NowMs() - 30 * 60'000;
  uint64_t sequence = 1;
  for (int cycle = 1; cycle <= 4; ++cycle) {
    INFO("cycle " << cycle);
    for (int b = 0; b < kBatches; ++b, ++sequence) {
      SendAll(vigild, sequence, sensors, base + static_cast<int64_t>(sequence) * kPerSeries,
              kPerSeries, 1.0);
    }
    // Reads write every sealed chunk: at the kill only open heads are not
    // in chunks (at most 16 readings per sensor).
    for (const std::string& id : sensors) ReadAll(vigild.query(), id, base, NowMs());
    vigild.Kill9();
    vigild.Restart();
    for (const std::string& id : sensors) {
      CHECK(ReadAll(vigild.query(), id, base, NowMs()).size() ==
            (sequence - 1) * static_cast<uint64_t>(kPerSeries));
    }
    const ReplayWork work = ReadReplayWork(vigild);
    INFO("replay sealed " << work.sealed() << " readings, wrote " << work.written);
    // Only this cycle's readings are replayed (the last start checkpointed)...
    CHECK(work.sealed() <= kPerCycle);
    // ...and of those only the ones still in heads at the kill are written.
    CHECK(work.written <= 16 * sensors.size());
  }
}

TEST_CASE("kill -9 keeps alarm ids: no reconciled transition when nothing changed",
          "[e2e][crash][alarms]") {
  // Shard 0 raises three alarms; a restart snapshots both engines (counters
  // 4 and 1) before serving; then shard 1 raises its first. Replayed after
  // kill -9, that alarm must be numbered as the run numbered it.
  const auto by_shard = SensorsByShard(2, 3);
  std::vector<std::string> sensors = by_shard[0];
  sensors.push_back(by_shard[1][0]);
  testing::TempDir dir;
  std::ofstream(dir / "rules.yaml") << kRulesYaml;
  VigildProcess vigild(
      {.config_yaml = "server: { shards: 2 }\nstorage: { durability: wal, checkpoint_interval: "
                      "1h }\nrules_file: " +
                      (dir / "rules.yaml").string() + "\nalarms: { heartbeat_interval: 200ms }\n",
       .registry_yaml = PressureRegistry(sensors)});
  vigild.Start();
  const int64_t base = NowMs() - 10 * 60'000;
  SendAll(vigild, 1, by_shard[0], base, 1, 3.0);
  vigild.Kill9();
  vigild.Restart();  // replays, then snapshots
  SendAll(vigild, 2, {by_shard[1][0]}, base + 1000, 1, 3.0);

  auto alarm_ids = [&] {
    grpc::Status status;
    std::map<std::string, uint64_t> ids;
    std::string reconciled;
    for (const v1::AlarmEvent& e : ReadJournal(vigild.alarms(), nullptr, &status)) {
      if (e.kind() == v1::ALARM_EVENT_KIND_RECONCILED) reconciled += e.ShortDebugString() + "\n";
      ids[e.alarm().sensor_id()] = e.alarm().alarm_id();
    }
    REQUIRE(status.ok());
    return std::make_pair(ids, reconciled);
  };
  const auto before = alarm_ids();
  REQUIRE(before.first.size() == 4);
  CHECK(before.second.empty());
  vigild.Kill9();
  vigild.Restart();
  const auto after = alarm_ids();
  CHECK(after.second == "");
  CHECK(after.first == before.first);
}

}  // namespace vigil::e2e
