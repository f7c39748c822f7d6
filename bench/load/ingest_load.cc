// vigil-load: a field-gateway simulator that loads vigild's Ingest service.
//
// N gateways x M sensors. Each gateway is one bidirectional Ingest.Stream (its
// own epoch, sequence 1, 2, 3...) with up to W batches in flight; each batch
// is K time steps for a group of the gateway's sensors (packed timestamps and
// values). Before loading, the enterprises, sensors and gateways are registered
// through RegistryAdmin.ApplyRegistry. Figures go to stdout, one per line, as
// `name value unit`; progress and problems go to stderr.
//
// Threads: main (registration, pacing, progress, report) and gRPC's callback
// threads, which run the stream reactions. A stream's state is guarded by its
// own mutex (contended only by its two reactions and the pacer); gRPC calls
// are made outside it. The client reuses one IngestBatch per stream and only
// rewrites the timestamps, values and sequence, so it stays far below the
// server's CPU (client CPU is measured and reported).
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "bench/common/channel.h"
#include "bench/common/cli.h"
#include "bench/common/flags.h"
#include "vigil/v1/ingest.grpc.pb.h"
#include "vigil/v1/query.grpc.pb.h"
#include "vigil/v1/registry.grpc.pb.h"

namespace vigil::bench {
namespace {

namespace v1 = ::vigil::v1;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;

constexpr std::string_view kUsage = R"(usage: vigil-load [flags]

Simulates field gateways streaming sensor readings to vigild and prints
figures as `name value unit` lines on stdout.

