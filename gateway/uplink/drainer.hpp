// The outbox drainer: the part of the `mqtt` uplink that decides which outbox rows go to the cloud and
// when they may leave the store. It reads batches in outbox order, hands each row to the MQTT session
// with its row id as the tag, keeps at most `window` rows outstanding, and acknowledges rows to the store
// only when the cloud acknowledged them. No sockets, no timers, no store: both sides are interfaces, so
// the unit tests drive it with fakes (tests/unit/uplink_drain_test.cpp).
//
// Live-first replay (gateway/uplink/README.md "Live first"): at each connection the rows already queued
// (ids up to the store's last id then) are the backlog; rows committed after that are live. The two are
// read as two streams, each in (lane, id) order, and the window takes live rows first (or a share of the
// slots, `live_share`), so a live message does not wait behind a day of backlog. `order` says what is
// kept between them.
#pragma once

#include <bitset>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "gateway/base/clock.hpp"
#include "protocols/mqtt/client_session.hpp"
#include "protocols/uplink/relay.hpp"
#include "storage/records.hpp"

namespace gw::uplink {

// What the drainer needs from the store. The daemon's adapter forwards to storage::Store; completions
// run later, on the loop thread, and requests take effect in submission order.
class OutboxPort {
 public:
  virtual ~OutboxPort() = default;
  // scanned_to: where the read got to (storage::OutboxScan); range.after_id when it cannot say.
  using ReadDone =
      std::function<void(bool ok, std::vector<storage::OutboxRecord> rows, std::uint64_t scanned_to)>;
  // Which rows a read may return (storage::OutboxReadOptions): ids in (after_id, up_to_id], not of these
  // origins.
  struct Range {
    std::uint64_t after_id = 0;
    std::uint64_t up_to_id = storage::OutboxReadOptions{}.up_to_id;
    std::vector<std::string> skip_origins;
  };
  // Up to max_rows queued rows in outbox order, marked in flight. false: not submitted (no completion).
  virtual bool read(const Range& range, std::uint32_t max_rows, ReadDone done) = 0;
  // The highest row id committed so far, or 0 when this uplink has no rows (no backlog to replay).
  virtual std::uint64_t last_id() { return 0; }
  // The origins that have queued rows with ids up to `up_to_id` (per_origin order). false: not submitted.
  using OriginsDone = std::function<void(bool ok, std::vector<std::string> origins)>;
  virtual bool backlog_origins(std::uint64_t /*up_to_id*/, OriginsDone /*done*/) { return false; }
  virtual void ack(std::vector<storage::IdRange> ranges) = 0;
  virtual void requeue(std::vector<storage::IdRange> ranges) = 0;  // empty: every row in flight
  // QoS 2: the cloud owns these rows (PUBREC); `done(true)` once that is durable, `done(false)` if not.
  virtual void release(std::vector<std::uint64_t> ids, std::function<void(bool ok)> done) = 0;
};

// The packet id of a row: derived from its id, so that a QoS 2 message keeps its id across connections
// and restarts without storing it (ids cycle 1..65535; a clash with a message still in flight waits).
inline std::uint16_t packet_id_of(std::uint64_t row_id) {
  return static_cast<std::uint16_t>((row_id - 1) % 65535 + 1);
}

// The MQTT side: the live session's publish(), and its release() of a held PUBREL.
using PublishFn = std::function<mqtt::PublishStatus(mqtt::OutboundPublish)>;
using ReleaseFn = std::function<void(mqtt::PublishTag)>;

// What live-first replay keeps between the backlog and live rows (`replay.order`).
enum class ReplayOrder : std::uint8_t {
  // Live rows go first, except those of an origin that had rows in the backlog when the connection came
  // up: they wait until the backlog is sent, so each origin's rows reach the cloud in the order they were
  // published (within a lane, as always). The backlog's origins are found with one store query per
  // connection that has a backlog.
  PerOrigin,
  // No live-first: every row in (lane, id) order, the backlog before anything that came after it (the
  // order within a lane over all origins).
  PerLane,
  // Every live row goes first: no order is kept between the backlog and live rows, even of one origin
  // (each stream is still in order by itself).
  None,
};
std::optional<ReplayOrder> parse_replay_order(std::string_view name);  // per_origin | per_lane | none
std::string_view to_string(ReplayOrder o);

struct DrainOptions {
  std::vector<RelayRule> rules;   // up rules: the first match maps the local topic and caps the QoS
  std::string topic_prefix;       // rows no rule matches: prepended to the local topic
  std::uint8_t max_qos = 1;       // rows no rule matches: each goes up at min(row QoS, this)
  std::uint32_t max_batch = 256;  // rows read ahead at most; each read asks for what is missing, ...
  // ... but at most this many (0: max_batch), and is issued once that many are missing: short reads keep
  // the store's transactions short (a live row's enqueue and read wait behind them), the larger max_batch
  // keeps rows in hand while one runs.
  std::uint32_t read_rows = 0;
  std::uint32_t rate_limit = 0;  // rows per second (token bucket, one second of burst); 0 = unlimited
  ReplayOrder order = ReplayOrder::PerOrigin;
  // The share of window slots live rows take while both live and backlog rows wait (1: live rows always
  // first; 0.5: every other slot). Either stream takes every slot when the other has nothing waiting.
  double live_share = 1.0;
  // v5 upstream: each row's stored properties go with it (the response topic mapped like the topic) and
  // the remaining message expiry; 3.1.1: they cannot, and each row that had some is counted.
  bool forward_properties = false;
  const Clock* clock = nullptr;  // wall clock for message expiry; null = expiry not checked here
};

struct DrainStats {
  std::uint64_t published = 0;  // rows handed to the session (each transmission after a requeue counts)
  std::uint64_t acked = 0;      // rows the cloud acknowledged (and QoS 0 rows once written)
  std::uint64_t refused = 0;    // rows the server or a local check refused: logged and acked away
  std::uint64_t requeues = 0;   // requeue requests (disconnects, startup, session queue full)
  std::uint64_t reads = 0;      // store reads issued
  std::uint64_t read_errors = 0;
  std::uint64_t released = 0;            // QoS 2 rows recorded as owned by the cloud (PUBREC), then PUBREL
  std::uint64_t release_errors = 0;      // such records the store could not write (PUBREL not sent)
  std::uint64_t live_published = 0;      // rows published from the live stream (live-first replay)
  std::uint64_t expired = 0;             // rows whose message expiry passed after they were read: not sent
  std::uint64_t properties_dropped = 0;  // rows with v5 properties or an expiry sent to a 3.1.1 upstream
};

// A row the drainer gave up on: the caller logs it (the drainer does not log).
struct RefusedRow {
  std::uint64_t id = 0;
  std::string topic;
  std::string why;
};

class Drainer {
 public:
  Drainer(OutboxPort& port, DrainOptions options);

