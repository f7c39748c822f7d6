#include "server/pipeline/storage_writer.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "server/pipeline/alarm_feed.h"
#include "server/pipeline/alarm_journal.h"
#include "server/pipeline/registry_holder.h"
#include "server/pipeline/shard.h"
#include "storage/head_set.h"
#include "storage/ingest_log.h"
#include "storage/ingest_record.h"
#include "storage/ingest_record_v1.h"
#include "storage/rocksdb_store_testing.h"
#include "storage/store.h"
#include "tests/storage/disk_full_fs.h"
#include "tests/testing/temp_dir.h"

namespace vigil::server {
namespace {

using alarm::Reading;
using alarm::TimestampMs;
using Outcome = PendingBatch::Outcome;

constexpr TimestampMs kMin = std::numeric_limits<TimestampMs>::min();
constexpr TimestampMs kMax = std::numeric_limits<TimestampMs>::max();
constexpr TimestampMs kT0 = 1'700'000'000'000;
// Bound on any single wait; a healthy run takes milliseconds.
constexpr auto kTimeout = std::chrono::seconds(20);

// Records the outcome of Done and signals it; the test keeps ownership.
class TestBatch final : public PendingBatch {
 public:
  TestBatch(std::string gateway, uint64_t epoch, uint64_t sequence, std::string rec) {
    gateway_id = std::move(gateway);
    watermark = {epoch, sequence};
    record = std::move(rec);
    future_ = promise_.get_future();
  }

  void Done(Outcome outcome, const alarm::Status& error) override {
    calls_.fetch_add(1, std::memory_order_relaxed);
    done_on_ = std::this_thread::get_id();
    done_rank_ = next_rank_.fetch_add(1, std::memory_order_relaxed);
    promise_.set_value({outcome, error});
  }
  // After Wait: the thread Done ran on, and its rank among all Done calls.
  std::thread::id done_on() const { return done_on_; }
  uint64_t done_rank() const { return done_rank_; }

  // Waits (bounded) for Done.
  std::pair<Outcome, alarm::Status> Wait() {
    REQUIRE(future_.wait_for(kTimeout) == std::future_status::ready);
    return future_.get();
  }
  Outcome WaitOutcome() { return Wait().first; }
  int calls() const { return calls_.load(std::memory_order_relaxed); }

 private:
  std::promise<std::pair<Outcome, alarm::Status>> promise_;
  std::future<std::pair<Outcome, alarm::Status>> future_;
  std::atomic<int> calls_{0};
  std::thread::id done_on_;
  uint64_t done_rank_ = 0;
  static inline std::atomic<uint64_t> next_rank_{0};
};

struct Series {
  std::string sensor_id;
  std::vector<TimestampMs> timestamps;
  std::vector<double> values;
};

std::string Record(std::string_view gateway, uint64_t epoch, uint64_t sequence,
                   const std::vector<Series>& series) {
  storage::IngestRecordV1Builder builder;
  builder.Reset(gateway, epoch, sequence);
  for (const Series& s : series) {
    auto slots = builder.AddSeries(s.sensor_id, static_cast<uint32_t>(s.timestamps.size()), false);
    std::copy(s.timestamps.begin(), s.timestamps.end(), slots.timestamps);
    std::copy(s.values.begin(), s.values.end(), slots.values);
  }
  return builder.Release();
}

// A batch of one reading of sensor "s1" whose time and value name the sequence.
std::unique_ptr<TestBatch> MakeBatch(std::string gateway, uint64_t epoch, uint64_t sequence) {
  const auto at = kT0 + static_cast<TimestampMs>(epoch * 1000 + sequence);
  std::string rec =
      Record(gateway, epoch, sequence, {{"s1", {at}, {static_cast<double>(sequence)}}});
  return std::make_unique<TestBatch>(std::move(gateway), epoch, sequence, std::move(rec));
}

std::unique_ptr<storage::Store> OpenStore(const std::filesystem::path& dir,
                                          rocksdb::Env* env = nullptr) {
  storage::StoreOptions options;
  options.dir = dir;
  options.write_buffer_bytes = size_t{1} << 20;
  auto store = storage::OpenStoreWithEnv(options, env);
  REQUIRE(store.has_value());
  return std::move(*store);
}

// Store, then shards, then writer; the writer stops first. The rig owns every
// batch so none is freed while the writer may still call Done on it.
struct Rig {
  // `log`: the writer's ingest log; nullptr: the store's own.
  explicit Rig(const std::filesystem::path& dir, rocksdb::Env* env = nullptr,
               WriterOptions options = {}, storage::IngestLog* log = nullptr)
      : store(OpenStore(dir, env)) {
    auto state = store->LoadJournalState();
    REQUIRE(state.has_value());
    auto started_journal = AlarmJournal::Start(store.get(), &registry, &feed, 2, *state);
    REQUIRE(started_journal.has_value());
    journal = std::move(*started_journal);
    shards = std::make_unique<ShardSet>(2, store.get(), journal.get(), storage::HeadSetOptions{});
    auto started =
        StorageWriter::Start(log != nullptr ? log : static_cast<storage::IngestLog*>(store.get()),
                             shards.get(), std::move(options));
    REQUIRE(started.has_value());
    writer = std::move(*started);
  }
  ~Rig() {
    if (writer) writer->Stop();
    writer.reset();
    shards.reset();
    journal.reset();
  }

