// Implementation of open_database. Order matters: PRAGMA quick_check runs before any PRAGMA that writes
// (journal_mode, auto_vacuum), so a damaged file is left exactly as it was found.
#include "storage/open.hpp"

#include <sys/statvfs.h>

#include <filesystem>
#include <string>
#include <utility>

#include "storage/schema.hpp"

namespace gw::storage {
namespace {

// "<what>: <SQLite's words>; <the condition and what to do>" (failure_advice): full, read-only, I/O
// error and locked each get their own advice; only Corrupt (corrupt() below) names the recovery command.
OpenError fail(Status s, std::string msg) {
  if (s == Status::Corrupt) return OpenError{s, std::move(msg)};
  return OpenError{s, std::move(msg) + "; " + failure_advice(s)};
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

OpenError corrupt(const std::string& path, const std::string& detail) {
  return fail(Status::Corrupt,
              "database " + path + " is damaged (" + detail +
                  "); refusing to open it, and it was not modified. Recover the readable "
                  "rows into a new file, keep the damaged one, and move the new one in place: " +
                  recovery_command(path));
}

}  // namespace

std::optional<Synchronous> parse_synchronous(std::string_view name) {
  if (name == "normal") return Synchronous::Normal;
  if (name == "full") return Synchronous::Full;
  return std::nullopt;
}

std::string recovery_command(const std::string& path) {
  // `.dump` rather than `.recover`: Debian's (and so Raspberry Pi OS's) sqlite3 is built without the
  // sqlite_dbpage table that `.recover` needs. `.dump` skips unreadable pages and ends with ROLLBACK
  // when it met any, hence the sed; it does not carry user_version (the schema version), hence the
  // second step. The damaged file is kept as <file>.damaged.
  const std::string p = shell_quote(path);
  const std::string r = shell_quote(path + ".recovered");
  return "sqlite3 " + p + " .dump | sed 's/^ROLLBACK; -- due to errors$/COMMIT;/' | sqlite3 " + r +
         "; sqlite3 " + r + " \"PRAGMA user_version = $(sqlite3 " + p + " 'PRAGMA user_version')\" && mv " +
         p + " " + shell_quote(path + ".damaged") + " && mv " + r + " " + p;
}

namespace {

// SQLite says CANTOPEN when it cannot create the -wal or -shm file, whatever the reason; a read-only
// file system (statvfs ST_RDONLY) is named for what it is.
Status named(Status s, const std::string& path) {
  if (s != Status::CantOpen && s != Status::IoError) return s;
  struct statvfs st {};
  const std::string dir = std::filesystem::path(path).parent_path().string();
  if (::statvfs(dir.empty() ? "." : dir.c_str(), &st) == 0 && (st.f_flag & ST_RDONLY) != 0) {
    return Status::ReadOnly;
  }
  return s;
}

}  // namespace

Result<OpenInfo, OpenError> open_database(Db& db, const DbOptions& o) {
  const std::string& path = o.path;
  int rc = db.open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, o.vfs);
  if (rc != SQLITE_OK) {
    return unexpected(fail(named(status_from_sqlite(rc), path),
                           "cannot open or create database " + path + ": " + sqlite3_errstr(rc)));
  }
  // The integrity check reads every page of the b-trees (quick_check skips index-vs-table checks).
  std::string check;
  rc = db.query_text("PRAGMA quick_check", check);
  if (rc != SQLITE_OK) {
    Status s = status_from_sqlite(rc);
    if (s == Status::Corrupt) return unexpected(corrupt(path, db.errmsg()));
    return unexpected(fail(named(s, path), "cannot read database " + path + ": " + db.errmsg()));
  }
  if (check != "ok") {
    // quick_check reports several lines in one row; the log wants one line.
    for (char& c : check) {
      if (c == '\n') c = ' ';
    }
    if (check.size() > 160) check = check.substr(0, 160) + "...";
    return unexpected(corrupt(path, "quick_check: " + check));
  }

  OpenInfo info;
  std::int64_t page_count = 0;
  db.query_int("PRAGMA page_count", page_count);
  if (page_count == 0) {
    // Only possible before the first table exists (https://sqlite.org/pragma.html#pragma_auto_vacuum).
    db.exec("PRAGMA page_size = 4096");
    db.exec("PRAGMA auto_vacuum = INCREMENTAL");
  }
  std::string mode;
  rc = db.query_text("PRAGMA journal_mode = WAL", mode);
  if (rc != SQLITE_OK || mode != "wal") {
    Status s = rc != SQLITE_OK ? named(status_from_sqlite(rc), path) : Status::ReadOnly;
    return unexpected(fail(s, "cannot switch database " + path + " to WAL mode (" +
                                  (rc != SQLITE_OK ? std::string(db.errmsg()) : "journal_mode=" + mode) +
                                  ")"));
  }
  std::int64_t page_size = 4096;
  db.query_int("PRAGMA page_size", page_size);
  info.page_size = static_cast<std::uint32_t>(page_size);

  std::string pragmas = std::string("PRAGMA synchronous = ") +
                        (o.synchronous == Synchronous::Full ? "FULL" : "NORMAL") +
                        "; PRAGMA temp_store = MEMORY; PRAGMA foreign_keys = OFF;" +
                        " PRAGMA cache_size = -" + std::to_string(o.cache_kib) +
                        "; PRAGMA journal_size_limit = " + std::to_string(o.wal_size_limit_bytes) + ";";
  if (o.max_db_bytes > 0) {
    // max_page_count never goes below the current size; writes past it fail with SQLITE_FULL.
    pragmas += " PRAGMA max_page_count = " + std::to_string(o.max_db_bytes / info.page_size) + ";";
  }
  rc = db.exec(pragmas.c_str());
  if (rc != SQLITE_OK) {
    return unexpected(fail(status_from_sqlite(rc), "cannot configure database " + path + ": " + db.errmsg()));
  }

  info.schema_before = schema_version(db);
  if (info.schema_before > kSchemaVersion) {
    return unexpected(fail(Status::TooNew, "database " + path + " has schema version " +
                                               std::to_string(info.schema_before) + ", newer than the " +
                                               std::to_string(kSchemaVersion) +
                                               " this build knows; refusing to open it (was it written by "
                                               "a newer netpie-edge?)"));
  }
  std::string error;
  Status s = migrate(db, kSchemaVersion, error);
  if (s != Status::Ok) return unexpected(fail(s, "database " + path + ": " + error));
  info.schema_after = schema_version(db);

  // A file made without incremental auto-vacuum (e.g. by an old tool) is converted once by VACUUM, so
  // freed pages can be returned to the file system later.
  std::int64_t auto_vacuum = 0;
  db.query_int("PRAGMA auto_vacuum", auto_vacuum);
  if (auto_vacuum != 2) {
    rc = db.exec("PRAGMA auto_vacuum = INCREMENTAL; VACUUM;");
    if (rc != SQLITE_OK) {
      return unexpected(
          fail(status_from_sqlite(rc),
               "database " + path + ": converting to incremental auto-vacuum failed: " + db.errmsg()));
    }
  }
  return info;
}

}  // namespace gw::storage
