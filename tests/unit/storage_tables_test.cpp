// Unit tests for each table's code (storage/*_table.*) against a temporary database, driven directly
// on the test thread with a manual clock: outbox order, batches, bounds and policies, lanes and age,
// destinations (reads, requeue, claim and backlog per uplink; bounds shared), the released mark;
// sessions, retained, kv and history; plus the topic-filter rule used by the history configuration.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "gateway/base/clock.hpp"
#include "storage/open.hpp"
#include "storage/tables.hpp"
#include "storage/topic_filter.hpp"

namespace gw::storage {
namespace {

std::string make_temp_dir() {
  char tmpl[] = "/tmp/gw-storage-tables-XXXXXX";
  const char* d = mkdtemp(tmpl);
  return d ? d : "";
}

OutboxMessage msg(std::string origin, std::string payload, std::uint8_t lane = 1, std::string dest = "") {
  OutboxMessage m;
  m.origin = std::move(origin);
  m.topic = "farm/" + m.origin;
  m.payload = std::move(payload);
  m.lane = lane;
  m.dest = std::move(dest);
  return m;
}

std::vector<std::uint64_t> ids_of(const std::vector<OutboxRecord>& rows) {
  std::vector<std::uint64_t> ids;
  for (const auto& r : rows) ids.push_back(r.id);
  return ids;
}

class TablesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir();
    ASSERT_FALSE(dir_.empty());
    open_tables();
  }
  void TearDown() override {
    tables_.reset();
    db_.close();
    std::filesystem::remove_all(dir_);
  }
  void open_tables() {
    tables_.reset();
    db_.close();
    DbOptions o;
    o.path = dir_ + "/t.db";
    auto r = open_database(db_, o);
    ASSERT_TRUE(r) << r.error().message;
    tables_ = std::make_unique<Tables>(limits_, history_, feeds_, clock_);
    ASSERT_EQ(tables_->prepare(db_), Status::Ok) << db_.errmsg();
    ASSERT_EQ(tables_->outbox.load(&requeued_at_load_), Status::Ok);
    ASSERT_EQ(tables_->history.load(), Status::Ok);
  }
  // Runs `body` inside one transaction, as the store's storage thread does for a batch.
  void tx(const std::function<void(Tables&)>& body) {
    ASSERT_EQ(db_.exec("BEGIN"), SQLITE_OK);
    tables_->begin();
    body(*tables_);
    ASSERT_EQ(tables_->before_commit(), Status::Ok);
    ASSERT_EQ(db_.exec("COMMIT"), SQLITE_OK) << db_.errmsg();
    tables_->committed();
  }
  OutboxEnqueued enqueue(const OutboxMessage& m) {
    OutboxEnqueued out;
    tx([&](Tables& t) {
      auto r = t.outbox.enqueue(m);
      ASSERT_TRUE(r) << to_string(r.error());
      out = r.value();
    });
    return out;
  }
  Status try_enqueue(const OutboxMessage& m) {
    Status s = Status::Ok;
    tx([&](Tables& t) {
      auto r = t.outbox.enqueue(m);
      s = r ? Status::Ok : r.error();
    });
    return s;
  }
  std::vector<OutboxRecord> read(OutboxReadOptions o = {}) {
    std::vector<OutboxRecord> out;
    tx([&](Tables& t) { ASSERT_EQ(t.outbox.read(o, out), Status::Ok); });
    return out;
  }
  std::uint64_t drops(DropReason r) const { return tables_->outbox.drops()[static_cast<std::size_t>(r)]; }
  OutboxBacklog backlog(std::string_view dest) const { return tables_->outbox.backlog(dest); }
  // The per-destination backlogs add up to the totals, and agree with the table itself.
  void expect_backlogs_add_up() const {
    OutboxBacklog sum;
    for (const auto& [dest, b] : tables_->outbox.backlogs()) {
      EXPECT_GT(b.rows, 0u) << "an empty destination is listed: '" << dest << "'";
      sum.rows += b.rows;
      sum.bytes += b.bytes;
    }
    EXPECT_EQ(sum.rows, tables_->outbox.rows());
    EXPECT_EQ(sum.bytes, tables_->outbox.bytes());
    Stmt s;
    ASSERT_EQ(s.prepare(db_.handle(), "SELECT dest, COUNT(*), SUM(size) FROM outbox GROUP BY dest"),
              SQLITE_OK);
    OutboxTable::Backlogs in_table;
    while (s.step() == SQLITE_ROW) in_table[s.col_str(0)] = OutboxBacklog{s.col_u64(1), s.col_u64(2)};
    EXPECT_EQ(in_table, tables_->outbox.backlogs());
  }

  std::string dir_;
  ManualClock clock_;
  OutboxLimits limits_;
  HistoryOptions history_;
  FeedOptions feeds_;
  Db db_;
  std::unique_ptr<Tables> tables_;
  std::uint64_t requeued_at_load_ = 0;
};

// ---- Outbox -------------------------------------------------------------------------------------------

TEST_F(TablesTest, OutboxKeepsOrderPerOriginAcrossInterleavedOrigins) {
  const std::vector<std::string> origins = {"a", "b", "a", "c", "b", "a", "c", "a"};
  for (std::size_t i = 0; i < origins.size(); ++i) enqueue(msg(origins[i], std::to_string(i)));
  auto rows = read(OutboxReadOptions{.max_rows = 100});
  ASSERT_EQ(rows.size(), origins.size());
  std::map<std::string, std::uint64_t> last_seq;
  std::uint64_t last_id = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_GT(rows[i].id, last_id);  // global enqueue order
    last_id = rows[i].id;
    EXPECT_EQ(rows[i].msg.origin, origins[i]);
    EXPECT_EQ(rows[i].msg.payload, std::to_string(i));
    EXPECT_EQ(rows[i].origin_seq, last_seq[rows[i].msg.origin] + 1);  // 1, 2, 3 ... per origin
    last_seq[rows[i].msg.origin] = rows[i].origin_seq;
  }
  EXPECT_EQ(last_seq["a"], 4u);
  EXPECT_EQ(last_seq["b"], 2u);
  EXPECT_EQ(last_seq["c"], 2u);
}

TEST_F(TablesTest, OutboxBatchReadInflightAckRangeRequeue) {
  for (int i = 1; i <= 10; ++i) enqueue(msg("dev", std::to_string(i)));
  auto first = read(OutboxReadOptions{.max_rows = 4});
  ASSERT_EQ(first.size(), 4u);
  EXPECT_EQ(first.front().id, 1u);
  EXPECT_EQ(first.back().id, 4u);
  for (const auto& r : first) {
    EXPECT_TRUE(r.inflight);
    EXPECT_EQ(r.attempts, 1u);
  }
  // A second read does not return rows already in flight.
  auto second = read(OutboxReadOptions{.max_rows = 4});
  ASSERT_EQ(second.size(), 4u);
  EXPECT_EQ(second.front().id, 5u);

  // Ack 1-2; requeue 3-4 (a failed send). Ack of a range that also covers queued rows (9, 10) only
  // deletes in-flight rows.
  std::uint64_t deleted = 0;
  tx([&](Tables& t) { ASSERT_EQ(t.outbox.ack({IdRange{1, 2}}, &deleted), Status::Ok); });
  EXPECT_EQ(deleted, 2u);
  std::uint64_t requeued = 0;
  tx([&](Tables& t) { ASSERT_EQ(t.outbox.requeue({IdRange{3, 4}}, &requeued), Status::Ok); });
  EXPECT_EQ(requeued, 2u);
  tx([&](Tables& t) { ASSERT_EQ(t.outbox.ack({IdRange{9, 10}}, &deleted), Status::Ok); });
  EXPECT_EQ(deleted, 0u);
  EXPECT_EQ(tables_->outbox.rows(), 8u);

  auto third = read(OutboxReadOptions{.max_rows = 10});
  std::vector<std::uint64_t> ids;
  for (const auto& r : third) ids.push_back(r.id);
  EXPECT_EQ(ids, (std::vector<std::uint64_t>{3, 4, 9, 10}));
  EXPECT_EQ(third[0].attempts, 2u);  // sent twice
  EXPECT_EQ(third[2].attempts, 1u);

  // Everything in flight now: ack all with ranges built from the acknowledged ids.
  std::vector<std::uint64_t> acked = {3, 4, 5, 6, 7, 8, 9, 10};
  EXPECT_EQ(to_ranges(acked).size(), 1u);
  tx([&](Tables& t) { ASSERT_EQ(t.outbox.ack(to_ranges(acked), &deleted), Status::Ok); });
  EXPECT_EQ(deleted, 8u);
  EXPECT_EQ(tables_->outbox.rows(), 0u);
  EXPECT_EQ(tables_->outbox.bytes(), 0u);
  EXPECT_EQ(tables_->outbox.acked_total(), 10u);
}

