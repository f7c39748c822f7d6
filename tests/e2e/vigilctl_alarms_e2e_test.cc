// End-to-end: the real vigilctl binary against the real vigild with tokens
// and rules — alarms list, show, ack, shelve, unshelve, history, watch with a
// cursor file (stopped, restarted, across a server kill -9 and an expired
// cursor), exit codes and help. Every vigilctl run is bounded and reaped.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/vigild_process.h"
#include "tests/testing/temp_dir.h"

#ifndef VIGILCTL_PATH
#error "VIGILCTL_PATH must name the vigilctl binary (tests/e2e/CMakeLists.txt)"
#endif

namespace vigil::e2e {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Two provinces: Shandong (37: a Jinan county plant, a Qingdao mine) and Hebei (13).
constexpr char kRegistry[] = R"(enterprises:
  - { id: e-jinan, name: Jinan Tianqiao Tank Farm, kind: hazardous_chemical, region_code: "370105" }
  - { id: e-qingdao, kind: coal_mine, region_code: "370202" }
  - { id: e-hebei, kind: hazardous_chemical, region_code: "130102" }
sensors:
  - { id: t-jn, enterprise: e-jinan, quantity: temperature, unit: degC }
  - { id: ch4-qd, enterprise: e-qingdao, quantity: methane, unit: "%CH4" }
  - { id: t-hb, enterprise: e-hebei, quantity: temperature, unit: degC }
gateways:
  - { id: gw-jn, enterprise: e-jinan }
  - { id: gw-qd, enterprise: e-qingdao }
  - { id: gw-hb, enterprise: e-hebei }
)";

// Temperature over 50 is orange (2); methane over 1.0 orange, over 1.5 red.
constexpr char kRules[] = R"(rules:
  - id: temperature-high
    select: { quantity: temperature, enterprise_kind: hazardous_chemical }
    levels: { h: { value: 50, severity: 2 } }
    sensor_fault: off
  - id: methane-face
    select: { quantity: methane, enterprise_kind: coal_mine }
    levels: { hh: { value: 1.5, severity: 1 }, h: { value: 1.0, severity: 2 } }
    sensor_fault: off
)";

// Tokens and the SHA-256 the config holds (vigilctl hash-token prints them).
struct Token {
  const char* name;
  const char* secret;
  const char* region;
  const char* role;
  const char* sha256;
};
constexpr Token kJinan{"jinan-lixia", "jinan-secret", "370105", "operator",
                       "94beec19424be60cbfc16ea69f423ad548b050b894a35cb694f8cea5d2b27d0f"};
constexpr Token kShandong{"shandong", "shandong-secret", "37", "viewer",
                          "603084eb1c2adcf943ecb786943d038aebed40cd836e95cb3a3cc463d6b870a9"};
constexpr Token kHebei{"hebei", "hebei-secret", "13", "operator",
                       "fc401e057090bad46954b888bd3c5dce3592be70219472760854482c347185b7"};
constexpr Token kNational{"national", "national-secret", "", "admin",
                          "fa97b986984b38fac2a09b1677210ef87ff0a9642c5f6d0f9ebcfd41cee9022b"};
constexpr const Token* kTokens[] = {&kJinan, &kShandong, &kHebei, &kNational};

// How a vigilctl run ended, and what it printed.
struct CtlResult {
  ExitStatus status;
  std::string out;
  std::string err;
  int code() const { return status.exited && !status.timed_out ? status.code : -1; }
};

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// One vigilctl process: stdin from a file, stdout and stderr into files, a
// bare environment (NO_COLOR=1, any sanitizer options, plus `env`). Killed (SIGKILL) and reaped
// when destroyed while running.
class Vigilctl {
 public:
  Vigilctl(const std::filesystem::path& dir, const std::vector<std::string>& args,
           const std::vector<std::string>& env = {}, const std::string& input = "")
      : out_(dir / ("vigilctl-" + std::to_string(++runs_) + ".out")), err_(out_.string() + ".err") {
    const std::filesystem::path in = out_.string() + ".in";
    std::ofstream(in, std::ios::binary) << input;
    std::vector<std::string> all = {VIGILCTL_PATH};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<std::string> environment = {"NO_COLOR=1"};
    // A sanitizer build's options (tests/run_sanitized.sh: suppressions) reach vigilctl too.
    for (const char* name : {"ASAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS"}) {
      if (const char* value = std::getenv(name))
        environment.push_back(name + ("=" + std::string(value)));
    }
    environment.insert(environment.end(), env.begin(), env.end());
    std::vector<char*> argv, envp;
    for (std::string& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (std::string& e : environment) envp.push_back(e.data());
    envp.push_back(nullptr);
    const int in_fd = open(in.c_str(), O_RDONLY | O_CLOEXEC);
    const int out_fd = open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const int err_fd = open(err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    REQUIRE((in_fd >= 0 && out_fd >= 0 && err_fd >= 0));
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ == 0) {
      // Child: async-signal-safe calls only. Dies with the test process.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      if (dup2(in_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0 ||
          dup2(err_fd, STDERR_FILENO) < 0) {
        _exit(127);
      }
      execve(argv[0], argv.data(), envp.data());
      _exit(127);
    }
    close(in_fd);
    close(out_fd);
    close(err_fd);
    REQUIRE(pid_ > 0);
  }
  ~Vigilctl() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      int status = 0;
      waitpid(pid_, &status, 0);
    }
  }
  Vigilctl(const Vigilctl&) = delete;
  Vigilctl& operator=(const Vigilctl&) = delete;

  std::string Out() const { return ReadFile(out_); }
  std::string Err() const { return ReadFile(err_); }
  bool running() const { return pid_ > 0; }

  // Waits (bounded) for the process to end by itself; then SIGKILL.
  CtlResult Wait(std::chrono::milliseconds timeout = 30s) {
    const auto deadline = Clock::now() + timeout;
    while (pid_ > 0) {
      int status = 0;
      const pid_t done = waitpid(pid_, &status, WNOHANG);
      if (done == pid_) {
        Ended(status, false);
      } else if (Clock::now() >= deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        Ended(status, true);
      } else {
        std::this_thread::sleep_for(5ms);
      }
    }
    return {status_, Out(), Err()};
  }
  // SIGTERM, then Wait.
  CtlResult Stop() {
    if (pid_ > 0) kill(pid_, SIGTERM);
    return Wait(10s);
  }
  // Waits (bounded) until pred(stdout, stderr) holds, or the process ended.
  bool WaitFor(const std::function<bool(const std::string&, const std::string&)>& pred,
               std::chrono::milliseconds timeout = 20s) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      if (pred(Out(), Err())) return true;
      int status = 0;
      if (pid_ > 0 && waitpid(pid_, &status, WNOHANG) == pid_) Ended(status, false);
      if (pid_ <= 0) return pred(Out(), Err());
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

 private:
  void Ended(int status, bool timed_out) {
    status_.timed_out = timed_out;
    status_.exited = WIFEXITED(status);
    status_.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    status_.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    pid_ = -1;
  }

  static inline std::atomic<int> runs_{0};
  std::filesystem::path out_;
  std::filesystem::path err_;
  pid_t pid_ = -1;
  ExitStatus status_;
};