  TestBatch& New(std::unique_ptr<TestBatch> batch) {
    batches.push_back(std::move(batch));
    return *batches.back();
  }
  TestBatch& New(std::string gateway, uint64_t epoch, uint64_t sequence) {
    return New(MakeBatch(std::move(gateway), epoch, sequence));
  }

  // Submits and waits for the outcome; the error is set for kFailed only.
  Outcome Submit(TestBatch& batch) {
    REQUIRE(writer->Submit(&batch));
    const auto [outcome, error] = batch.Wait();
    CHECK(error.ok() == (outcome != Outcome::kFailed));
    CHECK(batch.calls() == 1);
    return outcome;
  }
  Outcome Submit(std::string gateway, uint64_t epoch, uint64_t sequence) {
    return Submit(New(std::move(gateway), epoch, sequence));
  }

  // The head readings of `sensor`, read on its shard's thread.
  std::vector<Reading> ReadHead(std::string_view sensor) {
    auto done = std::make_shared<std::promise<std::vector<Reading>>>();
    auto future = done->get_future();
    shards->ReadHead(sensor, kMin, kMax, [done](std::vector<Reading> readings) {
      done->set_value(std::move(readings));
    });
    REQUIRE(future.wait_for(kTimeout) == std::future_status::ready);
    return future.get();
  }

  std::map<std::string, storage::Watermark> Watermarks() {
    auto marks = store->LoadWatermarks();
    REQUIRE(marks.has_value());
    return {marks->begin(), marks->end()};
  }

