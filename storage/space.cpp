// Implementation of the disk bound's arithmetic and file-system helpers (see space.hpp).
#include "storage/space.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>

namespace gw::storage {
namespace {

constexpr std::uint64_t kMinShare = 64 * 1024;
constexpr std::uint64_t kShmBlock = 32 * 1024;  // one -shm index block covers 4096 WAL frames

std::uint64_t charged_bytes(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  // st_blocks counts 512-byte units whatever the file system's block size (POSIX stat.h).
  return static_cast<std::uint64_t>(st.st_blocks) * 512;
}

}  // namespace

SpaceShares plan_shares(std::uint64_t bound, std::uint64_t fs_size, std::uint32_t page_size,
                        std::uint32_t checkpoint_pages) {
  std::uint64_t capacity = fs_size;
  if (bound > 0 && (capacity == 0 || bound < capacity)) capacity = bound;
  // Never past 4 x checkpoint_pages: on a large disk the checkpointer's PASSIVE copies at
  // checkpoint_pages keep the WAL small and the TRUNCATE is only the backstop.
  const std::uint64_t most =
      std::max<std::uint64_t>(kMinShare, 4 * std::uint64_t{checkpoint_pages} * page_size);
  const std::uint64_t share = std::clamp<std::uint64_t>(capacity / 16, kMinShare, most);
  // The reserve covers a checkpoint of what the PASSIVE checkpointer leaves (checkpoint_pages), so on a
  // large disk it stays at 4 MiB by default rather than the whole share.
  const std::uint64_t reserve =
      std::min(share, std::max<std::uint64_t>(kMinShare, std::uint64_t{checkpoint_pages} * page_size));
  return SpaceShares{share, reserve};
}

std::uint64_t plan_max_pages(std::uint64_t bound, std::uint64_t fs_avail, const SpaceUse& use,
                             const SpaceShares& shares, std::uint32_t page_size) {
  std::uint64_t effective = use.total() + fs_avail;
  if (bound > 0) effective = std::min(effective, bound);
  const std::uint64_t overhead = shares.reserve + 2 * shares.wal_share + std::max(use.shm, kShmBlock);
  if (effective <= overhead || page_size == 0) return 1;  // below any real file: every growth is refused
  return std::max<std::uint64_t>(1, (effective - overhead) / page_size);
}

std::optional<FsSpace> fs_space(const std::string& path) {
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0) return std::nullopt;
  return FsSpace{static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize,
                 static_cast<std::uint64_t>(st.f_blocks) * st.f_frsize};
}

SpaceUse measure_space(const std::string& db_path, const std::string& reserve_path) {
  return SpaceUse{charged_bytes(db_path), charged_bytes(db_path + "-wal"), charged_bytes(db_path + "-shm"),
                  charged_bytes(reserve_path)};
}

bool reserve_create(const std::string& path, std::uint64_t bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  // posix_fallocate takes the blocks for real (a sparse file would reserve nothing).
  int rc = ::posix_fallocate(fd, 0, static_cast<off_t>(bytes));
  ::close(fd);
  if (rc != 0) {
    ::unlink(path.c_str());
    return false;
  }
  return true;
}

bool reserve_release(const std::string& path) {
  return ::unlink(path.c_str()) == 0 || errno == ENOENT;
}

}  // namespace gw::storage
