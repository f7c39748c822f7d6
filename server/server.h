// Server: owns every part of a running vigild and their lifetimes.
//
// Threads (the name each gives itself, as `top -H` and /proc/PID/task/*/comm
// show it; tests/e2e/ops_e2e_test.cc checks the vigil-* ones):
//   control       (vigild's main thread) Run(): a Boost.Asio io_context for
//                 signals (SIGTERM/SIGINT drain and stop, SIGHUP reloads the
//                 rules and registry files and checks the TLS files), the
//                 checkpoint, alarm-tick, heartbeat, health and retention
//                 timers, and registry and rules changes (posted to it by the
//                 admin services). Owns the rules in force and the checkpoint.
//   stopper       started on SIGTERM: drains and stops everything in order.
//   vigil-writer  StorageWriter: owns the ingest log's appends and the
//                 gateways' watermarks; fed by gRPC ingest reactions and the
//                 control thread (ticks, operator actions) through its bounded
//                 lock-free queue; group-commits to the IngestLog (one group in
//                 flight), and from the group's completion posts each stored
//                 entry to the shards and answers the batches.
//   vigil-shard-N ShardSet, `server.shards` of them: each the single owner of
//                 its sensors' chunk heads and alarm engine; fed through its
//                 lock-free queue by the writer (stored entries), queries
//                 (latest values) and the control thread (rules, checkpoints);
//                 writes sealed chunks and hands its events to the journal.
//   vigil-journal AlarmJournal: owns the journal's numbering and open-alarm
//                 table; fed by the shards through its lock-free queue; writes
//                 the journal, then publishes to the AlarmFeed.
//   vigil-fanout  AlarmFeed's 2 waker threads: wake the subscribers (gRPC
//                 writes) a Publish concerns; fed by the journal under the
//                 feed's waker mutex, so the journal never waits on them.
//   vigil-kpi     AlarmKpiThread: owns the AlarmKpi counters (read by /metrics
//                 under its mutex); follows the AlarmFeed (FeedFollower).
//   vigil-alertmgr  AlertmanagerForwarder (when alertmanager.url is set): owns
//                 the alert book and its POSTs; follows the AlarmFeed.
//   vigil-liveness  LivenessWatch: sets vigil.v1.Liveness health from the
//                 control loop's beat (an atomic the control thread stores).
//   blocking      a Boost.Asio pool of 2 (unnamed): RocksDB reads of queries
//                 and of subscribers' journal catch-up, and retention drops
//                 (at start and hourly); fed by gRPC reactions and the control
//                 thread through boost::asio::post.
//   gRPC          gRPC's callback threads run every RPC reaction; they never
//                 block. With server.tls on, gRPC's FileWatcherCertificateProvider
//                 re-reads the certificate files on a thread of its own (tls.h);
//                 throttled ingest streams resume from gRPC alarms (limits.h).
//   vigil-http    with http.listen set, http.threads (default 1) threads of
//                 HttpServer's own io_context (server/http/): read requests,
//                 parse JSON/line protocol, submit to the writer like a gRPC
//                 reaction (never block); the writer's answer is posted back.
//   vigil-http    with console.enabled, one more thread of the console's own
//                 HttpServer: the page, the alarm API and the alarm streams
//                 (fed also by the feed's wakers and the blocking pool).
//   vigil-mqtt    with mqtt.broker set (server/mqtt/): connects to the broker,
//                 subscribes, reconnects with backoff. Paho C's own send and
//                 receive threads; the receive thread runs the message
//                 callback, which blocks until its batch is durable (the
//                 broker's PUBACK waits for it: mqtt_ingest.h).
//   vigil-backtest  while a rule backtest runs (api/backtest_service.h, one at
//                 a time): reads chunks, the journal, and heads through small
//                 shard tasks; replays them through an Engine of its own.
//                 Stopped and joined before gRPC shuts down.
//   metrics       prometheus-cpp's Exposer (civetweb) threads serving /metrics:
//                 read atomics and the mutex-guarded snapshots (kpi, feed,
//                 alertmanager, limits).
//   RocksDB       its own flush and compaction threads.
//   vigil-applier only with ingest_log.backend jetstream: StreamApplier,
//                 follows the whole stream (every node's entries) and posts
//                 them to the shards; owns the applied watermarks.
//   NATS          only with ingest_log.backend jetstream: the NATS C client's
//                 reader, flusher, timer and publish-ack delivery threads (the
//                 ack thread completes the writer's group: answers the batches
//                 and hands local actions to the applier) and the log's
//                 watchdog thread, which
//                 fails a group whose ack never came (cluster/README.md).
// The writer, each shard and the journal consume a WorkerQueue
// (pipeline/worker_queue.h): fed lock-free by any thread, asleep when idle.
// Shared state outside these owners is guarded by storage::Mutex and checked
// by clang -Wthread-safety (VIGIL_GUARDED_BY, alarm/thread_annotations.h).
// Stop order: health NOT_SERVING -> MQTT disconnects -> refuse new batches -> wait for queued
// batches to be acked (bounded by shutdown_grace) -> gRPC shutdown -> writer
// -> shards seal their heads -> checkpoint -> metrics -> close the database.
#pragma once

#include <memory>
#include <string>

#include "alarm/status.h"
#include "server/config/options.h"

namespace vigil::server {

// Exit status of vigild when storage needs a restart to recover.
inline constexpr int kExitStorageRestart = 3;

class Server {
 public:
  // Opens the database, loads the registry (database, then the registry file
  // on top), replays the ingest log past the last checkpoint, starts every
  // thread and listens. From its return SIGTERM, SIGINT and SIGHUP are
  // caught (and acted on once Run() runs), so a signal sent as soon as the
  // address is known is never fatal. Errors: kIOError/kCorruption
  // (database), kInvalidArgument (registry file), kUnavailable (cannot listen).
  static alarm::Result<std::unique_ptr<Server>> Start(const ServerOptions& options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The gRPC address actually bound ("127.0.0.1:43121").
  const std::string& grpc_address() const;
  // The /metrics address actually bound; empty when metrics are off.
  std::string metrics_address() const;
  // The HTTP (ingest) address actually bound; empty when http.listen is off.
  std::string http_address() const;
  // The web console's address actually bound; empty when console is off.
  std::string console_address() const;

  // Runs the control loop on the calling thread until SIGTERM/SIGINT or
  // RequestStop(), then stops everything in order. Returns once stopped.
  void Run();
  // Thread-safe: makes Run() stop as on SIGTERM.
  void RequestStop();

  // After Run(): 0, or kExitStorageRestart when vigild stopped because
  // storage failed in a way only a restart cures.
  int exit_code() const;

 private:
  class Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::server
