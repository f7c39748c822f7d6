// End-to-end: the alarm journal's hash chain through the real vigild and
// vigilctl. `vigilctl journal verify` holds on a live journal, across a
// restart, and names the seq of an entry edited in RocksDB while vigild was
// down; `vigilctl journal export` writes a file whose Ed25519 signature
// `openssl pkeyutl -verify -rawin` accepts (and refuses after one byte
// changes) and whose chain deploy/verify-journal-export.py recomputes; a
// store written before the chain opens and starts it at the next entry;
// --check-config refuses a signing key that is not Ed25519; only an admin
// may verify or export.
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "storage/rocksdb_store_testing.h"
#include "tests/e2e/vigild_process.h"
#include "tests/testing/temp_dir.h"

#ifndef VIGIL_SOURCE_DIR
#error "VIGIL_SOURCE_DIR must name the source tree (tests/e2e/CMakeLists.txt)"
#endif

namespace vigil::e2e {
namespace {

using namespace std::chrono_literals;

constexpr char kRegistry[] = R"(enterprises:
  - { id: e-jinan, name: Jinan Tank Farm, kind: hazardous_chemical, region_code: "370105" }
sensors:
  - { id: t-jn, enterprise: e-jinan, quantity: temperature, unit: degC }
gateways:
  - { id: gw-jn, enterprise: e-jinan }
)";

constexpr char kRules[] = R"(rules:
  - id: temperature-high
    select: { quantity: temperature, enterprise_kind: hazardous_chemical }
    levels: { h: { value: 50, severity: 2 } }
    sensor_fault: off
)";

// Runs `command` in `dir` with sh; returns its exit status and output.
struct Shell {
  int code = -1;
  std::string output;
};
Shell Sh(const std::filesystem::path& dir, const std::string& command) {
  const std::filesystem::path log = dir / "sh.log";
  const std::string line =
      "cd '" + dir.string() + "' && timeout 60 sh -c '" + command + "' > sh.log 2>&1";
  const int status = std::system(line.c_str());
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, text.str()};
}

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

struct Server {
  // `extra_config` goes at the top level, `journal_config` under journal:.
  explicit Server(const std::string& extra_config = "", const std::string& journal_config = "")
      : vigild(Make(dir, extra_config, journal_config)) {}
  static VigildProcess::Options Make(testing::TempDir& dir, const std::string& extra,
                                     const std::string& journal) {
    std::ofstream(dir / "rules.yaml") << kRules;
    Sh(dir.path(),
       "openssl genpkey -algorithm ed25519 -out key.pem && "
       "openssl pkey -in key.pem -pubout -out pub.pem");
    return {.config_yaml = "rules_file: " + (dir / "rules.yaml").string() +
                           "\njournal:\n  signing_key_file: " + (dir / "key.pem").string() + "\n" +
                           journal + extra,
            .registry_yaml = kRegistry};
  }
  testing::TempDir dir;
  VigildProcess vigild;
  uint64_t sequence = 0;
  int64_t last_at = 0;

  // Readings alternately above and below the threshold: one journal entry
  // (raised, cleared) each.
  void Toggle(int readings) {
    for (int i = 0; i < readings; ++i) {
      v1::IngestBatch batch;
      batch.set_gateway_id("gw-jn");
      batch.set_epoch(1);
      batch.set_sequence(++sequence);
      v1::Series* series = batch.add_series();
      series->set_sensor_id("t-jn");
      last_at = std::max(NowMs(), last_at + 1);
      series->add_timestamps_ms(last_at);
      series->add_values(sequence % 2 == 1 ? 60 : 20);
      grpc::ClientContext context;
      SetDeadline(&context);
      v1::IngestAck ack;
      const grpc::Status s = vigild.ingest().Write(&context, batch, &ack);
      INFO(s.error_message());
      REQUIRE(s.ok());
    }
  }

  std::vector<std::string> Ctl(std::vector<std::string> args) const {
    args.insert(args.begin(), {"--server", vigild.address()});
    return args;
  }

  // Waits (bounded) until verify reports at least `entries` entries.
  CtlResult WaitVerified(uint64_t entries) {
    CtlResult r;
    for (int i = 0; i < 200; ++i) {
      r = RunVigilctl(Ctl({"journal", "verify"}));
      const size_t at = r.output.find("verified: ");
      if (r.code == 0 && at != std::string::npos &&
          std::stoull(r.output.substr(at + 10)) >= entries) {
        return r;
      }
      std::this_thread::sleep_for(50ms);
    }
    return r;
  }
};

