#include "bench/sim/checker.h"

#include <algorithm>
#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <tuple>

#include "bench/common/cli.h"

namespace vigil::sim {
namespace {

// An alarm level as observed: entered at `start`, left at `end` (if it was).
struct Episode {
  std::string source;
  AlarmKind kind = AlarmKind::kThreshold;
  Level level = Level::kNone;
  TimestampMs start = 0;
  std::optional<TimestampMs> end;
  bool used = false;
};

std::vector<Episode> Episodes(std::span<const ObservedTransition> observed) {
  std::vector<ObservedTransition> sorted(observed.begin(), observed.end());
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    return std::tie(a.source, a.kind, a.at) < std::tie(b.source, b.kind, b.at);
  });
  std::vector<Episode> episodes;
  std::optional<size_t> open;
  for (size_t i = 0; i < sorted.size(); ++i) {
    const ObservedTransition& t = sorted[i];
    if (i > 0 && (sorted[i - 1].source != t.source || sorted[i - 1].kind != t.kind)) open.reset();
    if (open) {
      episodes[*open].end = t.at;
      open.reset();
    }
    if (t.what == Transition::kCleared) continue;
    open = episodes.size();
    episodes.push_back(Episode{t.source, t.kind, t.level, t.at, std::nullopt, false});
  }
  return episodes;
}

// Distance of `t` from [lo, hi]: 0 inside.
int64_t Distance(TimestampMs t, TimestampMs lo, TimestampMs hi) {
  return t < lo ? lo - t : (t > hi ? t - hi : 0);
}

std::string Describe(const Expectation& e, const SimClock& clock) {
  return e.source + " " + std::string(AlarmKindName(e.kind)) + " " +
         std::string(LevelName(e.level)) + " (" + e.event + ", expected raise at wall " +
         std::to_string(clock.ToWall(e.raise_from)) + ".." +
         std::to_string(clock.ToWall(e.raise_to)) + " ms)";
}

int64_t Percentile(std::vector<int64_t> values, double p) {
  std::sort(values.begin(), values.end());
  return bench::Quantile(values, p);
}

// key=value fields of a vigild log line.
std::optional<std::string_view> Field(std::string_view line, std::string_view key) {
  size_t pos = 0;
  while ((pos = line.find(key, pos)) != std::string_view::npos) {
    const bool at_start = pos == 0 || line[pos - 1] == ' ';
    const size_t value = pos + key.size();
    if (at_start && value < line.size() && line[value] == '=') {
      const size_t end = line.find(' ', value + 1);
      return line.substr(value + 1,
                         (end == std::string_view::npos ? line.size() : end) - value - 1);
    }
    pos = value;
  }
  return std::nullopt;
}

}  // namespace

std::optional<ObservedTransition> ParseObservedLine(std::string_view line) {
  ObservedTransition t;
  std::string_view transition, kind, level, severity, at;
  if (Field(line, "event") == "alarm") {
    // The log line's own fields (ts, level) come before event=; the alarm's after.
    line = line.substr(line.find("event=alarm"));
    auto get = [&](std::string_view key, std::string_view* out) {
      auto v = Field(line, key);
      if (v) *out = *v;
      return v.has_value();
    };
    std::string_view source;
    if (!get("transition", &transition) || !get("alarm", &kind) || !get("sensor", &source) ||
        !get("severity", &severity) || !get("at", &at)) {
      return std::nullopt;
    }
    if (!get("level", &level)) level = "none";
    t.source = std::string(source);
  } else {
    std::vector<std::string_view> f;
    size_t pos = 0;
    while (pos < line.size() && f.size() < 7) {
      while (pos < line.size() && line[pos] == ' ') ++pos;
      const size_t end = std::min(line.find(' ', pos), line.size());
      if (end > pos) f.push_back(line.substr(pos, end - pos));
      pos = end;
    }
    if (f.size() != 6) return std::nullopt;
    at = f[0];
    t.source = std::string(f[1]);
    kind = f[2];
    transition = f[3];
    level = f[4];
    severity = f[5];
  }
  auto k = AlarmKindFromName(kind);
  auto w = TransitionFromName(transition);
  auto l = LevelFromName(level);
  if (!k || !w || !l || !bench::ParseNumber(at, &t.at) ||
      !bench::ParseNumber(severity, &t.severity)) {
    return std::nullopt;
  }
  t.kind = *k;
  t.what = *w;
  t.level = *l;
  return t;
}

