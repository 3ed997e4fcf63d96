// Status of a storage request: one enum for every outcome the caller must tell apart. SQLite result
// codes are mapped here and nowhere else, so the broker sees DiskFull or ReadOnly, never a raw code.
// Nothing in storage/ throws on the data path; every call and every completion carries a Status.
#pragma once

#include <cstdint>
#include <string_view>

namespace gw::storage {

enum class Status : std::uint8_t {
  Ok = 0,
  QueueFull,      // the request queue is at its bound; nothing was queued (caller refuses or backs off)
  Stopped,        // the store was stopped; nothing was queued
  QuotaExceeded,  // the outbox is full and its policy is reject_new (MQTT 5 PUBACK 0x97 Quota exceeded)
  DiskFull,       // SQLITE_FULL: the file system or the database size cap (max_page_count) is full
  ReadOnly,       // SQLITE_READONLY: the file or its file system is read-only
  IoError,        // SQLITE_IOERR: a read, write or fsync failed
  Corrupt,        // SQLITE_CORRUPT or SQLITE_NOTADB
  Busy,           // SQLITE_BUSY or SQLITE_LOCKED: another process holds the database
  NoMemory,       // SQLITE_NOMEM
  CantOpen,       // SQLITE_CANTOPEN: the file or its directory cannot be opened or created
  TooNew,         // the file's schema version is newer than this build knows
  Internal,       // anything else; a bug, logged with SQLite's message
};

std::string_view to_string(Status s);

// Maps a SQLite primary or extended result code. SQLITE_OK, SQLITE_ROW and SQLITE_DONE map to Ok.
Status status_from_sqlite(int rc);

// Errors that fail a whole transaction rather than one statement: the store rolls the batch back, fails
// the waiting completions with this status, and tries again with the next batch. DiskFull, ReadOnly,
// IoError and Busy clear by themselves (space freed, file system remounted, device back).
bool fails_transaction(Status s);

// What the condition is and what to do about it, one sentence each, for the log line that reports it
// (at open and at run time): full, read-only, I/O error, locked and corrupt each have their own, and
// only a corrupt file is ever sent to the recovery command.
const char* failure_advice(Status s);

}  // namespace gw::storage
