// Thin RAII wrappers over one SQLite connection and its prepared statements. Statements are prepared
// once (SQLITE_PREPARE_PERSISTENT) by the table classes and reused; a StmtScope resets a statement when
// it goes out of scope so no statement keeps a read transaction open. Nothing here throws or logs.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace gw::storage {

class Stmt {
 public:
  Stmt() = default;
  ~Stmt();
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Stmt(Stmt&& o) noexcept : s_(o.s_) { o.s_ = nullptr; }
  Stmt& operator=(Stmt&& o) noexcept;

  int prepare(sqlite3* db, std::string_view sql);  // SQLITE_OK or the error code

  void bind(int i, std::int64_t v) { sqlite3_bind_int64(s_, i, v); }
  void bind_u64(int i, std::uint64_t v) { sqlite3_bind_int64(s_, i, static_cast<std::int64_t>(v)); }
  void bind_text(int i, std::string_view v) {
    sqlite3_bind_text64(s_, i, v.data(), v.size(), SQLITE_STATIC, SQLITE_UTF8);
  }
  // Binds as a BLOB; an empty value binds a zero-length blob, not NULL.
  void bind_blob(int i, std::string_view v) {
    sqlite3_bind_blob64(s_, i, v.empty() ? "" : v.data(), v.size(), SQLITE_STATIC);
  }

  int step() { return sqlite3_step(s_); }  // SQLITE_ROW, SQLITE_DONE or an error
  // Steps a statement that returns no rows, resets it, and returns SQLITE_DONE or the error.
  int run();
  void reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }

  std::int64_t col_int(int i) const { return sqlite3_column_int64(s_, i); }
  std::uint64_t col_u64(int i) const { return static_cast<std::uint64_t>(sqlite3_column_int64(s_, i)); }
  bool col_null(int i) const { return sqlite3_column_type(s_, i) == SQLITE_NULL; }
  std::string col_str(int i) const { return std::string(col_view(i)); }  // TEXT or BLOB as bytes
  // The same bytes without a copy; valid until the next step or reset.
  std::string_view col_view(int i) const;

  sqlite3_stmt* get() const { return s_; }

 private:
  sqlite3_stmt* s_ = nullptr;
};

// Resets the statement at scope exit (bindings refer to caller-owned memory: SQLITE_STATIC).
class StmtScope {
 public:
  explicit StmtScope(Stmt& s) : s_(s) {}
  ~StmtScope() { s_.reset(); }
  StmtScope(const StmtScope&) = delete;
  StmtScope& operator=(const StmtScope&) = delete;

 private:
  Stmt& s_;
};

// Prepares each (statement, sql) pair; SQLITE_OK or the first error.
int prepare_all(sqlite3* db, std::initializer_list<std::pair<Stmt*, std::string_view>> list);

class Db {
 public:
  Db() = default;
  ~Db() { close(); }
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  int open(const std::string& path, int flags, const char* vfs = nullptr);
  void close();
  // Runs SQL that returns no rows we need (DDL, PRAGMA assignments); SQLITE_OK or the error code.
  int exec(const char* sql);
  // The first column of the first row, for one-value PRAGMAs and queries; SQLITE_OK or the error.
  int query_int(const char* sql, std::int64_t& out);
  int query_text(const char* sql, std::string& out);

  sqlite3* handle() const { return db_; }
  const char* errmsg() const { return db_ ? sqlite3_errmsg(db_) : "no connection"; }
  const std::string& path() const { return path_; }
  bool in_transaction() const { return db_ && !sqlite3_get_autocommit(db_); }

 private:
  sqlite3* db_ = nullptr;
  std::string path_;
};

}  // namespace gw::storage
