// Broker core state machines: CONNECT, routing, QoS 1/2 in both directions, persistent sessions,
// retained messages, wills, keepalive, takeover, queue bounds, expiry, shared subscriptions and v5
// options, all through in-memory transports and a manual clock.
#include <gtest/gtest.h>

#include "gateway/config/password.hpp"
#include "tests/unit/broker_fixture.hpp"

namespace gw::broker::testing {
namespace {

using mqtt::Reason;
using mqtt::Version;

class BrokerTest : public ::testing::Test {
 protected:
  void SetUp() override { make_broker(); }
  void make_broker() {
    clients_.clear();
    broker_ = std::make_unique<Broker>(cfg_, clock_, std::make_unique<ConfigAuthenticator>(cfg_.auth));
  }
  void TearDown() override { clients_.clear(); }

  Client& client(Version v = Version::V311) {
    clients_.push_back(std::make_unique<Client>(*broker_, v));
    return *clients_.back();
  }
  static mqtt::Connect connect_packet(const std::string& id, Version v, bool clean = true,
                                      std::uint16_t ka = 60) {
    mqtt::Connect c;
    c.protocol_name = v == Version::V31 ? "MQIsdp" : "MQTT";
    c.version = v;
    c.client_id = id;
    c.clean_start = clean;
    c.keep_alive = ka;
    return c;
  }
  Client& connected(const std::string& id, Version v = Version::V311, bool clean = true) {
    auto& c = client(v);
    c.send(connect_packet(id, v, clean));
    auto r = c.received();
    EXPECT_EQ(r.size(), 1u);
    EXPECT_TRUE(std::holds_alternative<mqtt::Connack>(r.at(0)));
    EXPECT_EQ(std::get<mqtt::Connack>(r.at(0)).reason, Reason::Success);
    return c;
  }
  static void subscribe(Client& c, const std::string& filter, std::uint8_t qos, std::uint16_t id = 1,
                        mqtt::SubscribeOptions opts = {}, std::uint32_t sub_id = 0) {
    mqtt::Subscribe s;
    s.packet_id = id;
    opts.max_qos = qos;
    s.subscriptions.push_back({filter, opts});
    if (sub_id) s.properties.subscription_identifiers.push_back(sub_id);
    c.send(s);
    auto r = c.received();
    ASSERT_GE(r.size(), 1u);
    auto& ack = std::get<mqtt::Suback>(r.at(0));
    EXPECT_EQ(ack.packet_id, id);
  }
  static void publish(Client& c, const std::string& topic, const std::string& payload, std::uint8_t qos = 0,
                      bool retain = false, std::uint16_t id = 0) {
    mqtt::Publish p;
    p.topic = topic;
    p.payload = payload;
    p.qos = qos;
    p.retain = retain;
    p.packet_id = qos ? (id ? id : 1) : 0;
    c.send(p);
  }
  void tick_for(Millis ms) {
    for (Millis t = 0; t < ms; t += 100) {
      clock_.advance(100);
      broker_->tick();
      for (auto& c : clients_) c->notify_closed();
    }
  }

