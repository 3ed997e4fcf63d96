// Decoding of invalid packets: every validation the codec makes, each with the reason code the spec
// prescribes. Vectors are written by hand; each one frames as exactly one packet, so a failure means the
// body was refused, not that a hand-counted length was wrong. The lenient cases for MQTT 3.1 are at the
// end.
#include <gtest/gtest.h>

#include <cstdint>
#include <ostream>
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

Result<Packet, Error> frame_and_decode(Version v, const Bytes& wire) {
  const Frame f = parse_frame(wire, 1 << 20);
  EXPECT_EQ(f.status, FrameStatus::Ok);
  EXPECT_EQ(f.total(), wire.size()) << "hand-counted remaining length is wrong";
  if (f.status != FrameStatus::Ok) return unexpected(Error{Reason::UnspecifiedError, "does not frame"});
  return decode(v, f.header, ByteView(wire).subspan(f.header_len));
}

struct Case {
  const char* name;
  Version version;
  const char* wire;
  Reason expected;
};

constexpr Version V31 = Version::V31;
constexpr Version V4 = Version::V311;
constexpr Version V5 = Version::V5;
constexpr Reason kMalformed = Reason::MalformedPacket;
constexpr Reason kProtocol = Reason::ProtocolError;

const Case kCases[] = {
    // -- Fixed-header flags (3.1.1 §2.2.2, 5.0 §2.1.3) --
    {"pubrel_flags_0_v4", V4, "60 02 00 01", kMalformed},
    {"pubrel_flags_0_v5", V5, "60 02 00 01", kMalformed},
    {"subscribe_flags_0_v4", V4, "80 06 00 01 00 01 'a' 00", kMalformed},
    {"subscribe_flags_0_v5", V5, "80 07 00 01 00 00 01 'a' 00", kMalformed},
    {"subscribe_flags_dup_v4", V4, "8A 06 00 01 00 01 'a' 00", kMalformed},
    {"unsubscribe_flags_0_v4", V4, "A0 05 00 01 00 01 'a'", kMalformed},
    {"unsubscribe_flags_3_v5", V5, "A3 06 00 01 00 00 01 'a'", kMalformed},
    {"puback_flags_v4", V4, "42 02 00 01", kMalformed},
    {"pubrec_flags_v5", V5, "51 02 00 01", kMalformed},
    {"pubcomp_flags_v4", V4, "78 02 00 01", kMalformed},
    {"connect_flags_v4", V4, "11 0C 00 04 'MQTT' 04 02 00 00 00 00", kMalformed},
    {"connack_flags_v4", V4, "28 02 00 00", kMalformed},
    {"suback_flags_v4", V4, "92 03 00 01 00", kMalformed},
    {"unsuback_flags_v5", V5, "B1 04 00 01 00 00", kMalformed},
    {"pingreq_flags_v4", V4, "C1 00", kMalformed},
    {"pingresp_flags_v5", V5, "D2 00", kMalformed},
    {"disconnect_flags_v4", V4, "E1 00", kMalformed},
    {"auth_flags_v5", V5, "F1 00", kMalformed},
    {"reserved_type_0", V4, "00 00", kMalformed},

    // -- PUBLISH (3.1.1 §3.3, 5.0 §3.3) --
    {"publish_qos3_v31", V31, "36 03 00 01 't'", kMalformed},
    {"publish_qos3_v4", V4, "36 03 00 01 't'", kMalformed},
    {"publish_qos3_v5", V5, "36 04 00 01 't' 00", kMalformed},
    {"publish_dup_qos0_v4", V4, "38 03 00 01 't'", kMalformed},
    {"publish_dup_qos0_v5", V5, "38 04 00 01 't' 00", kMalformed},
    {"publish_packet_id_0_v4", V4, "32 05 00 01 't' 00 00", kProtocol},
    {"publish_packet_id_0_v5", V5, "34 06 00 01 't' 00 00 00", kProtocol},
    {"publish_missing_packet_id_v4", V4, "32 03 00 01 't'", kMalformed},
    {"publish_plus_in_topic_v4", V4, "30 05 00 03 'a/+'", Reason::TopicNameInvalid},
    {"publish_hash_in_topic_v5", V5, "30 06 00 03 'a/#' 00", Reason::TopicNameInvalid},
    {"publish_bare_hash_topic_v31", V31, "30 03 00 01 '#'", Reason::TopicNameInvalid},
    {"publish_empty_topic_v4", V4, "30 03 00 00 'x'", Reason::TopicNameInvalid},
    {"publish_empty_topic_v31", V31, "30 03 00 00 'x'", Reason::TopicNameInvalid},
    {"publish_truncated_topic_v4", V4, "30 03 00 05 'a'", kMalformed},
    {"publish_overlong_nul_in_topic_v4", V4, "30 04 00 02 C0 80", kMalformed},
    {"publish_nul_in_topic_v4", V4, "30 03 00 01 00", kMalformed},
    {"publish_surrogate_in_topic_v5", V5, "30 07 00 03 ED A0 80 00 'x'", kMalformed},
    {"publish_props_longer_than_packet_v5", V5, "30 05 00 01 't' 05 01", kMalformed},
    {"publish_props_length_5_byte_varint_v5", V5, "30 08 00 01 't' 80 80 80 80 01", kMalformed},
    {"publish_duplicate_message_expiry_v5", V5, "30 0F 00 01 't' 0A 02 00 00 00 01 02 00 00 00 02 'x'",
     kProtocol},
    {"publish_duplicate_topic_alias_v5", V5, "30 0B 00 01 't' 06 23 00 01 23 00 02 'x'", kProtocol},
    {"publish_payload_not_utf8_v5", V5, "30 07 00 01 't' 02 01 01 FF", Reason::PayloadFormatInvalid},
    {"publish_payload_surrogate_v5", V5, "30 09 00 01 't' 02 01 01 ED BF BF", Reason::PayloadFormatInvalid},
    {"publish_payload_format_2_v5", V5, "30 07 00 01 't' 02 01 02 'x'", kProtocol},
    {"publish_topic_alias_0_v5", V5, "30 08 00 01 't' 03 23 00 00 'x'", Reason::TopicAliasInvalid},
    {"publish_subscription_id_0_v5", V5, "30 07 00 01 't' 02 0B 00 'x'", kProtocol},
    {"publish_response_topic_wildcard_v5", V5, "30 0A 00 01 't' 05 08 00 02 'a#' 'x'", kProtocol},
    {"publish_session_expiry_not_allowed_v5", V5, "30 0A 00 01 't' 05 11 00 00 00 01 'x'", kMalformed},
    {"publish_unknown_property_v5", V5, "30 06 00 01 't' 01 05 'x'", kMalformed},
    {"publish_content_type_not_utf8_v5", V5, "30 09 00 01 't' 04 03 00 01 80 'x'", kMalformed},
    {"publish_truncated_property_v5", V5, "30 06 00 01 't' 02 02 00", kMalformed},
    // Control characters (U+0001..U+001F, U+007F..U+009F) in a topic close the connection (issue 11).
    {"publish_control_char_in_topic_v4", V4, "30 04 00 02 'a' 01", Reason::TopicNameInvalid},
    {"publish_unit_separator_in_topic_v5", V5, "30 05 00 02 'a' 1F 00", Reason::TopicNameInvalid},
    {"publish_del_in_topic_v31", V31, "30 04 00 02 'a' 7F", Reason::TopicNameInvalid},
    {"publish_c1_control_in_topic_v4", V4, "30 05 00 03 'a' C2 85", Reason::TopicNameInvalid},
    {"publish_c1_last_control_in_topic_v4", V4, "30 0D 00 0B 'abcdefghi' C2 9F", Reason::TopicNameInvalid},
    {"publish_control_char_after_8_ascii_v4", V4, "30 0B 00 09 'abcdefgh' 0A", Reason::TopicNameInvalid},
    // MQTT-1.5.5-1: a Variable Byte Integer in the fewest bytes (0x80 0x00 is 0 in two).
    {"publish_property_length_not_minimal_v5", V5, "30 06 00 01 't' 80 00 'x'", kMalformed},
    {"subscribe_subscription_id_not_minimal_v5", V5, "82 0A 00 01 03 0B 81 00 00 01 'a' 00", kMalformed},

    // -- PUBACK, PUBREC, PUBREL, PUBCOMP --
    {"puback_packet_id_0_v4", V4, "40 02 00 00", kProtocol},
    {"pubrel_packet_id_0_v5", V5, "62 02 00 00", kProtocol},
    {"puback_trailing_byte_v4", V4, "40 03 00 01 00", kMalformed},
    {"pubcomp_truncated_v4", V4, "70 01 00", kMalformed},
    {"pubrel_reason_not_allowed_v5", V5, "62 03 00 01 10", kProtocol},
    {"puback_reason_not_allowed_v5", V5, "40 03 00 01 92", kProtocol},
    {"pubrec_unknown_reason_v5", V5, "50 03 00 01 05", kProtocol},
    {"puback_topic_alias_not_allowed_v5", V5, "40 07 00 01 00 03 23 00 01", kMalformed},
    {"puback_trailing_after_props_v5", V5, "40 05 00 01 00 00 00", kMalformed},

    // -- SUBSCRIBE (3.1.1 §3.8, 5.0 §3.8) --
    {"subscribe_no_filters_v4", V4, "82 02 00 01", kProtocol},
    {"subscribe_no_filters_v5", V5, "82 03 00 01 00", kProtocol},
    {"subscribe_packet_id_0_v4", V4, "82 06 00 00 00 01 'a' 00", kProtocol},
    {"subscribe_missing_options_v4", V4, "82 05 00 01 00 01 'a'", kMalformed},
    {"subscribe_options_reserved_bit_v4", V4, "82 06 00 01 00 01 'a' 04", kMalformed},
    {"subscribe_qos3_v4", V4, "82 06 00 01 00 01 'a' 03", kMalformed},
    {"subscribe_qos3_v31", V31, "82 06 00 01 00 01 'a' 03", kMalformed},
    {"subscribe_options_bit6_v5", V5, "82 07 00 01 00 00 01 'a' 40", kMalformed},
    {"subscribe_options_bit7_v5", V5, "82 07 00 01 00 00 01 'a' 80", kMalformed},
    // MQTT 5.0 §3.8.3.1 names these two Protocol Errors (a two-bit field holding 3 still parses).
    {"subscribe_retain_handling_3_v5", V5, "82 07 00 01 00 00 01 'a' 30", kProtocol},
    {"subscribe_qos3_v5", V5, "82 07 00 01 00 00 01 'a' 03", kProtocol},
    {"subscribe_no_local_on_shared_v5", V5, "82 10 00 01 00 00 0A '$share/g/a' 04", kProtocol},
    {"subscribe_filter_surrogate_v4", V4, "82 08 00 01 00 03 ED A0 80 00", kMalformed},
    {"subscribe_subscription_id_0_v5", V5, "82 09 00 01 02 0B 00 00 01 'a' 00", kProtocol},
    {"subscribe_two_subscription_ids_v5", V5, "82 0B 00 01 04 0B 01 0B 02 00 01 'a' 00", kProtocol},
    {"subscribe_subscription_id_too_long_v5", V5, "82 0C 00 01 05 0B FF FF FF FF 00 01 'a' 00", kMalformed},
    {"subscribe_reason_string_not_allowed_v5", V5, "82 0B 00 01 04 1F 00 01 'r' 00 01 'a' 00", kMalformed},
    // MQTT-4.7.3-1: an empty filter closes a 3.1.1 connection (5.0 answers 0x8F per filter instead).
    {"MQTT_4_7_3_1_subscribe_empty_filter_v4", V4, "82 05 00 01 00 00 00", Reason::TopicFilterInvalid},
    {"MQTT_4_7_3_1_subscribe_empty_filter_v31", V31, "82 05 00 01 00 00 00", Reason::TopicFilterInvalid},
    {"subscribe_control_char_in_filter_v5", V5, "82 07 00 01 00 00 01 0D 00", Reason::TopicFilterInvalid},
    {"subscribe_control_char_in_share_group_v4", V4, "82 0F 00 01 00 0A '$share/' 7F '/a' 00",
     Reason::TopicFilterInvalid},

    // -- SUBACK --
    {"suback_reserved_code_v4", V4, "90 03 00 01 03", kProtocol},
    {"suback_no_codes_v4", V4, "90 02 00 01", kProtocol},
    {"suback_packet_id_0_v4", V4, "90 03 00 00 00", kProtocol},
    {"suback_reason_not_allowed_v5", V5, "90 04 00 01 00 10", kProtocol},

    // -- UNSUBSCRIBE, UNSUBACK --
    {"unsubscribe_no_filters_v4", V4, "A2 02 00 01", kProtocol},
    {"unsubscribe_no_filters_v5", V5, "A2 03 00 01 00", kProtocol},
    {"unsubscribe_packet_id_0_v4", V4, "A2 05 00 00 00 01 'a'", kProtocol},
    {"unsubscribe_subscription_id_not_allowed_v5", V5, "A2 08 00 01 02 0B 01 00 01 'a'", kMalformed},
    {"unsubscribe_truncated_filter_v4", V4, "A2 05 00 01 00 04 'a'", kMalformed},
    {"MQTT_4_7_3_1_unsubscribe_empty_filter_v4", V4, "A2 04 00 01 00 00", Reason::TopicFilterInvalid},
    {"unsubscribe_control_char_in_filter_v5", V5, "A2 07 00 01 00 00 02 'a' 09", Reason::TopicFilterInvalid},
    {"unsuback_trailing_byte_v4", V4, "B0 03 00 01 00", kMalformed},
    {"unsuback_packet_id_0_v4", V4, "B0 02 00 00", kProtocol},
    {"unsuback_reason_not_allowed_v5", V5, "B0 04 00 01 00 10", kProtocol},
    {"unsuback_no_codes_v5", V5, "B0 03 00 01 00", kProtocol},

    // -- PINGREQ, PINGRESP, DISCONNECT, AUTH --
    {"pingreq_trailing_byte", V4, "C0 01 00", kMalformed},
    {"pingresp_trailing_byte", V5, "D0 01 00", kMalformed},
    {"disconnect_trailing_byte_v4", V4, "E0 01 00", kMalformed},
    {"disconnect_reason_not_allowed_v5", V5, "E0 01 84", kProtocol},
    {"disconnect_topic_alias_not_allowed_v5", V5, "E0 05 00 03 23 00 01", kMalformed},
    {"disconnect_trailing_after_props_v5", V5, "E0 03 00 00 00", kMalformed},
    {"auth_before_v5", V4, "F0 00", kMalformed},
    {"auth_reason_not_allowed_v5", V5, "F0 02 80 00", kProtocol},

    // -- CONNACK --
    {"connack_return_code_6_v4", V4, "20 02 00 06", kProtocol},
    {"connack_reserved_ack_flags_v4", V4, "20 02 02 00", kMalformed},
    {"connack_session_present_with_refusal_v4", V4, "20 02 01 05", kProtocol},
    {"connack_trailing_byte_v4", V4, "20 03 00 00 00", kMalformed},
    {"connack_truncated_v4", V4, "20 01 00", kMalformed},
    {"connack_reason_not_allowed_v5", V5, "20 03 00 10 00", kProtocol},
    {"connack_maximum_qos_2_v5", V5, "20 05 00 00 02 24 02", kProtocol},
    {"connack_missing_property_length_v5", V5, "20 02 00 00", kMalformed},
    {"connack_request_problem_info_not_allowed_v5", V5, "20 05 00 00 02 17 01", kMalformed},

    // -- CONNECT (3.1.1 §3.1, 5.0 §3.1) --
    {"connect_reserved_flag_v4", V4, "10 0D 00 04 'MQTT' 04 03 00 00 00 01 'c'", kMalformed},
    {"connect_unknown_protocol_name", V4, "10 0D 00 04 'MQTX' 04 02 00 00 00 01 'c'",
     Reason::UnsupportedProtocolVersion},
    {"connect_level_6", V4, "10 0D 00 04 'MQTT' 06 02 00 00 00 01 'c'", Reason::UnsupportedProtocolVersion},
    {"connect_level_2", V4, "10 0D 00 04 'MQTT' 02 02 00 00 00 01 'c'", Reason::UnsupportedProtocolVersion},
    {"connect_mqisdp_level_4", V4, "10 0F 00 06 'MQIsdp' 04 02 00 00 00 01 'c'",
     Reason::UnsupportedProtocolVersion},
    {"connect_will_qos_without_will_v4", V4, "10 0D 00 04 'MQTT' 04 0A 00 00 00 01 'c'", kMalformed},
    {"connect_will_retain_without_will_v4", V4, "10 0D 00 04 'MQTT' 04 22 00 00 00 01 'c'", kMalformed},
    {"connect_will_qos_3_v4", V4, "10 0D 00 04 'MQTT' 04 1E 00 00 00 01 'c'", kMalformed},
    {"connect_will_qos_3_v31", V31, "10 0F 00 06 'MQIsdp' 03 1E 00 00 00 01 'c'", kMalformed},
    {"connect_password_without_user_name_v4", V4, "10 10 00 04 'MQTT' 04 42 00 00 00 01 'c' 00 01 'p'",
     kMalformed},
    {"connect_truncated_protocol_name", V4, "10 03 00 04 'M'", kMalformed},
    {"connect_truncated_client_id_v4", V4, "10 0D 00 04 'MQTT' 04 02 00 00 00 05 'c'", kMalformed},
    {"connect_trailing_byte_v4", V4, "10 0E 00 04 'MQTT' 04 02 00 00 00 01 'c' 00", kMalformed},
    {"connect_client_id_not_utf8_v4", V4, "10 0E 00 04 'MQTT' 04 02 00 00 00 02 C3 28", kMalformed},
    {"connect_control_char_in_client_id_v4", V4, "10 0E 00 04 'MQTT' 04 02 00 00 00 02 'c' 0A",
     Reason::ClientIdentifierNotValid},
    {"connect_c1_control_in_client_id_v5", V5, "10 10 00 04 'MQTT' 05 02 00 00 00 00 03 'c' C2 80",
     Reason::ClientIdentifierNotValid},
    {"connect_control_char_in_will_topic_v4", V4,
     "10 14 00 04 'MQTT' 04 06 00 00 00 01 'c' 00 03 'a' 1B 'b' 00 00", Reason::TopicNameInvalid},
    {"connect_missing_user_name_v4", V4, "10 0D 00 04 'MQTT' 04 82 00 00 00 01 'c'", kMalformed},
    {"connect_will_topic_wildcard_v4", V4, "10 14 00 04 'MQTT' 04 06 00 00 00 01 'c' 00 03 'a/#' 00 00",
     Reason::TopicNameInvalid},
    {"connect_will_topic_empty_v4", V4, "10 11 00 04 'MQTT' 04 06 00 00 00 01 'c' 00 00 00 00",
     Reason::TopicNameInvalid},
    {"connect_topic_alias_not_allowed_v5", V5, "10 11 00 04 'MQTT' 05 02 00 00 03 23 00 01 00 01 'c'",
     kMalformed},
    {"connect_will_delay_outside_will_v5", V5, "10 13 00 04 'MQTT' 05 02 00 00 05 18 00 00 00 01 00 01 'c'",
     kMalformed},
    {"connect_unknown_property_v5", V5, "10 0F 00 04 'MQTT' 05 02 00 00 01 05 00 01 'c'", kMalformed},
    {"connect_receive_maximum_0_v5", V5, "10 11 00 04 'MQTT' 05 02 00 00 03 21 00 00 00 01 'c'", kProtocol},
    {"connect_maximum_packet_size_0_v5", V5, "10 13 00 04 'MQTT' 05 02 00 00 05 27 00 00 00 00 00 01 'c'",
     kProtocol},
    {"connect_duplicate_session_expiry_v5", V5,
     "10 18 00 04 'MQTT' 05 02 00 00 0A 11 00 00 00 01 11 00 00 00 02 00 01 'c'", kProtocol},
    {"connect_request_problem_info_2_v5", V5, "10 10 00 04 'MQTT' 05 02 00 00 02 17 02 00 01 'c'", kProtocol},
    {"connect_request_response_info_2_v5", V5, "10 10 00 04 'MQTT' 05 02 00 00 02 19 02 00 01 'c'",
     kProtocol},
    {"connect_auth_data_without_method_v5", V5, "10 12 00 04 'MQTT' 05 02 00 00 04 16 00 01 'x' 00 01 'c'",
     kProtocol},
    {"connect_props_longer_than_packet_v5", V5, "10 11 00 04 'MQTT' 05 02 00 00 09 21 00 01 00 01 'c'",
     kMalformed},
    {"connect_user_property_not_utf8_v5", V5,
     "10 15 00 04 'MQTT' 05 02 00 00 07 26 00 01 'k' 00 01 FF 00 01 'c'", kMalformed},
    {"connect_will_payload_not_utf8_v5", V5,
     "10 17 00 04 'MQTT' 05 06 00 00 00 00 01 'c' 02 01 01 00 01 't' 00 01 FF", Reason::PayloadFormatInvalid},
    {"connect_will_response_topic_wildcard_v5", V5,
     "10 19 00 04 'MQTT' 05 06 00 00 00 00 01 'c' 05 08 00 02 'a+' 00 01 't' 00 00", kProtocol},
};

