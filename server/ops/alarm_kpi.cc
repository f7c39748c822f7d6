#include "server/ops/alarm_kpi.h"

#include <algorithm>

#include "server/log/thread_name.h"

namespace vigil::server {

using alarm::AlarmState;
using alarm::EventKind;
using alarm::JournalEntry;
using alarm::TimestampMs;

std::string ProvinceOf(const std::string& region_code) {
  if (region_code.size() >= 2 && region_code[0] >= '0' && region_code[0] <= '9' &&
      region_code[1] >= '0' && region_code[1] <= '9') {
    return region_code.substr(0, 2);
  }
  return "unknown";
}

AlarmKpi::AlarmKpi(Options options)
    : options_(options),
      steps_(static_cast<size_t>(std::max<int64_t>(
          1, options.raised_window.count() / std::max<int64_t>(1, options.raised_step.count())))) {}

AlarmKpi::RaiseSteps& AlarmKpi::Steps(const std::string& province) {
  RaiseSteps& s = raised_[province];
  if (s.step.empty()) {
    s.step.assign(steps_, -1);
    s.count.assign(steps_, 0);
  }
  return s;
}

void AlarmKpi::UpsertOpen(const JournalEntry& entry) {
  const alarm::ActiveAlarm& r = entry.event.record;
  if (r.state == AlarmState::kClosed || r.state == AlarmState::kPlanned) {
    open_.erase(entry.alarm_id);
    return;
  }
  OpenAlarm& a = open_[entry.alarm_id];
  a.province = ProvinceOf(entry.region_code);
  a.raised_at = r.raised_at;
  a.active = r.state == AlarmState::kActiveUnacked || r.state == AlarmState::kActiveAcked;
  a.shelved = r.shelved_until != 0;
  Steps(a.province);  // the province is seen
}

void AlarmKpi::Reset(const std::vector<JournalEntry>& open) {
  storage::MutexLock lock(&mu_);
  open_.clear();
  for (const JournalEntry& e : open) UpsertOpen(e);
}

void AlarmKpi::Apply(const JournalEntry& entry) {
  storage::MutexLock lock(&mu_);
  UpsertOpen(entry);
  if (entry.event.kind != EventKind::kRaised) return;
  const std::string province = ProvinceOf(entry.region_code);
  const TimestampMs at = entry.event.at;
  const int64_t step = at / std::max<int64_t>(1, options_.raised_step.count());
  if (entry.event.record.state == AlarmState::kPlanned) {
    RaiseSteps& planned = planned_[province];
    if (planned.step.empty()) {
      planned.step.assign(steps_, -1);
      planned.count.assign(steps_, 0);
    }
    Steps(province);  // the province is seen
    CountRaise(planned, steps_, step);
    return;  // counted apart: no load, no chattering
  }

  // The province's raises, in the step holding `at`.
  CountRaise(Steps(province), steps_, step);

  // The alarm point's latest raise times.
  const alarm::ActiveAlarm& r = entry.event.record;
  std::string key = r.source_id;
  key.push_back('\0');
  key.push_back(static_cast<char>(r.alarm));
  Point& point = points_[key];
  point.province = province;
  point.raises[point.next] = at;
  point.next = (point.next + 1) % static_cast<uint32_t>(point.raises.size());
  point.size = std::min<uint32_t>(point.size + 1, static_cast<uint32_t>(point.raises.size()));
  point.latest = std::max(point.latest, at);
  newest_raise_ = std::max(newest_raise_, at);
  if (++raises_since_prune_ >= 4096 && points_.size() >= 4096) PrunePoints(newest_raise_);
}

void AlarmKpi::CountRaise(RaiseSteps& steps, size_t size, int64_t step) {
  const auto n = static_cast<int64_t>(size);
  const auto slot = static_cast<size_t>(((step % n) + n) % n);
  if (steps.step[slot] < step) {
    steps.step[slot] = step;
    steps.count[slot] = 0;
  }
  if (steps.step[slot] == step) ++steps.count[slot];  // else older than the window
}

uint64_t AlarmKpi::InWindow(const RaiseSteps& steps, int64_t current) const {
  uint64_t total = 0;
  for (size_t i = 0; i < steps_; ++i) {
    if (steps.step[i] > current - static_cast<int64_t>(steps_) && steps.step[i] <= current) {
      total += steps.count[i];
    }
  }
  return total;
}

void AlarmKpi::PrunePoints(TimestampMs now) {
  raises_since_prune_ = 0;
  const TimestampMs horizon = now - options_.chatter_window.count();
  std::erase_if(points_, [&](const auto& kv) { return kv.second.latest < horizon; });
}

std::vector<AlarmKpi::Province> AlarmKpi::Snapshot(TimestampMs now) const {
  storage::MutexLock lock(&mu_);
  std::map<std::string, Province> by;
  const int64_t current = now / std::max<int64_t>(1, options_.raised_step.count());
  for (const auto& [province, steps] : raised_) {
    Province& p = by[province];
    p.province = province;
    p.raised = InWindow(steps, current);
  }
  for (const auto& [province, steps] : planned_)
    by[province].planned_raised = InWindow(steps, current);
  const TimestampMs chatter_from = now - options_.chatter_window.count();
  const uint32_t need = std::clamp<uint32_t>(options_.chatter_raises, 1, 8);
  for (const auto& [key, point] : points_) {
    if (point.latest <= chatter_from) continue;
    uint32_t recent = 0;
    for (uint32_t i = 0; i < point.size; ++i) {
      if (point.raises[i] > chatter_from && point.raises[i] <= now) ++recent;
    }
    if (recent >= need) ++by[point.province].chattering;
  }
  for (const auto& [id, a] : open_) {
    Province& p = by[a.province];
    if (a.active && now - a.raised_at > options_.stale_after.count()) ++p.stale;
    if (a.shelved) ++p.shelved;
  }
  std::vector<Province> out;
  out.reserve(by.size());
  for (auto& [province, p] : by) {
    p.province = province;
    out.push_back(std::move(p));
  }
  return out;
}

AlarmKpiThread::AlarmKpiThread(AlarmFeed* feed) : follower_(feed) {
  thread_ = std::thread([this] {
    NameThisThread("vigil-kpi");
    do {
      follower_.Drain([this](const std::vector<JournalEntry>& open) { kpi_.Reset(open); },
                      [this](const JournalEntry& e) { kpi_.Apply(e); });
    } while (follower_.WaitUntil(std::chrono::steady_clock::now() + std::chrono::minutes(1)));
  });
}

AlarmKpiThread::~AlarmKpiThread() {
  follower_.Stop();
  thread_.join();
}

}  // namespace vigil::server
