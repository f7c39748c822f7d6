// vigil-sim: "a province in a box". Writes the registry and rules of a
// simulated province of hazardous-chemical plants, coal mines and tailings
// dams; streams its readings, with injected events, to vigild like real
// gateways (in real or compressed time); writes the ground truth of the alarms
// those events must cause; and compares the alarm transitions the server
// reports on its alarm stream (or a file of them) with it. Figures go to
// stdout as `name value unit`, the rest to stderr.
#include <atomic>
#include <cctype>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

#include "bench/common/cli.h"
#include "bench/common/flags.h"
#include "bench/sim/alarm_stream.h"
#include "bench/sim/checker.h"
#include "bench/sim/gateway_client.h"
#include "bench/sim/ground_truth.h"
#include "bench/sim/province.h"
#include "bench/sim/scenario.h"

namespace vigil::sim {
namespace {

using bench::ParseNumber;
using bench::WallNowMs;
using std::chrono::milliseconds;

constexpr std::string_view kUsage = R"(usage: vigil-sim [flags]

A simulated province: enterprises of three kinds (hazardous chemicals, coal
mine, tailings dam), each behind its gateway, with the sensors such sites have.

Province (the same flags give the same province, readings and events):
  --seed S                     Default: 1
  --enterprises N              in turn chemical, coal mine, tailings. Default: 30
  --province CODE              2-digit GB/T 2260 province code. Default: 37

Files:
  --write-registry FILE        the registry (server/config/registry_yaml.h format)
  --write-rules FILE           the alarm rules (server/config/rules_yaml.h format)
  --write-ground-truth FILE    the alarms the scenario must cause (bench/sim/ground_truth.h);
                               written before streaming starts

Scenario:
  --duration D                 simulated time, e.g. 6h, 90m, 2d. Default: 6h
  --speed X                    simulated seconds per wall second; 1 = real time. Default: 60
  --start-ms T                 simulated start, ms since the Unix epoch; 0 = so that the run
                               ends now (real time: starts now). Default: 0
  --events LIST                event kinds, comma-separated: gas_rise, slow_drift, chatter,
                               freeze, broken_instrument, gateway_outage,
                               tank_temperature_rise; all = every kind. Default: all
  --events-per-enterprise N    Default: 1
  --spread-events              spread each enterprise's events over the duration instead of
                               one right after another
  --batch-period D             simulated time per gateway batch; 0 = max(1s, speed x 100ms)
  --gateway-offline-after D    the rules' gateway_offline.after (server clock): a gateway
                               silent this long raises one alarm, and its sensors' no-data
                               is suppressed meanwhile; 0 = no gateway rule. Default: 60s

Streaming (with --target):
  --target HOST:PORT           stream to this vigild; first subscribe to its alarm stream
                               (vigil.v1.Alarms/Subscribe), then compare every transition
                               it reports with the ground truth and print the checker's figures
  --register                   first register the province via RegistryAdmin.ApplyRegistry
  --window W                   unacked batches in flight per stream. Default: 8
  --drain-timeout D            wait for the last acks, and for the alarm stream to pass the
                               run's end. Default: 30s
  --read-back                  afterwards ReadRaw every sensor and compare with the scenario
  --watch                      print every alarm event on stderr as it comes, one line each
  --write-observed FILE        the transitions the stream reported, one `at_ms source alarm
                               transition level severity` line each (input of --check)
  --token-file FILE            bearer token for the alarm stream, for a server with
                               auth.tokens (default: $VIGIL_TOKEN; none: no token)
  --ca-file FILE               connect with TLS, trusting the CA certificates in FILE (PEM;
                               default: $VIGIL_CA_FILE; none: plaintext). The simulated
                               gateways send no identity: a server with authentication on
                               refuses them
  --no-check                   stream only: no alarm stream, no check
  Ctrl-C (SIGINT) or SIGTERM stops making batches: what was made is delivered, and the
  check covers the simulated time lived so far. A second one ends at once.

Checking offline:
  --check FILE                 compare the alarm transitions in FILE (vigild's log lines
                               `event=alarm ...`, or `at_ms source alarm transition level
                               severity` lines as --write-observed writes them) with
                               --ground-truth FILE; print the figures
  --ground-truth FILE          the ground truth to check against
  --tolerance D                slack around expected windows, wall time. Default: 2s

