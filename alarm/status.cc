#include "alarm/status.h"

namespace vigil::alarm {

std::string Status::ToString() const {
  const char* name = "ok";
  switch (code_) {
    case Code::kOk:
      return "ok";
    case Code::kInvalidArgument:
      name = "invalid argument";
      break;
    case Code::kNotFound:
      name = "not found";
      break;
    case Code::kPermissionDenied:
      name = "permission denied";
      break;
    case Code::kResourceExhausted:
      name = "resource exhausted";
      break;
    case Code::kUnavailable:
      name = "unavailable";
      break;
    case Code::kCorruption:
      name = "corruption";
      break;
    case Code::kIOError:
      name = "io error";
      break;
    case Code::kInternal:
      name = "internal";
      break;
    case Code::kFailedPrecondition:
      name = "failed precondition";
      break;
    case Code::kOutOfRange:
      name = "out of range";
      break;
    case Code::kUnauthenticated:
      name = "unauthenticated";
      break;
    case Code::kAborted:
      name = "aborted";
      break;
  }
  return std::string(name) + ": " + message_;
}

std::string Echo(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  size_t cut = max_bytes;
  // Back off over UTF-8 continuation bytes (10xxxxxx) to a character start.
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  std::string out(text.substr(0, cut));
  out += "...(" + std::to_string(text.size()) + " bytes)";
  return out;
}

}  // namespace vigil::alarm