  config::Config cfg_ = [] {
    config::Config c;
    c.sys_interval_s = 0;
    return c;
  }();
  ManualClock clock_;
  std::unique_ptr<Broker> broker_;
  std::vector<std::unique_ptr<Client>> clients_;
};

// An in-process client (Transport::takes_packets, the CoAP front end's endpoints) exchanges packets as
// values: the same broker code answers it (CONNACK, SUBACK, PUBACK with its reason) and delivers to it
// (the Delivery with the shared message and the subscription identifiers), and nothing goes through send().
struct ValueTransport : FakeTransport {
  std::vector<mqtt::Packet> packets;
  std::vector<std::pair<Delivery, std::uint16_t>> deliveries;
  bool takes_packets() const override { return true; }
  void packet(const mqtt::Packet& p) override { packets.push_back(p); }
  void deliver(const Delivery& d, std::uint16_t id) override { deliveries.emplace_back(d, id); }
};

TEST_F(BrokerTest, InProcessClientExchangesPacketsAsValues) {
  ValueTransport t;
  Connection conn(*broker_, t);
  mqtt::Packet connect{connect_packet("inproc", Version::V5)};
  conn.on_packet(connect);
  ASSERT_EQ(t.packets.size(), 1u);
  EXPECT_EQ(std::get<mqtt::Connack>(t.packets[0]).reason, Reason::Success);
  mqtt::Subscribe s;
  s.packet_id = 1;
  s.subscriptions.push_back({"v/#", {}});
  s.subscriptions.back().options.max_qos = 1;
  s.properties.subscription_identifiers.push_back(7);
  mqtt::Packet sub{s};
  conn.on_packet(sub);
  ASSERT_EQ(t.packets.size(), 2u);
  EXPECT_EQ(std::get<mqtt::Suback>(t.packets[1]).reasons, std::vector<Reason>{Reason::GrantedQos1});

  auto& pub = connected("pub", Version::V5);
  publish(pub, "v/1", "hello", 1);
  pub.received();  // its PUBACK
  ASSERT_EQ(t.deliveries.size(), 1u);
  const auto& [d, id] = t.deliveries[0];
  EXPECT_EQ(d.msg->payload, "hello");
  EXPECT_EQ(d.qos, 1);
  EXPECT_EQ(d.subscription_ids, std::vector<std::uint32_t>{7});
  EXPECT_NE(id, 0);
  mqtt::Packet ack{mqtt::Ack{mqtt::PacketType::Puback, id, Reason::Success, {}}};
  conn.on_packet(ack);
  EXPECT_EQ(broker_->find_session("inproc")->inflight.size(), 0u);

  // Its own QoS 1 PUBLISH gets its PUBACK as a value; the MQTT subscriber gets it as bytes.
  mqtt::Publish p;
  p.topic = "w/1";
  p.payload = "back";
  p.qos = 1;
  p.packet_id = 9;
  subscribe(pub, "w/#", 0);
  mqtt::Packet in{p};
  conn.on_packet(in);
  ASSERT_EQ(t.packets.size(), 3u);
  EXPECT_EQ(std::get<mqtt::Ack>(t.packets[2]).packet_id, 9);
  EXPECT_EQ(std::get<mqtt::Ack>(t.packets[2]).reason, Reason::Success);
  auto got = pub.publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload, "back");
  EXPECT_TRUE(t.out.empty());  // nothing was encoded for it
  conn.on_closed();
}

TEST_F(BrokerTest, ConnackV5CarriesLimits) {
  cfg_.limits.receive_maximum = 10;
  cfg_.limits.topic_alias_maximum = 7;
  make_broker();
  auto& c = client(Version::V5);
  c.send(connect_packet("", Version::V5));
  auto r = c.received();
  ASSERT_EQ(r.size(), 1u);
  auto& ack = std::get<mqtt::Connack>(r[0]);
  EXPECT_EQ(ack.reason, Reason::Success);
  EXPECT_EQ(ack.properties.receive_maximum, 10);
  EXPECT_EQ(ack.properties.topic_alias_maximum, 7);
  ASSERT_TRUE(ack.properties.assigned_client_identifier.has_value());
  EXPECT_FALSE(ack.properties.assigned_client_identifier->empty());
}

TEST_F(BrokerTest, EmptyClientIdWithPersistentSessionRefusedIn311) {
  auto& c = client(Version::V311);
  c.send(connect_packet("", Version::V311, /*clean=*/false));
  auto r = c.received();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(std::get<mqtt::Connack>(r[0]).reason, Reason::ClientIdentifierNotValid);
  EXPECT_TRUE(c.closed());
}

// MQTT 3.1 §3.1: a client id is 1 to 23 characters; the server does not assign one.
TEST_F(BrokerTest, EmptyClientIdRefusedIn31WithConnack2) {
  auto& c = client(Version::V31);
  c.send(connect_packet("", Version::V31));
  auto r = c.received();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(std::get<mqtt::Connack>(r[0]).reason, Reason::ClientIdentifierNotValid);
  EXPECT_TRUE(c.closed());
}

// MQTT 5.0 §3.9.3, §3.11.3: an invalid (e.g. empty) filter gets 0x8F in SUBACK and UNSUBACK.
TEST_F(BrokerTest, V5InvalidFilterGets0x8FInSubackAndUnsuback) {
  auto& c = connected("f", Version::V5);
  mqtt::Subscribe s;
  s.packet_id = 1;
  s.subscriptions = {{"", {}}, {"a/#/b", {}}, {"ok", {}}};
  c.send(s);
  EXPECT_EQ(std::get<mqtt::Suback>(c.received().at(0)).reasons,
            (std::vector<Reason>{Reason::TopicFilterInvalid, Reason::TopicFilterInvalid, Reason::Success}));
  mqtt::Unsubscribe u;
  u.packet_id = 2;
  u.filters = {"", "a/#/b", "ok"};
  c.send(u);
  EXPECT_EQ(std::get<mqtt::Unsuback>(c.received().at(0)).reasons,
            (std::vector<Reason>{Reason::TopicFilterInvalid, Reason::TopicFilterInvalid, Reason::Success}));
}

// Issue 11 item 8: topic shape bounded by limits.max_topic_levels / max_topic_length.
TEST_F(BrokerTest, TopicShapeBoundsFiltersPublishTopicsAndWillTopics) {
  cfg_.limits.max_topic_levels = 4;
  cfg_.limits.max_topic_length = 20;
  make_broker();
  auto& c = connected("shape", Version::V5);
  mqtt::Subscribe s;
  s.packet_id = 1;
  s.subscriptions = {
      {"a/b/c/d", {}}, {"a/b/c/d/e", {}}, {std::string(21, 'x'), {}}, {std::string(30'000, '/'), {}}};
  c.send(s);
  EXPECT_EQ(std::get<mqtt::Suback>(c.received().at(0)).reasons,
            (std::vector<Reason>{Reason::Success, Reason::TopicFilterInvalid, Reason::TopicFilterInvalid,
                                 Reason::TopicFilterInvalid}));
  EXPECT_EQ(broker_->subscription_count(), 1u);
  publish(c, "a/b/c/d/e", "x");
  EXPECT_TRUE(c.closed());
  EXPECT_EQ(std::get<mqtt::Disconnect>(c.received().at(0)).reason, Reason::TopicNameInvalid);

  auto& w = client(Version::V5);
  auto connect = connect_packet("will", Version::V5);
  connect.will = mqtt::Will{};
  connect.will->topic = "w/1/2/3/4";
  w.send(connect);
  EXPECT_EQ(std::get<mqtt::Connack>(w.received().at(0)).reason, Reason::TopicNameInvalid);
}

// Issue 11 item 8: the subscription index is charged to the session (SubscriptionTrie::cost); past
// limits.max_subscription_bytes_per_client a new filter gets 0x97 (3.1.1: 0x80), and unsubscribing gives
// its share back.
TEST_F(BrokerTest, SubscriptionMemoryIsChargedToTheSession) {
  std::string deep = "d";
  for (int i = 1; i < 100; ++i) deep += "/d";
  const std::size_t cost = SubscriptionTrie::cost(deep + "/0");
  cfg_.limits.max_subscription_bytes_per_client = static_cast<std::uint32_t>(3 * cost + cost / 2);
  make_broker();
  for (Version v : {Version::V5, Version::V311}) {
    auto& c = connected(v == Version::V5 ? "mem5" : "mem4", v);
    mqtt::Subscribe s;
    s.packet_id = 1;
    for (int i = 0; i < 4; ++i) s.subscriptions.push_back({deep + "/" + std::to_string(i), {}});
    s.subscriptions.push_back({deep + "/0", {}});  // already held: replaced, costs nothing more
    c.send(s);
    const Reason refused = v == Version::V5 ? Reason::QuotaExceeded : Reason::UnspecifiedError;
    EXPECT_EQ(
        std::get<mqtt::Suback>(c.received().at(0)).reasons,
        (std::vector<Reason>{Reason::Success, Reason::Success, Reason::Success, refused, Reason::Success}));
    mqtt::Unsubscribe u;
    u.packet_id = 2;
    u.filters = {deep + "/1"};
    c.send(u);
    c.received();
    s.subscriptions = {{deep + "/3", {}}};
    c.send(s);
    EXPECT_EQ(std::get<mqtt::Suback>(c.received().at(0)).reasons, (std::vector<Reason>{Reason::Success}));
  }
}

// [MQTT-3.1.2-24]: nothing over the v5 client's Maximum Packet Size goes out, CONNACK and DISCONNECT
// included: the reason string goes first, and a packet that still does not fit is not sent.
TEST_F(BrokerTest, MQTT_3_1_2_24_NoPacketOverTheClientsMaximumPacketSize) {
  cfg_.limits.max_connections = 1;
  cfg_.limits.topic_alias_maximum = 1;
  make_broker();
  auto with_max = [](const std::string& id, std::uint32_t max) {
    auto c = connect_packet(id, Version::V5);
    c.properties.maximum_packet_size = max;
    return c;
  };
  auto& first = client(Version::V5);
  first.send(with_max("first", 30));  // the CONNACK with its limits is 16 bytes
  auto ack = std::get<mqtt::Connack>(first.received().at(0));
  EXPECT_EQ(ack.reason, Reason::Success);

  auto& busy = client(Version::V5);
  busy.send(with_max("busy", 8));              // "too many connections" would make it 28 bytes
  ASSERT_EQ(busy.transport().out.size(), 5u);  // 20 03 00 89 00
  EXPECT_EQ(std::get<mqtt::Connack>(busy.received().at(0)).reason, Reason::ServerBusy);

  mqtt::Subscribe s;  // a SUBACK of 40 codes (45 bytes) cannot fit at all: not sent
  s.packet_id = 1;
  for (int i = 0; i < 40; ++i) s.subscriptions.push_back({"t/" + std::to_string(i), {}});
  first.send(s);
  EXPECT_TRUE(first.transport().out.empty());
  EXPECT_EQ(broker_->subscription_count(), 40u);

  mqtt::Publish p;  // topic alias 2 > 1: DISCONNECT 0x94, without "topic alias out of range"
  p.topic = "t";
  p.properties.topic_alias = 2;
  first.send(p);
  EXPECT_EQ(first.transport().out, "\xE0\x01\x94");  // no property block at all (5.0 §3.14.2.2.1)
}

TEST_F(BrokerTest, MQTT_3_1_2_24_AConnackThatCannotFitClosesBeforeTheSessionOpens) {
  auto& c = client(Version::V5);
  auto p = connect_packet("tiny", Version::V5);
  p.properties.maximum_packet_size = 4;
  c.send(p);
  EXPECT_TRUE(c.closed());
  EXPECT_TRUE(c.transport().out.empty());
  EXPECT_EQ(broker_->find_session("tiny"), nullptr);
}

TEST_F(BrokerTest, RoutesQos0WithWildcardsAndDollarRule) {
  auto& sub = connected("sub");
  subscribe(sub, "sport/#", 0, 1);
  subscribe(sub, "+/x", 0, 2);
  subscribe(sub, "#", 0, 3);
  auto& pub = connected("pub");
  publish(pub, "sport", "a");
  publish(pub, "$SYS/x", "hidden");
  publish(pub, "q/x", "b");
  auto got = sub.publishes();
  ASSERT_EQ(got.size(), 2u);  // one delivery per message even with overlapping subscriptions
  EXPECT_EQ(got[0].topic, "sport");
  EXPECT_EQ(got[1].topic, "q/x");
  for (auto& p : got) EXPECT_EQ(p.qos, 0);
}

TEST_F(BrokerTest, OverlappingSubscriptionsMergeToMaxQosWithAllIdentifiers) {
  auto& sub = connected("sub", Version::V5);
  subscribe(sub, "a/+", 0, 1, {}, 11);
  subscribe(sub, "a/#", 1, 2, {}, 22);
  auto& pub = connected("pub", Version::V5);
  publish(pub, "a/b", "m", 1);
  pub.received();
  auto got = sub.publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].qos, 1);
  auto ids = got[0].properties.subscription_identifiers;
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<std::uint32_t>{11, 22}));
}

