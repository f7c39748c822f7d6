#include "tests/e2e/vigild_process.h"

#include <errno.h>
#include <fcntl.h>
#include <grpcpp/generic/generic_stub.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <utility>

// The listener below shows vigild's output when a test case fails.
#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include <catch2/catch.hpp>

#include "tests/e2e/external_process.h"

#ifndef VIGILD_PATH
#error "VIGILD_PATH must name the vigild binary (tests/e2e/CMakeLists.txt)"
#endif
#ifndef VIGILCTL_PATH
#error "VIGILCTL_PATH must name the vigilctl binary (tests/e2e/CMakeLists.txt)"
#endif

namespace vigil::e2e {
namespace {

constexpr std::string_view kListeningPrefix = "vigild listening grpc=";
// Shown on failure: the end of what each child printed.
constexpr size_t kMaxShownOutput = 256 * 1024;

// Output of every VigildProcess of the running test case, for the listener.
struct OutputRegistry {
  std::mutex mu;
  std::set<const VigildProcess*> live;
  std::vector<std::string> finished;
};

OutputRegistry& Outputs() {
  static OutputRegistry* registry = new OutputRegistry;
  return *registry;
}

std::string Tail(const std::string& text) {
  if (text.size() <= kMaxShownOutput) return text;
  return "[... " + std::to_string(text.size() - kMaxShownOutput) + " bytes cut ...]\n" +
         text.substr(text.size() - kMaxShownOutput);
}

struct VigildOutputListener : Catch::TestEventListenerBase {
  using TestEventListenerBase::TestEventListenerBase;

  void testCaseStarting(const Catch::TestCaseInfo& info) override {
    TestEventListenerBase::testCaseStarting(info);
    std::lock_guard lock(Outputs().mu);
    Outputs().finished.clear();
  }

  void testCaseEnded(const Catch::TestCaseStats& stats) override {
    // VIGIL_E2E_VERBOSE=1 shows it for passing test cases too.
    if (stats.totals.assertions.failed > 0 || std::getenv("VIGIL_E2E_VERBOSE") != nullptr) {
      std::lock_guard lock(Outputs().mu);
      std::vector<std::string> shown = Outputs().finished;
      for (const VigildProcess* process : Outputs().live) shown.push_back(process->Output());
      for (const std::string& output : shown) {
        std::cerr << "----- vigild output (test case \"" << stats.testInfo.name << "\") -----\n"
                  << Tail(output) << "\n----- end of vigild output -----\n";
      }
    }
    TestEventListenerBase::testCaseEnded(stats);
  }
};

// A started child: its pid and the read end of its stdout+stderr pipe.
struct Child {
  pid_t pid = -1;
  int output_fd = -1;
};

std::string Errno(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

Child Spawn(const std::vector<std::string>& args) {
  std::vector<std::string> all;
  all.emplace_back(VIGILD_PATH);
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : all) argv.push_back(arg.data());
  argv.push_back(nullptr);

  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(Errno("pipe2"));
  const int dev_null = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (dev_null < 0) {
    close(fds[0]);
    close(fds[1]);
    throw std::runtime_error(Errno("open /dev/null"));
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    close(dev_null);
    throw std::runtime_error(Errno("fork"));
  }
  if (pid == 0) {
    // Child: async-signal-safe calls only. Dies with the test process.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction default_action {};
    default_action.sa_handler = SIG_DFL;
    for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGHUP}) sigaction(sig, &default_action, nullptr);
    if (dup2(dev_null, STDIN_FILENO) < 0 || dup2(fds[1], STDOUT_FILENO) < 0 ||
        dup2(fds[1], STDERR_FILENO) < 0) {
      _exit(127);
    }
    execv(argv[0], argv.data());
    static const char kMessage[] = "e2e harness: execv of vigild failed\n";
    ssize_t ignored = write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
    (void)ignored;
    _exit(127);
  }
  close(fds[1]);
  close(dev_null);
  return Child{pid, fds[0]};
}

ExitStatus FromWaitStatus(int wait_status) {
  ExitStatus status;
  if (WIFEXITED(wait_status)) {
    status.exited = true;
    status.code = WEXITSTATUS(wait_status);
  } else if (WIFSIGNALED(wait_status)) {
    status.signal = WTERMSIG(wait_status);
  }
  return status;
}

