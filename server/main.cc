// vigild: the Vigil server. Exit codes: 0 clean stop, 1 failure while
// starting or running, 2 bad command line, configuration, rules or registry,
// 3 stopped because storage needs a restart (Server::exit_code). The command
// line is parsed by CLI11 (config.h ParseCommandLine), which also writes --help.
#include <cstdio>
#include <exception>
#include <iostream>

#include "server/api/tls.h"
#include "server/config/config.h"
#include "server/config/config_check.h"
#include "server/log/log.h"
#include "server/server.h"

#ifndef VIGIL_VERSION
#define VIGIL_VERSION "unknown"
#endif

int main(int argc, char** argv) {
  using namespace vigil::server;
  try {
    auto cmd = ParseCommandLine(argc, argv);
    if (!cmd) {
      std::cerr << "vigild: " << cmd.error().message() << "\n\n" << UsageText();
      return 2;
    }
    if (cmd->help) {
      std::cout << UsageText();
      return 0;
    }
    if (cmd->version) {
      std::cout << "vigild " << VIGIL_VERSION << "\n";
      return 0;
    }
    ServerOptions options;
    if (!cmd->config_file.empty()) {
      auto loaded = LoadConfigFile(cmd->config_file);
      if (!loaded) {
        std::cerr << "vigild: bad configuration: " << loaded.error().message() << "\n";
        return 2;
      }
      options = std::move(*loaded);
    }
    ApplyCommandLine(*cmd, &options);
    if (vigil::alarm::Status s = CheckListenerSecurity(options); !s.ok()) {
      std::cerr << "vigild: bad configuration: " << s.message() << "\n";
      return 2;
    }
    if (vigil::alarm::Status s = CheckTlsFiles(options.tls); !s.ok()) {
      std::cerr << "vigild: bad configuration: " << s.message() << "\n";
      return 2;
    }
    // The rules and registry files: --check-config resolves the rules against
    // the registry file; start-up parses both (the server then resolves the
    // rules against the registry it has, database entries included).
    auto files = CheckConfigFiles(options, /*against_registry=*/cmd->check_config);
    if (!files) {
      std::cerr << "vigild: bad configuration: " << files.error().message() << "\n";
      return 2;
    }
    if (cmd->check_config) {
      std::cout << FormatEffectiveConfig(options) << "# "
                << FormatConfigFilesSummary(options, *files) << "\n";
      if (files->rules == 0) {
        std::cerr << "vigild: warning: no alarm rules (rules_file "
                  << (options.rules_file.empty() ? std::string("not set")
                                                 : options.rules_file.string() + " has none")
                  << "): no reading will raise an alarm unless rules are applied through "
                     "RulesAdmin\n";
      }
      std::cout << "configuration ok\n";
      return 0;
    }
    SetLogLevel(options.log_level);
    SetLogFormat(options.log_format);
    std::cout << "# effective configuration\n" << FormatEffectiveConfig(options) << std::flush;

    auto server = Server::Start(options);
    if (!server) {
      LogError("start_failed", {{"error", server.error().ToString()}});
      std::cerr << "vigild: cannot start: " << server.error().message() << "\n";
      // kInvalidArgument: the rules or registry (files or database) do not fit
      // together, or a setting was refused; restarting cannot fix that.
      return server.error().code() == vigil::alarm::Status::Code::kInvalidArgument ? 2 : 1;
    }
    std::cout << "vigild listening grpc=" << (*server)->grpc_address();
    if (!(*server)->metrics_address().empty()) {
      std::cout << " metrics=" << (*server)->metrics_address();
    }
    if (!(*server)->http_address().empty()) std::cout << " http=" << (*server)->http_address();
    if (!(*server)->console_address().empty()) {
      std::cout << " console=" << (*server)->console_address();
    }
    std::cout << std::endl;
    LogInfo("serving", {{"grpc", (*server)->grpc_address()},
                        {"data_dir", options.data_dir.string()},
                        {"version", VIGIL_VERSION}});
    (*server)->Run();
    return (*server)->exit_code();
  } catch (const std::exception& e) {
    std::cerr << "vigild: fatal: " << e.what() << "\n";
    return 1;
  }
}
