// WebSocket frame decoder and encoder (see frame.hpp for the state table). Base framing protocol: RFC 6455
// §5.2; masking §5.3; fragmentation §5.4; control frames §5.5; close codes §7.4. No extension is ever
// negotiated (the handshake answers none), so any RSV bit is an error.
#include "protocols/websocket/frame.hpp"

#include <algorithm>
#include <cstring>

namespace gw::websocket {

namespace {

constexpr std::uint8_t kFin = 0x80;
constexpr std::uint8_t kRsv = 0x70;
constexpr std::uint8_t kOpcodeBits = 0x0F;
constexpr std::uint8_t kMaskBit = 0x80;
constexpr std::uint8_t kLen7 = 0x7F;

bool is_control(std::uint8_t opcode) {
  return (opcode & 0x08) != 0;
}

bool is_known(std::uint8_t opcode) {
  return opcode <= 0x2 || (opcode >= 0x8 && opcode <= 0xA);
}

// Header length once its first two bytes are known.
std::size_t header_length(std::uint8_t b1) {
  const std::uint8_t len7 = b1 & kLen7;
  return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((b1 & kMaskBit) ? 4 : 0);
}

}  // namespace

bool close_code_allowed_on_wire(std::uint16_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

Decoder::Decoder(Role role, DecoderLimits limits) : role_(role), limits_(limits) {}

Event Decoder::fail(std::uint16_t code, const char* what, std::size_t consumed) {
  state_ = State::Failed;
  last_ = Event{};
  last_.kind = Event::Kind::Error;
  last_.code = code;
  last_.what = what;
  Event e = last_;
  e.consumed = consumed;
  return e;
}

void Decoder::unmask(char* p, std::size_t n) {
  if (!masked_) return;
  std::size_t i = 0;
  // Byte by byte until the mask position is back at key byte 0, then eight bytes at a time.
  for (; i < n && (offset_ + i) % 4 != 0; ++i) p[i] = static_cast<char>(p[i] ^ mask_[(offset_ + i) % 4]);
  std::uint64_t key;
  std::uint8_t key_bytes[8];
  for (int k = 0; k < 8; ++k) key_bytes[k] = mask_[k % 4];
  std::memcpy(&key, key_bytes, 8);
  for (; n - i >= 8; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    w ^= key;
    std::memcpy(p + i, &w, 8);
  }
  for (; i < n; ++i) p[i] = static_cast<char>(p[i] ^ mask_[(offset_ + i) % 4]);
}

Event Decoder::start_frame(std::size_t consumed) {
  const std::uint8_t b0 = header_[0];
  const std::uint8_t b1 = header_[1];
  const std::uint8_t op = b0 & kOpcodeBits;
  const std::uint8_t len7 = b1 & kLen7;
  std::size_t at = 2;
  std::uint64_t len = len7;
  if (len7 == 126) {
    len = (std::uint64_t{header_[2]} << 8) | header_[3];
    at = 4;
    // RFC 6455 §5.2: "the minimal number of bytes MUST be used to encode the length".
    if (len < 126) return fail(kCloseProtocolError, "frame length not minimally encoded", consumed);
  } else if (len7 == 127) {
    len = 0;
    for (int i = 0; i < 8; ++i) len = (len << 8) | header_[2 + i];
    at = 10;
    // RFC 6455 §5.2: "the most significant bit MUST be 0".
    if (len >> 63) return fail(kCloseProtocolError, "64-bit frame length with the top bit set", consumed);
    if (len < 65536) return fail(kCloseProtocolError, "frame length not minimally encoded", consumed);
  }
  if (masked_) std::memcpy(mask_.data(), header_.data() + at, 4);
  header_have_ = 0;
  fin_ = (b0 & kFin) != 0;
  opcode_ = static_cast<Opcode>(op);
  remaining_ = len;
  offset_ = 0;

  if (is_control(op)) {  // length <= 125 and FIN were checked with the first two bytes
    control_have_ = 0;
    state_ = State::Control;
    return Event{};
  }
  // RFC 6455 §5.4: continuation frames only inside a fragmented message, and no new message inside one.
  if (opcode_ == Opcode::Continuation) {
    if (!in_message_) return fail(kCloseProtocolError, "continuation frame without a message", consumed);
  } else {
    if (in_message_) return fail(kCloseProtocolError, "new data frame inside a fragmented message", consumed);
    if (opcode_ == Opcode::Text && !limits_.accept_text) {
      return fail(kCloseUnsupportedData, "text frame (binary only)", consumed);
    }
    in_message_ = true;
    message_text_ = opcode_ == Opcode::Text;
    message_bytes_ = 0;
    utf8_.reset();
  }
  if (len > limits_.max_frame_bytes) return fail(kCloseTooBig, "frame over the size limit", consumed);
  if (len > limits_.max_message_bytes - message_bytes_) {
    return fail(kCloseTooBig, "message over the size limit", consumed);
  }
  message_bytes_ += len;
  state_ = State::Payload;
  return Event{};
}

Event Decoder::finish_control(std::size_t consumed) {
  state_ = State::Header;
  Event e;
  e.consumed = consumed;
  e.payload = std::string_view(control_.data(), control_have_);
  switch (opcode_) {
    case Opcode::Ping:
      e.kind = Event::Kind::Ping;
      return e;
    case Opcode::Pong:
      e.kind = Event::Kind::Pong;
      return e;
    default:
      break;
  }
  // Close (RFC 6455 §5.5.1): empty, or a two-byte code and a UTF-8 reason.
  if (control_have_ == 1) return fail(kCloseProtocolError, "close frame with a one-byte payload", consumed);
  e.kind = Event::Kind::Close;
  e.code = kCloseNoStatus;
  if (control_have_ >= 2) {
    e.code = static_cast<std::uint16_t>((std::uint8_t(control_[0]) << 8) | std::uint8_t(control_[1]));
    if (!close_code_allowed_on_wire(e.code))
      return fail(kCloseProtocolError, "close code not allowed", consumed);
    e.payload.remove_prefix(2);
    // RFC 6455 §5.5.1: the reason is UTF-8; §8.1: invalid UTF-8 fails the connection with 1007.
    if (!is_utf8(e.payload)) return fail(kCloseInvalidPayload, "close reason is not UTF-8", consumed);
  }
  state_ = State::Closed;
  last_ = e;
  last_.consumed = 0;
  return e;
}

Event Decoder::next(std::span<char> bytes) {
  if (state_ == State::Closed || state_ == State::Failed) return last_;
  std::size_t pos = 0;
  const std::size_t size = bytes.size();
  while (true) {
    switch (state_) {
      case State::Header: {
        if (header_have_ < 2) {
          while (header_have_ < 2 && pos < size) header_[header_have_++] = std::uint8_t(bytes[pos++]);
          if (header_have_ < 2) return Event{.consumed = pos};
          // Everything that the first two bytes already decide, before waiting for the rest of the header.
          const std::uint8_t b0 = header_[0];
          const std::uint8_t b1 = header_[1];
          const std::uint8_t op = b0 & kOpcodeBits;
          if (b0 & kRsv) return fail(kCloseProtocolError, "reserved bits set (no extension negotiated)", pos);
          if (!is_known(op)) return fail(kCloseProtocolError, "reserved opcode", pos);
          if (is_control(op) && !(b0 & kFin))
            return fail(kCloseProtocolError, "fragmented control frame", pos);
          if (is_control(op) && (b1 & kLen7) > 125) {
            return fail(kCloseProtocolError, "control frame over 125 bytes", pos);
          }
          masked_ = (b1 & kMaskBit) != 0;
          // RFC 6455 §5.1: a client masks every frame, a server none.
          if (role_ == Role::Server && !masked_)
            return fail(kCloseProtocolError, "unmasked client frame", pos);
          if (role_ == Role::Client && masked_) return fail(kCloseProtocolError, "masked server frame", pos);
        }
        const std::size_t need = header_length(header_[1]);
        while (header_have_ < need && pos < size) header_[header_have_++] = std::uint8_t(bytes[pos++]);
        if (header_have_ < need) return Event{.consumed = pos};
        if (Event e = start_frame(pos); e.kind == Event::Kind::Error) return e;
        break;
      }
      case State::Payload: {
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, size - pos));
        if (n == 0 && remaining_ > 0) return Event{.consumed = pos};
        char* p = bytes.data() + pos;
        unmask(p, n);
        const std::string_view piece(p, n);
        if (message_text_ && !utf8_.feed(piece))
          return fail(kCloseInvalidPayload, "text is not UTF-8", pos + n);
        remaining_ -= n;
        offset_ += n;
        pos += n;
        if (remaining_ > 0)
          return Event{.kind = Event::Kind::Data, .consumed = pos, .payload = piece, .text = message_text_};
        state_ = State::Header;
        if (!fin_ && n == 0) break;  // an empty non-final fragment says nothing
        Event e{.kind = Event::Kind::Data,
                .consumed = pos,
                .payload = piece,
                .text = message_text_,
                .message_end = fin_};
        if (fin_) {
          if (message_text_ && !utf8_.complete()) return fail(kCloseInvalidPayload, "text is not UTF-8", pos);
          in_message_ = false;
          message_bytes_ = 0;
        }
        return e;
      }
      case State::Control: {
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, size - pos));
        char* dst = control_.data() + control_have_;
        std::memcpy(dst, bytes.data() + pos, n);
        unmask(dst, n);
        control_have_ = static_cast<std::uint8_t>(control_have_ + n);
        remaining_ -= n;
        offset_ += n;
        pos += n;
        if (remaining_ > 0) return Event{.consumed = pos};
        return finish_control(pos);
      }
      case State::Closed:
      case State::Failed:
        return last_;
    }
  }
}

