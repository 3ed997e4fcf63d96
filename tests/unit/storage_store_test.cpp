// Unit tests for storage::Store: the storage thread, group commit (one transaction per window, a row
// cap, every completion after its commit), completions on the loop thread through uv_async, the bounded
// request queue, full policies seen through completions, outbox destinations (per-uplink reads, requeue,
// claim, listing and the backlog counters the loop reads), the QoS 2 released mark, and a restart
// restoring everything.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <uv.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gateway/base/clock.hpp"
#include "storage/store.hpp"

namespace gw::storage {
namespace {

using namespace std::chrono_literals;

std::string make_temp_dir() {
  char tmpl[] = "/tmp/gw-storage-store-XXXXXX";
  const char* d = mkdtemp(tmpl);
  return d ? d : "";
}

// Counts rows through a second connection: what it sees has been committed.
std::int64_t committed_count(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  std::int64_t n = -1;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &s, nullptr) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW) {
      n = sqlite3_column_int64(s, 0);
    }
    sqlite3_finalize(s);
  }
  sqlite3_close(db);
  return n;
}

OutboxMessage msg(std::string origin, std::string payload, std::uint8_t qos = 1) {
  OutboxMessage m;
  m.origin = std::move(origin);
  m.topic = "farm/" + m.origin;
  m.payload = std::move(payload);
  m.qos = qos;
  return m;
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir();
    ASSERT_FALSE(dir_.empty());
    options_.path = dir_ + "/store.db";
    options_.maintenance_interval = std::chrono::hours(1);  // no background transactions in the counts
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void open() {
    store_.reset();
    auto r = Store::open(options_, clock_);
    ASSERT_TRUE(r) << r.error().message;
    store_ = std::move(r.value());
  }
  // Runs completions until `pred` holds (no loop attached), at most 5 s.
  template <typename Pred>
  bool run_until(Pred pred) {
    auto until = std::chrono::steady_clock::now() + 5s;
    while (!pred() && std::chrono::steady_clock::now() < until) {
      store_->wait_completions(10ms);
      store_->run_completions();
    }
    return pred();
  }

  // Submits a request through `submit` (given the completion) and returns what the completion received;
  // a failure, or no completion within 5 s, fails the test.
  template <typename T, typename Submit>
  T completed(Submit submit) {
    std::optional<Result<T, Status>> got;
    EXPECT_EQ(submit([&](Result<T, Status> r) { got.emplace(std::move(r)); }), Status::Ok);
    if (!run_until([&] { return got.has_value(); }) || !*got) {
      ADD_FAILURE() << "no successful completion";
      return T{};
    }
    return std::move(got->value());
  }

  std::string dir_;
  ManualClock clock_;
  StoreOptions options_;
  std::unique_ptr<Store> store_;
};

TEST_F(StoreTest, GroupCommitPutsWritesOfOneWindowInOneTransactionAndCompletesAfterCommit) {
  options_.commit_window = 300ms;
  open();
  const int n = 50;
  std::atomic<int> completed{0};
  std::atomic<int> seen_uncommitted{0};
  std::vector<std::uint64_t> ids;
  for (int i = 0; i < n; ++i) {
    ASSERT_EQ(store_->outbox_enqueue(msg("dev" + std::to_string(i % 3), std::to_string(i)),
                                     [&](Result<OutboxEnqueued, Status> r) {
                                       ASSERT_TRUE(r) << to_string(r.error());
                                       ids.push_back(r.value().id);
                                       // The row is visible to another connection: committed.
                                       std::string q = "SELECT COUNT(*) FROM outbox WHERE id = " +
                                                       std::to_string(r.value().id);
                                       if (committed_count(options_.path, q.c_str()) != 1) ++seen_uncommitted;
                                       if (store_->stats().transactions < 1) ++seen_uncommitted;
                                       ++completed;
                                     }),
              Status::Ok);
  }
  // Within the window nothing is committed, so no completion is posted.
  EXPECT_FALSE(store_->wait_completions(100ms));
  EXPECT_EQ(store_->run_completions(), 0u);
  EXPECT_EQ(committed_count(options_.path, "SELECT COUNT(*) FROM outbox"), 0);
  ASSERT_TRUE(run_until([&] { return completed.load() == n; }));
  EXPECT_EQ(seen_uncommitted.load(), 0);
  EXPECT_EQ(store_->stats().transactions, 1u);  // one transaction for the whole window
  EXPECT_EQ(store_->stats().requests, static_cast<std::uint64_t>(n));
  for (int i = 1; i < n; ++i) EXPECT_LT(ids[i - 1], ids[i]);  // completions in submission order
}

