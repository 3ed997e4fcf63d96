// OAuth 1.0a against the vectors of docs/netpie-protocol.md §3.2 and RFC 5849 (§1.2, §3.4.1.1), and the
// Authorization headers each microgear really writes: node-oauth, ESP8266 (unencoded values), RTOS
// (constant nonce, "HTTP 1.1" request line), python-oauth2 (realm, ", "). Every expected signature
// was computed independently with Python's hmac/hashlib/base64 and urllib.parse.quote(safe='-._~').
#include <gtest/gtest.h>

#include <string>

#include "protocols/http/request_parser.hpp"
#include "protocols/microgear/oauth1.hpp"

namespace gw::microgear {
namespace {

constexpr const char* kKey = "sXfqDcXHzbFXiLk";
constexpr const char* kSecret = "DNonzg2ivwS8ceksykGntrfQjxbL98";
constexpr const char* kRtokenUri = "http://ga.netpie.io:8080/api/rtoken";
constexpr const char* kAtokenUri = "http://ga.netpie.io:8080/api/atoken";
constexpr const char* kVectorBase =
    "POST&http%3A%2F%2Fga.netpie.io%3A8080%2Fapi%2Frtoken&oauth_callback%3Dscope%253D%2526appid%253Dmyappid%"
    "2526mgrev%"
    "253DNJS1b%2526verifier%253Dmygear%26oauth_consumer_key%3DsXfqDcXHzbFXiLk%26oauth_nonce%"
    "3Dabcdefghijklmnopqrstuvwxyz012345%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D1500000000%"
    "26oauth_"
    "version%3D1.0";

ClientRequest vector_request() {
  ClientRequest r;
  r.base_uri = kRtokenUri;
  r.consumer_key = kKey;
  r.consumer_secret = kSecret;
  r.callback = "scope=&appid=myappid&mgrev=NJS1b&verifier=mygear";
  r.nonce = "abcdefghijklmnopqrstuvwxyz012345";
  r.timestamp = 1500000000;
  return r;
}

Params header_params(std::string_view header) {
  auto h = parse_authorization(header);
  EXPECT_TRUE(h.ok()) << header;
  return h.ok() ? h->params : Params{};
}

// ---- docs/netpie-protocol.md §3.2 worked example ----

TEST(OAuth1Vector, ClientSigningReproducesBaseStringAndSignature) {
  const SignedRequest s = sign_request(vector_request());
  EXPECT_EQ(s.base_string, kVectorBase);
  EXPECT_EQ(s.signature, "FIkhimf4pDTItPqqdrjE7Dz7rMU=");
  EXPECT_EQ(s.authorization,
            "OAuth oauth_callback=\"scope%3D%26appid%3Dmyappid%26mgrev%3DNJS1b%26verifier%3Dmygear\","
            "oauth_consumer_key=\"sXfqDcXHzbFXiLk\",oauth_nonce=\"abcdefghijklmnopqrstuvwxyz012345\","
            "oauth_signature_method=\"HMAC-SHA1\",oauth_timestamp=\"1500000000\",oauth_version=\"1.0\","
            "oauth_signature=\"FIkhimf4pDTItPqqdrjE7Dz7rMU%3D\"");
}

TEST(OAuth1Vector, BaseStringFromParameters) {
  const Params p{{"oauth_version", "1.0"},
                 {"oauth_timestamp", "1500000000"},
                 {"oauth_signature_method", "HMAC-SHA1"},
                 {"oauth_nonce", "abcdefghijklmnopqrstuvwxyz012345"},
                 {"oauth_consumer_key", kKey},
                 {"oauth_callback", "scope=&appid=myappid&mgrev=NJS1b&verifier=mygear"},
                 {"oauth_signature", "ignored"}};
  EXPECT_EQ(signature_base_string("post", base_string_uri("HTTP", "GA.NETPIE.IO:8080", "/api/rtoken"), p),
            kVectorBase);
  EXPECT_EQ(sign_hmac_sha1(kVectorBase, kSecret, ""), "FIkhimf4pDTItPqqdrjE7Dz7rMU=");
}

TEST(OAuth1Vector, ServerVerifiesTheNodeHeader) {
  const SignedRequest s = sign_request(vector_request());
  const Params p = header_params(s.authorization);
  EXPECT_EQ(*http::find_param(p, "oauth_callback"), "scope=&appid=myappid&mgrev=NJS1b&verifier=mygear");
  EXPECT_EQ(
      verify_hmac_sha1("POST", base_string_uri("http", "ga.netpie.io:8080", "/api/rtoken"), p, kSecret, ""),
      Verdict::Ok);
}

// ---- RFC 5849 examples ----

TEST(OAuth1Rfc5849, Section1_2PhotosExample) {
  const std::string header =
      "OAuth realm=\"Photos\", oauth_consumer_key=\"dpf43f3p2l4k3l03\", oauth_token=\"nnch734d00sl2jdk\", "
      "oauth_signature_method=\"HMAC-SHA1\", oauth_timestamp=\"137131202\", oauth_nonce=\"chapoH\", "
      "oauth_signature=\"MdpQcU8iPSUjWoN%2FUDMsK2sui9I%3D\"";
  const auto h = parse_authorization(header);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->realm, "Photos");
  const Params query = http::parse_query("file=vacation.jpg&size=original");
  const Params all = gather_params(&h.value(), query, nullptr);
  EXPECT_EQ(verify_hmac_sha1("GET", "http://photos.example.net/photos", all, "kd94hf93k423kf44",
                             "pfkkdhi9sl3r4s00"),
            Verdict::Ok);
}

TEST(OAuth1Rfc5849, Section3_4_1_1BaseStringWithQueryAndFormBody) {
  const auto h = parse_authorization(
      "OAuth realm=\"Example\", oauth_consumer_key=\"9djdj82h48djs9d2\", oauth_token=\"kkk9d7dh3k39sjv7\", "
      "oauth_signature_method=\"HMAC-SHA1\", oauth_timestamp=\"137131201\", oauth_nonce=\"7d8f3e4a\", "
      "oauth_signature=\"bYT5CMsGcbgUdFHObYMEfcx6bsw%3D\"");
  ASSERT_TRUE(h.ok());
  const Params query = http::parse_query("b5=%3D%253D&a3=a&c%40=&a2=r%20b");
  const Params body = http::parse_query("c2&a3=2+q");
  EXPECT_EQ(
      signature_base_string("POST", base_string_uri("http", "example.com", "/request"),
                            gather_params(&h.value(), query, &body)),
      "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26b5%3D%253D%25253D%26c%"
      "2540%"
      "3D%26c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_method%"
      "3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk9d7dh3k39sjv7");
}

// ---- Each client's header ----

TEST(OAuth1Clients, Esp8266AtokenWithUnencodedValues) {
  // Shape of microgear-esp8266-arduino AuthClient.cpp: the callback's separators are encoded but
  // appid/scope/verifier are written raw (here scope "r:/topic"), no spaces, signature encoded.
  const std::string header =
      "OAuth oauth_callback=\"appid%3Dmyappid%26mgrev%3DE8A1b%26scope%3Dr:/topic%26verifier%3Despgear\","
      "oauth_consumer_key=\"sXfqDcXHzbFXiLk\",oauth_nonce=\"0123456789abcdef\",oauth_signature_method=\"HMAC-"
      "SHA1\","
      "oauth_timestamp=\"1500000100\",oauth_token=\"R3qT0k3nAbCdEf12\",oauth_verifier=\"espgear\","
      "oauth_version=\"1.0\",oauth_signature=\"nQf7KMZpnk19oeiSMt6O9BhghQ0%3D\"";
  const Params p = header_params(header);
  EXPECT_EQ(*http::find_param(p, "oauth_callback"),
            "appid=myappid&mgrev=E8A1b&scope=r:/topic&verifier=espgear");
  EXPECT_EQ(verify_hmac_sha1("POST", kAtokenUri, p, kSecret, "RqS3cr3tRqS3cr3tRqS3cr3tRqS3cr3t"),
            Verdict::Ok);
  // The request-token secret is part of the key: without it the signature fails.
  EXPECT_EQ(verify_hmac_sha1("POST", kAtokenUri, p, kSecret, ""), Verdict::BadSignature);
}

TEST(OAuth1Clients, RtosRequestEndToEnd) {
  // microgear-esp8266-rtos AuthClient.c: "HTTP 1.1", constant nonce, header built by concatenation,
  // '+', '/', '=' of the signature percent-encoded, no Content-Length.
  const std::string bytes =
      "POST /api/rtoken HTTP 1.1\r\n"
      "Authorization: OAuth "
      "oauth_callback=\"scope%3D%26appid%3Dmyappid%26mgrev%3DE8R1a%26verifier%3Drtosgear\","
      "oauth_consumer_key=\"sXfqDcXHzbFXiLk\",oauth_nonce=\"sdjkjdf8\",oauth_signature_method=\"HMAC-SHA1\","
      "oauth_timestamp=\"1500000200\",oauth_version=\"1.0\","
      "oauth_signature=\"%2Fox5Ams5CRLDXINJzyJY%2BM3WvrY%3D\"\r\n"
      "Host: ga.netpie.io:8080\r\nConnection: close\r\nUser-Agent: E8R\r\n\r\n";
  http::RequestParser parser;
  ASSERT_EQ(parser.feed(bytes).status, http::ParseStatus::Complete);
  const http::Request req = parser.take_request();
  EXPECT_TRUE(req.version_repaired);
  const auto h = parse_authorization(req.headers.get("authorization"));
  ASSERT_TRUE(h.ok());
  const Params all = gather_params(&h.value(), req.query_params, nullptr);
  const std::string uri = base_string_uri("http", req.headers.get("Host"), req.path);
  EXPECT_EQ(uri, kRtokenUri);
  EXPECT_EQ(*http::find_param(all, "oauth_signature"), "/ox5Ams5CRLDXINJzyJY+M3WvrY=");
  EXPECT_EQ(verify_hmac_sha1(req.method, uri, all, kSecret, ""), Verdict::Ok);
  // Verification keeps no state: the same constant nonce verifies again.
  EXPECT_EQ(verify_hmac_sha1(req.method, uri, all, kSecret, ""), Verdict::Ok);
}

TEST(OAuth1Clients, PythonOauth2WithRealmOnALanAddress) {
  // python-oauth2 to_header(realm="NETPIE"): realm first, ", " separators; signed for the gateway's
  // address given to setConfig("GEARAUTH", ...).
  const std::string header =
      "OAuth realm=\"NETPIE\", oauth_nonce=\"12345678\", oauth_timestamp=\"1500000300\", "
      "oauth_consumer_key=\"sXfqDcXHzbFXiLk\", oauth_signature_method=\"HMAC-SHA1\", oauth_version=\"1.0\", "
      "oauth_signature=\"MM60oIJxLmTzG4rSahJgw3fYS44%3D\", "
      "oauth_callback=\"scope%3D%26mgrev%3DPY11k%26appid%3Dmyappid%26verifier%3DPY11k\"";
  const auto h = parse_authorization(header);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->realm, "NETPIE");
  EXPECT_EQ(http::find_param(h->params, "realm"), nullptr);
  const std::string uri = base_string_uri("http", "192.168.1.10:8080", "/api/rtoken");
  EXPECT_EQ(verify_hmac_sha1("POST", uri, h->params, kSecret, ""), Verdict::Ok);
  // Signed for another host or port: rejected (the host is part of the base string, §11.6).
  EXPECT_EQ(verify_hmac_sha1("POST", kRtokenUri, h->params, kSecret, ""), Verdict::BadSignature);
  EXPECT_EQ(verify_hmac_sha1("POST", "http://192.168.1.10:8081/api/rtoken", h->params, kSecret, ""),
            Verdict::BadSignature);
}

