// The MQTT side of one client connection: frames and decodes the byte stream, enforces the connection
// state machine, and hands decoded packets to the broker. It owns no socket; bytes go out through a
// Transport. Lifetime: created by the net layer when a socket is accepted, destroyed by it after
// on_closed().
//
//   state          event                        next
//   AwaitConnect   CONNECT accepted             Connected
//   AwaitConnect   anything else / timeout      Closing
//   Connected      DISCONNECT, error, timeout   Closing
//   Closing        transport closed             (destroyed)
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "gateway/base/clock.hpp"
#include "gateway/base/fifo.hpp"
#include "gateway/broker/auth.hpp"
#include "gateway/broker/extension.hpp"
#include "gateway/broker/session.hpp"
#include "gateway/broker/transport.hpp"
#include "protocols/mqtt/codec.hpp"

namespace gw::broker {

class Broker;

class Connection {
 public:
  enum class State : std::uint8_t { AwaitConnect, Connected, Closing };

  Connection(Broker& broker, Transport& transport);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // From the net layer.
  void on_data(std::span<const std::uint8_t> bytes);
  void on_closed();  // the transport is closed (by the peer or by us); call exactly once
  void on_drain();   // pending output fell below the low watermark
  // From an in-process client (Transport::takes_packets): one packet, already decoded.
  void on_packet(mqtt::Packet& p);

  // From the broker.
  void send_publish(const Delivery& d, std::uint16_t packet_id, bool dup);
  // Whether the delivery fits the client's Maximum Packet Size (MQTT 5.0 §3.1.2.11.4).
  bool fits(const Delivery& d) const;
  void send_pubrel(std::uint16_t packet_id);
  // Sends a non-PUBLISH packet, within the client's Maximum Packet Size (see encode_for_client).
  template <typename P>
  void send(const P& packet);
  // Closes the connection; a v5 client gets a DISCONNECT with `reason` first when reason >= 0x80.
  void close_with(mqtt::Reason reason, const char* why);
  bool writable() const;
  std::size_t send_window() const;  // QoS 1/2 messages we may have in flight to this client

  // Completes an acknowledgement deferred until the store committed (see handle_publish).
  void complete_ack(std::uint64_t ticket, mqtt::Reason reason);

  // Flow control (broker.hpp "Flow control"): a subscriber this client published to has no room. Its
  // reads stop, and the acknowledgement of the PUBLISH being handled waits, until every subscriber it
  // waits on released it.
  void flow_hold();
  void flow_release();
  bool flow_blocked() const { return flow_blocks_ != 0; }
  bool flow_ack_held() const { return extras_ && extras_->acks && extras_->acks->flow_ticket != kNoTicket; }

  // Sends a message to this client whatever its subscriptions (an extension's direct delivery, e.g. a
  // chat to an alias or an @info push), through its session's normal QoS machinery.
  void deliver_direct(const MessagePtr& m, std::uint8_t qos);
  ConnectionData* data() const { return extras_ ? extras_->data.get() : nullptr; }
  void set_data(std::unique_ptr<ConnectionData> d) { extras().data = std::move(d); }
  bool graceful() const { return graceful_; }
  // Why the broker closed it (close_with); Success when the client or the network ended it.
  mqtt::Reason close_reason() const { return close_reason_; }

  std::uint64_t id() const { return id_; }
  State state() const { return state_; }
  mqtt::Version version() const { return version_; }
  Session* session() const { return session_; }
  void set_session(Session* s) { session_ = s; }
  const ClientIdentity& identity() const { return identity_; }
  Transport& transport() { return transport_; }
  std::uint16_t keep_alive() const { return keep_alive_; }
  Millis last_activity() const { return last_rx_; }  // once Connected
  Millis created_at() const { return last_rx_; }     // while AwaitConnect
  mqtt::Will* will() { return extras_ ? extras_->will.get() : nullptr; }
  std::unique_ptr<mqtt::Will> take_will() { return extras_ ? std::move(extras_->will) : nullptr; }
  std::uint32_t session_expiry_requested() const { return session_expiry_; }
  Millis connected_at() const { return connected_at_; }   // CONNECT accepted (0 before)
  std::uint8_t protocol_index() const { return proto_; }  // its row of Stats::protocols