  --target HOST:PORT          vigild gRPC address. Default: 127.0.0.1:7070
  --gateways N                simulated gateways (= enterprises). Default: 100
  --sensors-per-gateway M     sensors per gateway. Default: 1000
  --readings-per-batch R      readings per batch; a batch is R/M (rounded down) time
                              steps of all M sensors, or one step of R sensors in turn
                              when R < M. Default: 5000
  --window W                  batches in flight (unacked) per stream. Default: 8
  --duration D                measured phase, e.g. 20s, 1500ms, 1m. Default: 20s
  --warmup D                  load before the measured phase (not measured). Default: 2s
  --drain-timeout D           after the measured phase, wait this long for the last
                              acks before cancelling the streams. Default: 30s
  --rate R                    readings/s over all gateways; 0 = as fast as the
                              window allows. Paced mode spreads batches evenly.
                              Default: 0
  --interval-ms P             sensor cadence: event time advances P ms per reading
                              of a sensor. Default: 1000
  --start-ms T                event time of each sensor's first reading, ms since the
                              Unix epoch; 0 = now - 12 h. Event time never goes past
                              now + 4 min: a stream waits instead. Default: 0
  --seed S                    random-walk seed (reproducible values). Default: 1
  --connections C             TCP connections, gateways spread round robin;
                              0 = one per gateway (like real gateways). Default: 0
  --server-pid PID            measure the server's CPU (and per-thread CPU) from /proc
  --data-dir DIR              the server's data folder: report its size after the run
  --no-register               skip RegistryAdmin.ApplyRegistry (already registered)
  --register-only             register, print register_s and exit (no load)
  --help                      this text

Line-protocol replay (--lp-file; used by bench/compare_peers.sh):
  --lp-file FILE              instead of simulating, replay FILE: Influx line protocol
                              `meas,tag=v,... value=V TS_MS`, one reading per line, lines
                              time-major (all sensors at t0, then t1, ...) as written by
                              shared/peers/gen_data.py. Sensor = the sensor_id tag (else
                              the whole series key); its quantity = the kind tag. Every
                              batch is built before timing; then all are sent and the
                              time until the last ack is measured (ack = durable by the
                              server's durability setting and readable).
  --lp-group block|ent        block (default): like shared/peers/loader.py, a batch is
                              one time step x --readings-per-batch consecutive lines and
                              stream w owns blocks b % S == w; each stream writes as its
                              own gateway of its own enterprise `lp-group-w`, which owns
                              exactly the sensors of that stream. ent: one enterprise per
                              `ent` tag (region = its first sensor's `region` tag), one
                              gateway and stream each; a batch is one time step of that
                              enterprise's sensors (split at --readings-per-batch),
                              streams spread over --connections (0 = 4) connections.
  --lp-streams S              block mode: streams, each on its own connection. Default: 4
  --time-shift-ms T           add T to every timestamp (a warm second pass). Default: 0
  --lp-verify N               after the timed pass, ReadRaw N sensors spread over the
                              file (0 = every sensor) and compare every timestamp and
                              value with the file (not timed). Default: 0
  --quiet-pct P               before timing, wait (<= 120 s) until processes other than
                              the server and vigil-load use < P % of a core for 3 s;
                              0 = don't wait. Default: 0
  --deadline D                lp mode: give up on the timed pass after D. Default: 300s

Exit status: 0 on success; 1 if a stream failed, a reading was rejected, nothing
was acked or registration failed; 2 on a usage error.
)";

struct Config {
  std::string target = "127.0.0.1:7070";
  uint32_t gateways = 100;
  uint32_t sensors_per_gateway = 1000;
  uint32_t readings_per_batch = 5000;
  uint32_t window = 8;
  milliseconds duration{20'000};
  milliseconds warmup{2'000};
  milliseconds drain_timeout{30'000};
  double rate = 0;
  int64_t interval_ms = 1000;
  int64_t start_ms = 0;
  uint64_t seed = 1;
  uint32_t connections = 0;
  int server_pid = 0;
  std::string data_dir;
  bool do_register = true;
  bool register_only = false;
  // --lp-file mode.
  std::string lp_file;
  bool lp_group_ent = false;
  uint32_t lp_streams = 4;
  int64_t time_shift_ms = 0;
  uint32_t lp_verify = 0;
  double quiet_pct = 0;
  milliseconds deadline{300'000};
};

// ---------------------------------------------------------------------------
// Flags.

// Returns -1 to go on, or the exit status (0 after --help, 2 on a usage error).
int ParseFlags(int argc, char** argv, Config* config) {
  bench::CommandLine flags("vigil-load", std::string(kUsage));
  bool no_register = false;
  flags.Switch("--no-register", &no_register);
  flags.Switch("--register-only", &config->register_only);
  flags.Text("--target", &config->target);
  flags.Number<uint32_t>("--gateways", &config->gateways, 1);
  flags.Number<uint32_t>("--sensors-per-gateway", &config->sensors_per_gateway, 1);
  flags.Number<uint32_t>("--readings-per-batch", &config->readings_per_batch, 1);
  flags.Number<uint32_t>("--window", &config->window, 1);
  flags.Duration("--duration", &config->duration, milliseconds(1));
  flags.Duration("--warmup", &config->warmup);
  flags.Duration("--drain-timeout", &config->drain_timeout);
  flags.Number<double>("--rate", &config->rate, 0);
  flags.Number<int64_t>("--interval-ms", &config->interval_ms, 1);
  flags.Number<int64_t>("--start-ms", &config->start_ms, 0);
  flags.Number<uint64_t>("--seed", &config->seed);
  flags.Number<uint32_t>("--connections", &config->connections);
  flags.Number<int>("--server-pid", &config->server_pid, 1);
  flags.Text("--lp-file", &config->lp_file);
  flags.Custom("--lp-group", [config](const std::string& value) {
    config->lp_group_ent = value == "ent";
    return value == "block" || value == "ent" ? std::string()
                                              : "must be block or ent, got '" + value + "'";
  });
  flags.Number<uint32_t>("--lp-streams", &config->lp_streams, 1, 1000);
  flags.Number<int64_t>("--time-shift-ms", &config->time_shift_ms);
  flags.Number<uint32_t>("--lp-verify", &config->lp_verify);
  flags.Number<double>("--quiet-pct", &config->quiet_pct, 0);
  flags.Duration("--deadline", &config->deadline, milliseconds(1));
  flags.Text("--data-dir", &config->data_dir);
  const int rc = flags.Parse(argc, argv);
  config->do_register = !no_register;
  return rc;
}

// ---------------------------------------------------------------------------
// What the simulated sites measure.

struct Quantity {
  const char* name;
  const char* unit;
  double low;  // instrument range
  double high;
  double base;   // typical value
  double step;   // largest random-walk step per reading
  double scale;  // 1 / instrument resolution: values are sent rounded to it
};

// Steps are about half the resolution, so consecutive readings often repeat,
// as they do from real instruments (this matters for chunk compression).
// Hazardous-chemical enterprise: tanks, reactors, storage areas.
constexpr Quantity kChemical[] = {
    {"temperature", "degC", -40, 150, 35, 0.05, 10},
    {"pressure", "MPa", 0, 10, 1.6, 0.0005, 1000},
    {"level", "m", 0, 20, 6, 0.0005, 1000},
    {"combustible_gas", "%LEL", 0, 100, 1, 0.05, 10},
    {"toxic_gas", "ppm", 0, 100, 0.5, 0.05, 10},
};
constexpr Quantity kCoalMine[] = {
    {"methane", "%CH4", 0, 4, 0.25, 0.005, 100},
    {"co", "ppm", 0, 1000, 5, 0.5, 1},
    {"wind_speed", "m/s", 0, 15, 2.5, 0.05, 10},
    {"temperature", "degC", -10, 60, 22, 0.05, 10},
};
constexpr Quantity kTailings[] = {
    {"phreatic_line", "m", 0, 50, 12, 0.005, 100},
    {"displacement", "mm", -200, 200, 0, 0.005, 100},
    {"rainfall", "mm", 0, 300, 0, 0.05, 10},
    {"level", "m", 0, 30, 8, 0.0005, 1000},
};

struct SiteKind {
  v1::EnterpriseKind kind;
  const char* label;
  std::span<const Quantity> quantities;
};
const SiteKind kSiteKinds[] = {
    {v1::ENTERPRISE_KIND_HAZARDOUS_CHEMICAL, "Chemical Tank Farm", kChemical},
    {v1::ENTERPRISE_KIND_COAL_MINE, "Coal Mine", kCoalMine},
    {v1::ENTERPRISE_KIND_TAILINGS, "Tailings Reservoir", kTailings},
};

const SiteKind& SiteOf(uint32_t gateway) { return kSiteKinds[gateway % std::size(kSiteKinds)]; }
const Quantity& QuantityOf(uint32_t gateway, uint32_t sensor) {
  std::span<const Quantity> q = SiteOf(gateway).quantities;
  return q[sensor % q.size()];
}

// ---------------------------------------------------------------------------
// Ids, randomness, clocks.

int Digits(uint64_t n) {
  int d = 1;
  while (n >= 10) {
    n /= 10;
    ++d;
  }
  return d;
}

std::string Padded(uint64_t n, int width) {
  std::string digits = std::to_string(n);
  if (static_cast<int>(digits.size()) < width) {
    digits.insert(0, static_cast<size_t>(width) - digits.size(), '0');
  }
  return digits;
}

struct IdFormat {
  int gateway_width;
  int sensor_width;
  std::string Enterprise(uint32_t g) const { return "e-load-" + Padded(g + 1, gateway_width); }
  std::string Gateway(uint32_t g) const { return "gw-load-" + Padded(g + 1, gateway_width); }
  std::string Sensor(uint32_t g, uint32_t s) const {
    return "s-load-" + Padded(g + 1, gateway_width) + "-" + Padded(s + 1, sensor_width);
  }
};

// 37 = Shandong; cities 01..17, counties 01..12.
std::string RegionOf(uint32_t gateway) {
  uint32_t city = 1 + gateway % 17;
  uint32_t county = 1 + (gateway / 17) % 12;
  return "37" + Padded(city, 2) + Padded(county, 2);
}

uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// xorshift64*: small, fast, good enough for a random walk.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed | 1) {}
  uint64_t Next() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return state_ * 0x2545f4914f6cdd1dULL;
  }
  // Uniform in [-1, 1).
  double Symmetric() { return static_cast<double>(Next() >> 11) * 0x1.0p-52 - 1.0; }

 private:
  uint64_t state_;
};

int64_t SteadyNs(Clock::time_point t) {
  return std::chrono::duration_cast<nanoseconds>(t.time_since_epoch()).count();
}

double CpuSecondsOfSelf() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) * 1e-6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// utime + stime of a /proc/.../stat file, in seconds, and the thread name.
struct ProcCpu {
  std::string comm;
  double seconds = 0;
};
std::optional<ProcCpu> ReadProcStat(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  size_t open = line.find('(');
  size_t close = line.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return std::nullopt;
  ProcCpu cpu;
  cpu.comm = line.substr(open + 1, close - open - 1);
  std::istringstream fields(line.substr(close + 1));
  std::string field;
  // Fields after the name start at field 3 (state); utime is 14, stime 15.
  uint64_t utime = 0;
  uint64_t stime = 0;
  for (int index = 3; index <= 15 && (fields >> field); ++index) {
    if (index == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (index == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
  }
  static const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  cpu.seconds = static_cast<double>(utime + stime) / ticks;
  return cpu;
}

// Per-thread CPU of a process, by thread id.
std::map<int, ProcCpu> ReadThreadsCpu(int pid) {
  std::map<int, ProcCpu> threads;
  std::error_code ec;
  std::filesystem::path task = "/proc/" + std::to_string(pid) + "/task";
  for (const auto& entry : std::filesystem::directory_iterator(task, ec)) {
    int tid = 0;
    if (!ParseNumber(std::string_view(entry.path().filename().native()), &tid)) continue;
    if (auto cpu = ReadProcStat(entry.path() / "stat")) threads[tid] = *cpu;
  }
  return threads;
}

// CPU seconds the whole machine spent busy (all CPUs; not idle, not iowait).
double MachineBusySeconds() {
  std::ifstream in("/proc/stat");
  std::string label;
  in >> label;
  if (label != "cpu") return 0;
  uint64_t busy = 0;
  uint64_t value = 0;
  for (int field = 0; field < 8 && (in >> value); ++field) {
    if (field != 3 && field != 4) busy += value;  // 3 idle, 4 iowait
  }
  return static_cast<double>(busy) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

uint64_t ReadRssBytes(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      return std::strtoull(line.c_str() + 6, nullptr, 10) * 1024;
    }
  }
  return 0;
}

uint64_t DiskBytes(const std::filesystem::path& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code size_ec;
    if (it->is_regular_file(size_ec)) {
      uint64_t size = it->file_size(size_ec);
      if (!size_ec) total += size;
    }
  }
  return total;
}

// ---------------------------------------------------------------------------
// Registration.

bool Register(const Config& config, const IdFormat& ids,
              const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = v1::RegistryAdmin::NewStub(channel);
  constexpr uint32_t kMaxEntriesPerCall = 10'000;

  auto apply = [&](const v1::ApplyRegistryRequest& request, const char* what) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    context.set_wait_for_ready(true);
    v1::ApplyRegistryResponse response;
    grpc::Status status = stub->ApplyRegistry(&context, request, &response);
    if (!status.ok()) {
      std::fprintf(stderr, "vigil-load: ApplyRegistry (%s) failed: %d %s\n", what,
                   static_cast<int>(status.error_code()), status.error_message().c_str());
      return false;
    }
    return true;
  };

  // Enterprises and their gateways first, in chunks.
  for (uint32_t first = 0; first < config.gateways; first += kMaxEntriesPerCall) {
    v1::ApplyRegistryRequest request;
    uint32_t last = std::min(config.gateways, first + kMaxEntriesPerCall);
    for (uint32_t g = first; g < last; ++g) {
      const SiteKind& site = SiteOf(g);
      v1::Enterprise* e = request.mutable_upsert()->add_enterprises();
      e->set_id(ids.Enterprise(g));
      e->set_name(std::string("Load ") + site.label + " " + std::to_string(g + 1));
      e->set_kind(site.kind);
      e->set_region_code(RegionOf(g));
      v1::Gateway* gw = request.mutable_upsert()->add_gateways();
      gw->set_id(ids.Gateway(g));
      gw->set_enterprise_id(ids.Enterprise(g));
    }
    if (!apply(request, "enterprises and gateways")) return false;
  }
  // Then sensors, at most kMaxEntriesPerCall per call.
  v1::ApplyRegistryRequest request;
  auto flush = [&]() {
    if (request.upsert().sensors_size() == 0) return true;
    bool ok = apply(request, "sensors");
    request.Clear();
    return ok;
  };
  for (uint32_t g = 0; g < config.gateways; ++g) {
    for (uint32_t s = 0; s < config.sensors_per_gateway; ++s) {
      const Quantity& q = QuantityOf(g, s);
      v1::Sensor* sensor = request.mutable_upsert()->add_sensors();
      sensor->set_id(ids.Sensor(g, s));
      sensor->set_enterprise_id(ids.Enterprise(g));
      sensor->set_quantity(q.name);
      sensor->set_unit(q.unit);
      sensor->set_range_low(q.low);
      sensor->set_range_high(q.high);
      sensor->set_expected_interval_ms(static_cast<uint32_t>(config.interval_ms));
      if (request.upsert().sensors_size() >= static_cast<int>(kMaxEntriesPerCall) && !flush()) {
        return false;
      }
    }
  }
  return flush();
}

// ---------------------------------------------------------------------------
// Streams.

// Shared by all streams; written by main, read by the reactions.
struct Shared {
  // Steady-clock ns; acks at or after measure_start_ns and before
  // measure_end_ns are counted as the measured phase.
  std::atomic<int64_t> measure_start_ns{INT64_MAX};
  std::atomic<int64_t> measure_end_ns{INT64_MAX};
  std::atomic<uint64_t> acked_readings{0};  // for progress lines only
  std::atomic<int> rejection_prints{0};
  std::mutex done_mu;
  std::condition_variable done_cv;
  uint32_t done_streams = 0;  // guarded by done_mu
};

struct StreamStats {
  uint64_t batches_acked = 0;
  uint64_t readings_stored = 0;
  uint64_t readings_rejected = 0;
  uint64_t batches_duplicate = 0;
  uint64_t readings_duplicate = 0;
  uint64_t measured_batches = 0;
  uint64_t measured_readings = 0;
  uint64_t time_capped = 0;
  uint64_t ack_mismatches = 0;
  int64_t max_event_ms = 0;
  std::vector<uint32_t> latencies_us;  // batches sent in the measured phase
};

// One gateway: one Ingest.Stream, one reused IngestBatch. Lifetime: owned by
// main, which destroys it only after OnDone ran (or exits without destroying).
class GatewayStream final : public grpc::ClientBidiReactor<v1::IngestBatch, v1::IngestAck> {
 public:
  GatewayStream(const Config& config, const IdFormat& ids, Shared* shared, uint32_t gateway,
                int64_t start_ms, uint64_t epoch)
      : config_(config), shared_(shared), rng_(0) {
    uint64_t seed_state = config.seed * 0x100000001b3ULL + gateway;
    rng_ = Rng(SplitMix64(&seed_state));
    const uint32_t m = config.sensors_per_gateway;
    steps_ = std::max<uint32_t>(1, config.readings_per_batch / m);
    series_per_batch_ = std::min(m, config.readings_per_batch / steps_);
    next_ms_.resize(m);
    values_.resize(m);
    quantity_.resize(m);
    for (uint32_t s = 0; s < m; ++s) {
      quantity_[s] = &QuantityOf(gateway, s);
      // Each sensor has its own phase within the cadence, like real devices.
      next_ms_[s] =
          start_ms + static_cast<int64_t>(rng_.Next() % static_cast<uint64_t>(config.interval_ms));
      const Quantity& q = *quantity_[s];
      values_[s] = std::clamp(q.base + rng_.Symmetric() * (q.high - q.low) * 0.01, q.low, q.high);
    }
    if (series_per_batch_ < m) {
      sensor_ids_.reserve(m);
      for (uint32_t s = 0; s < m; ++s) sensor_ids_.push_back(ids.Sensor(gateway, s));
    }
    batch_.set_gateway_id(ids.Gateway(gateway));
    batch_.set_epoch(epoch);
    for (uint32_t j = 0; j < series_per_batch_; ++j) {
      v1::Series* series = batch_.add_series();
      series->set_sensor_id(ids.Sensor(gateway, j));
      series->mutable_timestamps_ms()->Resize(static_cast<int>(steps_), 0);
      series->mutable_values()->Resize(static_cast<int>(steps_), 0.0);
    }
    ring_.resize(config.window);
    stats_.latencies_us.reserve(4096);
  }

  uint32_t readings_per_batch() const { return steps_ * series_per_batch_; }
  size_t BatchBytes() const { return batch_.ByteSizeLong(); }

  void Start(v1::Ingest::Stub* stub) {
    stub->async()->Stream(&context_, this);
    StartRead(&ack_);
    AddHold();  // Grant/Poke/Stop start operations from main, outside reactions.
    StartCall();
    Drive(Decide());
  }

  // Paced mode: allows the stream to send up to `credits` batches in total.
  void Grant(uint64_t credits) {
    Action action;
    {
      std::lock_guard lock(mu_);
      credits_ = credits;
      action = DecideLocked();
    }
    Drive(action);
  }
  // Retries a send that waited for credit, the window or event time.
  void Poke() { Drive(Decide()); }
  // No new batches from now on; ends the stream once every batch is acked.
  void Stop() {
    Action action;
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      action = DecideLocked();
    }
    Drive(action);
  }
  void Cancel() { context_.TryCancel(); }

  uint64_t sent() {
    std::lock_guard lock(mu_);
    return next_seq_ - 1;
  }
  // REQUIRES: done().
  const StreamStats& stats() const { return stats_; }
  const grpc::Status& status() const { return status_; }
  bool failed() const { return !status_.ok() || ended_early_ || inflight_ > 0; }

  void OnWriteDone(bool ok) override {
    Action action;
    {
      std::lock_guard lock(mu_);
      writing_ = false;
      if (!ok) broken_ = true;
      action = DecideLocked();
    }
    Drive(action);
  }

  void OnWritesDoneDone(bool /*ok*/) override {
    Action action;
    {
      std::lock_guard lock(mu_);
      writing_ = false;
      writes_done_ = true;
      action = DecideLocked();
    }
    Drive(action);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      Action action;
      {
        std::lock_guard lock(mu_);
        broken_ = true;
        if (!stopping_ || inflight_ > 0) ended_early_ = true;
        action = DecideLocked();
      }
      Drive(action);
      return;
    }
    const int64_t now_ns = SteadyNs(Clock::now());
    const uint32_t stored = ack_.stored_readings();
    const uint32_t rejected = ack_.rejected_readings();
    if (rejected > 0 || ack_.rejections_size() > 0) PrintRejections();
    Action action;
    {
      std::lock_guard lock(mu_);
      if (inflight_ == 0) {
        ++stats_.ack_mismatches;
      } else {
        const InFlight& sent = ring_[ring_head_];
        if (ack_.sequence() != sent.sequence || ack_.epoch() != batch_.epoch()) {
          ++stats_.ack_mismatches;
        }
        if (sent.sent_ns >= shared_->measure_start_ns.load(std::memory_order_relaxed)) {
          int64_t us = (now_ns - sent.sent_ns) / 1000;
          stats_.latencies_us.push_back(
              static_cast<uint32_t>(std::clamp<int64_t>(us, 0, UINT32_MAX)));
        }
        ring_head_ = (ring_head_ + 1) % static_cast<uint32_t>(ring_.size());
        --inflight_;
      }
      ++stats_.batches_acked;
      stats_.readings_stored += stored;
      stats_.readings_rejected += rejected;
      if (ack_.duplicate()) {
        ++stats_.batches_duplicate;
        stats_.readings_duplicate += readings_per_batch();
      }
      if (now_ns >= shared_->measure_start_ns.load(std::memory_order_relaxed) &&
          now_ns < shared_->measure_end_ns.load(std::memory_order_relaxed)) {
        ++stats_.measured_batches;
        stats_.measured_readings += stored;
      }
      action = DecideLocked();
    }
    shared_->acked_readings.fetch_add(stored, std::memory_order_relaxed);
    StartRead(&ack_);
    Drive(action);
  }

