// Implementation of the outbox table. Statements are prepared once in prepare(); the queries that walk
// the queue use the partial index outbox_ready(dest, lane, id) WHERE state = 0, one destination at a
// time (drop_oldest visits each destination that has rows, known from the in-memory backlog).
#include "storage/outbox_table.hpp"

#include <algorithm>

namespace gw::storage {
namespace {
constexpr const char* kColumns =
    "id, origin, origin_seq, lane, topic, payload, properties, qos, retain, enqueued_unix, attempts, size, "
    "dest, released, expiry_unix";
// Rows of expired messages one read deletes at most once it has rows to return (the rest go with later
// reads): the deletes' WAL frames stay of the order of a read's.
constexpr std::size_t kMaxExpiredPerRead = 10'000;
// Rows of skipped origins one read walks past at most (per_origin live reads, gateway/uplink/README.md): they
// stay queued and each live read meets them again while the backlog drains, so the walk is bounded; live rows
// behind more of them than this wait for the backlog's end (order is kept either way).
constexpr std::size_t kMaxSkippedPerRead = 2'048;
// What deleting a row writes besides its counted bytes (its other columns, cell and index entry): a
// read's expired deletes are counted as size + this against the write budget.
constexpr std::uint64_t kRowWriteOverhead = 64;
}  // namespace

Status OutboxTable::prepare(Db& db) {
  db_ = &db;
  std::string sel = std::string("SELECT ") + kColumns + " FROM outbox WHERE state = 0";
  int rc = prepare_all(
      db.handle(),
      {
          {&insert_,
           "INSERT INTO outbox(id, origin, origin_seq, lane, topic, payload, properties, qos, retain, "
           "enqueued_unix, size, dest, state, attempts, expiry_unix) VALUES(?11, ?1, ?2, ?3, ?4, ?5, ?6, ?7, "
           "?8, ?9, ?10, ?12, 0, 0, ?13)"},
          {&select_ready_, sel + " AND dest = ?3 ORDER BY lane, id LIMIT ?1"},
          {&select_ready_lane_, sel + " AND dest = ?3 AND lane = ?2 ORDER BY id LIMIT ?1"},
          {&mark_,
           "UPDATE outbox SET state = 1, attempts = attempts + 1 WHERE id BETWEEN ?1 AND ?2 AND state = 0"},
          // A row released already is not written again (no page change, no WAL frame).
          {&release_, "UPDATE outbox SET released = 1 WHERE id BETWEEN ?1 AND ?2 AND released = 0"},
          {&delete_acked_,
           "DELETE FROM outbox WHERE id BETWEEN ?1 AND ?2 AND state = 1 RETURNING size, dest"},
          {&requeue_range_, "UPDATE outbox SET state = 0 WHERE id BETWEEN ?1 AND ?2 AND state = 1"},
          {&requeue_all_, "UPDATE outbox SET state = 0 WHERE state = 1"},
          {&requeue_dest_, "UPDATE outbox SET state = 0 WHERE state = 1 AND dest = ?1"},
          {&claim_, "UPDATE outbox SET dest = ?2 WHERE dest = ?1 RETURNING size"},
          // Both walk one destination's part of outbox_ready (the descending scan finds its last lane).
          {&max_lane_, "SELECT lane FROM outbox WHERE state = 0 AND dest = ?1 ORDER BY lane DESC LIMIT 1"},
          // A released row is never the victim: the cloud holds it and waits for its PUBREL (MQTT 5.0
          // §4.3.3); dropping it would leave that packet id open upstream.
          {&oldest_in_lane_,
           "SELECT id, size FROM outbox WHERE state = 0 AND dest = ?1 AND lane = ?2 AND released = 0 "
           "ORDER BY id LIMIT 1"},
          {&delete_one_, "DELETE FROM outbox WHERE id = ?1"},
          {&scan_,
           "SELECT id, size, enqueued_unix, state, dest, released FROM outbox WHERE id > ?1 ORDER BY id "
           "LIMIT 256"},
          // Reads and the quota age walk go lane by lane, each an id range seek in outbox_ready.
          {&next_lane_,
           "SELECT lane FROM outbox WHERE state = 0 AND dest = ?1 AND lane > ?2 ORDER BY lane LIMIT 1"},
          {&select_range_, sel + " AND dest = ?1 AND lane = ?2 AND id > ?3 AND id <= ?4 ORDER BY id"},
          {&origins_, "SELECT DISTINCT origin FROM outbox WHERE state = 0 AND dest = ?1 AND id <= ?2"},
          {&age_walk_,
           "SELECT id, size, enqueued_unix, released FROM outbox WHERE state = 0 AND dest = ?1 AND lane = ?2 "
           "AND id > ?3 ORDER BY id LIMIT 256"},
          {&origin_upsert_,
           "INSERT INTO outbox_origin(origin, last_seq) VALUES(?1, ?2) "
           "ON CONFLICT(origin) DO UPDATE SET last_seq = excluded.last_seq"},
          {&meta_upsert_,
           "INSERT INTO outbox_meta(key, value) VALUES('last_id', ?1) "
           "ON CONFLICT(key) DO UPDATE SET value = excluded.value"},
      });
  return status_from_sqlite(rc);
}

Status OutboxTable::load(std::uint64_t* requeued) {
  Db& db = *db_;
  int rc = db.exec("BEGIN IMMEDIATE");
  if (rc != SQLITE_OK) return status_from_sqlite(rc);
  c_ = Counters{};
  origin_seq_.clear();
  unpersisted_.clear();
  Stmt s;
  // One scan for the counters, the backlog per destination and the highest sequence left per origin.
  rc =
      s.prepare(db.handle(),
                "SELECT origin, dest, MAX(origin_seq), COUNT(*), COALESCE(SUM(size), 0), MAX(id) FROM outbox "
                "GROUP BY origin, dest");
  while (rc == SQLITE_OK && (rc = s.step()) == SQLITE_ROW) {
    std::uint64_t& seq = origin_seq_[s.col_str(0)];
    seq = std::max(seq, s.col_u64(2));
    OutboxBacklog& b = c_.dests[s.col_str(1)];
    b.rows += s.col_u64(3);
    b.bytes += s.col_u64(4);
    c_.rows += s.col_u64(3);
    c_.bytes += s.col_u64(4);
    c_.last_id = std::max(c_.last_id, s.col_u64(5));
    rc = SQLITE_OK;
  }
  if (rc == SQLITE_DONE) rc = SQLITE_OK;
  if (rc == SQLITE_OK) rc = s.prepare(db.handle(), "SELECT origin, last_seq FROM outbox_origin");
  std::unordered_map<std::string, std::uint64_t> persisted;
  while (rc == SQLITE_OK && (rc = s.step()) == SQLITE_ROW) {
    persisted[s.col_str(0)] = s.col_u64(1);
    rc = SQLITE_OK;
  }
  if (rc == SQLITE_DONE) rc = SQLITE_OK;
  // Sequences held only by rows still in the table must be written when those rows go.
  for (auto& [origin, seq] : origin_seq_) {
    auto it = persisted.find(origin);
    if (it == persisted.end() || it->second < seq) unpersisted_.insert(origin);
  }
  for (const auto& [origin, seq] : persisted) {
    std::uint64_t& cur = origin_seq_[origin];
    cur = std::max(cur, seq);
  }
  if (rc == SQLITE_OK) rc = s.prepare(db.handle(), "SELECT value FROM outbox_meta WHERE key = 'last_id'");
  if (rc == SQLITE_OK) {
    rc = s.step();
    if (rc == SQLITE_ROW) c_.last_id = std::max(c_.last_id, s.col_u64(0));
    rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
  }
  if (rc == SQLITE_OK) rc = requeue_all_.run() == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db.handle());
  if (requeued) *requeued = static_cast<std::uint64_t>(sqlite3_changes64(db.handle()));
  s = Stmt();
  if (rc == SQLITE_OK) rc = db.exec("COMMIT");
  if (rc != SQLITE_OK && db.in_transaction()) db.exec("ROLLBACK");
  return status_from_sqlite(rc);
}

