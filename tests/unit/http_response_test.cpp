// Exact response bytes (what ESP8266 and RTOS parse by column and by "Content-Length: ",
// docs/netpie-protocol.md §4), CORS answers for the HTML5 microgear, and Basic / ?auth= credentials for the
// REST API (§9.1).
#include <gtest/gtest.h>

#include "protocols/http/basic_auth.hpp"
#include "protocols/http/request_parser.hpp"
#include "protocols/http/response.hpp"

namespace gw::http {
namespace {

Request parse_one(std::string_view bytes) {
  RequestParser p;
  const FeedResult r = p.feed(bytes);
  EXPECT_EQ(r.status, ParseStatus::Complete);
  return p.take_request();
}

TEST(Response, ExactBytesForATokenReply) {
  Response r;
  r.content_type = "application/x-www-form-urlencoded";
  r.body = "oauth_token=T&oauth_token_secret=S&oauth_callback_confirmed=true";
  r.close = true;
  EXPECT_EQ(to_string(r),
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            "Content-Length: 64\r\n"
            "Connection: close\r\n"
            "\r\n"
            "oauth_token=T&oauth_token_secret=S&oauth_callback_confirmed=true");
}

TEST(Response, StatusSitsWhereEsp8266ReadsIt) {
  // ESP8266 takes characters 9..11 of the first line as the status (AuthClient.cpp).
  const std::string s = to_string(text_response(401, "", true));
  EXPECT_EQ(s.substr(0, 9), "HTTP/1.1 ");
  EXPECT_EQ(s.substr(9, 3), "401");
  EXPECT_EQ(s,
            "HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\nContent-Length: 0\r\nConnection: "
            "close\r\n\r\n");
}

TEST(Response, EmptyBodyStillHasContentLengthAndNoConnectionHeaderWhenKeptAlive) {
  Response r;
  r.status = 404;
  EXPECT_EQ(to_string(r), "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
}

TEST(Response, ExtraHeadersInOrderAndCustomReason) {
  Response r;
  r.status = 302;
  r.reason = "Found It";
  r.headers.add("Location", "http://gw:8080/oauth2/code?code=T");
  r.headers.add("Cache-Control", "no-store");
  EXPECT_EQ(
      to_string(r),
      "HTTP/1.1 302 Found It\r\nLocation: http://gw:8080/oauth2/code?code=T\r\nCache-Control: no-store\r\n"
      "Content-Length: 0\r\n\r\n");
}

TEST(Response, HeadAnswerHasLengthButNoBody) {
  const Response r = text_response(200, "1500000000");
  EXPECT_EQ(to_string(r, true), "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\n");
}

TEST(Response, NoContentAndInformationalHaveNoLength) {
  Response r;
  r.status = 204;
  r.body = "ignored";
  EXPECT_EQ(to_string(r), "HTTP/1.1 204 No Content\r\n\r\n");
  EXPECT_EQ(kContinueResponse, "HTTP/1.1 100 Continue\r\n\r\n");
}

TEST(Response, WriteAppendsToTheCallersBuffer) {
  std::string out = "previous|";
  write_response(text_response(200, "a"), out);
  write_response(text_response(200, "b"), out);
  EXPECT_EQ(out,
            "previous|HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1\r\n\r\na"
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1\r\n\r\nb");
}

TEST(Response, ReasonPhrases) {
  EXPECT_EQ(reason_phrase(200), "OK");
  EXPECT_EQ(reason_phrase(413), "Payload Too Large");
  EXPECT_EQ(reason_phrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(reason_phrase(505), "HTTP Version Not Supported");
  EXPECT_EQ(reason_phrase(799), "Unknown");
}

TEST(Cors, PreflightFromTheHtml5Microgear) {
  const Request req = parse_one(
      "OPTIONS /api/rtoken HTTP/1.1\r\nHost: gw:8080\r\nOrigin: http://dashboard.local\r\n"
      "Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: authorization\r\n\r\n");
  ASSERT_TRUE(is_cors_preflight(req));
  const CorsPolicy policy;
  EXPECT_EQ(to_string(cors_preflight_response(req, policy)),
            "HTTP/1.1 200 OK\r\n"
            "Access-Control-Allow-Origin: *\r\n"
            "Access-Control-Allow-Methods: GET, POST, PUT, DELETE, OPTIONS\r\n"
            "Access-Control-Allow-Headers: authorization\r\n"
            "Access-Control-Max-Age: 600\r\n"
            "Content-Length: 0\r\n\r\n");
}

TEST(Cors, PlainOptionsIsNotAPreflightAndSingleOriginAddsVary) {
  EXPECT_FALSE(is_cors_preflight(parse_one("OPTIONS * HTTP/1.1\r\n\r\n")));
  EXPECT_FALSE(is_cors_preflight(parse_one("POST /api/rtoken HTTP/1.1\r\nOrigin: x\r\n\r\n")));
  Response r = text_response(200, "ok");
  CorsPolicy policy;
  policy.allow_origin = "http://dashboard.local";
  policy.expose_headers = "Content-Length";
  add_cors_headers(r, policy);
  EXPECT_EQ(r.headers.get("access-control-allow-origin"), "http://dashboard.local");
  EXPECT_EQ(r.headers.get("Vary"), "Origin");
  EXPECT_EQ(r.headers.get("Access-Control-Expose-Headers"), "Content-Length");
}

TEST(BasicAuth, ParsesKeyAndSecret) {
  // base64("sXfqDcXHzbFXiLk:DNonzg2ivwS8ceksykGntrfQjxbL98") computed with Python's base64 module.
  const auto ks = parse_basic_auth("Basic c1hmcURjWEh6YkZYaUxrOkROb256ZzJpdndTOGNla3N5a0dudHJmUWp4Ykw5OA==");
  ASSERT_TRUE(ks);
  EXPECT_EQ(ks->key, "sXfqDcXHzbFXiLk");
  EXPECT_EQ(ks->secret, "DNonzg2ivwS8ceksykGntrfQjxbL98");
  EXPECT_EQ(basic_auth_header("sXfqDcXHzbFXiLk", "DNonzg2ivwS8ceksykGntrfQjxbL98"),
            "Basic c1hmcURjWEh6YkZYaUxrOkROb256ZzJpdndTOGNla3N5a0dudHJmUWp4Ykw5OA==");
}

TEST(BasicAuth, ToleratesCaseAndSpacesRejectsOthers) {
  EXPECT_EQ(parse_basic_auth("  basic   YTpiOmM=  "), (KeySecret{"a", "b:c"}));  // "a:b:c"
  EXPECT_FALSE(parse_basic_auth("Bearer YTpi"));
  EXPECT_FALSE(parse_basic_auth("Basic"));
  EXPECT_FALSE(parse_basic_auth("Basic !!!"));
  EXPECT_FALSE(parse_basic_auth("Basic YWJj"));  // "abc": no colon
  EXPECT_FALSE(parse_basic_auth("BasicYTpi"));   // no separator after the scheme
  EXPECT_FALSE(parse_basic_auth("Basic OmI="));  // ":b": empty key
}

TEST(BasicAuth, QueryAuthParameter) {
  EXPECT_EQ(parse_auth_param("KEY:SECRET"), (KeySecret{"KEY", "SECRET"}));
  EXPECT_FALSE(parse_auth_param("KEYSECRET"));
  const Request q = parse_one("PUT /topic/app/t?retain&auth=K%3AS HTTP/1.1\r\n\r\n");
  EXPECT_EQ(request_credentials(q), (KeySecret{"K", "S"}));
  const Request h = parse_one("PUT /topic/app/t?auth=Q:R HTTP/1.1\r\nAuthorization: Basic YTpi\r\n\r\n");
  EXPECT_EQ(request_credentials(h), (KeySecret{"a", "b"}));  // the header wins
  EXPECT_FALSE(request_credentials(parse_one("GET / HTTP/1.1\r\n\r\n")));
}

}  // namespace
}  // namespace gw::http
