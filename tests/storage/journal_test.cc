// The alarm journal in RocksDB: atomic group writes, recovery state, reads by
// sequence, by alarm and by time, and retention.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "storage/store.h"
#include "tests/testing/temp_dir.h"

namespace vigil::storage {
namespace {

using alarm::Status;
using alarm::TimestampMs;

std::unique_ptr<Store> OpenStore(const std::filesystem::path& dir) {
  auto store = Store::Open({.dir = dir, .sync = false, .write_buffer_bytes = size_t{1} << 20});
  REQUIRE(store.has_value());
  return std::move(*store);
}

// Writes entries seq first..last, entry i at time at(i), all of alarm alarm_of(i).
void WriteEntries(Store& store, uint64_t first, uint64_t last, TimestampMs (*at)(uint64_t),
                  uint64_t alarm_id = 0) {
  std::vector<std::string> bodies;
  std::vector<JournalAppend> entries;
  bodies.reserve(last - first + 1);
  for (uint64_t seq = first; seq <= last; ++seq) {
    bodies.push_back("entry-" + std::to_string(seq));
    entries.push_back({.seq = seq,
                       .alarm_id = alarm_id == 0 ? seq : alarm_id,
                       .at = at(seq),
                       .entry = bodies.back()});
  }
  REQUIRE(store.WriteJournal({.entries = entries}).ok());
}

TimestampMs SecondOf(uint64_t seq) { return static_cast<TimestampMs>(seq) * 1000; }

std::vector<uint64_t> ReadSeqs(Store& store, uint64_t from) {
  std::vector<uint64_t> seqs;
  REQUIRE(store
              .ReadJournal(from,
                           [&](uint64_t seq, std::string_view entry) {
                             CHECK(entry == "entry-" + std::to_string(seq));
                             seqs.push_back(seq);
                             return true;
                           })
              .ok());
  return seqs;
}

TEST_CASE("Journal state survives reopening: last seq, open alarms, marks, snapshots",
          "[storage][journal]") {
  testing::TempDir dir;
  {
    auto store = OpenStore(dir / "db");
    auto empty = store->LoadJournalState();
    REQUIRE(empty.has_value());
    CHECK(empty->last_seq == 0);
    CHECK(empty->first_seq == 1);
    CHECK(empty->shard_count == 0);
    WriteEntries(*store, 1, 3, SecondOf);
    const std::vector<OpenAlarmWrite> open = {
        {.alarm_kind = 1, .source_id = "s1", .entry = std::string_view("open-s1")},
        {.alarm_kind = 5, .source_id = "gw", .entry = std::string_view("open-gw")}};
    const std::vector<JournalMark> marks = {{.shard = 0, .log_seq = 10},
                                            {.shard = 1, .log_seq = 8}};
    const std::vector<SnapshotWrite> snaps = {{.shard = 1, .bytes = "snap-1"}};
    REQUIRE(
        store->WriteJournal({.open = open, .marks = marks, .snapshots = snaps, .shard_count = 2})
            .ok());
    const std::vector<OpenAlarmWrite> close = {
        {.alarm_kind = 1, .source_id = "s1", .entry = std::nullopt}};
    REQUIRE(store->WriteJournal({.open = close}).ok());
  }
  auto store = OpenStore(dir / "db");
  auto state = store->LoadJournalState();
  REQUIRE(state.has_value());
  CHECK(state->last_seq == 3);
  CHECK(state->open_entries == std::vector<std::string>{"open-gw"});
  CHECK(state->shard_count == 2);
  CHECK(state->marks == std::vector<uint64_t>{10, 8});
  CHECK(state->snapshots == std::vector<std::string>{"", "snap-1"});

  SECTION("a new shard count drops the old layout's marks and snapshots") {
    const std::vector<JournalMark> marks = {{.shard = 0, .log_seq = 12}};
    REQUIRE(store->WriteJournal({.marks = marks, .shard_count = 1}).ok());
    auto after = store->LoadJournalState();
    REQUIRE(after.has_value());
    CHECK(after->shard_count == 1);
    CHECK(after->marks == std::vector<uint64_t>{12});
    CHECK(after->snapshots == std::vector<std::string>{""});
  }
}

TEST_CASE("Journal reads: from a sequence, one alarm's entries, by time", "[storage][journal]") {
  testing::TempDir dir;
  auto store = OpenStore(dir / "db");
  WriteEntries(*store, 1, 10, SecondOf);
  WriteEntries(*store, 11, 13, SecondOf, /*alarm_id=*/4);
  CHECK(ReadSeqs(*store, 1).size() == 13);
  CHECK(ReadSeqs(*store, 12) == std::vector<uint64_t>{12, 13});
  CHECK(ReadSeqs(*store, 14).empty());

  std::vector<uint64_t> history;
  REQUIRE(store
              ->ReadAlarmHistory(4,
                                 [&](uint64_t seq, std::string_view) {
                                   history.push_back(seq);
                                   return true;
                                 })
              .ok());
  CHECK(history == std::vector<uint64_t>{4, 11, 12, 13});

  std::vector<uint64_t> in_range;
  REQUIRE(store
              ->ScanJournalByTime(3000, 6000,
                                  [&](uint64_t seq, TimestampMs at) {
                                    CHECK(at == SecondOf(seq));
                                    in_range.push_back(seq);
                                    return true;
                                  })
              .ok());
  CHECK(in_range == std::vector<uint64_t>{3, 4, 5});  // [from, to)
}

TEST_CASE("Journal expiry deletes exactly the entries before the window", "[storage][journal]") {
  testing::TempDir dir;
  auto store = OpenStore(dir / "db");
  WriteEntries(*store, 1, 20, SecondOf);
  SECTION("a cut in the middle") {
    auto first = store->ExpireJournal(8000);
    REQUIRE(first.has_value());
    CHECK(*first == 8);
    CHECK(ReadSeqs(*store, 1).front() == 8);
    CHECK(ReadSeqs(*store, 1).size() == 13);
    auto state = store->LoadJournalState();
    REQUIRE(state.has_value());
    CHECK(state->first_seq == 8);
    CHECK(state->last_seq == 20);
    // Idempotent, and never moves back.
    CHECK(*store->ExpireJournal(8000) == 8);
    CHECK(*store->ExpireJournal(1000) == 8);
  }
  SECTION("an entry journaled late with an older time keeps what follows it") {
    // A replay after a restart journals seq 21 with an event time of 5 s.
    WriteEntries(*store, 21, 21, [](uint64_t) -> TimestampMs { return 5000; });
    auto first = store->ExpireJournal(5000);
    REQUIRE(first.has_value());
    CHECK(*first == 5);
    CHECK(ReadSeqs(*store, 1).size() == 17);
  }
  SECTION("everything old") {
    auto first = store->ExpireJournal(100000);
    REQUIRE(first.has_value());
    CHECK(*first == 21);
    CHECK(ReadSeqs(*store, 1).empty());
    auto state = store->LoadJournalState();
    REQUIRE(state.has_value());
    CHECK(state->last_seq == 20);  // sequence numbers continue after expiry
    CHECK(state->first_seq == 21);
  }
}

}  // namespace
}  // namespace vigil::storage