void OutboxTable::begin() {
  origin_log_.clear();
  deleted_in_tx_ = false;
  persisted_in_tx_ = false;
  base_ = mark();
}

Status OutboxTable::before_commit() {
  if (!deleted_in_tx_) return Status::Ok;
  // Rows leave the table: keep what they held of the high-water marks.
  for (const std::string& origin : unpersisted_) {
    StmtScope scope(origin_upsert_);
    origin_upsert_.bind_text(1, origin);
    origin_upsert_.bind_u64(2, origin_seq_[origin]);
    int rc = origin_upsert_.step();
    if (rc != SQLITE_DONE) return status_from_sqlite(rc);
  }
  meta_upsert_.bind_u64(1, c_.last_id);
  int rc = meta_upsert_.run();
  if (rc != SQLITE_DONE) return status_from_sqlite(rc);
  persisted_in_tx_ = true;
  return Status::Ok;
}

void OutboxTable::committed() {
  origin_log_.clear();
  if (persisted_in_tx_) unpersisted_.clear();
}

void OutboxTable::rolled_back() {
  rollback_to(base_);
  origin_log_.clear();
}

OutboxTable::Mark OutboxTable::mark() const {
  return Mark{c_, origin_log_.size()};
}

void OutboxTable::rollback_to(const Mark& m) {
  // A prune rolled back deleted nothing: the next one waits for the maintenance interval instead of
  // running at once (a prune that keeps failing for room would otherwise spin).
  prune_more_ = false;
  const auto kRejected = static_cast<std::size_t>(DropReason::RejectedFull);
  const auto kQuotaRejected = static_cast<std::size_t>(DropReason::QuotaRejected);
  const std::uint64_t rejected = c_.drops[kRejected];
  const std::uint64_t quota_rejected = c_.drops[kQuotaRejected];
  std::vector<std::pair<std::string, std::uint64_t>> dest_rejected;
  for (const auto& [dest, d] : c_.dest_drops) dest_rejected.emplace_back(dest, d.rejected);
  c_ = m.c;
  c_.drops[kRejected] = rejected;
  c_.drops[kQuotaRejected] = quota_rejected;
  for (const auto& [dest, n] : dest_rejected) c_.dest_drops[dest].rejected = n;
  while (origin_log_.size() > m.log_size) {
    auto& [origin, old] = origin_log_.back();
    if (old == 0) {
      origin_seq_.erase(origin);
    } else {
      origin_seq_[origin] = old;
    }
    origin_log_.pop_back();
  }
}

