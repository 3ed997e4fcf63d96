// Implementation of the store: the storage thread's loop (gather a batch, apply it in one transaction,
// commit, post completions), failure handling (roll back, report, retry later), and maintenance
// (age prune, WAL checkpoint, incremental vacuum). Only the storage thread touches db_ and tables_
// once open() returned.
#include "storage/store.hpp"

#include <algorithm>
#include <filesystem>
#include <future>
#include <iterator>

#include "gateway/base/log.hpp"
#include "storage/tables.hpp"

namespace gw::storage {
namespace {

using SteadyTime = std::chrono::steady_clock;

// A commit writes at least a leaf page, the pages above it and the WAL frame header: below this much
// room no part of a batch can commit, and splitting it further would only repeat the failure.
constexpr std::uint64_t kMinCommitFrames = 4;

}  // namespace

Store::Store(StoreOptions options, const Clock& clock)
    : options_(std::move(options)),
      clock_(clock),
      queue_(options_.queue_max_requests, options_.queue_max_bytes) {}

Store::~Store() {
  close();
}

Result<std::unique_ptr<Store>, OpenError> Store::open(StoreOptions options, const Clock& clock) {
  std::unique_ptr<Store> store(new Store(std::move(options), clock));
  auto r = store->init();
  if (!r) return unexpected(r.error());
  return store;
}

Result<bool, OpenError> Store::init() {
  DbOptions dbo;
  dbo.path = options_.path;
  dbo.synchronous = options_.synchronous;
  dbo.max_db_bytes = options_.max_db_bytes;
  dbo.cache_kib = options_.cache_kib;
  // The disk bound covers the database, WAL, -shm and the reserve file (storage/README.md "Space").
  reserve_path_ = options_.path + "-reserve";
  const std::string dir = std::filesystem::path(options_.path).parent_path().string();
  const auto fsp = fs_space(dir.empty() ? "." : dir);
  shares_ = plan_shares(options_.max_db_bytes, fsp ? fsp->size : 0, 4096, options_.checkpoint_pages);
  if (fsp && fsp->avail < shares_.reserve && measure_space(options_.path, reserve_path_).reserve > 0) {
    // Started on a full file system: the reserve gives the WAL recovery and the first checkpoint room.
    reserve_release(reserve_path_);
    work_stats_.reserve_releases += 1;
    GW_LOG(Warn, "store",
           "database %s: the file system is full (%llu bytes free); released the reserve file %s",
           options_.path.c_str(), static_cast<unsigned long long>(fsp->avail), reserve_path_.c_str());
  }
  dbo.wal_size_limit_bytes = shares_.wal_share;
  vfs_ = std::make_unique<CountingVfs>();
  if (vfs_->ok()) dbo.vfs = vfs_->name();
  auto info = open_database(db_, dbo);
  if (!info) {
    GW_LOG(Error, "store", "%s", info.error().message.c_str());
    return unexpected(info.error());
  }
  auto fail = [&](Status s, const char* what) {
    OpenError e{s,
                "database " + options_.path + ": " + what + ": " + db_.errmsg() + "; " + failure_advice(s)};
    GW_LOG(Error, "store", "%s", e.message.c_str());
    return unexpected(e);
  };
  tables_ = std::make_unique<Tables>(options_.outbox, options_.history, options_.feeds, clock_);
  // A read's deletes of expired rows fit the room kept for the WAL, like its marks (outbox_read).
  tables_->outbox.set_write_budget(shares_.wal_share / 2);
  Status s = tables_->prepare(db_);
  if (s != Status::Ok) return fail(s, "preparing statements failed");
  int rc = prepare_all(db_.handle(), {{&begin_, "BEGIN"},
                                      {&commit_, "COMMIT"},
                                      {&rollback_, "ROLLBACK"},
                                      {&savepoint_, "SAVEPOINT request"},
                                      {&release_, "RELEASE request"},
                                      {&rollback_to_, "ROLLBACK TO request"},
                                      {&freelist_, "PRAGMA freelist_count"},
                                      {&vacuum_, "PRAGMA incremental_vacuum"}});
  if (rc != SQLITE_OK) return fail(status_from_sqlite(rc), "preparing statements failed");
  // Our hook replaces SQLite's auto-checkpoint hook: checkpoints are ours (checkpoint_if_needed).
  sqlite3_wal_hook(db_.handle(), &Store::wal_hook, this);
  work_stats_.page_size = info->page_size;
  // A WAL left by a crash, or grown by an older build, is copied back and cut to nothing before the
  // first write, so a start on a full disk has the room the bound planned for.
  checkpoint_truncate();
  update_space();
  std::uint64_t requeued = 0;
  s = tables_->outbox.load(&requeued);
  if (s == Status::Ok) s = tables_->history.load();
  if (s == Status::Ok) s = tables_->feeds.load();
  if (s != Status::Ok) return fail(s, "loading counters failed");

  restore_reserve();
  update_space();
  work_stats_.outbox_rows_at_open = tables_->outbox.rows();
  publish_stats();
  if (info->schema_before != info->schema_after) {
    GW_LOG(Info, "store", "database %s: schema migrated from version %d to %d", options_.path.c_str(),
           info->schema_before, info->schema_after);
  }
  GW_LOG(Info, "store",
         "database %s open: schema %d, outbox %llu rows (%llu were in flight, requeued), "
         "synchronous=%s, commit window %lld us / %u rows",
         options_.path.c_str(), info->schema_after, static_cast<unsigned long long>(tables_->outbox.rows()),
         static_cast<unsigned long long>(requeued),
         options_.synchronous == Synchronous::Full ? "full" : "normal",
         static_cast<long long>(options_.commit_window.count()), options_.commit_max_rows);
  GW_LOG(Info, "store",
         "database %s: disk bound %llu bytes (store.max_db_bytes %llu, file system %llu): database page cap "
         "%llu, WAL share %llu, reserve %llu (%s); the files take %llu now",
         options_.path.c_str(),
         static_cast<unsigned long long>(options_.max_db_bytes > 0 && fsp
                                             ? std::min(options_.max_db_bytes, fsp->size)
                                             : (fsp ? fsp->size : options_.max_db_bytes)),
         static_cast<unsigned long long>(options_.max_db_bytes),
         static_cast<unsigned long long>(fsp ? fsp->size : 0),
         static_cast<unsigned long long>(work_stats_.disk_max_pages),
         static_cast<unsigned long long>(shares_.wal_share), static_cast<unsigned long long>(shares_.reserve),
         work_stats_.reserve_present ? "present" : "released: no room yet",
         static_cast<unsigned long long>(work_stats_.disk_bytes));
  // The checkpointer's own connection: same file, same counting VFS; it never writes a transaction.
  int crc = ckpt_db_.open(options_.path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, dbo.vfs);
  if (crc == SQLITE_OK) {
    crc = ckpt_db_.exec(options_.synchronous == Synchronous::Full ? "PRAGMA synchronous = FULL"
                                                                  : "PRAGMA synchronous = NORMAL");
  }
  if (crc == SQLITE_OK) {
    sqlite3_wal_autocheckpoint(ckpt_db_.handle(), 0);
    ckpt_thread_ = std::thread([this] { run_checkpointer(); });
  } else {
    GW_LOG(Warn, "store",
           "database %s: no checkpointer connection (%s); checkpoints run on the storage thread",
           options_.path.c_str(), ckpt_db_.errmsg());
  }
  thread_ = std::thread([this] { run(); });
  return true;
}

Status Store::attach(uv_loop_t* loop) {
  return completions_.attach(loop) == 0 ? Status::Ok : Status::Internal;
}

void Store::close() {
  if (closed_.exchange(true)) return;
  queue_.close();
  if (thread_.joinable()) thread_.join();
  {
    std::lock_guard lk(ckpt_m_);
    ckpt_stop_ = true;
  }
  ckpt_cv_.notify_one();
  if (ckpt_thread_.joinable()) ckpt_thread_.join();
  ckpt_db_.close();
  completions_.run();
  completions_.detach();
}

// ---- Submission ---------------------------------------------------------------------------------------

Request Store::make(bool durable, std::size_t bytes) const {
  Request r;
  auto window = durable ? std::chrono::duration_cast<SteadyTime::duration>(options_.commit_window)
                        : std::chrono::duration_cast<SteadyTime::duration>(options_.lazy_window);
  r.deadline = SteadyTime::now() + window;
  r.bytes = bytes + sizeof(Request);
  return r;
}

Status Store::submit(Request&& r) {
  if (closed_.load(std::memory_order_relaxed)) return Status::Stopped;
  Status s = queue_.push(std::move(r));
  if (s == Status::QueueFull) queue_full_.fetch_add(1, std::memory_order_relaxed);
  return s;
}

template <typename T>
Status Store::submit_result(bool durable, std::size_t bytes, std::function<Result<T, Status>(Tables&)> work,
                            std::function<void(Result<T, Status>)> done) {
  Request r = make(durable, bytes);
  if (!done) {
    r.apply = [work = std::move(work)](Tables& t) {
      auto res = work(t);
      return res ? Status::Ok : res.error();
    };
    return submit(std::move(r));
  }
  auto slot = std::make_shared<std::optional<T>>();
  r.apply = [work = std::move(work), slot](Tables& t) {
    auto res = work(t);
    if (!res) return res.error();
    slot->emplace(std::move(res.value()));
    return Status::Ok;
  };
  r.done = [done = std::move(done), slot](Status s) {
    if (s == Status::Ok && slot->has_value()) {
      done(std::move(**slot));
    } else {
      done(unexpected(s == Status::Ok ? Status::Internal : s));
    }
  };
  return submit(std::move(r));
}

template <typename T>
Result<T, Status> Store::call_sync(std::function<Result<T, Status>(Tables&)> work,
                                   std::function<std::vector<Request>(Tables&)> first) {
  auto slot = std::make_shared<std::optional<T>>();
  std::promise<Status> promise;
  std::future<Status> result = promise.get_future();
  Request r = make(true, 0);
  r.deadline = SteadyTime::now();
  r.retry = false;
  r.apply = [work = std::move(work), slot](Tables& t) {
    auto res = work(t);
    if (!res) return res.error();
    slot->emplace(std::move(res.value()));
    return Status::Ok;
  };
  if (first) {
    // Too large for the WAL's room on its own: `first`'s parts, then the work itself (Request::divide).
    r.divide = [first = std::move(first), apply = r.apply](Tables& t) {
      std::vector<Request> parts = first(t);
      if (parts.empty()) return parts;
      parts.emplace_back();
      parts.back().apply = apply;
      return parts;
    };
  }
  r.on_committed = [&promise](Status s) { promise.set_value(s); };
  Status s = submit(std::move(r));
  if (s != Status::Ok) return unexpected(s);
  s = result.get();
  if (s != Status::Ok) return unexpected(s);
  return std::move(**slot);
}

namespace {
// Adapts a Status-returning write to the Result shape submit_result takes.
std::function<Result<bool, Status>(Tables&)> as_result(std::function<Status(Tables&)> f) {
  return [f = std::move(f)](Tables& t) -> Result<bool, Status> {
    Status s = f(t);
    if (s != Status::Ok) return unexpected(s);
    return true;
  };
}
std::function<void(Result<bool, Status>)> as_done(Store::Done done) {
  if (!done) return {};
  return [done = std::move(done)](Result<bool, Status> r) { done(r ? Status::Ok : r.error()); };
}

// The two halves of a list of row operations, or none when it is one: a single id range is halved by
// ids, so a window's ack of one range divides too.
std::vector<std::vector<IdRange>> halves(const std::vector<IdRange>& v) {
  if (v.size() >= 2) {
    const auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
    return {{v.begin(), mid}, {mid, v.end()}};
  }
  if (v.size() == 1 && v[0].first < v[0].last) {
    const std::uint64_t mid = v[0].first + (v[0].last - v[0].first) / 2;
    return {{IdRange{v[0].first, mid}}, {IdRange{mid + 1, v[0].last}}};
  }
  return {};
}
std::vector<std::vector<std::uint64_t>> halves(const std::vector<std::uint64_t>& v) {
  if (v.size() < 2) return {};
  const auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
  return {{v.begin(), mid}, {mid, v.end()}};
}

template <typename Item>
using RowsOp = std::function<Status(Tables&, const std::vector<Item>&)>;

// A request applying `op` to a list of independent, idempotent row operations, divisible into halves
// (Request::divide) when it alone does not fit the WAL's room.
template <typename Item>
void make_divisible(Request& r, std::shared_ptr<const std::vector<Item>> items,
                    std::shared_ptr<const RowsOp<Item>> op) {
  r.apply = [items, op](Tables& t) { return (*op)(t, *items); };
  r.divide = [items, op](Tables&) {
    std::vector<Request> parts;
    for (std::vector<Item>& half : halves(*items)) {
      Request part;
      make_divisible<Item>(part, std::make_shared<const std::vector<Item>>(std::move(half)), op);
      parts.push_back(std::move(part));
    }
    return parts;
  };
}
template <typename Item>
void make_divisible(Request& r, std::vector<Item> items, RowsOp<Item> op) {
  make_divisible<Item>(r, std::make_shared<const std::vector<Item>>(std::move(items)),
                       std::make_shared<const RowsOp<Item>>(std::move(op)));
}
}  // namespace

Status Store::flush() {
  std::promise<Status> promise;
  std::future<Status> result = promise.get_future();
  Request r;
  r.deadline = SteadyTime::now();
  r.rows = 0;
  r.retry = false;
  r.control = true;
  r.on_committed = [&promise](Status s) { promise.set_value(s); };
  Status s = submit(std::move(r));
  if (s != Status::Ok) return s;
  return result.get();
}

Status Store::barrier(Done done) {
  Request r = make(true, 0);
  r.rows = 0;
  r.retry = false;
  r.control = true;
  r.done = std::move(done);
  return submit(std::move(r));
}

// ---- Outbox ------------------------------------------------------------------------------------------

Status Store::outbox_enqueue(OutboxMessage msg, EnqueueDone done) {
  if (!valid_dest(msg.dest)) return Status::Internal;
  bool durable = static_cast<bool>(done) || msg.qos > 0 || options_.qos0_durable;
  std::size_t bytes = OutboxTable::size_of(msg);
  return submit_result<OutboxEnqueued>(
      durable, bytes, [m = std::move(msg)](Tables& t) { return t.outbox.enqueue(m); }, std::move(done));
}

template <typename T>
Status Store::submit_value(std::size_t bytes, std::function<Status(Tables&, T&)> read,
                           std::function<void(Result<T, Status>)> done) {
  Request r = make(true, bytes);
  r.deadline = SteadyTime::now();  // a reader is waiting: close the batch now
  auto slot = std::make_shared<T>();
  r.apply = [read = std::move(read), slot](Tables& t) {
    *slot = T{};  // a batch may be applied twice (salvage after a failure)
    return read(t, *slot);
  };
  r.done = [done = std::move(done), slot](Status s) {
    if (s == Status::Ok) {
      done(std::move(*slot));
    } else {
      done(unexpected(s));
    }
  };
  return submit(std::move(r));
}

template <typename T>
Status Store::submit_read(std::size_t bytes, std::function<Status(Tables&, std::vector<T>&)> read,
                          std::function<void(Result<std::vector<T>, Status>)> done) {
  return submit_value<std::vector<T>>(bytes, std::move(read), std::move(done));
}

Status Store::outbox_read(OutboxReadOptions o, ReadDone done) {
  return outbox_scan(std::move(o), [done = std::move(done)](Result<OutboxScan, Status> r) {
    if (r) {
      done(std::move(r.value().rows));
    } else {
      done(unexpected(r.error()));
    }
  });
}

Status Store::outbox_scan(OutboxReadOptions o, ScanDone done) {
  if (!valid_dest(o.dest)) return Status::Internal;
  // Marking rows in flight rewrites their pages into the WAL: a read of at most half the WAL share
  // fits in the room the disk bound keeps for the WAL, so the drain goes on when the store is full.
  if (o.mark_inflight)
    o.max_bytes = std::min<std::uint64_t>(o.max_bytes, std::max<std::uint64_t>(1, shares_.wal_share / 2));
  return submit_value<OutboxScan>(
      0, [o](Tables& t, OutboxScan& scan) { return t.outbox.read(o, scan.rows, &scan.scanned_to); },
      std::move(done));
}

Status Store::outbox_mark_inflight(std::vector<std::uint64_t> ids, Done done) {
  Request r = make(static_cast<bool>(done), ids.size() * sizeof(std::uint64_t));
  make_divisible<std::uint64_t>(r, std::move(ids), [](Tables& t, const std::vector<std::uint64_t>& v) {
    return t.outbox.mark_inflight(v);
  });
  r.done = std::move(done);
  return submit(std::move(r));
}

// An upstream answers PUBREC a few packets at a time: a release's batch stays open this long for the ones
// right behind it, so a window's PUBRELs wait for one commit instead of one each. Measured against Debian's
// mosquitto (bench/README.md "Release gathering"): QoS 2 drain +13 %, the gateway's CPU per QoS 2 message
// -20 %, against at most this much more time per message in a window slot.
constexpr auto kReleaseGather = std::chrono::microseconds(300);

Status Store::outbox_release(std::vector<std::uint64_t> ids, Done done) {
  const bool durable = static_cast<bool>(done);  // read before `done` is moved
  Request r = make(durable, ids.size() * sizeof(std::uint64_t));
  // PUBRELs wait on this commit, and each holds a window slot upstream: like a read, it closes the batch
  // soon (kReleaseGather: it rides with whatever is gathered) instead of waiting out the commit window. That
  // is what keeps a QoS 2 drain near a QoS 1 one (bench/README.md "Outage").
  if (durable) r.deadline = SteadyTime::now() + kReleaseGather;
  make_divisible<std::uint64_t>(
      r, std::move(ids), [](Tables& t, const std::vector<std::uint64_t>& v) { return t.outbox.release(v); });
  r.done = std::move(done);
  return submit(std::move(r));
}

Status Store::outbox_ack(std::vector<IdRange> ranges, Done done) {
  Request r = make(static_cast<bool>(done), ranges.size() * sizeof(IdRange));
  make_divisible<IdRange>(r, std::move(ranges),
                          [](Tables& t, const std::vector<IdRange>& v) { return t.outbox.ack(v); });
  r.done = std::move(done);
  return submit(std::move(r));
}

Status Store::outbox_requeue(std::vector<IdRange> ranges, Done done) {
  // {} (every row in flight) is one statement: it has no halves.
  Request r = make(static_cast<bool>(done), ranges.size() * sizeof(IdRange));
  make_divisible<IdRange>(r, std::move(ranges),
                          [](Tables& t, const std::vector<IdRange>& v) { return t.outbox.requeue(v); });
  r.done = std::move(done);
  return submit(std::move(r));
}

Status Store::outbox_requeue_all(std::string dest, Done done) {
  if (!valid_dest(dest)) return Status::Internal;
  const bool durable = static_cast<bool>(done);  // read before `done` is moved
  const std::size_t bytes = dest.size();
  return submit_result<bool>(
      durable, bytes, as_result([dest = std::move(dest)](Tables& t) { return t.outbox.requeue_dest(dest); }),
      as_done(std::move(done)));
}

Status Store::outbox_claim(std::string from_dest, std::string to_dest, ClaimDone done) {
  if (!valid_dest(from_dest) || !valid_dest(to_dest)) return Status::Internal;
  const bool durable = static_cast<bool>(done);  // read before `done` is moved
  const std::size_t bytes = from_dest.size() + to_dest.size();
  return submit_result<OutboxBacklog>(
      durable, bytes,
      [from = std::move(from_dest), to = std::move(to_dest)](Tables& t) { return t.outbox.claim(from, to); },
      std::move(done));
}

Status Store::outbox_dests(DestsDone done) {
  return submit_read<OutboxDest>(
      0,
      [](Tables& t, std::vector<OutboxDest>& out) {
        for (const auto& [dest, backlog] : t.outbox.backlogs()) out.push_back(OutboxDest{dest, backlog});
        return Status::Ok;
      },
      std::move(done));
}

Status Store::outbox_origins(std::string dest, std::uint64_t up_to_id, OriginsDone done) {
  if (!valid_dest(dest)) return Status::Internal;
  return submit_read<std::string>(
      dest.size(),
      [dest = std::move(dest), up_to_id](Tables& t, std::vector<std::string>& out) {
        return t.outbox.origins(dest, up_to_id, out);
      },
      std::move(done));
}

Status Store::outbox_prune(Done done) {
  const bool durable = static_cast<bool>(done);  // read before `done` is moved
  return submit_result<bool>(durable, 0, as_result([](Tables& t) { return t.outbox.prune_expired(); }),
                             as_done(std::move(done)));
}

void Store::set_outbox_listener(OutboxListener listener) {
  std::lock_guard lk(stats_mutex_);
  outbox_listener_ = std::move(listener);
}

// ---- Sessions, retained, kv, history -------------------------------------------------------------------

Status Store::session_save(SessionRecord rec, Done done) {
  const bool durable = static_cast<bool>(done);  // read before `done` is moved
  std::size_t bytes = rec.meta.client_id.size() + rec.meta.extra.size();
  for (const auto& m : rec.messages) bytes += m.topic.size() + m.payload.size() + m.properties.size();
  return submit_result<bool>(durable, bytes,
                             as_result([rec = std::move(rec)](Tables& t) { return t.sessions.save(rec); }),
                             as_done(std::move(done)));
}

Status Store::session_put_meta(SessionMeta meta, Done done) {
  const bool durable = static_cast<bool>(done);  // read before `done` is moved
  std::size_t bytes = meta.client_id.size() + meta.extra.size();
  return submit_result<bool>(
      durable, bytes, as_result([meta = std::move(meta)](Tables& t) { return t.sessions.put_meta(meta); }),
      as_done(std::move(done)));
}

namespace {
// Deletes a session (upto empty), or its messages with seq <= *upto. Divisible: its messages go first,
// the older half, then the rest with the session and its subscriptions, each part halved again.
void make_session_delete(Request& r, std::string id, std::optional<std::uint64_t> upto) {
  r.apply = [id, upto](Tables& t) {
    return upto ? t.sessions.remove_messages_upto(id, *upto) : t.sessions.remove(id);
  };
  r.divide = [id = std::move(id), upto](Tables& t) {
    std::vector<Request> parts;
    auto seqs = t.sessions.message_seqs(id);
    if (!seqs || !seqs.value()) return parts;
    const auto [first, highest] = *seqs.value();
    const std::uint64_t last = upto ? std::min(*upto, highest) : highest;
    if (first >= last) return parts;
    parts.resize(2);
    make_session_delete(parts[0], id, first + (last - first) / 2);
    make_session_delete(parts[1], id, upto);
    return parts;
  };
}
}  // namespace

Status Store::session_delete(std::string client_id, Done done) {
  Request r = make(static_cast<bool>(done), client_id.size());
  make_session_delete(r, std::move(client_id), std::nullopt);
  r.done = std::move(done);
  return submit(std::move(r));
}

Status Store::session_subscribe(std::string client_id, Subscription sub, Done done) {
  const bool durable = static_cast<bool>(done);  // read before `done` is moved
  std::size_t bytes = client_id.size() + sub.filter.size();
  return submit_result<bool>(durable, bytes,
                             as_result([id = std::move(client_id), sub = std::move(sub)](Tables& t) {
                               return t.sessions.subscribe(id, sub);
                             }),
                             as_done(std::move(done)));
}

Status Store::session_unsubscribe(std::string client_id, std::string filter, Done done) {
  const bool durable = static_cast<bool>(done);  // read before `done` is moved
  std::size_t bytes = client_id.size() + filter.size();
  return submit_result<bool>(durable, bytes,
                             as_result([id = std::move(client_id), f = std::move(filter)](Tables& t) {
                               return t.sessions.unsubscribe(id, f);
                             }),
                             as_done(std::move(done)));
}

Status Store::session_message_put(std::string client_id, SessionMessage msg, Done done) {
  const bool durable = static_cast<bool>(done);  // read before `done` is moved
  std::size_t bytes = client_id.size() + msg.topic.size() + msg.payload.size() + msg.properties.size();
  return submit_result<bool>(durable, bytes,
                             as_result([id = std::move(client_id), m = std::move(msg)](Tables& t) {
                               return t.sessions.put_message(id, m);
                             }),
                             as_done(std::move(done)));
}

Status Store::session_message_update(std::string client_id, std::uint64_t seq, MessageState state,
                                     std::uint16_t packet_id, Done done) {
  const bool durable = static_cast<bool>(done);  // read before `done` is moved
  std::size_t bytes = client_id.size();
  return submit_result<bool>(durable, bytes,
                             as_result([id = std::move(client_id), seq, state, packet_id](Tables& t) {
                               return t.sessions.update_message(id, seq, state, packet_id);
                             }),
                             as_done(std::move(done)));
}

Status Store::session_message_delete(std::string client_id, std::uint64_t seq, Done done) {
  const bool durable = static_cast<bool>(done);  // read before `done` is moved
  std::size_t bytes = client_id.size();
  return submit_result<bool>(durable, bytes, as_result([id = std::move(client_id), seq](Tables& t) {
                               return t.sessions.remove_message(id, seq);
                             }),
                             as_done(std::move(done)));
}

Status Store::session_queue_read(std::string client_id, std::uint64_t after_seq, std::uint32_t max_rows,
                                 SessionReadDone done) {
  const std::size_t bytes = client_id.size();
  return submit_read<SessionMessage>(
      bytes,
      [id = std::move(client_id), after_seq, max_rows](Tables& t, std::vector<SessionMessage>& rows) {
        return t.sessions.read_queued(id, after_seq, max_rows, rows);
      },
      std::move(done));
}

Status Store::session_queue_drop(std::string client_id, std::uint64_t after_seq, std::uint32_t rows,
                                 SessionDropDone done) {
  const bool durable = static_cast<bool>(done);  // read before `done` is moved
  const std::size_t bytes = client_id.size();
  return submit_result<SessionQueued>(
      durable, bytes,
      [id = std::move(client_id), after_seq, rows](Tables& t) {
        return t.sessions.drop_queued(id, after_seq, rows);
      },
      std::move(done));
}

Status Store::retained_set(RetainedMessage msg, Done done) {
  const bool durable = static_cast<bool>(done);  // read before `done` is moved
  std::size_t bytes = msg.topic.size() + msg.payload.size() + msg.properties.size();
  return submit_result<bool>(durable, bytes,
                             as_result([m = std::move(msg)](Tables& t) { return t.retained.set(m); }),
                             as_done(std::move(done)));
}

Status Store::retained_clear(std::string topic, Done done) {
  const bool durable = static_cast<bool>(done);  // read before `done` is moved
  std::size_t bytes = topic.size();
  return submit_result<bool>(
      durable, bytes, as_result([topic = std::move(topic)](Tables& t) { return t.retained.clear(topic); }),
      as_done(std::move(done)));
}

Status Store::kv_put(std::string key, std::string value, Done done) {
  const bool durable = static_cast<bool>(done);  // read before `done` is moved
  std::size_t bytes = key.size() + value.size();
  return submit_result<bool>(durable, bytes, as_result([k = std::move(key), v = std::move(value)](Tables& t) {
                               return t.kv.put(k, v);
                             }),
                             as_done(std::move(done)));
}

Status Store::kv_erase(std::string key, Done done) {
  const bool durable = static_cast<bool>(done);  // read before `done` is moved
  std::size_t bytes = key.size();
  return submit_result<bool>(durable, bytes,
                             as_result([k = std::move(key)](Tables& t) { return t.kv.erase(k); }),
                             as_done(std::move(done)));
}

Status Store::kv_get(std::string key, KvDone done) {
  std::size_t bytes = key.size();
  Request r = make(true, bytes);
  r.deadline = SteadyTime::now();
  auto slot = std::make_shared<std::optional<std::string>>();
  r.apply = [k = std::move(key), slot](Tables& t) {
    auto res = t.kv.get(k);
    if (!res) return res.error();
    *slot = std::move(res.value());
    return Status::Ok;
  };
  r.done = [done = std::move(done), slot](Status s) {
    if (s == Status::Ok) {
      done(std::move(*slot));
    } else {
      done(unexpected(s));
    }
  };
  return submit(std::move(r));
}

bool Store::history_wants(std::string_view topic) const {
  return tables_->history.wants(topic);
}

Status Store::history_record(HistoryMessage msg, Done done) {
  const bool durable = static_cast<bool>(done);  // read before `done` is moved
  std::size_t bytes = msg.topic.size() + msg.payload.size() + msg.properties.size();
  return submit_result<bool>(durable, bytes, as_result([m = std::move(msg)](Tables& t) {
                               auto r = t.history.append(m);
                               return r ? Status::Ok : r.error();
                             }),
                             as_done(std::move(done)));
}

Status Store::history_query(HistoryQuery q, HistoryDone done) {
  const std::size_t bytes = q.topic.size();
  return submit_read<HistoryRecord>(
      bytes,
      [q = std::move(q)](Tables& t, std::vector<HistoryRecord>& rows) { return t.history.query(q, rows); },
      std::move(done));
}

Status Store::history_page(HistoryQuery q, std::uint64_t max_scan, HistoryPageDone done) {
  const std::size_t bytes = q.topic.size();
  return submit_value<HistoryPage>(
      bytes,
      [q = std::move(q), max_scan](Tables& t, HistoryPage& page) {
        return t.history.page(q, max_scan, page);
      },
      std::move(done));
}

// ---- Feeds -------------------------------------------------------------------------------------------

Status Store::feed_write(FeedWrite w, Done done) {
  const bool durable = static_cast<bool>(done);  // read before `done` is moved
  std::size_t bytes = w.feed.size();
  for (const FeedValue& v : w.values) bytes += v.field.size() + sizeof(double);
  Request r = make(durable, bytes);
  r.rows = static_cast<std::uint32_t>(std::max<std::size_t>(1, w.values.size()));
  r.apply = [w = std::move(w)](Tables& t) { return t.feeds.write(w); };
  r.done = std::move(done);
  return submit(std::move(r));
}

Status Store::feed_query(FeedQuery q, FeedDone done) {
  const std::size_t bytes = q.feed.size();
  return submit_value<FeedResult>(
      bytes, [q = std::move(q)](Tables& t, FeedResult& out) { return t.feeds.query(q, out); },
      std::move(done));
}

Status Store::history_prune(Done done) {
  const bool durable = static_cast<bool>(done);  // read before `done` is moved
  return submit_result<bool>(durable, 0, as_result([](Tables& t) { return t.history.prune(); }),
                             as_done(std::move(done)));
}

// ---- Startup loads ---------------------------------------------------------------------------------------

Result<std::vector<SessionRecord>, Status> Store::load_sessions(std::uint32_t max_queued,
                                                                std::vector<std::string>* expired_ids) {
  // Ids of the expired sessions deleted by parts of their own before the load: on a full disk, deleting
  // them all with the load was one transaction larger than the WAL's room, and the daemon could not start.
  auto ended = std::make_shared<std::vector<std::string>>();
  auto ids = std::make_shared<std::vector<std::string>>();
  auto delete_first = [this, ended](Tables& t) {
    std::vector<Request> parts;
    std::vector<std::string> expired;
    if (t.sessions.expired_ids(clock_.unix_seconds(), expired) != Status::Ok) return parts;
    for (std::string& id : expired) {
      parts.emplace_back();
      make_session_delete(parts.back(), id, std::nullopt);
    }
    *ended = std::move(expired);
    return parts;
  };
  auto loaded = call_sync<std::vector<SessionRecord>>(
      [this, max_queued, ended, ids](Tables& t) -> Result<std::vector<SessionRecord>, Status> {
        *ids = *ended;  // a batch may be applied more than once: assigned, never appended to
        std::vector<std::string> now;
        Status s = t.sessions.expire(clock_.unix_seconds(), nullptr, &now);
        if (s != Status::Ok) return unexpected(s);
        ids->insert(ids->end(), now.begin(), now.end());
        std::vector<SessionRecord> out;
        s = t.sessions.load(out, max_queued);
        if (s != Status::Ok) return unexpected(s);
        return out;
      },
      std::move(delete_first));
  if (loaded && !ids->empty()) {
    GW_LOG(Info, "store", "deleted %zu persistent sessions whose expiry interval passed", ids->size());
  }
  if (loaded && expired_ids) *expired_ids = std::move(*ids);
  return loaded;
}

Result<std::vector<RetainedMessage>, Status> Store::load_retained() {
  return call_sync<std::vector<RetainedMessage>>(
      [](Tables& t) -> Result<std::vector<RetainedMessage>, Status> {
        std::vector<RetainedMessage> out;
        Status s = t.retained.load(out);
        if (s != Status::Ok) return unexpected(s);
        return out;
      });
}

Result<std::optional<std::string>, Status> Store::kv_get_sync(const std::string& key) {
  return call_sync<std::optional<std::string>>([key](Tables& t) { return t.kv.get(key); });
}

Result<std::vector<std::pair<std::string, std::string>>, Status> Store::kv_scan_sync(
    const std::string& prefix) {
  using Rows = std::vector<std::pair<std::string, std::string>>;
  return call_sync<Rows>([prefix](Tables& t) -> Result<Rows, Status> {
    Rows out;
    Status s = t.kv.scan(prefix, out);
    if (s != Status::Ok) return unexpected(s);
    return out;
  });
}

// ---- Observation
// -------------------------------------------------------------------------------------------

StoreStats Store::stats() const {
  std::lock_guard lk(stats_mutex_);
  StoreStats s = stats_;
  s.queue_full = queue_full_.load(std::memory_order_relaxed);
  return s;
}

OutboxDestDrops Store::outbox_dest_drops(std::string_view dest) const {
  std::lock_guard lk(stats_mutex_);
  auto it = dest_drops_.find(dest);
  return it == dest_drops_.end() ? OutboxDestDrops{} : it->second;
}

OutboxBacklog Store::outbox_backlog(std::string_view dest) const {
  std::lock_guard lk(stats_mutex_);
  auto it = backlogs_.find(dest);
  return it == backlogs_.end() ? OutboxBacklog{} : it->second;
}

std::size_t Store::run_completions() {
  return completions_.run();
}

bool Store::wait_completions(std::chrono::milliseconds timeout) {
  return completions_.wait(timeout);
}

// ---- The storage thread
// --------------------------------------------------------------------------------------

void Store::run() {
  const auto interval = std::chrono::duration_cast<SteadyTime::duration>(options_.maintenance_interval);
  next_maintenance_ = SteadyTime::now() + interval;
  std::vector<Request> batch;
  const std::size_t max_rows = std::max<std::uint32_t>(1, options_.commit_max_rows);
  bool open = true;
  while (open) {
    batch.clear();
    open = queue_.next_batch(batch, max_rows, next_maintenance_);
    if (!batch.empty() || !retry_.empty()) execute(batch);
    auto now = SteadyTime::now();
    if (open && now >= next_maintenance_) {
      maintain();
      next_maintenance_ = SteadyTime::now() + interval;
    }
    // An age prune stopped at its write budget (what fits the WAL's room): the next one runs at once,
    // after whatever is queued, rather than an interval later.
    if (open && tables_->outbox.prune_more()) next_maintenance_ = SteadyTime::now();
    // Nothing committed: wait before trying again (requests queue up meanwhile, within the bound).
    if (open && last_batch_failed_) std::this_thread::sleep_for(options_.retry_backoff);
  }
  if (!retry_.empty()) {
    GW_LOG(Error, "store", "database %s: closing with %zu unwritten requests (no one waits on them): %s",
           options_.path.c_str(), retry_.size(), std::string(to_string(work_stats_.last_error)).c_str());
    work_stats_.retry_dropped += retry_.size();
    retry_.clear();
  }
  publish_stats();
}

Status Store::run_transaction(std::vector<Request>& batch, std::vector<Status>& status, bool salvage,
                              std::string& error_text, const std::vector<Status>& excluded,
                              std::size_t& culprit) {
  status = excluded;
  culprit = batch.size();
  int rc = begin_.run();
  if (rc != SQLITE_DONE) {
    error_text = db_.errmsg();
    return status_from_sqlite(rc);
  }
  tables_->begin();
  Status fatal = Status::Ok;
  for (std::size_t i = 0; i < batch.size() && fatal == Status::Ok; ++i) {
    if (!batch[i].apply || excluded[i] != Status::Ok) continue;
    if (!salvage) {
      Status s = batch[i].apply(*tables_);
      // Anything but a refusal by policy may have left part of the request applied: start over in
      // salvage mode, where each request is all or nothing.
      if (s != Status::Ok && s != Status::QuotaExceeded) {
        fatal = s;
        error_text = db_.errmsg();
      }
      status[i] = s;
      continue;
    }
    // Salvage: each request in its own savepoint, so one that cannot be written (a full disk) is
    // rolled back alone and the others, an ack that frees space among them, still commit.
    rc = savepoint_.run();
    if (rc != SQLITE_DONE) {
      fatal = status_from_sqlite(rc);
      error_text = db_.errmsg();
      break;
    }
    Tables::Mark mark = tables_->mark();
    const std::uint64_t full_writes = vfs_ && vfs_->ok() ? vfs_->full_writes() : 0;
    Status s = batch[i].apply(*tables_);
    if (s != Status::Ok && s != Status::QuotaExceeded) {
      error_text = db_.errmsg();
      if (!db_.in_transaction()) {
        // SQLite rolled the whole transaction back by itself: it does so for SQLITE_FULL from a
        // statement without a statement journal (a one-row INSERT at the page cap), savepoint or not.
        fatal = s;
        // Unless the file system refused a write meanwhile: the page cache spilled the transaction's
        // pages into a WAL with no room for them all. The batch is too large, not this request; it
        // fails like a COMMIT for room (commit_in_parts).
        const bool spilled = vfs_ && vfs_->ok() && vfs_->full_writes() != full_writes;
        culprit = spilled ? batch.size() : i;
        break;
      }
      rollback_to_.run();
      tables_->rollback_to(mark);
    }
    release_.run();
    status[i] = s;
  }
  if (fatal == Status::Ok) {
    fatal = tables_->before_commit();
    if (fatal != Status::Ok) error_text = std::string("before commit: ") + db_.errmsg();
  }
  if (fatal == Status::Ok) {
    rc = commit_.run();
    if (rc != SQLITE_DONE) {
      fatal = status_from_sqlite(rc);
      if (fatal == Status::Ok) fatal = Status::Internal;
      error_text = std::string("commit: ") + db_.errmsg();
    }
  }
  if (fatal != Status::Ok) {
    // SQLite may already have rolled back by itself (SQLITE_FULL, SQLITE_IOERR); ROLLBACK only if not.
    if (db_.in_transaction()) rollback_.run();
    tables_->rolled_back();
  } else {
    tables_->committed();
  }
  return fatal;
}

void Store::execute(std::vector<Request>& batch) {
  if (!retry_.empty()) {
    batch.insert(batch.begin(), std::make_move_iterator(retry_.begin()),
                 std::make_move_iterator(retry_.end()));
    retry_.clear();
  }
  std::vector<Status> status(batch.size(), Status::Ok);
  const bool work = std::any_of(batch.begin(), batch.end(), [](const Request& r) { return bool(r.apply); });
  const std::uint64_t last_id_before = tables_->outbox.last_id();
  Status fatal = Status::Ok;
  std::string error_text;
  const auto started = SteadyTime::now();
  if (work) {
    update_space();
    // Fast path: one transaction for the batch. After a failure, and while the store is degraded, the
    // batch runs in salvage mode (a savepoint per request).
    bool salvage = work_stats_.degraded;
    std::vector<Status> excluded(batch.size(), Status::Ok);
    std::size_t culprit = batch.size();
    fatal = run_transaction(batch, status, salvage, error_text, excluded, culprit);
    if (fatal != Status::Ok && !salvage) {
      fatal = run_transaction(batch, status, true, error_text, excluded, culprit);
    }
    // A request that took the whole transaction down with it fails alone: the batch runs again without
    // it, so a write that cannot fit never takes the drain's reads and acks with it.
    while (fatal != Status::Ok && culprit < batch.size()) {
      excluded[culprit] = fatal;
      fatal = run_transaction(batch, status, true, error_text, excluded, culprit);
    }
    // Failed for room at COMMIT, every statement done: too many pages for the WAL's room, not one write
    // that cannot fit. Retried whole it would fail forever (the writes no one waits on come back with
    // every batch, and the drain that frees space is among them), so it is committed in parts.
    if (fatal == Status::DiskFull && culprit == batch.size()) {
      if (commit_in_parts(batch, status, error_text, excluded, 0, batch.size())) fatal = Status::Ok;
    }
  }
  Status worst = fatal;
  std::uint64_t applied = 0;
  std::size_t internal = 0;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (worst == Status::Ok && fails_transaction(status[i])) worst = status[i];
    if (fatal == Status::Ok && batch[i].apply && status[i] == Status::Ok) applied += 1;
    if (status[i] == Status::Internal) internal += 1;
  }
  if (internal > 0) {
    GW_LOG(Error, "store", "database %s: %zu requests failed (internal: %s); nothing of them was written",
           options_.path.c_str(), internal, error_text.c_str());
    work_stats_.internal_errors += internal;
  }
  if (worst != Status::Ok) {
    // What failed: a write refused alone is named by its size (a message larger than the room left says
    // so), a failed transaction by SQLite's message.
    std::size_t largest = 0;
    bool refused_alone = false;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (!batch[i].apply || status[i] != worst) continue;
      refused_alone = true;
      largest = std::max(largest, batch[i].bytes - std::min(batch[i].bytes, sizeof(Request)));
    }
    note_failure(worst, refused_alone ? "the largest write refused: " + std::to_string(largest) + " bytes, " +
                                            error_text
                                      : error_text);
  } else if (std::any_of(batch.begin(), batch.end(),
                         [](const Request& r) { return r.apply && !r.maintenance; })) {
    // Only a real write proves recovery: a prune that deletes nothing succeeds on a full disk too.
    if (failures_in_row_ > 0 && episode_logged_) {
      GW_LOG(Info, "store", "database %s: writes succeed again after %llu failed transactions",
             options_.path.c_str(), static_cast<unsigned long long>(failures_in_row_));
    }
    failures_in_row_ = 0;
    work_stats_.degraded = false;
  }
  if (work && fatal == Status::Ok) {
    work_stats_.transactions += 1;
    work_stats_.requests += applied;
    const auto us = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(SteadyTime::now() - started).count());
    const auto* bound = std::lower_bound(kCommitLatencyBoundsUs.begin(), kCommitLatencyBoundsUs.end(), us);
    work_stats_.commit_us[static_cast<std::size_t>(bound - kCommitLatencyBoundsUs.begin())] += 1;
    work_stats_.commit_us_sum += us;
  }

  const auto now = SteadyTime::now();
  std::vector<Completion> out;
  out.reserve(batch.size() + 1);
  std::vector<std::pair<std::function<void(Status)>, Status>> committed_hooks;
  std::size_t given_up = 0;
  // A barrier (or flush) promises that everything submitted before it is durable: a write before it
  // that no one waits on and that failed (kept for a retry, or given up) fails the barrier too, even
  // when the rest of the batch committed (a write taken out of the batch, or rolled back alone).
  Status unheard_failure = Status::Ok;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    Request& r = batch[i];
    Status final = (fatal != Status::Ok && status[i] == Status::Ok) ? fatal : status[i];
    if (r.control && final == Status::Ok) final = unheard_failure;
    if (fails_transaction(final) && r.apply && !r.done && !r.on_committed && unheard_failure == Status::Ok) {
      unheard_failure = final;
    }
    if (fails_transaction(final) && r.retry && r.apply && !r.done && !r.on_committed) {
      // No one waits on it: keep it for a later transaction, for at most retry_give_up.
      if (r.first_failure == SteadyTime::time_point{}) r.first_failure = now;
      if (now - r.first_failure <= options_.retry_give_up) {
        retry_.push_back(std::move(r));
      } else {
        given_up += 1;
      }
      continue;
    }
    if (r.on_committed) committed_hooks.emplace_back(std::move(r.on_committed), final);
    if (r.done) out.push_back(Completion{std::move(r.done), final});
  }
  if (retry_.size() > options_.queue_max_requests) {
    std::size_t excess = retry_.size() - options_.queue_max_requests;
    retry_.erase(retry_.begin(), retry_.begin() + static_cast<std::ptrdiff_t>(excess));
    given_up += excess;
  }
  if (given_up > 0) {
    work_stats_.retry_dropped += given_up;
    GW_LOG(Warn, "store", "database %s: gave up %zu unwritten requests no one waits on (%s)",
           options_.path.c_str(), given_up, std::string(to_string(worst)).c_str());
  }
  const std::uint64_t last_id = tables_->outbox.last_id();
  std::vector<std::string> new_dests = tables_->outbox.take_new_dests();
  // New rows, or a read that left expired rows to delete (its uplink reads on: OutboxTable::read).
  if (fatal == Status::Ok && (last_id != last_id_before || !new_dests.empty())) {
    OutboxListener listener;
    {
      std::lock_guard lk(stats_mutex_);
      listener = outbox_listener_;
    }
    if (listener) {
      out.push_back(
          Completion{[listener, last_id, dests = std::move(new_dests)](Status) { listener(last_id, dests); },
                     Status::Ok});
    }
  }
  publish_stats();
  // Completions are posted before the storage-thread hooks run, so flush() returning means the
  // completions of everything before it are ready for run_completions().
  completions_.post(std::move(out));
  for (auto& [hook, s] : committed_hooks) hook(s);
  if (worst == Status::DiskFull) {
    // A write failed for room: the WAL may hold frames of the rolled-back transaction; cut it now.
    checkpoint_truncate();
  } else {
    checkpoint_if_needed();
  }
  last_batch_failed_ = fatal != Status::Ok;
}

