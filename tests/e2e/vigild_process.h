// End-to-end test harness: runs the real vigild binary as a child process on
// 127.0.0.1 with an ephemeral port, in a fresh temp dir, and gives gRPC stubs
// to talk to it. Everything the child prints (stdout and stderr) is kept and
// shown when a test case fails.
#pragma once

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/testing/temp_dir.h"
#include "vigil/v1/alarms.grpc.pb.h"
#include "vigil/v1/ingest.grpc.pb.h"
#include "vigil/v1/query.grpc.pb.h"
#include "vigil/v1/registry.grpc.pb.h"

namespace vigil::e2e {

// How a child process ended.
struct ExitStatus {
  // It did not end within the bound; it was then killed with SIGKILL and reaped.
  bool timed_out = false;
  // Ended through exit(): `code` is set. Otherwise, when not timed out, it was
  // killed by `signal`.
  bool exited = false;
  int code = -1;
  int signal = 0;

  bool ExitedWith(int expected) const { return !timed_out && exited && code == expected; }
  std::string ToString() const;
};

// Output and exit status of a vigild run to completion (e.g. --check-config).
struct RunResult {
  ExitStatus status;
  std::string output;
};

// Runs vigild with `args` (argv[0] excluded), stdin from /dev/null, stdout and
// stderr captured. Kills it if it has not ended within `timeout`.
RunResult RunVigild(const std::vector<std::string>& args,
                    std::chrono::milliseconds timeout = std::chrono::seconds(30));

class VigildProcess {
 public:
  struct Options {
    // Body of the config file. The harness appends `registry_file: registry.yaml`;
    // listen address and data dir are given as flags.
    std::string config_yaml;
    std::string registry_yaml;
    // Bound on start-up: until the "vigild listening grpc=" line.
    std::chrono::milliseconds start_timeout = std::chrono::seconds(30);
    // Data dir given to vigild; empty = "data" in the harness's temp dir.
    std::filesystem::path data_dir = {};
  };

  // Writes config.yaml and registry.yaml into a fresh temp dir. Does not start.
  explicit VigildProcess(Options options);
  // Kills (SIGKILL) and reaps a running child.
  ~VigildProcess();
  VigildProcess(const VigildProcess&) = delete;
  VigildProcess& operator=(const VigildProcess&) = delete;

  // Starts vigild and waits for it to listen; returns the address host:port.
  // Throws std::runtime_error (with everything it printed) when it exits or
  // stays silent past start_timeout.
  std::string Start();
  // Start() again on the same data dir, after Kill9() or Terminate(). Throws
  // std::logic_error when the child is still running.
  std::string Restart();
  // SIGKILL, then reap. No-op when not running.
  void Kill9();
  // SIGTERM, then wait up to `timeout` for it to exit (then SIGKILL).
  ExitStatus Terminate(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Waits up to `timeout` for vigild to exit by itself (then SIGKILL).
  ExitStatus WaitExit(std::chrono::milliseconds timeout);

  bool running() const { return pid_ > 0; }
  // The child's process id while running, else -1.
  pid_t pid() const { return pid_; }
  const std::string& address() const { return address_; }
  // The /metrics host:port the current run printed (empty when off).
  const std::string& metrics_address() const { return metrics_address_; }
  const std::filesystem::path& data_dir() const { return data_dir_; }
  const std::filesystem::path& config_path() const { return config_path_; }
  // Everything every run of the child has printed so far.
  std::string Output() const;

  // Channel and stubs to the current run (replaced on each Start).
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  vigil::v1::Ingest::Stub& ingest() { return *ingest_; }
  vigil::v1::Query::Stub& query() { return *query_; }
  vigil::v1::RegistryAdmin::Stub& admin() { return *admin_; }
  vigil::v1::Alarms::Stub& alarms() { return *alarms_; }

 private:
  void Reap(ExitStatus* status);
  void ReaderLoop(int fd);

  Options options_;
  testing::TempDir dir_;
  std::filesystem::path config_path_;
  std::filesystem::path data_dir_;

  pid_t pid_ = -1;
  std::thread reader_;
  std::string address_;
  std::string metrics_address_;

  mutable std::mutex mu_;
  std::condition_variable output_changed_;
  std::string output_;       // guarded by mu_; every run, in order
  bool reader_done_ = true;  // guarded by mu_; the current run's pipe reached EOF

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<vigil::v1::Ingest::Stub> ingest_;
  std::unique_ptr<vigil::v1::Query::Stub> query_;
  std::unique_ptr<vigil::v1::RegistryAdmin::Stub> admin_;
  std::unique_ptr<vigil::v1::Alarms::Stub> alarms_;
};

// ---- Helpers shared by the e2e test files ----

// auth.tokens entries (to append under `tokens:`) of gateways gw-jn, gw-qd and
// gw-hb, for tests that turn authentication on: each gateway's token is
// "<gateway id>-secret" (GatewayAuthorization).
inline constexpr char kGatewayTokensYaml[] = R"(    - { name: gw-jn, role: gateway, gateway: gw-jn,
        sha256: 72f168d07afc73d40e0ddfaac75fd42241cea7a4505f15a395e7280d490b6e7d }
    - { name: gw-qd, role: gateway, gateway: gw-qd,
        sha256: 666673f6838605a80c716b893fcc7146c81a606a83a719d2255026694bf6043c }
    - { name: gw-hb, role: gateway, gateway: gw-hb,
        sha256: 10305cc307de08cf3d9349ca8243924d1749b0e7018be44a212eefdb8ca82166 }
)";
inline std::string GatewayAuthorization(const std::string& gateway) {
  return "Bearer " + gateway + "-secret";
}

