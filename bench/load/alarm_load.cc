// vigil-alarm-load: alarm latency and fan-out under ingest load. Gateways of
// enterprises spread over 31 provinces stream one reading per sensor per
// batch; now and then a batch carries a reading above the alarm level (or
// back below it), whose value encodes when it was sent. Command centers
// subscribe, one region-code prefix each (the provinces in turn), and time
// every raised alarm from the send of its reading to its delivery. The
// server's own reading-received -> journaled and -> durable histograms are
// read from /metrics.
// Figures are printed as `name value unit` lines. See bench/README.md.
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench/common/channel.h"
#include "bench/common/cli.h"
#include "bench/common/flags.h"
#include "bench/common/wakeup_probe.h"
#include "vigil/v1/alarms.grpc.pb.h"
#include "vigil/v1/ingest.grpc.pb.h"
#include "vigil/v1/registry.grpc.pb.h"
#include "vigil/v1/rules.grpc.pb.h"

namespace vigil::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr char kUsage[] = R"(usage: vigil-alarm-load [flags]

  --target HOST:PORT        vigild gRPC address. Default: 127.0.0.1:7070
  --metrics HOST:PORT       vigild /metrics address: also report the server's
                            reading -> journaled latency. Default: none
  --gateways G              gateways (= enterprises, over the provinces). Default: 62
  --sensors-per-gateway S   sensors per gateway (one reading each per batch). Default: 500
  --provinces P             provinces (region prefixes), 1..31. Default: 31
  --subscribers N           alarm streams, province prefixes in turn. Default: 1000
  --rate R                  readings/s over all gateways; 0 = as fast as the window
                            allows. Default: 0
  --window W                batches in flight per gateway. Default: 8
  --alarm-every K           one batch in K of each gateway flips one sensor across
                            the alarm level (a raise or a clear). Default: 50
  --lockstep                every gateway flips in the same batches (a province-
                            wide alarm flood every K batches); by default gateway g
                            flips g batches later than gateway 0, as unsynchronized
                            sites would
  --duration D              measured phase. Default: 20s
  --register                register the enterprises, sensors and gateways and put
                            the alarm rule in force (RegistryAdmin, RulesAdmin)
  --help                    this text

