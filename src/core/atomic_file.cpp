#include "digitnet/core/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "digitnet/core/error.hpp"

namespace digitnet {

namespace {

// Owns the temporary file: closes it and, unless released, removes it.
class TempFile {
 public:
  explicit TempFile(const std::string& target) : path_(target + ".tmp-XXXXXX") {
    fd_ = ::mkostemp(path_.data(), O_CLOEXEC);
    if (fd_ < 0) fail(target, "cannot create a temporary file");
    ::fchmod(fd_, 0644);  // mkstemp makes 0600; a written file should be readable like any other
  }
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!released_) ::unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  void write_all(const std::string& target, std::string_view bytes) {
    const char* p = bytes.data();
    size_t left = bytes.size();
    while (left > 0) {
      const ssize_t n = ::write(fd_, p, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        fail(target, "write failed");
      }
      p += n;
      left -= static_cast<size_t>(n);
    }
  }
  void commit(const std::string& target) {
    if (::fsync(fd_) != 0) fail(target, "fsync failed");
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail(target, "close failed");
    if (std::rename(path_.c_str(), target.c_str()) != 0) fail(target, "cannot rename into place");
    released_ = true;
  }

 private:
  [[noreturn]] static void fail(const std::string& target, const char* what) {
    throw Error(target + ": " + what + ": " + std::strerror(errno));
  }
  std::string path_;
  int fd_ = -1;
  bool released_ = false;
};

}  // namespace

void write_file_atomic(const std::string& path, std::string_view bytes) {
  TempFile tmp(path);
  tmp.write_all(path, bytes);
  tmp.commit(path);
  // Make the rename durable too; the file is already complete if this fails.
  const std::string dir = std::filesystem::path(path).parent_path().string();
  const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace digitnet
