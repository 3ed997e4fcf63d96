// The microgear token flow's transitions (token_flow.hpp). Requests are signed with the client side of
// protocols/microgear/oauth1, replies parsed with gearauth, MQTT credentials derived with credentials.
//
// State table (section numbers are docs/netpie-protocol.md's):
//
//   state             input                          actions                                   next
//   Idle              Start, cached token for our    ConnectMqtt                               Connecting
//                     key with flag P
//   Idle              Start, nothing usable cached   CacheErase (if something was cached), RequestingRtoken
//                                                    HttpRequest rtoken
//   RequestingRtoken  200 with token and secret      HttpRequest atoken RequestingAtoken RequestingRtoken
//   anything else, HttpFailed      Wait(backoff)                             WaitingRtoken WaitingRtoken
//   TimerFired                     HttpRequest rtoken                        RequestingRtoken
//   RequestingAtoken  200 with a valid reply         CacheStore (flag P only), ConnectMqtt     Connecting
//   RequestingAtoken  401 (§3.3: not yet)            Wait(100 ms doubling to 30 s)             WaitingAtoken
//   WaitingAtoken     TimerFired                     HttpRequest atoken, same request token RequestingAtoken
//   RequestingAtoken  500, other, bad body, failed   Wait(backoff), request token forgotten    WaitingRtoken
//   Connecting        CONNACK 0                      backoff reset                             Online
//   Connecting        CONNACK 4 (§6.3: bad token)    CacheErase (if cached), Wait(backoff)     WaitingRtoken
//   Connecting        CONNACK 5 or other refusal,    Wait(backoff), token kept                 HaveToken
//                     ConnectionLost
//   HaveToken         TimerFired                     ConnectMqtt (fresh username, password)    Connecting
//   Online            ConnectionLost                 Wait(backoff), token kept                 HaveToken
//   any               Stop                           nothing                                   Idle
//   any               an input not listed            nothing (counted in ignored_inputs)       same
#include "protocols/uplink/token_flow.hpp"

#include <algorithm>
#include <string_view>
#include <utility>

#include "protocols/microgear/oauth1.hpp"

namespace gw::uplink {
namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

constexpr std::size_t kNonceLength = 32;  // node-oauth's nonce size
constexpr std::string_view kRtokenPath = "/api/rtoken";
constexpr std::string_view kAtokenPath = "/api/atoken";

}  // namespace

const char* to_string(TokenFlow::State s) {
  switch (s) {
    case TokenFlow::State::Idle:
      return "idle";
    case TokenFlow::State::RequestingRtoken:
      return "requesting_rtoken";
    case TokenFlow::State::WaitingRtoken:
      return "waiting_rtoken";
    case TokenFlow::State::RequestingAtoken:
      return "requesting_atoken";
    case TokenFlow::State::WaitingAtoken:
      return "waiting_atoken";
    case TokenFlow::State::HaveToken:
      return "have_token";
    case TokenFlow::State::Connecting:
      return "connecting";
    case TokenFlow::State::Online:
      return "online";
  }
  return "?";
}

TokenFlow::TokenFlow(TokenFlowConfig config, microgear::RandomSource nonce_bytes, RandomBetween jitter)
    : config_(std::move(config)),
      nonce_bytes_(std::move(nonce_bytes)),
      backoff_(config_.retry, std::move(jitter)),
      unauthorized_delay_(std::max<Millis>(config_.unauthorized_initial_ms, 1)) {}

std::vector<TokenAction> TokenFlow::handle(const TokenInput& input, std::int64_t unix_now) {
  Actions out;
  std::visit(Overloaded{
                 [&](const Start& s) { on_start(s, unix_now, out); },
                 [&](const HttpResponse& r) { on_http(&r, unix_now, out); },
                 [&](const HttpFailed&) { on_http(nullptr, unix_now, out); },
                 [&](const ConnackResult& c) { on_connack(c.reason, unix_now, out); },
                 [&](const ConnectionLost&) { on_lost(out); },
                 [&](const TimerFired&) { on_timer(unix_now, out); },
                 [&](const Stop&) {
                   state_ = State::Idle;
                   request_token_.reset();
                 },
             },
             input);
  return out;
}

