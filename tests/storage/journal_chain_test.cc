// The alarm journal's hash chain in RocksDB: written with the entries,
// verified in pages, broken by an edit of a stored entry (found at that seq),
// started at a genesis seq on a store written before the chain, kept
// verifiable across retention and reopening.
#include "storage/journal_chain.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "storage/alarm_codec.h"
#include "storage/rocksdb_store_testing.h"
#include "storage/store.h"
#include "tests/testing/temp_dir.h"

namespace vigil::storage {
namespace {

using alarm::TimestampMs;

std::unique_ptr<Store> OpenStore(const std::filesystem::path& dir) {
  auto store = Store::Open({.dir = dir, .sync = false, .write_buffer_bytes = size_t{1} << 20});
  REQUIRE(store.has_value());
  return std::move(*store);
}

std::string EntryBytes(uint64_t seq) {
  alarm::JournalEntry e;
  e.seq = seq;
  e.alarm_id = seq;
  e.event.kind = alarm::EventKind::kRaised;
  e.event.record.source_id = "s-" + std::to_string(seq);
  e.event.record.alarm = alarm::AlarmKind::kThreshold;
  e.event.record.state = alarm::AlarmState::kActiveUnacked;
  e.event.record.severity = alarm::Severity::kRed;
  e.event.at = static_cast<TimestampMs>(seq) * 1000;
  return EncodeJournalEntry(e);
}

// Writes entries first..last chained after `head` as the journal thread
// does (one write), and returns the new head.
ChainHash WriteChained(Store& store, uint64_t first, uint64_t last, ChainHash head) {
  std::vector<std::string> bodies;
  std::vector<JournalAppend> entries;
  bodies.reserve(last - first + 1);
  for (uint64_t seq = first; seq <= last; ++seq) {
    bodies.push_back(EntryBytes(seq));
    head = NextChainHash(head, bodies.back());
    entries.push_back({.seq = seq,
                       .alarm_id = seq,
                       .at = static_cast<TimestampMs>(seq) * 1000,
                       .entry = bodies.back(),
                       .hash = head});
  }
  REQUIRE(store.WriteJournal({.entries = entries}).ok());
  return head;
}

ChainCheck Verify(Store& store, uint64_t from = 1, uint64_t max_entries = 1'000'000) {
  auto check = store.VerifyJournalChain(from, max_entries);
  REQUIRE(check.has_value());
  return *check;
}

TEST_CASE("Chain hash is SHA-256 of the previous hash and the entry bytes", "[storage][chain]") {
  // python3 -c "import hashlib; print(hashlib.sha256(bytes(32) + b'abc').hexdigest())"
  CHECK(ChainHashHex(NextChainHash(kGenesisHash, "abc")) ==
        "365aa7d8f7f9402c4b9434502b4cc89ddb09fe50d7cd95b493b834c62d5a5370");
  const ChainHash h = NextChainHash(kGenesisHash, "abc");
  CHECK(ParseChainHashHex(ChainHashHex(h)) == h);
  CHECK_FALSE(ParseChainHashHex("zz").has_value());
  CHECK(DecodeChainRecord(EncodeChainRecord({.genesis_seq = 3, .anchor_seq = 9, .anchor_hash = h}))
            ->anchor_hash == h);
}

TEST_CASE("A stored journal verifies, in pages, and its head survives reopening",
          "[storage][chain]") {
  testing::TempDir dir;
  ChainHash head;
  {
    auto store = OpenStore(dir / "db");
    CHECK(Verify(*store).genesis_seq == 0);  // nothing chained yet
    head = WriteChained(*store, 1, 5, kGenesisHash);
    head = WriteChained(*store, 6, 10, head);
    const ChainCheck all = Verify(*store);
    CHECK_FALSE(all.broken);
    CHECK(all.genesis_seq == 1);
    CHECK(all.verified == 10);
    CHECK(all.last_seq == 10);
    CHECK(all.last_hash == head);
    CHECK(all.next_seq == 0);

    const ChainCheck page = Verify(*store, 1, 4);
    CHECK(page.verified == 4);
    CHECK(page.next_seq == 5);
    const ChainCheck rest = Verify(*store, page.next_seq, 4);
    CHECK(rest.first_seq == 5);
    CHECK(rest.verified == 4);
    CHECK(rest.next_seq == 9);
    CHECK(Verify(*store, 9, 4).next_seq == 0);
  }
  auto store = OpenStore(dir / "db");
  auto state = store->LoadJournalState();
  REQUIRE(state.has_value());
  CHECK(state->chain_genesis_seq == 1);
  CHECK(state->chain_head == head);  // restored: the next entry continues the chain
  WriteChained(*store, 11, 12, state->chain_head);
  CHECK(Verify(*store).verified == 12);
}

TEST_CASE("Verify names the first entry whose stored bytes or hash were changed",
          "[storage][chain]") {
  testing::TempDir dir;
  {
    auto store = OpenStore(dir / "db");
    WriteChained(*store, 1, 8, kGenesisHash);
  }
  SECTION("one byte of an entry changed") {
    REQUIRE(
        EditJournalRecord(dir / "db", JournalRecord::kEntry, 5, [](std::optional<std::string>* v) {
          v->value().back() ^= 1;
        }).ok());
    auto store = OpenStore(dir / "db");
    const ChainCheck check = Verify(*store);
    REQUIRE(check.broken);
    CHECK(check.broken->seq == 5);
    CHECK_THAT(check.broken->problem, Catch::Contains("does not match"));
    CHECK(check.verified == 4);
    CHECK(check.last_seq == 4);
  }
  SECTION("an entry changed and its hash recomputed: the next entry breaks") {
    const std::string forged = EntryBytes(5) + "";
    std::string changed = forged;
    changed.back() ^= 1;
    std::string h4;
    REQUIRE(
        EditJournalRecord(dir / "db", JournalRecord::kHash, 4, [&](std::optional<std::string>* v) {
          h4 = v->value();
        }).ok());
    ChainHash prev{};
    std::copy(h4.begin(), h4.end(), prev.begin());
    const ChainHash h5 = NextChainHash(prev, changed);
    REQUIRE(
        EditJournalRecord(dir / "db", JournalRecord::kEntry, 5, [&](std::optional<std::string>* v) {
          *v = changed;
        }).ok());
    REQUIRE(
        EditJournalRecord(dir / "db", JournalRecord::kHash, 5, [&](std::optional<std::string>* v) {
          *v = std::string(h5.begin(), h5.end());
        }).ok());
    auto store = OpenStore(dir / "db");
    const ChainCheck check = Verify(*store);
    REQUIRE(check.broken);
    CHECK(check.broken->seq == 6);
  }
  SECTION("an entry deleted") {
    REQUIRE(
        EditJournalRecord(dir / "db", JournalRecord::kEntry, 3, [](std::optional<std::string>* v) {
          v->reset();
        }).ok());
    auto store = OpenStore(dir / "db");
    const ChainCheck check = Verify(*store);
    REQUIRE(check.broken);
    CHECK(check.broken->seq == 3);
    CHECK_THAT(check.broken->problem, Catch::Contains("missing"));
  }
  SECTION("the last entry deleted, its hash left") {
    REQUIRE(
        EditJournalRecord(dir / "db", JournalRecord::kEntry, 8, [](std::optional<std::string>* v) {
          v->reset();
        }).ok());
    auto store = OpenStore(dir / "db");
    const ChainCheck check = Verify(*store);
    REQUIRE(check.broken);
    CHECK(check.broken->seq == 8);
  }
  SECTION("an entry moved to another seq") {
    REQUIRE(
        EditJournalRecord(dir / "db", JournalRecord::kEntry, 2, [](std::optional<std::string>* v) {
          *v = EntryBytes(7);
        }).ok());
    auto store = OpenStore(dir / "db");
    const ChainCheck check = Verify(*store);
    REQUIRE(check.broken);
    CHECK(check.broken->seq == 2);
    CHECK_THAT(check.broken->problem, Catch::Contains("carry seq 7"));
  }
  SECTION("a hash deleted") {
    REQUIRE(
        EditJournalRecord(dir / "db", JournalRecord::kHash, 6, [](std::optional<std::string>* v) {
          v->reset();
        }).ok());
    auto store = OpenStore(dir / "db");
    const ChainCheck check = Verify(*store, 6);
    REQUIRE(check.broken);
    CHECK(check.broken->seq == 6);
    CHECK(Verify(*store, 7).broken->seq == 6);  // the hash entry 7 follows is gone
  }
}

TEST_CASE("A journal written before the chain opens, the chain starts at the next entry",
          "[storage][chain]") {
  testing::TempDir dir;
  {
    auto store = OpenStore(dir / "db");
    WriteChained(*store, 1, 4, kGenesisHash);
  }
  // The same store as a vigild without the chain left it: entries, no hashes.
  REQUIRE(DropJournalChain(dir / "db").ok());
  auto store = OpenStore(dir / "db");
  auto state = store->LoadJournalState();
  REQUIRE(state.has_value());
  CHECK(state->last_seq == 4);
  CHECK(state->chain_genesis_seq == 0);
  CHECK(state->chain_head == kGenesisHash);
  CHECK(Verify(*store).genesis_seq == 0);

  const ChainHash head = WriteChained(*store, 5, 7, state->chain_head);
  const ChainCheck check = Verify(*store);
  CHECK_FALSE(check.broken);
  CHECK(check.genesis_seq == 5);
  CHECK(check.first_seq == 5);  // entries 1..4 predate the chain
  CHECK(check.verified == 3);
  CHECK(check.last_hash == head);
  // Written once: later writes do not move the genesis.
  WriteChained(*store, 8, 8, head);
  CHECK(Verify(*store).genesis_seq == 5);
  auto again = store->LoadJournalState();
  REQUIRE(again.has_value());
  CHECK(again->chain_genesis_seq == 5);
}

TEST_CASE("Retention keeps the rest of the chain verifiable", "[storage][chain]") {
  testing::TempDir dir;
  auto store = OpenStore(dir / "db");
  const ChainHash head = WriteChained(*store, 1, 10, kGenesisHash);
  auto first = store->ExpireJournal(5000);  // entries 1..4 (at 1s..4s) go
  REQUIRE(first.has_value());
  CHECK(*first == 5);
  const ChainCheck check = Verify(*store);
  CHECK_FALSE(check.broken);
  CHECK(check.first_seq == 5);
  CHECK(check.verified == 6);
  CHECK(check.last_hash == head);

  std::vector<uint64_t> seqs;
  ChainRecord start;
  REQUIRE(store
              ->ReadChainedJournal(
                  1, 7, [&](const ChainRecord& r) { start = r; },
                  [&](uint64_t seq, std::string_view, const ChainHash&) {
                    seqs.push_back(seq);
                    return true;
                  })
              .ok());
  CHECK(start.anchor_seq == 5);
  CHECK(start.genesis_seq == 1);
  CHECK(seqs == std::vector<uint64_t>{5, 6, 7});

  // Everything expired: the next entry still follows the last hash.
  REQUIRE(store->ExpireJournal(100'000).has_value());
  auto state = store->LoadJournalState();
  REQUIRE(state.has_value());
  CHECK(state->chain_head == head);
  WriteChained(*store, 11, 11, state->chain_head);
  CHECK(Verify(*store).verified == 1);
  CHECK_FALSE(Verify(*store).broken);
}

}  // namespace
}  // namespace vigil::storage
