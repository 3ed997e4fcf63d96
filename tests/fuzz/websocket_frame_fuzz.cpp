// libFuzzer target for the WebSocket frame decoder (protocols/websocket/frame.hpp). The first input byte
// picks the role, the limits, text acceptance and a read size; the rest is decoded twice, whole and in reads
// of that size, and both runs must give the same messages, control frames and ending (a differential check of
// the streaming paths: headers, masks and UTF-8 sequences cut anywhere). Every message that comes out is
// framed again (masked, in fragments) and must decode to itself. Built as a fuzz target under clang and, with
// tests/fuzz/http_replay_fuzz.cpp, as a corpus replay for CTest.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "protocols/websocket/frame.hpp"

namespace {

using namespace gw::websocket;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

struct Run {
  std::string summary;              // events, normalised: data per message, controls, ending
  std::string messages_for_replay;  // binary/text messages, length-prefixed
};

Run decode(std::string_view input, Role role, const DecoderLimits& limits, std::size_t chunk) {
  Decoder d(role, limits);
  Run out;
  std::string message;
  while (true) {
    std::string piece(input.substr(0, chunk));  // the decoder unmasks in place: give it a copy
    input.remove_prefix(piece.size());
    std::span<char> rest(piece.data(), piece.size());
    while (true) {
      const Event e = d.next(rest);
      check(e.consumed <= rest.size());
      rest = rest.subspan(e.consumed);
      switch (e.kind) {
        case Event::Kind::NeedMore:
          check(rest.empty());
          break;
        case Event::Kind::Data:
          check(!e.text || limits.accept_text);
          message.append(e.payload);
          check(message.size() <= limits.max_message_bytes);
          check(d.message_bytes() <= limits.max_message_bytes);
          if (e.message_end) {
            check(!e.text || is_utf8(message));
            out.summary += "M" + std::to_string(message.size()) + ":" + message + (e.text ? "T" : "B");
            out.messages_for_replay += std::to_string(message.size()) + ":" + message;
            message.clear();
          }
          continue;
        case Event::Kind::Ping:
        case Event::Kind::Pong:
          check(e.payload.size() <= 125);
          out.summary += (e.kind == Event::Kind::Ping ? "P" : "O") + std::string(e.payload) + ";";
          continue;
        case Event::Kind::Close:
          check(d.done());
          check(e.code == kCloseNoStatus || close_code_allowed_on_wire(e.code));
          check(is_utf8(e.payload));
          out.summary += "C" + std::to_string(e.code) + std::string(e.payload);
          return out;
        case Event::Kind::Error:
          check(d.done());
          check(e.code == kCloseProtocolError || e.code == kCloseUnsupportedData ||
                e.code == kCloseInvalidPayload || e.code == kCloseTooBig);
          out.summary += "E" + std::to_string(e.code) + e.what;
          return out;
      }
      break;
    }
    if (input.empty()) {
      out.summary += "|partial" + std::to_string(message.size()) + ":" + message;
      return out;
    }
  }
}

// Frames `message` again as a client would (masked, in fragments of `frag` bytes) and decodes it as a server.
void check_reframed(std::string_view message, std::size_t frag) {
  const std::array<std::uint8_t, 4> mask{0xA5, 0x01, 0xFF, 0x5A};
  std::string wire;
  std::size_t at = 0;
  do {
    const std::string_view part = message.substr(at, frag);
    at += part.size();
    write_frame(wire, at == part.size() ? Opcode::Binary : Opcode::Continuation, part, at >= message.size(),
                &mask);
  } while (at < message.size());
  DecoderLimits limits;
  limits.max_frame_bytes = limits.max_message_bytes = message.size();
  Decoder d(Role::Server, limits);
  std::span<char> rest(wire.data(), wire.size());
  std::string got;
  while (true) {
    const Event e = d.next(rest);
    rest = rest.subspan(e.consumed);
    check(e.kind == Event::Kind::Data);
    got.append(e.payload);
    if (e.message_end) break;
  }
  check(rest.empty());
  check(got == message);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t sel = data[0];
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  const Role role = (sel & 0x80) ? Role::Client : Role::Server;
  DecoderLimits limits;
  limits.accept_text = (sel & 0x40) != 0;
  if (sel & 0x20) {  // small limits, to reach the 1009 paths
    limits.max_frame_bytes = 16 + (sel & 0x07) * 8;
    limits.max_message_bytes = 24 + (sel & 0x18) * 4;
  }
  const std::size_t chunk = 1 + (sel & 0x07);
  const Run whole = decode(input, role, limits, input.size() + 1);
  const Run pieces = decode(input, role, limits, chunk);
  check(whole.summary == pieces.summary);

  std::string_view replay = whole.messages_for_replay;
  while (!replay.empty()) {
    const std::size_t colon = replay.find(':');
    const std::size_t n = std::stoul(std::string(replay.substr(0, colon)));
    check_reframed(replay.substr(colon + 1, n), 1 + (sel & 0x0F));
    replay.remove_prefix(colon + 1 + n);
  }
  return 0;
}
