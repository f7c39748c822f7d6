// AlarmKpi: alarm-load key performance indicators after ISA-18.2 and EEMUA
// 191, per region: kept by full region code and summed up by prefix, so
// /metrics reads them per province (the 2-digit prefix) and the console per
// the caller's own region, whether a province, a city (4 digits) or a
// county (6 digits):
//   raised       alarms raised in the last 10 minutes: a sliding window in
//                10-second steps (EEMUA: about 1 per 10 min per operator is
//                acceptable, over 10 is an alarm flood);
//   chattering   alarm points (sensor or gateway, alarm kind) raised at least
//                3 times within the last minute;
//   stale        open alarms active for longer than 24 h (standing alarms);
//   shelved      open alarms whose point is shelved;
//   planned_raised  alarms raised under planned work in the last 10 minutes
//                (kept out of every other figure: planned work is not load).
// Fed with journal entries in seq order (a FeedFollower's thread), read at
// scrape time. Time is what entries say (event time) and what Snapshot is
// given: no clock reads, so tests inject both.
//
// Thread-safety: Reset/Apply from one thread, Snapshot from any; one mutex.
// AlarmKpiThread below is that thread.
// Memory: one small record per open alarm, per region code that raised an
// alarm 60 counters (a county each: about 3,000 nationally, 1.4 MB), per
// alarm point raised within the last minute its last 8 raise times. Summing
// by prefix costs a scan of the region codes per Snapshot, on the caller's
// thread (a scrape, a console request), never on the journal's path.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "alarm/journal.h"
#include "alarm/thread_annotations.h"
#include "alarm/types.h"
#include "server/pipeline/alarm_feed.h"
#include "server/pipeline/feed_follower.h"
#include "storage/mutex.h"

namespace vigil::server {

class AlarmKpi {
 public:
  struct Options {
    std::chrono::milliseconds raised_window = std::chrono::minutes(10);
    std::chrono::milliseconds raised_step = std::chrono::seconds(10);
    std::chrono::milliseconds chatter_window = std::chrono::minutes(1);
    uint32_t chatter_raises = 3;  // at most 8
    std::chrono::milliseconds stale_after = std::chrono::hours(24);
  };

  AlarmKpi() : AlarmKpi(Options{}) {}
  explicit AlarmKpi(Options options);

  // Starts over from the open alarms; raise history is kept.
  void Reset(const std::vector<alarm::JournalEntry>& open);
  // One journal entry, in seq order.
  void Apply(const alarm::JournalEntry& entry);

  struct Province {
    std::string province;  // "37" (or "3701", "370105"); "unknown": a code that is not digits
    uint64_t raised = 0;
    uint64_t chattering = 0;
    uint64_t stale = 0;
    uint64_t shelved = 0;
    uint64_t planned_raised = 0;
    bool operator==(const Province&) const = default;
  };
  // Every province seen since start, in order, as of `now` (ms since the
  // Unix epoch).
  std::vector<Province> Snapshot(alarm::TimestampMs now) const { return Snapshot(now, 2, ""); }
  // The same grouped by the first `digits` digits of the region code (2
  // province, 4 city, 6 county; a shorter code is its own group), only the
  // groups that start with `within` (a caller's region prefix).
  std::vector<Province> Snapshot(alarm::TimestampMs now, size_t digits,
                                 std::string_view within) const;

 private:
  struct OpenAlarm {
    std::string region;  // RegionOf(region_code)
    alarm::TimestampMs raised_at = 0;
    bool active = false;
    bool shelved = false;
  };
  struct RaiseSteps {
    // Raises per step, slot = step % size; `step` says which step a slot holds.
    std::vector<int64_t> step;
    std::vector<uint64_t> count;
  };
  struct Point {
    std::string region;
    std::array<alarm::TimestampMs, 8> raises{};  // ring of the latest raise times
    uint32_t next = 0;
    uint32_t size = 0;
    alarm::TimestampMs latest = 0;
  };

  void UpsertOpen(const alarm::JournalEntry& entry) VIGIL_REQUIRES(mu_);
  RaiseSteps& Steps(const std::string& region) VIGIL_REQUIRES(mu_);
  // `steps` of map `of` (raised_ or planned_), made on first use.
  RaiseSteps& StepsIn(std::map<std::string, RaiseSteps>& of, const std::string& region) const;
  void CountRaise(RaiseSteps& steps, int64_t step) const;
  uint64_t InWindow(const RaiseSteps& steps, int64_t current) const;
  void PrunePoints(alarm::TimestampMs now) VIGIL_REQUIRES(mu_);

  const Options options_;
  const size_t steps_;
  mutable storage::Mutex mu_;
  std::unordered_map<uint64_t, OpenAlarm> open_ VIGIL_GUARDED_BY(mu_);   // by alarm_id
  std::map<std::string, RaiseSteps> raised_ VIGIL_GUARDED_BY(mu_);       // by region code
  std::map<std::string, RaiseSteps> planned_ VIGIL_GUARDED_BY(mu_);      // by region code
  std::unordered_map<std::string, Point> points_ VIGIL_GUARDED_BY(mu_);  // by source and kind
  alarm::TimestampMs newest_raise_ VIGIL_GUARDED_BY(mu_) = 0;
  uint64_t raises_since_prune_ VIGIL_GUARDED_BY(mu_) = 0;
};

// Keeps an AlarmKpi current from the AlarmFeed on a thread of its own (a
// FeedFollower), so nothing on the journal path computes KPIs. `*feed` must
// outlive it; the destructor joins the thread.
class AlarmKpiThread {
 public:
  explicit AlarmKpiThread(AlarmFeed* feed);
  ~AlarmKpiThread();
  AlarmKpiThread(const AlarmKpiThread&) = delete;
  AlarmKpiThread& operator=(const AlarmKpiThread&) = delete;

  const AlarmKpi& kpi() const { return kpi_; }

 private:
  AlarmKpi kpi_;
  FeedFollower follower_;
  std::thread thread_;
};

// The province of a 6-digit region code: its first 2 digits, or "unknown".
std::string ProvinceOf(const std::string& region_code);
// A region code as the KPIs key it: itself when all digits, else "unknown".
std::string RegionOf(const std::string& region_code);

}  // namespace vigil::server
