// Implementation of the key/value table.
#include "storage/kv_table.hpp"

namespace gw::storage {

Status KvTable::prepare(Db& db) {
  return status_from_sqlite(prepare_all(
      db.handle(),
      {
          {&put_,
           "INSERT INTO kv(key, value, updated_unix) VALUES(?1, ?2, ?3) ON CONFLICT(key) DO UPDATE "
           "SET value = excluded.value, updated_unix = excluded.updated_unix"},
          {&del_, "DELETE FROM kv WHERE key = ?1"},
          {&get_, "SELECT value FROM kv WHERE key = ?1"},
          // substr() compares bytes of TEXT as characters; keys are ASCII by convention.
          {&scan_, "SELECT key, value FROM kv WHERE substr(key, 1, length(?1)) = ?1 ORDER BY key"},
      }));
}

Status KvTable::put(const std::string& key, const std::string& value) {
  put_.bind_text(1, key);
  put_.bind_blob(2, value);
  put_.bind(3, clock_.unix_seconds());
  return status_from_sqlite(put_.run());
}

Status KvTable::erase(const std::string& key) {
  del_.bind_text(1, key);
  return status_from_sqlite(del_.run());
}

Result<std::optional<std::string>, Status> KvTable::get(const std::string& key) {
  StmtScope scope(get_);
  get_.bind_text(1, key);
  int rc = get_.step();
  if (rc == SQLITE_ROW) return std::optional<std::string>(get_.col_str(0));
  if (rc == SQLITE_DONE) return std::optional<std::string>();
  return unexpected(status_from_sqlite(rc));
}

Status KvTable::scan(const std::string& prefix, std::vector<std::pair<std::string, std::string>>& out) {
  StmtScope scope(scan_);
  scan_.bind_text(1, prefix);
  int rc;
  while ((rc = scan_.step()) == SQLITE_ROW) out.emplace_back(scan_.col_str(0), scan_.col_str(1));
  return status_from_sqlite(rc);
}

}  // namespace gw::storage
