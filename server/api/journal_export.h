// JournalExport: builds the text of one alarm journal export file (format in
// docs/journal-integrity.md): JSON lines, a header line, one line per
// chained entry (seq, chain hash, the stored bytes in base64, the entry's
// fields in words) and an end line. The chain hashes are the stored ones, so
// a tampered store exports a chain that does not recompute. Values in, text
// out: no store, no gRPC, no clock. Not thread-safe (one export).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "alarm/types.h"
#include "storage/journal_chain.h"

namespace vigil::server {

struct JournalExportHeader {
  uint64_t genesis_seq = 0;         // first chained seq of the store
  uint64_t from_seq = 0;            // first entry of the export
  storage::ChainHash prev_hash{};   // h(from_seq - 1)
  uint64_t requested_from_seq = 0;  // the range asked for (0: open)
  uint64_t requested_to_seq = 0;
  alarm::TimestampMs exported_at = 0;
  std::string signing_key_sha256{};  // 64 hex
};

class JournalExport {
 public:
  // Starts the file with the header line. The whole file stays below
  // `max_bytes` (at least 4 KiB).
  JournalExport(const JournalExportHeader& header, uint64_t max_bytes);

  // Appends the line of entry `seq` (stored bytes `entry`, stored hash
  // `hash`). False, and nothing appended, when the line would take the file
  // past max_bytes (the export is then incomplete).
  bool Add(uint64_t seq, std::string_view entry, const storage::ChainHash& hash);

  // Appends the end line and hands over the file.
  // `complete`: every entry of the range asked for was added.
  std::string Finish(bool complete);

  uint64_t entries() const { return entries_; }
  uint64_t last_seq() const { return last_seq_; }  // from_seq - 1 when no entry
  const storage::ChainHash& last_hash() const { return last_hash_; }

 private:
  std::string out_;
  uint64_t max_bytes_;
  uint64_t from_seq_;
  uint64_t entries_ = 0;
  uint64_t last_seq_;
  storage::ChainHash last_hash_;
  std::string line_;  // reused for each entry
};

// Standard base64 (RFC 4648, with padding), as `base64 -d` reads it.
std::string Base64(std::string_view bytes);

}  // namespace vigil::server
