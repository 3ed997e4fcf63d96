// Encoding: exact bytes for the forms the spec pins down (checked against hand-written vectors), the
// 3.1.1 CONNACK and SUBACK code mappings, the publish hot path, and encode -> decode round trips for
// every packet type at every protocol level.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/mqtt/codec.hpp"

namespace gw::mqtt {
namespace {

// "10 0c 'MQTT' 04": hex byte pairs, and ASCII text between single quotes; returned as a byte string.
std::string h(std::string_view spec) {
  std::string out;
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
      out.append(spec.substr(i + 1, end - i - 1));
      i = end + 1;
    } else {
      out.push_back(static_cast<char>(nibble(spec[i]) << 4 | nibble(spec[i + 1])));
      i += 2;
    }
  }
  return out;
}

template <typename P>
std::string enc(const P& p, Version v) {
  Buffer out;
  encode(p, v, out);
  return out;
}

// ---- Exact bytes ----

TEST(MqttEncode, ConnectV311MatchesTheHandVector) {
  Connect c;
  c.protocol_name = "MQTT";
  c.version = Version::V311;
  c.clean_start = true;
  c.keep_alive = 60;
  c.client_id = "dev";
  c.will = Will{"status/dev1", "offline", 1, true, {}};
  c.username = "user";
  c.password = std::string("\x01\xFF\x00", 3);
  Buffer out;
  encode(c, out);
  EXPECT_EQ(out, h("10 30 00 04 'MQTT' 04 EE 00 3C"
                   " 00 03 'dev' 00 0B 'status/dev1' 00 07 'offline' 00 04 'user' 00 03 01 FF 00"));
}

TEST(MqttEncode, ConnectDefaultsTheProtocolName) {
  Connect c;
  c.version = Version::V31;
  c.client_id = "c";
  Buffer out;
  encode(c, out);
  EXPECT_EQ(out, h("10 0F 00 06 'MQIsdp' 03 02 00 00 00 01 'c'"));
  c.version = Version::V5;
  out.clear();
  encode(c, out);
  EXPECT_EQ(out, h("10 0E 00 04 'MQTT' 05 02 00 00 00 00 01 'c'"));
}

TEST(MqttEncode, ConnackV311ReturnCodes) {
  const std::pair<Reason, char> table[] = {
      {Reason::Success, 0},
      {Reason::UnsupportedProtocolVersion, 1},
      {Reason::ClientIdentifierNotValid, 2},
      {Reason::ServerUnavailable, 3},
      {Reason::ServerBusy, 3},
      {Reason::Banned, 3},
      {Reason::UnspecifiedError, 3},
      {Reason::BadUserNameOrPassword, 4},
      {Reason::NotAuthorized, 5},
  };
  for (const auto& [reason, code] : table) {
    EXPECT_EQ(enc(Connack{false, reason, {}}, Version::V311), h("20 02 00") + std::string(1, code))
        << static_cast<int>(reason);
  }
  EXPECT_EQ(enc(Connack{true, Reason::Success, {}}, Version::V311), h("20 02 01 00"));
}

TEST(MqttEncode, ConnackV31HasNoSessionPresent) {
  EXPECT_EQ(enc(Connack{true, Reason::Success, {}}, Version::V31), h("20 02 00 00"));
}

TEST(MqttEncode, ConnackV5) {
  EXPECT_EQ(enc(Connack{}, Version::V5), h("20 03 00 00 00"));
  Connack c{true, Reason::Success, {}};
  c.properties.receive_maximum = 10;
  c.properties.maximum_qos = 1;
  EXPECT_EQ(enc(c, Version::V5), h("20 08 01 00 05 21 00 0A 24 01"));
  EXPECT_EQ(enc(Connack{false, Reason::QuotaExceeded, {}}, Version::V5), h("20 03 00 97 00"));
}

TEST(MqttEncode, Publish) {
  EXPECT_EQ(enc(Publish{false, 1, true, "a/b/c", 10, {}, "hello"}, Version::V311),
            h("33 0E 00 05 'a/b/c' 00 0A 'hello'"));
  EXPECT_EQ(enc(Publish{true, 2, false, "a/b/c", 0xFFFE, {}, "hello"}, Version::V311),
            h("3C 0E 00 05 'a/b/c' FF FE 'hello'"));
  EXPECT_EQ(enc(Publish{false, 0, false, "a/b/c", 0, {}, "hello"}, Version::V5),
            h("30 0D 00 05 'a/b/c' 00 'hello'"));
  Publish p{false, 0, false, "", 0, {}, "x"};
  p.properties.topic_alias = 1;
  EXPECT_EQ(enc(p, Version::V5), h("30 07 00 00 03 23 00 01 'x'"));
}

