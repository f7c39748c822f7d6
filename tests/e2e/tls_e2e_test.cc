// End-to-end: vigild with TLS and gateways identified by client certificates
// (mutual TLS). A CA, the server's certificate and gateways' certificates are
// made with the openssl CLI in the test's temp dir for each run. Checks:
// mTLS ingest works, another gateway's certificate is refused, a certificate
// of another CA fails the handshake, plaintext to the TLS port fails, vigilctl
// talks TLS, and replaced certificate files (SIGHUP logs the check; gRPC's
// watcher loads them) serve new connections while an open stream carries on.
// The console and HTTP ingest listeners speak HTTPS with the same files.
#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "tests/e2e/vigild_process.h"
#include "tests/testing/temp_dir.h"

namespace vigil::e2e {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr char kRegistry[] = R"(enterprises:
  - { id: e-1, name: Plant One, kind: hazardous_chemical, region_code: "370105" }
  - { id: e-9, name: Mine Nine, kind: coal_mine, region_code: "140202" }
sensors:
  - { id: s-1, enterprise: e-1, quantity: temperature, unit: degC }
  - { id: m-1, enterprise: e-9, quantity: methane, unit: "%CH4" }
gateways:
  - { id: gw-1, enterprise: e-1 }
  - { id: gw-9, enterprise: e-9 }
)";
constexpr char kNational[] = "national-secret";

// Runs `command` in `dir` with bash; fails the test on a non-zero exit.
void Shell(const fs::path& dir, const std::string& command) {
  const std::string line = "cd '" + dir.string() + "' && (" + command + ") > openssl.log 2>&1";
  const int rc = std::system(line.c_str());
  if (rc != 0) {
    std::ifstream log(dir / "openssl.log");
    std::stringstream text;
    text << log.rdbuf();
    FAIL("command failed (" << rc << "): " << command << "\n" << text.str());
  }
}

constexpr char kNewKey[] = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";

// NAME.key + NAME.crt: a self-signed CA.
void MakeCa(const fs::path& dir, const std::string& name) {
  Shell(dir, std::string("openssl req -x509 ") + kNewKey + " -keyout " + name + ".key -out " +
                 name + ".crt -days 2 -subj /CN=" + name);
}

// NAME.key + NAME.crt signed by CA, with common name `cn` and `extensions`.
void MakeCert(const fs::path& dir, const std::string& ca, const std::string& name,
              const std::string& cn, const std::string& extensions) {
  std::ofstream(dir / (name + ".ext")) << extensions;
  Shell(dir, std::string("openssl req -new ") + kNewKey + " -keyout " + name + ".key -out " + name +
                 ".csr -subj /CN=" + cn + " && openssl x509 -req -in " + name + ".csr -CA " + ca +
                 ".crt -CAkey " + ca + ".key -CAcreateserial -out " + name +
                 ".crt -days 2 -extfile " + name + ".ext");
}

std::string Read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

constexpr char kServerExt[] =
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n";
std::string ClientExt(const std::string& gateway) {
  return "subjectAltName=DNS:" + gateway + "\nextendedKeyUsage=clientAuth\n";
}

// ca.{crt,key}, the server's certificate (server.*) and gateways gw-1's and
// gw-9's (gw1.*, gw9.*) signed by it.
void MakeGatewayCerts(const fs::path& dir) {
  MakeCa(dir, "ca");
  MakeCert(dir, "ca", "server", "vigild", kServerExt);
  MakeCert(dir, "ca", "gw1", "gw-1", ClientExt("gw-1"));
  MakeCert(dir, "ca", "gw9", "gw-9", ClientExt("gw-9"));
}

// server.tls with those files (gateways' certificates verified, re-read
// every second) and the national admin's token.
std::string TlsConfig(const fs::path& dir) {
  return "server:\n  tls:\n    cert_file: " + (dir / "server.crt").string() +
         "\n    key_file: " + (dir / "server.key").string() +
         "\n    client_ca_file: " + (dir / "ca.crt").string() +
         "\n    refresh_interval: 1s\n"
         "auth:\n  tokens:\n"
         "    - { name: national, region: \"\", role: admin, sha256: "
         "fa97b986984b38fac2a09b1677210ef87ff0a9642c5f6d0f9ebcfd41cee9022b }\n";
}