bool Store::commit_in_parts(std::vector<Request>& batch, std::vector<Status>& status, std::string& error_text,
                            std::vector<Status>& excluded, std::size_t lo, std::size_t hi) {
  std::vector<std::size_t> members;  // the requests of this part that write
  for (std::size_t i = lo; i < hi; ++i) {
    if (batch[i].apply && excluded[i] == Status::Ok) members.push_back(i);
  }
  if (members.size() == 1 && batch[members[0]].divide) {
    // One request alone too large for the room: a list of row operations is committed in parts.
    const std::size_t i = members[0];
    status[i] = commit_divided(batch[i], error_text);
    return status[i] == Status::Ok;
  }
  if (members.size() < 2) return false;
  if (!room_for_a_commit()) return false;
  work_stats_.batches_split += 1;
  GW_LOG(Debug, "store",
         "database %s: %zu writes did not fit the WAL's room together; committing them in two parts",
         options_.path.c_str(), members.size());
  const std::size_t mid = members[members.size() / 2];
  bool committed = false;
  for (auto [a, b] : {std::pair{lo, mid}, std::pair{mid, hi}}) {
    // Everything outside [a, b) is left out of this part's transaction; kept in `status` as it was.
    std::vector<Status> mask = excluded;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (i < a || i >= b) mask[i] = Status::Stopped;
    }
    checkpoint_truncate();
    std::vector<Status> part;
    std::size_t culprit = batch.size();
    Status fatal = run_transaction(batch, part, true, error_text, mask, culprit);
    while (fatal != Status::Ok && culprit < batch.size()) {
      mask[culprit] = excluded[culprit] = fatal;
      fatal = run_transaction(batch, part, true, error_text, mask, culprit);
    }
    if (fatal == Status::DiskFull && culprit == batch.size() &&
        commit_in_parts(batch, status, error_text, excluded, a, b)) {
      committed = true;
      continue;
    }
    for (std::size_t i = a; i < b; ++i)
      status[i] = (fatal != Status::Ok && part[i] == Status::Ok) ? fatal : part[i];
    committed = committed || fatal == Status::Ok;
  }
  return committed;
}

