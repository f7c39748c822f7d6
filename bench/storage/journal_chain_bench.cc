// The alarm journal hash chain's cost per entry (docs/journal-integrity.md):
// encoding a typical entry (what the journal thread did before), the SHA-256
// chain step over its bytes that the thread now adds, and the whole journal
// write (RocksDB, WAL not synced, groups of 256: entry, its two index keys
// and its hash key) into a temporary folder. Run:
//   build/bench/journal_chain_bench --benchmark_min_time=0.5
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "storage/alarm_codec.h"
#include "storage/journal_chain.h"
#include "storage/store.h"

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

void BM_WriteJournal(benchmark::State& state) {
  char dir_template[] = "/tmp/journal-chain-bench-XXXXXX";
  const char* dir = mkdtemp(dir_template);
  if (dir == nullptr) {
    state.SkipWithError("mkdtemp failed");
    return;
  }
  {
    auto store = Store::Open({.dir = std::filesystem::path(dir) / "db", .sync = false});
    if (!store) {
      state.SkipWithError("cannot open the store");
      return;
    }
    const size_t group = static_cast<size_t>(state.range(0));
    alarm::JournalEntry entry = TypicalEntry();
    ChainHash head{};
    uint64_t seq = 0;
    std::vector<std::string> bytes(group);
    std::vector<JournalAppend> appends(group);
    for (auto _ : state) {
      for (size_t i = 0; i < group; ++i) {
        entry.seq = ++seq;
        bytes[i] = EncodeJournalEntry(entry);
        head = NextChainHash(head, bytes[i]);
        appends[i] = {.seq = seq,
                      .alarm_id = seq,
                      .at = entry.event.at + static_cast<int64_t>(seq),
                      .entry = bytes[i],
                      .hash = head};
      }
      if (!(*store)->WriteJournal({.entries = appends}).ok()) {
        state.SkipWithError("write failed");
        break;
      }
    }
    state.SetItemsProcessed(state.iterations() * state.range(0));
  }
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_WriteJournal)->Arg(256)->UseRealTime();

}  // namespace
}  // namespace vigil::storage

BENCHMARK_MAIN();