// A channel on a connection of its own: TLS trusting `ca`, with a client
// certificate when `name` is given (dir/name.crt + .key).
std::shared_ptr<grpc::Channel> TlsChannel(const std::string& address, const fs::path& dir,
                                          const std::string& ca, const std::string& name = "") {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = Read(dir / (ca + ".crt"));
  if (!name.empty()) {
    ssl.pem_cert_chain = Read(dir / (name + ".crt"));
    ssl.pem_private_key = Read(dir / (name + ".key"));
  }
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_ENABLE_HTTP_PROXY, 0);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(address, grpc::SslCredentials(ssl), args);
}

v1::IngestBatch Batch(const std::string& gateway, uint64_t sequence, int64_t at, double value) {
  v1::IngestBatch batch;
  batch.set_gateway_id(gateway);
  batch.set_epoch(1);
  batch.set_sequence(sequence);
  v1::Series* s = batch.add_series();
  s->set_sensor_id("s-1");
  s->add_timestamps_ms(at);
  s->add_values(value);
  return batch;
}

grpc::Status Write(const std::shared_ptr<grpc::Channel>& channel, const v1::IngestBatch& batch,
                   v1::IngestAck* ack, const std::string& token = "",
                   std::chrono::seconds timeout = 10s) {
  grpc::ClientContext context;
  SetDeadline(&context, timeout);
  if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
  return v1::Ingest::NewStub(channel)->Write(&context, batch, ack);
}