std::uint64_t OutboxTable::next_origin_seq(const std::string& origin) {
  auto [it, inserted] = origin_seq_.try_emplace(origin, 0);
  origin_log_.emplace_back(origin, inserted ? 0 : it->second);
  // Kept across a rollback too: writing a current value later is always right.
  unpersisted_.insert(origin);
  return ++it->second;
}

void OutboxTable::count_in(std::string_view dest, std::uint64_t size) {
  auto it = c_.dests.find(dest);
  if (it == c_.dests.end()) it = c_.dests.emplace(std::string(dest), OutboxBacklog{}).first;
  it->second.rows += 1;
  it->second.bytes += size;
  c_.rows += 1;
  c_.bytes += size;
}

void OutboxTable::count_out(std::string_view dest, std::uint64_t size) {
  c_.rows -= 1;
  c_.bytes -= size;
  auto it = c_.dests.find(dest);
  if (it == c_.dests.end()) return;  // cannot happen: every row was counted in at load or enqueue
  it->second.rows -= 1;
  it->second.bytes -= size;
  if (it->second.rows == 0) c_.dests.erase(it);
}

OutboxBacklog OutboxTable::backlog(std::string_view dest) const {
  auto it = c_.dests.find(dest);
  return it == c_.dests.end() ? OutboxBacklog{} : it->second;
}

OutboxDestDrops OutboxTable::dest_drops(std::string_view dest) const {
  auto it = c_.dest_drops.find(dest);
  return it == c_.dest_drops.end() ? OutboxDestDrops{} : it->second;
}

const OutboxQuota* OutboxTable::quota_of(std::string_view dest) const {
  auto it = limits_.quotas.find(dest);
  return it == limits_.quotas.end() || !it->second.any() ? nullptr : &it->second;
}

