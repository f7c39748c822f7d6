#include "server/config/http_url.h"

#include <algorithm>
#include <charconv>

namespace vigil::server {

alarm::Result<HttpUrl> ParseHttpUrl(std::string_view url) {
  const auto bad = [url](std::string_view why) {
    return alarm::Status::InvalidArgument("must be http[s]://host:port[/path] (" +
                                          std::string(why) + "), got '" + std::string(url) + "'");
  };
  HttpUrl out;
  std::string_view rest;
  if (url.starts_with("http://")) {
    rest = url.substr(7);
    out.port = "80";
  } else if (url.starts_with("https://")) {
    rest = url.substr(8);
    out.port = "443";
    out.tls = true;
  } else {
    return bad("scheme must be http or https");
  }
  if (rest.find_first_of("?#") != std::string_view::npos) return bad("no query or fragment");
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (authority.find('@') != std::string_view::npos) return bad("no user info");
  std::string_view host = authority;
  if (authority.starts_with("[")) {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("unclosed '['");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("garbage after ']'");
      out.port = std::string(after.substr(1));
    }
  } else if (const size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    out.port = std::string(authority.substr(colon + 1));
  }
  if (host.empty()) return bad("no host");
  int port = 0;
  const char* end = out.port.data() + out.port.size();
  auto [ptr, ec] = std::from_chars(out.port.data(), end, port);
  if (out.port.empty() || ec != std::errc() || ptr != end || port < 1 || port > 65535) {
    return bad("port must be 1..65535");
  }
  out.host = std::string(host);
  out.path = std::string(path);
  return out;
}

}  // namespace vigil::server
