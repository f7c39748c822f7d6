// JournalExport (server/api/journal_export.h): the export file's lines, and
// the size bound that stops an export at an entry boundary; SigningKey:
// Ed25519 only, signatures that verify. No store, no gRPC.
#include "server/api/journal_export.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <string>

#include "server/config/signing_key.h"
#include "storage/alarm_codec.h"
#include "tests/testing/temp_dir.h"

namespace vigil::server {
namespace {

std::string Entry(uint64_t seq) {
  alarm::JournalEntry e;
  e.seq = seq;
  e.alarm_id = seq;
  e.event.kind = alarm::EventKind::kRaised;
  e.event.record.source_id = "t-\"jn\"";  // escaped in the line
  e.event.record.alarm = alarm::AlarmKind::kThreshold;
  e.event.record.state = alarm::AlarmState::kActiveUnacked;
  e.event.record.severity = alarm::Severity::kOrange;
  e.event.value = 60.5;
  return storage::EncodeJournalEntry(e);
}

size_t Lines(const std::string& text) {
  size_t n = 0;
  for (char c : text) n += c == '\n' ? 1 : 0;
  return n;
}

TEST_CASE("A journal export is a header, one line per entry and an end line", "[server][journal]") {
  JournalExport out({.genesis_seq = 1, .from_seq = 5, .exported_at = 1'700'000'000'000}, 1 << 20);
  storage::ChainHash h = {};
  for (uint64_t seq = 5; seq <= 7; ++seq) {
    h = storage::NextChainHash(h, Entry(seq));
    REQUIRE(out.Add(seq, Entry(seq), h));
  }
  const std::string text = out.Finish(true);
  CHECK(Lines(text) == 5);
  CHECK(text.starts_with("{\"format\":\"vigil-journal-export\",\"version\":1,"));
  CHECK(text.find("\"from_seq\":5,\"prev_hash\":\"" + std::string(64, '0') + "\"") !=
        std::string::npos);
  CHECK(text.find("{\"seq\":6,\"hash\":\"") != std::string::npos);
  CHECK(text.find("\"entry\":\"" + Base64(Entry(6)) + "\"") != std::string::npos);
  CHECK(text.find("\"source\":\"t-\\\"jn\\\"\"") != std::string::npos);
  CHECK(text.find("\"value\":60.5") != std::string::npos);
  CHECK(
      text.ends_with("{\"end\":true,\"from_seq\":5,\"last_seq\":7,\"entries\":3,\"last_hash\":\"" +
                     storage::ChainHashHex(h) + "\",\"complete\":true}\n"));
  CHECK(Base64("abc") == "YWJj");
  CHECK(Base64("ab") == "YWI=");
}

TEST_CASE("A journal export stops at its size bound on an entry boundary", "[server][journal]") {
  JournalExport out({.from_seq = 1}, 4096);
  uint64_t seq = 1;
  while (out.Add(seq, Entry(seq), {})) ++seq;
  CHECK(seq > 3);
  CHECK(out.last_seq() == seq - 1);
  const std::string text = out.Finish(false);
  CHECK(text.size() <= 4096);
  CHECK(Lines(text) == seq + 1);  // header, seq - 1 entries, end
  CHECK(text.ends_with("\"complete\":false}\n"));
}

TEST_CASE("SigningKey loads Ed25519 keys only and signs what openssl verifies",
          "[server][journal]") {
  testing::TempDir dir;
  const std::string gen = "cd '" + dir.path().string() +
                          "' && openssl genpkey -algorithm ed25519 -out ed.pem 2>/dev/null && "
                          "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out "
                          "rsa.pem 2>/dev/null";
  REQUIRE(std::system(gen.c_str()) == 0);
  auto key = SigningKey::Load(dir / "ed.pem");
  REQUIRE(key.has_value());
  CHECK((*key)->public_key_pem().starts_with("-----BEGIN PUBLIC KEY-----"));
  CHECK((*key)->public_key_sha256().size() == 64);
  auto sig = (*key)->Sign("an export");
  REQUIRE(sig.has_value());
  CHECK(sig->size() == 64);
  // Verified with the public key alone.
  std::ofstream(dir / "pub.pem") << (*key)->public_key_pem();
  std::ofstream(dir / "msg", std::ios::binary) << "an export";
  std::ofstream(dir / "msg.sig", std::ios::binary) << *sig;
  const std::string verify = "cd '" + dir.path().string() +
                             "' && openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in msg "
                             "-sigfile msg.sig >/dev/null 2>&1";
  CHECK(std::system(verify.c_str()) == 0);

  auto rsa = SigningKey::Load(dir / "rsa.pem");
  REQUIRE_FALSE(rsa.has_value());
  CHECK(rsa.error().code() == alarm::Status::Code::kInvalidArgument);
  CHECK_THAT(rsa.error().message(), Catch::Contains("RSA key, not Ed25519"));
  auto missing = SigningKey::Load(dir / "none.pem");
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().code() == alarm::Status::Code::kIOError);
  std::ofstream(dir / "junk.pem") << "not a key";
  CHECK_FALSE(SigningKey::Load(dir / "junk.pem").has_value());
}

}  // namespace
}  // namespace vigil::server
