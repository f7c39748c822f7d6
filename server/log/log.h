// Structured logging: one line per event, `ts=... level=... event=... k=v`
// (or, with server.log_format json, one JSON object per line with the same
// keys), written to stderr with a single write so lines from threads never
// mix. Text values are quoted when they contain spaces or quotes. Never pass
// credentials. Thread-safe.
#pragma once

#include <chrono>
#include <cmath>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>

#include "server/config/options.h"

namespace vigil::server {

struct LogField {
  std::string_view key;
  std::string value;
  bool number = false;  // written as a JSON number (finite arithmetic values)
  LogField(std::string_view k, std::string_view v) : key(k), value(v) {}
  LogField(std::string_view k, const char* v) : key(k), value(v) {}
  LogField(std::string_view k, const std::string& v) : key(k), value(v) {}
  template <class Number>
  requires std::is_arithmetic_v<Number> LogField(std::string_view k, Number v)
      : key(k), value(std::to_string(v)), number(IsFinite(v)) {}

 private:
  template <class Number>
  static bool IsFinite(Number v) {
    if constexpr (std::is_floating_point_v<Number>) return std::isfinite(v);
    return true;
  }
};

// Lines below `level` are dropped. Default: kInfo. Call at start-up.
void SetLogLevel(LogLevel level);
// Default: kText. Call at start-up.
void SetLogFormat(LogFormat format);
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

// The line Log writes (with its '\n'), for tests.
std::string FormatLogLine(LogFormat format, LogLevel level, std::string_view event,
                          std::initializer_list<LogField> fields,
                          std::chrono::system_clock::time_point now);

}  // namespace vigil::server
