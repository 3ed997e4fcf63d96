// The store: one SQLite database (WAL) owned by one storage thread. The loop thread submits requests
// through a bounded queue and gets its answers as completions that run ON THE LOOP THREAD (through a
// uv_async_t on its loop) after the transaction that carried the request committed. Writes of a short
// window share one transaction (group commit). This header is the whole public API of storage/.
//
// What is durable when (see storage/README.md for the long form):
//  - A request with a completion is durable when its completion runs with Status::Ok: its transaction
//    committed. With synchronous=normal (WAL) it survives a crash of the process; with synchronous=full
//    it also survives a power loss. Acknowledge a QoS >= 1 PUBLISH only from that completion.
//  - A write without a completion (QoS 0 outbox messages unless qos0_durable, acks, history) rides with
//    the next transaction within lazy_window; it may be lost if the process dies before that.
//  - A completion with an error status means nothing of that request was written.
//
// Thread rules: every public method may be called from any thread, but completions run only on the
// thread that runs the attached loop (or calls run_completions()). close() must be called on that
// thread. The sync calls (load_*, *_sync, flush) block the caller until the storage thread answers;
// they are meant for startup, shutdown and tests, not for the loop while it serves.
#pragma once

#include <uv.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "gateway/base/clock.hpp"
#include "gateway/base/result.hpp"
#include "storage/completion_queue.hpp"
#include "storage/counting_vfs.hpp"
#include "storage/feed_records.hpp"
#include "storage/open.hpp"
#include "storage/records.hpp"
#include "storage/request_queue.hpp"
#include "storage/space.hpp"
#include "storage/sqlite_db.hpp"
#include "storage/status.hpp"

