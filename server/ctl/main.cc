// vigilctl: operator command line for a running vigild, through the public
// gRPC API only (vigil.v1 and grpc.health.v1). This file finds the command
// and its options; the commands are in admin_commands.cc (backup, health,
// registry, hash-token), alarms_commands.cc / alarms_watch.cc (alarms) and
// history_commands.cc (readings, latest).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <iterator>
#include <list>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "server/ctl/admin_commands.h"
#include "server/ctl/alarms_commands.h"
#include "server/ctl/cli.h"
#include "server/ctl/gateway_commands.h"
#include "server/ctl/history_commands.h"
#include "server/ctl/journal_commands.h"
#include "server/ctl/planned_commands.h"
#include "server/ctl/send_command.h"

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
  journal verify | export
                     The alarm journal's hash chain: verify it on the server; write
                     a signed export of a range ('vigilctl journal --help')
  planned open | list | close
                     Planned-work windows: alarms of the sensors they cover are
                     journaled as planned, not notified ('vigilctl planned --help')
  readings SENSOR    A sensor's readings, raw or downsampled per step ('vigilctl
                     readings --help')
  latest             Latest values of an enterprise's sensors or of named sensors,
                     with their open alarms ('vigilctl latest --help')
  send SENSOR=VALUE ...
                     Send test readings as a gateway and print the ack
                     ('vigilctl send --help')

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
  for (const Command& c : JournalCommands()) all.push_back(&c);
  for (const Command& c : PlannedCommands()) all.push_back(&c);
  for (const Command& c : SendCommands()) all.push_back(&c);
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

// Runs `command` once the line is parsed: time zone, server, token, TLS.
int Run(const Command& command, const Args& args) {
  if (args.Has("utc")) {
    // One switch for every printed time: LocalTime and Rfc3339Local read TZ.
    setenv("TZ", "UTC0", 1);
    tzset();
  }
  const std::string server = args.Get("server").value_or(kDefaultServer);
  if (server.empty()) return UsageError(command, "--server needs HOST:PORT");
  std::optional<std::string> token;
  if (auto error = LoadToken(args, &token)) return UsageError(command, *error);
  TlsFiles tls;
  if (auto error = LoadTls(args, &tls)) return UsageError(command, *error);
  Client client(server, std::move(token), std::move(tls));
  return command.run(client, args);
}

// The whole command line as a CLI11 app: the global options on the root, each
// command a subcommand ("alarms" and "gateway" with subcommands of their
// own). Global options may come anywhere on the line: a subcommand hands an
// option it does not know to its parent (CLI11 fallthrough). Options are
// read back into Args for the commands; the positional arguments are counted
// here so that the messages name the argument.
class Line {
 public:
  Line() : app_("vigilctl: operator command line for a running vigild", "vigilctl") {
    app_.set_help_flag("-h,--help", "this text; after a command, that command's help");
    app_.set_version_flag("--version", std::string("vigilctl ") + VIGIL_VERSION,
                          "print vigilctl's version and exit");
    app_.fallthrough();
    app_.option_defaults()->disable_flag_override();
    // --help prints each command's reference text (options, formats and exit
    // codes together), kept beside the command.
    app_.formatter_fn([this](const CLI::App* app, const std::string&, CLI::AppFormatMode) {
      auto it = help_.find(app);
      return it == help_.end() ? std::string(kUsage) + "\n" + kExitCodesHelp : it->second;
    });
    for (const char* name :
         {"--server", "--token-file", "--ca-file", "--cert-file", "--key-file"}) {
      AddOption(&app_, name, &global_options_);
    }
    AddFlag(&app_, "--utc", &global_options_);
    alarms_ = app_.add_subcommand("alarms", "command-center alarms");
    help_[alarms_] = kAlarmsHelp;
    gateway_ = app_.add_subcommand("gateway", "a gateway's watermark and status");
    journal_ = app_.add_subcommand("journal", "the alarm journal's hash chain");
    help_[journal_] = kJournalHelp;
    planned_ = app_.add_subcommand("planned", "planned-work windows");
    help_[planned_] = kPlannedHelp;
    for (const Command* c : Commands()) {
      CLI::App* parent = &app_;
      std::string name = c->path;
      if (name.starts_with("alarms ")) parent = alarms_;
      if (name.starts_with("gateway ")) parent = gateway_;
      if (name.starts_with("journal ")) parent = journal_;
      if (name.starts_with("planned ")) parent = planned_;
      if (parent != &app_) name = name.substr(name.find(' ') + 1);
      // In place: CLI11 keeps a reference to leaf.positional.
      Leaf& leaf = leaves_.emplace_back();
      leaf.command = c;
      leaf.app = parent->add_subcommand(name);
      help_[leaf.app] = c->help;
      for (const OptionSpec& o : c->options) {
        const std::string flag = "--" + std::string(o.name);
        if (o.takes_value) {
          AddOption(leaf.app, flag, &leaf.options);
        } else {
          AddFlag(leaf.app, flag, &leaf.options);
        }
      }
      leaf.app->add_option("ARGS", leaf.positional)
          ->expected(0, CLI::detail::expected_max_vector_size);
    }
    // One command per line: a later word that names a command ("vigilctl
    // backup health") is then an argument, not a second command.
    app_.require_subcommand(0, 1);
    alarms_->require_subcommand(0, 1);
    gateway_->require_subcommand(0, 1);
    journal_->require_subcommand(0, 1);
    planned_->require_subcommand(0, 1);
    // Set last: subcommands inherit allow_extras when created. An unknown
    // option or argument falls through to the root and is reported with the
    // command it followed.
    app_.allow_extras();
  }

