#include "server/server.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <csignal>
#include <future>
#include <limits>
#include <optional>
#include <thread>

#include "cluster/jetstream_ingest_log.h"
#include "server/api/admin_service.h"
#include "server/api/alarm_service.h"
#include "server/api/backtest_service.h"
#include "server/api/backup_service.h"
#include "server/api/ingest_service.h"
#include "server/api/journal_service.h"
#include "server/api/limits.h"
#include "server/api/planned_work_service.h"
#include "server/api/proto_convert.h"
#include "server/api/query_service.h"
#include "server/api/reflection.h"
#include "server/api/rules_service.h"
#include "server/api/tls.h"
#include "server/config/config.h"
#include "server/config/registry_yaml.h"
#include "server/config/rules_yaml.h"
#include "server/config/text_input.h"
#include "server/http/console.h"
#include "server/http/http_ingest.h"
#include "server/http/http_server.h"
#include "server/log/log.h"
#include "server/mqtt/mqtt_ingest.h"
#include "server/ops/alarm_kpi.h"
#include "server/ops/alertmanager.h"
#include "server/ops/control_stats.h"
#include "server/ops/liveness.h"
#include "server/ops/metrics.h"
#include "server/ops/service_notify.h"
#include "server/pipeline/alarm_feed.h"
#include "server/pipeline/alarm_journal.h"
#include "server/pipeline/registry_holder.h"
#include "server/pipeline/sensor_numbering.h"
#include "server/pipeline/shard.h"
#include "server/pipeline/storage_writer.h"
#include "server/pipeline/stream_applier.h"
#include "storage/alarm_codec.h"
#include "storage/control_record.h"
#include "storage/ingest_record.h"
#include "storage/mutex.h"
#include "storage/sensor_numbers.h"
#include "storage/store.h"

namespace vigil::server {
namespace {

using alarm::Result;
using alarm::Status;

#ifndef VIGIL_VERSION
#define VIGIL_VERSION "unknown"
#endif

std::string VersionString() { return VIGIL_VERSION; }

uint32_t ShardCount(const ServerOptions& options) {
  if (options.shards > 0) return options.shards;
  return std::max(1u, std::thread::hardware_concurrency());
}

// The registry as stored, one entry per key, and into *numbers the sensor
// numbers (a sensor stored before numbers existed gets one, stored now).
Result<std::shared_ptr<const alarm::Registry>> LoadStoredRegistry(storage::Store* store,
                                                                  storage::SensorNumbers* numbers) {
  v1::Registry proto;
  Status s = store->ForEachRegistryEntry(
      [&](storage::RegistryEntryKind kind, std::string_view id, std::string_view blob) {
        bool parsed = false;
        const int size = static_cast<int>(blob.size());
        switch (kind) {
          case storage::RegistryEntryKind::kSensorNumber: {
            const auto number = storage::SensorNumbers::DecodeNumber(blob);
            parsed = number && numbers->Add(*number, id).ok();
            break;
          }
          case storage::RegistryEntryKind::kEnterprise:
            parsed = proto.add_enterprises()->ParseFromArray(blob.data(), size);
            break;
          case storage::RegistryEntryKind::kGateway:
            parsed = proto.add_gateways()->ParseFromArray(blob.data(), size);
            break;
          case storage::RegistryEntryKind::kSensor:
            parsed = proto.add_sensors()->ParseFromArray(blob.data(), size);
            break;
        }
        return parsed ? Status::Ok()
                      : Status::Corruption("stored registry entry '" + std::string(id) +
                                           "' does not parse");
      });
  if (!s.ok()) return s;
  auto entries = RegistryFromProto(proto);
  if (!entries) return entries.error();
  NewSensorNumbers added;
  s = NumberSensors(*numbers, entries->sensors, &added);
  if (!s.ok()) return s;
  if (!added.empty()) {
    std::vector<std::string> blobs;
    blobs.reserve(added.size());
    std::vector<storage::RegistryEntryWrite> writes;
    SensorNumberWrites(added, &blobs, &writes);
    s = store->WriteRegistryEntries(writes);
    if (!s.ok()) return s;
    s = CommitSensorNumbers(added, numbers);
    if (!s.ok()) return s;
  }
  auto registry = alarm::Registry::Build(std::move(*entries));
  if (!registry) return Status::Corruption("stored registry: " + registry.error().message());
  return registry;
}

// Stores what `change` changes: its upserts and its removals, and the
// sensor numbers it gives, in one write.
Status PersistRegistryChange(storage::Store* store, const alarm::RegistryChange& change,
                             const NewSensorNumbers& numbers) {
  using Kind = storage::RegistryEntryKind;
  v1::Registry upsert;
  RegistryToProto(change.upsert, &upsert);
  std::vector<std::string> blobs;
  // The writes below hold views into `blobs`: it must never reallocate.
  blobs.reserve(change.upsert.enterprises.size() + change.upsert.gateways.size() +
                change.upsert.sensors.size() + numbers.size());
  std::vector<storage::RegistryEntryWrite> writes;
  for (const v1::Enterprise& e : upsert.enterprises()) {
    writes.push_back({Kind::kEnterprise, e.id(), blobs.emplace_back(e.SerializeAsString())});
  }
  for (const v1::Gateway& g : upsert.gateways()) {
    writes.push_back({Kind::kGateway, g.id(), blobs.emplace_back(g.SerializeAsString())});
  }
  for (const v1::Sensor& sensor : upsert.sensors()) {
    writes.push_back({Kind::kSensor, sensor.id(), blobs.emplace_back(sensor.SerializeAsString())});
  }
  for (const std::string& id : change.remove_enterprise_ids) {
    writes.push_back({Kind::kEnterprise, id, std::nullopt});
  }
  for (const std::string& id : change.remove_gateway_ids) {
    writes.push_back({Kind::kGateway, id, std::nullopt});
  }
  for (const std::string& id : change.remove_sensor_ids) {
    writes.push_back({Kind::kSensor, id, std::nullopt});
  }
  SensorNumberWrites(numbers, &blobs, &writes);  // never removed: replay may need them
  return store->WriteRegistryEntries(writes);
}

}  // namespace

class Server::Impl {
 public:
  explicit Impl(const ServerOptions& options) : options_(options), signals_(io_) {}

  ~Impl() {
    // Run() normally stopped everything; this covers a failed Start().
    StopAll();
  }