// Blocking waitpid on `pid`, retrying on EINTR.
int WaitBlocking(pid_t pid) {
  int wait_status = 0;
  while (waitpid(pid, &wait_status, 0) < 0) {
    if (errno != EINTR) throw std::runtime_error(Errno("waitpid"));
  }
  return wait_status;
}

// Polls waitpid(WNOHANG) until `pid` exits or `deadline`; then SIGKILL.
ExitStatus WaitBounded(pid_t pid, std::chrono::steady_clock::time_point deadline) {
  while (true) {
    int wait_status = 0;
    const pid_t done = waitpid(pid, &wait_status, WNOHANG);
    if (done == pid) return FromWaitStatus(wait_status);
    if (done < 0 && errno != EINTR) throw std::runtime_error(Errno("waitpid"));
    if (std::chrono::steady_clock::now() >= deadline) {
      kill(pid, SIGKILL);
      ExitStatus status = FromWaitStatus(WaitBlocking(pid));
      status.timed_out = true;
      return status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void ReadUntilEof(int fd, const std::function<void(const char*, size_t)>& sink) {
  char buffer[16 * 1024];
  while (true) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n > 0) {
      sink(buffer, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  close(fd);
}

void WriteFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

}  // namespace

CATCH_REGISTER_LISTENER(VigildOutputListener)

std::string ExitStatus::ToString() const {
  std::string text;
  if (timed_out) text = "did not exit in time (then killed); ";
  if (exited) return text + "exited with code " + std::to_string(code);
  if (signal != 0) return text + "killed by signal " + std::to_string(signal);
  return text + "unknown";
}

CtlResult RunVigilctl(const std::vector<std::string>& args) {
  std::string command = "timeout -k 5 60 '" VIGILCTL_PATH "'";
  for (const std::string& arg : args) command += " '" + arg + "'";
  command += " 2>&1 </dev/null";
  CtlResult result;
  std::FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) result.output.append(buffer, n);
  const int status = pclose(pipe);
  if (status != -1 && WIFEXITED(status)) result.code = WEXITSTATUS(status);
  return result;
}

RunResult RunVigild(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const Child child = Spawn(args);
  std::mutex mu;
  std::string output;
  std::thread reader([&] {
    ReadUntilEof(child.output_fd, [&](const char* data, size_t size) {
      std::lock_guard lock(mu);
      output.append(data, size);
    });
  });
  RunResult result;
  result.status = WaitBounded(child.pid, deadline);
  reader.join();
  result.output = std::move(output);
  return result;
}

VigildProcess::VigildProcess(Options options) : options_(std::move(options)) {
  config_path_ = dir_ / "config.yaml";
  data_dir_ = options_.data_dir.empty() ? dir_ / "data" : options_.data_dir;
  std::string config = options_.config_yaml;
  if (!config.empty() && config.back() != '\n') config += '\n';
  config += "registry_file: registry.yaml\n";
  WriteFile(config_path_, config);
  WriteFile(dir_ / "registry.yaml", options_.registry_yaml);
  std::lock_guard lock(Outputs().mu);
  Outputs().live.insert(this);
}

VigildProcess::~VigildProcess() {
  ingest_.reset();
  query_.reset();
  admin_.reset();
  channel_.reset();
  try {
    Kill9();
  } catch (const std::exception& e) {
    std::cerr << "VigildProcess: " << e.what() << "\n";
  }
  std::lock_guard lock(Outputs().mu);
  Outputs().live.erase(this);
  Outputs().finished.push_back(Output());
}

std::string VigildProcess::Output() const {
  std::lock_guard lock(mu_);
  return output_;
}

void VigildProcess::ReaderLoop(int fd) {
  ReadUntilEof(fd, [this](const char* data, size_t size) {
    std::lock_guard lock(mu_);
    output_.append(data, size);
    output_changed_.notify_all();
  });
  std::lock_guard lock(mu_);
  reader_done_ = true;
  output_changed_.notify_all();
}

std::string VigildProcess::Start() {
  if (running()) throw std::logic_error("vigild is already running");
  size_t run_start = 0;
  {
    std::lock_guard lock(mu_);
    output_ += "=== e2e harness: starting vigild --config " + config_path_.string() +
               " --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 --data-dir " +
               data_dir_.string() + " ===\n";
    run_start = output_.size();
    reader_done_ = false;
  }
  const Child child = Spawn({"--config", config_path_.string(), "--listen", "127.0.0.1:0",
                             "--metrics-listen", "127.0.0.1:0", "--data-dir", data_dir_.string()});
  pid_ = child.pid;
  reader_ = std::thread([this, fd = child.output_fd] { ReaderLoop(fd); });

  // Wait (bounded) for the complete "vigild listening grpc=HOST:PORT" line.
  const auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
  std::string address;
  std::string failure;
  {
    std::unique_lock lock(mu_);
    while (true) {
      const size_t at = output_.find(kListeningPrefix, run_start);
      if (at != std::string::npos) {
        const size_t begin = at + kListeningPrefix.size();
        const size_t end = output_.find_first_of(" \t\r\n", begin);
        const size_t line_end = output_.find('\n', begin);
        if (end != std::string::npos && line_end != std::string::npos) {
          address = output_.substr(begin, end - begin);
          const std::string line = output_.substr(begin, line_end - begin);
          const size_t metrics = line.find(" metrics=");
          // The metrics address ends at the next field (" http=" when HTTP is on).
          metrics_address_ =
              metrics == std::string::npos
                  ? ""
                  : line.substr(metrics + 9, line.find(' ', metrics + 9) - (metrics + 9));
          break;
        }
      }
      if (reader_done_) {
        failure = "vigild exited (closed its output) before listening";
        break;
      }
      if (output_changed_.wait_until(lock, deadline) == std::cv_status::timeout) {
        failure = "vigild did not print \"" + std::string(kListeningPrefix) + "...\" within " +
                  std::to_string(options_.start_timeout.count()) + " ms";
        break;
      }
    }
  }
  if (!failure.empty() || address.empty()) {
    Kill9();
    throw std::runtime_error(failure + "; its output:\n" + Tail(Output()));
  }
  address_ = address;

  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_ENABLE_HTTP_PROXY, 0);
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(64 << 20);
  channel_ = grpc::CreateCustomChannel(address_, grpc::InsecureChannelCredentials(), args);
  ingest_ = vigil::v1::Ingest::NewStub(channel_);
  query_ = vigil::v1::Query::NewStub(channel_);
  admin_ = vigil::v1::RegistryAdmin::NewStub(channel_);
  alarms_ = vigil::v1::Alarms::NewStub(channel_);
  return address_;
}

std::string VigildProcess::Restart() {
  if (running())
    throw std::logic_error("Restart: vigild is still running; Kill9 or Terminate first");
  return Start();
}

void VigildProcess::Reap(ExitStatus* status) {
  const ExitStatus reaped = FromWaitStatus(WaitBlocking(pid_));
  if (status != nullptr) {
    const bool timed_out = status->timed_out;
    *status = reaped;
    status->timed_out = timed_out;
  }
  pid_ = -1;
  if (reader_.joinable()) reader_.join();
}

void VigildProcess::Kill9() {
  if (!running()) return;
  kill(pid_, SIGKILL);
  Reap(nullptr);
  std::lock_guard lock(mu_);
  output_ += "=== e2e harness: sent SIGKILL ===\n";
}

ExitStatus VigildProcess::Terminate(std::chrono::milliseconds timeout) {
  ExitStatus status;
  if (!running()) return status;
  {
    std::lock_guard lock(mu_);
    output_ += "=== e2e harness: sending SIGTERM ===\n";
  }
  kill(pid_, SIGTERM);
  status = WaitBounded(pid_, std::chrono::steady_clock::now() + timeout);
  pid_ = -1;
  if (reader_.joinable()) reader_.join();
  std::lock_guard lock(mu_);
  output_ += "=== e2e harness: vigild " + status.ToString() + " ===\n";
  return status;
}

ExitStatus VigildProcess::WaitExit(std::chrono::milliseconds timeout) {
  ExitStatus status;
  if (!running()) return status;
  status = WaitBounded(pid_, std::chrono::steady_clock::now() + timeout);
  pid_ = -1;
  if (reader_.joinable()) reader_.join();
  std::lock_guard lock(mu_);
  output_ += "=== e2e harness: vigild " + status.ToString() + " ===\n";
  return status;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double TimeScale() {
  static const double scale = [] {
    const char* text = std::getenv("VIGIL_E2E_TIME_SCALE");
    if (text == nullptr) return 1.0;
    char* end = nullptr;
    const double value = std::strtod(text, &end);
    return end != text && value >= 1.0 && value <= 100.0 ? value : 1.0;
  }();
  return scale;
}

std::chrono::milliseconds Scaled(std::chrono::milliseconds bound) {
  return std::chrono::milliseconds(
      static_cast<int64_t>(static_cast<double>(bound.count()) * TimeScale()));
}

void SetDeadline(grpc::ClientContext* context, std::chrono::milliseconds timeout) {
  context->set_deadline(std::chrono::system_clock::now() + timeout);
}

std::string ToString(const Reading& reading) {
  std::ostringstream out;
  out.precision(17);
  out << "(" << reading.ts << ", " << reading.value << ", q" << reading.quality << ")";
  return out.str();
}

std::string ToString(const std::vector<Reading>& readings) {
  std::string text = std::to_string(readings.size()) + " readings:";
  for (const Reading& reading : readings) text += " " + ToString(reading);
  return text;
}

std::vector<Reading> ReadAll(vigil::v1::Query::Stub& query, const std::string& sensor_id,
                             int64_t from_ms, int64_t to_ms, uint32_t limit, int max_pages) {
  std::vector<Reading> readings;
  int64_t from = from_ms;
  for (int page = 0;; ++page) {
    INFO("ReadRaw " << sensor_id << " [" << from << ", " << to_ms << ") limit " << limit
                    << ", page " << page);
    REQUIRE(page < max_pages);
    vigil::v1::ReadRawRequest request;
    request.set_sensor_id(sensor_id);
    request.set_from_ms(from);
    request.set_to_ms(to_ms);
    request.set_limit(limit);
    vigil::v1::ReadRawResponse response;
    grpc::ClientContext context;
    SetDeadline(&context);
    const grpc::Status status = query.ReadRaw(&context, request, &response);
    INFO("status " << status.error_code() << " " << status.error_message());
    REQUIRE(status.ok());
    REQUIRE(response.values_size() == response.timestamps_ms_size());
    REQUIRE(
        (response.quality_size() == 0 || response.quality_size() == response.timestamps_ms_size()));
    for (int i = 0; i < response.timestamps_ms_size(); ++i) {
      readings.push_back(Reading{response.timestamps_ms(i), response.values(i),
                                 response.quality_size() == 0 ? 0u : response.quality(i)});
    }
    if (!response.truncated()) break;
    INFO("next_from_ms " << response.next_from_ms());
    REQUIRE(response.next_from_ms() > from);
    from = response.next_from_ms();
  }
  return readings;
}

grpc::Status HealthCheck(const std::shared_ptr<grpc::Channel>& channel, bool* serving,
                         const std::string& service) {
  *serving = false;
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  SetDeadline(&context, std::chrono::seconds(10));
  grpc::CompletionQueue queue;
  // HealthCheckRequest{service} = field 1, length-delimited; "" encodes to
  // zero bytes.
  std::string encoded;
  if (!service.empty()) {
    encoded = std::string(1, '\x0a') + static_cast<char>(service.size()) + service;  // < 128
  }
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
  if (!status.ok()) return status;
  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok()) return grpc::Status(grpc::StatusCode::INTERNAL, "bad response");
  std::string bytes;
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  // HealthCheckResponse{status: SERVING (1)} = field 1, varint 1.
  *serving = bytes == std::string("\x08\x01", 2);
  return status;
}

std::string HttpGetMetrics(const std::string& address) {
  const HttpResponse response = HttpRequest("GET", address, "/metrics");
  INFO(response.error);
  REQUIRE(response.status == 200);
  return response.body;
}

// The value of the sample line that starts with `series` (name plus labels).
double Sample(const std::string& text, const std::string& series) {
  const std::string key = "\n" + series + " ";
  const size_t at = ("\n" + text).find(key);
  INFO(series);
  REQUIRE(at != std::string::npos);
  return std::stod(text.substr(at + key.size() - 1));
}

}  // namespace vigil::e2e
