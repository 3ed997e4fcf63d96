// MQTT 5.0 properties (§2.2.2): the table of which property may appear in which packet, and reading and
// writing a property block. Reading enforces the table, the data types, the "at most once" rules and the
// value ranges the spec states per property; writing emits only what the packet type allows, so a will's
// Will Delay Interval never leaks into the PUBLISH that later carries the will. Pure.
#include <cstdint>
#include <optional>
#include <string>

#include "protocols/mqtt/topic.hpp"
#include "protocols/mqtt/wire.hpp"

namespace gw::mqtt::wire {

namespace {

constexpr std::uint16_t bit(PropCtx c) {
  return static_cast<std::uint16_t>(1u << static_cast<unsigned>(c));
}

constexpr std::uint16_t kConnect = bit(PropCtx::Connect);
constexpr std::uint16_t kWill = bit(PropCtx::Will);
constexpr std::uint16_t kConnack = bit(PropCtx::Connack);
constexpr std::uint16_t kPublish = bit(PropCtx::Publish);
constexpr std::uint16_t kPubAck = bit(PropCtx::PubAck);
constexpr std::uint16_t kSubscribe = bit(PropCtx::Subscribe);
constexpr std::uint16_t kSuback = bit(PropCtx::Suback);
constexpr std::uint16_t kUnsubscribe = bit(PropCtx::Unsubscribe);
constexpr std::uint16_t kUnsuback = bit(PropCtx::Unsuback);
constexpr std::uint16_t kDisconnect = bit(PropCtx::Disconnect);
constexpr std::uint16_t kAuth = bit(PropCtx::Auth);

// Property identifiers, MQTT 5.0 §2.2.2.2 Table 2-4.
enum Id : std::uint8_t {
  kPayloadFormat = 0x01,
  kMessageExpiry = 0x02,
  kContentType = 0x03,
  kResponseTopic = 0x08,
  kCorrelationData = 0x09,
  kSubscriptionId = 0x0B,
  kSessionExpiry = 0x11,
  kAssignedClientId = 0x12,
  kServerKeepAlive = 0x13,
  kAuthMethod = 0x15,
  kAuthData = 0x16,
  kRequestProblemInfo = 0x17,
  kWillDelay = 0x18,
  kRequestResponseInfo = 0x19,
  kResponseInfo = 0x1A,
  kServerReference = 0x1C,
  kReasonString = 0x1F,
  kReceiveMaximum = 0x21,
  kTopicAliasMaximum = 0x22,
  kTopicAlias = 0x23,
  kMaximumQos = 0x24,
  kRetainAvailable = 0x25,
  kUserProperty = 0x26,
  kMaximumPacketSize = 0x27,
  kWildcardSubAvailable = 0x28,
  kSubIdAvailable = 0x29,
  kSharedSubAvailable = 0x2A,
};

// The packets each identifier may appear in (Table 2-4, "Packet / Will Properties" column); 0 for an
// identifier the spec does not define.
constexpr std::uint16_t allowed_in(std::uint8_t id) {
  switch (id) {
    case kPayloadFormat:
    case kMessageExpiry:
    case kContentType:
    case kResponseTopic:
    case kCorrelationData:
      return kPublish | kWill;
    case kSubscriptionId:
      return kPublish | kSubscribe;
    case kSessionExpiry:
      return kConnect | kConnack | kDisconnect;
    case kAssignedClientId:
    case kServerKeepAlive:
    case kResponseInfo:
    case kMaximumQos:
    case kRetainAvailable:
    case kWildcardSubAvailable:
    case kSubIdAvailable:
    case kSharedSubAvailable:
      return kConnack;
    case kAuthMethod:
    case kAuthData:
      return kConnect | kConnack | kAuth;
    case kRequestProblemInfo:
    case kRequestResponseInfo:
      return kConnect;
    case kWillDelay:
      return kWill;
    case kServerReference:
      return kConnack | kDisconnect;
    case kReasonString:
      return kConnack | kPubAck | kSuback | kUnsuback | kDisconnect | kAuth;
    case kReceiveMaximum:
    case kTopicAliasMaximum:
    case kMaximumPacketSize:
      return kConnect | kConnack;
    case kTopicAlias:
      return kPublish;
    case kUserProperty:
      return kConnect | kConnack | kPublish | kWill | kPubAck | kSubscribe | kSuback | kUnsubscribe |
             kUnsuback | kDisconnect | kAuth;
    default:
      return 0;
  }
}

Error truncated() {
  return malformed("truncated property");
}
Error duplicate() {
  return protocol_error("property included more than once");
}

// Single-valued properties: "It is a Protocol Error to include the <property> more than once".
Fault read_byte(Reader& r, std::optional<std::uint8_t>& slot, bool boolean) {
  std::uint8_t v = 0;
  if (!r.u8(v)) return truncated();
  if (slot) return duplicate();
  // Request Problem/Response Information, Maximum QoS, Retain/Wildcard/Subscription Identifier/Shared
  // Subscription Available: "It is a Protocol Error to ... have a value other than 0 or 1". Payload
  // Format Indicator only defines 0 and 1; other values are treated the same way.
  if (boolean && v > 1) return protocol_error("property value other than 0 or 1");
  slot = v;
  return std::nullopt;
}

Fault read_u16(Reader& r, std::optional<std::uint16_t>& slot, bool nonzero) {
  std::uint16_t v = 0;
  if (!r.u16(v)) return truncated();
  if (slot) return duplicate();
  if (nonzero && v == 0) return protocol_error("property value 0");
  slot = v;
  return std::nullopt;
}

Fault read_u32(Reader& r, std::optional<std::uint32_t>& slot, bool nonzero) {
  std::uint32_t v = 0;
  if (!r.u32(v)) return truncated();
  if (slot) return duplicate();
  if (nonzero && v == 0) return protocol_error("property value 0");
  slot = v;
  return std::nullopt;
}

Fault read_string(Reader& r, std::optional<std::string>& slot, bool utf8) {
  std::string v;
  if (!r.prefixed(v)) return truncated();
  if (utf8 && !utf8_well_formed(v, false)) return malformed("invalid UTF-8 in property");
  if (slot) return duplicate();
  slot = std::move(v);
  return std::nullopt;
}

Fault read_one(Reader& r, std::uint8_t id, PropCtx ctx, Properties& p) {
  switch (id) {
    case kPayloadFormat:
      return read_byte(r, p.payload_format_indicator, true);
    case kMessageExpiry:
      return read_u32(r, p.message_expiry_interval, false);
    case kContentType:
      return read_string(r, p.content_type, true);
    case kResponseTopic: {
      if (auto f = read_string(r, p.response_topic, true)) return f;
      // MQTT-3.3.2-14 (and §3.1.3.2.5 for the will): the Response Topic is a topic name. A wildcard
      // parses fine, so it is a Protocol Error rather than a Malformed Packet (§1.2).
      if (!is_valid_topic_name(*p.response_topic)) return protocol_error("invalid Response Topic");
      return std::nullopt;
    }
    case kCorrelationData:
      return read_string(r, p.correlation_data, false);
    case kSubscriptionId: {
      std::uint32_t v = 0;
      if (!r.varint(v)) return truncated();
      // §3.3.2.3.8 / §3.8.2.1.2: value 0 is a Protocol Error; SUBSCRIBE carries at most one, while a
      // PUBLISH to a client may carry one per matching subscription.
      if (v == 0) return protocol_error("Subscription Identifier 0");
      if (ctx == PropCtx::Subscribe && !p.subscription_identifiers.empty()) return duplicate();
      p.subscription_identifiers.push_back(v);
      return std::nullopt;
    }
    case kSessionExpiry:
      return read_u32(r, p.session_expiry_interval, false);
    case kAssignedClientId:
      return read_string(r, p.assigned_client_identifier, true);
    case kServerKeepAlive:
      return read_u16(r, p.server_keep_alive, false);
    case kAuthMethod:
      return read_string(r, p.authentication_method, true);
    case kAuthData:
      return read_string(r, p.authentication_data, false);
    case kRequestProblemInfo:
      return read_byte(r, p.request_problem_information, true);
    case kWillDelay:
      return read_u32(r, p.will_delay_interval, false);
    case kRequestResponseInfo:
      return read_byte(r, p.request_response_information, true);
    case kResponseInfo:
      return read_string(r, p.response_information, true);
    case kServerReference:
      return read_string(r, p.server_reference, true);
    case kReasonString:
      return read_string(r, p.reason_string, true);
    case kReceiveMaximum:
      return read_u16(r, p.receive_maximum, true);  // §3.1.2.11.3: 0 is a Protocol Error
    case kTopicAliasMaximum:
      return read_u16(r, p.topic_alias_maximum, false);
    case kTopicAlias: {
      if (auto f = read_u16(r, p.topic_alias, false)) return f;
      // MQTT-3.3.2-8: a Topic Alias of 0 is not permitted; §3.3.2.3.4 names the reason 0x94.
      if (*p.topic_alias == 0) return Error{Reason::TopicAliasInvalid, "Topic Alias 0"};
      return std::nullopt;
    }
    case kMaximumQos:
      return read_byte(r, p.maximum_qos, true);
    case kRetainAvailable:
      return read_byte(r, p.retain_available, true);
    case kUserProperty: {
      UserProperty up;
      if (!r.prefixed(up.key) || !r.prefixed(up.value)) return truncated();
      if (!utf8_well_formed(up.key, false) || !utf8_well_formed(up.value, false)) {
        return malformed("invalid UTF-8 in User Property");
      }
      p.user_properties.push_back(std::move(up));
      return std::nullopt;
    }
    case kMaximumPacketSize:
      return read_u32(r, p.maximum_packet_size, true);  // §3.1.2.11.4: 0 is a Protocol Error
    case kWildcardSubAvailable:
      return read_byte(r, p.wildcard_subscription_available, true);
    case kSubIdAvailable:
      return read_byte(r, p.subscription_identifier_available, true);
    case kSharedSubAvailable:
      return read_byte(r, p.shared_subscription_available, true);
    default:
      return malformed("unknown property");  // unreachable: allowed_in() rejected it
  }
}

// One body for measuring and writing, so the two cannot disagree.
template <typename Sink>
void put_body(const Properties& p, std::uint16_t ctx, Sink& s) {
  auto want = [ctx](std::uint8_t id) { return (allowed_in(id) & ctx) != 0; };
  auto byte = [&](std::uint8_t id, const std::optional<std::uint8_t>& v) {
    if (v && want(id)) {
      s.u8(id);
      s.u8(*v);
    }
  };
  auto two = [&](std::uint8_t id, const std::optional<std::uint16_t>& v) {
    if (v && want(id)) {
      s.u8(id);
      s.u16(*v);
    }
  };
  auto four = [&](std::uint8_t id, const std::optional<std::uint32_t>& v) {
    if (v && want(id)) {
      s.u8(id);
      s.u32(*v);
    }
  };
  auto str = [&](std::uint8_t id, const std::optional<std::string>& v) {
    if (v && want(id)) {
      s.u8(id);
      s.str(*v);
    }
  };
  byte(kPayloadFormat, p.payload_format_indicator);
  four(kMessageExpiry, p.message_expiry_interval);
  str(kContentType, p.content_type);
  str(kResponseTopic, p.response_topic);
  str(kCorrelationData, p.correlation_data);
  if (want(kSubscriptionId)) {
    for (const std::uint32_t id : p.subscription_identifiers) {
      s.u8(kSubscriptionId);
      s.varint(id);
    }
  }
  four(kSessionExpiry, p.session_expiry_interval);
  str(kAssignedClientId, p.assigned_client_identifier);
  two(kServerKeepAlive, p.server_keep_alive);
  str(kAuthMethod, p.authentication_method);
  str(kAuthData, p.authentication_data);
  byte(kRequestProblemInfo, p.request_problem_information);
  four(kWillDelay, p.will_delay_interval);
  byte(kRequestResponseInfo, p.request_response_information);
  str(kResponseInfo, p.response_information);
  str(kServerReference, p.server_reference);
  str(kReasonString, p.reason_string);
  two(kReceiveMaximum, p.receive_maximum);
  two(kTopicAliasMaximum, p.topic_alias_maximum);
  two(kTopicAlias, p.topic_alias);
  byte(kMaximumQos, p.maximum_qos);
  byte(kRetainAvailable, p.retain_available);
  if (want(kUserProperty)) {
    for (const UserProperty& up : p.user_properties) {
      s.u8(kUserProperty);
      s.str(up.key);
      s.str(up.value);
    }
  }
  four(kMaximumPacketSize, p.maximum_packet_size);
  byte(kWildcardSubAvailable, p.wildcard_subscription_available);
  byte(kSubIdAvailable, p.subscription_identifier_available);
  byte(kSharedSubAvailable, p.shared_subscription_available);
}

}  // namespace

Fault read_properties(Reader& r, PropCtx ctx, Properties& out) {
  std::uint32_t len = 0;
  if (!r.varint(len)) return malformed("bad property length");
  if (len > r.left()) return malformed("property length exceeds packet");
  Reader pr = r.take(len);
  while (!pr.done()) {
    // The identifier is a Variable Byte Integer, but every defined one fits in one byte; a first byte
    // with the continuation bit set is therefore an unknown identifier either way.
    std::uint8_t id = 0;
    pr.u8(id);
    const std::uint16_t mask = allowed_in(id);
    if (mask == 0) return malformed("unknown property");
    // §2.2.2.2: an identifier not valid for the packet type is a Malformed Packet.
    if ((mask & bit(ctx)) == 0) return malformed("property not allowed in this packet");
    if (auto f = read_one(pr, id, ctx, out)) return f;
  }
  return std::nullopt;
}

std::size_t properties_size(const Properties& p, PropCtx ctx) {
  Measure m;
  put_body(p, bit(ctx), m);
  return varint_size(static_cast<std::uint32_t>(m.n)) + m.n;
}

void write_properties(const Properties& p, PropCtx ctx, Buffer& out) {
  Measure m;
  put_body(p, bit(ctx), m);
  put_varint(out, static_cast<std::uint32_t>(m.n));
  Write w{out};
  put_body(p, bit(ctx), w);
}

}  // namespace gw::mqtt::wire