TEST_F(BrokerTest, Qos1InflightWindowThenQueue) {
  cfg_.limits.max_inflight = 2;
  make_broker();
  auto& sub = connected("sub");
  subscribe(sub, "t", 1);
  auto& pub = connected("pub");
  for (int i = 0; i < 5; ++i)
    publish(pub, "t", std::to_string(i), 1, false, static_cast<std::uint16_t>(i + 1));
  auto acks = pub.received();
  EXPECT_EQ(acks.size(), 5u);  // each PUBLISH acknowledged to the publisher
  auto first = sub.publishes();
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].payload, "0");
  EXPECT_EQ(first[1].payload, "1");
  EXPECT_EQ(broker_->find_session("sub")->queue.size(), 3u);
  sub.send(mqtt::Ack{mqtt::PacketType::Puback, first[0].packet_id, Reason::Success, {}});
  auto next = sub.publishes();
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].payload, "2");
  // A duplicate PUBACK changes nothing.
  sub.send(mqtt::Ack{mqtt::PacketType::Puback, first[0].packet_id, Reason::Success, {}});
  EXPECT_TRUE(sub.publishes().empty());
}

TEST_F(BrokerTest, Qos2InboundIsExactlyOnce) {
  auto& sub = connected("sub");
  subscribe(sub, "t", 2);
  auto& pub = connected("pub");
  publish(pub, "t", "once", 2, false, 7);
  mqtt::Publish dup;
  dup.topic = "t";
  dup.payload = "once";
  dup.qos = 2;
  dup.dup = true;
  dup.packet_id = 7;
  pub.send(dup);  // retransmission before PUBREL: must not be routed again
  auto r = pub.received();
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(std::get<mqtt::Ack>(r[0]).type, mqtt::PacketType::Pubrec);
  EXPECT_EQ(std::get<mqtt::Ack>(r[1]).type, mqtt::PacketType::Pubrec);
  pub.send(mqtt::Ack{mqtt::PacketType::Pubrel, 7, Reason::Success, {}});
  r = pub.received();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(std::get<mqtt::Ack>(r[0]).type, mqtt::PacketType::Pubcomp);
  auto got = sub.publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].qos, 2);
}

TEST_F(BrokerTest, Qos2OutboundFlow) {
  auto& sub = connected("sub");
  subscribe(sub, "t", 2);
  auto& pub = connected("pub");
  publish(pub, "t", "x", 2);
  auto got = sub.publishes();
  ASSERT_EQ(got.size(), 1u);
  auto id = got[0].packet_id;
  sub.send(mqtt::Ack{mqtt::PacketType::Pubrec, id, Reason::Success, {}});
  auto r = sub.received();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(std::get<mqtt::Ack>(r[0]).type, mqtt::PacketType::Pubrel);
  EXPECT_EQ(broker_->find_session("sub")->inflight.size(), 1u);
  sub.send(mqtt::Ack{mqtt::PacketType::Pubcomp, id, Reason::Success, {}});
  EXPECT_TRUE(broker_->find_session("sub")->inflight.empty());
}

// [MQTT-4.3.3-4]: PUBREL answers only a PUBREC below 0x80. A refusal ends the flow; repeated (the id is
// forgotten by then) or for an unknown id, it gets nothing, not a PUBREL 0x92.
TEST_F(BrokerTest, MQTT_4_3_3_4_NoPubrelAfterPubrecFailure) {
  auto& sub = connected("sub5", Version::V5);
  subscribe(sub, "t", 2);
  auto& pub = connected("pub");
  publish(pub, "t", "refused", 2, false, 5);
  const std::uint16_t id = sub.publishes().at(0).packet_id;
  for (int i = 0; i < 2; ++i) sub.send(mqtt::Ack{mqtt::PacketType::Pubrec, id, Reason::NotAuthorized, {}});
  sub.send(mqtt::Ack{mqtt::PacketType::Pubrec, 999, Reason::UnspecifiedError, {}});
  EXPECT_TRUE(sub.received().empty()) << "PUBREL sent after a PUBREC >= 0x80";
  EXPECT_TRUE(broker_->find_session("sub5")->inflight.empty());
}

TEST_F(BrokerTest, PersistentSessionReceivesQueuedMessagesInOrderAndResendsWithDup) {
  auto& sub = connected("p", Version::V311, /*clean=*/false);
  subscribe(sub, "t", 1);
  auto& pub = connected("pub");
  publish(pub, "t", "0", 1, false, 1);
  ASSERT_EQ(sub.publishes().size(), 1u);  // in flight, never acknowledged
  sub.drop();
  for (int i = 1; i <= 3; ++i)
    publish(pub, "t", std::to_string(i), 1, false, static_cast<std::uint16_t>(i + 1));
  publish(pub, "t", "qos0-dropped", 0);
  EXPECT_EQ(broker_->stats().dropped_of(DropReason::OfflineQos0), 1u);

  auto& back = client(Version::V311);
  back.send(connect_packet("p", Version::V311, false));
  auto r = back.received();
  ASSERT_EQ(r.size(), 5u);
  EXPECT_TRUE(std::get<mqtt::Connack>(r[0]).session_present);
  auto& resent = std::get<mqtt::Publish>(r[1]);
  EXPECT_EQ(resent.payload, "0");
  EXPECT_TRUE(resent.dup);
  for (int i = 1; i <= 3; ++i) {
    auto& p = std::get<mqtt::Publish>(r[static_cast<std::size_t>(i + 1)]);
    EXPECT_EQ(p.payload, std::to_string(i));
    EXPECT_FALSE(p.dup);
  }
}