  std::vector<std::unique_ptr<TestBatch>> batches;
  std::unique_ptr<storage::Store> store;
  RegistryHolder registry{*alarm::Registry::Build({})};
  AlarmFeed feed;
  std::unique_ptr<AlarmJournal> journal;
  std::unique_ptr<ShardSet> shards;
  std::unique_ptr<StorageWriter> writer;
};

std::vector<Reading> ReadChunks(storage::Store& store, std::string_view sensor) {
  std::vector<Reading> out;
  alarm::Status s = store.ReadChunks(sensor, kMin, kMax, &out);
  REQUIRE(s.ok());
  return out;
}

std::vector<std::pair<TimestampMs, double>> Pairs(const std::vector<Reading>& readings) {
  std::vector<std::pair<TimestampMs, double>> out;
  for (const Reading& r : readings) out.emplace_back(r.at, r.value);
  return out;
}

std::vector<std::pair<TimestampMs, double>> Pairs(const Series& s) {
  std::vector<std::pair<TimestampMs, double>> out;
  for (size_t i = 0; i < s.timestamps.size(); ++i) out.emplace_back(s.timestamps[i], s.values[i]);
  return out;
}

size_t LogRecords(storage::Store& store) {
  size_t n = 0;
  alarm::Status s = store.Replay(0, [&](uint64_t, const storage::LogEntry&) {
    ++n;
    return alarm::Status::Ok();
  });
  REQUIRE(s.ok());
  return n;
}

using Marks = std::map<std::string, storage::Watermark>;

TEST_CASE("StorageWriter stores a first batch and treats the same one again as duplicate",
          "[server][storage_writer]") {
  testing::TempDir dir;
  Rig rig(dir / "db");
  CHECK(rig.writer->posted_through() == 0);
  CHECK(rig.Submit("g1", 1, 1) == Outcome::kStored);
  CHECK(rig.writer->posted_through() == 1);
  CHECK(rig.store->end_position() == 2);
  CHECK(rig.Watermarks() == Marks{{"g1", {1, 1}}});

  CHECK(rig.Submit("g1", 1, 1) == Outcome::kDuplicate);
  // A duplicate stores nothing.
  CHECK(rig.store->end_position() == 2);
  CHECK(rig.writer->posted_through() == 1);
  CHECK(LogRecords(*rig.store) == 1);
  CHECK(rig.writer->healthy());
  CHECK(rig.writer->sticky_error().ok());
}

TEST_CASE("StorageWriter orders watermarks by epoch, then sequence", "[server][storage_writer]") {
  testing::TempDir dir;
  Rig rig(dir / "db");
  CHECK(rig.Submit("g1", 1, 5) == Outcome::kStored);
  CHECK(rig.Submit("g1", 1, 4) == Outcome::kDuplicate);  // lower sequence
  CHECK(rig.Submit("g1", 1, 1) == Outcome::kDuplicate);
  CHECK(rig.Submit("g1", 1, 6) == Outcome::kStored);   // gaps are allowed
  CHECK(rig.Submit("g1", 2, 1) == Outcome::kStored);   // higher epoch restarts at 1
  CHECK(rig.Submit("g1", 1, 99) == Outcome::kFailed);  // lower epoch: refused, not a duplicate
  CHECK(rig.Submit("g1", 2, 1) == Outcome::kDuplicate);
  CHECK(rig.Submit("g1", 2, 2) == Outcome::kStored);
  // Gateways are deduplicated independently.
  CHECK(rig.Submit("g2", 1, 1) == Outcome::kStored);
  CHECK(rig.Submit("g2", 1, 1) == Outcome::kDuplicate);
  CHECK(rig.Watermarks() == Marks{{"g1", {2, 2}}, {"g2", {1, 1}}});
  CHECK(rig.store->end_position() == 6);
  CHECK(LogRecords(*rig.store) == 5);
  CHECK(rig.writer->posted_through() == 5);
}

TEST_CASE("StorageWriter stores exactly one of two copies submitted back to back",
          "[server][storage_writer]") {
  testing::TempDir dir;
  Rig rig(dir / "db");
  // Repeated so that copies land both in one commit group and in two.
  for (uint64_t seq = 1; seq <= 20; ++seq) {
    CAPTURE(seq);
    TestBatch& a = rig.New("g1", 1, seq);
    TestBatch& b = rig.New("g1", 1, seq);
    REQUIRE(rig.writer->Submit(&a));
    REQUIRE(rig.writer->Submit(&b));
    const Outcome oa = a.WaitOutcome();
    const Outcome ob = b.WaitOutcome();
    CHECK(((oa == Outcome::kStored && ob == Outcome::kDuplicate) ||
           (oa == Outcome::kDuplicate && ob == Outcome::kStored)));
  }
  CHECK(rig.store->end_position() == 21);
  CHECK(LogRecords(*rig.store) == 20);
  CHECK(rig.Watermarks() == Marks{{"g1", {1, 20}}});
}

TEST_CASE("StorageWriter commits everything already queued when stopped",
          "[server][storage_writer]") {
  testing::TempDir dir;
  Rig rig(dir / "db");
  std::vector<TestBatch*> submitted;
  for (uint64_t seq = 1; seq <= 200; ++seq) {
    TestBatch& b = rig.New("g1", 1, seq);
    REQUIRE(rig.writer->Submit(&b));
    submitted.push_back(&b);
  }
  rig.writer->Stop();
  for (TestBatch* b : submitted) {
    CHECK(b->calls() == 1);  // Done before Stop returned
    CHECK(b->WaitOutcome() == Outcome::kStored);
  }
  CHECK(rig.store->end_position() == 201);
  CHECK(rig.writer->queued() == 0);

  // Later Submits fail and leave the batch with the caller.
  TestBatch& late = rig.New("g1", 1, 201);
  CHECK_FALSE(rig.writer->Submit(&late));
  CHECK(late.calls() == 0);
}

TEST_CASE("StorageWriter watermarks survive a restart", "[server][storage_writer]") {
  testing::TempDir dir;
  {
    Rig rig(dir / "db");
    CHECK(rig.Submit("g1", 1, 1) == Outcome::kStored);
    CHECK(rig.Submit("g1", 1, 2) == Outcome::kStored);
    CHECK(rig.Submit("g2", 4, 1) == Outcome::kStored);
  }
  Rig rig(dir / "db");
  CHECK(rig.Watermarks() == Marks{{"g1", {1, 2}}, {"g2", {4, 1}}});
  CHECK(rig.writer->posted_through() == 3);
  // Resent after the restart: still duplicates.
  CHECK(rig.Submit("g1", 1, 2) == Outcome::kDuplicate);
  CHECK(rig.Submit("g1", 1, 1) == Outcome::kDuplicate);
  CHECK(rig.Submit("g2", 4, 1) == Outcome::kDuplicate);
  CHECK(rig.store->end_position() == 4);
  CHECK(rig.Submit("g1", 1, 3) == Outcome::kStored);
  CHECK(rig.writer->posted_through() == 4);
  CHECK(rig.Watermarks() == Marks{{"g1", {1, 3}}, {"g2", {4, 1}}});
}

TEST_CASE("StorageWriter hands a stored batch to the shards before Done",
          "[server][storage_writer]") {
  testing::TempDir dir;
  Rig rig(dir / "db");
  const Series s1{"s1", {kT0, kT0 + 1000, kT0 + 2000}, {1, 2, 3}};
  const Series s10{"s10", {kT0 + 500}, {10}};
  TestBatch& batch =
      rig.New(std::make_unique<TestBatch>("g1", 1, 1, Record("g1", 1, 1, {s1, s10})));
  REQUIRE(rig.Submit(batch) == Outcome::kStored);
  // Posted before Done, so a head read queued now runs after it.
  CHECK(Pairs(rig.ReadHead("s1")) == Pairs(s1));
  CHECK(Pairs(rig.ReadHead("s10")) == Pairs(s10));
}

TEST_CASE("StorageWriter does not hand a duplicate to the shards", "[server][storage_writer]") {
  testing::TempDir dir;
  Rig rig(dir / "db");
  const Series first{"s1", {kT0}, {1}};
  const Series resent{"s1", {kT0 + 1}, {99}};
  TestBatch& a = rig.New(std::make_unique<TestBatch>("g1", 1, 1, Record("g1", 1, 1, {first})));
  TestBatch& b = rig.New(std::make_unique<TestBatch>("g1", 1, 1, Record("g1", 1, 1, {resent})));
  REQUIRE(rig.Submit(a) == Outcome::kStored);
  REQUIRE(rig.Submit(b) == Outcome::kDuplicate);
  CHECK(Pairs(rig.ReadHead("s1")) == Pairs(first));
}

TEST_CASE("StorageWriter readings are in chunks after the shards stop",
          "[server][storage_writer]") {
  testing::TempDir dir;
  Rig rig(dir / "db");
  // Enough sensors that both shards own some.
  std::vector<Series> series;
  for (const char* id : {"s1", "s10", "s2", "s3", "tank-1/level", "tank-2/level", "a", "b"}) {
    Series s{id, {}, {}};
    for (int i = 0; i < 5; ++i) {
      s.timestamps.push_back(kT0 + i * 1000);
      s.values.push_back(static_cast<double>(i) + 0.5);
    }
    series.push_back(s);
  }
  bool shard0 = false, shard1 = false;
  for (const Series& s : series) (ShardFor(s.sensor_id, 2) == 0 ? shard0 : shard1) = true;
  REQUIRE(shard0);
  REQUIRE(shard1);

  // Two batches; the second adds later readings of s1.
  const Series more{"s1", {kT0 + 10'000, kT0 + 11'000}, {7, 8}};
  TestBatch& first = rig.New(std::make_unique<TestBatch>("g1", 1, 1, Record("g1", 1, 1, series)));
  TestBatch& second = rig.New(std::make_unique<TestBatch>("g1", 1, 2, Record("g1", 1, 2, {more})));
  REQUIRE(rig.Submit(first) == Outcome::kStored);
  REQUIRE(rig.Submit(second) == Outcome::kStored);
  rig.writer->Stop();
  rig.shards->Stop();
  rig.journal->Stop();  // writes the final engine snapshots the checkpoint waits for

  for (const Series& s : series) {
    CAPTURE(s.sensor_id);
    auto expected = Pairs(s);
    if (s.sensor_id == "s1") {
      for (const auto& p : Pairs(more)) expected.push_back(p);
    }
    CHECK(Pairs(ReadChunks(*rig.store, s.sensor_id)) == expected);
  }
  CHECK(rig.shards->readings_in_heads() == 0);
  // Every log record lives in chunks: a restart replays from past the last one.
  const auto replay = rig.shards->CheckpointResult(ShardSet::kFinalCheckpointRound);
  REQUIRE(replay.has_value());
  CHECK(*replay == rig.store->end_position());
}

TEST_CASE("StorageWriter below the free-space floor refuses batches, then resumes by itself",
          "[server][storage_writer][faults]") {
  testing::TempDir dir;
  std::atomic<uint64_t> free_bytes{1'000'000'000};
  Rig rig(dir / "db", nullptr, WriterOptions{.min_free_bytes = 100'000'000, .free_bytes = [&] {
                                               return free_bytes.load();
                                             }});
  REQUIRE(rig.Submit("g1", 1, 1) == Outcome::kStored);
  free_bytes = 50'000'000;
  std::this_thread::sleep_for(std::chrono::milliseconds(150));  // the probe runs every 100 ms
  TestBatch& refused = rig.New("g1", 1, 2);
  REQUIRE(rig.writer->Submit(&refused));
  const auto [outcome, error] = refused.Wait();
  CHECK(outcome == Outcome::kFailed);
  CHECK(error.code() == alarm::Status::Code::kResourceExhausted);
  CHECK(rig.writer->low_space());
  CHECK(rig.writer->healthy());  // not an error: nothing went wrong in storage
  free_bytes = 500'000'000;      // space freed
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  CHECK(rig.Submit("g1", 1, 2) == Outcome::kStored);  // the gateway's resend
  CHECK_FALSE(rig.writer->low_space());
}

// free_bytes for WriterOptions that a test can hold inside the writer's
// space probe: Hold() makes the next probe wait until Release(), so batches
// submitted meanwhile are committed as one group after it.
class SpaceProbe {
 public:
  std::atomic<uint64_t> free_bytes{1'000'000'000};

  std::function<uint64_t()> Function() {
    return [this] {
      std::unique_lock<std::mutex> lock(mu_);
      if (hold_) {
        entered_ = true;
        cv_.notify_all();
        cv_.wait_for(lock, kTimeout, [this] { return !hold_; });
      }
      return free_bytes.load();
    };
  }
  void Hold() {
    std::lock_guard<std::mutex> lock(mu_);
    hold_ = true;
    entered_ = false;
  }
  // Waits (bounded) until the writer is inside the probe.
  bool WaitEntered() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kTimeout, [this] { return entered_; });
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    hold_ = false;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool hold_ = false;
  bool entered_ = false;
};

// The probe runs at most every 100 ms; past this the next group probes again.
void WaitForNextProbe() { std::this_thread::sleep_for(std::chrono::milliseconds(150)); }

TEST_CASE(
    "StorageWriter refusing a group with several batches of one gateway stores them all on "
    "resend",
    "[server][storage_writer][faults]") {
  testing::TempDir dir;
  SpaceProbe probe;
  Rig rig(dir / "db", nullptr,
          WriterOptions{.min_free_bytes = 100'000'000, .free_bytes = probe.Function()});
  REQUIRE(rig.Submit("g1", 1, 1) == Outcome::kStored);
  probe.free_bytes = 50'000'000;
  WaitForNextProbe();
  // g2's batch is the group that probes; g1's two batches queue behind it and
  // form the next group, refused whole while space stays low.
  probe.Hold();
  TestBatch& other = rig.New("g2", 1, 1);
  REQUIRE(rig.writer->Submit(&other));
  REQUIRE(probe.WaitEntered());
  TestBatch& two = rig.New("g1", 1, 2);
  TestBatch& three = rig.New("g1", 1, 3);
  REQUIRE(rig.writer->Submit(&two));
  REQUIRE(rig.writer->Submit(&three));
  probe.Release();
  CHECK(other.WaitOutcome() == Outcome::kFailed);
  const auto [two_outcome, two_error] = two.Wait();
  CHECK(two_outcome == Outcome::kFailed);
  CHECK(two_error.code() == alarm::Status::Code::kResourceExhausted);
  CHECK(three.WaitOutcome() == Outcome::kFailed);

  probe.free_bytes = 500'000'000;  // space freed; the gateways resend in order
  WaitForNextProbe();
  CHECK(rig.Submit("g1", 1, 2) == Outcome::kStored);  // not taken for a duplicate
  CHECK(rig.Submit("g1", 1, 3) == Outcome::kStored);
  CHECK(rig.Submit("g2", 1, 1) == Outcome::kStored);
  auto mark = rig.writer->StoredWatermark("g1");
  REQUIRE(mark.has_value());
  REQUIRE(mark->has_value());
  CHECK(**mark == storage::Watermark{1, 3});
}

TEST_CASE("StorageWriter refuses a gateway's later batches until its failed one is resent",
          "[server][storage_writer][faults]") {
  testing::TempDir dir;
  SpaceProbe probe;
  Rig rig(dir / "db", nullptr,
          WriterOptions{.min_free_bytes = 100'000'000, .free_bytes = probe.Function()});
  REQUIRE(rig.Submit("g1", 1, 1) == Outcome::kStored);
  probe.free_bytes = 50'000'000;
  WaitForNextProbe();
  REQUIRE(rig.Submit("g1", 1, 2) == Outcome::kFailed);  // disk nearly full
  probe.free_bytes = 500'000'000;
  WaitForNextProbe();

  SECTION("a later batch first (still queued from the old stream) is refused, naming the gap") {
    TestBatch& three = rig.New("g1", 1, 3);
    REQUIRE(rig.writer->Submit(&three));
    const auto [outcome, error] = three.Wait();
    CHECK(outcome == Outcome::kFailed);
    CHECK(error.code() == alarm::Status::Code::kAborted);
    CHECK(error.message().find("from (1, 2)") != std::string::npos);
    CHECK(rig.writer->gap_refusals() == 1);
    CHECK(rig.Submit("g2", 1, 7) == Outcome::kStored);  // other gateways are not held
    // The resend, in order: everything stored once.
    CHECK(rig.Submit("g1", 1, 2) == Outcome::kStored);
    CHECK(rig.Submit("g1", 1, 3) == Outcome::kStored);
    CHECK(rig.Submit("g1", 1, 3) == Outcome::kDuplicate);
  }
  SECTION("a higher epoch (the gateway renumbered) is stored") {
    CHECK(rig.Submit("g1", 2, 1) == Outcome::kStored);
    CHECK(rig.Submit("g1", 2, 2) == Outcome::kStored);
  }
  CHECK(rig.writer->gaps_opened() == 1);
}

TEST_CASE("StorageWriter refuses an epoch below the stored one instead of calling it a duplicate",
          "[server][storage_writer]") {
  testing::TempDir dir;
  Rig rig(dir / "db");
  REQUIRE(rig.Submit("g1", 5, 10) == Outcome::kStored);
  TestBatch& behind = rig.New("g1", 4, 11);
  REQUIRE(rig.writer->Submit(&behind));
  const auto [outcome, error] = behind.Wait();
  CHECK(outcome == Outcome::kFailed);
  CHECK(error.code() == alarm::Status::Code::kFailedPrecondition);
  CHECK(error.message().find("(5, 10)") != std::string::npos);
  CHECK(rig.writer->epoch_refusals() == 1);
  CHECK(rig.writer->gaps_opened() == 0);                 // the gateway must renumber, not resend
  CHECK(rig.Submit("g1", 5, 9) == Outcome::kDuplicate);  // same epoch, lower: a resend
  CHECK(rig.Submit("g1", 6, 1) == Outcome::kStored);
  auto mark = rig.writer->StoredWatermark("g1");
  REQUIRE(mark.has_value());
  REQUIRE(mark->has_value());
  CHECK(**mark == storage::Watermark{6, 1});
  auto none = rig.writer->StoredWatermark("never-sent");
  REQUIRE(none.has_value());
  CHECK_FALSE(none->has_value());
}

TEST_CASE("StorageWriter CheckSpace sees a full disk and its end without any batch",
          "[server][storage_writer][faults]") {
  testing::TempDir dir;
  std::atomic<uint64_t> free_bytes{1'000'000'000};
  Rig rig(dir / "db", nullptr, WriterOptions{.min_free_bytes = 100'000'000, .free_bytes = [&] {
                                               return free_bytes.load();
                                             }});
  CHECK_FALSE(rig.writer->CheckSpace());
  free_bytes = 50'000'000;
  CHECK(rig.writer->CheckSpace());
  CHECK(rig.writer->low_space());
  free_bytes = 500'000'000;  // freed while no gateway sends (health NOT_SERVING)
  CHECK_FALSE(rig.writer->CheckSpace());
  CHECK_FALSE(rig.writer->low_space());
  CHECK(rig.Submit("g1", 1, 1) == Outcome::kStored);
}

TEST_CASE("StorageWriter when RocksDB runs out of space: no false ack, refused until a restart",
          "[server][storage_writer][faults]") {
  testing::TempDir dir;
  testing::DiskFullFileSystem fs;
  {
    Rig rig(dir / "db", fs.env());
    REQUIRE(rig.Submit("g1", 1, 1) == Outcome::kStored);
    fs.SetFull(true);
    TestBatch& lost = rig.New("g1", 1, 2);
    REQUIRE(rig.writer->Submit(&lost));
    const auto [outcome, error] = lost.Wait();
    CHECK(outcome == Outcome::kFailed);  // never acked as stored
    CHECK(error.code() == alarm::Status::Code::kUnavailable);
    CHECK_FALSE(rig.writer->healthy());
    CHECK(rig.writer->sticky_error().code() == alarm::Status::Code::kResourceExhausted);
    CHECK(fs.refused() > 0);
    CHECK(rig.Submit("g1", 1, 3) == Outcome::kFailed);  // refused while failed
    CHECK_FALSE(rig.writer->TryRecover().ok());         // still full
    fs.SetFull(false);  // space freed: RocksDB 7.8 may still refuse to resume
    if (rig.writer->TryRecover().ok()) {
      CHECK(rig.Submit("g1", 1, 2) == Outcome::kStored);
    }
    rig.writer->Stop();
  }
  // The restart vigild does when it cannot resume (exit status 3): the
  // gateway resends what was not acked, and it is stored once.
  Rig rig(dir / "db", fs.env());
  CHECK(rig.writer->healthy());
  const Outcome two = rig.Submit("g1", 1, 2);
  CHECK((two == Outcome::kStored || two == Outcome::kDuplicate));
  CHECK(rig.Submit("g1", 1, 3) == Outcome::kStored);
  rig.writer->Stop();
  int n = 0;
  REQUIRE(rig.store
              ->Replay(0,
                       [&](uint64_t, const storage::LogEntry& entry) {
                         n += entry.kind == storage::LogEntryKind::kBatch;
                         return alarm::Status::Ok();
                       })
              .ok());
  CHECK(n == 3);  // batches 1..3, once each
}

// An ingest log as JetStream would be one: Append returns at once and the
// group completes later on the log's own thread, at positions of the log's
// choosing (groups 100 apart: other publishers share the stream). Groups can
// be held back, and a chosen append fails. It reads a group's bytes only when
// it completes it, so the writer must keep them valid until then.
class AsyncLog final : public storage::IngestLog {
 public:
  struct Entry {
    uint64_t position;
    std::string gateway_id;
    storage::Watermark watermark;
    std::string record;
  };

  AsyncLog() : thread_([this] { Run(); }) {}
  ~AsyncLog() override {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
      held_ = false;
    }
    cv_.notify_all();
    thread_.join();
  }

  void Append(std::span<const storage::LogAppend> group, AppendDone done) override {
    std::lock_guard lock(mu_);
    ++appends_;
    max_in_flight_ = std::max(max_in_flight_, ++in_flight_);
    pending_.push_back({group, std::move(done), appends_ == fail_append_});
    cv_.notify_all();
  }
  uint64_t end_position() const override {
    std::lock_guard lock(mu_);
    return next_;
  }
  uint64_t replay_from() const override { return 1; }
  alarm::Status Replay(
      uint64_t from,
      const std::function<alarm::Status(uint64_t, const storage::LogEntry&)>& visit) override {
    for (const Entry& e : entries()) {
      if (e.position < from) continue;
      if (alarm::Status s = visit(e.position, storage::LogEntry{.payload = e.record}); !s.ok()) {
        return s;
      }
    }
    return alarm::Status::Ok();
  }
  alarm::Status Checkpoint(uint64_t) override { return alarm::Status::Ok(); }
  alarm::Result<std::unordered_map<std::string, storage::Watermark>> LoadWatermarks() override {
    std::lock_guard lock(mu_);
    return marks_;
  }
  alarm::Result<std::optional<storage::Watermark>> LoadWatermark(
      std::string_view gateway_id) override {
    std::lock_guard lock(mu_);
    auto it = marks_.find(std::string(gateway_id));
    return it == marks_.end() ? std::nullopt : std::optional(it->second);
  }
  alarm::Status Resume() override { return alarm::Status::Ok(); }

  // Groups wait (Append has returned) until Release.
  void Hold() {
    std::lock_guard lock(mu_);
    held_ = true;
  }
  void Release() {
    {
      std::lock_guard lock(mu_);
      held_ = false;
    }
    cv_.notify_all();
  }
  // The n-th Append (from 1) fails with kIOError; nothing of it is stored.
  void FailAppend(uint64_t n) {
    std::lock_guard lock(mu_);
    fail_append_ = n;
  }
  // Waits (bounded) until `n` groups were appended.
  bool WaitForAppends(uint64_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kTimeout, [&] { return appends_ >= n; });
  }
  std::vector<Entry> entries() const {
    std::lock_guard lock(mu_);
    return entries_;
  }
  uint64_t max_in_flight() const {
    std::lock_guard lock(mu_);
    return max_in_flight_;
  }
  std::thread::id thread_id() const { return thread_.get_id(); }

 private:
  struct Pending {
    std::span<const storage::LogAppend> group;
    AppendDone done;
    bool fail;
  };

  void Run() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || (!held_ && !pending_.empty()); });
      if (pending_.empty()) return;  // stopping
      Pending p = std::move(pending_.front());
      pending_.pop_front();
      alarm::Result<uint64_t> first = alarm::Status::IOError("injected append failure");
      if (!p.fail) {
        first = next_;
        uint64_t position = next_;
        for (const storage::LogAppend& a : p.group) {
          entries_.push_back(
              {position++, std::string(a.gateway_id), a.watermark, std::string(a.record)});
          if (!a.gateway_id.empty()) marks_[std::string(a.gateway_id)] = a.watermark;
        }
        next_ += 100;
      }
      --in_flight_;  // its completion begins: the writer may append again
      lock.unlock();
      p.done(std::move(first));
      lock.lock();
    }
  }

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> pending_;
  std::vector<Entry> entries_;
  std::unordered_map<std::string, storage::Watermark> marks_;
  uint64_t next_ = 100;
  uint64_t appends_ = 0;
  uint64_t fail_append_ = 0;
  uint64_t in_flight_ = 0;
  uint64_t max_in_flight_ = 0;
  bool held_ = false;
  bool stop_ = false;
  std::thread thread_;  // last: starts once the rest is set up
};

