// Small JSON and time text helpers for what vigild writes by hand (JSON log
// lines, Alertmanager alerts). Pure functions; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace vigil::server {

// Appends `value` as a JSON string literal: quotes, backslashes and control
// characters escaped, other bytes (UTF-8 included) as they are.
void AppendJsonString(std::string* out, std::string_view value);

// Milliseconds since the Unix epoch as RFC 3339 UTC with milliseconds:
// 1717243200123 -> "2024-06-01T12:00:00.123Z".
std::string FormatRfc3339Ms(int64_t unix_ms);

}  // namespace vigil::server
