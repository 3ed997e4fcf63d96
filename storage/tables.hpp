// The table objects the storage thread applies requests to, one per table file. Internal to storage/:
// only the storage thread touches them once the store is open.
#pragma once

#include "storage/feed_table.hpp"
#include "storage/history_table.hpp"
#include "storage/kv_table.hpp"
#include "storage/outbox_table.hpp"
#include "storage/retained_table.hpp"
#include "storage/session_table.hpp"

namespace gw::storage {

struct Tables {
  Tables(const OutboxLimits& outbox_limits, const HistoryOptions& history_options,
         const FeedOptions& feed_options, const Clock& clock)
      : outbox(outbox_limits, clock),
        kv(clock),
        history(history_options, clock),
        feeds(feed_options, clock) {}

  Status prepare(Db& db) {
    Status s = outbox.prepare(db);
    if (s == Status::Ok) s = sessions.prepare(db);
    if (s == Status::Ok) s = retained.prepare(db);
    if (s == Status::Ok) s = kv.prepare(db);
    if (s == Status::Ok) s = history.prepare(db);
    if (s == Status::Ok) s = feeds.prepare(db);
    return s;
  }
  void begin() {
    outbox.begin();
    history.begin();
    feeds.begin();
  }
  Status before_commit() { return outbox.before_commit(); }
  void committed() { outbox.committed(); }
  void rolled_back() {
    outbox.rolled_back();
    history.rolled_back();
    feeds.rolled_back();
  }
  // The in-memory side of a savepoint around one request.
  struct Mark {
    OutboxTable::Mark outbox;
    std::uint64_t history_rows = 0;
    FeedTable::Mark feeds;
  };
  Mark mark() const { return Mark{outbox.mark(), history.mark(), feeds.mark()}; }
  void rollback_to(const Mark& m) {
    outbox.rollback_to(m.outbox);
    history.rollback_to(m.history_rows);
    feeds.rollback_to(m.feeds);
  }

  OutboxTable outbox;
  SessionTable sessions;
  RetainedTable retained;
  KvTable kv;
  HistoryTable history;
  FeedTable feeds;
};

}  // namespace gw::storage