namespace gw::storage {

// Every option with its YAML key (store.*) and default; documented in storage/README.md.
struct StoreOptions {
  std::string path = "netpie-edge.db";                // store.path (the daemon puts it in state_dir)
  Synchronous synchronous = Synchronous::Normal;      // store.synchronous: normal | full
  std::chrono::microseconds commit_window{2000};      // store.commit_window_ms: 2
  std::uint32_t commit_max_rows = 1000;               // store.commit_max_rows: 1000
  std::chrono::milliseconds lazy_window{100};         // store.lazy_window_ms: 100
  bool qos0_durable = false;                          // store.qos0_durable: false
  std::size_t queue_max_requests = 65536;             // store.queue_max_requests
  std::size_t queue_max_bytes = 32ull * 1024 * 1024;  // store.queue_max_bytes
  std::uint64_t max_db_bytes =
      1024ull * 1024 * 1024;               // store.max_db_bytes: db + WAL + shm + reserve (0 = no cap)
  std::uint32_t cache_kib = 4096;          // store.cache_kib
  std::uint32_t checkpoint_pages = 1000;   // store.checkpoint_pages
  std::uint32_t vacuum_free_pages = 1024;  // store.vacuum_free_pages (0 = never)
  std::chrono::milliseconds maintenance_interval{1000};  // store.maintenance_interval_ms
  std::chrono::milliseconds retry_backoff{250};          // store.retry_backoff_ms
  std::chrono::milliseconds retry_give_up{600000};       // store.retry_give_up_ms (10 min)
  OutboxLimits outbox;     // store.outbox.{max_rows, max_bytes, max_age_s, policy}
  HistoryOptions history;  // store.history.{topics, max_age_s, max_rows}
  FeedOptions feeds;       // store.feeds.* (storage/README.md "Feeds")
};

// Upper bounds (microseconds) of the commit latency histogram's buckets (StoreStats::commit_us): the
// time of one batch transaction, BEGIN to COMMIT (fsync included), as the storage thread saw it.
inline constexpr std::array<std::uint64_t, 12> kCommitLatencyBoundsUs{
    250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000};

// Counters that add up. Outbox, since open():
//   outbox_rows_at_open + outbox_enqueued = outbox_rows + outbox_acked + dropped_oldest_* + expired
// (rejected_full counts messages that never entered). outbox_rows and outbox_bytes are the totals over
// every destination: the sums of Store::outbox_backlog over the destinations outbox_dests lists.
struct StoreStats {
  std::uint64_t transactions = 0;  // committed batch transactions
  // Committed transactions by duration: commit_us[i] counts those <= kCommitLatencyBoundsUs[i] (not
  // cumulative), the last slot those above every bound; commit_us_sum is their total duration.
  std::array<std::uint64_t, kCommitLatencyBoundsUs.size() + 1> commit_us{};
  std::uint64_t commit_us_sum = 0;
  std::uint64_t failed_transactions = 0;  // rolled back (disk full, read-only, I/O error ...)
  Status last_error = Status::Ok;         // of the latest failed transaction
  bool degraded = false;                  // the latest batch had writes refused (disk full ...)
  std::uint64_t requests = 0;             // requests applied in committed transactions
  std::uint64_t queue_full = 0;           // submissions refused with QueueFull
  std::uint64_t retry_dropped = 0;        // fire-and-forget writes given up (retry_give_up, or bound)
  std::uint64_t internal_errors = 0;      // requests that failed for a reason that is a bug (logged)
  std::uint32_t page_size = 4096;
  std::uint64_t bytes_written = 0;   // every byte SQLite wrote to the database, WAL and journal files
  std::uint64_t syncs = 0;           // fsync calls on them
  std::uint64_t wal_frames = 0;      // pages appended to the WAL (each is page_size + 24 bytes)
  std::uint64_t checkpoints = 0;     // checkpoints run (the WAL copied back into the database file)
  std::uint64_t vacuumed_pages = 0;  // pages returned to the file system by incremental_vacuum
  // The disk bound (storage/README.md "Space: the disk bound"), as of the last batch.
  std::uint64_t disk_bytes = 0;        // database + WAL + shm + reserve file, as the file system charges
  std::uint64_t disk_max_pages = 0;    // the page cap now (PRAGMA max_page_count)
  std::uint64_t wal_share = 0;         // a TRUNCATE checkpoint runs past this many WAL bytes
  std::uint64_t reserve_bytes = 0;     // the reserve file's size when present
  bool reserve_present = false;        // false while released (the file system filled up)
  std::uint64_t reserve_releases = 0;  // times the reserve was released for a checkpoint
  std::uint64_t batches_split = 0;     // batches too large for the WAL's room, committed in parts
  std::uint64_t requests_split = 0;    // single requests too large for it, committed in parts
  std::uint64_t outbox_rows_at_open = 0;
  std::uint64_t outbox_rows = 0;
  std::uint64_t outbox_bytes = 0;
  std::uint64_t outbox_enqueued = 0;
  std::uint64_t outbox_acked = 0;
  DropCounters outbox_drops{};       // indexed by DropReason
  std::uint64_t outbox_last_id = 0;  // the highest id ever given (the uplinks' backlog mark at connect)
  std::uint64_t history_rows = 0;
  std::uint64_t history_pruned = 0;
  FeedCounts feeds;  // raw feed points held, written, replaced, pruned
};

struct Tables;

class Store {
 public:
  using Done = std::function<void(Status)>;
  using EnqueueDone = std::function<void(Result<OutboxEnqueued, Status>)>;
  using ReadDone = std::function<void(Result<std::vector<OutboxRecord>, Status>)>;
  using ScanDone = std::function<void(Result<OutboxScan, Status>)>;
  using KvDone = std::function<void(Result<std::optional<std::string>, Status>)>;
  using HistoryDone = std::function<void(Result<std::vector<HistoryRecord>, Status>)>;
  using ClaimDone = std::function<void(Result<OutboxBacklog, Status>)>;
  using DestsDone = std::function<void(Result<std::vector<OutboxDest>, Status>)>;
  using SessionReadDone = std::function<void(Result<std::vector<SessionMessage>, Status>)>;
  using SessionDropDone = std::function<void(Result<SessionQueued, Status>)>;
  using FeedDone = std::function<void(Result<FeedResult, Status>)>;
  using HistoryPageDone = std::function<void(Result<HistoryPage, Status>)>;

