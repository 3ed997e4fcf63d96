// Internal to the MQTT codec (not part of its API): a bounds-checked reader over a packet body, two byte
// sinks that let one encoder body first measure a packet and then write it, and the property-set
// helpers shared by decode.cpp and encode.cpp. The broker includes codec.hpp and topic.hpp, never this.
// Everything here is pure: no allocation beyond the caller's strings, no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "protocols/mqtt/codec.hpp"
#include "protocols/mqtt/packets.hpp"

namespace gw::mqtt::wire {

// An error, or nothing when the step succeeded. Internal steps return this; decode() turns it into a
// Result.
using Fault = std::optional<Error>;

inline Error malformed(const char* what) {
  return Error{Reason::MalformedPacket, what};
}
inline Error protocol_error(const char* what) {
  return Error{Reason::ProtocolError, what};
}

// MQTT 5.0 §1.5.5: 1..4 bytes, 7 bits each, low group first.
inline std::size_t varint_size(std::uint32_t v) {
  return v < 128u ? 1 : v < 16'384u ? 2 : v < 2'097'152u ? 3 : 4;
}
inline constexpr std::uint32_t kMaxVarint = 268'435'455;

// Well-formed UTF-8 (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF). `allow_nul` is for
// payloads with Payload Format Indicator 1, where U+0000 is legal Unicode; MQTT strings forbid it
// (MQTT 5.0 §1.5.4).
bool utf8_well_formed(std::string_view s, bool allow_nul);

// Reads big-endian integers and length-prefixed fields. Every read checks the bounds and returns false
// when the body is too short, which the caller reports as a Malformed Packet.
class Reader {
 public:
  explicit Reader(ByteView b) : p_(b.data()), end_(b.data() + b.size()) {}

  std::size_t left() const { return static_cast<std::size_t>(end_ - p_); }
  bool done() const { return p_ == end_; }

  bool u8(std::uint8_t& v) {
    if (p_ == end_) return false;
    v = *p_++;
    return true;
  }
  bool u16(std::uint16_t& v) {
    if (left() < 2) return false;
    v = static_cast<std::uint16_t>(p_[0] << 8 | p_[1]);
    p_ += 2;
    return true;
  }
  bool u32(std::uint32_t& v) {
    if (left() < 4) return false;
    v = static_cast<std::uint32_t>(p_[0]) << 24 | static_cast<std::uint32_t>(p_[1]) << 16 |
        static_cast<std::uint32_t>(p_[2]) << 8 | static_cast<std::uint32_t>(p_[3]);
    p_ += 4;
    return true;
  }
  // MQTT 5.0 §1.5.5. False when truncated, longer than four bytes, or not in the fewest bytes
  // (0x80 0x00 for 0 is malformed, MQTT-1.5.5-1).
  bool varint(std::uint32_t& v) {
    std::uint32_t value = 0;
    for (int i = 0; i < 4; ++i) {
      if (p_ == end_) return false;
      const std::uint8_t b = *p_++;
      value |= static_cast<std::uint32_t>(b & 0x7F) << (7 * i);
      if ((b & 0x80) == 0) {
        if (b == 0 && i > 0) return false;
        v = value;
        return true;
      }
    }
    return false;
  }
  bool bytes(std::size_t n, std::string& out) {
    if (left() < n) return false;
    out.assign(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return true;
  }
  // Two-byte length, then that many bytes (MQTT 5.0 §1.5.4 and §1.5.6 share the layout).
  bool prefixed(std::string& out) {
    std::uint16_t n = 0;
    return u16(n) && bytes(n, out);
  }
  void rest(std::string& out) {
    out.assign(reinterpret_cast<const char*>(p_), left());
    p_ = end_;
  }
  // Splits off the next `n` bytes (n <= left()) as a reader of their own.
  Reader take(std::size_t n) {
    Reader sub(ByteView(p_, n));
    p_ += n;
    return sub;
  }

 private:
  const std::uint8_t* p_;
  const std::uint8_t* end_;
};

// A UTF-8 Encoded String (MQTT 5.0 §1.5.4): truncation or ill-formed UTF-8 is a Malformed Packet.
inline Fault read_utf8(Reader& r, std::string& out, const char* what) {
  if (!r.prefixed(out)) return malformed(what);
  if (!utf8_well_formed(out, false)) return malformed("invalid UTF-8 string");
  return std::nullopt;
}
inline Fault read_binary(Reader& r, std::string& out, const char* what) {
  if (!r.prefixed(out)) return malformed(what);
  return std::nullopt;
}

// Where a property set sits; MQTT 5.0 §2.2.2.2 allows each property only in some of these.
enum class PropCtx : std::uint8_t {
  Connect,
  Will,
  Connack,
  Publish,
  PubAck,  // PUBACK, PUBREC, PUBREL, PUBCOMP
  Subscribe,
  Suback,
  Unsubscribe,
  Unsuback,
  Disconnect,
  Auth,
};

// Reads a Property Length and the properties after it into `out`. Unknown identifiers and identifiers
// not allowed in `ctx` are Malformed Packets; duplicates and out-of-range values are Protocol Errors.
Fault read_properties(Reader& r, PropCtx ctx, Properties& out);
// Encoded size of the property block for `ctx`, including its length varint (1 when empty). Only the
// properties `ctx` allows are counted, as only those are written.
std::size_t properties_size(const Properties& p, PropCtx ctx);
// Appends the property block for `ctx` (length varint, then the allowed properties in identifier order).
void write_properties(const Properties& p, PropCtx ctx, Buffer& out);

// Counts bytes instead of writing them, so an encoder body can be run once to size the packet.
struct Measure {
  std::size_t n = 0;
  void u8(std::uint8_t) { n += 1; }
  void u16(std::uint16_t) { n += 2; }
  void u32(std::uint32_t) { n += 4; }
  void varint(std::uint32_t v) { n += varint_size(v); }
  void raw(std::string_view s) { n += s.size(); }
  void str(std::string_view s) { n += 2 + s.size(); }
  void props(const Properties& p, PropCtx ctx) { n += properties_size(p, ctx); }
};

// Appends to a buffer that the caller has already reserved.
struct Write {
  Buffer& out;
  void u8(std::uint8_t v) { out.push_back(static_cast<char>(v)); }
  void u16(std::uint16_t v) {
    const char b[2] = {static_cast<char>(v >> 8), static_cast<char>(v & 0xFF)};
    out.append(b, 2);
  }
  void u32(std::uint32_t v) {
    const char b[4] = {static_cast<char>(v >> 24), static_cast<char>((v >> 16) & 0xFF),
                       static_cast<char>((v >> 8) & 0xFF), static_cast<char>(v & 0xFF)};
    out.append(b, 4);
  }
  void varint(std::uint32_t v) { put_varint(out, v); }
  void raw(std::string_view s) { out.append(s); }
  void str(std::string_view s) {
    u16(static_cast<std::uint16_t>(s.size()));
    out.append(s);
  }
  void props(const Properties& p, PropCtx ctx) { write_properties(p, ctx, out); }
};

}  // namespace gw::mqtt::wire
