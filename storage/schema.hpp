// Numbered schema migrations. The database's PRAGMA user_version is the number of the last migration
// applied; opening runs the missing ones in order, each in its own transaction. A migration is never
// edited once released: a change is a new migration appended to the list. All DDL lives in schema.cpp.
#pragma once

#include <string>

#include "storage/sqlite_db.hpp"
#include "storage/status.hpp"

namespace gw::storage {

inline constexpr int kSchemaVersion = 6;

// The version recorded in the file (0 for a new file), or -1 if it cannot be read.
int schema_version(Db& db);

// Applies migrations (from, to] one transaction each. On failure the file stays at the last version
// that committed; `error` says which migration failed and why.
Status migrate(Db& db, int to_version, std::string& error);

}  // namespace gw::storage
