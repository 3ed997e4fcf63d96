// Framing: the remaining-length Variable Byte Integer (MQTT 5.0 §1.5.5, 3.1.1 §2.2.3) at its boundary
// values, the four-byte limit, incomplete input, and the maximum packet size check that must fire as
// soon as the length is known.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "protocols/mqtt/codec.hpp"

namespace gw::mqtt {
namespace {

using Bytes = std::vector<std::uint8_t>;

struct VarintCase {
  std::uint32_t value;
  Bytes encoded;  // from the table in MQTT 5.0 §1.5.5
};

const VarintCase kVarints[] = {
    {0, {0x00}},
    {1, {0x01}},
    {127, {0x7F}},
    {128, {0x80, 0x01}},
    {16'383, {0xFF, 0x7F}},
    {16'384, {0x80, 0x80, 0x01}},
    {2'097'151, {0xFF, 0xFF, 0x7F}},
    {2'097'152, {0x80, 0x80, 0x80, 0x01}},
    {268'435'455, {0xFF, 0xFF, 0xFF, 0x7F}},
};

TEST(MqttVarint, PutVarintBoundaries) {
  for (const auto& c : kVarints) {
    Buffer out = "x";  // encoders append
    put_varint(out, c.value);
    EXPECT_EQ(out, "x" + std::string(c.encoded.begin(), c.encoded.end())) << c.value;
  }
}

TEST(MqttVarint, ParseFrameBoundaries) {
  for (const auto& c : kVarints) {
    Bytes buf = {0x30};
    buf.insert(buf.end(), c.encoded.begin(), c.encoded.end());
    const Frame f = parse_frame(buf, 300'000'000);
    // The body is absent, so only an empty body is complete.
    EXPECT_EQ(f.status, c.value == 0 ? FrameStatus::Ok : FrameStatus::NeedMore) << c.value;
    EXPECT_EQ(f.header, 0x30);
    EXPECT_EQ(f.header_len, 1 + c.encoded.size()) << c.value;
    EXPECT_EQ(f.remaining, c.value);
    EXPECT_EQ(f.total(), 1 + c.encoded.size() + c.value);
  }
}

TEST(MqttVarint, FiveByteVarintIsMalformed) {
  const Frame f = parse_frame(Bytes{0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F}, 1'000'000'000);
  EXPECT_EQ(f.status, FrameStatus::Error);
  EXPECT_EQ(f.error.reason, Reason::MalformedPacket);
}

TEST(MqttVarint, FourContinuationBytesAreMalformedWithoutWaitingForAFifth) {
  const Frame f = parse_frame(Bytes{0x30, 0x80, 0x80, 0x80, 0x80}, 1'000'000'000);
  EXPECT_EQ(f.status, FrameStatus::Error);
  EXPECT_EQ(f.error.reason, Reason::MalformedPacket);
}

// MQTT-1.5.5-1: the encoded value must use the fewest bytes; 0x80 0x00 (0 in two bytes) and
// 0xFF 0x80 0x00 (16,383 in three) are malformed.
TEST(MqttVarint, MQTT_1_5_5_1_NonMinimalRemainingLengthIsMalformed) {
  for (const Bytes& b :
       {Bytes{0xC0, 0x80, 0x00}, Bytes{0x30, 0xFF, 0x80, 0x00}, Bytes{0x30, 0x80, 0x80, 0x80, 0x00}}) {
    const Frame f = parse_frame(b, 1'000'000'000);
    EXPECT_EQ(f.status, FrameStatus::Error) << b.size();
    EXPECT_EQ(f.error.reason, Reason::MalformedPacket);
  }
}

TEST(MqttFrame, NeedMore) {
  EXPECT_EQ(parse_frame(Bytes{}, 1000).status, FrameStatus::NeedMore);
  EXPECT_EQ(parse_frame(Bytes{0x30}, 1000).status, FrameStatus::NeedMore);
  EXPECT_EQ(parse_frame(Bytes{0x30, 0x80}, 1000).status, FrameStatus::NeedMore);
  EXPECT_EQ(parse_frame(Bytes{0x30, 0x80, 0x80, 0x80}, 1'000'000'000).status, FrameStatus::NeedMore);
  const Frame f = parse_frame(Bytes{0x30, 0x03, 0x00, 0x01}, 1000);
  EXPECT_EQ(f.status, FrameStatus::NeedMore);
  EXPECT_EQ(f.total(), 5u);
}

TEST(MqttFrame, OkLooksOnlyAtTheFirstPacket) {
  const Bytes two = {0xC0, 0x00, 0xD0, 0x00};
  const Frame f = parse_frame(two, 1000);
  EXPECT_EQ(f.status, FrameStatus::Ok);
  EXPECT_EQ(f.header, 0xC0);
  EXPECT_EQ(f.total(), 2u);
}

TEST(MqttFrame, PacketTooLargeBeforeTheBodyArrives) {
  // 0xFF 0x7F = 16,383: known to exceed 100 bytes as soon as the varint ends.
  const Frame f = parse_frame(Bytes{0x30, 0xFF, 0x7F}, 100);
  EXPECT_EQ(f.status, FrameStatus::Error);
  EXPECT_EQ(f.error.reason, Reason::PacketTooLarge);
}

TEST(MqttFrame, MaximumPacketSizeCountsTheWholePacket) {
  // header 1 + varint 1 + 10 = 12.
  Bytes buf = {0x30, 0x0A};
  buf.resize(12);
  EXPECT_EQ(parse_frame(buf, 12).status, FrameStatus::Ok);
  EXPECT_EQ(parse_frame(buf, 11).status, FrameStatus::Error);
  EXPECT_EQ(parse_frame(buf, 11).error.reason, Reason::PacketTooLarge);
}

}  // namespace
}  // namespace gw::mqtt