 private:
  friend class Broker;
  bool handle_packet(std::uint8_t header, mqtt::ByteView body);  // false: stop reading
  bool dispatch(mqtt::Packet& pkt);                              // the same, decoded
  void handle_connect(mqtt::Connect& c);
  void handle_publish(mqtt::Publish& p);
  void handle_disconnect(const mqtt::Disconnect& d);
  void protocol_error(mqtt::Reason reason, const char* why);
  void refuse_connect(mqtt::Reason reason, const char* why, const std::optional<std::string>& user);
  void close(mqtt::Reason reason, const char* why);  // close_with() without its log line
  // Every packet we send goes through here (the trace line of outgoing packets).
  void write(const mqtt::Buffer& packet);
  // The info line of a connection's end, "<what><why>": a client's disconnect, or the close of a
  // connection that had not sent its CONNECT yet.
  void log_end(const char* what, const char* why);
  void queue_ack(const mqtt::Ack& ack);
  template <typename P>
  bool encode_for_client(P& packet);
  void flush_acks();

  // PUBACK/PUBREC go out in the order the PUBLISH packets came (MQTT 3.1.1 §4.6), including those that
  // wait for a store commit; `ready` marks the ones that may go.
  struct PendingAck {
    mqtt::Ack ack;
    std::uint8_t waits = 0;  // conditions still unmet (a store commit, room at a subscriber); 0 = may go
    bool suppress = false;   // MQTT 3.1.1 has no failure ack: a refused message is simply not acknowledged
  };

  // Allocated with the first deferred acknowledgement.
  static constexpr std::uint64_t kNoTicket = ~std::uint64_t{0};
  struct AckQueue {
    Fifo<PendingAck> q;
    std::uint64_t base = 0;                 // ticket of q.front()
    std::uint64_t flow_ticket = kNoTicket;  // the ack waiting for room at subscribers (flow_hold)
  };
  // What many connections never need, in one block allocated on first use: an idle MQTT 3.1.1
  // client without a will has none.
  struct Extras {
    std::unique_ptr<AckQueue> acks;
    std::unique_ptr<mqtt::Will> will;
    std::unique_ptr<std::vector<std::string>> topic_aliases;  // inbound, set by the client (index = alias)
    std::unique_ptr<std::string> in;  // a partial packet carried between reads; null when none
    std::unique_ptr<ConnectionData> data;
    std::shared_ptr<const std::string> sender;  // the client id shared by its messages (first PUBLISH)
  };
  Extras& extras() {
    if (!extras_) extras_ = std::make_unique<Extras>();
    return *extras_;
  }
  std::size_t pending_acks() const { return extras_ && extras_->acks ? extras_->acks->q.size() : 0; }
  // Whether the client has Receive Maximum QoS 1/2 PUBLISHes unacknowledged (MQTT 5.0 §4.9), each message
  // counted once.
  bool at_receive_maximum() const;

  // Laid out by size, small fields last (an idle connection lives inside its socket object).
  Broker& broker_;
  Transport& transport_;
  std::uint64_t id_;
  Session* session_ = nullptr;
  ClientIdentity identity_;
  // While AwaitConnect, when the connection was accepted (the connect timeout runs from it); from the
  // CONNECT on, when the client last sent anything (keepalive). One field serves both states.
  Millis last_rx_ = 0;
  Millis connected_at_ = 0;
  std::unique_ptr<Extras> extras_;
  std::uint32_t session_expiry_ = 0;
  std::uint32_t client_max_packet_ = 0;  // 0 = no limit
  std::uint32_t flow_blocks_ = 0;        // subscribers this client waits on for room (flow_hold)
  std::uint16_t keep_alive_ = 0;
  std::uint16_t client_receive_maximum_ = 65535;
  State state_ = State::AwaitConnect;
  mqtt::Version version_ = mqtt::Version::V311;
  bool graceful_ = false;   // DISCONNECT received
  bool counted_ = false;    // in the broker's connected count (from open_session to connection_lost)
  std::uint8_t proto_ = 0;  // Stats::protocols row, set with counted_
  mqtt::Reason close_reason_ = mqtt::Reason::Success;
};

}  // namespace gw::broker
