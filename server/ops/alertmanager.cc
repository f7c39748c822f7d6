#include "server/ops/alertmanager.h"

// Asio in C++20 with g++ 12 needs <utility> first (TOOLCHAIN.md 3.2).
#include <utility>
// clang-format off
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
// clang-format on
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <set>

#include "alarm/registry.h"
#include "alarm/rule.h"
#include "alarm/thread_annotations.h"
#include "server/log/json_text.h"
#include "server/log/log.h"
#include "server/log/thread_name.h"
#include "server/ops/alarm_kpi.h"
#include "server/pipeline/feed_follower.h"
#include "storage/mutex.h"

namespace vigil::server {
namespace {

using alarm::AlarmKind;
using alarm::AlarmState;
using alarm::JournalEntry;
using alarm::TimestampMs;
using Clock = std::chrono::steady_clock;

std::string_view SeverityName(alarm::Severity severity) {
  switch (severity) {
    case alarm::Severity::kRed:
      return "red";
    case alarm::Severity::kOrange:
      return "orange";
    case alarm::Severity::kYellow:
      return "yellow";
    case alarm::Severity::kBlue:
      return "blue";
  }
  return "unknown";
}

std::string Number(double value) {
  if (!std::isfinite(value)) return std::to_string(value);
  char text[32];
  std::snprintf(text, sizeof text, "%.10g", value);
  return text;
}

TimestampMs WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::optional<Alert> AlertFor(const JournalEntry& entry, std::string_view generator_url) {
  const alarm::ActiveAlarm& r = entry.event.record;
  const bool active = r.state == AlarmState::kActiveUnacked || r.state == AlarmState::kActiveAcked;
  if (!active || r.shelved_until != 0) return std::nullopt;
  Alert alert;
  auto label = [&alert](std::string name, std::string value) {
    if (!value.empty()) alert.labels.emplace_back(std::move(name), std::move(value));
  };
  const bool gateway = r.alarm == AlarmKind::kGatewayOffline;
  const std::string kind(alarm::AlarmKindName(r.alarm));
  const std::string severity_name(SeverityName(r.severity));
  label("alarm", kind);
  label("alertname", "VigilAlarm");
  label("enterprise", entry.enterprise_id);
  if (entry.enterprise_kind != alarm::EnterpriseKind::kUnspecified) {
    label("enterprise_kind", std::string(alarm::EnterpriseKindName(entry.enterprise_kind)));
  }
  label(gateway ? "gateway" : "sensor", r.source_id);
  label("province", ProvinceOf(entry.region_code));
  label("region", entry.region_code);
  label("rule", r.rule_id);
  label("severity", std::to_string(static_cast<int>(r.severity)));
  label("severity_name", severity_name);
  std::sort(alert.labels.begin(), alert.labels.end());

  std::string summary = kind + " alarm (severity " + std::to_string(static_cast<int>(r.severity)) +
                        " " + severity_name + ") on " + (gateway ? "gateway " : "sensor ") +
                        r.source_id + " of " + entry.enterprise_id + " in " + entry.region_code;
  if (r.alarm == AlarmKind::kThreshold || r.alarm == AlarmKind::kRateOfChange) {
    summary += ": value " + Number(entry.event.value) + ", limit " + Number(r.threshold);
  }
  alert.annotations = {
      {"alarm_id", std::to_string(entry.alarm_id)},
      {"level", std::string(alarm::LevelName(r.level))},
      {"state", std::string(alarm::AlarmStateName(r.state))},
      {"summary", summary},
      {"threshold", Number(r.threshold)},
  };
  // No data, a gateway offline: no reading raised it, so no value (not "0").
  if (r.alarm != AlarmKind::kNoData && alarm::HasReading(r.alarm, entry.event.reading_at)) {
    alert.annotations.emplace_back("value", Number(entry.event.value));  // sorts last
  }
  alert.starts_at = r.raised_at;
  if (!generator_url.empty()) {
    std::string url(generator_url);
    constexpr std::string_view kId = "{alarm_id}";
    const std::string id = std::to_string(entry.alarm_id);
    for (size_t at = url.find(kId); at != std::string::npos; at = url.find(kId, at + id.size())) {
      url.replace(at, kId.size(), id);
    }
    alert.generator_url = std::move(url);
  }
  return alert;
}

std::string EncodeAlerts(const std::vector<Alert>& alerts, TimestampMs now,
                         std::chrono::milliseconds firing_ttl) {
  std::string out = "[";
  auto object = [&out](const std::vector<std::pair<std::string, std::string>>& pairs) {
    out.push_back('{');
    for (size_t i = 0; i < pairs.size(); ++i) {
      if (i > 0) out.push_back(',');
      AppendJsonString(&out, pairs[i].first);
      out.push_back(':');
      AppendJsonString(&out, pairs[i].second);
    }
    out.push_back('}');
  };
  for (size_t i = 0; i < alerts.size(); ++i) {
    const Alert& a = alerts[i];
    if (i > 0) out.push_back(',');
    out += "{\"labels\":";
    object(a.labels);
    out += ",\"annotations\":";
    object(a.annotations);
    out += ",\"startsAt\":";
    AppendJsonString(&out, FormatRfc3339Ms(a.starts_at));
    out += ",\"endsAt\":";
    const TimestampMs ends =
        a.ends_at != 0 ? std::max(a.ends_at, a.starts_at) : now + firing_ttl.count();
    AppendJsonString(&out, FormatRfc3339Ms(ends));
    if (!a.generator_url.empty()) {
      out += ",\"generatorURL\":";
      AppendJsonString(&out, a.generator_url);
    }
    out.push_back('}');
  }
  out.push_back(']');
  return out;
}

// ---------------------------------------------------------------------------
// AlertBook

void AlertBook::Set(uint64_t alarm_id, std::optional<Alert> next, TimestampMs at) {
  auto it = firing_.find(alarm_id);
  if (it != firing_.end() && (!next || next->labels != it->second.labels)) {
    Alert resolved = std::move(it->second);
    resolved.ends_at = std::max<TimestampMs>(at, 1);
    pending_.push_back(std::move(resolved));
    firing_.erase(it);
    it = firing_.end();
  }
  if (!next) return;
  if (it != firing_.end() && it->second == *next) return;
  firing_[alarm_id] = *next;
  pending_.push_back(std::move(*next));
}

void AlertBook::Reset(const std::vector<JournalEntry>& open, TimestampMs now) {
  std::set<uint64_t> seen;
  for (const JournalEntry& e : open) {
    seen.insert(e.alarm_id);
    Set(e.alarm_id, AlertFor(e, generator_url_), now);
  }
  std::vector<uint64_t> gone;
  for (const auto& [id, alert] : firing_) {
    if (!seen.contains(id)) gone.push_back(id);
  }
  for (uint64_t id : gone) Set(id, std::nullopt, now);
}

void AlertBook::Apply(const JournalEntry& entry) {
  Set(entry.alarm_id, AlertFor(entry, generator_url_), entry.event.at);
}

std::vector<Alert> AlertBook::Take(bool all) {
  std::vector<Alert> out;
  // Later versions of the same alert (same labels) win.
  std::set<std::vector<std::pair<std::string, std::string>>> taken;
  auto add = [&](Alert alert) {
    if (taken.insert(alert.labels).second) out.push_back(std::move(alert));
  };
  if (all) {
    for (const auto& [id, alert] : firing_) add(alert);
  }
  for (auto it = pending_.rbegin(); it != pending_.rend(); ++it) add(std::move(*it));
  pending_.clear();
  return out;
}

void AlertBook::Retry(std::vector<Alert> alerts) {
  std::vector<Alert> kept;
  for (Alert& a : alerts) {
    if (a.ends_at != 0) kept.push_back(std::move(a));
  }
  kept.insert(kept.end(), std::make_move_iterator(pending_.begin()),
              std::make_move_iterator(pending_.end()));
  if (kept.size() > kMaxPendingResolved) {
    kept.erase(kept.begin(),
               kept.begin() + static_cast<ptrdiff_t>(kept.size() - kMaxPendingResolved));
  }
  pending_ = std::move(kept);
}

// ---------------------------------------------------------------------------
// HTTP

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;

struct PostResult {
  int status = 0;     // HTTP status; 0 when there was no answer
  std::string error;  // why there was no answer
  std::string body;   // the answer (truncated), for the log
};

// The TLS client side for an https url: verifies the peer's chain against
// alertmanager.ca_file (or the system's CAs) and its name against the host.
// kInvalidArgument when the CA file does not load.
alarm::Result<std::shared_ptr<ssl::context>> ClientTlsContext(const AlertmanagerOptions& options) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  context->set_options(ssl::context::no_sslv2 | ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                       ssl::context::no_tlsv1_1);
  context->set_verify_mode(ssl::verify_peer);
  beast::error_code ec;
  if (options.ca_file.empty()) {
    context->set_default_verify_paths(ec);
  } else {
    context->load_verify_file(options.ca_file.string(), ec);
  }
  if (ec) {
    return alarm::Status::InvalidArgument("alertmanager.ca_file: " + options.ca_file.string() +
                                          ": " + ec.message());
  }
  return context;
}

// POSTs `body` to http[s]://url.host:url.port<target>, bounded by `timeout`
// in all (resolve, connect, TLS handshake, send, answer). `tls` is required
// for an https url.
PostResult HttpPost(const HttpUrl& url, ssl::context* tls, const std::string& target,
                    std::string body, std::chrono::milliseconds timeout) {
  boost::asio::io_context io;
  tcp::resolver resolver(io);
  // One of the two, by scheme; both are cheap to construct.
  beast::tcp_stream plain(io);
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
  if (url.tls) secure.emplace(io, *tls);
  beast::tcp_stream& lowest = url.tls ? beast::get_lowest_layer(*secure) : plain;
  http::request<http::string_body> request{http::verb::post, target, 11};
  const bool ipv6 = url.host.find(':') != std::string::npos;
  request.set(http::field::host, (ipv6 ? "[" + url.host + "]" : url.host) + ":" + url.port);
  request.set(http::field::user_agent, "vigild");
  request.set(http::field::content_type, "application/json");
  request.keep_alive(false);
  request.body() = std::move(body);
  request.prepare_payload();
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  PostResult result;
  bool done = false;
  auto fail = [&](const char* what, const beast::error_code& ec) {
    result.error = std::string(what) + ": " + ec.message();
    done = true;
  };
  auto exchange = [&](auto& stream) {
    http::async_write(stream, request, [&](beast::error_code ec3, size_t) {
      if (ec3) return fail("send", ec3);
      http::async_read(stream, buffer, response, [&](beast::error_code ec4, size_t) {
        if (ec4) return fail("answer", ec4);
        result.status = static_cast<int>(response.result_int());
        result.body = response.body().substr(0, 512);
        done = true;
      });
    });
  };
  if (url.tls) {
    // SNI, and the name the certificate must carry (DNS name or IP address).
    SSL_set_tlsext_host_name(secure->native_handle(), url.host.c_str());
    secure->set_verify_callback(ssl::host_name_verification(url.host));
  }
  const auto deadline = Clock::now() + timeout;
  resolver.async_resolve(
      url.host, url.port, [&](beast::error_code ec, const tcp::resolver::results_type& endpoints) {
        if (ec) return fail("resolve", ec);
        lowest.expires_at(deadline);
        lowest.async_connect(endpoints, [&](beast::error_code ec2, const tcp::endpoint&) {
          if (ec2) return fail("connect", ec2);
          if (!url.tls) return exchange(plain);
          secure->async_handshake(ssl::stream_base::client, [&](beast::error_code ec5) {
            if (ec5) return fail("tls handshake", ec5);
            exchange(*secure);
          });
        });
      });
  io.run_until(deadline);
  if (!done) {
    result.error = "timed out after " + std::to_string(timeout.count()) + " ms";
    resolver.cancel();
    beast::error_code ignored;
    lowest.socket().close(ignored);
    io.restart();
    io.run();  // the cancelled handlers, at once
  }
  beast::error_code ignored;
  lowest.socket().shutdown(tcp::socket::shutdown_both, ignored);
  return result;
}

}  // namespace