  --digest                     print the digest of every reading (determinism check)
  --help                       this text

Exit status: 0 ok; 1 a stream failed, a reading was rejected or lost, the alarm stream
failed or fell behind, or the check found missed, extra or chattering alarms; 2 usage or
file error.
)";

struct Flags {
  ProvinceOptions province;
  std::string registry_file;
  std::string rules_file;
  std::string ground_truth_out;
  milliseconds duration{6 * 3'600'000};
  double speed = 60;
  int64_t start_ms = 0;
  std::vector<EventKind> events;
  uint32_t events_per_enterprise = 1;
  bool spread_events = false;
  milliseconds batch_period{0};
  std::string target;
  bool do_register = false;
  uint32_t window = 8;
  milliseconds drain_timeout{30'000};
  bool read_back = false;
  bool no_check = false;
  bool watch = false;
  std::string token_file;
  std::string observed_out;
  std::string check_file;
  std::string ground_truth_in;
  milliseconds tolerance{2000};
  bool digest = false;
};

bool ParseEvents(std::string_view list, std::vector<EventKind>* out) {
  out->clear();
  if (list == "all") return true;
  while (!list.empty()) {
    const size_t comma = list.find(',');
    auto kind = EventKindFromName(list.substr(0, comma));
    if (!kind) return false;
    out->push_back(*kind);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
  }
  return !out->empty();
}

// Returns -1 to go on, or the exit status (0 after --help, 2 on a usage error).
int ParseFlags(int argc, char** argv, Flags* f) {
  bench::CommandLine cli("vigil-sim", std::string(kUsage));
  cli.Switch("--register", &f->do_register);
  cli.Switch("--read-back", &f->read_back);
  cli.Switch("--digest", &f->digest);
  cli.Switch("--no-check", &f->no_check);
  cli.Switch("--watch", &f->watch);
  cli.Switch("--spread-events", &f->spread_events);
  cli.Number<uint64_t>("--seed", &f->province.seed);
  cli.Number<uint32_t>("--enterprises", &f->province.enterprises, 1);
  cli.Custom("--province", [f](const std::string& value) {
    f->province.province_code = value;
    return value.size() == 2 && value.find_first_not_of("0123456789") == std::string::npos
               ? std::string()
               : "must be a 2-digit province code like 37, got '" + value + "'";
  });
  cli.Text("--write-registry", &f->registry_file);
  cli.Text("--write-rules", &f->rules_file);
  cli.Text("--write-ground-truth", &f->ground_truth_out);
  cli.Duration("--duration", &f->duration, milliseconds(1));
  cli.Custom("--speed", [f](const std::string& value) {
    return ParseNumber(std::string_view(value), &f->speed) && f->speed > 0 && f->speed <= 1e6
               ? std::string()
               : "must be a number in (0, 1e6], got '" + value + "'";
  });
  cli.Number<int64_t>("--start-ms", &f->start_ms, 0);
  cli.Custom("--events", [f](const std::string& value) {
    return ParseEvents(value, &f->events)
               ? std::string()
               : "must be 'all' or a comma-separated list of event kinds, got '" + value + "'";
  });
  cli.Number<uint32_t>("--events-per-enterprise", &f->events_per_enterprise);
  cli.Duration("--batch-period", &f->batch_period);
  cli.Duration("--gateway-offline-after", &f->province.gateway_offline_after);
  cli.Text("--target", &f->target);
  cli.Number<uint32_t>("--window", &f->window, 1);
  cli.Duration("--drain-timeout", &f->drain_timeout);
  cli.Text("--token-file", &f->token_file);
  cli.Custom("--ca-file", [](const std::string& value) {
    // Every connection reads it (bench/common/channel.h).
    std::ifstream in{value};
    return in.good() && setenv("VIGIL_CA_FILE", value.c_str(), 1) == 0
               ? std::string()
               : "cannot read '" + value + "'";
  });
  cli.Text("--write-observed", &f->observed_out);
  cli.Text("--check", &f->check_file);
  cli.Text("--ground-truth", &f->ground_truth_in);
  cli.Duration("--tolerance", &f->tolerance);
  if (const int rc = cli.Parse(argc, argv); rc >= 0) return rc;
  if (f->watch && f->no_check) {
    std::fprintf(stderr, "vigil-sim: --watch needs the alarm stream: drop --no-check\n");
    return 2;
  }
  return -1;
}

bool WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) std::fprintf(stderr, "vigil-sim: cannot write %s\n", path.c_str());
  return static_cast<bool>(out);
}

bool ReadFile(const std::string& path, std::string* text) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "vigil-sim: cannot read %s\n", path.c_str());
    return false;
  }
  text->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return true;
}

bool Report(const CheckReport& report);