TEST_F(BrokerTest, CleanSessionDiscardsOldState) {
  auto& a = connected("c", Version::V311, false);
  subscribe(a, "t", 1);
  a.drop();
  auto& b = client(Version::V311);
  b.send(connect_packet("c", Version::V311, true));
  auto r = b.received();
  EXPECT_FALSE(std::get<mqtt::Connack>(r.at(0)).session_present);
  EXPECT_EQ(broker_->subscription_count(), 0u);
}

TEST_F(BrokerTest, RetainedSetReplaceClear) {
  auto& pub = connected("pub");
  publish(pub, "r/1", "old", 0, true);
  publish(pub, "r/1", "new", 0, true);
  publish(pub, "r/2", "two", 1, true);
  EXPECT_EQ(broker_->retained().size(), 2u);
  auto& s1 = client();
  s1.send(connect_packet("s1", Version::V311));
  s1.received();
  mqtt::Subscribe sub;
  sub.packet_id = 1;
  sub.subscriptions.push_back({"r/+", {1}});
  s1.send(sub);
  auto r = s1.received();
  ASSERT_EQ(r.size(), 3u);
  EXPECT_TRUE(std::holds_alternative<mqtt::Suback>(r[0]));  // SUBACK before the retained messages
  std::vector<std::string> payloads;
  for (std::size_t i = 1; i < r.size(); ++i) {
    auto& p = std::get<mqtt::Publish>(r[i]);
    EXPECT_TRUE(p.retain);
    payloads.push_back(p.payload);
  }
  std::sort(payloads.begin(), payloads.end());
  EXPECT_EQ(payloads, (std::vector<std::string>{"new", "two"}));
  publish(pub, "r/1", "", 0, true);  // clear
  EXPECT_EQ(broker_->retained().size(), 1u);
  // The live copy of a retained publish reaches existing subscribers with RETAIN=0.
  publish(pub, "r/2", "live", 0, true);
  auto live = s1.publishes();
  ASSERT_EQ(live.size(), 2u);
  EXPECT_FALSE(live[1].retain);
}

TEST_F(BrokerTest, RetainHandlingAndRetainAsPublished) {
  auto& pub = connected("pub", Version::V5);
  publish(pub, "r", "v", 0, true);
  auto& s = connected("s", Version::V5);
  mqtt::SubscribeOptions never;
  never.retain_handling = 2;
  subscribe(s, "r", 0, 1, never);
  EXPECT_TRUE(s.publishes().empty());
  mqtt::SubscribeOptions if_new;
  if_new.retain_handling = 1;
  subscribe(s, "r", 0, 2, if_new);  // exists already: nothing sent
  EXPECT_TRUE(s.publishes().empty());
  mqtt::SubscribeOptions rap;
  rap.retain_as_published = true;
  subscribe(s, "r", 0, 3, rap);
  s.publishes();
  publish(pub, "r", "w", 0, true);
  auto got = s.publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].retain);
}

TEST_F(BrokerTest, NoLocal) {
  auto& c = connected("me", Version::V5);
  mqtt::SubscribeOptions nl;
  nl.no_local = true;
  subscribe(c, "t", 0, 1, nl);
  publish(c, "t", "echo?");
  EXPECT_TRUE(c.publishes().empty());
  auto& other = connected("other", Version::V5);
  publish(other, "t", "from other");
  EXPECT_EQ(c.publishes().size(), 1u);
}

TEST_F(BrokerTest, WillOnAbnormalLossNotAfterDisconnect) {
  auto& watcher = connected("w");
  subscribe(watcher, "will/#", 0);
  for (int round = 0; round < 2; ++round) {
    auto& c = client();
    auto cp = connect_packet("dying" + std::to_string(round), Version::V311);
    cp.will = mqtt::Will{"will/" + std::to_string(round), "gone", 0, false, {}};
    c.send(cp);
    c.received();
    if (round == 0) {
      c.drop();
    } else {
      c.send(mqtt::Disconnect{});
      c.notify_closed();
    }
  }
  auto got = watcher.publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].topic, "will/0");
  EXPECT_EQ(got[0].payload, "gone");
}

TEST_F(BrokerTest, V5DisconnectWithWillPublishesIt) {
  auto& watcher = connected("w", Version::V5);
  subscribe(watcher, "will", 0);
  auto& c = client(Version::V5);
  auto cp = connect_packet("x", Version::V5);
  cp.will = mqtt::Will{"will", "bye", 0, false, {}};
  c.send(cp);
  c.received();
  c.send(mqtt::Disconnect{Reason::DisconnectWithWill, {}});
  c.notify_closed();
  EXPECT_EQ(watcher.publishes().size(), 1u);
}

TEST_F(BrokerTest, WillDelayRunsOnManualClockAndIsCancelledByReconnect) {
  auto& watcher = connected("w", Version::V5);
  subscribe(watcher, "will", 0);
  auto make = [&](bool clean) -> Client& {
    auto& c = client(Version::V5);
    auto cp = connect_packet("delayed", Version::V5, clean);
    cp.properties.session_expiry_interval = 100;
    cp.will = mqtt::Will{"will", "late", 0, false, {}};
    cp.will->properties.will_delay_interval = 5;
    c.send(cp);
    c.received();
    return c;
  };
  make(true).drop();
  tick_for(3000);
  EXPECT_TRUE(watcher.publishes().empty());
  make(false);  // back within the delay: no will
  tick_for(10000);
  EXPECT_TRUE(watcher.publishes().empty());
  clients_.back()->drop();
  tick_for(4000);
  EXPECT_TRUE(watcher.publishes().empty());
  tick_for(2000);
  EXPECT_EQ(watcher.publishes().size(), 1u);
}

TEST_F(BrokerTest, KeepaliveTimeoutClosesAndPublishesWill) {
  auto& watcher = connected("w");
  subscribe(watcher, "will", 0);
  auto& c = client();
  auto cp = connect_packet("sleepy", Version::V311, true, 2);
  cp.will = mqtt::Will{"will", "timeout", 0, false, {}};
  c.send(cp);
  c.received();
  tick_for(2900);
  EXPECT_FALSE(c.closed());
  tick_for(300);
  EXPECT_TRUE(c.closed());
  EXPECT_EQ(watcher.publishes().size(), 1u);
  EXPECT_EQ(broker_->stats().keepalive_timeouts, 1u);
}

TEST_F(BrokerTest, PingKeepsAlive) {
  auto& c = client();
  c.send(connect_packet("pinger", Version::V311, true, 2));
  c.received();
  for (int i = 0; i < 5; ++i) {
    tick_for(1500);
    c.send(mqtt::Pingreq{});
    auto r = c.received();
    ASSERT_EQ(r.size(), 1u);
    EXPECT_TRUE(std::holds_alternative<mqtt::Pingresp>(r[0]));
  }
  EXPECT_FALSE(c.closed());
}

TEST_F(BrokerTest, ConnectTimeout) {
  auto& c = client();
  tick_for(cfg_.limits.connect_timeout_ms + 200);
  EXPECT_TRUE(c.closed());
}