// ---------------------------------------------------------------------------
// AlertmanagerForwarder

class AlertmanagerForwarder::Impl {
 public:
  Impl(const AlertmanagerOptions& options, HttpUrl url, std::shared_ptr<ssl::context> tls,
       AlarmFeed* feed)
      : options_(options),
        url_(std::move(url)),
        tls_(std::move(tls)),
        follower_(feed),
        book_(options.generator_url) {}

  void Start() {
    thread_ = std::thread([this] {
      NameThisThread("vigil-alertmgr");
      Loop();
    });
  }

  void Stop() {
    follower_.Stop();
    if (thread_.joinable()) thread_.join();
  }

  Stats stats() const {
    storage::MutexLock lock(&stats_mu_);
    return stats_;
  }

 private:
  static constexpr size_t kAlertsPerPost = 1000;

  void Loop() {
    LogInfo("alertmanager_forwarding",
            {{"url", options_.url}, {"resend_interval_ms", options_.resend_interval.count()}});
    Clock::time_point next_resend = Clock::now();  // at once: Alertmanager may have restarted
    bool failing = false;
    while (true) {
      follower_.Drain(
          [this](const std::vector<JournalEntry>& open) { book_.Reset(open, WallMs()); },
          [this](const JournalEntry& e) { book_.Apply(e); });
      const Clock::time_point now = Clock::now();
      const bool resend = now >= next_resend;
      // While failing, changes wait for the next resend (the retry).
      if (resend || (!failing && book_.pending() > 0)) {
        std::vector<Alert> alerts = book_.Take(resend);
        if (!alerts.empty()) {
          const bool ok = Post(std::move(alerts));
          if (ok && failing) LogInfo("alertmanager_recovered", {{"url", options_.url}});
          failing = !ok;
        }
        if (resend) next_resend = Clock::now() + options_.resend_interval;
      }
      {
        storage::MutexLock lock(&stats_mu_);
        stats_.firing = book_.firing();
        stats_.pending = book_.pending();
      }
      if (!follower_.WaitUntil(next_resend)) return;
    }
  }

