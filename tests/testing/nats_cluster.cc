#include "tests/testing/nats_cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <thread>

namespace vigil::testing {
namespace {

using Clock = std::chrono::steady_clock;

// A port the kernel just handed out on 127.0.0.1 (free now; a tiny window
// remains before nats-server binds it, as with any port-0 probe).
int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("bind 127.0.0.1:0");
  }
  const int port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

// GET `path` on 127.0.0.1:port; the status line's code, or 0 when nothing
// answered within about `timeout`.
int HttpStatus(int port, const char* path, std::chrono::milliseconds timeout) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  int code = 0;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string req =
        std::string("GET ") + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
      char buf[64] = {};
      const ssize_t n = ::recv(fd, buf, sizeof buf - 1, 0);
      // "HTTP/1.1 200 OK"
      if (n > 12 && std::strncmp(buf, "HTTP/1.", 7) == 0) code = std::atoi(buf + 9);
    }
  }
  ::close(fd);
  return code;
}

// True when every thread of `pid` is stopped (state T or t in /proc).
bool AllThreadsStopped(pid_t pid) {
  std::error_code ec;
  const std::filesystem::path tasks = "/proc/" + std::to_string(pid) + "/task";
  for (const auto& task : std::filesystem::directory_iterator(tasks, ec)) {
    std::ifstream stat(task.path() / "stat");
    std::string line;
    std::getline(stat, line);
    // "tid (comm) S ...": the state follows the last ')'.
    const size_t paren = line.rfind(')');
    if (paren == std::string::npos || paren + 2 >= line.size()) return false;
    const char state = line[paren + 2];
    if (state != 'T' && state != 't') return false;
  }
  return !ec;
}

}  // namespace

std::string NatsServerBinary() {
  for (const char* p : {"/usr/sbin/nats-server", "/usr/bin/nats-server"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "";
}

NatsCluster::NatsCluster(const std::filesystem::path& dir, int nodes,
                         std::chrono::milliseconds ready_timeout)
    : dir_(dir) {
  if (NatsServerBinary().empty()) {
    throw std::runtime_error(
        "nats-server is not installed (deploy/install-deps.sh --test installs it)");
  }
  // A port probed free can be taken by another process before nats-server
  // binds it (other test runs share the machine): then start again on fresh
  // ports, at most 3 times.
  for (int attempt = 1;; ++attempt) {
    nodes_.assign(static_cast<size_t>(nodes), Node{});
    for (int i = 0; i < nodes; ++i) {
      Node& n = nodes_[static_cast<size_t>(i)];
      n.client_port = FreePort();
      n.cluster_port = FreePort();
      n.http_port = FreePort();
      n.dir = dir_ / ("attempt" + std::to_string(attempt)) / name(i);
      std::filesystem::create_directories(n.dir / "store");
    }
    try {
      for (int i = 0; i < nodes; ++i) {
        WriteConfig(i);
        Spawn(i);
      }
      for (int i = 0; i < nodes; ++i) WaitReady(i, ready_timeout);
      return;
    } catch (const std::runtime_error&) {
      for (int i = 0; i < nodes; ++i) Kill(i);
      if (attempt == 3) throw;
    }
  }
}

NatsCluster::~NatsCluster() {
  for (int i = 0; i < size(); ++i) Kill(i);
}

std::string NatsCluster::url(int i) const {
  return "nats://127.0.0.1:" + std::to_string(nodes_[static_cast<size_t>(i)].client_port);
}

std::vector<std::string> NatsCluster::urls() const {
  std::vector<std::string> out;
  out.reserve(nodes_.size());
  for (int i = 0; i < size(); ++i) out.push_back(url(i));
  return out;
}

std::string NatsCluster::name(int i) const { return "n" + std::to_string(i); }

int NatsCluster::IndexOf(const std::string& server_name) const {
  for (int i = 0; i < size(); ++i) {
    if (name(i) == server_name) return i;
  }
  return -1;
}

void NatsCluster::WriteConfig(int i) const {
  const Node& n = nodes_[static_cast<size_t>(i)];
  std::ofstream conf(n.dir / "nats.conf");
  conf << "server_name: " << name(i) << "\n"
       << "listen: 127.0.0.1:" << n.client_port << "\n"
       << "http: 127.0.0.1:" << n.http_port
       << "\n"
       // Room for the storage writer's larger groups (cluster/README.md).
       << "max_payload: 8MB\n"
       << "jetstream {\n  store_dir: \"" << (n.dir / "store").string() << "\"\n"
       << "  max_memory_store: 64MB\n  max_file_store: 1GB\n}\n";
  if (size() > 1) {
    conf << "cluster {\n  name: vigil_test\n  listen: 127.0.0.1:" << n.cluster_port
         << "\n  routes: [\n";
    for (int j = 0; j < size(); ++j) {
      if (j == i) continue;
      conf << "    nats-route://127.0.0.1:" << nodes_[static_cast<size_t>(j)].cluster_port << "\n";
    }
    conf << "  ]\n}\n";
  }
  if (!conf) throw std::runtime_error("write " + (n.dir / "nats.conf").string());
}

void NatsCluster::Spawn(int i) {
  Node& n = nodes_[static_cast<size_t>(i)];
  const std::string binary = NatsServerBinary();
  const std::string conf = (n.dir / "nats.conf").string();
  const std::string log = (n.dir / "nats.log").string();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork");
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    ::execl(binary.c_str(), binary.c_str(), "-c", conf.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  n.pid = pid;
  n.frozen = false;
}

bool NatsCluster::Healthy(int i) const {
  return HttpStatus(nodes_[static_cast<size_t>(i)].http_port, "/healthz",
                    std::chrono::milliseconds(500)) == 200;
}

void NatsCluster::WaitReady(int i, std::chrono::milliseconds timeout) const {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (Healthy(i)) return;
    int status = 0;
    if (::waitpid(nodes_[static_cast<size_t>(i)].pid, &status, WNOHANG) > 0) {
      throw std::runtime_error("nats-server " + name(i) + " exited; see " +
                               (nodes_[static_cast<size_t>(i)].dir / "nats.log").string());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  throw std::runtime_error("nats-server " + name(i) + " not ready within " +
                           std::to_string(timeout.count()) + " ms");
}

void NatsCluster::Kill(int i) {
  Node& n = nodes_[static_cast<size_t>(i)];
  if (n.pid <= 0) return;
  ::kill(n.pid, SIGKILL);
  // SIGKILL needs no scheduling of the process: the reap is prompt. Bounded
  // anyway, so a teardown never hangs a test run.
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (::waitpid(n.pid, nullptr, WNOHANG) == 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  n.pid = -1;
  n.frozen = false;
}

void NatsCluster::Freeze(int i) {
  Node& n = nodes_[static_cast<size_t>(i)];
  if (n.pid <= 0 || n.frozen || ::kill(n.pid, SIGSTOP) != 0) return;
  n.frozen = true;
  // kill() returns before the stop has reached every thread: a node could
  // still acknowledge a message sent right after. Wait (bounded) until every
  // thread of it shows as stopped.
  const auto deadline = Clock::now() + std::chrono::seconds(2);
  while (Clock::now() < deadline && !AllThreadsStopped(n.pid)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void NatsCluster::Thaw(int i) {
  Node& n = nodes_[static_cast<size_t>(i)];
  if (n.pid > 0 && n.frozen && ::kill(n.pid, SIGCONT) == 0) n.frozen = false;
}

void NatsCluster::Restart(int i, std::chrono::milliseconds ready_timeout) {
  Kill(i);
  Spawn(i);
  WaitReady(i, ready_timeout);
}

}  // namespace vigil::testing