Status Store::commit_divided(Request& whole, std::string& error_text) {
  std::vector<Request> parts = whole.divide ? whole.divide(*tables_) : std::vector<Request>{};
  if (parts.size() < 2 || !room_for_a_commit()) return Status::DiskFull;
  work_stats_.requests_split += 1;
  GW_LOG(Debug, "store", "database %s: one request did not fit the WAL's room; committing it in %zu parts",
         options_.path.c_str(), parts.size());
  for (Request& part : parts) {
    checkpoint_truncate();
    std::vector<Request> one;
    one.push_back(std::move(part));
    const std::vector<Status> none(1, Status::Ok);
    std::vector<Status> st;
    std::size_t culprit = 1;
    Status s = run_transaction(one, st, true, error_text, none, culprit);
    if (s == Status::Ok) s = st[0];  // refused at its own savepoint (the page cap): nothing of it written
    // For room, at COMMIT, by a spill of the page cache or at the page cap: smaller parts may fit.
    if (s == Status::DiskFull) s = commit_divided(one[0], error_text);
    if (s != Status::Ok) return s;
  }
  return Status::Ok;
}

bool Store::room_for_a_commit() {
  // Dividing helps only when a commit has room at all: a file system filled by others (no room for a
  // few WAL frames after the checkpoint) fails every part, so the batch fails as it is and is retried.
  checkpoint_truncate();
  const auto fsp = fs_space(options_.path);
  const std::uint64_t frame = std::max<std::uint32_t>(512, work_stats_.page_size) + 24;
  return fsp && fsp->avail >= kMinCommitFrames * frame;
}