Status OutboxTable::remove(std::uint64_t id, std::uint64_t size, const std::string& dest, DropReason reason) {
  delete_one_.bind_u64(1, id);
  int rc = delete_one_.run();
  if (rc != SQLITE_DONE) return status_from_sqlite(rc);
  c_.drops[static_cast<std::size_t>(reason)] += 1;
  OutboxDestDrops& d = c_.dest_drops[dest];
  if (reason == DropReason::QuotaAge) d.expired += 1;
  if (reason == DropReason::MessageExpired) d.message_expired += 1;
  count_out(dest, size);
  deleted_in_tx_ = true;
  return Status::Ok;
}

Result<bool, Status> OutboxTable::apply_quota(const std::string& dest, std::uint64_t size) {
  const OutboxQuota* q = quota_of(dest);
  if (q == nullptr) return true;
  auto refuse = [&] {
    c_.drops[static_cast<std::size_t>(DropReason::QuotaRejected)] += 1;
    c_.dest_drops[dest].rejected += 1;
    return false;
  };
  if (q->max_bytes > 0 && size > q->max_bytes) return refuse();  // could never fit
  for (;;) {
    const OutboxBacklog b = backlog(dest);
    const bool over =
        (q->max_rows > 0 && b.rows + 1 > q->max_rows) || (q->max_bytes > 0 && b.bytes + size > q->max_bytes);
    if (!over) return true;
    if (q->policy == FullPolicy::RejectNew) return refuse();
    auto dropped = drop_oldest(DropReason::QuotaOldest, &dest);
    if (!dropped) return unexpected(dropped.error());
    if (!dropped.value()) return refuse();  // only rows in flight (or released) left: nothing may go
    c_.dest_drops[dest].dropped_oldest += 1;
  }
}

Result<bool, Status> OutboxTable::drop_oldest(DropReason reason, const std::string* only) {
  // The bound is global: the victim is the oldest queued row (lowest id) of the lowest-priority lane
  // (highest lane number) over every destination. Each destination with rows is asked for its last
  // lane, then the destinations on that lane for their oldest row: two index seeks per destination.
  // A quota (`only`) looks at its own destination's rows alone.
  std::int64_t lane = -1;
  std::vector<const std::string*> on_lane;
  for (const auto& [dest, backlog] : c_.dests) {
    if (only != nullptr && dest != *only) continue;
    StmtScope scope(max_lane_);
    max_lane_.bind_text(1, dest);
    int rc = max_lane_.step();
    if (rc == SQLITE_DONE) continue;  // everything of this destination is in flight
    if (rc != SQLITE_ROW) return unexpected(status_from_sqlite(rc));
    const std::int64_t l = max_lane_.col_int(0);
    if (l > lane) {
      lane = l;
      on_lane.clear();
    }
    if (l == lane) on_lane.push_back(&dest);
  }
  std::uint64_t id = 0;
  std::uint64_t size = 0;
  const std::string* victim_dest = nullptr;
  for (const std::string* dest : on_lane) {
    StmtScope scope(oldest_in_lane_);
    oldest_in_lane_.bind_text(1, *dest);
    oldest_in_lane_.bind(2, lane);
    int rc = oldest_in_lane_.step();
    if (rc == SQLITE_DONE) continue;
    if (rc != SQLITE_ROW) return unexpected(status_from_sqlite(rc));
    if (victim_dest == nullptr || oldest_in_lane_.col_u64(0) < id) {
      id = oldest_in_lane_.col_u64(0);
      size = oldest_in_lane_.col_u64(1);
      victim_dest = dest;
    }
  }
  if (victim_dest == nullptr) return false;  // (also when the last lane holds only released rows)
  delete_one_.bind_u64(1, id);
  int rc = delete_one_.run();
  if (rc != SQLITE_DONE) return unexpected(status_from_sqlite(rc));
  count_out(*victim_dest, size);  // may erase the entry *victim_dest points into: last use
  c_.drops[static_cast<std::size_t>(reason)] += 1;
  deleted_in_tx_ = true;
  return true;
}

