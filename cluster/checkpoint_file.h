// The JetStream ingest log's local state: where replay starts and the gateway
// watermarks through a position, in one small file replaced atomically (write
// a temporary file, fsync it, rename it over the old one, fsync the folder),
// so after a crash it is the old state or the new one, never a torn one.
// The stream itself is not truncated by a checkpoint: it is shared by every
// node and retained by its limits (max_age / max_bytes).
// Layout (little-endian): u32 magic "VGC2", u64 replay_from, u64 marks_through,
// i64 clock_ms, i64 last_tick_second, u64 count, count x (u32 gateway_len,
// gateway bytes, u64 epoch, u64 sequence). "VGC1" files (no clock_ms and
// last_tick_second: read as 0) still load.
// Thread-safety: pure functions over the file; one writer at a time.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <unordered_map>

#include "alarm/status.h"
#include "alarm/types.h"
#include "storage/keys.h"

namespace vigil::cluster {

struct CheckpointState {
  // First position replay must visit (every entry below lives in chunks).
  uint64_t replay_from = 0;
  // The watermarks cover every entry below this position; entries at or above
  // it are read from the stream at open.
  uint64_t marks_through = 0;
  std::unordered_map<std::string, storage::Watermark> marks;
  // The follower's clock and last applied tick through marks_through
  // (storage::AppliedState); 0 when saved by the log's own Checkpoint.
  alarm::TimestampMs clock_ms = 0;
  int64_t last_tick_second = 0;
};

// nullopt when the file does not exist; kCorruption when it does not parse;
// kIOError when it cannot be read.
alarm::Result<std::optional<CheckpointState>> LoadCheckpoint(const std::filesystem::path& file);

// Replaces `file` with `state`, durably. kIOError on any failure (the old file
// stays as it was).
alarm::Status SaveCheckpoint(const std::filesystem::path& file, const CheckpointState& state);

}  // namespace vigil::cluster
