// A one-shot HTTP/1.1 client on the libuv loop, for the NETPIE token endpoints: it sends one request
// exactly as the token flow built it (protocols/uplink/token_flow.hpp, `HttpRequest`: complete headers,
// written as given) over a TcpClient, plain or TLS, and reports {status, body} or why there is none.
// The response is parsed by Debian's http-parser: Content-Length, chunked, or read until the server
// closes. Bounded in time (timeout) and in size; it never keeps a connection for a second request.
#pragma once

#include <http_parser.h>
#include <uv.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "gateway/base/clock.hpp"
#include "gateway/base/result.hpp"
#include "gateway/uplink/tcp_client.hpp"
#include "protocols/uplink/token_flow.hpp"

namespace gw::uplink {

struct HttpClientOptions {
  Millis timeout_ms = 15'000;                // the whole exchange: resolve, connect, TLS, request, response
  std::size_t max_response_bytes = 1 << 20;  // everything received (status line, headers, body)
};

class HttpClient {
 public:
  // {status, body} for any complete response (a 401 or a 500 is a response), else a failure text:
  // "connect: connection refused", "certificate verify failed for ...", "timeout after 15000 ms",
  // "response too large (over 1048576 bytes)", "bad HTTP response: ...", "connection closed before the
  // response was complete (...)".
  using Outcome = Result<HttpResponse, std::string>;
  using Done = std::function<void(Outcome)>;

  // `tls` serves requests with tls = true (null: such requests fail); the name checked is the request's
  // host unless the context names a server_name.
  HttpClient(uv_loop_t* loop, std::shared_ptr<const net::TlsClientContext> tls,
             HttpClientOptions options = {});
  ~HttpClient();  // cancel()
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Starts a request; only when !busy() (otherwise ignored). `done` runs exactly once, always from the
  // loop (never inside start()), unless cancel() or the destructor comes first; it may destroy the client.
  void start(const HttpRequest& request, Done done);
  // Drops the request in progress: the connection closes and `done` is not called.
  void cancel();
  bool busy() const { return static_cast<bool>(done_); }

  struct Timer;  // a uv_timer_t freed in its close callback (http_client.cpp)

 private:
  void on_connected();
  void on_data(std::string_view bytes);
  void on_closed(const std::string& why);
  void finish(Outcome outcome);  // closes the connection; `done` runs on the next loop turn
  void deliver();

  static int on_body(http_parser* p, const char* at, std::size_t len);
  static int on_headers_complete(http_parser* p);
  static int on_message_complete(http_parser* p);

  std::shared_ptr<const net::TlsClientContext> tls_;
  HttpClientOptions options_;
  TcpClient tcp_;
  Timer* timer_;
  Done done_;
  std::optional<Outcome> outcome_;  // decided, waiting for the loop to deliver it
  std::string request_bytes_;
  bool head_ = false;  // a HEAD request: the response has no body whatever its headers say
  http_parser parser_{};
  http_parser_settings settings_{};
  std::size_t received_ = 0;
  std::string body_;
  bool complete_ = false;
};

}  // namespace gw::uplink