  // Opens (creating if needed), checks (PRAGMA quick_check), migrates and loads the counters, then
  // starts the storage thread. A damaged file is refused: OpenError says which file and how to recover
  // it. `clock` must outlive the store; it gives enqueue and history times (wall clock, age bounds only).
  static Result<std::unique_ptr<Store>, OpenError> open(StoreOptions options, const Clock& clock);
  ~Store();  // close()
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Completions run on this loop from now on (call on the loop thread). Without attach(), completions
  // wait for run_completions().
  Status attach(uv_loop_t* loop);
  // Drains the queue (everything submitted commits or fails), stops the thread, runs the remaining
  // completions on the calling thread and closes the uv_async_t (run the loop once more to free it).
  void close();

  // ---- Startup and tools: synchronous, blocking -----------------------------------------------------
  // Sessions whose expiry passed (by the clock's wall time) are deleted first, and counted in the log.
  // Each record has the rows that are not Queued and at most `max_queued` Queued rows (the rest are
  // counted in SessionRecord::queued and read later with session_queue_read). `expired`: the client ids
  // of the sessions deleted, when given (their end is reported to the broker's extensions).
  Result<std::vector<SessionRecord>, Status> load_sessions(std::uint32_t max_queued = UINT32_MAX,
                                                           std::vector<std::string>* expired = nullptr);
  Result<std::vector<RetainedMessage>, Status> load_retained();
  Result<std::optional<std::string>, Status> kv_get_sync(const std::string& key);
  Result<std::vector<std::pair<std::string, std::string>>, Status> kv_scan_sync(const std::string& prefix);
  // Waits until everything submitted before has committed (or failed); returns the last batch status.
  Status flush();
  // The asynchronous flush: `done` runs on the loop thread once every request submitted before it has
  // committed (Ok) or failed (the failing batch's status). Requests commit in submission order, so an
  // Ok here makes every earlier write durable. Never refused by the queue bound (it carries no data).
  Status barrier(Done done);

