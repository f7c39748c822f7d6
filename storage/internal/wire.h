// Fixed-width little-endian field coding for storage values (control records,
// journal entries, engine snapshots). Private to storage/. A WireReader never
// reads past its input: after the first short read every getter returns a
// zero value and ok() stays false. Thread-safety: one thread per object.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

namespace vigil::storage::internal {

class WireWriter {
 public:
  explicit WireWriter(std::string* out) : out_(out) {}

  template <class T>
  requires std::is_arithmetic_v<T> || std::is_enum_v<T>
  void Put(T v) {
    char buf[sizeof(T)];
    std::memcpy(buf, &v, sizeof(T));
    out_->append(buf, sizeof(T));
  }
  void PutString(std::string_view s) {
    Put(static_cast<uint32_t>(s.size()));
    out_->append(s);
  }

 private:
  std::string* out_;
};

class WireReader {
 public:
  explicit WireReader(std::string_view in) : in_(in) {}

  template <class T>
  requires std::is_arithmetic_v<T> || std::is_enum_v<T> T Get() {
    T v{};
    if (!ok_ || in_.size() < sizeof(T)) {
      ok_ = false;
      return v;
    }
    std::memcpy(&v, in_.data(), sizeof(T));
    in_.remove_prefix(sizeof(T));
    return v;
  }
  std::string_view GetString() {
    const auto n = Get<uint32_t>();
    if (!ok_ || in_.size() < n) {
      ok_ = false;
      return {};
    }
    std::string_view s = in_.substr(0, n);
    in_.remove_prefix(n);
    return s;
  }
  // Count of a list that follows, checked against the bytes left given the
  // smallest size of one element, so a corrupt count cannot make the caller
  // reserve gigabytes.
  uint32_t GetCount(size_t min_element_bytes) {
    const auto n = Get<uint32_t>();
    if (ok_ && min_element_bytes > 0 && n > in_.size() / min_element_bytes) ok_ = false;
    return ok_ ? n : 0;
  }

  bool ok() const { return ok_; }
  // True once everything was read and nothing was short.
  bool done() const { return ok_ && in_.empty(); }

 private:
  std::string_view in_;
  bool ok_ = true;
};

}  // namespace vigil::storage::internal
