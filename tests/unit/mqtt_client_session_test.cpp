// The MQTT client session (protocols/mqtt/client_session.hpp) on a manual clock. What the session sends
// is decoded with the codec and checked field by field; the server's replies are built with the codec's
// encoders (the codec itself is tested against the spec's vectors in mqtt_*_test.cpp). Covers CONNECT
// and CONNACK for 3.1.1 and 5.0, the in-flight window and the queue bound, QoS 1/2 both ways,
// duplicates, redelivery after a reconnect with and without a session, keepalive, stalls and errors.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "gateway/base/clock.hpp"
#include "protocols/mqtt/client_session.hpp"
#include "protocols/mqtt/codec.hpp"

namespace gw::mqtt {
namespace {

ByteView view(const Buffer& b) {
  return {reinterpret_cast<const std::uint8_t*>(b.data()), b.size()};
}

std::vector<Packet> decode_all(const Buffer& bytes, Version v) {
  std::vector<Packet> out;
  std::size_t off = 0;
  while (off < bytes.size()) {
    const ByteView rest = view(bytes).subspan(off);
    const Frame f = parse_frame(rest, 1u << 24);
    EXPECT_EQ(f.status, FrameStatus::Ok) << "trailing partial packet";
    if (f.status != FrameStatus::Ok) break;
    auto p = decode(v, f.header, rest.subspan(f.header_len, f.remaining));
    EXPECT_TRUE(p.ok()) << "the session sent an undecodable packet: " << (p ? "" : p.error().what);
    if (!p) break;
    out.push_back(std::move(p).value());
    off += f.total();
  }
  return out;
}

template <typename T>
T as(const Packet& p) {
  if (!std::holds_alternative<T>(p)) {
    ADD_FAILURE() << "packet is a " << type_name(type_of(p));
    return T{};
  }
  return std::get<T>(p);
}

template <typename T>
std::vector<T> only_of(const std::vector<Event>& events) {
  std::vector<T> out;
  for (const Event& e : events) {
    if (const T* t = std::get_if<T>(&e)) out.push_back(*t);
  }
  return out;
}

template <typename T>
T single(const std::vector<Event>& events) {
  EXPECT_EQ(events.size(), 1u);
  if (events.size() != 1 || !std::holds_alternative<T>(events[0])) {
    ADD_FAILURE() << "expected exactly one event of the asked type, got " << events.size();
    return T{};
  }
  return std::get<T>(events[0]);
}

Ack ack(PacketType t, std::uint16_t id, Reason r = Reason::Success) {
  return Ack{t, id, r, {}};
}

Publish inbound(std::uint8_t qos, std::uint16_t id, std::string topic = "down/x", std::string payload = "p") {
  Publish p;
  p.qos = qos;
  p.packet_id = qos == 0 ? 0 : id;
  p.topic = std::move(topic);
  p.payload = std::move(payload);
  return p;
}

class SessionTest : public ::testing::Test {
 protected:
  void make(ClientLimits limits = {}, Version v = Version::V311) {
    s_.emplace(limits);
    v_ = v;
  }
  ClientSession& s() { return *s_; }
  Millis now() const { return clock_.now_ms(); }
  void advance(Millis ms) {
    clock_.advance(ms);
    s_->tick(now());
  }
  std::vector<Packet> sent() { return decode_all(s_->take_bytes(), v_); }
  std::vector<Event> events() { return s_->take_events(); }
  void feed(const Packet& p) {
    Buffer b;
    encode(p, v_, b);
    s_->bytes_received(view(b), now());
  }
  ConnectOptions options(bool clean = true) const {
    ConnectOptions o;
    o.version = v_;
    o.client_id = "gw-1";
    o.keep_alive_s = 0;  // keepalive tests turn it on
    o.clean_start = clean;
    return o;
  }
  // Transport up, CONNECT out, CONNACK in. Leaves the events (Connected, ...) for the test to take.
  void establish(const ConnectOptions& o, Connack c = {}) {
    s_->connect(o, now());
    s_->transport_connected(now());
    const auto out = sent();
    ASSERT_EQ(out.size(), 1u);
    ASSERT_TRUE(std::holds_alternative<Connect>(out[0]));
    feed(c);
  }
  void establish() { establish(options()); }
  void reconnect(bool session_present, Properties connack_props = {}) {
    s_->transport_connected(now());
    const auto out = sent();
    ASSERT_EQ(out.size(), 1u);
    ASSERT_TRUE(std::holds_alternative<Connect>(out[0]));
    feed(Connack{session_present, Reason::Success, std::move(connack_props)});
  }
  PublishStatus pub(std::uint8_t qos, PublishTag tag, std::string topic = "up/t", std::string payload = "m",
                    bool retain = false) {
    return s_->publish(OutboundPublish{std::move(topic), std::move(payload), qos, retain, {}, tag}, now());
  }

