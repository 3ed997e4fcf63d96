// The client side of an MQTT 3.1.1/5.0 session as a pure state machine, for the cloud uplink: it frames
// and decodes what the server sends with the codec, and answers with bytes to send and events. It owns
// packet ids, the in-flight window (min of our limit and the server's receive maximum), the bounded
// queue behind it, redelivery after a reconnect, inbound QoS 2 state, keepalive and stall detection.
// No sockets, no clock (every input carries `now`), no logging; the state table is in the .cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "gateway/base/clock.hpp"
#include "gateway/base/result.hpp"
#include "protocols/mqtt/codec.hpp"
#include "protocols/mqtt/packets.hpp"

namespace gw::mqtt {

// The caller's handle on an outbound message (e.g. its outbox row id), echoed in the events.
using PublishTag = std::uint64_t;

// What happens to a QoS 1/2 publish that finds the queue full.
enum class QueueFullPolicy {
  RejectNew,   // `reject_new`: publish() returns QueueFull; the caller keeps the message (durable outbox)
  DropOldest,  // `drop_oldest`: the oldest queued message is dropped (PublishDropped) to make room
};

// What happens to unacknowledged QoS 1/2 publishes when the server answers a reconnect with
// session present = 0 (it has forgotten them, MQTT 5.0 §4.4): the caller decides.
enum class SessionLostPolicy {
  ResendAsNew,  // back to the front of the queue, in order: sent again without DUP under new packet ids
  Abandon,      // PublishDropped{SessionLost} each; the caller re-publishes from its own store if it wants
};
// Either way, a QoS 2 message already past PUBREC counts as delivered (PublishAcked): the server took
// ownership of it with PUBREC (MQTT 5.0 §4.3.3), and sending it again could deliver it twice.

struct ClientLimits {
  std::uint16_t max_inflight = 64;  // our window; the effective one is min(this, server receive maximum)
  std::size_t max_queued = 1'000;   // QoS 1/2 publishes waiting for a window slot or a connection
  QueueFullPolicy queue_policy = QueueFullPolicy::RejectNew;
  SessionLostPolicy session_lost_policy = SessionLostPolicy::ResendAsNew;
  std::uint32_t max_packet_size = 1 << 20;  // largest inbound packet; advertised in a v5 CONNECT
  Millis connack_timeout_ms = 10'000;       // CONNECT sent, no CONNACK: close
  Millis ping_timeout_ms = 10'000;          // PINGREQ sent, then no PINGRESP nor any packet: close
  Millis stall_timeout_ms = 60'000;         // publishes in flight and no acknowledgement: close; 0 = off
  // QoS 2: on PUBREC, emit PublishReceived and send PUBREL only when release() is called (so that a caller
  // with durable state can record "the server owns it" first). false: PUBREL goes out at once.
  bool hold_pubrel = false;
};

// One CONNECT's worth of options. The NETPIE profile builds a new password per connection (§6.1), so
// the caller may call connect() again before every reconnect.
struct ConnectOptions {
  Version version = Version::V311;  // V311 or V5 (V31 also works: "MQIsdp"/3)
  std::string client_id;
  std::optional<std::string> username;
  std::optional<std::string> password;
  std::uint16_t keep_alive_s = 60;  // 0 disables PINGREQ (a v5 server may impose its own)
  bool clean_start = true;
  std::uint32_t session_expiry_s = 0;         // v5 only
  std::optional<Will> will;                   // v5 will properties travel in Will::properties
  std::uint16_t receive_maximum = 65535;      // v5: inbound QoS 2 we hold unreleased at once
  std::uint16_t topic_alias_maximum = 0;      // v5: inbound topic aliases we accept
  std::vector<UserProperty> user_properties;  // v5 CONNECT user properties
};

// An outbound message. QoS 0 is sent at once (never queued); QoS 1/2 go through the window.
struct OutboundPublish {
  std::string topic;
  std::string payload;
  std::uint8_t qos = 0;
  bool retain = false;
  Properties properties;  // v5 only (dropped for 3.1.1)
  PublishTag tag = 0;
  // A caller with its own durable numbering (the uplink derives the id from the outbox row) chooses the
  // packet id of a QoS 1/2 message; 0 = the session allocates one. An id in use gives QueueFull.
  std::uint16_t packet_id = 0;
  bool dup = false;  // a re-delivery from an earlier connection (MQTT 3.1.1 §3.3.1.1)
  // QoS 2 whose PUBREC arrived on an earlier connection: send PUBREL for packet_id, not the PUBLISH.
  bool released = false;
};

enum class PublishStatus {
  Sent,          // written (QoS 0), or written and in flight (QoS 1/2)
  Queued,        // QoS 1/2 waiting for a window slot or for the connection
  Refused,       // a server limit forbids it (PublishRefused was emitted with the reason)
  QueueFull,     // RejectNew policy and the queue is at max_queued (counted)
  NotConnected,  // QoS 0 while not connected: not kept
  Invalid,       // QoS above 2 or a topic that is not a valid topic name
};
const char* to_string(PublishStatus s);

enum class RequestError {
  NotConnected,  // SUBSCRIBE/UNSUBSCRIBE only go out on a live connection
  Invalid,       // empty list or an invalid filter
  NoPacketId,    // all 65,535 packet ids are in use
};

// Why the connection ended or is asked to end.
enum class CloseReason {
  TransportLost,     // the transport went away on its own
  ConnackTimeout,    // no CONNACK within connack_timeout_ms
  ConnackRefused,    // CONNACK with a failure code
  KeepaliveTimeout,  // no PINGRESP nor any packet within ping_timeout_ms of a PINGREQ
  Stalled,           // publishes in flight and no acknowledgement for stall_timeout_ms
  ProtocolError,     // the server sent something malformed or out of place
  ServerDisconnect,  // v5 DISCONNECT from the server
  UserDisconnect,    // disconnect() was called
};
const char* to_string(CloseReason r);

enum class DropReason { QueueFull, SessionLost };

// ---- Events ----
struct Connected {
  bool session_present = false;
  std::uint16_t receive_maximum = 65535;  // the server's (65535 when absent and for 3.1.1)
  std::uint16_t keep_alive_s = 0;         // in effect: the v5 Server Keep Alive, else ours
  std::uint32_t maximum_packet_size = 0;  // the server's; 0 = no limit announced
  std::uint16_t topic_alias_maximum = 0;  // the server's (we do not use outbound aliases)
  std::uint8_t maximum_qos = 2;
  bool retain_available = true;
  std::optional<std::string> assigned_client_id;
  bool operator==(const Connected&) const = default;
};
struct ConnackRefused {
  Reason reason = Reason::UnspecifiedError;  // 3.1.1 codes arrive mapped: 4 -> 0x86, 5 -> 0x87
  std::optional<std::string> reason_string;
  std::optional<std::string> server_reference;
};
struct PublishAcked {
  PublishTag tag = 0;
};
struct PublishRefused {
  PublishTag tag = 0;
  Reason reason = Reason::UnspecifiedError;  // v5 PUBACK/PUBREC >= 0x80, or a local check of a server limit
};
struct PublishDropped {
  PublishTag tag = 0;
  DropReason reason = DropReason::QueueFull;
};
// hold_pubrel: the server answered PUBREC (it owns the message); PUBREL waits for release(tag).
struct PublishReceived {
  PublishTag tag = 0;
};
// The PUBACK (QoS 1) or PUBREC (QoS 2) is already among the bytes to send when this is emitted.
struct MessageReceived {
  Publish publish;  // topic already resolved from a topic alias
};
struct SubscribeAcked {
  std::uint16_t packet_id = 0;
  std::vector<Reason> reasons;
};
struct UnsubscribeAcked {
  std::uint16_t packet_id = 0;
  std::vector<Reason> reasons;  // empty for 3.1.1
};
// A SUBSCRIBE/UNSUBSCRIBE still unanswered when the connection ended; the caller may issue it again.
struct RequestLost {
  std::uint16_t packet_id = 0;
};
// Ask the caller to flush the bytes already taken and close the transport; transport_lost() follows.
struct CloseTransport {
  CloseReason why = CloseReason::TransportLost;
  Reason reason = Reason::Success;  // the reason sent in our DISCONNECT, or the server's
};
struct Disconnected {
  CloseReason why = CloseReason::TransportLost;
  Reason reason = Reason::Success;
};
using Event = std::variant<Connected, ConnackRefused, PublishAcked, PublishRefused, PublishDropped,
                           PublishReceived, MessageReceived, SubscribeAcked, UnsubscribeAcked, RequestLost,
                           CloseTransport, Disconnected>;

struct ClientStats {
  std::uint64_t publishes_sent = 0;    // first transmissions, all QoS
  std::uint64_t publishes_resent = 0;  // with DUP after a reconnect
  std::uint64_t pubrels_resent = 0;    // after a reconnect
  std::uint64_t acked = 0;
  std::uint64_t refused = 0;
  std::uint64_t queue_full_rejected = 0;   // RejectNew
  std::uint64_t queue_full_dropped = 0;    // DropOldest
  std::uint64_t session_lost_dropped = 0;  // Abandon
  std::uint64_t duplicate_acks = 0;        // PUBACK/PUBREC/PUBCOMP/SUBACK/UNSUBACK matching nothing in flight
  std::uint64_t received = 0;              // MessageReceived events
  std::uint64_t inbound_duplicates = 0;    // QoS 2 PUBLISH again before PUBREL: acknowledged, not delivered
  std::uint64_t pings_sent = 0;
  std::uint64_t keepalive_timeouts = 0;
  std::uint64_t stalls = 0;
  std::uint64_t protocol_errors = 0;
};

class ClientSession {
 public:
  enum class State { Offline, TransportUp, AwaitingConnack, Connected, Closing };

