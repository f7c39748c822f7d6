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

TEST_CASE("vigild --help and --version exit 0; a bad flag exits 2 naming it", "[e2e][cli]") {
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

}  // namespace
