// StateDir (state_dir.hpp): creation, the permission warning and the lock. flock(2) rather than fcntl
// record locks: a record lock is dropped when any descriptor of the file closes in the process, and the
// lock is released by the kernel when the process dies however it dies (SIGKILL included), so a stale
// lock file never needs cleaning up.
#include "gateway/app/state_dir.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <utility>

namespace gw::app {

StateDir::StateDir(StateDir&& other) noexcept
    : path_(std::move(other.path_)), warning_(std::move(other.warning_)), fd_(std::exchange(other.fd_, -1)) {}

StateDir::~StateDir() {
  if (fd_ >= 0) ::close(fd_);
}

Result<StateDir, std::string> StateDir::claim(const std::string& dir) {
  const std::string path = std::filesystem::absolute(dir).lexically_normal().string();
  std::error_code ec;
  const bool created = std::filesystem::create_directories(path, ec);
  if (ec) return unexpected("cannot create state directory " + path + ": " + ec.message());
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return unexpected("state directory " + path + ": " + std::strerror(errno));
  if (!S_ISDIR(st.st_mode)) return unexpected("state directory " + path + ": not a directory");
  std::string warning;
  if (!created && (st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    warning = "state directory " + path + " is open to group or others (mode " + mode +
              "); it holds device secrets and cloud tokens: chmod 700 " + path;
  }

  const std::string lock_path = path + "/" + kLockFileName;
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return unexpected("cannot open " + lock_path + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    std::string owner;
    if (err == EWOULDBLOCK) {
      // The holder writes its pid right after taking the lock; in that short window the file is empty.
      char buf[32] = {};
      const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
      long pid = n > 0 ? std::strtol(buf, nullptr, 10) : 0;
      owner = pid > 0 ? "process " + std::to_string(pid) : "another process";
    }
    ::close(fd);
    if (err != EWOULDBLOCK) return unexpected("cannot lock " + lock_path + ": " + std::strerror(err));
    return unexpected("state directory " + path + " is in use by " + owner);
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 ||
      ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    const int err = errno;
    ::close(fd);
    return unexpected("cannot write " + lock_path + ": " + std::strerror(err));
  }
  StateDir claimed(path, fd);
  claimed.warning_ = std::move(warning);
  return claimed;
}

}  // namespace gw::app
