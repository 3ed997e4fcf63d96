// The WebSocket frame decoder and encoder against RFC 6455: the §5.7 examples, delivery in every split, a
// byte stream of MQTT packets cut into frames anywhere, control frames inside fragmented messages, and each
// violation with the close code it must produce (1002, 1003, 1007, 1009).
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/websocket/frame.hpp"

namespace gw::websocket {
namespace {

using namespace std::string_literals;
using Kind = Event::Kind;

constexpr std::array<std::uint8_t, 4> kMask{0x37, 0xfa, 0x21, 0x3d};

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s.push_back(static_cast<char>(c));
  return s;
}

// What a decoder made of a byte stream: the data per message, control events, and how it ended.
struct Outcome {
  std::vector<std::string> messages;  // completed data messages
  std::string partial;                // data of a message not yet ended
  std::vector<std::string> pings, pongs;
  bool closed = false;
  std::uint16_t code = 0;  // Close or Error
  std::string reason;      // Close
  std::string what;        // Error
  bool failed = false;
  int data_events = 0;
};

// Feeds `wire` in chunks of `chunk` bytes (each chunk copied, as a socket read would be).
Outcome run(std::string_view wire, Role role, std::size_t chunk = 1 << 20, DecoderLimits limits = {}) {
  Decoder d(role, limits);
  Outcome out;
  while (!wire.empty() && !out.closed && !out.failed) {
    std::string piece(wire.substr(0, chunk));
    wire.remove_prefix(piece.size());
    std::span<char> rest(piece.data(), piece.size());
    while (true) {
      const Event e = d.next(rest);
      EXPECT_LE(e.consumed, rest.size());
      rest = rest.subspan(e.consumed);
      if (e.kind == Kind::NeedMore) {
        EXPECT_TRUE(rest.empty());
        break;
      }
      if (e.kind == Kind::Data) {
        ++out.data_events;
        out.partial.append(e.payload);
        if (e.message_end) out.messages.push_back(std::move(out.partial)), out.partial.clear();
      } else if (e.kind == Kind::Ping) {
        out.pings.emplace_back(e.payload);
      } else if (e.kind == Kind::Pong) {
        out.pongs.emplace_back(e.payload);
      } else if (e.kind == Kind::Close) {
        out.closed = true;
        out.code = e.code;
        out.reason = std::string(e.payload);
        break;
      } else {
        out.failed = true;
        out.code = e.code;
        out.what = e.what;
        break;
      }
    }
  }
  return out;
}

DecoderLimits text_ok() {
  DecoderLimits l;
  l.accept_text = true;
  return l;
}

std::string masked(Opcode op, std::string_view payload, bool fin = true) {
  std::string out;
  write_frame(out, op, payload, fin, &kMask);
  return out;
}

// RFC 6455 §5.7 examples.
TEST(WebSocketFrame, Rfc6455UnmaskedTextFromServer) {
  const Outcome o = run(bytes({0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}), Role::Client, 1 << 20, text_ok());
  ASSERT_EQ(o.messages.size(), 1u);
  EXPECT_EQ(o.messages[0], "Hello");
}

TEST(WebSocketFrame, Rfc6455MaskedTextFromClient) {
  const std::string wire = bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58});
  EXPECT_EQ(masked(Opcode::Text, "Hello"), wire);  // the encoder writes the same bytes
  const Outcome o = run(wire, Role::Server, 1 << 20, text_ok());
  ASSERT_EQ(o.messages.size(), 1u);
  EXPECT_EQ(o.messages[0], "Hello");
}

TEST(WebSocketFrame, Rfc6455FragmentedText) {
  const Outcome o =
      run(bytes({0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f}), Role::Client, 1 << 20, text_ok());
  ASSERT_EQ(o.messages.size(), 1u);
  EXPECT_EQ(o.messages[0], "Hello");
}

TEST(WebSocketFrame, Rfc6455PingAndMaskedPong) {
  const Outcome ping = run(bytes({0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}), Role::Client);
  ASSERT_EQ(ping.pings.size(), 1u);
  EXPECT_EQ(ping.pings[0], "Hello");
  const Outcome pong =
      run(bytes({0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}), Role::Server);
  ASSERT_EQ(pong.pongs.size(), 1u);
  EXPECT_EQ(pong.pongs[0], "Hello");
}

