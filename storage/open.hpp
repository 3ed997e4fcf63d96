// Opening the database file: integrity check first (nothing is written to a file that fails it), then
// the connection settings (WAL, synchronous, size cap, incremental auto-vacuum), then the migrations.
// A corrupt or unreadable file is refused with a message that names the file and the recovery command.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/base/result.hpp"
#include "storage/sqlite_db.hpp"
#include "storage/status.hpp"

namespace gw::storage {

// PRAGMA synchronous in WAL mode (https://sqlite.org/pragma.html#pragma_synchronous):
//   Normal: a commit survives a crash of the process; a power loss may undo the last commits since the
//           latest checkpoint's fsync, never corrupting the file.
//   Full:   the WAL is fsynced at every commit; a commit survives a power loss.
enum class Synchronous : std::uint8_t { Normal, Full };
std::optional<Synchronous> parse_synchronous(std::string_view name);  // "normal" | "full"

struct DbOptions {
  std::string path;
  Synchronous synchronous = Synchronous::Normal;
  std::uint64_t max_db_bytes = 1024ull * 1024 * 1024;  // becomes PRAGMA max_page_count; 0 = no cap
  std::uint32_t cache_kib = 4096;
  std::uint64_t wal_size_limit_bytes = 16ull * 1024 * 1024;  // PRAGMA journal_size_limit
  const char* vfs = nullptr;  // a registered VFS name (the store's counting VFS); null = default
};

struct OpenError {
  Status status = Status::Internal;
  std::string message;  // one line, names the file; for Corrupt it includes the recovery command
};

struct OpenInfo {
  int schema_before = 0;  // 0 for a new file
  int schema_after = 0;
  std::uint32_t page_size = 4096;
};

// The documented recovery command for a damaged file.
std::string recovery_command(const std::string& path);

Result<OpenInfo, OpenError> open_database(Db& db, const DbOptions& options);

}  // namespace gw::storage