TEST_F(BrokerTest, TakeoverDisconnectsTheOldConnection) {
  auto& a = connected("same", Version::V5);
  auto& b = client(Version::V5);
  b.send(connect_packet("same", Version::V5));
  EXPECT_TRUE(a.closed());
  auto r = a.received();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(std::get<mqtt::Disconnect>(r[0]).reason, Reason::SessionTakenOver);
  a.notify_closed();  // the late close of the old socket must not end the new session
  EXPECT_EQ(std::get<mqtt::Connack>(b.received().at(0)).reason, Reason::Success);
  EXPECT_NE(broker_->find_session("same"), nullptr);
  EXPECT_EQ(broker_->find_session("same")->conn, &b.conn());
}

// Issue 11 item 2: each takeover used to leave the old connection counted forever, so after
// max_connections takeovers every new client was refused.
TEST_F(BrokerTest, TakeoversGiveBackTheirConnectionSlot) {
  cfg_.limits.max_connections = 3;
  make_broker();
  for (int i = 0; i < 10'000; ++i) {
    auto& c = client(Version::V311);
    c.send(connect_packet("again", Version::V311));
    ASSERT_EQ(std::get<mqtt::Connack>(c.received().at(0)).reason, Reason::Success) << "takeover " << i;
    for (auto& old : clients_) old->notify_closed();  // the net layer closes the taken-over socket
    std::erase_if(clients_, [](const auto& k) { return k->closed(); });
    ASSERT_EQ(broker_->connected_count(), 1u) << "after takeover " << i;
  }
  connected("new-1");
  connected("new-2");
  EXPECT_EQ(broker_->connected_count(), 3u);
}

// MQTT 3.1.1 [MQTT-3.1.2-6]: a CleanSession=1 session lasts as long as its connection, so a
// CleanSession=0 takeover finds no session: session present 0 [MQTT-3.2.2-2], no old subscriptions.
TEST_F(BrokerTest, MQTT_3_1_2_6_TakeoverOfACleanSessionStartsANewSession) {
  for (Version v : {Version::V311, Version::V5}) {
    auto& a = connected("clean-then-kept", v, /*clean=*/true);
    subscribe(a, "old/sub", 1);
    auto& b = client(v);
    auto c = connect_packet("clean-then-kept", v, /*clean=*/false);
    if (v == Version::V5) c.properties.session_expiry_interval = 3600;
    b.send(c);
    EXPECT_TRUE(a.closed());
    a.notify_closed();
    auto ack = std::get<mqtt::Connack>(b.received().at(0));
    EXPECT_EQ(ack.reason, Reason::Success);
    EXPECT_FALSE(ack.session_present) << "level " << static_cast<int>(v);
    auto& p = connected(v == Version::V5 ? "pub5" : "pub4");
    publish(p, "old/sub", "x", 1);
    EXPECT_TRUE(b.publishes().empty()) << "the ended session's subscription was kept";
    b.drop();
  }
}

// The same rule for a v5 session whose expiry is 0: Clean Start 0 on the new connection does not
// bring it back (MQTT 5.0 §3.1.2.11.2: the session ends when the network connection is closed).
TEST_F(BrokerTest, V5SessionExpiry0EndsWhenTakenOver) {
  auto& a = connected("exp0", Version::V5, /*clean=*/false);  // no Session Expiry Interval: 0
  subscribe(a, "e/t", 1);
  auto& b = client(Version::V5);
  auto c = connect_packet("exp0", Version::V5, /*clean=*/false);
  c.properties.session_expiry_interval = 60;
  b.send(c);
  EXPECT_FALSE(std::get<mqtt::Connack>(b.received().at(0)).session_present);
  EXPECT_EQ(broker_->subscription_count(), 0u);
}

TEST_F(BrokerTest, QueueFullDropOldestKeepsNewest) {
  cfg_.limits.max_queued_messages = 3;
  make_broker();
  auto& s = connected("q", Version::V311, false);
  subscribe(s, "t", 1);
  s.drop();
  auto& pub = connected("pub");
  for (int i = 0; i < 5; ++i)
    publish(pub, "t", std::to_string(i), 1, false, static_cast<std::uint16_t>(i + 1));
  EXPECT_EQ(broker_->stats().dropped_of(DropReason::QueueFull), 2u);
  auto& back = client();
  back.send(connect_packet("q", Version::V311, false));
  auto got = back.publishes();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].payload, "2");
  EXPECT_EQ(got[2].payload, "4");
}

TEST_F(BrokerTest, QueueFullDropNewKeepsOldest) {
  cfg_.limits.max_queued_messages = 3;
  cfg_.limits.queue_policy = config::QueuePolicy::DropNew;
  make_broker();
  auto& s = connected("q", Version::V311, false);
  subscribe(s, "t", 1);
  s.drop();
  auto& pub = connected("pub");
  for (int i = 0; i < 5; ++i)
    publish(pub, "t", std::to_string(i), 1, false, static_cast<std::uint16_t>(i + 1));
  EXPECT_EQ(broker_->stats().dropped_of(DropReason::QueueFull), 2u);
  auto& back = client();
  back.send(connect_packet("q", Version::V311, false));
  auto got = back.publishes();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].payload, "0");
  EXPECT_EQ(got[2].payload, "2");
}

TEST_F(BrokerTest, SessionExpiryV5) {
  auto& c = client(Version::V5);
  auto cp = connect_packet("exp", Version::V5, true);
  cp.properties.session_expiry_interval = 10;
  c.send(cp);
  c.received();
  subscribe(c, "t", 1);
  c.drop();
  tick_for(9000);
  EXPECT_NE(broker_->find_session("exp"), nullptr);
  tick_for(2000);
  EXPECT_EQ(broker_->find_session("exp"), nullptr);
  EXPECT_EQ(broker_->subscription_count(), 0u);
}

TEST_F(BrokerTest, MessageExpiryWhileQueued) {
  auto& c = client(Version::V5);
  auto cp = connect_packet("off", Version::V5, true);
  cp.properties.session_expiry_interval = 1000;
  c.send(cp);
  c.received();
  subscribe(c, "t", 1);
  c.drop();
  auto& pub = connected("pub", Version::V5);
  mqtt::Publish p;
  p.topic = "t";
  p.payload = "short-lived";
  p.qos = 1;
  p.packet_id = 1;
  p.properties.message_expiry_interval = 5;
  pub.send(p);
  p.payload = "long-lived";
  p.packet_id = 2;
  p.properties.message_expiry_interval = 60;
  pub.send(p);
  tick_for(6000);
  auto& back = client(Version::V5);
  back.send(connect_packet("off", Version::V5, false));
  auto got = back.publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload, "long-lived");
  ASSERT_TRUE(got[0].properties.message_expiry_interval.has_value());
  EXPECT_LE(*got[0].properties.message_expiry_interval, 54u);  // the remaining lifetime is forwarded
  EXPECT_EQ(broker_->stats().dropped_of(DropReason::Expired), 1u);
}

