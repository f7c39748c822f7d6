#include "server/ops/alarm_kpi.h"

#include <algorithm>
#include <optional>

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

std::string RegionOf(const std::string& region_code) {
  const bool digits =
      !region_code.empty() && std::all_of(region_code.begin(), region_code.end(),
                                          [](char c) { return c >= '0' && c <= '9'; });
  return digits ? region_code : "unknown";
}

AlarmKpi::AlarmKpi(Options options)
    : options_(options),
      steps_(static_cast<size_t>(std::max<int64_t>(
          1, options.raised_window.count() / std::max<int64_t>(1, options.raised_step.count())))) {}

AlarmKpi::RaiseSteps& AlarmKpi::Steps(const std::string& region) {
  return StepsIn(raised_, region);
}

AlarmKpi::RaiseSteps& AlarmKpi::StepsIn(std::map<std::string, RaiseSteps>& of,
                                        const std::string& region) const {
  RaiseSteps& s = of[region];
  if (s.step.empty()) {
    s.step.assign(steps_, -1);
    s.count.assign(steps_, 0);
  }
  return s;
}

void AlarmKpi::CountRaise(RaiseSteps& steps, int64_t step) const {
  const auto n = static_cast<int64_t>(steps_);
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

void AlarmKpi::UpsertOpen(const JournalEntry& entry) {
  const alarm::ActiveAlarm& r = entry.event.record;
  // Planned alarms are no load: not open as far as the KPIs go.
  if (r.state == AlarmState::kClosed || r.state == AlarmState::kPlanned) {
    open_.erase(entry.alarm_id);
    return;
  }
  OpenAlarm& a = open_[entry.alarm_id];
  a.region = RegionOf(entry.region_code);
  a.raised_at = r.raised_at;
  a.active = r.state == AlarmState::kActiveUnacked || r.state == AlarmState::kActiveAcked;
  a.shelved = r.shelved_until != 0;
  Steps(a.region);  // the region is seen
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
  const std::string region = RegionOf(entry.region_code);
  const TimestampMs at = entry.event.at;
  const int64_t step = at / std::max<int64_t>(1, options_.raised_step.count());
  if (entry.event.record.state == AlarmState::kPlanned) {
    Steps(region);  // the region is seen
    CountRaise(StepsIn(planned_, region), step);
    return;  // counted apart: no load, no chattering
  }

  // The region's raises, in the step holding `at`.
  CountRaise(Steps(region), step);

  // The alarm point's latest raise times.
  const alarm::ActiveAlarm& r = entry.event.record;
  std::string key = r.source_id;
  key.push_back('\0');
  key.push_back(static_cast<char>(r.alarm));
  Point& point = points_[key];
  point.region = region;
  point.raises[point.next] = at;
  point.next = (point.next + 1) % static_cast<uint32_t>(point.raises.size());
  point.size = std::min<uint32_t>(point.size + 1, static_cast<uint32_t>(point.raises.size()));
  point.latest = std::max(point.latest, at);
  newest_raise_ = std::max(newest_raise_, at);
  if (++raises_since_prune_ >= 4096 && points_.size() >= 4096) PrunePoints(newest_raise_);
}

void AlarmKpi::PrunePoints(TimestampMs now) {
  raises_since_prune_ = 0;
  const TimestampMs horizon = now - options_.chatter_window.count();
  std::erase_if(points_, [&](const auto& kv) { return kv.second.latest < horizon; });
}

std::vector<AlarmKpi::Province> AlarmKpi::Snapshot(TimestampMs now, size_t digits,
                                                   std::string_view within) const {
  // The group of a region code: its first `digits` digits, or nullptr when
  // it lies outside `within`.
  const auto group = [&](const std::string& region) -> std::optional<std::string> {
    if (!region.starts_with(within)) return std::nullopt;
    if (region == "unknown") return region;
    return region.substr(0, std::min(digits, region.size()));
  };
  storage::MutexLock lock(&mu_);
  std::map<std::string, Province> by;
  const int64_t current = now / std::max<int64_t>(1, options_.raised_step.count());
  for (const auto& [region, steps] : raised_) {
    if (const std::optional<std::string> g = group(region))
      by[*g].raised += InWindow(steps, current);
  }
  for (const auto& [region, steps] : planned_) {
    if (const std::optional<std::string> g = group(region)) {
      by[*g].planned_raised += InWindow(steps, current);
    }
  }
  const TimestampMs chatter_from = now - options_.chatter_window.count();
  const uint32_t need = std::clamp<uint32_t>(options_.chatter_raises, 1, 8);
  for (const auto& [key, point] : points_) {
    if (point.latest <= chatter_from) continue;
    uint32_t recent = 0;
    for (uint32_t i = 0; i < point.size; ++i) {
      if (point.raises[i] > chatter_from && point.raises[i] <= now) ++recent;
    }
    if (recent >= need) {
      if (const std::optional<std::string> g = group(point.region)) ++by[*g].chattering;
    }
  }
  for (const auto& [id, a] : open_) {
    const std::optional<std::string> g = group(a.region);
    if (!g) continue;
    Province& p = by[*g];
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
