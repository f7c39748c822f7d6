// AccessControl: tokens, gateway certificates, roles, regions, expiry.
#include "server/api/access.h"

#include <catch2/catch.hpp>

namespace vigil::server {
namespace {

AccessToken Token(std::string name, std::string_view secret, Role role, std::string region = "",
                  std::string gateway = "", int64_t expires = 0) {
  AccessToken t;
  t.name = std::move(name);
  t.sha256 = TokenDigest(secret);
  t.role = role;
  t.region_prefix = std::move(region);
  t.gateway_id = std::move(gateway);
  t.expires_at_ms = expires;
  return t;
}

constexpr int64_t kNow = 1'700'000'000'000;

AccessControl Configured(bool client_certs = true) {
  return AccessControl({Token("jinan", "jinan-secret", Role::kViewer, "3701"),
                        Token("ops", "ops-secret", Role::kOperator, "37"),
                        Token("national", "national-secret", Role::kAdmin, ""),
                        Token("gw-1-token", "gw-1-secret", Role::kGateway, "", "gw-1"),
                        Token("old", "old-secret", Role::kAdmin, "", "", kNow - 1)},
                       client_certs);
}

alarm::Status::Code CodeOf(const alarm::Result<CallerScope>& r) {
  return r ? alarm::Status::Code::kOk : r.error().code();
}

TEST_CASE("Without tokens or client certificates every caller is an anonymous admin",
          "[server][access]") {
  const AccessControl open({}, false);
  CHECK_FALSE(open.enabled());
  auto caller = open.Authenticate(PeerCredentials{}, kNow);
  REQUIRE(caller);
  CHECK(caller->anonymous);
  CHECK(caller->May(Role::kAdmin));
  CHECK(caller->May(Role::kGateway));
  CHECK(caller->MayWriteAs("any-gateway"));
  CHECK(caller->Covers("130102"));
}

TEST_CASE("Bearer tokens: unknown, malformed and expired ones are UNAUTHENTICATED",
          "[server][access]") {
  const AccessControl access = Configured();
  using C = alarm::Status::Code;
  CHECK(CodeOf(access.Authenticate({.authorization = "", .cert_names = {}}, kNow)) ==
        C::kUnauthenticated);
  CHECK(CodeOf(access.Authenticate({.authorization = "Bearer wrong", .cert_names = {}}, kNow)) ==
        C::kUnauthenticated);
  CHECK(CodeOf(access.Authenticate({.authorization = "Basic jinan-secret", .cert_names = {}},
                                   kNow)) == C::kUnauthenticated);
  CHECK(CodeOf(access.Authenticate({.authorization = "Bearer ", .cert_names = {}}, kNow)) ==
        C::kUnauthenticated);
  auto expired =
      access.Authenticate({.authorization = "Bearer old-secret", .cert_names = {}}, kNow);
  REQUIRE_FALSE(expired);
  CHECK(expired.error().message() == "token 'old' has expired");
  CHECK(access.Authenticate({.authorization = "Bearer old-secret", .cert_names = {}}, kNow - 2));
}

TEST_CASE("Roles nest, and a gateway may only ingest as its own gateway", "[server][access]") {
  const AccessControl access = Configured();
  auto viewer =
      access.Authenticate({.authorization = "Bearer jinan-secret", .cert_names = {}}, kNow);
  REQUIRE(viewer);
  CHECK(viewer->name == "jinan");
  CHECK(viewer->May(Role::kViewer));
  CHECK_FALSE(viewer->May(Role::kOperator));
  CHECK_FALSE(viewer->May(Role::kGateway));
  CHECK_FALSE(viewer->MayWriteAs("gw-1"));
  CHECK(viewer->Covers("370105"));
  CHECK_FALSE(viewer->Covers("370202"));
  CHECK_FALSE(viewer->Covers("37"));  // the province is wider than the city

  auto admin =
      access.Authenticate({.authorization = "Bearer national-secret", .cert_names = {}}, kNow);
  REQUIRE(admin);
  CHECK(admin->May(Role::kAdmin));
  CHECK(admin->May(Role::kOperator));
  CHECK_FALSE(admin->May(Role::kGateway));  // an admin does not write readings
  CHECK_FALSE(admin->MayWriteAs("gw-1"));

  auto gateway =
      access.Authenticate({.authorization = "Bearer gw-1-secret", .cert_names = {}}, kNow);
  REQUIRE(gateway);
  CHECK(gateway->role == Role::kGateway);
  CHECK(gateway->May(Role::kGateway));
  CHECK_FALSE(gateway->May(Role::kViewer));
  CHECK(gateway->MayWriteAs("gw-1"));
  CHECK_FALSE(gateway->MayWriteAs("gw-2"));
}

TEST_CASE("A verified client certificate names a gateway, a token wins over it",
          "[server][access]") {
  const AccessControl access = Configured();
  auto cert =
      access.Authenticate({.authorization = "", .cert_names = {"gw-2", "gw-2.example"}}, kNow);
  REQUIRE(cert);
  CHECK(cert->name == "cert:gw-2");
  CHECK(cert->MayWriteAs("gw-2"));
  CHECK(cert->MayWriteAs("gw-2.example"));
  CHECK_FALSE(cert->MayWriteAs("gw-1"));
  CHECK_FALSE(cert->May(Role::kViewer));

  auto both =
      access.Authenticate({.authorization = "Bearer jinan-secret", .cert_names = {"gw-2"}}, kNow);
  REQUIRE(both);
  CHECK(both->name == "jinan");
  // A bad token is not rescued by a certificate.
  CHECK(CodeOf(access.Authenticate({.authorization = "Bearer nope", .cert_names = {"gw-2"}},
                                   kNow)) == alarm::Status::Code::kUnauthenticated);

  SECTION("certificates count only when the server verifies them") {
    const AccessControl tokens_only = Configured(/*client_certs=*/false);
    CHECK(CodeOf(tokens_only.Authenticate({.authorization = "", .cert_names = {"gw-2"}}, kNow)) ==
          alarm::Status::Code::kUnauthenticated);
  }
  SECTION("client certificates alone turn authentication on") {
    const AccessControl certs_only({}, true);
    CHECK(certs_only.enabled());
    CHECK(CodeOf(certs_only.Authenticate(PeerCredentials{}, kNow)) ==
          alarm::Status::Code::kUnauthenticated);
  }
}

TEST_CASE("Deny counts refusals", "[server][access]") {
  const AccessControl access = Configured();
  CHECK(access.permission_denied() == 0);
  alarm::Status s = access.Deny("no");
  CHECK(s.code() == alarm::Status::Code::kPermissionDenied);
  CHECK(access.permission_denied() == 1);
}

}  // namespace
}  // namespace vigil::server