TEST(WebSocketFrame, Rfc6455LengthEncodings) {
  std::string out;
  write_frame_header(out, Opcode::Binary, 256);
  EXPECT_EQ(out, bytes({0x82, 0x7E, 0x01, 0x00}));
  out.clear();
  write_frame_header(out, Opcode::Binary, 65536);
  EXPECT_EQ(out, bytes({0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0}));
  for (std::uint64_t n : {0ull, 125ull, 126ull, 65535ull, 65536ull}) {
    std::string h;
    write_frame_header(h, Opcode::Binary, n);
    EXPECT_EQ(h.size(), frame_header_size(n, false)) << n;
    EXPECT_EQ(h.size() + 4, frame_header_size(n, true)) << n;
  }
}

// Every length class, masked, fed whole and one byte at a time, comes back intact (masking restarts at key
// byte 0 in each frame and crosses read boundaries at any key position).
TEST(WebSocketFrame, MaskedPayloadsOfEveryLengthClassInEverySplit) {
  for (std::size_t n : {0u, 1u, 7u, 125u, 126u, 1000u, 65535u, 65536u, 70001u}) {
    std::string payload(n, '\0');
    for (std::size_t i = 0; i < n; ++i) payload[i] = static_cast<char>(i * 31 + 7);
    const std::string wire = masked(Opcode::Binary, payload);
    for (std::size_t chunk : {std::size_t{1} << 20, std::size_t{1}, std::size_t{3}, std::size_t{4096}}) {
      if (n > 2000 && chunk < 4096) continue;
      const Outcome o = run(wire, Role::Server, chunk);
      ASSERT_FALSE(o.failed) << o.what;
      ASSERT_EQ(o.messages.size(), 1u) << n << " " << chunk;
      EXPECT_EQ(o.messages[0], payload) << n << " " << chunk;
    }
  }
}

// MQTT over WebSocket is a byte stream (MQTT 5.0 §6.0): packets cut across frames and frames holding several
// packets. The decoder hands out exactly the stream, whatever the framing and the reads.
TEST(WebSocketFrame, AnyFramingOfAByteStreamGivesTheStreamBack) {
  // Three MQTT packets back to back: CONNECT (v3.1.1, "c"), PUBLISH "a/b" "hi", PINGREQ.
  const std::string stream = bytes({0x10, 0x0d, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 1, 'c'}) +
                             bytes({0x30, 0x07, 0, 3, 'a', '/', 'b', 'h', 'i'}) + bytes({0xc0, 0x00});
  for (std::size_t frame = 1; frame <= stream.size(); ++frame) {
    std::string wire;
    for (std::size_t at = 0; at < stream.size(); at += frame) {
      wire += masked(Opcode::Binary, std::string_view(stream).substr(at, frame));
    }
    for (std::size_t chunk : {std::size_t{1}, std::size_t{5}, wire.size()}) {
      const Outcome o = run(wire, Role::Server, chunk);
      ASSERT_FALSE(o.failed) << o.what;
      std::string got;
      for (const auto& m : o.messages) got += m;
      EXPECT_EQ(got, stream) << "frame " << frame << " chunk " << chunk;
    }
  }
  // One fragmented message with continuation frames, a ping between fragments.
  std::string wire = masked(Opcode::Binary, stream.substr(0, 4), false) + masked(Opcode::Ping, "p") +
                     masked(Opcode::Continuation, stream.substr(4, 10), false) +
                     masked(Opcode::Continuation, "", false) +
                     masked(Opcode::Continuation, stream.substr(14));
  const Outcome o = run(wire, Role::Server, 3);
  ASSERT_EQ(o.messages.size(), 1u);
  EXPECT_EQ(o.messages[0], stream);
  EXPECT_EQ(o.pings, std::vector<std::string>{"p"});
}

TEST(WebSocketFrame, EmptyFinalFrameEndsItsMessage) {
  const Outcome o = run(masked(Opcode::Binary, "ab", false) + masked(Opcode::Continuation, ""), Role::Server);
  ASSERT_EQ(o.messages.size(), 1u);
  EXPECT_EQ(o.messages[0], "ab");
  const Outcome empty = run(masked(Opcode::Binary, ""), Role::Server);
  ASSERT_EQ(empty.messages.size(), 1u);
  EXPECT_EQ(empty.messages[0], "");
}

TEST(WebSocketFrame, CloseCarriesCodeAndReason) {
  std::string wire;
  write_close(wire, kCloseNormal, "bye", &kMask);
  Outcome o = run(wire + masked(Opcode::Binary, "after"), Role::Server, 2);
  EXPECT_TRUE(o.closed);
  EXPECT_EQ(o.code, kCloseNormal);
  EXPECT_EQ(o.reason, "bye");
  EXPECT_TRUE(o.messages.empty());  // nothing after a Close is data

  wire.clear();
  write_close(wire, kCloseNoStatus, "", &kMask);
  o = run(wire, Role::Server);
  EXPECT_TRUE(o.closed);
  EXPECT_EQ(o.code, kCloseNoStatus);
  EXPECT_EQ(wire.size(), 6u);  // header + mask, no payload
}

