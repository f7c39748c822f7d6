// BacktestDesk: a rule backtest against the server's own history, without
// gRPC (the RulesBacktest service calls it on its thread; tests call it
// directly). It parses and resolves the proposed rules against the registry
// in force, replays the stored readings (alarm/backtest.h) and compares with
// the alarm journal of the period. See docs/backtest.md.
//
// Reads: chunks at one store snapshot, page by page per sensor; once a
// sensor's chunks at that snapshot are used up, its open head on its shard
// (one small shard task a page, as a history query does) merged with the
// chunks at the snapshot taken on the same shard turn. The journal of the
// period, once. Nothing is written.
//
// Thread-safety: Run blocks (store reads, waits for shard tasks); call it
// from a thread of its own, never a shard, gRPC or control thread. One Run
// at a time per desk is not required, but each costs its own memory.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "alarm/backtest.h"
#include "alarm/registry.h"
#include "alarm/status.h"
#include "server/pipeline/shard.h"
#include "storage/chunk_store.h"
#include "storage/journal_store.h"

namespace vigil::server {

struct BacktestQuery {
  std::string rules_yaml;
  alarm::TimestampMs from = 0;
  alarm::TimestampMs to = 0;
  std::string region_prefix;
  alarm::TimestampMs warmup_ms = 0;  // 0: kDefaultBacktestWarmupMs
  uint32_t top = 0;                  // 0: 10
  uint32_t page_readings = 0;        // 0: chosen (kBacktestBufferedReadings)
};

inline constexpr alarm::TimestampMs kDefaultBacktestWarmupMs = 3'600'000;
inline constexpr alarm::TimestampMs kMaxBacktestWarmupMs = alarm::TimestampMs{31} * 86'400'000;
inline constexpr uint32_t kMaxBacktestTop = 1000;
// Readings held in page buffers over all sensors when page_readings is 0:
// 4 Mi readings, 96 MiB (24 bytes each), with 16 .. 4096 per sensor.
inline constexpr uint64_t kBacktestBufferedReadings = uint64_t{1} << 22;

struct BacktestOutcome {
  alarm::BacktestReport report;
  alarm::BacktestReplayStats replay;
  uint32_t page_readings = 0;
  std::vector<std::string> caveats;
  int64_t elapsed_ms = 0;
};

class BacktestDesk {
 public:
  // Pointers must outlive the desk and every Run.
  BacktestDesk(storage::ChunkStore* chunks, storage::JournalStore* journal, ShardSet* shards)
      : chunks_(chunks), journal_(journal), shards_(shards) {}

  // Errors: kInvalidArgument (rules, range, warm-up, top, region), the
  // store's, kResourceExhausted (too many transitions), kAborted when `stop`
  // turned true (it is asked now and then, and while waiting for a shard).
  alarm::Result<BacktestOutcome> Run(const BacktestQuery& query,
                                     std::shared_ptr<const alarm::Registry> registry,
                                     std::function<bool()> stop) const;

 private:
  storage::ChunkStore* chunks_;
  storage::JournalStore* journal_;
  ShardSet* shards_;
};

}  // namespace vigil::server