  // ---- Outbox (uplink) -------------------------------------------------------------------------------
  // Every submit returns Ok (queued; the completion will run exactly once), QueueFull or Stopped (not
  // queued; the completion will never run). A destination name that fails valid_dest() is a bug in the
  // caller: the submit returns Internal and nothing is queued.
  //
  // Each row belongs to one destination (OutboxMessage::dest, an uplink name; '' = none named). Reads,
  // requeue_all and the backlog are per destination; ids are global, so ack and requeue by id ranges
  // need none. The bounds and the full policy are global across destinations (storage/README.md).
  //
  // Enqueue: durable when the completion reports Ok; QuotaExceeded when the outbox is full and the
  // policy is reject_new (answer MQTT 5 PUBACK 0x97). QoS >= 1, or a given completion, or qos0_durable
  // selects the commit window; a QoS 0 message without completion rides the lazy window.
  Status outbox_enqueue(OutboxMessage msg, EnqueueDone done = {});
  // Queued rows of options.dest in lane order, then id order (so in order per origin within a lane); by
  // default marked in flight in the same transaction, so two reads never return the same row.
  Status outbox_read(OutboxReadOptions options, ReadDone done);
  // The same read, answering also where it got to (OutboxScan::scanned_to).
  Status outbox_scan(OutboxReadOptions options, ScanDone done);
  Status outbox_mark_inflight(std::vector<std::uint64_t> ids, Done done = {});
  // QoS 2 to the cloud: the cloud answered PUBREC for these ids (it owns the messages now). Sets the
  // rows' `released` mark, queued or in flight, so that after a reconnect or a restart the uplink sends
  // PUBREL for them, not the PUBLISH again. Call with a completion and send PUBREL only from it with
  // Status::Ok: the mark is durable then (its batch closes within kReleaseGather, 300 us, not the commit
  // window). An id without a row (acknowledged or dropped meanwhile) is not an error. Requeue,
  // requeue_all, claim and the restart keep the mark; ack deletes the row with it; drop_oldest and the
  // age bound never take a released row (storage/README.md "Released").
  Status outbox_release(std::vector<std::uint64_t> ids, Done done = {});
  // The cloud acknowledged these ids: their in-flight rows are deleted. Pass ranges of acknowledged ids
  // only (to_ranges() builds them); queued rows inside a range are never touched.
  Status outbox_ack(std::vector<IdRange> ranges, Done done = {});
  // A send failed: in-flight rows in the ranges go back to the queue, whatever their destination. An
  // empty list means every in-flight row of EVERY destination: the single-uplink form, kept for the
  // callers written before destinations; an uplink among several uses outbox_requeue_all(dest).
  Status outbox_requeue(std::vector<IdRange> ranges, Done done = {});
  // The connection of uplink `dest` is gone: every in-flight row of `dest` goes back to the queue; the
  // rows other uplinks have in flight stay in flight.
  Status outbox_requeue_all(std::string dest, Done done = {});
  // Every row of `from_dest`, queued or in flight, now belongs to `to_dest` (UPDATE outbox SET dest =
  // to WHERE dest = from); the completion gets what moved. For startup, before the uplinks read: give
  // the rows written before destinations existed (dest '') to the first configured uplink, or take the
  // rows of an uplink removed from the config from it. Costs a table scan unless from_dest has no rows.
  Status outbox_claim(std::string from_dest, std::string to_dest, ClaimDone done = {});
  // The destinations that have rows (queued or in flight), with their backlog, sorted by name; after
  // everything submitted before it. For the startup warning about rows whose uplink is not configured.
  Status outbox_dests(DestsDone done);
  // The distinct origins of one destination's queued rows with ids up to `up_to_id` (an uplink's backlog
  // when it came online: live-first replay with per_origin order). Walks those rows once.
  using OriginsDone = std::function<void(Result<std::vector<std::string>, Status>)>;
  Status outbox_origins(std::string dest, std::uint64_t up_to_id, OriginsDone done);
  // Applies the age bound now (also done every maintenance_interval).
  Status outbox_prune(Done done = {});
  // Runs on the loop thread after each commit that added outbox rows, with the highest id committed and
  // the destinations that got rows: the cue to read for those uplinks only. Set before attach().
  using OutboxListener = std::function<void(std::uint64_t last_id, const std::vector<std::string>& dests)>;
  void set_outbox_listener(OutboxListener listener);

  // ---- Persistent sessions (broker) ------------------------------------------------------------------
  Status session_save(SessionRecord record, Done done = {});  // replaces the whole session
  Status session_put_meta(SessionMeta meta, Done done = {});
  Status session_delete(std::string client_id, Done done = {});
  Status session_subscribe(std::string client_id, Subscription sub, Done done = {});
  Status session_unsubscribe(std::string client_id, std::string filter, Done done = {});
  Status session_message_put(std::string client_id, SessionMessage msg, Done done = {});  // upsert by seq
  Status session_message_update(std::string client_id, std::uint64_t seq, MessageState state,
                                std::uint16_t packet_id, Done done = {});
  Status session_message_delete(std::string client_id, std::uint64_t seq, Done done = {});
  // A session's queue beyond what the broker keeps in memory: up to max_rows Queued rows with seq >
  // after_seq, in seq order, as of everything submitted before (the read closes the batch at once).
  Status session_queue_read(std::string client_id, std::uint64_t after_seq, std::uint32_t max_rows,
                            SessionReadDone done);
  // drop_oldest on a session's queue: deletes the `rows` oldest Queued rows with seq > after_seq; the
  // completion (optional) gets the rows and bytes deleted.
  Status session_queue_drop(std::string client_id, std::uint64_t after_seq, std::uint32_t rows,
                            SessionDropDone done = {});

  // ---- Retained messages (broker) --------------------------------------------------------------------
  Status retained_set(RetainedMessage msg, Done done = {});  // an empty payload clears the topic
  Status retained_clear(std::string topic, Done done = {});

