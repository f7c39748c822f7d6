#include "server/http/console.h"

#include <atomic>
#include <charconv>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "alarm/thread_annotations.h"
#include "server/api/alarm_follower.h"
#include "server/http/console_json.h"
#include "server/log/log.h"
#include "storage/control_record.h"
#include "storage/mutex.h"

namespace vigil::server {
namespace {

using alarm::JournalEntry;
using alarm::Status;
using nlohmann::json;

// A stream stops fetching while this much is still unsent, and resumes when
// the socket has taken it (HttpStreamCallbacks::drained).
constexpr size_t kLowWater = size_t{64} * 1024;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Never throws: invalid UTF-8 (which the registry does not let in) would be
// replaced, not an exception on a vigil-http thread.
std::string Dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

// What every answer of the console carries: the page may load its own
// scripts and styles and talk to its own origin, nothing else; it is never
// framed, sniffed or cached, and sends no referrer.
void Secure(HttpResponse* r, bool cacheable = false) {
  r->headers.emplace_back("Content-Security-Policy",
                          "default-src 'none'; script-src 'self'; style-src 'self'; "
                          "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
                          "form-action 'none'; frame-ancestors 'none'");
  r->headers.emplace_back("X-Content-Type-Options", "nosniff");
  r->headers.emplace_back("X-Frame-Options", "DENY");
  r->headers.emplace_back("Referrer-Policy", "no-referrer");
  r->headers.emplace_back("Cross-Origin-Opener-Policy", "same-origin");
  r->headers.emplace_back("Cross-Origin-Resource-Policy", "same-origin");
  r->headers.emplace_back("Cache-Control", cacheable ? "no-cache" : "no-store");
}

HttpResponse JsonResponse(unsigned status, const json& body) {
  HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = Dump(body);
  Secure(&r);
  return r;
}

HttpResponse ErrorResponse(const Status& status) {
  HttpResponse r;
  r.status = HttpStatusFor(status.code());
  r.content_type = "application/json";
  r.body = ErrorJson(status);
  if (r.status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"vigil\"");
  Secure(&r);
  return r;
}

std::string_view RoleText(Role role) {
  switch (role) {
    case Role::kViewer:
      return "viewer";
    case Role::kOperator:
      return "operator";
    case Role::kAdmin:
      return "admin";
    case Role::kGateway:
      return "gateway";
  }
  return "unknown";
}

// An unsigned decimal, all of `text`.
std::optional<uint64_t> ParseU64(std::string_view text) {
  uint64_t n = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, n);
  if (text.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return n;
}

// What a region code of the KPIs names, by its length (GB/T 2260).
std::string_view RegionLevel(std::string_view region) {
  switch (region.size()) {
    case 2:
      return "province";
    case 4:
      return "city";
    case 6:
      return "county";
  }
  return "other";
}

std::optional<std::string> ReadWhole(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

// ---------------------------------------------------------------------------
// The alarm stream: one per open page, following the journal with an
// AlarmFollower. Held by the stream's callbacks (until `closed`); the feed
// and journal reads in flight hold it weakly.

class AlarmSse final : public AlarmFeed::Watcher, public std::enable_shared_from_this<AlarmSse> {
 public:
  // `identity`, when set, holds a subscription slot of `limiter` that this
  // stream gives back when it goes.
  AlarmSse(const AlarmDesk* desk, alarm::AlarmFilter filter, std::chrono::milliseconds heartbeat,
           ConsoleStats* stats, IdentityLimiter* limiter,
           std::shared_ptr<IdentityLimiter::Identity> identity)
      : desk_(desk),
        filter_(std::move(filter)),
        heartbeat_(heartbeat),
        stats_(stats),
        limiter_(limiter),
        identity_(std::move(identity)) {}

  ~AlarmSse() override {
    if (identity_ != nullptr) limiter_->ReleaseSubscription(*identity_);
  }

  // The header is out: the snapshot (no `after_seq`) or the resume point.
  void Open(std::shared_ptr<HttpStream> stream, std::optional<uint64_t> after_seq) {
    storage::MutexLock lock(&mu_);
    stats_->streams_open.fetch_add(1, std::memory_order_relaxed);
    opened_ = true;
    stream_ = std::move(stream);
    // A journal read comes back here, unless the stream has ended.
    follower_.emplace(desk_, filter_, [weak = weak_from_this()](std::function<void()> then) {
      auto self = weak.lock();
      if (self == nullptr) return;
      storage::MutexLock relock(&self->mu_);
      if (self->stream_ == nullptr) return;
      then();
      self->PumpLocked();
    });
    // Reconnect soon after a drop; the page also keeps its own timer.
    Send("retry: 1000\n\n");
    auto start = follower_->Start(after_seq);
    if (!start) {
      ResyncLocked("Last-Event-ID " + start.error().message());
      return;
    }
    if (const std::optional<AlarmFeed::OpenView>& view = *start) {
      const std::shared_ptr<const alarm::Registry> registry = desk_->registry().Get();
      json alarms = json::array();
      for (const JournalEntry& e : view->alarms) alarms.push_back(AlarmJson(e, registry.get()));
      Send("event: snapshot\nid: " + std::to_string(view->seq) +
           "\ndata: " + Dump(json{{"seq", view->seq}, {"alarms", std::move(alarms)}}) + "\n\n");
    }
    PumpLocked();
  }

  void Wake() override {
    storage::MutexLock lock(&mu_);
    watching_ = false;
    PumpLocked();
  }
  bool Interested(const JournalEntry& entry) const override { return filter_.Matches(entry); }

  void Drained() {
    storage::MutexLock lock(&mu_);
    PumpLocked();
  }

  void Closed() {
    storage::MutexLock lock(&mu_);
    if (opened_) stats_->streams_open.fetch_sub(1, std::memory_order_relaxed);
    opened_ = false;
    stream_.reset();
  }

 private:
  void Send(std::string text) VIGIL_REQUIRES(mu_) {
    last_write_ = std::chrono::steady_clock::now();
    if (!stream_->Write(std::move(text))) stream_.reset();
  }

  void SendEvents(const std::vector<JournalEntry>& entries) VIGIL_REQUIRES(mu_) {
    const std::shared_ptr<const alarm::Registry> registry = desk_->registry().Get();
    std::string out;
    for (const JournalEntry& e : entries) {
      out += "event: alarm\nid: " + std::to_string(e.seq) + "\ndata: ";
      out += Dump(EventJson(e, registry.get()));
      out += "\n\n";
    }
    if (!out.empty()) Send(std::move(out));
    stats_->events_sent.fetch_add(entries.size(), std::memory_order_relaxed);
  }

  // The resume point is gone (past the newest entry, or past retention):
  // tell the page to start over from a snapshot, then end.
  void ResyncLocked(const std::string& why) VIGIL_REQUIRES(mu_) {
    Send("event: resync\ndata: " + Dump(json{{"reason", why}}) + "\n\n");
    if (stream_ != nullptr) stream_->Close();
  }

  // Sends what the follower finds (from the feed's memory or, fallen behind,
  // the journal) while the socket keeps up; then waits for the next publish.
  void PumpLocked() VIGIL_REQUIRES(mu_) {
    if (stream_ == nullptr || !follower_) return;
    bool sent = false;
    for (int pass = 0; pass < 2; ++pass) {
      while (stream_ != nullptr && stream_->buffered() < kLowWater) {
        AlarmFollower::Batch batch;
        const AlarmFollower::Step step = follower_->Next(&batch);
        if (step == AlarmFollower::Step::kEntries) {
          SendEvents(batch.entries);
          sent = true;
          continue;
        }
        if (step == AlarmFollower::Step::kCaughtUp) break;
        if (step == AlarmFollower::Step::kLost) ResyncLocked(follower_->lost_reason());
        if (step == AlarmFollower::Step::kFailed) {
          LogError("console_stream_journal_read_failed",
                   {{"error", follower_->error().ToString()}});
          stream_->Close();
        }
        return;  // kLoading: the read's completion pumps again
      }
      if (stream_ == nullptr || stream_->buffered() >= kLowWater) return;  // drained() resumes
      if (watching_) break;
      // Caught up: be woken by the next publish, and look once more for one
      // that slipped in before the watch was set.
      watching_ = true;
      desk_->feed().Watch(shared_from_this());
    }
    if (!sent && std::chrono::steady_clock::now() - last_write_ >= heartbeat_) {
      Send("event: heartbeat\ndata: " +
           Dump(json{{"seq", follower_->cursor()},
                     {"journal_seq", desk_->feed().last_seq()},
                     {"server_time_ms", NowMs()}}) +
           "\n\n");
    }
  }

  const AlarmDesk* const desk_;
  const alarm::AlarmFilter filter_;  // immutable: Interested reads it under the feed's lock
  const std::chrono::milliseconds heartbeat_;
  ConsoleStats* const stats_;
  IdentityLimiter* const limiter_;
  const std::shared_ptr<IdentityLimiter::Identity> identity_;
  storage::Mutex mu_;
  std::shared_ptr<HttpStream> stream_ VIGIL_GUARDED_BY(mu_);     // null once closed
  std::optional<AlarmFollower> follower_ VIGIL_GUARDED_BY(mu_);  // set by Open
  bool watching_ VIGIL_GUARDED_BY(mu_) = false;
  bool opened_ VIGIL_GUARDED_BY(mu_) = false;  // counted in stats_->streams_open
  std::chrono::steady_clock::time_point last_write_ VIGIL_GUARDED_BY(mu_) =
      std::chrono::steady_clock::now();
};

// ---------------------------------------------------------------------------

struct Console::Impl {
  ConsolePageOptions options;
  const AlarmDesk* desk;
  const ReadingDesk* readings;
  ConsoleStats stats;
  struct Asset {
    std::string content_type;
    std::string body;
  };
  std::map<std::string, Asset> assets;  // by path; filled by Register

  // The caller of an API request; `needed` names what it tries.
  alarm::Result<CallerScope> Caller(const HttpRequest& request) const {
    PeerCredentials peer;
    peer.authorization = request.authorization;
    return desk->access().Require(peer, NowMs(), Role::kViewer, "watch or list alarms");
  }

  // Actions change state: besides the bearer token (which a browser never
  // attaches by itself), the body must be JSON -- a cross-site form cannot
  // send that without a CORS preflight, which this server never grants --
  // and a browser that says where the request comes from must say it is
  // this page.
  static std::optional<Status> CrossSite(const HttpRequest& request) {
    if (!request.content_type.starts_with("application/json")) {
      return Status::InvalidArgument("actions take a JSON body (Content-Type: application/json)");
    }
    const std::string_view site = request.Header("Sec-Fetch-Site");
    if (!site.empty() && site != "same-origin" && site != "none") {
      return Status::PermissionDenied("cross-site requests may not act on alarms");
    }
    return std::nullopt;
  }

  void Session(HttpRequest& request, const HttpReply& reply) {
    auto caller = Caller(request);
    if (!caller) {
      if (caller.error().code() == Status::Code::kUnauthenticated) {
        stats.signin_failures.fetch_add(1, std::memory_order_relaxed);
      }
      return reply(ErrorResponse(caller.error()));
    }
    reply(JsonResponse(200, json{{"identity", caller->name},
                                 {"role", RoleText(caller->role)},
                                 {"may_act", caller->May(Role::kOperator)},
                                 {"region_prefix", caller->region_prefix},
                                 {"max_shelve_ms", desk->max_shelve().count()},
                                 {"server_time_ms", NowMs()}}));
  }

  alarm::Result<alarm::AlarmFilter> Filter(const HttpRequest& request,
                                           const CallerScope& caller) const {
    auto filter = FilterFromParams([&](std::string_view name) { return request.Param(name); });
    if (!filter) return filter.error();
    return desk->ScopedFilter(caller, std::move(*filter));
  }

  void Active(HttpRequest& request, const HttpReply& reply) const {
    auto caller = Caller(request);
    if (!caller) return reply(ErrorResponse(caller.error()));
    auto filter = Filter(request, *caller);
    if (!filter) return reply(ErrorResponse(filter.error()));
    AlarmFeed::OpenView view = desk->feed().Open(*filter);
    const std::shared_ptr<const alarm::Registry> registry = desk->registry().Get();
    json alarms = json::array();
    for (const JournalEntry& e : view.alarms) alarms.push_back(AlarmJson(e, registry.get()));
    reply(JsonResponse(200, json{{"seq", view.seq}, {"alarms", std::move(alarms)}}));
  }

  void Detail(HttpRequest& request, const HttpReply& reply) const {
    auto caller = Caller(request);
    if (!caller) return reply(ErrorResponse(caller.error()));
    const std::optional<uint64_t> id = ParseU64(request.Param("alarm_id").value_or(""));
    if (!id) return reply(ErrorResponse(Status::InvalidArgument("alarm_id must be a number")));
    desk->ReadAlarm(
        *caller, *id, [desk = desk, reply](alarm::Result<std::vector<JournalEntry>> history) {
          if (!history) return reply(ErrorResponse(history.error()));
          const std::shared_ptr<const alarm::Registry> registry = desk->registry().Get();
          json events = json::array();
          for (const JournalEntry& e : *history) {
            events.push_back(EventJson(e, registry.get()));
          }
          reply(JsonResponse(200, json{{"alarm", AlarmJson(history->back(), registry.get())},
                                       {"history", std::move(events)}}));
        });
  }

  // Acknowledge, shelve, unshelve: {"alarm_id": N, "comment"/"reason": "...",
  // "duration_ms": N (shelve)}.
  void Action(storage::ControlKind kind, HttpRequest& request, const HttpReply& reply) const {
    auto caller = Caller(request);
    if (!caller) return reply(ErrorResponse(caller.error()));
    if (auto refused = CrossSite(request)) return reply(ErrorResponse(*refused));
    const json body = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded() || !body.is_object()) {
      return reply(ErrorResponse(Status::InvalidArgument("the body is not a JSON object")));
    }
    auto text = [&](const char* key) -> std::optional<std::string> {
      auto it = body.find(key);
      if (it == body.end()) return std::string();
      if (!it->is_string()) return std::nullopt;
      return it->get<std::string>();
    };
    auto id = body.find("alarm_id");
    if (id == body.end() || !id->is_number_unsigned()) {
      return reply(ErrorResponse(Status::InvalidArgument("alarm_id must be a positive integer")));
    }
    storage::ControlRecord record;
    record.kind = kind;
    const std::optional<std::string> comment =
        text(kind == storage::ControlKind::kShelve ? "reason" : "comment");
    const std::optional<std::string> operator_id = text("operator_id");
    if (!comment || !operator_id) {
      return reply(ErrorResponse(
          Status::InvalidArgument("comment, reason and operator_id must be strings")));
    }
    record.text = *comment;
    if (kind == storage::ControlKind::kShelve) {
      auto duration = body.find("duration_ms");
      const int64_t ms =
          duration != body.end() && duration->is_number_integer() ? duration->get<int64_t>() : 0;
      if (Status check = desk->CheckShelve(record.text, ms); !check.ok()) {
        return reply(ErrorResponse(check));
      }
      record.shelve_for_ms = ms;
    }
    desk->Act(*caller, id->get<uint64_t>(), *operator_id, std::move(record),
              [desk = desk, reply](const Status& status, std::optional<JournalEntry> event) {
                if (!status.ok()) return reply(ErrorResponse(status));
                json out = json::object();
                if (event) out["event"] = EventJson(*event, desk->registry().Get().get());
                reply(JsonResponse(200, out));
              });
  }

  void Stream(HttpRequest& request, const HttpReply& reply, const HttpStreamStart& start) {
    auto caller = Caller(request);
    if (!caller) return reply(ErrorResponse(caller.error()));
    auto filter = Filter(request, *caller);
    if (!filter) return reply(ErrorResponse(filter.error()));
    std::optional<uint64_t> after;
    if (const std::string_view last = request.Header("Last-Event-ID"); !last.empty()) {
      after = ParseU64(last);
      if (!after) {
        return reply(ErrorResponse(Status::InvalidArgument("Last-Event-ID must be a journal seq")));
      }
    }
    // Console streams count as alarm subscriptions of the identity, like
    // gRPC Alarms.Subscribe's: one page per officer is the norm, a loop
    // opening streams is stopped here.
    std::shared_ptr<IdentityLimiter::Identity> identity;
    if (options.limiter != nullptr) {
      identity = options.limiter->Get(caller->name);
      if (!options.limiter->AcquireSubscription(*identity)) {
        return reply(ErrorResponse(Status::ResourceExhausted(
            "'" + caller->name + "' has " +
            std::to_string(options.limiter->options().subscriptions_per_identity) +
            " alarm streams and subscriptions open already (limits.subscriptions_per_identity)")));
      }
    }
    auto sse = std::make_shared<AlarmSse>(desk, std::move(*filter), options.heartbeat_interval,
                                          &stats, options.limiter, std::move(identity));
    auto callbacks = std::make_shared<HttpStreamCallbacks>();
    callbacks->open = [sse, after](std::shared_ptr<HttpStream> stream) {
      sse->Open(std::move(stream), after);
    };
    callbacks->drained = [sse] { sse->Drained(); };
    callbacks->closed = [sse] { sse->Closed(); };
    HttpResponse r;
    r.content_type = "text/event-stream; charset=utf-8";
    Secure(&r);
    r.headers.emplace_back("X-Accel-Buffering", "no");  // proxies: do not hold events back
    start(std::move(r), std::move(callbacks));
  }

  // A sensor's readings in [from_ms, to_ms) for the trend plot: raw while
  // they fit in max_points (default 1000), else downsampled to at most
  // max_points steps (min, avg, max each); `mode=raw` or `mode=downsampled`
  // forces one.
  void Readings(HttpRequest& request, const HttpReply& reply) const {
    auto caller = Caller(request);
    if (!caller) return reply(ErrorResponse(caller.error()));
    const std::string sensor_id = request.Param("sensor_id").value_or("");
    const std::optional<uint64_t> from = ParseU64(request.Param("from_ms").value_or(""));
    const std::optional<uint64_t> to = ParseU64(request.Param("to_ms").value_or(""));
    const std::optional<uint64_t> max_points =
        ParseU64(request.Param("max_points").value_or("1000"));
    const std::string mode = request.Param("mode").value_or("auto");
    constexpr uint64_t kMaxTime = uint64_t{1} << 62;
    if (!from || !to || *from > kMaxTime || *to > kMaxTime) {
      return reply(ErrorResponse(
          Status::InvalidArgument("from_ms and to_ms must be times in ms since the Unix epoch")));
    }
    if (!max_points || *max_points < 2 || *max_points > 10'000) {
      return reply(ErrorResponse(Status::InvalidArgument("max_points must be 2..10000")));
    }
    if (mode != "auto" && mode != "raw" && mode != "downsampled") {
      return reply(ErrorResponse(Status::InvalidArgument("mode must be auto, raw or downsampled")));
    }
    const auto from_ms = static_cast<alarm::TimestampMs>(*from);
    const auto to_ms = static_cast<alarm::TimestampMs>(*to);
    const auto points = static_cast<uint32_t>(*max_points);
    json head = {{"sensor_id", sensor_id}, {"from_ms", from_ms}, {"to_ms", to_ms}};
    const std::shared_ptr<const alarm::Registry> registry = desk->registry().Get();
    if (const alarm::Sensor* s = registry->FindSensor(sensor_id)) {
      head["sensor_quantity"] = s->quantity;
      head["sensor_unit"] = s->unit;
    }
    // The levels of the sensor's rule in force, drawn on the trend whether
    // or not this alarm reached them.
    if (const std::shared_ptr<const alarm::RuleSet> rules =
            options.rules ? options.rules() : nullptr) {
      if (const alarm::Rule* rule = rules->ForSensor(sensor_id)) {
        head["rule_id"] = rule->id;
        head["levels"] = RuleLevelsJson(*rule);
      }
    }
    auto downsampled = [readings = readings, scope = *caller, sensor_id, from_ms, to_ms, points,
                        reply, head]() {
      readings->ReadDownsampled(
          scope, sensor_id, from_ms, to_ms, 0, 0, points,
          [reply, head](alarm::Result<DownsampledReadings> down) {
            if (!down) return reply(ErrorResponse(down.error()));
            json out = head;
            out["mode"] = "downsampled";
            out["step_ms"] = down->grid.step;
            json rows = json::array();
            for (const storage::Step& step : down->steps) {
              rows.push_back({step.start, step.stats.min, step.stats.avg(), step.stats.max});
            }
            out["points"] = std::move(rows);  // [start_ms, min, avg, max]
            reply(JsonResponse(200, out));
          });
    };
    if (mode == "downsampled") return downsampled();
    readings->ReadRaw(*caller, sensor_id, from_ms, to_ms, points,
                      [reply, head, mode, downsampled](alarm::Result<RawReadings> raw) {
                        if (!raw) return reply(ErrorResponse(raw.error()));
                        if (raw->truncated && mode == "auto")
                          return downsampled();  // too many: steps
                        json out = head;
                        out["mode"] = "raw";
                        out["truncated"] = raw->truncated;
                        json rows = json::array();
                        for (const alarm::Reading& r : raw->readings)
                          rows.push_back({r.at, r.value});
                        out["points"] = std::move(rows);  // [at_ms, value]
                        reply(JsonResponse(200, out));
                      });
  }

  // The enterprises of the caller's region, each with its open alarms.
  void Enterprises(HttpRequest& request, const HttpReply& reply) const {
    auto caller = Caller(request);
    if (!caller) return reply(ErrorResponse(caller.error()));
    const std::shared_ptr<const alarm::Registry> registry = desk->registry().Get();
    alarm::AlarmFilter filter;
    filter.region_prefix = caller->region_prefix;
    std::map<std::string, int> open;  // by enterprise
    for (const JournalEntry& e : desk->feed().Open(filter).alarms) ++open[e.enterprise_id];
    json out = json::array();
    for (const alarm::Enterprise& e : registry->entries().enterprises) {
      if (!caller->Covers(e.region_code)) continue;
      out.push_back({{"enterprise_id", e.id},
                     {"name", e.name},
                     {"kind", alarm::EnterpriseKindName(e.kind)},
                     {"region_code", e.region_code},
                     {"sensors", registry->SensorsOf(e.id).size()},
                     {"open_alarms", open[e.id]}});
    }
    reply(JsonResponse(200, json{{"enterprises", std::move(out)}}));
  }

  // An enterprise's sensors: latest value with unit, stale or not, open
  // alarms. A sensor is stale when it has no reading, or (with an
  // expected_interval declared) none for three intervals.
  void EnterpriseLatest(HttpRequest& request, const HttpReply& reply) const {
    auto caller = Caller(request);
    if (!caller) return reply(ErrorResponse(caller.error()));
    const std::string enterprise_id = request.Param("enterprise_id").value_or("");
    if (enterprise_id.empty()) {
      return reply(ErrorResponse(Status::InvalidArgument("enterprise_id is required")));
    }
    readings->ReadLatest(
        *caller, enterprise_id, {},
        [reply, enterprise_id](alarm::Result<std::shared_ptr<LatestValues>> latest) {
          if (!latest) return reply(ErrorResponse(latest.error()));
          const LatestValues& values = **latest;
          const alarm::Registry& registry = *values.registry;
          const int64_t now = NowMs();
          json sensors = json::array();
          for (size_t i = 0; i < values.ids.size(); ++i) {
            const alarm::Sensor* s = registry.FindSensor(values.ids[i]);
            const SensorLatest& l = values.results[i];
            json sensor = {{"sensor_id", values.ids[i]}};
            const int64_t interval = s == nullptr ? 0 : s->expected_interval.count();
            if (s != nullptr) {
              sensor["quantity"] = s->quantity;
              sensor["unit"] = s->unit;
              sensor["expected_interval_ms"] = interval;
            }
            bool stale = !l.reading.has_value();
            if (l.reading) {
              sensor["at_ms"] = l.reading->at;
              sensor["value"] = l.reading->value;
              sensor["quality"] = l.reading->quality;
              stale = interval > 0 && now - l.reading->at > 3 * interval;
            }
            sensor["stale"] = stale;
            json alarms = json::array();
            for (const alarm::ActiveAlarm& a : l.alarms) {
              alarms.push_back({{"kind", alarm::AlarmKindName(a.alarm)},
                                {"state", alarm::AlarmStateName(a.state)},
                                {"severity", static_cast<int>(a.severity)},
                                {"severity_name", SeverityName(a.severity)},
                                {"level", alarm::LevelName(a.level)},
                                {"rule_id", a.rule_id},
                                {"raised_at_ms", a.raised_at}});
            }
            sensor["alarms"] = std::move(alarms);
            sensors.push_back(std::move(sensor));
          }
          json enterprise = {{"enterprise_id", enterprise_id}};
          if (const alarm::Enterprise* e = registry.FindEnterprise(enterprise_id)) {
            enterprise["name"] = e->name;
            enterprise["kind"] = alarm::EnterpriseKindName(e->kind);
            enterprise["region_code"] = e->region_code;
          }
          reply(JsonResponse(200, json{{"enterprise", std::move(enterprise)},
                                       {"server_time_ms", now},
                                       {"sensors", std::move(sensors)}}));
        });
  }

  // The alarm-load KPIs of the caller's region: every province for a
  // national token, else its own province, city or county alone (kept per
  // region code, summed by prefix: ops/alarm_kpi.h). `flood`: more than 10
  // raised in 10 minutes (EEMUA 191).
  void Kpis(HttpRequest& request, const HttpReply& reply) const {
    auto caller = Caller(request);
    if (!caller) return reply(ErrorResponse(caller.error()));
    json out = json::array();
    if (options.kpis) {
      for (const ConsoleKpi& k : options.kpis(caller->region_prefix)) {
        if (!k.region.starts_with(caller->region_prefix)) continue;
        out.push_back({{"region", k.region},
                       {"level", RegionLevel(k.region)},
                       {"raised_10m", k.raised},
                       {"flood", k.raised > 10},
                       {"chattering", k.chattering},
                       {"stale", k.stale},
                       {"shelved", k.shelved}});
      }
    }
    reply(JsonResponse(200, json{{"regions", std::move(out)}}));
  }

  void Page(const HttpRequest& request, const HttpReply& reply) const {
    const std::string path = request.path == "/" ? "/index.html" : request.path;
    auto it = assets.find(path);
    HttpResponse r;
    if (it == assets.end()) {
      r.status = 404;
      r.body = ErrorJson(Status::NotFound("no such file"));
    } else {
      r.content_type = it->second.content_type;
      r.body = it->second.body;
    }
    Secure(&r, /*cacheable=*/true);
    reply(std::move(r));
  }
};

Console::Console(ConsolePageOptions options, const AlarmDesk* desk, const ReadingDesk* readings)
    : impl_(std::make_shared<Impl>()) {
  impl_->options = std::move(options);
  impl_->desk = desk;
  impl_->readings = readings;
}

Console::~Console() = default;

uint64_t Console::open_streams() const {
  return impl_->stats.streams_open.load(std::memory_order_relaxed);
}

const ConsoleStats& Console::stats() const { return impl_->stats; }

alarm::Status Console::Register(HttpServer* server) {
  struct File {
    const char* name;
    const char* content_type;
    bool required;
    const std::filesystem::path* dir;
  };
  const File files[] = {
      {"index.html", "text/html; charset=utf-8", true, &impl_->options.assets_dir},
      {"console.js", "text/javascript; charset=utf-8", true, &impl_->options.assets_dir},
      {"console.css", "text/css; charset=utf-8", true, &impl_->options.assets_dir},
      {"dygraph.min.js", "text/javascript; charset=utf-8", false, &impl_->options.dygraphs_dir},
      {"dygraph.min.css", "text/css; charset=utf-8", false, &impl_->options.dygraphs_dir},
  };
  for (const File& f : files) {
    std::optional<std::string> body = ReadWhole(*f.dir / f.name);
    if (!body) {
      if (f.required) {
        return Status::InvalidArgument("console: cannot read " + (*f.dir / f.name).string() +
                                       " (console.assets_dir)");
      }
      LogWarn("console_asset_missing", {{"file", (*f.dir / f.name).string()}});
      continue;
    }
    impl_->assets["/" + std::string(f.name)] = {f.content_type, std::move(*body)};
  }
  Impl* impl = impl_.get();
  auto page = [impl](HttpRequest& request, const HttpReply& reply) { impl->Page(request, reply); };
  server->Route("GET", "/", page);
  for (const auto& [path, asset] : impl_->assets) server->Route("GET", path, page);
  server->Route(
      "GET", "/api/v1/console/session",
      [impl](HttpRequest& request, const HttpReply& reply) { impl->Session(request, reply); });
  server->Route(
      "GET", "/api/v1/alarms/active",
      [impl](HttpRequest& request, const HttpReply& reply) { impl->Active(request, reply); });
  server->Route(
      "GET", "/api/v1/alarms/detail",
      [impl](HttpRequest& request, const HttpReply& reply) { impl->Detail(request, reply); });
  server->Route(
      "GET", "/api/v1/sensors/readings",
      [impl](HttpRequest& request, const HttpReply& reply) { impl->Readings(request, reply); });
  server->Route("GET", "/api/v1/kpis", [impl](HttpRequest& request, const HttpReply& reply) {
    impl->Kpis(request, reply);
  });
  server->Route("GET", "/api/v1/enterprises", [impl](HttpRequest& request, const HttpReply& reply) {
    impl->Enterprises(request, reply);
  });
  server->Route("GET", "/api/v1/enterprises/latest",
                [impl](HttpRequest& request, const HttpReply& reply) {
                  impl->EnterpriseLatest(request, reply);
                });
  server->RouteStream(
      "GET", "/api/v1/alarms/stream",
      [impl](HttpRequest& request, const HttpReply& reply, const HttpStreamStart& start) {
        impl->Stream(request, reply, start);
      });
  const std::pair<const char*, storage::ControlKind> actions[] = {
      {"/api/v1/alarms/acknowledge", storage::ControlKind::kAcknowledge},
      {"/api/v1/alarms/shelve", storage::ControlKind::kShelve},
      {"/api/v1/alarms/unshelve", storage::ControlKind::kUnshelve},
  };
  for (const auto& [path, kind] : actions) {
    server->Route("POST", path, [impl, kind = kind](HttpRequest& request, const HttpReply& reply) {
      impl->Action(kind, request, reply);
    });
  }
  return Status::Ok();
}

}  // namespace vigil::server