TEST_F(TablesTest, OutboxReadRespectsByteBudgetAndCanLeaveRowsQueued) {
  for (int i = 0; i < 5; ++i) enqueue(msg("d", std::string(100, 'x')));
  // Each row is 1 + 6 + 100 bytes: 107; a 250-byte budget returns 2.
  auto rows = read(OutboxReadOptions{.max_rows = 10, .max_bytes = 250, .mark_inflight = false});
  EXPECT_EQ(rows.size(), 2u);
  EXPECT_FALSE(rows[0].inflight);
  // Not marked: the same rows come back, and can be marked explicitly.
  rows = read(OutboxReadOptions{.max_rows = 1, .mark_inflight = false});
  EXPECT_EQ(rows[0].id, 1u);
  tx([&](Tables& t) { ASSERT_EQ(t.outbox.mark_inflight({1}), Status::Ok); });
  rows = read(OutboxReadOptions{.max_rows = 1, .mark_inflight = false});
  EXPECT_EQ(rows[0].id, 2u);
  // The first row is returned even when it alone is over the budget.
  rows = read(OutboxReadOptions{.max_rows = 10, .max_bytes = 1});
  EXPECT_EQ(rows.size(), 1u);
}

TEST_F(TablesTest, OutboxRejectNewRefusesAndCountsAtRowAndByteBound) {
  limits_.max_rows = 3;
  limits_.max_bytes = 1000;
  limits_.policy = FullPolicy::RejectNew;
  open_tables();
  for (int i = 0; i < 3; ++i) enqueue(msg("d", "p"));
  EXPECT_EQ(try_enqueue(msg("d", "p")), Status::QuotaExceeded);
  EXPECT_EQ(try_enqueue(msg("e", "p")), Status::QuotaExceeded);
  EXPECT_EQ(tables_->outbox.rows(), 3u);
  EXPECT_EQ(drops(DropReason::RejectedFull), 2u);
  // The refused messages took no sequence number: the next one of origin "d" is 4 once room is made.
  read(OutboxReadOptions{.max_rows = 1});
  tx([&](Tables& t) { ASSERT_EQ(t.outbox.ack({IdRange{1, 1}}), Status::Ok); });
  EXPECT_EQ(enqueue(msg("d", "p")).origin_seq, 4u);

  // Byte bound: a message that would pass max_bytes is refused too.
  limits_.max_rows = 0;
  limits_.max_bytes = 100;
  open_tables();  // 24 bytes stored (3 x 8); 24 + 77 > 100
  EXPECT_EQ(try_enqueue(msg("d", std::string(70, 'x'))), Status::QuotaExceeded);
  EXPECT_EQ(drops(DropReason::RejectedFull), 1u);
}

TEST_F(TablesTest, OutboxDropOldestDropsOldestQueuedOfLowestPriorityLane) {
  limits_.max_rows = 3;
  limits_.policy = FullPolicy::DropOldest;
  open_tables();
  enqueue(msg("p", "presence", 0));  // id 1, lane 0
  enqueue(msg("t", "t1", 2));        // id 2, lane 2
  enqueue(msg("t", "t2", 2));        // id 3, lane 2
  enqueue(msg("t", "t3", 2));        // id 4: drops id 2 (oldest of the least important lane)
  auto rows = read(OutboxReadOptions{.max_rows = 10, .mark_inflight = false});
  std::vector<std::uint64_t> ids;
  for (const auto& r : rows) ids.push_back(r.id);
  EXPECT_EQ(ids, (std::vector<std::uint64_t>{1, 3, 4}));
  EXPECT_EQ(drops(DropReason::OldestRows), 1u);
  EXPECT_EQ(tables_->outbox.rows(), 3u);

  // Byte bound under drop_oldest: drops as many as needed, counted by its reason.
  limits_.max_rows = 0;
  limits_.max_bytes = 400;
  open_tables();
  EXPECT_EQ(tables_->outbox.rows(), 3u);  // counters reloaded from the file
  // 33 bytes stored (15 + 9 + 9); 377 more need 10 freed: ids 3 and 4 (lane 2) go, presence stays.
  enqueue(msg("t", std::string(370, 'x'), 2));
  EXPECT_EQ(tables_->outbox.rows(), 2u);
  EXPECT_EQ(drops(DropReason::OldestBytes), 2u);
  EXPECT_EQ(tables_->outbox.bytes(), 392u);
  EXPECT_EQ(read(OutboxReadOptions{.max_rows = 1, .mark_inflight = false})[0].msg.payload, "presence");
  // enqueued = rows + acked + drops (rejections aside): nothing left silently.
  EXPECT_EQ(tables_->outbox.enqueued_total(), 1u);
}

TEST_F(TablesTest, OutboxDropOldestNeverDropsInFlightRows) {
  limits_.max_rows = 2;
  limits_.policy = FullPolicy::DropOldest;
  open_tables();
  enqueue(msg("d", "1"));
  enqueue(msg("d", "2"));
  read(OutboxReadOptions{.max_rows = 2});  // both in flight
  EXPECT_EQ(try_enqueue(msg("d", "3")), Status::QuotaExceeded);
  EXPECT_EQ(drops(DropReason::RejectedFull), 1u);
  EXPECT_EQ(drops(DropReason::OldestRows), 0u);
}

TEST_F(TablesTest, OutboxPriorityLanesDrainFirstAndKeepOrderWithinLane) {
  enqueue(msg("a", "a-lane2", 2));
  enqueue(msg("b", "b-lane0", 0));
  enqueue(msg("a", "a-lane1", 1));
  enqueue(msg("b", "b2-lane0", 0));
  enqueue(msg("a", "a2-lane2", 2));
  auto rows = read(OutboxReadOptions{.max_rows = 10, .mark_inflight = false});
  std::vector<std::string> payloads;
  for (const auto& r : rows) payloads.push_back(r.msg.payload);
  EXPECT_EQ(payloads, (std::vector<std::string>{"b-lane0", "b2-lane0", "a-lane1", "a-lane2", "a2-lane2"}));
  // One lane only.
  rows = read(OutboxReadOptions{.max_rows = 10, .lane = 2});
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].msg.payload, "a-lane2");
  EXPECT_EQ(rows[1].msg.payload, "a2-lane2");
}

TEST_F(TablesTest, OutboxPruneByAgeWithInjectedClock) {
  limits_.max_age_s = 60;
  open_tables();
  enqueue(msg("d", "old1"));
  enqueue(msg("d", "old2"));
  enqueue(msg("d", "old3"));
  read(OutboxReadOptions{.max_rows = 1, .lane = 1});  // marks "old1" in flight
  clock_.advance(61'000);
  enqueue(msg("d", "young"));
  std::uint64_t removed = 0;
  tx([&](Tables& t) { ASSERT_EQ(t.outbox.prune_expired(&removed), Status::Ok); });
  EXPECT_EQ(removed, 2u);  // old2 and old3; old1 is in flight and left to its ack or requeue
  EXPECT_EQ(drops(DropReason::Expired), 2u);
  auto rows = read(OutboxReadOptions{.max_rows = 10, .mark_inflight = false});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].msg.payload, "young");
  EXPECT_EQ(tables_->outbox.rows(), 2u);
  // Nothing more to prune until time passes.
  tx([&](Tables& t) { ASSERT_EQ(t.outbox.prune_expired(&removed), Status::Ok); });
  EXPECT_EQ(removed, 0u);
}

TEST_F(TablesTest, OutboxRestoresAfterReopenAndNeverReusesIdsOrSequences) {
  enqueue(msg("a", "1"));
  enqueue(msg("b", "1"));
  enqueue(msg("a", "2"));
  read(OutboxReadOptions{.max_rows = 2});  // ids 1, 2 in flight
  open_tables();                           // as after a restart
  EXPECT_EQ(requeued_at_load_, 2u);        // what was in flight goes back to the queue
  EXPECT_EQ(tables_->outbox.rows(), 3u);
  auto rows = read(OutboxReadOptions{.max_rows = 10});
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].attempts, 2u);
  tx([&](Tables& t) { ASSERT_EQ(t.outbox.ack({IdRange{1, 3}}), Status::Ok); });
  EXPECT_EQ(tables_->outbox.rows(), 0u);
  open_tables();  // empty outbox: ids and per-origin sequences still continue
  auto e = enqueue(msg("a", "3"));
  EXPECT_EQ(e.id, 4u);
  EXPECT_EQ(e.origin_seq, 3u);
}

TEST_F(TablesTest, OutboxEnqueueWritesOnlyTheOutboxAndHighWaterMarksFollowDeletes) {
  // Flash wear: a durable enqueue writes the outbox b-tree and its index, nothing else.
  enqueue(msg("a", "1"));
  enqueue(msg("a", "2"));
  enqueue(msg("b", "1"));
  std::int64_t n = -1;
  ASSERT_EQ(
      db_.query_int("SELECT (SELECT COUNT(*) FROM outbox_origin) + (SELECT COUNT(*) FROM outbox_meta)", n),
      SQLITE_OK);
  EXPECT_EQ(n, 0);
  open_tables();  // sequences continue from the rows themselves
  auto e = enqueue(msg("a", "3"));
  EXPECT_EQ(e.id, 4u);
  EXPECT_EQ(e.origin_seq, 3u);
  // Deleting the rows writes the high-water marks in the same transaction.
  read(OutboxReadOptions{.max_rows = 10});
  tx([&](Tables& t) { ASSERT_EQ(t.outbox.ack({IdRange{1, 4}}), Status::Ok); });
  ASSERT_EQ(db_.query_int("SELECT value FROM outbox_meta WHERE key = 'last_id'", n), SQLITE_OK);
  EXPECT_EQ(n, 4);
  ASSERT_EQ(db_.query_int("SELECT last_seq FROM outbox_origin WHERE origin = 'a'", n), SQLITE_OK);
  EXPECT_EQ(n, 3);
  open_tables();
  e = enqueue(msg("b", "2"));
  EXPECT_EQ(e.id, 5u);
  EXPECT_EQ(e.origin_seq, 2u);
}

