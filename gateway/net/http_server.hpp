// The HTTP/1.1 server on the libuv loop: listeners and connections that turn bytes into http::Request
// values (protocols/http's bounded parser) and hand each one to a handler, which answers through an
// HttpResponder now or later (the gearauth API answers only after a token is durable). It knows no
// routes. Bounded so that slow or hostile clients cannot hold it: connection count, header and body
// sizes (the parser's limits), a deadline per request (slowloris), an idle deadline between requests.
//
//   connection state   event                                   next
//   Reading            request complete                        Handling  (reads paused)
//   Reading            parse error                             Writing   (4xx, then close)
//   Reading            request deadline passed                 Writing   (408, then close)
//   Reading            idle deadline passed / EOF / error      Closed
//   Handling           handler responded                       Writing
//   Handling           no answer within the request deadline   Writing   (503, then close)
//   Writing            written, keep-alive                     Reading   (pipelined bytes parsed)
//   Writing            written, close                          Draining  (FIN sent, input discarded)
//   Draining           EOF / linger deadline                   Closed
//
// A listener may put layers (TLS: layer.hpp) under HTTP. Their handshake must end within the
// listener's handshake_timeout_ms (else the connection closes), and counts against max_handshakes.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "gateway/base/result.hpp"
#include "gateway/net/layer.hpp"
#include "protocols/http/request.hpp"
#include "protocols/http/request_parser.hpp"
#include "protocols/http/response.hpp"

namespace gw::net {

struct HttpLimits {
  std::size_t max_connections = 256;         // past it: 503 and close
  http::Limits parser;                       // header, URL and body bounds (431, 414, 413)
  std::uint32_t request_timeout_ms = 10000;  // first to last byte of a request (then 408); also the
                                             // handler's time to answer (then 503)
  std::uint32_t idle_timeout_ms = 30000;     // between kept-alive requests; then a silent close
  std::uint32_t linger_ms = 2000;            // after a closing response: how long unread input is drained
};

// Who is asking, for handlers that care (the admin API is for loopback peers only).
struct HttpPeer {
  std::string address;     // "127.0.0.1:53422", for logs
  std::string local_host;  // the address the connection was accepted on, e.g. "127.0.0.5"
  std::uint16_t local_port = 0;
  bool loopback = false;
  bool secure = false;  // the listener's layers encrypt (TLS): the request came as https
};

// Answers one request, once. Copyable; the first respond() counts, later ones do nothing, and a
// response for a connection that is already gone is dropped. Tests build one with their own sink.
class HttpResponder {
 public:
  using Sink = std::function<void(http::Response)>;
  HttpResponder(HttpPeer peer, Sink sink);
  void respond(http::Response r) const;
  bool answered() const { return state_->answered; }
  const HttpPeer& peer() const { return state_->peer; }

 private:
  struct State {
    HttpPeer peer;
    Sink sink;
    bool answered = false;
  };
  std::shared_ptr<State> state_;
};

using HttpHandler = std::function<void(const http::Request&, const HttpResponder&)>;

struct HttpStats {
  std::uint64_t accepted = 0;
  std::uint64_t refused_busy = 0;  // over max_connections: 503
  std::uint64_t requests = 0;      // complete requests handed to the handler
  std::uint64_t parse_errors = 0;  // 400, 413, 414, 431, 505
  std::uint64_t timeouts = 0;      // 408
};

class HttpServer {
 public:
  HttpServer(uv_loop_t* loop, HttpLimits limits, HttpHandler handler);
  // close() first and run the loop until the handles are gone; destroying earlier leaks them.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens; returns the bound port (useful with port 0) or an error message. With
  // `layers.make` set, each connection gets those layers under HTTP (`secure`: they are TLS).
  Result<std::uint16_t, std::string> listen(const std::string& name, const std::string& host,
                                            std::uint16_t port, ListenerLayers layers = {},
                                            bool secure = false);
  void close_listeners();
  // Listeners, connections (answers in progress are dropped) and the deadline timer.
  void close();
  std::size_t connections() const { return conns_.size(); }
  const HttpStats& stats() const { return stats_; }

 private:
  class Conn;
  struct Listener {
    HttpServer* server;
    std::string name;
    uv_tcp_t handle;
    std::shared_ptr<LayeredListener> layered;  // null: plain TCP
    bool secure = false;
  };
  static void on_connection(uv_stream_t* server, int status);
  static void on_timer(uv_timer_t* t);

  uv_loop_t* loop_;
  HttpLimits limits_;
  HttpHandler handler_;
  std::vector<Listener*> listeners_;
  std::unordered_set<Conn*> conns_;
  uv_timer_t* timer_ = nullptr;
  HttpStats stats_;
};

}  // namespace gw::net