  // Startup: rows left in flight by a previous run go back to the queue before the first read.
  void start();
  // A connection is up (CONNACK accepted); `window` is the session's min(our limit, server receive max).
  void connected(std::uint16_t window, PublishFn publish, ReleaseFn release = {});
  // The connection ended: acknowledgements already received are written, then every in-flight row goes
  // back to the queue (in that order: the store applies requests in submission order). A read still
  // running is discarded when it completes (its rows were covered by the requeue).
  void disconnected();
  // The store committed new rows (its outbox listener).
  void new_rows();
  // Session events, then flush() once per batch of events.
  void acked(mqtt::PublishTag tag);
  void refused(mqtt::PublishTag tag, const std::string& why);
  // QoS 2: PUBREC arrived. Recorded in the store (with the other records of this batch, in flush()); the
  // PUBREL goes out once that committed, so a crash never loses the fact that the cloud has the message.
  void received(mqtt::PublishTag tag);
  // Writes the collected acknowledgements as ranges and reads more if the window has room.
  void flush();
  // With a rate limit: adds the credit earned since the last call, then reads if it allows. Returns when
  // credit would next allow a row while rows wait (nullopt: no limit, or nothing waits).
  std::optional<Millis> refill(Millis now);

  // Reload: new up rules and fallback mapping for the rows published from now on (rows already handed to
  // the session keep the topic they went out with).
  void set_rules(std::vector<RelayRule> rules, std::string topic_prefix, std::uint8_t max_qos);