TEST_F(StoreTest, RowCapClosesATransactionEarly) {
  options_.commit_window = 10s;
  options_.commit_max_rows = 10;
  open();
  std::atomic<int> completed{0};
  for (int i = 0; i < 30; ++i) {
    ASSERT_EQ(store_->outbox_enqueue(msg("d", "x"),
                                     [&](Result<OutboxEnqueued, Status> r) {
                                       EXPECT_TRUE(r);
                                       ++completed;
                                     }),
              Status::Ok);
  }
  // Three full transactions commit without waiting for the 10 s window.
  ASSERT_TRUE(run_until([&] { return completed.load() == 30; }));
  EXPECT_EQ(store_->stats().transactions, 3u);
}

TEST_F(StoreTest, CompletionsRunOnTheLoopThreadThroughUvAsync) {
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  open();
  std::uint64_t listened = 0;
  std::vector<std::string> listened_dests;
  store_->set_outbox_listener([&](std::uint64_t last_id, const std::vector<std::string>& dests) {
    listened = last_id;
    listened_dests = dests;
  });
  ASSERT_EQ(store_->attach(&loop), Status::Ok);
  const auto loop_thread = std::this_thread::get_id();
  int done = 0;
  bool on_loop_thread = true;
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(store_->outbox_enqueue(msg("d", "x"),
                                     [&](Result<OutboxEnqueued, Status> r) {
                                       EXPECT_TRUE(r);
                                       on_loop_thread =
                                           on_loop_thread && std::this_thread::get_id() == loop_thread;
                                       ++done;
                                     }),
              Status::Ok);
  }
  std::optional<std::string> token;
  ASSERT_EQ(store_->kv_put("netpie/token", "abc"), Status::Ok);
  ASSERT_EQ(store_->kv_get("netpie/token",
                           [&](Result<std::optional<std::string>, Status> r) {
                             ASSERT_TRUE(r);
                             token = r.value();
                             ++done;
                           }),
            Status::Ok);
  // The store's uv_async_t does not keep a loop alive (a daemon's sockets and timers do), so a timer
  // stands in for them here.
  uv_timer_t alive;
  uv_timer_init(&loop, &alive);
  uv_timer_start(
      &alive, [](uv_timer_t*) {}, 10, 10);
  auto until = std::chrono::steady_clock::now() + 5s;
  while ((done < 4 || listened == 0) && std::chrono::steady_clock::now() < until) uv_run(&loop, UV_RUN_ONCE);
  uv_close(reinterpret_cast<uv_handle_t*>(&alive), nullptr);
  EXPECT_EQ(done, 4);
  EXPECT_TRUE(on_loop_thread);
  ASSERT_TRUE(token.has_value());
  EXPECT_EQ(*token, "abc");
  EXPECT_EQ(listened, 3u);
  EXPECT_EQ(listened_dests, std::vector<std::string>{""});  // msg() names no destination
  store_->close();
  uv_run(&loop, UV_RUN_DEFAULT);       // lets the uv_async_t close
  EXPECT_EQ(uv_loop_close(&loop), 0);  // no handle leaked
}

TEST_F(StoreTest, FullRequestQueueRefusesWithQueueFullAndNeverCallsTheCompletion) {
  options_.queue_max_requests = 4;
  options_.commit_window = 10s;  // the storage thread sleeps in its window, so the queue fills
  open();
  int accepted = 0;
  int refused = 0;
  std::atomic<int> completed{0};
  for (int i = 0; i < 50; ++i) {
    Status s = store_->outbox_enqueue(msg("d", "x"), [&](Result<OutboxEnqueued, Status> r) {
      EXPECT_TRUE(r);
      ++completed;
    });
    if (s == Status::Ok) ++accepted;
    if (s == Status::QueueFull) ++refused;
  }
  EXPECT_EQ(accepted + refused, 50);
  EXPECT_GT(refused, 0);
  // The bound is on requests waiting in the queue; the storage thread may already have moved up to
  // one queue's worth into the batch it gathers (it sleeps in its window after that).
  EXPECT_LE(accepted, 8);
  EXPECT_EQ(store_->stats().queue_full, static_cast<std::uint64_t>(refused));
  EXPECT_EQ(store_->flush(), Status::Ok);  // a flush is never refused, and ends the window
  ASSERT_TRUE(run_until([&] { return completed.load() == accepted; }));
  store_->run_completions();
  EXPECT_EQ(completed.load(), accepted);
}

