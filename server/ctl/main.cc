// vigilctl: operator command line for a running vigild, through the public
// gRPC API only (vigil.v1 and grpc.health.v1).
//
//   vigilctl [--server HOST:PORT] backup DIR
//   vigilctl [--server HOST:PORT] health
//   vigilctl [--server HOST:PORT] registry
//   vigilctl [--server HOST:PORT] readings SENSOR [--since 1h] [--until 0s] [--step 1m |
//            --max-points N] [--origin 0s] [--csv]
//   vigilctl [--server HOST:PORT] latest (--enterprise ID | SENSOR...) [--csv]
//
// Exit codes: 0 ok, 1 the RPC failed (code and message printed), 2 bad usage.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "vigil/v1/admin.grpc.pb.h"
#include "vigil/v1/query.grpc.pb.h"
#include "vigil/v1/registry.grpc.pb.h"

namespace {

constexpr char kDefaultServer[] = "127.0.0.1:7070";
constexpr int kExitOk = 0;
constexpr int kExitRpcError = 1;
constexpr int kExitUsage = 2;

constexpr char kUsage[] =
    R"(usage: vigilctl [--server HOST:PORT] COMMAND [ARGS]

Commands:
  backup DIR   Write a consistent copy of the live database into DIR, a new
               folder on the SERVER's machine (a relative DIR is made absolute
               against this shell's current folder, which is only right when
               vigilctl runs on the server's machine). DIR must not exist.
               Restore: vigild --data-dir DIR.
  health       Print the server's grpc.health.v1 status (SERVING, NOT_SERVING).
  registry     Print the registry (enterprises, sensors, gateways) as YAML, in
               the registry file format (deploy/registry.yaml).
  readings SENSOR
               Print a sensor's readings from now - since to now - until: raw
               (time value quality), or with --step / --max-points one line
               per step (start count min max avg last). Times are UTC.
      --since D       how far back to start (default 1h)
      --until D       how far back to stop (default 0s: now)
      --step D        step length; steps start at multiples of it since the
                      origin (steps of 5m and more use the stored 5-minute
                      statistics; beyond the raw retention only those work)
      --max-points N  instead of --step: the smallest round step giving at
                      most N steps
      --origin D      step alignment after 1970-01-01T00:00Z (default 0s; -8h
                      aligns days to midnight in China)
  latest --enterprise ID | latest SENSOR...
               Print the latest value of every sensor of an enterprise, or of
               the sensors named: time value quality and open alarms
               (kind/level/state/severity).

Options:
  --server HOST:PORT   vigild's gRPC address (default 127.0.0.1:7070)
  --csv                readings, latest: comma-separated, with a header line
  --help               this text

Durations D: an integer and ms, s, m, h or d (250ms, 30s, 5m, 1h, 90d); -D for
--origin.

Exit codes: 0 ok, 1 the call failed (gRPC code and message printed), 2 bad usage.
)";

int Usage(const std::string& error) {
  std::cerr << "vigilctl: " << error << "\n\n" << kUsage;
  return kExitUsage;
}

int RpcFailed(const char* what, const grpc::Status& status) {
  static constexpr const char* kNames[] = {"OK",
                                           "CANCELLED",
                                           "UNKNOWN",
                                           "INVALID_ARGUMENT",
                                           "DEADLINE_EXCEEDED",
                                           "NOT_FOUND",
                                           "ALREADY_EXISTS",
                                           "PERMISSION_DENIED",
                                           "RESOURCE_EXHAUSTED",
                                           "FAILED_PRECONDITION",
                                           "ABORTED",
                                           "OUT_OF_RANGE",
                                           "UNIMPLEMENTED",
                                           "INTERNAL",
                                           "UNAVAILABLE",
                                           "DATA_LOSS",
                                           "UNAUTHENTICATED"};
  const int code = static_cast<int>(status.error_code());
  const char* name =
      code >= 0 && code < static_cast<int>(std::size(kNames)) ? kNames[code] : "UNKNOWN_CODE";
  std::cerr << "vigilctl: " << what << " failed: " << name << " (" << code
            << "): " << status.error_message() << "\n";
  return kExitRpcError;
}

