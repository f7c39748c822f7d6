// vigilctl plumbing shared by every command: exit codes, the command table,
// parsed arguments, the connection to vigild (address and bearer token) and how
// a failed RPC is reported. Single-threaded: used from main's thread only.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::ctl {

// Exit codes scripts can rely on (also in kExitCodesHelp and docs/running.md).
enum ExitCode : int {
  kExitOk = 0,
  kExitFailed = 1,         // the RPC failed (other codes), or a local write failed
  kExitUsage = 2,          // bad command line, token file or cursor file
  kExitNotFound = 3,       // NOT_FOUND
  kExitDenied = 4,         // UNAUTHENTICATED or PERMISSION_DENIED
  kExitCursorExpired = 5,  // alarms watch: OUT_OF_RANGE (cursor older than the journal)
  kExitChainBroken = 6,    // journal verify: the hash chain does not hold
  kExitIncomplete = 7,     // journal export: stopped at journal.export_max_bytes
};

extern const char kExitCodesHelp[];

// One option a command accepts, named without its leading "--".
struct OptionSpec {
  std::string_view name;
  bool takes_value = false;
};

// A parsed command line: options by name (every occurrence, in order; a flag
// without value records ""), and the positional arguments. Filled by main.cc
// from CLI11's results.
class Args {
 public:
  bool Has(std::string_view name) const { return values_.contains(std::string(name)); }
  // The last value given, or nullopt.
  std::optional<std::string> Get(std::string_view name) const;
  // Every value given, in order.
  std::vector<std::string> All(std::string_view name) const;
  const std::vector<std::string>& positional() const { return positional_; }

  void Add(const std::string& name, std::string value) {
    values_[name].push_back(std::move(value));
  }
  void AddPositional(std::string value) { positional_.push_back(std::move(value)); }

 private:
  std::map<std::string, std::vector<std::string>, std::less<>> values_;
  std::vector<std::string> positional_;
};

// TLS to vigild: PEM files read at start (--ca-file, --cert-file, --key-file,
// or $VIGIL_CA_FILE, $VIGIL_CERT_FILE, $VIGIL_KEY_FILE). Off: plaintext.
struct TlsFiles {
  bool enabled = false;
  std::string ca_pem;    // trusted roots; empty = the system's
  std::string cert_pem;  // client certificate chain (a gateway's mTLS identity); may be empty
  std::string key_pem;
};

// Where and as whom to call: --server, TLS, and the token from --token-file
// or $VIGIL_TOKEN (never a flag of its own, so that it never shows in `ps`).
class Client {
 public:
  Client(std::string server, std::optional<std::string> token, TlsFiles tls = {})
      : server_(std::move(server)), token_(std::move(token)), tls_(std::move(tls)) {}

  // The channel, created on first use (so that a command may block signals
  // before gRPC starts its threads).
  const std::shared_ptr<grpc::Channel>& channel();
  // Sets a deadline `timeout` from now (none when zero) and the
  // `authorization: Bearer <token>` metadata when there is a token.
  void Prepare(grpc::ClientContext* context,
               std::chrono::seconds timeout = std::chrono::seconds(30)) const;

 private:
  std::string server_;
  std::optional<std::string> token_;
  TlsFiles tls_;
  std::shared_ptr<grpc::Channel> channel_;
};

// A token as typed or stored: surrounding whitespace removed. Returns an error
// message when it is empty or has characters a header value may not carry.
std::optional<std::string> NormalizeToken(std::string_view text, std::string* token);

// "NOT_FOUND" and so on.
const char* StatusCodeName(grpc::StatusCode code);
// The exit code for a failed call (kExitFailed unless listed in ExitCode).
int ExitCodeFor(grpc::StatusCode code);
// Prints "vigilctl: WHAT failed: CODE (n): message" to stderr; returns ExitCodeFor.
int RpcFailed(std::string_view what, const grpc::Status& status);

// Prints "vigilctl: ERROR", the synopsis (the first line of `help`) and
// where the help of `command_path` is, to stderr; returns kExitUsage.
int UsageError(std::string_view command_path, std::string_view help, std::string_view error);

// A command: `path` is how it is typed ("alarms ack"), `help` its --help text
// (its first line is the synopsis shown on usage errors).
struct Command {
  std::string path;
  std::string help;
  std::vector<OptionSpec> options;
  size_t min_positional = 0;
  size_t max_positional = 0;
  int (*run)(Client& client, const Args& args) = nullptr;
};

// UsageError(command.path, command.help, error).
int UsageError(const Command& command, std::string_view error);

}  // namespace vigil::ctl