TEST(MqttEncode, PublishPropertiesAreIgnoredBeforeV5) {
  Publish p{false, 0, false, "t", 0, {}, "x"};
  p.properties.message_expiry_interval = 5;
  EXPECT_EQ(enc(p, Version::V311), h("30 04 00 01 't' 'x'"));
}

TEST(MqttEncode, PublishWritesOnlyPublishProperties) {
  // A will's properties reused for the will's PUBLISH: Will Delay Interval is a will-only property
  // (MQTT 5.0 §3.1.3.2.2) and must not be sent.
  Properties props;
  props.will_delay_interval = 30;
  props.payload_format_indicator = 1;
  Buffer out;
  encode_publish(out, Version::V5, "t", "x", 0, false, false, 0, &props);
  EXPECT_EQ(out, h("30 07 00 01 't' 02 01 01 'x'"));
}

TEST(MqttEncode, EncodePublishMatchesEncodeAndPublishSize) {
  Properties props;
  props.content_type = "text/plain";
  props.subscription_identifiers = {1, 300, 70'000};
  props.user_properties = {{"k", "v"}};
  const std::string small = "21.5";
  const std::string big(20'000, 'p');
  const Properties* const none = nullptr;
  const Properties* const some = &props;
  for (const Version v : {Version::V31, Version::V311, Version::V5}) {
    for (std::uint8_t qos = 0; qos <= 2; ++qos) {
      for (const Properties* pp : {none, some}) {
        for (const std::string* payload : {&small, &big}) {
          Buffer a = "prefix";
          encode_publish(a, v, "sensors/room1/temp", *payload, qos, qos == 1, qos == 2, 77, pp);
          Publish p{qos == 2,
                    qos,
                    qos == 1,
                    "sensors/room1/temp",
                    static_cast<std::uint16_t>(qos ? 77 : 0),
                    pp ? *pp : Properties{},
                    *payload};
          Buffer b = "prefix";
          encode(p, v, b);
          EXPECT_EQ(a, b);
          EXPECT_EQ(a.size() - 6, publish_size(v, "sensors/room1/temp", payload->size(), qos, pp));
        }
      }
    }
  }
}

TEST(MqttEncode, AcksV311) {
  EXPECT_EQ(enc(Ack{PacketType::Puback, 1, Reason::Success, {}}, Version::V311), h("40 02 00 01"));
  EXPECT_EQ(enc(Ack{PacketType::Pubrec, 2, Reason::Success, {}}, Version::V311), h("50 02 00 02"));
  EXPECT_EQ(enc(Ack{PacketType::Pubrel, 3, Reason::Success, {}}, Version::V311), h("62 02 00 03"));
  EXPECT_EQ(enc(Ack{PacketType::Pubcomp, 4, Reason::Success, {}}, Version::V311), h("70 02 00 04"));
  // 3.1.1 acks have no reason code; whatever the broker put there is not sent.
  EXPECT_EQ(enc(Ack{PacketType::Puback, 1, Reason::QuotaExceeded, {}}, Version::V311), h("40 02 00 01"));
}

TEST(MqttEncode, AcksV5ShortForms) {
  EXPECT_EQ(enc(Ack{PacketType::Puback, 1, Reason::Success, {}}, Version::V5), h("40 02 00 01"));
  EXPECT_EQ(enc(Ack{PacketType::Pubrel, 3, Reason::Success, {}}, Version::V5), h("62 02 00 03"));
  EXPECT_EQ(enc(Ack{PacketType::Puback, 1, Reason::NoMatchingSubscribers, {}}, Version::V5),
            h("40 03 00 01 10"));
  EXPECT_EQ(enc(Ack{PacketType::Pubcomp, 4, Reason::PacketIdentifierNotFound, {}}, Version::V5),
            h("70 03 00 04 92"));
  Ack a{PacketType::Puback, 1, Reason::QuotaExceeded, {}};
  a.properties.reason_string = "full";
  EXPECT_EQ(enc(a, Version::V5), h("40 0B 00 01 97 07 1F 00 04 'full'"));
  Ack b{PacketType::Pubrec, 1, Reason::Success, {}};
  b.properties.user_properties = {{"k", "v"}};
  EXPECT_EQ(enc(b, Version::V5), h("50 0B 00 01 00 07 26 00 01 'k' 00 01 'v'"));
}

TEST(MqttEncode, Subscribe) {
  Subscribe s{
      10, {}, {{"a/b", {1, false, false, 0}}, {"c/+/d", {2, false, false, 0}}, {"#", {0, false, false, 0}}}};
  EXPECT_EQ(enc(s, Version::V311), h("82 14 00 0A 00 03 'a/b' 01 00 05 'c/+/d' 02 00 01 '#' 00"));
  Subscribe v5{11, {}, {{"a/b", {1, true, true, 2}}}};
  v5.properties.subscription_identifiers = {5};
  EXPECT_EQ(enc(v5, Version::V5), h("82 0B 00 0B 02 0B 05 00 03 'a/b' 2D"));
  // v5-only options are not sent to a 3.1.1 peer.
  EXPECT_EQ(enc(v5, Version::V311), h("82 08 00 0B 00 03 'a/b' 01"));
}

TEST(MqttEncode, SubackV311FailureIs0x80) {
  Suback s{10, {}, {Reason::Success, Reason::GrantedQos2, Reason::NotAuthorized}};
  EXPECT_EQ(enc(s, Version::V311), h("90 05 00 0A 00 02 80"));
  EXPECT_EQ(enc(s, Version::V5), h("90 06 00 0A 00 00 02 87"));
}

TEST(MqttEncode, UnsubscribeAndUnsuback) {
  Unsubscribe u{12, {}, {"a/b", "#"}};
  EXPECT_EQ(enc(u, Version::V311), h("A2 0A 00 0C 00 03 'a/b' 00 01 '#'"));
  EXPECT_EQ(enc(u, Version::V5), h("A2 0B 00 0C 00 00 03 'a/b' 00 01 '#'"));
  Unsuback ua{12, {}, {Reason::NoSubscriptionExisted, Reason::Success}};
  EXPECT_EQ(enc(ua, Version::V311), h("B0 02 00 0C"));
  EXPECT_EQ(enc(ua, Version::V5), h("B0 05 00 0C 00 11 00"));
}

TEST(MqttEncode, PingAndDisconnect) {
  EXPECT_EQ(enc(Pingreq{}, Version::V311), h("C0 00"));
  EXPECT_EQ(enc(Pingresp{}, Version::V5), h("D0 00"));
  EXPECT_EQ(enc(Disconnect{}, Version::V311), h("E0 00"));
  EXPECT_EQ(enc(Disconnect{Reason::ServerShuttingDown, {}}, Version::V311), h("E0 00"));
  EXPECT_EQ(enc(Disconnect{}, Version::V5), h("E0 00"));
  EXPECT_EQ(enc(Disconnect{Reason::DisconnectWithWill, {}}, Version::V5), h("E0 01 04"));
  Disconnect d{Reason::SessionTakenOver, {}};
  d.properties.session_expiry_interval = 0;
  d.properties.reason_string = "bye";
  EXPECT_EQ(enc(d, Version::V5), h("E0 0D 8E 0B 11 00 00 00 00 1F 00 03 'bye'"));
}

TEST(MqttEncode, Auth) {
  EXPECT_EQ(enc(Auth{}, Version::V5), h("F0 00"));
  Auth a{Reason::ContinueAuthentication, {}};
  a.properties.authentication_method = "SCRAM";
  a.properties.authentication_data = std::string("\x01\x02\x03", 3);
  EXPECT_EQ(enc(a, Version::V5), h("F0 10 18 0E 15 00 05 'SCRAM' 16 00 03 01 02 03"));
  EXPECT_EQ(enc(Auth{Reason::ReAuthenticate, {}}, Version::V5), h("F0 02 19 00"));
}

TEST(MqttEncode, PacketVariantUsesTheConnectsOwnVersion) {
  Connect c;
  c.version = Version::V5;
  c.client_id = "c";
  Buffer out;
  encode(Packet{c}, Version::V311, out);
  EXPECT_EQ(out, h("10 0E 00 04 'MQTT' 05 02 00 00 00 00 01 'c'"));
}

// ---- Round trips ----

Properties user(std::string k, std::string v) {
  Properties p;
  p.user_properties = {{std::move(k), std::move(v)}};
  return p;
}

std::vector<Packet> samples(Version v) {
  const bool v5 = v == Version::V5;
  std::vector<Packet> out;

  Connect minimal;
  minimal.protocol_name = v == Version::V31 ? "MQIsdp" : "MQTT";
  minimal.version = v;
  minimal.client_id = "";
  minimal.keep_alive = 0;
  out.emplace_back(minimal);

  Connect full = minimal;
  full.clean_start = false;
  full.keep_alive = 65'535;
  full.client_id = "client-\xE0\xB8\x81";  // Thai KO KAI
  full.will = Will{"devices/a/status", std::string("off\0line", 8), 2, true, {}};
  full.username = "user";
  full.password = std::string("\x00\xFF", 2);
  if (v5) {
    Properties& p = full.properties;
    p.session_expiry_interval = 0xFFFFFFFF;
    p.authentication_method = "SCRAM-SHA-1";
    p.authentication_data = std::string("\x00\x01", 2);
    p.request_problem_information = 0;
    p.request_response_information = 1;
    p.receive_maximum = 65'535;
    p.topic_alias_maximum = 0;
    p.user_properties = {{"a", "1"}, {"a", "2"}, {"", ""}};
    p.maximum_packet_size = 1;
    Properties& w = full.will->properties;
    w.payload_format_indicator = 0;
    w.message_expiry_interval = 10;
    w.content_type = "text/plain";
    w.response_topic = "devices/a/reply";
    w.correlation_data = std::string("\x00", 1);
    w.will_delay_interval = 30;
    w.user_properties = {{"w", "x"}};
  }
  out.emplace_back(full);
  if (v == Version::V31) {
    Connect microgear = full;
    microgear.protocol_name = "MQTT";  // NETPIE's "MQTT"/3
    out.emplace_back(microgear);
  }
  if (v5) {
    Connect no_user = minimal;
    no_user.password = "only";
    out.emplace_back(no_user);
  }

  out.emplace_back(Connack{v != Version::V31, Reason::Success, {}});
  out.emplace_back(Connack{false, Reason::NotAuthorized, {}});
  out.emplace_back(Connack{false, Reason::ServerUnavailable, {}});
  if (v5) {
    Connack c{true, Reason::Success, {}};
    Properties& p = c.properties;
    p.session_expiry_interval = 7200;
    p.assigned_client_identifier = "auto-1";
    p.server_keep_alive = 30;
    p.authentication_method = "m";
    p.authentication_data = "d";
    p.response_information = "resp/";
    p.server_reference = "other:1883";
    p.reason_string = "welcome";
    p.receive_maximum = 100;
    p.topic_alias_maximum = 16;
    p.maximum_qos = 1;
    p.retain_available = 0;
    p.user_properties = {{"k", "v"}};
    p.maximum_packet_size = 1 << 20;
    p.wildcard_subscription_available = 1;
    p.subscription_identifier_available = 0;
    p.shared_subscription_available = 1;
    out.emplace_back(c);
    out.emplace_back(Connack{false, Reason::UseAnotherServer, user("x", "y")});
  }

  for (std::uint8_t qos = 0; qos <= 2; ++qos) {
    Publish p{qos == 2,
              qos,
              qos == 1,
              "a/b/\xE0\xB8\x81",
              static_cast<std::uint16_t>(qos ? 1000 * qos : 0),
              {},
              std::string("\x00\x01\x02", 3)};
    out.emplace_back(p);
    if (v5) {
      Properties& pp = p.properties;
      pp.payload_format_indicator = 0;
      pp.message_expiry_interval = 60;
      pp.content_type = "application/octet-stream";
      pp.response_topic = "r/t";
      pp.correlation_data = "corr";
      pp.subscription_identifiers = {1, 268'435'455};
      pp.topic_alias = 3;
      pp.user_properties = {{"k", "v"}};
      out.emplace_back(p);
    }
  }
  out.emplace_back(Publish{false, 0, false, "t", 0, {}, std::string(70'000, 'z')});
  if (v5) {
    Publish alias{false, 1, false, "", 9, {}, "by alias"};
    alias.properties.topic_alias = 7;
    alias.properties.payload_format_indicator = 1;
    out.emplace_back(alias);
  }

  for (const PacketType t :
       {PacketType::Puback, PacketType::Pubrec, PacketType::Pubrel, PacketType::Pubcomp}) {
    out.emplace_back(Ack{t, 65'535, Reason::Success, {}});
    if (v5) {
      const bool rel = t == PacketType::Pubrel || t == PacketType::Pubcomp;
      const Reason r = rel ? Reason::PacketIdentifierNotFound : Reason::NotAuthorized;
      out.emplace_back(Ack{t, 1, r, {}});
      Ack with_props{t, 2, r, user("k", "v")};
      with_props.properties.reason_string = "why";
      out.emplace_back(with_props);
      out.emplace_back(Ack{t, 3, Reason::Success, user("k", "v")});
    }
  }

  Subscribe sub{
      1, {}, {{"a/+/c", {0, false, false, 0}}, {"#", {1, false, false, 0}}, {"x", {2, false, false, 0}}}};
  out.emplace_back(sub);
  if (v5) {
    Subscribe s5{2, user("k", "v"), {{"a/#", {2, true, true, 1}}, {"$share/g/b", {1, false, true, 2}}}};
    s5.properties.subscription_identifiers = {268'435'455};
    out.emplace_back(s5);
  }

  if (v5) {
    Suback sa{3, user("k", "v"), {Reason::GrantedQos1, Reason::TopicFilterInvalid, Reason::QuotaExceeded}};
    sa.properties.reason_string = "partly";
    out.emplace_back(sa);
  } else {
    out.emplace_back(
        Suback{3, {}, {Reason::Success, Reason::GrantedQos1, Reason::GrantedQos2, Reason::UnspecifiedError}});
  }

  out.emplace_back(Unsubscribe{4, v5 ? user("k", "v") : Properties{}, {"a/+/c", "#"}});
  if (v5) {
    Unsuback ua{5, user("k", "v"), {Reason::Success, Reason::NoSubscriptionExisted, Reason::NotAuthorized}};
    ua.properties.reason_string = "r";
    out.emplace_back(ua);
  } else {
    out.emplace_back(Unsuback{5, {}, {}});
  }

  out.emplace_back(Pingreq{});
  out.emplace_back(Pingresp{});
  out.emplace_back(Disconnect{});
  if (v5) {
    out.emplace_back(Disconnect{Reason::DisconnectWithWill, {}});
    Disconnect d{Reason::UseAnotherServer, user("k", "v")};
    d.properties.session_expiry_interval = 0;
    d.properties.reason_string = "moving";
    d.properties.server_reference = "b:1883";
    out.emplace_back(d);
    out.emplace_back(Auth{});
    Auth a{Reason::ReAuthenticate, user("k", "v")};
    a.properties.authentication_method = "m";
    a.properties.authentication_data = std::string("\x00\x01", 2);
    a.properties.reason_string = "again";
    out.emplace_back(a);
    out.emplace_back(Auth{Reason::ContinueAuthentication, {}});
  }
  return out;
}

class MqttRoundTrip : public ::testing::TestWithParam<Version> {};

TEST_P(MqttRoundTrip, EveryTypeDecodesToWhatWasEncoded) {
  const Version v = GetParam();
  std::vector<PacketType> seen;
  for (const Packet& p : samples(v)) {
    SCOPED_TRACE(type_name(type_of(p)));
    Buffer wire;
    encode(p, v, wire);
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(wire.data());
    const Frame f = parse_frame(ByteView(bytes, wire.size()), 1 << 20);
    ASSERT_EQ(f.status, FrameStatus::Ok);
    ASSERT_EQ(f.total(), wire.size());
    const auto r = decode(v, f.header, ByteView(bytes + f.header_len, f.remaining));
    ASSERT_TRUE(r.ok()) << r.error().what;
    EXPECT_TRUE(r.value() == p);
    seen.push_back(type_of(p));
  }
  // Every packet type that exists at this level was covered.
  for (int t = 1; t <= 15; ++t) {
    if (t == 15 && v != Version::V5) continue;
    EXPECT_NE(std::find(seen.begin(), seen.end(), static_cast<PacketType>(t)), seen.end()) << t;
  }
}

INSTANTIATE_TEST_SUITE_P(Levels, MqttRoundTrip, ::testing::Values(Version::V31, Version::V311, Version::V5),
                         [](const ::testing::TestParamInfo<Version>& param_info) {
                           return std::string(param_info.param == Version::V31    ? "V31"
                                              : param_info.param == Version::V311 ? "V311"
                                                                                  : "V5");
                         });

}  // namespace
}  // namespace gw::mqtt