TEST_F(StoreTest, OutboxPoliciesReportThroughCompletionsAndCounters) {
  options_.outbox.max_rows = 2;
  options_.outbox.policy = FullPolicy::RejectNew;
  open();
  std::vector<Status> results;
  for (int i = 0; i < 3; ++i) {
    store_->outbox_enqueue(msg("d", "x"), [&](Result<OutboxEnqueued, Status> r) {
      results.push_back(r ? Status::Ok : r.error());
    });
  }
  ASSERT_TRUE(run_until([&] { return results.size() == 3; }));
  EXPECT_EQ(results, (std::vector<Status>{Status::Ok, Status::Ok, Status::QuotaExceeded}));
  auto st = store_->stats();
  EXPECT_EQ(st.outbox_drops[static_cast<std::size_t>(DropReason::RejectedFull)], 1u);
  EXPECT_EQ(st.outbox_rows, 2u);

  options_.outbox.policy = FullPolicy::DropOldest;
  open();
  results.clear();
  store_->outbox_enqueue(msg("d", "x"), [&](Result<OutboxEnqueued, Status> r) {
    results.push_back(r ? Status::Ok : r.error());
  });
  ASSERT_TRUE(run_until([&] { return results.size() == 1; }));
  EXPECT_EQ(results[0], Status::Ok);
  st = store_->stats();
  EXPECT_EQ(st.outbox_drops[static_cast<std::size_t>(DropReason::OldestRows)], 1u);
  EXPECT_EQ(st.outbox_rows, 2u);
  // Nothing leaves silently: what was there plus what came equals what is there plus what left.
  EXPECT_EQ(st.outbox_rows_at_open + st.outbox_enqueued,
            st.outbox_rows + st.outbox_acked +
                st.outbox_drops[static_cast<std::size_t>(DropReason::OldestRows)] +
                st.outbox_drops[static_cast<std::size_t>(DropReason::OldestBytes)] +
                st.outbox_drops[static_cast<std::size_t>(DropReason::Expired)]);
}

TEST_F(StoreTest, UplinkCycleReadAckRequeueThroughTheQueue) {
  open();
  for (int i = 0; i < 6; ++i) store_->outbox_enqueue(msg(i % 2 ? "a" : "b", std::to_string(i)));
  std::vector<OutboxRecord> batch;
  bool got = false;
  store_->outbox_read(OutboxReadOptions{.max_rows = 4}, [&](Result<std::vector<OutboxRecord>, Status> r) {
    ASSERT_TRUE(r);
    batch = std::move(r.value());
    got = true;
  });
  ASSERT_TRUE(run_until([&] { return got; }));
  ASSERT_EQ(batch.size(), 4u);
  // The cloud acknowledged the first two; the send of the other two failed.
  store_->outbox_ack(to_ranges({batch[0].id, batch[1].id}));
  store_->outbox_requeue({IdRange{batch[2].id, batch[3].id}});
  got = false;
  store_->outbox_read(OutboxReadOptions{.max_rows = 10}, [&](Result<std::vector<OutboxRecord>, Status> r) {
    ASSERT_TRUE(r);
    batch = std::move(r.value());
    got = true;
  });
  ASSERT_TRUE(run_until([&] { return got; }));
  ASSERT_EQ(batch.size(), 4u);
  EXPECT_EQ(batch[0].msg.payload, "2");
  EXPECT_EQ(batch[0].attempts, 2u);
  EXPECT_EQ(batch[3].msg.payload, "5");
  EXPECT_EQ(store_->flush(), Status::Ok);
  auto st = store_->stats();
  EXPECT_EQ(st.outbox_acked, 2u);
  EXPECT_EQ(st.outbox_rows, 4u);
  EXPECT_EQ(st.outbox_enqueued, st.outbox_rows + st.outbox_acked);
}

