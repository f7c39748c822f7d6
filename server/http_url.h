// A plain-HTTP URL as the Alertmanager client uses it: http://host:port/prefix.
// Pure functions on values; any thread.
#pragma once

#include <string>
#include <string_view>

#include "alarm/status.h"

namespace vigil::server {

struct HttpUrl {
  std::string host;  // a name, an IPv4 address, or an IPv6 address without brackets
  std::string port;  // "80" when the URL names none
  std::string path;  // "" or "/prefix" without a trailing '/'

  bool operator==(const HttpUrl&) const = default;
};

// Parses "http://host[:port][/path]". Errors (kInvalidArgument): another
// scheme (https is not supported: put a local Alertmanager or a TLS sidecar
// next to vigild), no host, a port that is not 1..65535, a query or fragment.
alarm::Result<HttpUrl> ParseHttpUrl(std::string_view url);

}  // namespace vigil::server
