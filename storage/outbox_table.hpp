// The outbox table: messages bound for the cloud, kept until the cloud acknowledges them. Runs on the
// storage thread inside the store's batch transaction; it never commits. It owns the outbox's
// in-memory counters (rows, bytes, per-destination backlog, per-origin sequence numbers, drops) and
// rolls them back with the transaction. Order is by id (assigned at insert, ascending), never by time.
//
// Columns: id (never reused), origin, origin_seq (1, 2, ... per origin), lane (0 = highest priority),
// dest (the uplink the row is for; '' = none named), topic, payload, properties, qos, retain,
// enqueued_unix (wall clock, for the age bound only), size (bytes counted against max_bytes), state
// (0 queued, 1 in flight), attempts (times marked in flight), released (1 once the cloud answered PUBREC
// to a QoS 2 send: the uplink then sends PUBREL for the row, not the PUBLISH; only set, never cleared,
// and gone with the row).
//
// Destinations share the bounds: max_rows, max_bytes, max_age_s and the full policy apply to the whole
// table, and drop_oldest picks the oldest queued row of the lowest-priority lane whatever its
// destination. A destination's quota (OutboxLimits::quotas) bounds its own rows first, with its own policy,
// so one uplink that stays away long cannot push the others' rows out (see storage/README.md, "The
// outbox"). A released row is never dropped (by a bound, an age or message expiry); expiry_unix (MQTT 5
// message expiry) is checked when rows are read.
//
// Flash wear: a durable enqueue touches only the outbox b-tree and its index. The high-water marks that
// keep ids and per-origin sequences from being reused (outbox_meta.last_id, outbox_origin.last_seq) are
// written only by transactions that delete rows; at load each is max(persisted, highest row left).
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "gateway/base/clock.hpp"
#include "gateway/base/result.hpp"
#include "storage/records.hpp"
#include "storage/sqlite_db.hpp"
#include "storage/status.hpp"

namespace gw::storage {

class OutboxTable {
 public:
  // Backlog per destination; a destination without rows has no entry.
  using Backlogs = std::map<std::string, OutboxBacklog, std::less<>>;

 private:
  struct Counters {
    std::uint64_t rows = 0;  // the totals: the sums over `dests`
    std::uint64_t bytes = 0;
    Backlogs dests;
    std::map<std::string, OutboxDestDrops, std::less<>> dest_drops;  // never erased: counters since open
    std::uint64_t enqueued = 0;
    std::uint64_t acked = 0;
    std::uint64_t last_id = 0;
    DropCounters drops{};
  };

 public:
  struct Mark {
    Counters c;
    std::size_t log_size = 0;
  };

  OutboxTable(const OutboxLimits& limits, const Clock& clock) : limits_(limits), clock_(clock) {}

  Status prepare(Db& db);
  // Reads the counters and the per-origin sequences, and returns rows left in flight by the previous
  // run to the queue (the cloud connection they were sent on is gone). Runs its own transaction.
  Status load(std::uint64_t* requeued = nullptr);

  // Transaction hooks, called by the store around each batch; mark()/rollback_to() bracket one request
  // inside a savepoint. A rollback keeps the count of refusals (they happened whatever became of it).
  void begin();
  Status before_commit();  // writes the high-water marks if this transaction deleted rows
  void committed();
  void rolled_back();
  Mark mark() const;
  void rollback_to(const Mark& m);

  // Applies the bound and the full policy, then inserts. QuotaExceeded when refused.
  Result<OutboxEnqueued, Status> enqueue(const OutboxMessage& m);
  // Queued rows of o.dest in (lane, id) order; marks them in flight when the options say so. `scanned_to`
  // (may be null): the highest id up to which this read visited every queued row of o.dest in its range,
  // on every lane (returned, left out by skip_origins, or deleted as expired); o.after_id when it cannot
  // say (a read cut short on a lane below another lane with queued rows, or a read of one lane). Expired
  // rows it meets are deleted, their bytes (and a row's overhead) at most the write budget per read.
  Status read(const OutboxReadOptions& o, std::vector<OutboxRecord>& out,
              std::uint64_t* scanned_to = nullptr);
  // What one read may delete (the store gives half its WAL share: storage/README.md "Space").
  void set_write_budget(std::uint64_t bytes) { write_budget_ = std::max<std::uint64_t>(1, bytes); }
  Status mark_inflight(const std::vector<std::uint64_t>& ids);
  // The distinct origins of dest's queued rows with id <= up_to_id.
  Status origins(const std::string& dest, std::uint64_t up_to_id, std::vector<std::string>& out);
  // Sets released on the rows with these ids, queued or in flight; an id without a row (acknowledged,
  // dropped, expired) is skipped. `marked` counts the rows that were not released before.
  Status release(const std::vector<std::uint64_t>& ids, std::uint64_t* marked = nullptr);
  // Deletes the in-flight rows in the ranges (the cloud acknowledged them).
  Status ack(const std::vector<IdRange>& ranges, std::uint64_t* deleted = nullptr);
  // In-flight rows in the ranges go back to the queue; an empty list means every in-flight row of every
  // destination (the single-uplink form; requeue_dest is the per-uplink one).
  Status requeue(const std::vector<IdRange>& ranges, std::uint64_t* requeued = nullptr);
  // Every in-flight row of one destination goes back to the queue.
  Status requeue_dest(const std::string& dest, std::uint64_t* requeued = nullptr);
  // Every row of `from` (queued or in flight) now belongs to `to`; returns what moved.
  Result<OutboxBacklog, Status> claim(const std::string& from, const std::string& to);
  // Removes queued rows older than max_age_s, walking in id order and stopping at the first row young
  // enough (so a wall clock stepped backwards can only keep rows longer, never drop them early); then, for
  // each destination with a quota max_age_s, the same walk over its own rows, lane by lane. A released
  // row (QoS 2: the cloud has it) is never removed. One call deletes at most the write budget (their bytes
  // plus an overhead a row, at least one row); prune_more() then says the next call has more to do.
  Status prune_expired(std::uint64_t* removed = nullptr);
  bool prune_more() const { return prune_more_; }