TEST_CASE(
    "StorageWriter with a log that completes later: one group in flight, answers in log order",
    "[server][storage_writer][async_log]") {
  testing::TempDir dir;
  AsyncLog log;
  Rig rig(dir / "db", nullptr, {}, &log);
  CHECK(rig.writer->posted_through() == 99);  // below the log's end: positions are the log's

  log.Hold();
  TestBatch& first = rig.New("g1", 1, 1);
  REQUIRE(rig.writer->Submit(&first));
  REQUIRE(log.WaitForAppends(1));
  // Queued while the first group is in flight: they wait for its completion.
  std::vector<TestBatch*> later;
  for (uint64_t seq = 2; seq <= 20; ++seq) {
    later.push_back(&rig.New("g1", 1, seq));
    REQUIRE(rig.writer->Submit(later.back()));
  }
  log.Release();

  CHECK(first.WaitOutcome() == Outcome::kStored);
  uint64_t rank = first.done_rank();
  for (TestBatch* b : later) {
    CHECK(b->WaitOutcome() == Outcome::kStored);
    CHECK(b->done_rank() > rank);  // answered in log order
    rank = b->done_rank();
    CHECK(b->done_on() == log.thread_id());  // from the completion
  }
  CHECK(log.max_in_flight() == 1);

  // Stored in order, at the log's positions, and handed to the shards before Done.
  const std::vector<AsyncLog::Entry> entries = log.entries();
  REQUIRE(entries.size() == 20);
  for (size_t i = 0; i < entries.size(); ++i) {
    CHECK(entries[i].watermark == storage::Watermark{1, i + 1});
    if (i > 0) CHECK(entries[i].position > entries[i - 1].position);
  }
  CHECK(entries.front().position == 100);
  CHECK(rig.writer->posted_through() == entries.back().position);
  CHECK(rig.ReadHead("s1").size() == 20);
  CHECK(rig.Submit("g1", 1, 20) == Outcome::kDuplicate);
}

