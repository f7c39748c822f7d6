// The alarm journal hash chain's cost per entry (docs/journal-integrity.md):
// encoding a typical entry (what the journal thread did before), and the
// SHA-256 chain step over its bytes that the thread now adds. Run:
//   build/bench/journal_chain_bench --benchmark_min_time=0.5
#include <benchmark/benchmark.h>

#include <string>

#include "storage/alarm_codec.h"
#include "storage/journal_chain.h"

namespace vigil::storage {
namespace {

alarm::JournalEntry TypicalEntry() {
  alarm::JournalEntry e;
  e.seq = 123'456'789;
  e.alarm_id = 123'456'000;
  e.event.kind = alarm::EventKind::kRaised;
  e.event.record.source_id = "370105-e-jinan-tank-07-temperature";
  e.event.record.rule_id = "temperature-high";
  e.event.record.alarm = alarm::AlarmKind::kThreshold;
  e.event.record.state = alarm::AlarmState::kActiveUnacked;
  e.event.record.severity = alarm::Severity::kOrange;
  e.event.value = 61.25;
  e.event.at = 1'733'600'000'000;
  e.enterprise_id = "e-jinan-tianqiao";
  e.region_code = "370105";
  e.enterprise_kind = alarm::EnterpriseKind::kHazardousChemical;
  return e;
}

void BM_EncodeEntry(benchmark::State& state) {
  const alarm::JournalEntry entry = TypicalEntry();
  for (auto _ : state) benchmark::DoNotOptimize(EncodeJournalEntry(entry));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EncodeEntry);

void BM_ChainHash(benchmark::State& state) {
  const std::string bytes = EncodeJournalEntry(TypicalEntry());
  state.counters["entry_bytes"] = static_cast<double>(bytes.size());
  ChainHash head{};
  for (auto _ : state) {
    head = NextChainHash(head, bytes);
    benchmark::DoNotOptimize(head);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ChainHash);

}  // namespace
}  // namespace vigil::storage

BENCHMARK_MAIN();
