// A gRPC channel on a TCP connection of its own, as each field gateway has
// (no subchannel shared with other channels to the same target). Shared by
// the bench executables that talk to vigild. TLS when $VIGIL_CA_FILE names a
// CA bundle (PEM) to trust, as for vigilctl; plaintext otherwise.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

namespace vigil::bench {

// Plaintext, or TLS trusting the CAs in $VIGIL_CA_FILE (an unreadable file
// gives credentials that trust nothing: every call fails UNAVAILABLE).
inline std::shared_ptr<grpc::ChannelCredentials> CredentialsFromEnv() {
  const char* ca_file = std::getenv("VIGIL_CA_FILE");
  if (ca_file == nullptr || *ca_file == '\0') return grpc::InsecureChannelCredentials();
  std::ifstream in(ca_file, std::ios::binary);
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return grpc::SslCredentials(ssl);
}

inline std::shared_ptr<grpc::Channel> NewConnection(const std::string& target) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetMaxReceiveMessageSize(64 << 20);
  return grpc::CreateCustomChannel(target, CredentialsFromEnv(), args);
}

}  // namespace vigil::bench
