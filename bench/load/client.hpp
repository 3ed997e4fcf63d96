// One MQTT client connection of the load generator, on a libuv loop, and the IoLoop that owns the loop.
// Bytes are framed with the project's codec (gw::mqtt::parse_frame); whole packets go to ClientEvents.
// Output is appended to a per-connection buffer (encoders write straight into it) and written once per
// loop iteration, or at once with IoLoop::flush_all(). No MQTT logic lives here; see load_run.cpp.
// With IoLoop::tls set, each connection runs TLS (the project's mbedTLS engine, gateway/net/tls.hpp) and
// ClientEvents::on_open comes once the handshake is done; output is encrypted once per flush.
// With IoLoop::websocket set, each connection upgrades to WebSocket first (protocols/websocket) and sends
// each flush as one masked binary frame; ClientEvents::on_open comes with the 101.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/net/tls.hpp"
#include "protocols/mqtt/codec.hpp"
#include "protocols/websocket/frame.hpp"

namespace gw::bench {

class Client;

class ClientEvents {
 public:
  virtual ~ClientEvents() = default;
  virtual void on_open(Client& c) = 0;  // TCP is up: send CONNECT
  virtual void on_packet(Client& c, std::uint8_t header, mqtt::ByteView body) = 0;
  virtual void on_closed(Client& c, const char* why) = 0;  // after uv_close; the object stays valid
};

// The loop, a check handle that runs `before_flush` then writes every connection with output, and the
// read buffer all connections share (the loop is single-threaded, and each read is consumed at once).
class IoLoop {
 public:
  IoLoop();
  ~IoLoop();
  IoLoop(const IoLoop&) = delete;
  IoLoop& operator=(const IoLoop&) = delete;

  uv_loop_t* loop() { return &loop_; }
  void set_before_flush(std::function<void()> fn) { before_flush_ = std::move(fn); }
  void flush_all();
  void close();  // closes the check handle; uv_run then returns once every client is closed
  // Set: every connection runs TLS with this client context (the broker's certificate is verified).
  std::shared_ptr<const net::TlsClientContext> tls;
  bool websocket = false;  // every connection is MQTT over WebSocket (not combined with tls)

 private:
  friend class Client;
  static void on_check(uv_check_t* h);
  uv_loop_t loop_{};
  uv_check_t check_{};
  std::vector<Client*> dirty_;
  std::function<void()> before_flush_;
  char read_buf_[256 * 1024];
};

class Client {
 public:
  Client(IoLoop& io, ClientEvents& events, std::uint32_t index);
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  void connect(const sockaddr* addr);
  // Encoders append to out(); touch() then schedules the write.
  mqtt::Buffer& out() { return pending_; }
  void touch();
  void send(std::string_view bytes) {
    pending_.append(bytes);
    touch();
  }
  std::size_t pending_bytes() const { return pending_.size() + wire_.size() + writing_.size(); }
  void flush();
  void close();

  bool is_open() const { return open_ && !closing_; }
  bool closed() const { return closed_; }
  std::uint32_t index() const { return index_; }
  mqtt::Version version = mqtt::Version::V311;

 private:
  static void on_connect(uv_connect_t* req, int status);
  static void on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf);
  static void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf);
  static void on_write(uv_write_t* req, int status);
  static void on_close(uv_handle_t* h);
  void consume(mqtt::ByteView data);
  void received(mqtt::ByteView bytes);  // plaintext from the socket or from TLS
  void tls_read(mqtt::ByteView cipher);
  void ws_read(mqtt::ByteView bytes);
  void fail(const char* why);

  IoLoop& io_;
  ClientEvents& events_;
  std::uint32_t index_;
  uv_tcp_t tcp_{};
  uv_connect_t connect_req_{};
  uv_write_t write_req_{};
  bool writing_active_ = false;
  std::string in_;       // a partial packet carried between reads
  std::string pending_;  // not yet handed to libuv
  std::string writing_;  // owned by the write in progress
  std::unique_ptr<net::TlsSession> tls_;
  std::string wire_;  // TLS: ciphertext not yet handed to libuv (pending_ is then plaintext)
  std::string tls_error_;
  // WebSocket: the upgrade answer until it is complete, then the frame decoder (wire_ holds frames).
  struct Ws {
    std::string head;
    bool open = false;
    websocket::Decoder decoder{websocket::Role::Client};
    std::uint32_t mask_state = 0x9E3779B9u;
  };
  std::unique_ptr<Ws> ws_;
  const char* close_reason_ = "closed";
  bool dirty_ = false;
  bool open_ = false;
  bool closing_ = false;
  bool closed_ = false;
};

}  // namespace gw::bench
