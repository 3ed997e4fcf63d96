// The NETPIE 2015 microgear token flow as a pure state machine (docs/netpie-protocol.md §3, §5, §6): request
// token, access token (401: retry the same request token after a growing delay), MQTT credentials, and the
// CONNACK 4 / 5 reactions, with the device-key access token cached by the caller. It decides and asks;
// the caller performs the HTTP calls, the timers, the cache writes and the MQTT connection, then feeds
// the results back. Time (Unix seconds for OAuth and the MQTT username) and randomness are injected.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "gateway/base/clock.hpp"
#include "protocols/http/request.hpp"
#include "protocols/microgear/credentials.hpp"
#include "protocols/microgear/gearauth.hpp"
#include "protocols/microgear/oauth1.hpp"
#include "protocols/mqtt/packets.hpp"
#include "protocols/uplink/backoff.hpp"

namespace gw::uplink {

struct TokenFlowConfig {
  std::string app_id;
  std::string gear_key;     // OAuth consumer key (device key or application key)
  std::string gear_secret;  // OAuth consumer secret
  std::string alias;        // sent as the OAuth verifier; when empty the mgrev is (as Node does, §3.2)
  std::string scope;        // usually empty
  // The library id in oauth_callback. How the server treats an id it does not know is UNCONFIRMED
  // (§3.2), so the default presents the Node.js library's.
  std::string mgrev = "NJS1b";
  std::string auth_host = "ga.netpie.io";
  bool auth_tls = true;
  std::uint16_t auth_port = 0;  // 0: 8081 with TLS, 8080 without (§1)
  bool mqtt_tls = true;
  // 0: 8883 with TLS (the endpoint names the plain port, §5); without TLS the endpoint's port, else 1883.
  std::uint16_t mqtt_port = 0;
  // atoken 401 ("not authorized yet"): retry after a delay that doubles from 100 ms to 30 s, as the
  // Node.js microgear does (§3.3).
  Millis unauthorized_initial_ms = 100;
  Millis unauthorized_max_ms = 30'000;
  // Every other failure (HTTP errors, 500 from atoken, CONNACK 4 and 5, a lost connection) waits with
  // decorrelated jitter before the next attempt; reset once online.
  BackoffPolicy retry{1'000, 60'000};
};

// An access token as the caller's SQLite cache holds it.
struct CachedToken {
  std::string gear_key;  // the key it was issued to: a token for another key is not used (Node, §3.5)
  std::string token;
  std::string secret;
  microgear::Endpoint endpoint;
  microgear::TokenFlag flag = microgear::TokenFlag::Persistent;
  bool operator==(const CachedToken&) const = default;
};

// ---- Inputs ----
struct Start {
  std::optional<CachedToken> cached;  // what the cache held at startup
};
struct HttpResponse {
  int status = 0;
  std::string body;
};
struct HttpFailed {  // no response at all: DNS, refused, TLS, timeout
  std::string what;
};
// The CONNACK of the MQTT connection asked for by ConnectMqtt. 3.1.1 return codes arrive mapped by the
// codec: 4 -> BadUserNameOrPassword, 5 -> NotAuthorized.
struct ConnackResult {
  mqtt::Reason reason = mqtt::Reason::Success;
};
struct ConnectionLost {};  // the MQTT connection failed before CONNACK, or ended after it
struct TimerFired {};      // the last Wait is over
struct Stop {};            // give up whatever is in progress; a new Start may follow
using TokenInput =
    std::variant<Start, HttpResponse, HttpFailed, ConnackResult, ConnectionLost, TimerFired, Stop>;

// ---- Actions (for the caller to perform, in order) ----
// One HTTP/1.1 request. `headers` are complete (Host, Authorization, Content-Type, Content-Length,
// Connection: close ...) and are written as given.
struct HttpRequest {
  std::string method;
  std::string url;  // "https://ga.netpie.io:8081/api/rtoken"
  bool tls = false;
  std::string host;
  std::uint16_t port = 0;
  std::string path;
  std::vector<http::Header> headers;
  std::string body;
};
struct CacheStore {
  CachedToken token;
};
struct CacheErase {};
struct ConnectMqtt {
  std::string host;
  std::uint16_t port = 0;
  bool tls = false;
  std::string client_id;  // the access token (§6.1)
  std::string username;   // "<gearkey>%<unix time>"
  std::string password;   // HMAC-SHA1 over token "%" username
};
struct Wait {
  Millis ms = 0;  // then feed TimerFired
};
using TokenAction = std::variant<HttpRequest, CacheStore, CacheErase, ConnectMqtt, Wait>;

struct TokenFlowStats {
  std::uint64_t rtoken_requests = 0;
  std::uint64_t atoken_requests = 0;
  std::uint64_t unauthorized = 0;  // atoken 401
  std::uint64_t restarts = 0;      // back to rtoken after a failure
  std::uint64_t connects = 0;
  std::uint64_t bad_credentials = 0;  // CONNACK 4
  std::uint64_t not_authorized = 0;   // CONNACK 5
  std::uint64_t ignored_inputs = 0;   // inputs that did not fit the state (stale timers, late replies)
};

class TokenFlow {
 public:
  enum class State {
    Idle,              // before Start, after Stop
    RequestingRtoken,  // POST /api/rtoken sent
    WaitingRtoken,     // a failure: Wait, then rtoken again
    RequestingAtoken,  // POST /api/atoken sent with the request token
    WaitingAtoken,     // 401: Wait, then atoken again with the same request token
    HaveToken,         // an access token, waiting before (re)connecting
    Connecting,        // ConnectMqtt asked, CONNACK pending
    Online,            // CONNACK 0
  };