  // ---- Key/value (tokens) ----------------------------------------------------------------------------
  Status kv_put(std::string key, std::string value, Done done = {});
  Status kv_erase(std::string key, Done done = {});
  Status kv_get(std::string key, KvDone done);

  // ---- Local history ---------------------------------------------------------------------------------
  // Whether the topic matches a history filter (pure, any thread). Call before history_record.
  bool history_wants(std::string_view topic) const;
  Status history_record(HistoryMessage msg, Done done = {});
  Status history_query(HistoryQuery query, HistoryDone done);
  Status history_prune(Done done = {});
  // A page for readers that resume (GET /history): rows with seq > query.from_seq matching the topic
  // filter and time range, at most query.limit of them, after reading at most `max_scan` rows; the page
  // says the last seq it read, so the next page starts there.
  Status history_page(HistoryQuery query, std::uint64_t max_scan, HistoryPageDone done);

  // ---- Feeds (storage/README.md "Feeds") ---------------------------------------------------------------
  // One point per field at one time, with the rollups it changes; durable when `done` reports Ok (the
  // commit window, like every write someone waits on). QuotaExceeded: the feed would pass
  // store.feeds.max_fields_per_feed (nothing written). Without `done` it rides the lazy window.
  Status feed_write(FeedWrite write, Done done = {});
  // A read on the storage thread, after everything submitted before it; a query over its bounds comes
  // back Ok with FeedResult::too_many set and no series.
  Status feed_query(FeedQuery query, FeedDone done);

  // ---- Observation -----------------------------------------------------------------------------------
  StoreStats stats() const;
  // Rows and bytes of one destination's backlog as of the last batch (queued or in flight), from memory:
  // cheap on any thread ($SYS backlog topics). A destination without rows gives {0, 0}.
  OutboxBacklog outbox_backlog(std::string_view dest) const;
  // What a destination's quota and message expiry removed or refused since the store opened (from memory,
  // as of the last batch; any thread).
  OutboxDestDrops outbox_dest_drops(std::string_view dest) const;
  // Runs the completions posted so far on the calling thread (when no loop is attached); returns how
  // many ran. wait_completions blocks until at least one is posted or the timeout passes.
  std::size_t run_completions();
  bool wait_completions(std::chrono::milliseconds timeout);
  const StoreOptions& options() const { return options_; }
  const std::string& path() const { return options_.path; }

 private:
  Store(StoreOptions options, const Clock& clock);
  Result<bool, OpenError> init();
  Status submit(Request&& r);
  Request make(bool durable, std::size_t bytes) const;
  // A read that a caller waits for: closes the batch at once; `read` fills the rows (cleared first, as
  // a failed batch is applied again request by request).
  template <typename T>
  Status submit_read(std::size_t bytes, std::function<Status(Tables&, std::vector<T>&)> read,
                     std::function<void(Result<std::vector<T>, Status>)> done);
  // The same for a read that answers one value (cleared first, for the same reason).
  template <typename T>
  Status submit_value(std::size_t bytes, std::function<Status(Tables&, T&)> read,
                      std::function<void(Result<T, Status>)> done);
  template <typename T>
  Status submit_result(bool durable, std::size_t bytes, std::function<Result<T, Status>(Tables&)> work,
                       std::function<void(Result<T, Status>)> done);
  template <typename T>
  // `first`: when the work alone does not fit the WAL's room, the parts to commit before it
  // (Request::divide).
  Result<T, Status> call_sync(std::function<Result<T, Status>(Tables&)> work,
                              std::function<std::vector<Request>(Tables&)> first = {});

