// Test helper: which node of a NatsCluster leads a JetStream stream now.
#pragma once

#include <string>

#include "tests/testing/nats_cluster.h"

namespace vigil::testing {

// The server_name of `stream`'s leader ("n0", ...; NatsCluster::IndexOf maps
// it to a node), "" when it has none or no node answers within ~1 s.
std::string StreamLeader(const NatsCluster& nats, const std::string& stream);

}  // namespace vigil::testing
