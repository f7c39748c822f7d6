// Byte encodings of alarm values kept in RocksDB: journal entries (the alarm
// journal and the open-alarm table) and shard snapshots of the alarm engine.
// Versioned by a leading byte; decoding checks every length. Thread-safety:
// pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "alarm/engine.h"
#include "alarm/journal.h"
#include "alarm/status.h"

namespace vigil::storage {

std::string EncodeJournalEntry(const alarm::JournalEntry& entry);
// kCorruption when `bytes` is not one well-formed entry.
alarm::Result<alarm::JournalEntry> DecodeJournalEntry(std::string_view bytes);

// A planned-work window (control records of the ingest log carry it).
std::string EncodePlannedWork(const alarm::PlannedWork& work);
// kCorruption when `bytes` is not one well-formed window.
alarm::Result<alarm::PlannedWork> DecodePlannedWork(std::string_view bytes);

// One evaluator shard's alarm engine, as of the log entry `through_log_seq`
// (every entry up to it was evaluated, none after).
struct ShardSnapshot {
  uint32_t shard = 0;
  uint32_t shard_count = 1;
  uint64_t through_log_seq = 0;
  alarm::EngineSnapshot engine{};
};

std::string EncodeShardSnapshot(const ShardSnapshot& snapshot);
alarm::Result<ShardSnapshot> DecodeShardSnapshot(std::string_view bytes);

}  // namespace vigil::storage