std::size_t frame_header_size(std::uint64_t payload_len, bool masked) {
  return (payload_len < 126 ? 2 : payload_len < 65536 ? 4 : 10) + (masked ? 4 : 0);
}

namespace {

void put_header(std::string& out, Opcode op, std::uint64_t len, bool fin, bool masked) {
  const char mask_bit = masked ? char(kMaskBit) : char(0);
  out.push_back(static_cast<char>((fin ? kFin : 0) | static_cast<std::uint8_t>(op)));
  if (len < 126) {
    out.push_back(static_cast<char>(mask_bit | static_cast<char>(len)));
  } else if (len < 65536) {
    out.push_back(static_cast<char>(mask_bit | 126));
    out.push_back(static_cast<char>(len >> 8));
    out.push_back(static_cast<char>(len));
  } else {
    out.push_back(static_cast<char>(mask_bit | 127));
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(len >> shift));
  }
}

}  // namespace

void write_frame_header(std::string& out, Opcode op, std::uint64_t payload_len, bool fin) {
  put_header(out, op, payload_len, fin, false);
}

void write_frame(std::string& out, Opcode op, std::string_view payload, bool fin,
                 const std::array<std::uint8_t, 4>* mask) {
  put_header(out, op, payload.size(), fin, mask != nullptr);
  if (!mask) {
    out.append(payload);
    return;
  }
  out.append(reinterpret_cast<const char*>(mask->data()), 4);
  const std::size_t at = out.size();
  out.append(payload);
  for (std::size_t i = 0; i < payload.size(); ++i)
    out[at + i] = static_cast<char>(out[at + i] ^ (*mask)[i % 4]);
}

void write_close(std::string& out, std::uint16_t code, std::string_view reason,
                 const std::array<std::uint8_t, 4>* mask) {
  if (code == kCloseNoStatus) {
    write_frame(out, Opcode::Close, {}, true, mask);
    return;
  }
  // 125 bytes of control payload, two of them the code; never cut a UTF-8 sequence in half.
  if (reason.size() > 123) {
    std::size_t cut = 123;
    while (cut > 0 && (std::uint8_t(reason[cut]) & 0xC0) == 0x80) --cut;
    reason = reason.substr(0, cut);
  }
  std::string payload;
  payload.push_back(static_cast<char>(code >> 8));
  payload.push_back(static_cast<char>(code));
  payload.append(reason);
  write_frame(out, Opcode::Close, payload, true, mask);
}

}  // namespace gw::websocket
