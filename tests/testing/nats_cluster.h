// Test helper: real nats-server processes with JetStream on loopback -- one
// node or a cluster of several -- on free ports, their stores in a folder the
// caller owns. Nodes can be killed (SIGKILL), frozen (SIGSTOP), thawed and
// restarted on the same ports and store. Every wait is bounded; the
// destructor kills what is still running and reaps it.
// Thread-safety: one test thread drives a NatsCluster.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace vigil::testing {

// The nats-server binary, or "" when it is not installed.
std::string NatsServerBinary();

class NatsCluster {
 public:
  // Starts `nodes` servers (1: standalone JetStream; more: one JetStream
  // cluster) with their stores and logs under `dir`, and waits until every
  // node's /healthz answers ok (JetStream ready; a cluster has a meta leader).
  // Throws std::runtime_error when nats-server is missing or a node does not
  // get ready within `ready_timeout`.
  NatsCluster(const std::filesystem::path& dir, int nodes,
              std::chrono::milliseconds ready_timeout = std::chrono::seconds(20));
  ~NatsCluster();
  NatsCluster(const NatsCluster&) = delete;
  NatsCluster& operator=(const NatsCluster&) = delete;

  int size() const { return static_cast<int>(nodes_.size()); }
  // "nats://127.0.0.1:<port>" of node i.
  std::string url(int i) const;
  // Every node's URL.
  std::vector<std::string> urls() const;
  // The server_name of node i ("n0", "n1", ...), as JetStream names a leader.
  std::string name(int i) const;
  // Index of the node named `server_name`, or -1.
  int IndexOf(const std::string& server_name) const;
  bool running(int i) const { return nodes_[static_cast<size_t>(i)].pid > 0; }

  // SIGKILL and reap node i (no-op when not running).
  void Kill(int i);
  // SIGSTOP / SIGCONT node i: it stops answering but keeps its sockets.
  // Freeze returns once every thread of the node is stopped (bounded: 2 s).
  void Freeze(int i);
  void Thaw(int i);
  // Starts node i again (same ports, config and store) and waits until ready.
  // Throws on timeout.
  void Restart(int i, std::chrono::milliseconds ready_timeout = std::chrono::seconds(20));
  // True when node i's monitoring endpoint answers /healthz with 200.
  bool Healthy(int i) const;

 private:
  struct Node {
    int client_port = 0;
    int cluster_port = 0;
    int http_port = 0;
    std::filesystem::path dir;
    pid_t pid = -1;
    bool frozen = false;
  };
  void WriteConfig(int i) const;
  void Spawn(int i);
  void WaitReady(int i, std::chrono::milliseconds timeout) const;

  std::filesystem::path dir_;
  std::vector<Node> nodes_;
};

}  // namespace vigil::testing
