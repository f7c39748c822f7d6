#include "server/http/http_ingest.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include "server/api/access.h"
#include "server/api/limits.h"
#include "server/http/gzip.h"
#include "server/http/ingest_json.h"
#include "server/http/line_batch.h"

namespace vigil::server {
namespace {

using Code = alarm::Status::Code;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

HttpResponse Error(unsigned status, std::string_view message, const BodyError* where = nullptr) {
  HttpResponse r;
  r.status = status;
  r.body = ErrorJson(message, where);
  if (status == 429 || status == 503) r.headers.emplace_back("Retry-After", "1");
  return r;
}

// The HTTP status a refusal maps to (docs/http-ingest.md lists them).
unsigned HttpStatusOf(Code code) {
  switch (code) {
    case Code::kOk:
      return 200;
    case Code::kInvalidArgument:
    case Code::kOutOfRange:
      return 400;
    case Code::kUnauthenticated:
      return 401;
    case Code::kPermissionDenied:
      return 403;
    case Code::kNotFound:
      return 404;
    case Code::kFailedPrecondition:
    case Code::kAborted:
      return 409;
    case Code::kResourceExhausted:
      return 429;
    case Code::kUnavailable:
    case Code::kIOError:
    case Code::kCorruption:
    case Code::kInternal:
      return 503;
  }
  return 500;
}

HttpResponse FromStatus(const alarm::Status& status) {
  return Error(HttpStatusOf(status.code()), status.message());
}

// A refusal by the writer after submission: a nearly full disk is the
// storage being unavailable (503), not the caller sending too much.
HttpResponse FromWriterError(const alarm::Status& status) {
  if (status.code() == Code::kResourceExhausted) return Error(503, status.message());
  return FromStatus(status);
}

// What the handlers reuse from one request to the next, per vigil-http thread.
struct Scratch {
  const RegistryHolder* holder = nullptr;
  std::unique_ptr<RegistryView> registry;
  v1::IngestBatch batch;
  storage::IngestRecordBuilder builder;
  std::string decompressed;
  std::string sensor_id;
  LineBatch lines;
};

Scratch& ThreadScratch(const RegistryHolder* holder) {
  thread_local Scratch scratch;
  if (scratch.holder != holder) {
    scratch.holder = holder;
    scratch.registry = std::make_unique<RegistryView>(holder);
  }
  return scratch;
}

// The caller of a request. InfluxDB 2.x clients send "Token <t>".
alarm::Result<CallerScope> Authorize(const AccessControl& access, const HttpRequest& request) {
  std::string authorization = request.authorization;
  if (authorization.starts_with("Token ")) authorization = "Bearer " + authorization.substr(6);
  PeerCredentials peer;
  peer.authorization = authorization;
  peer.cert_names = request.cert_names;  // HTTPS with a verified client certificate
  auto caller = access.Authenticate(peer, NowMs());
  if (!caller) {
    return alarm::Status::Unauthenticated(caller.error().message() +
                                          " (send 'Authorization: Bearer <token>')");
  }
  if (!caller->May(Role::kGateway)) {
    return access.Deny("'" + caller->name + "' may not send readings: that needs a gateway token");
  }
  return caller;
}

// 429 when `caller` is over its readings rate. The readings are charged
// whether or not they are then refused, so Retry-After covers this request's
// own share too: resent after it, the request is within the rate.
std::optional<HttpResponse> Throttle(const IngestContext& ctx, const CallerScope& caller,
                                     uint64_t readings) {
  if (ctx.limiter == nullptr || caller.anonymous) return std::nullopt;
  const std::chrono::nanoseconds pause = ctx.limiter->TakeReadings(
      *ctx.limiter->Get(caller.name), readings, std::chrono::steady_clock::now());
  if (pause.count() <= 0) return std::nullopt;
  const double seconds =
      std::chrono::duration<double>(pause).count() +
      static_cast<double>(readings) / std::max(1u, ctx.limiter->options().readings_per_second);
  HttpResponse r = Error(429, "'" + caller.name + "' is over its readings rate (" +
                                  std::to_string(ctx.limiter->options().readings_per_second) +
                                  "/s, limits.readings_per_second); resend after Retry-After");
  r.headers.clear();
  r.headers.emplace_back("Retry-After", std::to_string(std::max<int64_t>(
                                            1, static_cast<int64_t>(std::ceil(seconds)))));
  return r;
}

// The body, decompressed when sent with Content-Encoding: gzip; an error
// response otherwise.
std::optional<HttpResponse> Body(const HttpRequest& request, uint64_t max_bytes,
                                 std::string* scratch, std::string_view* body) {
  const std::string& encoding = request.content_encoding;
  if (encoding.empty() || encoding == "identity") {
    *body = request.body;
    return std::nullopt;
  }
  if (encoding != "gzip" && encoding != "x-gzip") {
    return Error(415, "Content-Encoding '" + encoding.substr(0, 32) +
                          "' is not supported; send gzip or nothing");
  }
  std::string why;
  switch (Gunzip(request.body, max_bytes, scratch, &why)) {
    case GunzipResult::kOk:
      *body = *scratch;
      return std::nullopt;
    case GunzipResult::kTooLarge:
      return Error(413, "the body decompresses to more than " + std::to_string(max_bytes) +
                            " bytes (http.max_decompressed_bytes)");
    case GunzipResult::kMalformed:
      break;
  }
  return Error(400, why);
}

// One rejected line-protocol line or field.
struct LineRejection {
  uint32_t line = 0;
  std::string field;   // "" for the whole line
  std::string reason;  // UNKNOWN_SENSOR, MALFORMED_LINE, ...
  std::string detail;
};

constexpr size_t kMaxListedLines = 100;

std::string PartialWriteJson(const std::vector<LineRejection>& rejections, uint64_t rejected,
                             uint64_t stored, uint32_t lines) {
  std::string message = "partial write: " + std::to_string(rejected) + " readings rejected, " +
                        std::to_string(stored) + " stored (" + std::to_string(lines) + " lines)";
  if (!rejections.empty()) {
    const LineRejection& r = rejections.front();
    message += "; line " + std::to_string(r.line) + ": " + r.detail;
  }
  rapidjson::StringBuffer out;
  rapidjson::Writer<rapidjson::StringBuffer> w(out);
  const auto text = [&w](std::string_view s) {
    // Details quote client text that passed the UTF-8 check of its line.
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  };
  w.StartObject();
  w.Key("code");
  text("invalid");
  w.Key("message");
  text(message);
  w.Key("stored_readings");
  w.Uint64(stored);
  w.Key("rejected_readings");
  w.Uint64(rejected);
  w.Key("rejections");
  w.StartArray();
  for (const LineRejection& r : rejections) {
    w.StartObject();
    w.Key("line");
    w.Uint(r.line);
    w.Key("field");
    text(r.field);
    w.Key("reason");
    text(r.reason);
    w.Key("detail");
    text(r.detail);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return std::string(out.GetString(), out.GetSize());
}

}  // namespace

HttpIngest::HttpIngest(const IngestContext& ctx, HttpIngestOptions options)
    : ctx_(ctx), options_(std::move(options)) {}

void HttpIngest::Register(HttpServer* server) {
  server->Route("POST", "/api/v1/ingest", [this](HttpRequest& request, const HttpReply& reply) {
    HandleJson(request, reply);
  });
  for (const char* path : {"/write", "/api/v2/write"}) {
    server->Route("POST", path, [this](HttpRequest& request, const HttpReply& reply) {
      HandleLines(request, reply);
    });
  }
}

void HttpIngest::HandleJson(HttpRequest& request, const HttpReply& reply) {
  const auto received = std::chrono::steady_clock::now();
  auto caller = Authorize(*ctx_.access, request);
  if (!caller) return reply(FromStatus(caller.error()));
  Scratch& s = ThreadScratch(ctx_.registry);
  std::string_view body;
  if (auto refused = Body(request, options_.max_decompressed_bytes, &s.decompressed, &body)) {
    return reply(std::move(*refused));
  }
  BodyError where;
  if (!ParseIngestJson(body, &s.batch, &where)) {
    return reply(Error(400, where.message, &where));
  }
  const v1::IngestBatch& batch = s.batch;
  if (alarm::Status st = CheckGatewayId(batch.gateway_id()); !st.ok()) {
    return reply(FromStatus(st));
  }
  if (!caller->MayWriteAs(batch.gateway_id())) {
    return reply(
        FromStatus(ctx_.access->Deny("'" + caller->name + "' may not send batches of gateway '" +
                                     alarm::Echo(batch.gateway_id()) + "'")));
  }
  if (auto throttled = Throttle(ctx_, *caller, ReadingsIn(batch))) {
    return reply(std::move(*throttled));
  }
  PreparedBatch prepared;
  if (alarm::Status st = PrepareIngest(ctx_, s.registry.get(), batch, &s.builder, &prepared);
      !st.ok()) {
    return reply(FromStatus(st));
  }
  const bool queued = SubmitPrepared(
      ctx_, std::move(prepared), batch.gateway_id(), {batch.epoch(), batch.sequence()}, received,
      IngestProtocol::kHttpJson, [reply](const v1::IngestAck* ack, const alarm::Status& error) {
        if (ack == nullptr) return reply(FromWriterError(error));
        HttpResponse r;
        r.body = AckToJson(*ack);
        reply(std::move(r));
      });
  if (!queued) reply(Error(429, "ingest queue is full; resend after a backoff"));
}

void HttpIngest::HandleLines(HttpRequest& request, const HttpReply& reply) {
  const auto received = std::chrono::steady_clock::now();
  auto caller = Authorize(*ctx_.access, request);
  if (!caller) return reply(FromStatus(caller.error()));

  // The gateway: ?gateway= (or InfluxDB's db= / bucket=), else the token's own.
  std::optional<std::string> gateway = request.Param("gateway");
  if (!gateway) gateway = request.Param("db");
  if (!gateway) gateway = request.Param("bucket");
  if (!gateway && caller->gateway_ids.size() == 1) gateway = caller->gateway_ids.front();
  if (!gateway || gateway->empty()) {
    return reply(Error(400, "name the gateway that writes: ?gateway=ID (or db=ID, bucket=ID)"));
  }
  if (alarm::Status st = CheckGatewayId(*gateway); !st.ok()) return reply(FromStatus(st));
  if (!caller->MayWriteAs(*gateway)) {
    return reply(FromStatus(ctx_.access->Deny("'" + caller->name + "' may not write as gateway '" +
                                              alarm::Echo(*gateway) + "'")));
  }
  const std::optional<std::string> precision_text = request.Param("precision");
  const std::optional<Precision> precision = ParsePrecision(precision_text.value_or(""));
  if (!precision) {
    return reply(Error(400, "precision must be ns, us, ms, s, m or h (got '" +
                                alarm::Echo(*precision_text, 16) + "')"));
  }

  Scratch& s = ThreadScratch(ctx_.registry);
  std::string_view body;
  if (auto refused = Body(request, options_.max_decompressed_bytes, &s.decompressed, &body)) {
    return reply(std::move(*refused));
  }

  // Lines -> one batch, a series per sensor; each reading remembers its line.
  LineBatch& batch = s.lines;
  batch.Clear();
  std::vector<LineRejection> rejections;
  uint64_t rejected = 0;
  uint32_t lines = 0;
  const auto reject = [&](uint32_t line, std::string_view field, std::string_view reason,
                          std::string detail, uint64_t count) {
    rejected += count;
    if (rejections.size() < kMaxListedLines) {
      rejections.push_back({line, std::string(field), std::string(reason), std::move(detail)});
    }
  };
  const alarm::IngestLimits& limits = ctx_.options.limits;
  // Readings past the batch limit are counted, not kept: a body of tiny
  // lines cannot grow the batch beyond what one request may hold.
  uint64_t readings = 0;
  bool too_large = false;
  const int64_t now_ms = NowMs();
  const SensorTemplate& tmpl = options_.sensor_template;
  LineProtocolParser parser(body, options_.max_fields_per_line);
  ParsedLine line;
  LineError line_error;
  while (true) {
    const LineProtocolParser::Result r = parser.Next(&line, &line_error);
    if (r == LineProtocolParser::Result::kEnd) break;
    ++lines;
    if (r == LineProtocolParser::Result::kError) {
      reject(line_error.line, "", "MALFORMED_LINE",
             "column " + std::to_string(line_error.column) + ": " + line_error.message, 1);
      continue;
    }
    if (!tmpl.uses_field() && line.fields.size() > 1) {
      reject(line.number, "", "AMBIGUOUS_FIELDS",
             std::to_string(line.fields.size()) +
                 " fields, but the sensor template has no {field}: send one field per line",
             line.fields.size());
      continue;
    }
    int64_t at = now_ms;
    if (line.timestamp) {
      const std::optional<int64_t> ms = ToMillis(*line.timestamp, *precision);
      if (!ms) {
        reject(line.number, "", "MALFORMED_LINE", "timestamp out of range", line.fields.size());
        continue;
      }
      at = *ms;
    }
    for (const LineField& field : line.fields) {
      if (field.kind == FieldKind::kString) {
        reject(line.number, field.key, "STRING_FIELD",
               "string fields are not readings; send a number or a boolean", 1);
        continue;
      }
      std::string_view missing;
      if (!tmpl.Render(line, field, &s.sensor_id, &missing)) {
        reject(line.number, field.key, "MISSING_TAG",
               "the sensor template needs tag '" + std::string(missing) + "'", 1);
        continue;
      }
      // No registered sensor has a longer id; not kept (one such id could
      // be as long as the body).
      if (s.sensor_id.size() > alarm::kMaxIdBytes) {
        reject(line.number, field.key, "ID_TOO_LONG",
               "sensor id is " + std::to_string(s.sensor_id.size()) + " bytes; ids are at most " +
                   std::to_string(alarm::kMaxIdBytes),
               1);
        continue;
      }
      ++readings;
      if (readings > limits.max_readings_per_batch ||
          batch.sensors() > limits.max_series_per_batch) {
        too_large = true;
        continue;
      }
      batch.Add(s.sensor_id, at, field.number, line.number);
    }
  }
  batch.Group();
  const size_t sensors = batch.series().size();
  if (too_large || alarm::IsBatchTooLarge(sensors, readings, limits)) {
    return reply(Error(413, std::to_string(readings) + " readings of " +
                                (too_large ? "at least " : "") + std::to_string(sensors) +
                                " sensors in one request; the limits are " +
                                std::to_string(limits.max_readings_per_batch) + " readings and " +
                                std::to_string(limits.max_series_per_batch) +
                                " sensors (ingest.max_*_per_batch): split the body"));
  }
  if (readings == 0) {
    if (rejected == 0)
      return reply(HttpResponse{.status = 204, .content_type = "", .body = "", .headers = {}});
    HttpResponse r;
    r.status = 400;
    r.body = PartialWriteJson(rejections, rejected, 0, lines);
    return reply(std::move(r));
  }
  if (auto throttled = Throttle(ctx_, *caller, readings)) return reply(std::move(*throttled));

  // Only a registered gateway gets a numbering entry (and its one watermark
  // read): ids a caller makes up must not grow the table.
  if (s.registry->Get().FindGateway(*gateway) == nullptr) {
    return reply(Error(403, "gateway '" + alarm::Echo(*gateway) + "' is not in the registry"));
  }
  // Numbering, validation and submission under the gateway's own lock, so
  // that the writer sees this gateway's line-protocol writes in numbering
  // order; other gateways' writes go on in parallel on other vigil-http threads.
  LineNumbering* numbering = nullptr;
  {
    storage::MutexLock lock(&numbering_mu_);
    numbering = &numbering_[*gateway];  // a node of the map: stays where it is
  }
  PreparedBatch prepared;
  bool queued = false;
  {
    storage::MutexLock lock(&numbering->mu);
    if (!numbering->loaded) {
      // Above whatever an earlier run stored (one read per gateway and run).
      auto stored = ctx_.writer->StoredWatermark(LineProtocolKey(*gateway));
      if (!stored) return reply(Error(503, stored.error().message()));
      numbering->next = {stored->has_value() ? (*stored)->epoch + 1 : 1, 1};
      numbering->loaded = true;
    } else if (numbering->failed->exchange(false)) {
      numbering->next = {numbering->next.epoch + 1, 1};
    }
    const SeriesBatch series{.gateway_id = *gateway,
                             .epoch = numbering->next.epoch,
                             .sequence = numbering->next.sequence,
                             .series = batch.series(),
                             .id_hashes = batch.hashes()};
    if (alarm::Status st = PrepareIngest(ctx_, s.registry.get(), series, &s.builder, &prepared);
        !st.ok()) {
      return reply(FromStatus(st));
    }
    // Validation's rejections, by line (the callback runs later, on another thread).
    for (const v1::Rejection& r : prepared.ack.rejections()) {
      if (r.series_index() < 0) continue;
      const auto index = static_cast<size_t>(r.series_index());
      const size_t count = batch.series()[index].values.size();
      const size_t reading =
          r.reading_index() >= 0 && static_cast<size_t>(r.reading_index()) < count
              ? static_cast<size_t>(r.reading_index())
              : 0;
      const uint32_t at = count == 0 ? 0 : batch.LineOf(index, reading);
      if (rejections.size() < kMaxListedLines) {
        rejections.push_back(
            {at, "", std::string(RejectReasonName(r.reason())),
             r.reading_index() < 0 && count > 1
                 ? r.detail() + " (" + std::to_string(count) + " readings, the first on this line)"
                 : r.detail()});
      }
    }
    rejected += prepared.ack.rejected_readings();
    std::stable_sort(
        rejections.begin(), rejections.end(),
        [](const LineRejection& a, const LineRejection& b) { return a.line < b.line; });
    const storage::Watermark mark = numbering->next;
    ++numbering->next.sequence;
    queued = SubmitPrepared(
        ctx_, std::move(prepared), LineProtocolKey(*gateway), mark, received,
        IngestProtocol::kLineProtocol,
        [reply, failed = numbering->failed, rejections = std::move(rejections), rejected, lines](
            const v1::IngestAck* ack, const alarm::Status& error) {
          if (ack == nullptr) {
            failed->store(true);
            return reply(FromWriterError(error));
          }
          if (rejected == 0) {
            return reply(
                HttpResponse{.status = 204, .content_type = "", .body = "", .headers = {}});
          }
          HttpResponse r;
          r.status = 400;
          r.body = PartialWriteJson(rejections, rejected, ack->stored_readings(), lines);
          reply(std::move(r));
        });
    if (!queued) --numbering->next.sequence;
  }
  if (!queued) reply(Error(429, "ingest queue is full; resend after a backoff"));
}

}  // namespace vigil::server