  explicit ClientSession(ClientLimits limits = {});

  // ---- Inputs ----
  // Options for the next CONNECT. Sent at once if the transport is up and no CONNECT went out on it
  // yet; otherwise kept for the next transport_connected(). Replaces earlier options.
  void connect(ConnectOptions options, Millis now);
  void transport_connected(Millis now);
  // The transport closed (on its own or after CloseTransport). Unsent bytes are discarded; in-flight
  // and queued publishes and inbound QoS 2 state stay for the next connection.
  void transport_lost(Millis now);
  void bytes_received(ByteView data, Millis now);
  // Keepalive, CONNACK timeout and stall detection; call at next_deadline() (or more often).
  void tick(Millis now);
  // QoS 0 does not wait behind the window, so it may overtake queued QoS 1/2 messages (MQTT orders
  // messages per QoS level only). A v5 Message Expiry Interval is sent as given, also on redelivery.
  PublishStatus publish(OutboundPublish message, Millis now);
  // hold_pubrel: sends the PUBREL of a QoS 2 message whose PUBREC was reported by PublishReceived (or, when
  // not connected, on the next connection). false: no such message (never held, or already released).
  // O(log n) in the held messages. Tags are the caller's: if several held messages share one, the one
  // held longest is released.
  bool release(PublishTag tag, Millis now);
  // Returns the packet id that the SubscribeAcked/UnsubscribeAcked/RequestLost event will carry.
  Result<std::uint16_t, RequestError> subscribe(std::vector<Subscription> subscriptions,
                                                Properties properties, Millis now);
  Result<std::uint16_t, RequestError> unsubscribe(std::vector<std::string> filters, Properties properties,
                                                  Millis now);
  // Normal end (v5: with `reason`; 0x04 keeps the will). Sends DISCONNECT when connected, then asks for
  // a close; without a connection it only asks for a close.
  void disconnect(Reason reason, Millis now);

