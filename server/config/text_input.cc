#include "server/config/text_input.h"

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>

namespace vigil::server {

alarm::Result<std::string> ReadTextFile(const std::filesystem::path& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    return alarm::Status::IOError(path.string() + ": cannot open: " + std::strerror(errno));
  }
  std::string text;
  char buffer[64 * 1024];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file)) > 0) text.append(buffer, n);
  const bool failed = std::ferror(file) != 0;
  const int error = errno;
  std::fclose(file);
  if (failed) {
    return alarm::Status::IOError(path.string() + ": cannot read: " + std::strerror(error));
  }
  return text;
}

std::optional<double> ParseNumber(std::string_view text) {
  if (text.starts_with('+')) {
    text.remove_prefix(1);
    if (text.starts_with('-')) return std::nullopt;  // "+-1": one sign only
  }
  double value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || text.empty()) return std::nullopt;
  return value;
}

}  // namespace vigil::server
