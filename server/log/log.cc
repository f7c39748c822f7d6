#include "server/log/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>

#include "server/log/json_text.h"

namespace vigil::server {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
std::atomic<int> g_format{static_cast<int>(LogFormat::kText)};

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

void AppendValue(std::string* line, std::string_view value) {
  const bool quote = value.empty() || value.find_first_of(" \"=\t\n") != std::string_view::npos;
  if (!quote) {
    line->append(value);
    return;
  }
  line->push_back('"');
  for (char c : value) {
    if (c == '"' || c == '\\') line->push_back('\\');
    if (c == '\n') {
      line->append("\\n");
      continue;
    }
    line->push_back(c);
  }
  line->push_back('"');
}

}  // namespace

void SetLogFormat(LogFormat format) { g_format.store(static_cast<int>(format)); }

void SetLogLevel(LogLevel level) { g_level.store(static_cast<int>(level)); }

std::string FormatLogLine(LogFormat format, LogLevel level, std::string_view event,
                          std::initializer_list<LogField> fields,
                          std::chrono::system_clock::time_point now) {
  const std::string ts = FormatRfc3339Ms(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count());
  std::string line;
  if (format == LogFormat::kJson) {
    line = "{\"ts\":";
    AppendJsonString(&line, ts);
    line.append(",\"level\":\"").append(LevelName(level)).append("\",\"event\":");
    AppendJsonString(&line, event);
    for (const LogField& f : fields) {
      line.push_back(',');
      AppendJsonString(&line, f.key);
      line.push_back(':');
      if (f.number) {
        line.append(f.value);
      } else {
        AppendJsonString(&line, f.value);
      }
    }
    line.append("}\n");
    return line;
  }
  line = "ts=";
  line.append(ts);
  line.append(" level=").append(LevelName(level)).append(" event=");
  AppendValue(&line, event);
  for (const LogField& f : fields) {
    line.push_back(' ');
    line.append(f.key).push_back('=');
    AppendValue(&line, f.value);
  }
  line.push_back('\n');
  return line;
}

void Log(LogLevel level, std::string_view event, std::initializer_list<LogField> fields) {
  if (static_cast<int>(level) < g_level.load(std::memory_order_relaxed)) return;
  const std::string line =
      FormatLogLine(static_cast<LogFormat>(g_format.load(std::memory_order_relaxed)), level, event,
                    fields, std::chrono::system_clock::now());
  // One write(2) per line keeps lines whole across threads.
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    const ssize_t w = ::write(STDERR_FILENO, p, left);
    if (w <= 0) break;
    p += w;
    left -= static_cast<size_t>(w);
  }
}

}  // namespace vigil::server
