#include "server/access.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

namespace vigil::server {

std::array<uint8_t, 32> TokenDigest(std::string_view token) {
  std::array<uint8_t, 32> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest.data());
  return digest;
}

alarm::Result<CallerScope> AccessControl::Authenticate(std::string_view authorization) const {
  if (tokens_.empty()) {
    return CallerScope{.name = "anonymous", .region_prefix = "", .role = Role::kAdmin};
  }
  constexpr std::string_view kBearer = "Bearer ";
  if (!authorization.starts_with(kBearer) || authorization.size() == kBearer.size()) {
    return alarm::Status::Unauthenticated(
        "this server requires 'authorization: Bearer <token>' metadata");
  }
  const std::array<uint8_t, 32> digest = TokenDigest(authorization.substr(kBearer.size()));
  // Every token is compared, whichever matches, so timing tells nothing.
  const AccessToken* found = nullptr;
  for (const AccessToken& t : tokens_) {
    if (CRYPTO_memcmp(t.sha256.data(), digest.data(), digest.size()) == 0) found = &t;
  }
  if (found == nullptr) return alarm::Status::Unauthenticated("unknown token");
  return CallerScope{
      .name = found->name, .region_prefix = found->region_prefix, .role = found->role};
}

}  // namespace vigil::server