// Forwards TCP connections from a fixed local port to a target that can
// change: vigild restarted on another port keeps one address for vigilctl.
// A connection whose target end closes is closed on the client's side too.
// SetDelay holds each new connection that long before it is forwarded: a
// server slow to answer (loaded, or far away over TLS).
class TcpForwarder {
 public:
  TcpForwarder() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listen_fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    REQUIRE(bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    REQUIRE(listen(listen_fd_, 16) == 0);
    REQUIRE(getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }
  ~TcpForwarder() {
    stop_ = true;
    accept_thread_.join();
    std::lock_guard lock(mu_);
    for (std::thread& t : connections_) t.join();
    close(listen_fd_);
  }
  TcpForwarder(const TcpForwarder&) = delete;
  TcpForwarder& operator=(const TcpForwarder&) = delete;

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  // "127.0.0.1:PORT" new connections go to.
  void SetTarget(const std::string& address) {
    std::lock_guard lock(mu_);
    target_port_ = static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
  }
  void SetDelay(std::chrono::milliseconds delay) {
    std::lock_guard lock(mu_);
    delay_ = delay;
  }

 private:
  void AcceptLoop() {
    while (!stop_) {
      pollfd p{.fd = listen_fd_, .events = POLLIN, .revents = 0};
      if (poll(&p, 1, 50) <= 0) continue;
      const int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      std::lock_guard lock(mu_);
      connections_.emplace_back([this, client, port = target_port_, delay = delay_] {
        for (const auto until = Clock::now() + delay; Clock::now() < until && !stop_;) {
          std::this_thread::sleep_for(10ms);
        }
        Pump(client, port);
      });
    }
  }

  void Pump(int client, uint16_t port) {
    const int server = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    if (server >= 0 && connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
      char buffer[16384];
      pollfd fds[2] = {{.fd = client, .events = POLLIN, .revents = 0},
                       {.fd = server, .events = POLLIN, .revents = 0}};
      bool open = true;
      while (open && !stop_) {
        if (poll(fds, 2, 50) <= 0) continue;
        for (int i = 0; i < 2 && open; ++i) {
          if (fds[i].revents == 0) continue;
          const ssize_t n = read(fds[i].fd, buffer, sizeof(buffer));
          open = n > 0 && WriteAll(fds[1 - i].fd, buffer, static_cast<size_t>(n));
        }
      }
    }
    if (server >= 0) close(server);
    close(client);
  }

  static bool WriteAll(int fd, const char* data, size_t size) {
    while (size > 0) {
      const ssize_t n = write(fd, data, size);
      if (n <= 0) return false;
      data += n;
      size -= static_cast<size_t>(n);
    }
    return true;
  }

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  uint16_t target_port_ = 0;              // guarded by mu_
  std::chrono::milliseconds delay_{0};    // guarded by mu_
  std::vector<std::thread> connections_;  // guarded by mu_
  std::thread accept_thread_;
};

struct Server {
  Server() : vigild(Options(dir)) {
    for (const Token* t : kTokens)
      std::ofstream(dir / (std::string(t->name) + ".token")) << t->secret << "\n";
  }
  static VigildProcess::Options Options(const testing::TempDir& dir) {
    std::ofstream(dir / "rules.yaml") << kRules;
    std::string config = "rules_file: " + (dir / "rules.yaml").string() +
                         "\nalarms:\n  heartbeat_interval: 200ms\nauth:\n  tokens:\n";
    for (const Token* t : kTokens) {
      config += std::string("    - { name: ") + t->name + ", region: \"" + t->region +
                "\", role: " + t->role + ", sha256: " + t->sha256 + " }\n";
    }
    config += kGatewayTokensYaml;  // the gateways'
    return {.config_yaml = config, .registry_yaml = kRegistry};
  }

  // --token-file for `token`.
  std::vector<std::string> As(const Token& token) const {
    return {"--token-file", (dir / (std::string(token.name) + ".token")).string()};
  }
  // vigilctl --server ADDRESS [token args] args..., run to its end (bounded).
  CtlResult Run(std::vector<std::string> args, const Token* token = &kNational,
                const std::vector<std::string>& env = {}) {
    std::vector<std::string> all = {"--server", vigild.address()};
    if (token != nullptr) {
      const auto t = As(*token);
      all.insert(all.end(), t.begin(), t.end());
    }
    all.insert(all.end(), args.begin(), args.end());
    CtlResult result = Vigilctl(dir.path(), all, env).Wait();
    if (std::getenv("VIGIL_E2E_VERBOSE") != nullptr) {  // as for vigild's output
      std::cerr << "$ vigilctl";
      for (const std::string& a : all) std::cerr << " " << a;
      std::cerr << "\n" << result.out << result.err << "[" << result.status.ToString() << "]\n";
    }
    return result;
  }

