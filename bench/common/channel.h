// A gRPC channel on a TCP connection of its own, as each field gateway has
// (no subchannel shared with other channels to the same target). Shared by
// the bench executables that talk to vigild.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

namespace vigil::bench {

inline std::shared_ptr<grpc::Channel> NewConnection(const std::string& target) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetMaxReceiveMessageSize(64 << 20);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

}  // namespace vigil::bench
