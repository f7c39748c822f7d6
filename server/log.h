// Structured logging: one line per event, `ts=... level=... event=... k=v`,
// written to stderr with a single write so lines from threads never mix.
// Values are quoted when they contain spaces or quotes. Never pass credentials.
// Thread-safe.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

#include "server/options.h"

namespace vigil::server {

struct LogField {
  std::string_view key;
  std::string value;
  LogField(std::string_view k, std::string_view v) : key(k), value(v) {}
  LogField(std::string_view k, const char* v) : key(k), value(v) {}
  LogField(std::string_view k, const std::string& v) : key(k), value(v) {}
  template <class Number>
  requires std::is_arithmetic_v<Number> LogField(std::string_view k, Number v)
      : key(k), value(std::to_string(v)) {}
};

// Lines below `level` are dropped. Default: kInfo. Call at start-up.
void SetLogLevel(LogLevel level);
void Log(LogLevel level, std::string_view event, std::initializer_list<LogField> fields = {});

inline void LogInfo(std::string_view event, std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kInfo, event, fields);
}
inline void LogWarn(std::string_view event, std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kWarn, event, fields);
}
inline void LogError(std::string_view event, std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kError, event, fields);
}

}  // namespace vigil::server
