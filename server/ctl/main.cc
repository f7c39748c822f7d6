// vigilctl: operator command line for a running vigild, through the public
// gRPC API only (vigil.v1 and grpc.health.v1). This file finds the command
// and its options; the commands are in admin_commands.cc (backup, health,
// registry, hash-token), alarms_commands.cc / alarms_watch.cc (alarms) and
// history_commands.cc (readings, latest).
#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <iterator>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "server/ctl/admin_commands.h"
#include "server/ctl/alarms_commands.h"
#include "server/ctl/cli.h"
#include "server/ctl/gateway_commands.h"
#include "server/ctl/history_commands.h"

#ifndef VIGIL_VERSION
#define VIGIL_VERSION "unknown"
#endif

namespace vigil::ctl {
namespace {

constexpr char kDefaultServer[] = "127.0.0.1:7070";

constexpr char kUsage[] =
    R"(usage: vigilctl [--server HOST:PORT] [--token-file FILE] [--ca-file FILE] COMMAND [ARGS]

Commands:
  alarms SUBCOMMAND  Command-center alarms: watch (live, resumable), list, show,
                     history, ack, shelve, unshelve ('vigilctl alarms --help')
  gateway watermark GATEWAY_ID
                     The highest (epoch, sequence) stored for a gateway: where a
                     reset gateway resumes ('vigilctl gateway watermark --help')
  gateway status GATEWAY_ID
                     A gateway's enterprise, watermark and the open alarms of its
                     enterprise ('vigilctl gateway status --help')
  backup DIR         Write a consistent copy of the live database into DIR, a new
                     folder on the SERVER's machine (a relative DIR is made absolute
                     against this shell's current folder, which is only right when
                     vigilctl runs on the server's machine). DIR must not exist.
                     Restore: vigild --data-dir DIR.
  health             Print the server's grpc.health.v1 status (SERVING, NOT_SERVING).
  registry [get] | check FILE | apply FILE
                     The registry (enterprises, sensors, gateways) as YAML, in the
                     registry file format (deploy/registry.yaml); check a registry
                     file against it and the rules (nothing changes); apply it.
  rules get | check FILE | apply FILE
                     The alarm rules in force; check a rules file against the
                     server's registry (nothing changes); put it in force.
  hash-token         Read a token on stdin, print its SHA-256 (hex) for auth.tokens
                     in the server config.
  readings SENSOR    A sensor's readings, raw or downsampled per step ('vigilctl
                     readings --help')
  latest             Latest values of an enterprise's sensors or of named sensors,
                     with their open alarms ('vigilctl latest --help')

Options (anywhere on the line):
  --server HOST:PORT   vigild's gRPC address (default 127.0.0.1:7070)
  --token-file FILE    bearer token sent as 'authorization: Bearer <token>' (the
                       file's text, surrounding spaces and newlines dropped);
                       default: the environment variable VIGIL_TOKEN. There is no
                       --token flag: a token on the command line shows in ps.
  --ca-file FILE       connect with TLS, trusting the CA certificates in FILE (PEM;
                       default: $VIGIL_CA_FILE; without either: plaintext)
  --cert-file FILE, --key-file FILE
                       a client certificate and its key (PEM) for mutual TLS
                       (default: $VIGIL_CERT_FILE, $VIGIL_KEY_FILE); needs --ca-file
  --help               this text; after a command, that command's help
  --utc                every time in UTC (default: the local time zone, from TZ)
  --version            print vigilctl's version and exit
)";

const std::vector<OptionSpec> kGlobalOptions = {{"server", true},
                                                {"token-file", true},
                                                {"ca-file", true},
                                                {"cert-file", true},
                                                {"key-file", true},
                                                {"utc"},
                                                {"help"}};

// The TLS files from the flags, else the environment. An error message when
// one cannot be read or the combination is incomplete.
std::optional<std::string> LoadTls(const Args& args, TlsFiles* tls) {
  auto pick = [&](const char* flag, const char* env) -> std::optional<std::string> {
    if (auto value = args.Get(flag)) return value;
    if (const char* v = std::getenv(env); v != nullptr && *v != '\0') return std::string(v);
    return std::nullopt;
  };
  const std::optional<std::string> ca = pick("ca-file", "VIGIL_CA_FILE");
  const std::optional<std::string> cert = pick("cert-file", "VIGIL_CERT_FILE");
  const std::optional<std::string> key = pick("key-file", "VIGIL_KEY_FILE");
  if (!ca && !cert && !key) return std::nullopt;
  if (!ca) return "--cert-file and --key-file need --ca-file (TLS)";
  if (cert.has_value() != key.has_value()) return "--cert-file and --key-file go together";
  auto read = [](const std::string& path, std::string* out) -> bool {
    std::ifstream in(path, std::ios::binary);
    if (!in) return false;
    out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    return true;
  };
  tls->enabled = true;
  if (!read(*ca, &tls->ca_pem)) return "cannot read the CA file " + *ca;
  if (cert && !read(*cert, &tls->cert_pem)) return "cannot read the certificate file " + *cert;
  if (key && !read(*key, &tls->key_pem)) return "cannot read the key file " + *key;
  return std::nullopt;
}

int TopUsage(std::string_view error) {
  std::cerr << "vigilctl: " << error << "\n\n" << kUsage << "\n" << kExitCodesHelp;
  return kExitUsage;
}

// Every command, admin and alarms.
std::vector<const Command*> Commands() {
  std::vector<const Command*> all;
  for (const Command& c : AdminCommands()) all.push_back(&c);
  for (const Command& c : AlarmCommands()) all.push_back(&c);
  for (const Command& c : HistoryCommands()) all.push_back(&c);
  for (const Command& c : GatewayCommands()) all.push_back(&c);
  return all;
}

// The token from --token-file, else $VIGIL_TOKEN, else none. An error
// message when it is unreadable or malformed.
std::optional<std::string> LoadToken(const Args& args, std::optional<std::string>* token) {
  std::string text;
  std::string source;
  if (auto file = args.Get("token-file")) {
    std::ifstream in(*file, std::ios::binary);
    if (!in) return "cannot read --token-file " + *file;
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    source = "--token-file " + *file;
  } else if (const char* env = std::getenv("VIGIL_TOKEN"); env != nullptr && *env != '\0') {
    text = env;
    source = "VIGIL_TOKEN";
  } else {
    return std::nullopt;
  }
  std::string value;
  if (auto error = NormalizeToken(text, &value)) return source + ": " + *error;
  *token = std::move(value);
  return std::nullopt;
}

int Main(const std::vector<std::string>& argv) {
  if (argv.size() == 1 && argv[0] == "--version") {
    std::cout << "vigilctl " << VIGIL_VERSION << "\n";
    return kExitOk;
  }
  const std::vector<const Command*> commands = Commands();
  // Options that take a value, so that their values are not read as commands.
  std::set<std::string, std::less<>> valued;
  for (const OptionSpec& o : kGlobalOptions) {
    if (o.takes_value) valued.emplace(o.name);
  }
  for (const Command* c : commands) {
    for (const OptionSpec& o : c->options) {
      if (o.takes_value) valued.emplace(o.name);
    }
  }
  std::vector<size_t> words;  // indexes of the positional arguments
  bool help = false;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    if (arg == "--") {
      for (size_t j = i + 1; j < argv.size(); ++j) words.push_back(j);
      break;
    }
    if (arg == "--help" || arg == "-h") {
      help = true;
    } else if (arg.starts_with("--")) {
      if (arg.find('=') == std::string::npos && valued.contains(std::string_view(arg).substr(2))) {
        ++i;
      }
    } else {
      words.push_back(i);
    }
  }
  if (words.empty()) {
    if (help) {
      std::cout << kUsage << "\n" << kExitCodesHelp;
      return kExitOk;
    }
    for (const std::string& arg : argv) {
      if (!arg.starts_with("--")) continue;
      const std::string_view name = std::string_view(arg).substr(2, arg.find('=') - 2);
      if (std::none_of(kGlobalOptions.begin(), kGlobalOptions.end(),
                       [&](const OptionSpec& o) { return o.name == name; })) {
        return TopUsage("unknown option '" + arg + "'");
      }
    }
    return TopUsage("no command");
  }
  // The command's words: "backup", or "alarms" and its subcommand.
  std::string path = argv[words[0]];
  size_t used = 1;
  if (path == "alarms") {
    if (words.size() < 2) {
      if (help) {
        std::cout << kAlarmsHelp;
        return kExitOk;
      }
      return UsageError("alarms", kAlarmsHelp, "alarms needs a subcommand");
    }
    path += " " + argv[words[1]];
    used = 2;
  } else if (path == "gateway") {
    if (words.size() < 2) return TopUsage("gateway needs a subcommand (watermark, status)");
    path += " " + argv[words[1]];
    used = 2;
  }
  const Command* command = nullptr;
  for (const Command* c : commands) {
    if (c->path == path) command = c;
  }
  if (command == nullptr) {
    if (used == 2 && path.starts_with("alarms ")) {
      return UsageError("alarms", kAlarmsHelp, "unknown subcommand '" + argv[words[1]] + "'");
    }
    return TopUsage("unknown command '" + path + "'");
  }
  if (help) {
    std::cout << command->help;
    return kExitOk;
  }
  std::vector<std::string> rest;
  for (size_t i = 0; i < argv.size(); ++i) {
    if (i != words[0] && (used < 2 || i != words[1])) rest.push_back(argv[i]);
  }
  std::vector<OptionSpec> options = command->options;
  options.insert(options.end(), kGlobalOptions.begin(), kGlobalOptions.end());
  Args args;
  if (auto error = ParseArgs(rest, options, &args)) return UsageError(*command, *error);
  const size_t n = args.positional().size();
  if (n < command->min_positional || n > command->max_positional) {
    return UsageError(
        *command, n > command->max_positional
                      ? "unexpected argument '" + args.positional()[command->max_positional] + "'"
                      : std::string("missing argument"));
  }
  if (args.Has("utc")) {
    // One switch for every printed time: LocalTime and Rfc3339Local read TZ.
    setenv("TZ", "UTC0", 1);
    tzset();
  }
  const std::string server = args.Get("server").value_or(kDefaultServer);
  if (server.empty()) return UsageError(*command, "--server needs HOST:PORT");
  std::optional<std::string> token;
  if (auto error = LoadToken(args, &token)) return UsageError(*command, *error);
  TlsFiles tls;
  if (auto error = LoadTls(args, &tls)) return UsageError(*command, *error);
  Client client(server, std::move(token), std::move(tls));
  return command->run(client, args);
}

}  // namespace
}  // namespace vigil::ctl

int main(int argc, char** argv) {
  return vigil::ctl::Main(std::vector<std::string>(argv + 1, argv + argc));
}
