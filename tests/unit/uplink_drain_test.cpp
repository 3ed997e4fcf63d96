// The outbox drainer against fakes: a scripted store (rows, reads completed by the test, every ack and
// requeue recorded) and a recording publish function standing in for the MQTT session. Checks order,
// the in-flight window, ack ranges only after PublishAcked, requeue on disconnect and startup, stale
// reads, refusals acked away, QoS capping and the topic prefix.
#include "gateway/uplink/drainer.hpp"

#include "protocols/mqtt/property_blob.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace gw::uplink {
namespace {

using storage::IdRange;
using storage::OutboxRecord;

class FakeStore final : public OutboxPort {
 public:
  bool read(const Range& range, std::uint32_t max_rows, ReadDone done) override {
    if (refuse_reads) return false;
    reads.push_back({max_rows, std::move(done), range});
    return true;
  }
  std::uint64_t last_id() override { return last; }
  bool backlog_origins(std::uint64_t up_to_id, OriginsDone done) override {
    origins_asked.push_back({up_to_id, std::move(done)});
    return true;
  }
  void ack(std::vector<IdRange> ranges) override {
    acks.push_back(std::move(ranges));
    calls += 'a';
  }
  void requeue(std::vector<IdRange> ranges) override { requeues.push_back(std::move(ranges)); }
  void release(std::vector<std::uint64_t> ids, std::function<void(bool)> done) override {
    releases.push_back({std::move(ids), std::move(done)});
    calls += 'r';
  }

  // Completes the oldest pending read with rows first..first+n-1 (fewer if `available` runs out).
  void complete(std::uint64_t first, std::uint32_t available, std::uint8_t qos = 1,
                std::uint32_t attempts = 1) {
    ASSERT_FALSE(reads.empty());
    Read rd = std::move(reads.front());
    const std::uint32_t max_rows = rd.max_rows;
    ReadDone done = std::move(rd.done);
    reads.pop_front();
    std::vector<OutboxRecord> rows;
    for (std::uint32_t i = 0; i < std::min(max_rows, available); ++i) {
      OutboxRecord r;
      r.id = first + i;
      r.msg.topic = "up/t" + std::to_string(r.id);
      r.msg.payload = "p" + std::to_string(r.id);
      r.msg.qos = qos;
      r.msg.retain = (r.id % 2) == 0;
      r.attempts = attempts;
      r.released = std::find(released_ids.begin(), released_ids.end(), r.id) != released_ids.end();
      rows.push_back(std::move(r));
    }
    done(true, std::move(rows), rd.range.after_id);
  }

  // Completes pending read `i` (0 = oldest) with these rows, and where it got to (0: its after_id).
  void complete_with(std::size_t i, std::vector<OutboxRecord> rows, std::uint64_t scanned_to = 0) {
    ASSERT_LT(i, reads.size());
    ReadDone done = std::move(reads[i].done);
    const std::uint64_t after = reads[i].range.after_id;
    reads.erase(reads.begin() + static_cast<std::ptrdiff_t>(i));
    done(true, std::move(rows), scanned_to == 0 ? after : scanned_to);
  }

  struct Read {
    std::uint32_t max_rows;
    ReadDone done;
    Range range;
  };
  std::uint64_t last = 0;  // last_id(): 0 = no backlog
  struct OriginsAsk {
    std::uint64_t up_to_id;
    OriginsDone done;
  };
  std::vector<OriginsAsk> origins_asked;
  std::deque<Read> reads;
  std::vector<std::vector<IdRange>> acks;
  std::vector<std::vector<IdRange>> requeues;
  struct Release {
    std::vector<std::uint64_t> ids;
    std::function<void(bool)> done;
  };
  std::vector<Release> releases;
  bool refuse_reads = false;
  std::string calls;  // 'a' ack, 'r' release, in the order the drainer made them
  std::vector<std::uint64_t>
      released_ids;  // rows complete() marks as released (PUBREC on an earlier connection)
};

struct FakeSession {
  std::vector<mqtt::OutboundPublish> sent;
  std::optional<mqtt::PublishStatus> answer;  // default Sent
  PublishFn fn() {
    return [this](mqtt::OutboundPublish p) {
      sent.push_back(std::move(p));
      return answer.value_or(mqtt::PublishStatus::Sent);
    };
  }
};

bool same(const std::vector<IdRange>& got, std::vector<std::pair<std::uint64_t, std::uint64_t>> want) {
  if (got.size() != want.size()) return false;
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (got[i].first != want[i].first || got[i].last != want[i].second) return false;
  }
  return true;
}

