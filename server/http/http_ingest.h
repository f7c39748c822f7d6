// HTTP ingest for gateways that do not speak gRPC (docs/http-ingest.md):
//   POST /api/v1/ingest          one IngestBatch as JSON (ingest_json.h); 200
//                                with the ack once durable.
//   POST /write, /api/v2/write   InfluxDB line protocol (line_protocol.h);
//                                204 once durable, 400 "partial write" naming
//                                each rejected line.
// Both go through the same checks and path as gRPC's Ingest.Write
// (api/ingest_submit.h): the caller's token (AccessControl; "Token <t>" is
// taken as "Bearer <t>" for InfluxDB clients), the gateway it may write as,
// its readings rate (IdentityLimiter: over it, 429 with Retry-After),
// validation against the registry, durability before the answer.
//
// Line protocol carries no sequence: each request is numbered by the server
// under the dedupe key "<gateway> line-protocol" (its own watermark, apart
// from the gateway's gRPC/JSON numbering), and dedupe is by (sensor,
// timestamp) as storage keeps readings: one reading per sensor and
// millisecond, the last written wins, and a reading equal to the stored one
// adds nothing (storage/chunk_store.h). So a resent body stores nothing twice.
// Thread-safety: handlers run on vigil-http threads; a line-protocol request
// takes its gateway's mutex (numbering and submission in one order), never
// one per reading, so several threads serve several gateways in parallel.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "alarm/thread_annotations.h"
#include "server/api/ingest_submit.h"
#include "server/http/http_server.h"
#include "server/http/line_protocol.h"
#include "storage/mutex.h"

namespace vigil::server {

struct HttpIngestOptions {
  // Largest body after gzip decompression (a gzip bomb stops there: 413).
  uint64_t max_decompressed_bytes = 64u << 20;
  // Registry sensor id of a line-protocol field (line_protocol.h SensorTemplate).
  SensorTemplate sensor_template;
  // Fields (and tags) one line may have; a line with more is rejected.
  uint32_t max_fields_per_line = 1000;
};

class HttpIngest {
 public:
  // `ctx` (and everything it points to) must outlive this object and every
  // request it started.
  HttpIngest(const IngestContext& ctx, HttpIngestOptions options);

  // Adds the routes above to `server`. REQUIRES: before server->Start().
  void Register(HttpServer* server);

  // The dedupe key of a gateway's line-protocol writes.
  static std::string LineProtocolKey(const std::string& gateway_id) {
    return gateway_id + " line-protocol";
  }

 private:
  void HandleJson(HttpRequest& request, const HttpReply& reply);
  void HandleLines(HttpRequest& request, const HttpReply& reply);

  const IngestContext& ctx_;
  const HttpIngestOptions options_;

  // The next watermark of a gateway's line-protocol writes, under its own
  // lock (held while a request of that gateway is numbered, validated and
  // submitted; other gateways' requests do not wait for it).
  struct LineNumbering {
    storage::Mutex mu;
    // False until the stored watermark was read (again after a failed read).
    bool loaded VIGIL_GUARDED_BY(mu) = false;
    storage::Watermark next VIGIL_GUARDED_BY(mu);
    // Set (by the writer's callback) when a write failed: the writer fences
    // the gateway after a gap, so the next write starts a new epoch.
    const std::shared_ptr<std::atomic<bool>> failed = std::make_shared<std::atomic<bool>>(false);
  };
  // Guards the map only (entries are never removed, and only registered
  // gateways get one).
  storage::Mutex numbering_mu_;
  std::unordered_map<std::string, LineNumbering> numbering_ VIGIL_GUARDED_BY(numbering_mu_);
};

}  // namespace vigil::server