void TokenFlow::on_start(const Start& s, std::int64_t unix_now, Actions& out) {
  if (state_ != State::Idle) {
    ++stats_.ignored_inputs;
    return;
  }
  backoff_.reset();
  unauthorized_delay_ = std::max<Millis>(config_.unauthorized_initial_ms, 1);
  if (s.cached) {
    // A token issued to another key, or a session token that should never have been stored (§2),
    // is thrown away.
    if (s.cached->gear_key == config_.gear_key && s.cached->flag == microgear::TokenFlag::Persistent &&
        !s.cached->token.empty()) {
      token_ = s.cached;
      token_cached_ = true;
      connect(unix_now, out);
      return;
    }
    out.emplace_back(CacheErase{});
  }
  token_.reset();
  token_cached_ = false;
  request_rtoken(unix_now, out);
}

void TokenFlow::on_http(const HttpResponse* r, std::int64_t unix_now, Actions& out) {
  if (state_ == State::RequestingRtoken) {
    if (r != nullptr && r->status == 200) {
      auto reply = microgear::parse_rtoken_body(r->body);
      if (reply) {
        request_token_ = std::move(reply).value();
        unauthorized_delay_ = std::max<Millis>(config_.unauthorized_initial_ms, 1);
        request_atoken(unix_now, out);
        return;
      }
    }
    restart_later(out);  // bad key or secret, server trouble, or no answer at all
    return;
  }
  if (state_ != State::RequestingAtoken) {
    ++stats_.ignored_inputs;
    return;
  }
  if (r != nullptr && r->status == 200) {
    auto reply = microgear::parse_atoken_body(r->body);
    if (reply) {
      CachedToken t;
      t.gear_key = config_.gear_key;
      t.token = std::move(reply->token);
      t.secret = std::move(reply->secret);
      t.endpoint = std::move(reply->endpoint);
      t.flag = reply->flag;
      request_token_.reset();
      token_ = t;
      // §2: a session token (S) must not outlive the process.
      token_cached_ = t.flag == microgear::TokenFlag::Persistent;
      if (token_cached_) out.emplace_back(CacheStore{std::move(t)});
      connect(unix_now, out);
      return;
    }
  } else if (r != nullptr && r->status == 401) {
    // §3.3: not authorized yet (owner approval pending): same request token, growing delay.
    ++stats_.unauthorized;
    state_ = State::WaitingAtoken;
    out.emplace_back(Wait{unauthorized_delay_});
    unauthorized_delay_ = std::min(unauthorized_delay_ * 2, std::max(config_.unauthorized_max_ms, Millis{1}));
    return;
  }
  // 500 ("request token not found", §3.3) or any other failure: start again from rtoken, as the
  // ESP8266 microgear does.
  restart_later(out);
}

void TokenFlow::on_connack(mqtt::Reason reason, std::int64_t /*unix_now*/, Actions& out) {
  if (state_ != State::Connecting) {
    ++stats_.ignored_inputs;
    return;
  }
  if (reason == mqtt::Reason::Success) {
    state_ = State::Online;
    backoff_.reset();
    return;
  }
  if (reason == mqtt::Reason::BadUserNameOrPassword) {
    // §6.3 CONNACK 4: the token is no longer valid; get a new one.
    ++stats_.bad_credentials;
    drop_token(out);
    restart_later(out);
    return;
  }
  // §6.3 CONNACK 5 (key disabled or token paused), or a refusal that says nothing about the token
  // (server unavailable, ...): keep it and try again later.
  if (reason == mqtt::Reason::NotAuthorized) ++stats_.not_authorized;
  state_ = State::HaveToken;
  out.emplace_back(Wait{backoff_.next()});
}

void TokenFlow::on_lost(Actions& out) {
  if (state_ != State::Connecting && state_ != State::Online) {
    ++stats_.ignored_inputs;
    return;
  }
  state_ = State::HaveToken;
  out.emplace_back(Wait{backoff_.next()});
}

void TokenFlow::on_timer(std::int64_t unix_now, Actions& out) {
  switch (state_) {
    case State::WaitingRtoken:
      request_rtoken(unix_now, out);
      return;
    case State::WaitingAtoken:
      request_atoken(unix_now, out);
      return;
    case State::HaveToken:
      connect(unix_now, out);
      return;
    default:
      ++stats_.ignored_inputs;
      return;
  }
}

void TokenFlow::restart_later(Actions& out) {
  ++stats_.restarts;
  request_token_.reset();
  state_ = State::WaitingRtoken;
  out.emplace_back(Wait{backoff_.next()});
}

