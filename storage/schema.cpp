// The migrations. Version 1 is the first released schema (outbox, sessions, retained, kv); version 2
// adds outbox priority lanes and the local history; version 3 gives every outbox row a destination
// (the uplink it is for; rows already there get '') and makes the ready index per destination; version 4
// adds the outbox's released mark (QoS 2: the cloud answered PUBREC; rows already there get 0); version 5
// indexes the session messages that are not merely queued (in flight, or inbound QoS 2), so a start-up
// loads them without reading the queues. Column meanings are in the table files.
#include "storage/schema.hpp"

#include <cstdio>

namespace gw::storage {
namespace {

struct Migration {
  int version;
  const char* what;
  const char* sql;
};

constexpr Migration kMigrations[] = {
    {1, "outbox, sessions, retained, kv", R"sql(
CREATE TABLE outbox(
  id INTEGER PRIMARY KEY,
  origin TEXT NOT NULL,
  origin_seq INTEGER NOT NULL,
  topic TEXT NOT NULL,
  payload BLOB NOT NULL,
  properties BLOB NOT NULL,
  qos INTEGER NOT NULL,
  retain INTEGER NOT NULL,
  enqueued_unix INTEGER NOT NULL,
  size INTEGER NOT NULL,
  state INTEGER NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE outbox_origin(origin TEXT PRIMARY KEY, last_seq INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE outbox_meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE retained(
  topic TEXT PRIMARY KEY,
  payload BLOB NOT NULL,
  properties BLOB NOT NULL,
  qos INTEGER NOT NULL,
  expiry_unix INTEGER NOT NULL
);
CREATE TABLE kv(key TEXT PRIMARY KEY, value BLOB NOT NULL, updated_unix INTEGER NOT NULL);
CREATE TABLE sessions(
  client_id TEXT PRIMARY KEY,
  expiry_interval_s INTEGER NOT NULL,
  disconnected_unix INTEGER NOT NULL,
  extra BLOB NOT NULL
);
CREATE TABLE session_subs(
  client_id TEXT NOT NULL,
  filter TEXT NOT NULL,
  options INTEGER NOT NULL,
  subscription_id INTEGER NOT NULL,
  PRIMARY KEY(client_id, filter)
) WITHOUT ROWID;
CREATE TABLE session_msgs(
  client_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  packet_id INTEGER NOT NULL,
  state INTEGER NOT NULL,
  qos INTEGER NOT NULL,
  retain INTEGER NOT NULL,
  topic TEXT NOT NULL,
  payload BLOB NOT NULL,
  properties BLOB NOT NULL,
  expiry_unix INTEGER NOT NULL,
  PRIMARY KEY(client_id, seq)
);
)sql"},
    {2, "outbox priority lanes, local history", R"sql(
ALTER TABLE outbox ADD COLUMN lane INTEGER NOT NULL DEFAULT 1;
CREATE INDEX outbox_ready ON outbox(lane, id) WHERE state = 0;
CREATE TABLE history(
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  topic TEXT NOT NULL,
  stored_unix INTEGER NOT NULL,
  qos INTEGER NOT NULL,
  payload BLOB NOT NULL,
  properties BLOB NOT NULL
);
CREATE INDEX history_topic ON history(topic, seq);
)sql"},
    {3, "outbox destinations", R"sql(
ALTER TABLE outbox ADD COLUMN dest TEXT NOT NULL DEFAULT '';
DROP INDEX outbox_ready;
CREATE INDEX outbox_ready ON outbox(dest, lane, id) WHERE state = 0;
)sql"},
    {4, "outbox released mark", R"sql(
ALTER TABLE outbox ADD COLUMN released INTEGER NOT NULL DEFAULT 0;
)sql"},
    {5, "session messages held index", R"sql(
CREATE INDEX session_msgs_held ON session_msgs(client_id, seq) WHERE state != 0;
)sql"},
    {6, "outbox message expiry", R"sql(
ALTER TABLE outbox ADD COLUMN expiry_unix INTEGER NOT NULL DEFAULT 0;
)sql"},
};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == kSchemaVersion);

}  // namespace

int schema_version(Db& db) {
  std::int64_t v = -1;
  if (db.query_int("PRAGMA user_version", v) != SQLITE_OK) return -1;
  return static_cast<int>(v);
}

Status migrate(Db& db, int to_version, std::string& error) {
  int from = schema_version(db);
  if (from < 0) {
    error = std::string("cannot read the schema version: ") + db.errmsg();
    return status_from_sqlite(sqlite3_errcode(db.handle()));
  }
  for (const Migration& m : kMigrations) {
    if (m.version <= from || m.version > to_version) continue;
    char set_version[64];
    std::snprintf(set_version, sizeof set_version, "PRAGMA user_version = %d", m.version);
    int rc = db.exec("BEGIN IMMEDIATE");
    if (rc == SQLITE_OK) rc = db.exec(m.sql);
    if (rc == SQLITE_OK) rc = db.exec(set_version);
    if (rc == SQLITE_OK) rc = db.exec("COMMIT");
    if (rc != SQLITE_OK) {
      error = "migration " + std::to_string(m.version) + " (" + m.what + ") failed: " + db.errmsg();
      if (db.in_transaction()) db.exec("ROLLBACK");
      return status_from_sqlite(rc);
    }
  }
  return Status::Ok;
}

}  // namespace gw::storage