TEST_F(TablesTest, OutboxRollbackRestoresCountersAndSequences) {
  enqueue(msg("a", "1"));
  ASSERT_EQ(db_.exec("BEGIN"), SQLITE_OK);
  tables_->begin();
  ASSERT_TRUE(tables_->outbox.enqueue(msg("a", "2")));
  ASSERT_TRUE(tables_->outbox.enqueue(msg("new-origin", "1")));
  EXPECT_EQ(tables_->outbox.rows(), 3u);
  ASSERT_EQ(db_.exec("ROLLBACK"), SQLITE_OK);
  tables_->rolled_back();
  EXPECT_EQ(tables_->outbox.rows(), 1u);
  EXPECT_EQ(enqueue(msg("a", "2")).origin_seq, 2u);
  EXPECT_EQ(enqueue(msg("new-origin", "1")).origin_seq, 1u);
}

// ---- Outbox destinations -------------------------------------------------------------------------------

TEST_F(TablesTest, OutboxReadsReturnOnlyTheirDestinationInLaneThenIdOrder) {
  enqueue(msg("a", "n-lane2", 2, "netpie"));   // 1
  enqueue(msg("b", "c-lane1", 1, "corp"));     // 2
  enqueue(msg("a", "n-lane1", 1, "netpie"));   // 3
  enqueue(msg("p", "n-lane0", 0, "netpie"));   // 4
  enqueue(msg("b", "c-lane0", 0, "corp"));     // 5
  enqueue(msg("a", "legacy", 1));              // 6, dest ''
  enqueue(msg("b", "c2-lane1", 1, "corp"));    // 7
  enqueue(msg("a", "n2-lane1", 1, "netpie"));  // 8
  auto n = read(OutboxReadOptions{.dest = "netpie", .max_rows = 10, .mark_inflight = false});
  EXPECT_EQ(ids_of(n), (std::vector<std::uint64_t>{4, 3, 8, 1}));
  for (const auto& r : n) EXPECT_EQ(r.msg.dest, "netpie");
  EXPECT_EQ(ids_of(read(OutboxReadOptions{.dest = "corp", .max_rows = 10, .mark_inflight = false})),
            (std::vector<std::uint64_t>{5, 2, 7}));
  EXPECT_EQ(ids_of(read(OutboxReadOptions{.max_rows = 10, .mark_inflight = false})),
            (std::vector<std::uint64_t>{6}));
  EXPECT_TRUE(read(OutboxReadOptions{.dest = "nobody", .max_rows = 10}).empty());
  // One lane of one destination.
  EXPECT_EQ(
      ids_of(read(OutboxReadOptions{.dest = "corp", .max_rows = 10, .lane = 1, .mark_inflight = false})),
      (std::vector<std::uint64_t>{2, 7}));
  // Marking one destination's rows in flight leaves the other's queued.
  EXPECT_EQ(ids_of(read(OutboxReadOptions{.dest = "netpie", .max_rows = 2})),
            (std::vector<std::uint64_t>{4, 3}));
  EXPECT_EQ(ids_of(read(OutboxReadOptions{.dest = "corp", .max_rows = 10, .mark_inflight = false})),
            (std::vector<std::uint64_t>{5, 2, 7}));
  EXPECT_EQ(ids_of(read(OutboxReadOptions{.dest = "netpie", .max_rows = 10})),
            (std::vector<std::uint64_t>{8, 1}));
}

TEST_F(TablesTest, OutboxRequeueOfOneDestinationLeavesTheOthersInFlight) {
  for (int i = 0; i < 3; ++i) enqueue(msg("a", std::to_string(i), 1, "netpie"));  // ids 1, 2, 3
  for (int i = 0; i < 3; ++i) enqueue(msg("b", std::to_string(i), 1, "corp"));    // ids 4, 5, 6
  EXPECT_EQ(ids_of(read(OutboxReadOptions{.dest = "netpie", .max_rows = 10})),
            (std::vector<std::uint64_t>{1, 2, 3}));
  EXPECT_EQ(ids_of(read(OutboxReadOptions{.dest = "corp", .max_rows = 10})),
            (std::vector<std::uint64_t>{4, 5, 6}));
  std::uint64_t requeued = 0;
  tx([&](Tables& t) { ASSERT_EQ(t.outbox.requeue_dest("netpie", &requeued), Status::Ok); });
  EXPECT_EQ(requeued, 3u);
  tx([&](Tables& t) { ASSERT_EQ(t.outbox.requeue_dest("nobody", &requeued), Status::Ok); });
  EXPECT_EQ(requeued, 0u);
  // corp's rows are still in flight: not read again, but its acks still delete them.
  EXPECT_TRUE(read(OutboxReadOptions{.dest = "corp", .max_rows = 10}).empty());
  auto again = read(OutboxReadOptions{.dest = "netpie", .max_rows = 10});
  EXPECT_EQ(ids_of(again), (std::vector<std::uint64_t>{1, 2, 3}));
  EXPECT_EQ(again[0].attempts, 2u);
  std::uint64_t deleted = 0;
  tx([&](Tables& t) { ASSERT_EQ(t.outbox.ack({IdRange{4, 5}}, &deleted), Status::Ok); });
  EXPECT_EQ(deleted, 2u);
  EXPECT_EQ(backlog("corp").rows, 1u);
  // The single-uplink form, an empty list, still means every in-flight row of every destination.
  tx([&](Tables& t) { ASSERT_EQ(t.outbox.requeue({}, &requeued), Status::Ok); });
  EXPECT_EQ(requeued, 4u);  // netpie 1-3 and corp 6
  EXPECT_EQ(ids_of(read(OutboxReadOptions{.dest = "corp", .max_rows = 10})), (std::vector<std::uint64_t>{6}));
  expect_backlogs_add_up();
}

TEST_F(TablesTest, OutboxClaimMovesRowsAndBacklogAndSurvivesReopen) {
  enqueue(msg("a", "1"));                  // 1, dest '' (written before destinations)
  enqueue(msg("a", "22", 0));              // 2, ''
  enqueue(msg("b", "333", 1, "removed"));  // 3
  enqueue(msg("b", "4444", 1, "netpie"));  // 4
  read(OutboxReadOptions{.max_rows = 1});  // id 2 ('' lane 0) in flight
  const OutboxBacklog legacy = backlog("");
  EXPECT_EQ(legacy, (OutboxBacklog{2, 8 + 9}));  // size = origin 1 + topic 6 + payload
  const OutboxBacklog netpie_before = backlog("netpie");
  const auto rows_before = tables_->outbox.rows();
  const auto bytes_before = tables_->outbox.bytes();

  Result<OutboxBacklog, Status> moved = OutboxBacklog{};
  tx([&](Tables& t) { moved = t.outbox.claim("", "netpie"); });
  ASSERT_TRUE(moved);
  EXPECT_EQ(moved.value(), legacy);  // queued and in-flight rows alike
  EXPECT_EQ(backlog(""), (OutboxBacklog{0, 0}));
  EXPECT_EQ(tables_->outbox.backlogs().count(""), 0u);
  EXPECT_EQ(backlog("netpie"), (OutboxBacklog{netpie_before.rows + 2, netpie_before.bytes + legacy.bytes}));
  EXPECT_EQ(tables_->outbox.rows(), rows_before);
  EXPECT_EQ(tables_->outbox.bytes(), bytes_before);
  EXPECT_EQ(ids_of(read(OutboxReadOptions{.dest = "netpie", .max_rows = 10, .mark_inflight = false})),
            (std::vector<std::uint64_t>{1, 4}));  // 2 is still in flight; it now belongs to netpie
  // A claim of a destination without rows, or onto itself, moves nothing.
  tx([&](Tables& t) { moved = t.outbox.claim("", "netpie"); });
  ASSERT_TRUE(moved);
  EXPECT_EQ(moved.value(), (OutboxBacklog{0, 0}));
  tx([&](Tables& t) { moved = t.outbox.claim("netpie", "netpie"); });
  ASSERT_TRUE(moved);
  EXPECT_EQ(moved.value(), (OutboxBacklog{0, 0}));
  // An uplink removed from the config: its rows handed to nobody ('').
  tx([&](Tables& t) { moved = t.outbox.claim("removed", ""); });
  ASSERT_TRUE(moved);
  EXPECT_EQ(moved.value(), (OutboxBacklog{1, 1 + 6 + 3}));
  EXPECT_EQ(backlog("removed"), (OutboxBacklog{0, 0}));
  EXPECT_EQ(backlog(""), (OutboxBacklog{1, 10}));
  expect_backlogs_add_up();

  const OutboxTable::Backlogs before_reopen = tables_->outbox.backlogs();
  open_tables();
  EXPECT_EQ(tables_->outbox.backlogs(), before_reopen);
  expect_backlogs_add_up();
}

