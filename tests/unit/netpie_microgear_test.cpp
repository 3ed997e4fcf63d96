// Microgears in the broker: the MQTT CONNECT check with the docs/netpie-protocol.md §6.1 vector (CONNACK 4
// for an unknown or revoked token or a wrong HMAC, 5 for a disabled key, the time window), plain users beside
// them, AppID scoping and rights (with the disconnect sanction), @setalias and chat to every holder of
// an alias, &present/&absent events, @info/@error/&resetendpoint pushed without a subscription,
// postbox commands, and session-key tokens ending with their connection.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "protocols/microgear/credentials.hpp"
#include "tests/unit/netpie_fixture.hpp"

namespace gw::netpie::testing {
namespace {

using broker::testing::Client;
using mqtt::Reason;

std::vector<mqtt::Publish> only(std::vector<mqtt::Publish> v, const std::string& topic) {
  std::erase_if(v, [&](const mqtt::Publish& p) { return p.topic != topic; });
  return v;
}

nlohmann::json json_of(const mqtt::Publish& p) {
  return nlohmann::json::parse(p.payload);
}

class MicrogearTest : public EndpointTest {};

TEST_F(MicrogearTest, VectorCredentialsOfProtocol61Connect) {
  seed_vector_token();
  // Node 0.8.1 sends protocol name "MQTT" with level 3 (§6.2); the others 3.1.1 or MQIsdp/3.
  for (auto v : {mqtt::Version::V31, mqtt::Version::V311}) {
    auto& c = client(v);
    auto p = connect_packet(kToken, "sXfqDcXHzbFXiLk%1500000000", "dSZA3XJxO55FzPYOK6GS6zUqCK4=", v);
    p.protocol_name = "MQTT";
    EXPECT_EQ(connack(c, p), Reason::Success);
    c.drop();
  }
}

TEST_F(MicrogearTest, Connack4ForBadCredentialsAndUnknownOrRevokedTokens) {
  seed_vector_token();
  auto attempt = [&](std::string id, std::string user, std::string pass) {
    auto& c = client();
    auto r = connack(c, connect_packet(std::move(id), std::move(user), std::move(pass)));
    EXPECT_TRUE(c.closed());
    return r;
  };
  const std::string user = "sXfqDcXHzbFXiLk%1500000000";
  EXPECT_EQ(attempt(kToken, user, "dSZA3XJxO55FzPYOK6GS6zUqCK4A"),
            Reason::BadUserNameOrPassword);  // wrong HMAC
  EXPECT_EQ(attempt(kToken, "sXfqDcXHzbFXiLk%1500000001", "dSZA3XJxO55FzPYOK6GS6zUqCK4="),
            Reason::BadUserNameOrPassword);  // the HMAC covers the user name
  EXPECT_EQ(attempt(kToken, "sXfqDcXHzbFXiLk", "dSZA3XJxO55FzPYOK6GS6zUqCK4="),
            Reason::BadUserNameOrPassword);
  EXPECT_EQ(attempt("UnknownToken0000", user, "dSZA3XJxO55FzPYOK6GS6zUqCK4="), Reason::BadUserNameOrPassword);
  {
    auto& c = client();
    auto p = connect_packet(kToken, user);  // no password
    EXPECT_EQ(connack(c, p), Reason::BadUserNameOrPassword);
  }
  endpoint_->registry().revoke(kToken);
  EXPECT_EQ(attempt(kToken, user, "dSZA3XJxO55FzPYOK6GS6zUqCK4="), Reason::BadUserNameOrPassword);
  restart();  // the tombstone is kept
  EXPECT_EQ(attempt(kToken, user, "dSZA3XJxO55FzPYOK6GS6zUqCK4="), Reason::BadUserNameOrPassword);
}

TEST_F(MicrogearTest, Connack5ForADisabledKey) {
  const Key* disabled = endpoint_->registry().key("DisabledKey0001");
  ASSERT_NE(disabled, nullptr);
  auto rt = endpoint_->registry().issue_request(*disabled, {"", "myappid", "NJS1b", "NJS1b"}, "test", false);
  ASSERT_FALSE(rt.ok()) << "a disabled key gets no token";
  // A token issued while the key was enabled, kept in the store, then the key disabled in the config.
  const AccessToken ok = issue(kKey);
  store_.data[std::string(kStorePrefix) + "at/" + ok.token] =
      R"({"secret":")" + ok.secret + R"(","key":"DisabledKey0001","appid":"myappid"})";
  restart();
  auto& c = client();
  auto cred = microgear::mqtt_credentials(ok.token, ok.secret, "DisabledKey0001",
                                          "disabled-secret-0123456789", clock_.unix_seconds());
  EXPECT_EQ(connack(c, connect_packet(cred.client_id, cred.username, cred.password)), Reason::NotAuthorized);
  // A wrong password still says 4: the client must not keep a token it cannot use.
  auto& d = client();
  EXPECT_EQ(connack(d, connect_packet(cred.client_id, cred.username, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=")),
            Reason::BadUserNameOrPassword);
}

TEST_F(MicrogearTest, TimeInTheUserNameMustBeWithinTheWindow) {
  seed_vector_token();
  auto at_time = [&](std::int64_t t) {
    auto cred = microgear::mqtt_credentials(kToken, kTokenSecret, kKey, kSecret, t);
    auto& c = client();
    return connack(c, connect_packet(cred.client_id, cred.username, cred.password));
  };
  // Default: up to clock_skew_s (900) ahead, no bound behind (mqtt.js reconnects with its first user name).
  EXPECT_EQ(at_time(kVectorTime + 900), Reason::Success);
  EXPECT_EQ(at_time(kVectorTime + 901), Reason::BadUserNameOrPassword);
  EXPECT_EQ(at_time(kVectorTime - 400 * 24 * 3600), Reason::Success);
  cfg_.netpie.mqtt_max_age_s = 3600;
  restart();
  EXPECT_EQ(at_time(kVectorTime - 3600), Reason::Success);
  EXPECT_EQ(at_time(kVectorTime - 3601), Reason::BadUserNameOrPassword);
}

TEST_F(MicrogearTest, PlainMqttUsersKeepWorkingBesideMicrogears) {
  auto& plain = client();
  EXPECT_EQ(connack(plain, connect_packet("plain-client")), Reason::Success);
  subscribe(plain, "#");
  plain.received();
  const AccessToken at = issue(kKey);
  auto& g = gear(at, kSecret);
  publish(g, "/myappid/data", "from gear");
  auto got = only(plain.publishes(), "/myappid/data");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload, "from gear");
  // A plain client may publish anywhere, including into the app.
  subscribe(g, "/myappid/cmd");
  g.received();
  publish(plain, "/myappid/cmd", "on");
  EXPECT_EQ(only(g.publishes(), "/myappid/cmd").size(), 1u);
  // A user name that looks like a microgear's but names no configured key goes to the config's users.
  auto& other = client();
  EXPECT_EQ(connack(other, connect_packet("whatever", "nobody%1500000000", "x")),
            Reason::BadUserNameOrPassword);
}

TEST_F(MicrogearTest, AppScopingAndRightsWithTheDisconnectSanction) {
  const AccessToken at = issue(kKey);
  auto& g = gear(at, kSecret);
  // Subscriptions outside the app are refused (SUBACK failure), the official control ones accepted.
  mqtt::Subscribe s;
  s.packet_id = 3;
  for (const char* f : {"/otherapp/#", "#", "/myappid/#",
                        "/&id/"
                        "placeholder"
                        "/#",
                        "/myappid/&present", "/&id/undefined/#", "/myappid/&id/x/#"}) {
    s.subscriptions.push_back({f, {}});
  }
  s.subscriptions[3].filter = "/&id/" + at.token + "/#";
  g.send(s);
  auto r = g.received();
  ASSERT_EQ(r.size(), 1u);
  const auto& ack = std::get<mqtt::Suback>(r[0]);
  ASSERT_EQ(ack.reasons.size(), 7u);
  EXPECT_EQ(static_cast<int>(ack.reasons[0]), 0x80);
  EXPECT_EQ(static_cast<int>(ack.reasons[1]), 0x80);
  for (std::size_t i = 2; i < 7; ++i) EXPECT_EQ(static_cast<int>(ack.reasons[i]), 0) << i;
  EXPECT_FALSE(g.closed()) << "a refused subscription is not sanctioned";
  // Publishing into another app disconnects (NETPIE's sanction, §7.4)...
  const auto refused = broker_->stats().dropped_of(broker::DropReason::NotAuthorized);
  publish(g, "/otherapp/x", "intrusion");
  EXPECT_TRUE(g.closed());
  EXPECT_EQ(broker_->stats().dropped_of(broker::DropReason::NotAuthorized), refused + 1);
  // ...and so does forging presence.
  auto& g2 = gear(at, kSecret);
  publish(g2, "/myappid/&absent", "{}");
  EXPECT_TRUE(g2.closed());
}

TEST_F(MicrogearTest, KeyRightsLimitTopicsAndQos) {
  const AccessToken at = issue("LimitedKey00001");
  auto& watcher = client();
  EXPECT_EQ(connack(watcher, connect_packet("watcher")), Reason::Success);
  subscribe(watcher, "/myappid/#");
  watcher.received();
  auto& g = gear(at, "limited-secret-0123456789");
  // Subscribe: inside the rights, and at most QoS 0 granted.
  mqtt::Subscribe s;
  s.packet_id = 4;
  mqtt::SubscribeOptions q1;
  q1.max_qos = 1;
  s.subscriptions = {{"/myappid/sensors/+", q1}, {"/myappid/#", {}}, {"/myappid/cmd", {}}};
  g.send(s);
  const auto packets = g.received();
  const auto& ack = std::get<mqtt::Suback>(packets.at(0));
  ASSERT_EQ(ack.reasons.size(), 3u);
  EXPECT_EQ(static_cast<int>(ack.reasons[0]), 0) << "granted QoS 0, the key's maximum";
  EXPECT_EQ(static_cast<int>(ack.reasons[1]), 0x80);
  EXPECT_EQ(static_cast<int>(ack.reasons[2]), 0);
  publish(g, "/myappid/sensors/t", "21.5");
  EXPECT_EQ(only(watcher.publishes(), "/myappid/sensors/t").size(), 1u);
  EXPECT_FALSE(g.closed());
  publish(g, "/myappid/sensors/t", "qos1", 1);  // above max_qos
  EXPECT_TRUE(g.closed());
  auto& g2 = gear(at, "limited-secret-0123456789");
  publish(g2, "/myappid/elsewhere", "x");
  EXPECT_TRUE(g2.closed());
  EXPECT_TRUE(only(watcher.publishes(), "/myappid/elsewhere").empty());
}

TEST_F(MicrogearTest, SetAliasAndChatReachEveryHolderWithoutSubscription) {
  const AccessToken a = issue(kKey);
  const AccessToken b = issue(kKey);
  const AccessToken c = issue(kKey, "lamp");  // alias from the verifier, applied at connect
  auto& ga = gear(a, kSecret);
  auto& gb = gear(b, kSecret);
  auto& gc = gear(c, kSecret);
  publish(ga, "/myappid/@setalias/lamp", "");
  EXPECT_EQ(endpoint_->gears().alias_holders("myappid", "lamp"), 2u);
  ga.received();
  gc.received();
  publish(gb, "/myappid/gearname/lamp", "turn on");
  for (Client* holder : {&ga, &gc}) {
    auto got = only(holder->publishes(), "/myappid/gearname/lamp");
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].payload, "turn on");
  }
  EXPECT_TRUE(only(gb.publishes(), "/myappid/gearname/lamp").empty());
  // A holder that also subscribed to its gearname topic (deprecated setname) gets it once.
  subscribe(gc, "/myappid/gearname/lamp");
  gc.received();
  // From a plain MQTT client, too.
  auto& plain = client();
  EXPECT_EQ(connack(plain, connect_packet("plain")), Reason::Success);
  publish(plain, "/myappid/gearname/lamp", "from plain");
  EXPECT_EQ(only(ga.publishes(), "/myappid/gearname/lamp").size(), 1u);
  EXPECT_EQ(only(gc.publishes(), "/myappid/gearname/lamp").size(), 1u);
  // A new alias replaces the old one; the alias is remembered for the token's next connection.
  publish(ga, "/myappid/@setalias/desk", "");
  EXPECT_EQ(endpoint_->gears().alias_holders("myappid", "lamp"), 1u);
  EXPECT_EQ(endpoint_->registry().access(a.token)->alias, "desk");
  // Chat is per app: the same alias in another app is someone else.
  EXPECT_EQ(endpoint_->gears().alias_holders("otherapp", "desk"), 0u);
  // An invalid alias gets @error.
  publish(ga, "/myappid/@setalias/" + std::string(65, 'x'), "");
  EXPECT_EQ(only(ga.publishes(), "@error").size(), 1u);
}

TEST_F(MicrogearTest, PresenceEventsForConnectAliasAndEveryKindOfDisconnect) {
  auto& watcher = client();
  auto wp = connect_packet("watcher");
  wp.keep_alive = 0;  // outlives the gear's keepalive timeout below
  EXPECT_EQ(connack(watcher, wp), Reason::Success);
  subscribe(watcher, "/myappid/&present");
  subscribe(watcher, "/myappid/&absent", 0, 2);
  watcher.received();
  const AccessToken at = issue(kKey, "gear1");
  auto expect_event = [&](const char* topic, const char* type, const std::string& alias) {
    auto got = only(watcher.publishes(), std::string("/myappid/") + topic);
    ASSERT_EQ(got.size(), 1u) << topic << " " << type;
    auto j = json_of(got[0]);
    EXPECT_EQ(j["gear"], at.token);
    EXPECT_EQ(j["alias"], alias);
    EXPECT_EQ(j["type"], type);
  };
  // Connect, alias change, connection lost.
  auto& g = gear(at, kSecret);
  expect_event("&present", "online", "gear1");
  publish(g, "/myappid/@setalias/gear2", "");
  expect_event("&present", "aliased", "gear2");
  g.drop();
  expect_event("&absent", "offline", "gear2");
  // Clean DISCONNECT.
  auto& g2 = gear(at, kSecret);
  expect_event("&present", "online", "gear2");
  g2.send(mqtt::Disconnect{});
  g2.notify_closed();
  expect_event("&absent", "offline", "gear2");
  // Keepalive timeout (10 s, 1.5x).
  auto& g3 = gear(at, kSecret);
  watcher.received();
  for (int i = 0; i < 160; ++i) {
    clock_.advance(100);
    broker_->tick();
    g3.notify_closed();
  }
  EXPECT_TRUE(g3.closed());
  expect_event("&absent", "offline", "gear2");
  // Presence stays in its app.
  const AccessToken other = issue("OtherKey0000001");
  auto& go = gear(other, "other-secret-0123456789");
  (void)go;
  EXPECT_TRUE(watcher.publishes().empty());
}

TEST_F(MicrogearTest, TakeoverKeepsOneHolderAndNoDanglingConnection) {
  const AccessToken at = issue(kKey, "dup");
  auto& first = gear(at, kSecret);
  auto& second = gear(at, kSecret);
  first.notify_closed();
  EXPECT_TRUE(first.closed());
  EXPECT_EQ(endpoint_->gears().alias_holders("myappid", "dup"), 1u);
  second.received();
  auto& plain = client();
  EXPECT_EQ(connack(plain, connect_packet("plain")), Reason::Success);
  publish(plain, "/myappid/gearname/dup", "hi");
  EXPECT_EQ(only(second.publishes(), "/myappid/gearname/dup").size(), 1u);
}

TEST_F(MicrogearTest, ControlMessagesArePushedWithoutSubscription) {
  const AccessToken at = issue(kKey);
  auto& g = gear(at, kSecret);
  g.received();
  EXPECT_TRUE(endpoint_->gears().push(at.token, Microgears::Push::Info, "hello"));
  EXPECT_TRUE(endpoint_->gears().push(at.token, Microgears::Push::Error, "oops"));
  EXPECT_TRUE(endpoint_->gears().push(at.token, Microgears::Push::ResetEndpoint, ""));
  auto got = g.publishes();
  ASSERT_EQ(got.size(), 3u);
  // Exactly "@info" / "@error" (no AppID, no slash) and "/<appid>/&resetendpoint" (§7.4).
  EXPECT_EQ(got[0].topic, "@info");
  EXPECT_EQ(got[0].payload, "hello");
  EXPECT_EQ(got[1].topic, "@error");
  EXPECT_EQ(got[2].topic, "/myappid/&resetendpoint");
  EXPECT_FALSE(endpoint_->gears().push("NoSuchToken00000", Microgears::Push::Info, "x"));
  // Cloud-only commands are answered with @error, and consumed.
  auto& watcher = client();
  EXPECT_EQ(connack(watcher, connect_packet("watcher")), Reason::Success);
  subscribe(watcher, "#");
  watcher.received();
  publish(g, "/myappid/@push/owner", "hi");
  auto err = g.publishes();
  ASSERT_EQ(err.size(), 1u);
  EXPECT_EQ(err[0].topic, "@error");
  EXPECT_NE(err[0].payload.find("@push"), std::string::npos);
  // A feed the config does not name: refused with @error, and consumed too.
  publish(g, "/myappid/@writefeed/feed1", "{\"t\":1}");
  err = g.publishes();
  ASSERT_EQ(err.size(), 1u);
  EXPECT_EQ(err[0].topic, "@error");
  EXPECT_EQ(err[0].payload, "writefeed: no feed feed1");
  EXPECT_TRUE(watcher.publishes().empty()) << "commands are not routed";
}

TEST_F(MicrogearTest, PostboxCommands) {
  const AccessToken at = issue(kKey);
  auto& g = gear(at, kSecret);
  g.received();
  publish(g, "/myappid/@writepostbox/box1", "first");
  publish(g, "/myappid/@writepostbox/box1", "second");
  EXPECT_EQ(endpoint_->postboxes().size("myappid", "box1"), 2u);
  publish(g, "/myappid/@readpostbox/box1", "");
  publish(g, "/myappid/@readpostbox/box1", "");
  publish(g, "/myappid/@readpostbox/box1", "");
  auto got = g.publishes();
  ASSERT_EQ(got.size(), 3u);
  for (const auto& p : got) EXPECT_EQ(p.topic, "/myappid/@readpostbox/box1");
  EXPECT_EQ(got[0].payload, "first");
  EXPECT_EQ(got[1].payload, "second");
  EXPECT_EQ(got[2].payload, "") << "an empty box answers an empty message";
  // A full box refuses with @error and keeps what it has.
  cfg_.netpie.postbox_max_messages = 1;
  restart();
  auto& g2 = gear(at, kSecret);
  g2.received();
  publish(g2, "/myappid/@writepostbox/b", "1");
  publish(g2, "/myappid/@writepostbox/b", "2");
  auto err = g2.publishes();
  ASSERT_EQ(err.size(), 1u);
  EXPECT_EQ(err[0].topic, "@error");
  EXPECT_EQ(endpoint_->postboxes().size("myappid", "b"), 1u);
}

TEST_F(MicrogearTest, SessionKeyTokensEndWithTheirConnection) {
  const AccessToken at = issue("SessionKey00001");
  auto& g = gear(at, "session-secret-0123456789");
  EXPECT_FALSE(endpoint_->registry().access(at.token)->revoked);
  g.drop();
  ASSERT_NE(endpoint_->registry().access(at.token), nullptr);
  EXPECT_TRUE(endpoint_->registry().access(at.token)->revoked);
  auto& again = client();
  auto cred = microgear::mqtt_credentials(at.token, at.secret, at.key, "session-secret-0123456789",
                                          clock_.unix_seconds());
  EXPECT_EQ(connack(again, connect_packet(cred.client_id, cred.username, cred.password)),
            Reason::BadUserNameOrPassword);
}

TEST_F(MicrogearTest, RevocationDisconnectsTheLiveConnection) {
  const AccessToken at = issue(kKey);
  auto& g = gear(at, kSecret);
  EXPECT_TRUE(endpoint_->gears().online(at.token));
  EXPECT_TRUE(endpoint_->registry().revoke(at.token));
  EXPECT_TRUE(g.closed());
  g.notify_closed();
  EXPECT_FALSE(endpoint_->gears().online(at.token));
}

TEST_F(MicrogearTest, DeviceTokensSurviveARestart) {
  const AccessToken at = issue(kKey, "keeper");
  restart();
  const AccessToken* back = endpoint_->registry().access(at.token);
  ASSERT_NE(back, nullptr);
  EXPECT_EQ(back->secret, at.secret);
  EXPECT_EQ(back->alias, "keeper");
  auto& g = gear(at, kSecret);
  EXPECT_FALSE(g.closed());
  EXPECT_EQ(endpoint_->gears().alias_holders("myappid", "keeper"), 1u);
}

}  // namespace
}  // namespace gw::netpie::testing