TEST(OAuth1Clients, ParametersInTheFormBodyAsOldPythonSentThem) {
  // Early microgear-python posted the OAuth parameters as a form body instead of a header.
  const SignedRequest s = sign_request(vector_request());
  Params body = header_params(s.authorization);
  const std::string form = http::build_query(body);
  const Params parsed_body = http::parse_query(form);
  EXPECT_EQ(verify_hmac_sha1("POST", kRtokenUri, gather_params(nullptr, {}, &parsed_body), kSecret, ""),
            Verdict::Ok);
}

// ---- Rejections ----

TEST(OAuth1Reject, ForgedSignatureWrongSecretsAndWrongMethod) {
  const Params good = header_params(sign_request(vector_request()).authorization);
  Params forged = good;
  for (Param& p : forged) {
    if (p.name == "oauth_signature") p.value[0] = p.value[0] == 'A' ? 'B' : 'A';
  }
  EXPECT_EQ(verify_hmac_sha1("POST", kRtokenUri, forged, kSecret, ""), Verdict::BadSignature);
  EXPECT_EQ(verify_hmac_sha1("POST", kRtokenUri, good, "DNonzg2ivwS8ceksykGntrfQjxbL99", ""),
            Verdict::BadSignature);
  EXPECT_EQ(verify_hmac_sha1("POST", kRtokenUri, good, kSecret, "unexpected-token-secret"),
            Verdict::BadSignature);
  EXPECT_EQ(verify_hmac_sha1("GET", kRtokenUri, good, kSecret, ""), Verdict::BadSignature);
  Params tampered = good;
  for (Param& p : tampered) {
    if (p.name == "oauth_callback") p.value = "scope=rw:/&appid=myappid&mgrev=NJS1b&verifier=mygear";
  }
  EXPECT_EQ(verify_hmac_sha1("POST", kRtokenUri, tampered, kSecret, ""), Verdict::BadSignature);
  Params truncated = good;
  for (Param& p : truncated) {
    if (p.name == "oauth_signature") p.value.pop_back();
  }
  EXPECT_EQ(verify_hmac_sha1("POST", kRtokenUri, truncated, kSecret, ""), Verdict::BadSignature);
}