  void OnDone(const grpc::Status& status) override {
    {
      std::lock_guard lock(mu_);
      status_ = status;
    }
    std::lock_guard lock(shared_->done_mu);
    ++shared_->done_streams;
    shared_->done_cv.notify_all();
  }

 private:
  enum class Action { kNone, kWrite, kWritesDone, kRelease };
  struct InFlight {
    uint64_t sequence = 0;
    int64_t sent_ns = 0;
  };

  Action Decide() {
    std::lock_guard lock(mu_);
    return DecideLocked();
  }

  // Picks the next gRPC call; the caller makes it after releasing mu_.
  Action DecideLocked() {
    if (released_ || writing_) return Action::kNone;
    if (broken_ || writes_done_) {
      released_ = true;
      return Action::kRelease;
    }
    if (stopping_) {
      if (inflight_ > 0) return Action::kNone;
      writing_ = true;
      return Action::kWritesDone;
    }
    if (inflight_ >= ring_.size() || next_seq_ > credits_) return Action::kNone;
    // Event time must stay below now + 4 min (the server allows 5).
    const int64_t batch_end_ms = max_event_ms_ + static_cast<int64_t>(steps_) * config_.interval_ms;
    if (batch_end_ms > WallNowMs() + 4 * 60 * 1000) {
      ++stats_.time_capped;
      return Action::kNone;
    }
    FillBatchLocked();
    InFlight& slot = ring_[(ring_head_ + inflight_) % ring_.size()];
    slot.sequence = next_seq_;
    slot.sent_ns = SteadyNs(Clock::now());
    ++next_seq_;
    ++inflight_;
    writing_ = true;
    return Action::kWrite;
  }

  void Drive(Action action) {
    switch (action) {
      case Action::kNone:
        break;
      case Action::kWrite:
        StartWrite(&batch_);
        break;
      case Action::kWritesDone:
        StartWritesDone();
        break;
      case Action::kRelease:
        RemoveHold();
        break;
    }
  }

  // Rewrites batch_ in place with the next time steps of the next sensor group.
  void FillBatchLocked() {
    batch_.set_sequence(next_seq_);
    const uint32_t m = config_.sensors_per_gateway;
    const int64_t interval = config_.interval_ms;
    for (uint32_t j = 0; j < series_per_batch_; ++j) {
      const uint32_t s = (cursor_ + j) % m;
      v1::Series* series = batch_.mutable_series(static_cast<int>(j));
      if (!sensor_ids_.empty()) series->set_sensor_id(sensor_ids_[s]);
      int64_t* ts = series->mutable_timestamps_ms()->mutable_data();
      double* vs = series->mutable_values()->mutable_data();
      const Quantity& q = *quantity_[s];
      int64_t at = next_ms_[s];
      double v = values_[s];
      for (uint32_t k = 0; k < steps_; ++k) {
        v += q.step * rng_.Symmetric();
        if (v < q.low) v = 2 * q.low - v;
        if (v > q.high) v = 2 * q.high - v;
        ts[k] = at;
        vs[k] = std::nearbyint(v * q.scale) / q.scale;
        at += interval;
      }
      next_ms_[s] = at;
      values_[s] = v;
      max_event_ms_ = std::max(max_event_ms_, at - interval);
    }
    cursor_ = (cursor_ + series_per_batch_) % m;
    stats_.max_event_ms = max_event_ms_;
  }