Result<OutboxEnqueued, Status> OutboxTable::enqueue(const OutboxMessage& m) {
  const std::uint64_t size = size_of(m);
  auto& rejected = c_.drops[static_cast<std::size_t>(DropReason::RejectedFull)];
  if (limits_.max_bytes > 0 && size > limits_.max_bytes) {
    rejected += 1;  // could never fit, whatever the policy
    return unexpected(Status::QuotaExceeded);
  }
  // The destination's quota first: under it, its own rows make room (or the row is not written), so
  // the global bound below is reached only by what the quotas let through.
  auto admitted = apply_quota(m.dest, size);
  if (!admitted) return unexpected(admitted.error());
  if (!admitted.value()) {
    OutboxEnqueued refused;
    refused.queued = false;
    return refused;
  }
  while ((limits_.max_rows > 0 && c_.rows + 1 > limits_.max_rows) ||
         (limits_.max_bytes > 0 && c_.bytes + size > limits_.max_bytes)) {
    if (limits_.policy == FullPolicy::RejectNew) {
      rejected += 1;
      return unexpected(Status::QuotaExceeded);
    }
    DropReason reason = (limits_.max_rows > 0 && c_.rows + 1 > limits_.max_rows) ? DropReason::OldestRows
                                                                                 : DropReason::OldestBytes;
    auto dropped = drop_oldest(reason);
    if (!dropped) return unexpected(dropped.error());
    if (!dropped.value()) {  // everything left is in flight: nothing may be dropped
      rejected += 1;
      return unexpected(Status::QuotaExceeded);
    }
  }
  OutboxEnqueued out;
  out.origin_seq = next_origin_seq(m.origin);
  {
    StmtScope scope(insert_);
    insert_.bind_text(1, m.origin);
    insert_.bind_u64(2, out.origin_seq);
    insert_.bind(3, m.lane);
    insert_.bind_text(4, m.topic);
    insert_.bind_blob(5, m.payload);
    insert_.bind_blob(6, m.properties);
    insert_.bind(7, m.qos);
    insert_.bind(8, m.retain ? 1 : 0);
    insert_.bind(9, clock_.unix_seconds());
    insert_.bind_u64(10, size);
    insert_.bind_u64(11, c_.last_id + 1);
    insert_.bind_text(12, m.dest);
    insert_.bind(13, m.expiry_unix);
    int rc = insert_.step();
    if (rc != SQLITE_DONE) return unexpected(status_from_sqlite(rc));
  }
  out.id = c_.last_id + 1;
  if (std::find(new_dests_.begin(), new_dests_.end(), m.dest) == new_dests_.end())
    new_dests_.push_back(m.dest);
  count_in(m.dest, size);
  c_.enqueued += 1;
  c_.last_id = out.id;
  return out;
}