  // One reading, acked; the gateway's batches are numbered here.
  // `quality` 0: none sent (good); 256: calibration.
  void Send(const std::string& gateway, const std::string& sensor, double value,
            uint32_t quality = 0) {
    v1::IngestBatch batch;
    batch.set_gateway_id(gateway);
    batch.set_epoch(1);
    batch.set_sequence(++sequence[gateway]);
    v1::Series* series = batch.add_series();
    series->set_sensor_id(sensor);
    int64_t& last = last_at[sensor];
    last = std::max(NowMs(), last + 1);
    series->add_timestamps_ms(last);
    series->add_values(value);
    if (quality != 0) series->add_quality(quality);
    grpc::ClientContext context;
    SetDeadline(&context);
    context.AddMetadata("authorization", GatewayAuthorization(gateway));
    v1::IngestAck ack;
    const grpc::Status s = vigild.ingest().Write(&context, batch, &ack);
    INFO(s.error_message());
    REQUIRE(s.ok());
    REQUIRE(ack.stored_readings() == 1);
  }

  // The open alarms, waiting (bounded) until there are `n`: sensor -> alarm id.
  std::map<std::string, uint64_t> WaitOpen(size_t n) {
    std::map<std::string, uint64_t> open;
    const auto deadline = Clock::now() + 15s;
    while (Clock::now() < deadline) {
      grpc::ClientContext context;
      SetDeadline(&context);
      context.AddMetadata("authorization", std::string("Bearer ") + kNational.secret);
      v1::ListActiveResponse list;
      REQUIRE(vigild.alarms().ListActive(&context, {}, &list).ok());
      open.clear();
      for (const auto& a : list.alarms()) open[a.sensor_id()] = a.alarm_id();
      if (open.size() >= n) break;
      std::this_thread::sleep_for(10ms);
    }
    REQUIRE(open.size() == n);
    return open;
  }

