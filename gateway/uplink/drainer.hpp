// The outbox drainer: the part of the `mqtt` uplink that decides which outbox rows go to the cloud and
// when they may leave the store. It reads batches in outbox order, hands each row to the MQTT session
// with its row id as the tag, keeps at most `window` rows outstanding, and acknowledges rows to the store
// only when the cloud acknowledged them. No sockets, no timers, no store: both sides are interfaces, so
// the unit tests drive it with fakes (tests/unit/uplink_drain_test.cpp).
#pragma once

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
  using ReadDone = std::function<void(bool ok, std::vector<storage::OutboxRecord> rows)>;
  // Up to max_rows queued rows in outbox order, marked in flight. false: not submitted (no completion).
  virtual bool read(std::uint32_t max_rows, ReadDone done) = 0;
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

struct DrainOptions {
  std::vector<RelayRule> rules;   // up rules: the first match maps the local topic and caps the QoS
  std::string topic_prefix;       // rows no rule matches: prepended to the local topic
  std::uint8_t max_qos = 1;       // rows no rule matches: each goes up at min(row QoS, this)
  std::uint32_t max_batch = 256;  // rows read ahead at most; each read asks for what is missing
  std::uint32_t rate_limit = 0;   // rows per second (token bucket, one second of burst); 0 = unlimited
};

struct DrainStats {
  std::uint64_t published = 0;  // rows handed to the session (each transmission after a requeue counts)
  std::uint64_t acked = 0;      // rows the cloud acknowledged (and QoS 0 rows once written)
  std::uint64_t refused = 0;    // rows the server or a local check refused: logged and acked away
  std::uint64_t requeues = 0;   // requeue requests (disconnects, startup, session queue full)
  std::uint64_t reads = 0;      // store reads issued
  std::uint64_t read_errors = 0;
  std::uint64_t released = 0;        // QoS 2 rows recorded as owned by the cloud (PUBREC), then PUBREL
  std::uint64_t release_errors = 0;  // such records the store could not write (PUBREL not sent)
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
  bool reading() const { return reading_; }
  const DrainStats& stats() const { return stats_; }

 private:
  void pump();
  void publish_ready();  // from the read-ahead into the window
  void on_rows(std::uint64_t generation, bool ok, std::vector<storage::OutboxRecord> rows);
  void settle(std::uint64_t id);  // leaves the window, to be acknowledged to the store

  OutboxPort& port_;
  DrainOptions options_;
  PublishFn publish_;
  ReleaseFn release_;
  std::vector<std::uint64_t> to_release_;
  bool connected_ = false;
  std::uint16_t window_ = 0;
  bool reading_ = false;
  bool more_ = true;  // the queue may hold rows we have not read
  bool new_during_read_ = false;
  std::uint64_t generation_ = 0;                   // bumped by disconnected(): stale reads are discarded
  std::unordered_set<std::uint64_t> outstanding_;  // row ids handed to the session, not yet settled
  std::vector<std::uint64_t> to_ack_;
  std::vector<RefusedRow> refused_rows_;
  std::unordered_map<std::uint64_t, std::string> topics_;  // outstanding id -> local topic (for logs)
  std::deque<storage::OutboxRecord> ready_;                // read (in flight in the store), not yet published
  double credit_ = 0;                                      // rate limit: rows allowed now
  Millis refilled_at_ = -1;
  DrainStats stats_;
};

}  // namespace gw::uplink