TEST_F(StoreTest, OutboxDestinationsThroughTheQueueAndBacklogCountersOnTheCallingThread) {
  open();
  auto to = [](OutboxMessage m, std::string dest) {
    m.dest = std::move(dest);
    return m;
  };
  auto read = [&](OutboxReadOptions o) {
    return completed<std::vector<OutboxRecord>>([&](auto done) { return store_->outbox_read(o, done); });
  };
  auto dests = [&] {
    return completed<std::vector<OutboxDest>>([&](auto done) { return store_->outbox_dests(done); });
  };
  auto expect_totals = [&] {
    const StoreStats st = store_->stats();
    OutboxBacklog sum;
    for (const OutboxDest& d : dests()) {
      EXPECT_EQ(store_->outbox_backlog(d.dest), d.backlog) << d.dest;
      sum.rows += d.backlog.rows;
      sum.bytes += d.backlog.bytes;
    }
    EXPECT_EQ(sum, (OutboxBacklog{st.outbox_rows, st.outbox_bytes}));
  };

  // Rows written before destinations existed, and rows for two uplinks.
  for (int i = 0; i < 2; ++i) store_->outbox_enqueue(msg("old", std::to_string(i)));
  for (int i = 0; i < 3; ++i) store_->outbox_enqueue(to(msg("n", std::to_string(i)), "netpie"));
  for (int i = 0; i < 4; ++i) store_->outbox_enqueue(to(msg("c", std::to_string(i)), "corp.main"));
  ASSERT_EQ(store_->flush(), Status::Ok);
  // Read without a round trip: the counters were published with the batch that committed the rows.
  EXPECT_EQ(store_->outbox_backlog(""), (OutboxBacklog{2, 2 * 12}));  // origin + topic + payload: 3 + 8 + 1
  EXPECT_EQ(store_->outbox_backlog("netpie"), (OutboxBacklog{3, 3 * 8}));
  EXPECT_EQ(store_->outbox_backlog("corp.main"), (OutboxBacklog{4, 4 * 8}));
  EXPECT_EQ(store_->outbox_backlog("unknown"), (OutboxBacklog{0, 0}));
  auto listed = dests();
  ASSERT_EQ(listed.size(), 3u);
  EXPECT_EQ(listed[0].dest, "");
  EXPECT_EQ(listed[1].dest, "corp.main");
  EXPECT_EQ(listed[2].dest, "netpie");
  expect_totals();

  // Each uplink reads its own rows; netpie's connection drops and only its rows are requeued.
  auto n = read(OutboxReadOptions{.dest = "netpie", .max_rows = 10});
  auto c = read(OutboxReadOptions{.dest = "corp.main", .max_rows = 2});
  ASSERT_EQ(n.size(), 3u);
  ASSERT_EQ(c.size(), 2u);
  for (const auto& r : c) EXPECT_EQ(r.msg.dest, "corp.main");
  std::optional<Status> requeued;
  ASSERT_EQ(store_->outbox_requeue_all("netpie", [&](Status s) { requeued = s; }), Status::Ok);
  ASSERT_TRUE(run_until([&] { return requeued.has_value(); }));
  EXPECT_EQ(requeued, Status::Ok);
  EXPECT_EQ(read(OutboxReadOptions{.dest = "netpie", .max_rows = 10, .mark_inflight = false}).size(), 3u);
  auto c_rest = read(OutboxReadOptions{.dest = "corp.main", .max_rows = 10});
  ASSERT_EQ(c_rest.size(), 2u);  // corp's first two are still in flight: not read again
  EXPECT_GT(c_rest[0].id, c[1].id);
  store_->outbox_ack(to_ranges({c[0].id, c[1].id}));
  ASSERT_EQ(store_->flush(), Status::Ok);
  EXPECT_EQ(store_->outbox_backlog("corp.main"), (OutboxBacklog{2, 2 * 8}));
  expect_totals();

  // Startup after the upgrade: the rows without a destination go to the first configured uplink.
  auto moved = completed<OutboxBacklog>([&](auto done) { return store_->outbox_claim("", "netpie", done); });
  EXPECT_EQ(moved, (OutboxBacklog{2, 24}));
  EXPECT_EQ(store_->outbox_backlog(""), (OutboxBacklog{0, 0}));
  EXPECT_EQ(store_->outbox_backlog("netpie"), (OutboxBacklog{5, 24 + 24}));
  EXPECT_EQ(read(OutboxReadOptions{.dest = "netpie", .max_rows = 10, .mark_inflight = false}).size(), 5u);
  expect_totals();

  // A name outside the rule is a caller's bug: refused at submission, the completion never runs.
  bool ran = false;
  EXPECT_EQ(store_->outbox_enqueue(to(msg("x", "1"), "bad/name"),
                                   [&](Result<OutboxEnqueued, Status>) { ran = true; }),
            Status::Internal);
  EXPECT_EQ(store_->outbox_enqueue(to(msg("x", "1"), std::string(kMaxDestLength + 1, 'a'))),
            Status::Internal);
  EXPECT_EQ(store_->outbox_enqueue(to(msg("x", "1"), std::string(kMaxDestLength, 'a'))), Status::Ok);
  EXPECT_EQ(store_->outbox_read(OutboxReadOptions{.dest = "a b"}, [&](auto) { ran = true; }),
            Status::Internal);
  EXPECT_EQ(store_->outbox_requeue_all("a+b", [&](Status) { ran = true; }), Status::Internal);
  EXPECT_EQ(store_->outbox_claim("", "#", [&](auto) { ran = true; }), Status::Internal);
  ASSERT_EQ(store_->flush(), Status::Ok);
  store_->run_completions();
  EXPECT_FALSE(ran);
  expect_totals();

  // The counters come back from the file.
  const auto netpie = store_->outbox_backlog("netpie");
  const auto corp = store_->outbox_backlog("corp.main");
  open();
  EXPECT_EQ(store_->outbox_backlog("netpie"), netpie);
  EXPECT_EQ(store_->outbox_backlog("corp.main"), corp);
  EXPECT_EQ(store_->outbox_backlog(std::string(kMaxDestLength, 'a')).rows, 1u);
  expect_totals();
}

