// RequestParser against the requests the NETPIE clients really send (docs/netpie-protocol.md §3.2, §4):
// ESP8266's Host-less GETs, RTOS's "HTTP 1.1" request line, byte-by-byte delivery, pipelining, and the limit
// errors with their status codes.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "protocols/http/request_parser.hpp"

namespace gw::http {
namespace {

using namespace std::string_view_literals;

// Feeds `bytes` in chunks of `chunk` and collects every completed request; stops at an error.
struct Outcome {
  std::vector<Request> requests;
  ParseStatus last = ParseStatus::NeedMore;
  Error error;
};

Outcome run(RequestParser& p, std::string_view bytes, std::size_t chunk = 1 << 20) {
  Outcome out;
  while (!bytes.empty()) {
    std::string_view piece = bytes.substr(0, chunk);
    while (!piece.empty()) {
      const FeedResult r = p.feed(piece);
      out.last = r.status;
      piece.remove_prefix(r.consumed);
      bytes.remove_prefix(r.consumed);
      if (r.status == ParseStatus::Complete) {
        out.requests.push_back(p.take_request());
      } else if (r.status == ParseStatus::Error) {
        out.error = p.error();
        return out;
      } else if (r.status == ParseStatus::Closed) {
        return out;
      } else {
        EXPECT_TRUE(piece.empty());
        break;
      }
    }
  }
  return out;
}

Outcome run(std::string_view bytes, Limits limits = {}, std::size_t chunk = 1 << 20) {
  RequestParser p(limits);
  return run(p, bytes, chunk);
}

TEST(RequestParser, SimpleGetWithQuery) {
  const Outcome o = run("GET /api/endpoint/KEY?a=1&b=x+y HTTP/1.1\r\nHost: ga.netpie.io:8080\r\n\r\n");
  ASSERT_EQ(o.requests.size(), 1u);
  const Request& r = o.requests[0];
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.target, "/api/endpoint/KEY?a=1&b=x+y");
  EXPECT_EQ(r.path, "/api/endpoint/KEY");
  EXPECT_EQ(r.query, "a=1&b=x+y");
  EXPECT_EQ(r.query_params, (Params{{"a", "1"}, {"b", "x y"}}));
  EXPECT_EQ(r.headers.get("host"), "ga.netpie.io:8080");
  EXPECT_EQ(r.headers.get("HOST"), "ga.netpie.io:8080");
  EXPECT_EQ(r.version_minor, 1);
  EXPECT_TRUE(r.keep_alive);
  EXPECT_FALSE(r.version_repaired);
  EXPECT_TRUE(r.body.empty());
}

TEST(RequestParser, PostWithBodyAsNodeOauthSendsIt) {
  const std::string body = "data=temp:25.7,humid:52.4";
  const std::string req =
      "PUT /feed/F1?apikey=K HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  const Outcome o = run(req);
  ASSERT_EQ(o.requests.size(), 1u);
  EXPECT_EQ(o.requests[0].method, "PUT");
  EXPECT_EQ(o.requests[0].body, body);
  EXPECT_FALSE(o.requests[0].chunked);
}

TEST(RequestParser, Esp8266GetWithoutHostIsAccepted) {
  // ESP8266/Arduino-Ethernet: "GET /api/time HTTP/1.1" and an empty line, nothing else
  // (docs/netpie-protocol.md §4).
  const Outcome o = run("GET /api/time HTTP/1.1\r\n\r\n");
  ASSERT_EQ(o.requests.size(), 1u);
  EXPECT_EQ(o.requests[0].path, "/api/time");
  EXPECT_FALSE(o.requests[0].headers.has("Host"));
  EXPECT_TRUE(o.requests[0].keep_alive);
}

TEST(RequestParser, RtosHttpSpaceVersionIsRepaired) {
  // ESP8266-RTOS AuthClient.c: request line "POST /api/rtoken HTTP 1.1", no Content-Length.
  const std::string req =
      "POST /api/rtoken HTTP 1.1\r\nAuthorization: OAuth oauth_nonce=\"sdjkjdf8\"\r\n"
      "Host: ga.netpie.io:8080\r\nConnection: close\r\nUser-Agent: E8R\r\n\r\n";
  const Outcome o = run(req);
  ASSERT_EQ(o.requests.size(), 1u);
  const Request& r = o.requests[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.path, "/api/rtoken");
  EXPECT_EQ(r.version_minor, 1);
  EXPECT_TRUE(r.version_repaired);
  EXPECT_FALSE(r.keep_alive);
  EXPECT_EQ(r.headers.get("user-agent"), "E8R");
  EXPECT_EQ(r.headers.get("Authorization"), "OAuth oauth_nonce=\"sdjkjdf8\"");
}

TEST(RequestParser, RepairAppliesOnlyToTheRequestLine) {
  const Outcome o = run("GET / HTTP/1.1\r\nX-Note: HTTP 1.1\r\n\r\n");
  ASSERT_EQ(o.requests.size(), 1u);
  EXPECT_FALSE(o.requests[0].version_repaired);
  EXPECT_EQ(o.requests[0].headers.get("x-note"), "HTTP 1.1");
}

TEST(RequestParser, ByteByByteGivesTheSameRequest) {
  const std::string req =
      "POST /api/atoken HTTP/1.1\r\nHost: ga.netpie.io:8080\r\nAuthorization: OAuth a=\"1\", b=\"2\"\r\n"
      "Content-length: 5\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\nx=1&y";
  const Outcome whole = run(req);
  const Outcome bytewise = run(req, {}, 1);
  ASSERT_EQ(whole.requests.size(), 1u);
  ASSERT_EQ(bytewise.requests.size(), 1u);
  const Request& a = whole.requests[0];
  const Request& b = bytewise.requests[0];
  EXPECT_EQ(a.method, b.method);
  EXPECT_EQ(a.target, b.target);
  EXPECT_EQ(a.body, "x=1&y");
  EXPECT_EQ(b.body, "x=1&y");
  ASSERT_EQ(a.headers.size(), 4u);
  ASSERT_EQ(b.headers.size(), 4u);
  for (std::size_t i = 0; i < a.headers.size(); ++i) {
    EXPECT_EQ(a.headers.all()[i].name, b.headers.all()[i].name);
    EXPECT_EQ(a.headers.all()[i].value, b.headers.all()[i].value);
  }
}

TEST(RequestParser, RtosLineByteByByte) {
  const Outcome o = run("POST /api/atoken HTTP 1.1\r\nHost: h\r\n\r\n", {}, 1);
  ASSERT_EQ(o.requests.size(), 1u);
  EXPECT_TRUE(o.requests[0].version_repaired);
}

TEST(RequestParser, PipelinedRequestsComeOutOneAtATime) {
  const std::string two =
      "GET /api/time HTTP/1.1\r\n\r\n"
      "POST /api/rtoken HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
      "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n";
  RequestParser p;
  std::string_view rest = two;
  FeedResult r = p.feed(rest);
  ASSERT_EQ(r.status, ParseStatus::Complete);
  rest.remove_prefix(r.consumed);
  EXPECT_EQ(rest.substr(0, 4), "POST");
  // While the request is not taken the parser holds still.
  EXPECT_EQ(p.feed(rest).status, ParseStatus::Complete);
  EXPECT_EQ(p.feed(rest).consumed, 0u);
  EXPECT_EQ(p.take_request().path, "/api/time");
  r = p.feed(rest);
  ASSERT_EQ(r.status, ParseStatus::Complete);
  rest.remove_prefix(r.consumed);
  const Request second = p.take_request();
  EXPECT_EQ(second.path, "/api/rtoken");
  EXPECT_EQ(second.body, "abc");
  r = p.feed(rest);
  ASSERT_EQ(r.status, ParseStatus::Complete);
  rest.remove_prefix(r.consumed);
  EXPECT_TRUE(rest.empty());
  EXPECT_FALSE(p.take_request().keep_alive);
  // After "Connection: close" nothing more is parsed.
  EXPECT_EQ(p.feed("GET / HTTP/1.1\r\n\r\n").status, ParseStatus::Closed);
}

TEST(RequestParser, PipelinedByteByByte) {
  const Outcome o = run("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n", {}, 1);
  ASSERT_EQ(o.requests.size(), 2u);
  EXPECT_EQ(o.requests[0].path, "/a");
  EXPECT_EQ(o.requests[1].path, "/b");
}

TEST(RequestParser, LeadingEmptyLinesAreIgnored) {
  const Outcome o = run("\r\n\r\nGET /a HTTP/1.1\r\n\r\n");
  ASSERT_EQ(o.requests.size(), 1u);
  EXPECT_EQ(o.requests[0].path, "/a");
}

TEST(RequestParser, KeepAliveSemantics) {
  EXPECT_TRUE(run("GET / HTTP/1.1\r\n\r\n").requests.at(0).keep_alive);
  EXPECT_FALSE(run("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").requests.at(0).keep_alive);
  EXPECT_FALSE(run("GET / HTTP/1.1\r\nconnection: Close\r\n\r\n").requests.at(0).keep_alive);
  EXPECT_FALSE(run("GET / HTTP/1.0\r\n\r\n").requests.at(0).keep_alive);
  const Outcome ka10 = run("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  EXPECT_TRUE(ka10.requests.at(0).keep_alive);
  EXPECT_EQ(ka10.requests.at(0).version_minor, 0);
}

TEST(RequestParser, ChunkedBodyIsAcceptedAndDecoded) {
  const Outcome o = run(
      "PUT /topic/app/t HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
      {}, 3);
  ASSERT_EQ(o.requests.size(), 1u);
  EXPECT_TRUE(o.requests[0].chunked);
  EXPECT_EQ(o.requests[0].body, "hello world");
}

TEST(RequestParser, ChunkedBodyOverTheLimitIs413) {
  Limits l;
  l.max_body = 8;
  const Outcome o =
      run("PUT /t HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", l);
  EXPECT_TRUE(o.requests.empty());
  EXPECT_EQ(o.last, ParseStatus::Error);
  EXPECT_EQ(o.error.status, 413);
}

TEST(RequestParser, ContentLengthWithChunkedIsRefused) {
  // Request smuggling guard (RFC 9112 §6.3): both framings at once is an error.
  const Outcome o =
      run("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  EXPECT_EQ(o.last, ParseStatus::Error);
  EXPECT_EQ(o.error.status, 400);
}

TEST(RequestParser, HeaderSectionTooLargeIs431) {
  Limits l;
  l.max_header_bytes = 64;
  const Outcome o = run("GET / HTTP/1.1\r\nX-Big: " + std::string(100, 'a') + "\r\n\r\n", l);
  EXPECT_EQ(o.last, ParseStatus::Error);
  EXPECT_EQ(o.error.status, 431);
}

TEST(RequestParser, TooManyHeadersIs431) {
  Limits l;
  l.max_headers = 3;
  const Outcome o = run("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", l);
  EXPECT_EQ(o.error.status, 431);
}

TEST(RequestParser, HeaderLimitHoldsByteByByte) {
  Limits l;
  l.max_header_bytes = 64;
  const Outcome o = run("GET / HTTP/1.1\r\nX-Big: " + std::string(100, 'a') + "\r\n\r\n", l, 1);
  EXPECT_EQ(o.error.status, 431);
}

TEST(RequestParser, EndlessHeaderWhitespaceHitsHttpParserGuard) {
  // Whitespace is not counted by our callbacks; http-parser's own 80 KiB guard stops it.
  RequestParser p;
  ASSERT_EQ(p.feed("GET / HTTP/1.1\r\nX:").status, ParseStatus::NeedMore);
  const std::string spaces(4096, ' ');
  FeedResult r;
  for (int i = 0; i < 64 && r.status == ParseStatus::NeedMore; ++i) r = p.feed(spaces);
  EXPECT_EQ(r.status, ParseStatus::Error);
  EXPECT_EQ(p.error().status, 431);
}

TEST(RequestParser, BodyTooLargeIs413BeforeTheBodyArrives) {
  Limits l;
  l.max_body = 10;
  RequestParser p(l);
  const FeedResult r = p.feed("POST /api/rtoken HTTP/1.1\r\nContent-Length: 11\r\n\r\n");
  EXPECT_EQ(r.status, ParseStatus::Error);
  EXPECT_EQ(p.error().status, 413);
  // Exactly at the limit is fine.
  const Outcome ok = run("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789", l);
  ASSERT_EQ(ok.requests.size(), 1u);
}

TEST(RequestParser, UriTooLongIs414) {
  Limits l;
  l.max_url = 32;
  const Outcome o = run("GET /" + std::string(40, 'a') + " HTTP/1.1\r\n\r\n", l);
  EXPECT_EQ(o.error.status, 414);
  // Also when the line never ends.
  const Outcome endless = run("GET /" + std::string(200, 'a'), l, 7);
  EXPECT_EQ(endless.error.status, 414);
}

TEST(RequestParser, GarbageIs400) {
  EXPECT_EQ(run("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n"sv).error.status,
            400);  // a TLS ClientHello
  EXPECT_EQ(run("hello world\r\n\r\n").error.status, 400);
  EXPECT_EQ(run("GET /\r\n\r\n").error.status, 400);                 // HTTP/0.9: no version
  EXPECT_EQ(run("GET / HTTP/1.1 extra\r\n\r\n").error.status, 400);  // bad version token
  EXPECT_EQ(run("GET /a b HTTP/1.1\r\n\r\n").error.status, 400);     // space in target
  EXPECT_EQ(run("GET / HTTP/1.1\r\nNo colon here\r\n\r\n").error.status, 400);
  EXPECT_EQ(run("POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n").error.status, 400);
  EXPECT_EQ(run(std::string(5000, 'A')).error.status, 400);  // no method separator at all
}

TEST(RequestParser, OtherMajorVersionIs505) {
  EXPECT_EQ(run("GET / HTTP/2.0\r\n\r\n").error.status, 505);
  EXPECT_EQ(run("GET / HTTP/0.9\r\n\r\n").error.status, 505);
}

TEST(RequestParser, ErrorIsSticky) {
  RequestParser p;
  EXPECT_EQ(p.feed("BAD\r\n").status, ParseStatus::Error);
  EXPECT_EQ(p.feed("GET / HTTP/1.1\r\n\r\n").status, ParseStatus::Error);
  EXPECT_EQ(p.feed("GET / HTTP/1.1\r\n\r\n").consumed, 0u);
}

TEST(RequestParser, ExpectContinueIsReportedOnce) {
  RequestParser p;
  const FeedResult r = p.feed("PUT /t HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
  EXPECT_EQ(r.status, ParseStatus::NeedMore);
  EXPECT_TRUE(p.in_progress());
  EXPECT_TRUE(p.take_continue());
  EXPECT_FALSE(p.take_continue());
  ASSERT_EQ(p.feed("body").status, ParseStatus::Complete);
  EXPECT_EQ(p.take_request().body, "body");
  EXPECT_FALSE(p.in_progress());
}

TEST(RequestParser, UpgradeStopsParsingAtTheHeaders) {
  const std::string req =
      "GET /mqtt HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  RequestParser p;
  const std::string bytes = req + "\x82\x00";
  const FeedResult r = p.feed(bytes);
  ASSERT_EQ(r.status, ParseStatus::Complete);
  EXPECT_EQ(r.consumed, req.size());  // the WebSocket frame is left to the caller
  const Request up = p.take_request();
  EXPECT_TRUE(up.upgrade);
  EXPECT_EQ(p.feed("more").status, ParseStatus::Closed);
}

TEST(RequestParser, AbsoluteFormTarget) {
  const Outcome o = run("POST http://ga.netpie.io:8080/api/rtoken?x=1#frag HTTP/1.1\r\n\r\n");
  ASSERT_EQ(o.requests.size(), 1u);
  EXPECT_EQ(o.requests[0].authority, "ga.netpie.io:8080");
  EXPECT_EQ(o.requests[0].path, "/api/rtoken");
  EXPECT_EQ(o.requests[0].query, "x=1");
}

TEST(RequestParser, HeaderValuesAreTrimmedAndNamesKeptAsSent) {
  const Outcome o = run("GET / HTTP/1.1\r\nContent-length:   0  \r\nX-A:\t v \t\r\n\r\n");
  ASSERT_EQ(o.requests.size(), 1u);
  const auto& h = o.requests[0].headers.all();
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0].name, "Content-length");
  EXPECT_EQ(h[0].value, "0");
  EXPECT_EQ(h[1].value, "v");
}

TEST(RequestParser, TakeRequestWithoutACompleteRequestIsHarmless) {
  RequestParser p;
  EXPECT_EQ(p.take_request().method, "");
  EXPECT_EQ(p.feed("GET / HTTP/1.1\r\n\r\n").status, ParseStatus::Complete);
}

}  // namespace
}  // namespace gw::http