void Store::note_failure(Status s, const std::string& detail) {
  failures_in_row_ += 1;
  work_stats_.failed_transactions += 1;
  work_stats_.last_error = s;
  work_stats_.degraded = true;
  auto now = SteadyTime::now();
  if (failures_in_row_ == 1) {
    // One ERROR line per failure, not per try: a client that retries a write that can never fit (or a
    // disk that fills again right after each ack) starts a failure each time, between writes that
    // succeed. The same reason within 10 s of its last ERROR line is counted, not written, and its
    // recovery is not announced either.
    episode_logged_ = s != last_error_status_ || last_error_log_ == SteadyTime::time_point{} ||
                      now - last_error_log_ >= std::chrono::seconds(10);
    if (!episode_logged_) {
      unlogged_failures_ += 1;
      return;
    }
    if (unlogged_failures_ > 0) {
      GW_LOG(Warn, "store", "database %s: %llu more failures like the last one were not logged",
             options_.path.c_str(), static_cast<unsigned long long>(unlogged_failures_));
      unlogged_failures_ = 0;
    }
    last_error_status_ = s;
    last_error_log_ = now;
    GW_LOG(
        Error, "store",
        "database %s: transaction failed: %s (%s; %s); durable writes are refused with this reason until it "
        "clears; the store keeps running and retries every %lld ms",
        options_.path.c_str(), std::string(to_string(s)).c_str(), detail.c_str(), failure_advice(s),
        static_cast<long long>(options_.retry_backoff.count()));
    if (s == Status::Corrupt) {
      GW_LOG(Error, "store", "database %s: recovery command: %s", options_.path.c_str(),
             recovery_command(options_.path).c_str());
    }
    last_failure_log_ = now;
  } else if (now - last_failure_log_ >= std::chrono::seconds(10)) {
    GW_LOG(Warn, "store", "database %s: still failing (%s: %s), %llu transactions in a row",
           options_.path.c_str(), std::string(to_string(s)).c_str(), detail.c_str(),
           static_cast<unsigned long long>(failures_in_row_));
    last_failure_log_ = now;
    episode_logged_ = true;  // its end is announced too
  }
}