  void PrintRejections() {
    if (shared_->rejection_prints.fetch_add(1, std::memory_order_relaxed) >= 20) return;
    std::fprintf(stderr, "vigil-load: %s batch %" PRIu64 ": %u readings rejected\n",
                 batch_.gateway_id().c_str(), ack_.sequence(), ack_.rejected_readings());
    for (int i = 0; i < std::min(ack_.rejections_size(), 5); ++i) {
      const v1::Rejection& r = ack_.rejections(i);
      std::fprintf(stderr, "  series %d (%s) reading %d: %s: %s\n", r.series_index(),
                   r.sensor_id().c_str(), r.reading_index(),
                   v1::RejectReason_Name(r.reason()).c_str(), r.detail().c_str());
    }
  }

  const Config& config_;
  Shared* const shared_;
  grpc::ClientContext context_;
  v1::IngestAck ack_;  // owned by the read in flight

  std::mutex mu_;
  // Guarded by mu_; batch_ is also owned by the write in flight while writing_.
  v1::IngestBatch batch_;
  Rng rng_;
  uint32_t steps_ = 1;
  uint32_t series_per_batch_ = 1;
  uint32_t cursor_ = 0;
  std::vector<int64_t> next_ms_;
  std::vector<double> values_;
  std::vector<const Quantity*> quantity_;
  std::vector<std::string> sensor_ids_;  // only when a batch covers part of the sensors
  int64_t max_event_ms_ = 0;
  uint64_t next_seq_ = 1;
  uint64_t credits_ = UINT64_MAX;
  std::vector<InFlight> ring_;
  uint32_t ring_head_ = 0;
  uint32_t inflight_ = 0;
  bool writing_ = false;
  bool stopping_ = false;
  bool broken_ = false;
  bool ended_early_ = false;
  bool writes_done_ = false;
  bool released_ = false;
  StreamStats stats_;
  grpc::Status status_;
};

double Percentile(std::vector<uint32_t>& sorted_us, double p) {
  return static_cast<double>(Quantile(sorted_us, p)) / 1000.0;
}

int Run(const Config& config) {
  const IdFormat ids{std::max(4, Digits(config.gateways)),
                     std::max(4, Digits(config.sensors_per_gateway))};
  const uint32_t connections =
      config.connections == 0 ? config.gateways : std::min(config.connections, config.gateways);

  // Each channel gets its own connection (no subchannel sharing).
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (uint32_t c = 0; c < connections; ++c) {
    channels.push_back(NewConnection(config.target));
  }
  if (!channels[0]->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
    std::fprintf(stderr, "vigil-load: cannot connect to %s\n", config.target.c_str());
    return 1;
  }

  if (config.do_register) {
    auto begin = Clock::now();
    if (!Register(config, ids, channels[0])) return 1;
    double seconds = std::chrono::duration<double>(Clock::now() - begin).count();
    PrintFigure("register_s", seconds, "s", 3);
    std::fflush(stdout);
  }
  if (config.register_only) return 0;

  const int64_t start_ms =
      config.start_ms != 0 ? config.start_ms : WallNowMs() - int64_t{12} * 3600 * 1000;
  const uint64_t epoch = static_cast<uint64_t>(WallNowMs());
  Shared shared;
  std::vector<std::unique_ptr<GatewayStream>> streams;
  std::vector<std::unique_ptr<v1::Ingest::Stub>> stubs;
  for (const auto& channel : channels) stubs.push_back(v1::Ingest::NewStub(channel));
  for (uint32_t g = 0; g < config.gateways; ++g) {
    streams.push_back(std::make_unique<GatewayStream>(config, ids, &shared, g, start_ms, epoch));
  }
  const uint32_t batch_readings = streams[0]->readings_per_batch();
  const size_t batch_bytes = streams[0]->BatchBytes();

  // Paced mode: gateway g may send batch i (1-based) from
  // t0 + (g / N + i - 1) * interval, where interval = N * R / rate.
  const bool paced = config.rate > 0;
  const double interval_s =
      paced ? static_cast<double>(config.gateways) * batch_readings / config.rate : 0;
  std::vector<uint64_t> granted(config.gateways, paced ? 0 : UINT64_MAX);
  if (paced) {
    for (auto& stream : streams) stream->Grant(0);
  }

  const double cpu_begin_run = CpuSecondsOfSelf();
  const Clock::time_point t0 = Clock::now();
  for (uint32_t g = 0; g < config.gateways; ++g) streams[g]->Start(stubs[g % connections].get());

  const Clock::time_point measure_start = t0 + config.warmup;
  const Clock::time_point measure_end = measure_start + config.duration;
  bool measuring = false;
  double client_cpu_begin = 0;
  double machine_cpu_begin = 0;
  double server_cpu_begin = 0;
  std::map<int, ProcCpu> threads_begin;
  Clock::time_point next_progress = t0 + std::chrono::seconds(5);
  uint64_t progress_acked = 0;
  Clock::time_point progress_at = t0;
  // Paced mode: slot k (k = 0, 1, ...) at t0 + k * interval / N lets gateway
  // k mod N send its batch number k / N + 1. Streams are also poked every
  // 50 ms to retry sends that waited for event time.
  const double slot_s = interval_s / config.gateways;
  uint64_t next_slot = 0;
  const auto slot_time = [&](uint64_t k) {
    return t0 + std::chrono::duration_cast<Clock::duration>(
                    std::chrono::duration<double>(slot_s * static_cast<double>(k)));
  };
  constexpr auto kPokeEvery = std::chrono::milliseconds(50);
  Clock::time_point next_poke = t0 + kPokeEvery;
  uint32_t done_before_end = 0;

  for (Clock::time_point now = Clock::now(); now < measure_end; now = Clock::now()) {
    if (!measuring && now >= measure_start) {
      measuring = true;
      shared.measure_start_ns.store(SteadyNs(now), std::memory_order_relaxed);
      client_cpu_begin = CpuSecondsOfSelf();
      machine_cpu_begin = MachineBusySeconds();
      if (config.server_pid > 0) {
        auto cpu = ReadProcStat("/proc/" + std::to_string(config.server_pid) + "/stat");
        server_cpu_begin = cpu ? cpu->seconds : 0;
        threads_begin = ReadThreadsCpu(config.server_pid);
      }
    }
    Clock::time_point wake = std::min(measure_end, next_progress);
    if (!measuring) wake = std::min(wake, measure_start);
    if (paced) {
      // Bounded: at most one pass over the slots that fell due since the last wake.
      for (uint32_t n = 0; n < 1'000'000 && slot_time(next_slot) <= now; ++n, ++next_slot) {
        const uint32_t g = static_cast<uint32_t>(next_slot % config.gateways);
        granted[g] = next_slot / config.gateways + 1;
        streams[g]->Grant(granted[g]);
      }
      wake = std::min(wake, slot_time(next_slot));
    }
    if (now >= next_poke) {
      for (auto& stream : streams) stream->Poke();
      next_poke = now + kPokeEvery;
    }
    wake = std::min(wake, next_poke);
    if (now >= next_progress) {
      uint64_t acked = shared.acked_readings.load(std::memory_order_relaxed);
      double dt = std::chrono::duration<double>(now - progress_at).count();
      std::fprintf(stderr, "vigil-load: t=%.0fs acked=%" PRIu64 " readings, %.0f readings/s\n",
                   std::chrono::duration<double>(now - t0).count(), acked,
                   static_cast<double>(acked - progress_acked) / dt);
      progress_acked = acked;
      progress_at = now;
      next_progress += std::chrono::seconds(5);
    }
    {
      std::lock_guard lock(shared.done_mu);
      done_before_end = shared.done_streams;
    }
    if (done_before_end == config.gateways) break;  // every stream ended early
    std::this_thread::sleep_until(wake);
  }

  // End of the measured phase.
  const Clock::time_point measured_until = Clock::now();
  shared.measure_end_ns.store(SteadyNs(measured_until), std::memory_order_relaxed);
  if (!measuring) {
    shared.measure_start_ns.store(SteadyNs(measured_until), std::memory_order_relaxed);
    client_cpu_begin = CpuSecondsOfSelf();
    machine_cpu_begin = MachineBusySeconds();
  }
  const double measured_s =
      std::chrono::duration<double>(measured_until - std::max(measure_start, t0)).count();
  const double client_cpu_s = CpuSecondsOfSelf() - client_cpu_begin;
  const double machine_cpu_s = MachineBusySeconds() - machine_cpu_begin;
  double server_cpu_s = -1;
  std::map<int, ProcCpu> threads_end;
  uint64_t server_rss = 0;
  if (config.server_pid > 0) {
    auto cpu = ReadProcStat("/proc/" + std::to_string(config.server_pid) + "/stat");
    if (cpu) server_cpu_s = cpu->seconds - server_cpu_begin;
    threads_end = ReadThreadsCpu(config.server_pid);
    server_rss = ReadRssBytes(config.server_pid);
  }

  // Drain: no new batches; wait for the last acks, bounded.
  for (auto& stream : streams) stream->Stop();
  auto all_done = [&](Clock::time_point deadline) {
    std::unique_lock lock(shared.done_mu);
    return shared.done_cv.wait_until(lock, deadline,
                                     [&] { return shared.done_streams == config.gateways; });
  };
  bool drained = all_done(Clock::now() + config.drain_timeout);
  if (!drained) {
    std::fprintf(stderr, "vigil-load: %s: streams still open after the drain timeout; cancelling\n",
                 config.target.c_str());
    for (auto& stream : streams) stream->Cancel();
    if (!all_done(Clock::now() + std::chrono::seconds(10))) {
      std::fprintf(stderr, "vigil-load: streams did not end after cancel; giving up\n");
      std::fflush(stdout);
      std::_Exit(1);
    }
  }
  const double client_cpu_run_s = CpuSecondsOfSelf() - cpu_begin_run;

  // Gather.
  StreamStats total;
  uint32_t failed = 0;
  uint64_t batches_sent = 0;
  std::vector<uint32_t> latencies;
  for (auto& stream : streams) {
    const StreamStats& s = stream->stats();
    batches_sent += stream->sent();
    total.batches_acked += s.batches_acked;
    total.readings_stored += s.readings_stored;
    total.readings_rejected += s.readings_rejected;
    total.batches_duplicate += s.batches_duplicate;
    total.readings_duplicate += s.readings_duplicate;
    total.measured_batches += s.measured_batches;
    total.measured_readings += s.measured_readings;
    total.time_capped += s.time_capped;
    total.ack_mismatches += s.ack_mismatches;
    total.max_event_ms = std::max(total.max_event_ms, s.max_event_ms);
    latencies.insert(latencies.end(), s.latencies_us.begin(), s.latencies_us.end());
    if (stream->failed()) {
      if (++failed <= 5) {
        std::fprintf(stderr, "vigil-load: stream failed: status %d '%s'\n",
                     static_cast<int>(stream->status().error_code()),
                     stream->status().error_message().c_str());
      }
    }
  }
  std::sort(latencies.begin(), latencies.end());
  double mean_ms = 0;
  for (uint32_t us : latencies) mean_ms += us;
  if (!latencies.empty()) mean_ms /= static_cast<double>(latencies.size()) * 1000.0;

  const double million = static_cast<double>(total.measured_readings) / 1e6;
  PrintCount("gateways", config.gateways, "gateways");
  PrintCount("sensors", uint64_t{config.gateways} * config.sensors_per_gateway, "sensors");
  PrintCount("connections", connections, "connections");
  PrintCount("batch_readings", batch_readings, "readings");
  PrintCount("batch_wire_bytes", batch_bytes, "bytes");
  PrintFigure("wire_bytes_per_reading", static_cast<double>(batch_bytes) / batch_readings, "bytes");
  PrintFigure("target_rate", config.rate, "readings/s", 0);
  PrintFigure("measured_s", measured_s, "s", 3);
  PrintFigure("readings_per_s", static_cast<double>(total.measured_readings) / measured_s,
              "readings/s", 0);
  PrintFigure("batches_per_s", static_cast<double>(total.measured_batches) / measured_s,
              "batches/s", 1);
  PrintCount("ack_latency_samples", latencies.size(), "batches");
  PrintFigure("ack_latency_p50_ms", Percentile(latencies, 0.50), "ms", 3);
  PrintFigure("ack_latency_p90_ms", Percentile(latencies, 0.90), "ms", 3);
  PrintFigure("ack_latency_p99_ms", Percentile(latencies, 0.99), "ms", 3);
  PrintFigure("ack_latency_p999_ms", Percentile(latencies, 0.999), "ms", 3);
  PrintFigure("ack_latency_max_ms", Percentile(latencies, 1.0), "ms", 3);
  PrintFigure("ack_latency_mean_ms", mean_ms, "ms", 3);
  if (server_cpu_s >= 0) {
    PrintFigure("server_cpu_s_per_million_readings", million > 0 ? server_cpu_s / million : 0, "s",
                3);
    PrintFigure("server_cpu_percent", 100.0 * server_cpu_s / measured_s, "%", 1);
    PrintCount("server_rss_bytes", server_rss, "bytes");
  }
  PrintFigure("client_cpu_s_per_million_readings", million > 0 ? client_cpu_s / million : 0, "s",
              3);
  PrintFigure("client_cpu_percent", 100.0 * client_cpu_s / measured_s, "%", 1);
  if (server_cpu_s > 0) {
    PrintFigure("client_cpu_share_percent", 100.0 * client_cpu_s / (client_cpu_s + server_cpu_s),
                "%", 1);
  }
  PrintFigure("client_cpu_run_s", client_cpu_run_s, "s", 3);
  // 100 % = one core. "other" is everything but vigild and vigil-load (other
  // work on a shared machine, and the kernel's softirq time not charged to either).
  PrintCount("machine_cores", static_cast<uint64_t>(sysconf(_SC_NPROCESSORS_ONLN)), "cores");
  PrintFigure("machine_cpu_percent", 100.0 * machine_cpu_s / measured_s, "%", 1);
  PrintFigure("other_cpu_percent",
              100.0 * (machine_cpu_s - client_cpu_s - std::max(server_cpu_s, 0.0)) / measured_s,
              "%", 1);
  if (!config.data_dir.empty()) {
    uint64_t bytes = DiskBytes(config.data_dir);
    PrintCount("disk_bytes", bytes, "bytes");
    PrintFigure("disk_bytes_per_reading",
                total.readings_stored > 0
                    ? static_cast<double>(bytes) / static_cast<double>(total.readings_stored)
                    : 0,
                "bytes");
  }
  PrintCount("batches_sent", batches_sent, "batches");
  PrintCount("batches_acked", total.batches_acked, "batches");
  PrintCount("readings_acked", total.readings_stored, "readings");
  PrintCount("readings_acked_measured", total.measured_readings, "readings");
  PrintCount("readings_duplicate", total.readings_duplicate, "readings");
  PrintCount("readings_rejected", total.readings_rejected, "readings");
  PrintCount("ack_mismatches", total.ack_mismatches, "acks");
  PrintCount("time_capped_waits", total.time_capped, "waits");
  PrintCount("event_time_end_ms", static_cast<uint64_t>(total.max_event_ms), "ms");
  PrintCount("streams_failed", failed, "streams");

  // Where the server's CPU went, by thread name (threads of one name summed).
  if (!threads_end.empty()) {
    std::map<std::string, std::pair<double, int>> by_name;
    for (const auto& [tid, cpu] : threads_end) {
      auto it = threads_begin.find(tid);
      double before = it != threads_begin.end() ? it->second.seconds : 0;
      auto& [seconds, count] = by_name[cpu.comm];
      seconds += cpu.seconds - before;
      ++count;
    }
    std::vector<std::pair<double, std::string>> ranked;
    for (const auto& [name, value] : by_name) {
      std::string label = name + "[" + std::to_string(value.second) + "]";
      for (char& c : label) {
        if (c == ' ') c = '_';
      }
      ranked.emplace_back(value.first, label);
    }
    std::sort(ranked.rbegin(), ranked.rend());
    for (const auto& [seconds, label] : ranked) {
      if (100.0 * seconds / measured_s < 0.5) continue;
      std::printf("server_thread_cpu_percent.%s %.1f %%\n", label.c_str(),
                  100.0 * seconds / measured_s);
    }
    // The busiest single threads: a thread near 100 % is a serial bottleneck.
    std::vector<std::pair<double, std::string>> busiest;
    for (const auto& [tid, cpu] : threads_end) {
      auto it = threads_begin.find(tid);
      double before = it != threads_begin.end() ? it->second.seconds : 0;
      std::string label = cpu.comm + "." + std::to_string(tid);
      for (char& c : label) {
        if (c == ' ') c = '_';
      }
      busiest.emplace_back(cpu.seconds - before, label);
    }
    std::sort(busiest.rbegin(), busiest.rend());
    for (size_t i = 0; i < std::min<size_t>(busiest.size(), 8); ++i) {
      if (100.0 * busiest[i].first / measured_s < 0.5) break;
      std::printf("server_top_thread_cpu_percent.%s %.1f %%\n", busiest[i].second.c_str(),
                  100.0 * busiest[i].first / measured_s);
    }
  }
  std::fflush(stdout);

  if (failed > 0 || total.readings_rejected > 0 || total.measured_readings == 0 ||
      total.ack_mismatches > 0) {
    return 1;
  }
  return 0;
}

// ---------------------------------------------------------------------------
// --lp-file: replay a line-protocol file (shared/peers/gen_data.py) so Vigil
// gets exactly the readings the peers get, batched the way loader.py batches.

struct LpData {
  // Per sensor, in order of first appearance.
  std::vector<std::string> sensor_id;
  std::vector<std::string> sensor_kind;
  std::vector<std::string> sensor_region;
  std::vector<uint32_t> sensor_ent;  // index into ents
  std::vector<std::string> ents;
  // Per line.
  std::vector<uint32_t> line_sensor;
  std::vector<int64_t> line_ts;
  std::vector<double> line_value;
  uint64_t bytes = 0;
  int64_t interval_ms = 0;  // first step-to-step timestamp difference
};

// Parses `meas,tag=v,... value=V TS`. No escapes (gen_data.py writes none).
bool ParseLpFile(const std::string& path, LpData* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "vigil-load: cannot open %s\n", path.c_str());
    return false;
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  out->bytes = text.size();
  std::unordered_map<std::string_view, uint32_t> sensors;
  std::unordered_map<std::string_view, uint32_t> ents;
  const size_t approx = text.size() / 80 + 16;
  out->line_sensor.reserve(approx);
  out->line_ts.reserve(approx);
  out->line_value.reserve(approx);
  uint64_t line_no = 0;
  auto bad = [&](const char* why) {
    std::fprintf(stderr, "vigil-load: %s line %" PRIu64 ": %s\n", path.c_str(), line_no, why);
    return false;
  };
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    const size_t sp1 = line.find(' ');
    const size_t sp2 = line.rfind(' ');
    if (sp1 == std::string_view::npos || sp2 == sp1)
      return bad("expected 'series fields timestamp'");
    std::string_view series = line.substr(0, sp1);
    std::string_view fields = line.substr(sp1 + 1, sp2 - sp1 - 1);
    std::string_view ts_text = line.substr(sp2 + 1);
    if (fields.find(',') != std::string_view::npos) return bad("only one field per line supported");
    const size_t eq = fields.find('=');
    if (eq == std::string_view::npos) return bad("field without '='");
    std::string_view value_text = fields.substr(eq + 1);
    double value = 0;
    int64_t ts = 0;
    if (!ParseNumber(value_text, &value)) return bad("value is not a number");
    if (!ParseNumber(ts_text, &ts)) return bad("timestamp is not an integer (ms)");
    std::string_view sensor_key = series;
    std::string_view ent, region, kind;
    size_t tag_pos = series.find(',');
    while (tag_pos != std::string_view::npos) {
      size_t next = series.find(',', tag_pos + 1);
      std::string_view tag = series.substr(
          tag_pos + 1, (next == std::string_view::npos ? series.size() : next) - tag_pos - 1);
      const size_t teq = tag.find('=');
      if (teq != std::string_view::npos) {
        std::string_view k = tag.substr(0, teq);
        std::string_view v = tag.substr(teq + 1);
        if (k == "sensor_id") sensor_key = v;
        if (k == "ent") ent = v;
        if (k == "region") region = v;
        if (k == "kind") kind = v;
      }
      tag_pos = next;
    }
    auto [it, inserted] = sensors.try_emplace(sensor_key, static_cast<uint32_t>(sensors.size()));
    if (inserted) {
      auto [eit, new_ent] = ents.try_emplace(ent, static_cast<uint32_t>(ents.size()));
      if (new_ent) out->ents.emplace_back(ent.empty() ? "lp-ent" : ent);
      out->sensor_id.emplace_back(sensor_key);
      out->sensor_kind.emplace_back(kind.empty() ? "value" : kind);
      out->sensor_region.emplace_back(region);
      out->sensor_ent.push_back(eit->second);
    }
    out->line_sensor.push_back(it->second);
    out->line_ts.push_back(ts);
    out->line_value.push_back(value);
    if (out->interval_ms == 0 && out->line_ts.size() > 1 && ts != out->line_ts.front()) {
      out->interval_ms = ts - out->line_ts.front();
    }
  }
  if (out->line_ts.empty()) return bad("no readings");
  return true;
}

