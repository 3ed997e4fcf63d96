// A pass-through SQLite VFS that counts what SQLite writes to its files (database, WAL, journals) and
// how often it syncs them: the flash-wear counter. WAL frames are counted apart. One instance per store,
// registered under a unique name and named in sqlite3_open_v2; everything else is forwarded to the default
// VFS unchanged. The shared-memory index (-shm) is mmap'ed, not written, so it is not counted.
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <cstdint>
#include <string>

namespace gw::storage {

class CountingVfs {
 public:
  CountingVfs();
  ~CountingVfs();  // unregisters; close every connection using it first
  CountingVfs(const CountingVfs&) = delete;
  CountingVfs& operator=(const CountingVfs&) = delete;

  bool ok() const { return registered_; }
  const char* name() const { return name_.c_str(); }
  std::uint64_t bytes_written() const { return bytes_.load(std::memory_order_relaxed); }
  std::uint64_t writes() const { return writes_.load(std::memory_order_relaxed); }
  std::uint64_t syncs() const { return syncs_.load(std::memory_order_relaxed); }
  // Bytes of WAL frames written (each frame is a 24-byte header and a page), the 32-byte WAL header
  // left out (https://www.sqlite.org/fileformat2.html#walformat).
  std::uint64_t wal_frame_bytes() const { return wal_bytes_.load(std::memory_order_relaxed); }

  // Used by the file wrappers.
  void count_write(int n) {
    bytes_.fetch_add(static_cast<std::uint64_t>(n), std::memory_order_relaxed);
    writes_.fetch_add(1, std::memory_order_relaxed);
  }
  void count_wal(int n) { wal_bytes_.fetch_add(static_cast<std::uint64_t>(n), std::memory_order_relaxed); }
  void count_sync() { syncs_.fetch_add(1, std::memory_order_relaxed); }
  // Writes the file system refused for room (SQLITE_FULL from the real xWrite: ENOSPC). The store tells
  // by it a transaction too large for the room left (a page spilled to the WAL, a commit) from a write
  // refused at the page cap, which never reaches a file.
  void count_full_write() { full_writes_.fetch_add(1, std::memory_order_relaxed); }
  std::uint64_t full_writes() const { return full_writes_.load(std::memory_order_relaxed); }
  sqlite3_vfs* real() const { return real_; }

  // The failing disk of the unit tests (tests/unit/storage_failure_test.cpp): while set, every read,
  // write or sync (as chosen) through any CountingVfs in the process fails with `code`, an SQLite I/O
  // result code such as SQLITE_IOERR_READ, as the default VFS reports EIO. Off unless a test sets it.
  struct Fault {
    bool reads = false;
    bool writes = false;
    bool syncs = false;
    int code = SQLITE_IOERR;
  };
  static void inject_fault(const Fault& fault);
  static void clear_fault() { inject_fault(Fault{}); }

 private:
  sqlite3_vfs vfs_{};
  sqlite3_vfs* real_ = nullptr;
  std::string name_;
  bool registered_ = false;
  std::atomic<std::uint64_t> bytes_{0};
  std::atomic<std::uint64_t> writes_{0};
  std::atomic<std::uint64_t> syncs_{0};
  std::atomic<std::uint64_t> full_writes_{0};
  std::atomic<std::uint64_t> wal_bytes_{0};
};

}  // namespace gw::storage
