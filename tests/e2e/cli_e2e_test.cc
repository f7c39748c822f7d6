// The command lines of vigild, vigilctl and the bench tools (CLI11): --help
// and --version exit 0, a bad flag exits with the documented usage code and
// names the flag. Each run is bounded by timeout(1); no server is started.
#include <sys/wait.h>

#include <array>
#include <catch2/catch.hpp>
#include <cstdio>
#include <initializer_list>
#include <string>

namespace {

struct Run {
  int code = -1;
  std::string output;  // stdout and stderr
};

// `binary` with `args` (each single-quoted), bounded at 30 s.
Run Exec(const std::string& binary, std::initializer_list<std::string> args) {
  std::string command = "timeout 30 " + binary;
  for (const std::string& arg : args) command += " '" + arg + "'";
  Run run;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return run;
  std::array<char, 4096> buffer;
  size_t n = 0;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
    run.output.append(buffer.data(), n);
  const int status = pclose(pipe);
  run.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST_CASE("vigild --help and --version exit 0, a bad flag exits 2 naming it", "[e2e][cli]") {
  Run r = Exec(VIGILD_PATH, {"--help"});
  INFO(r.output);
  CHECK(r.code == 0);
  for (const char* flag :
       {"--config FILE", "--listen HOST:PORT", "--metrics-listen HOST:PORT", "--data-dir DIR",
        "--check-config", "--version", "-h,--help", "Exit codes:"}) {
    CHECK(Has(r.output, flag));
  }
  CHECK(Exec(VIGILD_PATH, {"-h"}).code == 0);
  r = Exec(VIGILD_PATH, {"--version"});
  CHECK(r.code == 0);
  CHECK(r.output.starts_with("vigild "));

  r = Exec(VIGILD_PATH, {"--lisen", "127.0.0.1:0"});
  INFO(r.output);
  CHECK(r.code == 2);
  CHECK(Has(r.output, "vigild: unknown flag '--lisen' (did you mean '--listen'?)"));
  CHECK(Has(r.output, "Usage: vigild"));
  r = Exec(VIGILD_PATH, {"--listen"});
  CHECK(r.code == 2);
  CHECK(Has(r.output, "--listen: 1 required HOST:PORT missing"));
  r = Exec(VIGILD_PATH, {"--listen", "7070"});
  CHECK(r.code == 2);
  CHECK(Has(r.output, "--listen: must be host:port"));
  CHECK(Exec(VIGILD_PATH, {"vigil.yaml"}).code == 2);
  CHECK(Exec(VIGILD_PATH, {"--help=yes"}).code == 2);
}

TEST_CASE("vigilctl: --help exits 0, a bad option exits 2, global options anywhere",
          "[e2e][cli][vigilctl]") {
  Run r = Exec(VIGILCTL_PATH, {"--help"});
  INFO(r.output);
  CHECK(r.code == 0);
  CHECK(Has(r.output, "Options (anywhere on the line):"));
  CHECK(Has(r.output, "Exit codes:"));
  r = Exec(VIGILCTL_PATH, {"--version"});
  CHECK(r.code == 0);
  CHECK(r.output.starts_with("vigilctl "));
  // --help after a command and a global option: that command's help.
  r = Exec(VIGILCTL_PATH, {"alarms", "shelve", "--utc", "--help"});
  CHECK(r.code == 0);
  CHECK(r.output.starts_with("usage: vigilctl alarms shelve"));

  r = Exec(VIGILCTL_PATH, {"--bogus", "health"});
  CHECK(r.code == 2);
  CHECK(Has(r.output, "vigilctl: unknown option '--bogus'"));
  r = Exec(VIGILCTL_PATH, {"alarms", "ack", "12", "--by"});
  CHECK(r.code == 2);
  CHECK(Has(r.output, "vigilctl: --by: 1 required VALUE missing"));
  CHECK(Has(r.output, "usage: vigilctl alarms ack ID"));
  r = Exec(VIGILCTL_PATH, {"alarms", "shelve", "12", "--for", "1.5h", "--reason", "r"});
  CHECK(r.code == 2);
  CHECK(Has(r.output,
            "vigilctl: --for: expected a duration like 250ms, 10s, 5m, 2h or 90d, got '1.5h'"));
  r = Exec(VIGILCTL_PATH, {"alarms", "history", "--from", "2024-02-30"});
  CHECK(r.code == 2);
  CHECK(Has(r.output, "vigilctl: --from: no such date 2024-02-30 in '2024-02-30'"));
  CHECK(Exec(VIGILCTL_PATH, {"frobnicate"}).code == 2);

  // Global options before, between and after the command's words all reach
  // it: the call is made (and fails to connect: exit 1, not a usage error 2).
  for (const auto& args :
       {std::initializer_list<std::string>{"--utc", "--server", "127.0.0.1:1", "alarms", "list"},
        {"alarms", "--server=127.0.0.1:1", "list", "--utc"},
        {"alarms", "show", "12", "--utc", "--server", "127.0.0.1:1"},
        {"--server", "127.0.0.1:1", "alarms", "show", "--", "12"},
        // A word that names another command is an argument here.
        {"--server", "127.0.0.1:1", "backup", "health"}}) {
    r = Exec(VIGILCTL_PATH, args);
    INFO(r.output);
    CHECK(r.code == 1);
    CHECK(Has(r.output, "UNAVAILABLE"));
  }
}

#ifdef VIGIL_LOAD_PATH
TEST_CASE("bench tools: --help exits 0, a bad flag or value exits 2 naming it",
          "[e2e][cli][bench]") {
  for (const char* tool : {VIGIL_LOAD_PATH, VIGIL_ALARM_LOAD_PATH, VIGIL_SIM_PATH}) {
    INFO(tool);
    Run r = Exec(tool, {"--help"});
    CHECK(r.code == 0);
    CHECK(r.output.starts_with("usage: vigil-"));
    r = Exec(tool, {"--bogus"});
    CHECK(r.code == 2);
    CHECK(Has(r.output, "--bogus"));
    r = Exec(tool, {"--duration", "1.5s"});
    CHECK(r.code == 2);
    CHECK(Has(r.output,
              "--duration: expected a duration like 250ms, 10s, 5m, 2h or 90d, got "
              "'1.5s' (see --help)"));
    r = Exec(tool, {"--duration", "0s"});
    CHECK(r.code == 2);
    CHECK(Has(r.output, "--duration: must be positive, got '0s'"));
  }
  Run r = Exec(VIGIL_LOAD_PATH, {"--gateways", "0"});
  CHECK(r.code == 2);
  CHECK(Has(r.output, "--gateways: Value 0 not in range 1 to"));
}
#endif

}  // namespace