int Check(const Flags& f) {
  std::string truth_text;
  std::string observed_text;
  if (f.ground_truth_in.empty()) {
    std::fprintf(stderr, "vigil-sim: --check needs --ground-truth FILE\n");
    return 2;
  }
  if (!ReadFile(f.ground_truth_in, &truth_text) || !ReadFile(f.check_file, &observed_text)) {
    return 2;
  }
  GroundTruth truth;
  std::string error;
  if (!ParseGroundTruth(truth_text, &truth, &error)) {
    std::fprintf(stderr, "vigil-sim: %s: %s\n", f.ground_truth_in.c_str(), error.c_str());
    return 2;
  }
  const std::vector<ObservedTransition> observed = ParseObserved(observed_text);
  const CheckReport report = CheckAlarms(truth, observed, CheckOptions{.tolerance = f.tolerance});
  return Report(report) ? 0 : 1;
}

// Set by the first SIGINT or SIGTERM while streaming: stop making batches,
// deliver what was made, check what was lived. A second one ends at once.
std::atomic<bool> g_stop{false};

extern "C" void OnStopSignal(int signal_number) {
  g_stop.store(true);
  std::signal(signal_number, SIG_DFL);
}

// The checker's findings on stderr, its figures on stdout. True when nothing
// was missed, extra or chattering.
bool Report(const CheckReport& report) {
  for (const std::string& finding : report.findings) {
    std::fprintf(stderr, "vigil-sim: %s\n", finding.c_str());
  }
  std::fputs(FormatCheckReport(report).c_str(), stdout);
  return report.missed == 0 && report.extra == 0 && report.chattering == 0;
}

