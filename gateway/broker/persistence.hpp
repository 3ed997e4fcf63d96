// The broker's side of the SQLite store: turns session, retained and outbox changes into store writes,
// and rebuilds sessions and retained messages at start-up. Writes are fire-and-forget; a QoS >= 1
// PUBLISH that caused any write is acknowledged only after barrier() reports its transaction committed
// (the store commits requests in submission order, so the barrier covers every earlier write).
// Without a store (store.enabled: false, and in most unit tests) the broker runs without one.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/base/clock.hpp"
#include "gateway/broker/session.hpp"
#include "protocols/mqtt/packets.hpp"
#include "storage/store.hpp"

namespace gw::broker {

// Which client messages enter the outbox, and for which uplink: a message gets one row per uplink
// (dest) whose routes it matches, in the lane of that uplink's first matching route.
struct OutboxRoute {
  std::string filter;
  std::string dest;  // the uplink name ('' = none yet: the rows wait for an uplink to claim them)
  std::uint8_t lane = 1;
};

class Persistence {
 public:
  Persistence(storage::Store& store, const Clock& clock, std::vector<OutboxRoute> routes);

  // Session metadata and contents. Only persistent sessions are written.
  void session_saved(const Session& s);  // the whole session (new, or resumed after a clean start)
  void session_meta(const Session& s);   // expiry or connection state changed
  void session_deleted(const std::string& client_id);
  void subscribed(const Session& s, const std::string& filter, const SessionSubscription& sub);
  void unsubscribed(const Session& s, const std::string& filter);
  void message_put(const Session& s, const Delivery& d, storage::MessageState st, std::uint16_t packet_id);
  // A queued message that lives only in the store (a persistent session's tail): `done` (may be empty)
  // runs once with whether it is durable. False: the store refused it at once (its queue is full or it
  // stopped); `done` ran with the reason and nothing was written.
  bool message_spill(const Session& s, const Delivery& d, std::function<void(mqtt::Reason)> done);
  // Pages a session's queue in: up to max_rows queued messages with seq > after_seq, in order. False:
  // not submitted (no completion).
  using QueueReadDone = std::function<void(bool ok, std::vector<Delivery> rows)>;
  bool queue_read(const Session& s, std::uint64_t after_seq, std::uint32_t max_rows, QueueReadDone done);
  // drop_oldest: deletes the `rows` oldest queued messages with seq > after_seq; `done` gets what went.
  void queue_drop(const Session& s, std::uint64_t after_seq, std::uint32_t rows,
                  std::function<void(storage::SessionQueued)> done);
  void message_state(const Session& s, std::uint64_t seq, storage::MessageState st, std::uint16_t packet_id);
  void message_deleted(const Session& s, std::uint64_t seq);
  void inbound_qos2(const Session& s, std::uint64_t seq, std::uint16_t packet_id);  // PUBREC sent

  // updated_ms: the time the retained store was given (the one GET /topic answers, before and after a
  // restart).
  void retained(const Message& m, std::int64_t updated_ms);
  // Local history (store.history.filters): a copy of a message on a chosen topic, for GET /history.
  void history(const Message& m);

  bool outbox_wants(std::string_view topic) const;
  // Reload: the routes for messages from now on (rows already queued keep their uplink).
  void set_routes(std::vector<OutboxRoute> routes) { routes_ = std::move(routes); }
  // Whether the outbox would take `m` now: under reject_new, QuotaExceeded when its rows would pass
  // store.outbox.max_rows/max_bytes, counting the committed backlog and the enqueues this broker
  // submitted that have not committed yet. Success says nothing about a failure at commit (disk full).
  mqtt::Reason outbox_admit(const Message& m) const;
  // Enqueues for the cloud, one row per uplink the routes pick; `done` (may be empty) runs once: Success
  // when every row is durable, else the first failure (QuotaExceeded when the outbox is full under
  // reject_new, ...).
  void outbox_enqueue(const Message& m, std::function<void(mqtt::Reason)> done);

  // A durable write an extension submitted to the store itself (a feed point): the next barrier covers it,
  // so the publisher's acknowledgement waits for its commit like for the broker's own writes.
  void note_write(storage::Status st) { submitted(st); }
  // Whether any write was submitted since the last barrier.
  bool dirty() const { return dirty_; }
  // `done` runs on the loop thread once every write submitted so far committed (Success) or failed.
  void barrier(std::function<void(mqtt::Reason)> done);

  // Start-up: the persisted sessions and retained messages, converted back.
  struct Restored {
    std::vector<std::unique_ptr<Session>> sessions;
    std::vector<MessagePtr> retained;
    std::vector<std::int64_t> retained_updated_ms;  // beside `retained`: when each was set (0 = unknown)
    std::vector<std::string> expired;  // client ids of sessions that expired while the daemon was down
  };
  // Each session's queue is restored as its count (Session::stored_tail) plus at most `max_queued` of
  // its first messages in memory; messages in flight are all restored.
  Result<Restored, std::string> restore(std::uint32_t max_queued);

  std::uint64_t refused() const { return refused_; }

 private:
  void submitted(storage::Status st);
  std::int64_t to_unix(Millis deadline) const;
  Millis from_unix(std::int64_t unix_s) const;
  storage::SessionMessage record_of(const Delivery& d, storage::MessageState st,
                                    std::uint16_t packet_id) const;
  Delivery delivery_of(const storage::SessionMessage& m) const;
  MessagePtr make_message(const std::string& topic, const std::string& payload, const std::string& props,
                          std::uint8_t qos, bool retain, std::int64_t expiry_unix) const;

  storage::Store& store_;
  const Clock& clock_;
  std::vector<OutboxRoute> routes_;
  std::vector<const OutboxRoute*> routes_for(std::string_view topic) const;

  bool dirty_ = false;
  std::uint64_t refused_ = 0;  // writes the store's queue refused
  // Outbox rows submitted with a completion and not answered yet (outbox_admit counts them as taken), as
  // much as each adds to the outbox (growth()): a row its uplink's quota refuses adds nothing. In total and
  // per destination (for the quotas).
  struct Pending {
    std::uint64_t rows = 0;
    std::uint64_t bytes = 0;
    std::map<std::string, storage::OutboxBacklog, std::less<>> dests;
  };
  std::shared_ptr<Pending> pending_ = std::make_shared<Pending>();
  // What one row of `bytes` for `dest` adds to the outbox's rows and bytes at most, given that
  // destination's quota (storage/README.md "Quotas per destination"): none when its reject_new refuses
  // the row, at most what fits under it when its drop_oldest makes room from its own rows.
  storage::OutboxBacklog growth(const std::string& dest, std::uint64_t bytes) const;
};

// A queued message's size as counted against store.session_queue.max_bytes: topic + payload.
inline std::uint64_t stored_size(const Delivery& d) {
  return d.msg->topic.size() + d.msg->payload.size();
}

// A store failure as the MQTT reason a publisher is told (MQTT 5.0 §3.4.2.1).
mqtt::Reason reason_for(storage::Status st);

}  // namespace gw::broker
