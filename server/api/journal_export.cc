#include "server/api/journal_export.h"

#include <openssl/evp.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "alarm/rule.h"
#include "server/log/json_text.h"
#include "storage/alarm_codec.h"

namespace vigil::server {
namespace {

// Room kept for the end line.
constexpr uint64_t kEndLineBytes = 512;

void Key(std::string* out, std::string_view key) {
  if (out->back() != '{') out->push_back(',');
  out->push_back('"');
  out->append(key);
  out->append("\":");
}

void Str(std::string* out, std::string_view key, std::string_view value) {
  Key(out, key);
  AppendJsonString(out, value);
}

void Num(std::string* out, std::string_view key, uint64_t value) {
  Key(out, key);
  out->append(std::to_string(value));
}

void Int(std::string* out, std::string_view key, int64_t value) {
  Key(out, key);
  out->append(std::to_string(value));
}

void Real(std::string* out, std::string_view key, double value) {
  Key(out, key);
  if (!std::isfinite(value)) {
    out->append("null");
    return;
  }
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  out->append(buf, ec == std::errc() ? static_cast<size_t>(end - buf) : 0);
}

void Hash(std::string* out, std::string_view key, const storage::ChainHash& hash) {
  Str(out, key, storage::ChainHashHex(hash));
}

}  // namespace

std::string Base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(std::max(n, 0)));
  return out;
}

JournalExport::JournalExport(const JournalExportHeader& h, uint64_t max_bytes)
    : max_bytes_(std::max<uint64_t>(max_bytes, 4096)),
      from_seq_(h.from_seq),
      last_seq_(h.from_seq - 1),
      last_hash_(h.prev_hash) {
  out_ = "{";
  Str(&out_, "format", "vigil-journal-export");
  Num(&out_, "version", 1);
  Str(&out_, "chain",
      "hash = SHA-256(previous hash || base64-decoded entry), first previous "
      "hash = prev_hash");
  Num(&out_, "genesis_seq", h.genesis_seq);
  Num(&out_, "from_seq", h.from_seq);
  Hash(&out_, "prev_hash", h.prev_hash);
  Num(&out_, "requested_from_seq", h.requested_from_seq);
  Num(&out_, "requested_to_seq", h.requested_to_seq);
  Str(&out_, "exported_at", FormatRfc3339Ms(h.exported_at));
  Str(&out_, "signing_key_sha256", h.signing_key_sha256);
  out_ += "}\n";
}

bool JournalExport::Add(uint64_t seq, std::string_view entry, const storage::ChainHash& hash) {
  line_ = "{";
  Num(&line_, "seq", seq);
  Hash(&line_, "hash", hash);
  Str(&line_, "entry", Base64(entry));
  // The same entry in words, for people; the chain covers "entry" only.
  auto decoded = storage::DecodeJournalEntry(entry);
  if (!decoded) {
    Str(&line_, "error", decoded.error().message());
  } else {
    const alarm::JournalEntry& e = *decoded;
    const alarm::ActiveAlarm& r = e.event.record;
    Num(&line_, "alarm_id", e.alarm_id);
    Str(&line_, "at", FormatRfc3339Ms(e.event.at));
    Str(&line_, "transition", alarm::EventKindName(e.event.kind));
    Str(&line_, "alarm", alarm::AlarmKindName(r.alarm));
    Str(&line_, "state", alarm::AlarmStateName(r.state));
    Str(&line_, "source", r.source_id);
    Str(&line_, "rule", r.rule_id);
    Int(&line_, "severity", static_cast<int>(r.severity));
    Str(&line_, "level", alarm::LevelName(r.level));
    Real(&line_, "value", e.event.value);
    Real(&line_, "threshold", r.threshold);
    Str(&line_, "enterprise", e.enterprise_id);
    Str(&line_, "region", e.region_code);
    Str(&line_, "actor", e.event.actor);
    Str(&line_, "comment", e.event.comment);
  }
  line_ += "}\n";
  if (out_.size() + line_.size() + kEndLineBytes > max_bytes_) return false;
  out_ += line_;
  ++entries_;
  last_seq_ = seq;
  last_hash_ = hash;
  return true;
}

std::string JournalExport::Finish(bool complete) {
  out_ += "{";
  Key(&out_, "end");
  out_ += "true";
  Num(&out_, "from_seq", from_seq_);
  Num(&out_, "last_seq", last_seq_);
  Num(&out_, "entries", entries_);
  Hash(&out_, "last_hash", last_hash_);
  Key(&out_, "complete");
  out_ += complete ? "true" : "false";
  out_ += "}\n";
  return std::move(out_);
}

}  // namespace vigil::server
