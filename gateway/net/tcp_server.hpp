// TCP listeners and connections on the libuv loop. A TcpConnection is the broker's Transport over one
// socket: it batches everything sent during a loop iteration and writes it once, in the loop's check
// phase, trying a non-blocking write before queueing. Handles are freed only in their uv_close callback.
// A close by the broker is graceful: the MQTT side ends at once, the last bytes (a DISCONNECT, a refusing
// CONNACK) go out, the write side is shut down, and what the client still sends is read and discarded
// until it closes too, for a bounded time and number of bytes (kCloseLinger*, tcp_server.cpp); a socket
// closed with unread input would answer with a reset, which can cost the client the DISCONNECT.
// A listener may put layers (TLS, WebSocket: layer.hpp) between the socket and the broker; a connection
// of a plain listener has none and pays nothing for them. A layered connection without traffic for its
// listener's idle_release_ms is told to release what memory it can (Layer::release_idle).
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>

#include "gateway/base/result.hpp"
#include "gateway/broker/broker.hpp"
#include "gateway/broker/transport.hpp"
#include "gateway/net/layer.hpp"

namespace gw::net {

class Net;

class TcpConnection final : public broker::Transport {
 public:
  TcpConnection(Net& net);
  ~TcpConnection() override;

  void send(std::string_view bytes) override;
  void close() override;
  std::size_t pending_bytes() const override {
    return (pending_ ? pending_->size() : 0) + (write_ ? write_->data.size() : 0) +
           (layered_ ? layered_->plain.size() : 0);
  }
  void set_flow_paused(bool paused) override;
  const std::string& peer() const override { return peer_; }
  bool peer_is_loopback() const override { return loopback_; }
  std::string peer_identity() const override {
    return layered_ && layered_->stack ? layered_->stack->peer_identity() : "";
  }
  std::string_view protocol() const override {
    return layered_ ? std::string_view(layered_->listener->layers.protocol) : std::string_view("mqtt");
  }

  uv_tcp_t* handle() { return &handle_; }
  void start();

 private:
  friend class Net;
  static void on_alloc(uv_handle_t* h, std::size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf);
  static void on_write(uv_write_t* req, int status);
  static void on_close(uv_handle_t* h);
  void flush();
  void hard_close();
  // The graceful close (see the file comment): reading on, input discarded, the timer bounding it.
  void linger();
  void end_mqtt();  // Connection::on_closed(), once
  static void on_shutdown(uv_shutdown_t* req, int status);
  static void on_linger_timeout(uv_timer_t* t);
  void close_socket();  // flush what is queued for the wire, then close (below any layer)
  void start_layers(std::shared_ptr<LayeredListener> listener, LayeredListener::Slot slot);
  void layers_read(std::string_view bytes);
  void end_handshake();  // releases the listener's slot and leaves Net's deadline set
  // Traffic on a layered connection: it moves to the back of Net's idle list of its listener's
  // idle_release_ms (Net::on_idle_timer releases it once it reaches the front and is that old).
  void touch();
  void leave_idle_list();
  void drop_layers();  // frees the stack at once, then closes (a handshake evicted or timed out)

  Net& net_;
  uv_tcp_t handle_{};
  // The MQTT side lives inside the socket object: one allocation per connection, not two. It exists
  // from the accept on (a socket refused before start() is still closed through it).
  broker::Connection conn_;
  TcpConnection* prev_ = nullptr;  // Net's intrusive list of connections (no per-connection node)
  TcpConnection* next_ = nullptr;
  // Sent by the broker, not yet handed to libuv. Null while there is none and no capacity worth keeping,
  // so an idle connection holds no output buffer.
  std::unique_ptr<std::string> pending_;
  // The write in progress and the bytes it owns; allocated only while a write waits for the kernel.
  struct WriteOp {
    uv_write_t req;
    std::string data;
  };
  std::unique_ptr<WriteOp> write_;
  // Only for connections of a listener with layers: the stack, the plaintext the broker sent this
  // iteration (encoded once, in flush), and the handshake bookkeeping.
  struct Layered {
    std::shared_ptr<LayeredListener> listener;
    std::unique_ptr<LayerStack> stack;
    std::string plain;
    std::uint64_t handshake_deadline = 0;            // uv_now() milliseconds
    std::optional<LayeredListener::Slot> slot;       // set while the handshake is in progress
    std::uint64_t last_active = 0;                   // uv_now() of the last read or write through the stack
    std::list<TcpConnection*>* idle_list = nullptr;  // Net::idle_ list it is in, if any
    std::list<TcpConnection*>::iterator idle_pos;
  };
  std::unique_ptr<Layered> layered_;
  // Allocated when a graceful close starts. The shutdown request must outlive the handle's close (libuv
  // cancels it then), so it lives here; the timer is freed in its own close callback.
  struct Linger {
    uv_shutdown_t req{};
    uv_timer_t* timer = nullptr;
    std::size_t discarded = 0;  // bytes read and thrown away since the close
    bool shut_down = false;     // uv_shutdown issued
  };
  std::unique_ptr<Linger> linger_;
  std::string peer_;
  bool loopback_ = false;
  bool mqtt_ended_ = false;
  bool dirty_ = false;
  bool closing_ = false;
  bool over_ = false;
  bool reading_paused_ = false;  // output over twice the watermark: reading stops until it drains
  bool flow_paused_ = false;     // the broker's flow control: reading stops until it says so
};

// Owns the listeners, the shared read buffer, and the per-iteration flush of dirty connections.
class Net {
 public:
  Net(uv_loop_t* loop, broker::Broker& broker);
  ~Net();

  // Binds and listens; returns the bound port (useful with port 0) or an error message. With
  // `layers.make` set, each connection gets those layers under the broker (TLS, WebSocket).
  Result<std::uint16_t, std::string> listen(const std::string& name, const std::string& host,
                                            std::uint16_t port, ListenerLayers layers = {});
  void close_listeners();
  std::size_t connections() const { return count_; }
  uv_loop_t* loop() { return loop_; }

 private:
  friend class TcpConnection;
  struct Listener {
    Net* net;
    std::string name;
    uv_tcp_t handle;
    std::shared_ptr<LayeredListener> layered;  // null: plain TCP
  };
  static void on_connection(uv_stream_t* server, int status);
  static void on_check(uv_check_t* h);
  static void on_handshake_timer(uv_timer_t* t);
  static void on_idle_timer(uv_timer_t* t);
  void mark_dirty(TcpConnection* c);

  uv_loop_t* loop_;
  broker::Broker& broker_;
  std::vector<Listener*> listeners_;
  void link(TcpConnection* c);
  void unlink(TcpConnection* c);
  TcpConnection* head_ = nullptr;
  std::size_t count_ = 0;
  std::vector<TcpConnection*> dirty_;
  uv_check_t* check_ = nullptr;
  // Connections still in a layer's handshake, checked against their deadline by a timer that runs
  // only while there are some.
  std::unordered_set<TcpConnection*> handshaking_;
  uv_timer_t* handshake_timer_ = nullptr;
  // Layered connections of listeners with idle_release_ms, one list per value, least recently active
  // first: the timer (running while any list has members) only looks at the fronts, so its cost is the
  // connections it releases, not the connections open.
  std::map<std::uint32_t, std::list<TcpConnection*>> idle_;
  uv_timer_t* idle_timer_ = nullptr;
  std::uint64_t idle_period_ms_ = 1000;
  char read_buf_[64 * 1024];
};

}  // namespace gw::net
