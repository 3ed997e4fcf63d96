// The WebSocket opening handshake (RFC 6455 §4), server and client side, on the project's HTTP/1.1 request
// parser (protocols/http). The server side checks an upgrade request and answers 101 with
// Sec-WebSocket-Accept and the chosen sub-protocol, or an HTTP error to send before closing: 404 for a path
// it does not serve, 426 for a request that is not a version 13 upgrade, 400 for a malformed one. The client
// side (tests, the bench) writes a request and checks the answer. Pure: the key nonce is an argument.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "protocols/http/request.hpp"
#include "protocols/http/response.hpp"

namespace gw::websocket {

// base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")) (RFC 6455 §4.2.2 item 5.4). SHA-1 and base64
// come from mbedTLS.
std::string accept_key(std::string_view client_key);

struct ServerOptions {
  std::vector<std::string> paths;         // request paths served (query ignored); others get 404
  std::vector<std::string> subprotocols;  // sub-protocols spoken; the client's first one in this list wins
};

struct Accepted {
  std::string subprotocol;  // chosen; empty when the client offered none
  std::string path;
};

struct HandshakeResult {
  bool ok = false;
  Accepted accepted;        // when ok
  http::Response response;  // 101 when ok; otherwise the error to send (Connection: close)
  const char* what = "";    // when not ok: static text for logs
};

// Checks an upgrade request (RFC 6455 §4.2.1) and builds the answer (§4.2.2). A client that offers
// sub-protocols none of which is spoken is refused (400): its browser would fail the connection anyway on a
// 101 without one (§4.1, item 6 of the client's checks), and the error names the ones that are.
HandshakeResult accept_upgrade(const http::Request& req, const ServerOptions& options);

// Client side: an upgrade request for `path` on `host` with the 16-byte nonce `key_nonce` (RFC 6455 §4.1).
std::string client_request(std::string_view host, std::string_view path, std::string_view key_nonce,
                           const std::vector<std::string>& subprotocols);
// The Sec-WebSocket-Key that client_request sends for `key_nonce` (base64 of it).
std::string client_key(std::string_view key_nonce);

}  // namespace gw::websocket
