#include "bench/sim/alarm_stream.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cctype>
#include <cinttypes>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "bench/common/channel.h"
#include "bench/common/cli.h"
#include "vigil/v1/alarms.grpc.pb.h"

namespace vigil::sim {
namespace {

namespace v1 = ::vigil::v1;
using std::chrono::milliseconds;

// The wire enums carry the numbers of alarm/event.h, but for levels.
std::optional<AlarmKind> KindOf(v1::AlarmKind kind) {
  if (kind < v1::ALARM_KIND_THRESHOLD || kind > v1::ALARM_KIND_GATEWAY_OFFLINE) return std::nullopt;
  return static_cast<AlarmKind>(kind);
}

Level LevelOf(v1::AlarmLevel level) {
  switch (level) {
    case v1::ALARM_LEVEL_LL:
      return Level::kLL;
    case v1::ALARM_LEVEL_L:
      return Level::kL;
    case v1::ALARM_LEVEL_H:
      return Level::kH;
    case v1::ALARM_LEVEL_HH:
      return Level::kHH;
    default:
      return Level::kNone;
  }
}

std::optional<Transition> TransitionOf(v1::AlarmEventKind kind) {
  switch (kind) {
    case v1::ALARM_EVENT_KIND_RAISED:
      return Transition::kRaised;
    case v1::ALARM_EVENT_KIND_ESCALATED:
      return Transition::kEscalated;
    case v1::ALARM_EVENT_KIND_DE_ESCALATED:
      return Transition::kDeEscalated;
    case v1::ALARM_EVENT_KIND_CLEARED:
      return Transition::kCleared;
    default:
      return std::nullopt;  // operator actions and reconciliations
  }
}

const std::string& SourceOf(const v1::Alarm& alarm) {
  return alarm.kind() == v1::ALARM_KIND_GATEWAY_OFFLINE ? alarm.gateway_id() : alarm.sensor_id();
}

std::string LowerName(std::string_view upper_name, std::string_view prefix) {
  std::string out(upper_name.substr(std::min(prefix.size(), upper_name.size())));
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "07:21:44.123", local time.
std::string ClockTime(int64_t ms) {
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  localtime_r(&seconds, &tm);
  char text[32];
  std::snprintf(text, sizeof(text), "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return text;
}

// "2026-11-29 14:03", local time.
std::string DayTime(int64_t ms) {
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  localtime_r(&seconds, &tm);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%d %H:%M", &tm);
  return text;
}

const char* SeverityName(uint32_t severity) {
  static constexpr const char* kNames[] = {"?", "red", "orange", "yellow", "blue"};
  return severity < std::size(kNames) ? kNames[severity] : "?";
}

// What the alarm is about, e.g. "threshold HH  s-...-ch4-wf1  1.62 >= 1.5 (read 2026-11-29 14:03)".
std::string Describe(const v1::Alarm& a, double value, int64_t reading_at_ms) {
  char text[256];
  const std::string kind(AlarmKindName(static_cast<AlarmKind>(a.kind())));
  switch (a.kind()) {
    case v1::ALARM_KIND_THRESHOLD: {
      const bool high = a.level() == v1::ALARM_LEVEL_H || a.level() == v1::ALARM_LEVEL_HH;
      std::snprintf(text, sizeof(text), "%s %-2s %s  %g (%s %g, read %s)", kind.c_str(),
                    std::string(LevelName(LevelOf(a.level()))).c_str(), SourceOf(a).c_str(), value,
                    high ? "limit >=" : "limit <=", a.threshold(), DayTime(reading_at_ms).c_str());
      break;
    }
    case v1::ALARM_KIND_RATE_OF_CHANGE:
      std::snprintf(text, sizeof(text), "%s %s  %g per window (limit %g, read %s)", kind.c_str(),
                    SourceOf(a).c_str(), value, a.threshold(), DayTime(reading_at_ms).c_str());
      break;
    case v1::ALARM_KIND_SENSOR_FAULT:
      std::snprintf(text, sizeof(text), "%s %s  %g (read %s)", kind.c_str(), SourceOf(a).c_str(),
                    value, DayTime(reading_at_ms).c_str());
      break;
    default:  // no data, gateway offline: the threshold is the timeout in seconds
      std::snprintf(text, sizeof(text), "%s %s  silent for %gs", kind.c_str(), SourceOf(a).c_str(),
                    a.threshold());
      break;
  }
  return text;
}

std::string EventLine(const v1::AlarmEvent& e) {
  const v1::Alarm& a = e.alarm();
  char head[128];
  std::snprintf(head, sizeof(head), "%s  #%-6" PRIu64 " %-12s sev %u %-6s ",
                ClockTime(e.at_ms()).c_str(), e.seq(),
                LowerName(v1::AlarmEventKind_Name(e.kind()), "ALARM_EVENT_KIND_").c_str(),
                a.severity(), SeverityName(a.severity()));
  std::string line = head + Describe(a, e.value(), e.reading_at_ms());
  line += "  " + a.enterprise_id() + " (" + a.region_code() + ") " +
          LowerName(v1::AlarmState_Name(a.state()), "ALARM_STATE_");
  if (!e.actor().empty()) line += " by " + e.actor();
  if (!e.comment().empty()) line += ": " + e.comment();
  return line;
}

std::string SnapshotLine(const v1::Alarm& a) {
  char head[128];
  std::snprintf(head, sizeof(head), "%s  open    %-12s sev %u %-6s ",
                ClockTime(a.changed_at_ms()).c_str(), "", a.severity(), SeverityName(a.severity()));
  return head + Describe(a, a.trigger_value(), a.trigger_reading_at_ms()) + "  " +
         a.enterprise_id() + " (" + a.region_code() + ") " +
         LowerName(v1::AlarmState_Name(a.state()), "ALARM_STATE_");
}

bool Retryable(grpc::StatusCode code) {
  return code != grpc::StatusCode::UNAUTHENTICATED && code != grpc::StatusCode::PERMISSION_DENIED &&
         code != grpc::StatusCode::INVALID_ARGUMENT && code != grpc::StatusCode::UNIMPLEMENTED;
}

}  // namespace

struct AlarmStream::State {
  explicit State(AlarmStreamOptions o)
      : options(std::move(o)), stub(v1::Alarms::NewStub(bench::NewConnection(options.target))) {}

  void Run();
  // Takes one message; returns the line to print, if any.
  void Take(const v1::AlarmStreamMessage& m, std::vector<std::string>* lines);

  const AlarmStreamOptions options;
  std::unique_ptr<v1::Alarms::Stub> stub;
  std::thread reader;

  mutable std::mutex mu;
  mutable std::condition_variable changed;
  bool stopping = false;  // guarded by mu
  bool started = false;   // guarded by mu: the first snapshot is complete
  bool ended = false;     // guarded by mu: the reader gave up or was stopped
  bool resync = false;    // guarded by mu: the next snapshot replaces a lost cursor
  grpc::ClientContext* context = nullptr;    // guarded by mu: the stream being read
  std::optional<uint64_t> cursor;            // guarded by mu: resume after this seq
  AlarmStreamStats stats;                    // guarded by mu
  std::vector<ObservedTransition> observed;  // guarded by mu
};

void AlarmStream::State::Take(const v1::AlarmStreamMessage& m, std::vector<std::string>* lines) {
  std::lock_guard<std::mutex> lock(mu);
  if (m.has_snapshot()) {
    const v1::AlarmSnapshot& s = m.snapshot();
    if (!started) stats.snapshot_alarms += static_cast<uint64_t>(s.alarms_size());
    if (options.print_snapshot && options.on_line && !started) {
      for (const v1::Alarm& a : s.alarms()) lines->push_back(SnapshotLine(a));
    }
    cursor = std::max(cursor.value_or(0), s.seq());
    if (s.last()) {
      started = true;
      resync = false;
    }
  } else if (m.has_heartbeat()) {
    const v1::Heartbeat& h = m.heartbeat();
    ++stats.heartbeats;
    cursor = std::max(cursor.value_or(0), h.seq());
    stats.server_time_ms = std::max(stats.server_time_ms, h.server_time_ms());
  } else if (m.has_event()) {
    const v1::AlarmEvent& e = m.event();
    if (cursor && e.seq() <= *cursor) return;  // never expected: resume has no duplicates
    cursor = e.seq();
    ++stats.events;
    stats.server_time_ms = std::max(stats.server_time_ms, e.at_ms());
    auto kind = KindOf(e.alarm().kind());
    auto what = TransitionOf(e.kind());
    if (kind && what) {
      ++stats.transitions;
      observed.push_back(ObservedTransition{.at = e.at_ms(),
                                            .source = SourceOf(e.alarm()),
                                            .kind = *kind,
                                            .what = *what,
                                            .level = LevelOf(e.alarm().level()),
                                            .severity = static_cast<int>(e.alarm().severity())});
    }
    if (options.on_line) lines->push_back(EventLine(e));
  }
  if (cursor) stats.last_seq = *cursor;
  changed.notify_all();
}

void AlarmStream::State::Run() {
  milliseconds backoff(200);
  for (;;) {
    grpc::ClientContext call;
    if (!options.token.empty()) call.AddMetadata("authorization", "Bearer " + options.token);
    v1::SubscribeRequest request;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (stopping) break;
      if (cursor && !resync) request.set_after_seq(*cursor);
      context = &call;
    }
    auto stream = stub->Subscribe(&call, request);
    v1::AlarmStreamMessage message;
    std::vector<std::string> lines;
    while (stream->Read(&message)) {
      Take(message, &lines);
      for (const std::string& line : lines) options.on_line(line);
      lines.clear();
      backoff = milliseconds(200);
    }
    const grpc::Status status = stream->Finish();
    std::unique_lock<std::mutex> lock(mu);
    context = nullptr;
    if (stopping) break;
    stats.last_error =
        std::to_string(static_cast<int>(status.error_code())) + " " + status.error_message();
    if (!Retryable(status.error_code())) break;
    if (status.error_code() == grpc::StatusCode::OUT_OF_RANGE) {
      resync = true;  // the journal no longer has our cursor: start again from a snapshot
      ++stats.resyncs;
    }
    ++stats.reconnects;
    changed.wait_for(lock, backoff, [this] { return stopping; });
    backoff = std::min(backoff * 2, milliseconds(2000));
  }
  std::lock_guard<std::mutex> lock(mu);
  ended = true;
  changed.notify_all();
}

AlarmStream::AlarmStream(AlarmStreamOptions options)
    : state_(std::make_unique<State>(std::move(options))) {}

AlarmStream::~AlarmStream() { Stop(); }

bool AlarmStream::Start(milliseconds timeout, std::string* error) {
  State& s = *state_;
  s.reader = std::thread([&s] { s.Run(); });
  std::unique_lock<std::mutex> lock(s.mu);
  if (s.changed.wait_for(lock, timeout, [&s] { return s.started || s.ended; }) && s.started) {
    return true;
  }
  *error = "no alarm snapshot from " + s.options.target + " within " +
           std::to_string(timeout.count()) + " ms" +
           (s.stats.last_error.empty() ? "" : " (last error: " + s.stats.last_error + ")");
  lock.unlock();
  Stop();
  return false;
}

bool AlarmStream::WaitForServerTime(int64_t wall_ms, milliseconds timeout) const {
  State& s = *state_;
  std::unique_lock<std::mutex> lock(s.mu);
  return s.changed.wait_for(lock, timeout, [&] {
    return s.stats.server_time_ms >= wall_ms || s.ended;
  }) && s.stats.server_time_ms >= wall_ms;
}

void AlarmStream::Stop() {
  State& s = *state_;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.stopping = true;
    if (s.context != nullptr) s.context->TryCancel();
    s.changed.notify_all();
  }
  if (s.reader.joinable()) s.reader.join();
}

std::vector<ObservedTransition> AlarmStream::Transitions() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->observed;
}

AlarmStreamStats AlarmStream::stats() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->stats;
}

std::string FormatAlarmStreamStats(const AlarmStreamStats& s) {
  char text[512];
  std::snprintf(text, sizeof(text),
                "alarm_stream_snapshot_alarms %" PRIu64
                " alarms\n"
                "alarm_stream_events %" PRIu64
                " events\n"
                "alarm_stream_transitions %" PRIu64
                " events\n"
                "alarm_stream_heartbeats %" PRIu64
                " messages\n"
                "alarm_stream_reconnects %" PRIu64
                " streams\n"
                "alarm_stream_resyncs %" PRIu64
                " streams\n"
                "alarm_stream_last_seq %" PRIu64 " seq\n",
                s.snapshot_alarms, s.events, s.transitions, s.heartbeats, s.reconnects, s.resyncs,
                s.last_seq);
  return text;
}

}  // namespace vigil::sim