TEST(UplinkDrain, StartupRequeuesEverythingInFlight) {
  FakeStore store;
  Drainer d(store, {});
  d.start();
  ASSERT_EQ(store.requeues.size(), 1u);
  EXPECT_TRUE(store.requeues[0].empty());  // empty = every row in flight
  EXPECT_TRUE(store.reads.empty());        // nothing is read before a connection
}

TEST(UplinkDrain, PublishesInOrderWithinTheWindowAndAcksOnlyOnPuback) {
  FakeStore store;
  FakeSession session;
  Drainer d(store, DrainOptions{{}, "cloud/", 1, 256});
  d.connected(4, session.fn());
  ASSERT_EQ(store.reads.size(), 1u);
  EXPECT_EQ(store.reads[0].max_rows, 256u);  // read ahead of the window, up to the batch
  store.complete(10, 100);
  ASSERT_EQ(session.sent.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(session.sent[i].tag, 10 + i);
    EXPECT_EQ(session.sent[i].topic, "cloud/up/t" + std::to_string(10 + i));
    EXPECT_EQ(session.sent[i].retain, ((10 + i) % 2) == 0);
  }
  EXPECT_EQ(d.outstanding(), 4u);
  EXPECT_TRUE(store.acks.empty());
  // A short read (100 of 256) may have been cut by bytes (storage/README.md "Space: the disk bound"):
  // one more read ahead, which finds nothing; an empty read means caught up.
  ASSERT_EQ(store.reads.size(), 1u);
  store.complete(110, 0);
  EXPECT_TRUE(store.reads.empty());

  d.acked(11);
  d.acked(10);
  d.acked(13);
  d.flush();
  ASSERT_EQ(store.acks.size(), 1u);
  EXPECT_TRUE(same(store.acks[0], {{10, 11}, {13, 13}}));
  EXPECT_TRUE(store.reads.empty());  // the three freed slots are filled from the read-ahead
  ASSERT_EQ(session.sent.size(), 7u);
  EXPECT_EQ(session.sent.back().tag, 16u);
  EXPECT_EQ(d.outstanding(), 4u);
}

TEST(UplinkDrain, BatchIsBoundedAndAnEmptyReadMeansCaughtUp) {
  FakeStore store;
  FakeSession session;
  Drainer d(store, DrainOptions{{}, "", 1, 8});
  d.connected(100, session.fn());
  ASSERT_EQ(store.reads.size(), 1u);
  EXPECT_EQ(store.reads[0].max_rows, 8u);  // bounded batch per read
  store.complete(1, 8);
  // A full batch: the next read follows at once (outstanding 8 < window 100).
  ASSERT_EQ(store.reads.size(), 1u);
  store.complete(9, 3);  // short: perhaps cut by bytes, so one more read
  ASSERT_EQ(store.reads.size(), 1u);
  store.complete(12, 0);  // empty: the queue is empty now
  EXPECT_TRUE(store.reads.empty());
  EXPECT_EQ(session.sent.size(), 11u);
  // New rows committed: read again.
  d.new_rows();
  ASSERT_EQ(store.reads.size(), 1u);
  store.complete(12, 0);
  EXPECT_TRUE(store.reads.empty());
}

TEST(UplinkDrain, NewRowsDuringAReadAreNotMissed) {
  FakeStore store;
  FakeSession session;
  Drainer d(store, DrainOptions{{}, "", 1, 8});
  d.connected(100, session.fn());
  d.new_rows();                       // while the read is running
  EXPECT_EQ(store.reads.size(), 1u);  // one read at a time
  store.complete(1, 2);               // short, but rows arrived meanwhile
  EXPECT_EQ(store.reads.size(), 1u);
}

