// Implementation of the SQLite connection and statement wrappers.
#include "storage/sqlite_db.hpp"

namespace gw::storage {

Stmt::~Stmt() {
  sqlite3_finalize(s_);
}

Stmt& Stmt::operator=(Stmt&& o) noexcept {
  if (this != &o) {
    sqlite3_finalize(s_);
    s_ = o.s_;
    o.s_ = nullptr;
  }
  return *this;
}

int Stmt::prepare(sqlite3* db, std::string_view sql) {
  sqlite3_finalize(s_);
  s_ = nullptr;
  return sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &s_,
                            nullptr);
}

int Stmt::run() {
  int rc = sqlite3_step(s_);
  reset();
  return rc == SQLITE_ROW ? SQLITE_DONE : rc;
}

std::string_view Stmt::col_view(int i) const {
  const void* p = sqlite3_column_blob(s_, i);
  int n = sqlite3_column_bytes(s_, i);
  if (p == nullptr || n <= 0) return {};
  return std::string_view(static_cast<const char*>(p), static_cast<std::size_t>(n));
}

int prepare_all(sqlite3* db, std::initializer_list<std::pair<Stmt*, std::string_view>> list) {
  for (const auto& [stmt, sql] : list) {
    int rc = stmt->prepare(db, sql);
    if (rc != SQLITE_OK) return rc;
  }
  return SQLITE_OK;
}

int Db::open(const std::string& path, int flags, const char* vfs) {
  close();
  path_ = path;
  int rc = sqlite3_open_v2(path.c_str(), &db_, flags, vfs);
  if (rc == SQLITE_OK) sqlite3_extended_result_codes(db_, 1);
  return rc;
}

void Db::close() {
  if (db_ != nullptr) {
    sqlite3_close_v2(db_);
    db_ = nullptr;
  }
}

int Db::exec(const char* sql) {
  return sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
}

int Db::query_int(const char* sql, std::int64_t& out) {
  Stmt s;
  int rc = s.prepare(db_, sql);
  if (rc != SQLITE_OK) return rc;
  rc = s.step();
  if (rc == SQLITE_ROW) {
    out = s.col_int(0);
    return SQLITE_OK;
  }
  return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int Db::query_text(const char* sql, std::string& out) {
  Stmt s;
  int rc = s.prepare(db_, sql);
  if (rc != SQLITE_OK) return rc;
  rc = s.step();
  if (rc == SQLITE_ROW) {
    out = s.col_str(0);
    return SQLITE_OK;
  }
  return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

}  // namespace gw::storage