TEST_F(TablesTest, OutboxBacklogPerDestinationFollowsEnqueueAckDropAndPrune) {
  limits_.max_rows = 5;
  limits_.max_age_s = 60;
  limits_.policy = FullPolicy::DropOldest;
  open_tables();
  enqueue(msg("a", "1", 1, "netpie"));    // 1: 1 + 6 + 1 = 8 bytes
  enqueue(msg("b", "22", 1, "corp"));     // 2: 9 bytes
  enqueue(msg("a", "333", 1, "netpie"));  // 3: 10 bytes
  EXPECT_EQ(backlog("netpie"), (OutboxBacklog{2, 18}));
  EXPECT_EQ(backlog("corp"), (OutboxBacklog{1, 9}));
  expect_backlogs_add_up();

  read(OutboxReadOptions{.dest = "netpie", .max_rows = 1});                      // id 1 in flight
  tx([&](Tables& t) { ASSERT_EQ(t.outbox.ack({IdRange{1, 3}}), Status::Ok); });  // only 1 was in flight
  EXPECT_EQ(backlog("netpie"), (OutboxBacklog{1, 10}));
  EXPECT_EQ(tables_->outbox.acked_total(), 1u);
  expect_backlogs_add_up();

  // The bound is global: corp's lane 2 row is the lowest priority, so it goes first although netpie's
  // rows are older.
  enqueue(msg("b", "44", 2, "corp"));    // 4
  enqueue(msg("a", "55", 1, "netpie"));  // 5
  enqueue(msg("c", "66", 1, "other"));   // 6: 4 rows before, 5 after: no drop yet
  EXPECT_EQ(tables_->outbox.rows(), 5u);
  enqueue(msg("a", "77", 1, "netpie"));  // 7: drops id 4 (corp, lane 2)
  EXPECT_EQ(drops(DropReason::OldestRows), 1u);
  EXPECT_EQ(backlog("corp"), (OutboxBacklog{1, 9}));
  enqueue(msg("a", "88", 1, "netpie"));  // 8: every row is lane 1 now: drops the oldest, id 2 (corp)
  EXPECT_EQ(drops(DropReason::OldestRows), 2u);
  EXPECT_EQ(backlog("corp"), (OutboxBacklog{0, 0}));
  enqueue(msg("c", "99", 1, "other"));  // 9: drops id 3 (netpie)
  EXPECT_EQ(drops(DropReason::OldestRows), 3u);
  EXPECT_EQ(ids_of(read(OutboxReadOptions{.dest = "netpie", .max_rows = 10, .mark_inflight = false})),
            (std::vector<std::uint64_t>{5, 7, 8}));
  EXPECT_EQ(backlog("netpie"), (OutboxBacklog{3, 27}));
  EXPECT_EQ(backlog("other"), (OutboxBacklog{2, 18}));
  expect_backlogs_add_up();

  // Age: everything above is old; netpie's id 5 is in flight and stays.
  read(OutboxReadOptions{.dest = "netpie", .max_rows = 1});
  clock_.advance(61'000);
  enqueue(msg("b", "young", 1, "corp"));  // 10: drops id 6 (other, the oldest queued)
  EXPECT_EQ(drops(DropReason::OldestRows), 4u);
  std::uint64_t removed = 0;
  tx([&](Tables& t) { ASSERT_EQ(t.outbox.prune_expired(&removed), Status::Ok); });
  EXPECT_EQ(removed, 3u);  // 7 and 8 (netpie), 9 (other)
  EXPECT_EQ(backlog("netpie"), (OutboxBacklog{1, 9}));
  EXPECT_EQ(backlog("other"), (OutboxBacklog{0, 0}));
  EXPECT_EQ(backlog("corp"), (OutboxBacklog{1, 12}));
  expect_backlogs_add_up();
  // enqueued = rows + acked + drops, over all destinations together.
  EXPECT_EQ(tables_->outbox.enqueued_total(),
            tables_->outbox.rows() + tables_->outbox.acked_total() + drops(DropReason::OldestRows) +
                drops(DropReason::OldestBytes) + drops(DropReason::Expired));
  open_tables();
  EXPECT_EQ(backlog("netpie"), (OutboxBacklog{1, 9}));
  EXPECT_EQ(backlog("corp"), (OutboxBacklog{1, 12}));
  expect_backlogs_add_up();
}

TEST_F(TablesTest, OutboxRejectNewBoundIsSharedByAllDestinations) {
  limits_.max_rows = 3;
  open_tables();
  enqueue(msg("a", "1", 1, "netpie"));
  enqueue(msg("a", "2", 1, "netpie"));
  enqueue(msg("b", "1", 1, "corp"));
  EXPECT_EQ(try_enqueue(msg("c", "1", 1, "other")), Status::QuotaExceeded);  // other has no rows yet
  EXPECT_EQ(try_enqueue(msg("b", "2", 1, "corp")), Status::QuotaExceeded);
  EXPECT_EQ(drops(DropReason::RejectedFull), 2u);
  EXPECT_EQ(backlog("other"), (OutboxBacklog{0, 0}));
  EXPECT_EQ(backlog("corp").rows, 1u);
  // Byte bound, across destinations too.
  limits_.max_rows = 0;
  limits_.max_bytes = 32;
  open_tables();                                                              // 24 bytes stored (3 x 8)
  EXPECT_EQ(try_enqueue(msg("c", "xx", 1, "other")), Status::QuotaExceeded);  // 24 + 9 > 32
  EXPECT_EQ(try_enqueue(msg("c", "x", 1, "other")), Status::Ok);              // 24 + 8 fits
}

TEST_F(TablesTest, OutboxRollbackRestoresTheBacklogPerDestination) {
  enqueue(msg("a", "1", 1, "netpie"));
  enqueue(msg("b", "1"));
  const OutboxTable::Backlogs before = tables_->outbox.backlogs();
  ASSERT_EQ(db_.exec("BEGIN"), SQLITE_OK);
  tables_->begin();
  ASSERT_TRUE(tables_->outbox.enqueue(msg("a", "2", 1, "netpie")));
  ASSERT_TRUE(tables_->outbox.enqueue(msg("c", "1", 1, "corp")));
  ASSERT_TRUE(tables_->outbox.claim("", "netpie"));
  EXPECT_EQ(backlog("netpie").rows, 3u);
  ASSERT_EQ(db_.exec("ROLLBACK"), SQLITE_OK);
  tables_->rolled_back();
  EXPECT_EQ(tables_->outbox.backlogs(), before);
  expect_backlogs_add_up();
}

// ---- Outbox released mark (QoS 2: the cloud answered PUBREC) -----------------------------------------

TEST_F(TablesTest, OutboxReleaseIsReadBackAndKeptByRequeueClaimAndReopenUntilTheAck) {
  for (int i = 1; i <= 4; ++i) enqueue(msg("a", std::to_string(i), 1, "netpie"));  // ids 1-4
  auto sent = read(OutboxReadOptions{.dest = "netpie", .max_rows = 2});            // 1, 2 in flight
  ASSERT_EQ(ids_of(sent), (std::vector<std::uint64_t>{1, 2}));
  EXPECT_FALSE(sent[0].released);
  EXPECT_FALSE(sent[1].released);

  // PUBREC for 1 (in flight); 3 is queued (released before a requeue, say); 99 was never there.
  std::uint64_t marked = 0;
  tx([&](Tables& t) { ASSERT_EQ(t.outbox.release({1, 3, 99}, &marked), Status::Ok); });
  EXPECT_EQ(marked, 2u);
  tx([&](Tables& t) { ASSERT_EQ(t.outbox.release({1}, &marked), Status::Ok); });
  EXPECT_EQ(marked, 0u);  // released already: not written again
  std::int64_t n = -1;
  ASSERT_EQ(
      db_.query_int(
          "SELECT group_concat(id) = '1,3' FROM (SELECT id FROM outbox WHERE released = 1 ORDER BY id)", n),
      SQLITE_OK);
  EXPECT_EQ(n, 1);
  EXPECT_EQ(tables_->outbox.rows(), 4u);  // the mark moves no counter
  expect_backlogs_add_up();

  auto released_ids = [](const std::vector<OutboxRecord>& rows) {
    std::vector<std::uint64_t> ids;
    for (const auto& r : rows)
      if (r.released) ids.push_back(r.id);
    return ids;
  };
  // A failed send: requeue by range keeps the mark.
  tx([&](Tables& t) { ASSERT_EQ(t.outbox.requeue({IdRange{1, 2}}), Status::Ok); });
  auto rows = read(OutboxReadOptions{.dest = "netpie", .max_rows = 10});
  EXPECT_EQ(ids_of(rows), (std::vector<std::uint64_t>{1, 2, 3, 4}));
  EXPECT_EQ(released_ids(rows), (std::vector<std::uint64_t>{1, 3}));
  // The connection is lost: requeue_all keeps it, and so does the single-uplink form.
  tx([&](Tables& t) { ASSERT_EQ(t.outbox.requeue_dest("netpie"), Status::Ok); });
  rows = read(OutboxReadOptions{.dest = "netpie", .max_rows = 10});
  EXPECT_EQ(released_ids(rows), (std::vector<std::uint64_t>{1, 3}));
  tx([&](Tables& t) { ASSERT_EQ(t.outbox.requeue({}), Status::Ok); });
  // A claim moves the rows with their mark (queued and in flight alike).
  read(OutboxReadOptions{.dest = "netpie", .max_rows = 1});  // 1 in flight
  tx([&](Tables& t) { ASSERT_TRUE(t.outbox.claim("netpie", "corp")); });
  rows = read(OutboxReadOptions{.dest = "corp", .max_rows = 10, .mark_inflight = false});
  EXPECT_EQ(ids_of(rows), (std::vector<std::uint64_t>{2, 3, 4}));
  EXPECT_EQ(released_ids(rows), (std::vector<std::uint64_t>{3}));
  // A restart requeues what was in flight (1) and keeps the mark.
  open_tables();
  EXPECT_EQ(requeued_at_load_, 1u);
  rows = read(OutboxReadOptions{.dest = "corp", .max_rows = 10});
  EXPECT_EQ(ids_of(rows), (std::vector<std::uint64_t>{1, 2, 3, 4}));
  EXPECT_EQ(released_ids(rows), (std::vector<std::uint64_t>{1, 3}));
  // PUBCOMP: the ack deletes the row, mark and all; a release of it afterwards is not an error.
  std::uint64_t deleted = 0;
  tx([&](Tables& t) { ASSERT_EQ(t.outbox.ack({IdRange{1, 1}}, &deleted), Status::Ok); });
  EXPECT_EQ(deleted, 1u);
  tx([&](Tables& t) { ASSERT_EQ(t.outbox.release({1}, &marked), Status::Ok); });
  EXPECT_EQ(marked, 0u);
  ASSERT_EQ(db_.query_int("SELECT COUNT(*) FROM outbox WHERE released = 1", n), SQLITE_OK);
  EXPECT_EQ(n, 1);  // 3
  expect_backlogs_add_up();
}

TEST_F(TablesTest, OutboxInFlightAndReleasedMarksTouchExactlyTheIdsGivenInRunsOfConsecutiveIds) {
  // Both marks are written one statement per run of consecutive ids: a row between two runs (another
  // destination's, here id 3) is never marked.
  for (int i = 1; i <= 6; ++i) enqueue(msg("a", std::to_string(i), 1, i == 3 ? "other" : "netpie"));
  auto sent = read(OutboxReadOptions{.dest = "netpie", .max_rows = 10});
  ASSERT_EQ(ids_of(sent), (std::vector<std::uint64_t>{1, 2, 4, 5, 6}));
  std::int64_t n = -1;
  ASSERT_EQ(
      db_.query_int(
          "SELECT group_concat(id) = '1,2,4,5,6' FROM (SELECT id FROM outbox WHERE state = 1 ORDER BY id)",
          n),
      SQLITE_OK);
  EXPECT_EQ(n, 1);
  ASSERT_EQ(db_.query_int("SELECT state FROM outbox WHERE id = 3", n), SQLITE_OK);
  EXPECT_EQ(n, 0);
  EXPECT_EQ(ids_of(read(OutboxReadOptions{.dest = "other", .max_rows = 10})),
            (std::vector<std::uint64_t>{3}));

  std::uint64_t marked = 0;
  tx([&](Tables& t) { ASSERT_EQ(t.outbox.release({1, 2, 4, 5}, &marked), Status::Ok); });
  EXPECT_EQ(marked, 4u);
  ASSERT_EQ(
      db_.query_int(
          "SELECT group_concat(id) = '1,2,4,5' FROM (SELECT id FROM outbox WHERE released = 1 ORDER BY id)",
          n),
      SQLITE_OK);
  EXPECT_EQ(n, 1);
  tx([&](Tables& t) { ASSERT_EQ(t.outbox.release({2, 3}, &marked), Status::Ok); });
  EXPECT_EQ(marked, 1u);  // 2 was released already; 3 is
}

TEST_F(TablesTest, OutboxReadSaysHowFarItVisitedSoALiveReadDoesNotWalkSkippedRowsAgain) {
  // The backlog's origin "b" published 3000 rows after the mark (ids 1-3000), then "alarm" one (3001).
  for (int i = 1; i <= 3000; ++i) enqueue(msg("b", std::to_string(i), 1, "up"));
  enqueue(msg("alarm", "x", 1, "up"));
  OutboxReadOptions live{.dest = "up", .max_rows = 100, .skip_origins = {"b"}};
  std::vector<OutboxRecord> rows;
  std::uint64_t scanned = 0;
  // A read walks past at most 2,048 rows it leaves queued: it stops on the 2,048th, having visited it.
  tx([&](Tables& t) { ASSERT_EQ(t.outbox.read(live, rows, &scanned), Status::Ok); });
  EXPECT_TRUE(rows.empty());
  EXPECT_EQ(scanned, 2048u);
  // From there the alarm is found, and everything up to the last id has been visited.
  live.after_id = scanned;
  tx([&](Tables& t) { ASSERT_EQ(t.outbox.read(live, rows, &scanned), Status::Ok); });
  EXPECT_EQ(ids_of(rows), (std::vector<std::uint64_t>{3001}));
  EXPECT_EQ(scanned, 3001u);
  // Nothing new: the next read says the same.
  live.after_id = scanned;
  rows.clear();
  tx([&](Tables& t) { ASSERT_EQ(t.outbox.read(live, rows, &scanned), Status::Ok); });
  EXPECT_TRUE(rows.empty());
  EXPECT_EQ(scanned, 3001u);
  // Cut short by max_rows below a lane that has queued rows: it cannot say (its after_id).
  enqueue(msg("alarm", "y", 1, "up"));     // 3002, lane 1
  enqueue(msg("alarm", "z", 1, "up"));     // 3003, lane 1
  enqueue(msg("presence", "p", 2, "up"));  // 3004, lane 2
  OutboxReadOptions one = live;
  one.max_rows = 1;
  tx([&](Tables& t) { ASSERT_EQ(t.outbox.read(one, rows, &scanned), Status::Ok); });
  EXPECT_EQ(ids_of(rows), (std::vector<std::uint64_t>{3002}));
  EXPECT_EQ(scanned, 3001u);
}

TEST_F(TablesTest, OutboxReleaseRollsBackWithItsTransaction) {
  enqueue(msg("a", "1"));
  ASSERT_EQ(db_.exec("BEGIN"), SQLITE_OK);
  tables_->begin();
  ASSERT_EQ(tables_->outbox.release({1}), Status::Ok);
  ASSERT_EQ(db_.exec("ROLLBACK"), SQLITE_OK);
  tables_->rolled_back();
  auto rows = read(OutboxReadOptions{.max_rows = 10, .mark_inflight = false});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_FALSE(rows[0].released);
}

// A released row (the cloud answered PUBREC and waits for PUBREL) is never dropped: drop_oldest takes the
// oldest row that is not released, the age bound walks past it, and when only released rows are left
// the new row is refused.
TEST_F(TablesTest, OutboxDropOldestAndTheAgeBoundNeverDropReleasedRows) {
  limits_.max_rows = 2;
  limits_.max_age_s = 60;
  limits_.policy = FullPolicy::DropOldest;
  open_tables();
  enqueue(msg("a", "1"));  // 1
  enqueue(msg("a", "2"));  // 2
  tx([&](Tables& t) { ASSERT_EQ(t.outbox.release({1}), Status::Ok); });
  enqueue(msg("a", "3"));  // drops 2, the oldest not released
  EXPECT_EQ(drops(DropReason::OldestRows), 1u);
  EXPECT_EQ(ids_of(read(OutboxReadOptions{.max_rows = 10, .mark_inflight = false})),
            (std::vector<std::uint64_t>{1, 3}));
  tx([&](Tables& t) { ASSERT_EQ(t.outbox.release({3}), Status::Ok); });
  tx([&](Tables& t) {
    auto r = t.outbox.enqueue(msg("a", "4"));  // only released rows: refused
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), Status::QuotaExceeded);
  });
  EXPECT_EQ(drops(DropReason::RejectedFull), 1u);
  clock_.advance(61'000);
  std::uint64_t removed = 0;
  tx([&](Tables& t) { ASSERT_EQ(t.outbox.prune_expired(&removed), Status::Ok); });
  EXPECT_EQ(removed, 0u);
  EXPECT_EQ(tables_->outbox.rows(), 2u);
}