TEST(UplinkDrain, DisconnectWritesAcksThenRequeuesAndDropsStaleReads) {
  FakeStore store;
  FakeSession session;
  Drainer d(store, DrainOptions{{}, "", 1, 4});
  d.connected(8, session.fn());
  store.complete(1, 4);  // 1..4 out, a second read (5..8) pending
  ASSERT_EQ(store.reads.size(), 1u);
  d.acked(1);
  d.acked(2);  // not flushed yet
  d.disconnected();
  ASSERT_EQ(store.acks.size(), 1u);
  EXPECT_TRUE(same(store.acks[0], {{1, 2}}));
  ASSERT_EQ(store.requeues.size(), 1u);
  EXPECT_TRUE(store.requeues[0].empty());
  EXPECT_EQ(d.outstanding(), 0u);
  // The read issued before the disconnect completes: its rows are not published.
  store.complete(5, 4);
  EXPECT_EQ(session.sent.size(), 4u);
  // A late ack for the lost connection is ignored.
  d.acked(3);
  d.flush();
  EXPECT_EQ(store.acks.size(), 1u);

  // Reconnect: reading starts over from the store's queue.
  FakeSession again;
  d.connected(8, again.fn());
  ASSERT_EQ(store.reads.size(), 1u);
  store.complete(3, 6);
  ASSERT_EQ(again.sent.size(), 4u);  // batch bound 4
  EXPECT_EQ(again.sent[0].tag, 3u);
}

TEST(UplinkDrain, RefusedRowsAreAckedAwayAndReported) {
  FakeStore store;
  FakeSession session;
  Drainer d(store, DrainOptions{{}, "", 1, 256});
  d.connected(2, session.fn());
  store.complete(1, 2);
  d.refused(2, "reason 0x87");
  d.acked(1);
  d.flush();
  ASSERT_EQ(store.acks.size(), 1u);
  EXPECT_TRUE(same(store.acks[0], {{1, 2}}));
  auto refused = d.take_refused();
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused[0].id, 2u);
  EXPECT_EQ(refused[0].topic, "up/t2");
  EXPECT_EQ(refused[0].why, "reason 0x87");
  EXPECT_EQ(d.stats().refused, 1u);
  EXPECT_EQ(d.stats().acked, 1u);

  // publish() itself refusing (a server limit checked locally): acked away at once.
  session.answer = mqtt::PublishStatus::Refused;
  d.new_rows();
  ASSERT_EQ(store.reads.size(), 1u);
  store.complete(3, 1);
  ASSERT_EQ(store.acks.size(), 2u);
  EXPECT_TRUE(same(store.acks[1], {{3, 3}}));
  EXPECT_EQ(d.stats().refused, 2u);
}

TEST(UplinkDrain, QueueFullGoesBackToTheStore) {
  FakeStore store;
  FakeSession session;
  session.answer = mqtt::PublishStatus::QueueFull;
  Drainer d(store, DrainOptions{{}, "", 1, 256});
  d.connected(2, session.fn());
  store.complete(5, 2);
  ASSERT_EQ(store.requeues.size(), 1u);
  EXPECT_TRUE(same(store.requeues[0], {{5, 6}}));
  EXPECT_EQ(d.outstanding(), 0u);
}

TEST(UplinkDrain, QosIsCappedAndQos0IsAckedOnceWritten) {
  FakeStore store;
  FakeSession session;
  Drainer d(store, DrainOptions{{}, "", 0, 256});
  d.connected(4, session.fn());
  store.complete(1, 2, /*qos=*/1);
  ASSERT_EQ(session.sent.size(), 2u);  // both written; QoS 0 leaves no row outstanding
  EXPECT_EQ(session.sent[0].qos, 0);
  EXPECT_EQ(d.outstanding(), 0u);
  ASSERT_FALSE(store.acks.empty());
  EXPECT_TRUE(same(store.acks[0], {{1, 2}}));
}

TEST(UplinkDrain, ARefusedReadIsRetriedOnTheNextFlush) {
  FakeStore store;
  FakeSession session;
  store.refuse_reads = true;
  Drainer d(store, {});
  d.connected(4, session.fn());
  EXPECT_TRUE(store.reads.empty());
  EXPECT_EQ(d.stats().read_errors, 1u);
  store.refuse_reads = false;
  d.flush();
  EXPECT_EQ(store.reads.size(), 1u);
}

TEST(UplinkDrain, RelayRulesMapTopicsAndCapQosAndABadRewriteIsRefused) {
  FakeStore store;
  FakeSession session;
  DrainOptions o;
  o.rules = {{"up/t1", "up/", "site/", 0, 0}, {"up/t2", "up/t2", "", 1, 1}, {"#", "", "all/", 1, 1}};
  o.topic_prefix = "unused/";
  Drainer d(store, o);
  d.connected(8, session.fn());
  store.complete(1, 3);
  ASSERT_EQ(session.sent.size(), 2u);  // row 2 rewrites to "" and is refused, not sent
  EXPECT_EQ(session.sent[0].topic, "site/t1");
  EXPECT_EQ(session.sent[0].qos, 0);  // the rule caps the QoS
  EXPECT_EQ(session.sent[1].topic, "all/up/t3");
  EXPECT_EQ(session.sent[1].qos, 1);
  auto refused = d.take_refused();
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused[0].id, 2u);
  EXPECT_EQ(refused[0].topic, "up/t2");
  EXPECT_EQ(d.stats().refused, 1u);
  ASSERT_FALSE(store.acks.empty());
  EXPECT_TRUE(same(store.acks[0], {{1, 2}}));  // the QoS 0 row and the refused row leave the store
}