// Wall-clock time now, in ms since the Unix epoch.
int64_t NowMs();

// How many times slower than a plain build vigild and this binary run:
// $VIGIL_E2E_TIME_SCALE, which tests/run_sanitized.sh sets for its sanitizer
// builds (ThreadSanitizer slows both 5-15 times); 1 when unset or below 1.
double TimeScale();
// `bound` times TimeScale(): for a test's own bounded wait on work vigild
// does (10,000 streams answered, health turning), which a slower build only
// takes longer to finish. Not for what a test asserts vigild promises in
// time (a drain delay, a latency): those stay as they are.
std::chrono::milliseconds Scaled(std::chrono::milliseconds bound);

// A deadline `timeout` from now, for a ClientContext.
void SetDeadline(grpc::ClientContext* context,
                 std::chrono::milliseconds timeout = std::chrono::seconds(30));

// One reading as ReadRaw returns it.
struct Reading {
  int64_t ts = 0;
  double value = 0;
  uint32_t quality = 0;
  bool operator==(const Reading&) const = default;
};
std::string ToString(const Reading& reading);
std::string ToString(const std::vector<Reading>& readings);

// All readings of `sensor_id` in [from_ms, to_ms), following pages (at most
// max_pages). Empty quality in a response means all good (0). Fails the
// current test (Catch2 REQUIRE) on a gRPC error, a malformed page or a
// next_from_ms that does not advance.
std::vector<Reading> ReadAll(vigil::v1::Query::Stub& query, const std::string& sensor_id,
                             int64_t from_ms, int64_t to_ms, uint32_t limit = 0,
                             int max_pages = 1000);

// Output and exit code of a vigilctl run.
struct CtlResult {
  int code = -1;  // exit code; -1 when killed
  std::string output;
};
// Runs the vigilctl binary with `args` (bounded by timeout(1) at 60 s), stdout
// and stderr together.
CtlResult RunVigilctl(const std::vector<std::string>& args);

// GET http://host:port/metrics with a bounded wait (Catch2 REQUIREs); the body.
std::string HttpGetMetrics(const std::string& address);
// The value of the sample line that starts with `series` (name plus labels);
// fails the test when there is none.
double Sample(const std::string& text, const std::string& series);

// grpc.health.v1.Health/Check for `service` ("" = the whole server). Returns
// the gRPC status and sets *serving from the response (status 1 = SERVING).
grpc::Status HealthCheck(const std::shared_ptr<grpc::Channel>& channel, bool* serving,
                         const std::string& service = "");

}  // namespace vigil::e2e