Figures: ingest_readings_per_s, alarm_events_raised, alarm_deliveries,
delivery_latency_{p50,p99,max}_ms (send of the reading -> delivered to each
subscriber of its province, client clock), journal_latency_{p50,p99}_ms
(server histogram, interpolated: reading received -> alarm journaled),
durable_latency_{p50,p99}_ms (server histogram: every batch received -> in the
WAL, the first leg of journal_latency), journaled_to_delivered_{p50,p99}_ms
(server histogram: journaled -> written to each subscriber's stream),
server_cpu_us_per_reading (vigild's CPU time over the phase per reading sent),
loader_cpu_us_per_reading (this process's: gateways and subscribers, on the same
machine), subscribers_connected; and how late a thread sleeping 1 ms at a time
woke up meanwhile (probe_late_p99_us, probe_late_max_us, probe_late_over_2ms;
SCHED_FIFO when allowed, probe_realtime): the machine's floor under any latency.
)";

// CPU time (user + system) this process has used, in seconds.
double OwnCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// The 31 provinces of mainland China by GB/T 2260 prefix.
constexpr const char* kProvinces[] = {
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41",
    "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65"};

struct Flags {
  std::string target = "127.0.0.1:7070";
  std::string metrics;
  int gateways = 62;
  int sensors = 500;
  int provinces = 31;
  int subscribers = 1000;
  double rate = 0;
  size_t window = 8;
  int alarm_every = 50;
  std::chrono::milliseconds duration{20'000};
  bool do_register = false;
  bool lockstep = false;
};

// Alarm readings carry their send time: 100 + (microseconds mod 1e8) / 1000.
constexpr double kEncodedBase = 100;
constexpr int64_t kWrapUs = 100'000'000;

int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
double EncodeSend(int64_t us) { return kEncodedBase + static_cast<double>(us % kWrapUs) / 1000.0; }
double LatencyMs(double value, int64_t now_us) {
  const auto sent = static_cast<int64_t>(std::llround((value - kEncodedBase) * 1000.0));
  return static_cast<double>(((now_us % kWrapUs) - sent + kWrapUs) % kWrapUs) / 1000.0;
}

std::string Region(const Flags& f, int g) {
  return std::string(kProvinces[g % f.provinces]) + "0101";
}

bool Register(const Flags& f, const std::shared_ptr<grpc::Channel>& channel) {
  v1::ApplyRegistryRequest request;
  v1::Registry* r = request.mutable_upsert();
  for (int g = 0; g < f.gateways; ++g) {
    v1::Enterprise* e = r->add_enterprises();
    e->set_id("ae-" + std::to_string(g));
    e->set_name("Plant " + std::to_string(g));
    e->set_kind(v1::ENTERPRISE_KIND_HAZARDOUS_CHEMICAL);
    e->set_region_code(Region(f, g));
    v1::Gateway* gw = r->add_gateways();
    gw->set_id("agw-" + std::to_string(g));
    gw->set_enterprise_id(e->id());
    for (int s = 0; s < f.sensors; ++s) {
      v1::Sensor* sensor = r->add_sensors();
      sensor->set_id("at-" + std::to_string(g) + "-" + std::to_string(s));
      sensor->set_enterprise_id(e->id());
      sensor->set_quantity("temperature");
      sensor->set_unit("degC");
    }
  }
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(5));
  v1::ApplyRegistryResponse response;
  grpc::Status s = v1::RegistryAdmin::NewStub(channel)->ApplyRegistry(&context, request, &response);
  if (!s.ok()) {
    std::fprintf(stderr, "vigil-alarm-load: register: %s\n", s.error_message().c_str());
    return false;
  }
  v1::ApplyRulesRequest rules;
  rules.set_rules_yaml(R"(rules:
  - id: alarm-load-temperature
    select: { quantity: temperature, enterprise_kind: hazardous_chemical }
    levels:
      h: { value: 50, severity: 2 }
    no_data: off
    sensor_fault: off
)");
  grpc::ClientContext rules_context;
  rules_context.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(1));
  v1::ApplyRulesResponse applied;
  s = v1::RulesAdmin::NewStub(channel)->ApplyRules(&rules_context, rules, &applied);
  if (!s.ok()) {
    std::fprintf(stderr, "vigil-alarm-load: rules: %s\n", s.error_message().c_str());
    return false;
  }
  return true;
}

// One command center's stream: records the latency of every raised alarm
// whose reading carries a send time. Callback API: no thread per stream.
class Subscriber final : public grpc::ClientReadReactor<v1::AlarmStreamMessage> {
 public:
  Subscriber(v1::Alarms::Stub* stub, const std::string& prefix) {
    v1::SubscribeRequest request;
    request.mutable_filter()->set_region_prefix(prefix);
    context_.set_wait_for_ready(true);
    stub->async()->Subscribe(&context_, &request, this);
    StartRead(&message_);
    StartCall();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    if (message_.has_snapshot()) connected_ = true;
    if (message_.has_event()) {
      const v1::AlarmEvent& e = message_.event();
      if (e.kind() == v1::ALARM_EVENT_KIND_RAISED && e.value() >= kEncodedBase && measuring_) {
        latencies_.push_back(LatencyMs(e.value(), NowUs()));
      }
    }
    StartRead(&message_);
  }
  void OnDone(const grpc::Status& /*status*/) override {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
    cv_.notify_all();
  }
  void Cancel() { context_.TryCancel(); }
  void WaitDone() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(10), [this] { return done_; });
  }
  bool connected() const { return connected_; }
  void Measure(bool on) { measuring_ = on; }
  // After WaitDone only.
  const std::vector<double>& latencies() const { return latencies_; }

 private:
  grpc::ClientContext context_;
  v1::AlarmStreamMessage message_;
  std::vector<double> latencies_;  // reaction thread only
  std::atomic<bool> connected_{false};
  std::atomic<bool> measuring_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
};

struct Counters {
  std::atomic<uint64_t> readings{0};
  std::atomic<uint64_t> raised{0};
  std::atomic<bool> failed{false};
};

