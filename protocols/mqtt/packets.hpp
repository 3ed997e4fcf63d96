// MQTT control packets as plain values, for protocol levels 3 (3.1, "MQIsdp" and the non-standard
// "MQTT"/3 that NETPIE's Node.js microgear sends), 4 (3.1.1) and 5 (5.0).
// These types are what the decoder produces and the encoder consumes; they carry no behaviour.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace gw::mqtt {

enum class PacketType : std::uint8_t {
  Connect = 1,
  Connack = 2,
  Publish = 3,
  Puback = 4,
  Pubrec = 5,
  Pubrel = 6,
  Pubcomp = 7,
  Subscribe = 8,
  Suback = 9,
  Unsubscribe = 10,
  Unsuback = 11,
  Pingreq = 12,
  Pingresp = 13,
  Disconnect = 14,
  Auth = 15,
};

// The protocol level byte of CONNECT (MQTT 3.1.1 §3.1.2.2, MQTT 5.0 §3.1.2.2).
enum class Version : std::uint8_t { V31 = 3, V311 = 4, V5 = 5 };

// MQTT 5.0 §2.4 reason codes. For 3.1.1 the CONNACK return codes 1..5 are mapped by the encoder.
enum class Reason : std::uint8_t {
  Success = 0x00,  // also Normal disconnection, Granted QoS 0
  GrantedQos1 = 0x01,
  GrantedQos2 = 0x02,
  DisconnectWithWill = 0x04,
  NoMatchingSubscribers = 0x10,
  NoSubscriptionExisted = 0x11,
  ContinueAuthentication = 0x18,
  ReAuthenticate = 0x19,
  UnspecifiedError = 0x80,
  MalformedPacket = 0x81,
  ProtocolError = 0x82,
  ImplementationSpecificError = 0x83,
  UnsupportedProtocolVersion = 0x84,
  ClientIdentifierNotValid = 0x85,
  BadUserNameOrPassword = 0x86,
  NotAuthorized = 0x87,
  ServerUnavailable = 0x88,
  ServerBusy = 0x89,
  Banned = 0x8A,
  ServerShuttingDown = 0x8B,
  BadAuthenticationMethod = 0x8C,
  KeepAliveTimeout = 0x8D,
  SessionTakenOver = 0x8E,
  TopicFilterInvalid = 0x8F,
  TopicNameInvalid = 0x90,
  PacketIdentifierInUse = 0x91,
  PacketIdentifierNotFound = 0x92,
  ReceiveMaximumExceeded = 0x93,
  TopicAliasInvalid = 0x94,
  PacketTooLarge = 0x95,
  MessageRateTooHigh = 0x96,
  QuotaExceeded = 0x97,
  AdministrativeAction = 0x98,
  PayloadFormatInvalid = 0x99,
  RetainNotSupported = 0x9A,
  QosNotSupported = 0x9B,
  UseAnotherServer = 0x9C,
  ServerMoved = 0x9D,
  SharedSubscriptionsNotSupported = 0x9E,
  ConnectionRateExceeded = 0x9F,
  MaximumConnectTime = 0xA0,
  SubscriptionIdentifiersNotSupported = 0xA1,
  WildcardSubscriptionsNotSupported = 0xA2,
};

struct UserProperty {
  std::string key;
  std::string value;
  bool operator==(const UserProperty&) const = default;
};

// MQTT 5.0 §2.2.2 properties. Only the ones valid for a packet type are decoded/encoded for it; a
// property not allowed in that packet is a decode error (Protocol Error / Malformed Packet).
struct Properties {
  std::optional<std::uint8_t> payload_format_indicator;           // 0x01
  std::optional<std::uint32_t> message_expiry_interval;           // 0x02
  std::optional<std::string> content_type;                        // 0x03
  std::optional<std::string> response_topic;                      // 0x08
  std::optional<std::string> correlation_data;                    // 0x09 (binary)
  std::vector<std::uint32_t> subscription_identifiers;            // 0x0B (PUBLISH may carry several)
  std::optional<std::uint32_t> session_expiry_interval;           // 0x11
  std::optional<std::string> assigned_client_identifier;          // 0x12
  std::optional<std::uint16_t> server_keep_alive;                 // 0x13
  std::optional<std::string> authentication_method;               // 0x15
  std::optional<std::string> authentication_data;                 // 0x16 (binary)
  std::optional<std::uint8_t> request_problem_information;        // 0x17
  std::optional<std::uint32_t> will_delay_interval;               // 0x18
  std::optional<std::uint8_t> request_response_information;       // 0x19
  std::optional<std::string> response_information;                // 0x1A
  std::optional<std::string> server_reference;                    // 0x1C
  std::optional<std::string> reason_string;                       // 0x1F
  std::optional<std::uint16_t> receive_maximum;                   // 0x21
  std::optional<std::uint16_t> topic_alias_maximum;               // 0x22
  std::optional<std::uint16_t> topic_alias;                       // 0x23
  std::optional<std::uint8_t> maximum_qos;                        // 0x24
  std::optional<std::uint8_t> retain_available;                   // 0x25
  std::vector<UserProperty> user_properties;                      // 0x26
  std::optional<std::uint32_t> maximum_packet_size;               // 0x27
  std::optional<std::uint8_t> wildcard_subscription_available;    // 0x28
  std::optional<std::uint8_t> subscription_identifier_available;  // 0x29
  std::optional<std::uint8_t> shared_subscription_available;      // 0x2A