TEST_F(BrokerTest, SlowConsumerDropsQos0AndQueuesQos1) {
  cfg_.limits.write_high_watermark = 1000;
  make_broker();
  auto& s = connected("slow");
  subscribe(s, "t", 1);
  auto& pub = connected("pub");
  s.transport().extra_pending = 5000;  // its socket stopped draining
  publish(pub, "t", "zero", 0);
  publish(pub, "t", "one", 1);
  EXPECT_EQ(broker_->stats().dropped_of(DropReason::SlowConsumer), 1u);
  EXPECT_TRUE(s.publishes().empty());
  EXPECT_EQ(broker_->find_session("slow")->queue.size(), 1u);
  s.transport().extra_pending = 0;
  s.conn().on_drain();
  auto got = s.publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload, "one");
}

TEST_F(BrokerTest, SlowConsumerDisconnectPolicy) {
  cfg_.limits.write_high_watermark = 1000;
  cfg_.limits.slow_consumer_policy = config::SlowConsumerPolicy::Disconnect;
  make_broker();
  auto& s = connected("slow");
  subscribe(s, "t", 0);
  auto& pub = connected("pub");
  s.transport().extra_pending = 5000;
  publish(pub, "t", "zero", 0);
  EXPECT_TRUE(s.closed());
  EXPECT_FALSE(pub.closed());
}

TEST_F(BrokerTest, SharedSubscriptionRoundRobin) {
  auto& a = connected("a", Version::V5);
  auto& b = connected("b", Version::V5);
  subscribe(a, "$share/g/job/+", 0);
  subscribe(b, "$share/g/job/+", 0);
  auto& pub = connected("pub", Version::V5);
  for (int i = 0; i < 6; ++i) publish(pub, "job/x", std::to_string(i));
  EXPECT_EQ(a.publishes().size(), 3u);
  EXPECT_EQ(b.publishes().size(), 3u);
}

TEST_F(BrokerTest, InboundTopicAlias) {
  auto& s = connected("s", Version::V5);
  subscribe(s, "long/topic/name", 0);
  auto& pub = connected("pub", Version::V5);
  mqtt::Publish p;
  p.topic = "long/topic/name";
  p.payload = "1";
  p.properties.topic_alias = 3;
  pub.send(p);
  p.topic.clear();
  p.payload = "2";
  pub.send(p);
  auto got = s.publishes();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].topic, "long/topic/name");
  EXPECT_EQ(got[1].payload, "2");
  p.properties.topic_alias = 999;  // over the maximum we announced
  pub.send(p);
  EXPECT_TRUE(pub.closed());
  auto r = pub.received();
  ASSERT_FALSE(r.empty());
  EXPECT_EQ(std::get<mqtt::Disconnect>(r.back()).reason, Reason::TopicAliasInvalid);
}

TEST_F(BrokerTest, UserPropertiesPassThrough) {
  auto& s = connected("s", Version::V5);
  subscribe(s, "t", 0);
  auto& pub = connected("pub", Version::V5);
  mqtt::Publish p;
  p.topic = "t";
  p.payload = "x";
  p.properties.user_properties = {{"k", "v"}, {"k", "v2"}};
  p.properties.content_type = "text/plain";
  pub.send(p);
  auto got = s.publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].properties.user_properties, p.properties.user_properties);
  EXPECT_EQ(got[0].properties.content_type, "text/plain");
}

TEST_F(BrokerTest, SecondConnectIsProtocolError) {
  auto& c = connected("twice", Version::V5);
  c.send(connect_packet("twice", Version::V5));
  EXPECT_TRUE(c.closed());
  auto r = c.received();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(std::get<mqtt::Disconnect>(r[0]).reason, Reason::ProtocolError);
}

TEST_F(BrokerTest, PacketBeforeConnectCloses) {
  auto& c = client();
  c.send(mqtt::Pingreq{});
  EXPECT_TRUE(c.closed());
  EXPECT_TRUE(c.received().empty());
}

