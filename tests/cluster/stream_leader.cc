#include "tests/cluster/stream_leader.h"

#include <chrono>

#include "cluster/nats_client.h"

namespace vigil::testing {

std::string StreamLeader(const NatsCluster& nats, const std::string& stream) {
  cluster::NatsOptions o;
  o.urls = nats.urls();
  o.connect_timeout = std::chrono::milliseconds(500);
  auto client = cluster::NatsClient::Connect(o);
  if (!client) return "";
  auto js = (*client)->JetStream(nullptr);
  if (!js) return "";
  jsStreamInfo* si = nullptr;
  std::string leader;
  if (js_GetStreamInfo(&si, js->get(), stream.c_str(), nullptr, nullptr) == NATS_OK) {
    if (si->Cluster != nullptr && si->Cluster->Leader != nullptr) leader = si->Cluster->Leader;
    jsStreamInfo_Destroy(si);
  }
  return leader;
}

}  // namespace vigil::testing
