// ReplayFilter: after a restart, exactly the replayed events of log entries
// at or below the journal mark of their source's (stored-layout) shard are
// dropped; plain values.
#include "server/pipeline/replay_filter.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "alarm/engine.h"

namespace vigil::server {
namespace {

using alarm::AlarmEvent;

// A source id with ShardOf(id, count_a) == shard_a and ShardOf(id, count_b)
// == shard_b.
std::string Source(uint32_t count_a, uint32_t shard_a, uint32_t count_b, uint32_t shard_b) {
  for (int i = 0;; ++i) {
    std::string id = "s-" + std::to_string(i);
    if (alarm::ShardOf(id, count_a) == shard_a && alarm::ShardOf(id, count_b) == shard_b) {
      return id;
    }
  }
}

AlarmEvent EventOf(const std::string& source) {
  AlarmEvent e;
  e.record.source_id = source;
  return e;
}

std::vector<std::string> Sources(const std::vector<AlarmEvent>& events) {
  std::vector<std::string> ids;
  for (const AlarmEvent& e : events) ids.push_back(e.record.source_id);
  return ids;
}

TEST_CASE("ReplayFilter drops events of entries at or below their shard's mark", "[replay]") {
  const std::string a = Source(2, 0, 2, 0);
  const std::string b = Source(2, 1, 2, 1);
  const ReplayFilter filter({10, 20}, 2);
  CHECK(filter.Journaled(1, a));
  CHECK(filter.Journaled(10, a));
  CHECK_FALSE(filter.Journaled(11, a));
  CHECK(filter.Journaled(11, b));
  CHECK(filter.Journaled(20, b));
  CHECK_FALSE(filter.Journaled(21, b));
  CHECK_FALSE(filter.Journaled(0, a));  // no log entry: never journaled

  std::vector<AlarmEvent> events = {EventOf(a), EventOf(b), EventOf(a), EventOf(b)};
  filter.DropJournaled(15, &events);
  CHECK(Sources(events) == std::vector<std::string>{a, a});
  events = {EventOf(a), EventOf(b)};
  filter.DropJournaled(10, &events);
  CHECK(events.empty());
  events = {EventOf(a), EventOf(b)};
  filter.DropJournaled(21, &events);
  CHECK(Sources(events) == std::vector<std::string>{a, b});
}

TEST_CASE("ReplayFilter judges by the stored layout when the shard count changed", "[replay]") {
  // Marks written by 3 shards, replayed by 2: a source is judged by the
  // shard it had among 3, whatever shard it has now.
  const std::string x = Source(3, 2, 2, 0);  // old shard 2, now shard 0
  const std::string y = Source(3, 0, 2, 0);  // old shard 0, now shard 0
  const std::string z = Source(3, 1, 2, 0);  // old shard 1, now shard 0
  const ReplayFilter filter({5, 50, 500}, 3);
  CHECK(filter.Journaled(500, x));
  CHECK_FALSE(filter.Journaled(501, x));
  CHECK(filter.Journaled(5, y));
  CHECK_FALSE(filter.Journaled(6, y));
  CHECK(filter.Journaled(50, z));
  CHECK_FALSE(filter.Journaled(51, z));

  std::vector<AlarmEvent> events = {EventOf(x), EventOf(y), EventOf(z)};
  filter.DropJournaled(40, &events);
  CHECK(Sources(events) == std::vector<std::string>{y});
}

TEST_CASE("ReplayFilter drops nothing without marks or once cleared", "[replay]") {
  const std::string a = Source(2, 0, 2, 0);
  const std::string b = Source(2, 1, 2, 1);
  CHECK_FALSE(ReplayFilter().Journaled(1, a));
  // A shard with no mark stored (0) has nothing journaled.
  const ReplayFilter partial({7, 0}, 2);
  CHECK(partial.Journaled(7, a));
  CHECK_FALSE(partial.Journaled(1, b));

  ReplayFilter filter({10, 20}, 2);
  filter.Clear();
  std::vector<AlarmEvent> events = {EventOf(a), EventOf(b)};
  filter.DropJournaled(1, &events);
  CHECK(events.size() == 2);
}

}  // namespace
}  // namespace vigil::server
