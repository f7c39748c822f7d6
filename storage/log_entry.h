// LogEntry: one record of the ingest log, the totally ordered input of the
// shards. It is a stored gateway batch (an IngestRecord) or a control record
// (control_record.h: a timer tick, an operator action on an alarm, a rules
// change), stamped with the time the storage writer committed it. Replaying
// the log therefore replays exactly what every shard saw, in order, with the
// same clock; alarm evaluation is deterministic over it.
//
// Stored value layout (8-byte aligned, host little-endian):
//   u32 magic "VGL1", u32 kind, i64 stored_at_ms, payload
// A bare IngestRecord (magic "VGR1", written before control records existed)
// reads as a batch with stored_at 0.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string_view>

#include "alarm/status.h"
#include "alarm/types.h"

namespace vigil::storage {

enum class LogEntryKind : uint32_t { kBatch = 1, kControl = 2 };

inline constexpr size_t kLogEntryHeaderBytes = 16;

struct LogEntry {
  LogEntryKind kind = LogEntryKind::kBatch;
  alarm::TimestampMs stored_at = 0;  // commit time; 0 when unknown (legacy record)
  std::string_view payload;          // IngestRecord or control record bytes
};

// The 16-byte header of an entry; the payload follows it.
void EncodeLogEntryHeader(LogEntryKind kind, alarm::TimestampMs stored_at, char out[16]);

// Splits a stored value. The payload keeps the value's alignment plus 16.
// kCorruption on a short value, an unknown magic or kind.
alarm::Result<LogEntry> ParseLogEntry(std::string_view value);

}  // namespace vigil::storage