TEST_F(BrokerTest, UsersFromConfig) {
  cfg_.auth.anonymous = config::AnonymousPolicy::Deny;
  static const std::uint8_t salt[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  cfg_.auth.users.push_back({"alice", config::hash_password("secret", salt, 1000)});
  make_broker();
  auto try_connect = [&](std::optional<std::string> user, std::optional<std::string> pw) {
    auto& c = client(Version::V311);
    auto cp = connect_packet("x", Version::V311);
    cp.username = user;
    cp.password = pw;
    c.send(cp);
    return std::get<mqtt::Connack>(c.received().at(0)).reason;
  };
  EXPECT_EQ(try_connect("alice", "secret"), Reason::Success);
  EXPECT_EQ(try_connect("alice", "wrong"), Reason::BadUserNameOrPassword);
  EXPECT_EQ(try_connect("bob", "secret"), Reason::BadUserNameOrPassword);
  EXPECT_EQ(try_connect(std::nullopt, std::nullopt), Reason::NotAuthorized);
}

TEST_F(BrokerTest, PasswordChecksAreBoundedPerSecondButCachedPasswordsPass) {
  static const std::uint8_t salt[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  config::Auth auth;
  auth.users.push_back({"alice", config::hash_password("secret", salt, 1000)});
  ConfigAuthenticator a(auth, &clock_);
  const std::optional<std::string> user = "alice", good = "secret", bad = "guess";
  ConnectInfo ok{"c", &user, &good, true, "p", nullptr};
  ConnectInfo wrong{"c", &user, &bad, true, "p", nullptr};
  EXPECT_EQ(a.authenticate(ok), Reason::Success);  // verified once: cached from now on
  for (int i = 1; i < ConfigAuthenticator::kVerificationsPerSecond; ++i) {
    EXPECT_EQ(a.authenticate(wrong), Reason::BadUserNameOrPassword);
  }
  EXPECT_EQ(a.authenticate(wrong), Reason::ServerBusy);  // the second's budget is spent
  EXPECT_EQ(a.authenticate(ok), Reason::Success);        // a cached password does not need it
  clock_.advance(1000);
  EXPECT_EQ(a.authenticate(wrong), Reason::BadUserNameOrPassword);
}

TEST_F(BrokerTest, AnonymousOnlyFromLoopbackByDefault) {
  auto& c = client(Version::V311);
  c.transport().loopback = false;
  c.send(connect_packet("remote", Version::V311));
  EXPECT_EQ(std::get<mqtt::Connack>(c.received().at(0)).reason, Reason::NotAuthorized);
}

TEST_F(BrokerTest, MaxConnectionsRefusesWithServerBusy) {
  cfg_.limits.max_connections = 2;
  make_broker();
  connected("a", Version::V5);
  connected("b", Version::V5);
  auto& c = client(Version::V5);
  c.send(connect_packet("c", Version::V5));
  EXPECT_EQ(std::get<mqtt::Connack>(c.received().at(0)).reason, Reason::ServerBusy);
}

TEST_F(BrokerTest, SysTopicsPublishedOnInterval) {
  cfg_.sys_interval_s = 1;
  make_broker();
  auto& s = connected("s");
  subscribe(s, "$SYS/broker/clients/connected", 0);
  tick_for(1100);
  auto got = s.publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload, "1");
}

// ---- Flow control (broker.hpp "Flow control") -----------------------------------------------------------

// The packet ids of the PUBACKs a client received since the last call.
std::vector<std::uint16_t> pubacks(Client& c) {
  std::vector<std::uint16_t> ids;
  for (auto& p : c.received()) {
    if (auto* a = std::get_if<mqtt::Ack>(&p); a && a->type == mqtt::PacketType::Puback)
      ids.push_back(a->packet_id);
  }
  return ids;
}

std::string publish_bytes(const std::string& topic, const std::string& payload, std::uint8_t qos,
                          std::uint16_t id) {
  mqtt::Publish p;
  p.topic = topic;
  p.payload = payload;
  p.qos = qos;
  p.packet_id = id;
  mqtt::Buffer b;
  mqtt::encode(p, Version::V311, b);
  return std::string(b.begin(), b.end());
}

void puback(Client& c, std::uint16_t id) {
  c.send(mqtt::Ack{mqtt::PacketType::Puback, id, Reason::Success, {}});
}

class FlowTest : public BrokerTest {
 protected:
  void SetUp() override {
    cfg_.limits.max_queued_messages = 2;
    cfg_.limits.max_inflight = 1;
    make_broker();
  }
  // A QoS 1 subscriber to "t" with one message in flight and its queue (2) full: the publisher's
  // next message must wait.
  Client& full_subscriber(const std::string& id, Client& pub, std::uint16_t& next_id) {
    auto& sub = connected(id);
    subscribe(sub, "t", 1);
    for (int i = 0; i < 3; ++i, ++next_id) publish(pub, "t", std::to_string(next_id), 1, false, next_id);
    EXPECT_EQ(pubacks(pub).size(), 3u);
    EXPECT_FALSE(pub.transport().flow_paused);
    return sub;
  }
  // A publisher "pub" held back by a full subscriber "sub" with its message `id` at `qos`.
  struct Held {
    Client& pub;
    Client& sub;
  };
  Held held(std::uint8_t qos, std::uint16_t id) {
    auto& pub = connected("pub");
    std::uint16_t next = 1;
    auto& sub = full_subscriber("sub", pub, next);
    publish(pub, "t", "held", qos, false, id);
    EXPECT_TRUE(pub.transport().flow_paused);
    return {pub, sub};
  }
};

TEST_F(FlowTest, APublisherWaitsForRoomAndLosesNothing) {
  auto& pub = connected("pub");
  std::uint16_t next = 1;
  auto& sub = full_subscriber("sub", pub, next);
  // Message 4 meets a full queue: queued past the bound, no PUBACK, reads stop. Message 5 came in the
  // same read: it waits, unhandled, with the connection.
  pub.write(publish_bytes("t", "4", 1, 4) + publish_bytes("t", "5", 1, 5));
  EXPECT_TRUE(pubacks(pub).empty());
  EXPECT_TRUE(pub.transport().flow_paused);
  EXPECT_TRUE(pub.conn().flow_blocked());
  EXPECT_EQ(broker_->holding_sessions(), 1u);
  EXPECT_EQ(broker_->find_session("sub")->queue.size(), 3u);  // 2, 3, 4: over by the one in progress

  std::vector<std::string> got;
  for (auto& p : sub.publishes()) got.push_back(p.payload);
  puback(sub, 1);  // 2 goes out; 3 and 4 still queued: above half the bound
  for (auto& p : sub.publishes()) got.push_back(p.payload);
  EXPECT_TRUE(pubacks(pub).empty());
  EXPECT_TRUE(pub.transport().flow_paused);
  puback(sub, 2);  // 3 goes out, 4 left: room. PUBACK 4, then 5 is handled and acknowledged.
  EXPECT_EQ(pubacks(pub), (std::vector<std::uint16_t>{4, 5}));
  EXPECT_FALSE(pub.transport().flow_paused);
  EXPECT_FALSE(pub.conn().flow_blocked());
  for (std::uint16_t id = 3; id <= 5; ++id) {
    for (auto& p : sub.publishes()) got.push_back(p.payload);
    puback(sub, id);
  }
  for (auto& p : sub.publishes()) got.push_back(p.payload);
  EXPECT_EQ(got, (std::vector<std::string>{"1", "2", "3", "4", "5"}));
  EXPECT_EQ(broker_->stats().dropped_of(DropReason::QueueFull), 0u);
  EXPECT_EQ(broker_->stats().flow_paused, 1u);
  EXPECT_EQ(broker_->stats().reads_paused, 1u);
  EXPECT_EQ(broker_->stats().acks_withheld, 1u);
  EXPECT_EQ(broker_->holding_sessions(), 0u);
}

TEST_F(FlowTest, ManyPublishersWaitOnOneSubscriberAndOneOfThemLeaves) {
  auto& a = connected("a");
  std::uint16_t next = 1;
  auto& sub = full_subscriber("sub", a, next);
  auto& b = connected("b");
  auto& c = connected("c");
  publish(a, "t", "a", 1, false, 10);
  publish(b, "t", "b", 1, false, 20);
  publish(c, "t", "c", 1, false, 30);
  EXPECT_TRUE(a.transport().flow_paused && b.transport().flow_paused && c.transport().flow_paused);
  EXPECT_EQ(broker_->find_session("sub")->queue.size(), 5u);  // over by one message per publisher
  b.drop();  // gone while waiting: its release is skipped (its message was taken and is delivered)
  sub.received();
  for (std::uint16_t id = 1; id <= 3; ++id) puback(sub, id);
  EXPECT_TRUE(pubacks(a).empty());  // 2 queued: not yet down to half the bound
  puback(sub, 4);
  EXPECT_EQ(pubacks(a), (std::vector<std::uint16_t>{10}));
  EXPECT_EQ(pubacks(c), (std::vector<std::uint16_t>{30}));
  EXPECT_FALSE(a.transport().flow_paused || c.transport().flow_paused);
  EXPECT_EQ(broker_->stats().dropped_of(DropReason::QueueFull), 0u);
}

TEST_F(FlowTest, OnePublisherBlockedOnTwoSubscribersWaitsForBoth) {
  auto& s1 = connected("s1");
  subscribe(s1, "t", 1);
  auto& s2 = connected("s2");
  subscribe(s2, "t", 1);
  auto& pub = connected("pub");
  for (std::uint16_t id = 1; id <= 3; ++id) publish(pub, "t", "m", 1, false, id);
  EXPECT_EQ(pubacks(pub).size(), 3u);
  publish(pub, "t", "m", 1, false, 4);  // both queues are full
  EXPECT_TRUE(pub.transport().flow_paused);
  EXPECT_EQ(broker_->holding_sessions(), 2u);
  s1.received();
  s2.received();
  puback(s1, 1);
  puback(s1, 2);  // s1 has room; s2 not yet
  EXPECT_EQ(broker_->holding_sessions(), 1u);
  EXPECT_TRUE(pub.transport().flow_paused);
  EXPECT_TRUE(pubacks(pub).empty());
  puback(s2, 1);
  puback(s2, 2);
  EXPECT_FALSE(pub.transport().flow_paused);
  EXPECT_EQ(pubacks(pub), (std::vector<std::uint16_t>{4}));
  EXPECT_EQ(broker_->stats().flow_paused, 1u);  // one pause, released once
  EXPECT_EQ(broker_->stats().dropped_of(DropReason::QueueFull), 0u);
}

TEST_F(FlowTest, AQos2PublishersPubrecWaitsForRoomToo) {
  auto [pub, sub] = held(2, 9);
  EXPECT_TRUE(pub.received().empty());  // no PUBREC yet
  sub.received();
  puback(sub, 1);
  puback(sub, 2);
  auto got = pub.received();
  ASSERT_EQ(got.size(), 1u);
  const auto& rec = std::get<mqtt::Ack>(got[0]);
  EXPECT_EQ(rec.type, mqtt::PacketType::Pubrec);
  EXPECT_EQ(rec.packet_id, 9);
  EXPECT_FALSE(pub.transport().flow_paused);
}

TEST_F(FlowTest, ASubscriberThatLeavesReleasesItsPublishers) {
  auto [pub, sub] = held(1, 4);
  sub.drop();  // clean session: it ends, its queue with it (counted), and the publisher goes on
  EXPECT_EQ(pubacks(pub), (std::vector<std::uint16_t>{4}));
  EXPECT_FALSE(pub.transport().flow_paused);
  EXPECT_EQ(broker_->stats().dropped_of(DropReason::SessionExpired), 3u);
}

TEST_F(FlowTest, AStuckSubscriberIsDisconnectedAfterTheTimeoutAndTheBlockedPublisherKeepsItsKeepalive) {
  cfg_.limits.slow_subscriber_timeout_s = 10;
  make_broker();
  auto& pub = client();
  pub.send(connect_packet("pub", Version::V311, true, /*keepalive=*/2));
  pub.received();
  std::uint16_t next = 1;
  auto& sub = full_subscriber("sub", pub, next);
  publish(pub, "t", "4", 1, false, 4);
  EXPECT_TRUE(pub.transport().flow_paused);
  tick_for(9900);  // the publisher said nothing for 3 keepalives: we were not reading it
  EXPECT_FALSE(sub.closed());
  EXPECT_FALSE(pub.closed());
  EXPECT_TRUE(pubacks(pub).empty());
  tick_for(200);
  EXPECT_TRUE(sub.closed());
  EXPECT_EQ(broker_->stats().slow_subscribers, 1u);
  EXPECT_EQ(pubacks(pub), (std::vector<std::uint16_t>{4}));
  EXPECT_FALSE(pub.transport().flow_paused);
  EXPECT_FALSE(pub.closed());
  tick_for(2000);  // its keepalive runs from the release
  EXPECT_FALSE(pub.closed());
}

TEST_F(FlowTest, APublisherNeverWaitsOnItsOwnSession) {
  auto& self = connected("self");
  subscribe(self, "t", 1);
  for (std::uint16_t id = 1; id <= 4; ++id) publish(self, "t", "m", 1, false, id);
  EXPECT_FALSE(self.transport().flow_paused);  // it could never drain its own queue while not read
  EXPECT_EQ(broker_->stats().dropped_of(DropReason::QueueFull), 1u);
}

TEST_F(FlowTest, Qos0DropsOverTheWatermarkByDefaultAndPausesThePublisherUnderPause) {
  auto& sub = connected("sub");
  subscribe(sub, "z", 0);
  auto& pub = connected("pub");
  sub.transport().extra_pending = cfg_.limits.write_high_watermark;  // its socket stopped draining
  publish(pub, "z", "a");
  EXPECT_EQ(broker_->stats().dropped_of(DropReason::SlowConsumer), 1u);
  EXPECT_FALSE(pub.transport().flow_paused);

  cfg_.limits.qos0_full_policy = config::Qos0FullPolicy::Pause;
  make_broker();
  auto& sub2 = connected("sub");
  subscribe(sub2, "z", 0);
  auto& pub2 = connected("pub");
  sub2.transport().extra_pending = cfg_.limits.write_high_watermark;
  pub2.write(publish_bytes("z", "a", 0, 0) + publish_bytes("z", "b", 0, 0));
  EXPECT_TRUE(pub2.transport().flow_paused);
  EXPECT_EQ(sub2.publishes().size(), 1u);  // sent over the mark; "b" waits with the publisher
  sub2.transport().extra_pending = 0;
  sub2.conn().on_drain();
  EXPECT_FALSE(pub2.transport().flow_paused);
  auto got = sub2.publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload, "b");
  EXPECT_EQ(broker_->stats().dropped_of(DropReason::SlowConsumer), 0u);
}

