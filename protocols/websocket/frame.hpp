// WebSocket framing (RFC 6455 §5): a streaming frame decoder and the frame encoder. The decoder takes bytes
// as they arrive and hands out data payload in place (unmasked in the caller's buffer), so a message is never
// buffered: MQTT over WebSocket is a byte stream (MQTT 5.0 §6.0), and packets split across frames, or several
// packets in one frame, reach the MQTT codec unchanged. Control frames (at most 125 bytes) are collected.
// Every violation is an error value carrying the close code to send (RFC 6455 §7.4.1). Pure: no I/O, no
// clock, no randomness (a client's masking key is an argument).
//
// Decoder state table (one transition function: next()):
//   Header   --header complete, control frame-------> Control  (payload collected, then Ping/Pong/Close)
//   Header   --header complete, data frame----------> Payload  (payload streamed as Data events)
//   Header   --bad bits, opcode, length, mask-------> Failed   (Error: 1002, 1003 or 1009)
//   Payload  --frame payload done------------------> Header
//   Payload  --text not UTF-8----------------------> Failed   (Error: 1007)
//   Control  --payload done, Ping or Pong----------> Header
//   Control  --payload done, Close-----------------> Closed   (Close; Error 1002/1007 for a bad code/reason)
//   Closed, Failed: terminal (next() repeats the last event and consumes nothing).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "protocols/websocket/utf8_stream.hpp"

namespace gw::websocket {

enum class Opcode : std::uint8_t {
  Continuation = 0x0,
  Text = 0x1,
  Binary = 0x2,
  Close = 0x8,
  Ping = 0x9,
  Pong = 0xA
};

// Close codes (RFC 6455 §7.4.1).
inline constexpr std::uint16_t kCloseNormal = 1000;
inline constexpr std::uint16_t kCloseGoingAway = 1001;
inline constexpr std::uint16_t kCloseProtocolError = 1002;
inline constexpr std::uint16_t kCloseUnsupportedData = 1003;
inline constexpr std::uint16_t kCloseNoStatus = 1005;  // never on the wire: the peer's Close had no code
inline constexpr std::uint16_t kCloseInvalidPayload = 1007;
inline constexpr std::uint16_t kClosePolicyViolation = 1008;
inline constexpr std::uint16_t kCloseTooBig = 1009;
inline constexpr std::uint16_t kCloseInternalError = 1011;

// A code a Close frame may carry (RFC 6455 §7.4.1, §7.4.2 and the IANA registry of §11.7): 1000-1003,
// 1007-1014, and 3000-4999 for libraries and applications. 1004-1006 and 1015 are reserved for reports, never
// sent.
bool close_code_allowed_on_wire(std::uint16_t code);

enum class Role : std::uint8_t {
  Server,  // decodes a client's frames: each must be masked (RFC 6455 §5.1)
  Client,  // decodes a server's frames: none may be masked
};

struct DecoderLimits {
  std::uint64_t max_frame_bytes = 2 * 1024 * 1024;    // payload of one frame; more -> 1009
  std::uint64_t max_message_bytes = 2 * 1024 * 1024;  // payload of one (fragmented) message; more -> 1009
  bool accept_text = false;  // false: a text frame is refused with 1003 (MQTT 5.0 §6.0: binary only)
};

struct Event {
  enum class Kind : std::uint8_t {
    NeedMore,  // everything fed was used (consumed == size); feed more
    Data,      // a piece of a data message's payload, unmasked
    Ping,      // payload: application data to echo in a Pong (RFC 6455 §5.5.2)
    Pong,
    Close,  // code (kCloseNoStatus if none) and reason (valid UTF-8); the decoder is done
    Error,  // code: the close code to send; what: static text for logs; the decoder is done
  };
  Kind kind = Kind::NeedMore;
  std::size_t consumed = 0;  // bytes of the fed span that were used
  std::string_view payload;  // Data: points into the fed span; control frames: into the decoder
  bool text = false;         // Data: the message is text (only with accept_text)
  bool message_end = false;  // Data: the last piece of its message
  std::uint16_t code = 0;    // Close, Error
  const char* what = "";     // Error
};

class Decoder {
 public:
  explicit Decoder(Role role, DecoderLimits limits = {});

  // Decodes from the start of `bytes` up to the next event and returns it. Data payload is unmasked in place
  // and handed out as it arrives (a frame may come in several Data events); an empty frame that ends a
  // message gives a Data event with an empty payload. Feed the unconsumed rest again after each event.
  Event next(std::span<char> bytes);

  bool done() const { return state_ == State::Closed || state_ == State::Failed; }
  // Payload bytes of the current data message so far (0 between messages).
  std::uint64_t message_bytes() const { return message_bytes_; }

 private:
  enum class State : std::uint8_t { Header, Payload, Control, Closed, Failed };

  Event fail(std::uint16_t code, const char* what, std::size_t consumed);
  // Header complete in header_: checks it and moves to Payload or Control; returns an Error event or
  // NeedMore.
  Event start_frame(std::size_t consumed);
  Event finish_control(std::size_t consumed);
  void unmask(char* p, std::size_t n);

  Role role_;
  DecoderLimits limits_;
  State state_ = State::Header;
  Event last_;  // repeated once terminal

  std::array<std::uint8_t, 14> header_{};  // 2 + up to 8 length bytes + 4 mask bytes
  std::uint8_t header_have_ = 0;
  Opcode opcode_ = Opcode::Continuation;  // of the frame being read
  bool fin_ = false;
  bool masked_ = false;
  std::array<std::uint8_t, 4> mask_{};
  std::uint64_t remaining_ = 0;  // payload bytes of the current frame still to come
  std::uint64_t offset_ = 0;     // payload bytes of the current frame already read (mask position)

  bool in_message_ = false;  // a data message was started and not finished (continuations expected)
  bool message_text_ = false;
  std::uint64_t message_bytes_ = 0;
  Utf8Stream utf8_;

  std::array<char, 125> control_{};  // RFC 6455 §5.5: control payload is at most 125 bytes
  std::uint8_t control_have_ = 0;
};

// Bytes of a frame header for a payload of `payload_len` bytes (2, 4 or 10, plus 4 when masked).
std::size_t frame_header_size(std::uint64_t payload_len, bool masked);

// Appends one frame to `out`. A server passes no mask; a client passes a fresh random key per frame
// (RFC 6455 §5.3), which also masks the payload as it is copied.
void write_frame(std::string& out, Opcode op, std::string_view payload, bool fin = true,
                 const std::array<std::uint8_t, 4>* mask = nullptr);

// Appends just the header of a frame whose payload the caller appends itself (unmasked frames only), so a
// server can frame bytes without copying them twice.
void write_frame_header(std::string& out, Opcode op, std::uint64_t payload_len, bool fin = true);

// Appends a Close frame: the code and as much of `reason` as fits the 125-byte control limit, cut at a UTF-8
// character boundary. kCloseNoStatus sends an empty Close.
void write_close(std::string& out, std::uint16_t code, std::string_view reason = {},
                 const std::array<std::uint8_t, 4>* mask = nullptr);

}  // namespace gw::websocket