  int Main(int argc, char** argv) {
    // "--" ends the options: what follows is positional, whatever it looks
    // like. Parsed here because CLI11 2.1 hands the words after "--" to the
    // parent app when the command's positionals are optional.
    std::vector<std::string> words(argv + 1, argv + argc);
    std::vector<std::string> after_dashes;
    if (auto dashes = std::find(words.begin(), words.end(), "--"); dashes != words.end()) {
      after_dashes.assign(dashes + 1, words.end());
      words.erase(dashes, words.end());
    }
    std::reverse(words.begin(), words.end());  // CLI11 takes them last first
    try {
      app_.parse(words);
    } catch (const CLI::CallForHelp&) {
      std::cout << app_.help();
      return kExitOk;
    } catch (const CLI::CallForVersion& e) {
      std::cout << e.what() << "\n";
      return kExitOk;
    } catch (const CLI::ParseError& e) {
      return Usage(e.what());
    }
    const std::vector<std::string> extra = app_.remaining();
    if (!extra.empty()) {
      const std::string& first = extra.front();
      if (first.starts_with("-")) return Usage("unknown option '" + first + "'");
      if (Selected() == &app_) return TopUsage("unknown command '" + first + "'");
      if (Selected() == alarms_ || Selected() == gateway_ || Selected() == journal_ ||
          Selected() == planned_) {
        return Usage("unknown subcommand '" + first + "'");
      }
      return Usage("unexpected argument '" + first + "'");
    }
    const CLI::App* selected = Selected();
    if (selected == &app_) return TopUsage("no command");
    if (selected == alarms_) return Usage("alarms needs a subcommand");
    if (selected == gateway_) return TopUsage("gateway needs a subcommand (watermark, status)");
    if (selected == journal_) {
      return UsageError("journal", kJournalHelp, "journal needs a subcommand (verify, export)");
    }
    if (selected == planned_) {
      return UsageError("planned", kPlannedHelp, "planned needs a subcommand (open, list, close)");
    }
    const Leaf& leaf = *std::find_if(leaves_.begin(), leaves_.end(),
                                     [&](const Leaf& l) { return l.app == selected; });
    const Command& command = *leaf.command;
    std::vector<std::string> positional = leaf.positional;
    positional.insert(positional.end(), after_dashes.begin(), after_dashes.end());
    const size_t n = positional.size();
    if (n < command.min_positional || n > command.max_positional) {
      return UsageError(command,
                        n > command.max_positional
                            ? "unexpected argument '" + positional[command.max_positional] + "'"
                            : std::string("missing argument"));
    }
    Args args;
    for (const std::map<std::string, CLI::Option*>* options :
         {&leaf.options,
          static_cast<const std::map<std::string, CLI::Option*>*>(&global_options_)}) {
      for (const auto& [name, option] : *options) {
        if (option->get_expected_min() == 0) {
          for (size_t i = 0; i < option->count(); ++i) args.Add(name, "");
        } else {
          for (const std::string& value : option->results()) args.Add(name, value);
        }
      }
    }
    for (const std::string& p : positional) args.AddPositional(p);
    return Run(command, args);
  }

 private:
  struct Leaf {
    const Command* command = nullptr;
    CLI::App* app = nullptr;
    std::map<std::string, CLI::Option*> options;  // by name without "--"
    std::vector<std::string> positional;
  };

  // A repeatable option with one value per occurrence ("--enterprise a
  // --enterprise b"); Args::Get takes the last.
  static void AddOption(CLI::App* app, const std::string& flag,
                        std::map<std::string, CLI::Option*>* out) {
    CLI::Option* option = app->add_option(flag)
                              ->type_name("VALUE")
                              ->type_size(1)
                              ->expected(1)
                              ->allow_extra_args(false)
                              ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    (*out)[flag.substr(2)] = option;
  }
  static void AddFlag(CLI::App* app, const std::string& flag,
                      std::map<std::string, CLI::Option*>* out) {
    (*out)[flag.substr(2)] = app->add_flag(flag);
  }

  // The deepest command given ("alarms ack"), or the root.
  const CLI::App* Selected() const {
    const CLI::App* app = &app_;
    while (!app->get_subcommands().empty()) app = app->get_subcommands().front();
    return app;
  }

  int Usage(std::string_view error) const {
    const CLI::App* selected = Selected();
    if (selected == &app_ || selected == gateway_) return TopUsage(error);
    if (selected == alarms_) return UsageError("alarms", kAlarmsHelp, error);
    if (selected == journal_) return UsageError("journal", kJournalHelp, error);
    if (selected == planned_) return UsageError("planned", kPlannedHelp, error);
    for (const Leaf& leaf : leaves_) {
      if (leaf.app == selected) return UsageError(*leaf.command, error);
    }
    return TopUsage(error);
  }

  CLI::App app_;
  CLI::App* alarms_ = nullptr;
  CLI::App* gateway_ = nullptr;
  CLI::App* journal_ = nullptr;
  CLI::App* planned_ = nullptr;
  std::map<std::string, CLI::Option*> global_options_;
  std::list<Leaf> leaves_;  // a list: CLI11 holds references into each
  std::map<const CLI::App*, std::string> help_;
};

}  // namespace
}  // namespace vigil::ctl

int main(int argc, char** argv) { return vigil::ctl::Line().Main(argc, argv); }