const std::string kScript = std::string(VIGIL_SOURCE_DIR) + "/deploy/verify-journal-export.py";

TEST_CASE("vigilctl journal export: a signed file openssl verifies and the script recomputes",
          "[e2e][journal]") {
  Server server;
  server.vigild.Start();
  server.Toggle(6);
  const CtlResult verified = server.WaitVerified(6);
  INFO(verified.output << server.vigild.Output());
  REQUIRE(verified.code == 0);
  CHECK(Has(verified.output, "journal chain verified: 6 entries, seq 1..6"));

  const std::filesystem::path& dir = server.dir.path();
  const std::string file = (dir / "export.jsonl").string();
  const CtlResult exported = RunVigilctl(server.Ctl({"journal", "export", "--out", file}));
  INFO(exported.output);
  REQUIRE(exported.code == 0);
  CHECK(Has(exported.output, "exported 6 entries, seq 1..6"));
  CHECK(std::filesystem::file_size(file + ".sig") == 64);

  // The documented command, on Debian 12's OpenSSL 3.0.
  const std::string openssl_verify =
      "openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in export.jsonl -sigfile "
      "export.jsonl.sig";
  Shell ok = Sh(dir, openssl_verify);
  INFO(ok.output);
  CHECK(ok.code == 0);
  CHECK(Has(ok.output, "Signature Verified Successfully"));
  Shell script = Sh(dir, "/usr/bin/python3 " + kScript + " --pubkey pub.pem export.jsonl");
  INFO(script.output);
  CHECK(script.code == 0);
  CHECK(Has(script.output, "OK: 6 entries, seq 1..6, chain holds, signature verified"));

  // The chain still ends in the export's hash.
  const CtlResult against = RunVigilctl(server.Ctl({"journal", "verify", "--against", file}));
  INFO(against.output);
  CHECK(against.code == 0);
  CHECK(Has(against.output, "matches the export's last hash at seq 6"));

  // One byte changed: the signature fails, and so does the chain.
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    const size_t at = text.find("\"severity\":2");
    REQUIRE(at != std::string::npos);
    f.seekp(static_cast<std::streamoff>(at + 11));
    f.put('1');
  }
  Shell bad = Sh(dir, openssl_verify);
  INFO(bad.output);
  CHECK(bad.code != 0);
  CHECK(Has(bad.output, "Signature Verification Failure"));
  script = Sh(dir, "/usr/bin/python3 " + kScript + " export.jsonl");
  INFO(script.output);
  CHECK(script.code == 1);
  CHECK(Has(script.output, "severity is 1 in words but 2 in the entry's bytes"));

  // A time range: the seqs of the entries in it.
  const CtlResult by_time = RunVigilctl(
      server.Ctl({"journal", "export", "--from", std::to_string(NowMs() - 3'600'000), "--to",
                  std::to_string(NowMs() + 60'000), "--out", (dir / "t").string()}));
  INFO(by_time.output);
  CHECK(by_time.code == 0);
  CHECK(Has(by_time.output, "exported 6 entries, seq 1..6"));
  const CtlResult none =
      RunVigilctl(server.Ctl({"journal", "export", "--from", "2020-01-01T00:00:00Z", "--to",
                              "2020-01-02T00:00:00Z", "--out", (dir / "none").string()}));
  INFO(none.output);
  CHECK(none.code == 0);
  CHECK(Has(none.output, "exported 0 entries"));
  script = Sh(dir, "/usr/bin/python3 " + kScript + " --pubkey pub.pem none");
  INFO(script.output);
  CHECK(script.code == 0);

  // A range by seq, then the next one continues it.
  const CtlResult part = RunVigilctl(server.Ctl(
      {"journal", "export", "--from-seq", "2", "--to-seq", "3", "--out", (dir / "a").string()}));
  INFO(part.output);
  CHECK(part.code == 0);
  CHECK(Has(part.output, "exported 2 entries, seq 2..3"));
  const CtlResult rest = RunVigilctl(
      server.Ctl({"journal", "export", "--from-seq", "4", "--out", (dir / "b").string()}));
  CHECK(rest.code == 0);
  script = Sh(dir, "/usr/bin/python3 " + kScript + " --pubkey pub.pem --after a b");
  INFO(script.output);
  CHECK(script.code == 0);
  CHECK(Has(script.output, "OK: 3 entries, seq 4..6"));
}

TEST_CASE(
    "vigilctl journal export stops at journal.export_max_bytes, signed, and says where to "
    "go on",
    "[e2e][journal]") {
  Server server("", "  export_max_bytes: 64KiB\n");
  server.vigild.Start();
  server.Toggle(150);  // ~600 bytes a line: more than 64 KiB
  REQUIRE(server.WaitVerified(150).code == 0);
  const std::filesystem::path& dir = server.dir.path();
  const CtlResult first =
      RunVigilctl(server.Ctl({"journal", "export", "--out", (dir / "p1").string()}));
  INFO(first.output);
  CHECK(first.code == 7);
  const size_t at = first.output.find("export the rest with --from-seq ");
  REQUIRE(at != std::string::npos);
  const std::string next = first.output.substr(at + 32, first.output.find('\n', at) - at - 32);
  CHECK(std::filesystem::file_size(dir / "p1") <= 64 * 1024);
  Shell script = Sh(dir, "/usr/bin/python3 " + kScript + " --pubkey pub.pem p1");
  INFO(script.output);
  CHECK(script.code == 0);
  CHECK(Has(script.output, "(incomplete: export stopped at the size limit)"));
  // The rest, continuing the first part.
  const CtlResult second = RunVigilctl(
      server.Ctl({"journal", "export", "--from-seq", next, "--out", (dir / "p2").string()}));
  INFO(second.output);
  CHECK(second.code == 0);
  CHECK(Has(second.output, "seq " + next + "..150"));
  script = Sh(dir, "/usr/bin/python3 " + kScript + " --pubkey pub.pem --after p1 p2");
  INFO(script.output);
  CHECK(script.code == 0);
}

TEST_CASE("Entries of planned work chain, export and verify with the script like the others",
          "[e2e][journal][planned]") {
  Server server;
  server.vigild.Start();
  const CtlResult opened =
      RunVigilctl(server.Ctl({"planned", "open", "--enterprise", "e-jinan", "--reason",
                              "tank cleaning", "--owner", "Li", "--for", "1h"}));
  INFO(opened.output);
  REQUIRE(opened.code == 0);
  server.Toggle(2);  // raised and cleared as planned: entries of version 2
  REQUIRE(server.WaitVerified(3).code == 0);
  const std::filesystem::path& dir = server.dir.path();
  const CtlResult exported =
      RunVigilctl(server.Ctl({"journal", "export", "--out", (dir / "planned.jsonl").string()}));
  INFO(exported.output);
  REQUIRE(exported.code == 0);
  Shell script = Sh(dir, "/usr/bin/python3 " + kScript + " --pubkey pub.pem planned.jsonl");
  INFO(script.output);
  CHECK(script.code == 0);
  CHECK(Has(script.output, "OK: 3 entries, seq 1..3, chain holds, signature verified"));
}

TEST_CASE("vigilctl journal verify names the entry edited in RocksDB, the chain survives restart",
          "[e2e][journal]") {
  Server server;
  server.vigild.Start();
  server.Toggle(5);
  REQUIRE(server.WaitVerified(5).code == 0);
  const std::string before = (server.dir / "before.jsonl").string();
  REQUIRE(RunVigilctl(server.Ctl({"journal", "export", "--out", before})).code == 0);

  // Restart: the head hash is restored and the chain goes on.
  REQUIRE(server.vigild.Terminate().ExitedWith(0));
  server.vigild.Restart();
  server.Toggle(3);
  CtlResult r = server.WaitVerified(8);
  INFO(r.output << server.vigild.Output());
  REQUIRE(r.code == 0);
  CHECK(Has(r.output, "journal chain verified: 8 entries, seq 1..8"));
  r = RunVigilctl(server.Ctl({"journal", "verify", "--against", before}));
  CHECK(r.code == 0);

  // Stopped, one byte of entry 3 changed in the database, started again.
  REQUIRE(server.vigild.Terminate().ExitedWith(0));
  REQUIRE(storage::EditJournalRecord(server.vigild.data_dir(), storage::JournalRecord::kEntry, 3,
                                     [](std::optional<std::string>* v) {
                                       REQUIRE(v->has_value());
                                       (*v)->back() ^= 0x01;
                                     })
              .ok());
  server.vigild.Restart();
  r = RunVigilctl(server.Ctl({"journal", "verify"}));
  INFO(r.output);
  CHECK(r.code == 6);
  CHECK(Has(r.output, "journal chain BROKEN at seq 3: stored hash"));
  CHECK(Has(r.output, "2 entries verified before it (seq 1..2)"));
  // From after the edit the rest still holds; an export carries the edit
  // and the script finds it.
  r = RunVigilctl(server.Ctl({"journal", "verify", "--from-seq", "4"}));
  CHECK(r.code == 0);
  const std::string after = (server.dir / "after.jsonl").string();
  REQUIRE(RunVigilctl(server.Ctl({"journal", "export", "--out", after})).code == 0);
  Shell script = Sh(server.dir.path(), "/usr/bin/python3 " + kScript + " after.jsonl");
  INFO(script.output);
  CHECK(script.code == 1);
  CHECK(Has(script.output, "seq 3: hash"));
}

TEST_CASE("A journal written before the chain opens, the chain starts at the next entry",
          "[e2e][journal]") {
  Server server;
  server.vigild.Start();
  server.Toggle(4);
  REQUIRE(server.WaitVerified(4).code == 0);
  REQUIRE(server.vigild.Terminate().ExitedWith(0));
  // What a vigild before the chain left: the same entries, no hashes.
  REQUIRE(storage::DropJournalChain(server.vigild.data_dir()).ok());
  server.vigild.Restart();
  CtlResult r = RunVigilctl(server.Ctl({"journal", "verify"}));
  INFO(r.output);
  CHECK(r.code == 0);
  CHECK(Has(r.output, "no chained entries yet"));
  server.Toggle(3);
  r = server.WaitVerified(3);
  INFO(r.output << server.vigild.Output());
  CHECK(r.code == 0);
  CHECK(Has(r.output, "journal chain verified: 3 entries, seq 5..7"));
  CHECK(Has(r.output, "entries before seq 5 were written before the chain existed"));
  const std::string file = (server.dir / "upgraded.jsonl").string();
  r = RunVigilctl(server.Ctl({"journal", "export", "--out", file}));
  CHECK(Has(r.output, "exported 3 entries, seq 5..7"));
  Shell script = Sh(server.dir.path(), "/usr/bin/python3 " + kScript + " upgraded.jsonl");
  INFO(script.output);
  CHECK(script.code == 0);
}

TEST_CASE("Journal verify and export are for admins, the signing key must be Ed25519",
          "[e2e][journal]") {
  // jinan-secret is an operator, national-secret an admin.
  Server server(R"(auth:
  tokens:
    - { name: jinan-lixia, region: "370105", role: operator,
        sha256: 94beec19424be60cbfc16ea69f423ad548b050b894a35cb694f8cea5d2b27d0f }
    - { name: national, region: "", role: admin,
        sha256: fa97b986984b38fac2a09b1677210ef87ff0a9642c5f6d0f9ebcfd41cee9022b }
)");
  server.vigild.Start();
  std::ofstream(server.dir / "operator.token") << "jinan-secret\n";
  std::ofstream(server.dir / "admin.token") << "national-secret\n";
  const std::string op = (server.dir / "operator.token").string();
  const CtlResult verify = RunVigilctl(server.Ctl({"--token-file", op, "journal", "verify"}));
  const CtlResult exported = RunVigilctl(server.Ctl(
      {"--token-file", op, "journal", "export", "--out", (server.dir / "x.jsonl").string()}));
  for (const CtlResult* denied : {&verify, &exported}) {
    INFO(denied->output);
    CHECK(denied->code == 4);
    CHECK(Has(denied->output, "PERMISSION_DENIED"));
  }
  CtlResult r = RunVigilctl(
      server.Ctl({"--token-file", (server.dir / "admin.token").string(), "journal", "verify"}));
  INFO(r.output);
  CHECK(r.code == 0);

  // --check-config: an EC key is refused, naming the setting and the file.
  Sh(server.dir.path(),
     "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.pem");
  std::ofstream(server.dir / "ec.yaml") << "journal:\n  signing_key_file: ec.pem\n";
  const RunResult check =
      RunVigild({"--config", (server.dir / "ec.yaml").string(), "--check-config"});
  INFO(check.output);
  CHECK(check.status.ExitedWith(2));
  CHECK(Has(check.output, "journal.signing_key_file: " + (server.dir / "ec.pem").string() +
                              ": a EC key, not Ed25519"));
}

}  // namespace
}  // namespace vigil::e2e
