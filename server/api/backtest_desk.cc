#include "server/api/backtest_desk.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <unordered_map>
#include <utility>

#include "alarm/time_text.h"
#include "server/config/rules_yaml.h"
#include "storage/alarm_codec.h"
#include "storage/history.h"
#include "storage/mutex.h"

namespace vigil::server {
namespace {

using alarm::Status;
using alarm::TimestampMs;

TimestampMs WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// How long after its reading's time a transition may be journaled and still
// count in the period (gateways' delivery delay).
constexpr TimestampMs kJournalSlackMs = 300'000;

// The comment the Engine gives the alarms a rules or registry change closes.
constexpr std::string_view kRulesChangedComment = "rule or registry changed";

// A sensor's stored readings: chunks at a store snapshot while they fill a
// page; then its head, read on its shard together with a newer snapshot,
// whose chunks the sensor's next pages are read at. One shard task per page
// only while a sensor's pages reach into its head (at most the head's size
// over the page size, plus one per catch-up with the shard's sealing).
class StoreHistory final : public alarm::HistorySource {
 public:
  StoreHistory(storage::ChunkStore* chunks, ShardSet* shards, std::function<bool()> stop)
      : chunks_(chunks),
        shards_(shards),
        stop_(std::move(stop)),
        snapshot_(chunks->NewSnapshot()),
        horizon_(chunks->Horizon(storage::DataClass::kRaw)) {}

  Status ReadPage(std::string_view sensor_id, TimestampMs from, TimestampMs to, size_t max,
                  std::vector<alarm::Reading>* out) override {
    from = std::max(from, horizon_);
    if (from >= to) return Status::Ok();
    // A full page of chunks needs no head: the head holds only later
    // readings (a late one, older than a sealed reading, was not evaluated
    // live either).
    auto known = snapshots_.find(sensor_id);
    const storage::ReadSnapshot* snapshot =
        known == snapshots_.end() ? snapshot_.get() : known->second.get();
    page_.clear();
    Status s = chunks_->ReadChunksAt(snapshot, sensor_id, from, to, max, &page_);
    if (!s.ok()) return s;
    if (page_.size() >= max) {
      out->insert(out->end(), page_.begin(), page_.begin() + static_cast<ptrdiff_t>(max));
      return Status::Ok();
    }
    auto head = ReadHead(sensor_id, from, to);
    if (!head) return head.error();
    page_.clear();
    s = chunks_->ReadChunksAt(head->snapshot.get(), sensor_id, from, to, max, &page_);
    if (!s.ok()) return s;
    merged_.clear();
    storage::MergeReadings(page_, head->readings, &merged_);
    const size_t n = std::min(max, merged_.size());
    out->insert(out->end(), merged_.begin(), merged_.begin() + static_cast<ptrdiff_t>(n));
    if (known == snapshots_.end()) {
      snapshots_.emplace(std::string(sensor_id), std::move(head->snapshot));
    } else {
      known->second = std::move(head->snapshot);
    }
    return Status::Ok();
  }