TEST(UplinkDrain, RateLimitBoundsRowsPerSecond) {
  FakeStore store;
  FakeSession session;
  DrainOptions o;
  o.rate_limit = 10;
  Drainer d(store, o);
  d.connected(100, session.fn());
  ASSERT_EQ(store.reads.size(), 1u);  // reading ahead is not limited ...
  store.complete(1, 1000);
  EXPECT_TRUE(session.sent.empty());                   // ... publishing is: no credit before the first refill
  EXPECT_EQ(d.refill(0), std::optional<Millis>(101));  // rows wait: the next one is allowed in 100 ms
  ASSERT_EQ(session.sent.size(), 10u);                 // one second of burst
  for (std::uint64_t id = 1; id <= 10; ++id) d.acked(id);
  d.flush();
  EXPECT_EQ(session.sent.size(), 10u);  // the window has room, the credit does not
  auto next = d.refill(0);
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(*next, 101);                                          // one row's worth of credit takes 100 ms
  EXPECT_EQ(d.refill(350), std::optional<Millis>(350 + 50 + 1));  // 0.5 credit left
  EXPECT_EQ(session.sent.size(), 13u);                            // 350 ms at 10/s
}

TEST(UplinkDrain, Qos2AcksOfTheSameEventsGoToTheStoreBeforeTheReleaseSoTheyShareItsCommit) {
  // The release closes the store's batch within 300 us; acks submitted before it ride that transaction
  // (storage/README.md "Released"). Submitted after it, they waited for a commit of their own.
  FakeStore store;
  FakeSession session;
  std::vector<mqtt::PublishTag> released;
  Drainer d(store, DrainOptions{{}, "", 2, 256});
  d.connected(8, session.fn(), [&](mqtt::PublishTag t) { released.push_back(t); });
  store.complete(1, 4, /*qos=*/2);
  ASSERT_EQ(session.sent.size(), 4u);
  d.received(1);
  d.flush();
  store.releases[0].done(true);
  store.calls.clear();
  d.acked(1);     // PUBCOMP of 1
  d.received(2);  // PUBREC of 2, in the same batch of events
  d.received(3);
  d.flush();
  EXPECT_EQ(store.calls, "ar");
  ASSERT_EQ(store.acks.size(), 1u);
  EXPECT_TRUE(same(store.acks[0], {{1, 1}}));
  EXPECT_EQ(store.releases.back().ids, (std::vector<std::uint64_t>{2, 3}));
  EXPECT_EQ(released, (std::vector<mqtt::PublishTag>{1}));  // no PUBREL for 2, 3 before their record
}

TEST(UplinkDrain, Qos2RowsKeepTheirPacketIdAndPubrelWaitsForTheDurableRecord) {
  FakeStore store;
  FakeSession session;
  std::vector<mqtt::PublishTag> released;
  Drainer d(store, DrainOptions{{}, "", 2, 256});
  d.connected(8, session.fn(), [&](mqtt::PublishTag t) { released.push_back(t); });
  store.released_ids = {3};
  store.complete(1, 3, /*qos=*/2, /*attempts=*/2);
  ASSERT_EQ(session.sent.size(), 3u);
  EXPECT_EQ(session.sent[0].packet_id, packet_id_of(1));
  EXPECT_EQ(session.sent[0].packet_id, 1);
  EXPECT_TRUE(session.sent[0].dup);  // read before: attempts > 1
  EXPECT_FALSE(session.sent[0].released);
  EXPECT_TRUE(session.sent[2].released);  // PUBREC came on an earlier connection: PUBREL only
  EXPECT_EQ(packet_id_of(65535), 65535);
  EXPECT_EQ(packet_id_of(65536), 1);

  d.received(1);
  d.received(2);
  d.received(99);  // not outstanding: ignored
  EXPECT_TRUE(released.empty());
  d.flush();
  ASSERT_EQ(store.releases.size(), 1u);
  EXPECT_EQ(store.releases[0].ids, (std::vector<std::uint64_t>{1, 2}));
  EXPECT_TRUE(released.empty()) << "no PUBREL before the record is durable";
  store.releases[0].done(true);
  EXPECT_EQ(released, (std::vector<mqtt::PublishTag>{1, 2}));
  EXPECT_EQ(d.stats().released, 2u);

  // A failed record: no PUBREL (the stall check reconnects and PUBREC comes again).
  d.received(3);
  d.flush();
  ASSERT_EQ(store.releases.size(), 2u);
  store.releases[1].done(false);
  EXPECT_EQ(released.size(), 2u);
  EXPECT_EQ(d.stats().release_errors, 1u);

  // A record that commits after the connection is gone releases nothing on the next one.
  d.acked(1);
  d.acked(2);
  d.received(3);
  d.flush();
  d.disconnected();
  store.releases.back().done(true);
  EXPECT_EQ(released.size(), 2u);
}