void Store::maintain() {
  std::vector<Request> batch;
  if (options_.outbox.max_age_s > 0 || tables_->outbox.prune_more()) {
    Request r;
    r.retry = false;
    r.maintenance = true;
    r.apply = [](Tables& t) { return t.outbox.prune_expired(); };
    batch.push_back(std::move(r));
  }
  if (!options_.history.filters.empty()) {
    Request r;
    r.retry = false;
    r.maintenance = true;
    r.apply = [](Tables& t) { return t.history.prune(); };
    batch.push_back(std::move(r));
  }
  if (!tables_->feeds.empty()) {
    Request r;
    r.retry = false;
    r.maintenance = true;
    r.apply = [](Tables& t) { return t.feeds.prune(); };
    batch.push_back(std::move(r));
  }
  if (!batch.empty() || !retry_.empty()) execute(batch);
  if (options_.vacuum_free_pages > 0 && !work_stats_.degraded) {
    std::int64_t free_pages = 0;
    {
      StmtScope scope(freelist_);
      if (freelist_.step() == SQLITE_ROW) free_pages = freelist_.col_int(0);
    }
    if (free_pages >= static_cast<std::int64_t>(options_.vacuum_free_pages)) {
      // Returns the free pages to the file system, so the file shrinks after a backlog drained.
      int rc;
      {
        StmtScope scope(vacuum_);
        while ((rc = vacuum_.step()) == SQLITE_ROW) {
        }
      }
      if (rc == SQLITE_DONE) {
        work_stats_.vacuumed_pages += static_cast<std::uint64_t>(free_pages);
        GW_LOG(Debug, "store", "database %s: returned %lld free pages to the file system",
               options_.path.c_str(), static_cast<long long>(free_pages));
      }
    }
  }
  if (work_stats_.degraded || !work_stats_.reserve_present) {
    // Full, or was: a checkpoint moves what the WAL holds into the database and cuts the WAL (its
    // frames of failed transactions too), and the reserve comes back once there is room.
    checkpoint_truncate();
  } else {
    checkpoint_if_needed();
  }
  update_space();
  publish_stats();
}