int Run(const Flags& f) {
  if (!f.check_file.empty()) return Check(f);
  const Province province = BuildProvince(f.province);
  if (!f.registry_file.empty() && !WriteFile(f.registry_file, RegistryYaml(province))) return 2;
  if (!f.rules_file.empty() && !WriteFile(f.rules_file, RulesYaml(province))) return 2;
  const bool streaming = !f.target.empty();
  if (!streaming && f.ground_truth_out.empty() && !f.digest) return 0;

  if (streaming && f.do_register) {
    std::string error;
    if (!RegisterProvince(province, f.target, &error)) {
      std::fprintf(stderr, "vigil-sim: %s: %s\n", f.target.c_str(), error.c_str());
      return 1;
    }
  }
  // Subscribed before the first batch, so that every transition it causes is seen.
  std::unique_ptr<AlarmStream> alarms;
  if (streaming && !f.no_check) {
    AlarmStreamOptions options{.target = f.target};
    if (!f.token_file.empty()) {
      if (!ReadFile(f.token_file, &options.token)) return 2;
      while (!options.token.empty() &&
             std::isspace(static_cast<unsigned char>(options.token.back()))) {
        options.token.pop_back();
      }
    } else if (const char* token = std::getenv("VIGIL_TOKEN"); token != nullptr) {
      options.token = token;
    }
    if (f.watch) {
      options.on_line = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
      options.print_snapshot = true;
    }
    alarms = std::make_unique<AlarmStream>(std::move(options));
    std::string error;
    if (!alarms->Start(f.drain_timeout, &error)) {
      std::fprintf(stderr, "vigil-sim: alarm stream: %s (--no-check streams without it)\n",
                   error.c_str());
      return 1;
    }
  }

  // Simulated time: by default it ends when the run ends (the server accepts
  // nothing later than now + 5 min); simulated time s is lived at wall time
  // wall_start + (s - start) / speed.
  constexpr int64_t kDayMs = 86'400'000;
  constexpr int64_t kMaxAheadMs = int64_t{4} * 60'000;  // the server allows 5 min
  const int64_t duration = f.duration.count();
  const auto wall_duration = static_cast<int64_t>(static_cast<double>(duration) / f.speed);
  // Planned now, set once the ground truth is worked out (which takes a few
  // seconds for a large province), so that streaming starts on time.
  TimestampMs wall_start = (WallNowMs() / 1000 + 2) * 1000;
  const TimestampMs start =
      f.start_ms != 0 ? f.start_ms : (wall_start - duration + wall_duration) / 1000 * 1000;
  if (streaming && (start < WallNowMs() - 89 * kDayMs ||
                    start + duration > wall_start + wall_duration + kMaxAheadMs)) {
    std::fprintf(stderr,
                 "vigil-sim: simulated time must stay within the server's window (90 days "
                 "back, 5 min ahead): shorten --duration or raise --speed\n");
    return 2;
  }
  const Scenario scenario(province, {.start_ms = start,
                                     .duration = f.duration,
                                     .speed = f.speed,
                                     .batch_period = f.batch_period,
                                     .event_kinds = f.events,
                                     .events_per_enterprise = f.events_per_enterprise,
                                     .spread_events = f.spread_events});
  bench::PrintCount("enterprises", province.enterprises.size(), "enterprises");
  bench::PrintCount("sensors", province.sensors.size(), "sensors");
  bench::PrintCount("events", scenario.events().size(), "events");
  bench::PrintCount("events_skipped", scenario.skipped_events(), "events");
  bench::PrintCount("start_ms", static_cast<uint64_t>(start), "ms");
  bench::PrintCount("batch_period_ms", static_cast<uint64_t>(scenario.batch_period().count()),
                    "ms");
  if (f.digest) {
    std::printf("readings_digest %016llx hex\n",
                static_cast<unsigned long long>(ReadingsDigest(scenario)));
  }
  std::optional<GroundTruth> truth;
  if (!f.ground_truth_out.empty() || alarms) {
    truth = ComputeGroundTruth(scenario, wall_start);
    // Simulated time maps to wall time from here on: starting later than
    // planned only moves the mapping (readings stay in the server's window).
    wall_start = std::max(wall_start, (WallNowMs() / 1000 + 1) * 1000);
    truth->clock.wall_start = wall_start;
    if (!f.ground_truth_out.empty() && !WriteFile(f.ground_truth_out, FormatGroundTruth(*truth))) {
      return 2;
    }
    bench::PrintCount("alarms_planned", truth->expectations.size(), "alarms");
  }
  std::fflush(stdout);
  if (!streaming) return 0;

  std::signal(SIGINT, OnStopSignal);
  std::signal(SIGTERM, OnStopSignal);
  StreamOptions stream;
  stream.target = f.target;
  stream.wall_start = wall_start;
  stream.window = f.window;
  stream.drain_timeout = f.drain_timeout;
  stream.stop = &g_stop;
  const StreamResult result = StreamScenario(scenario, stream);
  std::fputs(FormatStreamResult(result).c_str(), stdout);
  bool ok = result.complete();
  const bool cut = result.sim_end < scenario.end();
  if (cut) {
    bench::PrintCount("sim_stopped_at_ms", static_cast<uint64_t>(result.sim_end), "ms");
  }
  if (f.read_back && cut) {
    std::fprintf(stderr, "vigil-sim: stopped early: no read back\n");
  } else if (f.read_back) {
    const ReadBackResult back = ReadBack(scenario, f.target);
    for (const std::string& problem : back.problems) {
      std::fprintf(stderr, "vigil-sim: read back %s\n", problem.c_str());
    }
    bench::PrintCount("read_back_sensors", back.sensors, "sensors");
    bench::PrintCount("read_back_readings", back.readings, "readings");
    bench::PrintCount("read_back_bad_sensors", back.bad_sensors, "sensors");
    ok = ok && back.bad_sensors == 0 && back.readings == back.readings_expected;
  }
  if (alarms) {
    // Every transition of the run's time is in once the stream shows a
    // server time past its end (and the tolerance): the shards evaluate each
    // batch within milliseconds of its ack.
    const GroundTruth checked = cut ? CutGroundTruth(*truth, result.sim_end) : *truth;
    const TimestampMs until =
        checked.clock.ToWall(checked.clock.sim_end) + f.tolerance.count() + 1000;
    const bool caught_up = alarms->WaitForServerTime(until, f.drain_timeout);
    alarms->Stop();
    if (!caught_up) {
      std::fprintf(stderr, "vigil-sim: the alarm stream did not reach the run's end\n");
    }
    const std::vector<ObservedTransition> observed = alarms->Transitions();
    if (!f.observed_out.empty()) {
      std::string text;
      for (const ObservedTransition& t : observed) text += FormatObserved(t) + "\n";
      if (!WriteFile(f.observed_out, text)) ok = false;
    }
    std::fputs(FormatAlarmStreamStats(alarms->stats()).c_str(), stdout);
    bench::PrintCount("alarm_stream_caught_up", caught_up ? 1 : 0, "bool");
    const CheckReport report =
        CheckAlarms(checked, observed, CheckOptions{.tolerance = f.tolerance});
    ok = Report(report) && caught_up && ok;
  }
  std::fflush(stdout);
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace vigil::sim

int main(int argc, char** argv) {
  vigil::sim::Flags flags;
  if (int rc = vigil::sim::ParseFlags(argc, argv, &flags); rc >= 0) return rc;
  return vigil::sim::Run(flags);
}