void SetDeadline(grpc::ClientContext* context, std::chrono::seconds timeout) {
  context->set_deadline(std::chrono::system_clock::now() + timeout);
}

int Backup(const std::shared_ptr<grpc::Channel>& channel, const std::string& dir_arg) {
  std::error_code ec;
  const std::filesystem::path dir = std::filesystem::absolute(dir_arg, ec).lexically_normal();
  if (ec) return Usage("cannot make '" + dir_arg + "' absolute: " + ec.message());
  auto stub = vigil::v1::Admin::NewStub(channel);
  vigil::v1::CreateBackupRequest request;
  request.set_dir(dir.string());
  vigil::v1::CreateBackupResponse response;
  grpc::ClientContext context;
  // A flush and file copies: allow for a large database.
  SetDeadline(&context, std::chrono::seconds(3600));
  const auto start = std::chrono::steady_clock::now();
  const grpc::Status status = stub->CreateBackup(&context, request, &response);
  if (!status.ok()) return RpcFailed("backup", status);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  std::cout << "backup created dir=" << response.dir() << " bytes=" << response.bytes()
            << " ms=" << ms << "\n";
  return kExitOk;
}

int Health(const std::shared_ptr<grpc::Channel>& channel) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  SetDeadline(&context, std::chrono::seconds(10));
  grpc::CompletionQueue queue;
  // HealthCheckRequest{service: ""} encodes to zero bytes.
  grpc::Slice empty;
  const grpc::ByteBuffer request(&empty, 1);
  auto call = stub.PrepareUnaryCall(&context, "/grpc.health.v1.Health/Check", request, &queue);
  call->StartCall();
  grpc::ByteBuffer response;
  grpc::Status status;
  call->Finish(&response, &status, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  queue.Next(&tag, &ok);
  queue.Shutdown();
  while (queue.Next(&tag, &ok)) {
  }
  if (!status.ok()) return RpcFailed("health", status);
  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok()) {
    return RpcFailed("health", grpc::Status(grpc::StatusCode::INTERNAL, "unreadable response"));
  }
  std::string bytes;
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  // HealthCheckResponse{status = 1}: field 1, varint. An absent field is 0.
  uint64_t value = 0;
  if (bytes.size() == 2 && bytes[0] == '\x08' && (bytes[1] & 0x80) == 0) {
    value = static_cast<uint8_t>(bytes[1]);
  } else if (!bytes.empty()) {
    return RpcFailed("health", grpc::Status(grpc::StatusCode::INTERNAL, "unexpected response"));
  }
  static constexpr const char* kNames[] = {"UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"};
  std::cout << (value < std::size(kNames) ? kNames[value] : "UNKNOWN") << "\n";
  return kExitOk;
}

// ---- registry as YAML (server/registry_yaml.h format) ----

bool NeedsQuotes(std::string_view s) {
  if (s.empty()) return true;
  if (s.front() == ' ' || s.back() == ' ') return true;
  for (char c : s) {
    if (std::string_view(":#{}[],&*!|>'\"%@`\\").find(c) != std::string_view::npos) return true;
    if (static_cast<unsigned char>(c) < 0x20) return true;
  }
  // Scalars YAML would read as something other than a string.
  static constexpr std::string_view kSpecial[] = {"true",  "false", "yes",  "no",    "on",   "off",
                                                  "null",  "~",     "True", "False", "Null", "TRUE",
                                                  "FALSE", "NULL",  "Yes",  "No"};
  for (std::string_view special : kSpecial) {
    if (s == special) return true;
  }
  const char first = s.front();
  return (first >= '0' && first <= '9') || first == '-' || first == '+' || first == '.' ||
         first == '?';
}

std::string Quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\x%02x", static_cast<unsigned char>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string Scalar(std::string_view s) { return NeedsQuotes(s) ? Quoted(s) : std::string(s); }

