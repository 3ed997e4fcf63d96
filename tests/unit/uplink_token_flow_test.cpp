// The microgear token flow (protocols/uplink/token_flow.hpp), branch by branch: rtoken and atoken
// requests checked against the docs/netpie-protocol.md §3.2 signature vector and verified with the
// server-side OAuth code, the 401 loop with its growing and capped delay, 500 and other failures restarting
// from rtoken, CONNACK 4 and 5, the cached token, flag S, lost connections and stale inputs. Time is a number
// the test advances; jitter always draws its highest value, so every delay is exact.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "protocols/microgear/credentials.hpp"
#include "protocols/microgear/gearauth.hpp"
#include "protocols/microgear/oauth1.hpp"
#include "protocols/uplink/token_flow.hpp"

namespace gw::uplink {
namespace {

using microgear::TokenFlag;

// docs/netpie-protocol.md §3.2 and §6.1 vectors.
constexpr const char* kKey = "sXfqDcXHzbFXiLk";
constexpr const char* kSecret = "DNonzg2ivwS8ceksykGntrfQjxbL98";
constexpr const char* kNonce = "abcdefghijklmnopqrstuvwxyz012345";
constexpr std::int64_t kTime = 1500000000;
constexpr const char* kRtokenSignature = "FIkhimf4pDTItPqqdrjE7Dz7rMU=";
constexpr const char* kToken = "T0k3nAbCdEfGh123";
constexpr const char* kTokenSecret = "S3cr3tS3cr3tS3cr3tS3cr3tS3cr3t12";
constexpr const char* kPassword = "dSZA3XJxO55FzPYOK6GS6zUqCK4=";

constexpr const char* kRequestToken = "ReqT0kenABCDEF12";
constexpr const char* kRequestSecret = "ReqS3cretReqS3cretReqS3cretReq12";

// Bytes that random_token() maps onto kNonce: 'a'..'z' are alphabet indexes 26..51, '0'..'5' 52..57.
void nonce_bytes(std::span<std::uint8_t> out) {
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::uint8_t>(26 + i % 32);
}

TokenFlowConfig vector_config() {
  TokenFlowConfig c;
  c.app_id = "myappid";
  c.gear_key = kKey;
  c.gear_secret = kSecret;
  c.alias = "mygear";
  c.auth_tls = false;
  c.mqtt_tls = false;
  return c;
}

std::string rtoken_body(const std::string& token = kRequestToken,
                        const std::string& secret = kRequestSecret) {
  return microgear::build_rtoken_body({token, secret});
}

std::string atoken_body(TokenFlag flag = TokenFlag::Persistent) {
  microgear::AccessTokenReply r;
  r.flag = flag;
  r.token = kToken;
  r.secret = kTokenSecret;
  r.endpoint = {"gb.netpie.io", 1883};
  return microgear::build_atoken_body(r);
}

CachedToken cached(TokenFlag flag = TokenFlag::Persistent, std::string key = kKey) {
  return CachedToken{std::move(key), kToken, kTokenSecret, {"gb.netpie.io", 1883}, flag};
}

// The single action of a step (a copy: the vector is a temporary).
template <typename T>
T only(const std::vector<TokenAction>& actions) {
  EXPECT_EQ(actions.size(), 1u);
  if (actions.size() != 1 || !std::holds_alternative<T>(actions[0])) {
    ADD_FAILURE() << "unexpected action";
    return T{};
  }
  return std::get<T>(actions[0]);
}

const std::string* header(const HttpRequest& r, std::string_view name) {
  for (const http::Header& h : r.headers) {
    if (http::iequals(h.name, name)) return &h.value;
  }
  return nullptr;
}

microgear::Params oauth_params(const HttpRequest& r) {
  const std::string* auth = header(r, "Authorization");
  EXPECT_NE(auth, nullptr);
  if (auth == nullptr) return {};
  auto parsed = microgear::parse_authorization(*auth);
  EXPECT_TRUE(parsed.ok());
  return parsed ? parsed->params : microgear::Params{};
}

std::string param(const microgear::Params& ps, std::string_view name) {
  const std::string* v = http::find_param(ps, name);
  return v ? *v : std::string("<absent>");
}

class TokenFlowTest : public ::testing::Test {
 protected:
  explicit TokenFlowTest(TokenFlowConfig c = vector_config())
      : flow_(std::move(c), nonce_bytes, [](std::int64_t, std::int64_t hi) { return hi; }) {}

