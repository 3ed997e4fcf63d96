// The broker core: sessions, the subscription trie, retained messages, wills, keepalive and the $SYS
// counters, all on one thread (the libuv loop's) with no locks. It knows nothing of sockets: connections
// talk to it through Connection, time comes from an injected Clock, and tick() is called by a timer
// (a manual clock in unit tests).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "gateway/base/clock.hpp"
#include "gateway/broker/auth.hpp"
#include "gateway/broker/connection.hpp"
#include "gateway/broker/persistence.hpp"
#include "gateway/broker/retained_store.hpp"
#include "gateway/broker/session.hpp"
#include "gateway/broker/stats.hpp"
#include "gateway/broker/subscription_trie.hpp"
#include "gateway/config/config.hpp"

namespace gw::broker {

class Broker {
 public:
  Broker(const config::Config& cfg, const Clock& clock, std::unique_ptr<Authenticator> auth);
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // Routes a message to every matching subscription (and stores it if retained). `msg->sender` is the
  // publishing client id ("" for the broker itself). Returns Success (messages without a publishing
  // connection are never refused).
  mqtt::Reason publish(const MessagePtr& msg);
  // The same for a PUBLISH from a client: subscribers without room hold `from` back (flow control), and
  // admission comes first for QoS 1/2: a message that cannot be accepted everywhere it must go (the
  // outbox full under reject_new, a stored subscriber's quota) is refused with that reason, counted as
  // dropped/refused, and delivered nowhere.
  mqtt::Reason publish_from(Connection& from, const MessagePtr& msg);
  // Keepalive, connect timeouts, delayed wills, session expiry, message expiry, $SYS. Call often
  // (every 100-250 ms); it is cheap when nothing is due.
  void tick();
  // Closes every connection (server shutting down, v5 reason 0x8B).
  void shutdown();

  const Stats& stats() const { return stats_; }
  Stats& stats() { return stats_; }
  std::size_t connection_count() const { return connection_count_; }
  std::size_t connected_count() const { return connected_; }
  std::size_t session_count() const { return sessions_.size(); }
  std::size_t subscription_count() const { return trie_.size(); }
  // Sessions with publishers waiting for room in their queue (flow control).
  std::size_t holding_sessions() const { return full_.size(); }
  const RetainedStore& retained() const { return retained_; }
  Session* find_session(std::string_view client_id);
  // The client ids of every session, connected or not (in no particular order).
  std::vector<std::string> session_ids() const;
  const config::Limits& limits() const { return limits_; }
  // Reload (SIGHUP): new limits for what happens from now on (connections stay; queues longer than a
  // lowered bound shrink as they drain), and a new authenticator for the next CONNECT, PUBLISH and
  // SUBSCRIBE.
  void set_limits(const config::Limits& limits);
  void set_authenticator(std::unique_ptr<Authenticator> auth) { auth_ = std::move(auth); }
  const Clock& clock() const { return clock_; }
  // Another subsystem's counters in $SYS (the CoAP front end's): at every $SYS interval `source` gets a
  // function that publishes "$SYS/broker/<topic>" = value, retained, like the broker's own.
  using SysPut = std::function<void(const std::string& topic, std::uint64_t value)>;
  void add_sys_source(std::function<void(const SysPut&)> source) {
    sys_sources_.push_back(std::move(source));
  }

  // Persistence (optional): set before serving; restore() loads what the store kept.
  void set_persistence(Persistence* p) { persistence_ = p; }
  void set_extension(Extension* e) { extension_ = e; }
  Extension* extension() { return extension_; }
  void deliver_to(Session& s, const MessagePtr& m, std::uint8_t qos);
  Persistence* persistence() { return persistence_; }
  Result<bool, std::string> restore();
  // A QoS >= 1 PUBLISH being routed: failures of durable writes it causes are recorded here.
  struct PublishTicket {
    mqtt::Reason reason = mqtt::Reason::Success;
  };
  void set_current_ticket(std::shared_ptr<PublishTicket> t) { ticket_ = std::move(t); }
  // The ticket of the PUBLISH being handled (also while an extension sees it), or null.
  const std::shared_ptr<PublishTicket>& current_ticket() const { return ticket_; }
  Connection* connection_by_id(std::uint64_t id);
  // Every connection by slot (null: a free slot), for listings (the operator's API).
  const std::vector<Connection*>& connection_slots() const { return slots_; }

  // Called by Connection.
  std::uint64_t attach(Connection& c);  // returns the connection's id
  void detach(Connection& c);
  mqtt::Reason authenticate(const ConnectInfo& info) { return auth_->authenticate(info); }
  Authenticator& authorizer() { return *auth_; }
  // CONNECT accepted: finds or creates the session, handles takeover; returns session_present.
  bool open_session(Connection& c, const std::string& client_id, bool clean_start, std::uint32_t expiry);
  void resume(Connection& c);  // after CONNACK: resend in-flight, then pump the queue
  void connection_lost(Connection& c);
  void on_puback(Connection& c, std::uint16_t id);
  void on_pubrec(Connection& c, std::uint16_t id, mqtt::Reason reason);
  void on_pubcomp(Connection& c, std::uint16_t id);
  void subscribe(Connection& c, const mqtt::Subscribe& s);
  void unsubscribe(Connection& c, const mqtt::Unsubscribe& u);
  void pump(Session& s);
  std::string assign_client_id();
  // Admission for store.session_queue.policy reject_new: whether a QoS >= 1 message of `bytes` (topic +
  // payload) must be refused because this persistent session's stored queue is at its bound. Always
  // false under drop_oldest, without a store, and for sessions that are not persistent. Broker::publish
  // asks it for every matched session before delivering anywhere, so a refused publish reaches nobody.
  bool session_queue_full(const Session& s, std::uint64_t bytes) const;
  mqtt::Buffer& scratch() { return scratch_; }

