#include "server/ctl/cli.h"

#include <iostream>
#include <iterator>

namespace vigil::ctl {

const char kExitCodesHelp[] = R"(Exit codes:
  0  ok (alarms watch: also when stopped by Ctrl-C or SIGTERM)
  1  the call failed (gRPC code name and message printed), the server could not
     be reached, or output / the cursor file could not be written
  2  bad usage: command line, token file, cursor file
  3  not found (NOT_FOUND): no such alarm, or acting on one that is not open
  4  access refused: UNAUTHENTICATED (no token, or an unknown one) or
     PERMISSION_DENIED (outside the token's region, or a viewer acting)
  5  alarms watch: the cursor is older than the server's journal keeps
     (OUT_OF_RANGE); rerun with --resync to start again from a snapshot
  6  journal verify: the hash chain is broken (the first broken seq is printed)
  7  journal export: the file is signed but stops before the range's end
     (journal.export_max_bytes); export the rest from the printed seq
)";

std::optional<std::string> Args::Get(std::string_view name) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

std::vector<std::string> Args::All(std::string_view name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

const std::shared_ptr<grpc::Channel>& Client::channel() {
  if (channel_ == nullptr) {
    grpc::ChannelArguments args;
    // Large answers (thousands of open alarms, history pages).
    args.SetMaxReceiveMessageSize(64 << 20);
    // After the server comes back, be connected again within seconds, not
    // gRPC's default of up to two minutes. Not GRPC_ARG_MIN_RECONNECT_BACKOFF_MS:
    // gRPC takes it as the time one connection attempt may take (TCP, TLS,
    // the server's HTTP/2 settings; default 20 s), and at 500 ms a loaded
    // server or a long TLS link failed every call with UNAVAILABLE.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 500);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
    std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
    if (tls_.enabled) {
      grpc::SslCredentialsOptions ssl;
      ssl.pem_root_certs = tls_.ca_pem;
      ssl.pem_cert_chain = tls_.cert_pem;
      ssl.pem_private_key = tls_.key_pem;
      credentials = grpc::SslCredentials(ssl);
    }
    channel_ = grpc::CreateCustomChannel(server_, credentials, args);
  }
  return channel_;
}

void Client::Prepare(grpc::ClientContext* context, std::chrono::seconds timeout) const {
  if (timeout.count() > 0) context->set_deadline(std::chrono::system_clock::now() + timeout);
  if (token_) context->AddMetadata("authorization", "Bearer " + *token_);
}

std::optional<std::string> NormalizeToken(std::string_view text, std::string* token) {
  constexpr std::string_view kSpace = " \t\r\n";
  const size_t begin = text.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return "the token is empty";
  text = text.substr(begin, text.find_last_not_of(kSpace) - begin + 1);
  for (char c : text) {
    // A header value: visible ASCII, no spaces.
    if (c <= ' ' || c > '~') {
      return "the token must be one word of visible ASCII characters (no spaces, no more lines)";
    }
  }
  *token = std::string(text);
  return std::nullopt;
}

const char* StatusCodeName(grpc::StatusCode code) {
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
  const int n = static_cast<int>(code);
  return n >= 0 && n < static_cast<int>(std::size(kNames)) ? kNames[n] : "UNKNOWN_CODE";
}

int ExitCodeFor(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return kExitOk;
    case grpc::StatusCode::NOT_FOUND:
      return kExitNotFound;
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::PERMISSION_DENIED:
      return kExitDenied;
    default:
      return kExitFailed;
  }
}

int RpcFailed(std::string_view what, const grpc::Status& status) {
  std::cerr << "vigilctl: " << what << " failed: " << StatusCodeName(status.error_code()) << " ("
            << static_cast<int>(status.error_code()) << "): " << status.error_message() << "\n";
  return ExitCodeFor(status.error_code());
}

int UsageError(std::string_view command_path, std::string_view help, std::string_view error) {
  std::cerr << "vigilctl: " << error << "\n"
            << help.substr(0, help.find('\n')) << "\nRun 'vigilctl " << command_path
            << (command_path.empty() ? "" : " ") << "--help' for more.\n";
  return kExitUsage;
}

int UsageError(const Command& command, std::string_view error) {
  return UsageError(command.path, command.help, error);
}

}  // namespace vigil::ctl
