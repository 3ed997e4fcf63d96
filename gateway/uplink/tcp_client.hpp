// An outgoing TCP connection on the libuv loop: the uplink's transport, plain or TLS. It resolves the
// host (getaddrinfo, so numeric addresses and names both work), connects, runs the TLS handshake when
// set_tls() gave a context, reads into a caller callback and writes in order with one write in progress
// at a time. Each attempt's handles live in a heap block that is freed only in the uv_close /
// getaddrinfo callbacks, so the client can be closed at any moment.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace gw::net {
class TlsClientContext;
}

namespace gw::uplink {

class TcpClient {
 public:
  struct Callbacks {
    std::function<void()> connected;                     // the socket is up (TLS: the handshake is done)
    std::function<void(std::string_view bytes)> data;    // bytes read (TLS: plaintext)
    std::function<void(const std::string& why)> closed;  // the attempt or connection ended (once)
  };

  TcpClient(uv_loop_t* loop, Callbacks callbacks);
  ~TcpClient();  // detaches a live attempt (its handles still close and free themselves)
  TcpClient(const TcpClient&) = delete;
  TcpClient& operator=(const TcpClient&) = delete;

  // TLS for the attempts that follow (null: plain TCP again). connect() then runs the handshake over the
  // socket; `connected` fires once it is done, `data` and write() carry plaintext, and a handshake or
  // certificate failure ends the attempt through `closed` with mbedTLS's reason in words ("certificate
  // verify failed for <host>: ..."). The name checked and sent as SNI is `server_name` if not empty, else
  // the context's server_name, else the host given to connect().
  void set_tls(std::shared_ptr<const net::TlsClientContext> context, std::string server_name = {});

  // Starts an attempt; only when idle(). `closed` runs once when it fails or, later, ends.
  void connect(const std::string& host, std::uint16_t port);
  // Only while up(); otherwise the bytes are dropped.
  void write(std::string_view bytes);
  // Tries to write what is pending (TLS: and close_notify) without blocking, then closes. `closed` is not
  // called for a close the caller asked for.
  void close();
  bool idle() const { return conn_ == nullptr; }
  bool up() const;

  struct Conn;  // one attempt: resolver request, socket, write in progress (tcp_client.cpp)

 private:
  friend struct Conn;
  void ended(const std::string& why);

  uv_loop_t* loop_;
  Callbacks cb_;
  std::shared_ptr<const net::TlsClientContext> tls_;
  std::string tls_server_name_;
  Conn* conn_ = nullptr;
};

}  // namespace gw::uplink