const char* UnitOfKind(std::string_view kind) {
  static const std::pair<std::string_view, const char*> kUnits[] = {
      {"temperature", "degC"}, {"humidity", "%RH"}, {"pressure", "hPa"}, {"co2", "ppm"},
      {"vibration", "mm/s"},   {"voltage", "V"},    {"current", "A"},    {"flow", "m3/h"}};
  for (const auto& [k, unit] : kUnits) {
    if (k == kind) return unit;
  }
  return "1";
}

// A valid 6-digit region code from a tag (GB/T 2260 style), else a default.
std::string RegionCode(const std::string& tag) {
  bool ok = tag.size() == 6 &&
            std::all_of(tag.begin(), tag.end(), [](char c) { return c >= '0' && c <= '9'; });
  return ok ? tag : "370105";
}

struct LpPlan {
  // Per stream: its enterprise (= gateway) name, and its batches in send order.
  std::vector<std::string> enterprise;
  std::vector<std::string> region;
  std::vector<std::vector<v1::IngestBatch>> batches;
  std::vector<uint32_t> sensor_stream;  // per sensor
  uint64_t readings = 0;
  uint64_t batch_count = 0;
};

// Groups the file's lines into batches per stream. Returns false (and says
// why) if a sensor would have to move between streams.
bool PlanLp(const Config& config, const LpData& data, LpPlan* plan) {
  const size_t n = data.line_ts.size();
  const uint32_t batch = config.readings_per_batch;
  const uint32_t num_sensors = static_cast<uint32_t>(data.sensor_id.size());
  plan->sensor_stream.assign(num_sensors, UINT32_MAX);
  uint32_t streams = 0;
  if (config.lp_group_ent) {
    streams = static_cast<uint32_t>(data.ents.size());
    for (uint32_t e = 0; e < streams; ++e) plan->enterprise.push_back(data.ents[e]);
    for (uint32_t s = 0; s < num_sensors; ++s) plan->sensor_stream[s] = data.sensor_ent[s];
  } else {
    streams = config.lp_streams;
    for (uint32_t w = 0; w < streams; ++w)
      plan->enterprise.push_back("lp-group-" + std::to_string(w));
  }
  plan->region.assign(streams, "");
  plan->batches.resize(streams);
  // Open batch per stream (ent mode), or the current block (block mode).
  std::vector<v1::IngestBatch*> open(streams, nullptr);
  auto open_batch = [&](uint32_t w) {
    v1::IngestBatch& b = plan->batches[w].emplace_back();
    b.set_gateway_id("gw-" + plan->enterprise[w]);
    b.set_sequence(plan->batches[w].size());
    open[w] = &b;
    return open[w];
  };
  size_t step_begin = 0;
  while (step_begin < n) {
    size_t step_end = step_begin;
    while (step_end < n && data.line_ts[step_end] == data.line_ts[step_begin]) ++step_end;
    std::fill(open.begin(), open.end(), nullptr);
    for (size_t i = step_begin; i < step_end; ++i) {
      const uint32_t s = data.line_sensor[i];
      uint32_t w = 0;
      if (config.lp_group_ent) {
        w = plan->sensor_stream[s];
        if (open[w] != nullptr && open[w]->series_size() >= static_cast<int>(batch))
          open[w] = nullptr;
      } else {
        const size_t block = (i - step_begin) / batch;
        w = static_cast<uint32_t>(block % streams);
        if ((i - step_begin) % batch == 0) open[w] = nullptr;
        if (plan->sensor_stream[s] == UINT32_MAX) plan->sensor_stream[s] = w;
        if (plan->sensor_stream[s] != w) {
          std::fprintf(stderr,
                       "vigil-load: sensor %s moves from stream %u to %u at line %zu: the file "
                       "is not time-major with the same sensor order at every step\n",
                       data.sensor_id[s].c_str(), plan->sensor_stream[s], w, i + 1);
          return false;
        }
      }
      if (plan->region[w].empty()) plan->region[w] = RegionCode(data.sensor_region[s]);
      v1::IngestBatch* b = open[w] != nullptr ? open[w] : open_batch(w);
      v1::Series* series = b->add_series();
      series->set_sensor_id(data.sensor_id[s]);
      series->add_timestamps_ms(data.line_ts[i] + config.time_shift_ms);
      series->add_values(data.line_value[i]);
      ++plan->readings;
    }
    step_begin = step_end;
  }
  for (const auto& b : plan->batches) plan->batch_count += b.size();
  return true;
}