// One gateway: a stream with `window` batches in flight, paced to its share
// of the rate, until `stop`.
void Gateway(const Flags& f, int g, const std::atomic<bool>& stop, const std::atomic<bool>& measure,
             Counters& counters) {
  auto channel = NewConnection(f.target);
  auto stub = v1::Ingest::NewStub(channel);
  grpc::ClientContext context;
  // As a field gateway would: a connection attempt that fails (the server
  // busy draining the previous phase) is retried, not a failed run.
  context.set_wait_for_ready(true);
  auto stream = stub->Stream(&context);
  const double batches_per_s = f.rate > 0 ? f.rate / (f.gateways * f.sensors) : 0;
  const auto period = batches_per_s > 0 ? std::chrono::duration<double>(1.0 / batches_per_s)
                                        : std::chrono::duration<double>(0);
  std::vector<bool> high(static_cast<size_t>(f.sensors), false);
  std::vector<int> in_flight;  // readings per batch in flight
  const int64_t t0 = WallNowMs() - 600'000;
  uint64_t seq = 0;
  auto next = Clock::now();
  v1::IngestBatch batch;
  batch.set_gateway_id("agw-" + std::to_string(g));
  batch.set_epoch(static_cast<uint64_t>(WallNowMs()));
  for (int s = 0; s < f.sensors; ++s) {
    batch.add_series()->set_sensor_id("at-" + std::to_string(g) + "-" + std::to_string(s));
  }
  while (!stop) {
    while (in_flight.size() < f.window && !stop) {
      if (period.count() > 0) {
        std::this_thread::sleep_until(next);
        next += std::chrono::duration_cast<Clock::duration>(period);
      }
      ++seq;
      batch.set_sequence(seq);
      const int64_t at = t0 + static_cast<int64_t>(seq);  // increasing per sensor
      const uint64_t phased = f.lockstep ? seq : seq + static_cast<uint64_t>(g);
      const bool flip = phased % static_cast<uint64_t>(f.alarm_every) == 0;
      const auto sensors = static_cast<size_t>(f.sensors);
      const size_t hot = flip ? (phased / static_cast<uint64_t>(f.alarm_every)) % sensors : sensors;
      for (size_t s = 0; s < sensors; ++s) {
        v1::Series* series = batch.mutable_series(static_cast<int>(s));
        series->clear_timestamps_ms();
        series->clear_values();
        series->add_timestamps_ms(at);
        double value = high[s] ? 60 : 20;
        if (s == hot) {
          high[s] = !high[s];
          value = high[s] ? EncodeSend(NowUs()) : 20;
          if (high[s] && measure) counters.raised.fetch_add(1);
        }
        series->add_values(value);
      }
      if (!stream->Write(batch)) {
        const grpc::Status status = stream->Finish();
        if (!stop) {
          counters.failed = true;
          std::fprintf(stderr, "vigil-alarm-load: gateway %d: %s\n", g,
                       status.error_message().c_str());
        }
        return;
      }
      in_flight.push_back(f.sensors);
    }
    v1::IngestAck ack;
    if (!stream->Read(&ack)) {
      const grpc::Status status = stream->Finish();
      if (!stop) {
        counters.failed = true;
        std::fprintf(stderr, "vigil-alarm-load: gateway %d: %s\n", g,
                     status.error_message().c_str());
      }
      return;
    }
    if (measure) counters.readings.fetch_add(ack.stored_readings());
    in_flight.erase(in_flight.begin());
  }
  // Leave no alarm raised: the next run starts with every sensor normal and
  // would otherwise clear them all in its first batch, a flood of events that
  // its subscribers would be measured behind.
  if (std::find(high.begin(), high.end(), true) != high.end()) {
    batch.set_sequence(++seq);
    for (int s = 0; s < f.sensors; ++s) {
      v1::Series* series = batch.mutable_series(s);
      series->clear_timestamps_ms();
      series->clear_values();
      series->add_timestamps_ms(t0 + static_cast<int64_t>(seq));
      series->add_values(20);
    }
    (void)stream->Write(batch);
  }
  stream->WritesDone();
  v1::IngestAck ack;
  while (stream->Read(&ack)) {
  }
  (void)stream->Finish();
}

// What the load reads off the server's /metrics before and after its phase.
struct ServerFigures {
  // Cumulative counts by bound: reading received -> journaled, journaled ->
  // written to a subscriber's stream, and batch received -> in the WAL.
  std::map<double, double> journal;
  std::map<double, double> delivery;
  std::map<double, double> durable;
  double cpu_seconds = 0;  // process_cpu_seconds_total
};