// So that a failing case prints its name rather than its bytes.
void PrintTo(const Case& c, std::ostream* os) {
  *os << c.name << " [" << c.wire << "]";
}

class MqttReject : public ::testing::TestWithParam<Case> {};

TEST_P(MqttReject, GivesTheSpecReason) {
  const Case& c = GetParam();
  const auto r = frame_and_decode(c.version, h(c.wire));
  ASSERT_FALSE(r.ok()) << "decoded as " << type_name(type_of(r.value()));
  EXPECT_EQ(static_cast<int>(r.error().reason), static_cast<int>(c.expected)) << r.error().what;
  EXPECT_STRNE(r.error().what, "");
}

INSTANTIATE_TEST_SUITE_P(Spec, MqttReject, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& param_info) {
                           return std::string(param_info.param.name);
                         });

// ---- MQTT 3.1 leniency: what 3.1 called "not used" is not checked at level 3 ----

template <typename T>
T accept_as(Version v, const char* wire) {
  auto r = frame_and_decode(v, h(wire));
  if (!r.ok()) {
    ADD_FAILURE() << "refused: " << r.error().what;
    return T{};
  }
  return std::get<T>(std::move(r).value());
}

TEST(MqttV31Leniency, DupOnQos0Publish) {
  const auto p = accept_as<Publish>(V31, "38 04 00 01 't' 'x'");
  EXPECT_TRUE(p.dup);
  EXPECT_EQ(p.qos, 0);
}

