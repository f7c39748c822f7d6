#include "server/ctl/admin_commands.h"

#include <grpcpp/generic/generic_stub.h>
#include <openssl/sha.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "alarm/time_text.h"
#include "server/ctl/backtest_command.h"
#include "server/ctl/format.h"
#include "vigil/v1/admin.grpc.pb.h"
#include "vigil/v1/registry.grpc.pb.h"
#include "vigil/v1/rules.grpc.pb.h"

namespace vigil::ctl {
namespace {

constexpr char kBackupHelp[] = R"(usage: vigilctl [--server HOST:PORT] backup DIR

Write a consistent copy of the live database into DIR, a new folder on the
SERVER's machine (a relative DIR is made absolute against this shell's current
folder, which is only right when vigilctl runs on the server's machine). DIR
must not exist. Restore: vigild --data-dir DIR.
)";

constexpr char kHealthHelp[] = R"(usage: vigilctl [--server HOST:PORT] health [--service NAME]

Print the server's grpc.health.v1 status (SERVING, NOT_SERVING,
SERVICE_UNKNOWN) and exit 0 only when SERVING (1 otherwise), so that it serves
as an exec probe (deploy/kubernetes/vigil.yaml).
  --service NAME   one service's status, e.g. vigil.v1.Liveness (vigild's
                   control loop turns) or vigil.v1.Ingest; default: the server
)";

constexpr char kRulesHelp[] =
    R"(usage: vigilctl [--server HOST:PORT] rules get | check FILE | apply FILE | backtest ...

The alarm rules in force, through vigil.v1.RulesAdmin (an admin token when
authentication is on). FILE is in the rules file format (deploy/rules.yaml;
templates by enterprise kind in deploy/rules/).
  get          print the rules in force, in the rules file format
  check FILE   validate FILE's rules, added to or replacing (by id) those in
               force, as a whole against the server's registry; nothing
               changes. Prints the count there would be; exit 1 with
               file:line:column and the reason when they do not fit
  apply FILE   the same, then put them in force (stored; alarms of unchanged
               rules keep their state, those of changed rules close)
  backtest     replay stored history with proposed rules, compare with the
               journal (below)

)";

constexpr char kRegistryHelp[] =
    R"(usage: vigilctl [--server HOST:PORT] registry [get] | check FILE | apply FILE

The registry (enterprises, sensors, gateways) through vigil.v1.RegistryAdmin
(an admin token when authentication is on), in the registry file format
(deploy/registry.yaml).
  get          print the registry in force (the default)
  check FILE   validate FILE as vigild validates its registry file on SIGHUP
               (a registry on its own), its entries added to or replacing (by
               id) those in force, and the rules in force against the result;
               nothing changes. Prints the counts there would be; exit 1 with
               file:line:column and the reason when it does not fit
  apply FILE   the same, then store it and put it in force
Entries are never removed by a file (removing one: vigil.v1.RegistryAdmin's
remove_*_ids).
)";

constexpr char kHashTokenHelp[] = R"(usage: vigilctl hash-token < TOKEN_FILE

Read a bearer token on standard input (surrounding spaces and newlines are
dropped) and print its SHA-256 in hex: the `sha256:` of its entry in
auth.tokens of the server config. The token itself stays out of the config.
)";

