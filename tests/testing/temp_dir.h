// Test helper: a fresh, uniquely named folder under the system temp dir,
// removed with everything in it when the TempDir goes out of scope.
#pragma once

#include <filesystem>
#include <string>

namespace vigil::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // path() / name.
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

}  // namespace vigil::testing