TEST(OAuth1Reject, MissingDuplicateUnsupported) {
  const Params good = header_params(sign_request(vector_request()).authorization);
  for (const char* required : {"oauth_signature", "oauth_signature_method", "oauth_consumer_key",
                               "oauth_timestamp", "oauth_nonce"}) {
    Params p;
    for (const Param& q : good) {
      if (q.name != required) p.push_back(q);
    }
    EXPECT_EQ(verify_hmac_sha1("POST", kRtokenUri, p, kSecret, ""), Verdict::MissingParam) << required;
  }
  Params dup = good;
  dup.push_back({"oauth_nonce", "another"});
  EXPECT_EQ(verify_hmac_sha1("POST", kRtokenUri, dup, kSecret, ""), Verdict::DuplicateParam);
  Params plaintext = good;
  for (Param& p : plaintext) {
    if (p.name == "oauth_signature_method") p.value = "PLAINTEXT";
  }
  EXPECT_EQ(verify_hmac_sha1("POST", kRtokenUri, plaintext, kSecret, ""),
            Verdict::UnsupportedSignatureMethod);
  Params v2 = good;
  for (Param& p : v2) {
    if (p.name == "oauth_version") p.value = "2.0";
  }
  EXPECT_EQ(verify_hmac_sha1("POST", kRtokenUri, v2, kSecret, ""), Verdict::UnsupportedVersion);
  // oauth_version is optional (RFC 5849 §3.1).
  Params no_version;
  for (const Param& q : good) {
    if (q.name != "oauth_version") no_version.push_back(q);
  }
  EXPECT_EQ(verify_hmac_sha1("POST", kRtokenUri, no_version, kSecret, ""), Verdict::BadSignature);
}