 private:
  void deliver(Session& s, Delivery&& d);
  void enqueue(Session& s, Delivery&& d);
  // Applies queue_policy until a message of `size` bytes fits; false: the new message is the one dropped.
  bool make_room(Session& s, std::size_t size);
  bool queue_full(const Session& s, std::size_t size) const;

  // Flow control. A QoS >= 1 message for an online, in-memory session whose queue is full is still
  // queued (the queue overflows by the publishers' in-progress packets only), and its publisher waits
  // for that session: its reads stop and its PUBACK/PUBREC is held (Connection::flow_hold). When the
  // session's queue is back under half its bounds (and its socket writable), or the session goes away,
  // its waiters are released. A session that holds publishers longer than slow_subscriber_timeout is
  // disconnected. QoS 0 does the same over a subscriber's write high watermark under
  // qos0_full_policy: pause. A publisher never waits on its own session (it could not drain it).
  bool may_hold(const Session& s) const;
  void hold(Session& s);
  void release_if_room(Session& s);
  void release_waiters(Session& s);
  std::vector<std::uint64_t> take_waiters(const Session& s);
  void release(const std::vector<std::uint64_t>& conns);
  struct Waiters {
    Millis since = 0;                  // when the first publisher started waiting
    std::vector<std::uint64_t> conns;  // publishers' connection ids (stale ids are skipped)
  };
  std::unordered_map<const Session*, Waiters> full_;  // only sessions that hold someone back
  Connection* publisher_ = nullptr;                   // the client whose PUBLISH is being routed
  void send_inflight(Session& s, Delivery&& d, bool from_queue);
  void close_if_slow(Session& s);
  // Persistent sessions with a store (stored_queue.cpp): the queue lives in the store, its head in memory.
  void enqueue_stored(Session& s, Delivery&& d);
  bool make_stored_room(Session& s,
                        std::uint64_t bytes);  // applies the policy; false: the message is refused
  void read_stored(Session& s);                // pages the next rows in if the head ran low
  void on_stored_rows(const std::string& client_id, std::uint64_t read, std::uint32_t asked, bool ok,
                      std::vector<Delivery> rows);
  void release_window(Session& s);  // the client left: the head is dropped from memory (kept in the store)
  Session* find_tail(const std::string& client_id, std::uint64_t tail_id);
  bool refuses_any(const Message& m);  // publish's reject_new admission over the matched sessions
  void publish_will(const std::string& client_id, mqtt::Will&& will);
  void destroy_session(Session& s, DropReason why);
  void publish_sys();

  config::Limits limits_;
  std::uint32_t sys_interval_s_;
  const Clock& clock_;
  std::unique_ptr<Authenticator> auth_;
  Stats stats_;
  SubscriptionTrie trie_;
  RetainedStore retained_;
  SessionTable sessions_;
  // Connections by slot; an id is (generation << 32 | slot), so a stale id never finds a newer
  // connection in a reused slot. 8 bytes per connection, no node allocation.
  std::vector<Connection*> slots_;
  std::vector<std::uint32_t> free_slots_;
  std::size_t connection_count_ = 0;
  std::uint64_t connection_ids_ = 0;
  Persistence* persistence_ = nullptr;
  Extension* extension_ = nullptr;
  std::shared_ptr<PublishTicket> ticket_;
  std::size_t connected_ = 0;
  std::uint32_t match_epoch_ = 0;  // 0 is never current: a new session starts unmarked
  std::uint64_t assigned_ids_ = 0;
  struct Target {
    Session* session;
    std::uint8_t qos;
    bool retain_as_published;
    std::vector<std::uint32_t> ids;
  };
  std::vector<Target> targets_;  // fan-out scratch: one entry per matched session
  struct SharedPick {
    Session* session;
    SubEntry entry;
  };
  std::vector<SharedPick> shared_picks_;  // fan-out scratch: the member each shared group picked
  std::size_t target_count_ = 0;
  mqtt::Buffer scratch_;
  struct SessionQueueLimits {
    std::uint64_t max_rows;
    std::uint64_t max_bytes;
    bool reject_new;
    std::uint32_t memory_rows;
  } session_queue_;
  std::uint64_t stored_ids_ = 0;  // StoredTail::id and ::reading numbers
  Millis started_at_ = 0;
  Millis next_sys_at_ = 0;
  std::vector<std::function<void(const SysPut&)>> sys_sources_;
  Millis next_expiry_scan_ = 0;
  std::vector<std::string> ended_at_start_;  // sessions the store deleted as expired at restore()
};

}  // namespace gw::broker
