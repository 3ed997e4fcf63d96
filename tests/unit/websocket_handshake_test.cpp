// The WebSocket opening handshake (RFC 6455 §4) on the HTTP request parser: the §1.3 accept-key example, the
// upgrade as browsers, MQTT.js and the HTML5 microgear's Paho send it, sub-protocol choice, and each refusal
// with its status (404, 405, 426, 400). Frames sent right behind the request stay unparsed for the WebSocket
// decoder.
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "protocols/http/request_parser.hpp"
#include "protocols/websocket/handshake.hpp"

namespace gw::websocket {
namespace {

const ServerOptions kMqtt{{"/", "/mqtt"}, {"mqtt", "mqttv3.1"}};

http::Request parse(std::string_view wire, std::size_t* rest = nullptr) {
  http::RequestParser p;
  const http::FeedResult r = p.feed(wire);
  EXPECT_EQ(r.status, http::ParseStatus::Complete) << wire;
  if (rest) *rest = wire.size() - r.consumed;
  return p.take_request();
}

std::string request(std::string_view extra_headers, std::string_view path = "/mqtt",
                    std::string_view method = "GET") {
  std::string s;
  s.append(method).append(" ").append(path).append(" HTTP/1.1\r\nHost: 127.0.0.1:8083\r\n");
  s.append(extra_headers).append("\r\n");
  return s;
}

constexpr std::string_view kGood =
    "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n";

TEST(WebSocketHandshake, Rfc6455AcceptKey) {
  EXPECT_EQ(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");  // RFC 6455 §1.3
}

TEST(WebSocketHandshake, AcceptsTheMqttSubProtocolAndLeavesFramesBehindTheRequest) {
  std::size_t rest = 0;
  const std::string wire =
      request(std::string(kGood) + "Sec-WebSocket-Protocol: mqtt\r\nOrigin: http://127.0.0.1\r\n") +
      "\x82\x80";
  const http::Request req = parse(wire, &rest);
  EXPECT_TRUE(req.upgrade);
  EXPECT_EQ(rest, 2u);  // the frame bytes after the request are not the HTTP parser's
  const HandshakeResult r = accept_upgrade(req, kMqtt);
  ASSERT_TRUE(r.ok) << r.what;
  EXPECT_EQ(r.accepted.subprotocol, "mqtt");
  EXPECT_EQ(r.accepted.path, "/mqtt");
  const std::string out = http::to_string(r.response);
  EXPECT_EQ(out.rfind("HTTP/1.1 101 Switching Protocols\r\n", 0), 0u) << out;
  EXPECT_NE(out.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), std::string::npos);
  EXPECT_NE(out.find("Sec-WebSocket-Protocol: mqtt\r\n"), std::string::npos);
  EXPECT_NE(out.find("Upgrade: websocket\r\n"), std::string::npos);
  EXPECT_EQ(out.find("Content-Length"), std::string::npos);  // RFC 9110 §8.6: none on 1xx
  EXPECT_EQ(out.substr(out.size() - 4), "\r\n\r\n");
}

TEST(WebSocketHandshake, SubProtocolChoice) {
  // Paho's fallback offers mqttv3.1 alone; a list and repeated header lines are read in the client's order.
  auto chosen = [](std::string_view protocols) {
    const HandshakeResult r =
        accept_upgrade(parse(request(std::string(kGood) + std::string(protocols))), kMqtt);
    return r.ok ? r.accepted.subprotocol : std::string("refused ") + std::to_string(r.response.status);
  };
  EXPECT_EQ(chosen("Sec-WebSocket-Protocol: mqttv3.1\r\n"), "mqttv3.1");
  EXPECT_EQ(chosen("Sec-WebSocket-Protocol: wamp, mqttv3.1, mqtt\r\n"), "mqttv3.1");
  EXPECT_EQ(chosen("Sec-WebSocket-Protocol: wamp\r\nSec-WebSocket-Protocol: mqtt\r\n"), "mqtt");
  EXPECT_EQ(chosen(""), "");                                             // none offered: none answered
  EXPECT_EQ(chosen("Sec-WebSocket-Protocol: MQTT\r\n"), "refused 400");  // names compare as sent
  EXPECT_EQ(chosen("Sec-WebSocket-Protocol: wamp\r\n"), "refused 400");
  const HandshakeResult r =
      accept_upgrade(parse(request(std::string(kGood) + "Sec-WebSocket-Protocol: x\r\n")), kMqtt);
  EXPECT_NE(r.response.body.find("spoken: mqtt mqttv3.1"), std::string::npos) << r.response.body;
  // A server answer without the header for an offered list never happens (the browser would fail it).
  EXPECT_EQ(
      http::to_string(accept_upgrade(parse(request(kGood)), kMqtt).response).find("Sec-WebSocket-Protocol"),
      std::string::npos);
}

TEST(WebSocketHandshake, PathsAndListTokens) {
  EXPECT_TRUE(accept_upgrade(parse(request(kGood, "/")), kMqtt).ok);
  EXPECT_TRUE(accept_upgrade(parse(request(kGood, "/mqtt?x=1")), kMqtt).ok);  // the query is not the path
  // Firefox sends "Connection: keep-alive, Upgrade"; tokens are case-insensitive.
  EXPECT_TRUE(accept_upgrade(parse(request("Upgrade: WebSocket\r\nConnection: keep-alive, upgrade\r\n"
                                           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                           "Sec-WebSocket-Version: 13\r\n")),
                             kMqtt)
                  .ok);
}

TEST(WebSocketHandshake, RefusalsCarryTheirStatus) {
  struct Case {
    const char* name;
    std::string wire;
    int status;
    const char* header;  // a header the answer must carry, or null
  };
  const Case cases[] = {
      {"other path", request(kGood, "/other"), 404, nullptr},
      {"path prefix", request(kGood, "/mqtt/x"), 404, nullptr},
      {"POST", request(std::string(kGood) + "Content-Length: 0\r\n", "/mqtt", "POST"), 405, nullptr},
      {"no key", request("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"), 400,
       nullptr},
      {"key not 16 bytes",
       request("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Key: c2hvcnQ=\r\n"),
       400, nullptr},
      {"key not base64",
       request("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!!!\r\n"),
       400, nullptr},
      {"version 8",
       request("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"),
       426, "Sec-WebSocket-Version: 13\r\n"},
      {"no version",
       request("Upgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"),
       426, "Sec-WebSocket-Version: 13\r\n"},
      {"plain GET", request(""), 426, "Upgrade: websocket\r\n"},
      {"no Connection: Upgrade",
       request("Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"),
       400, nullptr},
  };
  for (const Case& c : cases) {
    const HandshakeResult r = accept_upgrade(parse(c.wire), kMqtt);
    EXPECT_FALSE(r.ok) << c.name;
    EXPECT_EQ(r.response.status, c.status) << c.name;
    EXPECT_TRUE(r.response.close) << c.name;
    if (c.header) {
      EXPECT_NE(http::to_string(r.response).find(c.header), std::string::npos) << c.name;
    }
  }
  // HTTP/1.0 cannot upgrade.
  const std::string v10 = "GET /mqtt HTTP/1.0\r\n" + std::string(kGood) + "\r\n";
  EXPECT_EQ(accept_upgrade(parse(v10), kMqtt).response.status, 400);
}

TEST(WebSocketHandshake, ClientRequestIsAcceptedByTheServerSide) {
  const std::string nonce = "0123456789abcdef";
  const std::string wire = client_request("127.0.0.1:8083", "/mqtt", nonce, {"mqtt"});
  const HandshakeResult r = accept_upgrade(parse(wire), kMqtt);
  ASSERT_TRUE(r.ok) << r.what;
  EXPECT_EQ(r.accepted.subprotocol, "mqtt");
  EXPECT_EQ(r.response.headers.get("Sec-WebSocket-Accept"), accept_key(client_key(nonce)));
}

}  // namespace
}  // namespace gw::websocket