Status OutboxTable::read(const OutboxReadOptions& o, std::vector<OutboxRecord>& out,
                         std::uint64_t* scanned_to) {
  // Lane by lane (priority order), each an id-range seek on outbox_ready: a live read (after_id = the
  // top of the backlog) never walks the backlog's rows.
  std::vector<std::uint64_t> ids;
  struct Gone {
    std::uint64_t id;
    std::uint64_t size;
  };
  std::vector<Gone> expired;
  const std::int64_t now = clock_.unix_seconds();
  std::uint64_t bytes = 0;
  std::uint64_t expired_cost = 0;
  std::size_t skipped = 0;
  std::int64_t lane = o.lane ? static_cast<std::int64_t>(*o.lane) : -1;
  std::uint64_t visited_to = o.after_id;  // a cut's: the rows below the one it stopped at
  bool full = false;
  bool first_lane = true;
  while (!full) {
    if (o.lane) {
      if (!first_lane) break;
    } else {
      StmtScope scope(next_lane_);
      next_lane_.bind_text(1, o.dest);
      next_lane_.bind(2, lane);
      int rc = next_lane_.step();
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) return status_from_sqlite(rc);
      lane = next_lane_.col_int(0);
    }
    first_lane = false;
    StmtScope scope(select_range_);
    select_range_.bind_text(1, o.dest);
    select_range_.bind(2, lane);
    select_range_.bind_u64(3, o.after_id);
    select_range_.bind_u64(4, o.up_to_id);
    Stmt& s = select_range_;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
      // Where a cut leaves this lane: every row below this one was visited.
      visited_to = s.col_u64(0) - 1;
      if (ids.size() >= o.max_rows) {
        full = true;
        break;
      }
      const std::uint64_t size = s.col_u64(11);
      const std::int64_t expiry = s.col_int(14);
      const bool released = s.col_int(13) != 0;
      if (expiry > 0 && expiry <= now && !released) {
        // MQTT 5.0 §3.3.2.3.3: an expired message is not sent. A released row is the cloud's already.
        // The deletes of one read fit the WAL's room (the write budget): past it the read ends here, and
        // the destination is named for the listener, so its uplink reads again even if this read
        // returns nothing (storage/README.md "Space: the disk bound").
        if ((!ids.empty() && expired.size() >= kMaxExpiredPerRead) ||
            (!expired.empty() && expired_cost + size + kRowWriteOverhead > write_budget_)) {
          if (std::find(new_dests_.begin(), new_dests_.end(), o.dest) == new_dests_.end())
            new_dests_.push_back(o.dest);
          full = true;
          break;
        }
        expired_cost += size + kRowWriteOverhead;
        expired.push_back(Gone{s.col_u64(0), size});
        continue;
      }
      if (!o.skip_origins.empty() &&
          std::find(o.skip_origins.begin(), o.skip_origins.end(), s.col_view(1)) != o.skip_origins.end()) {
        if (++skipped >= kMaxSkippedPerRead) {
          visited_to = s.col_u64(0);  // this one was visited (left queued) too
          full = true;
          break;
        }
        continue;
      }
      if (!ids.empty() && bytes + size > o.max_bytes) {
        full = true;
        break;
      }
      bytes += size;
      OutboxRecord r;
      r.id = s.col_u64(0);
      r.msg.origin = s.col_str(1);
      r.origin_seq = s.col_u64(2);
      r.msg.lane = static_cast<std::uint8_t>(s.col_int(3));
      r.msg.topic = s.col_str(4);
      r.msg.payload = s.col_str(5);
      r.msg.properties = s.col_str(6);
      r.msg.qos = static_cast<std::uint8_t>(s.col_int(7));
      r.msg.retain = s.col_int(8) != 0;
      r.enqueued_unix = s.col_int(9);
      r.attempts = static_cast<std::uint32_t>(s.col_int(10));
      r.msg.dest = s.col_str(12);
      r.released = released;
      r.msg.expiry_unix = expiry;
      ids.push_back(r.id);
      out.push_back(std::move(r));
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return status_from_sqlite(rc);
  }
  if (scanned_to != nullptr) {
    *scanned_to = o.after_id;
    if (!o.lane && !full) {
      // Rows committed later get higher ids than every row there now: a read that walked every lane to
      // its end visited everything up to the last id.
      *scanned_to = std::max(o.after_id, std::min(o.up_to_id, c_.last_id));
    } else if (!o.lane) {
      // Cut on `lane`: lanes below it were walked to their end, this one up to visited_to; a lane above
      // it with queued rows was not walked at all (one index seek says whether there is one).
      StmtScope scope(next_lane_);
      next_lane_.bind_text(1, o.dest);
      next_lane_.bind(2, lane);
      const int rc = next_lane_.step();
      if (rc == SQLITE_DONE) {
        *scanned_to = std::max(o.after_id, visited_to);
      } else if (rc != SQLITE_ROW) {
        return status_from_sqlite(rc);
      }
    }
  }
  for (const Gone& g : expired) {
    Status st = remove(g.id, g.size, o.dest, DropReason::MessageExpired);
    if (st != Status::Ok) return st;
  }
  if (!o.mark_inflight) return Status::Ok;
  // Marked after the scan: the rows leave the partial index the scan was walking.
  Status st = mark_inflight(ids);
  if (st != Status::Ok) return st;
  for (OutboxRecord& r : out) {
    r.inflight = true;
    r.attempts += 1;
  }
  return Status::Ok;
}

Status OutboxTable::origins(const std::string& dest, std::uint64_t up_to_id, std::vector<std::string>& out) {
  StmtScope scope(origins_);
  origins_.bind_text(1, dest);
  origins_.bind_u64(2, up_to_id);
  int rc;
  while ((rc = origins_.step()) == SQLITE_ROW) out.push_back(origins_.col_str(0));
  return rc == SQLITE_DONE ? Status::Ok : status_from_sqlite(rc);
}