 private:
  // The shard answers on its thread; this one waits, asking stop() now and
  // then (a stopped shard set drops the task unanswered).
  alarm::Result<HeadRead> ReadHead(std::string_view sensor_id, TimestampMs from, TimestampMs to) {
    struct Wait {
      storage::Mutex mu;
      storage::CondVar cv;
      std::optional<HeadRead> read VIGIL_GUARDED_BY(mu);
    };
    auto wait = std::make_shared<Wait>();
    ReadHeadWithSnapshot(*shards_, sensor_id, from, to, [wait](HeadRead read) {
      storage::MutexLock lock(&wait->mu);
      wait->read = std::move(read);
      wait->cv.NotifyAll();
    });
    storage::MutexLock lock(&wait->mu);
    while (!wait->read) {
      if (stop_ && stop_()) return Status::Aborted("backtest stopped");
      wait->cv.WaitFor(&wait->mu, std::chrono::milliseconds(100));
    }
    if (!wait->read->status.ok()) return wait->read->status;
    return std::move(*wait->read);
  }

  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  storage::ChunkStore* chunks_;
  ShardSet* shards_;
  std::function<bool()> stop_;
  std::shared_ptr<const storage::ReadSnapshot> snapshot_;
  TimestampMs horizon_;
  // The snapshot paired with each sensor's last head read; others use snapshot_.
  std::unordered_map<std::string, std::shared_ptr<const storage::ReadSnapshot>, StringHash,
                     std::equal_to<>>
      snapshots_;
  std::vector<alarm::Reading> page_;    // scratch
  std::vector<alarm::Reading> merged_;  // scratch
};

// The journal of [start, to) in scope: operator actions (to replay) and the
// process transitions of [from, to) (to compare), and what makes the
// comparison approximate.
struct LiveJournal {
  std::vector<alarm::AlarmEvent> actions;
  std::vector<alarm::BacktestTransition> transitions;
  std::vector<std::string> caveats;
};

alarm::Result<LiveJournal> ReadLiveJournal(storage::JournalStore& journal, TimestampMs start,
                                           TimestampMs from, TimestampMs to,
                                           const std::string& region_prefix,
                                           size_t max_transitions) {
  // A transition belongs to the period by its reading's time (PeriodTime);
  // it was journaled up to a delivery delay later.
  const TimestampMs scan_to = to + kJournalSlackMs;
  uint64_t first = UINT64_MAX;
  uint64_t last = 0;
  Status s = journal.ScanJournalByTime(start, scan_to, [&](uint64_t seq, TimestampMs) {
    first = std::min(first, seq);
    last = std::max(last, seq);
    return true;
  });
  if (!s.ok()) return s;
  LiveJournal live;
  if (first > last) return live;
  bool rules_changed = false;
  Status decode_error;
  s = journal.ReadJournal(first, [&](uint64_t seq, std::string_view bytes) {
    if (seq > last) return false;
    auto entry = storage::DecodeJournalEntry(bytes);
    if (!entry) {
      decode_error = entry.error();
      return false;
    }
    const alarm::AlarmEvent& e = entry->event;
    if (e.at < start || e.at >= scan_to || !alarm::InRegion(entry->region_code, region_prefix)) {
      return true;
    }
    if (e.at < to &&
        (e.kind == alarm::EventKind::kReconciled ||
         (e.kind == alarm::EventKind::kCleared && e.comment == kRulesChangedComment))) {
      if (!rules_changed) {
        live.caveats.push_back("the rules or the registry changed at " +
                               alarm::FormatTimeUtc(e.at) + " (journal seq " + std::to_string(seq) +
                               "): the backtest replays one rule set over the whole period");
      }
      rules_changed = true;
    }
    if (alarm::IsOperatorAction(e) && e.at < to) live.actions.push_back(e);
    if (const TimestampMs t = alarm::PeriodTime(e);
        alarm::IsProcessTransition(e.kind) && t >= from && t < to) {
      if (live.transitions.size() >= max_transitions) {
        decode_error = Status::ResourceExhausted(
            "the journal holds more than " + std::to_string(max_transitions) +
            " transitions in the period: narrow the range or the region");
        return false;
      }
      live.transitions.push_back(alarm::ToBacktestTransition(e, entry->alarm_id));
    }
    return true;
  });
  if (!s.ok()) return s;
  if (!decode_error.ok()) return decode_error;
  // Journal order is commit order; the replay wants time order.
  std::stable_sort(
      live.actions.begin(), live.actions.end(),
      [](const alarm::AlarmEvent& a, const alarm::AlarmEvent& b) { return a.at < b.at; });
  return live;
}

// The time of the oldest journal entry kept when entries before it have
// expired (retention) and it is after `start`; nullopt otherwise.
alarm::Result<std::optional<TimestampMs>> JournalExpiredAfter(storage::JournalStore& journal,
                                                              TimestampMs start) {
  auto state = journal.LoadJournalState();
  if (!state) return state.error();
  if (state->first_seq <= 1 || state->first_seq > state->last_seq) {
    return std::optional<TimestampMs>();
  }
  std::optional<TimestampMs> first_at;
  Status decode_error;
  Status s = journal.ReadJournal(state->first_seq, [&](uint64_t, std::string_view bytes) {
    auto entry = storage::DecodeJournalEntry(bytes);
    if (entry) {
      first_at = entry->event.at;
    } else {
      decode_error = entry.error();
    }
    return false;
  });
  if (!s.ok()) return s;
  if (!decode_error.ok()) return decode_error;
  if (first_at && *first_at > start) return first_at;
  return std::optional<TimestampMs>();
}

// `document` resolved against the part of `registry` in the region: its
// enterprises with their sensors and gateways, and the rules that may select
// them (a rule naming a sensor or enterprise elsewhere selects none of them).
// Every sensor in scope gets the rule it gets from the whole registry, and the
// engine holds state for the scope only. An empty region: all.
alarm::Result<std::shared_ptr<const alarm::RuleSet>> ScopedRules(const RulesDocument& document,
                                                                 const alarm::Registry& registry,
                                                                 const std::string& region) {
  alarm::RegistryEntries scope;
  for (const alarm::Enterprise& e : registry.entries().enterprises) {
    if (alarm::InRegion(e.region_code, region)) scope.enterprises.push_back(e);
  }
  auto in_scope = [&](std::string_view enterprise_id) {
    const alarm::Enterprise* e = registry.FindEnterprise(enterprise_id);
    return e != nullptr && alarm::InRegion(e->region_code, region);
  };
  for (const alarm::Sensor& s : registry.entries().sensors) {
    if (in_scope(s.enterprise_id)) scope.sensors.push_back(s);
  }
  for (const alarm::Gateway& g : registry.entries().gateways) {
    if (in_scope(g.enterprise_id)) scope.gateways.push_back(g);
  }
  std::vector<alarm::Rule> rules;
  for (const alarm::Rule& rule : document.rules) {
    const alarm::Selector& select = rule.selector;
    if (!select.sensor_id.empty()) {
      const alarm::Sensor* s = registry.FindSensor(select.sensor_id);
      if (s == nullptr || !in_scope(s->enterprise_id)) continue;
    } else if (!select.enterprise_id.empty() && !in_scope(select.enterprise_id)) {
      continue;
    }
    rules.push_back(rule);
  }
  auto scoped = alarm::Registry::Build(std::move(scope));
  if (!scoped) return scoped.error();
  return alarm::RuleSet::Build(std::move(rules), std::move(*scoped), document.gateway_offline);
}

}  // namespace

alarm::Result<BacktestOutcome> BacktestDesk::Run(const BacktestQuery& query,
                                                 std::shared_ptr<const alarm::Registry> registry,
                                                 std::function<bool()> stop) const {
  const auto started = std::chrono::steady_clock::now();
  if (query.from >= query.to) return Status::InvalidArgument("from must be before to");
  if (query.warmup_ms < 0 || query.warmup_ms > kMaxBacktestWarmupMs) {
    return Status::InvalidArgument("warmup must be 0 (1 hour) .. 31 days");
  }
  if (query.top > kMaxBacktestTop) return Status::InvalidArgument("top must be 0 (10) .. 1000");
  if (!alarm::IsRegionPrefix(query.region_prefix)) {
    return Status::InvalidArgument("region_prefix must be 0 to 6 digits");
  }
  auto document = ParseRulesDocument(query.rules_yaml, "proposed rules");
  if (!document) return document.error();
  // Checked against the whole registry, as `rules check` would; replayed on
  // the scope's part of it.
  auto checked = alarm::RuleSet::Build(document->rules, registry, document->gateway_offline);
  if (!checked) return Status::InvalidArgument("proposed rules: " + checked.error().message());
  auto rules = ScopedRules(*document, *registry, query.region_prefix);
  if (!rules) return rules.error();

  alarm::BacktestOptions options;
  options.from = query.from;
  // Past now the replay's clock would raise no-data alarms the live one has
  // not reached yet.
  options.to = std::min(query.to, WallMs());
  if (options.from >= options.to) return Status::InvalidArgument("from must be before now");
  options.warmup_ms = query.warmup_ms == 0 ? kDefaultBacktestWarmupMs : query.warmup_ms;
  options.region_prefix = query.region_prefix;
  options.stop = stop;
  const size_t top = query.top == 0 ? 10 : query.top;
  if (query.page_readings != 0) {
    options.page_readings = query.page_readings;
  } else {
    uint64_t sensors = 0;
    const alarm::Registry& reg = (*rules)->registry();
    for (const alarm::Sensor& s : reg.entries().sensors) {
      const alarm::Enterprise* e = reg.FindEnterprise(s.enterprise_id);
      if (e != nullptr && alarm::InRegion(e->region_code, query.region_prefix) &&
          (*rules)->ForSensor(s.id) != nullptr) {
        ++sensors;
      }
    }
    options.page_readings =
        std::clamp<uint64_t>(kBacktestBufferedReadings / std::max<uint64_t>(sensors, 1), 16, 4096);
  }
  const TimestampMs start = options.from - options.warmup_ms;

  BacktestOutcome outcome;
  outcome.page_readings = static_cast<uint32_t>(options.page_readings);
  if (const TimestampMs horizon = chunks_->Horizon(storage::DataClass::kRaw); horizon > start) {
    outcome.caveats.push_back("readings before " + alarm::FormatTimeUtc(horizon) +
                              " are past the raw retention (storage.raw_retention) and were not "
                              "replayed");
  }
  if (auto expired = JournalExpiredAfter(*journal_, start); !expired) {
    return expired.error();
  } else if (*expired) {
    outcome.caveats.push_back("journal entries before " + alarm::FormatTimeUtc(**expired) +
                              " have expired (storage.journal_retention): live transitions "
                              "before then are not compared");
  }
  auto live = ReadLiveJournal(*journal_, start, options.from, options.to, options.region_prefix,
                              options.max_transitions);
  if (!live) return live.error();
  outcome.caveats.insert(outcome.caveats.end(), live->caveats.begin(), live->caveats.end());

  StoreHistory history(chunks_, shards_, stop);
  auto replay = alarm::ReplayHistory(*rules, live->actions, history, options);
  if (!replay) return replay.error();
  outcome.replay = replay->stats;
  outcome.report = alarm::CompareTransitions(replay->transitions, live->transitions, top);
  outcome.elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - started)
                           .count();
  return outcome;
}

}  // namespace vigil::server
