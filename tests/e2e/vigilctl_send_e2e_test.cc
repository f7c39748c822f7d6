// End-to-end: `vigilctl send SENSOR=VALUE ...` against the real vigild: the
// reading is stored (read back over Query), the gateway's own numbering is
// continued, rejections and duplicates are printed with their exit codes.
#include <catch2/catch.hpp>
#include <string>

#include "tests/e2e/vigild_process.h"

namespace vigil::e2e {
namespace {

constexpr char kRegistry[] = R"(enterprises:
  - { id: e-1, name: Plant One, kind: hazardous_chemical, region_code: "370105" }
sensors:
  - { id: s-1, enterprise: e-1, quantity: temperature, unit: degC }
  - { id: s-2, enterprise: e-1, quantity: pressure, unit: MPa }
gateways:
  - { id: gw-test, enterprise: e-1 }
)";

TEST_CASE("vigilctl send stores test readings as a gateway and prints the ack",
          "[e2e][cli][send]") {
  VigildProcess proc({.config_yaml = "storage: { durability: wal }\n", .registry_yaml = kRegistry});
  const std::string server = proc.Start();
  const int64_t t0 = NowMs() - 60'000;
  const std::string at = std::to_string(t0);

  CtlResult first = RunVigilctl(
      {"--server", server, "send", "s-1=21.5", "s-2=0.25", "--gateway", "gw-test", "--at", at});
  INFO(first.output);
  CHECK(first.code == 0);
  CHECK(first.output.find(" sequence=1 stored=2 duplicate=false rejected=0") != std::string::npos);

  // The next send continues the gateway's numbering; an unknown sensor is
  // rejected (exit 1) while the rest is stored.
  CtlResult second = RunVigilctl({"--server", server, "send", "s-1=22", "s-9=1", "--gateway",
                                  "gw-test", "--at", std::to_string(t0 + 1000)});
  INFO(second.output);
  CHECK(second.code == 1);
  CHECK(second.output.find(" sequence=2 stored=1 duplicate=false rejected=1") != std::string::npos);
  CHECK(second.output.find("rejected series=1 sensor=s-9 reason=UNKNOWN_SENSOR") !=
        std::string::npos);

  // Explicit numbers: a resend is a duplicate, nothing stored twice.
  const size_t epoch_at = first.output.find("epoch=") + 6;
  const std::string epoch =
      first.output.substr(epoch_at, first.output.find(' ', epoch_at) - epoch_at);
  CtlResult resend = RunVigilctl({"--server", server, "send", "s-1=99", "--gateway", "gw-test",
                                  "--epoch", epoch, "--sequence", "2", "--at", at});
  INFO(resend.output);
  CHECK(resend.code == 0);
  CHECK(resend.output.find("stored=0 duplicate=true") != std::string::npos);

  const std::vector<Reading> s1 = ReadAll(proc.query(), "s-1", t0, t0 + 10'000);
  CHECK(ToString(s1) == ToString({{t0, 21.5, 0}, {t0 + 1000, 22, 0}}));
  CHECK(ReadAll(proc.query(), "s-2", t0, t0 + 10'000).size() == 1);

  // Usage errors: exit 2, nothing sent.
  CHECK(RunVigilctl({"--server", server, "send", "s-1=warm", "--gateway", "gw-test"}).code == 2);
  CHECK(RunVigilctl({"--server", server, "send", "s-1", "--gateway", "gw-test"}).code == 2);
  // An unknown gateway: NOT_FOUND from its watermark (exit 3).
  CHECK(RunVigilctl({"--server", server, "send", "s-1=1", "--gateway", "gw-nope"}).code == 3);
  REQUIRE(proc.Terminate().ExitedWith(0));
}

}  // namespace
}  // namespace vigil::e2e