Status OutboxTable::mark_inflight(const std::vector<std::uint64_t>& ids) {
  // One statement per run of consecutive ids (a backlog of one uplink is one run per read), not per row:
  // a range holds exactly the ids asked for, so no other row is touched.
  for (std::size_t i = 0; i < ids.size();) {
    std::size_t j = i + 1;
    while (j < ids.size() && ids[j] == ids[j - 1] + 1) ++j;
    mark_.bind_u64(1, ids[i]);
    mark_.bind_u64(2, ids[j - 1]);
    int rc = mark_.run();
    if (rc != SQLITE_DONE) return status_from_sqlite(rc);
    i = j;
  }
  return Status::Ok;
}

Status OutboxTable::release(const std::vector<std::uint64_t>& ids, std::uint64_t* marked) {
  // Like mark_inflight: one statement per run of consecutive ids (PUBRECs come back in the order the
  // PUBLISHes went, so a window's are a few runs). `released` goes from 0 to 1, values SQLite's record
  // format stores in the header alone: the row keeps its size and no index holds the column.
  std::uint64_t n = 0;
  for (std::size_t i = 0; i < ids.size();) {
    std::size_t j = i + 1;
    while (j < ids.size() && ids[j] == ids[j - 1] + 1) ++j;
    release_.bind_u64(1, ids[i]);
    release_.bind_u64(2, ids[j - 1]);
    int rc = release_.run();
    if (rc != SQLITE_DONE) return status_from_sqlite(rc);
    n += static_cast<std::uint64_t>(sqlite3_changes64(db_->handle()));
    i = j;
  }
  if (marked) *marked = n;
  return Status::Ok;
}

Status OutboxTable::ack(const std::vector<IdRange>& ranges, std::uint64_t* deleted) {
  std::uint64_t n = 0;
  for (const IdRange& r : ranges) {
    StmtScope scope(delete_acked_);
    delete_acked_.bind_u64(1, r.first);
    delete_acked_.bind_u64(2, r.last);
    int rc;
    while ((rc = delete_acked_.step()) == SQLITE_ROW) {
      count_out(delete_acked_.col_view(1), delete_acked_.col_u64(0));
      c_.acked += 1;
      n += 1;
      deleted_in_tx_ = true;
    }
    if (rc != SQLITE_DONE) return status_from_sqlite(rc);
  }
  if (deleted) *deleted = n;
  return Status::Ok;
}

Status OutboxTable::requeue(const std::vector<IdRange>& ranges, std::uint64_t* requeued) {
  std::uint64_t n = 0;
  if (ranges.empty()) {
    int rc = requeue_all_.run();
    if (rc != SQLITE_DONE) return status_from_sqlite(rc);
    n = static_cast<std::uint64_t>(sqlite3_changes64(db_->handle()));
  }
  for (const IdRange& r : ranges) {
    requeue_range_.bind_u64(1, r.first);
    requeue_range_.bind_u64(2, r.last);
    int rc = requeue_range_.run();
    if (rc != SQLITE_DONE) return status_from_sqlite(rc);
    n += static_cast<std::uint64_t>(sqlite3_changes64(db_->handle()));
  }
  if (requeued) *requeued = n;
  return Status::Ok;
}

Status OutboxTable::requeue_dest(const std::string& dest, std::uint64_t* requeued) {
  requeue_dest_.bind_text(1, dest);
  int rc = requeue_dest_.run();
  if (rc != SQLITE_DONE) return status_from_sqlite(rc);
  if (requeued) *requeued = static_cast<std::uint64_t>(sqlite3_changes64(db_->handle()));
  return Status::Ok;
}

Result<OutboxBacklog, Status> OutboxTable::claim(const std::string& from, const std::string& to) {
  OutboxBacklog moved;
  // Nothing to move (the usual case at every start after the first): no table scan.
  if (from == to || !c_.dests.count(from)) return moved;
  {
    StmtScope scope(claim_);
    claim_.bind_text(1, from);
    claim_.bind_text(2, to);
    int rc;
    while ((rc = claim_.step()) == SQLITE_ROW) {
      moved.rows += 1;
      moved.bytes += claim_.col_u64(0);
    }
    if (rc != SQLITE_DONE) return unexpected(status_from_sqlite(rc));
  }
  // Every row of `from` moved; the totals do not change.
  c_.dests.erase(from);
  if (moved.rows > 0) {
    OutboxBacklog& dst = c_.dests[to];
    dst.rows += moved.rows;
    dst.bytes += moved.bytes;
  }
  return moved;
}

