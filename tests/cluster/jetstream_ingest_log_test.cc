// JetStreamIngestLog against real nats-server processes on loopback (one node,
// or a 3-node JetStream cluster with an R3 stream).
#include "cluster/jetstream_ingest_log.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "cluster/group_message.h"
#include "cluster/nats_client.h"
#include "storage/control_record.h"
#include "storage/mutex.h"
#include "tests/cluster/stream_leader.h"
#include "tests/testing/nats_cluster.h"
#include "tests/testing/temp_dir.h"

namespace vigil::cluster {
namespace {

using alarm::Status;
using storage::LogAppend;
using storage::Watermark;
using Clock = std::chrono::steady_clock;

// Batches of one gateway with their record bytes. The LogAppends view the
// strings, so they are rebuilt by Appends() wherever the Group now lives
// (a copy or a move of short strings would leave views dangling).
struct Group {
  std::string gateway;
  uint64_t epoch = 0;
  uint64_t first = 0;
  std::vector<std::string> records;
  std::vector<int64_t> stored_at;

  // `n` batches of `gateway`, sequences first..first+n-1 of `epoch`.
  static Group Of(const std::string& gateway, uint64_t epoch, uint64_t first, size_t n) {
    Group g;
    g.gateway = gateway;
    g.epoch = epoch;
    g.first = first;
    for (size_t i = 0; i < n; ++i) {
      g.records.push_back("record " + gateway + " " + std::to_string(epoch) + ":" +
                          std::to_string(first + i));
      g.stored_at.push_back(1000 + static_cast<int64_t>(first + i));
    }
    return g;
  }
  size_t size() const { return records.size(); }
  const std::vector<LogAppend>& Appends() {
    appends_.clear();
    for (size_t i = 0; i < records.size(); ++i) {
      appends_.push_back({.gateway_id = gateway,
                          .watermark = {epoch, first + i},
                          .record = records[i],
                          .stored_at = stored_at[i]});
    }
    return appends_;
  }

 private:
  std::vector<LogAppend> appends_;
};

JetStreamLogOptions Options(const testing::NatsCluster& nats, const testing::TempDir& dir,
                            int replicas = 1) {
  JetStreamLogOptions o;
  o.nats.urls = nats.urls();
  o.replicas = replicas;
  o.state_dir = dir / "log_state";
  o.append_timeout = std::chrono::milliseconds(2000);
  return o;
}

std::unique_ptr<JetStreamIngestLog> OpenLog(const JetStreamLogOptions& o) {
  auto log = JetStreamIngestLog::Open(o);
  INFO((log ? std::string("ok") : log.error().ToString()));
  REQUIRE(log.has_value());
  return std::move(*log);
}

struct Replayed {
  uint64_t position;
  storage::LogEntry entry;
  std::string payload;
};

std::vector<Replayed> ReplayAll(JetStreamIngestLog& log, uint64_t from = 0) {
  std::vector<Replayed> out;
  Status s = log.Replay(from, [&](uint64_t pos, const storage::LogEntry& e) {
    // The contract: payloads are 8-byte aligned.
    CHECK(reinterpret_cast<uintptr_t>(e.payload.data()) % 8 == 0);
    out.push_back({pos, e, std::string(e.payload)});
    return Status::Ok();
  });
  INFO(s.ToString());
  REQUIRE(s.ok());
  return out;
}

// Collects `done` outcomes in the order they run.
class Outcomes {
 public:
  storage::IngestLog::AppendDone Done(size_t index) {
    return [this, index](alarm::Result<uint64_t> r) {
      storage::MutexLock lock(&mu_);
      order_.push_back(index);
      if (r) {
        positions_[index] = *r;
      } else {
        errors_[index] = r.error();
      }
      cv_.NotifyAll();
    };
  }
  // Waits until `n` outcomes arrived or `timeout` passed; true if they did.
  bool WaitFor(size_t n, std::chrono::milliseconds timeout) {
    storage::MutexLock lock(&mu_);
    const auto deadline = Clock::now() + timeout;
    while (order_.size() < n && Clock::now() < deadline) cv_.WaitUntil(&mu_, deadline);
    return order_.size() >= n;
  }
  std::vector<size_t> order() {
    storage::MutexLock lock(&mu_);
    return order_;
  }
  std::map<size_t, uint64_t> positions() {
    storage::MutexLock lock(&mu_);
    return positions_;
  }
  std::map<size_t, Status> errors() {
    storage::MutexLock lock(&mu_);
    return errors_;
  }

