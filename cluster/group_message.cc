#include "cluster/group_message.h"

#include <openssl/evp.h>

#include <cassert>
#include <cstring>

namespace vigil::cluster {
namespace {

constexpr char kMagic[4] = {'V', 'G', 'J', '1'};

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

// A cursor over untrusted bytes: every read checks the end.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool Varint(uint64_t* v) {
    uint64_t result = 0;
    for (int shift = 0; shift <= 63; shift += 7) {
      if (pos_ >= in_.size()) return false;
      const auto byte = static_cast<uint8_t>(in_[pos_++]);
      result |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) {
        *v = result;
        return true;
      }
    }
    return false;
  }
  bool Bytes(size_t n, std::string_view* out) {
    if (in_.size() - pos_ < n) return false;
    *out = in_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  bool Fixed64(int64_t* v) {
    std::string_view b;
    if (!Bytes(8, &b)) return false;
    uint64_t u = 0;
    for (int i = 7; i >= 0; --i) u = (u << 8) | static_cast<uint8_t>(b[static_cast<size_t>(i)]);
    *v = static_cast<int64_t>(u);
    return true;
  }
  bool done() const { return pos_ == in_.size(); }

 private:
  std::string_view in_;
  size_t pos_ = 0;
};

}  // namespace

void EncodeGroup(std::span<const storage::LogAppend> group, std::string* out) {
  assert(!group.empty() && group.size() <= kMaxGroupEntries);
  out->clear();
  size_t bytes = 16;
  for (const storage::LogAppend& a : group) bytes += 32 + a.gateway_id.size() + a.record.size();
  out->reserve(bytes);
  out->append(kMagic, 4);
  PutVarint(out, group.size());
  const alarm::TimestampMs base = group.front().stored_at;
  auto u = static_cast<uint64_t>(base);
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((u >> (8 * i)) & 0xff));
  for (const storage::LogAppend& a : group) {
    out->push_back(static_cast<char>(a.kind));
    PutVarint(out, ZigZag(a.stored_at - base));
    PutVarint(out, a.gateway_id.size());
    out->append(a.gateway_id);
    PutVarint(out, a.watermark.epoch);
    PutVarint(out, a.watermark.sequence);
    PutVarint(out, a.record.size());
    out->append(a.record);
  }
}

alarm::Status DecodeGroup(std::string_view body,
                          const std::function<alarm::Status(uint32_t, const GroupEntry&)>& visit) {
  Reader r(body);
  std::string_view magic;
  if (!r.Bytes(4, &magic) || std::memcmp(magic.data(), kMagic, 4) != 0) {
    return alarm::Status::Corruption("ingest group: not a VGJ1 message");
  }
  uint64_t count = 0;
  int64_t base = 0;
  if (!r.Varint(&count) || count == 0 || count > kMaxGroupEntries || !r.Fixed64(&base)) {
    return alarm::Status::Corruption("ingest group: bad header");
  }
  for (uint32_t i = 0; i < count; ++i) {
    GroupEntry e;
    std::string_view kind;
    uint64_t delta = 0, gw_len = 0, rec_len = 0;
    if (!r.Bytes(1, &kind) || !r.Varint(&delta) || !r.Varint(&gw_len) ||
        !r.Bytes(gw_len, &e.gateway_id) || !r.Varint(&e.watermark.epoch) ||
        !r.Varint(&e.watermark.sequence) || !r.Varint(&rec_len) || !r.Bytes(rec_len, &e.record)) {
      return alarm::Status::Corruption("ingest group: entry " + std::to_string(i) + " truncated");
    }
    const auto k = static_cast<uint8_t>(kind[0]);
    if (k != static_cast<uint8_t>(storage::LogEntryKind::kBatch) &&
        k != static_cast<uint8_t>(storage::LogEntryKind::kControl)) {
      return alarm::Status::Corruption("ingest group: entry " + std::to_string(i) +
                                       " has unknown kind " + std::to_string(k));
    }
    e.kind = static_cast<storage::LogEntryKind>(k);
    e.stored_at = base + UnZigZag(delta);
    alarm::Status s = visit(i, e);
    if (!s.ok()) return s;
  }
  if (!r.done()) return alarm::Status::Corruption("ingest group: trailing bytes");
  return alarm::Status::Ok();
}

std::string GroupMessageId(std::span<const storage::LogAppend> group, uint64_t nonce,
                           uint64_t counter) {
  std::string identities;
  for (const storage::LogAppend& a : group) {
    if (a.kind != storage::LogEntryKind::kBatch) {
      return "c-" + std::to_string(nonce) + "-" + std::to_string(counter);
    }
    PutVarint(&identities, a.gateway_id.size());
    identities.append(a.gateway_id);
    PutVarint(&identities, a.watermark.epoch);
    PutVarint(&identities, a.watermark.sequence);
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  EVP_Digest(identities.data(), identities.size(), digest, &digest_len, EVP_sha256(), nullptr);
  // 128 bits of the digest: a collision would drop a group as a duplicate.
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "b-";
  for (int i = 0; i < 16; ++i) {
    id.push_back(kHex[digest[i] >> 4]);
    id.push_back(kHex[digest[i] & 0xf]);
  }
  return id;
}

}  // namespace vigil::cluster
