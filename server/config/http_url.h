// An HTTP(S) URL as the Alertmanager client uses it: http[s]://host:port/prefix.
// Pure functions on values; any thread.
#pragma once

#include <string>
#include <string_view>

#include "alarm/status.h"

namespace vigil::server {

struct HttpUrl {
  std::string host;  // a name, an IPv4 address, or an IPv6 address without brackets
  std::string port;  // "80" (http) or "443" (https) when the URL names none
  std::string path;  // "" or "/prefix" without a trailing '/'
  bool tls = false;  // https

  bool operator==(const HttpUrl&) const = default;
};

// Parses "http[s]://host[:port][/path]". Errors (kInvalidArgument): another
// scheme, no host, a port that is not 1..65535, user info, a query or
// fragment.
alarm::Result<HttpUrl> ParseHttpUrl(std::string_view url);

}  // namespace vigil::server