int Backup(Client& client, const Args& args) {
  const std::string& dir_arg = args.positional()[0];
  std::error_code ec;
  const std::filesystem::path dir = std::filesystem::absolute(dir_arg, ec).lexically_normal();
  if (ec) {
    return UsageError("backup", kBackupHelp,
                      "cannot make '" + dir_arg + "' absolute: " + ec.message());
  }
  auto stub = v1::Admin::NewStub(client.channel());
  v1::CreateBackupRequest request;
  request.set_dir(dir.string());
  v1::CreateBackupResponse response;
  grpc::ClientContext context;
  // A flush and file copies: allow for a large database.
  client.Prepare(&context, std::chrono::seconds(3600));
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

int Health(Client& client, const Args& args) {
  const std::string service = args.Get("service").value_or("");
  if (service.size() > 127) {
    return UsageError("health", kHealthHelp, "--service NAME is longer than 127 bytes");
  }
  grpc::GenericStub stub(client.channel());
  grpc::ClientContext context;
  client.Prepare(&context, std::chrono::seconds(10));
  grpc::CompletionQueue queue;
  // HealthCheckRequest{service} = field 1, length-delimited (< 128 bytes);
  // "" encodes to zero bytes.
  std::string encoded;
  if (!service.empty())
    encoded = std::string(1, '\x0a') + static_cast<char>(service.size()) + service;
  grpc::Slice request_slice(encoded);
  const grpc::ByteBuffer request(&request_slice, 1);
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
  return value == 1 ? kExitOk : kExitFailed;
}

// ---- registry as YAML (server/config/registry_yaml.h format) ----

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

std::string Scalar(std::string_view s) { return NeedsQuotes(s) ? QuotedString(s) : std::string(s); }

void PrintRegistryYaml(const v1::Registry& registry, std::ostream& out) {
  out << "enterprises:";
  if (registry.enterprises().empty()) out << " []";
  out << "\n";
  for (const v1::Enterprise& e : registry.enterprises()) {
    out << "  - id: " << Scalar(e.id()) << "\n";
    if (!e.name().empty()) out << "    name: " << Scalar(e.name()) << "\n";
    const std::string kind = EnterpriseKindName(e.kind());
    out << "    kind: " << (kind.starts_with("unknown") ? "unspecified" : kind) << "\n";
    out << "    region_code: " << QuotedString(e.region_code()) << "\n";
  }
  out << "\nsensors:";
  if (registry.sensors().empty()) out << " []";
  out << "\n";
  for (const v1::Sensor& s : registry.sensors()) {
    out << "  - id: " << Scalar(s.id()) << "\n";
    out << "    enterprise: " << Scalar(s.enterprise_id()) << "\n";
    out << "    quantity: " << Scalar(s.quantity()) << "\n";
    out << "    unit: " << Scalar(s.unit()) << "\n";
    if (s.range_low() != 0 || s.range_high() != 0) {
      out << "    range: [" << FormatNumber(s.range_low()) << ", " << FormatNumber(s.range_high())
          << "]\n";
    }
    if (s.expected_interval_ms() != 0) {
      out << "    expected_interval: "
          << alarm::FormatDuration(std::chrono::milliseconds(s.expected_interval_ms())) << "\n";
    }
  }
  out << "\ngateways:";
  if (registry.gateways().empty()) out << " []";
  out << "\n";
  for (const v1::Gateway& g : registry.gateways()) {
    out << "  - id: " << Scalar(g.id()) << "\n";
    out << "    enterprise: " << Scalar(g.enterprise_id()) << "\n";
  }
}

// "request:3:5: ..." from the server names the text it was sent: say which file.
grpc::Status NamingFile(const grpc::Status& status, const std::string& file) {
  std::string message = status.error_message();
  if (message.starts_with("request:")) message = file + message.substr(7);
  return grpc::Status(status.error_code(), message, status.error_details());
}

int Registry(Client& client, const Args& args) {
  const std::string action = args.positional().empty() ? "get" : args.positional()[0];
  auto stub = v1::RegistryAdmin::NewStub(client.channel());
  grpc::ClientContext context;
  client.Prepare(&context, std::chrono::seconds(60));
  if (action == "check" || action == "apply") {
    if (args.positional().size() != 2) {
      return UsageError("registry", kRegistryHelp, "registry " + action + " needs FILE");
    }
    const std::string& file = args.positional()[1];
    std::ifstream in(file, std::ios::binary);
    if (!in) return UsageError("registry", kRegistryHelp, "cannot read " + file);
    v1::ApplyRegistryRequest request;
    request.set_registry_yaml(
        std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()));
    if (request.registry_yaml().empty()) {
      return UsageError("registry", kRegistryHelp, file + " is empty");
    }
    request.set_validate_only(action == "check");
    v1::ApplyRegistryResponse response;
    const grpc::Status status = stub->ApplyRegistry(&context, request, &response);
    if (!status.ok()) return RpcFailed("registry " + action, NamingFile(status, file));
    std::cout << file << ": ok, " << response.enterprises() << " enterprises, "
              << response.sensors() << " sensors, " << response.gateways() << " gateways"
              << (action == "check" ? " would be in the registry (nothing changed)\n"
                                    : " in the registry\n");
    return kExitOk;
  }
  if (action != "get") {
    return UsageError("registry", kRegistryHelp,
                      "unknown subcommand '" + action + "' (get, check, apply)");
  }
  if (args.positional().size() > 1) {
    return UsageError("registry", kRegistryHelp, "registry get takes no FILE");
  }
  v1::Registry registry;
  const grpc::Status status = stub->GetRegistry(&context, {}, &registry);
  if (!status.ok()) return RpcFailed("registry", status);
  PrintRegistryYaml(registry, std::cout);
  return kExitOk;
}