TEST(UplinkDrain, ReadAheadIsBoundedAndRefilledAtHalf) {
  FakeStore store;
  FakeSession session;
  Drainer d(store, DrainOptions{{}, "", 1, 8});
  d.connected(2, session.fn());
  ASSERT_EQ(store.reads.size(), 1u);
  EXPECT_EQ(store.reads[0].max_rows, 8u);
  store.complete(1, 8);
  EXPECT_EQ(session.sent.size(), 2u);  // the window
  EXPECT_TRUE(store.reads.empty());    // 6 held: more than half of 8
  d.acked(1);
  d.acked(2);
  d.flush();
  EXPECT_EQ(session.sent.size(), 4u);
  ASSERT_EQ(store.reads.size(), 1u);  // 4 held now: read what is missing
  EXPECT_EQ(store.reads[0].max_rows, 4u);
  // A disconnect drops the read-ahead: its rows are in flight in the store and the requeue covers them.
  d.disconnected();
  ASSERT_EQ(store.requeues.size(), 1u);
  EXPECT_TRUE(store.requeues[0].empty());
  store.complete(9, 4);  // the stale read
  EXPECT_EQ(session.sent.size(), 4u);
}

}  // namespace
}  // namespace gw::uplink

namespace gw::uplink {
namespace {

// ---- Live-first replay, v5 properties and message expiry (issue 18) --------------------------------------

std::vector<OutboxRecord> rows_of(std::uint64_t first, std::uint32_t n, const std::string& origin) {
  std::vector<OutboxRecord> rows;
  for (std::uint32_t i = 0; i < n; ++i) {
    OutboxRecord r;
    r.id = first + i;
    r.msg.origin = origin;
    r.msg.topic = "t/" + origin;
    r.msg.qos = 1;
    r.attempts = 1;
    rows.push_back(std::move(r));
  }
  return rows;
}

std::vector<std::uint64_t> tags(const FakeSession& s) {
  std::vector<std::uint64_t> out;
  for (const auto& p : s.sent) out.push_back(p.tag);
  return out;
}

// order none: two streams split at the store's last id; a live row takes the next free slot ahead of
// the backlog read before it.
// Live-first replay with a backlog up to row 100 and `order: none`: the store, the session and the drainer.
class UplinkDrainLiveFirst : public ::testing::Test {
 protected:
  Drainer& start(DrainOptions o, std::uint16_t window) {
    store.last = 100;
    o.order = ReplayOrder::None;
    drainer_.emplace(store, o);
    drainer_->connected(window, session.fn());
    return *drainer_;
  }
  FakeStore store;
  FakeSession session;