TEST_CASE("TLS: gateways by client certificate, centers by token, certificate reload",
          "[e2e][security][tls]") {
  testing::TempDir certs;
  const fs::path dir = certs.path();
  MakeGatewayCerts(dir);
  MakeCa(dir, "rogue");
  MakeCert(dir, "rogue", "rogue-gw1", "gw-1", ClientExt("gw-1"));

  VigildProcess vigild({.config_yaml = TlsConfig(dir), .registry_yaml = kRegistry});
  const std::string address = vigild.Start();
  const int64_t now = NowMs();
  CHECK(vigild.Output().find("event=tls_enabled") != std::string::npos);
  CHECK(vigild.Output().find("event=plaintext_listener") == std::string::npos);

  // The gateway with its own certificate writes its batch.
  auto gw1 = TlsChannel(address, dir, "ca", "gw1");
  v1::IngestAck ack;
  grpc::Status status = Write(gw1, Batch("gw-1", 1, now - 10, 21.5), &ack);
  INFO(status.error_code() << " " << status.error_message());
  REQUIRE(status.ok());
  CHECK(ack.stored_readings() == 1);

  // Another gateway's (valid) certificate may not write gw-1's batches.
  status = Write(TlsChannel(address, dir, "ca", "gw9"), Batch("gw-1", 2, now - 9, 1), &ack);
  CHECK(status.error_code() == grpc::StatusCode::PERMISSION_DENIED);
  // A certificate of another CA (same CN) fails the handshake.
  status = Write(TlsChannel(address, dir, "ca", "rogue-gw1"), Batch("gw-1", 2, now - 9, 1), &ack,
                 "", 5s);
  CHECK(status.error_code() == grpc::StatusCode::UNAVAILABLE);
  // TLS without certificate or token: who is it?
  auto anonymous = TlsChannel(address, dir, "ca");
  status = Write(anonymous, Batch("gw-1", 2, now - 9, 1), &ack);
  CHECK(status.error_code() == grpc::StatusCode::UNAUTHENTICATED);
  // Plaintext to the TLS port fails.
  {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    status = Write(grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args),
                   Batch("gw-1", 2, now - 9, 1), &ack, "", 5s);
    CHECK(status.error_code() == grpc::StatusCode::UNAVAILABLE);
  }
  // A center reads it back over TLS with its token.
  {
    grpc::ClientContext context;
    SetDeadline(&context);
    context.AddMetadata("authorization", std::string("Bearer ") + kNational);
    v1::ReadRawRequest request;
    request.set_sensor_id("s-1");
    request.set_from_ms(now - 1000);
    request.set_to_ms(now + 1000);
    v1::ReadRawResponse response;
    REQUIRE(v1::Query::NewStub(anonymous)->ReadRaw(&context, request, &response).ok());
    REQUIRE(response.values_size() == 1);
    CHECK(response.values(0) == 21.5);
  }
  // vigilctl over TLS (token from a file), and its refusal without --ca-file.
  {
    std::ofstream(dir / "token") << kNational << "\n";
    CtlResult ctl = RunVigilctl({"--server", address, "--ca-file", (dir / "ca.crt").string(),
                                 "--token-file", (dir / "token").string(), "registry"});
    INFO(ctl.output);
    CHECK(ctl.code == 0);
    CHECK(ctl.output.find("gw-9") != std::string::npos);
    ctl = RunVigilctl({"--server", address, "--ca-file", (dir / "ca.crt").string(), "--cert-file",
                       (dir / "gw1.crt").string(), "--key-file", (dir / "gw1.key").string(),
                       "health"});
    CHECK(ctl.code == 0);
    CHECK(ctl.output.find("SERVING") != std::string::npos);
    ctl = RunVigilctl({"--server", address, "--token-file", (dir / "token").string(), "health"});
    CHECK(ctl.code == 1);
    ctl = RunVigilctl({"--server", address, "--cert-file", (dir / "gw1.crt").string(), "health"});
    CHECK(ctl.code == 2);
  }

  // Certificate reload: a stream opened before keeps working; new
  // connections get the new certificate (of a new CA) once the watcher saw it.
  grpc::ClientContext stream_context;
  SetDeadline(&stream_context, 60s);
  auto stream = v1::Ingest::NewStub(gw1)->Stream(&stream_context);
  REQUIRE(stream->Write(Batch("gw-1", 10, now - 8, 30)));
  REQUIRE(stream->Read(&ack));
  CHECK(ack.stored_readings() == 1);

  fs::create_directory(dir / "next");
  MakeCa(dir / "next", "ca2");
  MakeCert(dir / "next", "ca2", "server", "vigild", kServerExt);
  fs::copy_file(dir / "next" / "ca2.crt", dir / "ca2.crt");
  // Replace both files by rename: readers never see half a file.
  fs::copy_file(dir / "next" / "server.key", dir / "server.key.new");
  fs::copy_file(dir / "next" / "server.crt", dir / "server.crt.new");
  fs::rename(dir / "server.key.new", dir / "server.key");
  fs::rename(dir / "server.crt.new", dir / "server.crt");
  REQUIRE(kill(vigild.pid(), SIGHUP) == 0);

  const auto deadline = std::chrono::steady_clock::now() + 20s;
  uint64_t sequence = 10;
  bool reloaded = false;
  while (!reloaded && std::chrono::steady_clock::now() < deadline) {
    status = Write(TlsChannel(address, dir, "ca2", "gw1"), Batch("gw-1", ++sequence, now - 7, 31),
                   &ack, "", 3s);
    reloaded = status.ok();
    if (!reloaded) std::this_thread::sleep_for(200ms);
  }
  INFO(status.error_code() << " " << status.error_message());
  REQUIRE(reloaded);
  CHECK(vigild.Output().find("event=tls_files_checked") != std::string::npos);
  // A client that trusts only the old CA cannot connect any more.
  status = Write(TlsChannel(address, dir, "ca", "gw1"), Batch("gw-1", ++sequence, now - 6, 32),
                 &ack, "", 5s);
  CHECK(status.error_code() == grpc::StatusCode::UNAVAILABLE);
  // The stream opened before the reload carries on.
  REQUIRE(stream->Write(Batch("gw-1", ++sequence, now - 5, 33)));
  REQUIRE(stream->Read(&ack));
  CHECK(ack.stored_readings() == 1);
  stream->WritesDone();
  CHECK(stream->Finish().ok());
}

// The address after `key` ("console=") in vigild's last start line.
std::string PrintedAddress(const VigildProcess& proc, const std::string& key) {
  const std::string out = proc.Output();
  const size_t at = out.rfind(" " + key);
  REQUIRE(at != std::string::npos);
  const size_t from = at + 1 + key.size();
  return out.substr(from, out.find_first_of(" \n", from) - from);
}

struct CurlResult {
  int exit_code = -1;  // curl's: 0 ok, 35 handshake failed, 60 untrusted certificate
  int status = 0;      // HTTP status; 0 without an answer
  std::string headers;
  std::string body;
};

