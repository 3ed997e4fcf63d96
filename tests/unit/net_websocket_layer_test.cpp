// The WebSocket layer (gateway/net/websocket_layer.hpp) in a transport stack over memory: the upgrade and
// frames in one read, MQTT bytes split across frames and reads, frames out, ping, the peer's Close echoed,
// the protocol's close, and each kind of bad input answered (HTTP status or close code) before the stack
// fails, with nothing of it reaching the protocol.
#include "gateway/net/websocket_layer.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

#include "protocols/http/request_parser.hpp"

namespace gw::net {
namespace {

constexpr std::array<std::uint8_t, 4> kMask{1, 2, 3, 4};

struct Harness {
  std::string wire;  // what the layer sent towards the peer
  std::string app;   // what reached the protocol
  std::string failed;
  bool socket_closed = false;
  bool eof = false;
  std::unique_ptr<LayerStack> stack;

  explicit Harness(WebSocketOptions options = {}) {
    std::vector<std::unique_ptr<Layer>> layers;
    layers.push_back(make_websocket_layer(std::make_shared<const WebSocketOptions>(std::move(options))));
    StackEnds ends;
    ends.to_socket = [this](std::string_view b) { wire.append(b); };
    ends.close_socket = [this] { socket_closed = true; };
    ends.to_protocol = [this](std::string_view b) { app.append(b); };
    ends.protocol_eof = [this] { eof = true; };
    ends.failed = [this](const std::string& why) { failed = why; };
    stack = std::make_unique<LayerStack>(std::move(layers), std::move(ends));
  }
  void read(std::string_view b) { stack->from_socket(b); }
  // The wire after the 101 response, which must come first.
  std::string frames_out() const {
    const std::size_t end = wire.find("\r\n\r\n");
    EXPECT_EQ(wire.rfind("HTTP/1.1 101 ", 0), 0u) << wire;
    return end == std::string::npos ? "" : wire.substr(end + 4);
  }
};

std::string upgrade(std::string_view path = "/mqtt", std::string_view protocol = "mqtt") {
  return websocket::client_request("127.0.0.1", path, "0123456789abcdef", {std::string(protocol)});
}

std::string masked(websocket::Opcode op, std::string_view payload, bool fin = true) {
  std::string out;
  websocket::write_frame(out, op, payload, fin, &kMask);
  return out;
}

std::string close_frame(std::uint16_t code, std::string_view reason = {}) {
  std::string out;
  websocket::write_close(out, code, reason);
  return out;
}

const std::string kConnect = std::string(
    "\x10\x0d\x00\x04MQTT\x04\x02\x00\x3c\x00\x01"
    "c",
    15);

TEST(WebSocketLayer, UpgradeAndFramesInOneRead) {
  Harness h;
  EXPECT_TRUE(h.stack->opening());
  h.read(upgrade() + masked(websocket::Opcode::Binary, kConnect));
  EXPECT_FALSE(h.stack->opening());
  EXPECT_NE(h.wire.find("Sec-WebSocket-Protocol: mqtt\r\n"), std::string::npos);
  EXPECT_NE(h.wire.find("Sec-WebSocket-Accept: " +
                        websocket::accept_key(websocket::client_key("0123456789abcdef"))),
            std::string::npos);
  EXPECT_EQ(h.app, kConnect);
  EXPECT_EQ(h.stack->describe(), "WebSocket /mqtt mqtt");
  EXPECT_TRUE(h.failed.empty());
}

TEST(WebSocketLayer, PacketsSplitAcrossFramesAndReadsComeUpAsOneStream) {
  Harness h;
  const std::string up = upgrade("/", "mqttv3.1");
  for (char c : up) h.read(std::string_view(&c, 1));  // the request byte by byte
  ASSERT_FALSE(h.stack->opening());
  const std::string stream = kConnect + std::string(
                                            "\x30\x07\x00\x03"
                                            "a/bhi\xc0\x00",
                                            11);
  std::string wire;
  wire += masked(websocket::Opcode::Binary, stream.substr(0, 3), false);
  wire += masked(websocket::Opcode::Continuation, stream.substr(3, 17));
  wire += masked(websocket::Opcode::Binary, stream.substr(20));  // the rest: two packets' worth in one frame
  for (std::size_t i = 0; i < wire.size(); i += 5) h.read(std::string_view(wire).substr(i, 5));
  EXPECT_EQ(h.app, stream);
}

TEST(WebSocketLayer, ProtocolBytesGoOutAsOneBinaryFrame) {
  Harness h;
  h.read(upgrade());
  h.stack->from_protocol(std::string("\x20\x02\x00\x00", 4));  // CONNACK
  std::string expected;
  websocket::write_frame(expected, websocket::Opcode::Binary, std::string("\x20\x02\x00\x00", 4));
  EXPECT_EQ(h.frames_out(), expected);
}

TEST(WebSocketLayer, PingIsAnsweredWithPong) {
  Harness h;
  h.read(upgrade());
  h.read(masked(websocket::Opcode::Ping, "tick"));
  std::string expected;
  websocket::write_frame(expected, websocket::Opcode::Pong, "tick");
  EXPECT_EQ(h.frames_out(), expected);
  EXPECT_TRUE(h.app.empty());
}

TEST(WebSocketLayer, PeerCloseIsEchoedAndClosesTheSocket) {
  Harness h;
  h.read(upgrade());
  std::string c;
  websocket::write_close(c, 4001, "done", &kMask);
  h.read(c + masked(websocket::Opcode::Binary, kConnect));  // nothing after a Close counts
  EXPECT_EQ(h.frames_out(), close_frame(4001));
  EXPECT_TRUE(h.socket_closed);
  EXPECT_TRUE(h.app.empty());
  EXPECT_TRUE(h.failed.empty());
}

TEST(WebSocketLayer, ProtocolCloseSendsANormalClose) {
  Harness h;
  h.read(upgrade());
  h.stack->close();
  EXPECT_EQ(h.frames_out(), close_frame(websocket::kCloseNormal));
  EXPECT_TRUE(h.socket_closed);
}

TEST(WebSocketLayer, BadFramesGetTheirCloseCodeAndFailTheStack) {
  struct Case {
    const char* name;
    std::string frames;
    std::uint16_t code;
  };
  std::string bad_reason;
  websocket::write_close(bad_reason, 1000, "\xff\xfe", &kMask);
  const Case cases[] = {
      {"unmasked", std::string("\x82\x01x", 3), websocket::kCloseProtocolError},
      {"bad opcode", masked(static_cast<websocket::Opcode>(0x5), "x"), websocket::kCloseProtocolError},
      {"2^63 length", std::string("\x82\xff\x80\0\0\0\0\0\0\0\1\2\3\4", 14), websocket::kCloseProtocolError},
      {"fragmented ping", masked(websocket::Opcode::Ping, "x", false), websocket::kCloseProtocolError},
      {"text", masked(websocket::Opcode::Text, "hello"), websocket::kCloseUnsupportedData},
      {"close reason not UTF-8", bad_reason, websocket::kCloseInvalidPayload},
  };
  for (const Case& c : cases) {
    Harness h;
    h.read(upgrade());
    h.read(masked(websocket::Opcode::Binary, kConnect) + c.frames);
    EXPECT_EQ(h.app, kConnect) << c.name;  // what came before the bad frame was delivered
    const std::string out = h.frames_out();
    ASSERT_GE(out.size(), 4u) << c.name;
    EXPECT_EQ(out[0], '\x88') << c.name;
    EXPECT_EQ((std::uint8_t(out[2]) << 8) | std::uint8_t(out[3]), c.code) << c.name;
    EXPECT_NE(h.failed.find("WebSocket close " + std::to_string(c.code)), std::string::npos) << h.failed;
    EXPECT_TRUE(h.stack->failed()) << c.name;
  }
}

TEST(WebSocketLayer, FrameOverTheLimitIs1009) {
  WebSocketOptions o;
  o.frames.max_frame_bytes = 64;
  Harness h(o);
  h.read(upgrade());
  h.read(masked(websocket::Opcode::Binary, std::string(65, 'x')));
  const std::string out = h.frames_out();
  ASSERT_GE(out.size(), 4u);
  EXPECT_EQ((std::uint8_t(out[2]) << 8) | std::uint8_t(out[3]), websocket::kCloseTooBig);
  EXPECT_TRUE(h.app.empty());
}

TEST(WebSocketLayer, BadUpgradesGetAnHttpErrorAndNothingReachesTheProtocol) {
  struct Case {
    const char* name;
    std::string request;
    const char* status_line;
  };
  const Case cases[] = {
      {"other path", upgrade("/other"), "HTTP/1.1 404 "},
      {"no key",
       "GET /mqtt HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Version: 13\r\n\r\n",
       "HTTP/1.1 400 "},
      {"unknown sub-protocol", upgrade("/mqtt", "wamp"), "HTTP/1.1 400 "},
      {"not HTTP",
       std::string("\x10\x0d\x00\x04MQTT\x04\x02\x00\x3c\x00\x01"
                   "c\r\n\r\n",
                   19),
       "HTTP/1.1 400 "},
      {"header over the bound", "GET /mqtt HTTP/1.1\r\nX: " + std::string(9000, 'a') + "\r\n\r\n",
       "HTTP/1.1 431 "},
  };
  for (const Case& c : cases) {
    Harness h;
    h.read(c.request + masked(websocket::Opcode::Binary, kConnect));
    EXPECT_EQ(h.wire.rfind(c.status_line, 0), 0u) << c.name << ": " << h.wire;
    EXPECT_NE(h.wire.find("Connection: close\r\n"), std::string::npos) << c.name;
    EXPECT_TRUE(h.stack->failed()) << c.name;
    EXPECT_NE(h.failed.find("WebSocket upgrade refused"), std::string::npos) << c.name << ": " << h.failed;
    EXPECT_TRUE(h.app.empty()) << c.name;
  }
}

}  // namespace
}  // namespace gw::net
