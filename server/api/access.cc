#include "server/api/access.h"

#include <grpcpp/grpcpp.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <algorithm>
#include <chrono>

namespace vigil::server {

std::array<uint8_t, 32> TokenDigest(std::string_view token) {
  std::array<uint8_t, 32> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest.data());
  return digest;
}

bool CallerScope::MayWriteAs(std::string_view gateway_id) const {
  if (anonymous) return true;
  if (role != Role::kGateway) return false;
  return std::find(gateway_ids.begin(), gateway_ids.end(), gateway_id) != gateway_ids.end();
}

alarm::Result<CallerScope> AccessControl::Authenticate(const PeerCredentials& peer,
                                                       int64_t now_ms) const {
  if (!enabled()) {
    return CallerScope{.name = "anonymous",
                       .region_prefix = "",
                       .role = Role::kAdmin,
                       .gateway_ids = {},
                       .anonymous = true};
  }
  if (!peer.authorization.empty()) {
    constexpr std::string_view kBearer = "Bearer ";
    if (!peer.authorization.starts_with(kBearer) || peer.authorization.size() == kBearer.size()) {
      return alarm::Status::Unauthenticated("the authorization metadata must be 'Bearer <token>'");
    }
    const std::array<uint8_t, 32> digest = TokenDigest(peer.authorization.substr(kBearer.size()));
    // Every token is compared, whichever matches, so timing tells nothing.
    const AccessToken* found = nullptr;
    for (const AccessToken& t : tokens_) {
      if (CRYPTO_memcmp(t.sha256.data(), digest.data(), digest.size()) == 0) found = &t;
    }
    if (found == nullptr) return alarm::Status::Unauthenticated("unknown token");
    if (found->expires_at_ms != 0 && now_ms >= found->expires_at_ms) {
      return alarm::Status::Unauthenticated("token '" + found->name + "' has expired");
    }
    CallerScope scope{.name = found->name,
                      .region_prefix = found->region_prefix,
                      .role = found->role,
                      .gateway_ids = {},
                      .anonymous = false};
    if (found->role == Role::kGateway) scope.gateway_ids.push_back(found->gateway_id);
    return scope;
  }
  if (client_certs_ && !peer.cert_names.empty()) {
    return CallerScope{.name = "cert:" + peer.cert_names.front(),
                       .region_prefix = "",
                       .role = Role::kGateway,
                       .gateway_ids = peer.cert_names,
                       .anonymous = false};
  }
  return alarm::Status::Unauthenticated(
      client_certs_ ? "this server requires 'authorization: Bearer <token>' metadata or a "
                      "gateway's client certificate"
                    : "this server requires 'authorization: Bearer <token>' metadata");
}

alarm::Result<CallerScope> AccessControl::Authenticate(
    const grpc::ServerContextBase& context) const {
  if (!enabled()) return Authenticate(PeerCredentials{}, 0);
  PeerCredentials peer;
  const auto& md = context.client_metadata();
  if (auto it = md.find("authorization"); it != md.end()) {
    peer.authorization = std::string_view(it->second.data(), it->second.size());
  }
  if (client_certs_) {
    const std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
    if (auth != nullptr && auth->IsPeerAuthenticated()) {
      // The common name first: it names the caller in logs and limits.
      for (const char* property : {"x509_common_name", "x509_subject_alternative_name"}) {
        for (const grpc::string_ref& value : auth->FindPropertyValues(property)) {
          std::string name(value.data(), value.size());
          if (!name.empty() && std::find(peer.cert_names.begin(), peer.cert_names.end(), name) ==
                                   peer.cert_names.end()) {
            peer.cert_names.push_back(std::move(name));
          }
        }
      }
    }
  }
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  auto caller = Authenticate(peer, now_ms);
  if (!caller) unauthenticated_.fetch_add(1, std::memory_order_relaxed);
  return caller;
}

alarm::Result<CallerScope> AccessControl::Require(const grpc::ServerContextBase& context,
                                                  Role needed, std::string_view what) const {
  auto caller = Authenticate(context);
  if (!caller) return caller.error();
  return CheckRole(std::move(*caller), needed, what);
}

alarm::Result<CallerScope> AccessControl::Require(const PeerCredentials& peer, int64_t now_ms,
                                                  Role needed, std::string_view what) const {
  auto caller = Authenticate(peer, now_ms);
  if (!caller) {
    unauthenticated_.fetch_add(1, std::memory_order_relaxed);
    return caller.error();
  }
  return CheckRole(std::move(*caller), needed, what);
}

alarm::Result<CallerScope> AccessControl::CheckRole(CallerScope caller, Role needed,
                                                    std::string_view what) const {
  if (!caller.May(needed)) {
    static constexpr std::string_view kNeeds[] = {"a viewer", "an operator", "an admin",
                                                  "a gateway"};
    return Deny("'" + caller.name + "' may not " + std::string(what) + ": that needs " +
                std::string(kNeeds[static_cast<int>(needed)]) + " identity");
  }
  return caller;
}

alarm::Status AccessControl::Deny(std::string why) const {
  denied_.fetch_add(1, std::memory_order_relaxed);
  return alarm::Status::PermissionDenied(std::move(why));
}

}  // namespace vigil::server