// A release closes the batch within 300 us (kReleaseGather; PUBRELs wait on it): with a commit window of a
// minute it still completes, after its commit.
TEST_F(StoreTest, ReleaseCompletesAfterItsCommitWithoutWaitingOutTheWindowAndSurvivesRequeueAndRestart) {
  options_.commit_window = 60s;
  options_.lazy_window = 60s;  // a release waiting for the lazy window would never complete in this test
  open();
  auto read = [&](OutboxReadOptions o) {
    return completed<std::vector<OutboxRecord>>([&](auto done) { return store_->outbox_read(o, done); });
  };
  auto released_ids = [](const std::vector<OutboxRecord>& rows) {
    std::vector<std::uint64_t> ids;
    for (const auto& r : rows)
      if (r.released) ids.push_back(r.id);
    return ids;
  };
  for (int i = 0; i < 3; ++i) {
    OutboxMessage m = msg("d", std::to_string(i), 2);
    m.dest = "netpie";
    store_->outbox_enqueue(m);
  }
  ASSERT_EQ(store_->flush(), Status::Ok);
  auto sent = read(OutboxReadOptions{.dest = "netpie", .max_rows = 2});  // 1, 2 in flight
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_TRUE(released_ids(sent).empty());

  // PUBREC for 2, and an id whose row is gone (acknowledged or dropped): Ok, and only after the commit.
  const std::uint64_t id = sent[1].id;
  const std::string q = "SELECT released FROM outbox WHERE id = " + std::to_string(id);
  std::optional<Status> done;
  std::int64_t released_in_file = -1;
  ASSERT_EQ(store_->outbox_release({id, 999},
                                   [&](Status s) {
                                     done = s;
                                     released_in_file = committed_count(
                                         options_.path, q.c_str());  // another connection: committed
                                   }),
            Status::Ok);
  if (!run_until([&] { return done.has_value(); })) {
    store_->close();  // runs the late completion while what it writes to is still alive
    FAIL() << "the release did not complete within 5 s: it waited for the commit window";
  }
  EXPECT_EQ(done, Status::Ok);
  EXPECT_EQ(released_in_file, 1);
  // A release of ids that have no row at all completes Ok too.
  done.reset();
  ASSERT_EQ(store_->outbox_release({12345}, [&](Status s) { done = s; }), Status::Ok);
  ASSERT_TRUE(run_until([&] { return done.has_value(); }));
  EXPECT_EQ(done, Status::Ok);

  // The connection drops: requeue_all keeps the mark, the next read returns it.
  ASSERT_EQ(store_->outbox_requeue_all("netpie"), Status::Ok);
  auto again = read(OutboxReadOptions{.dest = "netpie", .max_rows = 10});
  ASSERT_EQ(again.size(), 3u);
  EXPECT_EQ(released_ids(again), (std::vector<std::uint64_t>{id}));
  // A restart with the rows in flight: back in the queue, still released.
  store_->close();
  open();
  again = read(OutboxReadOptions{.dest = "netpie", .max_rows = 10});
  ASSERT_EQ(again.size(), 3u);
  EXPECT_EQ(released_ids(again), (std::vector<std::uint64_t>{id}));
  // PUBCOMP: the ack deletes it.
  done.reset();
  ASSERT_EQ(store_->outbox_ack({IdRange{id, id}}, [&](Status s) { done = s; }), Status::Ok);
  ASSERT_EQ(store_->flush(), Status::Ok);  // an ack waits out the commit window: close it
  ASSERT_TRUE(run_until([&] { return done.has_value(); }));
  EXPECT_EQ(committed_count(options_.path, "SELECT COUNT(*) FROM outbox WHERE released = 1"), 0);
  EXPECT_EQ(store_->stats().outbox_rows, 2u);
}

