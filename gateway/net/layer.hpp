// The transport stack: what sits between a socket and the protocol it carries (MQTT or HTTP). Every
// listener is assembled as TCP -> optional TLS -> optional further layers (WebSocket) -> the protocol.
// A Layer turns bytes into bytes in both directions and knows nothing of sockets, the loop or the
// protocol above; a LayerStack chains the layers of one connection, with the socket owner's callbacks at
// the bottom and the protocol's at the top. A connection with no layer has no stack at all (a null
// pointer): its socket reads go straight to the protocol and its output straight to the socket, without
// a copy or a virtual call.
//
// Adding a layer (e.g. WebSocket, protocols/websocket):
//   1. Derive from Layer and implement from_below() (bytes read from the peer: decode, hand what is
//      decoded up with deliver_up()), from_above() (bytes the protocol sends: encode, hand them down
//      with deliver_down()), close() (the protocol is done: send the layer's goodbye, e.g. a close
//      frame, then call close_below()), and opening() (true until the layer's own handshake is over).
//      A layer that meets bad input calls fail("reason"): the stack stops and the owner closes the
//      socket after writing what is already queued (an alert, a close frame).
//   2. A layer that ends the stream on its own (TLS close_notify, a WebSocket close frame) calls
//      end_up(): the protocol sees end of stream as if the socket had been closed by the peer.
//   3. Build the layer in the listener's factory (ListenerLayers::make, passed to Net::listen or
//      HttpServer::listen), above any layer it runs on: the factory returns them lowest first.
// Layers are called on the loop thread only, and never re-entered: a layer that calls deliver_up() may
// see from_above() from inside that call (a protocol answering at once) and must be ready for it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gw::net {

class LayerStack;

class Layer {
 public:
  virtual ~Layer() = default;

  // Bytes read from the peer (or decoded by the layer below).
  virtual void from_below(std::string_view bytes) = 0;
  // Bytes the protocol (or the layer above) sends towards the peer.
  virtual void from_above(std::string_view bytes) = 0;
  // The layer above is done: send what the layer owes the peer on a graceful close (close_notify, a
  // close frame), then close_below(). The default passes the close straight down.
  virtual void close() { close_below(); }
  // True while the layer's own handshake is in progress (TLS handshake, WebSocket upgrade): the
  // connection counts against the listener's bound on handshakes and its handshake deadline.
  virtual bool opening() const { return false; }
  // What the layer learnt about the peer's identity (a verified client certificate's CN), or "".
  virtual std::string peer_identity() const { return {}; }
  // A short description for logs once open, e.g. "TLSv1.2 TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256".
  virtual std::string describe() const { return {}; }
  // The connection has had no traffic either way for the listener's idle_release_ms: give back what
  // memory can be given back without losing any state (TLS: the pages of its record buffers), and
  // work as before on the next byte. Called from outside the stack's callbacks. Returns bytes released.
  virtual std::size_t release_idle() { return 0; }

 protected:
  void deliver_up(std::string_view bytes);
  void deliver_down(std::string_view bytes);
  void close_below();
  void end_up();
  void fail(std::string reason);

 private:
  friend class LayerStack;
  LayerStack* stack_ = nullptr;
  std::size_t index_ = 0;  // 0 = the lowest layer, next to the socket
};

// The socket owner's side of a stack: where the lowest layer writes, and what the protocol receives.
struct StackEnds {
  std::function<void(std::string_view)> to_socket;  // ciphertext/frames for the wire, in order
  std::function<void()> close_socket;               // the lowest layer closed: flush, then close
  std::function<void(std::string_view)> to_protocol;
  std::function<void()> protocol_eof;              // a layer ended the stream (close_notify, close frame)
  std::function<void(const std::string&)> failed;  // a layer failed; the socket should close
};

// The layers of one connection, lowest first. Owned by the connection; destroyed with it.
class LayerStack {
 public:
  LayerStack(std::vector<std::unique_ptr<Layer>> layers, StackEnds ends);
  LayerStack(const LayerStack&) = delete;
  LayerStack& operator=(const LayerStack&) = delete;