bool RegisterLp(const LpData& data, const LpPlan& plan,
                const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = v1::RegistryAdmin::NewStub(channel);
  auto apply = [&](const v1::ApplyRegistryRequest& request, const char* what) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    context.set_wait_for_ready(true);
    v1::ApplyRegistryResponse response;
    grpc::Status status = stub->ApplyRegistry(&context, request, &response);
    if (!status.ok()) {
      std::fprintf(stderr, "vigil-load: ApplyRegistry (%s) failed: %d %s\n", what,
                   static_cast<int>(status.error_code()), status.error_message().c_str());
      return false;
    }
    return true;
  };
  constexpr int kMaxEntriesPerCall = 10'000;
  v1::ApplyRegistryRequest request;
  for (size_t w = 0; w < plan.enterprise.size(); ++w) {
    v1::Enterprise* e = request.mutable_upsert()->add_enterprises();
    e->set_id(plan.enterprise[w]);
    e->set_name("Line-protocol replay " + plan.enterprise[w]);
    e->set_kind(v1::ENTERPRISE_KIND_HAZARDOUS_CHEMICAL);
    e->set_region_code(plan.region[w].empty() ? "370105" : plan.region[w]);
    v1::Gateway* gw = request.mutable_upsert()->add_gateways();
    gw->set_id("gw-" + plan.enterprise[w]);
    gw->set_enterprise_id(plan.enterprise[w]);
    if (request.upsert().enterprises_size() >= kMaxEntriesPerCall / 2) {
      if (!apply(request, "enterprises and gateways")) return false;
      request.Clear();
    }
  }
  if (request.upsert().enterprises_size() > 0 && !apply(request, "enterprises and gateways")) {
    return false;
  }
  request.Clear();
  for (size_t s = 0; s < data.sensor_id.size(); ++s) {
    v1::Sensor* sensor = request.mutable_upsert()->add_sensors();
    sensor->set_id(data.sensor_id[s]);
    sensor->set_enterprise_id(plan.enterprise[plan.sensor_stream[s]]);
    sensor->set_quantity(data.sensor_kind[s]);
    sensor->set_unit(UnitOfKind(data.sensor_kind[s]));
    // Range left undeclared (0, 0): the file has no instrument ranges.
    if (data.interval_ms > 0 && data.interval_ms <= INT32_MAX) {
      sensor->set_expected_interval_ms(static_cast<uint32_t>(data.interval_ms));
    }
    if (request.upsert().sensors_size() >= kMaxEntriesPerCall) {
      if (!apply(request, "sensors")) return false;
      request.Clear();
    }
  }
  return request.upsert().sensors_size() == 0 || apply(request, "sensors");
}

