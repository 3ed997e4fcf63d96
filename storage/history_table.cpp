// Implementation of the history table. A query with an exact topic uses the index (topic, seq); a query
// with a wildcard filter, or none, walks seq order and filters here.
#include "storage/history_table.hpp"

#include "storage/topic_filter.hpp"

namespace gw::storage {
namespace {
constexpr const char* kColumns = "SELECT seq, topic, stored_unix, qos, payload, properties FROM history ";
}

Status HistoryTable::prepare(Db& db) {
  db_ = &db;
  return status_from_sqlite(prepare_all(
      db.handle(),
      {
          {&insert_,
           "INSERT INTO history(topic, stored_unix, qos, payload, properties) VALUES(?1, ?2, ?3, ?4, ?5)"},
          {&by_topic_, std::string(kColumns) +
                           "WHERE topic = ?1 AND seq BETWEEN ?2 AND ?3 AND stored_unix BETWEEN ?4 AND ?5 "
                           "ORDER BY seq LIMIT ?6"},
          {&by_range_, std::string(kColumns) +
                           "WHERE seq BETWEEN ?1 AND ?2 AND stored_unix BETWEEN ?3 AND ?4 ORDER BY seq"},
          {&scan_, "SELECT seq, stored_unix FROM history WHERE seq > ?1 ORDER BY seq LIMIT 512"},
          {&delete_upto_, "DELETE FROM history WHERE seq <= ?1"},
          {&page_topic_, std::string(kColumns) + "WHERE topic = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3"},
          {&page_all_, std::string(kColumns) + "WHERE seq > ?1 ORDER BY seq LIMIT ?2"},
          {&trim_rows_,
           "DELETE FROM history WHERE seq < (SELECT seq FROM history ORDER BY seq DESC LIMIT 1 OFFSET ?1)"},
      }));
}

Status HistoryTable::load() {
  std::int64_t n = 0;
  int rc = db_->query_int("SELECT COUNT(*) FROM history", n);
  rows_ = static_cast<std::uint64_t>(n);
  return status_from_sqlite(rc);
}

bool HistoryTable::wants(std::string_view topic) const {
  for (const std::string& f : options_.filters) {
    if (topic_matches(f, topic)) return true;
  }
  return false;
}

Result<std::uint64_t, Status> HistoryTable::append(const HistoryMessage& m) {
  insert_.bind_text(1, m.topic);
  insert_.bind(2, clock_.unix_seconds());
  insert_.bind(3, m.qos);
  insert_.bind_blob(4, m.payload);
  insert_.bind_blob(5, m.properties);
  int rc = insert_.run();
  if (rc != SQLITE_DONE) return unexpected(status_from_sqlite(rc));
  rows_ += 1;
  return static_cast<std::uint64_t>(sqlite3_last_insert_rowid(db_->handle()));
}

Status HistoryTable::query(const HistoryQuery& q, std::vector<HistoryRecord>& out) {
  const bool exact = !q.topic.empty() && !has_wildcard(q.topic);
  Stmt& s = exact ? by_topic_ : by_range_;
  StmtScope scope(s);
  int i = 1;
  if (exact) s.bind_text(i++, q.topic);
  s.bind_u64(i++, q.from_seq);
  s.bind_u64(i++, q.to_seq);
  s.bind(i++, q.from_unix);
  s.bind(i++, q.to_unix);
  if (exact) s.bind(i++, q.limit);
  int rc = SQLITE_DONE;
  while (out.size() < q.limit && (rc = s.step()) == SQLITE_ROW) {
    HistoryRecord r;
    r.msg.topic = s.col_str(1);
    if (!exact && !q.topic.empty() && !topic_matches(q.topic, r.msg.topic)) continue;
    r.seq = s.col_u64(0);
    r.stored_unix = s.col_int(2);
    r.msg.qos = static_cast<std::uint8_t>(s.col_int(3));
    r.msg.payload = s.col_str(4);
    r.msg.properties = s.col_str(5);
    out.push_back(std::move(r));
  }
  if (out.size() >= q.limit) return Status::Ok;
  return status_from_sqlite(rc);
}

Status HistoryTable::page(const HistoryQuery& q, std::uint64_t max_scan, HistoryPage& out) {
  out = HistoryPage{};
  out.last_seq = q.from_seq;
  const bool exact = !q.topic.empty() && !has_wildcard(q.topic);
  Stmt& s = exact ? page_topic_ : page_all_;
  StmtScope scope(s);
  int i = 1;
  if (exact) s.bind_text(i++, q.topic);
  s.bind_u64(i++, q.from_seq);
  s.bind_u64(i++, max_scan);
  std::uint64_t read = 0;
  int rc = SQLITE_DONE;
  while (out.records.size() < q.limit && (rc = s.step()) == SQLITE_ROW) {
    ++read;
    const std::uint64_t seq = s.col_u64(0);
    out.last_seq = seq;
    if (seq > q.to_seq) {
      // Past the range asked for: nothing after it can match.
      return Status::Ok;
    }
    const std::int64_t at = s.col_int(2);
    if (at < q.from_unix || at > q.to_unix) continue;
    if (!exact && !q.topic.empty() && !topic_matches(q.topic, s.col_view(1))) continue;
    HistoryRecord r;
    r.seq = seq;
    r.msg.topic = s.col_str(1);
    r.stored_unix = at;
    r.msg.qos = static_cast<std::uint8_t>(s.col_int(3));
    r.msg.payload = s.col_str(4);
    r.msg.properties = s.col_str(5);
    out.records.push_back(std::move(r));
  }
  if (out.records.size() >= q.limit || read >= max_scan) {
    out.more = true;
    return Status::Ok;
  }
  return status_from_sqlite(rc);
}

Status HistoryTable::prune(std::uint64_t* removed) {
  std::uint64_t n = 0;
  if (options_.max_age_s > 0) {
    const std::int64_t cutoff = clock_.unix_seconds() - options_.max_age_s;
    std::uint64_t after = 0;
    std::uint64_t upto = 0;
    bool done = false;
    while (!done) {
      StmtScope scope(scan_);
      scan_.bind_u64(1, after);
      int rc;
      std::size_t seen = 0;
      while ((rc = scan_.step()) == SQLITE_ROW) {
        seen += 1;
        if (scan_.col_int(1) >= cutoff) {
          done = true;
          break;
        }
        after = upto = scan_.col_u64(0);
      }
      if (rc != SQLITE_ROW && rc != SQLITE_DONE) return status_from_sqlite(rc);
      if (seen == 0) done = true;
    }
    if (upto > 0) {
      delete_upto_.bind_u64(1, upto);
      int rc = delete_upto_.run();
      if (rc != SQLITE_DONE) return status_from_sqlite(rc);
      n += static_cast<std::uint64_t>(sqlite3_changes64(db_->handle()));
    }
  }
  if (options_.max_rows > 0) {
    trim_rows_.bind_u64(1, options_.max_rows - 1);
    int rc = trim_rows_.run();
    if (rc != SQLITE_DONE) return status_from_sqlite(rc);
    n += static_cast<std::uint64_t>(sqlite3_changes64(db_->handle()));
  }
  rows_ = rows_ >= n ? rows_ - n : 0;
  pruned_ += n;
  if (removed) *removed = n;
  return Status::Ok;
}

}  // namespace gw::storage
