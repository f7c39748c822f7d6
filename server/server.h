// Server: owns every part of a running vigild and their lifetimes.
//
// Threads:
//   control   the thread that calls Run(): a Boost.Asio io_context for
//             signals (SIGTERM/SIGINT drain and stop, SIGHUP reloads the
//             rules and registry files and checks the TLS files), the
//             checkpoint timer and registry changes.
//   stopper   started on SIGTERM: drains and stops everything in order.
//   writer    StorageWriter: group-commits gateway batches to RocksDB.
//   shards    `options.shards` ShardSet threads: per-sensor heads (and, next,
//             alarm evaluation), each the single owner of its sensors.
//   journal   AlarmJournal: numbers and writes the shards' alarm events.
//   The writer, each shard and the journal consume a WorkerQueue
//   (worker_queue.h): fed lock-free by any thread, asleep when idle.
//   blocking  a pool of 2 threads for RocksDB reads of queries and retention
//             (dropping expired time partitions, at start and hourly).
//   metrics   prometheus-cpp's Exposer (civetweb) threads serving /metrics.
//   liveness  LivenessWatch: vigil.v1.Liveness health from the control loop's beat.
//   kpi       AlarmKpiThread: alarm-load KPIs from the AlarmFeed.
//   alertmanager  AlertmanagerForwarder (when configured): POSTs alerts.
//   gRPC      gRPC's callback threads run every RPC reaction; they never block.
//             With server.tls on, gRPC's FileWatcherCertificateProvider
//             re-reads the certificate files on a thread of its own (tls.h);
//             throttled ingest streams resume from gRPC alarms (limits.h).
//   RocksDB   its own flush and compaction threads.
// Stop order: health NOT_SERVING -> refuse new batches -> wait for queued
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
