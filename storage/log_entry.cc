#include "storage/log_entry.h"

#include <cstring>

namespace vigil::storage {
namespace {

constexpr uint32_t kEntryMagic = 0x314c4756;   // "VGL1"
constexpr uint32_t kLegacyMagic = 0x31524756;  // "VGR1": a bare IngestRecord

}  // namespace

void EncodeLogEntryHeader(LogEntryKind kind, alarm::TimestampMs stored_at, char out[16]) {
  const uint32_t magic = kEntryMagic;
  const auto k = static_cast<uint32_t>(kind);
  std::memcpy(out, &magic, 4);
  std::memcpy(out + 4, &k, 4);
  std::memcpy(out + 8, &stored_at, 8);
}

alarm::Result<LogEntry> ParseLogEntry(std::string_view value) {
  uint32_t magic = 0;
  if (value.size() >= 4) std::memcpy(&magic, value.data(), 4);
  if (magic == kLegacyMagic) return LogEntry{.kind = LogEntryKind::kBatch, .payload = value};
  if (value.size() < kLogEntryHeaderBytes || magic != kEntryMagic) {
    return alarm::Status::Corruption("ingest log entry: bad header");
  }
  uint32_t kind = 0;
  LogEntry entry;
  std::memcpy(&kind, value.data() + 4, 4);
  std::memcpy(&entry.stored_at, value.data() + 8, 8);
  if (kind != static_cast<uint32_t>(LogEntryKind::kBatch) &&
      kind != static_cast<uint32_t>(LogEntryKind::kControl)) {
    return alarm::Status::Corruption("ingest log entry: unknown kind " + std::to_string(kind));
  }
  entry.kind = static_cast<LogEntryKind>(kind);
  entry.payload = value.substr(kLogEntryHeaderBytes);
  return entry;
}

}  // namespace vigil::storage
