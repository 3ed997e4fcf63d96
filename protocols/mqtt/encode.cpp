// MQTT encoding: packet values (or, for the fan-out hot path, PUBLISH parts) to bytes appended to a
// caller-owned buffer. Each packet body is written once as a generic lambda that runs twice, first over a
// byte counter to learn the remaining length and then over the buffer, so the buffer grows once and size
// and bytes cannot disagree. Encoders trust their input (the broker builds it) and do not validate it.
#include <cstdint>
#include <string_view>
#include <type_traits>
#include <variant>

#include "protocols/mqtt/codec.hpp"
#include "protocols/mqtt/wire.hpp"

namespace gw::mqtt {

using wire::Measure;
using wire::PropCtx;
using wire::Write;

void put_varint(Buffer& out, std::uint32_t value) {
  do {
    auto b = static_cast<std::uint8_t>(value & 0x7F);
    value >>= 7;
    if (value != 0) b |= 0x80;
    out.push_back(static_cast<char>(b));
  } while (value != 0);
}

namespace {

bool is_v5(Version v) {
  return v == Version::V5;
}

std::uint8_t byte_of(Reason r) {
  return static_cast<std::uint8_t>(r);
}

// Fixed header, then `body` (a generic lambda over a sink).
template <typename Body>
void emit(Buffer& out, std::uint8_t header, const Body& body) {
  Measure m;
  body(m);
  const auto remaining = static_cast<std::uint32_t>(m.n);
  out.reserve(out.size() + 1 + wire::varint_size(remaining) + m.n);
  out.push_back(static_cast<char>(header));
  put_varint(out, remaining);
  Write w{out};
  body(w);
}

bool has_props(const Properties& p, PropCtx ctx) {
  return wire::properties_size(p, ctx) > 1;
}

// MQTT 3.1.1 §3.2.2.3: the six CONNACK return codes. Refusals without a 3.1.1 equivalent become
// 3 "Server unavailable".
std::uint8_t connack_return_code(Reason r) {
  switch (r) {
    case Reason::Success:
      return 0;
    case Reason::UnsupportedProtocolVersion:
      return 1;
    case Reason::ClientIdentifierNotValid:
      return 2;
    case Reason::BadUserNameOrPassword:
      return 4;
    case Reason::NotAuthorized:
      return 5;
    default:
      return 3;
  }
}

}  // namespace

void encode(const Connect& p, Buffer& out) {
  const Version v = p.version;
  const std::string_view name = !p.protocol_name.empty() ? std::string_view(p.protocol_name)
                                : v == Version::V31      ? "MQIsdp"
                                                         : "MQTT";
  std::uint8_t flags = 0;
  if (p.clean_start) flags |= 0x02;
  if (p.will) {
    flags |= 0x04;
    flags |= static_cast<std::uint8_t>((p.will->qos & 0x03) << 3);
    if (p.will->retain) flags |= 0x20;
  }
  if (p.password) flags |= 0x40;
  if (p.username) flags |= 0x80;
  emit(out, 0x10, [&](auto& s) {
    s.str(name);
    s.u8(static_cast<std::uint8_t>(v));
    s.u8(flags);
    s.u16(p.keep_alive);
    if (is_v5(v)) s.props(p.properties, PropCtx::Connect);
    s.str(p.client_id);
    if (p.will) {
      if (is_v5(v)) s.props(p.will->properties, PropCtx::Will);
      s.str(p.will->topic);
      s.str(p.will->payload);
    }
    if (p.username) s.str(*p.username);
    if (p.password) s.str(*p.password);
  });
}

void encode(const Connack& p, Version v, Buffer& out) {
  emit(out, 0x20, [&](auto& s) {
    // 3.1 has no Session Present; its first byte is unused and sent as 0.
    s.u8(p.session_present && v != Version::V31 ? 1 : 0);
    if (is_v5(v)) {
      s.u8(byte_of(p.reason));
      s.props(p.properties, PropCtx::Connack);
    } else {
      s.u8(connack_return_code(p.reason));
    }
  });
}

void encode(const Publish& p, Version v, Buffer& out) {
  encode_publish(out, v, p.topic, p.payload, p.qos, p.retain, p.dup, p.packet_id, &p.properties);
}

void encode(const Ack& p, Version v, Buffer& out) {
  const auto header = static_cast<std::uint8_t>(static_cast<std::uint8_t>(p.type) << 4 |
                                                (p.type == PacketType::Pubrel ? 0x02 : 0));
  const bool props = is_v5(v) && has_props(p.properties, PropCtx::PubAck);
  const bool reason = is_v5(v) && (props || p.reason != Reason::Success);
  emit(out, header, [&](auto& s) {
    s.u16(p.packet_id);
    // MQTT 5.0 §3.4.2.1: reason and properties may be left out when they carry nothing.
    if (reason) s.u8(byte_of(p.reason));
    if (props) s.props(p.properties, PropCtx::PubAck);
  });
}

void encode(const Subscribe& p, Version v, Buffer& out) {
  emit(out, 0x82, [&](auto& s) {
    s.u16(p.packet_id);
    if (is_v5(v)) s.props(p.properties, PropCtx::Subscribe);
    for (const Subscription& sub : p.subscriptions) {
      s.str(sub.filter);
      auto o = static_cast<std::uint8_t>(sub.options.max_qos & 0x03);
      if (is_v5(v)) {  // §3.8.3.1 subscription options
        if (sub.options.no_local) o |= 0x04;
        if (sub.options.retain_as_published) o |= 0x08;
        o |= static_cast<std::uint8_t>((sub.options.retain_handling & 0x03) << 4);
      }
      s.u8(o);
    }
  });
}

void encode(const Suback& p, Version v, Buffer& out) {
  emit(out, 0x90, [&](auto& s) {
    s.u16(p.packet_id);
    if (is_v5(v)) s.props(p.properties, PropCtx::Suback);
    for (const Reason r : p.reasons) {
      // 3.1.1 §3.9.3 has one failure code, 0x80.
      const std::uint8_t rc = byte_of(r);
      s.u8(is_v5(v) || rc < 0x80 ? rc : 0x80);
    }
  });
}

void encode(const Unsubscribe& p, Version v, Buffer& out) {
  emit(out, 0xA2, [&](auto& s) {
    s.u16(p.packet_id);
    if (is_v5(v)) s.props(p.properties, PropCtx::Unsubscribe);
    for (const std::string& f : p.filters) s.str(f);
  });
}

void encode(const Unsuback& p, Version v, Buffer& out) {
  emit(out, 0xB0, [&](auto& s) {
    s.u16(p.packet_id);
    if (is_v5(v)) {  // 3.1.1 UNSUBACK is the packet identifier alone
      s.props(p.properties, PropCtx::Unsuback);
      for (const Reason r : p.reasons) s.u8(byte_of(r));
    }
  });
}

void encode(const Pingreq&, Version, Buffer& out) {
  out.append("\xC0\x00", 2);
}

void encode(const Pingresp&, Version, Buffer& out) {
  out.append("\xD0\x00", 2);
}

void encode(const Disconnect& p, Version v, Buffer& out) {
  const bool props = is_v5(v) && has_props(p.properties, PropCtx::Disconnect);
  const bool reason = is_v5(v) && (props || p.reason != Reason::Success);
  emit(out, 0xE0, [&](auto& s) {
    // MQTT 5.0 §3.14.2.1: remaining length 0 means Normal disconnection; §3.14.2.2.1: below 2 there is no
    // Property Length.
    if (reason) s.u8(byte_of(p.reason));
    if (props) s.props(p.properties, PropCtx::Disconnect);
  });
}

// AUTH only exists in 5.0; it is written in the 5.0 form whatever `v` says.
void encode(const Auth& p, Version, Buffer& out) {
  const bool props = has_props(p.properties, PropCtx::Auth);
  emit(out, 0xF0, [&](auto& s) {
    // §3.15.2.1: reason and properties may be left out only together, for Success without properties.
    if (props || p.reason != Reason::Success) {
      s.u8(byte_of(p.reason));
      s.props(p.properties, PropCtx::Auth);
    }
  });
}

void encode(const Packet& p, Version v, Buffer& out) {
  std::visit(
      [&](const auto& packet) {
        if constexpr (std::is_same_v<std::decay_t<decltype(packet)>, Connect>) {
          encode(packet, out);
        } else {
          encode(packet, v, out);
        }
      },
      p);
}

// ---- PUBLISH hot path ----

namespace {
std::size_t publish_remaining(Version v, std::string_view topic, std::size_t payload_len, std::uint8_t qos,
                              const Properties* props) {
  std::size_t n = 2 + topic.size() + payload_len;
  if (qos > 0) n += 2;
  if (is_v5(v)) n += props != nullptr ? wire::properties_size(*props, PropCtx::Publish) : 1;
  return n;
}
}  // namespace

std::size_t publish_size(Version v, std::string_view topic, std::size_t payload_len, std::uint8_t qos,
                         const Properties* props) {
  const std::size_t remaining = publish_remaining(v, topic, payload_len, qos, props);
  return 1 + wire::varint_size(static_cast<std::uint32_t>(remaining)) + remaining;
}

void encode_publish(Buffer& out, Version v, std::string_view topic, std::string_view payload,
                    std::uint8_t qos, bool retain, bool dup, std::uint16_t packet_id,
                    const Properties* props) {
  const auto remaining = static_cast<std::uint32_t>(publish_remaining(v, topic, payload.size(), qos, props));
  out.reserve(out.size() + 1 + wire::varint_size(remaining) + remaining);

  // Fixed header, remaining length and topic length go out in one append.
  char head[9];
  std::size_t n = 0;
  head[n++] = static_cast<char>(0x30 | (dup ? 0x08 : 0) | (qos & 0x03) << 1 | (retain ? 0x01 : 0));
  std::uint32_t rem = remaining;
  do {
    auto b = static_cast<std::uint8_t>(rem & 0x7F);
    rem >>= 7;
    if (rem != 0) b |= 0x80;
    head[n++] = static_cast<char>(b);
  } while (rem != 0);
  head[n++] = static_cast<char>(topic.size() >> 8);
  head[n++] = static_cast<char>(topic.size() & 0xFF);
  out.append(head, n);
  out.append(topic);
  if (qos > 0) {
    const char id[2] = {static_cast<char>(packet_id >> 8), static_cast<char>(packet_id & 0xFF)};
    out.append(id, 2);
  }
  if (is_v5(v)) {
    if (props != nullptr) {
      wire::write_properties(*props, PropCtx::Publish, out);
    } else {
      out.push_back('\0');
    }
  }
  out.append(payload);
}

}  // namespace gw::mqtt