  void run();                                 // the storage thread
  void execute(std::vector<Request>& batch);  // one transaction (two after a failure)
  // In salvage mode, a request whose failure made SQLite roll the whole transaction back by itself is
  // named in `culprit` (its index; batch.size() if none), so the batch can run again without it.
  // Requests whose `excluded` status is not Ok are skipped and keep it.
  Status run_transaction(std::vector<Request>& batch, std::vector<Status>& status, bool salvage,
                         std::string& error_text, const std::vector<Status>& excluded, std::size_t& culprit);
  // A batch whose COMMIT failed for room as a whole (the WAL could not grow by all the pages the batch
  // rewrote: a drain's acks and reads on a full file system) is committed in parts: the requests of
  // [lo, hi) not excluded in one transaction after a TRUNCATE checkpoint, halved again while a part of
  // more than one request fails the same way and the file system has room for a commit at all. Each
  // request's outcome goes to `status`; true when some part committed.
  bool commit_in_parts(std::vector<Request>& batch, std::vector<Status>& status, std::string& error_text,
                       std::vector<Status>& excluded, std::size_t lo, std::size_t hi);
  // One request that failed for room alone and can be divided (Request::divide): its parts in
  // transactions of their own, in order, each after a TRUNCATE checkpoint, a part divided again while it
  // fails the same way. Stops at the first part that fails and returns its status (the parts before it
  // stay committed: the request's operations are idempotent, so its retry redoes only what is left).
  Status commit_divided(Request& whole, std::string& error_text);
  // After a TRUNCATE checkpoint: whether the file system has room for a commit of a few WAL frames.
  bool room_for_a_commit();
  void maintain();  // prune, checkpoint, vacuum
  void checkpoint_if_needed();
  // The disk bound: measures the files and the file system and moves the page cap (before each batch
  // and at maintenance); checkpoint_truncate releases the reserve first when the file system has no
  // room for the checkpoint, and takes it back once there is.
  void update_space();
  bool checkpoint_truncate();
  void restore_reserve();
  void run_checkpointer();  // the checkpointer thread
  void note_failure(Status s, const std::string& detail);
  void publish_stats();
  static int wal_hook(void* self, sqlite3* db, const char* name, int frames);

  StoreOptions options_;
  const Clock& clock_;
  std::unique_ptr<CountingVfs> vfs_;  // declared before db_: outlives the connection
  Db db_;
  std::unique_ptr<Tables> tables_;
  RequestQueue queue_;
  CompletionQueue completions_;
  std::thread thread_;
  std::atomic<bool> closed_{false};
  OutboxListener outbox_listener_;

  // Storage thread only.
  std::vector<Request> retry_;
  Stmt begin_, commit_, rollback_, savepoint_, release_, rollback_to_, freelist_, vacuum_;
  bool last_batch_failed_ = false;
  std::uint64_t wal_frames_now_ = 0;  // frames in the current WAL generation
  std::uint64_t failures_in_row_ = 0;
  std::chrono::steady_clock::time_point last_failure_log_{};
  // The last ERROR line: a failure of the same status within 10 s of it is counted, not logged.
  std::chrono::steady_clock::time_point last_error_log_{};
  Status last_error_status_ = Status::Ok;
  bool episode_logged_ = false;  // the failure going on now had its ERROR line (so gets its INFO line)
  std::uint64_t unlogged_failures_ = 0;
  std::chrono::steady_clock::time_point next_maintenance_{};
  std::string reserve_path_;
  SpaceShares shares_;

  mutable std::mutex stats_mutex_;
  StoreStats stats_;       // storage thread writes a copy here after each batch
  StoreStats work_stats_;  // storage thread's own copy
  // The outbox backlog per destination, published with stats_ (written under stats_mutex_ by the
  // storage thread only, which may therefore read it without the lock).
  std::map<std::string, OutboxBacklog, std::less<>> backlogs_;
  std::map<std::string, OutboxDestDrops, std::less<>> dest_drops_;  // the same way
  std::atomic<std::uint64_t> queue_full_{0};
  std::atomic<std::uint64_t> checkpoints_{0};

  // The checkpointer: its own connection and thread, woken by the storage thread.
  Db ckpt_db_;
  std::thread ckpt_thread_;
  std::mutex ckpt_m_;
  std::condition_variable ckpt_cv_;
  bool ckpt_wanted_ = false;
  bool ckpt_stop_ = false;
};

}  // namespace gw::storage