  // POSTs `alerts` in chunks; false (and the unsent ones back in the book)
  // at the first failure.
  bool Post(std::vector<Alert> alerts) {
    const std::string target = url_.path + "/api/v2/alerts";
    for (size_t from = 0; from < alerts.size(); from += kAlertsPerPost) {
      const size_t to = std::min(alerts.size(), from + kAlertsPerPost);
      const std::vector<Alert> chunk(alerts.begin() + static_cast<ptrdiff_t>(from),
                                     alerts.begin() + static_cast<ptrdiff_t>(to));
      const PostResult r =
          HttpPost(url_, tls_.get(), target,
                   EncodeAlerts(chunk, WallMs(), 4 * options_.resend_interval), options_.timeout);
      const bool ok = r.status >= 200 && r.status < 300;
      {
        storage::MutexLock lock(&stats_mu_);
        if (ok) {
          ++stats_.posts_ok;
          stats_.last_success_ms = WallMs();
        } else if (r.status >= 400 && r.status < 500) {
          ++stats_.posts_rejected;
        } else {
          ++stats_.posts_error;
        }
      }
      if (!ok) {
        ++failures_;
        if (Clock::now() >= next_log_) {
          next_log_ = Clock::now() + std::chrono::minutes(1);
          LogError("alertmanager_post_failed", {{"url", options_.url},
                                                {"status", r.status},
                                                {"error", r.error.empty() ? r.body : r.error},
                                                {"failures", failures_},
                                                {"alerts", alerts.size() - from}});
        }
        book_.Retry(
            std::vector<Alert>(alerts.begin() + static_cast<ptrdiff_t>(from), alerts.end()));
        return false;
      }
    }
    return true;
  }