// ---- Header parsing tolerance ----

TEST(OAuth1Header, ToleratedShapes) {
  const auto h = parse_authorization("  oauth   a = \"1\" ,b=2,,  c=\"x y\"   d=\"%41+\" realm=R");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->params, (Params{{"a", "1"}, {"b", "2"}, {"c", "x y"}, {"d", "A+"}}));
  EXPECT_EQ(h->realm, "R");
  const auto empty = parse_authorization("OAuth");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->params.empty());
  const auto empty_value = parse_authorization("OAuth oauth_token=\"\",x=");
  ASSERT_TRUE(empty_value.ok());
  EXPECT_EQ(empty_value->params, (Params{{"oauth_token", ""}, {"x", ""}}));
}

TEST(OAuth1Header, Errors) {
  EXPECT_EQ(parse_authorization("Basic YTpi").error(), HeaderError::NotOAuth);
  EXPECT_EQ(parse_authorization("").error(), HeaderError::NotOAuth);
  EXPECT_EQ(parse_authorization("OAuthx a=1").error(), HeaderError::NotOAuth);
  EXPECT_EQ(parse_authorization("OAuth a=\"1").error(), HeaderError::Malformed);
  EXPECT_EQ(parse_authorization("OAuth a").error(), HeaderError::Malformed);
  EXPECT_EQ(parse_authorization("OAuth =1").error(), HeaderError::Malformed);
  EXPECT_EQ(parse_authorization("OAuth \"a\"=1").error(), HeaderError::Malformed);
  EXPECT_EQ(parse_authorization("OAuth a=1, a=2").error(), HeaderError::DuplicateParam);
  EXPECT_EQ(parse_authorization("OAuth realm=a, realm=b").error(), HeaderError::DuplicateParam);
  std::string many = "OAuth";
  for (int i = 0; i <= static_cast<int>(kMaxHeaderParams); ++i) many += " p" + std::to_string(i) + "=1";
  EXPECT_EQ(parse_authorization(many).error(), HeaderError::TooManyParams);
}