// The buckets of histogram `name` in the exposition `text`.
std::map<double, double> HistogramBuckets(const std::string& text, const std::string& name) {
  std::map<double, double> buckets;
  const std::string prefix = name + "_bucket{le=\"";
  for (size_t at = text.find(prefix); at != std::string::npos; at = text.find(prefix, at + 1)) {
    const size_t le = at + prefix.size();
    const size_t end = text.find('"', le);
    const std::string bound = text.substr(le, end - le);
    const double value = std::stod(text.substr(text.find(' ', end) + 1));
    buckets[bound == "+Inf" ? INFINITY : std::stod(bound)] = value;
  }
  return buckets;
}

ServerFigures ScrapeServer(const std::string& address) {
  ServerFigures figures;
  const size_t colon = address.rfind(':');
  if (address.empty() || colon == std::string::npos) return figures;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
  if (inet_pton(AF_INET, address.substr(0, colon).c_str(), &addr.sin_addr) != 1) return figures;
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return figures;
  timeval timeout{.tv_sec = 10, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  std::string text;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string request = "GET /metrics HTTP/1.0\r\nHost: " + address + "\r\n\r\n";
    if (send(fd, request.data(), request.size(), 0) == static_cast<ssize_t>(request.size())) {
      char buf[8192];
      for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;)
        text.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  figures.journal = HistogramBuckets(text, "vigil_alarm_journal_latency_seconds");
  figures.delivery = HistogramBuckets(text, "vigil_alarm_delivery_latency_seconds");
  figures.durable = HistogramBuckets(text, "vigil_ingest_durable_latency_seconds");
  const std::string cpu = "\nprocess_cpu_seconds_total ";
  if (const size_t at = text.find(cpu); at != std::string::npos) {
    figures.cpu_seconds = std::stod(text.substr(at + cpu.size()));
  }
  return figures;
}

// The p-quantile of the difference of two cumulative histograms, linear
// within a bucket; ms.
double HistogramQuantileMs(const std::map<double, double>& before,
                           const std::map<double, double>& after, double p) {
  std::vector<std::pair<double, double>> cumulative;  // (bound, count)
  for (const auto& [bound, count] : after) {
    auto it = before.find(bound);
    cumulative.emplace_back(bound, count - (it == before.end() ? 0 : it->second));
  }
  if (cumulative.empty() || cumulative.back().second <= 0) return 0;
  const double rank = p * cumulative.back().second;
  double lower = 0;
  double below = 0;
  for (const auto& [bound, count] : cumulative) {
    if (count >= rank) {
      if (std::isinf(bound)) return lower * 1000;
      const double within = count > below ? (rank - below) / (count - below) : 0;
      return (lower + (bound - lower) * within) * 1000;
    }
    lower = bound;
    below = count;
  }
  return lower * 1000;
}

int Run(const Flags& f) {
  auto channel = NewConnection(f.target);
  if (f.do_register && !Register(f, channel)) return 1;
  // Subscribers over a few connections.
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<v1::Alarms::Stub>> stubs;
  for (int i = 0; i < 4; ++i) {
    channels.push_back(NewConnection(f.target));
    stubs.push_back(v1::Alarms::NewStub(channels.back()));
  }
  std::vector<std::unique_ptr<Subscriber>> subscribers;
  subscribers.reserve(static_cast<size_t>(f.subscribers));
  for (size_t i = 0; i < static_cast<size_t>(f.subscribers); ++i) {
    subscribers.push_back(std::make_unique<Subscriber>(
        stubs[i % stubs.size()].get(), kProvinces[i % static_cast<size_t>(f.provinces)]));
  }
  const auto connect_deadline = Clock::now() + std::chrono::seconds(30);
  while (Clock::now() < connect_deadline &&
         !std::all_of(subscribers.begin(), subscribers.end(),
                      [](const auto& s) { return s->connected(); })) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  size_t connected = 0;
  for (const auto& s : subscribers) connected += s->connected() ? 1 : 0;

  std::atomic<bool> stop{false};
  std::atomic<bool> measure{false};
  Counters counters;
  std::vector<std::thread> gateways;
  gateways.reserve(static_cast<size_t>(f.gateways));
  for (int g = 0; g < f.gateways; ++g) {
    gateways.emplace_back(Gateway, std::cref(f), g, std::cref(stop), std::cref(measure),
                          std::ref(counters));
  }
  std::this_thread::sleep_for(std::chrono::seconds(2));  // warm-up
  const ServerFigures before = ScrapeServer(f.metrics);
  const double loader_cpu_before = OwnCpuSeconds();
  for (auto& s : subscribers) s->Measure(true);
  measure = true;
  WakeupProbe probe;
  probe.Start();
  const auto start = Clock::now();
  std::this_thread::sleep_for(f.duration);
  measure = false;
  probe.Stop();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const uint64_t readings = counters.readings.load();
  std::this_thread::sleep_for(std::chrono::seconds(1));  // the last alarms reach their subscribers
  for (auto& s : subscribers) s->Measure(false);
  const ServerFigures after = ScrapeServer(f.metrics);
  const double loader_cpu = OwnCpuSeconds() - loader_cpu_before;
  stop = true;
  for (auto& t : gateways) t.join();
  std::vector<double> latencies;
  for (auto& s : subscribers) {
    s->Cancel();
    s->WaitDone();
    latencies.insert(latencies.end(), s->latencies().begin(), s->latencies().end());
  }
  std::sort(latencies.begin(), latencies.end());
  PrintFigure("ingest_readings_per_s", static_cast<double>(readings) / seconds, "readings/s", 0);
  PrintCount("subscribers_connected", connected, "streams");
  PrintCount("alarm_events_raised", counters.raised.load(), "alarms");
  PrintCount("alarm_deliveries", latencies.size(), "deliveries");
  PrintFigure("delivery_latency_p50_ms", Quantile(latencies, 0.5), "ms", 3);
  PrintFigure("delivery_latency_p99_ms", Quantile(latencies, 0.99), "ms", 3);
  PrintFigure("delivery_latency_max_ms", Quantile(latencies, 1.0), "ms", 3);
  if (!f.metrics.empty()) {
    PrintFigure("journal_latency_p50_ms", HistogramQuantileMs(before.journal, after.journal, 0.5),
                "ms", 3);
    PrintFigure("journal_latency_p99_ms", HistogramQuantileMs(before.journal, after.journal, 0.99),
                "ms", 3);
    // The first leg of journal_latency: every batch received -> in the WAL.
    PrintFigure("durable_latency_p50_ms", HistogramQuantileMs(before.durable, after.durable, 0.5),
                "ms", 3);
    PrintFigure("durable_latency_p99_ms", HistogramQuantileMs(before.durable, after.durable, 0.99),
                "ms", 3);
    // Issue 4's figure: journaled -> written to each subscriber, server side.
    PrintFigure("journaled_to_delivered_p50_ms",
                HistogramQuantileMs(before.delivery, after.delivery, 0.5), "ms", 3);
    PrintFigure("journaled_to_delivered_p99_ms",
                HistogramQuantileMs(before.delivery, after.delivery, 0.99), "ms", 3);
    // Server CPU per reading, whatever the client costs on the same machine.
    PrintFigure("server_cpu_us_per_reading",
                readings > 0
                    ? (after.cpu_seconds - before.cpu_seconds) * 1e6 / static_cast<double>(readings)
                    : 0,
                "us", 3);
  }
  PrintFigure("loader_cpu_us_per_reading",
              readings > 0 ? loader_cpu * 1e6 / static_cast<double>(readings) : 0, "us", 3);
  probe.Print();
  if (counters.failed) {
    std::fprintf(stderr, "vigil-alarm-load: a gateway stream failed\n");
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace vigil::bench

int main(int argc, char** argv) {
  using namespace vigil::bench;
  Flags f;
  CommandLine cli("vigil-alarm-load", kUsage);
  cli.Switch("--register", &f.do_register);
  cli.Switch("--lockstep", &f.lockstep);
  cli.Text("--target", &f.target);
  cli.Text("--metrics", &f.metrics);
  cli.Number("--gateways", &f.gateways, 1);
  cli.Number("--sensors-per-gateway", &f.sensors, 1);
  cli.Number("--provinces", &f.provinces, 1, 31);
  cli.Number("--subscribers", &f.subscribers, 0);
  cli.Number("--rate", &f.rate, 0.0);
  cli.Number<size_t>("--window", &f.window, 1);
  cli.Number("--alarm-every", &f.alarm_every, 1);
  cli.Duration("--duration", &f.duration, std::chrono::milliseconds(1));
  if (const int rc = cli.Parse(argc, argv); rc >= 0) return rc;
  return Run(f);
}