  Status Start() {
    storage::StoreOptions store_options;
    store_options.dir = options_.data_dir;
    store_options.sync = options_.durability == Durability::kFsync;
    store_options.retention = {
        .raw = options_.limits.raw_retention, .stats = options_.stats_retention, .clock = {}};
    auto store = storage::Store::Open(store_options);
    if (!store) return store.error();
    store_ = std::move(*store);
    if (const storage::StoreStats stats = store_->GetStats(); stats.wal_corruptions_at_open > 0) {
      // A torn or corrupt write-ahead-log tail (a crash mid-write) was
      // skipped; with durability fsync nothing acked was in it.
      LogWarn("wal_tail_dropped", {{"bytes", stats.wal_bytes_dropped_at_open},
                                   {"places", stats.wal_corruptions_at_open}});
    }
    log_ = store_.get();
    if (options_.ingest_log.backend == IngestLogOptions::Backend::kJetStream) {
      auto log = OpenJetStreamLog();
      if (!log) return log.error();
      jetstream_log_ = std::move(*log);
      log_ = jetstream_log_.get();
    }

    // The stored registry, then the registry file's entries on top of it.
    auto registry = LoadStoredRegistry(store_.get(), &sensor_numbers_);
    if (!registry) return registry.error();
    registry_ = std::make_unique<RegistryHolder>(std::move(*registry));
    NoteRegistrySize(*registry_->Get());
    if (!options_.registry_file.empty()) {
      auto file = LoadRegistryFile(options_.registry_file);
      if (!file) return file.error();
      alarm::RegistryChange change;
      change.upsert = std::move(*file);
      auto applied = ApplyRegistryChange(change);
      if (!applied) {
        return Status::InvalidArgument(options_.registry_file.string() + ": " +
                                       applied.error().message());
      }
    }

    // The alarm journal and feed, as stored.
    auto journal_state = store_->LoadJournalState();
    if (!journal_state) return journal_state.error();
    const uint32_t shard_count = ShardCount(options_);
    feed_ = std::make_unique<AlarmFeed>(options_.feed_memory_events);
    // Two fan-out threads: a flood's gRPC writes (~7 µs each) on two cores
    // (lockstep floods, 1000 subscribers: journaled -> delivered p50 9-25 ->
    // 3-5 ms at 300 k readings/s on 2 vCPUs, bench/README.md).
    feed_->StartWaker(2);
    auto journal = AlarmJournal::Start(store_.get(), registry_.get(), feed_.get(), shard_count,
                                       *journal_state);
    if (!journal) return journal.error();
    journal_ = std::move(*journal);

    const auto now_us = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::system_clock::now().time_since_epoch());
    storage::HeadSetOptions heads;
    heads.max_readings_per_chunk = options_.chunk_max_readings;
    // Chunk ids increase across restarts: they order overlapping chunks.
    heads.first_chunk_id = static_cast<uint64_t>(now_us.count());
    shards_ = std::make_unique<ShardSet>(
        shard_count, store_.get(), journal_.get(), heads, &sensor_numbers_,
        alarm::EngineOptions{.shard = 0,
                             .shard_count = 1,
                             .planned_red_breaks_through = options_.planned_red_breaks_through,
                             .max_calibration = options_.max_planned_work});
    // Nodes applying one stream number their journals alike (same shard count).
    if (jetstream_log_) journal_->NumberInLogOrder(shards_.get());

    // Rules go to the shards before any replayed entry, then the engine
    // snapshots, so replay continues the alarm state where it stopped.
    // The rules in force: as stored, with the rules file on top.
    auto stored_rules = store_->LoadRules();
    if (!stored_rules) return stored_rules.error();
    if (*stored_rules) {
      auto doc = ParseRulesDocument(**stored_rules, "stored rules");
      if (!doc) return Status::Corruption(doc.error().message());
      rules_ = std::move(*doc);
    }
    auto with_file = RulesWithFile(rules_);
    if (!with_file) return with_file.error();
    Status rules_ok = ChangeRules(std::move(*with_file), *stored_rules);
    if (!rules_ok.ok()) return rules_ok;
    auto recovery = std::make_shared<AlarmRecovery>();
    recovery->shard_count = journal_state->shard_count;
    recovery->marks = journal_state->marks;
    for (const std::string& bytes : journal_state->snapshots) {
      if (bytes.empty()) continue;
      auto snapshot = storage::DecodeShardSnapshot(bytes);
      if (!snapshot) return Status::Corruption("engine snapshot: " + snapshot.error().message());
      recovery->snapshots.push_back(std::move(*snapshot));
    }
    shards_->Recover(recovery);

    uint64_t replayed = 0;
    uint64_t replayed_readings = 0;
    const auto replay_start = std::chrono::steady_clock::now();
    Status s = jetstream_log_ ? CatchUpSharedLog(&replayed, &replayed_readings)
                              : ReplayLog(&replayed, &replayed_readings);
    // A retention gap: the node starts but does not serve (NOT_SERVING, the
    // metric, the log line saying how to restore it), as when its follower
    // falls behind while running; it never applies past the gap.
    const bool retention_gap = jetstream_log_ && s.code() == Status::Code::kOutOfRange;
    if (!s.ok() && !retention_gap) return s;
    shards_->Reconcile();
    const uint64_t replayed_from = log_->replay_from();
    if (replayed > 0) CheckpointAfterReplay();
    LogInfo("ingest_log_replayed", {{"from_log_seq", replayed_from},
                                    {"records", replayed},
                                    {"readings", replayed_readings},
                                    {"ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                               std::chrono::steady_clock::now() - replay_start)
                                               .count()}});

    WriterOptions writer_options{.min_free_bytes = options_.min_free_bytes, .free_bytes = {}};
    writer_options.free_bytes = [dir = options_.data_dir] {
      std::error_code ec;
      const std::filesystem::space_info space = std::filesystem::space(dir, ec);
      return ec ? UINT64_MAX : static_cast<uint64_t>(space.available);
    };
    if (applier_) writer_options.handoff = &handoff_;
    if (jetstream_log_) writer_options.max_groups_in_flight = options_.ingest_log.groups_in_flight;
    auto writer = StorageWriter::Start(log_, shards_.get(), std::move(writer_options));
    if (!writer) return writer.error();
    writer_ = std::move(*writer);
    last_posted_ = writer_->posted_through();
    if (applier_) {
      applier_following_.store(true, std::memory_order_release);
      applier_->Start(writer_.get());
    }

    StartSecurity();
    ingest_ = std::make_unique<IngestService>(options_, registry_.get(), writer_.get(),
                                              access_.get(), limiter_.get(), shards_->count());
    query_ = std::make_unique<QueryService>(
        registry_.get(), shards_.get(), store_.get(),
        [this](std::function<void()> task) { boost::asio::post(blocking_, std::move(task)); },
        access_.get());
    admin_ = std::make_unique<AdminService>(
        registry_.get(),
        [this](const alarm::RegistryChange& change, bool validate_only) {
          return ApplyRegistryChange(change, validate_only);
        },
        [this](std::function<void()> task) { boost::asio::post(io_, std::move(task)); },
        access_.get());
    backup_ = std::make_unique<BackupService>(
        store_.get(),
        [this](std::function<void()> task) { boost::asio::post(io_, std::move(task)); },
        access_.get(), jetstream_log_ ? options_.data_dir / "jetstream" : std::filesystem::path());
    // Journal integrity: chain verification and signed exports (docs/journal-integrity.md).
    std::shared_ptr<const SigningKey> signing_key;
    if (!options_.journal.signing_key_file.empty()) {
      auto key = SigningKey::Load(options_.journal.signing_key_file);
      if (!key)
        return Status::InvalidArgument("journal.signing_key_file: " + key.error().message());
      signing_key = std::move(*key);
    }
    journal_service_ = std::make_unique<JournalService>(
        store_.get(),
        [this](std::function<void()> task) { boost::asio::post(blocking_, std::move(task)); },
        access_.get(), std::move(signing_key), options_.journal.export_max_bytes);
    backtest_ = std::make_unique<BacktestService>(access_.get(), registry_.get(), store_.get(),
                                                  store_.get(), shards_.get());
    rules_service_ = std::make_unique<RulesService>(
        access_.get(),
        [this] { return std::make_pair(FormatRulesYaml(rules_), rules_.rules.size()); },
        [this](const std::string& yaml, const std::vector<std::string>& remove,
               bool validate_only) { return ApplyRulesRequest(yaml, remove, validate_only); },
        [this](std::function<void()> task) { boost::asio::post(io_, std::move(task)); });
    alarms_ = std::make_unique<AlarmService>(
        options_, access_.get(), registry_.get(), feed_.get(), store_.get(), writer_.get(),
        [this](std::function<void()> task) { boost::asio::post(blocking_, std::move(task)); },
        limiter_.get());
    planned_work_ = std::make_unique<PlannedWorkService>(
        AlarmDesk(
            options_.max_shelve, access_.get(), registry_.get(), feed_.get(), store_.get(),
            writer_.get(),
            [this](std::function<void()> task) { boost::asio::post(blocking_, std::move(task)); }),
        shards_.get(), options_.max_planned_work);

    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    ConfigureReflection(&builder, options_.reflection);
    int port = 0;
    builder.AddListeningPort(options_.listen, ListenerCredentials(options_.tls), &port);
    builder.SetMaxReceiveMessageSize(static_cast<int>(options_.max_message_bytes));
    builder.RegisterService(ingest_.get());
    builder.RegisterService(query_.get());
    builder.RegisterService(admin_.get());
    builder.RegisterService(backup_.get());
    builder.RegisterService(journal_service_.get());
    builder.RegisterService(alarms_.get());
    builder.RegisterService(rules_service_.get());
    builder.RegisterService(planned_work_.get());
    builder.RegisterService(backtest_.get());
    grpc_ = builder.BuildAndStart();
    if (!grpc_ || port == 0) {
      return Status::Unavailable("cannot listen on " + options_.listen +
                                 " (address in use, or not host:port)");
    }
    // A node started past a retention gap never serves (the control loop
    // keeps it so and logs why).
    SetServing(!applier_ || !applier_->counters().gap.load(std::memory_order_relaxed));
    const std::string host = options_.listen.substr(0, options_.listen.rfind(':'));
    address_ = host + ":" + std::to_string(port);

