// End-to-end: under systemd (Type=notify) vigild reports READY once serving,
// pings the watchdog, and reports STOPPING on SIGTERM. systemd is stood in
// for by a datagram socket named in NOTIFY_SOCKET.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

#include "tests/e2e/vigild_process.h"
#include "tests/testing/temp_dir.h"

namespace vigil::e2e {
namespace {

// Reads every notification at once, as systemd does: an unread datagram
// socket fills up (net.unix.max_dgram_qlen, 10) and then blocks the sender.
class FakeServiceManager {
 public:
  explicit FakeServiceManager(const std::filesystem::path& path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string name = path.string();
    REQUIRE(name.size() < sizeof addr.sun_path);
    std::memcpy(addr.sun_path, name.c_str(), name.size() + 1);
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    timeval timeout{.tv_sec = 0, .tv_usec = 100'000};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    reader_ = std::thread([this] {
      char buf[1024];
      while (!stop_.load()) {
        const ssize_t n = recv(fd_, buf, sizeof buf, 0);
        if (n <= 0) continue;
        std::lock_guard<std::mutex> lock(mu_);
        received_.append(buf, static_cast<size_t>(n)).append("|");
      }
    });
  }
  ~FakeServiceManager() {
    stop_.store(true);
    reader_.join();
    close(fd_);
  }

  // Waits (bounded) until a notification containing `what` has arrived.
  bool WaitFor(const std::string& what, std::chrono::seconds bound = std::chrono::seconds(20)) {
    const auto deadline = std::chrono::steady_clock::now() + bound;
    while (std::chrono::steady_clock::now() < deadline) {
      if (received().find(what) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  std::string received() {
    std::lock_guard<std::mutex> lock(mu_);
    return received_;
  }

 private:
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread reader_;
  std::mutex mu_;
  std::string received_;
};

constexpr char kRegistry[] = R"(enterprises:
  - { id: e-1, name: Plant One, kind: hazardous_chemical, region_code: "370105" }
)";

TEST_CASE("Under systemd vigild notifies READY, pings the watchdog and notifies STOPPING",
          "[e2e][systemd]") {
  testing::TempDir dir;
  FakeServiceManager manager(dir / "notify.sock");
  setenv("NOTIFY_SOCKET", (dir / "notify.sock").c_str(), 1);
  setenv("WATCHDOG_USEC", "200000", 1);
  VigildProcess vigild({.config_yaml = "", .registry_yaml = kRegistry});
  vigild.Start();
  unsetenv("NOTIFY_SOCKET");
  unsetenv("WATCHDOG_USEC");

  CHECK(manager.WaitFor("READY=1"));
  CHECK(manager.WaitFor("WATCHDOG=1"));
  const ExitStatus status = vigild.Terminate();
  CHECK(manager.WaitFor("STOPPING=1"));
  INFO(manager.received());
  CHECK(status.exited);
  CHECK(status.code == 0);
}

}  // namespace
}  // namespace vigil::e2e