TEST(WebSocketFrame, TerminalStateRepeatsAndConsumesNothing) {
  std::string wire;
  write_close(wire, 4000, "x", &kMask);
  Decoder d(Role::Server);
  std::string buf = wire + "zz";
  std::span<char> all(buf.data(), buf.size());
  const Event e = d.next(all);
  EXPECT_EQ(e.kind, Kind::Close);
  EXPECT_EQ(e.consumed, wire.size());
  const Event again = d.next(all.subspan(e.consumed));
  EXPECT_EQ(again.kind, Kind::Close);
  EXPECT_EQ(again.consumed, 0u);
  EXPECT_TRUE(d.done());
}

TEST(WebSocketFrame, WriteCloseCutsAReasonAtACharacterBoundary) {
  // 61 two-byte characters (122 bytes) then one more: the cut at 123 would split it.
  std::string reason;
  for (int i = 0; i < 62; ++i) reason += "\xC3\xA9";
  std::string wire;
  write_close(wire, kClosePolicyViolation, reason);
  const Outcome o = run(wire, Role::Client);
  ASSERT_TRUE(o.closed) << o.what;
  EXPECT_EQ(o.reason.size(), 122u);
  EXPECT_LE(wire.size(), 2u + 125u);
}

struct Bad {
  const char* name;
  std::string wire;
  Role role;
  std::uint16_t code;
  DecoderLimits limits = {};
};

TEST(WebSocketFrame, ViolationsFailWithTheirCloseCode) {
  DecoderLimits small;
  small.max_frame_bytes = 100;
  small.max_message_bytes = 150;
  std::string close_1byte = masked(Opcode::Close, "\x03");
  std::string bad_utf8_reason;
  write_close(bad_utf8_reason, kCloseNormal, "\xC3\x28", &kMask);
  std::string code_1005 = masked(Opcode::Close, bytes({0x03, 0xED}));
  std::string code_999 = masked(Opcode::Close, bytes({0x03, 0xE7}));
  std::string code_2000 = masked(Opcode::Close, bytes({0x07, 0xD0}));
  const std::vector<Bad> cases = {
      {"unmasked client frame", bytes({0x82, 0x01, 'x'}), Role::Server, kCloseProtocolError},
      {"masked server frame", masked(Opcode::Binary, "x"), Role::Client, kCloseProtocolError},
      {"reserved data opcode 3", bytes({0x83, 0x80, 1, 2, 3, 4}), Role::Server, kCloseProtocolError},
      {"reserved control opcode B", bytes({0x8B, 0x80, 1, 2, 3, 4}), Role::Server, kCloseProtocolError},
      {"RSV1 without extension", bytes({0xC2, 0x80, 1, 2, 3, 4}), Role::Server, kCloseProtocolError},
      {"fragmented ping", masked(Opcode::Ping, "x", false), Role::Server, kCloseProtocolError},
      {"fragmented close", masked(Opcode::Close, "", false), Role::Server, kCloseProtocolError},
      {"ping over 125 bytes", masked(Opcode::Ping, std::string(126, 'p')), Role::Server, kCloseProtocolError},
      {"2^63 length", bytes({0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}), Role::Server,
       kCloseProtocolError},
      {"2^64-1 length", bytes({0x82, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4}),
       Role::Server, kCloseProtocolError},
      {"16-bit length under 126", bytes({0x82, 0xFE, 0x00, 0x05, 1, 2, 3, 4}), Role::Server,
       kCloseProtocolError},
      {"64-bit length under 65536", bytes({0x82, 0xFF, 0, 0, 0, 0, 0, 0, 0x01, 0x00, 1, 2, 3, 4}),
       Role::Server, kCloseProtocolError},
      {"continuation without a message", masked(Opcode::Continuation, "x"), Role::Server,
       kCloseProtocolError},
      {"new message inside a fragmented one",
       masked(Opcode::Binary, "x", false) + masked(Opcode::Binary, "y"), Role::Server, kCloseProtocolError},
      {"text frame on a binary-only decoder", masked(Opcode::Text, "hi"), Role::Server,
       kCloseUnsupportedData},
      {"invalid UTF-8 text", masked(Opcode::Text, "\xC0\xAF"), Role::Server, kCloseInvalidPayload, text_ok()},
      {"text ending in half a character", masked(Opcode::Text, "a\xE2\x82"), Role::Server,
       kCloseInvalidPayload, text_ok()},
      {"close with a one-byte payload", close_1byte, Role::Server, kCloseProtocolError},
      {"close reason not UTF-8", bad_utf8_reason, Role::Server, kCloseInvalidPayload},
      {"close code 1005 on the wire", code_1005, Role::Server, kCloseProtocolError},
      {"close code 999", code_999, Role::Server, kCloseProtocolError},
      {"close code 2000", code_2000, Role::Server, kCloseProtocolError},
      {"frame over the limit", masked(Opcode::Binary, std::string(101, 'x')), Role::Server, kCloseTooBig,
       small},
      {"fragments over the message limit",
       masked(Opcode::Binary, std::string(100, 'x'), false) +
           masked(Opcode::Continuation, std::string(51, 'y')),
       Role::Server, kCloseTooBig, small},
  };
  for (const Bad& c : cases) {
    for (std::size_t chunk : {std::size_t{1} << 20, std::size_t{1}}) {
      const Outcome o = run(c.wire, c.role, chunk, c.limits);
      EXPECT_TRUE(o.failed) << c.name;
      EXPECT_EQ(o.code, c.code) << c.name << ": " << o.what;
    }
  }
}