TEST_F(StoreTest, Qos0WithoutCompletionRidesTheLazyWindowUnlessDurable) {
  options_.commit_window = 1ms;
  options_.lazy_window = 400ms;
  open();
  store_->outbox_enqueue(msg("d", "qos0", 0));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(store_->stats().transactions, 0u);  // still waiting for company
  std::this_thread::sleep_for(600ms);
  EXPECT_EQ(store_->stats().transactions, 1u);

  options_.qos0_durable = true;
  open();
  store_->outbox_enqueue(msg("d", "qos0", 0));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(store_->stats().transactions, 1u);
}

TEST_F(StoreTest, RestartRestoresSessionsRetainedKvOutboxAndHistory) {
  options_.history.filters = {"farm/#"};
  open();
  store_->outbox_enqueue(msg("a", "1"));
  store_->outbox_enqueue(msg("b", "1"));
  store_->outbox_enqueue(msg("a", "2"));
  SessionRecord s;
  s.meta.client_id = "sensor-1";
  s.meta.expiry_interval_s = 3600;
  s.subscriptions.push_back(Subscription{"cmd/#", 1, false, false, 0, 0});
  SessionMessage m;
  m.seq = 1;
  m.packet_id = 3;
  m.state = MessageState::AwaitPuback;
  m.topic = "cmd/x";
  m.payload = "on";
  s.messages.push_back(m);
  store_->session_save(s);
  SessionMessage m2 = m;
  m2.seq = 2;
  m2.packet_id = 0;
  m2.state = MessageState::Queued;
  store_->session_message_put("sensor-1", m2);
  store_->retained_set(RetainedMessage{"farm/status", "up", "", 1, 0});
  store_->kv_put("netpie/token", "tok");
  ASSERT_TRUE(store_->history_wants("farm/a/temp"));
  EXPECT_FALSE(store_->history_wants("other"));
  store_->history_record(HistoryMessage{"farm/a/temp", "21", "", 0});
  EXPECT_EQ(store_->flush(), Status::Ok);
  store_->close();

  open();
  auto sessions = store_->load_sessions();
  ASSERT_TRUE(sessions);
  ASSERT_EQ(sessions.value().size(), 1u);
  EXPECT_EQ(sessions.value()[0].subscriptions.size(), 1u);
  ASSERT_EQ(sessions.value()[0].messages.size(), 2u);
  EXPECT_EQ(sessions.value()[0].messages[0].packet_id, 3);
  EXPECT_EQ(sessions.value()[0].messages[1].state, MessageState::Queued);
  auto retained = store_->load_retained();
  ASSERT_TRUE(retained);
  ASSERT_EQ(retained.value().size(), 1u);
  EXPECT_EQ(retained.value()[0].payload, "up");
  auto token = store_->kv_get_sync("netpie/token");
  ASSERT_TRUE(token);
  EXPECT_EQ(token.value().value_or(""), "tok");
  auto scan = store_->kv_scan_sync("netpie/");
  ASSERT_TRUE(scan);
  EXPECT_EQ(scan.value().size(), 1u);
  EXPECT_EQ(store_->stats().outbox_rows, 3u);

  std::vector<OutboxRecord> rows;
  std::vector<HistoryRecord> history;
  std::uint64_t next_seq_a = 0;
  int got = 0;
  store_->outbox_read(OutboxReadOptions{.max_rows = 10}, [&](Result<std::vector<OutboxRecord>, Status> r) {
    ASSERT_TRUE(r);
    rows = r.value();
    ++got;
  });
  store_->history_query(HistoryQuery{.topic = "farm/+/temp"},
                        [&](Result<std::vector<HistoryRecord>, Status> r) {
                          ASSERT_TRUE(r);
                          history = r.value();
                          ++got;
                        });
  store_->outbox_enqueue(msg("a", "3"), [&](Result<OutboxEnqueued, Status> r) {
    ASSERT_TRUE(r);
    next_seq_a = r.value().origin_seq;
    ++got;
  });
  ASSERT_TRUE(run_until([&] { return got == 3; }));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[2].msg.origin, "a");
  EXPECT_EQ(rows[2].origin_seq, 2u);
  EXPECT_EQ(next_seq_a, 3u);
  ASSERT_EQ(history.size(), 1u);
  EXPECT_EQ(history[0].msg.payload, "21");
}

