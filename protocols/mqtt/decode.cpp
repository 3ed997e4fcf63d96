// MQTT framing and decoding: bytes in, one packet value (or an error with its spec reason code) out.
// Sits under the broker's connection layer, which frames the byte stream with parse_frame and hands
// each whole packet to decode; this file never acts on a packet, logs, or keeps state between calls.
//
// Protocol level 3 (MQTT 3.1) is decoded leniently where 3.1 said "not used" rather than "must be 0":
// the fixed-header flags of non-PUBLISH packets, the CONNECT reserved bit, the upper bits of a
// SUBSCRIBE's requested-QoS byte, DUP on QoS 0, the CONNACK's first byte and a password without a user
// name are not checked for it (Mosquitto does the same). Levels 4 and 5 are checked strictly.
#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "protocols/mqtt/codec.hpp"
#include "protocols/mqtt/topic.hpp"
#include "protocols/mqtt/wire.hpp"

namespace gw::mqtt {

using wire::Fault;
using wire::malformed;
using wire::PropCtx;
using wire::protocol_error;
using wire::read_binary;
using wire::read_properties;
using wire::read_utf8;
using wire::Reader;

// ---- Framing ----

// Ok means the whole packet (total() bytes) is in `buf`; NeedMore means it is not yet, and once the
// remaining-length varint is complete header_len and remaining are filled in even then.
Frame parse_frame(ByteView buf, std::size_t max_packet) {
  Frame f;
  if (buf.empty()) return f;
  f.header = buf[0];
  std::size_t value = 0;
  for (std::size_t i = 0;; ++i) {
    if (i == 4) {  // MQTT 5.0 §1.5.5: at most four bytes
      f.status = FrameStatus::Error;
      f.error = malformed("remaining length over 4 bytes");
      return f;
    }
    if (1 + i >= buf.size()) return f;  // NeedMore: the varint is not complete yet
    const std::uint8_t b = buf[1 + i];
    value |= static_cast<std::size_t>(b & 0x7F) << (7 * i);
    if ((b & 0x80) == 0) {
      if (b == 0 && i > 0) {  // MQTT-1.5.5-1: the fewest bytes; a last byte of 0 adds nothing
        f.status = FrameStatus::Error;
        f.error = malformed("remaining length not minimally encoded");
        return f;
      }
      f.header_len = 2 + i;
      break;
    }
  }
  f.remaining = value;
  if (f.total() > max_packet) {
    f.status = FrameStatus::Error;
    f.error = Error{Reason::PacketTooLarge, "packet exceeds maximum packet size"};
    return f;
  }
  f.status = buf.size() >= f.total() ? FrameStatus::Ok : FrameStatus::NeedMore;
  return f;
}

namespace {

// ---- Small checks shared by several packet types ----

bool is_v5(Version v) {
  return v == Version::V5;
}

// MQTT 3.1.1 §2.2.2 / 5.0 §2.1.3: reserved flag bits must have the listed value. 3.1 called them
// "not used", and a 3.1 client may set DUP on a re-sent SUBSCRIBE, so level 3 is not checked.
Fault check_flags(Version v, std::uint8_t flags, std::uint8_t expected) {
  if (v == Version::V31 || flags == expected) return std::nullopt;
  return malformed("invalid fixed-header flags");
}

// MQTT 3.1.1 §2.3.1 / 5.0 §2.2.1: SUBSCRIBE, UNSUBSCRIBE, PUBLISH with QoS > 0 and their acks carry a
// non-zero Packet Identifier. Zero parses, so it is a Protocol Error.
Fault read_packet_id(Reader& r, std::uint16_t& id) {
  if (!r.u16(id)) return malformed("truncated packet identifier");
  if (id == 0) return protocol_error("packet identifier 0");
  return std::nullopt;
}

Fault expect_end(const Reader& r) {
  if (!r.done()) return malformed("unexpected bytes after packet");
  return std::nullopt;
}

bool one_of(std::uint8_t rc, std::initializer_list<std::uint8_t> allowed) {
  return std::find(allowed.begin(), allowed.end(), rc) != allowed.end();
}

// MQTT 5.0 §2.4 and the per-packet reason code tables. A code outside the packet's table parses but is
// not allowed by the protocol: a Protocol Error (§1.2).
bool reason_allowed(PacketType t, std::uint8_t rc) {
  switch (t) {
    case PacketType::Connack:  // §3.2.2.2
      return one_of(rc, {0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
                         0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F});
    case PacketType::Puback:  // §3.4.2.1
    case PacketType::Pubrec:  // §3.5.2.1
      return one_of(rc, {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99});
    case PacketType::Pubrel:   // §3.6.2.1
    case PacketType::Pubcomp:  // §3.7.2.1
      return rc == 0x00 || rc == 0x92;
    case PacketType::Suback:  // §3.9.3
      return one_of(rc, {0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2});
    case PacketType::Unsuback:  // §3.11.3
      return one_of(rc, {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91});
    case PacketType::Disconnect:  // §3.14.2.1
      return one_of(rc,
                    {0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94,
                     0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2});
    case PacketType::Auth:  // §3.15.2.1
      return rc == 0x00 || rc == 0x18 || rc == 0x19;
    default:
      return false;
  }
}

Fault read_reason(Reader& r, PacketType t, Reason& out) {
  std::uint8_t rc = 0;
  if (!r.u8(rc)) return malformed("truncated reason code");
  if (!reason_allowed(t, rc)) return protocol_error("reason code not allowed in this packet");
  out = static_cast<Reason>(rc);
  return std::nullopt;
}

// A topic filter of SUBSCRIBE or UNSUBSCRIBE. 3.1.1 [MQTT-4.7.3-1]: at least one character, else the
// connection is closed; 5.0 answers an empty filter per filter with 0x8F, so it is returned as it is
// (the broker checks filter syntax). A control character closes the connection at every level.
Fault read_filter(Version v, Reader& r, std::string& out) {
  if (auto f = read_utf8(r, out, "truncated topic filter")) return f;
  if (out.empty() && !is_v5(v)) return Error{Reason::TopicFilterInvalid, "empty topic filter"};
  if (has_control_character(out))
    return Error{Reason::TopicFilterInvalid, "control character in topic filter"};
  return std::nullopt;
}

// ---- CONNECT (MQTT 3.1 §3.1, 3.1.1 §3.1, 5.0 §3.1) ----

Fault decode_connect(std::uint8_t flags, Reader& r, Connect& c) {
  if (!r.prefixed(c.protocol_name)) return malformed("truncated protocol name");
  std::uint8_t level = 0;
  if (!r.u8(level)) return malformed("truncated protocol level");
  // "MQIsdp"/3 is MQTT 3.1; "MQTT"/3 is what NETPIE's Node.js microgear sends and is treated as 3.1.
  const bool known =
      (c.protocol_name == "MQIsdp" && level == 3) || (c.protocol_name == "MQTT" && level >= 3 && level <= 5);
  if (!known) return Error{Reason::UnsupportedProtocolVersion, "unsupported protocol name or level"};
  const auto v = static_cast<Version>(level);
  c.version = v;
  if (auto f = check_flags(v, flags, 0)) return f;

  std::uint8_t cf = 0;
  if (!r.u8(cf) || !r.u16(c.keep_alive)) return malformed("truncated CONNECT header");
  const bool reserved = (cf & 0x01) != 0;
  c.clean_start = (cf & 0x02) != 0;
  const bool will = (cf & 0x04) != 0;
  const auto will_qos = static_cast<std::uint8_t>((cf >> 3) & 0x03);
  const bool will_retain = (cf & 0x20) != 0;
  const bool password = (cf & 0x40) != 0;
  const bool username = (cf & 0x80) != 0;

  if (reserved && v != Version::V31) return malformed("CONNECT reserved flag set");  // MQTT-3.1.2-3
  // MQTT-3.1.2-11/-13 (3.1.1), §3.1.2.6 (5.0): no will means will QoS 0 and will retain 0.
  if (!will && (will_qos != 0 || will_retain)) return malformed("will QoS or retain without will flag");
  if (will_qos == 3) return malformed("will QoS 3");
  // MQTT-3.1.2-22: in 3.1.1 a password needs a user name; 5.0 §3.1.2.9 lifted that.
  if (v == Version::V311 && password && !username) return malformed("password without user name");

  if (is_v5(v)) {
    if (auto f = read_properties(r, PropCtx::Connect, c.properties)) return f;
    // §3.1.2.11.10: Authentication Data without an Authentication Method is a Protocol Error.
    if (c.properties.authentication_data && !c.properties.authentication_method) {
      return protocol_error("Authentication Data without Authentication Method");
    }
  }
  if (auto f = read_utf8(r, c.client_id, "truncated client identifier")) return f;
  if (has_control_character(c.client_id)) {
    return Error{Reason::ClientIdentifierNotValid, "control character in client identifier"};
  }
  if (will) {
    Will w;
    w.qos = will_qos;
    w.retain = will_retain;
    if (is_v5(v)) {
      if (auto f = read_properties(r, PropCtx::Will, w.properties)) return f;
    }
    if (auto f = read_utf8(r, w.topic, "truncated will topic")) return f;
    // The will is published later under this name, so it must be a valid topic name (0x90 is a
    // CONNACK reason in 5.0 §3.2.2.2).
    if (!is_valid_topic_name(w.topic)) return Error{Reason::TopicNameInvalid, "invalid will topic"};
    if (auto f = read_binary(r, w.payload, "truncated will payload")) return f;
    // §3.1.3.4 lets the server check a will that claims to be UTF-8.
    if (w.properties.payload_format_indicator == 1 && !wire::utf8_well_formed(w.payload, true)) {
      return Error{Reason::PayloadFormatInvalid, "will payload is not UTF-8"};
    }
    c.will = std::move(w);
  }
  if (username) {
    c.username.emplace();
    if (auto f = read_utf8(r, *c.username, "truncated user name")) return f;
  }
  if (password) {
    c.password.emplace();
    if (auto f = read_binary(r, *c.password, "truncated password")) return f;
  }
  return expect_end(r);
}

// ---- CONNACK (3.1.1 §3.2, 5.0 §3.2) ----

Fault decode_connack(Version v, std::uint8_t flags, Reader& r, Connack& c) {
  if (auto f = check_flags(v, flags, 0)) return f;
  std::uint8_t ack = 0;
  std::uint8_t rc = 0;
  if (!r.u8(ack) || !r.u8(rc)) return malformed("truncated CONNACK");
  if (v != Version::V31) {  // 3.1's first byte is unused; later levels carry Session Present in bit 0
    if ((ack & 0xFE) != 0) return malformed("CONNACK reserved flags set");  // MQTT-3.2.2-1
    c.session_present = (ack & 0x01) != 0;
  }
  if (is_v5(v)) {
    if (!reason_allowed(PacketType::Connack, rc)) return protocol_error("reason code not allowed in CONNACK");
    c.reason = static_cast<Reason>(rc);
    if (auto f = read_properties(r, PropCtx::Connack, c.properties)) return f;
  } else {
    // MQTT 3.1.1 §3.2.2.3 return codes, mapped onto the 5.0 reason codes with the same meaning.
    static constexpr Reason kReturnCodes[] = {
        Reason::Success,           Reason::UnsupportedProtocolVersion, Reason::ClientIdentifierNotValid,
        Reason::ServerUnavailable, Reason::BadUserNameOrPassword,      Reason::NotAuthorized};
    if (rc > 5) return protocol_error("reserved CONNACK return code");
    c.reason = kReturnCodes[rc];
  }
  // MQTT-3.2.2-4 (3.1.1) / MQTT-3.2.2-6 (5.0): a refusal carries Session Present 0.
  if (c.session_present && c.reason != Reason::Success) {
    return protocol_error("session present with a refusal");
  }
  return expect_end(r);
}

// ---- PUBLISH (3.1.1 §3.3, 5.0 §3.3) ----

Fault decode_publish(Version v, std::uint8_t flags, Reader& r, Publish& p) {
  p.dup = (flags & 0x08) != 0;
  p.qos = static_cast<std::uint8_t>((flags >> 1) & 0x03);
  p.retain = (flags & 0x01) != 0;
  if (p.qos == 3) return malformed("PUBLISH QoS 3");                                   // MQTT-3.3.1-4
  if (p.dup && p.qos == 0 && v != Version::V31) return malformed("DUP set on QoS 0");  // MQTT-3.3.1-2
  if (auto f = read_utf8(r, p.topic, "truncated topic name")) return f;
  // MQTT-3.3.2-2: no wildcards in a topic name. An empty name is only legal in 5.0, with a Topic Alias
  // (whether an alias is there is checked by the broker, which owns the alias table).
  if (p.topic.find('+') != std::string::npos || p.topic.find('#') != std::string::npos) {
    return Error{Reason::TopicNameInvalid, "wildcard in topic name"};
  }
  if (has_control_character(p.topic))
    return Error{Reason::TopicNameInvalid, "control character in topic name"};
  if (p.topic.empty() && !is_v5(v)) return Error{Reason::TopicNameInvalid, "empty topic name"};
  if (p.qos > 0) {
    if (auto f = read_packet_id(r, p.packet_id)) return f;
  }
  if (is_v5(v)) {
    if (auto f = read_properties(r, PropCtx::Publish, p.properties)) return f;
  }
  r.rest(p.payload);
  // §3.3.2.3.2: a receiver may check a payload that claims to be UTF-8, answering 0x99.
  if (p.properties.payload_format_indicator == 1 && !wire::utf8_well_formed(p.payload, true)) {
    return Error{Reason::PayloadFormatInvalid, "payload is not UTF-8"};
  }
  return std::nullopt;
}

// ---- PUBACK, PUBREC, PUBREL, PUBCOMP (5.0 §3.4-§3.7) ----

Fault decode_ack(Version v, PacketType t, std::uint8_t flags, Reader& r, Ack& a) {
  a.type = t;
  if (auto f = check_flags(v, flags, t == PacketType::Pubrel ? 0x02 : 0x00)) return f;
  if (auto f = read_packet_id(r, a.packet_id)) return f;
  if (is_v5(v)) {
    // §3.4.2.1: remaining length 2 means Success with no properties; §3.4.2.2.1: below 4 there is no
    // Property Length.
    if (r.done()) return std::nullopt;
    if (auto f = read_reason(r, t, a.reason)) return f;
    if (r.done()) return std::nullopt;
    if (auto f = read_properties(r, PropCtx::PubAck, a.properties)) return f;
  }
  return expect_end(r);
}

// ---- SUBSCRIBE, SUBACK (3.1.1 §3.8-§3.9, 5.0 §3.8-§3.9) ----

Fault decode_subscribe(Version v, std::uint8_t flags, Reader& r, Subscribe& s) {
  if (auto f = check_flags(v, flags, 0x02)) return f;
  if (auto f = read_packet_id(r, s.packet_id)) return f;
  if (is_v5(v)) {
    if (auto f = read_properties(r, PropCtx::Subscribe, s.properties)) return f;
  }
  while (!r.done()) {
    Subscription sub;
    if (auto f = read_filter(v, r, sub.filter)) return f;
    std::uint8_t o = 0;
    if (!r.u8(o)) return malformed("truncated subscription options");
    sub.options.max_qos = static_cast<std::uint8_t>(o & 0x03);
    if (is_v5(v)) {
      // §3.8.3.1: reserved bits 6-7 make the packet malformed (MQTT-3.8.3-5); QoS 3, Retain Handling 3
      // and No Local on a shared subscription (MQTT-3.8.3-4) are Protocol Errors.
      if ((o & 0xC0) != 0) return malformed("subscription options reserved bits set");
      sub.options.no_local = (o & 0x04) != 0;
      sub.options.retain_as_published = (o & 0x08) != 0;
      sub.options.retain_handling = static_cast<std::uint8_t>((o >> 4) & 0x03);
      if (sub.options.max_qos == 3) return protocol_error("subscription QoS 3");
      if (sub.options.retain_handling == 3) return protocol_error("retain handling 3");
      if (sub.options.no_local && parse_shared(sub.filter))
        return protocol_error("No Local on a shared subscription");
    } else {
      // 3.1.1 MQTT-3.8.3-4: reserved bits or QoS 3 make the packet malformed.
      if (v == Version::V311 && (o & 0xFC) != 0) return malformed("requested QoS reserved bits set");
      if (sub.options.max_qos == 3) return malformed("subscription QoS 3");
    }
    s.subscriptions.push_back(std::move(sub));
  }
  // MQTT-3.8.3-3 (3.1.1) / §3.8.3 (5.0): at least one filter.
  if (s.subscriptions.empty()) return protocol_error("SUBSCRIBE without topic filters");
  return std::nullopt;
}

Fault decode_suback(Version v, std::uint8_t flags, Reader& r, Suback& s) {
  if (auto f = check_flags(v, flags, 0)) return f;
  if (auto f = read_packet_id(r, s.packet_id)) return f;
  if (is_v5(v)) {
    if (auto f = read_properties(r, PropCtx::Suback, s.properties)) return f;
  }
  while (!r.done()) {
    std::uint8_t rc = 0;
    r.u8(rc);
    // 3.1.1 §3.9.3: 0x00, 0x01, 0x02 granted, 0x80 failure; everything else is reserved.
    const bool ok = is_v5(v) ? reason_allowed(PacketType::Suback, rc) : (rc <= 2 || rc == 0x80);
    if (!ok) return protocol_error("reason code not allowed in SUBACK");
    s.reasons.push_back(static_cast<Reason>(rc));
  }
  // One code per filter of the SUBSCRIBE, which has at least one.
  if (s.reasons.empty()) return protocol_error("SUBACK without reason codes");
  return std::nullopt;
}

// ---- UNSUBSCRIBE, UNSUBACK (3.1.1 §3.10-§3.11, 5.0 §3.10-§3.11) ----

Fault decode_unsubscribe(Version v, std::uint8_t flags, Reader& r, Unsubscribe& u) {
  if (auto f = check_flags(v, flags, 0x02)) return f;
  if (auto f = read_packet_id(r, u.packet_id)) return f;
  if (is_v5(v)) {
    if (auto f = read_properties(r, PropCtx::Unsubscribe, u.properties)) return f;
  }
  while (!r.done()) {
    std::string filter;
    if (auto f = read_filter(v, r, filter)) return f;
    u.filters.push_back(std::move(filter));
  }
  // MQTT-3.10.3-2: at least one filter.
  if (u.filters.empty()) return protocol_error("UNSUBSCRIBE without topic filters");
  return std::nullopt;
}

Fault decode_unsuback(Version v, std::uint8_t flags, Reader& r, Unsuback& u) {
  if (auto f = check_flags(v, flags, 0)) return f;
  if (auto f = read_packet_id(r, u.packet_id)) return f;
  if (!is_v5(v)) return expect_end(r);  // 3.1.1 §3.11: remaining length is exactly 2
  if (auto f = read_properties(r, PropCtx::Unsuback, u.properties)) return f;
  while (!r.done()) {
    Reason reason{};
    if (auto f = read_reason(r, PacketType::Unsuback, reason)) return f;
    u.reasons.push_back(reason);
  }
  if (u.reasons.empty()) return protocol_error("UNSUBACK without reason codes");
  return std::nullopt;
}

// ---- DISCONNECT, AUTH (5.0 §3.14-§3.15) ----

// Both may stop after the reason code (no Property Length), or be empty (reason Success).
Fault decode_reason_and_props(PacketType t, PropCtx ctx, Reader& r, Reason& reason, Properties& props) {
  if (r.done()) return std::nullopt;
  if (auto f = read_reason(r, t, reason)) return f;
  if (r.done()) return std::nullopt;
  if (auto f = read_properties(r, ctx, props)) return f;
  return expect_end(r);
}

template <typename P, typename Fn>
Result<Packet, Error> run(Fn&& fn) {
  P p;
  if (Fault f = fn(p)) return unexpected(*f);
  return Packet{std::move(p)};
}

}  // namespace

Result<Packet, Error> decode(Version version, std::uint8_t header, ByteView body) {
  const std::uint8_t flags = header & 0x0F;
  const auto type = static_cast<PacketType>(header >> 4);
  Reader r(body);
  switch (type) {
    case PacketType::Connect:
      return run<Connect>([&](Connect& p) { return decode_connect(flags, r, p); });
    case PacketType::Connack:
      return run<Connack>([&](Connack& p) { return decode_connack(version, flags, r, p); });
    case PacketType::Publish:
      return run<Publish>([&](Publish& p) { return decode_publish(version, flags, r, p); });
    case PacketType::Puback:
    case PacketType::Pubrec:
    case PacketType::Pubrel:
    case PacketType::Pubcomp:
      return run<Ack>([&](Ack& p) { return decode_ack(version, type, flags, r, p); });
    case PacketType::Subscribe:
      return run<Subscribe>([&](Subscribe& p) { return decode_subscribe(version, flags, r, p); });
    case PacketType::Suback:
      return run<Suback>([&](Suback& p) { return decode_suback(version, flags, r, p); });
    case PacketType::Unsubscribe:
      return run<Unsubscribe>([&](Unsubscribe& p) { return decode_unsubscribe(version, flags, r, p); });
    case PacketType::Unsuback:
      return run<Unsuback>([&](Unsuback& p) { return decode_unsuback(version, flags, r, p); });
    case PacketType::Pingreq:
      return run<Pingreq>([&](Pingreq&) -> Fault {
        if (auto f = check_flags(version, flags, 0)) return f;
        return expect_end(r);
      });
    case PacketType::Pingresp:
      return run<Pingresp>([&](Pingresp&) -> Fault {
        if (auto f = check_flags(version, flags, 0)) return f;
        return expect_end(r);
      });
    case PacketType::Disconnect:
      return run<Disconnect>([&](Disconnect& p) -> Fault {
        if (auto f = check_flags(version, flags, 0)) return f;
        if (!is_v5(version)) return expect_end(r);  // 3.1.1 §3.14: remaining length 0
        return decode_reason_and_props(PacketType::Disconnect, PropCtx::Disconnect, r, p.reason,
                                       p.properties);
      });
    case PacketType::Auth:
      return run<Auth>([&](Auth& p) -> Fault {
        // Type 15 is reserved before 5.0 (3.1.1 §2.2.1).
        if (!is_v5(version)) return malformed("AUTH before MQTT 5");
        if (auto f = check_flags(version, flags, 0)) return f;
        return decode_reason_and_props(PacketType::Auth, PropCtx::Auth, r, p.reason, p.properties);
      });
  }
  return unexpected(malformed("reserved packet type 0"));
}

namespace {
struct TypeOf {
  PacketType operator()(const Connect&) const { return PacketType::Connect; }
  PacketType operator()(const Connack&) const { return PacketType::Connack; }
  PacketType operator()(const Publish&) const { return PacketType::Publish; }
  PacketType operator()(const Ack& a) const { return a.type; }
  PacketType operator()(const Subscribe&) const { return PacketType::Subscribe; }
  PacketType operator()(const Suback&) const { return PacketType::Suback; }
  PacketType operator()(const Unsubscribe&) const { return PacketType::Unsubscribe; }
  PacketType operator()(const Unsuback&) const { return PacketType::Unsuback; }
  PacketType operator()(const Pingreq&) const { return PacketType::Pingreq; }
  PacketType operator()(const Pingresp&) const { return PacketType::Pingresp; }
  PacketType operator()(const Disconnect&) const { return PacketType::Disconnect; }
  PacketType operator()(const Auth&) const { return PacketType::Auth; }
};
}  // namespace

PacketType type_of(const Packet& p) {
  return std::visit(TypeOf{}, p);
}

const char* type_name(PacketType t) {
  switch (t) {
    case PacketType::Connect:
      return "CONNECT";
    case PacketType::Connack:
      return "CONNACK";
    case PacketType::Publish:
      return "PUBLISH";
    case PacketType::Puback:
      return "PUBACK";
    case PacketType::Pubrec:
      return "PUBREC";
    case PacketType::Pubrel:
      return "PUBREL";
    case PacketType::Pubcomp:
      return "PUBCOMP";
    case PacketType::Subscribe:
      return "SUBSCRIBE";
    case PacketType::Suback:
      return "SUBACK";
    case PacketType::Unsubscribe:
      return "UNSUBSCRIBE";
    case PacketType::Unsuback:
      return "UNSUBACK";
    case PacketType::Pingreq:
      return "PINGREQ";
    case PacketType::Pingresp:
      return "PINGRESP";
    case PacketType::Disconnect:
      return "DISCONNECT";
    case PacketType::Auth:
      return "AUTH";
  }
  return "RESERVED";
}

}  // namespace gw::mqtt