std::vector<ObservedTransition> ParseObserved(std::string_view text) {
  std::vector<ObservedTransition> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    if (auto t = ParseObservedLine(text.substr(pos, end - pos))) out.push_back(std::move(*t));
    pos = end + 1;
  }
  return out;
}

std::string FormatObserved(const ObservedTransition& t) {
  return std::to_string(t.at) + " " + t.source + " " + std::string(AlarmKindName(t.kind)) + " " +
         std::string(TransitionName(t.what)) + " " + std::string(LevelName(t.level)) + " " +
         std::to_string(t.severity);
}

CheckReport CheckAlarms(const GroundTruth& truth, std::span<const ObservedTransition> observed,
                        const CheckOptions& options) {
  const SimClock& clock = truth.clock;
  const int64_t tol = options.tolerance.count();
  const int64_t limit = options.match_limit.count();
  const TimestampMs window_start = clock.ToWall(clock.sim_start);
  const TimestampMs window_end = clock.ToWall(clock.sim_end);
  CheckReport r;
  std::vector<Episode> episodes = Episodes(observed);
  for (Episode& ep : episodes) {
    if (ep.start < window_start || ep.start > window_end + tol) {
      ep.used = true;  // not compared
      ++r.outside_window;
    } else {
      ++r.observed;
    }
  }
  // Which observed episode answers each expectation (required ones first, so
  // that an optional expectation never takes what a required one needs).
  std::vector<std::optional<size_t>> match(truth.expectations.size());
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t i = 0; i < truth.expectations.size(); ++i) {
      const Expectation& e = truth.expectations[i];
      if (e.required != (pass == 0)) continue;
      const TimestampMs lo = clock.ToWall(e.raise_from) - tol;
      const TimestampMs hi = clock.ToWall(e.raise_to) + tol;
      std::optional<size_t> best;
      for (size_t j = 0; j < episodes.size(); ++j) {
        const Episode& ep = episodes[j];
        if (ep.used || ep.source != e.source || ep.kind != e.kind || ep.level != e.level) continue;
        // A `may` expectation takes only what lies in its window: either outcome is right there.
        const int64_t d = Distance(ep.start, lo, hi);
        if (d > (e.required ? limit : 0)) continue;
        if (!best || d < Distance(episodes[*best].start, lo, hi)) best = j;
      }
      if (best) {
        episodes[*best].used = true;
        match[i] = best;
      }
    }
  }
  for (size_t i = 0; i < truth.expectations.size(); ++i) {
    const Expectation& e = truth.expectations[i];
    if (!e.required) {
      ++r.optional;
      continue;
    }
    ++r.expected;
    ++r.expected_by_kind[e.kind];
    if (!match[i]) {
      ++r.missed;
      ++r.missed_by_kind[e.kind];
      r.findings.push_back("missed " + Describe(e, clock));
      continue;
    }
    ++r.matched;
    const Episode& ep = episodes[*match[i]];
    const TimestampMs from = clock.ToWall(e.raise_from);
    r.raise_latency_ms.push_back(ep.start - from);
    if (ep.start < from - tol) {
      ++r.early;
      r.findings.push_back("early by " + std::to_string(from - ep.start) +
                           " ms: " + Describe(e, clock));
    } else if (ep.start > clock.ToWall(e.raise_to) + tol) {
      ++r.late;
      r.findings.push_back("late by " + std::to_string(ep.start - clock.ToWall(e.raise_to)) +
                           " ms: " + Describe(e, clock));
    }
    if (e.clear_from) {
      const TimestampMs clear_from = clock.ToWall(*e.clear_from);
      const TimestampMs clear_to = clock.ToWall(*e.clear_to);
      if (!ep.end) {
        ++r.clear_missed;
        r.findings.push_back("never left the level: " + Describe(e, clock));
      } else {
        r.clear_latency_ms.push_back(*ep.end - clear_from);
        if (*ep.end < clear_from - tol) {
          ++r.clear_early;
          r.findings.push_back("left the level " + std::to_string(clear_from - *ep.end) +
                               " ms early: " + Describe(e, clock));
        } else if (*ep.end > clear_to + tol) {
          ++r.clear_late;
          r.findings.push_back("left the level " + std::to_string(*ep.end - clear_to) +
                               " ms late: " + Describe(e, clock));
        }
      }
    } else if (ep.end && *ep.end <= window_end) {
      ++r.clear_early;
      r.findings.push_back("left the level, expected to stay: " + Describe(e, clock));
    }
  }
  // What no expectation took: chattering when an expected alarm of the same
  // source and kind was on at the time, else extra.
  for (const Episode& ep : episodes) {
    if (ep.used) continue;
    bool chatter = false;
    for (size_t i = 0; i < truth.expectations.size() && !chatter; ++i) {
      const Expectation& e = truth.expectations[i];
      if (!match[i] || e.source != ep.source || e.kind != ep.kind) continue;
      const TimestampMs lo = clock.ToWall(e.raise_from) - tol;
      const TimestampMs hi = (e.clear_to ? clock.ToWall(*e.clear_to) : window_end) + tol;
      chatter = ep.start >= lo && ep.start <= hi;
    }
    const std::string what = ep.source + " " + std::string(AlarmKindName(ep.kind)) + " " +
                             std::string(LevelName(ep.level)) + " at wall " +
                             std::to_string(ep.start) + " ms";
    if (chatter) {
      ++r.chattering;
      r.findings.push_back("chattering: " + what);
    } else {
      ++r.extra;
      ++r.extra_by_kind[ep.kind];
      r.findings.push_back("extra: " + what);
    }
  }
  return r;
}

