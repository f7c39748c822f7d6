// AccessControl: who is calling, from the `authorization: Bearer <token>`
// metadata, and what region and role their token is bound to. Tokens are
// kept as SHA-256 digests (config auth.tokens) and compared in constant time;
// a token is never stored, logged or echoed. Immutable after construction:
// any thread may call it.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "alarm/status.h"
#include "server/options.h"

namespace vigil::server {

// The caller of one RPC.
struct CallerScope {
  std::string name;           // the token's name; "anonymous" without auth
  std::string region_prefix;  // "" national
  Role role = Role::kViewer;

  // True when region `code` (or a prefix of one) lies within this caller's region.
  bool Covers(std::string_view code) const { return code.starts_with(region_prefix); }
  bool May(Role needed) const { return static_cast<int>(role) >= static_cast<int>(needed); }
};

class AccessControl {
 public:
  explicit AccessControl(std::vector<AccessToken> tokens) : tokens_(std::move(tokens)) {}

  // `authorization` is the metadata value ("" when absent). Without
  // configured tokens every caller is a national admin. kUnauthenticated
  // when tokens are configured and the value is missing, not "Bearer <token>",
  // or names no configured token.
  alarm::Result<CallerScope> Authenticate(std::string_view authorization) const;

  bool enabled() const { return !tokens_.empty(); }

 private:
  std::vector<AccessToken> tokens_;
};

// SHA-256 of `token`, as stored in auth.tokens (vigilctl hash-token).
std::array<uint8_t, 32> TokenDigest(std::string_view token);

}  // namespace vigil::server
