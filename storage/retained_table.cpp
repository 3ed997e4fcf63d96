// Implementation of the retained table.
#include "storage/retained_table.hpp"

namespace gw::storage {

Status RetainedTable::prepare(Db& db) {
  return status_from_sqlite(prepare_all(
      db.handle(),
      {
          {&put_,
           "INSERT INTO retained(topic, payload, properties, qos, expiry_unix, updated_ms) "
           "VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(topic) DO UPDATE SET payload = excluded.payload, "
           "properties = excluded.properties, qos = excluded.qos, expiry_unix = excluded.expiry_unix, "
           "updated_ms = excluded.updated_ms"},
          {&del_, "DELETE FROM retained WHERE topic = ?1"},
          {&load_,
           "SELECT topic, payload, properties, qos, expiry_unix, updated_ms FROM retained ORDER BY topic"},
      }));
}

Status RetainedTable::set(const RetainedMessage& m) {
  if (m.payload.empty()) return clear(m.topic);
  put_.bind_text(1, m.topic);
  put_.bind_blob(2, m.payload);
  put_.bind_blob(3, m.properties);
  put_.bind(4, m.qos);
  put_.bind(5, m.expiry_unix);
  put_.bind(6, m.updated_ms);
  return status_from_sqlite(put_.run());
}

Status RetainedTable::clear(const std::string& topic) {
  del_.bind_text(1, topic);
  return status_from_sqlite(del_.run());
}

Status RetainedTable::load(std::vector<RetainedMessage>& out) {
  StmtScope scope(load_);
  int rc;
  while ((rc = load_.step()) == SQLITE_ROW) {
    RetainedMessage m;
    m.topic = load_.col_str(0);
    m.payload = load_.col_str(1);
    m.properties = load_.col_str(2);
    m.qos = static_cast<std::uint8_t>(load_.col_int(3));
    m.expiry_unix = load_.col_int(4);
    m.updated_ms = load_.col_int(5);
    out.push_back(std::move(m));
  }
  return status_from_sqlite(rc);
}

}  // namespace gw::storage