  const AlertmanagerOptions options_;
  const HttpUrl url_;
  const std::shared_ptr<ssl::context> tls_;  // https only; used by the thread alone
  FeedFollower follower_;
  AlertBook book_;  // the thread's
  uint64_t failures_ = 0;
  Clock::time_point next_log_{};
  std::thread thread_;
  mutable storage::Mutex stats_mu_;
  Stats stats_ VIGIL_GUARDED_BY(stats_mu_);
};

alarm::Result<std::unique_ptr<AlertmanagerForwarder>> AlertmanagerForwarder::Start(
    const AlertmanagerOptions& options, AlarmFeed* feed) {
  auto url = ParseHttpUrl(options.url);
  if (!url) return alarm::Status::InvalidArgument("alertmanager.url: " + url.error().message());
  std::shared_ptr<ssl::context> tls;
  if (url->tls) {
    auto context = ClientTlsContext(options);
    if (!context) return context.error();
    tls = std::move(*context);
  }
  auto impl = std::make_unique<Impl>(options, std::move(*url), std::move(tls), feed);
  impl->Start();
  return std::unique_ptr<AlertmanagerForwarder>(new AlertmanagerForwarder(std::move(impl)));
}

AlertmanagerForwarder::AlertmanagerForwarder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

AlertmanagerForwarder::~AlertmanagerForwarder() { Stop(); }

void AlertmanagerForwarder::Stop() { impl_->Stop(); }

AlertmanagerForwarder::Stats AlertmanagerForwarder::stats() const { return impl_->stats(); }

}  // namespace vigil::server
