// The JetStream message that carries one IngestLog group: its entries framed
// inside one message body, so a group is stored atomically under one stream
// sequence and its entries get consecutive positions (stream seq << 16) + index.
//
// Layout "VGJ1" (little-endian; varint = LEB128 unsigned; zz = zigzag varint):
//   u32 magic "VGJ1", varint entry_count (1..kMaxGroupEntries),
//   i64 stored_at_ms of the first entry (8 bytes), then per entry:
//   u8 kind (1 batch, 2 control), zz stored_at delta from the first entry,
//   varint gateway_len, gateway bytes, varint epoch, varint sequence
//   (a control entry: 0, 0, 0), varint record_len, record bytes
// About 20 bytes per entry besides the record; a batch's readings are in its
// IngestRecord. A new layout takes a new magic; readers keep reading VGJ1.
//
// The message id (Nats-Msg-Id, the JetStream dedupe key): a digest of the
// group's batch identities (gateway, epoch, sequence) in order, so publishing
// the same batches again as a group -- a retry after a lost acknowledgement --
// is dropped by the stream's duplicate window. A group holding a control
// entry has no gateway identity: its id is a per-process nonce and counter
// (unique, so two equal control records are never merged).
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "alarm/status.h"
#include "storage/ingest_log.h"

namespace vigil::cluster {

// Entries a group may hold: positions reserve 16 bits for the index.
inline constexpr size_t kMaxGroupEntries = 65536;
inline constexpr int kIndexBits = 16;

// (stream sequence, index in the message) <-> log position.
constexpr uint64_t PositionOf(uint64_t stream_seq, uint64_t index) {
  return (stream_seq << kIndexBits) | index;
}
constexpr uint64_t StreamSeqOf(uint64_t position) { return position >> kIndexBits; }
constexpr uint64_t IndexOf(uint64_t position) {
  return position & ((uint64_t{1} << kIndexBits) - 1);
}

// Appends the encoded `group` to *out (cleared first).
// REQUIRES: 1 <= group.size() <= kMaxGroupEntries.
void EncodeGroup(std::span<const storage::LogAppend> group, std::string* out);

// One decoded entry; views into the message body.
struct GroupEntry {
  storage::LogEntryKind kind = storage::LogEntryKind::kBatch;
  alarm::TimestampMs stored_at = 0;
  std::string_view gateway_id;  // empty for a control entry
  storage::Watermark watermark;
  std::string_view record;
};

// Calls `visit(index, entry)` for each entry in order; stops at the first
// error `visit` returns. kCorruption when `body` is not a VGJ1 message.
alarm::Status DecodeGroup(std::string_view body,
                          const std::function<alarm::Status(uint32_t, const GroupEntry&)>& visit);

// The message id of `group` (see above). `nonce` and `counter` are used only
// when the group holds a control entry.
std::string GroupMessageId(std::span<const storage::LogAppend> group, uint64_t nonce,
                           uint64_t counter);

}  // namespace vigil::cluster
