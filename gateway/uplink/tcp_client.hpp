// An outgoing TCP connection on the libuv loop: the uplink's plain transport. It resolves the host
// (getaddrinfo, so numeric addresses and names both work), connects, reads into a caller callback and
// writes in order with one write in progress at a time. Each attempt's handles live in a heap block that
// is freed only in the uv_close / getaddrinfo callbacks, so the client can be closed at any moment.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace gw::uplink {

class TcpClient {
 public:
  struct Callbacks {
    std::function<void()> connected;                     // the socket is up
    std::function<void(std::string_view bytes)> data;    // bytes read
    std::function<void(const std::string& why)> closed;  // the attempt or connection ended (once)
  };

  TcpClient(uv_loop_t* loop, Callbacks callbacks);
  ~TcpClient();  // detaches a live attempt (its handles still close and free themselves)
  TcpClient(const TcpClient&) = delete;
  TcpClient& operator=(const TcpClient&) = delete;

  // Starts an attempt; only when idle(). `closed` runs once when it fails or, later, ends.
  void connect(const std::string& host, std::uint16_t port);
  void write(std::string_view bytes);
  // Tries to write what is pending without blocking, then closes. `closed` is not called for a close
  // the caller asked for.
  void close();
  bool idle() const { return conn_ == nullptr; }
  bool up() const;

  struct Conn;  // one attempt: resolver request, socket, write in progress (tcp_client.cpp)

 private:
  friend struct Conn;
  void ended(const std::string& why);

  uv_loop_t* loop_;
  Callbacks cb_;
  Conn* conn_ = nullptr;
};

}  // namespace gw::uplink