TEST_CASE(
    "StorageWriter with a log that completes later: a failed group is undone and fences its "
    "gateway",
    "[server][storage_writer][async_log]") {
  testing::TempDir dir;
  AsyncLog log;
  Rig rig(dir / "db", nullptr, {}, &log);
  log.FailAppend(2);
  log.Hold();
  TestBatch& one = rig.New("g1", 1, 1);
  REQUIRE(rig.writer->Submit(&one));
  REQUIRE(log.WaitForAppends(1));
  // One group while the first is in flight: both fail together.
  TestBatch& two = rig.New("g1", 1, 2);
  TestBatch& three = rig.New("g1", 1, 3);
  REQUIRE(rig.writer->Submit(&two));
  REQUIRE(rig.writer->Submit(&three));
  log.Release();
  CHECK(one.WaitOutcome() == Outcome::kStored);
  const auto [two_outcome, two_error] = two.Wait();
  CHECK(two_outcome == Outcome::kFailed);
  CHECK(two_error.code() == alarm::Status::Code::kUnavailable);
  CHECK(three.WaitOutcome() == Outcome::kFailed);
  CHECK(two.done_on() == log.thread_id());
  CHECK_FALSE(rig.writer->healthy());
  REQUIRE(rig.writer->TryRecover().ok());

  // The later batch first: refused, naming the gap's start (the lowest failed).
  TestBatch& three_again = rig.New("g1", 1, 3);
  REQUIRE(rig.writer->Submit(&three_again));
  const auto [outcome, error] = three_again.Wait();
  CHECK(outcome == Outcome::kFailed);
  CHECK(error.code() == alarm::Status::Code::kAborted);
  CHECK(error.message().find("from (1, 2)") != std::string::npos);
  // The resend, in order: the undone watermark lets it in, each stored once.
  CHECK(rig.Submit("g1", 1, 2) == Outcome::kStored);
  CHECK(rig.Submit("g1", 1, 3) == Outcome::kStored);
  CHECK(rig.Submit("g1", 1, 3) == Outcome::kDuplicate);

  std::vector<storage::Watermark> stored;
  for (const AsyncLog::Entry& e : log.entries()) stored.push_back(e.watermark);
  const std::vector<storage::Watermark> expected = {{1, 1}, {1, 2}, {1, 3}};
  CHECK(stored == expected);
  CHECK(log.max_in_flight() == 1);
  CHECK(rig.writer->gaps_opened() == 1);
}