void Store::update_space() {
  const auto fsp = fs_space(options_.path);
  if (!fsp) return;
  const SpaceUse use = measure_space(options_.path, reserve_path_);
  const std::uint32_t page = std::max<std::uint32_t>(512, work_stats_.page_size);
  const std::uint64_t pages = plan_max_pages(options_.max_db_bytes, fsp->avail, use, shares_, page);
  work_stats_.disk_bytes = use.total();
  work_stats_.wal_share = shares_.wal_share;
  work_stats_.reserve_bytes = shares_.reserve;
  work_stats_.reserve_present = use.reserve > 0;
  if (pages == work_stats_.disk_max_pages) return;
  // SQLite keeps max_page_count at the current page count if asked for less: growth is then refused
  // at the statement that needs a new page (SQLITE_FULL), and that request alone fails.
  const std::string sql = "PRAGMA max_page_count = " + std::to_string(pages);
  if (db_.exec(sql.c_str()) == SQLITE_OK) work_stats_.disk_max_pages = pages;
}

bool Store::checkpoint_truncate() {
  int log = 0;
  int ckpt = 0;
  int rc = sqlite3_wal_checkpoint_v2(db_.handle(), nullptr, SQLITE_CHECKPOINT_TRUNCATE, &log, &ckpt);
  checkpoints_.fetch_add(1, std::memory_order_relaxed);
  const Status failed = status_from_sqlite(rc);
  if ((failed == Status::DiskFull || failed == Status::IoError) &&
      measure_space(options_.path, reserve_path_).reserve > 0) {
    // The checkpoint writes the WAL's pages into the database file, which may grow by up to what the
    // WAL holds, before the WAL is cut: without room it fails, and the WAL could never shrink again.
    // The reserve is there for this moment.
    const auto fsp = fs_space(options_.path);
    reserve_release(reserve_path_);
    work_stats_.reserve_releases += 1;
    work_stats_.reserve_present = false;
    GW_LOG(Warn, "store",
           "database %s: the file system is full (%llu bytes free); released the reserve file so the "
           "checkpoint can complete; new writes are refused until there is room again",
           options_.path.c_str(), static_cast<unsigned long long>(fsp ? fsp->avail : 0));
    rc = sqlite3_wal_checkpoint_v2(db_.handle(), nullptr, SQLITE_CHECKPOINT_TRUNCATE, &log, &ckpt);
    checkpoints_.fetch_add(1, std::memory_order_relaxed);
  }
  const bool done = rc == SQLITE_OK && log == ckpt;
  if (done) {
    wal_frames_now_ = 0;
  } else if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
    GW_LOG(Debug, "store", "database %s: checkpoint failed: %s", options_.path.c_str(), db_.errmsg());
  }
  restore_reserve();
  return done;
}