TEST_F(StoreTest, SessionWritesCompleteAndDeleteRemovesEverything) {
  open();
  int ok = 0;
  auto count_ok = [&](Status s) {
    EXPECT_EQ(s, Status::Ok);
    ++ok;
  };
  store_->session_put_meta(SessionMeta{"c1", 60, 0, ""}, count_ok);
  store_->session_subscribe("c1", Subscription{"a/+", 1, false, false, 0, 0}, count_ok);
  store_->session_subscribe("c1", Subscription{"b", 0, false, false, 0, 0}, count_ok);
  store_->session_unsubscribe("c1", "b", count_ok);
  SessionMessage m;
  m.seq = 5;
  m.topic = "a/x";
  store_->session_message_put("c1", m, count_ok);
  store_->session_message_update("c1", 5, MessageState::AwaitPuback, 17, count_ok);
  ASSERT_TRUE(run_until([&] { return ok == 6; }));
  auto loaded = store_->load_sessions();
  ASSERT_TRUE(loaded);
  ASSERT_EQ(loaded.value().size(), 1u);
  EXPECT_EQ(loaded.value()[0].subscriptions.size(), 1u);
  EXPECT_EQ(loaded.value()[0].messages[0].packet_id, 17);
  store_->session_message_delete("c1", 5, count_ok);
  store_->session_delete("c1", count_ok);
  store_->retained_clear("none", count_ok);
  store_->kv_erase("none", count_ok);
  ASSERT_TRUE(run_until([&] { return ok == 10; }));
  EXPECT_TRUE(store_->load_sessions().value().empty());
}

TEST_F(StoreTest, BarrierCompletesOnTheLoopAfterEverythingBeforeItCommitted) {
  options_.commit_window = 100ms;
  options_.queue_max_requests = 4;
  open();
  for (int i = 0; i < 4; ++i) ASSERT_EQ(store_->outbox_enqueue(msg("d", std::to_string(i))), Status::Ok);
  std::int64_t rows_seen = -1;
  Status barrier_status = Status::Internal;
  // Never refused by the bound: it carries no data.
  ASSERT_EQ(store_->barrier([&](Status s) {
    barrier_status = s;
    rows_seen = committed_count(options_.path, "SELECT COUNT(*) FROM outbox");
  }),
            Status::Ok);
  ASSERT_TRUE(run_until([&] { return rows_seen >= 0; }));
  EXPECT_EQ(barrier_status, Status::Ok);
  EXPECT_EQ(rows_seen, 4);
}

TEST_F(StoreTest, CloseDrainsTheQueueAndRunsEveryCompletion) {
  options_.commit_window = 10s;
  open();
  int done = 0;
  for (int i = 0; i < 20; ++i) {
    store_->outbox_enqueue(msg("d", "x"), [&](Result<OutboxEnqueued, Status> r) {
      EXPECT_TRUE(r);
      ++done;
    });
  }
  store_->close();  // does not wait for the 10 s window
  EXPECT_EQ(done, 20);
  EXPECT_EQ(committed_count(options_.path, "SELECT COUNT(*) FROM outbox"), 20);
  EXPECT_EQ(store_->outbox_enqueue(msg("d", "late"), [](Result<OutboxEnqueued, Status>) { FAIL(); }),
            Status::Stopped);
}