// ---- Sessions ------------------------------------------------------------------------------------------

SessionRecord sample_session(const std::string& id) {
  SessionRecord r;
  r.meta.client_id = id;
  r.meta.expiry_interval_s = 3600;
  r.meta.disconnected_unix = 0;
  r.meta.extra = std::string("\x05will", 5);
  r.subscriptions.push_back(Subscription{"cmd/+", 1, true, false, 2, 7});
  r.subscriptions.push_back(Subscription{"alerts/#", 2, false, true, 0, 0});
  SessionMessage queued;
  queued.seq = 10;
  queued.state = MessageState::Queued;
  queued.qos = 1;
  queued.topic = "cmd/a";
  queued.payload = std::string("on\0off", 6);
  SessionMessage inflight;
  inflight.seq = 11;
  inflight.packet_id = 42;
  inflight.state = MessageState::AwaitPubrec;
  inflight.qos = 2;
  inflight.retain = true;
  inflight.topic = "alerts/fire";
  inflight.payload = "!";
  inflight.properties = std::string("\x01\x01", 2);
  inflight.expiry_unix = 1'800'000'000;
  SessionMessage inbound;
  inbound.seq = 12;
  inbound.packet_id = 9;
  inbound.state = MessageState::AwaitPubrel;
  inbound.qos = 2;
  inbound.topic = "up/x";
  r.messages = {queued, inflight, inbound};
  return r;
}