int Rules(Client& client, const Args& args) {
  const std::string& action = args.positional()[0];
  if (action == "backtest") return RulesBacktest(client, args);
  for (const char* option : {"rules", "from", "to", "region", "warmup", "top", "json"}) {
    if (args.Has(option)) {
      return UsageError("rules", kRulesHelp,
                        "--" + std::string(option) + " is for rules backtest only");
    }
  }
  auto stub = v1::RulesAdmin::NewStub(client.channel());
  grpc::ClientContext context;
  client.Prepare(&context, std::chrono::seconds(60));
  if (action == "get") {
    if (args.positional().size() != 1) {
      return UsageError("rules", kRulesHelp, "rules get takes no FILE");
    }
    v1::GetRulesResponse response;
    const grpc::Status status = stub->GetRules(&context, {}, &response);
    if (!status.ok()) return RpcFailed("rules get", status);
    std::cout << response.rules_yaml();
    return kExitOk;
  }
  if (action != "check" && action != "apply") {
    return UsageError("rules", kRulesHelp,
                      "unknown subcommand '" + action + "' (get, check, apply, backtest)");
  }
  if (args.positional().size() != 2) {
    return UsageError("rules", kRulesHelp, "rules " + action + " needs FILE");
  }
  const std::string& file = args.positional()[1];
  std::ifstream in(file, std::ios::binary);
  if (!in) return UsageError("rules", kRulesHelp, "cannot read " + file);
  v1::ApplyRulesRequest request;
  request.set_rules_yaml(
      std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()));
  request.set_validate_only(action == "check");
  v1::ApplyRulesResponse response;
  const grpc::Status status = stub->ApplyRules(&context, request, &response);
  if (!status.ok()) return RpcFailed("rules " + action, NamingFile(status, file));
  std::cout << file << ": ok, " << response.rules()
            << (action == "check" ? " rules would be in force (nothing changed)\n"
                                  : " rules in force\n");
  return kExitOk;
}

// As server/api/access.cc TokenDigest, in hex.
int HashToken(Client&, const Args&) {
  std::string input;
  if (isatty(STDIN_FILENO)) {
    std::cerr << "token (then Enter): " << std::flush;
    std::getline(std::cin, input);
  } else {
    input.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  std::string token;
  if (auto error = NormalizeToken(input, &token)) {
    return UsageError("hash-token", kHashTokenHelp, "standard input: " + *error);
  }
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest.data());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char b : digest) {
    hex += kHex[b >> 4];
    hex += kHex[b & 0xf];
  }
  std::cout << hex << "\n";
  return kExitOk;
}

std::string WithExitCodes(const char* help) { return std::string(help) + "\n" + kExitCodesHelp; }

}  // namespace

std::span<const Command> AdminCommands() {
  static const std::vector<Command>* commands = new std::vector<Command>{
      {.path = "backup",
       .help = WithExitCodes(kBackupHelp),
       .options = {},
       .min_positional = 1,
       .max_positional = 1,
       .run = Backup},
      {.path = "health",
       .help = WithExitCodes(kHealthHelp),
       .options = {{"service", true}},
       .run = Health},
      {.path = "registry",
       .help = WithExitCodes(kRegistryHelp),
       .options = {},
       .max_positional = 2,
       .run = Registry},
      {.path = "rules",
       .help = std::string(kRulesHelp) + kRulesBacktestHelp + "\n" + kExitCodesHelp,
       .options = {std::begin(kRulesBacktestOptions), std::end(kRulesBacktestOptions)},
       .min_positional = 1,
       .max_positional = 2,
       .run = Rules},
      {.path = "hash-token",
       .help = WithExitCodes(kHashTokenHelp),
       .options = {},
       .run = HashToken},
  };
  return *commands;
}

}  // namespace vigil::ctl
