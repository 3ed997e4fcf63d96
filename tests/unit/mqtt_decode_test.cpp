// Decoding of well-formed packets of every type at levels 3, 4 and 5, against byte vectors written by
// hand from the MQTT 3.1, 3.1.1 and 5.0 specifications (never produced by our encoder). Each vector is
// framed with parse_frame first, so a wrong hand-counted remaining length fails loudly.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "protocols/mqtt/codec.hpp"

namespace gw::mqtt {
namespace {

using Bytes = std::vector<std::uint8_t>;

// "10 0c 'MQTT' 04": hex byte pairs, and ASCII text between single quotes.
Bytes h(std::string_view spec) {
  Bytes out;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    ADD_FAILURE() << "bad hex digit " << c;
    return 0;
  };
  for (std::size_t i = 0; i < spec.size();) {
    const char c = spec[i];
    if (c == ' ' || c == '\n') {
      ++i;
    } else if (c == '\'') {
      const std::size_t end = spec.find('\'', i + 1);
      for (std::size_t k = i + 1; k < end; ++k) out.push_back(static_cast<std::uint8_t>(spec[k]));
      i = end + 1;
    } else {
      out.push_back(static_cast<std::uint8_t>(nibble(spec[i]) << 4 | nibble(spec[i + 1])));
      i += 2;
    }
  }
  return out;
}

// Frames `wire`, which must hold exactly one whole packet, and decodes it as type T.
template <typename T>
T decode_as(Version v, const Bytes& wire) {
  const Frame f = parse_frame(wire, 1 << 20);
  if (f.status != FrameStatus::Ok || f.total() != wire.size()) {
    ADD_FAILURE() << "vector does not frame as one packet: total " << f.total() << " vs " << wire.size();
    return T{};
  }
  auto r = decode(v, f.header, ByteView(wire).subspan(f.header_len));
  if (!r.ok()) {
    ADD_FAILURE() << "decode failed: " << r.error().what;
    return T{};
  }
  if (!std::holds_alternative<T>(r.value())) {
    ADD_FAILURE() << "decoded as " << type_name(type_of(r.value()));
    return T{};
  }
  return std::get<T>(std::move(r).value());
}

// ---- CONNECT ----

TEST(MqttDecodeConnect, V311WithWillUserAndPassword) {
  // MQTT 3.1.1 §3.1: flags 0xEE = user name, password, will retain, will QoS 1, will, clean session.
  const Bytes wire =
      h("10 30 00 04 'MQTT' 04 EE 00 3C"
        " 00 03 'dev' 00 0B 'status/dev1' 00 07 'offline' 00 04 'user' 00 03 01 FF 00");
  const auto c = decode_as<Connect>(Version::V311, wire);
  EXPECT_EQ(c.protocol_name, "MQTT");
  EXPECT_EQ(c.version, Version::V311);
  EXPECT_TRUE(c.clean_start);
  EXPECT_EQ(c.keep_alive, 60);
  EXPECT_EQ(c.client_id, "dev");
  ASSERT_TRUE(c.will.has_value());
  EXPECT_EQ(c.will->topic, "status/dev1");
  EXPECT_EQ(c.will->payload, "offline");
  EXPECT_EQ(c.will->qos, 1);
  EXPECT_TRUE(c.will->retain);
  EXPECT_EQ(c.username, "user");
  EXPECT_EQ(c.password, std::string("\x01\xFF\x00", 3));
  EXPECT_EQ(c.properties, Properties{});
}

TEST(MqttDecodeConnect, V31MQIsdpWithLongClientId) {
  // MQTT 3.1: "MQIsdp", level 3. The 30-byte client id is over 3.1's 23-byte limit; accepted leniently.
  const Bytes wire = h("10 2C 00 06 'MQIsdp' 03 02 00 3C 00 1E 'abcdefghijklmnopqrstuvwxyz0123'");
  const auto c = decode_as<Connect>(Version::V311, wire);  // CONNECT is decoded whatever the level passed
  EXPECT_EQ(c.protocol_name, "MQIsdp");
  EXPECT_EQ(c.version, Version::V31);
  EXPECT_TRUE(c.clean_start);
  EXPECT_EQ(c.client_id, "abcdefghijklmnopqrstuvwxyz0123");
  EXPECT_FALSE(c.will.has_value());
  EXPECT_FALSE(c.username.has_value());
  EXPECT_FALSE(c.password.has_value());
}

TEST(MqttDecodeConnect, MqttLevel3AsSentByNodeMicrogear) {
  // The non-standard "MQTT"/3 pair, with user name and password, clean session, keep alive 10.
  const Bytes wire = h("10 1C 00 04 'MQTT' 03 C2 00 0A 00 06 'gear01' 00 04 'key1' 00 02 'pw'");
  const auto c = decode_as<Connect>(Version::V311, wire);
  EXPECT_EQ(c.protocol_name, "MQTT");
  EXPECT_EQ(c.version, Version::V31);
  EXPECT_EQ(c.keep_alive, 10);
  EXPECT_EQ(c.client_id, "gear01");
  EXPECT_EQ(c.username, "key1");
  EXPECT_EQ(c.password, "pw");
}

TEST(MqttDecodeConnect, V5WithPropertiesAndWillProperties) {
  // MQTT 5.0 §3.1.2.11 and §3.1.3.2. Flags 0x86: user name, will (QoS 0), clean start.
  const Bytes wire =
      h("10 44 00 04 'MQTT' 05 86 00 3C"
        " 19 11 00 00 0E 10  21 00 14  27 00 00 10 00  22 00 0A  17 00  26 00 01 'a' 00 01 'b'"
        " 00 02 'c1'"
        " 0E 18 00 00 00 05  01 01  03 00 04 'text'"
        " 00 04 'w/t1' 00 02 'hi'"
        " 00 01 'u'");
  const auto c = decode_as<Connect>(Version::V5, wire);
  EXPECT_EQ(c.version, Version::V5);
  EXPECT_EQ(c.properties.session_expiry_interval, 3600u);
  EXPECT_EQ(c.properties.receive_maximum, 20);
  EXPECT_EQ(c.properties.maximum_packet_size, 4096u);
  EXPECT_EQ(c.properties.topic_alias_maximum, 10);
  EXPECT_EQ(c.properties.request_problem_information, 0);
  ASSERT_EQ(c.properties.user_properties.size(), 1u);
  EXPECT_EQ(c.properties.user_properties[0], (UserProperty{"a", "b"}));
  EXPECT_EQ(c.client_id, "c1");
  ASSERT_TRUE(c.will.has_value());
  EXPECT_EQ(c.will->properties.will_delay_interval, 5u);
  EXPECT_EQ(c.will->properties.payload_format_indicator, 1);
  EXPECT_EQ(c.will->properties.content_type, "text");
  EXPECT_EQ(c.will->topic, "w/t1");
  EXPECT_EQ(c.will->payload, "hi");
  EXPECT_EQ(c.will->qos, 0);
  EXPECT_FALSE(c.will->retain);
  EXPECT_EQ(c.username, "u");
  EXPECT_FALSE(c.password.has_value());
}

TEST(MqttDecodeConnect, V5PasswordWithoutUserNameIsAllowed) {
  // MQTT 5.0 §3.1.2.9 allows a password without a user name (3.1.1 did not).
  const Bytes wire = h("10 15 00 04 'MQTT' 05 40 00 00 00 00 02 'id' 00 04 'pass'");
  const auto c = decode_as<Connect>(Version::V5, wire);
  EXPECT_FALSE(c.username.has_value());
  EXPECT_EQ(c.password, "pass");
  EXPECT_FALSE(c.clean_start);
}

TEST(MqttDecodeConnect, EmptyClientId) {
  const Bytes wire = h("10 0C 00 04 'MQTT' 04 02 00 00 00 00");
  EXPECT_EQ(decode_as<Connect>(Version::V311, wire).client_id, "");
}

// ---- CONNACK ----

TEST(MqttDecodeConnack, V311ReturnCodesMapToReasons) {
  EXPECT_EQ(decode_as<Connack>(Version::V311, h("20 02 01 00")), (Connack{true, Reason::Success, {}}));
  const std::pair<std::uint8_t, Reason> table[] = {
      {0, Reason::Success},
      {1, Reason::UnsupportedProtocolVersion},
      {2, Reason::ClientIdentifierNotValid},
      {3, Reason::ServerUnavailable},
      {4, Reason::BadUserNameOrPassword},
      {5, Reason::NotAuthorized},
  };
  for (const auto& [rc, reason] : table) {
    const Bytes wire = {0x20, 0x02, 0x00, rc};
    const auto c = decode_as<Connack>(Version::V311, wire);
    EXPECT_FALSE(c.session_present);
    EXPECT_EQ(c.reason, reason) << "return code " << int(rc);
  }
}

TEST(MqttDecodeConnack, V31IgnoresTheUnusedFirstByte) {
  const auto c = decode_as<Connack>(Version::V31, h("20 02 00 04"));
  EXPECT_FALSE(c.session_present);
  EXPECT_EQ(c.reason, Reason::BadUserNameOrPassword);
}

TEST(MqttDecodeConnack, V5WithProperties) {
  // MQTT 5.0 §3.2.2.3.
  const Bytes wire =
      h("20 21 00 00 1E"
        " 21 00 0A  24 01  25 00  12 00 03 'abc'  22 00 05  28 01  29 00  2A 01  13 00 1E  1F 00 02 'ok'");
  const auto c = decode_as<Connack>(Version::V5, wire);
  EXPECT_FALSE(c.session_present);
  EXPECT_EQ(c.reason, Reason::Success);
  EXPECT_EQ(c.properties.receive_maximum, 10);
  EXPECT_EQ(c.properties.maximum_qos, 1);
  EXPECT_EQ(c.properties.retain_available, 0);
  EXPECT_EQ(c.properties.assigned_client_identifier, "abc");
  EXPECT_EQ(c.properties.topic_alias_maximum, 5);
  EXPECT_EQ(c.properties.wildcard_subscription_available, 1);
  EXPECT_EQ(c.properties.subscription_identifier_available, 0);
  EXPECT_EQ(c.properties.shared_subscription_available, 1);
  EXPECT_EQ(c.properties.server_keep_alive, 30);
  EXPECT_EQ(c.properties.reason_string, "ok");
}

TEST(MqttDecodeConnack, V5Refusal) {
  const auto c = decode_as<Connack>(Version::V5, h("20 03 00 87 00"));
  EXPECT_EQ(c.reason, Reason::NotAuthorized);
  EXPECT_EQ(c.properties, Properties{});
}

// ---- PUBLISH ----

TEST(MqttDecodePublish, V311Qos0) {
  const auto p = decode_as<Publish>(Version::V311, h("30 0C 00 05 'a/b/c' 'hello'"));
  EXPECT_EQ(p, (Publish{false, 0, false, "a/b/c", 0, {}, "hello"}));
}

TEST(MqttDecodePublish, V311Qos1Retained) {
  const auto p = decode_as<Publish>(Version::V311, h("33 0E 00 05 'a/b/c' 00 0A 'hello'"));
  EXPECT_EQ(p, (Publish{false, 1, true, "a/b/c", 10, {}, "hello"}));
}

TEST(MqttDecodePublish, V311Qos2Dup) {
  const auto p = decode_as<Publish>(Version::V311, h("3C 0E 00 05 'a/b/c' FF FE 'hello'"));
  EXPECT_EQ(p, (Publish{true, 2, false, "a/b/c", 0xFFFE, {}, "hello"}));
}

TEST(MqttDecodePublish, V31Qos1EmptyPayload) {
  const auto p = decode_as<Publish>(Version::V31, h("32 07 00 03 'x/y' 00 01"));
  EXPECT_EQ(p, (Publish{false, 1, false, "x/y", 1, {}, ""}));
}

TEST(MqttDecodePublish, V5Qos0WithoutProperties) {
  const auto p = decode_as<Publish>(Version::V5, h("30 0D 00 05 'a/b/c' 00 'hello'"));
  EXPECT_EQ(p, (Publish{false, 0, false, "a/b/c", 0, {}, "hello"}));
}

TEST(MqttDecodePublish, V5Qos1WithProperties) {
  // MQTT 5.0 §3.3.2.3.
  const Bytes wire =
      h("32 40 00 03 'a/b' 00 07 31"
        " 01 01  02 00 00 00 3C  03 00 10 'application/json'  08 00 05 'reply'  09 00 02 01 02"
        "  26 00 01 'k' 00 01 'v'  23 00 02"
        " '{\"t\":1}'");
  const auto p = decode_as<Publish>(Version::V5, wire);
  EXPECT_EQ(p.qos, 1);
  EXPECT_EQ(p.topic, "a/b");
  EXPECT_EQ(p.packet_id, 7);
  EXPECT_EQ(p.payload, "{\"t\":1}");
  EXPECT_EQ(p.properties.payload_format_indicator, 1);
  EXPECT_EQ(p.properties.message_expiry_interval, 60u);
  EXPECT_EQ(p.properties.content_type, "application/json");
  EXPECT_EQ(p.properties.response_topic, "reply");
  EXPECT_EQ(p.properties.correlation_data, std::string("\x01\x02", 2));
  EXPECT_EQ(p.properties.user_properties, (std::vector<UserProperty>{{"k", "v"}}));
  EXPECT_EQ(p.properties.topic_alias, 2);
}

TEST(MqttDecodePublish, V5EmptyTopicWithTopicAlias) {
  // §3.3.2.3.4: a zero-length topic name with a Topic Alias refers to an alias set earlier.
  const auto p = decode_as<Publish>(Version::V5, h("30 07 00 00 03 23 00 01 'x'"));
  EXPECT_EQ(p.topic, "");
  EXPECT_EQ(p.properties.topic_alias, 1);
  EXPECT_EQ(p.payload, "x");
}

TEST(MqttDecodePublish, V5EmptyTopicWithoutAliasIsLeftToTheBroker) {
  const auto p = decode_as<Publish>(Version::V5, h("30 04 00 00 00 'x'"));
  EXPECT_EQ(p.topic, "");
  EXPECT_FALSE(p.properties.topic_alias.has_value());
}

TEST(MqttDecodePublish, V5SeveralSubscriptionIdentifiers) {
  // §3.3.4: a PUBLISH to a client carries one Subscription Identifier per matching subscription.
  const auto p = decode_as<Publish>(Version::V5, h("30 09 00 01 't' 05 0B 01 0B 80 01"));
  EXPECT_EQ(p.properties.subscription_identifiers, (std::vector<std::uint32_t>{1, 128}));
  EXPECT_EQ(p.payload, "");
}

// ---- PUBACK, PUBREC, PUBREL, PUBCOMP ----

TEST(MqttDecodeAck, AllFourV311) {
  EXPECT_EQ(decode_as<Ack>(Version::V311, h("40 02 00 01")),
            (Ack{PacketType::Puback, 1, Reason::Success, {}}));
  EXPECT_EQ(decode_as<Ack>(Version::V311, h("50 02 00 02")),
            (Ack{PacketType::Pubrec, 2, Reason::Success, {}}));
  EXPECT_EQ(decode_as<Ack>(Version::V311, h("62 02 00 03")),
            (Ack{PacketType::Pubrel, 3, Reason::Success, {}}));
  EXPECT_EQ(decode_as<Ack>(Version::V311, h("70 02 00 04")),
            (Ack{PacketType::Pubcomp, 4, Reason::Success, {}}));
}

TEST(MqttDecodeAck, AllFourV31) {
  EXPECT_EQ(decode_as<Ack>(Version::V31, h("40 02 12 34")).packet_id, 0x1234);
  EXPECT_EQ(decode_as<Ack>(Version::V31, h("50 02 00 02")).type, PacketType::Pubrec);
  EXPECT_EQ(decode_as<Ack>(Version::V31, h("62 02 00 03")).type, PacketType::Pubrel);
  EXPECT_EQ(decode_as<Ack>(Version::V31, h("70 02 00 04")).type, PacketType::Pubcomp);
}

TEST(MqttDecodeAck, V5ShortFormsMeanSuccess) {
  // §3.4.2.1: remaining length 2 is Success with no properties.
  EXPECT_EQ(decode_as<Ack>(Version::V5, h("40 02 00 01")), (Ack{PacketType::Puback, 1, Reason::Success, {}}));
  EXPECT_EQ(decode_as<Ack>(Version::V5, h("50 02 00 02")), (Ack{PacketType::Pubrec, 2, Reason::Success, {}}));
  EXPECT_EQ(decode_as<Ack>(Version::V5, h("62 02 00 03")), (Ack{PacketType::Pubrel, 3, Reason::Success, {}}));
  EXPECT_EQ(decode_as<Ack>(Version::V5, h("70 02 00 04")),
            (Ack{PacketType::Pubcomp, 4, Reason::Success, {}}));
}

TEST(MqttDecodeAck, V5ReasonOnly) {
  // §3.4.2.2.1: below 4 bytes there is no Property Length.
  EXPECT_EQ(decode_as<Ack>(Version::V5, h("40 03 00 01 10")),
            (Ack{PacketType::Puback, 1, Reason::NoMatchingSubscribers, {}}));
  EXPECT_EQ(decode_as<Ack>(Version::V5, h("50 03 00 02 80")),
            (Ack{PacketType::Pubrec, 2, Reason::UnspecifiedError, {}}));
  EXPECT_EQ(decode_as<Ack>(Version::V5, h("62 03 00 03 92")),
            (Ack{PacketType::Pubrel, 3, Reason::PacketIdentifierNotFound, {}}));
  EXPECT_EQ(decode_as<Ack>(Version::V5, h("70 03 00 04 92")),
            (Ack{PacketType::Pubcomp, 4, Reason::PacketIdentifierNotFound, {}}));
}

TEST(MqttDecodeAck, V5ReasonAndProperties) {
  const auto a = decode_as<Ack>(Version::V5, h("40 0B 00 01 97 07 1F 00 04 'full'"));
  EXPECT_EQ(a.reason, Reason::QuotaExceeded);
  EXPECT_EQ(a.properties.reason_string, "full");
  const auto b = decode_as<Ack>(Version::V5, h("40 04 00 01 00 00"));
  EXPECT_EQ(b, (Ack{PacketType::Puback, 1, Reason::Success, {}}));
  const auto c = decode_as<Ack>(Version::V5, h("70 0B 00 09 00 07 26 00 01 'k' 00 01 'v'"));
  EXPECT_EQ(c.properties.user_properties, (std::vector<UserProperty>{{"k", "v"}}));
}

// ---- SUBSCRIBE, SUBACK ----

TEST(MqttDecodeSubscribe, V311ThreeFilters) {
  const auto s =
      decode_as<Subscribe>(Version::V311, h("82 14 00 0A 00 03 'a/b' 01 00 05 'c/+/d' 02 00 01 '#' 00"));
  EXPECT_EQ(s.packet_id, 10);
  ASSERT_EQ(s.subscriptions.size(), 3u);
  EXPECT_EQ(s.subscriptions[0], (Subscription{"a/b", {1, false, false, 0}}));
  EXPECT_EQ(s.subscriptions[1], (Subscription{"c/+/d", {2, false, false, 0}}));
  EXPECT_EQ(s.subscriptions[2], (Subscription{"#", {0, false, false, 0}}));
}

TEST(MqttDecodeSubscribe, V31WithDupFlagIsAccepted) {
  // MQTT 3.1 sets DUP on a re-sent SUBSCRIBE (fixed header 0x8A).
  const auto s = decode_as<Subscribe>(Version::V31, h("8A 08 00 05 00 03 'a/b' 01"));
  EXPECT_EQ(s.subscriptions, (std::vector<Subscription>{{"a/b", {1, false, false, 0}}}));
}

TEST(MqttDecodeSubscribe, V5OptionsAndProperties) {
  // §3.8.3.1: options 0x2D = QoS 1, No Local, Retain As Published, Retain Handling 2.
  const Bytes wire =
      h("82 23 00 0B 09 0B 05 26 00 01 'k' 00 01 'v'"
        " 00 03 'a/b' 2D  00 0E '$share/grp/x/#' 01");
  const auto s = decode_as<Subscribe>(Version::V5, wire);
  EXPECT_EQ(s.packet_id, 11);
  EXPECT_EQ(s.properties.subscription_identifiers, (std::vector<std::uint32_t>{5}));
  EXPECT_EQ(s.properties.user_properties, (std::vector<UserProperty>{{"k", "v"}}));
  ASSERT_EQ(s.subscriptions.size(), 2u);
  EXPECT_EQ(s.subscriptions[0], (Subscription{"a/b", {1, true, true, 2}}));
  EXPECT_EQ(s.subscriptions[1], (Subscription{"$share/grp/x/#", {1, false, false, 0}}));
}

TEST(MqttDecodeSubscribe, InvalidFilterIsReturnedForTheBrokerToRefuse) {
  const auto s = decode_as<Subscribe>(Version::V311, h("82 08 00 01 00 03 'a#b' 00"));
  EXPECT_EQ(s.subscriptions[0].filter, "a#b");
}

TEST(MqttDecodeSuback, V311) {
  const auto s = decode_as<Suback>(Version::V311, h("90 05 00 0A 00 02 80"));
  EXPECT_EQ(s.packet_id, 10);
  EXPECT_EQ(s.reasons, (std::vector<Reason>{Reason::Success, Reason::GrantedQos2, Reason::UnspecifiedError}));
}

TEST(MqttDecodeSuback, V5) {
  const auto s = decode_as<Suback>(Version::V5, h("90 0C 00 0B 05 1F 00 02 'no' 01 A2 8F 9E"));
  EXPECT_EQ(s.properties.reason_string, "no");
  EXPECT_EQ(s.reasons,
            (std::vector<Reason>{Reason::GrantedQos1, Reason::WildcardSubscriptionsNotSupported,
                                 Reason::TopicFilterInvalid, Reason::SharedSubscriptionsNotSupported}));
}

// ---- UNSUBSCRIBE, UNSUBACK ----

TEST(MqttDecodeUnsubscribe, V311) {
  const auto u = decode_as<Unsubscribe>(Version::V311, h("A2 0A 00 0C 00 03 'a/b' 00 01 '#'"));
  EXPECT_EQ(u.packet_id, 12);
  EXPECT_EQ(u.filters, (std::vector<std::string>{"a/b", "#"}));
}

TEST(MqttDecodeUnsubscribe, V5) {
  const auto u = decode_as<Unsubscribe>(Version::V5, h("A2 0F 00 0C 07 26 00 01 'k' 00 01 'v' 00 03 'a/b'"));
  EXPECT_EQ(u.properties.user_properties, (std::vector<UserProperty>{{"k", "v"}}));
  EXPECT_EQ(u.filters, (std::vector<std::string>{"a/b"}));
}

TEST(MqttDecodeUnsuback, V311) {
  const auto u = decode_as<Unsuback>(Version::V311, h("B0 02 00 0C"));
  EXPECT_EQ(u, (Unsuback{12, {}, {}}));
}

TEST(MqttDecodeUnsuback, V5) {
  const auto u = decode_as<Unsuback>(Version::V5, h("B0 05 00 0C 00 11 00"));
  EXPECT_EQ(u.reasons, (std::vector<Reason>{Reason::NoSubscriptionExisted, Reason::Success}));
}

// ---- PINGREQ, PINGRESP ----

TEST(MqttDecodePing, AllLevels) {
  for (const Version v : {Version::V31, Version::V311, Version::V5}) {
    decode_as<Pingreq>(v, h("C0 00"));
    decode_as<Pingresp>(v, h("D0 00"));
  }
}

// ---- DISCONNECT ----

TEST(MqttDecodeDisconnect, V311) {
  EXPECT_EQ(decode_as<Disconnect>(Version::V311, h("E0 00")), Disconnect{});
  EXPECT_EQ(decode_as<Disconnect>(Version::V31, h("E0 00")), Disconnect{});
}

TEST(MqttDecodeDisconnect, V5Forms) {
  // §3.14.2.1: remaining length 0 is Normal disconnection.
  EXPECT_EQ(decode_as<Disconnect>(Version::V5, h("E0 00")), Disconnect{});
  EXPECT_EQ(decode_as<Disconnect>(Version::V5, h("E0 01 04")).reason, Reason::DisconnectWithWill);
  EXPECT_EQ(decode_as<Disconnect>(Version::V5, h("E0 02 00 00")), Disconnect{});
  const auto d = decode_as<Disconnect>(Version::V5, h("E0 0D 8E 0B 11 00 00 00 00 1F 00 03 'bye'"));
  EXPECT_EQ(d.reason, Reason::SessionTakenOver);
  EXPECT_EQ(d.properties.session_expiry_interval, 0u);
  EXPECT_EQ(d.properties.reason_string, "bye");
}

// ---- AUTH ----

TEST(MqttDecodeAuth, V5) {
  EXPECT_EQ(decode_as<Auth>(Version::V5, h("F0 00")), Auth{});
  const auto a = decode_as<Auth>(Version::V5, h("F0 10 18 0E 15 00 05 'SCRAM' 16 00 03 01 02 03"));
  EXPECT_EQ(a.reason, Reason::ContinueAuthentication);
  EXPECT_EQ(a.properties.authentication_method, "SCRAM");
  EXPECT_EQ(a.properties.authentication_data, std::string("\x01\x02\x03", 3));
}

TEST(MqttDecodeMisc, TypeNames) {
  EXPECT_STREQ(type_name(PacketType::Connect), "CONNECT");
  EXPECT_STREQ(type_name(PacketType::Pubrel), "PUBREL");
  EXPECT_STREQ(type_name(PacketType::Auth), "AUTH");
  EXPECT_EQ(type_of(Packet{Ack{PacketType::Pubcomp, 1, Reason::Success, {}}}), PacketType::Pubcomp);
  EXPECT_EQ(type_of(Packet{Unsuback{}}), PacketType::Unsuback);
}

}  // namespace
}  // namespace gw::mqtt
