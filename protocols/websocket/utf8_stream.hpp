// Incremental UTF-8 validation (RFC 3629 §4) for WebSocket text: a text message may be split across frames
// and a frame across reads, with a code point cut anywhere (RFC 6455 §5.6, §8.1), so the validator keeps the
// state of an unfinished sequence between calls. Used for text messages and close reasons. Pure.
#pragma once

#include <cstdint>
#include <string_view>

namespace gw::websocket {

class Utf8Stream {
 public:
  // False as soon as the bytes seen so far cannot start valid UTF-8 (overlong forms, surrogates, code
  // points past U+10FFFF, stray continuation bytes); the validator then stays failed.
  bool feed(std::string_view bytes);
  // True when no multi-byte sequence is left unfinished (check at the end of a message).
  bool complete() const { return need_ == 0 && !failed_; }
  void reset() { *this = Utf8Stream{}; }

 private:
  std::uint8_t need_ = 0;   // continuation bytes still expected
  std::uint8_t lo_ = 0x80;  // allowed range of the next continuation byte (narrower after E0, ED, F0, F4)
  std::uint8_t hi_ = 0xBF;
  bool failed_ = false;
};

// One-shot check of a complete string.
bool is_utf8(std::string_view s);

}  // namespace gw::websocket