  ManualClock clock_;
  std::optional<ClientSession> s_;
  Version v_ = Version::V311;
};

// ---- CONNECT and CONNACK ----

TEST_F(SessionTest, ConnectV311CarriesTheOptions) {
  make();
  ConnectOptions o = options();
  o.username = "user";
  o.password = "pass";
  o.keep_alive_s = 30;
  o.will = Will{"/app/gw/status", "offline", 1, true, {}};
  s().connect(o, now());
  EXPECT_EQ(s().state(), ClientSession::State::Offline);
  EXPECT_FALSE(s().has_bytes());
  EXPECT_EQ(s().next_deadline(), std::nullopt);

  s().transport_connected(now());
  const auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  const Connect c = as<Connect>(out[0]);
  EXPECT_EQ(c.protocol_name, "MQTT");
  EXPECT_EQ(c.version, Version::V311);
  EXPECT_EQ(c.client_id, "gw-1");
  EXPECT_EQ(c.username, "user");
  EXPECT_EQ(c.password, "pass");
  EXPECT_EQ(c.keep_alive, 30);
  EXPECT_TRUE(c.clean_start);
  EXPECT_EQ(c.will, o.will);
  EXPECT_EQ(s().state(), ClientSession::State::AwaitingConnack);

  feed(Connack{});
  const Connected got = single<Connected>(events());
  Connected want;
  want.keep_alive_s = 30;
  EXPECT_EQ(got, want);
  EXPECT_EQ(s().state(), ClientSession::State::Connected);
  EXPECT_EQ(s().window(), 64);
}

TEST_F(SessionTest, ConnectV5PropertiesAndConnackProperties) {
  ClientLimits l;
  l.max_packet_size = 4096;
  make(l, Version::V5);
  ConnectOptions o = options(false);
  o.session_expiry_s = 3600;
  o.receive_maximum = 10;
  o.topic_alias_maximum = 5;
  o.keep_alive_s = 60;
  o.user_properties = {{"gateway", "edge-1"}};
  s().connect(o, now());
  s().transport_connected(now());
  const auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  const Connect c = as<Connect>(out[0]);
  EXPECT_EQ(c.version, Version::V5);
  EXPECT_FALSE(c.clean_start);
  EXPECT_EQ(c.properties.session_expiry_interval, 3600u);
  EXPECT_EQ(c.properties.receive_maximum, 10);
  EXPECT_EQ(c.properties.maximum_packet_size, 4096u);
  EXPECT_EQ(c.properties.topic_alias_maximum, 5);
  EXPECT_EQ(c.properties.user_properties, o.user_properties);

  Connack ack;
  ack.properties.receive_maximum = 2;
  ack.properties.server_keep_alive = 20;
  ack.properties.maximum_packet_size = 1000;
  ack.properties.topic_alias_maximum = 3;
  ack.properties.assigned_client_identifier = "assigned";
  ack.properties.maximum_qos = 1;
  ack.properties.retain_available = 0;
  feed(ack);
  const Connected got = single<Connected>(events());
  EXPECT_FALSE(got.session_present);
  EXPECT_EQ(got.receive_maximum, 2);
  EXPECT_EQ(got.keep_alive_s, 20);
  EXPECT_EQ(got.maximum_packet_size, 1000u);
  EXPECT_EQ(got.topic_alias_maximum, 3);
  EXPECT_EQ(got.maximum_qos, 1);
  EXPECT_FALSE(got.retain_available);
  EXPECT_EQ(got.assigned_client_id, "assigned");
  EXPECT_EQ(s().window(), 2);
}

TEST_F(SessionTest, ConnectV5LeavesDefaultPropertiesOut) {
  ClientLimits l;
  l.max_packet_size = 0;
  make(l, Version::V5);
  s().connect(options(), now());
  s().transport_connected(now());
  const Connect c = as<Connect>(sent().at(0));
  EXPECT_EQ(c.properties, Properties{});
}

TEST_F(SessionTest, OptionsMayArriveAfterTheTransport) {
  make();
  s().transport_connected(now());
  EXPECT_EQ(s().state(), ClientSession::State::TransportUp);
  EXPECT_FALSE(s().has_bytes());
  s().connect(options(), now());
  EXPECT_EQ(s().state(), ClientSession::State::AwaitingConnack);
  EXPECT_EQ(sent().size(), 1u);
  // New options while waiting are kept for the next connection, not sent now.
  s().connect(options(), now());
  EXPECT_FALSE(s().has_bytes());
}

TEST_F(SessionTest, Mqtt31UsesMQIsdp) {
  make({}, Version::V31);
  s().connect(options(), now());
  s().transport_connected(now());
  const Connect c = as<Connect>(sent().at(0));
  EXPECT_EQ(c.protocol_name, "MQIsdp");
  EXPECT_EQ(c.version, Version::V31);
}

TEST_F(SessionTest, ConnackRefusedV311Codes4And5) {
  for (const Reason r : {Reason::BadUserNameOrPassword, Reason::NotAuthorized}) {
    make();
    establish(options(), Connack{false, r, {}});  // the encoder writes return code 4 / 5
    const auto ev = events();
    ASSERT_EQ(ev.size(), 2u);
    EXPECT_EQ(std::get<ConnackRefused>(ev[0]).reason, r);
    EXPECT_EQ(std::get<CloseTransport>(ev[1]).why, CloseReason::ConnackRefused);
    EXPECT_EQ(s().state(), ClientSession::State::Closing);
    EXPECT_EQ(pub(1, 1), PublishStatus::Queued);  // kept for the next connection
    s().transport_lost(now());
    const Disconnected d = single<Disconnected>(events());
    EXPECT_EQ(d.why, CloseReason::ConnackRefused);
    EXPECT_EQ(d.reason, r);
    EXPECT_EQ(s().state(), ClientSession::State::Offline);
  }
}

TEST_F(SessionTest, ConnackRefusedV5CarriesReasonStringAndServerReference) {
  make({}, Version::V5);
  Connack c{false, Reason::UseAnotherServer, {}};
  c.properties.reason_string = "moved";
  c.properties.server_reference = "other.example:1883";
  establish(options(), c);
  const ConnackRefused r = only_of<ConnackRefused>(events()).at(0);
  EXPECT_EQ(r.reason, Reason::UseAnotherServer);
  EXPECT_EQ(r.reason_string, "moved");
  EXPECT_EQ(r.server_reference, "other.example:1883");
}

TEST_F(SessionTest, ConnackTimeout) {
  ClientLimits l;
  l.connack_timeout_ms = 5'000;
  make(l);
  s().connect(options(), now());
  s().transport_connected(now());
  sent();
  EXPECT_EQ(s().next_deadline(), now() + 5'000);
  advance(4'999);
  EXPECT_TRUE(events().empty());
  advance(1);
  EXPECT_EQ(single<CloseTransport>(events()).why, CloseReason::ConnackTimeout);
  s().transport_lost(now());
  EXPECT_EQ(single<Disconnected>(events()).why, CloseReason::ConnackTimeout);
}

// ---- Outbound QoS 1 and 2 ----

TEST_F(SessionTest, Qos1PublishIsAckedOnceAndDuplicatePubacksAreCounted) {
  make();
  establish();
  events();
  EXPECT_EQ(pub(1, 7, "up/a", "hello", true), PublishStatus::Sent);
  const Publish p = as<Publish>(sent().at(0));
  EXPECT_EQ(p.qos, 1);
  EXPECT_NE(p.packet_id, 0);
  EXPECT_TRUE(p.retain);
  EXPECT_FALSE(p.dup);
  EXPECT_EQ(p.topic, "up/a");
  EXPECT_EQ(p.payload, "hello");
  EXPECT_EQ(s().inflight(), 1u);

  feed(ack(PacketType::Puback, p.packet_id));
  EXPECT_EQ(single<PublishAcked>(events()).tag, 7u);
  EXPECT_EQ(s().inflight(), 0u);
  feed(ack(PacketType::Puback, p.packet_id));  // again
  feed(ack(PacketType::Puback, 999));          // never used
  EXPECT_TRUE(events().empty());
  EXPECT_FALSE(s().has_bytes());
  EXPECT_EQ(s().stats().duplicate_acks, 2u);
  EXPECT_EQ(s().stats().acked, 1u);
  EXPECT_EQ(s().state(), ClientSession::State::Connected);
}

TEST_F(SessionTest, Qos0IsSentAtOnceAndNeverQueued) {
  make();
  EXPECT_EQ(pub(0, 1), PublishStatus::NotConnected);
  establish();
  EXPECT_EQ(pub(0, 2, "up/z", "zero"), PublishStatus::Sent);
  const Publish p = as<Publish>(sent().at(0));
  EXPECT_EQ(p.qos, 0);
  EXPECT_EQ(p.packet_id, 0);
  EXPECT_EQ(s().inflight(), 0u);
  EXPECT_EQ(s().stats().publishes_sent, 1u);
}

TEST_F(SessionTest, Qos2FullFlowWithDuplicates) {
  make({}, Version::V5);
  establish();
  events();
  EXPECT_EQ(pub(2, 9), PublishStatus::Sent);
  const Publish p = as<Publish>(sent().at(0));
  EXPECT_EQ(p.qos, 2);

  feed(ack(PacketType::Pubrec, p.packet_id));
  Ack rel = as<Ack>(sent().at(0));
  EXPECT_EQ(rel.type, PacketType::Pubrel);
  EXPECT_EQ(rel.packet_id, p.packet_id);
  EXPECT_TRUE(events().empty());

  feed(ack(PacketType::Pubrec, p.packet_id));  // repeated PUBREC: PUBREL again
  rel = as<Ack>(sent().at(0));
  EXPECT_EQ(rel.type, PacketType::Pubrel);
  EXPECT_EQ(rel.reason, Reason::Success);
  feed(ack(PacketType::Puback, p.packet_id));  // wrong ack for a QoS 2 message
  EXPECT_FALSE(s().has_bytes());

  feed(ack(PacketType::Pubcomp, p.packet_id));
  EXPECT_EQ(single<PublishAcked>(events()).tag, 9u);
  feed(ack(PacketType::Pubcomp, p.packet_id));  // again
  EXPECT_TRUE(events().empty());

  feed(ack(PacketType::Pubrec, 4242));  // unknown: PUBREL 0x92 so that the server can finish
  rel = as<Ack>(sent().at(0));
  EXPECT_EQ(rel.type, PacketType::Pubrel);
  EXPECT_EQ(rel.packet_id, 4242);
  EXPECT_EQ(rel.reason, Reason::PacketIdentifierNotFound);
  EXPECT_EQ(s().stats().duplicate_acks, 4u);
  EXPECT_EQ(s().inflight(), 0u);
}

TEST_F(SessionTest, HeldPubrelWaitsForReleaseAndARepeatedPubrecDoesNotBypassIt) {
  ClientLimits l;
  l.hold_pubrel = true;
  make(l);
  establish();
  events();
  EXPECT_EQ(pub(2, 9), PublishStatus::Sent);
  const Publish p = as<Publish>(sent().at(0));
  feed(ack(PacketType::Pubrec, p.packet_id));
  EXPECT_EQ(single<PublishReceived>(events()).tag, 9u);
  EXPECT_FALSE(s().has_bytes()) << "no PUBREL before release()";
  feed(ack(PacketType::Pubrec, p.packet_id));  // repeated: still held
  EXPECT_FALSE(s().has_bytes());
  EXPECT_TRUE(events().empty());
  EXPECT_FALSE(s().release(10, now()));  // not a held message
  EXPECT_TRUE(s().release(9, now()));
  const Ack rel = as<Ack>(sent().at(0));
  EXPECT_EQ(rel.type, PacketType::Pubrel);
  EXPECT_EQ(rel.packet_id, p.packet_id);
  EXPECT_FALSE(s().release(9, now()));  // once
  feed(ack(PacketType::Pubcomp, p.packet_id));
  EXPECT_EQ(single<PublishAcked>(events()).tag, 9u);
  EXPECT_EQ(s().inflight(), 0u);
}

TEST_F(SessionTest, CallerChosenIdsDupAndReleasedMessages) {
  make();
  establish();
  events();
  OutboundPublish m{"up/t", "a", 2, false, {}, 7};
  m.packet_id = 500;
  m.dup = true;
  EXPECT_EQ(s().publish(m, now()), PublishStatus::Sent);
  const Publish p = as<Publish>(sent().at(0));
  EXPECT_EQ(p.packet_id, 500);
  EXPECT_TRUE(p.dup);
  // The same id again while it is in flight: refused as QueueFull (the caller keeps the row).
  OutboundPublish clash{"up/t", "b", 1, false, {}, 8};
  clash.packet_id = 500;
  EXPECT_EQ(s().publish(clash, now()), PublishStatus::QueueFull);
  // A QoS 2 message the server already took on an earlier connection: PUBREL, no PUBLISH.
  OutboundPublish done{"up/t", "c", 2, false, {}, 11};
  done.packet_id = 501;
  done.released = true;
  EXPECT_EQ(s().publish(done, now()), PublishStatus::Sent);
  const Ack rel = as<Ack>(sent().at(0));
  EXPECT_EQ(rel.type, PacketType::Pubrel);
  EXPECT_EQ(rel.packet_id, 501);
  feed(ack(PacketType::Pubcomp, 501));
  EXPECT_EQ(single<PublishAcked>(events()).tag, 11u);
  // Allocated ids skip the caller's.
  EXPECT_EQ(pub(1, 12), PublishStatus::Sent);
  EXPECT_NE(as<Publish>(sent().at(0)).packet_id, 500);
}

TEST_F(SessionTest, AHeldMessageCountsAsTakenWhenTheServerLostTheSession) {
  ClientLimits l;
  l.hold_pubrel = true;
  make(l);
  establish(options(false));
  events();
  pub(2, 4);
  const std::uint16_t id = as<Publish>(sent().at(0)).packet_id;
  feed(ack(PacketType::Pubrec, id));
  EXPECT_EQ(single<PublishReceived>(events()).tag, 4u);
  s().transport_lost(now());
  events();
  EXPECT_TRUE(s().release(4, now()));  // released while offline: PUBREL on the next connection
  reconnect(/*session_present=*/true);
  events();
  const Ack rel = as<Ack>(sent().at(0));
  EXPECT_EQ(rel.type, PacketType::Pubrel);
  EXPECT_EQ(rel.packet_id, id);
  // A second message held when the session is lost: the server had taken it (PUBREC), so it is acked.
  pub(2, 5);
  const std::uint16_t id5 = as<Publish>(sent().at(0)).packet_id;
  feed(ack(PacketType::Pubrec, id5));
  events();
  s().transport_lost(now());
  events();
  reconnect(/*session_present=*/false);
  bool acked5 = false;
  for (const Event& e : events()) {
    if (auto* a = std::get_if<PublishAcked>(&e); a && a->tag == 5) acked5 = true;
  }
  EXPECT_TRUE(acked5);
}

// A window of held messages released out of order: each release() sends the PUBREL of its own message
// only, once; the index behind release() follows messages that complete, are held from an earlier
// connection, or are taken by a lost session.
TEST_F(SessionTest, ManyHeldMessagesReleasedOutOfOrder) {
  ClientLimits l;
  l.hold_pubrel = true;
  l.max_inflight = 256;
  make(l);
  establish(options(false));
  events();
  constexpr PublishTag kBase = 1000;
  constexpr std::size_t kN = 256;
  std::map<PublishTag, std::uint16_t> id_of;
  for (std::size_t i = 0; i < kN; ++i) {
    ASSERT_EQ(pub(2, kBase + i), PublishStatus::Sent);
    id_of[kBase + i] = as<Publish>(sent().at(0)).packet_id;
  }
  for (const auto& [tag, id] : id_of) feed(ack(PacketType::Pubrec, id));
  EXPECT_EQ(only_of<PublishReceived>(events()).size(), kN);
  EXPECT_FALSE(s().has_bytes());

  // Three quarters released in a scrambled order (97 is prime to 256: every index once).
  std::set<PublishTag> released;
  for (std::size_t k = 0; k < kN * 3 / 4; ++k) {
    const PublishTag tag = kBase + (k * 97) % kN;
    ASSERT_TRUE(s().release(tag, now())) << tag;
    const auto out = sent();
    ASSERT_EQ(out.size(), 1u);
    const Ack rel = as<Ack>(out[0]);
    EXPECT_EQ(rel.type, PacketType::Pubrel);
    EXPECT_EQ(rel.packet_id, id_of[tag]) << tag;
    released.insert(tag);
  }
  for (const PublishTag tag : released) EXPECT_FALSE(s().release(tag, now())) << "released twice: " << tag;
  EXPECT_FALSE(s().release(kBase + kN, now()));  // never published
  EXPECT_FALSE(s().release(0, now()));
  EXPECT_FALSE(s().has_bytes());

  // Completed out of order too: each PUBCOMP acknowledges its own tag.
  std::set<PublishTag> acked;
  for (auto it = released.rbegin(); it != released.rend(); ++it) {
    feed(ack(PacketType::Pubcomp, id_of[*it]));
    acked.insert(single<PublishAcked>(events()).tag);
  }
  EXPECT_EQ(acked, released);
  EXPECT_EQ(s().inflight(), kN - released.size());

  // The rest is held across a reconnect with the session: nothing is resent for them, and a release
  // on the new connection sends its PUBREL at once.
  s().transport_lost(now());
  events();
  reconnect(/*session_present=*/true);
  events();
  EXPECT_FALSE(s().has_bytes());
  std::vector<PublishTag> rest;
  for (const auto& [tag, id] : id_of) {
    if (!released.count(tag)) rest.push_back(tag);
  }
  ASSERT_EQ(rest.size(), kN / 4);
  const PublishTag late = rest.back();
  rest.pop_back();
  ASSERT_TRUE(s().release(late, now()));
  const Ack rel = as<Ack>(sent().at(0));
  EXPECT_EQ(rel.type, PacketType::Pubrel);
  EXPECT_EQ(rel.packet_id, id_of[late]);
  EXPECT_FALSE(s().release(late, now()));

  // The server lost the session: the held ones count as taken (PUBREC) and can no longer be released.
  s().transport_lost(now());
  events();
  reconnect(/*session_present=*/false);
  std::set<PublishTag> taken;
  for (const auto& a : only_of<PublishAcked>(events())) taken.insert(a.tag);
  for (const PublishTag tag : rest) {
    EXPECT_TRUE(taken.count(tag)) << tag;
    EXPECT_FALSE(s().release(tag, now())) << tag;
  }
}

// Two held messages with one tag: release() takes the one held first, then the other.
TEST_F(SessionTest, HeldMessagesSharingATagAreReleasedInTheOrderHeld) {
  ClientLimits l;
  l.hold_pubrel = true;
  make(l);
  establish();
  events();
  pub(2, 7);
  const std::uint16_t first = as<Publish>(sent().at(0)).packet_id;
  pub(2, 7);
  const std::uint16_t second = as<Publish>(sent().at(0)).packet_id;
  feed(ack(PacketType::Pubrec, second));
  feed(ack(PacketType::Pubrec, first));
  events();
  ASSERT_TRUE(s().release(7, now()));
  EXPECT_EQ(as<Ack>(sent().at(0)).packet_id, second);
  ASSERT_TRUE(s().release(7, now()));
  EXPECT_EQ(as<Ack>(sent().at(0)).packet_id, first);
  EXPECT_FALSE(s().release(7, now()));
}

TEST_F(SessionTest, PubcompNotFoundStillCompletes) {
  make({}, Version::V5);
  establish();
  events();
  pub(2, 3);
  const std::uint16_t id = as<Publish>(sent().at(0)).packet_id;
  feed(ack(PacketType::Pubrec, id));
  sent();
  feed(ack(PacketType::Pubcomp, id, Reason::PacketIdentifierNotFound));
  EXPECT_EQ(single<PublishAcked>(events()).tag, 3u);
}

TEST_F(SessionTest, ServerReceiveMaximumLimitsTheWindow) {
  make({}, Version::V5);
  Connack c;
  c.properties.receive_maximum = 2;
  establish(options(), c);
  events();
  EXPECT_EQ(pub(1, 1), PublishStatus::Sent);
  EXPECT_EQ(pub(1, 2), PublishStatus::Sent);
  EXPECT_EQ(pub(1, 3), PublishStatus::Queued);
  EXPECT_EQ(pub(2, 4), PublishStatus::Queued);
  auto out = sent();
  ASSERT_EQ(out.size(), 2u);  // only two in flight
  EXPECT_EQ(s().inflight(), 2u);
  EXPECT_EQ(s().queued(), 2u);
  const std::uint16_t first = as<Publish>(out[0]).packet_id;
  const std::uint16_t second = as<Publish>(out[1]).packet_id;

  feed(ack(PacketType::Puback, first));
  EXPECT_EQ(single<PublishAcked>(events()).tag, 1u);
  out = sent();
  ASSERT_EQ(out.size(), 1u);  // the third goes out in the freed slot
  EXPECT_EQ(as<Publish>(out[0]).qos, 1);
  EXPECT_EQ(s().inflight(), 2u);

  feed(ack(PacketType::Puback, second));
  out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(as<Publish>(out[0]).qos, 2);
  EXPECT_EQ(s().queued(), 0u);
}

TEST_F(SessionTest, OwnLimitBoundsTheWindowToo) {
  ClientLimits l;
  l.max_inflight = 1;
  make(l);
  establish();
  EXPECT_EQ(s().window(), 1);
  EXPECT_EQ(pub(1, 1), PublishStatus::Sent);
  EXPECT_EQ(pub(1, 2), PublishStatus::Queued);
  EXPECT_EQ(sent().size(), 1u);
  EXPECT_EQ(s().queued(), 1u);
}

TEST_F(SessionTest, V5PubackFailureIsARefusalAndFreesTheSlot) {
  ClientLimits l;
  l.max_inflight = 1;
  make(l, Version::V5);
  establish();
  events();
  pub(1, 11);
  pub(1, 12);
  const std::uint16_t id = as<Publish>(sent().at(0)).packet_id;
  feed(ack(PacketType::Puback, id, Reason::QuotaExceeded));
  const PublishRefused r = single<PublishRefused>(events());
  EXPECT_EQ(r.tag, 11u);
  EXPECT_EQ(r.reason, Reason::QuotaExceeded);
  EXPECT_EQ(s().stats().refused, 1u);
  EXPECT_EQ(as<Publish>(sent().at(0)).qos, 1);  // the queued one took the slot
}

TEST_F(SessionTest, V5PubrecFailureEndsTheFlowWithoutPubrel) {
  make({}, Version::V5);
  establish();
  events();
  pub(2, 21);
  const std::uint16_t id = as<Publish>(sent().at(0)).packet_id;
  feed(ack(PacketType::Pubrec, id, Reason::NotAuthorized));
  const PublishRefused r = single<PublishRefused>(events());
  EXPECT_EQ(r.tag, 21u);
  EXPECT_EQ(r.reason, Reason::NotAuthorized);
  EXPECT_FALSE(s().has_bytes());
  EXPECT_EQ(s().inflight(), 0u);
}

// [MQTT-4.3.3-4]: PUBREL only after a PUBREC below 0x80. The refusal repeated (the flow has ended, the id
// is unknown now) or a refusal for an id never used gets no PUBREL, not even 0x92.
TEST_F(SessionTest, MQTT_4_3_3_4_RepeatedPubrecFailureGetsNoPubrel) {
  make({}, Version::V5);
  establish();
  events();
  pub(2, 22);
  const std::uint16_t id = as<Publish>(sent().at(0)).packet_id;
  feed(ack(PacketType::Pubrec, id, Reason::QuotaExceeded));
  events();
  feed(ack(PacketType::Pubrec, id, Reason::QuotaExceeded));
  feed(ack(PacketType::Pubrec, 4242, Reason::UnspecifiedError));
  EXPECT_FALSE(s().has_bytes()) << "a PUBREL went out after a PUBREC >= 0x80";
  feed(ack(PacketType::Pubrec, 4243));  // a success code for an unknown id still gets PUBREL 0x92
  EXPECT_EQ(as<Ack>(sent().at(0)).reason, Reason::PacketIdentifierNotFound);
}

// ---- Connection lost mid-flight ----

TEST_F(SessionTest, ReconnectWithSessionResendsWithDupAndPubrelInOrder) {
  make();
  establish(options(false));
  events();
  pub(1, 1, "up/a");
  pub(2, 2, "up/b");
  pub(2, 3, "up/c");
  pub(1, 4, "up/d");
  const auto first = sent();
  ASSERT_EQ(first.size(), 4u);
  std::vector<std::uint16_t> ids;
  for (const Packet& p : first) ids.push_back(as<Publish>(p).packet_id);
  feed(ack(PacketType::Pubrec, ids[2]));  // c is past PUBREC
  EXPECT_EQ(as<Ack>(sent().at(0)).type, PacketType::Pubrel);

  s().transport_lost(now());
  EXPECT_EQ(single<Disconnected>(events()).why, CloseReason::TransportLost);
  EXPECT_EQ(s().state(), ClientSession::State::Offline);
  EXPECT_EQ(pub(1, 5, "up/e"), PublishStatus::Queued);

  reconnect(true);
  const Connected c = single<Connected>(events());
  EXPECT_TRUE(c.session_present);
  const auto again = sent();
  ASSERT_EQ(again.size(), 5u);
  const Publish a = as<Publish>(again[0]);
  EXPECT_EQ(a.topic, "up/a");
  EXPECT_EQ(a.packet_id, ids[0]);
  EXPECT_TRUE(a.dup);
  const Publish b = as<Publish>(again[1]);
  EXPECT_EQ(b.topic, "up/b");
  EXPECT_EQ(b.packet_id, ids[1]);
  EXPECT_TRUE(b.dup);
  EXPECT_EQ(b.qos, 2);
  const Ack rel = as<Ack>(again[2]);
  EXPECT_EQ(rel.type, PacketType::Pubrel);
  EXPECT_EQ(rel.packet_id, ids[2]);
  const Publish d = as<Publish>(again[3]);
  EXPECT_EQ(d.topic, "up/d");
  EXPECT_TRUE(d.dup);
  const Publish e = as<Publish>(again[4]);  // the queued one, new
  EXPECT_EQ(e.topic, "up/e");
  EXPECT_FALSE(e.dup);
  EXPECT_EQ(s().stats().publishes_resent, 3u);
  EXPECT_EQ(s().stats().pubrels_resent, 1u);

  feed(ack(PacketType::Pubcomp, ids[2]));
  feed(ack(PacketType::Puback, ids[0]));
  const auto done = only_of<PublishAcked>(events());
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[0].tag, 3u);
  EXPECT_EQ(done[1].tag, 1u);
}

TEST_F(SessionTest, ResendAfterReconnectRespectsTheNewReceiveMaximum) {
  make({}, Version::V5);
  establish(options(false));
  events();
  pub(1, 1, "up/1");
  pub(1, 2, "up/2");
  pub(1, 3, "up/3");
  const auto first = sent();
  ASSERT_EQ(first.size(), 3u);
  s().transport_lost(now());
  events();

  Properties props;
  props.receive_maximum = 1;
  reconnect(true, props);
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(as<Publish>(out[0]).topic, "up/1");
  EXPECT_TRUE(as<Publish>(out[0]).dup);

  feed(ack(PacketType::Puback, as<Publish>(first[0]).packet_id));
  out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(as<Publish>(out[0]).topic, "up/2");
  EXPECT_TRUE(as<Publish>(out[0]).dup);

  // The server may acknowledge a message we have not resent yet (it got the first transmission).
  feed(ack(PacketType::Puback, as<Publish>(first[2]).packet_id));
  EXPECT_FALSE(s().has_bytes());
  feed(ack(PacketType::Puback, as<Publish>(first[1]).packet_id));
  EXPECT_FALSE(s().has_bytes());
  EXPECT_EQ(only_of<PublishAcked>(events()).size(), 3u);
  EXPECT_EQ(s().inflight(), 0u);
}

TEST_F(SessionTest, ReconnectWithoutSessionResendsAsNew) {
  make();
  establish(options(false));
  events();
  pub(1, 1, "up/a");
  pub(2, 2, "up/b");
  pub(2, 3, "up/c");
  const auto first = sent();
  feed(ack(PacketType::Pubrec, as<Publish>(first[1]).packet_id));  // b past PUBREC
  sent();
  s().transport_lost(now());
  events();

  reconnect(false);
  const auto ev = events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_FALSE(std::get<Connected>(ev[0]).session_present);
  EXPECT_EQ(std::get<PublishAcked>(ev[1]).tag, 2u);  // the server had taken it
  const auto again = sent();
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ(as<Publish>(again[0]).topic, "up/a");
  EXPECT_FALSE(as<Publish>(again[0]).dup);
  EXPECT_EQ(as<Publish>(again[1]).topic, "up/c");
  EXPECT_FALSE(as<Publish>(again[1]).dup);
  EXPECT_EQ(s().stats().publishes_resent, 0u);
  EXPECT_EQ(s().inflight(), 2u);
}

TEST_F(SessionTest, ReconnectWithoutSessionAbandonPolicy) {
  ClientLimits l;
  l.session_lost_policy = SessionLostPolicy::Abandon;
  make(l);
  establish(options(false));
  events();
  pub(1, 1);
  pub(2, 2);
  pub(2, 3);
  const auto first = sent();
  feed(ack(PacketType::Pubrec, as<Publish>(first[1]).packet_id));
  sent();
  s().transport_lost(now());
  events();
  reconnect(false);
  const auto ev = events();
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_TRUE(std::holds_alternative<Connected>(ev[0]));
  EXPECT_EQ(std::get<PublishDropped>(ev[1]).tag, 1u);
  EXPECT_EQ(std::get<PublishDropped>(ev[1]).reason, DropReason::SessionLost);
  EXPECT_EQ(std::get<PublishAcked>(ev[2]).tag, 2u);
  EXPECT_EQ(std::get<PublishDropped>(ev[3]).tag, 3u);
  EXPECT_FALSE(s().has_bytes());
  EXPECT_EQ(s().stats().session_lost_dropped, 2u);
}

TEST_F(SessionTest, SessionPresentAfterCleanStartIsAProtocolError) {
  make({}, Version::V5);
  establish(options(true), Connack{true, Reason::Success, {}});
  const Disconnect d = as<Disconnect>(sent().at(0));
  EXPECT_EQ(d.reason, Reason::ProtocolError);
  const CloseTransport c = single<CloseTransport>(events());
  EXPECT_EQ(c.why, CloseReason::ProtocolError);
  EXPECT_EQ(c.reason, Reason::ProtocolError);
}

TEST_F(SessionTest, TransportConnectedAgainImpliesTheOldOneWasLost) {
  make();
  establish();
  events();
  s().transport_connected(now());
  EXPECT_EQ(single<Disconnected>(events()).why, CloseReason::TransportLost);
  EXPECT_TRUE(std::holds_alternative<Connect>(sent().at(0)));
  EXPECT_EQ(s().state(), ClientSession::State::AwaitingConnack);
}

TEST_F(SessionTest, UnsentBytesAreDiscardedWhenTheTransportGoes) {
  make();
  establish();
  pub(0, 1);
  EXPECT_TRUE(s().has_bytes());
  s().transport_lost(now());
  EXPECT_FALSE(s().has_bytes());
  s().transport_lost(now());  // twice: nothing more
  EXPECT_EQ(only_of<Disconnected>(events()).size(), 1u);
}

// ---- Inbound ----

TEST_F(SessionTest, InboundQos0AndQos1) {
  make();
  establish();
  events();
  feed(inbound(0, 0, "down/a", "zero"));
  feed(inbound(1, 3, "down/b", "one"));
  const auto got = only_of<MessageReceived>(events());
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].publish.topic, "down/a");
  EXPECT_EQ(got[0].publish.payload, "zero");
  EXPECT_EQ(got[1].publish.qos, 1);
  const auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  const Ack a = as<Ack>(out[0]);
  EXPECT_EQ(a.type, PacketType::Puback);
  EXPECT_EQ(a.packet_id, 3);
  EXPECT_EQ(s().stats().received, 2u);
}

TEST_F(SessionTest, InboundQos2ExactlyOnce) {
  make({}, Version::V5);
  establish();
  events();
  feed(inbound(2, 7, "down/q2", "once"));
  EXPECT_EQ(single<MessageReceived>(events()).publish.payload, "once");
  Ack a = as<Ack>(sent().at(0));
  EXPECT_EQ(a.type, PacketType::Pubrec);
  EXPECT_EQ(a.packet_id, 7);

  Publish dup = inbound(2, 7, "down/q2", "once");
  dup.dup = true;
  feed(dup);
  EXPECT_TRUE(events().empty());  // not delivered twice
  EXPECT_EQ(as<Ack>(sent().at(0)).type, PacketType::Pubrec);
  EXPECT_EQ(s().stats().inbound_duplicates, 1u);

  feed(ack(PacketType::Pubrel, 7));
  a = as<Ack>(sent().at(0));
  EXPECT_EQ(a.type, PacketType::Pubcomp);
  EXPECT_EQ(a.reason, Reason::Success);
  feed(ack(PacketType::Pubrel, 7));  // unknown by now
  a = as<Ack>(sent().at(0));
  EXPECT_EQ(a.type, PacketType::Pubcomp);
  EXPECT_EQ(a.reason, Reason::PacketIdentifierNotFound);

  feed(inbound(2, 7, "down/q2", "next"));  // the id is free again: a new message
  EXPECT_EQ(single<MessageReceived>(events()).publish.payload, "next");
}

TEST_F(SessionTest, InboundQos2StateSurvivesAReconnectWithSession) {
  make();
  establish(options(false));
  events();
  feed(inbound(2, 9));
  EXPECT_EQ(only_of<MessageReceived>(events()).size(), 1u);
  sent();
  s().transport_lost(now());
  reconnect(true);
  events();
  Publish dup = inbound(2, 9);
  dup.dup = true;
  feed(dup);
  EXPECT_TRUE(events().empty());
  EXPECT_EQ(as<Ack>(sent().at(0)).type, PacketType::Pubrec);
  feed(ack(PacketType::Pubrel, 9));
  EXPECT_EQ(as<Ack>(sent().at(0)).type, PacketType::Pubcomp);
}

TEST_F(SessionTest, InboundQos2StateIsForgottenWithTheSession) {
  make();
  establish(options(false));
  events();
  feed(inbound(2, 9));
  events();
  s().transport_lost(now());
  reconnect(false);
  events();
  feed(inbound(2, 9));  // a new session: a new message
  EXPECT_EQ(only_of<MessageReceived>(events()).size(), 1u);
}

TEST_F(SessionTest, InboundReceiveMaximumExceeded) {
  make({}, Version::V5);
  ConnectOptions o = options();
  o.receive_maximum = 2;
  establish(o);
  events();
  feed(inbound(2, 1));
  feed(inbound(2, 2));
  sent();
  feed(inbound(2, 3));
  const auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(as<Disconnect>(out[0]).reason, Reason::ReceiveMaximumExceeded);
  const auto ev = events();
  EXPECT_EQ(only_of<MessageReceived>(ev).size(), 2u);
  EXPECT_EQ(only_of<CloseTransport>(ev).at(0).reason, Reason::ReceiveMaximumExceeded);
}

TEST_F(SessionTest, InboundTopicAliases) {
  make({}, Version::V5);
  ConnectOptions o = options();
  o.topic_alias_maximum = 2;
  establish(o);
  events();
  Publish set = inbound(0, 0, "down/long/topic", "1");
  set.properties.topic_alias = 1;
  feed(set);
  Publish use = inbound(0, 0, "", "2");
  use.properties.topic_alias = 1;
  feed(use);
  const auto got = only_of<MessageReceived>(events());
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].publish.topic, "down/long/topic");
  EXPECT_FALSE(got[1].publish.properties.topic_alias.has_value());

  Publish unset = inbound(0, 0, "", "3");
  unset.properties.topic_alias = 2;  // never set
  feed(unset);
  EXPECT_EQ(as<Disconnect>(sent().at(0)).reason, Reason::ProtocolError);
}

