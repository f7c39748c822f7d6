// Status and Result<T>: the error vocabulary shared by every Vigil module.
// Plain values; safe to copy and move across threads.
#pragma once

#include <cassert>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace vigil::alarm {

// Outcome of an operation a caller must handle. kOk carries no message.
class [[nodiscard]] Status {
 public:
  enum class Code {
    kOk = 0,
    kInvalidArgument,
    kNotFound,
    kPermissionDenied,
    kResourceExhausted,
    kUnavailable,
    kCorruption,
    kIOError,
    kInternal,
    kFailedPrecondition,  // the request is valid, but not in the current state
    kOutOfRange,          // past the end or before the start of what exists
    kUnauthenticated,     // no valid credentials
    kAborted,             // refused out of sequence; redo the sequence from its start
  };

  Status() = default;

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string msg) {
    return {Code::kInvalidArgument, std::move(msg)};
  }
  static Status NotFound(std::string msg) { return {Code::kNotFound, std::move(msg)}; }
  static Status PermissionDenied(std::string msg) {
    return {Code::kPermissionDenied, std::move(msg)};
  }
  static Status ResourceExhausted(std::string msg) {
    return {Code::kResourceExhausted, std::move(msg)};
  }
  static Status Unavailable(std::string msg) { return {Code::kUnavailable, std::move(msg)}; }
  static Status Corruption(std::string msg) { return {Code::kCorruption, std::move(msg)}; }
  static Status IOError(std::string msg) { return {Code::kIOError, std::move(msg)}; }
  static Status Internal(std::string msg) { return {Code::kInternal, std::move(msg)}; }
  static Status FailedPrecondition(std::string msg) {
    return {Code::kFailedPrecondition, std::move(msg)};
  }
  static Status OutOfRange(std::string msg) { return {Code::kOutOfRange, std::move(msg)}; }
  static Status Unauthenticated(std::string msg) {
    return {Code::kUnauthenticated, std::move(msg)};
  }
  static Status Aborted(std::string msg) { return {Code::kAborted, std::move(msg)}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "ok" or "<code name>: <message>".
  std::string ToString() const;

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}

  Code code_ = Code::kOk;
  std::string message_;
};

// Most bytes of a client-supplied string (an id, a value) quoted back in an
// error message or an ack. Equal to kMaxIdBytes (alarm/registry.h), so a
// valid id is always echoed whole.
inline constexpr size_t kMaxEchoBytes = 128;

// `text` as it may be echoed to a client: unchanged when it has at most
// `max_bytes`, otherwise its first `max_bytes` (cut back to a UTF-8 character
// boundary, so the echo stays valid UTF-8 for a proto string) and the marker
// "...(N bytes)". An answer that quotes what it was sent thus stays small
// however large the input: a 1 MB id must not come back as 1 MB.
std::string Echo(std::string_view text, size_t max_bytes = kMaxEchoBytes);

// A value or an error Status. Member names follow std::expected so a later
// move to C++23 is mechanical.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Status error) : error_(std::move(error)) {  // NOLINT(google-explicit-constructor)
    assert(!error_.ok() && "Result built from an ok Status");
  }

  bool has_value() const { return value_.has_value(); }
  explicit operator bool() const { return has_value(); }

  // REQUIRES: has_value().
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }

  // REQUIRES: !has_value().
  const Status& error() const { return error_; }

 private:
  std::optional<T> value_;
  Status error_;
};

}  // namespace vigil::alarm
