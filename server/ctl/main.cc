// vigilctl: operator command line for a running vigild, through the public
// gRPC API only (vigil.v1 and grpc.health.v1).
//
//   vigilctl [--server HOST:PORT] backup DIR
//   vigilctl [--server HOST:PORT] health
//   vigilctl [--server HOST:PORT] registry
//
// Exit codes: 0 ok, 1 the RPC failed (code and message printed), 2 bad usage.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "vigil/v1/admin.grpc.pb.h"
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

Options:
  --server HOST:PORT   vigild's gRPC address (default 127.0.0.1:7070)
  --help               this text

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

}  // namespace

int main(int argc, char** argv) {
  std::string server = kDefaultServer;
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return kExitOk;
    }
    if (arg == "--server") {
      if (i + 1 >= argc) return Usage("--server needs HOST:PORT");
      server = argv[++i];
    } else if (arg.starts_with("--server=")) {
      server = std::string(arg.substr(9));
    } else if (arg.starts_with("--")) {
      return Usage("unknown option '" + std::string(arg) + "'");
    } else {
      args.emplace_back(arg);
    }
  }
  if (server.empty()) return Usage("--server needs HOST:PORT");
  if (args.empty()) return Usage("no command");
  const std::string& command = args[0];
  const size_t want = command == "backup" ? 2 : 1;
  if (command != "backup" && command != "health" && command != "registry") {
    return Usage("unknown command '" + command + "'");
  }
  if (args.size() != want) {
    return Usage(command == "backup" ? "backup takes one DIR" : command + " takes no arguments");
  }
  auto channel = grpc::CreateChannel(server, grpc::InsecureChannelCredentials());
  if (command == "backup") return Backup(channel, args[1]);
  if (command == "health") return Health(channel);
  return Registry(channel);
}