    if (Status http = StartHttp(); !http.ok()) return http;
    if (Status mqtt = StartMqtt(); !mqtt.ok()) return mqtt;

    Status ops = StartOperations();
    if (!ops.ok()) return ops;
    // After the operations: its KPI view reads kpi_.
    if (Status console = StartConsole(); !console.ok()) return console;

    if (!options_.metrics_listen.empty()) {
      auto metrics = MetricsExporter::Start(options_.metrics_listen,
                                            {.ingest = &ingest_->counters(),
                                             .writer = writer_.get(),
                                             .shards = shards_.get(),
                                             .journal = journal_.get(),
                                             .feed = feed_.get(),
                                             .alarms = alarms_.get(),
                                             .store = store_.get(),
                                             .data_dir = options_.data_dir,
                                             .version = VersionString(),
                                             .kpi = &kpi_->kpi(),
                                             .alertmanager = alertmanager_.get(),
                                             .access = access_.get(),
                                             .limiter = limiter_.get(),
                                             .control = &control_stats_,
                                             .shared_log = jetstream_log_.get(),
                                             .applier = applier_ ? &applier_->counters() : nullptr,
                                             .mqtt = mqtt_ ? &mqtt_stats_ : nullptr,
                                             .http = http_.get(),
                                             .console_http = console_http_.get(),
                                             .console = console_.get()});
      if (!metrics) return metrics.error();
      metrics_ = std::move(*metrics);
    }
    return Status::Ok();
  }

  const std::string& address() const { return address_; }
  std::string http_address() const { return http_ ? http_->address() : ""; }
  std::string console_address() const { return console_http_ ? console_http_->address() : ""; }
  std::string metrics_address() const { return metrics_ ? metrics_->address() : ""; }

  // Called by Server::Start before anyone learns the address: a SIGTERM
  // right after start-up is queued for Run(), not fatal.
  void CatchSignals() {
    signals_.add(SIGTERM);
    signals_.add(SIGINT);
    signals_.add(SIGHUP);
  }

  void Run() {
    WaitForSignal();
    checkpoint_timer_ = std::make_unique<boost::asio::steady_timer>(io_);
    ScheduleCheckpoint();
    health_timer_ = std::make_unique<boost::asio::steady_timer>(io_);
    ScheduleHealthCheck();
    alarm_timer_ = std::make_unique<boost::asio::steady_timer>(io_);
    ScheduleAlarmTick();
    heartbeat_timer_ = std::make_unique<boost::asio::steady_timer>(io_);
    ScheduleHeartbeat();
    retention_timer_ = std::make_unique<boost::asio::steady_timer>(io_);
    ScheduleRetention(std::chrono::seconds(0));
    if (auto interval = WatchdogPingInterval()) {
      watchdog_timer_ = std::make_unique<boost::asio::steady_timer>(io_);
      ScheduleWatchdog(*interval);
    }
    NotifyReady("serving on " + address_);
    io_.run();
    if (stopper_.joinable()) stopper_.join();
  }

  void RequestStop() {
    boost::asio::post(io_, [this] { BeginStop("requested"); });
  }

  int exit_code() const { return exit_code_; }

 private:
  // The HTTP listener (http.listen): gateway ingest as JSON and line
  // protocol, through the same path, counters and draining flag as gRPC's.
  Status StartHttp() {
    if (options_.http.listen.empty()) return Status::Ok();
    std::string why;
    auto sensor_template = SensorTemplate::Parse(options_.http.sensor_id_template, &why);
    if (!sensor_template) {
      return Status::InvalidArgument("http.line_protocol.sensor_id: " + why);
    }
    http_ = std::make_unique<HttpServer>(
        HttpServerOptions{.listen = options_.http.listen,
                          .max_body_bytes = options_.http.max_body_bytes,
                          .max_connections = options_.http.max_connections,
                          .read_timeout = options_.http.read_timeout,
                          .threads = options_.http.threads,
                          .tls = options_.tls});
    http_ingest_ = std::make_unique<HttpIngest>(
        ingest_->context(),
        HttpIngestOptions{.max_decompressed_bytes = options_.http.max_decompressed_bytes,
                          .sensor_template = std::move(*sensor_template),
                          .max_fields_per_line = options_.http.max_fields_per_line});
    http_ingest_->Register(http_.get());
    return http_->Start();
  }

  // MQTT ingest (mqtt.broker): a client of the broker, storing through the
  // same path as gRPC. Health service kMqttService is SERVING while it is
  // connected and subscribed.
  Status StartMqtt() {
    if (options_.mqtt.broker.empty()) return Status::Ok();
    SetMqttHealth(false);
    mqtt_ = std::make_unique<MqttIngest>(ingest_->context(), options_.mqtt, &mqtt_stats_,
                                         [this](bool connected) { SetMqttHealth(connected); });
    return mqtt_->Start();
  }

  void SetMqttHealth(bool connected) {
    if (!grpc_) return;
    if (auto* health = grpc_->GetHealthCheckService()) {
      health->SetServingStatus(kMqttService, connected);
    }
  }