void Store::restore_reserve() {
  if (measure_space(options_.path, reserve_path_).reserve >= shares_.reserve) {
    work_stats_.reserve_present = true;
    return;
  }
  const auto fsp = fs_space(options_.path);
  // Taken back only with a WAL share of room left beside it, so the next commits do not fail for it.
  if (!fsp || fsp->avail < shares_.reserve + shares_.wal_share) {
    work_stats_.reserve_present = false;
    return;
  }
  const bool was_released = work_stats_.reserve_releases > 0 && !work_stats_.reserve_present;
  work_stats_.reserve_present = reserve_create(reserve_path_, shares_.reserve);
  if (was_released && work_stats_.reserve_present) {
    GW_LOG(Info, "store", "database %s: room again on the file system; the reserve file is back",
           options_.path.c_str());
  }
}

void Store::checkpoint_if_needed() {
  const std::uint32_t page = std::max<std::uint32_t>(512, work_stats_.page_size);
  const std::uint64_t share_frames = std::max<std::uint64_t>(1, shares_.wal_share / (page + 24));
  if (wal_frames_now_ >= share_frames) {
    // The disk bound's WAL share: copy back and cut the file to nothing (TRUNCATE), here and now.
    checkpoint_truncate();
    return;
  }
  const std::uint64_t threshold = std::max<std::uint32_t>(1, options_.checkpoint_pages);
  if (wal_frames_now_ < threshold) return;
  if (ckpt_thread_.joinable() && wal_frames_now_ < 4 * threshold) {
    // The usual case: the checkpointer copies the WAL back on its own connection while this thread
    // keeps committing; the next write after a complete copy starts the WAL from its beginning.
    {
      std::lock_guard lk(ckpt_m_);
      ckpt_wanted_ = true;
    }
    ckpt_cv_.notify_one();
    return;
  }
  // Backstop (the checkpointer cannot keep up, or there is none): RESTART here, which bounds the WAL.
  int log = 0;
  int ckpt = 0;
  int rc = sqlite3_wal_checkpoint_v2(db_.handle(), nullptr, SQLITE_CHECKPOINT_RESTART, &log, &ckpt);
  checkpoints_.fetch_add(1, std::memory_order_relaxed);
  if (rc == SQLITE_OK && log == ckpt) {
    wal_frames_now_ = 0;
  } else if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
    GW_LOG(Debug, "store", "database %s: checkpoint failed: %s", options_.path.c_str(), db_.errmsg());
  }
}

