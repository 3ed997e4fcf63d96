// The disk bound: what the store may put on disk (database, -wal, -shm and the reserve file together),
// measured from the files and the file system (statvfs) rather than from SQLite's page count alone, and
// turned into the three numbers the store enforces: the database's page cap (PRAGMA max_page_count, so
// a write that would grow past it fails alone, at its own statement), the WAL share past which a
// TRUNCATE checkpoint runs, and the reserve: a file of the same size kept beside the database and
// released when the file system is full, so a checkpoint (which grows the database file while the WAL
// still holds its pages) can always complete. The rules and the measured accuracy: storage/README.md,
// "Space: the disk bound". Pure arithmetic (plan_space) plus small file-system helpers; no SQLite.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace gw::storage {

// Bytes the store's files take now (st_blocks, i.e. what the file system charges, not st_size).
struct SpaceUse {
  std::uint64_t db = 0;
  std::uint64_t wal = 0;
  std::uint64_t shm = 0;
  std::uint64_t reserve = 0;  // the reserve file as it is now (0 while released)
  std::uint64_t total() const { return db + wal + shm + reserve; }
};

// Fixed at open from the capacity: min(bound, file system size).
struct SpaceShares {
  std::uint64_t wal_share = 0;  // a TRUNCATE checkpoint runs once the WAL holds this many bytes
  std::uint64_t reserve = 0;    // the reserve file's size
};

// The WAL share: min(bound, fs_size) / 16, between 64 KiB and 4 x checkpoint_pages pages. The reserve: the
// same, at most checkpoint_pages pages (a checkpoint grows the database file by at most what the WAL
// holds, and the PASSIVE checkpointer copies at checkpoint_pages).
SpaceShares plan_shares(std::uint64_t bound, std::uint64_t fs_size, std::uint32_t page_size,
                        std::uint32_t checkpoint_pages);

// The page cap for the database now. The effective bound is min(bound, what the files take + what the
// file system still offers); from it go the reserve (counted whether the file is present or released),
// twice the WAL share (the WAL up to its share, plus the transaction that passes it) and the -shm file
// (at least 32 KiB, one index block). bound 0 = no configured bound (the file system's only).
std::uint64_t plan_max_pages(std::uint64_t bound, std::uint64_t fs_avail, const SpaceUse& use,
                             const SpaceShares& shares, std::uint32_t page_size);

// Space of the file system holding `path`: what an unprivileged writer may still use (f_bavail) and the
// whole size; nullopt when statvfs fails.
struct FsSpace {
  std::uint64_t avail = 0;
  std::uint64_t size = 0;
};
std::optional<FsSpace> fs_space(const std::string& path);

// What the database's files take (missing files count 0).
SpaceUse measure_space(const std::string& db_path, const std::string& reserve_path);

// The reserve file: `<db>-reserve`, allocated (posix_fallocate, so the blocks are really taken) or
// released (deleted). Both return whether the file is now as asked.
bool reserve_create(const std::string& path, std::uint64_t bytes);
bool reserve_release(const std::string& path);

}  // namespace gw::storage