  // ---- Outputs ----
  Buffer take_bytes();  // everything to write, in order
  bool has_bytes() const { return !out_.empty(); }
  std::vector<Event> take_events();
  // The earliest time tick() has something to do; nullopt when no timer is needed.
  std::optional<Millis> next_deadline() const;

  // ---- Inspection ----
  State state() const { return state_; }
  std::size_t inflight() const { return inflight_.size(); }
  std::size_t queued() const { return queue_.size(); }
  std::uint16_t window() const;  // min(max_inflight, server receive maximum)
  const ClientStats& stats() const { return stats_; }
  const Connected& server() const { return server_; }  // what the last CONNACK announced

 private:
  enum class Stage { AwaitPuback, AwaitPubrec, AwaitRelease, AwaitPubcomp };
  struct InFlight {
    Publish packet;  // packet_id assigned; dup set once it has been transmitted
    PublishTag tag = 0;
    Stage stage = Stage::AwaitPuback;
    bool sent_here = false;  // transmitted (PUBLISH or PUBREL) on the current connection
  };
  struct Queued {
    Publish packet;  // packet_id 0 until transmitted, unless the caller chose it
    PublishTag tag = 0;
    bool released = false;  // QoS 2 past PUBREC on an earlier connection: PUBREL only
  };
  enum class RequestKind { Subscribe, Unsubscribe };