std::vector<SessionRecord> load_sessions(Tables& t) {
  std::vector<SessionRecord> out;
  EXPECT_EQ(t.sessions.load(out, UINT32_MAX), Status::Ok);
  return out;
}

TEST_F(TablesTest, SessionsSaveLoadWithQueuedAndInflightMessages) {
  tx([](Tables& t) {
    ASSERT_EQ(t.sessions.save(sample_session("dev-1")), Status::Ok);
    ASSERT_EQ(t.sessions.save(sample_session("dev-2")), Status::Ok);
  });
  open_tables();  // a restart
  auto all = load_sessions(*tables_);
  ASSERT_EQ(all.size(), 2u);
  const SessionRecord& s = all[0];
  EXPECT_EQ(s.meta.client_id, "dev-1");
  EXPECT_EQ(s.meta.expiry_interval_s, 3600u);
  EXPECT_EQ(s.meta.extra, std::string("\x05will", 5));
  ASSERT_EQ(s.subscriptions.size(), 2u);
  EXPECT_EQ(s.subscriptions[0].filter, "alerts/#");  // filter order
  EXPECT_EQ(s.subscriptions[0].qos, 2);
  EXPECT_TRUE(s.subscriptions[0].retain_as_published);
  EXPECT_EQ(s.subscriptions[1].filter, "cmd/+");
  EXPECT_TRUE(s.subscriptions[1].no_local);
  EXPECT_EQ(s.subscriptions[1].retain_handling, 2);
  EXPECT_EQ(s.subscriptions[1].subscription_id, 7u);
  ASSERT_EQ(s.messages.size(), 3u);
  EXPECT_EQ(s.messages[0].seq, 10u);
  EXPECT_EQ(s.messages[0].state, MessageState::Queued);
  EXPECT_EQ(s.messages[0].payload, std::string("on\0off", 6));
  EXPECT_EQ(s.messages[1].packet_id, 42);
  EXPECT_EQ(s.messages[1].state, MessageState::AwaitPubrec);
  EXPECT_TRUE(s.messages[1].retain);
  EXPECT_EQ(s.messages[1].properties, std::string("\x01\x01", 2));
  EXPECT_EQ(s.messages[1].expiry_unix, 1'800'000'000);
  EXPECT_EQ(s.messages[2].state, MessageState::AwaitPubrel);
}

TEST_F(TablesTest, SessionsIncrementalUpdatesAndDelete) {
  tx([](Tables& t) { ASSERT_EQ(t.sessions.save(sample_session("dev-1")), Status::Ok); });
  tx([](Tables& t) {
    ASSERT_EQ(t.sessions.update_message("dev-1", 10, MessageState::AwaitPuback, 5), Status::Ok);
    ASSERT_EQ(t.sessions.remove_message("dev-1", 11), Status::Ok);  // PUBCOMP
    SessionMessage m;
    m.seq = 13;
    m.topic = "cmd/b";
    m.payload = "x";
    ASSERT_EQ(t.sessions.put_message("dev-1", m), Status::Ok);
    ASSERT_EQ(t.sessions.unsubscribe("dev-1", "alerts/#"), Status::Ok);
    ASSERT_EQ(t.sessions.subscribe("dev-1", Subscription{"cmd/+", 0, false, false, 0, 0}), Status::Ok);
    ASSERT_EQ(t.sessions.put_meta(SessionMeta{"dev-1", 60, 1'700'000'500, ""}), Status::Ok);
  });
  auto all = load_sessions(*tables_);
  ASSERT_EQ(all.size(), 1u);
  const SessionRecord& s = all[0];
  EXPECT_EQ(s.meta.expiry_interval_s, 60u);
  EXPECT_EQ(s.meta.disconnected_unix, 1'700'000'500);
  ASSERT_EQ(s.subscriptions.size(), 1u);
  EXPECT_EQ(s.subscriptions[0].qos, 0);  // replaced by the new SUBSCRIBE
  ASSERT_EQ(s.messages.size(), 3u);
  EXPECT_EQ(s.messages[0].state, MessageState::AwaitPuback);
  EXPECT_EQ(s.messages[0].packet_id, 5);
  EXPECT_EQ(s.messages[1].seq, 12u);
  EXPECT_EQ(s.messages[2].seq, 13u);

  tx([](Tables& t) { ASSERT_EQ(t.sessions.remove("dev-1"), Status::Ok); });
  EXPECT_TRUE(load_sessions(*tables_).empty());
  std::int64_t n = -1;
  ASSERT_EQ(
      db_.query_int("SELECT (SELECT COUNT(*) FROM session_subs) + (SELECT COUNT(*) FROM session_msgs)", n),
      SQLITE_OK);
  EXPECT_EQ(n, 0);
}

// A session's queue is paged: a load counts it and reads only the first rows asked for (plus every row that
// is in flight or inbound QoS 2); read_queued() pages on from a seq, in order, skipping rows in flight;
// drop_queued() deletes the oldest queued rows above a seq and says how many and how many bytes (topic +
// payload).
TEST_F(TablesTest, SessionQueuePagesCountsAndDropsOldest) {
  tx([](Tables& t) {
    ASSERT_EQ(t.sessions.put_meta(SessionMeta{"dev", 3600, 0, ""}), Status::Ok);
    for (std::uint64_t seq = 1; seq <= 1000; ++seq) {
      SessionMessage m;
      m.seq = seq;
      m.topic = "t/" + std::to_string(seq % 10);  // 3 bytes
      m.payload = std::string(seq % 7, 'p');
      // Two rows in the middle were sent (in flight), and one is an inbound QoS 2 id.
      if (seq == 500 || seq == 501) m.state = MessageState::AwaitPuback;
      if (seq == 502) m.state = MessageState::AwaitPubrel;
      ASSERT_EQ(t.sessions.put_message("dev", m), Status::Ok);
    }
  });
  std::uint64_t queued_bytes = 0;
  for (std::uint64_t seq = 1; seq <= 1000; ++seq) {
    if (seq < 500 || seq > 502) queued_bytes += 3 + seq % 7;
  }
  open_tables();
  std::vector<SessionRecord> all;
  ASSERT_EQ(tables_->sessions.load(all, 4), Status::Ok);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].queued, (SessionQueued{997, queued_bytes}));
  EXPECT_EQ(all[0].last_seq, 1000u);
  std::vector<std::uint64_t> seqs;
  for (const auto& m : all[0].messages) seqs.push_back(m.seq);
  EXPECT_EQ(seqs, (std::vector<std::uint64_t>{1, 2, 3, 4, 500, 501, 502}));  // by seq

  std::vector<SessionMessage> page;
  tx([&](Tables& t) { ASSERT_EQ(t.sessions.read_queued("dev", 497, 5, page), Status::Ok); });
  seqs.clear();
  for (const auto& m : page) seqs.push_back(m.seq);
  EXPECT_EQ(seqs, (std::vector<std::uint64_t>{498, 499, 503, 504, 505}));

  Result<SessionQueued, Status> dropped = unexpected(Status::Internal);
  tx([&](Tables& t) { dropped = t.sessions.drop_queued("dev", 497, 4); });  // 498, 499, 503, 504
  ASSERT_TRUE(dropped);
  EXPECT_EQ(*dropped, (SessionQueued{4, (3 + 498 % 7) + (3 + 499 % 7) + (3 + 503 % 7) + (3 + 504 % 7)}));
  page.clear();
  tx([&](Tables& t) { ASSERT_EQ(t.sessions.read_queued("dev", 497, 2, page), Status::Ok); });
  ASSERT_EQ(page.size(), 2u);
  EXPECT_EQ(page[0].seq, 505u);
  EXPECT_EQ(page[1].seq, 506u);
  all.clear();
  ASSERT_EQ(tables_->sessions.load(all, 0), Status::Ok);
  EXPECT_EQ(all[0].queued.rows, 993u);
  EXPECT_EQ(all[0].messages.size(), 3u);  // the in-flight and inbound rows only
  std::int64_t held = -1;                 // the two in flight and the inbound id are untouched
  ASSERT_EQ(db_.query_int("SELECT COUNT(*) FROM session_msgs WHERE state != 0", held), SQLITE_OK);
  EXPECT_EQ(held, 3);
}

TEST_F(TablesTest, SessionsExpireByIntervalButKeepConnectedAndNeverExpiring) {
  tx([](Tables& t) {
    ASSERT_EQ(t.sessions.put_meta(SessionMeta{"gone", 100, 1000, ""}), Status::Ok);
    ASSERT_EQ(t.sessions.put_meta(SessionMeta{"fresh", 100, 1950, ""}), Status::Ok);
    ASSERT_EQ(t.sessions.put_meta(SessionMeta{"forever", 0xFFFFFFFFu, 1000, ""}), Status::Ok);
    ASSERT_EQ(t.sessions.put_meta(SessionMeta{"connected", 100, 0, ""}), Status::Ok);
  });
  std::uint64_t removed = 0;
  std::vector<std::string> expired;  // named for the broker, which reports their end (on_session_ended)
  tx([&](Tables& t) { ASSERT_EQ(t.sessions.expire(2000, &removed, &expired), Status::Ok); });
  EXPECT_EQ(removed, 1u);
  EXPECT_EQ(expired, std::vector<std::string>{"gone"});
  auto all = load_sessions(*tables_);
  std::vector<std::string> ids;
  for (const auto& s : all) ids.push_back(s.meta.client_id);
  EXPECT_EQ(ids, (std::vector<std::string>{"connected", "forever", "fresh"}));
}

// ---- Retained ------------------------------------------------------------------------------------------

TEST_F(TablesTest, RetainedSetReplaceClearLoad) {
  tx([](Tables& t) {
    ASSERT_EQ(t.retained.set(RetainedMessage{"a/1", "one", "", 1, 0}), Status::Ok);
    ASSERT_EQ(t.retained.set(RetainedMessage{"a/2", "two", "p", 0, 99}), Status::Ok);
    ASSERT_EQ(t.retained.set(RetainedMessage{"a/3", "three", "", 2, 0}), Status::Ok);
  });
  tx([](Tables& t) {
    ASSERT_EQ(t.retained.set(RetainedMessage{"a/1", "uno", "", 2, 0}), Status::Ok);  // replace
    ASSERT_EQ(t.retained.set(RetainedMessage{"a/2", "", "", 0, 0}), Status::Ok);     // empty payload clears
    ASSERT_EQ(t.retained.clear("a/3"), Status::Ok);
    ASSERT_EQ(t.retained.clear("never/set"), Status::Ok);
  });
  open_tables();
  std::vector<RetainedMessage> all;
  ASSERT_EQ(tables_->retained.load(all), Status::Ok);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].topic, "a/1");
  EXPECT_EQ(all[0].payload, "uno");
  EXPECT_EQ(all[0].qos, 2);
}

// ---- Key/value -----------------------------------------------------------------------------------------

TEST_F(TablesTest, KvTokensPutGetReplaceEraseScan) {
  tx([](Tables& t) {
    ASSERT_EQ(t.kv.put("netpie/token", "t1"), Status::Ok);
    ASSERT_EQ(t.kv.put("netpie/secret", std::string("s\0x", 3)), Status::Ok);
    ASSERT_EQ(t.kv.put("uplink/endpoint", "gb.netpie.io:1883"), Status::Ok);
  });
  tx([](Tables& t) { ASSERT_EQ(t.kv.put("netpie/token", "t2"), Status::Ok); });
  open_tables();
  auto v = tables_->kv.get("netpie/token");
  ASSERT_TRUE(v);
  ASSERT_TRUE(v.value().has_value());
  EXPECT_EQ(*v.value(), "t2");
  EXPECT_EQ(*tables_->kv.get("netpie/secret").value(), std::string("s\0x", 3));
  EXPECT_FALSE(tables_->kv.get("missing").value().has_value());
  std::vector<std::pair<std::string, std::string>> rows;
  ASSERT_EQ(tables_->kv.scan("netpie/", rows), Status::Ok);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].first, "netpie/secret");
  EXPECT_EQ(rows[1].first, "netpie/token");
  tx([](Tables& t) { ASSERT_EQ(t.kv.erase("netpie/token"), Status::Ok); });
  EXPECT_FALSE(tables_->kv.get("netpie/token").value().has_value());
}