void Store::run_checkpointer() {
  while (true) {
    {
      std::unique_lock lk(ckpt_m_);
      ckpt_cv_.wait(lk, [&] { return ckpt_wanted_ || ckpt_stop_; });
      if (ckpt_stop_) return;
      ckpt_wanted_ = false;
    }
    int log = 0;
    int ckpt = 0;
    // PASSIVE: copies what it can without waiting for, or blocking, the writer.
    int rc = sqlite3_wal_checkpoint_v2(ckpt_db_.handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &ckpt);
    checkpoints_.fetch_add(1, std::memory_order_relaxed);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
      GW_LOG(Debug, "store", "database %s: checkpoint failed: %s", options_.path.c_str(), ckpt_db_.errmsg());
    }
  }
}

int Store::wal_hook(void* self, sqlite3*, const char*, int frames) {
  // The frames in the WAL now: what the checkpoint policy measures. Not what this commit wrote: one that
  // restarted the WAL after a complete checkpoint can end with more frames than the last generation
  // had (large commits, slow devices), so the frames written are counted by the VFS instead.
  static_cast<Store*>(self)->wal_frames_now_ = static_cast<std::uint64_t>(frames);
  return SQLITE_OK;
}

void Store::publish_stats() {
  StoreStats& w = work_stats_;
  w.checkpoints = checkpoints_.load(std::memory_order_relaxed);
  if (vfs_ && vfs_->ok()) {
    w.bytes_written = vfs_->bytes_written();
    w.syncs = vfs_->syncs();
    w.wal_frames = vfs_->wal_frame_bytes() / (std::max<std::uint32_t>(512, w.page_size) + 24);
  }
  if (tables_) {
    w.outbox_rows = tables_->outbox.rows();
    w.outbox_bytes = tables_->outbox.bytes();
    w.outbox_enqueued = tables_->outbox.enqueued_total();
    w.outbox_acked = tables_->outbox.acked_total();
    w.outbox_drops = tables_->outbox.drops();
    w.outbox_last_id = tables_->outbox.last_id();
    w.history_rows = tables_->history.rows();
    w.history_pruned = tables_->history.pruned_total();
    w.feeds = tables_->feeds.counts();
  }
  // Copied only when it changed: batches that only read, mark or requeue leave it alone.
  const bool backlogs_changed = tables_ && backlogs_ != tables_->outbox.backlogs();
  const bool drops_changed = tables_ && dest_drops_ != tables_->outbox.all_dest_drops();
  std::lock_guard lk(stats_mutex_);
  stats_ = w;
  if (backlogs_changed) backlogs_ = tables_->outbox.backlogs();
  if (drops_changed) dest_drops_ = tables_->outbox.all_dest_drops();
}

}  // namespace gw::storage
