// AccessControl: who is calling and what they may do. A caller is known by a
// bearer token (`authorization: Bearer <token>` metadata; config auth.tokens,
// bound to a region and a role, or to one gateway) or, for gateways, by a
// client certificate verified against server.tls.client_ca_file (its CN or a
// subject alternative name is the gateway id). Tokens are kept as SHA-256
// digests and compared in constant time; a token is never stored, logged or
// echoed. Immutable after construction apart from its refusal counters
// (relaxed atomics): any thread may call it.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "alarm/status.h"
#include "server/config/options.h"

namespace grpc {
class ServerContextBase;
}

namespace vigil::server {

// The caller of one RPC.
struct CallerScope {
  std::string name;           // the token's name, "cert:<CN>", or "anonymous" without auth
  std::string region_prefix;  // "" national
  Role role = Role::kViewer;
  // Role kGateway: the gateway ids it may write batches as (a token's one
  // gateway; a certificate's CN and subject alternative names).
  std::vector<std::string> gateway_ids;
  // Authentication is off: a national admin that may also write as any gateway.
  bool anonymous = false;

  // True when region `code` (or a prefix of one) lies within this caller's region.
  bool Covers(std::string_view code) const { return code.starts_with(region_prefix); }
  // kViewer < kOperator < kAdmin; a gateway may do what kGateway needs only.
  bool May(Role needed) const {
    if (role == Role::kGateway || needed == Role::kGateway) return role == needed || anonymous;
    return static_cast<int>(role) >= static_cast<int>(needed);
  }
  // Whether it may send batches with this gateway_id.
  bool MayWriteAs(std::string_view gateway_id) const;
};

// What the transport says about a caller.
struct PeerCredentials {
  std::string_view authorization;  // the metadata value; "" when absent
  // A verified client certificate's common name and subject alternative
  // names; empty without one.
  std::vector<std::string> cert_names;
};

class AccessControl {
 public:
  // `client_certs`: client certificates are verified (server.tls.client_ca_file
  // set), so they identify gateways.
  AccessControl(std::vector<AccessToken> tokens, bool client_certs)
      : tokens_(std::move(tokens)), client_certs_(client_certs) {}

  // Without tokens and client certificates every caller is an anonymous
  // national admin. Otherwise a bearer token wins over a certificate.
  // kUnauthenticated when the authorization value is not "Bearer <token>",
  // names no configured token or an expired one (at `now_ms`), or when there
  // is neither a token nor a verified certificate.
  alarm::Result<CallerScope> Authenticate(const PeerCredentials& peer, int64_t now_ms) const;
  // The same for a gRPC call (its metadata and TLS auth context), at the wall
  // clock; counts refusals.
  alarm::Result<CallerScope> Authenticate(const grpc::ServerContextBase& context) const;

  // Authenticate(context), then kPermissionDenied (counted) unless the caller
  // may do what `needed` may; `what` names the action in the message
  // ("change the registry").
  alarm::Result<CallerScope> Require(const grpc::ServerContextBase& context, Role needed,
                                     std::string_view what) const;
  // The same for other transports (the HTTP console): Authenticate(peer,
  // now_ms), counting refusals, then the role check.
  alarm::Result<CallerScope> Require(const PeerCredentials& peer, int64_t now_ms, Role needed,
                                     std::string_view what) const;

  // kPermissionDenied with `why`, counted. For the services' own checks.
  alarm::Status Deny(std::string why) const;

  bool enabled() const { return !tokens_.empty() || client_certs_; }

  // For /metrics.
  uint64_t unauthenticated() const { return unauthenticated_.load(std::memory_order_relaxed); }
  uint64_t permission_denied() const { return denied_.load(std::memory_order_relaxed); }

 private:
  // kPermissionDenied (counted) unless `caller` may do what `needed` may.
  alarm::Result<CallerScope> CheckRole(CallerScope caller, Role needed,
                                       std::string_view what) const;

  std::vector<AccessToken> tokens_;
  bool client_certs_;
  mutable std::atomic<uint64_t> unauthenticated_{0};
  mutable std::atomic<uint64_t> denied_{0};
};

// SHA-256 of `token`, as stored in auth.tokens (vigilctl hash-token).
std::array<uint8_t, 32> TokenDigest(std::string_view token);

}  // namespace vigil::server