std::string KindName(vigil::v1::EnterpriseKind kind) {
  switch (kind) {
    case vigil::v1::ENTERPRISE_KIND_HAZARDOUS_CHEMICAL:
      return "hazardous_chemical";
    case vigil::v1::ENTERPRISE_KIND_COAL_MINE:
      return "coal_mine";
    case vigil::v1::ENTERPRISE_KIND_TAILINGS:
      return "tailings";
    case vigil::v1::ENTERPRISE_KIND_OTHER:
      return "other";
    default:
      return "unspecified";
  }
}

// As config.h FormatDuration: the largest unit that divides `ms` exactly.
std::string Duration(uint64_t ms) {
  struct Unit {
    uint64_t ms;
    const char* suffix;
  };
  static constexpr Unit kUnits[] = {
      {86'400'000, "d"}, {3'600'000, "h"}, {60'000, "m"}, {1000, "s"}};
  for (const Unit& unit : kUnits) {
    if (ms % unit.ms == 0) return std::to_string(ms / unit.ms) + unit.suffix;
  }
  return std::to_string(ms) + "ms";
}

std::string Number(double v) {
  std::ostringstream out;
  out.precision(17);
  out << v;
  return out.str();
}

void PrintRegistryYaml(const vigil::v1::Registry& registry, std::ostream& out) {
  out << "enterprises:";
  if (registry.enterprises().empty()) out << " []";
  out << "\n";
  for (const vigil::v1::Enterprise& e : registry.enterprises()) {
    out << "  - id: " << Scalar(e.id()) << "\n";
    if (!e.name().empty()) out << "    name: " << Scalar(e.name()) << "\n";
    out << "    kind: " << KindName(e.kind()) << "\n";
    out << "    region_code: " << Quoted(e.region_code()) << "\n";
  }
  out << "\nsensors:";
  if (registry.sensors().empty()) out << " []";
  out << "\n";
  for (const vigil::v1::Sensor& s : registry.sensors()) {
    out << "  - id: " << Scalar(s.id()) << "\n";
    out << "    enterprise: " << Scalar(s.enterprise_id()) << "\n";
    out << "    quantity: " << Scalar(s.quantity()) << "\n";
    out << "    unit: " << Scalar(s.unit()) << "\n";
    if (s.range_low() != 0 || s.range_high() != 0) {
      out << "    range: [" << Number(s.range_low()) << ", " << Number(s.range_high()) << "]\n";
    }
    if (s.expected_interval_ms() != 0) {
      out << "    expected_interval: " << Duration(s.expected_interval_ms()) << "\n";
    }
  }
  out << "\ngateways:";
  if (registry.gateways().empty()) out << " []";
  out << "\n";
  for (const vigil::v1::Gateway& g : registry.gateways()) {
    out << "  - id: " << Scalar(g.id()) << "\n";
    out << "    enterprise: " << Scalar(g.enterprise_id()) << "\n";
  }
}

int Registry(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = vigil::v1::RegistryAdmin::NewStub(channel);
  grpc::ClientContext context;
  SetDeadline(&context, std::chrono::seconds(60));
  vigil::v1::Registry registry;
  const grpc::Status status = stub->GetRegistry(&context, {}, &registry);
  if (!status.ok()) return RpcFailed("registry", status);
  PrintRegistryYaml(registry, std::cout);
  return kExitOk;
}

// ---- readings and latest ----

// "<integer><unit>", unit ms, s, m, h or d, optionally negative; nullopt
// when malformed or out of range.
std::optional<int64_t> ParseDurationMs(std::string_view text) {
  const bool negative = text.starts_with('-');
  if (negative) text.remove_prefix(1);
  const size_t digits = text.find_first_not_of("0123456789");
  if (digits == 0 || digits == std::string_view::npos) return std::nullopt;
  static constexpr std::pair<std::string_view, int64_t> kUnits[] = {
      {"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}};
  const std::string_view unit = text.substr(digits);
  for (const auto& [suffix, ms] : kUnits) {
    if (unit != suffix) continue;
    int64_t count = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + digits, count);
    if (ec != std::errc() || count > INT64_MAX / ms / 1000) return std::nullopt;
    return (negative ? -count : count) * ms;
  }
  return std::nullopt;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// ISO 8601 UTC with milliseconds: 2024-06-01T08:30:00.250Z.
std::string FormatTime(int64_t ms) {
  int64_t seconds = ms / 1000;
  int64_t millis = ms % 1000;
  if (millis < 0) {
    millis += 1000;
    --seconds;
  }
  const auto t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) return std::to_string(ms) + "ms";
  char buf[48];
  const size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof(buf) - n, ".%03dZ", static_cast<int>(millis));
  return buf;
}

// The shortest text that reads back as `v`.
std::string Shortest(double v) {
  char buf[32];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return ec == std::errc() ? std::string(buf, ptr) : Number(v);
}

// Prints rows as aligned columns (text) or comma-separated (csv), header first.
class Table {
 public:
  Table(std::vector<std::string> header, bool csv) : csv_(csv) {
    rows_.push_back(std::move(header));
  }
  void Add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void Print(std::ostream& out) const {
    std::vector<size_t> widths(rows_.front().size(), 0);
    for (const auto& row : rows_) {
      for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
    }
    for (const auto& row : rows_) {
      for (size_t i = 0; i < row.size(); ++i) {
        if (csv_) {
          out << (i > 0 ? "," : "") << row[i];
        } else if (i + 1 < row.size()) {
          out << row[i] << std::string(widths[i] - row[i].size() + 2, ' ');
        } else {
          out << row[i];
        }
      }
      out << "\n";
    }
  }

 private:
  bool csv_;
  std::vector<std::vector<std::string>> rows_;
};

struct ReadingsArgs {
  std::string sensor_id;
  int64_t since_ms = 3'600'000;
  int64_t until_ms = 0;
  int64_t step_ms = 0;
  uint32_t max_points = 0;
  int64_t origin_ms = 0;
  bool csv = false;
};

int RawReadings(const std::shared_ptr<grpc::Channel>& channel, const ReadingsArgs& args,
                int64_t from, int64_t to) {
  auto stub = vigil::v1::Query::NewStub(channel);
  Table table(args.csv ? std::vector<std::string>{"time", "time_ms", "value", "quality"}
                       : std::vector<std::string>{"time", "value", "quality"},
              args.csv);
  for (;;) {
    vigil::v1::ReadRawRequest request;
    request.set_sensor_id(args.sensor_id);
    request.set_from_ms(from);
    request.set_to_ms(to);
    vigil::v1::ReadRawResponse response;
    grpc::ClientContext context;
    SetDeadline(&context, std::chrono::seconds(60));
    const grpc::Status status = stub->ReadRaw(&context, request, &response);
    if (!status.ok()) return RpcFailed("readings", status);
    for (int i = 0; i < response.timestamps_ms_size(); ++i) {
      const int64_t at = response.timestamps_ms(i);
      const std::string quality =
          std::to_string(i < response.quality_size() ? response.quality(i) : 0);
      if (args.csv) {
        table.Add({FormatTime(at), std::to_string(at), Shortest(response.values(i)), quality});
      } else {
        table.Add({FormatTime(at), Shortest(response.values(i)), quality});
      }
    }
    if (!response.truncated() || response.next_from_ms() <= from) break;
    from = response.next_from_ms();
  }
  table.Print(std::cout);
  return kExitOk;
}

int DownsampledReadings(const std::shared_ptr<grpc::Channel>& channel, const ReadingsArgs& args,
                        int64_t from, int64_t to) {
  auto stub = vigil::v1::Query::NewStub(channel);
  vigil::v1::ReadDownsampledRequest request;
  request.set_sensor_id(args.sensor_id);
  request.set_from_ms(from);
  request.set_to_ms(to);
  request.set_step_ms(args.step_ms);
  request.set_max_points(args.max_points);
  request.set_origin_ms(args.origin_ms);
  vigil::v1::ReadDownsampledResponse r;
  grpc::ClientContext context;
  SetDeadline(&context, std::chrono::seconds(60));
  const grpc::Status status = stub->ReadDownsampled(&context, request, &r);
  if (!status.ok()) return RpcFailed("readings", status);
  if (!args.csv) std::cout << "# step " << Duration(static_cast<uint64_t>(r.step_ms())) << "\n";
  Table table(args.csv ? std::vector<std::string>{"start", "start_ms", "count", "min", "max", "avg",
                                                  "last", "last_ms"}
                       : std::vector<std::string>{"start", "count", "min", "max", "avg", "last"},
              args.csv);
  for (int i = 0; i < r.start_ms_size(); ++i) {
    std::vector<std::string> row = {FormatTime(r.start_ms(i))};
    if (args.csv) row.push_back(std::to_string(r.start_ms(i)));
    for (std::string cell : {std::to_string(r.count(i)), Shortest(r.min(i)), Shortest(r.max(i)),
                             Shortest(r.avg(i)), Shortest(r.last(i))}) {
      row.push_back(std::move(cell));
    }
    if (args.csv) row.push_back(std::to_string(r.last_ms(i)));
    table.Add(std::move(row));
  }
  table.Print(std::cout);
  return kExitOk;
}

int Readings(const std::shared_ptr<grpc::Channel>& channel, const ReadingsArgs& args) {
  const int64_t now = NowMs();
  const int64_t from = now - args.since_ms;
  const int64_t to = now - args.until_ms;
  if (from >= to) return Usage("--since must reach further back than --until");
  if (args.step_ms == 0 && args.max_points == 0) return RawReadings(channel, args, from, to);
  return DownsampledReadings(channel, args, from, to);
}

std::string AlarmText(const vigil::v1::LatestValue::Alarm& alarm) {
  using Alarm = vigil::v1::LatestValue::Alarm;
  std::string kind = Alarm::Kind_Name(alarm.kind()).substr(5);     // KIND_
  std::string state = Alarm::State_Name(alarm.state()).substr(6);  // STATE_
  for (std::string* text : {&kind, &state}) {
    for (char& c : *text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  std::string out = kind;
  if (alarm.level() != Alarm::LEVEL_NONE) out += "/" + Alarm::Level_Name(alarm.level()).substr(6);
  return out + "/" + state + "/sev" + std::to_string(alarm.severity());
}

int Latest(const std::shared_ptr<grpc::Channel>& channel, const std::string& enterprise,
           const std::vector<std::string>& sensors, bool csv) {
  auto stub = vigil::v1::Query::NewStub(channel);
  vigil::v1::ReadLatestRequest request;
  request.set_enterprise_id(enterprise);
  for (const std::string& id : sensors) request.add_sensor_ids(id);
  vigil::v1::ReadLatestResponse response;
  grpc::ClientContext context;
  SetDeadline(&context, std::chrono::seconds(60));
  const grpc::Status status = stub->ReadLatest(&context, request, &response);
  if (!status.ok()) return RpcFailed("latest", status);
  Table table(
      csv ? std::vector<std::string>{"sensor", "time", "time_ms", "value", "quality", "alarms"}
          : std::vector<std::string>{"sensor", "time", "value", "quality", "alarms"},
      csv);
  for (const vigil::v1::LatestValue& v : response.values()) {
    std::string alarms;
    for (const auto& alarm : v.alarms()) alarms += (alarms.empty() ? "" : " ") + AlarmText(alarm);
    const std::string none = csv ? "" : "-";
    std::vector<std::string> row = {v.sensor_id(), v.has_reading() ? FormatTime(v.at_ms()) : none};
    if (csv) row.push_back(v.has_reading() ? std::to_string(v.at_ms()) : none);
    row.push_back(v.has_reading() ? Shortest(v.value()) : none);
    row.push_back(v.has_reading() ? std::to_string(v.quality()) : none);
    row.push_back(alarms.empty() ? none : alarms);
    table.Add(std::move(row));
  }
  table.Print(std::cout);
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  std::string server = kDefaultServer;
  std::vector<std::string> args;
  // Options that take a value, and the switch.
  std::map<std::string, std::string, std::less<>> values;
  bool csv = false;
  static constexpr std::string_view kValued[] = {
      "--server", "--since", "--until", "--step", "--origin", "--max-points", "--enterprise"};
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return kExitOk;
    }
    if (arg == "--csv") {
      csv = true;
      continue;
    }
    if (!arg.starts_with("--")) {
      args.emplace_back(arg);
      continue;
    }
    const std::string_view name = arg.substr(0, arg.find('='));
    if (std::find(std::begin(kValued), std::end(kValued), name) == std::end(kValued)) {
      return Usage("unknown option '" + std::string(arg) + "'");
    }
    if (name.size() < arg.size()) {
      values[std::string(name)] = std::string(arg.substr(name.size() + 1));
    } else if (i + 1 < argc) {
      values[std::string(name)] = argv[++i];
    } else {
      return Usage(std::string(name) + " needs a value");
    }
  }
  if (auto it = values.find("--server"); it != values.end()) server = it->second;
  if (server.empty()) return Usage("--server needs HOST:PORT");
  if (args.empty()) return Usage("no command");
  const std::string& command = args[0];
  static constexpr std::string_view kCommands[] = {"backup", "health", "registry", "readings",
                                                   "latest"};
  if (std::find(std::begin(kCommands), std::end(kCommands), command) == std::end(kCommands)) {
    return Usage("unknown command '" + command + "'");
  }
  // Which options each command takes.
  for (const auto& [name, value] : values) {
    const bool readings_option = name != "--server" && name != "--enterprise";
    if ((command == "readings" && readings_option) ||
        (command == "latest" && name == "--enterprise") || name == "--server") {
      continue;
    }
    std::string message = command;
    message += " does not take ";
    message += name;
    return Usage(message);
  }
  if (csv && command != "readings" && command != "latest") {
    return Usage(command + " does not take --csv");
  }
  auto channel = grpc::CreateChannel(server, grpc::InsecureChannelCredentials());
  if (command == "readings") {
    if (args.size() != 2) return Usage("readings takes one SENSOR");
    ReadingsArgs readings{.sensor_id = args[1], .csv = csv};
    for (auto [name, field] : {std::pair<const char*, int64_t*>{"--since", &readings.since_ms},
                               {"--until", &readings.until_ms},
                               {"--step", &readings.step_ms},
                               {"--origin", &readings.origin_ms}}) {
      auto it = values.find(name);
      if (it == values.end()) continue;
      const std::optional<int64_t> ms = ParseDurationMs(it->second);
      if (!ms || (*ms < 0 && std::string_view(name) != "--origin")) {
        return Usage(std::string(name) + ": expected a duration like 30s, 5m, 1h or 90d, got '" +
                     it->second + "'");
      }
      *field = *ms;
    }
    if (auto it = values.find("--max-points"); it != values.end()) {
      uint32_t points = 0;
      const std::string& text = it->second;
      auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), points);
      if (ec != std::errc() || ptr != text.data() + text.size() || points == 0) {
        return Usage("--max-points: expected a positive integer, got '" + text + "'");
      }
      if (readings.step_ms != 0) return Usage("give --step or --max-points, not both");
      readings.max_points = points;
    }
    if (values.contains("--step") && readings.step_ms <= 0) return Usage("--step must be positive");
    return Readings(channel, readings);
  }
  if (command == "latest") {
    const auto enterprise = values.find("--enterprise");
    const std::vector<std::string> sensors(args.begin() + 1, args.end());
    if ((enterprise == values.end()) == sensors.empty()) {
      return Usage("latest takes --enterprise ID or SENSOR..., not both");
    }
    return Latest(channel, enterprise == values.end() ? "" : enterprise->second, sensors, csv);
  }
  const size_t want = command == "backup" ? 2 : 1;
  if (args.size() != want) {
    return Usage(command == "backup" ? "backup takes one DIR" : command + " takes no arguments");
  }
  if (command == "backup") return Backup(channel, args[1]);
  if (command == "health") return Health(channel);
  return Registry(channel);
}