// ---- Base string URI and timestamps ----

TEST(OAuth1BaseUri, Normalisation) {
  EXPECT_EQ(base_string_uri("http", "ga.netpie.io:8080", "/api/rtoken"), kRtokenUri);
  EXPECT_EQ(base_string_uri("https", "ga.netpie.io:8081", "/api/atoken"),
            "https://ga.netpie.io:8081/api/atoken");
  EXPECT_EQ(base_string_uri("HTTP", "Example.COM:80", "/r"), "http://example.com/r");
  EXPECT_EQ(base_string_uri("https", "example.com:443", "/r"), "https://example.com/r");
  EXPECT_EQ(base_string_uri("http", "example.com:443", "/r"), "http://example.com:443/r");
  EXPECT_EQ(base_string_uri("http", "example.com", ""), "http://example.com/");
  EXPECT_EQ(base_string_uri("http", "[FE80::1]:8080", "/a"), "http://[fe80::1]:8080/a");
  EXPECT_EQ(base_string_uri("http", "[::1]", "/a"), "http://[::1]/a");
}

TEST(OAuth1Timestamp, Window) {
  constexpr std::int64_t now = 1500000000;
  EXPECT_EQ(check_timestamp("1500000000", now, 300, 60), TimestampCheck::Ok);
  EXPECT_EQ(check_timestamp("1499999700", now, 300, 60), TimestampCheck::Ok);
  EXPECT_EQ(check_timestamp("1499999699", now, 300, 60), TimestampCheck::TooOld);
  EXPECT_EQ(check_timestamp("1500000060", now, 300, 60), TimestampCheck::Ok);
  EXPECT_EQ(check_timestamp("1500000061", now, 300, 60), TimestampCheck::TooNew);
  EXPECT_EQ(check_timestamp("", now, 300, 60), TimestampCheck::Malformed);
  EXPECT_EQ(check_timestamp("-5", now, 300, 60), TimestampCheck::Malformed);
  EXPECT_EQ(check_timestamp("15e8", now, 300, 60), TimestampCheck::Malformed);
  EXPECT_EQ(check_timestamp("1234567890123456789", now, 300, 60), TimestampCheck::Malformed);
  EXPECT_EQ(check_timestamp("999999999999999999", now, 300, 60), TimestampCheck::TooNew);
  EXPECT_EQ(check_timestamp("0", now, 300, 60), TimestampCheck::TooOld);
  // No overflow at the extremes.
  EXPECT_EQ(check_time_window(-1, INT64_MIN, INT64_MAX, INT64_MAX), TimestampCheck::Ok);     // 2^63 - 1 ahead
  EXPECT_EQ(check_time_window(0, INT64_MIN, INT64_MAX, INT64_MAX), TimestampCheck::TooNew);  // 2^63 ahead
  EXPECT_EQ(check_time_window(INT64_MAX, INT64_MIN, 0, 0), TimestampCheck::TooNew);
  EXPECT_EQ(check_time_window(INT64_MIN, INT64_MAX, 0, 0), TimestampCheck::TooOld);
}

TEST(OAuth1Client, AtokenRequestCarriesTokenVerifierAndRealm) {
  ClientRequest r = vector_request();
  r.base_uri = kAtokenUri;
  r.callback.reset();
  r.token = "R3qT0k3nAbCdEf12";
  r.token_secret = "RqS3cr3tRqS3cr3tRqS3cr3tRqS3cr3t";
  r.verifier = "mygear";
  r.realm = "NETPIE";
  const SignedRequest s = sign_request(r);
  EXPECT_EQ(s.authorization.rfind("OAuth realm=\"NETPIE\",oauth_consumer_key=", 0), 0u);
  const auto h = parse_authorization(s.authorization);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(*http::find_param(h->params, "oauth_token"), "R3qT0k3nAbCdEf12");
  EXPECT_EQ(*http::find_param(h->params, "oauth_verifier"), "mygear");
  EXPECT_EQ(verify_hmac_sha1("POST", kAtokenUri, h->params, kSecret, r.token_secret), Verdict::Ok);
}

