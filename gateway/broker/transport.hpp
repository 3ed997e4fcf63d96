// What the broker needs from a byte stream: send, close, and how much is still unsent. The net layer
// implements it over TCP (and later TLS and WebSocket); unit tests implement it over a string.
// The broker never sees a socket (STYLE.md §5).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocols/mqtt/packets.hpp"

namespace gw::broker {

struct Delivery;

class Transport {
 public:
  virtual ~Transport() = default;
  // Queues bytes for sending. Never blocks; the bytes are copied.
  virtual void send(std::string_view bytes) = 0;
  // Flushes what is queued, then closes. The owner later calls Connection::on_closed() exactly once.
  virtual void close() = 0;
  // Bytes accepted by send() and not yet handed to the kernel.
  virtual std::size_t pending_bytes() const = 0;
  // Flow control: stop reading from the peer (its TCP window fills and pushes back) until called with
  // false. Independent of any pause the transport applies on its own (output backlog).
  virtual void set_flow_paused(bool paused) = 0;
  virtual const std::string& peer() const = 0;  // "127.0.0.1:53422", for logs
  virtual bool peer_is_loopback() const = 0;
  // The identity a transport layer verified (a TLS client certificate's CN, when the listener makes it
  // the user name), or "": it then replaces the CONNECT's user name and needs no password.
  virtual std::string peer_identity() const { return {}; }
  // The listener protocol, for per-protocol counters (Stats::protocols, the /metrics labels).
  virtual std::string_view protocol() const { return "mqtt"; }

  // An in-process client (the CoAP front end's endpoints, gateway/coap/README.md) takes what the broker
  // sends it as values, not MQTT bytes: the Connection then calls deliver() for a PUBLISH and packet() for
  // anything else (CONNACK, PUBACK, SUBACK, ...) instead of encoding them for send(), and such a client
  // hands its own packets to Connection::on_packet() instead of on_data(). The same broker code runs;
  // only the encode and parse are left out.
  virtual bool takes_packets() const { return false; }
  virtual void deliver(const Delivery& d, std::uint16_t packet_id) {
    (void)d;
    (void)packet_id;
  }
  virtual void packet(const mqtt::Packet& p) { (void)p; }
};

}  // namespace gw::broker