  TokenFlow(TokenFlowConfig config, microgear::RandomSource nonce_bytes, RandomBetween jitter);

  // The one transition function: applies an input and returns what the caller must do now. `unix_now`
  // (seconds) signs OAuth requests and stamps the MQTT username.
  std::vector<TokenAction> handle(const TokenInput& input, std::int64_t unix_now);

  State state() const { return state_; }
  // The access token in use (from the cache or atoken), if any.
  const std::optional<CachedToken>& token() const { return token_; }
  Millis next_unauthorized_delay() const { return unauthorized_delay_; }
  const TokenFlowStats& stats() const { return stats_; }

 private:
  using Actions = std::vector<TokenAction>;

  void on_start(const Start& s, std::int64_t unix_now, Actions& out);
  void on_http(const HttpResponse* r, std::int64_t unix_now, Actions& out);  // r == nullptr: HttpFailed
  void on_connack(mqtt::Reason reason, std::int64_t unix_now, Actions& out);
  void on_lost(Actions& out);
  void on_timer(std::int64_t unix_now, Actions& out);

  void request_rtoken(std::int64_t unix_now, Actions& out);
  void request_atoken(std::int64_t unix_now, Actions& out);
  void connect(std::int64_t unix_now, Actions& out);
  void restart_later(Actions& out);  // forget the request token, Wait, then rtoken
  void drop_token(Actions& out);     // forget the access token; CacheErase if it is cached
  HttpRequest signed_post(std::string_view path, const microgear::ClientRequest& oauth) const;
  std::string scheme() const { return config_.auth_tls ? "https" : "http"; }
  std::uint16_t auth_port() const;

  TokenFlowConfig config_;
  microgear::RandomSource nonce_bytes_;
  Backoff backoff_;
  State state_ = State::Idle;
  std::optional<microgear::RequestTokenReply> request_token_;
  std::optional<CachedToken> token_;
  bool token_cached_ = false;  // token_ is what the cache holds
  Millis unauthorized_delay_;
  TokenFlowStats stats_;
};

const char* to_string(TokenFlow::State s);

}  // namespace gw::uplink