TEST_F(StoreTest, BytesWrittenCountsWalAndCheckpointWrites) {
  options_.checkpoint_pages = 50;
  open();
  for (int i = 0; i < 2000; ++i) store_->outbox_enqueue(msg("d", std::string(200, 'x')));
  EXPECT_EQ(store_->flush(), Status::Ok);
  // Checkpoints run on the checkpointer thread, after the commits that asked for them.
  auto until = std::chrono::steady_clock::now() + 5s;
  while (store_->stats().checkpoints == 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(10ms);
    store_->flush();
  }
  auto st = store_->stats();
  EXPECT_GT(st.wal_frames, 100u);  // ~2000 * 220 bytes is over 100 pages
  EXPECT_GT(st.checkpoints, 0u);
  // Every WAL frame was written, and the checkpoints wrote pages into the database file on top.
  EXPECT_GT(st.bytes_written, st.wal_frames * (st.page_size + 24));
  EXPECT_LT(st.bytes_written, 3 * st.wal_frames * (st.page_size + 24));
  EXPECT_GT(st.syncs, 0u);
}

// A commit that restarts the WAL after a complete checkpoint can end with more frames than the last WAL
// generation had (large commits: slow devices, armhf under qemu): its frames are all counted. Each round
// is one row of about 40 pages in one commit, then the checkpointer's complete copy.
TEST_F(StoreTest, WalFramesCountCommitsThatRestartTheWal) {
  options_.checkpoint_pages = 20;
  open();
  const std::uint32_t page = store_->stats().page_size;
  ASSERT_GT(page, 0u);
  const int rounds = 4;
  for (int round = 0; round < rounds; ++round) {
    const std::uint64_t checkpoints = store_->stats().checkpoints;
    store_->outbox_enqueue(msg("d", std::string(40 * page, 'x')));
    ASSERT_EQ(store_->flush(), Status::Ok);
    // The commit's frames are over checkpoint_pages: the checkpointer was asked and copies them all back.
    auto until = std::chrono::steady_clock::now() + 30s;
    while (store_->stats().checkpoints == checkpoints && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(10ms);
      store_->flush();
    }
    ASSERT_GT(store_->stats().checkpoints, checkpoints) << "round " << round;
  }
  EXPECT_GE(store_->stats().wal_frames, rounds * 40u);
}

TEST_F(StoreTest, IncrementalVacuumReturnsSpaceAfterTheBacklogDrains) {
  options_.vacuum_free_pages = 64;
  options_.checkpoint_pages = 100;
  options_.maintenance_interval = 50ms;
  open();
  for (int i = 0; i < 2000; ++i) store_->outbox_enqueue(msg("d", std::string(2000, 'x')));
  EXPECT_EQ(store_->flush(), Status::Ok);
  const std::int64_t pages_full = committed_count(options_.path, "PRAGMA page_count");
  EXPECT_GT(pages_full, 1000);
  // A read that marks rows in flight is cut at half the WAL share (storage/README.md "Space"): read
  // until a read comes back empty.
  std::size_t total = 0;
  for (bool empty = false; !empty;) {
    bool read = false;
    store_->outbox_read(OutboxReadOptions{.max_rows = 5000, .max_bytes = 1ull << 30},
                        [&](Result<std::vector<OutboxRecord>, Status> r) {
                          ASSERT_TRUE(r);
                          total += r.value().size();
                          empty = r.value().empty();
                          read = true;
                        });
    ASSERT_TRUE(run_until([&] { return read; }));
  }
  EXPECT_EQ(total, 2000u);
  store_->outbox_ack({IdRange{1, 2000}});
  EXPECT_EQ(store_->flush(), Status::Ok);
  auto until = std::chrono::steady_clock::now() + 5s;
  while (store_->stats().vacuumed_pages == 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_GT(store_->stats().vacuumed_pages, 900u);
  EXPECT_LT(committed_count(options_.path, "PRAGMA page_count"), pages_full / 4);
}

}  // namespace
}  // namespace gw::storage
