// UTF-8 validation for MQTT strings (MQTT 5.0 §1.5.4, MQTT 3.1.1 §1.5.3) and for payloads that declare
// themselves UTF-8 (Payload Format Indicator 1, MQTT 5.0 §3.3.2.3.2), and the control-character check
// for topics and client ids. Decoding calls these for every string on the wire, so ASCII runs are
// checked eight bytes at a time. Pure; no allocation.
#include <cstdint>
#include <cstring>
#include <string_view>

#include "protocols/mqtt/topic.hpp"
#include "protocols/mqtt/wire.hpp"

namespace gw::mqtt {

namespace wire {

namespace {
constexpr std::uint64_t kHighBits = 0x8080808080808080ULL;
constexpr std::uint64_t kLowBits = 0x0101010101010101ULL;

// True when some byte of `w` is zero (the classic "has zero byte" bit trick).
bool has_zero_byte(std::uint64_t w) {
  return ((w - kLowBits) & ~w & kHighBits) != 0;
}

bool is_continuation(unsigned char c) {
  return (c & 0xC0) == 0x80;
}
}  // namespace

// The fast path of both checks: skips eight bytes at a time while `ok` holds for the 64-bit word.
template <typename WordOk>
const unsigned char* skip_words(const unsigned char* p, const unsigned char* end, WordOk ok) {
  while (end - p >= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    if (!ok(w)) break;
    p += 8;
  }
  return p;
}

bool utf8_well_formed(std::string_view s, bool allow_nul) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* const end = p + s.size();
  while (p < end) {
    // Fast path: eight ASCII bytes at once (a NUL, when refused, is found byte by byte below).
    p = skip_words(p, end,
                   [&](std::uint64_t w) { return (w & kHighBits) == 0 && (allow_nul || !has_zero_byte(w)); });
    if (p == end) break;

    const unsigned char c = *p;
    if (c < 0x80) {
      if (c == 0 && !allow_nul) return false;  // U+0000, MQTT-1.5.4-2
      ++p;
      continue;
    }
    // RFC 3629 §4 table of well-formed sequences. C0/C1 would be overlong two-byte forms; F5..FF would
    // exceed U+10FFFF; a lone continuation byte is ill-formed.
    if (c < 0xC2 || c > 0xF4) return false;
    if (c < 0xE0) {
      if (end - p < 2 || !is_continuation(p[1])) return false;
      p += 2;
      continue;
    }
    if (c < 0xF0) {
      if (end - p < 3) return false;
      const unsigned char c1 = p[1];
      // E0 needs A0..BF (else overlong); ED needs 80..9F (else a UTF-16 surrogate D800..DFFF,
      // MQTT-1.5.4-1).
      const unsigned char lo = c == 0xE0 ? 0xA0 : 0x80;
      const unsigned char hi = c == 0xED ? 0x9F : 0xBF;
      if (c1 < lo || c1 > hi || !is_continuation(p[2])) return false;
      p += 3;
      continue;
    }
    if (end - p < 4) return false;
    const unsigned char c1 = p[1];
    // F0 needs 90..BF (else overlong); F4 needs 80..8F (else above U+10FFFF).
    const unsigned char lo = c == 0xF0 ? 0x90 : 0x80;
    const unsigned char hi = c == 0xF4 ? 0x8F : 0xBF;
    if (c1 < lo || c1 > hi || !is_continuation(p[2]) || !is_continuation(p[3])) return false;
    p += 4;
  }
  return true;
}

}  // namespace wire

bool is_valid_utf8(std::string_view s) {
  return wire::utf8_well_formed(s, false);
}

bool has_control_character(std::string_view s) {
  constexpr std::uint64_t kSpaces = 0x2020202020202020ULL;  // a byte below 0x20 is a C0 control
  constexpr std::uint64_t kDels = 0x7F7F7F7F7F7F7F7FULL;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* const end = p + s.size();
  while (p < end) {
    // Fast path: eight ASCII bytes, none below 0x20 ("has less than" bit trick) and none 0x7F.
    p = wire::skip_words(p, end, [](std::uint64_t w) {
      return (w & wire::kHighBits) == 0 && ((w - kSpaces) & ~w & wire::kHighBits) == 0 &&
             !wire::has_zero_byte(w ^ kDels);
    });
    if (p == end) break;
    const unsigned char c = *p;
    if (c < 0x20 || c == 0x7F) return true;
    // U+0080..U+009F (C1) are encoded as C2 80..C2 9F.
    if (c == 0xC2 && end - p >= 2 && p[1] <= 0x9F) return true;
    ++p;
  }
  return false;
}

}  // namespace gw::mqtt