WriterOptions Pipelined() {
  WriterOptions options;
  options.max_groups_in_flight = 4;
  return options;
}

// Pipelined: groups of other gateways are appended while one is in flight;
// a gateway's next batch waits for the completion of the group holding its
// previous one.
TEST_CASE("StorageWriter pipelined keeps a gateway's batches out of two groups in flight",
          "[server][storage_writer][async_log][pipelined]") {
  testing::TempDir dir;
  AsyncLog log;
  Rig rig(dir / "db", nullptr, Pipelined(), &log);
  log.Hold();
  TestBatch& g1_first = rig.New("g1", 1, 1);
  REQUIRE(rig.writer->Submit(&g1_first));
  REQUIRE(log.WaitForAppends(1));
  TestBatch& g2_first = rig.New("g2", 1, 1);
  REQUIRE(rig.writer->Submit(&g2_first));
  REQUIRE(log.WaitForAppends(2));  // appended while the first is in flight
  TestBatch& g1_second = rig.New("g1", 1, 2);
  REQUIRE(rig.writer->Submit(&g1_second));
  TestBatch& g3_first = rig.New("g3", 1, 1);
  REQUIRE(rig.writer->Submit(&g3_first));
  REQUIRE(log.WaitForAppends(3));  // g3's group, without g1's second batch
  log.Release();

  for (TestBatch* b : {&g1_first, &g2_first, &g3_first, &g1_second}) {
    CHECK(b->WaitOutcome() == Outcome::kStored);
  }
  std::vector<std::pair<std::string, storage::Watermark>> stored;
  for (const AsyncLog::Entry& e : log.entries()) stored.emplace_back(e.gateway_id, e.watermark);
  const std::vector<std::pair<std::string, storage::Watermark>> expected = {
      {"g1", {1, 1}}, {"g2", {1, 1}}, {"g3", {1, 1}}, {"g1", {1, 2}}};
  CHECK(stored == expected);
  CHECK(log.max_in_flight() == 3);
  // Answered in log order.
  CHECK(g1_first.done_rank() < g2_first.done_rank());
  CHECK(g2_first.done_rank() < g3_first.done_rank());
  CHECK(g3_first.done_rank() < g1_second.done_rank());
  // Posted to the shards: the three first batches share one reading time.
  CHECK(rig.ReadHead("s1").size() == 2);
  CHECK(rig.writer->posted_through() == log.entries().back().position);
  CHECK(rig.Submit("g1", 1, 2) == Outcome::kDuplicate);
}