  // Refusals since the last call, for the log.
  std::vector<RefusedRow> take_refused();
  std::size_t outstanding() const { return outstanding_.size(); }
  bool connected() const { return connected_; }
  bool reading() const { return live_.reading || backlog_.reading; }
  bool replaying() const { return !backlog_done_; }  // a backlog of this connection is still being sent
  const DrainStats& stats() const { return stats_; }

 private:
  // One read stream: rows read ahead (in flight in the store, not yet published) and its read state.
  struct Stream {
    std::deque<storage::OutboxRecord> ready;
    bool reading = false;
    bool more = true;  // the queue may hold rows of this stream we have not read
    bool new_during_read = false;
  };
  void pump();
  void read(Stream& s, bool live);
  void publish_ready();  // from the read-ahead into the window
  // A read submitted before a requeue: its rows go back to the queue behind the requeued ones.
  void requeue_stale(bool live, bool ok, const std::vector<storage::OutboxRecord>& rows);
  Stream* pick();  // the stream the next window slot takes a row from
  void on_rows(std::uint64_t generation, bool live, bool ok, std::vector<storage::OutboxRecord> rows,
               std::uint64_t scanned_to);
  void settle(std::uint64_t id);  // leaves the window, to be acknowledged to the store
  // The row as it goes up: topic mapped, QoS capped, properties and expiry per the upstream's version.
  // nullopt (and counted) when it must not go: refused mapping, expired.
  std::optional<mqtt::OutboundPublish> build(storage::OutboxRecord& r);

  OutboxPort& port_;
  DrainOptions options_;
  PublishFn publish_;
  ReleaseFn release_;
  std::vector<std::uint64_t> to_release_;
  bool connected_ = false;
  std::uint16_t window_ = 0;
  // Live-first replay, per connection: the backlog is ids up to top_; live_ reads above it (everything once
  // the backlog is done), backlog_ up to it.
  Stream live_;
  Stream backlog_;
  std::uint64_t top_ = 0;
  bool backlog_done_ = true;       // nothing of the backlog left to send (reads and read-ahead empty)
  bool origins_pending_ = false;   // per_origin: waiting for the backlog's origins before reading live
  std::vector<std::string> skip_;  // per_origin: the backlog's origins, left out of live reads
  // While the backlog drains, live reads start here: above top_, and above the rows earlier live reads
  // walked past (the skipped origins' rows stay queued; storage::OutboxScan), so no read walks them twice.
  std::uint64_t live_after_ = 0;
  double live_credit_ = 0;                         // live_share: slots owed to the live stream
  std::uint64_t generation_ = 0;                   // bumped by disconnected(): stale reads are discarded
  std::unordered_set<std::uint64_t> outstanding_;  // row ids handed to the session, not yet settled
  // The packet ids (packet_id_of) of the outstanding QoS 1/2 rows. Live-first replay puts rows far apart in
  // id in flight together, and two ids 65,535 apart share a packet id: the later one waits for the earlier.
  std::bitset<65536> ids_busy_;
  // Bumped by a requeue: a read submitted before it may return rows above the requeued ones, which would
  // overtake them; such a read's rows go back to the queue too, and its scan mark is not taken.
  std::uint64_t requeue_epoch_ = 0;
  std::vector<std::uint64_t> to_ack_;
  std::vector<RefusedRow> refused_rows_;
  std::unordered_map<std::uint64_t, std::string> topics_;  // outstanding id -> local topic (for logs)
  double credit_ = 0;                                      // rate limit: rows allowed now
  Millis refilled_at_ = -1;
  DrainStats stats_;
};

}  // namespace gw::uplink