Status OutboxTable::prune_dest_age(const std::string& dest, std::int64_t max_age_s, std::uint64_t& n) {
  const std::int64_t cutoff = clock_.unix_seconds() - max_age_s;
  std::int64_t lane = -1;
  for (;;) {
    {
      StmtScope scope(next_lane_);
      next_lane_.bind_text(1, dest);
      next_lane_.bind(2, lane);
      int rc = next_lane_.step();
      if (rc == SQLITE_DONE) return Status::Ok;
      if (rc != SQLITE_ROW) return status_from_sqlite(rc);
      lane = next_lane_.col_int(0);
    }
    std::uint64_t after = 0;
    bool done = false;
    while (!done) {
      std::vector<std::pair<std::uint64_t, std::uint64_t>> victims;  // id, size
      std::size_t seen = 0;
      {
        StmtScope scope(age_walk_);
        age_walk_.bind_text(1, dest);
        age_walk_.bind(2, lane);
        age_walk_.bind_u64(3, after);
        int rc;
        while ((rc = age_walk_.step()) == SQLITE_ROW) {
          seen += 1;
          after = age_walk_.col_u64(0);
          if (age_walk_.col_int(2) >= cutoff) {
            done = true;
            break;
          }
          if (age_walk_.col_int(3) == 0) victims.emplace_back(after, age_walk_.col_u64(1));
        }
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) return status_from_sqlite(rc);
      }
      if (seen == 0) done = true;
      for (const auto& [id, size] : victims) {
        if (prune_budget_spent(size)) return Status::Ok;
        Status st = remove(id, size, dest, DropReason::QuotaAge);
        if (st != Status::Ok) return st;
        n += 1;
      }
    }
  }
}

bool OutboxTable::prune_budget_spent(std::uint64_t size) {
  if (prune_more_ || (prune_cost_ > 0 && prune_cost_ + size + kRowWriteOverhead > write_budget_)) {
    prune_more_ = true;
    return true;
  }
  prune_cost_ += size + kRowWriteOverhead;
  return false;
}

Status OutboxTable::prune_expired(std::uint64_t* removed) {
  std::uint64_t n = 0;
  if (removed) *removed = 0;
  prune_cost_ = 0;
  prune_more_ = false;
  for (const auto& [dest, q] : limits_.quotas) {
    if (q.max_age_s <= 0 || !c_.dests.count(dest)) continue;
    Status st = prune_dest_age(dest, q.max_age_s, n);
    if (st != Status::Ok) return st;
  }
  if (removed) *removed = n;
  if (limits_.max_age_s <= 0) return Status::Ok;
  const std::int64_t cutoff = clock_.unix_seconds() - limits_.max_age_s;
  std::uint64_t after = 0;
  bool done = false;
  while (!done) {
    struct Victim {
      std::uint64_t id;
      std::uint64_t size;
      std::string dest;
    };
    std::vector<Victim> victims;
    std::size_t seen = 0;
    {
      StmtScope scope(scan_);
      scan_.bind_u64(1, after);
      int rc;
      while ((rc = scan_.step()) == SQLITE_ROW) {
        seen += 1;
        after = scan_.col_u64(0);
        if (scan_.col_int(2) >= cutoff) {
          done = true;
          break;
        }
        if (scan_.col_int(3) == 0 && scan_.col_int(5) == 0)
          victims.push_back(Victim{after, scan_.col_u64(1), scan_.col_str(4)});
      }
      if (rc != SQLITE_ROW && rc != SQLITE_DONE) return status_from_sqlite(rc);
    }
    if (seen == 0) done = true;
    for (const Victim& v : victims) {
      if (prune_budget_spent(v.size)) {
        done = true;
        break;
      }
      delete_one_.bind_u64(1, v.id);
      int rc = delete_one_.run();
      if (rc != SQLITE_DONE) return status_from_sqlite(rc);
      count_out(v.dest, v.size);
      c_.drops[static_cast<std::size_t>(DropReason::Expired)] += 1;
      n += 1;
      deleted_in_tx_ = true;
    }
  }
  if (removed) *removed = n;
  return Status::Ok;
}

}  // namespace gw::storage