  std::vector<TokenAction> in(const TokenInput& input) { return flow_.handle(input, now_); }

  // Start -> rtoken -> atoken, leaving the flow in RequestingAtoken.
  void reach_atoken() {
    only<HttpRequest>(in(Start{}));
    only<HttpRequest>(in(HttpResponse{200, rtoken_body()}));
    ASSERT_EQ(flow_.state(), TokenFlow::State::RequestingAtoken);
  }
  // ... -> Connecting with a fresh persistent token.
  void reach_connecting(TokenFlag flag = TokenFlag::Persistent) {
    reach_atoken();
    in(HttpResponse{200, atoken_body(flag)});
    ASSERT_EQ(flow_.state(), TokenFlow::State::Connecting);
  }

  TokenFlow flow_;
  std::int64_t now_ = kTime;
};

// ---- The happy path ----

TEST_F(TokenFlowTest, RtokenRequestMatchesTheProtocolVector) {
  const HttpRequest& r = only<HttpRequest>(in(Start{}));
  EXPECT_EQ(flow_.state(), TokenFlow::State::RequestingRtoken);
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.url, "http://ga.netpie.io:8080/api/rtoken");
  EXPECT_FALSE(r.tls);
  EXPECT_EQ(r.host, "ga.netpie.io");
  EXPECT_EQ(r.port, 8080);
  EXPECT_EQ(r.path, "/api/rtoken");
  EXPECT_TRUE(r.body.empty());
  ASSERT_NE(header(r, "Host"), nullptr);
  EXPECT_EQ(*header(r, "Host"), "ga.netpie.io:8080");
  ASSERT_NE(header(r, "Content-Type"), nullptr);
  EXPECT_EQ(*header(r, "Content-Type"), "application/x-www-form-urlencoded");
  ASSERT_NE(header(r, "Content-Length"), nullptr);
  EXPECT_EQ(*header(r, "Content-Length"), "0");

