#include "storage/durable_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace vigil::storage {
namespace {

alarm::Status Errno(const std::string& what) {
  return alarm::Status::IOError(what + ": " + std::strerror(errno));
}

// Writes all of `bytes` to `fd` and fsyncs it.
alarm::Status WriteAndSync(int fd, std::string_view bytes, const std::string& name) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("write " + name);
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) return Errno("fsync " + name);
  return alarm::Status::Ok();
}

}  // namespace

alarm::Status WriteFileDurably(const std::filesystem::path& file, std::string_view bytes) {
  const std::filesystem::path tmp = file.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("create " + tmp.string());
  alarm::Status s = WriteAndSync(fd, bytes, tmp.string());
  ::close(fd);
  if (!s.ok()) return s;
  if (::rename(tmp.c_str(), file.c_str()) != 0) return Errno("rename " + tmp.string());
  const std::filesystem::path dir = file.has_parent_path() ? file.parent_path() : ".";
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return Errno("open " + dir.string());
  const int rc = ::fsync(dfd);
  ::close(dfd);
  if (rc != 0) return Errno("fsync " + dir.string());
  return alarm::Status::Ok();
}

}  // namespace vigil::storage
