// Incremental UTF-8 validation (see utf8_stream.hpp): the RFC 3629 §4 table of well-formed byte sequences as
// a small state machine, with an eight-bytes-at-a-time path over ASCII runs.
#include "protocols/websocket/utf8_stream.hpp"

#include <cstring>

namespace gw::websocket {

bool Utf8Stream::feed(std::string_view bytes) {
  if (failed_) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const auto* const end = p + bytes.size();
  while (p < end) {
    if (need_ == 0) {
      while (end - p >= 8) {  // ASCII fast path
        std::uint64_t w;
        std::memcpy(&w, p, 8);
        if ((w & 0x8080808080808080ULL) != 0) break;
        p += 8;
      }
      if (p == end) break;
      const unsigned char c = *p++;
      if (c < 0x80) continue;
      lo_ = 0x80;
      hi_ = 0xBF;
      if (c >= 0xC2 && c <= 0xDF) {
        need_ = 1;
      } else if (c >= 0xE0 && c <= 0xEF) {
        need_ = 2;
        if (c == 0xE0) lo_ = 0xA0;  // no overlong three-byte forms
        if (c == 0xED) hi_ = 0x9F;  // no UTF-16 surrogates
      } else if (c >= 0xF0 && c <= 0xF4) {
        need_ = 3;
        if (c == 0xF0) lo_ = 0x90;  // no overlong four-byte forms
        if (c == 0xF4) hi_ = 0x8F;  // nothing past U+10FFFF
      } else {
        failed_ = true;  // C0, C1, F5..FF, or a continuation byte with nothing to continue
        return false;
      }
      continue;
    }
    const unsigned char c = *p++;
    if (c < lo_ || c > hi_) {
      failed_ = true;
      return false;
    }
    lo_ = 0x80;
    hi_ = 0xBF;
    --need_;
  }
  return true;
}

bool is_utf8(std::string_view s) {
  Utf8Stream u;
  return u.feed(s) && u.complete();
}

}  // namespace gw::websocket