// ---- History -------------------------------------------------------------------------------------------

class HistoryTest : public TablesTest {
 protected:
  void SetUp() override {
    history_.filters = {"farm/+/temp", "alerts/#"};
    history_.max_age_s = 3600;
    history_.max_rows = 5;
    TablesTest::SetUp();
  }
  std::uint64_t append(const std::string& topic, const std::string& payload) {
    std::uint64_t seq = 0;
    tx([&](Tables& t) {
      auto r = t.history.append(HistoryMessage{topic, payload, "", 0});
      ASSERT_TRUE(r);
      seq = r.value();
    });
    return seq;
  }
  std::vector<HistoryRecord> query(HistoryQuery q) {
    std::vector<HistoryRecord> out;
    tx([&](Tables& t) { ASSERT_EQ(t.history.query(q, out), Status::Ok); });
    return out;
  }
};

TEST_F(HistoryTest, WantsOnlyConfiguredFilters) {
  EXPECT_TRUE(tables_->history.wants("farm/a/temp"));
  EXPECT_TRUE(tables_->history.wants("alerts"));
  EXPECT_TRUE(tables_->history.wants("alerts/fire/room1"));
  EXPECT_FALSE(tables_->history.wants("farm/a/humidity"));
  EXPECT_FALSE(tables_->history.wants("farm/a/b/temp"));
}

TEST_F(HistoryTest, QueryByTopicAndBySequenceAndTimeRange) {
  std::uint64_t s1 = append("farm/a/temp", "20");
  clock_.advance(10'000);
  append("farm/b/temp", "30");
  std::uint64_t s3 = append("farm/a/temp", "21");
  clock_.advance(10'000);
  std::uint64_t s4 = append("farm/a/temp", "22");
  EXPECT_LT(s1, s3);
  EXPECT_LT(s3, s4);

  auto a = query(HistoryQuery{.topic = "farm/a/temp"});
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[0].msg.payload, "20");
  EXPECT_EQ(a[2].msg.payload, "22");

  auto by_seq = query(HistoryQuery{.topic = "farm/a/temp", .from_seq = s3, .to_seq = s4});
  ASSERT_EQ(by_seq.size(), 2u);
  EXPECT_EQ(by_seq[0].seq, s3);

  const std::int64_t t0 = clock_.unix_seconds() - 20;
  auto by_time = query(HistoryQuery{.topic = "farm/a/temp", .from_unix = t0 + 5, .to_unix = t0 + 15});
  ASSERT_EQ(by_time.size(), 1u);
  EXPECT_EQ(by_time[0].msg.payload, "21");

  auto wildcard = query(HistoryQuery{.topic = "farm/+/temp", .limit = 3});
  ASSERT_EQ(wildcard.size(), 3u);
  EXPECT_EQ(wildcard[1].msg.topic, "farm/b/temp");

  auto all = query(HistoryQuery{});
  EXPECT_EQ(all.size(), 4u);
  auto limited = query(HistoryQuery{.topic = "farm/a/temp", .limit = 1});
  ASSERT_EQ(limited.size(), 1u);
  EXPECT_EQ(limited[0].seq, s1);
}

TEST_F(HistoryTest, RetentionByRowsAndByAge) {
  for (int i = 0; i < 8; ++i) append("farm/a/temp", std::to_string(i));
  std::uint64_t removed = 0;
  tx([&](Tables& t) { ASSERT_EQ(t.history.prune(&removed), Status::Ok); });
  EXPECT_EQ(removed, 3u);  // max_rows 5: the oldest three go
  auto rows = query(HistoryQuery{});
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(rows[0].msg.payload, "3");
  EXPECT_EQ(tables_->history.rows(), 5u);

  clock_.advance(3'601'000);
  append("alerts/x", "new");
  tx([&](Tables& t) { ASSERT_EQ(t.history.prune(&removed), Status::Ok); });
  EXPECT_EQ(removed, 5u);  // older than max_age_s
  rows = query(HistoryQuery{});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].msg.payload, "new");
  EXPECT_EQ(tables_->history.pruned_total(), 8u);
}

// ---- Topic filters -------------------------------------------------------------------------------------

