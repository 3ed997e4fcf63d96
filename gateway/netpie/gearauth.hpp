// The gearauth API of the local endpoint (docs/netpie-protocol.md §3, §4, §11): POST /api/rtoken and
// /api/atoken (OAuth 1.0a HMAC-SHA1, verified against the URL the client signed, timestamps within the
// configured skew, replays refused), GET /api/endpoint/<key>, /api/time, /api/revoke/<token>/<revokecode>,
// and the OAuth2-style /oauth2/authorize, /oauth2/token (Python >= 1.2, C#). Replies are shaped as the
// clients parse them: HTTP/1.1, Content-Length, one body line, and the connection closed afterwards
// (ESP8266-RTOS reads until the server closes, §4).
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "gateway/base/clock.hpp"
#include "gateway/net/http_server.hpp"
#include "gateway/netpie/registry.hpp"
#include "protocols/http/request.hpp"

namespace gw::netpie {

class Gearauth {
 public:
  explicit Gearauth(Registry& registry);

  // True when the path belongs to this API (the request is then answered, now or later).
  bool handle(const http::Request& req, const net::HttpResponder& out);

  // The broker host for token replies: the configured one, else the host part of the Host header
  // when it is a DNS name or an IPv4 address, else the address the request came in on.
  std::string endpoint_host(const http::Request& req, const net::HttpPeer& peer) const;

  // Answers held /api/atoken requests whose hold is over (401). Call from the daemon's tick.
  void tick();
  std::size_t held() const;  // /api/atoken requests held in all

 private:
  void rtoken(const http::Request& req, const net::HttpResponder& out);
  void atoken(const http::Request& req, const net::HttpResponder& out);
  void endpoint(const std::string& key, const http::Request& req, const net::HttpResponder& out);
  void revoke(const std::string& token, const std::string& code, const net::HttpResponder& out);
  void authorize(const http::Request& req, const net::HttpResponder& out);
  void token(const http::Request& req, const net::HttpResponder& out);

  // An /api/atoken request of a key not yet approved, waiting for approval or its deadline.
  struct Held {
    std::string rtoken;
    std::string key;
    std::string host;  // the endpoint host for the reply
    net::HttpResponder out;
    Millis deadline;
  };
  void exchange(Held h, bool may_hold);
  void hold(Held h);
  void approved(const std::string& key);

  Registry& registry_;
  std::unordered_map<std::string, std::vector<Held>> held_;  // by key
};

}  // namespace gw::netpie