  const microgear::Params p = oauth_params(r);
  EXPECT_EQ(param(p, "oauth_callback"), "scope=&appid=myappid&mgrev=NJS1b&verifier=mygear");
  EXPECT_EQ(param(p, "oauth_consumer_key"), kKey);
  EXPECT_EQ(param(p, "oauth_nonce"), kNonce);
  EXPECT_EQ(param(p, "oauth_timestamp"), "1500000000");
  EXPECT_EQ(param(p, "oauth_signature_method"), "HMAC-SHA1");
  EXPECT_EQ(param(p, "oauth_version"), "1.0");
  EXPECT_EQ(param(p, "oauth_token"), "<absent>");
  EXPECT_EQ(param(p, "oauth_signature"), kRtokenSignature);
  EXPECT_EQ(flow_.stats().rtoken_requests, 1u);
}

TEST_F(TokenFlowTest, AtokenRequestCarriesTheRequestTokenAndVerifies) {
  only<HttpRequest>(in(Start{}));
  now_ += 2;
  const HttpRequest& r = only<HttpRequest>(in(HttpResponse{200, rtoken_body()}));
  EXPECT_EQ(flow_.state(), TokenFlow::State::RequestingAtoken);
  EXPECT_EQ(r.url, "http://ga.netpie.io:8080/api/atoken");
  const microgear::Params p = oauth_params(r);
  EXPECT_EQ(param(p, "oauth_token"), kRequestToken);
  EXPECT_EQ(param(p, "oauth_verifier"), "mygear");
  EXPECT_EQ(param(p, "oauth_callback"), "<absent>");
  EXPECT_EQ(param(p, "oauth_timestamp"), "1500000002");
  // The server side of our own OAuth code accepts it with the request-token secret, and only with it.
  const std::string uri = "http://ga.netpie.io:8080/api/atoken";
  EXPECT_EQ(microgear::verify_hmac_sha1("POST", uri, p, kSecret, kRequestSecret), microgear::Verdict::Ok);
  EXPECT_EQ(microgear::verify_hmac_sha1("POST", uri, p, kSecret, ""), microgear::Verdict::BadSignature);
}

TEST_F(TokenFlowTest, AtokenSuccessStoresThePersistentTokenAndConnects) {
  reach_atoken();
  now_ = kTime;
  const auto actions = in(HttpResponse{200, atoken_body()});
  ASSERT_EQ(actions.size(), 2u);
  ASSERT_TRUE(std::holds_alternative<CacheStore>(actions[0]));
  EXPECT_EQ(std::get<CacheStore>(actions[0]).token, cached());
  ASSERT_TRUE(std::holds_alternative<ConnectMqtt>(actions[1]));
  const ConnectMqtt& m = std::get<ConnectMqtt>(actions[1]);
  EXPECT_EQ(m.host, "gb.netpie.io");
  EXPECT_EQ(m.port, 1883);
  EXPECT_FALSE(m.tls);
  EXPECT_EQ(m.client_id, kToken);
  EXPECT_EQ(m.username, "sXfqDcXHzbFXiLk%1500000000");  // docs/netpie-protocol.md §6.1 vector
  EXPECT_EQ(m.password, kPassword);
  EXPECT_EQ(flow_.state(), TokenFlow::State::Connecting);
  ASSERT_TRUE(flow_.token().has_value());
  EXPECT_EQ(*flow_.token(), cached());

  EXPECT_TRUE(in(ConnackResult{mqtt::Reason::Success}).empty());
  EXPECT_EQ(flow_.state(), TokenFlow::State::Online);
}

TEST_F(TokenFlowTest, AliasLessVerifierIsTheMgrev) {
  TokenFlowConfig c = vector_config();
  c.alias.clear();
  TokenFlow flow(c, nonce_bytes, [](std::int64_t lo, std::int64_t) { return lo; });
  const auto first = flow.handle(Start{}, kTime);
  const microgear::Params p = oauth_params(std::get<HttpRequest>(first.at(0)));
  EXPECT_EQ(param(p, "oauth_callback"), "scope=&appid=myappid&mgrev=NJS1b&verifier=NJS1b");
  const auto second = flow.handle(HttpResponse{200, rtoken_body()}, kTime);
  EXPECT_EQ(param(oauth_params(std::get<HttpRequest>(second.at(0))), "oauth_verifier"), "NJS1b");
}

// ---- Cached token ----

TEST_F(TokenFlowTest, CachedTokenSkipsHttp) {
  const ConnectMqtt& m = only<ConnectMqtt>(in(Start{cached()}));
  EXPECT_EQ(m.client_id, kToken);
  EXPECT_EQ(m.password, kPassword);
  EXPECT_EQ(flow_.state(), TokenFlow::State::Connecting);
  EXPECT_EQ(flow_.stats().rtoken_requests, 0u);
  EXPECT_EQ(flow_.stats().atoken_requests, 0u);
}

TEST_F(TokenFlowTest, CachedTokenOfAnotherKeyIsErased) {
  const auto actions = in(Start{cached(TokenFlag::Persistent, "someOtherKey123")});
  ASSERT_EQ(actions.size(), 2u);
  EXPECT_TRUE(std::holds_alternative<CacheErase>(actions[0]));
  ASSERT_TRUE(std::holds_alternative<HttpRequest>(actions[1]));
  EXPECT_EQ(std::get<HttpRequest>(actions[1]).path, "/api/rtoken");
  EXPECT_FALSE(flow_.token().has_value());
}

TEST_F(TokenFlowTest, CachedSessionTokenIsErased) {
  const auto actions = in(Start{cached(TokenFlag::Session)});
  ASSERT_EQ(actions.size(), 2u);
  EXPECT_TRUE(std::holds_alternative<CacheErase>(actions[0]));
  EXPECT_TRUE(std::holds_alternative<HttpRequest>(actions[1]));
}

// ---- 401: wait and retry with a growing delay ----

TEST_F(TokenFlowTest, Unauthorized401RetriesTheSameRequestTokenWithADoublingCappedDelay) {
  reach_atoken();
  const std::vector<Millis> want{100, 200, 400, 800, 1'600, 3'200, 6'400, 12'800, 25'600, 30'000, 30'000};
  for (Millis expected : want) {
    EXPECT_EQ(only<Wait>(in(HttpResponse{401, "not yet"})).ms, expected);
    EXPECT_EQ(flow_.state(), TokenFlow::State::WaitingAtoken);
    now_ += 1;
    const HttpRequest& r = only<HttpRequest>(in(TimerFired{}));
    EXPECT_EQ(r.path, "/api/atoken");
    EXPECT_EQ(param(oauth_params(r), "oauth_token"), kRequestToken);  // no new request token
    EXPECT_EQ(flow_.state(), TokenFlow::State::RequestingAtoken);
  }
  EXPECT_EQ(flow_.stats().unauthorized, want.size());
  EXPECT_EQ(flow_.stats().rtoken_requests, 1u);
  EXPECT_EQ(flow_.stats().atoken_requests, want.size() + 1);

  // Approved at last.
  const auto actions = in(HttpResponse{200, atoken_body()});
  ASSERT_EQ(actions.size(), 2u);
  EXPECT_TRUE(std::holds_alternative<ConnectMqtt>(actions[1]));
}

TEST_F(TokenFlowTest, UnauthorizedDelayStartsOverWithANewRequestToken) {
  reach_atoken();
  EXPECT_EQ(only<Wait>(in(HttpResponse{401, ""})).ms, 100);
  only<HttpRequest>(in(TimerFired{}));
  EXPECT_EQ(only<Wait>(in(HttpResponse{401, ""})).ms, 200);
  only<HttpRequest>(in(TimerFired{}));
  in(HttpResponse{500, ""});  // request token rejected: from rtoken again
  only<HttpRequest>(in(TimerFired{}));
  only<HttpRequest>(in(HttpResponse{200, rtoken_body()}));
  EXPECT_EQ(only<Wait>(in(HttpResponse{401, ""})).ms, 100);
}

// ---- 500 and other atoken failures: start again from rtoken ----

TEST_F(TokenFlowTest, Atoken500RestartsFromRtokenAfterABackoff) {
  reach_atoken();
  EXPECT_EQ(only<Wait>(in(HttpResponse{500, "Request token not found"})).ms, 3'000);
  EXPECT_EQ(flow_.state(), TokenFlow::State::WaitingRtoken);
  const HttpRequest& again = only<HttpRequest>(in(TimerFired{}));
  EXPECT_EQ(again.path, "/api/rtoken");
  // The new request token is the one used next.
  const HttpRequest& at = only<HttpRequest>(in(HttpResponse{200, rtoken_body("NewReqTokenXYZ99")}));
  EXPECT_EQ(param(oauth_params(at), "oauth_token"), "NewReqTokenXYZ99");
  EXPECT_EQ(flow_.stats().restarts, 1u);
  EXPECT_EQ(flow_.stats().rtoken_requests, 2u);
}

TEST_F(TokenFlowTest, RepeatedFailuresGrowTheBackoffToItsCap) {
  reach_atoken();
  const std::vector<Millis> want{3'000, 9'000, 27'000, 60'000, 60'000};
  for (Millis expected : want) {
    EXPECT_EQ(only<Wait>(in(HttpResponse{500, ""})).ms, expected);
    only<HttpRequest>(in(TimerFired{}));
    only<HttpRequest>(in(HttpResponse{200, rtoken_body()}));
  }
}

TEST_F(TokenFlowTest, OtherAtokenFailuresRestartToo) {
  reach_atoken();
  EXPECT_EQ(flow_.state(), TokenFlow::State::RequestingAtoken);
  only<Wait>(in(HttpFailed{"connection refused"}));
  EXPECT_EQ(flow_.state(), TokenFlow::State::WaitingRtoken);
  only<HttpRequest>(in(TimerFired{}));
  only<HttpRequest>(in(HttpResponse{200, rtoken_body()}));
  only<Wait>(in(HttpResponse{200, "garbage without tokens"}));  // unparsable 200
  EXPECT_EQ(flow_.state(), TokenFlow::State::WaitingRtoken);
  only<HttpRequest>(in(TimerFired{}));
  only<HttpRequest>(in(HttpResponse{200, rtoken_body()}));
  only<Wait>(in(HttpResponse{403, "quota"}));
  EXPECT_EQ(flow_.state(), TokenFlow::State::WaitingRtoken);
  EXPECT_EQ(flow_.stats().restarts, 3u);
}

TEST_F(TokenFlowTest, RtokenFailuresRetryRtoken) {
  only<HttpRequest>(in(Start{}));
  only<Wait>(in(HttpResponse{401, "bad key"}));
  EXPECT_EQ(flow_.state(), TokenFlow::State::WaitingRtoken);
  EXPECT_EQ(only<HttpRequest>(in(TimerFired{})).path, "/api/rtoken");
  only<Wait>(in(HttpFailed{"timeout"}));
  EXPECT_EQ(only<HttpRequest>(in(TimerFired{})).path, "/api/rtoken");
  only<Wait>(in(HttpResponse{200, "oauth_token=only"}));
  EXPECT_EQ(only<HttpRequest>(in(TimerFired{})).path, "/api/rtoken");
  EXPECT_EQ(flow_.stats().rtoken_requests, 4u);
  EXPECT_EQ(flow_.stats().unauthorized, 0u);  // a 401 from rtoken is not the atoken loop
}

// ---- CONNACK 4 and 5 ----

TEST_F(TokenFlowTest, Connack4ErasesTheCachedTokenAndRestartsFromRtoken) {
  only<ConnectMqtt>(in(Start{cached()}));
  const auto actions = in(ConnackResult{mqtt::Reason::BadUserNameOrPassword});
  ASSERT_EQ(actions.size(), 2u);
  EXPECT_TRUE(std::holds_alternative<CacheErase>(actions[0]));
  ASSERT_TRUE(std::holds_alternative<Wait>(actions[1]));
  EXPECT_EQ(std::get<Wait>(actions[1]).ms, 3'000);
  EXPECT_EQ(flow_.state(), TokenFlow::State::WaitingRtoken);
  EXPECT_FALSE(flow_.token().has_value());
  EXPECT_EQ(only<HttpRequest>(in(TimerFired{})).path, "/api/rtoken");
  only<HttpRequest>(in(HttpResponse{200, rtoken_body()}));
  const auto stored = in(HttpResponse{200, atoken_body()});
  ASSERT_EQ(stored.size(), 2u);
  EXPECT_TRUE(std::holds_alternative<CacheStore>(stored[0]));
  EXPECT_EQ(flow_.stats().bad_credentials, 1u);
}

TEST_F(TokenFlowTest, Connack4OnAFreshTokenAlsoErasesIt) {
  reach_connecting();
  const auto actions = in(ConnackResult{mqtt::Reason::BadUserNameOrPassword});
  ASSERT_EQ(actions.size(), 2u);
  EXPECT_TRUE(std::holds_alternative<CacheErase>(actions[0]));
}

TEST_F(TokenFlowTest, Connack5KeepsTheTokenAndRetriesTheConnection) {
  only<ConnectMqtt>(in(Start{cached()}));
  EXPECT_EQ(only<Wait>(in(ConnackResult{mqtt::Reason::NotAuthorized})).ms, 3'000);
  EXPECT_EQ(flow_.state(), TokenFlow::State::HaveToken);
  now_ += 3;
  const ConnectMqtt& m = only<ConnectMqtt>(in(TimerFired{}));
  EXPECT_EQ(m.client_id, kToken);                       // same token
  EXPECT_EQ(m.username, "sXfqDcXHzbFXiLk%1500000003");  // fresh time, fresh password
  EXPECT_NE(m.password, kPassword);
  EXPECT_EQ(m.password, microgear::mqtt_password(kToken, kTokenSecret, kSecret, m.username));
  // Again: the delay grows.
  EXPECT_EQ(only<Wait>(in(ConnackResult{mqtt::Reason::NotAuthorized})).ms, 9'000);
  only<ConnectMqtt>(in(TimerFired{}));
  EXPECT_TRUE(in(ConnackResult{mqtt::Reason::Success}).empty());
  EXPECT_EQ(flow_.stats().not_authorized, 2u);
  EXPECT_EQ(flow_.stats().rtoken_requests, 0u);
}

TEST_F(TokenFlowTest, OtherRefusalsKeepTheToken) {
  only<ConnectMqtt>(in(Start{cached()}));
  only<Wait>(in(ConnackResult{mqtt::Reason::ServerUnavailable}));
  EXPECT_EQ(flow_.state(), TokenFlow::State::HaveToken);
  EXPECT_TRUE(flow_.token().has_value());
  EXPECT_EQ(flow_.stats().not_authorized, 0u);
}

// ---- Flag S ----

TEST_F(TokenFlowTest, SessionTokenIsNeverCached) {
  reach_atoken();
  const ConnectMqtt& m = only<ConnectMqtt>(in(HttpResponse{200, atoken_body(TokenFlag::Session)}));
  EXPECT_EQ(m.client_id, kToken);
  ASSERT_TRUE(flow_.token().has_value());
  EXPECT_EQ(flow_.token()->flag, TokenFlag::Session);
  // Nothing to erase on CONNACK 4 either: it never was in the cache.
  EXPECT_EQ(only<Wait>(in(ConnackResult{mqtt::Reason::BadUserNameOrPassword})).ms, 3'000);
}

TEST_F(TokenFlowTest, SessionTokenIsReusedForReconnects) {
  reach_connecting(TokenFlag::Session);
  in(ConnackResult{mqtt::Reason::Success});
  only<Wait>(in(ConnectionLost{}));
  EXPECT_EQ(only<ConnectMqtt>(in(TimerFired{})).client_id, kToken);
}

// ---- Lost connections and backoff reset ----

TEST_F(TokenFlowTest, LostConnectionReconnectsWithTheSameTokenAndBackoffResetsOnline) {
  only<ConnectMqtt>(in(Start{cached()}));
  in(ConnackResult{mqtt::Reason::Success});
  EXPECT_EQ(only<Wait>(in(ConnectionLost{})).ms, 3'000);
  EXPECT_EQ(flow_.state(), TokenFlow::State::HaveToken);
  only<ConnectMqtt>(in(TimerFired{}));
  EXPECT_EQ(only<Wait>(in(ConnectionLost{})).ms, 9'000);  // failed before CONNACK: grows
  only<ConnectMqtt>(in(TimerFired{}));
  in(ConnackResult{mqtt::Reason::Success});
  EXPECT_EQ(only<Wait>(in(ConnectionLost{})).ms, 3'000);  // online in between: reset
}

// ---- Inputs that do not fit the state ----

TEST_F(TokenFlowTest, StaleInputsAreIgnoredAndCounted) {
  EXPECT_TRUE(in(TimerFired{}).empty());                      // Idle
  EXPECT_TRUE(in(HttpResponse{200, rtoken_body()}).empty());  // Idle
  EXPECT_TRUE(in(ConnectionLost{}).empty());                  // Idle
  only<ConnectMqtt>(in(Start{cached()}));
  EXPECT_TRUE(in(Start{}).empty());  // already started
  EXPECT_TRUE(in(TimerFired{}).empty());
  EXPECT_TRUE(in(HttpResponse{200, atoken_body()}).empty());
  in(ConnackResult{mqtt::Reason::Success});
  EXPECT_TRUE(in(ConnackResult{mqtt::Reason::BadUserNameOrPassword}).empty());  // Online
  EXPECT_EQ(flow_.state(), TokenFlow::State::Online);
  EXPECT_EQ(flow_.stats().ignored_inputs, 7u);
}

TEST_F(TokenFlowTest, StopReturnsToIdleAndStartBeginsAgain) {
  reach_atoken();
  EXPECT_TRUE(in(Stop{}).empty());
  EXPECT_EQ(flow_.state(), TokenFlow::State::Idle);
  EXPECT_TRUE(in(HttpResponse{200, atoken_body()}).empty());  // the abandoned request's late reply
  EXPECT_EQ(only<HttpRequest>(in(Start{})).path, "/api/rtoken");
}

// ---- Ports and TLS ----

TEST(TokenFlowPorts, TlsDefaults) {
  TokenFlowConfig c = vector_config();
  c.auth_tls = true;
  c.mqtt_tls = true;
  TokenFlow flow(c, nonce_bytes, [](std::int64_t lo, std::int64_t) { return lo; });
  const auto start = flow.handle(Start{}, kTime);
  const HttpRequest& r = std::get<HttpRequest>(start.at(0));
  EXPECT_EQ(r.url, "https://ga.netpie.io:8081/api/rtoken");
  EXPECT_TRUE(r.tls);
  EXPECT_EQ(r.port, 8081);
  const microgear::Params p = oauth_params(r);
  EXPECT_EQ(microgear::verify_hmac_sha1("POST", "https://ga.netpie.io:8081/api/rtoken", p, kSecret, ""),
            microgear::Verdict::Ok);
  flow.handle(HttpResponse{200, rtoken_body()}, kTime);
  const auto got = flow.handle(HttpResponse{200, atoken_body()}, kTime);
  const ConnectMqtt& m = std::get<ConnectMqtt>(got.at(1));
  EXPECT_TRUE(m.tls);
  EXPECT_EQ(m.port, 8883);  // the endpoint names the plain port (§5)
}

TEST(TokenFlowPorts, OverridesAndDefaultPorts) {
  TokenFlowConfig c = vector_config();
  c.auth_host = "192.168.1.10";
  c.auth_port = 80;
  c.mqtt_port = 11883;
  TokenFlow flow(c, nonce_bytes, [](std::int64_t lo, std::int64_t) { return lo; });
  const auto start = flow.handle(Start{}, kTime);
  const HttpRequest& r = std::get<HttpRequest>(start.at(0));
  EXPECT_EQ(r.url, "http://192.168.1.10/api/rtoken");
  EXPECT_EQ(*header(r, "Host"), "192.168.1.10");
  EXPECT_EQ(
      microgear::verify_hmac_sha1("POST", "http://192.168.1.10/api/rtoken", oauth_params(r), kSecret, ""),
      microgear::Verdict::Ok);
  const auto connect = flow.handle(Start{}, kTime);  // ignored: already started
  EXPECT_TRUE(connect.empty());
  flow.handle(HttpResponse{200, rtoken_body()}, kTime);
  const auto got = flow.handle(HttpResponse{200, atoken_body()}, kTime);
  EXPECT_EQ(std::get<ConnectMqtt>(got.at(1)).port, 11883);
}

TEST(TokenFlowPorts, PlainMqttUsesTheEndpointPort) {
  TokenFlowConfig c = vector_config();
  TokenFlow flow(c, nonce_bytes, [](std::int64_t lo, std::int64_t) { return lo; });
  CachedToken t = cached();
  t.endpoint = {"broker.example", 1999};
  EXPECT_EQ(std::get<ConnectMqtt>(flow.handle(Start{t}, kTime).at(0)).port, 1999);
  TokenFlow flow2(c, nonce_bytes, [](std::int64_t lo, std::int64_t) { return lo; });
  t.endpoint.port.reset();
  EXPECT_EQ(std::get<ConnectMqtt>(flow2.handle(Start{t}, kTime).at(0)).port, 1883);
}

}  // namespace
}  // namespace gw::uplink
