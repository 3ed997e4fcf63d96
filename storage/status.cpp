// Status names and the one mapping from SQLite result codes (https://sqlite.org/rescode.html).
#include "storage/status.hpp"

#include <sqlite3.h>

namespace gw::storage {

std::string_view to_string(Status s) {
  switch (s) {
    case Status::Ok:
      return "ok";
    case Status::QueueFull:
      return "queue_full";
    case Status::Stopped:
      return "stopped";
    case Status::QuotaExceeded:
      return "quota_exceeded";
    case Status::DiskFull:
      return "disk_full";
    case Status::ReadOnly:
      return "read_only";
    case Status::IoError:
      return "io_error";
    case Status::Corrupt:
      return "corrupt";
    case Status::Busy:
      return "busy";
    case Status::NoMemory:
      return "no_memory";
    case Status::CantOpen:
      return "cant_open";
    case Status::TooNew:
      return "schema_too_new";
    case Status::Internal:
      return "internal";
  }
  return "?";
}

Status status_from_sqlite(int rc) {
  // Extended codes keep the primary code in the low byte (SQLITE_IOERR_FSYNC & 0xff == SQLITE_IOERR).
  switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
      return Status::Ok;
    case SQLITE_FULL:
      return Status::DiskFull;
    case SQLITE_READONLY:
      return Status::ReadOnly;
    case SQLITE_IOERR:
      return Status::IoError;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::Corrupt;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::Busy;
    case SQLITE_NOMEM:
      return Status::NoMemory;
    case SQLITE_CANTOPEN:
      return Status::CantOpen;
    default:
      return Status::Internal;
  }
}

bool fails_transaction(Status s) {
  switch (s) {
    case Status::DiskFull:
    case Status::ReadOnly:
    case Status::IoError:
    case Status::Corrupt:
    case Status::Busy:
    case Status::NoMemory:
      return true;
    default:
      return false;
  }
}

}  // namespace gw::storage