TEST_F(SessionTest, InboundTopicAliasAboveOurMaximum) {
  make({}, Version::V5);
  establish();  // topic_alias_maximum 0
  events();
  Publish p = inbound(0, 0, "down/x", "1");
  p.properties.topic_alias = 1;
  feed(p);
  EXPECT_EQ(as<Disconnect>(sent().at(0)).reason, Reason::TopicAliasInvalid);
  EXPECT_EQ(single<CloseTransport>(events()).reason, Reason::TopicAliasInvalid);
}

// ---- Keepalive ----

TEST_F(SessionTest, PingreqWhenIdleForTheKeepalive) {
  make();
  ConnectOptions o = options();
  o.keep_alive_s = 10;
  establish(o);
  events();
  EXPECT_EQ(s().next_deadline(), now() + 10'000);
  advance(9'999);
  EXPECT_FALSE(s().has_bytes());
  advance(1);
  EXPECT_TRUE(std::holds_alternative<Pingreq>(sent().at(0)));
  EXPECT_EQ(s().stats().pings_sent, 1u);
  const Millis ping_at = now();
  EXPECT_EQ(s().next_deadline(), ping_at + 10'000);  // ping timeout

  advance(2'000);
  feed(Pingresp{});
  EXPECT_EQ(s().next_deadline(), ping_at + 10'000);  // the next PINGREQ, 10 s after the last packet out
  advance(3'000);
  pub(0, 1);  // sending anything restarts the idle time
  sent();
  EXPECT_EQ(s().next_deadline(), now() + 10'000);
  advance(9'999);
  EXPECT_FALSE(s().has_bytes());
  advance(1);
  EXPECT_TRUE(std::holds_alternative<Pingreq>(sent().at(0)));
  EXPECT_TRUE(events().empty());
}

TEST_F(SessionTest, KeepaliveTimeoutWithoutAnyAnswer) {
  ClientLimits l;
  l.ping_timeout_ms = 10'000;
  make(l);
  ConnectOptions o = options();
  o.keep_alive_s = 10;
  establish(o);
  events();
  advance(10'000);
  ASSERT_TRUE(std::holds_alternative<Pingreq>(sent().at(0)));
  advance(5'000);
  feed(inbound(0, 0));  // any packet from the server pushes the deadline
  events();
  EXPECT_EQ(s().next_deadline(), now() + 10'000);
  advance(9'999);
  EXPECT_TRUE(events().empty());
  EXPECT_FALSE(s().has_bytes());  // no second PINGREQ while one is unanswered
  advance(1);
  const CloseTransport c = single<CloseTransport>(events());
  EXPECT_EQ(c.why, CloseReason::KeepaliveTimeout);
  EXPECT_EQ(c.reason, Reason::KeepAliveTimeout);
  EXPECT_EQ(s().stats().keepalive_timeouts, 1u);
  EXPECT_EQ(s().next_deadline(), std::nullopt);
  s().transport_lost(now());
  EXPECT_EQ(single<Disconnected>(events()).why, CloseReason::KeepaliveTimeout);
}

TEST_F(SessionTest, ServerKeepAliveOverridesOurs) {
  make({}, Version::V5);
  ConnectOptions o = options();
  o.keep_alive_s = 60;
  Connack c;
  c.properties.server_keep_alive = 5;
  establish(o, c);
  EXPECT_EQ(single<Connected>(events()).keep_alive_s, 5);
  advance(5'000);
  EXPECT_TRUE(std::holds_alternative<Pingreq>(sent().at(0)));
}

TEST_F(SessionTest, KeepaliveZeroNeverPings) {
  ClientLimits l;
  l.stall_timeout_ms = 0;
  make(l);
  establish();
  events();
  EXPECT_EQ(s().next_deadline(), std::nullopt);
  pub(1, 1);
  sent();
  EXPECT_EQ(s().next_deadline(), std::nullopt);
  advance(3'600'000);
  EXPECT_FALSE(s().has_bytes());
  EXPECT_TRUE(events().empty());
}

// ---- Stall detection ----

TEST_F(SessionTest, StallWhenAcksStopAdvancing) {
  ClientLimits l;
  l.stall_timeout_ms = 30'000;
  make(l);
  establish();
  events();
  advance(100'000);  // nothing in flight: no stall however long
  EXPECT_TRUE(events().empty());
  pub(1, 1);
  sent();
  EXPECT_EQ(s().next_deadline(), now() + 30'000);
  advance(20'000);
  feed(ack(PacketType::Puback, 999));  // a duplicate does not count as progress
  advance(9'999);
  EXPECT_TRUE(events().empty());
  advance(1);
  EXPECT_EQ(single<CloseTransport>(events()).why, CloseReason::Stalled);
  EXPECT_EQ(s().stats().stalls, 1u);
  s().transport_lost(now());
  EXPECT_EQ(single<Disconnected>(events()).why, CloseReason::Stalled);
}

TEST_F(SessionTest, EveryAdvancingAckRestartsTheStallClock) {
  ClientLimits l;
  l.stall_timeout_ms = 30'000;
  make(l);
  establish();
  events();
  pub(1, 1);
  pub(2, 2);
  const auto out = sent();
  advance(20'000);
  feed(ack(PacketType::Puback, as<Publish>(out[0]).packet_id));
  advance(20'000);
  feed(ack(PacketType::Pubrec, as<Publish>(out[1]).packet_id));  // PUBREC advances too
  advance(29'999);
  EXPECT_EQ(only_of<CloseTransport>(events()).size(), 0u);
  advance(1);
  EXPECT_EQ(single<CloseTransport>(events()).why, CloseReason::Stalled);
}

// ---- Queue bound ----

TEST_F(SessionTest, QueueFullRejectNew) {
  ClientLimits l;
  l.max_inflight = 1;
  l.max_queued = 2;
  make(l);
  establish();
  events();
  EXPECT_EQ(pub(1, 1), PublishStatus::Sent);
  EXPECT_EQ(pub(1, 2), PublishStatus::Queued);
  EXPECT_EQ(pub(1, 3), PublishStatus::Queued);
  EXPECT_EQ(pub(1, 4), PublishStatus::QueueFull);
  EXPECT_EQ(s().queued(), 2u);
  EXPECT_EQ(s().stats().queue_full_rejected, 1u);
  EXPECT_TRUE(events().empty());
}

TEST_F(SessionTest, QueueFullDropOldest) {
  ClientLimits l;
  l.max_inflight = 1;
  l.max_queued = 2;
  l.queue_policy = QueueFullPolicy::DropOldest;
  make(l);
  establish();
  events();
  pub(1, 1, "up/1");
  pub(1, 2, "up/2");
  pub(1, 3, "up/3");
  EXPECT_EQ(pub(1, 4, "up/4"), PublishStatus::Queued);
  const PublishDropped d = single<PublishDropped>(events());
  EXPECT_EQ(d.tag, 2u);
  EXPECT_EQ(d.reason, DropReason::QueueFull);
  EXPECT_EQ(s().stats().queue_full_dropped, 1u);
  const std::uint16_t id = as<Publish>(sent().at(0)).packet_id;
  feed(ack(PacketType::Puback, id));
  EXPECT_EQ(as<Publish>(sent().at(0)).topic, "up/3");
}

TEST_F(SessionTest, QueueOfZeroRejectsWhatCannotGoNow) {
  ClientLimits l;
  l.max_inflight = 1;
  l.max_queued = 0;
  l.queue_policy = QueueFullPolicy::DropOldest;
  make(l);
  EXPECT_EQ(pub(1, 1), PublishStatus::QueueFull);  // offline, nowhere to keep it
  establish();
  EXPECT_EQ(pub(1, 2), PublishStatus::Sent);
  EXPECT_EQ(pub(1, 3), PublishStatus::QueueFull);
}

TEST_F(SessionTest, PublishesBeforeTheConnectionGoOutAfterConnack) {
  make();
  EXPECT_EQ(pub(1, 1, "up/early"), PublishStatus::Queued);
  s().connect(options(), now());
  s().transport_connected(now());
  EXPECT_EQ(pub(1, 2, "up/waiting"), PublishStatus::Queued);  // CONNECT sent, no CONNACK yet
  EXPECT_EQ(sent().size(), 1u);
  feed(Connack{});
  const auto out = sent();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(as<Publish>(out[0]).topic, "up/early");
  EXPECT_EQ(as<Publish>(out[1]).topic, "up/waiting");
}

TEST_F(SessionTest, InvalidPublishes) {
  make();
  establish();
  EXPECT_EQ(pub(3, 1), PublishStatus::Invalid);
  EXPECT_EQ(pub(1, 2, "up/+"), PublishStatus::Invalid);
  EXPECT_EQ(pub(1, 3, ""), PublishStatus::Invalid);
  EXPECT_FALSE(s().has_bytes());
}

TEST_F(SessionTest, ServerLimitsRefuseLocally) {
  make({}, Version::V5);
  EXPECT_EQ(pub(2, 1), PublishStatus::Queued);  // checked when it can go
  Connack c;
  c.properties.maximum_qos = 1;
  c.properties.retain_available = 0;
  c.properties.maximum_packet_size = 64;
  establish(options(), c);
  auto ev = events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(std::get<PublishRefused>(ev[1]).reason, Reason::QosNotSupported);

  EXPECT_EQ(pub(2, 2), PublishStatus::Refused);
  EXPECT_EQ(single<PublishRefused>(events()).reason, Reason::QosNotSupported);
  EXPECT_EQ(pub(1, 3, "up/r", "m", true), PublishStatus::Refused);
  EXPECT_EQ(single<PublishRefused>(events()).reason, Reason::RetainNotSupported);
  EXPECT_EQ(pub(0, 4, "up/big", std::string(100, 'x')), PublishStatus::Refused);
  const PublishRefused big = single<PublishRefused>(events());
  EXPECT_EQ(big.tag, 4u);
  EXPECT_EQ(big.reason, Reason::PacketTooLarge);
  EXPECT_EQ(pub(1, 5, "up/ok", "small"), PublishStatus::Sent);
  EXPECT_EQ(sent().size(), 1u);
  EXPECT_EQ(s().stats().refused, 4u);
}

// ---- SUBSCRIBE / UNSUBSCRIBE ----

TEST_F(SessionTest, SubscribeAndUnsubscribe) {
  make();
  EXPECT_EQ(s().subscribe({{"a/#", {1}}}, {}, now()).error(), RequestError::NotConnected);
  establish();
  events();
  EXPECT_EQ(s().subscribe({}, {}, now()).error(), RequestError::Invalid);
  EXPECT_EQ(s().subscribe({{"a/#/b", {0}}}, {}, now()).error(), RequestError::Invalid);
  EXPECT_EQ(s().unsubscribe({"a/+x"}, {}, now()).error(), RequestError::Invalid);

  const auto id = s().subscribe({{"down/#", {1}}, {"cmd/+", {2}}}, {}, now());
  ASSERT_TRUE(id.ok());
  const Subscribe sub = as<Subscribe>(sent().at(0));
  EXPECT_EQ(sub.packet_id, id.value());
  ASSERT_EQ(sub.subscriptions.size(), 2u);
  EXPECT_EQ(sub.subscriptions[0].filter, "down/#");
  EXPECT_EQ(sub.subscriptions[1].options.max_qos, 2);

  feed(Suback{id.value(), {}, {Reason::GrantedQos1, Reason::UnspecifiedError}});
  const SubscribeAcked acked = single<SubscribeAcked>(events());
  EXPECT_EQ(acked.packet_id, id.value());
  EXPECT_EQ(acked.reasons, (std::vector<Reason>{Reason::GrantedQos1, Reason::UnspecifiedError}));
  feed(Suback{id.value(), {}, {Reason::GrantedQos1}});  // duplicate
  EXPECT_TRUE(events().empty());

  const auto uid = s().unsubscribe({"down/#"}, {}, now());
  ASSERT_TRUE(uid.ok());
  const Unsubscribe uns = as<Unsubscribe>(sent().at(0));
  EXPECT_EQ(uns.filters, (std::vector<std::string>{"down/#"}));
  feed(Suback{uid.value(), {}, {Reason::Success}});  // SUBACK for an UNSUBSCRIBE: mismatched
  EXPECT_TRUE(events().empty());
  feed(Unsuback{uid.value(), {}, {}});
  EXPECT_EQ(single<UnsubscribeAcked>(events()).packet_id, uid.value());
  EXPECT_EQ(s().stats().duplicate_acks, 2u);
}

TEST_F(SessionTest, PendingRequestsAreLostWithTheConnection) {
  make();
  establish();
  events();
  const auto id = s().subscribe({{"down/#", {1}}}, {}, now());
  ASSERT_TRUE(id.ok());
  s().transport_lost(now());
  const auto ev = events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(std::get<RequestLost>(ev[0]).packet_id, id.value());
  EXPECT_TRUE(std::holds_alternative<Disconnected>(ev[1]));
}

// ---- Closing ----

TEST_F(SessionTest, ServerDisconnectV5) {
  make({}, Version::V5);
  establish();
  events();
  feed(Disconnect{Reason::ServerShuttingDown, {}});
  const CloseTransport c = single<CloseTransport>(events());
  EXPECT_EQ(c.why, CloseReason::ServerDisconnect);
  EXPECT_EQ(c.reason, Reason::ServerShuttingDown);
  EXPECT_FALSE(s().has_bytes());
  feed(inbound(1, 5));  // ignored while closing
  EXPECT_TRUE(events().empty());
  s().transport_lost(now());
  const Disconnected d = single<Disconnected>(events());
  EXPECT_EQ(d.why, CloseReason::ServerDisconnect);
  EXPECT_EQ(d.reason, Reason::ServerShuttingDown);
}

TEST_F(SessionTest, UserDisconnect) {
  make({}, Version::V5);
  establish();
  events();
  s().disconnect(Reason::DisconnectWithWill, now());
  EXPECT_EQ(as<Disconnect>(sent().at(0)).reason, Reason::DisconnectWithWill);
  EXPECT_EQ(single<CloseTransport>(events()).why, CloseReason::UserDisconnect);
  s().disconnect(Reason::Success, now());  // already closing
  EXPECT_TRUE(events().empty());
  s().transport_lost(now());
  EXPECT_EQ(single<Disconnected>(events()).why, CloseReason::UserDisconnect);
  s().disconnect(Reason::Success, now());  // offline: nothing to do
  EXPECT_TRUE(events().empty());
}

TEST_F(SessionTest, UserDisconnectBeforeConnack) {
  make();
  s().connect(options(), now());
  s().transport_connected(now());
  sent();
  s().disconnect(Reason::Success, now());
  EXPECT_FALSE(s().has_bytes());  // no DISCONNECT before CONNACK
  EXPECT_EQ(single<CloseTransport>(events()).why, CloseReason::UserDisconnect);
}

// ---- Bytes and protocol errors ----

TEST_F(SessionTest, PacketsSplitAndJoinedAcrossReads) {
  make();
  s().connect(options(), now());
  s().transport_connected(now());
  sent();
  Buffer connack;
  encode(Connack{}, Version::V311, connack);
  for (char c : connack) {
    const std::uint8_t byte = static_cast<std::uint8_t>(c);
    s().bytes_received(ByteView(&byte, 1), now());
  }
  EXPECT_EQ(s().state(), ClientSession::State::Connected);
  events();
  pub(1, 1);
  pub(1, 2);
  const auto out = sent();
  Buffer both;
  encode(ack(PacketType::Puback, as<Publish>(out[0]).packet_id), Version::V311, both);
  encode(ack(PacketType::Puback, as<Publish>(out[1]).packet_id), Version::V311, both);
  both.push_back(0x40);  // the start of a third packet
  s().bytes_received(view(both), now());
  EXPECT_EQ(only_of<PublishAcked>(events()).size(), 2u);
  EXPECT_EQ(s().state(), ClientSession::State::Connected);
}

TEST_F(SessionTest, MalformedBytesV5SendDisconnectAndClose) {
  make({}, Version::V5);
  establish();
  events();
  const std::uint8_t bad[] = {0x30, 0x80, 0x80, 0x80, 0x80, 0x01};  // 5-byte remaining length
  s().bytes_received(ByteView(bad, sizeof bad), now());
  EXPECT_EQ(as<Disconnect>(sent().at(0)).reason, Reason::MalformedPacket);
  const CloseTransport c = single<CloseTransport>(events());
  EXPECT_EQ(c.why, CloseReason::ProtocolError);
  EXPECT_EQ(c.reason, Reason::MalformedPacket);
  EXPECT_EQ(s().stats().protocol_errors, 1u);
  s().bytes_received(ByteView(bad, sizeof bad), now());  // ignored while closing
  EXPECT_TRUE(events().empty());
}

TEST_F(SessionTest, MalformedBytesV311JustClose) {
  make();
  establish();
  events();
  const std::uint8_t bad[] = {0x40, 0x01, 0x00};  // PUBACK too short
  s().bytes_received(ByteView(bad, sizeof bad), now());
  EXPECT_FALSE(s().has_bytes());
  EXPECT_EQ(single<CloseTransport>(events()).why, CloseReason::ProtocolError);
}

TEST_F(SessionTest, InboundPacketOverOurLimit) {
  ClientLimits l;
  l.max_packet_size = 100;
  make(l, Version::V5);
  establish();
  events();
  feed(inbound(0, 0, "down/big", std::string(200, 'x')));
  EXPECT_EQ(as<Disconnect>(sent().at(0)).reason, Reason::PacketTooLarge);
  EXPECT_TRUE(only_of<MessageReceived>(events()).empty());
}

TEST_F(SessionTest, PacketsAServerMustNotSend) {
  make();
  establish();
  events();
  feed(Subscribe{5, {}, {{"x", {}}}});
  EXPECT_EQ(single<CloseTransport>(events()).why, CloseReason::ProtocolError);

  make();
  s().connect(options(), now());
  s().transport_connected(now());
  sent();
  feed(inbound(0, 0));  // before CONNACK
  EXPECT_EQ(single<CloseTransport>(events()).why, CloseReason::ProtocolError);

  make();
  s().transport_connected(now());  // no CONNECT yet
  feed(Connack{});
  EXPECT_EQ(single<CloseTransport>(events()).why, CloseReason::ProtocolError);
  s().transport_lost(now());
  EXPECT_TRUE(events().empty());  // no CONNECT went out: no Disconnected
}

TEST_F(SessionTest, SecondConnackIsAProtocolError) {
  make();
  establish();
  events();
  feed(Connack{});
  EXPECT_EQ(single<CloseTransport>(events()).why, CloseReason::ProtocolError);
}

// ---- Packet ids ----

TEST_F(SessionTest, PacketIdsSkipThoseInUseAndWrap) {
  ClientLimits l;
  l.max_inflight = 2;
  make(l);
  establish();
  events();
  pub(1, 0);
  const std::uint16_t held = as<Publish>(sent().at(0)).packet_id;
  EXPECT_EQ(held, 1);
  std::set<std::uint16_t> seen;
  for (int i = 0; i < 70'000; ++i) {
    ASSERT_EQ(pub(1, 1), PublishStatus::Sent);
    const std::uint16_t id = as<Publish>(sent().at(0)).packet_id;
    ASSERT_NE(id, held);
    ASSERT_NE(id, 0);
    seen.insert(id);
    feed(ack(PacketType::Puback, id));
  }
  EXPECT_EQ(seen.size(), 65'534u);  // every id but the held one, after wrapping
  EXPECT_EQ(s().stats().duplicate_acks, 0u);
}

}  // namespace
}  // namespace gw::mqtt
