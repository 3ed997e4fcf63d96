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

const char* failure_advice(Status s) {
  switch (s) {
    case Status::DiskFull:
      return "disk full: the file system, or the store.max_db_bytes bound, has no room for more; new "
             "messages "
             "are refused (MQTT 5 0x97, HTTP 507) while reads, acknowledgements and drains go on; free space "
             "or "
             "raise the bound, and writes resume by themselves";
    case Status::ReadOnly:
      return "read-only: the file system is mounted read-only (or was remounted so after errors: see "
             "dmesg) or the file is not writable; the database itself is fine, do not recover it; make it "
             "writable again";
    case Status::IoError:
      return "I/O error: the storage device failed a read, write or sync (a failing SD card or disk: see "
             "dmesg); the database is probably intact, do not delete or recover it before the device is "
             "checked";
    case Status::Busy:
      return "locked: another process holds a lock on the database (a second netpie-edge on the same state "
             "directory, or a sqlite3 shell in a transaction); stop it";
    case Status::Corrupt:
      return "damaged: the file's contents are not a valid database; stop the daemon and recover it with the "
             "recovery command logged with this";
    case Status::CantOpen:
      return "cannot open: the file or its directory is missing or not accessible (a WAL database needs its "
             "directory writable for the -wal and -shm files: is the file system read-only, or are "
             "permissions missing?)";
    case Status::NoMemory:
      return "out of memory";
    default:
      return "unexpected error";
  }
}

}  // namespace gw::storage