  bool operator==(const Properties&) const = default;
};

struct Will {
  std::string topic;
  std::string payload;  // binary
  std::uint8_t qos = 0;
  bool retain = false;
  Properties properties;  // v5 will properties
  bool operator==(const Will&) const = default;
};

struct Connect {
  std::string protocol_name;  // "MQTT" or "MQIsdp"
  Version version = Version::V311;
  bool clean_start = true;  // "clean session" before v5
  std::uint16_t keep_alive = 0;
  std::string client_id;
  std::optional<Will> will;
  std::optional<std::string> username;
  std::optional<std::string> password;  // binary
  Properties properties;
  bool operator==(const Connect&) const = default;
};

struct Connack {
  bool session_present = false;
  // v5 reason code; for 3.1/3.1.1 the encoder maps it to return codes 0..5 (MQTT 3.1.1 §3.2.2.3), and the
  // decoder maps 1..5 back to UnsupportedProtocolVersion, ClientIdentifierNotValid, ServerUnavailable,
  // BadUserNameOrPassword, NotAuthorized.
  Reason reason = Reason::Success;
  Properties properties;
  bool operator==(const Connack&) const = default;
};

struct Publish {
  bool dup = false;
  std::uint8_t qos = 0;
  bool retain = false;
  std::string topic;            // may be empty in v5 when a topic alias is used
  std::uint16_t packet_id = 0;  // 0 for QoS 0
  Properties properties;
  std::string payload;
  bool operator==(const Publish&) const = default;
};

// PUBACK, PUBREC, PUBREL, PUBCOMP share one shape (MQTT 5.0 §3.4-§3.7).
struct Ack {
  PacketType type = PacketType::Puback;
  std::uint16_t packet_id = 0;
  Reason reason = Reason::Success;
  Properties properties;
  bool operator==(const Ack&) const = default;
};

struct SubscribeOptions {
  std::uint8_t max_qos = 0;
  bool no_local = false;             // v5
  bool retain_as_published = false;  // v5
  std::uint8_t retain_handling = 0;  // v5: 0 send, 1 send if new, 2 do not send
  bool operator==(const SubscribeOptions&) const = default;
};

struct Subscription {
  std::string filter;
  SubscribeOptions options;
  bool operator==(const Subscription&) const = default;
};

struct Subscribe {
  std::uint16_t packet_id = 0;
  Properties properties;  // subscription identifier, user properties
  std::vector<Subscription> subscriptions;
  bool operator==(const Subscribe&) const = default;
};

struct Suback {
  std::uint16_t packet_id = 0;
  Properties properties;
  std::vector<Reason> reasons;  // for 3.1.1: 0,1,2 granted or 0x80 failure
  bool operator==(const Suback&) const = default;
};

struct Unsubscribe {
  std::uint16_t packet_id = 0;
  Properties properties;
  std::vector<std::string> filters;
  bool operator==(const Unsubscribe&) const = default;
};

struct Unsuback {
  std::uint16_t packet_id = 0;
  Properties properties;
  std::vector<Reason> reasons;  // v5 only; empty for 3.1.1
  bool operator==(const Unsuback&) const = default;
};

struct Pingreq {
  bool operator==(const Pingreq&) const = default;
};
struct Pingresp {
  bool operator==(const Pingresp&) const = default;
};

struct Disconnect {
  Reason reason = Reason::Success;
  Properties properties;
  bool operator==(const Disconnect&) const = default;
};

struct Auth {
  Reason reason = Reason::Success;
  Properties properties;
  bool operator==(const Auth&) const = default;
};

using Packet = std::variant<Connect, Connack, Publish, Ack, Subscribe, Suback, Unsubscribe, Unsuback, Pingreq,
                            Pingresp, Disconnect, Auth>;

}  // namespace gw::mqtt
