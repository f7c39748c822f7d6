// Test helper: a small tmpfs mounted for a test's lifetime, for disk-full
// tests. Mounting needs root: mounted() is false elsewhere, and such tests
// WARN and return.
#pragma once

#include <sys/mount.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace vigil::e2e {

class SmallDisk {
 public:
  // `size` as mount(8) takes it, e.g. "256m".
  explicit SmallDisk(std::filesystem::path at, const std::string& size = "256m")
      : at_(std::move(at)) {
    std::filesystem::create_directories(at_);
    const std::string data = "size=" + size;
    mounted_ = mount("tmpfs", at_.c_str(), "tmpfs", 0, data.c_str()) == 0;
  }
  ~SmallDisk() {
    if (mounted_) (void)umount2(at_.c_str(), MNT_DETACH);
  }
  SmallDisk(const SmallDisk&) = delete;
  SmallDisk& operator=(const SmallDisk&) = delete;

  bool mounted() const { return mounted_; }
  const std::filesystem::path& path() const { return at_; }
  uint64_t free_bytes() const {
    struct statvfs s {};
    if (statvfs(at_.c_str(), &s) != 0) return 0;
    return static_cast<uint64_t>(s.f_bavail) * s.f_frsize;
  }
  // Writes `filler` (a new file on this disk) until about `left` bytes stay
  // free; false when there is less than that free already or a write fails.
  bool FillLeaving(const std::filesystem::path& filler, uint64_t left) const {
    const uint64_t free = free_bytes();
    if (free <= left) return false;
    std::ofstream out(filler, std::ios::binary);
    const std::vector<char> block(size_t{1} << 20, 'x');
    for (uint64_t todo = free - left; todo > 0;) {
      const uint64_t n = std::min<uint64_t>(todo, block.size());
      out.write(block.data(), static_cast<std::streamsize>(n));
      todo -= n;
    }
    return out.good();
  }

 private:
  std::filesystem::path at_;
  bool mounted_ = false;
};

}  // namespace vigil::e2e