// The reason for the rule above: when a group is lost, no later batch of its
// gateway may already be stored, or the lost one's resend would be taken for
// a duplicate. Other gateways' groups in flight are not affected.
TEST_CASE("StorageWriter pipelined never stores a batch behind its gateway's lost group",
          "[server][storage_writer][async_log][pipelined]") {
  testing::TempDir dir;
  AsyncLog log;
  Rig rig(dir / "db", nullptr, Pipelined(), &log);
  log.FailAppend(1);
  log.Hold();
  TestBatch& lost = rig.New("g1", 1, 1);
  REQUIRE(rig.writer->Submit(&lost));
  REQUIRE(log.WaitForAppends(1));
  TestBatch& other = rig.New("g2", 1, 1);
  REQUIRE(rig.writer->Submit(&other));
  REQUIRE(log.WaitForAppends(2));
  TestBatch& behind = rig.New("g1", 1, 2);
  REQUIRE(rig.writer->Submit(&behind));
  // Queued after `behind`: once its group is appended, `behind` was either
  // appended before it or held back.
  TestBatch& third = rig.New("g3", 1, 1);
  REQUIRE(rig.writer->Submit(&third));
  REQUIRE(log.WaitForAppends(3));
  log.Release();

  const auto [lost_outcome, lost_error] = lost.Wait();
  CHECK(lost_outcome == Outcome::kFailed);
  CHECK(lost_error.code() == alarm::Status::Code::kUnavailable);
  CHECK(other.WaitOutcome() == Outcome::kStored);  // its own group, stored
  CHECK(third.WaitOutcome() == Outcome::kStored);
  CHECK(behind.WaitOutcome() == Outcome::kFailed);  // built after the loss was known
  REQUIRE(rig.writer->TryRecover().ok());

  // The resend, in order, is stored: nothing of g1 was stored behind the loss.
  CHECK(rig.Submit("g1", 1, 1) == Outcome::kStored);
  CHECK(rig.Submit("g1", 1, 2) == Outcome::kStored);
  std::vector<std::pair<std::string, storage::Watermark>> stored;
  for (const AsyncLog::Entry& e : log.entries()) stored.emplace_back(e.gateway_id, e.watermark);
  const std::vector<std::pair<std::string, storage::Watermark>> expected = {
      {"g2", {1, 1}}, {"g3", {1, 1}}, {"g1", {1, 1}}, {"g1", {1, 2}}};
  CHECK(stored == expected);
}

TEST_CASE("StorageWriter pipelined stop answers every batch in flight and deferred",
          "[server][storage_writer][async_log][pipelined]") {
  testing::TempDir dir;
  AsyncLog log;
  Rig rig(dir / "db", nullptr, Pipelined(), &log);
  log.Hold();
  TestBatch& first = rig.New("g1", 1, 1);
  REQUIRE(rig.writer->Submit(&first));
  REQUIRE(log.WaitForAppends(1));
  TestBatch& deferred = rig.New("g1", 1, 2);
  REQUIRE(rig.writer->Submit(&deferred));
  TestBatch& other = rig.New("g2", 1, 1);
  REQUIRE(rig.writer->Submit(&other));
  REQUIRE(log.WaitForAppends(2));
  auto stopped = std::async(std::launch::async, [&] { rig.writer->Stop(); });
  log.Release();
  REQUIRE(stopped.wait_for(kTimeout) == std::future_status::ready);
  CHECK(first.WaitOutcome() == Outcome::kStored);
  CHECK(deferred.WaitOutcome() == Outcome::kStored);
  CHECK(other.WaitOutcome() == Outcome::kStored);
  CHECK(log.entries().size() == 3);
}

}  // namespace
}  // namespace vigil::server