  void send_connect(Millis now);
  void handle_packet(Packet&& packet, Millis now);
  void on_connack(const Connack& c, Millis now);
  void on_publish(Publish&& p, Millis now);
  void deliver(Publish&& p);
  void on_ack(const Ack& a, Millis now);
  void on_suback(std::uint16_t id, RequestKind kind, std::vector<Reason> reasons);
  void after_session_lost();
  void pump(Millis now);
  bool transmit(Queued&& q, Millis now);  // false: refused (PublishRefused emitted)
  void finish(std::uint16_t id, Reason reason, Millis now);
  void protocol_error(Reason reason, Millis now);
  void request_close(CloseReason why, Reason reason);
  std::optional<std::uint16_t> allocate_id();
  bool id_in_use(std::uint16_t id) const;
  Millis keepalive_ms() const { return static_cast<Millis>(server_.keep_alive_s) * 1000; }
  // The level of the current (or last) connection, whatever connect() has been given since.
  Version version() const { return sent_options_.version; }
  bool v5() const { return version() == Version::V5; }
  template <typename P>
  void write(const P& packet, Millis now) {
    encode(packet, version(), out_);
    last_sent_at_ = now;
  }
  void write(const Connect& packet, Millis now) {
    encode(packet, out_);
    last_sent_at_ = now;
  }

  ClientLimits limits_;
  State state_ = State::Offline;
  std::optional<ConnectOptions> options_;
  ConnectOptions sent_options_;  // the CONNECT of the current connection
  Connected server_;

  Buffer in_;
  Buffer out_;
  std::vector<Event> events_;

  // In-flight publishes in first-transmission order; by_id_ indexes them by packet id.
  std::list<InFlight> inflight_;
  std::unordered_map<std::uint16_t, std::list<InFlight>::iterator> by_id_;
  // The in-flight entries at Stage::AwaitRelease by tag, for release(); a multimap keeps equal tags in
  // the order they were held.
  std::multimap<PublishTag, std::list<InFlight>::iterator> held_;
  std::size_t sent_here_ = 0;  // in-flight entries transmitted on this connection (the window's use)
  std::deque<Queued> queue_;
  std::map<std::uint16_t, RequestKind> requests_;  // SUBSCRIBE/UNSUBSCRIBE awaiting their ack
  std::set<std::uint16_t> inbound_qos2_;           // PUBREC sent, PUBREL not yet received
  std::vector<std::string> inbound_aliases_;       // v5 topic aliases, index = alias - 1
  std::uint16_t next_id_ = 1;

  Millis connect_sent_at_ = 0;
  Millis last_sent_at_ = 0;
  Millis last_received_at_ = 0;
  Millis last_progress_at_ = 0;  // last acknowledgement that advanced the window (stall detection)
  std::optional<Millis> ping_sent_at_;
  CloseReason close_why_ = CloseReason::TransportLost;
  Reason close_reason_ = Reason::Success;
  bool connect_sent_ = false;  // a CONNECT went out on the current transport

  ClientStats stats_;
};

}  // namespace gw::mqtt