// ---- From a parsed HTTP request ----

http::Request parse_http(std::string_view bytes) {
  http::RequestParser parser;
  EXPECT_EQ(parser.feed(bytes).status, http::ParseStatus::Complete);
  return parser.take_request();
}

TEST(OAuth1Request, NodeRequestWithFormContentTypeAndEmptyBody) {
  const std::string bytes =
      "POST /api/rtoken HTTP/1.1\r\nHost: ga.netpie.io:8080\r\nAuthorization: " +
      sign_request(vector_request()).authorization +
      "\r\nContent-length: 0\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\n";
  const http::Request req = parse_http(bytes);
  EXPECT_EQ(request_base_uri(req, "http", "unused"), kRtokenUri);
  EXPECT_EQ(verify_request(req, "http", "unused", kSecret, ""), Verdict::Ok);
  EXPECT_EQ(verify_request(req, "https", "unused", kSecret, ""), Verdict::BadSignature);
}

TEST(OAuth1Request, HostlessRequestUsesTheConfiguredHost) {
  const std::string bytes =
      "POST /api/rtoken HTTP/1.1\r\nAuthorization: " + sign_request(vector_request()).authorization +
      "\r\n\r\n";
  const http::Request req = parse_http(bytes);
  EXPECT_EQ(verify_request(req, "http", "ga.netpie.io:8080", kSecret, ""), Verdict::Ok);
  EXPECT_EQ(verify_request(req, "http", "ga.netpie.io", kSecret, ""), Verdict::BadSignature);
}

TEST(OAuth1Request, AbsoluteFormAuthorityWinsOverHost) {
  const std::string bytes =
      "POST http://ga.netpie.io:8080/api/rtoken HTTP/1.1\r\nHost: proxy:3128\r\nAuthorization: " +
      sign_request(vector_request()).authorization + "\r\n\r\n";
  EXPECT_EQ(verify_request(parse_http(bytes), "http", "x", kSecret, ""), Verdict::Ok);
}

TEST(OAuth1Request, ParametersInAFormBodyAndInTheQuery) {
  ClientRequest c = vector_request();
  c.extra = {{"extra", "a b"}};
  const SignedRequest s = sign_request(c);
  Params body = header_params(s.authorization);
  const std::string form = http::build_query(body);
  // All OAuth parameters in the body, the extra one in the query.
  const std::string bytes =
      "POST /api/rtoken?extra=a+b HTTP/1.1\r\nHost: ga.netpie.io:8080\r\n"
      "Content-Type: application/x-www-form-urlencoded; charset=utf-8\r\nContent-Length: " +
      std::to_string(form.size()) + "\r\n\r\n" + form;
  EXPECT_EQ(verify_request(parse_http(bytes), "http", "x", kSecret, ""), Verdict::Ok);
  // The same body under another content type is not part of the signature.
  const std::string other =
      "POST /api/rtoken?extra=a+b HTTP/1.1\r\nHost: ga.netpie.io:8080\r\n"
      "Content-Type: text/plain\r\nContent-Length: " +
      std::to_string(form.size()) + "\r\n\r\n" + form;
  EXPECT_EQ(verify_request(parse_http(other), "http", "x", kSecret, ""), Verdict::MissingParam);
}

TEST(OAuth1Request, NonOAuthOrBrokenHeader) {
  EXPECT_EQ(verify_request(parse_http("POST /api/rtoken HTTP/1.1\r\nAuthorization: Basic YTpi\r\n\r\n"),
                           "http", "h", kSecret, ""),
            Verdict::MissingParam);
  EXPECT_EQ(request_params(parse_http("POST / HTTP/1.1\r\nAuthorization: OAuth a=\"1\r\n\r\n")).error(),
            HeaderError::Malformed);
}

}  // namespace
}  // namespace gw::microgear