void TokenFlow::drop_token(Actions& out) {
  if (token_cached_) out.emplace_back(CacheErase{});
  token_.reset();
  token_cached_ = false;
}

// ---- Requests ----

std::uint16_t TokenFlow::auth_port() const {
  if (config_.auth_port != 0) return config_.auth_port;
  return config_.auth_tls ? 8081 : 8080;
}

HttpRequest TokenFlow::signed_post(std::string_view path, const microgear::ClientRequest& oauth) const {
  const microgear::SignedRequest signed_req = microgear::sign_request(oauth);
  HttpRequest r;
  r.method = "POST";
  r.tls = config_.auth_tls;
  r.host = config_.auth_host;
  r.port = auth_port();
  r.path = std::string(path);
  const bool default_port = (r.tls && r.port == 443) || (!r.tls && r.port == 80);
  std::string authority = r.host;
  if (!default_port) authority.append(":").append(std::to_string(r.port));
  r.url = scheme() + "://" + authority + r.path;
  // §3.2: all parameters travel in the Authorization header; the body is empty.
  r.headers = {{"Host", authority},     {"Authorization", signed_req.authorization},
               {"Accept", "*/*"},       {"Content-Type", "application/x-www-form-urlencoded"},
               {"Content-Length", "0"}, {"Connection", "close"}};
  return r;
}

void TokenFlow::request_rtoken(std::int64_t unix_now, Actions& out) {
  microgear::ClientRequest oauth;
  oauth.method = "POST";
  oauth.base_uri = microgear::base_string_uri(scheme(), config_.auth_host + ":" + std::to_string(auth_port()),
                                              kRtokenPath);
  oauth.consumer_key = config_.gear_key;
  oauth.consumer_secret = config_.gear_secret;
  // §3.2: the NETPIE parameters hide in oauth_callback, in Node's order.
  oauth.callback = microgear::build_callback(
      {config_.scope, config_.app_id, config_.mgrev, config_.alias.empty() ? config_.mgrev : config_.alias});
  oauth.nonce = microgear::random_token(nonce_bytes_, kNonceLength);
  oauth.timestamp = unix_now;
  ++stats_.rtoken_requests;
  state_ = State::RequestingRtoken;
  out.emplace_back(signed_post(kRtokenPath, oauth));
}

void TokenFlow::request_atoken(std::int64_t unix_now, Actions& out) {
  microgear::ClientRequest oauth;
  oauth.method = "POST";
  oauth.base_uri = microgear::base_string_uri(scheme(), config_.auth_host + ":" + std::to_string(auth_port()),
                                              kAtokenPath);
  oauth.consumer_key = config_.gear_key;
  oauth.consumer_secret = config_.gear_secret;
  // §3.3: oauth_token and oauth_verifier, signed with the request-token secret; no oauth_callback
  // (node-oauth leaves it out; the server accepts both).
  oauth.token = request_token_->token;
  oauth.token_secret = request_token_->secret;
  oauth.verifier = config_.alias.empty() ? config_.mgrev : config_.alias;
  oauth.nonce = microgear::random_token(nonce_bytes_, kNonceLength);
  oauth.timestamp = unix_now;
  ++stats_.atoken_requests;
  state_ = State::RequestingAtoken;
  out.emplace_back(signed_post(kAtokenPath, oauth));
}

void TokenFlow::connect(std::int64_t unix_now, Actions& out) {
  const CachedToken& t = *token_;
  // §6.1: a fresh "<key>%<time>" username (and so password) for every connection attempt.
  microgear::MqttCredentials c =
      microgear::mqtt_credentials(t.token, t.secret, config_.gear_key, config_.gear_secret, unix_now);
  ConnectMqtt m;
  m.host = t.endpoint.host;
  m.tls = config_.mqtt_tls;
  if (config_.mqtt_port != 0) {
    m.port = config_.mqtt_port;
  } else {
    m.port = config_.mqtt_tls ? 8883 : t.endpoint.port.value_or(1883);  // §5
  }
  m.client_id = std::move(c.client_id);
  m.username = std::move(c.username);
  m.password = std::move(c.password);
  ++stats_.connects;
  state_ = State::Connecting;
  out.emplace_back(std::move(m));
}

}  // namespace gw::uplink