  std::uint64_t rows() const { return c_.rows; }
  std::uint64_t bytes() const { return c_.bytes; }
  OutboxBacklog backlog(std::string_view dest) const;
  const Backlogs& backlogs() const { return c_.dests; }
  std::uint64_t enqueued_total() const { return c_.enqueued; }
  std::uint64_t acked_total() const { return c_.acked; }
  const DropCounters& drops() const { return c_.drops; }
  OutboxDestDrops dest_drops(std::string_view dest) const;
  const std::map<std::string, OutboxDestDrops, std::less<>>& all_dest_drops() const { return c_.dest_drops; }
  std::uint64_t last_id() const { return c_.last_id; }
  const OutboxLimits& limits() const { return limits_; }
  // The destinations that enqueues since the last call gave rows to (the listener's wake-up list; a
  // rolled-back enqueue may leave a name here: one needless read).
  std::vector<std::string> take_new_dests() { return std::exchange(new_dests_, {}); }

  static std::uint64_t size_of(const OutboxMessage& m) {
    return m.origin.size() + m.topic.size() + m.payload.size() + m.properties.size();
  }

 private:
  // NotFound-like result: false when nothing queued could be dropped. `only`: that destination's rows
  // (its quota), else every destination's (the global bound).
  Result<bool, Status> drop_oldest(DropReason reason, const std::string* only = nullptr);
  // The destination's quota, or null when it has none.
  const OutboxQuota* quota_of(std::string_view dest) const;
  // Applies the destination's quota to a new row of `size` bytes: Ok(true) = write it, Ok(false) = its
  // reject_new refused it (counted).
  Result<bool, Status> apply_quota(const std::string& dest, std::uint64_t size);
  // Deletes one row found by a walk (age, quota age, message expiry) and counts it.
  Status remove(std::uint64_t id, std::uint64_t size, const std::string& dest, DropReason reason);
  Status prune_dest_age(const std::string& dest, std::int64_t max_age_s, std::uint64_t& n);
  // Whether deleting a row of `size` would pass the write budget of this prune (then prune_more_).
  bool prune_budget_spent(std::uint64_t size);
  // Count one row of `size` bytes in or out, in the totals and in its destination's backlog.
  void count_in(std::string_view dest, std::uint64_t size);
  void count_out(std::string_view dest, std::uint64_t size);
  std::uint64_t next_origin_seq(const std::string& origin);

  OutboxLimits limits_;
  const Clock& clock_;
  Db* db_ = nullptr;
  Counters c_;
  Mark base_;
  std::unordered_map<std::string, std::uint64_t> origin_seq_;
  // Every per-origin increment of the open transaction with the value before it (0 = absent before),
  // to undo in reverse.
  std::vector<std::pair<std::string, std::uint64_t>> origin_log_;
  // Origins whose sequence moved since the high-water marks were last written, and whether the open
  // transaction deleted rows (so must write them).
  std::unordered_set<std::string> unpersisted_;
  std::vector<std::string> new_dests_;
  std::uint64_t write_budget_ = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t prune_cost_ = 0;  // what the prune running now deleted, counted as for the budget
  bool prune_more_ = false;       // the last prune stopped at the budget
  bool deleted_in_tx_ = false;
  bool persisted_in_tx_ = false;

  Stmt insert_, select_ready_, select_ready_lane_, mark_, release_, delete_acked_, requeue_range_,
      requeue_all_;
  Stmt requeue_dest_, claim_, max_lane_, oldest_in_lane_, delete_one_, scan_, origin_upsert_, meta_upsert_;
  Stmt next_lane_, select_range_, age_walk_, origins_;
};

}  // namespace gw::storage
