#include "tests/testing/mosquitto_broker.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace vigil::testing {
namespace {

using Clock = std::chrono::steady_clock;

// A port the kernel just handed out on 127.0.0.1 (free now; a tiny window
// remains before mosquitto binds it, as with any port-0 probe).
int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
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

bool Accepts(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

void Reap(pid_t pid, std::chrono::milliseconds bound) {
  const auto deadline = Clock::now() + bound;
  while (::waitpid(pid, nullptr, WNOHANG) == 0) {
    if (Clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace

std::string MosquittoBinary() {
  for (const char* path : {"/usr/sbin/mosquitto", "/usr/bin/mosquitto"}) {
    if (::access(path, X_OK) == 0) return path;
  }
  return "";
}

MosquittoBroker::MosquittoBroker(const std::filesystem::path& dir, const Options& options,
                                 std::chrono::milliseconds ready_timeout)
    : dir_(dir), port_(FreePort()) {
  if (MosquittoBinary().empty()) throw std::runtime_error("mosquitto is not installed");
  std::filesystem::create_directories(dir_);
  std::ofstream conf(dir_ / "mosquitto.conf");
  conf << "listener " << port_ << " 127.0.0.1\n"
       << "persistence true\n"
       << "persistence_location " << dir_.string() << "/\n"
       << "log_dest stdout\n"
       << "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
       << "connection_messages true\n";
  // As root, mosquitto drops to user "mosquitto", who cannot write the
  // test's folder: keep the current user.
  if (const passwd* pw = ::getpwuid(::geteuid()); pw != nullptr) {
    conf << "user " << pw->pw_name << "\n";
  }
  if (options.users.empty()) {
    conf << "allow_anonymous true\n";
  } else {
    const std::filesystem::path passwords = dir_ / "passwords";
    std::ofstream(passwords).close();
    for (const auto& [user, password] : options.users) {
      std::string command = "mosquitto_passwd -b '";
      command += passwords.string();
      command += "' '";
      command += user;
      command += "' '";
      command += password;
      command += "' >/dev/null 2>&1";
      if (std::system(command.c_str()) != 0) throw std::runtime_error("mosquitto_passwd failed");
    }
    conf << "allow_anonymous false\npassword_file " << passwords.string() << "\n";
  }
  if (!options.acl.empty()) {
    std::ofstream(dir_ / "acl") << options.acl;
    conf << "acl_file " << (dir_ / "acl").string() << "\n";
  }
  conf << options.extra << "\n";
  conf.close();
  if (!conf) throw std::runtime_error("write " + (dir_ / "mosquitto.conf").string());
  Spawn();
  WaitReady(ready_timeout);
}

MosquittoBroker::~MosquittoBroker() { Kill(); }

void MosquittoBroker::Spawn() {
  const std::string binary = MosquittoBinary();
  const std::string conf = (dir_ / "mosquitto.conf").string();
  const std::string log = (dir_ / "mosquitto.log").string();
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
  pid_ = pid;
}

void MosquittoBroker::WaitReady(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (Accepts(port_)) return;
    if (::waitpid(pid_, nullptr, WNOHANG) > 0) {
      pid_ = -1;
      throw std::runtime_error("mosquitto exited:\n" + Log());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw std::runtime_error("mosquitto not ready within " + std::to_string(timeout.count()) +
                           " ms:\n" + Log());
}

void MosquittoBroker::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  Reap(pid_, std::chrono::seconds(5));
  pid_ = -1;
}

void MosquittoBroker::Stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  Reap(pid_, std::chrono::seconds(10));
  pid_ = -1;
}

void MosquittoBroker::Restart(std::chrono::milliseconds ready_timeout) {
  if (pid_ > 0) throw std::logic_error("mosquitto is still running");
  Spawn();
  WaitReady(ready_timeout);
}

std::string MosquittoBroker::Log() const {
  std::ifstream in(dir_ / "mosquitto.log");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace vigil::testing