std::string FormatCheckReport(const CheckReport& r) {
  std::string out;
  auto line = [&](const std::string& name, int64_t value, const char* unit) {
    char text[128];
    std::snprintf(text, sizeof(text), "%s %" PRId64 " %s\n", name.c_str(), value, unit);
    out += text;
  };
  line("alarms_expected", r.expected, "alarms");
  line("alarms_expected_optional", r.optional, "alarms");
  line("alarms_observed", r.observed, "alarms");
  line("alarms_outside_window", r.outside_window, "alarms");
  line("alarms_matched", r.matched, "alarms");
  line("alarms_missed", r.missed, "alarms");
  line("alarms_extra", r.extra, "alarms");
  line("alarms_chattering", r.chattering, "alarms");
  line("alarms_early", r.early, "alarms");
  line("alarms_late", r.late, "alarms");
  line("clears_missed", r.clear_missed, "alarms");
  line("clears_early", r.clear_early, "alarms");
  line("clears_late", r.clear_late, "alarms");
  line("raise_latency_p50_ms", Percentile(r.raise_latency_ms, 0.5), "ms");
  line("raise_latency_p90_ms", Percentile(r.raise_latency_ms, 0.9), "ms");
  line("raise_latency_p99_ms", Percentile(r.raise_latency_ms, 0.99), "ms");
  line("raise_latency_max_ms", Percentile(r.raise_latency_ms, 1.0), "ms");
  line("clear_latency_p50_ms", Percentile(r.clear_latency_ms, 0.5), "ms");
  line("clear_latency_max_ms", Percentile(r.clear_latency_ms, 1.0), "ms");
  for (AlarmKind kind : kAllAlarmKinds) {
    const std::string name(AlarmKindName(kind));
    auto get = [&](const std::map<AlarmKind, uint32_t>& m) {
      auto it = m.find(kind);
      return it == m.end() ? 0 : static_cast<int64_t>(it->second);
    };
    line("alarms_expected." + name, get(r.expected_by_kind), "alarms");
    line("alarms_missed." + name, get(r.missed_by_kind), "alarms");
    line("alarms_extra." + name, get(r.extra_by_kind), "alarms");
  }
  return out;
}

}  // namespace vigil::sim