struct LpShared {
  std::atomic<uint64_t> batches_left{0};
  std::atomic<int64_t> last_ack_ns{0};
  std::atomic<int> rejection_prints{0};
  std::mutex mu;
  std::condition_variable cv;
  uint32_t done_streams = 0;  // guarded by mu
};

// One gateway's stream: sends its batches in order, at most `window`
// unacked; checks that acks come back in order. Every batch is serialized
// before the timed pass (as shared/peers/loader.py pre-builds its request
// bodies): the timed window measures the server, not the client's protobuf
// encoding. Written through the generic stub as bytes; the service sees the
// same IngestBatch messages.
class LpStream final : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  LpStream(const std::vector<v1::IngestBatch>& batches, uint32_t window, LpShared* shared)
      : window_(window), shared_(shared) {
    bodies_.reserve(batches.size());
    sequences_.reserve(batches.size());
    for (const v1::IngestBatch& batch : batches) {
      grpc::ByteBuffer body;
      bool own = false;
      const grpc::Status status =
          grpc::SerializationTraits<v1::IngestBatch>::Serialize(batch, &body, &own);
      if (!status.ok()) throw std::runtime_error("vigil-load: cannot serialize a batch");
      bodies_.push_back(std::move(body));
      sequences_.push_back(batch.sequence());
    }
  }

  void Start(grpc::GenericStub* stub) {
    stub->PrepareBidiStreamingCall(&context_, "/vigil.v1.Ingest/Stream", grpc::StubOptions(), this);
    StartRead(&ack_bytes_);
    StartCall();
    Drive(Decide());
  }
  void Cancel() { context_.TryCancel(); }

  void OnWriteDone(bool ok) override {
    Action action;
    {
      std::lock_guard lock(mu_);
      writing_ = false;
      if (!ok) broken_ = true;
      action = DecideLocked();
    }
    Drive(action);
  }
  void OnWritesDoneDone(bool /*ok*/) override {
    std::lock_guard lock(mu_);
    writing_ = false;
  }
  void OnReadDone(bool ok) override {
    if (!ok) {
      std::lock_guard lock(mu_);
      broken_ = true;
      return;  // OnDone follows once the server ends the call
    }
    const int64_t now_ns = SteadyNs(Clock::now());
    if (!grpc::SerializationTraits<v1::IngestAck>::Deserialize(&ack_bytes_, &ack_).ok()) {
      ack_.Clear();  // sequence 0: counted as a mismatch below
    }
    if (ack_.rejected_readings() > 0 &&
        shared_->rejection_prints.fetch_add(1, std::memory_order_relaxed) < 10) {
      std::fprintf(stderr, "vigil-load: batch %" PRIu64 ": %u readings rejected", ack_.sequence(),
                   ack_.rejected_readings());
      if (ack_.rejections_size() > 0) {
        const v1::Rejection& r = ack_.rejections(0);
        std::fprintf(stderr, " (first: %s %s: %s)", r.sensor_id().c_str(),
                     v1::RejectReason_Name(r.reason()).c_str(), r.detail().c_str());
      }
      std::fputc('\n', stderr);
    }
    Action action;
    {
      std::lock_guard lock(mu_);
      if (acked_ >= sent_ || ack_.sequence() != sequences_[acked_]) ++ack_mismatches_;
      ++acked_;
      stored_ += ack_.stored_readings();
      rejected_ += ack_.rejected_readings();
      if (ack_.duplicate()) ++duplicates_;
      action = DecideLocked();
    }
    if (shared_->batches_left.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      shared_->last_ack_ns.store(now_ns, std::memory_order_release);
      std::lock_guard lock(shared_->mu);
      shared_->cv.notify_all();
    }
    if (action != Action::kFinish) StartRead(&ack_bytes_);
    Drive(action);
  }
  void OnDone(const grpc::Status& status) override {
    {
      std::lock_guard lock(mu_);
      status_ = status;
    }
    std::lock_guard lock(shared_->mu);
    ++shared_->done_streams;
    shared_->cv.notify_all();
  }

  uint64_t stored() const { return stored_; }
  uint64_t rejected() const { return rejected_; }
  uint64_t duplicates() const { return duplicates_; }
  uint64_t ack_mismatches() const { return ack_mismatches_; }
  size_t acked() const { return acked_; }
  const grpc::Status& status() const { return status_; }

 private:
  enum class Action { kNone, kWrite, kFinish };
  Action Decide() {
    std::lock_guard lock(mu_);
    return DecideLocked();
  }
  Action DecideLocked() {
    if (broken_ || finishing_) return Action::kNone;
    if (acked_ == bodies_.size()) {
      if (writing_) return Action::kNone;
      finishing_ = true;
      writing_ = true;
      return Action::kFinish;
    }
    if (writing_ || sent_ == bodies_.size() || sent_ - acked_ >= window_) return Action::kNone;
    writing_ = true;
    next_write_ = &bodies_[sent_++];
    return Action::kWrite;
  }
  void Drive(Action action) {
    if (action == Action::kWrite) StartWrite(next_write_);
    if (action == Action::kFinish) StartWritesDone();
  }

  std::vector<grpc::ByteBuffer> bodies_;  // serialized batches, in order
  std::vector<uint64_t> sequences_;       // their sequence numbers
  const uint32_t window_;
  LpShared* const shared_;
  grpc::ClientContext context_;
  grpc::ByteBuffer ack_bytes_;
  v1::IngestAck ack_;
  std::mutex mu_;
  const grpc::ByteBuffer* next_write_ = nullptr;  // guarded by mu_ until written
  size_t sent_ = 0;
  size_t acked_ = 0;
  bool writing_ = false;
  bool broken_ = false;
  bool finishing_ = false;
  uint64_t stored_ = 0;
  uint64_t rejected_ = 0;
  uint64_t duplicates_ = 0;
  uint64_t ack_mismatches_ = 0;
  grpc::Status status_;
};

double ProcCpuSeconds(int pid) {
  if (pid <= 0) return 0;
  auto cpu = ReadProcStat("/proc/" + std::to_string(pid) + "/stat");
  return cpu ? cpu->seconds : 0;
}

uint64_t ReadHwmBytes(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10) * 1024;
  }
  return 0;
}

// Waits (bounded, 120 s) until processes other than the server and this one
// use less than pct % of one core for 3 consecutive seconds. Returns the last
// measured other-CPU %.
double WaitQuiet(int server_pid, double pct) {
  const auto end = Clock::now() + std::chrono::seconds(120);
  int ok = 0;
  double other = 0;
  while (ok < 3 && Clock::now() < end) {
    const double s0 = ProcCpuSeconds(server_pid), b0 = MachineBusySeconds(),
                 m0 = CpuSecondsOfSelf();
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const double s1 = ProcCpuSeconds(server_pid), b1 = MachineBusySeconds(),
                 m1 = CpuSecondsOfSelf();
    other = 100.0 * ((b1 - b0) - (s1 - s0) - (m1 - m0));
    ok = other < pct ? ok + 1 : 0;
  }
  return other;
}