 private:
  storage::Mutex mu_;
  storage::CondVar cv_;
  std::vector<size_t> order_;
  std::map<size_t, uint64_t> positions_;
  std::map<size_t, Status> errors_;
};

// Logs of partitions 0 and 1 of one stream, each with its own state folder.
std::pair<std::unique_ptr<JetStreamIngestLog>, std::unique_ptr<JetStreamIngestLog>>
OpenTwoPartitions(const testing::NatsCluster& nats, const testing::TempDir& dir) {
  auto o0 = Options(nats, dir);
  auto o1 = o0;
  o1.partition = 1;
  o1.state_dir = dir / "state1";
  auto p0 = OpenLog(o0);
  return {std::move(p0), OpenLog(o1)};
}

// Resume until ok or `timeout`; the last status.
Status ResumeWithin(JetStreamIngestLog& log, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  Status s = log.Resume();
  while (!s.ok() && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    s = log.Resume();
  }
  return s;
}

TEST_CASE("JetStream log: append then replay returns every entry, consecutive within a group",
          "[cluster][jetstream]") {
  testing::TempDir dir;
  testing::NatsCluster nats(dir / "nats", 1);
  auto log = OpenLog(Options(nats, dir));
  const uint64_t start = log->end_position();
  CHECK(start > 0);

  std::vector<Group> groups = {Group::Of("gw-a", 1, 1, 1), Group::Of("gw-b", 3, 10, 3),
                               Group::Of("gw-a", 1, 2, 2)};
  std::vector<uint64_t> firsts;
  for (Group& g : groups) {
    auto first = storage::AppendAndWait(*log, g.Appends());
    REQUIRE(first.has_value());
    CHECK(*first >= start);
    if (!firsts.empty()) CHECK(*first > firsts.back() + groups[firsts.size() - 1].size() - 1);
    firsts.push_back(*first);
    CHECK(log->end_position() > *first + g.size() - 1);
  }

  auto entries = ReplayAll(*log);
  REQUIRE(entries.size() == 6);
  size_t k = 0;
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    for (size_t i = 0; i < groups[gi].size(); ++i, ++k) {
      INFO("group " << gi << " entry " << i);
      CHECK(entries[k].position == firsts[gi] + i);
      CHECK(entries[k].payload == groups[gi].records[i]);
      CHECK(entries[k].entry.kind == storage::LogEntryKind::kBatch);
      CHECK(entries[k].entry.stored_at == groups[gi].stored_at[i]);
    }
  }
  // From the middle of a group: only what is at or after the position.
  auto tail = ReplayAll(*log, firsts[1] + 2);
  REQUIRE(tail.size() == 3);
  CHECK(tail[0].payload == groups[1].records[2]);
}

TEST_CASE("JetStream log: many groups in flight complete in append order", "[cluster][jetstream]") {
  testing::TempDir dir;
  testing::NatsCluster nats(dir / "nats", 1);
  auto o = Options(nats, dir);
  o.max_in_flight = 64;  // fewer than the groups: Append also waits for room
  auto log = OpenLog(o);
  constexpr size_t kGroups = 300;
  std::vector<Group> groups;
  groups.reserve(kGroups);
  for (size_t i = 0; i < kGroups; ++i) groups.push_back(Group::Of("gw", 1, 1 + 2 * i, 2));
  // Every 37th append is an empty group: refused at once (kInvalidArgument)
  // on this thread, yet its `done` must wait for the groups before it.
  auto refused = [](size_t i) { return i % 37 == 36; };
  Outcomes outcomes;
  for (size_t i = 0; i < kGroups; ++i) {
    if (refused(i)) {
      log->Append({}, outcomes.Done(i));
    } else {
      log->Append(groups[i].Appends(), outcomes.Done(i));
    }
  }
  REQUIRE(outcomes.WaitFor(kGroups, std::chrono::seconds(20)));
  const auto order = outcomes.order();
  for (size_t i = 0; i < kGroups; ++i) REQUIRE(order[i] == i);
  const auto errors = outcomes.errors();
  size_t stored = 0;
  for (size_t i = 0; i < kGroups; ++i) {
    if (refused(i)) {
      CHECK(errors.at(i).code() == Status::Code::kInvalidArgument);
    } else {
      CHECK(errors.count(i) == 0);
      ++stored;
    }
  }
  const auto positions = outcomes.positions();
  uint64_t last = 0;
  for (auto& [i, position] : positions) {
    CHECK(position > last + 1);
    last = position;
  }
  CHECK(ReplayAll(*log).size() == 2 * stored);
  CHECK(log->LoadWatermark("gw")->value() == Watermark{1, 2 * kGroups});
}

TEST_CASE("JetStream log: a resent group (same gateway, epoch, seq) is dropped as a duplicate",
          "[cluster][jetstream]") {
  testing::TempDir dir;
  testing::NatsCluster nats(dir / "nats", 1);
  auto log = OpenLog(Options(nats, dir));
  Group g = Group::Of("gw", 4, 5, 1);
  auto first = storage::AppendAndWait(*log, g.Appends());
  REQUIRE(first.has_value());
  // The same batch again, re-encoded with another commit time: what a resend
  // after a lost acknowledgement looks like.
  Group again = Group::Of("gw", 4, 5, 1);
  again.stored_at[0] = 99999;
  auto second = storage::AppendAndWait(*log, again.Appends());
  REQUIRE(second.has_value());
  CHECK(*second == *first);
  CHECK(log->duplicates() == 1);
  // A group that merely starts with the same batch is new, not a duplicate.
  Group wider = Group::Of("gw", 4, 5, 2);
  auto third = storage::AppendAndWait(*log, wider.Appends());
  REQUIRE(third.has_value());
  CHECK(*third > *first);
  CHECK(log->duplicates() == 1);
  auto entries = ReplayAll(*log);
  CHECK(entries.size() == 3);  // 1 + 2, the resend is not stored
}

TEST_CASE("JetStream log: partitions share the stream, each replays only its own subject",
          "[cluster][jetstream]") {
  testing::TempDir dir;
  testing::NatsCluster nats(dir / "nats", 1);
  auto [p0, p1] = OpenTwoPartitions(nats, dir);
  CHECK(p0->subject() == "vigil.ingest.0");
  CHECK(p1->subject() == "vigil.ingest.1");
  std::vector<uint64_t> firsts0;
  for (uint64_t i = 0; i < 4; ++i) {
    Group a = Group::Of("gw-0", 1, 1 + 2 * i, 2);
    Group b = Group::Of("gw-1", 1, 1 + i, 1);
    auto first = storage::AppendAndWait(*p0, a.Appends());
    REQUIRE(first.has_value());
    firsts0.push_back(*first);
    REQUIRE(storage::AppendAndWait(*p1, b.Appends()).has_value());
  }
  auto e0 = ReplayAll(*p0);
  auto e1 = ReplayAll(*p1);
  REQUIRE(e0.size() == 8);
  REQUIRE(e1.size() == 4);
  for (const Replayed& r : e0) CHECK(r.payload.find("gw-0") != std::string::npos);
  for (const Replayed& r : e1) CHECK(r.payload.find("gw-1") != std::string::npos);
  // Positions leave gaps where the other partition's messages are.
  for (size_t i = 1; i < firsts0.size(); ++i) CHECK(firsts0[i] > firsts0[i - 1] + 2);
  // Each partition's watermarks are its own gateways'.
  CHECK(p0->LoadWatermarks()->count("gw-1") == 0);
  CHECK(p1->LoadWatermarks()->count("gw-0") == 0);
}

// Follows `log` from `from` until `count` entries were visited (bounded).
std::vector<storage::SharedLogEntry> FollowN(JetStreamIngestLog& log, uint64_t from, size_t count,
                                             std::vector<std::string>* payloads, Status* status) {
  std::vector<storage::SharedLogEntry> out;
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  *status = log.Follow(
      from, std::chrono::milliseconds(20),
      [&](const storage::SharedLogEntry& e) {
        out.push_back(e);
        payloads->push_back(std::string(e.entry.payload));
        return Status::Ok();
      },
      [&](uint64_t, bool) { return out.size() < count && Clock::now() < deadline; });
  return out;
}

TEST_CASE("JetStream log: Follow visits every partition's entries in stream order",
          "[cluster][jetstream]") {
  testing::TempDir dir;
  testing::NatsCluster nats(dir / "nats", 1);
  auto [p0, p1] = OpenTwoPartitions(nats, dir);
  Group a = Group::Of("gw-0", 1, 1, 2);
  Group b = Group::Of("gw-1", 1, 1, 1);
  REQUIRE(storage::AppendAndWait(*p0, a.Appends()).has_value());
  REQUIRE(storage::AppendAndWait(*p1, b.Appends()).has_value());
  storage::ControlRecord tick;
  const std::string control = storage::EncodeControlRecord(tick);
  const std::vector<LogAppend> control_group = {{.gateway_id = {},
                                                 .watermark = {},
                                                 .record = control,
                                                 .kind = storage::LogEntryKind::kControl}};
  REQUIRE(storage::AppendAndWait(*p1, control_group).has_value());
  REQUIRE(p0->Resume().ok());  // a probe message in between: not visited

  std::vector<std::string> payloads;
  Status s;
  const auto entries = FollowN(*p0, 0, 4, &payloads, &s);
  INFO(s.ToString());
  REQUIRE(s.ok());
  REQUIRE(entries.size() == 4);
  CHECK(payloads[0] == a.records[0]);
  CHECK(payloads[1] == a.records[1]);
  CHECK(payloads[2] == b.records[0]);
  CHECK(entries[2].gateway_id.empty() == false);
  CHECK(entries[3].entry.kind == storage::LogEntryKind::kControl);
  for (size_t i = 1; i < entries.size(); ++i) CHECK(entries[i].position > entries[i - 1].position);
  // Only the log that published a control group calls it its own.
  CHECK_FALSE(entries[3].published_here);
  std::vector<std::string> payloads1;
  const auto from_p1 = FollowN(*p1, entries[3].position, 1, &payloads1, &s);
  REQUIRE(from_p1.size() == 1);
  CHECK(from_p1[0].published_here);
  auto last = p0->LastStored();
  REQUIRE(last.has_value());
  CHECK(*last >= entries[3].position);
}

TEST_CASE("JetStream log: Follow refuses to start past a retention gap", "[cluster][jetstream]") {
  testing::TempDir dir;
  testing::NatsCluster nats(dir / "nats", 1);
  auto o = Options(nats, dir);
  auto log = OpenLog(o);
  for (uint64_t i = 0; i < 3; ++i) {
    Group g = Group::Of("gw", 1, 1 + i, 1);
    REQUIRE(storage::AppendAndWait(*log, g.Appends()).has_value());
  }
  // The stream's retention drops what this node never applied.
  {
    NatsOptions no;
    no.urls = nats.urls();
    auto client = NatsClient::Connect(no);
    REQUIRE(client.has_value());
    auto js = (*client)->JetStream(nullptr);
    REQUIRE(js.has_value());
    REQUIRE(js_PurgeStream(js->get(), o.stream.c_str(), nullptr, nullptr) == NATS_OK);
  }
  std::vector<std::string> payloads;
  Status s;
  (void)FollowN(*log, 0, 1, &payloads, &s);
  CHECK(s.code() == Status::Code::kOutOfRange);
  CHECK(s.message().find("restore") != std::string::npos);
}

TEST_CASE("JetStream log: a lost NATS connection is made again and counted",
          "[cluster][jetstream]") {
  testing::TempDir dir;
  testing::NatsCluster nats(dir / "nats", 1);
  auto log = OpenLog(Options(nats, dir));
  CHECK(log->connected());
  CHECK(log->reconnects() == 0);
  nats.Kill(0);
  nats.Restart(0);
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  while (Clock::now() < deadline && !(log->connected() && log->reconnects() > 0)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(log->connected());
  CHECK(log->reconnects() == 1);
}

TEST_CASE("JetStream log: watermarks and replay_from survive reopening", "[cluster][jetstream]") {
  testing::TempDir dir;
  testing::NatsCluster nats(dir / "nats", 1);
  const auto o = Options(nats, dir);
  uint64_t second_first = 0;
  {
    auto log = OpenLog(o);
    Group a = Group::Of("gw-a", 1, 1, 3);
    REQUIRE(storage::AppendAndWait(*log, a.Appends()).has_value());
    Group b = Group::Of("gw-b", 2, 7, 1);
    auto second = storage::AppendAndWait(*log, b.Appends());
    REQUIRE(second.has_value());
    second_first = *second;
    // Checkpointed watermarks cover gw-a and gw-b; what follows is only in the stream.
    REQUIRE(log->Checkpoint(second_first).ok());
    CHECK(log->replay_from() == second_first);
    CHECK(log->Checkpoint(second_first - 1).ok());  // lower: nothing changes
    CHECK(log->replay_from() == second_first);
    Group c = Group::Of("gw-a", 1, 4, 2);
    REQUIRE(storage::AppendAndWait(*log, c.Appends()).has_value());
    Group d = Group::Of("gw-c", 9, 1, 1);
    REQUIRE(storage::AppendAndWait(*log, d.Appends()).has_value());
  }
  auto check_marks = [](JetStreamIngestLog& log) {
    auto marks = log.LoadWatermarks();
    REQUIRE(marks.has_value());
    CHECK(marks->size() == 3);
    CHECK(marks->at("gw-a") == Watermark{1, 5});
    CHECK(marks->at("gw-b") == Watermark{2, 7});
    CHECK(marks->at("gw-c") == Watermark{9, 1});
    CHECK(!log.LoadWatermark("gw-none")->has_value());
  };
  {
    auto log = OpenLog(o);
    check_marks(*log);
    CHECK(log->replay_from() == second_first);
    auto entries = ReplayAll(*log, log->replay_from());
    CHECK(entries.size() == 1 + 2 + 1);
    CHECK(entries.front().position == second_first);
  }
  {
    // No checkpoint file at all (a new node): everything comes from the stream.
    auto fresh = o;
    fresh.state_dir = dir / "other_state";
    auto log = OpenLog(fresh);
    check_marks(*log);
    CHECK(log->replay_from() == 0);
  }
}

TEST_CASE("JetStream log R3: losing the stream leader while appending loses no acked group",
          "[cluster][jetstream][r3]") {
  // kill -9, or SIGSTOP for longer than the failover and SIGCONT after.
  const bool freeze = GENERATE(false, true);
  INFO((freeze ? "SIGSTOP" : "kill -9") << " of the stream leader");
  testing::TempDir dir;
  testing::NatsCluster nats(dir / "nats", 3);
  auto o = Options(nats, dir, 3);
  o.append_timeout = std::chrono::milliseconds(3000);
  auto log = OpenLog(o);
  const std::string leader = testing::StreamLeader(nats, o.stream);
  REQUIRE(nats.IndexOf(leader) >= 0);

  constexpr size_t kGroups = 200;
  std::vector<Group> groups;
  groups.reserve(kGroups);
  for (size_t i = 0; i < kGroups; ++i) groups.push_back(Group::Of("gw", 1, 1 + 2 * i, 2));
  Outcomes outcomes;
  for (size_t i = 0; i < kGroups; ++i) {
    if (i == kGroups / 2) {  // groups are in flight
      if (freeze) {
        nats.Freeze(nats.IndexOf(leader));
      } else {
        nats.Kill(nats.IndexOf(leader));
      }
    }
    log->Append(groups[i].Appends(), outcomes.Done(i));
  }
  REQUIRE(outcomes.WaitFor(kGroups, std::chrono::seconds(15)));
  // A frozen leader comes back as a follower (or leads again) with what it had.
  if (freeze) nats.Thaw(nats.IndexOf(leader));
  std::map<size_t, uint64_t> acked = outcomes.positions();
  std::vector<size_t> failed;
  for (auto& [i, s] : outcomes.errors()) {
    CHECK(s.code() == Status::Code::kUnavailable);
    failed.push_back(i);
  }
  // What a gateway does: resend every unacked batch once the log is back.
  for (int round = 0; !failed.empty() && round < 3; ++round) {
    Status s = ResumeWithin(*log, std::chrono::seconds(60));
    INFO(s.ToString());
    REQUIRE(s.ok());
    Outcomes retry;
    for (size_t k = 0; k < failed.size(); ++k) {
      log->Append(groups[failed[k]].Appends(), retry.Done(k));
    }
    REQUIRE(retry.WaitFor(failed.size(), std::chrono::seconds(15)));
    std::vector<size_t> still;
    const auto retry_errors = retry.errors();
    for (size_t k = 0; k < failed.size(); ++k) {
      if (retry_errors.count(k) != 0) {
        still.push_back(failed[k]);
      } else {
        acked[failed[k]] = retry.positions().at(k);
      }
    }
    failed = still;
  }
  CHECK(failed.empty());
  INFO("acked first time " << outcomes.positions().size() << " of " << kGroups);

  // Every acked group is stored exactly once (resends inside the duplicate
  // window were dropped), at the position its `done` gave.
  std::map<uint64_t, int> seen;  // sequence -> times
  std::map<uint64_t, uint64_t> position_of;
  for (const Replayed& r : ReplayAll(*log)) {
    const size_t space = r.payload.rfind(':');
    const uint64_t seq = std::stoull(r.payload.substr(space + 1));
    ++seen[seq];
    position_of[seq] = r.position;
  }
  for (auto& [i, position] : acked) {
    for (uint64_t b = 0; b < 2; ++b) {
      const uint64_t seq = 1 + 2 * i + b;
      INFO("group " << i << " batch " << seq);
      CHECK(seen[seq] == 1);
      CHECK(position_of[seq] == position + b);
    }
  }
  for (auto& [seq, times] : seen) CHECK(times == 1);
}

TEST_CASE("JetStream log R3: with quorum lost an append completes kUnavailable within the bound",
          "[cluster][jetstream][r3]") {
  // Killed nodes: the survivor answers at once ("no responders"). Frozen
  // nodes: nothing answers, and the append's own deadline must end the wait.
  const bool freeze = GENERATE(false, true);
  INFO((freeze ? "SIGSTOP" : "kill -9") << " of two of three nodes");
  testing::TempDir dir;
  testing::NatsCluster nats(dir / "nats", 3);
  auto o = Options(nats, dir, 3);
  o.append_timeout = std::chrono::milliseconds(1500);
  auto log = OpenLog(o);
  Group before = Group::Of("gw", 1, 1, 1);
  REQUIRE(storage::AppendAndWait(*log, before.Appends()).has_value());

  for (int i : {1, 2}) {
    if (freeze) {
      nats.Freeze(i);
    } else {
      nats.Kill(i);
    }
  }
  Group g = Group::Of("gw", 1, 2, 1);
  const auto t0 = Clock::now();
  auto r = storage::AppendAndWait(*log, g.Appends());
  const auto took = Clock::now() - t0;
  REQUIRE(!r.has_value());
  INFO(r.error().ToString());
  CHECK(r.error().code() == Status::Code::kUnavailable);
  // append_timeout, plus the watchdog's grace at most.
  CHECK(took < o.append_timeout + std::chrono::milliseconds(1500));
  // Failed: the next append is refused at once, and Resume says why not yet.
  Group next = Group::Of("gw", 1, 3, 1);
  const auto t1 = Clock::now();
  CHECK(!storage::AppendAndWait(*log, next.Appends()).has_value());
  CHECK(Clock::now() - t1 < std::chrono::milliseconds(200));
  CHECK(!log->Resume().ok());

  // Quorum back: Resume, then the resend is stored (or dropped as the
  // duplicate of a copy that landed after all) exactly once.
  if (freeze) {
    nats.Thaw(1);
  } else {
    nats.Restart(1);
  }
  Status s = ResumeWithin(*log, std::chrono::seconds(25));
  INFO(s.ToString());
  REQUIRE(s.ok());
  auto again = storage::AppendAndWait(*log, g.Appends());
  REQUIRE(again.has_value());
  CHECK(ReplayAll(*log).size() == 2);
  CHECK(log->LoadWatermark("gw")->value() == Watermark{1, 2});
}

}  // namespace
}  // namespace vigil::cluster
