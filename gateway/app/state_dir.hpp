// The state directory: where the database (device secrets, cloud tokens, the outbox) lives. A daemon
// claims it at start, before the store opens: the directory is created 0700 (the daemon's umask is 077,
// so the database, its -wal and -shm files are 0600), a directory that others can read is warned about,
// and an exclusive flock on its lock file keeps a second daemon out (two daemons on one database would
// fight over one outbox). The lock lasts as long as the StateDir, i.e. the process.
#pragma once

#include <string>
#include <utility>

#include "gateway/base/result.hpp"

namespace gw::app {

inline constexpr const char* kLockFileName = "netpie-edge.lock";  // holds the owner's process id

class StateDir {
 public:
  StateDir(StateDir&& other) noexcept;
  StateDir& operator=(StateDir&&) = delete;
  StateDir(const StateDir&) = delete;
  StateDir& operator=(const StateDir&) = delete;
  ~StateDir();

  // The directory as an absolute path, for the log.
  const std::string& path() const { return path_; }
  // Set when the directory existed with permissions for group or others: a sentence for the log.
  const std::string& warning() const { return warning_; }

  // Creates `dir` if needed (mode 0777 masked by the umask) and takes the lock. Errors are sentences:
  // "state directory /x is in use by process 123", "cannot create state directory /x: ...".
  static Result<StateDir, std::string> claim(const std::string& dir);

 private:
  StateDir(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  std::string path_;
  std::string warning_;
  int fd_ = -1;
};

}  // namespace gw::app