  // The web console (console.enabled): a listener of its own, since it faces
  // people rather than gateways; the alarm rules are the gRPC service's
  // (AlarmDesk).
  Status StartConsole() {
    if (!options_.console.enabled) return Status::Ok();
    console_desk_ = std::make_unique<AlarmDesk>(
        options_.max_shelve, access_.get(), registry_.get(), feed_.get(), store_.get(),
        writer_.get(),
        [this](std::function<void()> task) { boost::asio::post(blocking_, std::move(task)); });
    console_readings_ = std::make_unique<ReadingDesk>(
        registry_.get(), shards_.get(), store_.get(),
        [this](std::function<void()> task) { boost::asio::post(blocking_, std::move(task)); },
        access_.get());
    console_http_ = std::make_unique<HttpServer>(
        HttpServerOptions{.listen = options_.console.listen,
                          .max_body_bytes = 64 * 1024,
                          .max_connections = options_.console.max_connections,
                          .read_timeout = std::chrono::seconds(30),
                          .threads = 1,
                          .tls = ConsoleTls(options_.tls)});
    console_ = std::make_unique<Console>(
        ConsolePageOptions{.assets_dir = ConsoleAssetsDir(options_.console),
                           .dygraphs_dir = options_.console.dygraphs_dir,
                           .heartbeat_interval = options_.heartbeat_interval,
                           .limiter = limiter_.get(),
                           .kpis =
                               [this](const std::string& region_prefix) {
                                 std::vector<ConsoleKpi> out;
                                 const auto now =
                                     std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::system_clock::now().time_since_epoch());
                                 // A national caller sees provinces; any other its own region.
                                 const size_t digits = std::max<size_t>(2, region_prefix.size());
                                 for (const AlarmKpi::Province& p :
                                      kpi_->kpi().Snapshot(now.count(), digits, region_prefix)) {
                                   out.push_back({.region = p.province,
                                                  .raised = p.raised,
                                                  .chattering = p.chattering,
                                                  .stale = p.stale,
                                                  .shelved = p.shelved});
                                 }
                                 return out;
                               },
                           .rules = [this] { return RulesInForce(); }},
        console_desk_.get(), console_readings_.get());
    if (Status s = console_->Register(console_http_.get()); !s.ok()) return s;
    return console_http_->Start();
  }

  // The console's HTTPS: server.tls's certificate, but no client
  // certificates: people sign in with tokens, and a browser asked for a
  // certificate would prompt the officer to pick one.
  static TlsOptions ConsoleTls(TlsOptions tls) {
    tls.client_ca_file.clear();
    tls.require_client_cert = false;
    return tls;
  }

  // ---- Operations: liveness, alarm KPIs, Alertmanager forwarding ----
  Status StartOperations() {
    liveness_ = std::make_unique<LivenessWatch>(kLivenessStall, [this](bool alive) {
      if (auto* health = grpc_->GetHealthCheckService()) {
        health->SetServingStatus(kLivenessService, alive);
      }
    });
    kpi_ = std::make_unique<AlarmKpiThread>(feed_.get());
    if (!options_.alertmanager.url.empty()) {
      auto forwarder = AlertmanagerForwarder::Start(options_.alertmanager, feed_.get());
      if (!forwarder) return forwarder.error();
      alertmanager_ = std::move(*forwarder);
    }
    return Status::Ok();
  }

  // The control loop counts as wedged after this long without a turn.
  static constexpr std::chrono::seconds kLivenessStall{60};
  // The gRPC health service that says whether MQTT ingest is connected.
  static constexpr char kMqttService[] = "vigil.v1.MqttIngest";

  void SetServing(bool serving) {
    serving_ = serving;
    if (!grpc_) return;
    auto* health = grpc_->GetHealthCheckService();
    if (health == nullptr) return;
    health->SetServingStatus("", serving);  // not kLivenessService
    // Every service registered in Start(); tests/e2e/deploy_e2e_test.cc asks
    // for each service of the vigil.v1 protos.
    for (const char* name : {"vigil.v1.Ingest", "vigil.v1.Query", "vigil.v1.RegistryAdmin",
                             "vigil.v1.Admin", "vigil.v1.Alarms", "vigil.v1.RulesAdmin"}) {
      health->SetServingStatus(name, serving);
    }
  }

  void WaitForSignal() {
    signals_.async_wait([this](const boost::system::error_code& ec, int signo) {
      if (ec) return;
      if (signo == SIGHUP) {
        ReloadFiles();
        WaitForSignal();
        return;
      }
      BeginStop(signo == SIGTERM ? "SIGTERM" : "SIGINT");
    });
  }

  // Access control, per-identity limits, and the warnings of an open or
  // plaintext listener (server/api/access.h, server/api/limits.h, server/api/tls.h).
  void StartSecurity() {
    access_ = std::make_unique<AccessControl>(
        options_.tokens, options_.tls.enabled && !options_.tls.client_ca_file.empty());
    if (access_->enabled()) {
      limiter_ = std::make_unique<IdentityLimiter>(options_.identity_limits);
    } else {
      LogWarn("auth_disabled",
              {{"reason",
                "no auth.tokens and no client certificates configured: every caller may "
                "write, read and act on everything; configure them before exposing the port"}});
    }
    if (options_.tls.enabled) {
      NoteTlsCertificate();
      auto summary = CheckTlsFilesSummary(options_.tls);
      LogInfo("tls_enabled", {{"certificate", summary ? *summary : summary.error().message()},
                              {"client_certificates",
                               options_.tls.client_ca_file.empty() ? std::string("off")
                               : options_.tls.require_client_cert  ? std::string("required")
                                                                   : std::string("optional")}});
    } else {
      LogWarn("plaintext_listener",
              {{"listen", options_.listen},
               {"reason",
                IsLoopbackListen(options_.listen)
                    ? "server.tls is off: gRPC (and bearer tokens) travel unencrypted; fine on "
                      "loopback for development only"
                    : "server.tls is off and server.allow_plaintext is true: gRPC (and bearer "
                      "tokens) travel unencrypted on the network"}});
    }
  }

  // SIGHUP: the rules file (kept only if it builds against the registry),
  // then the registry file, then a check of the TLS files, which gRPC's
  // watcher re-reads by itself within server.tls.refresh_interval.
  void ReloadFiles() {
    if (options_.tls.enabled) {
      NoteTlsCertificate();
      auto summary = CheckTlsFilesSummary(options_.tls);
      if (summary) {
        LogInfo(
            "tls_files_checked",
            {{"certificate", *summary},
             {"picked_up_within_s", static_cast<int64_t>(options_.tls.refresh_interval.count())}});
      } else {
        LogError("tls_files_invalid", {{"error", summary.error().message()},
                                       {"effect", "new connections keep the last good files"}});
      }
    }
    if (!options_.rules_file.empty()) {
      auto next = RulesWithFile(rules_);
      Status s = next ? ChangeRules(std::move(*next), FormatRulesYaml(rules_)) : next.error();
      if (s.ok()) {
        control_stats_.rules_reloads_ok.fetch_add(1, std::memory_order_relaxed);
      } else {
        control_stats_.rules_reloads_failed.fetch_add(1, std::memory_order_relaxed);
        LogError("rules_reload_failed", {{"error", s.ToString()}});
      }
    } else if (rules_.rules.empty()) {
      LogWarn("no_alarm_rules", {{"rules", 0},
                                 {"rules_file", ""},
                                 {"effect",
                                  "no reading raises an alarm: set rules_file (deploy/rules/ has "
                                  "templates) or apply rules with RulesAdmin"}});
    }
    ReloadRegistryFile();
  }

  // `base` with the rules file (if any) applied on top of it.
  Result<RulesDocument> RulesWithFile(RulesDocument base) const {
    if (options_.rules_file.empty()) return base;
    auto text = ReadTextFile(options_.rules_file);
    if (!text) return text.error();
    auto file = ParseRulesDocument(*text, options_.rules_file.string());
    if (!file) return file.error();
    return MergeRules(std::move(base), *file, SetsGatewayOffline(*text));
  }

  // Puts `next` in force: validated against the registry, stored (unless it
  // is what `stored` already holds), then published. Control thread (or
  // start-up) only; on error nothing changes.
  Status ChangeRules(RulesDocument next, const std::optional<std::string>& stored) {
    if (auto checked = alarm::RuleSet::Build(next.rules, registry_->Get(), next.gateway_offline);
        !checked) {
      return Status::InvalidArgument(
          (options_.rules_file.empty() ? std::string("rules") : options_.rules_file.string()) +
          ": " + checked.error().message());
    }
    const std::string text = FormatRulesYaml(next);
    if (!stored || *stored != text) {
      Status s = store_->WriteRules(text);
      if (!s.ok()) return Status::Unavailable("rules not stored: " + s.message());
    }
    RulesDocument previous = std::move(rules_);
    rules_ = std::move(next);
    Status s = PublishRules(registry_->Get());
    if (!s.ok()) {
      rules_ = std::move(previous);
      // Best effort: the stored rules should match those in force.
      (void)store_->WriteRules(FormatRulesYaml(rules_)).ok();
    }
    return s;
  }

  // RulesAdmin.ApplyRules on the control thread; `validate_only` stops
  // before anything is stored or changed.
  Result<size_t> ApplyRulesRequest(const std::string& upsert_yaml,
                                   const std::vector<std::string>& remove, bool validate_only) {
    auto upsert = ParseRulesDocument(upsert_yaml, "request");
    if (!upsert) return upsert.error();
    RulesDocument next = MergeRules(rules_, *upsert, SetsGatewayOffline(upsert_yaml));
    for (const std::string& id : remove) {
      auto it = std::find_if(next.rules.begin(), next.rules.end(),
                             [&](const alarm::Rule& r) { return r.id == id; });
      if (it == next.rules.end()) {
        return Status::InvalidArgument("remove_rule_ids: no rule '" + alarm::Echo(id) + "'");
      }
      next.rules.erase(it);
    }
    if (validate_only) {
      auto checked = alarm::RuleSet::Build(next.rules, registry_->Get(), next.gateway_offline);
      if (!checked) return Status::InvalidArgument("rules: " + checked.error().message());
      return next.rules.size();
    }
    Status s = ChangeRules(std::move(next), FormatRulesYaml(rules_));
    if (!s.ok()) return s;
    LogInfo("rules_changed", {{"rules", rules_.rules.size()}, {"by", "RulesAdmin"}});
    return rules_.rules.size();
  }

  void ReloadRegistryFile() {
    if (options_.registry_file.empty()) {
      LogWarn("registry_reload_skipped", {{"reason", "no registry_file configured"}});
      return;
    }
    auto file = LoadRegistryFile(options_.registry_file);
    if (!file) {
      LogError("registry_reload_failed", {{"error", file.error().ToString()}});
      return;
    }
    alarm::RegistryChange change;
    change.upsert = std::move(*file);
    auto applied = ApplyRegistryChange(change);
    if (!applied) {
      LogError("registry_reload_failed", {{"error", applied.error().ToString()}});
    }
  }

  // Builds the rule set for `registry` and sends it to the shards: directly
  // at start-up, afterwards as a log entry so that it takes effect at one
  // place in the order of readings. Fails, sending nothing, when a rule names
  // a sensor or enterprise `registry` lacks, or the log cannot take it.
  // Control thread (or start-up) only.
  Status PublishRules(std::shared_ptr<const alarm::Registry> registry) {
    auto rule_set =
        alarm::RuleSet::Build(rules_.rules, std::move(registry), rules_.gateway_offline);
    if (!rule_set) {
      return Status::InvalidArgument(
          (options_.rules_file.empty() ? std::string("rules") : options_.rules_file.string()) +
          ": " + rule_set.error().message());
    }
    if (!writer_) {
      shards_->SetRules(*rule_set, NowMs());
    } else {
      storage::ControlRecord record;
      record.kind = storage::ControlKind::kRulesChanged;
      // A shared log carries the document: every node applies it (AdoptStreamRules).
      record.text =
          jetstream_log_ ? FormatRulesYaml(rules_) : std::to_string(rules_.rules.size()) + " rules";
      if (!SubmitControlPatiently(record, *rule_set)) {
        return Status::Unavailable("rules not applied: the ingest log is saturated");
      }
    }
    NoteRulesInForce(*rule_set);
    control_stats_.rules_loaded.store(rules_.rules.size(), std::memory_order_relaxed);
    if (rules_.rules.empty()) {
      // Loud: a server without rules ingests and stores but raises no
      // threshold, no-data or fault alarm, which looks like a quiet province.
      LogWarn("no_alarm_rules", {{"rules", 0},
                                 {"rules_file", options_.rules_file.string()},
                                 {"effect",
                                  "no reading raises an alarm: set rules_file (deploy/rules/ has "
                                  "templates) or apply rules with RulesAdmin"}});
    } else {
      LogInfo("rules_loaded", {{"rules", rules_.rules.size()},
                               {"gateway_offline_after_ms", rules_.gateway_offline.after.count()}});
    }
    return Status::Ok();
  }

  static alarm::TimestampMs NowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  // Control thread only, so changes never interleave. `validate_only`
  // (RegistryAdmin's check): the same checks, then nothing stored or published.
  // `from_stream`: another node's change, applied here as the stream says
  // (not published again).
  Result<std::shared_ptr<const alarm::Registry>> ApplyRegistryChange(
      const alarm::RegistryChange& change, bool validate_only = false, bool from_stream = false) {
    // Sensors new to the registry get their ingest-log numbers, stored with
    // the change and known to the shards before any batch can name them.
    alarm::RegistryChange numbered = change;
    NewSensorNumbers new_numbers;
    if (Status s = NumberSensors(sensor_numbers_, numbered.upsert.sensors, &new_numbers); !s.ok()) {
      return s;
    }
    auto next = registry_->Get()->Apply(numbered);
    if (!next) return next.error();
    // The rules must still make sense for the changed registry.
    if (auto checked = alarm::RuleSet::Build(rules_.rules, *next, rules_.gateway_offline);
        !checked) {
      return Status::InvalidArgument("the change breaks the alarm rules: " +
                                     checked.error().message());
    }
    if (validate_only) return next;
    Status s = PersistRegistryChange(store_.get(), numbered, new_numbers);
    if (!s.ok()) return Status::Unavailable("registry not stored: " + s.message());
    if (Status c = CommitSensorNumbers(new_numbers, &sensor_numbers_); !c.ok()) return c;
    registry_->Publish(*next);
    NoteRegistrySize(**next);
    // A shared log: the other nodes apply the change from the stream, before
    // the rules entry below (the writer's queue keeps the order).
    if (jetstream_log_ && writer_ && !from_stream) PublishRegistryChange(change);
    if (shards_) {
      Status s2 = PublishRules(*next);
      if (!s2.ok()) LogError("rules_not_applied", {{"error", s2.ToString()}});
    }
    const alarm::RegistryEntries& e = (*next)->entries();
    LogInfo("registry_changed", {{"enterprises", e.enterprises.size()},
                                 {"sensors", e.sensors.size()},
                                 {"gateways", e.gateways.size()}});
    return next;
  }

  // For /metrics (vigil_tls_certificate_not_after_seconds): gRPC's watcher
  // picks up a replaced certificate by itself, so this runs at start, on
  // SIGHUP and every checkpoint interval. 0 when the file does not read.
  void NoteTlsCertificate() {
    if (!options_.tls.enabled) return;
    auto not_after = CertificateNotAfter(options_.tls.cert_file);
    control_stats_.tls_not_after_s.store(not_after ? *not_after : 0, std::memory_order_relaxed);
  }

  // For /metrics (vigil_registry_entries).
  void NoteRegistrySize(const alarm::Registry& registry) {
    const alarm::RegistryEntries& e = registry.entries();
    control_stats_.enterprises.store(e.enterprises.size(), std::memory_order_relaxed);
    control_stats_.sensors.store(e.sensors.size(), std::memory_order_relaxed);
    control_stats_.gateways.store(e.gateways.size(), std::memory_order_relaxed);
  }

  // Seals every head and snapshots every engine, then moves the replay point
  // past what was replayed, before serving: otherwise a restart needs two
  // checkpoint intervals before its replay is behind it, and each kill -9
  // before then replays (and seals) everything since the last checkpoint
  // again, so restarts grow longer with every crash. When a chunk write
  // fails (a full disk) or the shards take longer than kReplayCheckpointWait,
  // vigild serves without it (storage failures are then handled as always)
  // and the regular rounds take over.
  // The JetStream ingest log of ingest_log (cluster/README.md); its
  // checkpoint file lives in <data_dir>/jetstream.
  alarm::Result<std::unique_ptr<cluster::JetStreamIngestLog>> OpenJetStreamLog() {
    const IngestLogOptions& o = options_.ingest_log;
    cluster::JetStreamLogOptions log_options;
    log_options.nats.urls = o.nats_urls;
    log_options.nats.credentials_file = o.nats_credentials_file.string();
    log_options.nats.tls_ca_file = o.nats_tls_ca_file.string();
    log_options.nats.tls_cert_file = o.nats_tls_cert_file.string();
    log_options.nats.tls_key_file = o.nats_tls_key_file.string();
    log_options.stream = o.stream;
    log_options.partition = o.partition;
    log_options.replicas = static_cast<int>(o.replicas);
    log_options.append_timeout = o.append_timeout;
    log_options.max_bytes = o.max_bytes;
    log_options.max_age = o.max_age;
    log_options.state_dir = options_.data_dir / "jetstream";
    auto log = cluster::JetStreamIngestLog::Open(log_options);
    if (!log) return log.error();
    LogInfo("ingest_log_jetstream", {{"stream", o.stream},
                                     {"subject", (*log)->subject()},
                                     {"replicas", o.replicas},
                                     {"replay_from", (*log)->replay_from()}});
    return log;
  }

  // The local log (RocksDB): its entries past the last checkpoint, to the shards.
  Status ReplayLog(uint64_t* replayed, uint64_t* replayed_readings) {
    return log_->Replay(log_->replay_from(), [&](uint64_t seq, const storage::LogEntry& entry) {
      ++*replayed;
      if (entry.kind == storage::LogEntryKind::kControl) {
        auto control = storage::DecodeControlRecord(entry.payload);
        if (!control) {
          return Status::Corruption("ingest log entry " + std::to_string(seq) + ": " +
                                    control.error().message());
        }
        shards_->PostControl(seq, entry.stored_at, *control);
        return Status::Ok();
      }
      if (auto header = storage::ParseIngestRecordHeader(entry.payload)) {
        *replayed_readings += header->reading_count;
      }
      shards_->PostBatch(seq, entry.stored_at, std::string(entry.payload));
      return Status::Ok();
    });
  }

  // A shared log (JetStream): every entry any node stored, from this node's
  // checkpoint to what is stored now; the applier follows the rest once serving.
  Status CatchUpSharedLog(uint64_t* replayed, uint64_t* replayed_readings) {
    ApplierOptions applier_options;
    // A local action's entry waits at most for its append's acknowledgement.
    applier_options.action_wait = options_.ingest_log.append_timeout + std::chrono::seconds(1);
    // Rules changes travel the stream as the whole document: every node puts
    // them in force at the same entry, and adopts them as its own.
    applier_options.rules_of = [this](std::string_view text) { return AdoptStreamRules(text); };
    applier_options.shard_count = shards_->count();
    applier_options.registry_change = [this](std::string_view text) {
      return ApplyStreamRegistryChange(text);
    };
    applier_ = std::make_unique<StreamApplier>(jetstream_log_.get(), shards_.get(), &handoff_,
                                               applier_options);
    Status s = applier_->CatchUp(replayed, replayed_readings);
    if (s.code() == Status::Code::kOutOfRange) {
      LogError("ingest_log_gap", {{"error", s.ToString()}});
    }
    return s;
  }

  // The writer's queue is full only under extreme load, and rules and
  // registry changes are rare: retried for up to 5 s. False when it stayed full.
  bool SubmitControlPatiently(const storage::ControlRecord& record,
                              std::shared_ptr<const alarm::RuleSet> rules = nullptr) {
    for (int attempt = 0; attempt < 500; ++attempt) {
      if (writer_->SubmitControl(record, nullptr, rules)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  // Sends `change` through the stream for the other nodes (kRegistryChanged).
  void PublishRegistryChange(const alarm::RegistryChange& change) {
    v1::ApplyRegistryRequest encoded;
    RegistryChangeToProto(change, &encoded);
    storage::ControlRecord record;
    record.kind = storage::ControlKind::kRegistryChanged;
    record.text = encoded.SerializeAsString();
    if (!SubmitControlPatiently(record)) {
      LogError("registry_change_not_replicated",
               {{"reason", "the ingest log is saturated: apply the change at every node"}});
    }
  }

  // Another node's registry change from the stream: applied on the control
  // thread (which owns the registry), waited for by the follower, so the
  // rules entry after it is built against it. During the start-up catch-up
  // the follower runs on the control thread itself.
  Status ApplyStreamRegistryChange(std::string_view text) {
    v1::ApplyRegistryRequest encoded;
    if (!encoded.ParseFromArray(text.data(), static_cast<int>(text.size()))) {
      return Status::Corruption("registry change from the ingest stream does not parse");
    }
    auto change = RegistryChangeFromProto(encoded);
    if (!change) return change.error();
    auto apply = [this, change = std::move(*change)] {
      auto applied = ApplyRegistryChange(change, false, /*from_stream=*/true);
      if (applied) LogInfo("registry_changed_by", {{"by", "ingest stream"}});
      return applied ? Status::Ok() : applied.error();
    };
    if (!applier_following_.load(std::memory_order_acquire)) return apply();
    auto done = std::make_shared<std::promise<Status>>();
    std::future<Status> result = done->get_future();
    boost::asio::post(io_, [apply, done] { done->set_value(apply()); });
    if (result.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
      return Status::Unavailable("the control thread did not apply the registry change in 10 s");
    }
    return result.get();
  }

  // A rules document from the stream (the follower thread): its rule set for
  // the shards, and, on the control thread, the node's rules in force and
  // stored, so a later registry change here republishes these.
  Result<std::shared_ptr<const alarm::RuleSet>> AdoptStreamRules(std::string_view text) {
    auto doc = ParseRulesDocument(text, "rules from the ingest stream");
    if (!doc) return doc.error();
    auto rule_set = alarm::RuleSet::Build(doc->rules, registry_->Get(), doc->gateway_offline);
    if (!rule_set) {
      return Status::InvalidArgument(
          "rules from the ingest stream do not fit this node's "
          "registry: " +
          rule_set.error().message());
    }
    boost::asio::post(io_, [this, adopted = std::move(*doc), stored = std::string(text)]() mutable {
      if (FormatRulesYaml(rules_) == stored) return;
      if (Status s = store_->WriteRules(stored); !s.ok()) {
        LogError("rules_not_stored", {{"error", s.ToString()}});
      }
      rules_ = std::move(adopted);
      control_stats_.rules_loaded.store(rules_.rules.size(), std::memory_order_relaxed);
      LogInfo("rules_changed", {{"rules", rules_.rules.size()}, {"by", "ingest stream"}});
    });
    NoteRulesInForce(*rule_set);
    return std::shared_ptr<const alarm::RuleSet>(std::move(*rule_set));
  }

  // The rule set last sent to the shards, for the console's trend (the
  // levels of a sensor's rule); read from vigil-http threads.
  void NoteRulesInForce(std::shared_ptr<const alarm::RuleSet> rules) {
    storage::MutexLock lock(&rules_in_force_mu_);
    rules_in_force_ = std::move(rules);
  }
  std::shared_ptr<const alarm::RuleSet> RulesInForce() const {
    storage::MutexLock lock(&rules_in_force_mu_);
    return rules_in_force_;
  }

  // Saves the applier's `state` with the shards' replay point `point`; a
  // point below the state's position (entries the shards still need that
  // the state has moved past) keeps the previous checkpoint.
  void SaveAppliedCheckpoint(uint64_t point, storage::AppliedState state) {
    if (point < state.marks_through) {
      LogWarn("checkpoint_skipped",
              {{"replay_from", point}, {"applied_through", state.marks_through}});
      return;
    }
    state.replay_from = point;
    Status s = jetstream_log_->CheckpointApplied(state);
    if (!s.ok()) LogError("checkpoint_failed", {{"error", s.ToString()}});
  }

  void CheckpointAfterReplay() {
    const auto start = std::chrono::steady_clock::now();
    ++round_;
    std::optional<storage::AppliedState> applied;
    if (applier_) applied = applier_->StateNow();
    const uint64_t applied_through =
        applied && applied->marks_through > 0 ? applied->marks_through - 1 : 0;
    shards_->StartCheckpoint(round_, std::numeric_limits<uint64_t>::max(), applied_through);
    const auto deadline = std::chrono::steady_clock::now() + kReplayCheckpointWait;
    std::optional<uint64_t> point;
    while (!(point = shards_->CheckpointResult(round_)) && !shards_->CheckpointFailed(round_) &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (!point) {
      LogWarn("checkpoint_lagging", {{"round", round_}});
      return;
    }
    if (applied) {
      SaveAppliedCheckpoint(*point, std::move(*applied));
    } else if (Status s = log_->Checkpoint(*point); !s.ok()) {
      LogError("checkpoint_failed", {{"error", s.ToString()}});
    }
    LogInfo("checkpoint_after_replay",
            {{"replay_from", *point},
             {"ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count()}});
  }

  void ScheduleCheckpoint() {
    checkpoint_timer_->expires_after(options_.checkpoint_interval);
    checkpoint_timer_->async_wait([this](const boost::system::error_code& ec) {
      if (ec || stopping_) return;
      RunCheckpointRound();
      NoteTlsCertificate();
      ScheduleCheckpoint();
    });
  }

  // Delays, no-data and gateway deadlines and shelving expiry fire on a tick
  // a second, logged like a batch so that a replay fires them alike.
  void ScheduleAlarmTick() {
    alarm_timer_->expires_after(std::chrono::seconds(1));
    alarm_timer_->async_wait([this](const boost::system::error_code& ec) {
      if (ec || stopping_) return;
      // A full queue skips one tick; the next one fires everything due.
      storage::ControlRecord tick;
      tick.kind = storage::ControlKind::kTick;
      // Every node's ticks tell the others its shard count (StreamApplier checks).
      if (jetstream_log_) tick.text = "shards=" + std::to_string(shards_->count());
      (void)writer_->SubmitControl(std::move(tick));
      ScheduleAlarmTick();
    });
  }

  void ScheduleHeartbeat() {
    heartbeat_timer_->expires_after(options_.heartbeat_interval);
    heartbeat_timer_->async_wait([this](const boost::system::error_code& ec) {
      if (ec || stopping_) return;
      alarms_->Heartbeat();
      ScheduleHeartbeat();
    });
  }

  // Drops expired time partitions at start and then hourly, on the blocking
  // pool (a drop is a MANIFEST write; reads never see expired data anyway).
  void ScheduleRetention(std::chrono::milliseconds delay) {
    retention_timer_->expires_after(delay);
    retention_timer_->async_wait([this](const boost::system::error_code& ec) {
      if (ec || stopping_) return;
      boost::asio::post(blocking_, [this] {
        auto dropped = store_->EnforceRetention();
        if (!dropped) {
          LogError("retention_failed", {{"error", dropped.error().ToString()}});
          return;
        }
        for (const std::string& family : *dropped) {
          LogInfo("retention_dropped", {{"family", family}});
        }
        LogInfo("retention_checked",
                {{"dropped", dropped->size()},
                 {"raw_horizon", store_->Horizon(storage::DataClass::kRaw)},
                 {"stats_horizon", store_->Horizon(storage::DataClass::kStats)}});
        if (options_.journal_retention.count() > 0) {
          auto first = store_->ExpireJournal(NowMs() - options_.journal_retention.count());
          if (!first) {
            LogError("journal_retention_failed", {{"error", first.error().ToString()}});
          } else {
            // Subscribers resuming from before it are told to resynchronize.
            feed_->SetFirstSeq(*first);
            LogInfo("journal_retention_checked", {{"first_seq", *first}});
          }
        }
      });
      ScheduleRetention(std::chrono::hours(1));
    });
  }

  // Pings prove the control loop runs; a hung loop gets vigild restarted.
  void ScheduleWatchdog(std::chrono::microseconds interval) {
    NotifyWatchdog();
    watchdog_timer_->expires_after(interval);
    watchdog_timer_->async_wait([this, interval](const boost::system::error_code& ec) {
      if (ec) return;
      ScheduleWatchdog(interval);
    });
  }

  // A storage error turns health NOT_SERVING so orchestrators and load
  // balancers stop sending gateways here; every second the store is asked
  // to resume (space freed), and serving resumes by itself once it does.
  void ScheduleHealthCheck() {
    health_timer_->expires_after(std::chrono::seconds(1));
    health_timer_->async_wait([this](const boost::system::error_code& ec) {
      if (ec || stopping_) return;
      if (liveness_) liveness_->Beat();
      if (!writer_->healthy()) (void)writer_->TryRecover().ok();
      // The alarm journal shares the database: a failing journal write
      // holds every alarm back (none is published that is not durable).
      // A cluster node that cannot reach NATS cannot store: gateways move on.
      const bool log_reachable = !jetstream_log_ || jetstream_log_->connected();
      const bool applying = !applier_ || !applier_->counters().gap.load(std::memory_order_relaxed);
      const bool healthy = writer_->healthy() && journal_->healthy() && !writer_->CheckSpace() &&
                           log_reachable && applying;
      if (healthy != serving_) {
        SetServing(healthy);
        if (!healthy) {
          std::string reason = "alarm journal write failing";
          if (!log_reachable) {
            reason = "the shared ingest log (NATS) is unreachable";
          } else if (!applying) {
            reason = "the ingest stream dropped entries this node never applied (retention gap)";
          } else if (writer_->low_space()) {
            reason = "disk nearly full";
          } else if (!writer_->healthy()) {
            reason = writer_->sticky_error().ToString();
          }
          LogError("not_serving", {{"reason", reason}});
        }
      }
      // RocksDB 7.8 cannot always resume after a WAL write error (a full
      // disk while writing the WAL): then only reopening the database helps.
      // Exit with status 3 for the supervisor (systemd Restart=on-failure,
      // Kubernetes) to restart vigild; nothing acked is lost.
      // A shared log (NATS) comes back by itself; a restart would not help.
      if (writer_->healthy() || jetstream_log_) {
        failed_since_.reset();
      } else if (!failed_since_) {
        failed_since_ = std::chrono::steady_clock::now();
      } else if (std::chrono::steady_clock::now() - *failed_since_ > kResumeGiveUp) {
        LogError("storage_needs_restart", {{"error", writer_->sticky_error().ToString()},
                                           {"exit_code", kExitStorageRestart}});
        exit_code_ = kExitStorageRestart;
        BeginStop("storage error that needs a restart");
        return;
      }
      ScheduleHealthCheck();
    });
  }

  // Round r asks shards to seal heads older than the previous round's mark;
  // at round r+1 their answers let the ingest log be truncated.
  void RunCheckpointRound() {
    if (applier_) {
      RunAppliedCheckpointRound();
      return;
    }
    if (round_ > 0) {
      if (auto point = shards_->CheckpointResult(round_)) {
        Status s = log_->Checkpoint(*point);
        if (!s.ok()) LogError("checkpoint_failed", {{"error", s.ToString()}});
      } else {
        LogWarn("checkpoint_lagging", {{"round", round_}});
        return;  // let the shards catch up before asking for more
      }
    }
    ++round_;
    shards_->StartCheckpoint(round_, last_posted_);
    last_posted_ = writer_->posted_through();
  }

  // With a shared log: round r seals what the applier had applied when its
  // snapshot was taken (requested the round before); at round r+1 the
  // shards' replay point and that snapshot make the checkpoint.
  void RunAppliedCheckpointRound() {
    if (applied_round_state_) {
      auto point = shards_->CheckpointResult(round_);
      if (!point) {
        LogWarn("checkpoint_lagging", {{"round", round_}});
        return;
      }
      SaveAppliedCheckpoint(*point, std::move(*applied_round_state_));
      applied_round_state_.reset();
    }
    std::optional<storage::AppliedState> snapshot = applier_->TakeSnapshot();
    applier_->RequestSnapshot();
    if (!snapshot || snapshot->marks_through == 0) return;
    // What every node stored: a gateway that moved here resends as duplicates.
    writer_->MergeApplied(snapshot->marks);
    ++round_;
    const uint64_t through = snapshot->marks_through - 1;
    shards_->StartCheckpoint(round_, through, through);
    applied_round_state_ = std::move(snapshot);
  }

  void BeginStop(const char* why) {
    if (stopping_) return;
    stopping_ = true;
    LogInfo("shutdown_started", {{"reason", why}});
    NotifyStopping();
    signals_.cancel();
    if (checkpoint_timer_) checkpoint_timer_->cancel();
    if (health_timer_) health_timer_->cancel();
    if (alarm_timer_) alarm_timer_->cancel();
    if (heartbeat_timer_) heartbeat_timer_->cancel();
    if (retention_timer_) retention_timer_->cancel();
    stopper_ = std::thread([this] {
      StopAll();
      boost::asio::post(io_, [this] { io_.stop(); });
    });
  }

  void StopAll() {
    if (stopped_) return;
    stopped_ = true;
    SetServing(false);
    if (options_.drain_delay.count() > 0) {
      // Still serving everything but health: probes see NOT_SERVING first.
      LogInfo("drain_delay", {{"ms", options_.drain_delay.count()}});
      std::this_thread::sleep_for(options_.drain_delay);
    }
    // Before draining: a message being stored is finished and acknowledged
    // to the broker; the rest stays with the broker for the next start.
    if (mqtt_) mqtt_->Stop();
    if (ingest_) {
      ingest_->StartDraining();
      // Let batches already read be committed and acked.
      const auto deadline = std::chrono::steady_clock::now() + options_.shutdown_grace;
      while (writer_->queued() > 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
    alertmanager_.reset();  // alerts stay firing in Alertmanager until their endsAt
    liveness_.reset();      // it sets grpc_'s health
    // Before the shards and the store: a running backtest reads them.
    if (backtest_) backtest_->Stop();
    if (grpc_) {
      // Streams stay open until gateways close them: give acks in flight a
      // moment to be written, then cancel what is left.
      grpc_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
      grpc_->Wait();
    }
    if (writer_) writer_->Stop();
    // After the writer: it has answered every HTTP batch in flight, so no
    // reply reaches the listener once its threads are gone.
    if (http_) http_->Stop();
    if (console_http_) console_http_->Stop();  // before the feed and the store its streams read
    std::optional<storage::AppliedState> applied;
    if (applier_) {
      applier_->Stop();  // before the shards: it posts to them
      applied = applier_->StateNow();
    }
    if (shards_) {
      shards_->Stop(applied && applied->marks_through > 0 ? applied->marks_through - 1 : 0);
      journal_->Stop();  // writes the shards' final snapshots
      if (auto point = shards_->CheckpointResult(ShardSet::kFinalCheckpointRound)) {
        if (applied) {
          SaveAppliedCheckpoint(*point, std::move(*applied));
        } else if (Status s = log_->Checkpoint(*point); !s.ok()) {
          LogError("checkpoint_failed", {{"error", s.ToString()}});
        }
      }
    }
    blocking_.join();
    if (ingest_) {
      const IngestCounters& c = ingest_->counters();
      LogInfo("shutdown_complete", {{"batches_stored", c.batches_stored.load()},
                                    {"readings_stored", c.readings_stored.load()},
                                    {"batches_duplicate", c.batches_duplicate.load()}});
    }
    grpc_.reset();
    metrics_.reset();  // its collector reads the store
    kpi_.reset();
    writer_.reset();
    applier_.reset();
    shards_.reset();
    journal_.reset();
    log_ = nullptr;
    jetstream_log_.reset();  // completes nothing: the writer has stopped
    store_.reset();
  }

  ServerOptions options_;
  boost::asio::io_context io_;
  boost::asio::signal_set signals_;
  boost::asio::thread_pool blocking_{2};
  std::unique_ptr<boost::asio::steady_timer> checkpoint_timer_;
  std::unique_ptr<boost::asio::steady_timer> health_timer_;
  std::unique_ptr<boost::asio::steady_timer> alarm_timer_;
  std::unique_ptr<boost::asio::steady_timer> heartbeat_timer_;
  RulesDocument rules_;  // in force; control thread
  ControlStats control_stats_;
  std::unique_ptr<boost::asio::steady_timer> retention_timer_;
  // Keeps pinging while draining: a long drain must not look like a hang.
  std::unique_ptr<boost::asio::steady_timer> watchdog_timer_;
  bool serving_ = false;
  static constexpr auto kResumeGiveUp = std::chrono::seconds(15);
  static constexpr auto kReplayCheckpointWait = std::chrono::seconds(20);
  std::optional<std::chrono::steady_clock::time_point> failed_since_;  // control thread
  int exit_code_ = 0;
  std::thread stopper_;
  bool stopping_ = false;  // control thread
  bool stopped_ = false;   // stopper thread (or destructor)
  uint64_t round_ = 0;
  uint64_t last_posted_ = 0;

  std::unique_ptr<storage::Store> store_;
  // The ingest log: the store's own, or a JetStream stream (ingest_log.backend).
  storage::IngestLog* log_ = nullptr;
  std::unique_ptr<cluster::JetStreamIngestLog> jetstream_log_;
  // With jetstream_log_: the shards are fed by following the stream
  // (StreamApplier); the writer hands this node's own actions over by position.
  ActionHandoff handoff_;
  std::unique_ptr<StreamApplier> applier_;
  std::optional<storage::AppliedState> applied_round_state_;
  // Set once the applier follows on its own thread (not the control thread's catch-up).
  std::atomic<bool> applier_following_{false};
  std::unique_ptr<RegistryHolder> registry_;
  // The ingest log's sensor numbers; read by the shards, added to by
  // registry changes (control thread). Outlives the shards.
  storage::SensorNumbers sensor_numbers_;
  std::unique_ptr<AlarmFeed> feed_;
  std::unique_ptr<AlarmJournal> journal_;
  std::unique_ptr<ShardSet> shards_;
  std::unique_ptr<StorageWriter> writer_;
  std::unique_ptr<IngestService> ingest_;
  std::unique_ptr<QueryService> query_;
  std::unique_ptr<AdminService> admin_;
  std::unique_ptr<BackupService> backup_;
  std::unique_ptr<JournalService> journal_service_;
  std::unique_ptr<AccessControl> access_;
  std::unique_ptr<IdentityLimiter> limiter_;  // null when authentication is off
  std::unique_ptr<AlarmService> alarms_;
  std::unique_ptr<RulesService> rules_service_;
  std::unique_ptr<PlannedWorkService> planned_work_;
  std::unique_ptr<BacktestService> backtest_;
  std::unique_ptr<grpc::Server> grpc_;
  std::unique_ptr<MetricsExporter> metrics_;
  // After ingest_ (whose context they use): destroyed before it.
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<HttpIngest> http_ingest_;
  std::unique_ptr<AlarmDesk> console_desk_;
  std::unique_ptr<ReadingDesk> console_readings_;
  std::unique_ptr<Console> console_;
  std::unique_ptr<HttpServer> console_http_;  // after console_: destroyed (stopped) first
  mutable storage::Mutex rules_in_force_mu_;
  std::shared_ptr<const alarm::RuleSet> rules_in_force_ VIGIL_GUARDED_BY(rules_in_force_mu_);
  MqttStats mqtt_stats_;
  std::unique_ptr<MqttIngest> mqtt_;
  std::string address_;
  // Operations.
  std::unique_ptr<LivenessWatch> liveness_;
  std::unique_ptr<AlarmKpiThread> kpi_;
  std::unique_ptr<AlertmanagerForwarder> alertmanager_;
};

Result<std::unique_ptr<Server>> Server::Start(const ServerOptions& options) {
  auto impl = std::make_unique<Impl>(options);
  Status s = impl->Start();
  if (!s.ok()) return s;
  impl->CatchSignals();
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;

const std::string& Server::grpc_address() const { return impl_->address(); }
std::string Server::metrics_address() const { return impl_->metrics_address(); }
std::string Server::http_address() const { return impl_->http_address(); }
std::string Server::console_address() const { return impl_->console_address(); }
void Server::Run() { impl_->Run(); }
void Server::RequestStop() { impl_->RequestStop(); }
int Server::exit_code() const { return impl_->exit_code(); }

}  // namespace vigil::server
