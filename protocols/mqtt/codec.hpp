// The MQTT codec's entry points: framing, decoding and encoding, as pure functions over bytes.
// Decoding never acts (STYLE.md §2): the broker applies decoded packets elsewhere. Errors are values
// that carry the reason code the spec prescribes, so the caller can send it in CONNACK/DISCONNECT.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "gateway/base/result.hpp"
#include "protocols/mqtt/packets.hpp"

namespace gw::mqtt {

using ByteView = std::span<const std::uint8_t>;
// Encoders append to a caller-owned buffer; std::string is used as a byte buffer.
using Buffer = std::string;

struct Error {
  Reason reason = Reason::MalformedPacket;  // MalformedPacket, ProtocolError, PacketTooLarge, ...
  const char* what = "";                    // static text for logs, e.g. "remaining length over 4 bytes"
};

// ---- Framing (MQTT 3.1.1 §2.2, MQTT 5.0 §2.1) ----
enum class FrameStatus { NeedMore, Ok, Error };
struct Frame {
  FrameStatus status = FrameStatus::NeedMore;
  std::uint8_t header = 0;     // first byte: type << 4 | flags
  std::size_t header_len = 0;  // 1 + bytes of the remaining-length varint
  std::size_t remaining = 0;   // remaining length
  std::size_t total() const { return header_len + remaining; }
  Error error;  // when status == Error
};
// Looks at the start of `buf`. Error with MalformedPacket for a varint longer than 4 bytes or not in
// its fewest bytes (MQTT-1.5.5-1);
// PacketTooLarge when header_len + remaining > max_packet (checked as soon as the length is known,
// before the body has arrived). Does not validate the type or flags.
Frame parse_frame(ByteView buf, std::size_t max_packet);

// ---- Decoding ----
// Decodes one whole packet (header byte + body without the fixed header). `version` is the connection's
// negotiated level; CONNECT is decoded whatever it is. Validates reserved flag bits, lengths, UTF-8
// (MQTT 5.0 §1.5.4: well-formed, no U+0000, no surrogates), property validity per packet type,
// duplicated properties, QoS 3, packet id 0 where one is required, empty SUBSCRIBE/UNSUBSCRIBE, and
// topic name/filter syntax (wildcards in a PUBLISH topic -> TopicNameInvalid; bad filter -> the
// decoder still returns it, the broker answers per filter with TopicFilterInvalid via is_valid_filter;
// but an empty filter before 5.0 [MQTT-4.7.3-1] and a control character in any filter ->
// TopicFilterInvalid, which closes the connection). A control character (U+0001..U+001F,
// U+007F..U+009F) in a topic name gives TopicNameInvalid, in a client id ClientIdentifierNotValid.
// CONNECT: an unknown protocol name or level gives UnsupportedProtocolVersion; accepts "MQIsdp"/3,
// "MQTT"/3 (NETPIE Node microgear), "MQTT"/4, "MQTT"/5. The reserved flag bit must be 0.
Result<Packet, Error> decode(Version version, std::uint8_t header, ByteView body);

// Type of a decoded packet (handy for logs and counters).
PacketType type_of(const Packet& p);
const char* type_name(PacketType t);

// ---- Encoding (append to `out`) ----
// Properties are written only for Version::V5. The encoders trust their input (the broker builds it);
// they do not validate.
void encode(const Connect& p, Buffer& out);  // version taken from p.version
void encode(const Connack& p, Version v, Buffer& out);
void encode(const Publish& p, Version v, Buffer& out);
void encode(const Ack& p, Version v, Buffer& out);  // v5: reason+props omitted when Success and no props
void encode(const Subscribe& p, Version v, Buffer& out);
void encode(const Suback& p, Version v, Buffer& out);
void encode(const Unsubscribe& p, Version v, Buffer& out);
void encode(const Unsuback& p, Version v, Buffer& out);
void encode(const Pingreq& p, Version v, Buffer& out);
void encode(const Pingresp& p, Version v, Buffer& out);
void encode(const Disconnect& p, Version v, Buffer& out);  // 3.1.1: just the two bytes E0 00
void encode(const Auth& p, Version v, Buffer& out);
void encode(const Packet& p, Version v, Buffer& out);

// Hot path for the broker's fan-out: one PUBLISH from parts, without building a Publish value.
// `props` may be null (no properties); ignored unless v == V5.
void encode_publish(Buffer& out, Version v, std::string_view topic, std::string_view payload,
                    std::uint8_t qos, bool retain, bool dup, std::uint16_t packet_id,
                    const Properties* props);

// Size the whole encoded packet would have (for maximum packet size checks before sending).
std::size_t publish_size(Version v, std::string_view topic, std::size_t payload_len, std::uint8_t qos,
                         const Properties* props);

// Appends the MQTT variable byte integer (1..4 bytes). Values over 268,435,455 are a caller bug.
void put_varint(Buffer& out, std::uint32_t value);

}  // namespace gw::mqtt