TEST(MqttV31Leniency, PasswordWithoutUserName) {
  const auto c = accept_as<Connect>(V4, "10 12 00 06 'MQIsdp' 03 42 00 00 00 01 'c' 00 01 'p'");
  EXPECT_FALSE(c.username.has_value());
  EXPECT_EQ(c.password, "p");
}

TEST(MqttV31Leniency, ConnectReservedBit) {
  EXPECT_EQ(accept_as<Connect>(V4, "10 0F 00 06 'MQIsdp' 03 03 00 00 00 01 'c'").client_id, "c");
}

TEST(MqttV31Leniency, RequestedQosUpperBitsAndHeaderFlags) {
  const auto s = accept_as<Subscribe>(V31, "80 06 00 01 00 01 'a' F1");
  EXPECT_EQ(s.subscriptions[0].options.max_qos, 1);
  EXPECT_EQ(accept_as<Ack>(V31, "6A 02 00 01").type, PacketType::Pubrel);
}

TEST(MqttV5Accept, PayloadFormatUtf8MayContainNul) {
  // U+0000 is well-formed UTF-8; only MQTT strings forbid it (§1.5.4), not a UTF-8 payload.
  const auto p = accept_as<Publish>(V5, "30 0B 00 01 't' 02 01 01 'a' 00 E0 B8 81");
  EXPECT_EQ(p.payload, std::string("a\0\xE0\xB8\x81", 5));
}