// ReadRaw each checked sensor over the pass's time range and compare every
// timestamp and value with the file. Returns mismatching sensors.
struct VerifyResult {
  uint64_t sensors = 0;
  uint64_t readings = 0;
  uint64_t bad_sensors = 0;
  double seconds = 0;
};
VerifyResult VerifyLp(const Config& config, const LpData& data,
                      const std::vector<std::shared_ptr<grpc::Channel>>& channels) {
  VerifyResult result;
  const uint32_t num_sensors = static_cast<uint32_t>(data.sensor_id.size());
  // Expected (ts, value) per sensor.
  std::vector<std::vector<std::pair<int64_t, double>>> expected(num_sensors);
  int64_t lo = INT64_MAX, hi = INT64_MIN;
  for (size_t i = 0; i < data.line_ts.size(); ++i) {
    const int64_t ts = data.line_ts[i] + config.time_shift_ms;
    expected[data.line_sensor[i]].emplace_back(ts, data.line_value[i]);
    lo = std::min(lo, ts);
    hi = std::max(hi, ts);
  }
  std::vector<uint32_t> check;
  const uint32_t want =
      config.lp_verify == 0 ? num_sensors : std::min(config.lp_verify, num_sensors);
  for (uint32_t k = 0; k < want; ++k) {
    check.push_back(static_cast<uint32_t>(uint64_t{k} * num_sensors / want));
  }
  const auto begin = Clock::now();
  std::atomic<size_t> next{0};
  std::atomic<uint64_t> readings{0}, bad{0};
  std::atomic<int> prints{0};
  std::vector<std::thread> threads;
  for (uint32_t t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      auto stub = v1::Query::NewStub(channels[t % channels.size()]);
      for (size_t k = next.fetch_add(1); k < check.size(); k = next.fetch_add(1)) {
        const uint32_t s = check[k];
        auto exp = expected[s];
        std::sort(exp.begin(), exp.end());
        v1::ReadRawRequest request;
        request.set_sensor_id(data.sensor_id[s]);
        request.set_from_ms(lo);
        request.set_to_ms(hi + 1);
        v1::ReadRawResponse response;
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
        grpc::Status status = stub->ReadRaw(&context, request, &response);
        bool same = status.ok() && !response.truncated() &&
                    static_cast<size_t>(response.timestamps_ms_size()) == exp.size() &&
                    response.values_size() == response.timestamps_ms_size();
        for (int j = 0; same && j < response.timestamps_ms_size(); ++j) {
          const auto& [ts, v] = exp[static_cast<size_t>(j)];
          same = response.timestamps_ms(j) == ts && response.values(j) == v;
        }
        if (status.ok()) readings += static_cast<uint64_t>(response.timestamps_ms_size());
        if (!same) {
          ++bad;
          if (prints.fetch_add(1) < 5) {
            std::fprintf(stderr,
                         "vigil-load: verify %s: status %d, %d readings back, %zu expected\n",
                         data.sensor_id[s].c_str(), static_cast<int>(status.error_code()),
                         response.timestamps_ms_size(), exp.size());
          }
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  result.sensors = check.size();
  result.readings = readings.load();
  result.bad_sensors = bad.load();
  result.seconds = std::chrono::duration<double>(Clock::now() - begin).count();
  return result;
}

int RunLpFile(const Config& config) {
  const auto t_parse = Clock::now();
  LpData data;
  if (!ParseLpFile(config.lp_file, &data)) return 1;
  LpPlan plan;
  if (!PlanLp(config, data, &plan)) return 1;
  const double build_s = std::chrono::duration<double>(Clock::now() - t_parse).count();
  const uint32_t streams = static_cast<uint32_t>(plan.batches.size());
  const uint32_t connections =
      config.lp_group_ent ? (config.connections == 0 ? 4 : config.connections) : streams;
  std::fprintf(stderr,
               "vigil-load: %s: %zu readings, %zu sensors, %zu ents -> %u streams, %" PRIu64
               " batches, %u connections (built in %.1f s)\n",
               config.lp_file.c_str(), data.line_ts.size(), data.sensor_id.size(), data.ents.size(),
               streams, plan.batch_count, connections, build_s);

  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (uint32_t c = 0; c < connections; ++c) {
    channels.push_back(NewConnection(config.target));
  }
  for (auto& channel : channels) {
    if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
      std::fprintf(stderr, "vigil-load: cannot connect to %s\n", config.target.c_str());
      return 1;
    }
  }
  if (config.do_register) {
    auto begin = Clock::now();
    if (!RegisterLp(data, plan, channels[0])) return 1;
    PrintFigure("register_s", std::chrono::duration<double>(Clock::now() - begin).count(), "s", 3);
    std::fflush(stdout);
  }
  if (config.register_only) return 0;

  const uint64_t epoch = static_cast<uint64_t>(WallNowMs());
  for (auto& per_stream : plan.batches) {
    for (auto& b : per_stream) b.set_epoch(epoch);
  }
  std::vector<std::unique_ptr<grpc::GenericStub>> stubs;
  for (const auto& channel : channels)
    stubs.push_back(std::make_unique<grpc::GenericStub>(channel));
  LpShared shared;
  shared.batches_left = plan.batch_count;
  std::vector<std::unique_ptr<LpStream>> reactors;
  for (const auto& per_stream : plan.batches) {
    reactors.push_back(std::make_unique<LpStream>(per_stream, config.window, &shared));
  }

  double other_before = -1;
  if (config.quiet_pct > 0) other_before = WaitQuiet(config.server_pid, config.quiet_pct);
  const double server0 = ProcCpuSeconds(config.server_pid);
  const double client0 = CpuSecondsOfSelf();
  const double machine0 = MachineBusySeconds();
  const Clock::time_point t0 = Clock::now();
  for (uint32_t w = 0; w < streams; ++w) {
    if (plan.batches[w].empty()) {
      std::lock_guard lock(shared.mu);
      ++shared.done_streams;  // never started
      continue;
    }
    reactors[w]->Start(stubs[w % connections].get());
  }
  bool all_acked = false;
  {
    std::unique_lock lock(shared.mu);
    all_acked = shared.cv.wait_until(lock, t0 + config.deadline, [&] {
      return shared.batches_left.load() == 0 || shared.done_streams == streams;
    });
    all_acked = shared.batches_left.load() == 0;
  }
  const Clock::time_point t_seen = Clock::now();
  const double server1 = ProcCpuSeconds(config.server_pid);
  const double client1 = CpuSecondsOfSelf();
  const double machine1 = MachineBusySeconds();
  const uint64_t hwm = config.server_pid > 0 ? ReadHwmBytes(config.server_pid) : 0;
  const uint64_t rss = config.server_pid > 0 ? ReadRssBytes(config.server_pid) : 0;
  const int64_t last_ack_ns = shared.last_ack_ns.load();
  const double ack_s = all_acked ? static_cast<double>(last_ack_ns - SteadyNs(t0)) / 1e9
                                 : std::chrono::duration<double>(t_seen - t0).count();
  if (!all_acked) {
    std::fprintf(stderr, "vigil-load: not every batch was acked within the deadline; cancelling\n");
    for (auto& r : reactors) r->Cancel();
  }
  {
    std::unique_lock lock(shared.mu);
    if (!shared.cv.wait_for(lock, std::chrono::seconds(30),
                            [&] { return shared.done_streams == streams; })) {
      std::fprintf(stderr, "vigil-load: streams did not end; giving up\n");
      std::fflush(stdout);
      std::_Exit(1);
    }
  }
  uint64_t stored = 0, rejected = 0, duplicates = 0, mismatches = 0;
  uint32_t failed = 0;
  for (auto& r : reactors) {
    stored += r->stored();
    rejected += r->rejected();
    duplicates += r->duplicates();
    mismatches += r->ack_mismatches();
    if (!r->status().ok() && failed++ < 5) {
      std::fprintf(stderr, "vigil-load: stream failed: %d %s\n",
                   static_cast<int>(r->status().error_code()), r->status().error_message().c_str());
    }
  }
  // Not timed: read everything (or a sample) back and compare with the file.
  VerifyResult verify;
  if (all_acked) verify = VerifyLp(config, data, channels);

  const double wall = std::max(ack_s, 1e-9);
  const double server_cpu = server1 - server0;
  const double client_cpu = client1 - client0;
  PrintCount("lp_readings", plan.readings, "readings");
  PrintCount("lp_sensors", data.sensor_id.size(), "sensors");
  PrintCount("lp_streams", streams, "streams");
  PrintCount("connections", connections, "connections");
  PrintCount("window", config.window, "batches");
  PrintCount("batches", plan.batch_count, "batches");
  PrintFigure("readings_per_batch",
              static_cast<double>(plan.readings) / static_cast<double>(plan.batch_count),
              "readings", 1);
  PrintCount("time_shift_ms", static_cast<uint64_t>(config.time_shift_ms), "ms");
  PrintFigure("build_s", build_s, "s", 2);
  PrintFigure("other_cpu_percent_before", other_before, "%", 1);
  PrintFigure("ack_s", ack_s, "s", 3);
  PrintFigure("readings_per_s", all_acked && rejected == 0 ? static_cast<double>(stored) / wall : 0,
              "readings/s", 0);
  if (config.server_pid > 0) {
    PrintFigure("server_cpu_s", server_cpu, "s", 3);
    PrintFigure("server_cpu_percent", 100.0 * server_cpu / wall, "%", 1);
    PrintFigure("server_us_per_reading",
                stored > 0 ? 1e6 * server_cpu / static_cast<double>(stored) : 0, "us", 3);
    PrintCount("server_rss_bytes", rss, "bytes");
    PrintCount("server_rss_peak_bytes", hwm, "bytes");
  }
  PrintFigure("client_cpu_s", client_cpu, "s", 3);
  PrintFigure("client_cpu_percent", 100.0 * client_cpu / wall, "%", 1);
  PrintFigure("machine_cpu_percent", 100.0 * (machine1 - machine0) / wall, "%", 1);
  PrintFigure("other_cpu_percent",
              100.0 * ((machine1 - machine0) - client_cpu - std::max(server_cpu, 0.0)) / wall, "%",
              1);
  if (!config.data_dir.empty()) PrintCount("disk_bytes", DiskBytes(config.data_dir), "bytes");
  PrintCount("readings_acked", stored, "readings");
  PrintCount("readings_rejected", rejected, "readings");
  PrintCount("batches_duplicate", duplicates, "batches");
  PrintCount("ack_mismatches", mismatches, "acks");
  PrintCount("streams_failed", failed, "streams");
  PrintCount("verify_sensors", verify.sensors, "sensors");
  PrintCount("verify_readings_read", verify.readings, "readings");
  PrintCount("verify_bad_sensors", verify.bad_sensors, "sensors");
  PrintFigure("verify_s", verify.seconds, "s", 2);
  std::fflush(stdout);
  const bool ok = all_acked && failed == 0 && rejected == 0 && duplicates == 0 && mismatches == 0 &&
                  stored == plan.readings && verify.bad_sensors == 0 && verify.sensors > 0;
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace vigil::bench

int main(int argc, char** argv) {
  vigil::bench::Config config;
  if (int rc = vigil::bench::ParseFlags(argc, argv, &config); rc >= 0) return rc;
  if (!config.lp_file.empty()) return vigil::bench::RunLpFile(config);
  return vigil::bench::Run(config);
}
