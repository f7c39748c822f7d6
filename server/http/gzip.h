// Decompressing a `Content-Encoding: gzip` request body with zlib, bounded:
// a body that would decompress past the limit (a gzip bomb) is refused as
// soon as the output reaches it, so memory never exceeds the limit. Pure;
// thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace vigil::server {

enum class GunzipResult { kOk, kTooLarge, kMalformed };

// Decompresses the gzip stream `in` (one or more members) into *out. kTooLarge
// when the output would exceed `max_out` bytes; kMalformed (with *error) when
// `in` is no complete gzip stream.
GunzipResult Gunzip(std::string_view in, size_t max_out, std::string* out, std::string* error);

}  // namespace vigil::server