 private:
  std::optional<Drainer> drainer_;
};

// Live-first replay has rows far apart in id in flight together; ids 65,535 apart share a packet id. The
// later row waits for the earlier one's acknowledgement instead of being refused by the session (which sent
// it back to the store, where a read already running overtook it: out of order per origin).
TEST_F(UplinkDrainLiveFirst, ARowWhosePacketIdIsInFlightWaitsForItInOrder) {
  Drainer& d = start({}, 8);
  ASSERT_EQ(store.reads.size(), 2u);
  store.complete_with(0, rows_of(1, 2, "old"));      // backlog rows 1, 2: packet ids 1, 2
  store.complete_with(0, rows_of(65536, 2, "new"));  // live rows 65536, 65537: packet ids 1, 2 again
  EXPECT_EQ(tags(session), (std::vector<std::uint64_t>{1, 2}));
  EXPECT_TRUE(store.requeues.empty());
  d.acked(1);
  d.flush();
  EXPECT_EQ(tags(session), (std::vector<std::uint64_t>{1, 2, 65536}));
  d.acked(2);
  d.flush();
  EXPECT_EQ(tags(session), (std::vector<std::uint64_t>{1, 2, 65536, 65537}));
  EXPECT_EQ(session.sent[2].packet_id, 1u);
  EXPECT_TRUE(store.requeues.empty());
}

// A requeue (the session refused a row) while another read is running: that read's rows go back to the queue
// too, unpublished, since rows read before the requeue could overtake the requeued ones of their origin.
TEST_F(UplinkDrainLiveFirst, AReadRunningAtARequeueSendsItsRowsBackToo) {
  DrainOptions o;
  o.read_rows = 2;
  o.max_batch = 4;
  start(o, 8);
  ASSERT_EQ(store.reads.size(), 2u);             // the backlog's, then the live stream's
  store.complete_with(0, rows_of(1, 2, "old"));  // published; the backlog reads again
  ASSERT_EQ(store.reads.size(), 2u);             // live (first), backlog (second)
  session.answer = mqtt::PublishStatus::QueueFull;
  store.complete_with(0, rows_of(101, 1, "new"));  // refused by the session: requeued
  ASSERT_EQ(store.requeues.size(), 1u);
  EXPECT_TRUE(same(store.requeues[0], {{101, 101}}));
  session.answer.reset();
  const std::size_t sent = session.sent.size();
  store.complete_with(0, rows_of(3, 2, "old"));  // submitted before the requeue: back to the queue
  ASSERT_EQ(store.requeues.size(), 2u);
  EXPECT_TRUE(same(store.requeues[1], {{3, 4}}));
  EXPECT_EQ(session.sent.size(), sent);
  // The streams read again, from the queue, in id order.
  ASSERT_FALSE(store.reads.empty());
}

TEST_F(UplinkDrainLiveFirst, LiveRowsTakeTheNextSlotAheadOfTheBacklog) {
  Drainer& d = start({}, 2);
  ASSERT_EQ(store.reads.size(), 2u);
  EXPECT_EQ(store.reads[0].range.up_to_id, 100u);  // the backlog
  EXPECT_EQ(store.reads[0].range.after_id, 0u);
  EXPECT_EQ(store.reads[1].range.after_id, 100u);  // live
  store.complete_with(0, rows_of(1, 10, "old"));
  EXPECT_EQ(tags(session), (std::vector<std::uint64_t>{1, 2}));
  store.complete_with(0, rows_of(101, 2, "new"));
  d.acked(1);
  d.flush();
  d.acked(2);
  d.flush();
  d.acked(101);
  d.flush();
  EXPECT_EQ(tags(session), (std::vector<std::uint64_t>{1, 2, 101, 102, 3}));
  EXPECT_EQ(d.stats().live_published, 2u);
  EXPECT_TRUE(d.replaying());
}

// live_share 0.5: while both streams have rows, every other slot is live.
TEST_F(UplinkDrainLiveFirst, LiveShareInterleavesTheStreams) {
  DrainOptions o;
  o.live_share = 0.5;
  Drainer& d = start(o, 1);
  store.complete_with(1, rows_of(101, 3, "new"));  // live first, window 1: 101 goes
  store.complete_with(0, rows_of(1, 3, "old"));
  for (std::uint64_t tag : {101, 1, 102, 2, 103}) {
    d.acked(session.sent.back().tag);
    d.flush();
    (void)tag;
  }
  EXPECT_EQ(tags(session), (std::vector<std::uint64_t>{101, 1, 102, 2, 103, 3}));
}

// per_origin: the live stream waits for the backlog's origins, then leaves them out until the backlog
// is sent; after that one stream reads everything (no range, no origins left out).
TEST(UplinkDrain, PerOriginLeavesTheBacklogsOriginsOutOfLiveReadsUntilTheBacklogIsSent) {
  FakeStore store;
  store.last = 50;
  FakeSession session;
  Drainer d(store, DrainOptions{});  // per_origin is the default
  d.connected(8, session.fn());
  ASSERT_EQ(store.origins_asked.size(), 1u);
  EXPECT_EQ(store.origins_asked[0].up_to_id, 50u);
  ASSERT_EQ(store.reads.size(), 1u);  // only the backlog until the origins are known
  EXPECT_EQ(store.reads[0].range.up_to_id, 50u);
  store.origins_asked[0].done(true, {"dev1"});
  ASSERT_EQ(store.reads.size(), 2u);
  EXPECT_EQ(store.reads[1].range.after_id, 50u);
  EXPECT_EQ(store.reads[1].range.skip_origins, (std::vector<std::string>{"dev1"}));
  store.complete_with(1, rows_of(51, 1, "alarm"));  // live, another origin
  store.complete_with(0, rows_of(1, 3, "dev1"));    // backlog
  EXPECT_EQ(tags(session), (std::vector<std::uint64_t>{51, 1, 2, 3}));
  // The backlog's next read is empty, and its read-ahead is published: one stream from now on.
  ASSERT_EQ(store.reads.size(), 2u);  // backlog again, live again (its read came back non-empty)
  const std::size_t backlog_read = store.reads[0].range.up_to_id == 50u ? 0 : 1;
  store.complete_with(backlog_read, {});
  EXPECT_FALSE(d.replaying());
  store.complete_with(0, {});  // the live read that was running
  ASSERT_EQ(store.reads.size(), 1u);
  EXPECT_EQ(store.reads[0].range.after_id, 0u);
  EXPECT_TRUE(store.reads[0].range.skip_origins.empty());
  EXPECT_EQ(store.reads[0].range.up_to_id, storage::OutboxReadOptions{}.up_to_id);
}

// per_origin: a live read starts where the last one got to (the skipped origins' rows it walked past stay
// queued, and no later live read walks them again); a requeue of live rows sends it back to the backlog's
// top.
TEST(UplinkDrain, PerOriginLiveReadsStartWhereTheLastLiveReadGotTo) {
  FakeStore store;
  store.last = 50;
  FakeSession session;
  Drainer d(store, DrainOptions{});
  d.connected(8, session.fn());
  store.origins_asked[0].done(true, {"dev1"});
  ASSERT_EQ(store.reads.size(), 2u);
  ASSERT_EQ(store.reads[1].range.after_id, 50u);
  // dev1 published rows 51-2098 during the drain (left queued); the read got to 2098 and found nothing.
  store.complete_with(1, {}, 2098);
  d.new_rows();  // an alarm, row 2099
  ASSERT_EQ(store.reads.size(), 2u);
  EXPECT_EQ(store.reads[1].range.after_id, 2098u);
  store.complete_with(1, rows_of(2099, 1, "alarm"), 2099);
  EXPECT_EQ(tags(session), (std::vector<std::uint64_t>{2099}));
  // The session cannot take more: the live rows read ahead go back to the store, below the mark.
  d.new_rows();
  session.answer = mqtt::PublishStatus::QueueFull;
  store.complete_with(1, rows_of(2100, 2, "alarm"), 2101);
  ASSERT_EQ(store.requeues.size(), 1u);
  session.answer.reset();
  d.new_rows();
  ASSERT_EQ(store.reads.size(), 2u);
  EXPECT_EQ(store.reads[1].range.after_id, 50u);
}

// read_rows below max_batch: each read asks for read_rows as soon as that many are missing, until max_batch
// rows are held (short store transactions, a deep read-ahead).
TEST(UplinkDrain, ReadsAskForReadRowsOnceThatManyAreMissingUpToMaxBatchHeld) {
  FakeStore store;
  FakeSession session;
  DrainOptions o;
  o.order = ReplayOrder::PerLane;
  o.max_batch = 1024;
  o.read_rows = 256;
  Drainer d(store, o);
  d.connected(4, session.fn());
  std::uint64_t next = 1;
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(store.reads.size(), 1u) << "read " << i;
    EXPECT_EQ(store.reads.front().max_rows, 256u);
    store.complete(next, 256);
    next += 256;
  }
  // 1024 read, 4 in the window, 1020 held: 4 missing, fewer than a read's worth.
  EXPECT_EQ(session.sent.size(), 4u);
  EXPECT_TRUE(store.reads.empty());
  for (std::size_t i = 0; i < 251; ++i) {  // each ack frees a slot, filled from memory
    d.acked(session.sent[i].tag);
    d.flush();
  }
  EXPECT_TRUE(store.reads.empty());  // 255 missing
  d.acked(session.sent[251].tag);
  d.flush();  // 256 missing
  ASSERT_EQ(store.reads.size(), 1u);
  EXPECT_EQ(store.reads.front().max_rows, 256u);
}

// per_lane: no backlog mark, no origins query: one stream, as before live-first replay.
TEST(UplinkDrain, PerLaneReadsOneStream) {
  FakeStore store;
  store.last = 50;
  FakeSession session;
  DrainOptions o;
  o.order = ReplayOrder::PerLane;
  Drainer d(store, o);
  d.connected(8, session.fn());
  EXPECT_TRUE(store.origins_asked.empty());
  ASSERT_EQ(store.reads.size(), 1u);
  EXPECT_EQ(store.reads[0].range.after_id, 0u);
  EXPECT_EQ(store.reads[0].range.up_to_id, storage::OutboxReadOptions{}.up_to_id);
  EXPECT_FALSE(d.replaying());
}

OutboxRecord with_props(std::uint64_t id, std::int64_t expiry_unix) {
  mqtt::Properties p;
  p.content_type = "application/json";
  p.user_properties = {{"site", "farm-7"}, {"k", "v"}};
  p.response_topic = "local/reply";
  p.correlation_data = std::string("\x00\x01", 2);
  OutboxRecord r;
  r.id = id;
  r.msg.topic = "local/t";
  r.msg.qos = 1;
  r.attempts = 1;
  r.msg.properties = mqtt::encode_publish_properties(p);
  r.msg.expiry_unix = expiry_unix;
  return r;
}

// v5 upstream: stored properties go up, the response topic mapped like the topic, and what is left of
// the message expiry.
TEST(UplinkDrain, V5ForwardsPropertiesWithTheResponseTopicMappedAndTheRemainingExpiry) {
  ManualClock clock;
  FakeStore store;
  FakeSession session;
  DrainOptions o;
  o.topic_prefix = "cloud/";
  o.forward_properties = true;
  o.clock = &clock;
  Drainer d(store, o);
  d.connected(8, session.fn());
  store.complete_with(0, {with_props(1, clock.unix_seconds() + 100)});
  ASSERT_EQ(session.sent.size(), 1u);
  const mqtt::Properties& p = session.sent[0].properties;
  EXPECT_EQ(session.sent[0].topic, "cloud/local/t");
  EXPECT_EQ(p.content_type, "application/json");
  EXPECT_EQ(p.user_properties.size(), 2u);
  EXPECT_EQ(p.response_topic, "cloud/local/reply");
  EXPECT_EQ(p.correlation_data, std::string("\x00\x01", 2));
  EXPECT_EQ(p.message_expiry_interval, 100u);
  EXPECT_EQ(d.stats().properties_dropped, 0u);
}

// 3.1.1 upstream: the row goes without them, counted.
TEST(UplinkDrain, V311DropsPropertiesAndCountsThem) {
  ManualClock clock;
  FakeStore store;
  FakeSession session;
  DrainOptions o;
  o.clock = &clock;
  Drainer d(store, o);
  d.connected(8, session.fn());
  store.complete_with(0, {with_props(1, clock.unix_seconds() + 100), rows_of(2, 1, "x")[0]});
  ASSERT_EQ(session.sent.size(), 2u);
  EXPECT_EQ(session.sent[0].properties, mqtt::Properties{});
  EXPECT_EQ(d.stats().properties_dropped, 1u);
}

// A row whose expiry passes while it waits in the read-ahead is never sent: acknowledged away, counted.
TEST(UplinkDrain, ARowExpiredInTheReadAheadIsNeverSent) {
  ManualClock clock;
  FakeStore store;
  FakeSession session;
  DrainOptions o;
  o.clock = &clock;
  o.forward_properties = true;
  Drainer d(store, o);
  d.connected(1, session.fn());
  store.complete_with(
      0, {rows_of(1, 1, "x")[0], with_props(2, clock.unix_seconds() + 5), rows_of(3, 1, "x")[0]});
  ASSERT_EQ(tags(session), (std::vector<std::uint64_t>{1}));
  clock.advance(5'000);
  d.acked(1);
  d.flush();
  EXPECT_EQ(tags(session), (std::vector<std::uint64_t>{1, 3}));
  EXPECT_EQ(d.stats().expired, 1u);
  ASSERT_FALSE(store.acks.empty());
  EXPECT_TRUE(same(store.acks.back(), {{1, 2}}));  // 2 leaves the store with 1's ack
}

}  // namespace
}  // namespace gw::uplink