  void from_socket(std::string_view bytes);  // read from the socket
  void from_protocol(std::string_view bytes);
  void close();  // the protocol is done: each layer says goodbye, top down, then close_socket
  // The peer closed its side of the socket (EOF): nothing more comes up. Layers are not told; the
  // owner closes the connection as it would without layers.

  bool opening() const;  // any layer still in its handshake
  bool failed() const { return failed_; }
  const std::string& error() const { return error_; }
  std::string peer_identity() const;  // the first non-empty identity, lowest layer first
  std::string describe() const;       // the layers' descriptions, lowest first, space separated
  std::size_t release_idle();         // every layer's Layer::release_idle(); the bytes released
  std::size_t size() const { return layers_.size(); }
  Layer& layer(std::size_t i) { return *layers_[i]; }

 private:
  friend class Layer;
  void up_from(std::size_t index, std::string_view bytes);
  void down_from(std::size_t index, std::string_view bytes);
  void close_from(std::size_t index);
  void end_from(std::size_t index);
  void fail_from(std::size_t index, std::string reason);

  std::vector<std::unique_ptr<Layer>> layers_;
  StackEnds ends_;
  bool failed_ = false;
  bool closed_ = false;
  std::string error_;
};

// What happens to a new connection when max_handshakes are already in progress.
enum class HandshakeFullPolicy {
  CloseOldest,  // the oldest handshake in progress is closed to make room (counted: evicted). A
                // slowloris then only evicts its own half-open connections, while a real client, whose
                // handshake takes a few round trips, gets through unless that many arrive meanwhile.
  RefuseNew,    // the new connection is closed at accept, before any byte is read (counted: refused);
                // the handshakes in progress keep their slots until done or timed out.
};

// What a listener puts between TCP and its protocol, and its bound on connections still in a layer's
// handshake, so that a TLS (or WebSocket) slowloris cannot hold every slot.
struct ListenerLayers {
  // The layers of a new connection, lowest first; null = plain TCP (no stack at all).
  std::function<std::vector<std::unique_ptr<Layer>>()> make;
  // Connections of this listener in a handshake at once; past it, `when_full` decides.
  std::size_t max_handshakes = 1000;
  HandshakeFullPolicy when_full = HandshakeFullPolicy::CloseOldest;
  // A connection whose layers are still opening this long after the accept is closed.
  std::uint32_t handshake_timeout_ms = 10000;
  // A connection with no traffic either way this long is told to release what memory it can
  // (Layer::release_idle); 0 = never. MQTT listeners (Net) only.
  std::uint32_t idle_release_ms = 0;
  // What an MQTT connection of this listener reports as Transport::protocol(), the `protocol` label of
  // its connection and message counters (/metrics, the operator's page): mqtts (TLS), ws, wss (WebSocket
  // over TLS). A plain listener has no layers and its connections say mqtt.
  std::string protocol = "mqtt";
};

// One listener's handshake accounting, shared with its connections (which may outlive the listener).
struct HandshakeCounts {
  std::size_t in_progress = 0;
  std::uint64_t completed = 0;
  std::uint64_t refused = 0;    // closed at accept: max_handshakes in progress (refuse_new)
  std::uint64_t evicted = 0;    // closed to make room for a new one (close_oldest)
  std::uint64_t timed_out = 0;  // closed: handshake_timeout_ms passed
  std::uint64_t failed = 0;     // a layer failed (bad ClientHello, bad certificate, ...)
};

// A listener's layers and counts, as its connections hold them.
struct LayeredListener {
  using Slot = std::list<std::function<void()>>::iterator;

  LayeredListener(std::string listener_name, ListenerLayers listener_layers)
      : name(std::move(listener_name)), layers(std::move(listener_layers)) {}

  std::string name;
  ListenerLayers layers;
  HandshakeCounts counts;
  // A new connection starts its handshake: its slot, to release() when the handshake ends (done,
  // failed, timed out, connection closed). Past max_handshakes: under refuse_new none (the caller
  // closes the connection); under close_oldest the oldest handshake's `close` is called first (its
  // slot is already released then). Counted, and logged once per thousand.
  std::optional<Slot> admit(std::function<void()> close);
  void release(Slot slot);

 private:
  std::list<std::function<void()>> opening_;  // handshakes in progress, oldest first
};

}  // namespace gw::net
