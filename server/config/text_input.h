// Small helpers shared by the config, registry and rules file readers.
// Pure functions; thread-safe.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "alarm/status.h"

namespace vigil::server {

// The whole file. Errors (kIOError) start with the path: "cannot open: ...".
alarm::Result<std::string> ReadTextFile(const std::filesystem::path& path);

// A decimal number written the way YAML users write it ("1.5", "+2", "-40",
// "1e3"); nullopt for anything else, including trailing characters.
std::optional<double> ParseNumber(std::string_view text);

}  // namespace vigil::server