// curl with `args` (already quoted) against `url`; bounded by timeout(1).
CurlResult Curl(const fs::path& dir, const std::string& args, const std::string& url) {
  const std::string command = "timeout 30 curl -s -o '" + (dir / "curl.out").string() + "' -D '" +
                              (dir / "curl.hdr").string() + "' -w '%{http_code}' " + args + " '" +
                              url + "'";
  fs::remove(dir / "curl.out");
  fs::remove(dir / "curl.hdr");
  FILE* p = popen(command.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[256];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int rc = pclose(p);
  REQUIRE(WIFEXITED(rc));
  CurlResult r;
  r.exit_code = WEXITSTATUS(rc);
  r.status = out.empty() ? 0 : std::atoi(out.c_str());
  r.headers = Read(dir / "curl.hdr");
  r.body = Read(dir / "curl.out");
  return r;
}

TEST_CASE("TLS: the console and HTTP ingest speak HTTPS with server.tls's certificate",
          "[e2e][security][tls][http][console]") {
  testing::TempDir certs;
  const fs::path dir = certs.path();
  MakeGatewayCerts(dir);

  VigildProcess vigild(
      {.config_yaml = TlsConfig(dir) +
                      "http: { listen: \"127.0.0.1:0\" }\n"
                      "console:\n  enabled: true\n  listen: \"127.0.0.1:0\"\n  assets_dir: " +
                      std::string(VIGIL_SOURCE_DIR) + "/server/http/console_page\n",
       .registry_yaml = kRegistry});
  vigild.Start();
  const std::string console = PrintedAddress(vigild, "console=");
  const std::string http = PrintedAddress(vigild, "http=");
  const std::string ca = "--cacert '" + (dir / "ca.crt").string() + "'";
  const std::string token = std::string(" -H 'Authorization: Bearer ") + kNational + "'";

  // The console over HTTPS, with HSTS; the page too.
  CurlResult r = Curl(dir, ca + token, "https://" + console + "/api/v1/console/session");
  INFO(r.exit_code << " " << r.status << " " << r.headers << r.body);
  REQUIRE(r.exit_code == 0);
  CHECK(r.status == 200);
  CHECK(r.body.find("\"identity\":\"national\"") != std::string::npos);
  CHECK(r.headers.find("Strict-Transport-Security: max-age=31536000") != std::string::npos);
  r = Curl(dir, ca, "https://" + console + "/");
  CHECK(r.status == 200);
  CHECK(r.headers.find("Strict-Transport-Security") != std::string::npos);
  // The alarm stream over HTTPS: its snapshot arrives (curl stops at --max-time).
  r = Curl(dir, ca + token + " -N --max-time 2", "https://" + console + "/api/v1/alarms/stream");
  CHECK(r.status == 200);
  CHECK(r.body.find("event: snapshot") != std::string::npos);
  // Plain HTTP to the console's port: a plain 400 that says so, and nothing else.
  r = Curl(dir, token, "http://" + console + "/api/v1/console/session");
  CHECK(r.status == 400);
  CHECK(r.body.find("HTTPS only") != std::string::npos);
  CHECK(r.body.find("national") == std::string::npos);
  // A client that does not trust the CA refuses the certificate.
  r = Curl(dir, token, "https://" + console + "/api/v1/console/session");
  CHECK(r.exit_code == 60);
  // The console asks for no client certificate (a browser would prompt the
  // officer to pick one): a gateway's is never looked at, the token decides.
  r = Curl(dir,
           ca + " --cert '" + (dir / "gw1.crt").string() + "' --key '" +
               (dir / "gw1.key").string() + "'",
           "https://" + console + "/api/v1/console/session");
  CHECK(r.status == 401);

  // HTTP ingest over HTTPS: a gateway known by its client certificate, as on gRPC.
  const int64_t now = NowMs();
  const auto batch = [&](const std::string& gateway, int sequence, double value) {
    return " -X POST -H 'Content-Type: application/json' --data-binary '{\"gateway_id\":\"" +
           gateway + "\",\"epoch\":1,\"sequence\":" + std::to_string(sequence) +
           ",\"series\":[{\"sensor_id\":\"s-1\",\"timestamps_ms\":[" + std::to_string(now - 50) +
           "],\"values\":[" + std::to_string(value) + "]}]}'";
  };
  const std::string gw1 =
      " --cert '" + (dir / "gw1.crt").string() + "' --key '" + (dir / "gw1.key").string() + "'";
  const std::string gw9 =
      " --cert '" + (dir / "gw9.crt").string() + "' --key '" + (dir / "gw9.key").string() + "'";
  r = Curl(dir, ca + gw1 + batch("gw-1", 1, 21.5), "https://" + http + "/api/v1/ingest");
  INFO(r.exit_code << " " << r.status << " " << r.body);
  CHECK(r.status == 200);
  CHECK(r.body.find("\"stored_readings\":1") != std::string::npos);
  CHECK(r.headers.find("Strict-Transport-Security") != std::string::npos);
  // Another gateway's certificate may not write gw-1's batches; no
  // certificate and no token: who is it?
  r = Curl(dir, ca + gw9 + batch("gw-1", 2, 22), "https://" + http + "/api/v1/ingest");
  CHECK(r.status == 403);
  r = Curl(dir, ca + batch("gw-1", 2, 22), "https://" + http + "/api/v1/ingest");
  CHECK(r.status == 401);
  r = Curl(dir, gw1 + batch("gw-1", 2, 22), "http://" + http + "/api/v1/ingest");
  CHECK(r.status == 400);
  CHECK(r.body.find("HTTPS only") != std::string::npos);
  // Line protocol with the certificate too.
  r = Curl(dir, ca + gw1 + " --data-binary 's-1 value=23.5 " + std::to_string(now - 40) + "'",
           "https://" + http + "/write?gateway=gw-1&precision=ms");
  CHECK(r.status == 204);

  // Certificate reload: new files (of a new CA) serve new connections within
  // refresh_interval, on both HTTP listeners, with no SIGHUP.
  fs::create_directory(dir / "next");
  MakeCa(dir / "next", "ca2");
  MakeCert(dir / "next", "ca2", "server", "vigild", kServerExt);
  fs::copy_file(dir / "next" / "ca2.crt", dir / "ca2.crt");
  fs::copy_file(dir / "next" / "server.key", dir / "server.key.new");
  fs::copy_file(dir / "next" / "server.crt", dir / "server.crt.new");
  fs::rename(dir / "server.key.new", dir / "server.key");
  fs::rename(dir / "server.crt.new", dir / "server.crt");
  const std::string ca2 = "--cacert '" + (dir / "ca2.crt").string() + "'";
  const auto trusted_within_20s = [&](const std::string& url) {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    do {
      r = Curl(dir, ca2 + token, url);
      if (r.exit_code != 0) std::this_thread::sleep_for(200ms);
    } while (r.exit_code != 0 && std::chrono::steady_clock::now() < deadline);
    return r.exit_code == 0;
  };
  REQUIRE(trusted_within_20s("https://" + console + "/api/v1/console/session"));
  CHECK(r.status == 200);
  REQUIRE(trusted_within_20s("https://" + http + "/api/v1/ingest"));
  CHECK(r.status == 405);  // a GET, but over the new certificate
  CHECK(vigild.Output().find("event=https_certificate_reloaded") != std::string::npos);
  r = Curl(dir, ca + token, "https://" + console + "/api/v1/console/session");
  CHECK(r.exit_code == 60);  // the old CA no longer vouches for it
}

TEST_CASE("TLS config problems stop vigild at start with exit code 2", "[e2e][security][tls]") {
  testing::TempDir dir;
  MakeCa(dir.path(), "ca");
  MakeCert(dir.path(), "ca", "server", "vigild", kServerExt);
  MakeCert(dir.path(), "ca", "other", "other", kServerExt);
  auto config = [&](const std::string& body) {
    const fs::path path = dir / "vigil.yaml";
    std::ofstream(path) << body;
    return path.string();
  };
  SECTION("a key that does not match the certificate") {
    const RunResult r =
        RunVigild({"--check-config", "--config",
                   config("server:\n  tls: { cert_file: server.crt, key_file: other.key }\n")});
    CHECK(r.status.ExitedWith(2));
    CHECK(r.output.find("server.tls.key_file") != std::string::npos);
    CHECK(r.output.find("does not match the certificate") != std::string::npos);
  }
  SECTION("a missing file") {
    const RunResult r =
        RunVigild({"--check-config", "--config",
                   config("server:\n  tls: { cert_file: nope.crt, key_file: server.key }\n")});
    CHECK(r.status.ExitedWith(2));
    CHECK(r.output.find("cannot be read") != std::string::npos);
  }
  SECTION("plaintext on a non-loopback address without allow_plaintext") {
    RunResult r = RunVigild({"--check-config", "--listen", "0.0.0.0:0", "--config", config("")});
    CHECK(r.status.ExitedWith(2));
    CHECK(r.output.find("server.allow_plaintext") != std::string::npos);
    r = RunVigild({"--check-config", "--listen", "0.0.0.0:0", "--config",
                   config("server:\n  allow_plaintext: true\n")});
    CHECK(r.status.ExitedWith(0));
  }
}

}  // namespace
}  // namespace vigil::e2e
