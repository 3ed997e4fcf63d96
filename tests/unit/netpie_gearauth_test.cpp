// The gearauth API through the endpoint's HTTP router: the docs/netpie-protocol.md §3.2 request-token vector,
// the access-token exchange and its approval, the §6.1 revoke-code vector, /api/endpoint and /api/time, the
// OAuth2-style endpoints, CORS, and every refusal (forged or foreign signature, stale, future and replayed
// timestamps, unknown keys and tokens) with the status the clients expect.
#include <gtest/gtest.h>

#include "protocols/microgear/gearauth.hpp"
#include "protocols/microgear/oauth1.hpp"
#include "protocols/microgear/oauth2.hpp"
#include "tests/unit/netpie_fixture.hpp"

namespace gw::netpie::testing {
namespace {

// The §3.2 worked example, exactly as node-oauth writes the header.
const std::string kVectorHeader =
    "OAuth oauth_callback=\"scope%3D%26appid%3Dmyappid%26mgrev%3DNJS1b%26verifier%3Dmygear\","
    "oauth_consumer_key=\"sXfqDcXHzbFXiLk\",oauth_nonce=\"abcdefghijklmnopqrstuvwxyz012345\","
    "oauth_signature_method=\"HMAC-SHA1\",oauth_timestamp=\"1500000000\",oauth_version=\"1.0\","
    "oauth_signature=\"FIkhimf4pDTItPqqdrjE7Dz7rMU%3D\"";

std::string post(const std::string& path, const std::string& authorization, const std::string& host) {
  std::string r = "POST " + path + " HTTP/1.1\r\n";
  if (!host.empty()) r += "Host: " + host + "\r\n";
  r += "Authorization: " + authorization +
       "\r\nContent-Type: application/x-www-form-urlencoded\r\n"
       "Content-Length: 0\r\nConnection: close\r\n\r\n";
  return r;
}

std::string get(const std::string& path, const std::string& host = "ga.netpie.io:8080") {
  return "GET " + path + " HTTP/1.1\r\n" + (host.empty() ? "" : "Host: " + host + "\r\n") + "\r\n";
}

class GearauthTest : public EndpointTest {
 protected:
  // A signed request as a client would build it (the server side is checked against the §3.2 vector
  // separately; here the signer is the codec's client half).
  std::string signed_header(const std::string& path, const std::string& key, const std::string& secret,
                            const std::string& token = "", const std::string& token_secret = "",
                            std::optional<std::string> callback = std::nullopt,
                            std::optional<std::string> verifier = std::nullopt,
                            const std::string& host = "ga.netpie.io:8080", std::int64_t ts = 0) {
    microgear::ClientRequest c;
    c.base_uri = microgear::base_string_uri("http", host, path);
    c.consumer_key = key;
    c.consumer_secret = secret;
    c.token = token;
    c.token_secret = token_secret;
    c.callback = std::move(callback);
    c.verifier = std::move(verifier);
    c.nonce = "nonce" + std::to_string(++nonce_);
    c.timestamp = ts != 0 ? ts : clock_.unix_seconds();
    return microgear::sign_request(c).authorization;
  }
  std::string callback(const std::string& appid = "myappid", const std::string& verifier = "mygear") {
    return "scope=&appid=" + appid + "&mgrev=NJS1b&verifier=" + verifier;
  }
  microgear::RequestTokenReply rtoken(const std::string& key = kKey, const std::string& secret = kSecret) {
    auto a = http(post("/api/rtoken", signed_header("/api/rtoken", key, secret, "", "", callback()),
                       "ga.netpie.io:8080"));
    EXPECT_EQ(a->status(), 200) << a->body();
    auto r = microgear::parse_rtoken_body(a->body());
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : microgear::RequestTokenReply{};
  }
  std::unique_ptr<Answer> atoken(const microgear::RequestTokenReply& rt, const std::string& key = kKey,
                                 const std::string& secret = kSecret) {
    return http(post("/api/atoken",
                     signed_header("/api/atoken", key, secret, rt.token, rt.secret, std::nullopt, "mygear"),
                     "ga.netpie.io:8080"));
  }
  // An rtoken Authorization header signed for `base_uri` with a chosen nonce.
  std::string rtoken_header(const std::string& base_uri, const std::string& nonce) {
    microgear::ClientRequest c;
    c.base_uri = base_uri;
    c.consumer_key = kKey;
    c.consumer_secret = kSecret;
    c.callback = callback();
    c.nonce = nonce;
    c.timestamp = clock_.unix_seconds();
    return microgear::sign_request(c).authorization;
  }
  int nonce_ = 0;
};

TEST_F(GearauthTest, RequestTokenVectorOfProtocol32IsAccepted) {
  auto a = http(post("/api/rtoken", kVectorHeader, "ga.netpie.io:8080"));
  ASSERT_EQ(a->status(), 200) << a->body();
  EXPECT_TRUE(a->response->close) << "gearauth answers close the connection (§4)";
  EXPECT_EQ(a->response->content_type, "application/x-www-form-urlencoded");
  // oauth_token=<16>&oauth_token_secret=<32>&oauth_callback_confirmed=true, in that order (§11.4).
  const std::string& b = a->body();
  ASSERT_EQ(b.size(), 12 + 16 + 20 + 32 + 30) << b;
  EXPECT_EQ(b.substr(0, 12), "oauth_token=");
  EXPECT_EQ(b.substr(28, 20), "&oauth_token_secret=");
  EXPECT_EQ(b.substr(80), "&oauth_callback_confirmed=true");
  const RequestToken* rt = endpoint_->registry().request(b.substr(12, 16));
  ASSERT_NE(rt, nullptr);
  EXPECT_EQ(rt->secret, b.substr(48, 32));
  EXPECT_EQ(rt->appid, "myappid");
  EXPECT_EQ(rt->verifier, "mygear");
  EXPECT_EQ(rt->mgrev, "NJS1b");
  EXPECT_TRUE(endpoint_->registry().approved(*rt));
  EXPECT_EQ(a->header("Access-Control-Allow-Origin"), "*");
}

TEST_F(GearauthTest, ForgedSignaturesAreRefusedWith401) {
  std::string forged = kVectorHeader;
  forged.replace(forged.find("FIkh"), 4, "FIkH");
  EXPECT_EQ(http(post("/api/rtoken", forged, "ga.netpie.io:8080"))->status(), 401);
  // Signed with another secret.
  EXPECT_EQ(http(post("/api/rtoken", signed_header("/api/rtoken", kKey, "not-the-secret", "", "", callback()),
                      "ga.netpie.io:8080"))
                ->status(),
            401);
  // Signed for another URL than the one it was sent to (host, port or path are part of the base string).
  EXPECT_EQ(http(post("/api/rtoken", kVectorHeader, "ga.netpie.io:8081"))->status(), 401);
  EXPECT_EQ(http(post("/api/rtoken", kVectorHeader, "evil.example:8080"))->status(), 401);
  // A parameter changed after signing (the callback names another verifier).
  std::string tampered = kVectorHeader;
  tampered.replace(tampered.find("mygear"), 6, "evilgr");
  EXPECT_EQ(http(post("/api/rtoken", tampered, "ga.netpie.io:8080"))->status(), 401);
  EXPECT_TRUE(endpoint_->registry().requests().empty()) << "no request token for a refused request";
}

TEST_F(GearauthTest, AnHttpsSignatureIsAcceptedBehindATlsTerminator) {
  // A TLS microgear signs https://<host>:8081/...; a terminator hands the request to our plain listener
  // with that Host. The scheme may be either; host, port and path must still match.
  microgear::ClientRequest c;
  c.base_uri = "https://ga.netpie.io:8081/api/rtoken";
  c.consumer_key = kKey;
  c.consumer_secret = kSecret;
  c.callback = callback();
  c.nonce = "tlsnonce1";
  c.timestamp = clock_.unix_seconds();
  const std::string auth = microgear::sign_request(c).authorization;
  EXPECT_EQ(http(post("/api/rtoken", auth, "ga.netpie.io:8080"))->status(), 401) << "another port";
  EXPECT_EQ(http(post("/api/rtoken", auth, "ga.netpie.io:8081"))->status(), 200);
  c.base_uri = "ftp://ga.netpie.io:8081/api/rtoken";
  c.nonce = "tlsnonce2";
  EXPECT_EQ(
      http(post("/api/rtoken", microgear::sign_request(c).authorization, "ga.netpie.io:8081"))->status(), 401)
      << "only http and https";
}

TEST_F(GearauthTest, StaleFutureAndReplayedTimestampsAreRefused) {
  // The default skew is 900 s either way.
  clock_.advance(901'000);
  auto stale = http(post("/api/rtoken", kVectorHeader, "ga.netpie.io:8080"));
  EXPECT_EQ(stale->status(), 401);
  EXPECT_NE(stale->body().find("too old"), std::string::npos) << stale->body();
  clock_.advance(-1'802'000);
  auto future = http(post("/api/rtoken", kVectorHeader, "ga.netpie.io:8080"));
  EXPECT_EQ(future->status(), 401);
  EXPECT_NE(future->body().find("future"), std::string::npos) << future->body();
  clock_.advance(901'000);  // within the window again: accepted once, then it is a replay
  EXPECT_EQ(http(post("/api/rtoken", kVectorHeader, "ga.netpie.io:8080"))->status(), 200);
  auto replay = http(post("/api/rtoken", kVectorHeader, "ga.netpie.io:8080"));
  EXPECT_EQ(replay->status(), 401);
  EXPECT_NE(replay->body().find("replayed"), std::string::npos) << replay->body();
  // ESP8266-RTOS reuses a constant nonce; fresh timestamps make fresh signatures, which pass.
  for (int i = 0; i < 3; ++i) {
    clock_.advance(1000);
    EXPECT_EQ(http(post("/api/rtoken", rtoken_header("http://ga.netpie.io:8080/api/rtoken", "sdjkjdf8"),
                        "ga.netpie.io:8080"))
                  ->status(),
              200);
  }
}

TEST_F(GearauthTest, BadRequestsAreNamed) {
  EXPECT_EQ(http(post("/api/rtoken", "Basic a2V5OnNlY3JldA==", "ga.netpie.io:8080"))->status(), 400);
  EXPECT_EQ(http(post("/api/rtoken", "OAuth oauth_consumer_key=\"x", "ga.netpie.io:8080"))->status(), 400);
  EXPECT_EQ(http(post("/api/rtoken", signed_header("/api/rtoken", "NoSuchKey", "s", "", "", callback()),
                      "ga.netpie.io:8080"))
                ->status(),
            401);
  // Signed, but asking for an app the key does not belong to; or without an appid at all.
  EXPECT_EQ(
      http(post("/api/rtoken", signed_header("/api/rtoken", kKey, kSecret, "", "", callback("otherapp")),
                "ga.netpie.io:8080"))
          ->status(),
      401);
  EXPECT_EQ(
      http(post("/api/rtoken", signed_header("/api/rtoken", kKey, kSecret), "ga.netpie.io:8080"))->status(),
      400);
  EXPECT_EQ(http(get("/api/rtoken"))->status(), 405);
  EXPECT_EQ(http(get("/api/nothing"))->status(), 404);
}

TEST_F(GearauthTest, RtosRequestLineWithoutHostIsSignedForTheListenerAddress) {
  // "POST /api/rtoken HTTP 1.1" and no Host (ESP8266-RTOS, §3.2): the client signed the address it
  // called, which is the one the connection came in on.
  const std::string auth =
      signed_header("/api/rtoken", kKey, kSecret, "", "", callback(), std::nullopt, "127.0.0.5:8080");
  auto a = http("POST /api/rtoken HTTP 1.1\r\nAuthorization: " + auth + "\r\nContent-length: 0\r\n\r\n");
  EXPECT_EQ(a->status(), 200) << a->body();
}

TEST_F(GearauthTest, AccessTokenExchangeAndItsReplyShape) {
  auto rt = rtoken();
  auto a = atoken(rt);
  ASSERT_EQ(a->status(), 200) << a->body();
  EXPECT_TRUE(a->response->close);
  // flag, oauth_token, oauth_token_secret, endpoint: four fields in that order (§3.3, §11.4), the
  // endpoint percent-encoded with upper-case hex; its host is the one the client called.
  const std::string& b = a->body();
  ASSERT_EQ(b.substr(0, 19), "flag=P&oauth_token=") << b;
  EXPECT_EQ(b.substr(35, 20), "&oauth_token_secret=") << b;
  EXPECT_EQ(b.substr(87), "&endpoint=pie%3A%2F%2Fga.netpie.io%3A1883") << b;
  const std::string token = b.substr(19, 16);
  const AccessToken* at = endpoint_->registry().access(token);
  ASSERT_NE(at, nullptr);
  EXPECT_EQ(at->secret, b.substr(55, 32));
  EXPECT_EQ(at->alias, "mygear") << "the verifier names the gear";
  EXPECT_EQ(at->kind, KeyKind::Device);
  EXPECT_TRUE(store_.data.contains(std::string(kStorePrefix) + "at/" + token)) << "a device token is stored";
  // A client that lost the answer and asks again (new nonce) gets the same token, not a second one.
  auto again = atoken(rt);
  EXPECT_EQ(again->body(), b);
  EXPECT_EQ(endpoint_->registry().live_tokens(kKey), 1u);
}

TEST_F(GearauthTest, AccessTokenRefusals) {
  auto rt = rtoken();
  // Unknown request token: 500, the clients' "request token not found" (§3.3).
  EXPECT_EQ(atoken({"AAAAAAAAAAAAAAAA", rt.secret})->status(), 500);
  // Right token, wrong token secret in the signing key.
  EXPECT_EQ(atoken({rt.token, std::string(32, 'x')})->status(), 401);
  // Another key's request token.
  EXPECT_EQ(atoken(rt, "SessionKey00001", "session-secret-0123456789")->status(), 500);
  // A verifier other than the one of the request (ESP8266 after its alias changed): 500 like an unknown
  // request token, so the library starts over; 401 would keep it waiting for an approval forever.
  auto wrong_verifier = http(post(
      "/api/atoken", signed_header("/api/atoken", kKey, kSecret, rt.token, rt.secret, std::nullopt, "other"),
      "ga.netpie.io:8080"));
  EXPECT_EQ(wrong_verifier->status(), 500);
  EXPECT_EQ(wrong_verifier->body(), "request token not found\n");
  // ESP8266 also sends oauth_callback on atoken (§3.2): accepted.
  auto esp = http(post("/api/atoken",
                       signed_header("/api/atoken", kKey, kSecret, rt.token, rt.secret,
                                     "scope=&appid=myappid&mgrev=E8A1b&verifier=mygear", "mygear"),
                       "ga.netpie.io:8080"));
  EXPECT_EQ(esp->status(), 200) << esp->body();
}

TEST_F(GearauthTest, UnapprovedKeyWaitsWith401UntilTheOwnerApproves) {
  auto rt = rtoken("ApprovalKey0001", "approval-secret-0123456789");
  for (int i = 0; i < 3; ++i) {
    clock_.advance(1000);
    auto a = atoken(rt, "ApprovalKey0001", "approval-secret-0123456789");
    // Held for netpie.atoken_hold_ms (1000), then 401 (see HeldAtokenRequests...).
    EXPECT_EQ(a->status(), 0) << "attempt " << i << ": " << a->body();
    clock_.advance(1000);
    endpoint_->tick();
    EXPECT_EQ(a->status(), 401) << "attempt " << i << ": " << a->body();
  }
  // The owner sees the waiting device...
  auto list = http(get("/admin/requests"));
  ASSERT_EQ(list->status(), 200);
  EXPECT_NE(list->body().find("\"request_token\":\"" + rt.token + "\""), std::string::npos) << list->body();
  EXPECT_NE(list->body().find("\"approved\":false"), std::string::npos) << list->body();
  // ...only from this machine...
  net::HttpPeer remote = Answer::default_peer();
  remote.loopback = false;
  remote.address = "192.168.1.20:5000";
  EXPECT_EQ(
      http("POST /admin/approve/" + rt.token + " HTTP/1.1\r\nContent-Length: 0\r\n\r\n", remote)->status(),
      403);
  auto still = atoken(rt, "ApprovalKey0001", "approval-secret-0123456789");
  clock_.advance(1000);
  endpoint_->tick();
  EXPECT_EQ(still->status(), 401);
  // ...and approves it.
  EXPECT_EQ(http("POST /admin/approve/" + rt.token + " HTTP/1.1\r\nContent-Length: 0\r\n\r\n")->status(),
            200);
  EXPECT_EQ(http("POST /admin/approve/NOSUCHTOKEN00000 HTTP/1.1\r\nContent-Length: 0\r\n\r\n")->status(),
            404);
  clock_.advance(1000);
  auto ok = atoken(rt, "ApprovalKey0001", "approval-secret-0123456789");
  EXPECT_EQ(ok->status(), 200) << ok->body();
  // Denying forgets the request: the device starts over (500 = unknown request token).
  auto rt2 = rtoken("ApprovalKey0001", "approval-secret-0123456789");
  EXPECT_EQ(http("POST /admin/deny/" + rt2.token + " HTTP/1.1\r\nContent-Length: 0\r\n\r\n")->status(), 200);
  EXPECT_EQ(atoken(rt2, "ApprovalKey0001", "approval-secret-0123456789")->status(), 500);
}

// The HTML5 microgear asks /api/atoken again the moment it is answered (with a CORS pre-flight each time):
// about 120 requests a second per page while its key waits for approval. The 401 is held for
// netpie.atoken_hold_ms, so the page asks about once a second; the owner's approval answers the held request
// at once (200), without waiting for the hold; past netpie.atoken_max_held_per_key a request is answered at
// once.
TEST_F(GearauthTest, HeldAtokenRequestsBoundPollingWithoutDelayingTheApproval) {
  auto rt = rtoken("ApprovalKey0001", "approval-secret-0123456789");
  clock_.advance(1000);
  auto held = atoken(rt, "ApprovalKey0001", "approval-secret-0123456789");
  EXPECT_EQ(held->status(), 0);
  clock_.advance(999);
  endpoint_->tick();
  EXPECT_EQ(held->status(), 0) << "answered before its hold was over";
  clock_.advance(1);
  endpoint_->tick();
  EXPECT_EQ(held->status(), 401);

  // The bound per key: the 17th concurrent request is answered at once (policy answer_new).
  std::vector<std::unique_ptr<Answer>> many;
  for (int i = 0; i < 17; ++i) {
    many.push_back(atoken(rt, "ApprovalKey0001", "approval-secret-0123456789"));
  }
  for (int i = 0; i < 16; ++i) EXPECT_EQ(many[i]->status(), 0) << i;
  EXPECT_EQ(many[16]->status(), 401);
  EXPECT_EQ(endpoint_->gearauth().held(), 16u);

  // Approval answers every held request at once, with the token.
  ASSERT_EQ(http("POST /admin/approve/" + rt.token + " HTTP/1.1\r\nContent-Length: 0\r\n\r\n")->status(),
            200);
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(many[i]->status(), 200) << i << ": " << many[i]->body();
    EXPECT_NE(many[i]->body().find("oauth_token="), std::string::npos) << many[i]->body();
  }
  EXPECT_EQ(endpoint_->gearauth().held(), 0u);
  // An approved key is never held.
  clock_.advance(1000);
  EXPECT_EQ(atoken(rt, "ApprovalKey0001", "approval-secret-0123456789")->status(), 200);
}

TEST_F(GearauthTest, SessionKeysGetFlagS) {
  auto rt = rtoken("SessionKey00001", "session-secret-0123456789");
  auto a = atoken(rt, "SessionKey00001", "session-secret-0123456789");
  ASSERT_EQ(a->status(), 200);
  EXPECT_EQ(a->body().substr(0, 7), "flag=S&");
  EXPECT_FALSE(store_.data.contains(std::string(kStorePrefix) + "at/" + a->body().substr(19, 16)))
      << "session tokens are not kept across restarts";
}

TEST_F(GearauthTest, TokenQuotaPerKey) {
  cfg_.netpie.max_tokens_per_key = 1;
  restart();
  EXPECT_EQ(atoken(rtoken())->status(), 200);
  auto second = atoken(rtoken());
  EXPECT_EQ(second->status(), 403) << second->body();
}

TEST_F(GearauthTest, AnswerWaitsUntilTheDeviceTokenIsDurable) {
  store_.defer = true;
  auto rt = rtoken();
  auto a = atoken(rt);
  EXPECT_FALSE(a->response.has_value()) << "answered before the token was stored";
  store_.run_pending();
  EXPECT_EQ(a->status(), 200);
  // A store that refuses: 503 and no token.
  store_.defer = false;
  store_.fail = true;
  auto rt2 = rtoken();
  auto failed = atoken(rt2);
  EXPECT_EQ(failed->status(), 503);
  EXPECT_EQ(endpoint_->registry().live_tokens(kKey), 1u);
}

TEST_F(GearauthTest, EndpointAndTime) {
  auto e = http(get("/api/endpoint/" + std::string(kKey)));
  EXPECT_EQ(e->status(), 200);
  EXPECT_EQ(e->body(), "pie://ga.netpie.io:1883") << "plain, not percent-encoded (§4)";
  // No Host header (ESP8266 GETs, §4): the address the request came in on.
  EXPECT_EQ(http(get("/api/endpoint/" + std::string(kKey), ""))->body(), "pie://127.0.0.5:1883");
  auto unknown = http(get("/api/endpoint/NoSuchKey"));
  EXPECT_EQ(unknown->status(), 404);
  EXPECT_EQ(unknown->body(), "") << "Node takes any body as the endpoint";
  auto t = http(get("/api/time", ""));
  EXPECT_EQ(t->status(), 200);
  EXPECT_EQ(t->body(), "1500000000");
  cfg_.netpie.endpoint_host = "gw.lan";
  cfg_.netpie.endpoint_port = 11883;
  restart();
  EXPECT_EQ(http(get("/api/endpoint/" + std::string(kKey)))->body(), "pie://gw.lan:11883");
}

// Node 0.8.1, ESP8266 1.2.4 and Python 1.2 connect to 1883 whatever the endpoint says (§5): a config that
// moves the broker elsewhere is told so at start.
TEST(EndpointPortWarnings, SaidWhenTheFixedPortLibrariesWouldMissTheBroker) {
  config::Config c = netpie_config();
  c.listeners = {config::Listener{"mqtt", "mqtt", "0.0.0.0", 1883},
                 config::Listener{"http", "http", "0.0.0.0", 8080}};
  EXPECT_TRUE(endpoint_port_warnings(c).empty()) << "the default: endpoint and listener on 1883";
  c.netpie.endpoint_port = 11883;
  auto w = endpoint_port_warnings(c);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_NE(w[0].find("ignore the endpoint's port and connect to 1883"), std::string::npos) << w[0];
  EXPECT_NE(w[1].find("no mqtt listener on netpie.endpoint_port 11883"), std::string::npos) << w[1];
  c.listeners[0].port = 11883;
  w = endpoint_port_warnings(c);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_NE(w[1].find("no mqtt listener on port 1883"), std::string::npos) << w[1];
  c.listeners.push_back(config::Listener{"node", "mqtt", "0.0.0.0", 1883});
  EXPECT_EQ(endpoint_port_warnings(c).size(), 1u) << "both listeners: only the note on the ignored port";
  c.netpie.enabled = false;
  EXPECT_TRUE(endpoint_port_warnings(c).empty());
}

TEST_F(GearauthTest, RevokeWithTheVectorRevokeCode) {
  seed_vector_token();
  ASSERT_NE(endpoint_->registry().access(kToken), nullptr);
  // §6.1: revoke code of the vector token is 07Lpy1Vs8Qyfn3eF73fa5Zhq8Y8= ('/' would be '_').
  auto wrong = http(get("/api/revoke/" + std::string(kToken) + "/07Lpy1Vs8Qyfn3eF73fa5Zhq8Y8A"));
  EXPECT_EQ(wrong->status(), 403);
  EXPECT_EQ(wrong->body(), "FAILED");
  EXPECT_FALSE(endpoint_->registry().access(kToken)->revoked);
  auto ok = http(get("/api/revoke/" + std::string(kToken) + "/07Lpy1Vs8Qyfn3eF73fa5Zhq8Y8="));
  EXPECT_EQ(ok->status(), 200);
  EXPECT_EQ(ok->body(), "SUCCESS");
  EXPECT_TRUE(endpoint_->registry().access(kToken)->revoked);
  EXPECT_EQ(http(get("/api/revoke/" + std::string(kToken) + "/07Lpy1Vs8Qyfn3eF73fa5Zhq8Y8="))->body(),
            "SUCCESS")
      << "revoking again is still a success";
  // A token we do not know is gone already: SUCCESS. FAILED would make ESP8266 keep it after CONNACK 4.
  auto unknown = http(get("/api/revoke/AAAAAAAAAAAAAAAA/07Lpy1Vs8Qyfn3eF73fa5Zhq8Y8="));
  EXPECT_EQ(unknown->status(), 200);
  EXPECT_EQ(unknown->body(), "SUCCESS");
  // So is the revoked token once its tombstone is forgotten.
  clock_.advance(31LL * 24 * 3600 * 1000);
  endpoint_->registry().sweep();
  ASSERT_EQ(endpoint_->registry().access(kToken), nullptr);
  auto forgotten = http(get("/api/revoke/" + std::string(kToken) + "/07Lpy1Vs8Qyfn3eF73fa5Zhq8Y8="));
  EXPECT_EQ(forgotten->status(), 200);
  EXPECT_EQ(forgotten->body(), "SUCCESS");
}

TEST_F(GearauthTest, OAuth2StyleFlowOfPythonAndCSharp) {
  auto auth = http(get("/oauth2/authorize?response_type=code&client_id=" + std::string(kKey) +
                       "&scope=appid:myappid%20alias:pygear&state=mgrev:PY11k"));
  ASSERT_EQ(auth->status(), 302) << auth->body();
  const std::string location = auth->header("Location");
  const std::string prefix = "http://ga.netpie.io:8080/oauth2/callback?code=";
  ASSERT_EQ(location.substr(0, prefix.size()), prefix) << location;
  const std::string code = location.substr(prefix.size());
  EXPECT_EQ(code.size(), 16u);
  EXPECT_EQ(http(get("/oauth2/callback?code=" + code))->status(), 200)
      << "python fetches the redirect target";
  auto wrong = http("POST /oauth2/token?grant_type=authorization_code&code=" + code + "&client_id=" + kKey +
                    "&client_secret=nope&state=mgrev:PY11k HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(wrong->status(), 401);
  auto tok = http("POST /oauth2/token?grant_type=authorization_code&code=" + code + "&client_id=" + kKey +
                  "&client_secret=" + kSecret +
                  "&state=mgrev:PY11k HTTP/1.1\r\nHost: ga.netpie.io:8080\r\n"
                  "Content-Length: 0\r\n\r\n");
  ASSERT_EQ(tok->status(), 200) << tok->body();
  auto reply = microgear::parse_token_reply(tok->body());
  ASSERT_TRUE(reply.ok()) << tok->body();
  EXPECT_EQ(reply->token.size(), 16u);
  EXPECT_EQ(reply->secret.size(), 32u);
  EXPECT_EQ(reply->flag, microgear::TokenFlag::Persistent);
  EXPECT_EQ(reply->endpoint.host, "ga.netpie.io");
  EXPECT_EQ(tok->body().substr(0, 17), "{\"access_token\":\"") << "C# matches this prefix literally";
  const AccessToken* at = endpoint_->registry().access(reply->token);
  ASSERT_NE(at, nullptr);
  EXPECT_EQ(at->alias, "pygear");
  EXPECT_EQ(http(get("/oauth2/authorize?response_type=token&client_id=x"))->status(), 400);
  EXPECT_EQ(http(get("/oauth2/authorize?response_type=code&client_id=" + std::string(kKey) +
                     "&scope=appid:otherapp"))
                ->status(),
            401);
}

TEST_F(GearauthTest, CorsForTheHtml5Microgear) {
  auto pre = http(
      "OPTIONS /api/rtoken HTTP/1.1\r\nHost: ga.netpie.io:8080\r\nOrigin: http://dash.local\r\n"
      "Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: authorization\r\n\r\n");
  EXPECT_EQ(pre->status(), 200);
  EXPECT_EQ(pre->header("Access-Control-Allow-Origin"), "*");
  EXPECT_EQ(pre->header("Access-Control-Allow-Headers"), "authorization");
  EXPECT_NE(pre->header("Access-Control-Allow-Methods").find("POST"), std::string::npos);
  EXPECT_EQ(http(get("/api/time"))->header("Access-Control-Allow-Origin"), "*");
  EXPECT_EQ(http(get("/no/such/thing"))->status(), 404);
}

}  // namespace
}  // namespace gw::netpie::testing