// The 2^63 length is refused from its header alone: no payload is awaited.
TEST(WebSocketFrame, HugeLengthIsRefusedBeforeAnyPayload) {
  std::string wire = bytes({0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4});
  Decoder d(Role::Server);
  const Event e = d.next(std::span<char>(wire.data(), wire.size()));
  EXPECT_EQ(e.kind, Kind::Error);
  EXPECT_EQ(e.code, kCloseTooBig);
  EXPECT_EQ(e.consumed, wire.size());
}

// Limits count payload only and allow exactly the bound.
TEST(WebSocketFrame, LimitsAllowExactlyTheBound) {
  DecoderLimits l;
  l.max_frame_bytes = 100;
  l.max_message_bytes = 150;
  const Outcome o = run(masked(Opcode::Binary, std::string(100, 'x'), false) +
                            masked(Opcode::Continuation, std::string(50, 'y')) + masked(Opcode::Binary, "z"),
                        Role::Server, 7, l);
  ASSERT_FALSE(o.failed) << o.what;
  ASSERT_EQ(o.messages.size(), 2u);
  EXPECT_EQ(o.messages[0].size(), 150u);
}

// Text split inside a code point across fragments and reads is still valid.
TEST(WebSocketFrame, TextSplitInsideACharacterIsValid) {
  const std::string euro = "\xE2\x82\xAC";
  const std::string wire = masked(Opcode::Text, "a\xE2", false) +
                           masked(Opcode::Continuation, "\x82", false) +
                           masked(Opcode::Continuation,
                                  "\xAC"
                                  "b");
  const Outcome o = run(wire, Role::Server, 1, text_ok());
  ASSERT_FALSE(o.failed) << o.what;
  ASSERT_EQ(o.messages.size(), 1u);
  EXPECT_EQ(o.messages[0], "a" + euro + "b");
}

TEST(WebSocketUtf8, TableOfRfc3629) {
  EXPECT_TRUE(is_utf8(""));
  EXPECT_TRUE(is_utf8("plain ascii, longer than eight bytes"));
  EXPECT_TRUE(
      is_utf8("\xC2\x80\xDF\xBF\xE0\xA0\x80\xED\x9F\xBF\xEE\x80\x80\xF0\x90\x80\x80\xF4\x8F\xBF\xBF"));
  EXPECT_FALSE(is_utf8("\xC0\x80"));          // overlong NUL
  EXPECT_FALSE(is_utf8("\xE0\x9F\xBF"));      // overlong three-byte
  EXPECT_FALSE(is_utf8("\xED\xA0\x80"));      // surrogate U+D800
  EXPECT_FALSE(is_utf8("\xF0\x8F\xBF\xBF"));  // overlong four-byte
  EXPECT_FALSE(is_utf8("\xF4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(is_utf8("\xF5\x80\x80\x80"));
  EXPECT_FALSE(is_utf8("\x80"));
  EXPECT_FALSE(is_utf8("\xE2\x82"));  // unfinished
  Utf8Stream u;
  EXPECT_TRUE(u.feed("\xF0\x9F"));
  EXPECT_FALSE(u.complete());
  EXPECT_TRUE(u.feed("\x98\x80"));
  EXPECT_TRUE(u.complete());
}

}  // namespace
}  // namespace gw::websocket
