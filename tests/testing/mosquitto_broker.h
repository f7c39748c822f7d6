// Test helper: a real mosquitto broker (Debian's mosquitto 2.0) on a free
// loopback port, with a generated config, its persistence file and log in a
// folder the caller owns; optionally per-user passwords (mosquitto_passwd)
// and an ACL file. It can be killed and restarted on the same port and
// store. Every wait is bounded; the destructor kills what is still running
// and reaps it. Thread-safety: one test thread drives a MosquittoBroker.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace vigil::testing {

// The mosquitto binary, or "" when it is not installed.
std::string MosquittoBinary();

class MosquittoBroker {
 public:
  struct Options {
    // (user, password) pairs; none: anonymous clients are allowed.
    std::vector<std::pair<std::string, std::string>> users;
    // Body of the acl_file; "": no ACL.
    std::string acl;
    // Config lines added at the end (e.g. "max_queued_messages 5000").
    std::string extra;
  };

  // Writes the config under `dir`, starts the broker and waits until it
  // accepts connections. Throws std::runtime_error when mosquitto is missing,
  // exits, or is not ready within `ready_timeout`.
  explicit MosquittoBroker(const std::filesystem::path& dir, const Options& options = Options{},
                           std::chrono::milliseconds ready_timeout = std::chrono::seconds(10));
  ~MosquittoBroker();
  MosquittoBroker(const MosquittoBroker&) = delete;
  MosquittoBroker& operator=(const MosquittoBroker&) = delete;

  int port() const { return port_; }
  // "tcp://127.0.0.1:<port>", as mqtt.broker takes it.
  std::string url() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
  bool running() const { return pid_ > 0; }

  // SIGKILL and reap (no-op when not running): what it had not saved is lost.
  void Kill();
  // SIGTERM and reap: mosquitto saves its persistence file on the way out.
  void Stop();
  // Starts it again on the same port, config and store; waits until ready.
  void Restart(std::chrono::milliseconds ready_timeout = std::chrono::seconds(10));
  // Everything it logged so far.
  std::string Log() const;

 private:
  void Spawn();
  void WaitReady(std::chrono::milliseconds timeout);

  std::filesystem::path dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace vigil::testing