TEST(MqttV5Accept, UserPropertiesMayRepeat) {
  const auto p = accept_as<Publish>(V5, "30 12 00 01 't' 0E 26 00 01 'k' 00 01 'a' 26 00 01 'k' 00 01 'b'");
  EXPECT_EQ(p.properties.user_properties, (std::vector<UserProperty>{{"k", "a"}, {"k", "b"}}));
}

// 5.0 keeps an empty filter for the broker, which answers it with SUBACK/UNSUBACK 0x8F (issue 11).
TEST(MqttV5Accept, EmptyFilterIsLeftToTheBroker) {
  EXPECT_EQ(accept_as<Subscribe>(V5, "82 06 00 01 00 00 00 00").subscriptions.at(0).filter, "");
  EXPECT_EQ(accept_as<Unsubscribe>(V5, "A2 05 00 01 00 00 00").filters.at(0), "");
}

// Controls are refused in topics and client ids only; other strings and payloads may hold them.
TEST(MqttV5Accept, ControlCharactersOutsideTopicsAndClientIds) {
  const auto p = accept_as<Publish>(V5, "30 0C 00 01 't' 07 26 00 01 0A 00 01 09 01");
  EXPECT_EQ(p.properties.user_properties, (std::vector<UserProperty>{{"\n", "\t"}}));
  EXPECT_EQ(p.payload, "\x01");
  EXPECT_EQ(accept_as<Publish>(V4, "30 05 00 03 'a' C2 A0").topic, "a\xC2\xA0");  // U+00A0 is no control
}

}  // namespace
}  // namespace gw::mqtt
