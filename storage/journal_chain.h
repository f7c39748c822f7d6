// The alarm journal's hash chain (docs/journal-integrity.md): every journal
// entry n at or after the chain's genesis seq G has
//
//   h(n) = SHA-256( h(n-1) || bytes(n) )        h(G-1) = 32 zero bytes
//
// where bytes(n) is the entry exactly as stored (EncodeJournalEntry,
// alarm_codec.h: a version byte, then the entry's own seq as 8 bytes
// little-endian, ...) and || is concatenation of raw bytes. h(n) is stored
// beside the entry, in the same RocksDB write. Entries below G were written
// before the chain existed (a store upgraded from an older vigild) and are
// not covered. Pure functions and values; any thread. SHA-256 is OpenSSL's.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vigil::storage {

using ChainHash = std::array<uint8_t, 32>;

// h(G-1): the hash the first chained entry follows.
inline constexpr ChainHash kGenesisHash{};

// h(n) from h(n-1) = `prev` and bytes(n) = `entry`.
ChainHash NextChainHash(const ChainHash& prev, std::string_view entry);

// 64 lower-case hex digits.
std::string ChainHashHex(const ChainHash& hash);
// nullopt unless `hex` is exactly 64 hex digits (either case).
std::optional<ChainHash> ParseChainHashHex(std::string_view hex);

// Where the chain of a store starts, as kept in meta "journal_chain".
struct ChainRecord {
  uint64_t genesis_seq = 0;  // first chained entry (G)
  // Retention deletes old entries: the oldest kept chained entry is
  // anchor_seq and anchor_hash is h(anchor_seq - 1). At genesis: G and zeros.
  uint64_t anchor_seq = 0;
  ChainHash anchor_hash{};
};
std::string EncodeChainRecord(const ChainRecord& record);
// nullopt when `bytes` is not one record (48 bytes).
std::optional<ChainRecord> DecodeChainRecord(std::string_view bytes);

// The first place where the stored chain does not hold.
struct ChainBreak {
  uint64_t seq = 0;
  std::string problem;  // e.g. "stored hash does not match the entry's bytes"
};

// Walks stored entries in seq order from `first_seq`, whose predecessor's
// hash is `prev`, and stops at the first break. Not thread-safe (one walk).
class ChainWalker {
 public:
  ChainWalker(uint64_t first_seq, const ChainHash& prev) : next_seq_(first_seq), head_(prev) {}

  // Checks the next entry the store holds: its key seq, its bytes and its
  // stored hash (nullopt: none stored, or not 32 bytes). Returns false once
  // broken (then broken() says where and what).
  bool Next(uint64_t seq, std::string_view entry, std::optional<ChainHash> stored);
  // Marks a break that the caller found (e.g. a hash stored for an entry
  // that is missing). Returns false.
  bool Break(uint64_t seq, std::string problem);

  uint64_t next_seq() const { return next_seq_; }  // seq the next entry must have
  const ChainHash& head() const { return head_; }  // h(next_seq - 1)
  uint64_t verified() const { return verified_; }  // entries that held
  const std::optional<ChainBreak>& broken() const { return broken_; }

 private:
  uint64_t next_seq_;
  ChainHash head_;
  uint64_t verified_ = 0;
  std::optional<ChainBreak> broken_;
};

// One page of a chain verification (JournalStore::VerifyJournalChain).
struct ChainCheck {
  uint64_t genesis_seq = 0;  // 0: no entry was ever chained
  uint64_t first_seq = 0;    // first entry checked
  uint64_t verified = 0;     // entries that held, from first_seq on
  uint64_t last_seq = 0;     // last entry that held (first_seq - 1 when none)
  ChainHash last_hash{};     // h(last_seq)
  uint64_t next_seq = 0;     // where the next page starts; 0: the journal's end was reached
  std::optional<ChainBreak> broken;
};

}  // namespace vigil::storage