  testing::TempDir dir;
  VigildProcess vigild;
  std::map<std::string, uint64_t> sequence;
  std::map<std::string, int64_t> last_at;
};

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The seq of every JSON event line, in order.
std::vector<uint64_t> EventSeqs(const std::string& out) {
  constexpr std::string_view kPrefix = "{\"type\":\"event\",\"seq\":";
  std::vector<uint64_t> seqs;
  for (const std::string& line : Lines(out)) {
    if (line.starts_with(kPrefix)) seqs.push_back(std::stoull(line.substr(kPrefix.size())));
  }
  return seqs;
}

#define CHECK_RUN(result, expected_code)                            \
  do {                                                              \
    INFO("vigilctl " << (result).status.ToString() << "\nstdout:\n" \
                     << (result).out << "stderr:\n"                 \
                     << (result).err);                              \
    REQUIRE((result).code() == (expected_code));                    \
  } while (false)

TEST_CASE("vigilctl alarms list, ack, show, shelve, unshelve and history", "[e2e][vigilctl]") {
  Server server;
  server.vigild.Start();
  server.Send("gw-jn", "t-jn", 60);
  server.Send("gw-qd", "ch4-qd", 1.2);
  server.Send("gw-hb", "t-hb", 70);
  const auto open = server.WaitOpen(3);
  const std::string jinan = std::to_string(open.at("t-jn"));

  // The Shandong viewer sees its province only, as text.
  CtlResult list = server.Run({"alarms", "list"}, &kShandong);
  CHECK_RUN(list, 0);
  CHECK(Has(list.out, "open alarms at seq 3: 2\n"));
  CHECK(Has(list.out, "alarm=" + jinan +
                          " threshold orange active_unacked sensor=t-jn (temperature, degC) "
                          "enterprise=e-jinan (Jinan Tianqiao Tank Farm) region=370105 level=h "
                          "value=60 threshold=50 raised="));
  CHECK(Has(list.out, "sensor=ch4-qd"));
  CHECK_FALSE(Has(list.out, "t-hb"));

  // JSON, the token from the environment; filters.
  list = server.Run({"alarms", "list", "--json"}, nullptr,
                    {std::string("VIGIL_TOKEN=") + kNational.secret});
  CHECK_RUN(list, 0);
  REQUIRE(Lines(list.out).size() == 1);
  CHECK(list.out.starts_with("{\"type\":\"snapshot\",\"seq\":3,\"alarms\":[{\"alarm_id\":"));
  CHECK(Has(list.out, "\"sensor_id\":\"t-hb\""));
  CHECK(Has(list.out,
            "\"kind\":\"threshold\",\"state\":\"active_unacked\",\"severity\":2,"
            "\"severity_name\":\"orange\""));
  list = server.Run({"alarms", "list", "--json", "--region", "13"});
  CHECK_RUN(list, 0);
  CHECK(Has(list.out, "\"sensor_id\":\"t-hb\""));
  CHECK_FALSE(Has(list.out, "t-jn"));
  list = server.Run({"alarms", "list", "--json", "--enterprise", "e-qingdao", "--kind", "threshold",
                     "--min-severity", "orange"});
  CHECK_RUN(list, 0);
  CHECK(Has(list.out, "\"sensor_id\":\"ch4-qd\""));
  CHECK_FALSE(Has(list.out, "t-jn"));
  list = server.Run({"alarms", "list", "--min-severity", "red", "--enterprise-kind", "coal_mine"});
  CHECK_RUN(list, 0);
  CHECK(list.out == "open alarms at seq 3: 0\n");

  // Acknowledge, once with effect; show has who and why.
  CtlResult ack = server.Run(
      {"alarms", "ack", jinan, "--by", "zhang.san", "--comment", "crew on the way"}, &kJinan);
  CHECK_RUN(ack, 0);
  CHECK(Has(ack.out, " #4 acknowledged orange active_acked alarm=" + jinan));
  // Who acted is the token; the typed name is kept, marked, in the comment.
  CHECK(Has(ack.out, " by=jinan-lixia comment=\"by zhang.san: crew on the way\"\n"));
  ack = server.Run({"alarms", "ack", jinan, "--by", "zhang.san"}, &kJinan);
  CHECK_RUN(ack, 0);
  CHECK(ack.out == "alarm=" + jinan + " unchanged (already acknowledged)\n");
  CtlResult show = server.Run({"alarms", "show", jinan}, &kJinan);
  CHECK_RUN(show, 0);
  CHECK(Has(show.out, "alarm=" + jinan + " threshold orange active_acked sensor=t-jn"));
  CHECK(Has(show.out, "history (2 events):\n"));
  CHECK(Has(show.out, " #1 raised orange active_unacked"));
  CHECK(Has(show.out, " #4 acknowledged orange active_acked"));
  show = server.Run({"alarms", "show", jinan, "--json"}, &kShandong);
  CHECK_RUN(show, 0);
  CHECK(show.out.starts_with("{\"alarm\":{\"alarm_id\":" + jinan +
                             ",\"kind\":\"threshold\",\"state\":\"active_acked\""));
  CHECK(Has(show.out, ",\"history\":[{\"type\":\"event\",\"seq\":1,\"kind\":\"raised\""));
  CHECK(Has(show.out, "{\"type\":\"event\",\"seq\":4,\"kind\":\"acknowledged\""));
  CHECK(Has(show.out, "\"actor\":\"jinan-lixia\",\"comment\":\"by zhang.san: crew on the way\""));

  // Shelve for 2h, then unshelve early; unshelving again is refused.
  CtlResult shelve = server.Run({"alarms", "shelve", jinan, "--for", "2h", "--reason",
                                 "sensor recalibration", "--by", "li.si"},
                                &kJinan);
  CHECK_RUN(shelve, 0);
  CHECK(Has(shelve.out, " #5 shelved "));
  CHECK(Has(shelve.out, " shelved_until=\""));
  CHECK(Has(shelve.out, " by=jinan-lixia comment=\"by li.si: sensor recalibration\""));
  show = server.Run({"alarms", "show", jinan, "--json"});
  CHECK_RUN(show, 0);
  CHECK_FALSE(Has(show.out.substr(0, show.out.find("\"history\"")), "\"shelved_until_ms\":0,"));
  CtlResult unshelve =
      server.Run({"alarms", "unshelve", jinan, "--by", "li.si", "--comment", "done"}, &kJinan);
  CHECK_RUN(unshelve, 0);
  CHECK(Has(unshelve.out, " #6 unshelved "));
  unshelve = server.Run({"alarms", "unshelve", jinan, "--by", "li.si"}, &kJinan);
  CHECK_RUN(unshelve, 1);
  CHECK(Has(unshelve.err, "alarms unshelve failed: FAILED_PRECONDITION (9): "));

  // History: every event of the last hour, one page or many, by time or region.
  CtlResult history = server.Run({"alarms", "history", "--since", "1h", "--json"});
  CHECK_RUN(history, 0);
  CHECK(EventSeqs(history.out) == std::vector<uint64_t>{1, 2, 3, 4, 5, 6});
  CHECK(Lines(history.out).size() == 6);
  const CtlResult paged =
      server.Run({"alarms", "history", "--since", "1h", "--json", "--page-size", "2"});
  CHECK_RUN(paged, 0);
  CHECK(paged.out == history.out);
  history = server.Run({"alarms", "history", "--since", "1h", "--limit", "2"});
  CHECK_RUN(history, 0);
  REQUIRE(Lines(history.out).size() == 2);
  CHECK(Has(history.out, " #1 raised "));
  CHECK(Has(history.err, "--limit 2"));
  const int64_t now = NowMs();
  const std::time_t hour_ago = static_cast<std::time_t>(now / 1000 - 3600);
  char from[32];
  std::strftime(from, sizeof(from), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&hour_ago));
  history = server.Run({"alarms", "history", "--from", from, "--to", std::to_string(now + 60'000),
                        "--region", "37", "--json"});
  CHECK_RUN(history, 0);
  CHECK(EventSeqs(history.out) == std::vector<uint64_t>{1, 2, 4, 5, 6});
  history = server.Run({"alarms", "history"}, &kJinan);
  CHECK_RUN(history, 0);
  CHECK(Lines(history.out).size() == 4);
  CHECK(Has(history.out, " by=jinan-lixia comment=\"by zhang.san: crew on the way\""));
  history = server.Run({"alarms", "history", "--from", std::to_string(now + 60'000)});
  CHECK_RUN(history, 0);
  CHECK(history.out.empty());
  CHECK(Has(history.err, "no matching events"));
}

TEST_CASE("vigilctl names sensors and enterprises next to their ids, for a viewer",
          "[e2e][vigilctl]") {
  Server server;
  server.vigild.Start();
  // A watch from before the alarms: its snapshot is empty, its events are live.
  Vigilctl watch(server.dir.path(), {"--server", server.vigild.address(), "alarms", "watch"},
                 {std::string("VIGIL_TOKEN=") + kShandong.secret});
  REQUIRE(watch.WaitFor([](const std::string& out, const std::string&) {
    return out.starts_with("open alarms at seq 0: 0\n");
  }));
  server.Send("gw-jn", "t-jn", 60);
  server.Send("gw-qd", "ch4-qd", 1.2);
  const auto open = server.WaitOpen(2);
  const std::string jinan = std::to_string(open.at("t-jn"));
  const std::string t_jn =
      "sensor=t-jn (temperature, degC) enterprise=e-jinan (Jinan Tianqiao Tank Farm) "
      "region=370105";
  // e-qingdao has no name in the registry: the bare id.
  const std::string ch4_qd = "sensor=ch4-qd (methane, %CH4) enterprise=e-qingdao region=370202";

  // Every alarm command, with the Shandong viewer's token (no registry access).
  REQUIRE(watch.WaitFor([&](const std::string& out, const std::string&) {
    return Has(out, t_jn) && Has(out, ch4_qd);
  }));
  CHECK_RUN(watch.Stop(), 0);
  const CtlResult list = server.Run({"alarms", "list"}, &kShandong);
  CHECK_RUN(list, 0);
  CHECK(Has(list.out, "alarm=" + jinan + " threshold orange active_unacked " + t_jn));
  CHECK(Has(list.out, ch4_qd));
  const CtlResult show = server.Run({"alarms", "show", jinan}, &kShandong);
  CHECK_RUN(show, 0);
  CHECK(Has(show.out, "alarm=" + jinan + " threshold orange active_unacked " + t_jn));
  CHECK(Has(show.out, " #1 raised orange active_unacked alarm=" + jinan + " threshold " + t_jn));
  const CtlResult history = server.Run({"alarms", "history", "--since", "1h"}, &kShandong);
  CHECK_RUN(history, 0);
  CHECK(Has(history.out, t_jn));
  CHECK(Has(history.out, ch4_qd));
  // JSON: three more fields, after the fixed ones.
  const CtlResult json = server.Run({"alarms", "show", jinan, "--json"}, &kShandong);
  CHECK_RUN(json, 0);
  CHECK(Has(json.out,
            "\"shelved_until_ms\":0,\"enterprise_name\":\"Jinan Tianqiao Tank Farm\","
            "\"sensor_quantity\":\"temperature\",\"sensor_unit\":\"degC\"}"));

  // latest and readings: the enterprise on a line of its own, the sensor's quantity and unit.
  const CtlResult latest = server.Run({"latest", "--enterprise", "e-jinan"}, &kShandong);
  CHECK_RUN(latest, 0);
  CHECK(latest.out.starts_with("# enterprise e-jinan (Jinan Tianqiao Tank Farm)\nsensor "));
  CHECK(Has(latest.out, "\nt-jn (temperature, degC)  "));
  const CtlResult both = server.Run({"latest", "t-jn", "ch4-qd"}, &kShandong);
  CHECK_RUN(both, 0);
  CHECK(both.out.starts_with(
      "# enterprise e-jinan (Jinan Tianqiao Tank Farm)\n# enterprise e-qingdao\nsensor "));
  CHECK(Has(both.out, "\nch4-qd (methane, %CH4)  "));
  const CtlResult csv = server.Run({"latest", "t-jn", "--csv"}, &kShandong);
  CHECK_RUN(csv, 0);
  CHECK(csv.out.starts_with("sensor,time,time_ms,value,quality,alarms\nt-jn,"));
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"readings", "t-jn"},
        std::vector<std::string>{"readings", "t-jn", "--step", "5m"}}) {
    const CtlResult readings = server.Run(args, &kShandong);
    CHECK_RUN(readings, 0);
    CHECK(readings.out.starts_with(
        "# sensor t-jn (temperature, degC) enterprise e-jinan (Jinan Tianqiao Tank Farm)\n"));
  }
}

TEST_CASE("vigilctl gateway status: enterprise, watermark, open alarms of the enterprise",
          "[e2e][vigilctl]") {
  Server server;
  server.vigild.Start();
  server.Send("gw-jn", "t-jn", 60);
  server.Send("gw-jn", "t-jn", 61);
  const std::string jinan = std::to_string(server.WaitOpen(1).at("t-jn"));

  CtlResult status = server.Run({"gateway", "status", "gw-jn"}, &kJinan);
  CHECK_RUN(status, 0);
  CHECK(status.out.starts_with(
      "gateway gw-jn enterprise=e-jinan (Jinan Tianqiao Tank Farm) epoch=1 sequence=2\n"
      "open alarms at seq 1: 1\n"
      "  alarm=" +
      jinan + " threshold orange active_unacked sensor=t-jn (temperature, degC) "));
  // Never written: no watermark; no open alarm.
  status = server.Run({"gateway", "status", "gw-hb"}, &kHebei);
  CHECK_RUN(status, 0);
  CHECK(status.out == "gateway gw-hb enterprise=e-hebei none\nopen alarms at seq 1: 0\n");
  // Another region's gateway is answered as one that does not exist.
  status = server.Run({"gateway", "status", "gw-hb"}, &kJinan);
  CHECK_RUN(status, 3);
  CHECK_RUN(server.Run({"gateway", "status"}), 2);
  CHECK(Has(server.Run({"gateway", "status", "--help"}).out, "usage: vigilctl gateway status"));
}

TEST_CASE("vigilctl exit codes: not found 3, denied 4, bad usage 2, failed 1, and help",
          "[e2e][vigilctl]") {
  Server server;
  server.vigild.Start();
  server.Send("gw-jn", "t-jn", 60);
  const std::string id = std::to_string(server.WaitOpen(1).at("t-jn"));

  SECTION("not found, permission denied, unauthenticated") {
    CtlResult r = server.Run({"alarms", "show", "999999"});
    CHECK_RUN(r, 3);
    CHECK(Has(r.err, "alarms show failed: NOT_FOUND (5): "));
    CHECK_RUN(server.Run({"alarms", "ack", "999999", "--by", "x"}, &kJinan), 3);
    // --by is optional: the token names who acts.
    CHECK_RUN(server.Run({"alarms", "ack", "999999"}, &kJinan), 3);
    r = server.Run({"alarms", "show", id}, &kHebei);  // another region's: as if missing
    CHECK_RUN(r, 3);
    CHECK(Has(r.err, "alarms show failed: NOT_FOUND (5): "));
    CHECK_RUN(server.Run({"alarms", "list", "--region", "37"}, &kHebei), 4);
    CHECK_RUN(server.Run({"alarms", "ack", id, "--by", "x"}, &kShandong), 4);  // a viewer
    CHECK_RUN(server.Run({"alarms", "watch", "--region", "37"}, &kHebei), 4);
    r = server.Run({"alarms", "list"}, nullptr);
    CHECK_RUN(r, 4);
    CHECK(Has(r.err, "alarms list failed: UNAUTHENTICATED (16): "));
    CHECK_RUN(server.Run({"alarms", "list"}, nullptr, {"VIGIL_TOKEN=not-a-token"}), 4);
    // A shelve outside the server's alarms.max_shelve.
    r = server.Run({"alarms", "shelve", id, "--for", "9h", "--reason", "r", "--by", "x"}, &kJinan);
    CHECK_RUN(r, 1);
    CHECK(Has(r.err, "INVALID_ARGUMENT"));
    // In the units the operator typed, not milliseconds.
    CHECK(Has(r.err, "the shelving duration must be 1ms..8h (alarms.max_shelve), got 9h"));
  }
  SECTION("bad usage") {
    const std::vector<std::vector<std::string>> bad = {
        {"alarms"},
        {"alarms", "frobnicate"},
        {"alarms", "ack", "twelve", "--by", "x"},
        {"alarms", "ack", id, "--by"},
        {"alarms", "show"},
        {"alarms", "show", id, id},
        {"alarms", "shelve", id, "--for", "forever", "--reason", "r", "--by", "x"},
        {"alarms", "shelve", id, "--for", "2h", "--by", "x"},
        {"alarms", "list", "--token", kNational.secret},
        {"alarms", "list", "--region", "37x"},
        {"alarms", "list", "--min-severity", "5"},
        {"alarms", "watch", "--kind", "bogus"},
        {"alarms", "watch", "--json=yes"},
        {"alarms", "history", "--since", "1h", "--from", "0"},
        {"alarms", "history", "--from", "yesterday"},
        {"alarms", "history", "--from", "2024-02-30T00:00:00Z"},
        {"alarms", "history", "--limit", "0"},
        {"--token-file", (server.dir / "missing.token").string(), "alarms", "list"},
    };
    for (const auto& args : bad) {
      std::string line;
      for (const std::string& a : args) line += " " + a;
      INFO("vigilctl" << line);
      const CtlResult r = server.Run(args);
      CHECK_RUN(r, 2);
      CHECK(Has(r.err, "usage: vigilctl"));
    }
    // A cursor file that holds no seq.
    std::ofstream(server.dir / "bad.cursor") << "seq 12\n";
    CHECK_RUN(
        server.Run({"alarms", "watch", "--cursor-file", (server.dir / "bad.cursor").string()}), 2);
  }
  SECTION("help on every command; hash-token") {
    CtlResult r = server.Run({"--help"});
    CHECK_RUN(r, 0);
    CHECK(Has(r.out, "alarms SUBCOMMAND"));
    CHECK(Has(r.out, "Exit codes:"));
    r = server.Run({"alarms", "--help"});
    CHECK_RUN(r, 0);
    CHECK(Has(r.out, "  watch "));
    for (const char* sub : {"watch", "list", "show", "history", "ack", "shelve", "unshelve"}) {
      INFO(sub);
      r = server.Run({"alarms", sub, "--help"});
      CHECK_RUN(r, 0);
      CHECK(r.out.starts_with(std::string("usage: vigilctl alarms ") + sub));
      CHECK(Has(r.out, "  5  alarms watch: the cursor is older"));
    }
    CHECK(Has(server.Run({"alarms", "ack", "--help"}).out, "--by NAME"));
    CHECK(Has(server.Run({"alarms", "watch", "--help"}).out, "--cursor-file FILE"));
    CHECK(Has(server.Run({"alarms", "watch", "--help"}).out, "\"severity_name\""));

    for (const Token* t : kTokens) {
      r = Vigilctl(server.dir.path(), {"hash-token"}, {}, std::string(t->secret) + "\n").Wait();
      CHECK_RUN(r, 0);
      CHECK(r.out == std::string(t->sha256) + "\n");
    }
    CHECK_RUN(Vigilctl(server.dir.path(), {"hash-token"}, {}, "\n").Wait(), 2);
  }
  SECTION("server down: 1 with the gRPC code") {
    server.vigild.Terminate();
    const CtlResult r = server.Run({"alarms", "list"});
    CHECK_RUN(r, 1);
    CHECK(Has(r.err, "UNAVAILABLE"));
  }
}

TEST_CASE("vigilctl waits for a server slow to answer the connection", "[e2e][vigilctl]") {
  Server server;
  server.vigild.Start();
  TcpForwarder slow;
  slow.SetTarget(server.vigild.address());
  // 1.5 s before the server's HTTP/2 settings arrive: vigilctl once gave a
  // connection attempt 500 ms (GRPC_ARG_MIN_RECONNECT_BACKOFF_MS) and failed
  // UNAVAILABLE, as it did against a TSan-slowed vigild.
  slow.SetDelay(1500ms);
  const auto token = server.As(kNational);
  std::vector<std::string> args = {"--server", slow.address()};
  args.insert(args.end(), token.begin(), token.end());
  args.insert(args.end(), {"alarms", "list"});
  const CtlResult r = Vigilctl(server.dir.path(), args).Wait();
  CHECK_RUN(r, 0);
  CHECK(Has(r.out, "open alarms at seq 0: 0\n"));
}

TEST_CASE(
    "vigilctl alarms watch --json: a cursor file resumes with no gap and no duplicate, across a "
    "stop, a server kill -9 and an expired cursor",
    "[e2e][vigilctl][crash]") {
  Server server;
  server.vigild.Start();
  TcpForwarder proxy;
  proxy.SetTarget(server.vigild.address());
  const std::string cursor = (server.dir / "watch.cursor").string();
  const std::vector<std::string> watch = {"--server", proxy.address(), "alarms", "watch",
                                          "--json",   "--cursor-file", cursor};
  const std::vector<std::string> env = {std::string("VIGIL_TOKEN=") + kNational.secret};
  // Readings alternate above and below 50: one event each (raised, cleared, ...).
  int sent = 0;
  auto send = [&](int n) {
    for (int i = 0; i < n; ++i, ++sent) server.Send("gw-jn", "t-jn", sent % 2 == 0 ? 60 : 40);
  };
  auto events = [](size_t n) {
    return [n](const std::string& out, const std::string&) { return EventSeqs(out).size() >= n; };
  };

  // No cursor file yet: a snapshot (empty), then live events.
  Vigilctl first(server.dir.path(), watch, env);
  REQUIRE(first.WaitFor([](const std::string& out, const std::string&) {
    return out.starts_with("{\"type\":\"snapshot\",\"seq\":0,\"alarms\":[]}\n");
  }));
  send(6);
  REQUIRE(first.WaitFor(events(6)));
  const CtlResult stopped = first.Stop();
  CHECK_RUN(stopped, 0);
  CHECK(ReadFile(cursor) == "6\n");

  // Events while nobody watches, then resume: no snapshot, from seq 7 on.
  send(4);
  Vigilctl second(server.dir.path(), watch, env);
  REQUIRE(second.WaitFor(events(4)));
  CHECK(Has(second.Err(), "resuming after seq 6"));

  // The server dies under the stream and comes back on another port.
  server.vigild.Kill9();
  REQUIRE(second.WaitFor(
      [](const std::string&, const std::string& err) { return Has(err, "reconnecting in"); }));
  server.vigild.Restart();
  proxy.SetTarget(server.vigild.address());
  send(4);
  REQUIRE(second.WaitFor(events(8), 30s));
  const CtlResult resumed = second.Stop();
  CHECK_RUN(resumed, 0);
  CHECK_FALSE(Has(resumed.out, "snapshot"));
  CHECK(ReadFile(cursor) == "14\n");

  std::vector<uint64_t> all = EventSeqs(stopped.out);
  for (uint64_t seq : EventSeqs(resumed.out)) all.push_back(seq);
  std::vector<uint64_t> expected(14);
  for (size_t i = 0; i < expected.size(); ++i) expected[i] = i + 1;
  CHECK(all == expected);

  // --once: a broken stream ends the watch (1) instead of reconnecting.
  Vigilctl once(
      server.dir.path(),
      [&] {
        auto args = watch;
        args.push_back("--once");
        return args;
      }(),
      env);
  send(1);
  REQUIRE(once.WaitFor(events(1)));
  server.vigild.Kill9();
  const CtlResult broke = once.Wait(20s);
  CHECK_RUN(broke, 1);
  CHECK(Has(broke.err, "--once"));
  CHECK(EventSeqs(broke.out) == std::vector<uint64_t>{15});

  // A cursor the journal does not have: exit 5, or --resync to a snapshot.
  server.vigild.Restart();
  proxy.SetTarget(server.vigild.address());
  std::ofstream(cursor, std::ios::trunc) << "1000\n";
  const CtlResult expired = Vigilctl(server.dir.path(), watch, env).Wait(20s);
  CHECK_RUN(expired, 5);
  CHECK(Has(expired.err, "OUT_OF_RANGE"));
  CHECK(Has(expired.err, "--resync"));
  auto resync_args = watch;
  resync_args.push_back("--resync");
  Vigilctl resync(server.dir.path(), resync_args, env);
  REQUIRE(resync.WaitFor([](const std::string& out, const std::string&) {
    return out.starts_with("{\"type\":\"snapshot\",\"seq\":15,\"alarms\":[{");
  }));
  CHECK_RUN(resync.Stop(), 0);
  CHECK(Has(resync.Out(), "\"sensor_id\":\"t-jn\""));
  CHECK(ReadFile(cursor) == "15\n");
}

// Event lines of a JSON stream or history naming `part`.
std::vector<std::string> LinesWith(const std::string& out, const std::string& part) {
  std::vector<std::string> found;
  for (const std::string& line : Lines(out)) {
    if (Has(line, part)) found.push_back(line);
  }
  return found;
}

TEST_CASE(
    "vigilctl planned: a window over a calibration is journaled as planned, notified to no "
    "subscriber, and normal alarms resume when it expires",
    "[e2e][vigilctl][planned]") {
  Server server;
  server.vigild.Start();
  const std::vector<std::string> env = {std::string("VIGIL_TOKEN=") + kNational.secret};
  Vigilctl watch(server.dir.path(),
                 {"--server", server.vigild.address(), "alarms", "watch", "--json"}, env);
  REQUIRE(watch.WaitFor([](const std::string& out, const std::string&) {
    return out.starts_with("{\"type\":\"snapshot\",\"seq\":0,\"alarms\":[]}\n");
  }));

  // The methane detector of the Qingdao mine is calibrated for 6 s.
  CtlResult open =
      server.Run({"planned", "open", "--enterprise", "e-qingdao", "--sensor", "ch4-qd", "--reason",
                  "methane detector calibration", "--owner", "Wang Wu", "--for", "6s"});
  CHECK_RUN(open, 0);
  const std::string id = open.out.substr(0, open.out.find(' '));
  REQUIRE(id.starts_with("pw-"));
  CHECK(Has(open.out, " enterprise=e-qingdao sensors=ch4-qd start=\""));
  CHECK(
      Has(open.out, " owner=\"Wang Wu\" reason=\"methane detector calibration\" by=\"national\""));
  CtlResult list = server.Run({"planned", "list"}, &kShandong);
  CHECK_RUN(list, 0);
  CHECK(list.out.starts_with(id + " enterprise=e-qingdao"));
  list = server.Run({"planned", "list"}, &kHebei);  // another province's window is not shown
  CHECK_RUN(list, 0);
  CHECK(list.out.empty());
  // A viewer may not open one; a duration past alarms.max_planned_work is refused.
  CHECK_RUN(server.Run({"planned", "open", "--enterprise", "e-qingdao", "--reason", "x", "--owner",
                        "y", "--for", "1h"},
                       &kShandong),
            4);
  CHECK_RUN(server.Run({"planned", "open", "--enterprise", "e-qingdao", "--reason", "x", "--owner",
                        "y", "--for", "13h"}),
            1);

  // Test gas: readings flagged as calibration (quality 256) go H, HH and back.
  server.Send("gw-qd", "ch4-qd", 1.2, 256);
  server.Send("gw-qd", "ch4-qd", 1.6, 256);
  server.Send("gw-qd", "ch4-qd", 0.2, 256);
  // Calibration over, gas still high while the window lasts: planned too.
  server.Send("gw-qd", "ch4-qd", 1.2);
  // Another enterprise's alarm is notified as usual meanwhile.
  server.Send("gw-jn", "t-jn", 60);
  REQUIRE(watch.WaitFor([](const std::string& out, const std::string&) {
    return Has(out, "\"sensor_id\":\"t-jn\"");
  }));
  CHECK(LinesWith(watch.Out(), "ch4-qd").empty());
  const CtlResult active = server.Run({"alarms", "list"});
  CHECK_RUN(active, 0);
  CHECK_FALSE(Has(active.out, "ch4-qd"));
  const CtlResult planned_now = server.Run({"alarms", "list", "--include-planned"});
  CHECK_RUN(planned_now, 0);
  CHECK(Has(planned_now.out, " threshold orange planned sensor=ch4-qd"));
  CHECK(Has(planned_now.out, " planned_work=" + id));

  // The window expires by itself: the methane still there is a normal alarm now.
  REQUIRE(watch.WaitFor([](const std::string& out,
                           const std::string&) { return Has(out, "\"sensor_id\":\"ch4-qd\""); },
                        30s));
  const std::vector<std::string> notified = LinesWith(watch.Out(), "ch4-qd");
  REQUIRE(notified.size() == 1);
  CHECK(Has(notified[0], "\"kind\":\"raised\""));
  CHECK(Has(notified[0], "\"state\":\"active_unacked\""));
  CHECK(Has(notified[0],
            "\"comment\":\"planned work " + id + " ended; the condition is still present\""));
  CHECK_FALSE(Has(watch.Out(), "\"state\":\"planned\""));
  CHECK_FALSE(Has(watch.Out(), "planned_work"));
  CHECK_RUN(watch.Stop(), 0);
  list = server.Run({"planned", "list"});
  CHECK_RUN(list, 0);
  CHECK(list.out.empty());

  // Everything is in the journal: as planned, the window's entries with who.
  const CtlResult history = server.Run({"alarms", "history", "--include-planned", "--json"});
  CHECK_RUN(history, 0);
  const std::vector<std::string> events = LinesWith(history.out, "\"type\":\"event\"");
  std::vector<std::string> kinds;
  for (const std::string& line : events) {
    if (Has(line, "t-jn")) continue;
    const size_t at = line.find("\"kind\":\"") + 8;
    const std::string state = line.substr(line.find("\"state\":\"") + 9);
    kinds.push_back(line.substr(at, line.find('"', at) - at) + "/" +
                    state.substr(0, state.find('"')));
  }
  REQUIRE(kinds.size() == 7);
  // The expiry's two entries come from two shards: in either order.
  if (kinds[5] > kinds[6]) std::swap(kinds[5], kinds[6]);
  CHECK(kinds == std::vector<std::string>{"planned_work_opened/closed", "raised/planned",
                                          "escalated/planned", "cleared/closed", "raised/planned",
                                          "planned_work_closed/closed", "raised/active_unacked"});
  REQUIRE(events.size() == 8);
  CHECK(Has(events[0], "\"actor\":\"national\""));
  CHECK(Has(events[0], "\"planned_work_id\":\"" + id + "\""));
  CHECK(Has(events[1], "\"planned_work_id\":\"calibration\""));
  CHECK(Has(events[3], "\"planned_work_id\":\"calibration\""));
  CHECK(Has(events[4], "\"planned_work_id\":\"" + id + "\""));
  CHECK(Has(history.out, "\"kind\":\"planned_work_closed\",\"at_ms\""));
  CHECK(Has(history.out, "\"actor\":\"\",\"comment\":\"expired\""));
  // Without --include-planned: only what was annunciated.
  const CtlResult plain = server.Run({"alarms", "history", "--json"});
  CHECK_RUN(plain, 0);
  CHECK(LinesWith(plain.out, "\"type\":\"event\"").size() == 2);
}

TEST_CASE("vigilctl planned: windows survive a restart and are closed early by an operator",
          "[e2e][vigilctl][planned]") {
  Server server;
  server.vigild.Start();
  CtlResult open = server.Run({"planned", "open", "--enterprise", "e-jinan", "--reason",
                               "tank cleaning", "--owner", "contractor", "--for", "2h"},
                              &kJinan);
  CHECK_RUN(open, 0);
  const std::string id = open.out.substr(0, open.out.find(' '));
  CHECK(Has(open.out, " sensors=all "));
  server.Send("gw-jn", "t-jn", 60);  // planned: the whole enterprise is covered

  // A kill -9 (the ingest log replayed), then a clean stop (from the engine
  // snapshot): the window, and its planned alarm, are still there.
  server.vigild.Kill9();
  server.vigild.Restart();
  CtlResult list = server.Run({"planned", "list"});
  CHECK_RUN(list, 0);
  CHECK(list.out.starts_with(id + " enterprise=e-jinan sensors=all"));
  REQUIRE(server.vigild.Terminate().ExitedWith(0));
  server.vigild.Restart();
  list = server.Run({"planned", "list", "--json"});
  CHECK_RUN(list, 0);
  CHECK(list.out.starts_with("{\"id\":\"" + id + "\",\"enterprise_id\":\"e-jinan\""));
  CtlResult planned = server.Run({"alarms", "list", "--include-planned"});
  CHECK_RUN(planned, 0);
  CHECK(Has(planned.out, " planned sensor=t-jn"));

  // Another region may not close it (as if it did not exist); its own operator does.
  CHECK_RUN(server.Run({"planned", "close", id}, &kHebei), 3);
  CHECK_RUN(server.Run({"planned", "close", "pw-000000000000"}), 3);
  CtlResult closed = server.Run({"planned", "close", id, "--comment", "done early"}, &kJinan);
  CHECK_RUN(closed, 0);
  CHECK(Has(closed.out, " planned_work_closed "));
  CHECK(Has(closed.out, " by=jinan-lixia comment=\"done early\""));
  // The temperature is still high: a normal alarm now.
  server.WaitOpen(1);
  list = server.Run({"planned", "list"});
  CHECK_RUN(list, 0);
  CHECK(list.out.empty());
}

}  // namespace
}  // namespace vigil::e2e