TEST(StorageTopicFilter, MqttWildcardRules) {
  EXPECT_TRUE(topic_matches("a/b", "a/b"));
  EXPECT_FALSE(topic_matches("a/b", "a/c"));
  EXPECT_TRUE(topic_matches("a/+", "a/b"));
  EXPECT_FALSE(topic_matches("a/+", "a/b/c"));
  EXPECT_TRUE(topic_matches("a/+", "a/"));  // an empty level is a level
  EXPECT_TRUE(topic_matches("a/#", "a"));   // MQTT 5.0 §4.7.1.2: the parent level too
  EXPECT_TRUE(topic_matches("a/#", "a/b/c"));
  EXPECT_TRUE(topic_matches("#", "a/b"));
  EXPECT_TRUE(topic_matches("+/+", "/x"));
  EXPECT_FALSE(topic_matches("#", "$SYS/x"));  // §4.7.2
  EXPECT_FALSE(topic_matches("+/x", "$SYS/x"));
  EXPECT_TRUE(topic_matches("$SYS/#", "$SYS/x"));
  EXPECT_FALSE(topic_matches("a/b/c", "a/b"));
  EXPECT_TRUE(has_wildcard("a/+"));
  EXPECT_FALSE(has_wildcard("a/b"));
}

TEST(StorageIdRanges, CompressesIds) {
  auto r = to_ranges({5, 1, 2, 3, 9, 3, 10});
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].first, 1u);
  EXPECT_EQ(r[0].last, 3u);
  EXPECT_EQ(r[1].first, 5u);
  EXPECT_EQ(r[2].last, 10u);
}

}  // namespace
}  // namespace gw::storage

// ---- Outbox: quotas per destination, message expiry, live-first reads (issue 18) --------------------------

namespace gw::storage {
namespace {

// One absent uplink ("gone") with a quota of 3 rows under reject_new: its fourth row is not written and
// counted for it, the message is not refused (enqueue succeeds with queued = false), and the other
// destination keeps taking rows up to the global bound.
TEST_F(TablesTest, OutboxQuotaRejectNewRefusesOnlyThatDestinationsRowAndCountsIt) {
  limits_.max_rows = 10;
  limits_.quotas["gone"] = OutboxQuota{.max_rows = 3, .policy = FullPolicy::RejectNew};
  open_tables();
  for (int i = 0; i < 5; ++i) {
    OutboxEnqueued e = enqueue(msg("a", std::to_string(i), 1, "gone"));
    EXPECT_EQ(e.queued, i < 3) << i;
    EXPECT_EQ(e.id == 0, i >= 3) << i;
    enqueue(msg("a", std::to_string(i), 1, "here"));
  }
  EXPECT_EQ(backlog("gone").rows, 3u);
  EXPECT_EQ(backlog("here").rows, 5u);
  EXPECT_EQ(tables_->outbox.dest_drops("gone").rejected, 2u);
  EXPECT_EQ(tables_->outbox.dest_drops("here"), OutboxDestDrops{});
  EXPECT_EQ(drops(DropReason::QuotaRejected), 2u);
  EXPECT_EQ(drops(DropReason::RejectedFull), 0u);
  expect_backlogs_add_up();
}

// drop_oldest in a quota drops the destination's own oldest row, never another destination's, and
// never a released one.
TEST_F(TablesTest, OutboxQuotaDropOldestDropsOnlyItsOwnUnreleasedRows) {
  limits_.quotas["gone"] = OutboxQuota{.max_rows = 2, .policy = FullPolicy::DropOldest};
  open_tables();
  enqueue(msg("h", "0", 1, "here"));  // 1
  enqueue(msg("g", "1", 1, "gone"));  // 2
  enqueue(msg("g", "2", 1, "gone"));  // 3
  tx([&](Tables& t) { ASSERT_EQ(t.outbox.release({2}), Status::Ok); });
  enqueue(msg("g", "3", 1, "gone"));  // 4: drops 3 (2 is released)
  enqueue(msg("g", "4", 1, "gone"));  // 5: drops 4
  EXPECT_EQ(ids_of(read(OutboxReadOptions{.dest = "gone", .max_rows = 10, .mark_inflight = false})),
            (std::vector<std::uint64_t>{2, 5}));
  EXPECT_EQ(ids_of(read(OutboxReadOptions{.dest = "here", .max_rows = 10, .mark_inflight = false})),
            (std::vector<std::uint64_t>{1}));
  EXPECT_EQ(tables_->outbox.dest_drops("gone").dropped_oldest, 2u);
  EXPECT_EQ(drops(DropReason::QuotaOldest), 2u);
  expect_backlogs_add_up();
}

// A quota's age bound removes that destination's old rows only; the global age bound (off here) is not
// involved.
TEST_F(TablesTest, OutboxQuotaAgeRemovesOnlyThatDestinationsOldRows) {
  limits_.max_age_s = 0;
  limits_.quotas["gone"] = OutboxQuota{.max_age_s = 60};
  open_tables();
  enqueue(msg("g", "old", 1, "gone"));
  enqueue(msg("g", "old0", 0, "gone"));
  enqueue(msg("h", "old", 1, "here"));
  clock_.advance(61'000);
  enqueue(msg("g", "young", 1, "gone"));
  std::uint64_t removed = 0;
  tx([&](Tables& t) { ASSERT_EQ(t.outbox.prune_expired(&removed), Status::Ok); });
  EXPECT_EQ(removed, 2u);
  EXPECT_EQ(backlog("gone").rows, 1u);
  EXPECT_EQ(backlog("here").rows, 1u);
  EXPECT_EQ(tables_->outbox.dest_drops("gone").expired, 2u);
  EXPECT_EQ(drops(DropReason::QuotaAge), 2u);
  expect_backlogs_add_up();
}

// MQTT 5 message expiry: a row read after its expiry is deleted in that read, counted, and not returned;
// a released one is still returned (the cloud holds it: only its PUBREL is left).
TEST_F(TablesTest, OutboxExpiredMessagesAreDeletedWhenReadAndNeverReturned) {
  open_tables();
  const std::int64_t now = clock_.unix_seconds();
  OutboxMessage a = msg("a", "expires", 1, "up");
  a.expiry_unix = now + 10;
  OutboxMessage b = msg("a", "keeps", 1, "up");
  OutboxMessage c = msg("a", "released", 1, "up");
  c.expiry_unix = now + 10;
  enqueue(a);  // 1
  enqueue(b);  // 2
  enqueue(c);  // 3
  tx([&](Tables& t) { ASSERT_EQ(t.outbox.release({3}), Status::Ok); });
  auto before = read(OutboxReadOptions{.dest = "up", .max_rows = 10, .mark_inflight = false});
  ASSERT_EQ(ids_of(before), (std::vector<std::uint64_t>{1, 2, 3}));
  EXPECT_EQ(before[0].msg.expiry_unix, now + 10);  // stored with the row (schema 6)
  clock_.advance(10'000);
  auto after = read(OutboxReadOptions{.dest = "up", .max_rows = 10});
  EXPECT_EQ(ids_of(after), (std::vector<std::uint64_t>{2, 3}));
  EXPECT_EQ(drops(DropReason::MessageExpired), 1u);
  EXPECT_EQ(tables_->outbox.dest_drops("up").message_expired, 1u);
  EXPECT_EQ(backlog("up").rows, 2u);
  expect_backlogs_add_up();
}

// Live-first reads: an id range per lane (after_id, up_to_id], and origins left queued.
TEST_F(TablesTest, OutboxReadsAnIdRangePerLaneAndSkipsOrigins) {
  open_tables();
  enqueue(msg("a", "1", 1, "up"));  // 1
  enqueue(msg("b", "2", 1, "up"));  // 2
  enqueue(msg("a", "3", 0, "up"));  // 3
  enqueue(msg("b", "4", 1, "up"));  // 4  (the backlog ends here)
  enqueue(msg("c", "5", 1, "up"));  // 5
  enqueue(msg("a", "6", 1, "up"));  // 6
  enqueue(msg("c", "7", 0, "up"));  // 7
  auto ids = [&](OutboxReadOptions o) {
    o.dest = "up";
    o.mark_inflight = false;
    return ids_of(read(o));
  };
  EXPECT_EQ(ids({.max_rows = 10, .up_to_id = 4}), (std::vector<std::uint64_t>{3, 1, 2, 4}));
  EXPECT_EQ(ids({.max_rows = 10, .after_id = 4}), (std::vector<std::uint64_t>{7, 5, 6}));
  EXPECT_EQ(ids({.max_rows = 10, .after_id = 4, .skip_origins = {"a"}}), (std::vector<std::uint64_t>{7, 5}));
  EXPECT_EQ(ids({.max_rows = 2, .after_id = 4}), (std::vector<std::uint64_t>{7, 5}));
}

// The walk past skipped origins is bounded (2,048 rows per read): a live row behind more of them is not
// found by that read (it is read once the backlog is sent, in order).
TEST_F(TablesTest, OutboxReadWalksPastABoundedNumberOfSkippedRows) {
  open_tables();
  tx([&](Tables& t) {
    for (int i = 0; i < 2100; ++i) ASSERT_TRUE(t.outbox.enqueue(msg("a", "x", 1, "up")));
  });
  enqueue(msg("b", "live", 1, "up"));  // 2101
  OutboxReadOptions o{.dest = "up", .max_rows = 10, .mark_inflight = false, .skip_origins = {"a"}};
  EXPECT_TRUE(read(o).empty());
  o.after_id = 100;  // fewer than the bound in between
  EXPECT_EQ(ids_of(read(o)), (std::vector<std::uint64_t>{2101}));
}

}  // namespace
}  // namespace gw::storage