TEST_F(FlowTest, AnOfflinePersistentSessionWithoutAStoreKeepsItsQueuePolicy) {
  auto& s = connected("away", Version::V311, /*clean=*/false);
  subscribe(s, "t", 1);
  s.drop();
  auto& pub = connected("pub");
  for (std::uint16_t id = 1; id <= 4; ++id) publish(pub, "t", "m", 1, false, id);
  EXPECT_EQ(pubacks(pub).size(), 4u);  // only online subscribers hold publishers back
  EXPECT_FALSE(pub.transport().flow_paused);
  EXPECT_EQ(broker_->stats().dropped_of(DropReason::QueueFull), 2u);
}

// The session-end hook (Extension::on_session_ended), which lets device presence upstream be cleared:
// once per session that ended for good, after its on_disconnected; never while its client is back.
struct SessionEndRecorder final : Extension {
  std::vector<std::string> events;
  void on_disconnected(Connection& c, bool /*graceful*/) override {
    events.push_back("gone " + c.identity().client_id);
  }
  void on_session_ended(const std::string& client_id) override { events.push_back("ended " + client_id); }
};

TEST_F(BrokerTest, SessionEndedHookFiresWhenASessionEndsForGood) {
  using Events = std::vector<std::string>;
  SessionEndRecorder r;
  broker_->set_extension(&r);
  // A clean session ends with its connection.
  connected("clean").drop();
  EXPECT_EQ(r.events, (Events{"gone clean", "ended clean"}));
  // A v5 persistent session ends at its expiry (MQTT 5.0 §3.1.2.11.2), not at the disconnect.
  r.events.clear();
  auto& p5 = client(Version::V5);
  auto cp = connect_packet("p5", Version::V5, /*clean=*/false);
  cp.properties.session_expiry_interval = 10;
  p5.send(cp);
  p5.received();
  p5.drop();
  EXPECT_EQ(r.events, (Events{"gone p5"}));
  tick_for(9000);
  EXPECT_EQ(r.events, (Events{"gone p5"}));
  tick_for(2000);
  EXPECT_EQ(r.events, (Events{"gone p5", "ended p5"}));
  // A v5 client that sets its expiry to 0 at DISCONNECT ends its session with the connection.
  r.events.clear();
  auto& z = client(Version::V5);
  z.send(cp);
  z.received();
  mqtt::Disconnect d;
  d.properties.session_expiry_interval = 0;
  z.send(d);
  z.notify_closed();
  EXPECT_EQ(r.events, (Events{"gone p5", "ended p5"}));
  // A 3.1.1 persistent session never expires.
  r.events.clear();
  connected("p4", Version::V311, /*clean=*/false).drop();
  tick_for(20000);
  EXPECT_EQ(r.events, (Events{"gone p4"}));
  // The client is back: a takeover of a clean session, and Clean Start 1 over an offline persistent one.
  r.events.clear();
  auto& first = connected("t");
  connected("t");
  first.notify_closed();
  connected("p4", Version::V311, /*clean=*/true);
  tick_for(20000);
  EXPECT_EQ(r.events, Events{});
  clients_.clear();
  broker_->set_extension(nullptr);
}

}  // namespace
}  // namespace gw::broker::testing
