// Fuzz target: the config file and the duration syntax it shares with the
// rules and registry files. A config that parses must survive the
// --check-config round trip: FormatEffectiveConfig, parsed again, prints the
// same. A duration that parses must format and parse back to itself.
#include <cstdint>
#include <string>
#include <string_view>

#include "server/config/config.h"
#include "tests/fuzz/fuzz_support.h"

namespace vigil::fuzz {
namespace {

void Run(std::string_view text) {
  if (auto d = server::ParseDuration(text)) {
    auto again = server::ParseDuration(server::FormatDuration(*d));
    VIGIL_FUZZ_CHECK(again.has_value() && *again == *d);
  }

  auto options = server::ParseConfigText(text, "fuzz.yaml", "/etc/vigil");
  if (!options) {
    VIGIL_FUZZ_CHECK(options.error().message().starts_with("fuzz.yaml"));  // names the file first
    return;
  }
  const std::string effective = server::FormatEffectiveConfig(*options);
  auto reparsed = server::ParseConfigText(effective, "effective.yaml", "");
  VIGIL_FUZZ_CHECK(reparsed.has_value());
  VIGIL_FUZZ_CHECK(server::FormatEffectiveConfig(*reparsed) == effective);
}

}  // namespace
}  // namespace vigil::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vigil::fuzz::Run({reinterpret_cast<const char*>(data), size});
  return 0;
}
