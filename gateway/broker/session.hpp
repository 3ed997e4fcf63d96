// A client's MQTT session (MQTT 5.0 §4.1): subscriptions, the QoS 1/2 messages in flight to it and
// queued for it, the QoS 2 packet ids received from it and not yet released, and a delayed will.
// It outlives the network connection (STYLE.md §6); `conn` is null while the client is away.
// Sessions are plain state; the broker's delivery code (delivery.cpp) moves messages through them.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "gateway/base/clock.hpp"
#include "gateway/base/fifo.hpp"
#include "gateway/base/small_map.hpp"
#include "gateway/broker/message.hpp"
#include "protocols/mqtt/packets.hpp"

namespace gw::broker {

class Connection;

// One message bound for one session, with the QoS and flags it is delivered with.
struct Delivery {
  MessagePtr msg;
  std::uint8_t qos = 0;
  bool retain = false;
  std::vector<std::uint32_t> subscription_ids;  // MQTT 5.0 §3.3.4
  std::uint64_t seq = 0;  // its key in the store, for persistent sessions (0 = not persisted)
};

struct InflightOut {
  enum class State : std::uint8_t { AwaitPuback, AwaitPubrec, AwaitPubcomp };
  std::uint16_t packet_id = 0;
  State state = State::AwaitPuback;
  Delivery delivery;  // the message is released once PUBREC arrives (only the id is needed after)
};

struct SessionSubscription {
  mqtt::SubscribeOptions options;
  std::uint32_t subscription_id = 0;
};

// A container allocated with its first element: one pointer while empty, so an idle session does not
// pay for the containers of an active one. It forwards the members the broker uses; reads of an empty
// one see an empty range (value-initialized iterators compare equal).
template <typename C>
class Lazy {
 public:
  using iterator = decltype(std::declval<C&>().begin());

  bool empty() const { return !c_ || c_->empty(); }
  std::size_t size() const { return c_ ? c_->size() : 0; }
  iterator begin() { return c_ ? c_->begin() : iterator(); }
  iterator end() { return c_ ? c_->end() : iterator(); }
  auto begin() const {
    using It = decltype(std::as_const(*c_).begin());
    return c_ ? std::as_const(*c_).begin() : It();
  }
  auto end() const {
    using It = decltype(std::as_const(*c_).end());
    return c_ ? std::as_const(*c_).end() : It();
  }
  template <typename K>
  iterator find(const K& k) {
    return c_ ? c_->find(k) : iterator();
  }
  template <typename K>
  bool contains(const K& k) const {
    return c_ && c_->contains(k);
  }
  template <typename K>
  decltype(auto) operator[](const K& k) {
    return get()[k];
  }
  decltype(auto) erase(iterator it) { return c_->erase(it); }
  template <typename T>
  void push_back(T&& x) {
    get().push_back(std::forward<T>(x));
  }
  decltype(auto) front() { return c_->front(); }
  void pop_front() { c_->pop_front(); }
  C& get() {
    if (!c_) c_ = std::make_unique<C>();
    return *c_;
  }

 private:
  std::unique_ptr<C> c_;
};

// The part of a persistent session's queue that lives only in the store (store.session_queue;
// stored_queue.cpp). Session::queue holds the head of the queue while the client is connected (at most
// memory_rows); every other queued message is a Queued row of the store with seq > read_after, paged in
// as the head drains. Allocated with the session's first queued message.
struct StoredTail {
  std::uint64_t id = 0;            // unique per broker: completions find their session by it
  std::uint64_t rows = 0;          // queued rows only in the store
  std::uint64_t bytes = 0;         // their topic + payload bytes
  std::uint64_t window_bytes = 0;  // topic + payload bytes of Session::queue
  std::uint64_t read_after = 0;    // the tail is the Queued rows above this seq
  std::uint64_t reading = 0;       // the read in flight (a broker-unique number; 0 = none)
  std::uint64_t rows_at_read = 0;  // `rows` when that read was submitted
};

// A will whose delay is running after the connection was lost (MQTT 5.0 §3.1.3.2).
struct PendingWill {
  mqtt::Will will;
  Millis at = 0;  // when it is published
};

// Laid out by size, small fields last: an idle session is 128 bytes (one 128-byte heap block).
class Session {
 public:
  static constexpr std::uint32_t kNeverExpires = 0xFFFFFFFF;

  explicit Session(std::string id) : client_id(std::move(id)) {}

  std::string client_id;
  Connection* conn = nullptr;

  Lazy<std::map<std::string, SessionSubscription, std::less<>>> subscriptions;  // by filter (incl. $share/..)
  Lazy<std::vector<InflightOut>> inflight;  // in send order, for redelivery in order (MQTT 5.0 §4.6)
  Lazy<Fifo<Delivery>> queue;               // waiting for an in-flight slot, a writable socket, or the client
  // PUBLISH QoS 2 received, PUBREL not yet (MQTT 5.0 §4.3.3): packet id -> store key (0 = not persisted).
  Lazy<SmallMap<std::uint16_t, std::uint64_t>> inbound_qos2;
  std::unique_ptr<PendingWill> pending_will;
  std::unique_ptr<StoredTail> stored_tail;  // persistent sessions with a store, once they queued

  Millis expires_at = 0;  // set while disconnected and expiry_interval is finite
  std::uint64_t queued_bytes = 0;
  std::uint64_t last_seq = 0;  // store keys of this session's messages

  // Scratch for the broker's fan-out: merges overlapping subscriptions into one delivery.
  // (the merged QoS, flags and identifiers live in the broker's target list, at match_index)
  std::uint32_t match_epoch = 0;
  std::uint32_t match_index = 0;

  // Seconds the session outlives its connection: 0 ends it with the connection (clean session),
  // kNeverExpires for MQTT 3.1.1 persistent sessions.
  std::uint32_t expiry_interval = 0;
  std::uint16_t last_packet_id = 0;
  bool stored = false;  // written to the store (so its end must delete it there)

  bool persistent() const { return expiry_interval != 0; }
  std::uint16_t next_packet_id();
};

// The broker's sessions by client id, owning them: open addressing with linear probing over one array
// of pointers (8 bytes a slot, at most 70% full), so a session costs no hash node. Erasing shifts the
// entries after it back (no tombstones). Iteration order is unspecified, as with std::unordered_map.
class SessionTable {
 public:
  SessionTable() = default;
  ~SessionTable();
  SessionTable(const SessionTable&) = delete;
  SessionTable& operator=(const SessionTable&) = delete;

  std::size_t size() const { return size_; }
  Session* find(std::string_view client_id) const;
  // Takes a session whose client id is not in the table yet.
  Session* insert(std::unique_ptr<Session> s);
  // Removes and destroys a session of this table.
  void erase(Session* s);
  // Calls f(Session&) for each session; f must not insert or erase.
  template <typename F>
  void for_each(F&& f) const {
    for (Session* s : slots_) {
      if (s != nullptr) f(*s);
    }
  }

 private:
  std::size_t home(std::string_view client_id) const {
    return std::hash<std::string_view>{}(client_id) & (slots_.size() - 1);
  }
  std::size_t next(std::size_t i) const { return (i + 1) & (slots_.size() - 1); }
  void grow();

  std::vector<Session*> slots_;  // a power of two long, or empty
  std::size_t size_ = 0;
};

}  // namespace gw::broker
