#include "server/http/gzip.h"

#include <zlib.h>

#include <algorithm>

namespace vigil::server {

GunzipResult Gunzip(std::string_view in, size_t max_out, std::string* out, std::string* error) {
  out->clear();
  z_stream z{};
  // 16 + MAX_WBITS: a gzip header and trailer, not a raw or zlib stream.
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
    *error = "zlib could not start";
    return GunzipResult::kMalformed;
  }
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  GunzipResult result = GunzipResult::kOk;
  // The output grows in steps, never past max_out + 1 (one byte more tells
  // that the limit would be exceeded).
  size_t used = 0;
  while (true) {
    if (used == out->size()) {
      if (out->size() > max_out) {
        result = GunzipResult::kTooLarge;
        break;
      }
      out->resize(std::min(max_out + 1, std::max<size_t>(out->size() * 2, size_t{64} * 1024)));
    }
    z.next_out = reinterpret_cast<Bytef*>(out->data() + used);
    z.avail_out = static_cast<uInt>(std::min<size_t>(out->size() - used, 1u << 30));
    const uInt before = z.avail_out;
    const uInt in_before = z.avail_in;
    const int rc = inflate(&z, Z_NO_FLUSH);
    used += before - z.avail_out;
    if (used > max_out) {
      result = GunzipResult::kTooLarge;
      break;
    }
    if (rc == Z_STREAM_END) {
      if (z.avail_in == 0) break;
      // Another gzip member follows (concatenated streams are one body).
      if (inflateReset(&z) != Z_OK) {
        *error = "zlib could not continue";
        result = GunzipResult::kMalformed;
        break;
      }
      continue;
    }
    if (rc == Z_BUF_ERROR && z.avail_in == 0) {
      *error = "the gzip body is truncated";
      result = GunzipResult::kMalformed;
      break;
    }
    if (rc == Z_BUF_ERROR && before == z.avail_out && in_before == z.avail_in && z.avail_out > 0) {
      *error = "the gzip body does not decode";  // no progress possible
      result = GunzipResult::kMalformed;
      break;
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      *error = std::string("the body is not valid gzip: ") + (z.msg != nullptr ? z.msg : "error");
      result = GunzipResult::kMalformed;
      break;
    }
  }
  inflateEnd(&z);
  if (result != GunzipResult::kOk) {
    out->clear();
    out->shrink_to_fit();
    return result;
  }
  out->resize(used);
  return result;
}

}  // namespace vigil::server
