// Test fixture for the NETPIE local endpoint: a config with one app and a few keys, a ManualClock set to
// the protocol vectors' time, a deterministic random source, an in-memory TokenStore (completions now,
// later, or failing), requests parsed from raw HTTP text by the real parser, and a responder that
// records the answer. The broker runs over the broker fixture's in-memory transports.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gateway/netpie/endpoint.hpp"
#include "protocols/http/request_parser.hpp"
#include "tests/unit/broker_fixture.hpp"

namespace gw::netpie::testing {

// docs/netpie-protocol.md §3.2 / §6.1 vectors.
inline constexpr const char* kKey = "sXfqDcXHzbFXiLk";
inline constexpr const char* kSecret = "DNonzg2ivwS8ceksykGntrfQjxbL98";
inline constexpr const char* kToken = "T0k3nAbCdEfGh123";
inline constexpr const char* kTokenSecret = "S3cr3tS3cr3tS3cr3tS3cr3tS3cr3t12";
inline constexpr std::int64_t kVectorTime = 1500000000;

class MemoryStore final : public TokenStore {
 public:
  std::map<std::string, std::string> data;
  bool fail = false;   // put() reports failure
  bool defer = false;  // completions wait for run_pending()
  std::vector<std::function<void()>> pending;
  int puts = 0;

  void put(std::string key, std::string value, std::function<void(bool)> done) override {
    ++puts;
    if (fail) {
      if (done) done(false);
      return;
    }
    data[key] = std::move(value);
    if (!done) return;
    if (defer) {
      pending.push_back([done] { done(true); });
    } else {
      done(true);
    }
  }
  void erase(std::string key) override { data.erase(key); }
  void run_pending() {
    auto p = std::move(pending);
    pending.clear();
    for (auto& f : p) f();
  }
  std::vector<std::pair<std::string, std::string>> entries() const { return {data.begin(), data.end()}; }
};

// Bytes 0, 1, 2, ... : tokens are predictable and distinct.
inline microgear::RandomSource counting_random() {
  auto n = std::make_shared<std::uint8_t>(0);
  return [n](std::span<std::uint8_t> out) {
    for (auto& b : out) b = static_cast<std::uint8_t>((*n)++ % 248);
  };
}

inline config::NetpieKey make_key(std::string key, std::string secret, std::string kind = "device",
                                  bool auto_approve = true) {
  config::NetpieKey k;
  k.key = std::move(key);
  k.secret = std::move(secret);
  k.kind = std::move(kind);
  k.auto_approve = auto_approve;
  return k;
}

inline config::Config netpie_config() {
  config::Config c;
  c.sys_interval_s = 0;
  c.auth.anonymous = config::AnonymousPolicy::Allow;
  c.netpie.enabled = true;
  config::NetpieApp app;
  app.appid = "myappid";
  app.keys.push_back(make_key(kKey, kSecret));
  app.keys.push_back(make_key("SessionKey00001", "session-secret-0123456789", "session"));
  app.keys.push_back(make_key("ApprovalKey0001", "approval-secret-0123456789", "device", false));
  auto limited = make_key("LimitedKey00001", "limited-secret-0123456789");
  limited.rights.publish = {"/sensors/#"};
  limited.rights.subscribe = {"/sensors/+", "/cmd"};
  limited.rights.max_qos = 0;
  app.keys.push_back(limited);
  auto disabled = make_key("DisabledKey0001", "disabled-secret-0123456789");
  disabled.enabled = false;
  app.keys.push_back(disabled);
  c.netpie.apps.push_back(app);
  config::NetpieApp other;
  other.appid = "otherapp";
  other.keys.push_back(make_key("OtherKey0000001", "other-secret-0123456789"));
  c.netpie.apps.push_back(other);
  return c;
}

// A request as the real parser produces it from raw bytes.
inline http::Request parse_request(const std::string& raw) {
  http::RequestParser p;
  auto r = p.feed(raw);
  EXPECT_EQ(r.status, http::ParseStatus::Complete) << "not a complete request: " << raw;
  if (r.status != http::ParseStatus::Complete) return {};
  return p.take_request();
}

struct Answer {
  std::optional<http::Response> response;
  net::HttpResponder responder;
  explicit Answer(net::HttpPeer peer = default_peer())
      : responder(std::move(peer), [this](http::Response r) { response = std::move(r); }) {}
  Answer(const Answer&) = delete;
  static net::HttpPeer default_peer() {
    net::HttpPeer p;
    p.address = "127.0.0.1:40000";
    p.local_host = "127.0.0.5";
    p.local_port = 8080;
    p.loopback = true;
    return p;
  }
  int status() const { return response ? response->status : 0; }
  const std::string& body() const {
    static const std::string none;
    return response ? response->body : none;
  }
  std::string header(std::string_view name) const {
    return response ? std::string(response->headers.get(name)) : std::string();
  }
};

// Everything of the endpoint over the broker fixture, with the clock at the vectors' time.
class EndpointTest : public ::testing::Test {
 protected:
  void SetUp() override { start(); }
  void TearDown() override { stop(); }

  void start() {
    clock_.set_unix_base(kVectorTime - clock_.now_ms() / 1000);
    endpoint_ = std::make_unique<Endpoint>(cfg_.netpie, clock_, counting_random());
    endpoint_->registry().set_store(&store_);
    endpoint_->postboxes().set_store(&store_);
    endpoint_->registry().load(store_.entries());
    endpoint_->postboxes().load(store_.entries());
    broker_ = std::make_unique<broker::Broker>(
        cfg_, clock_, endpoint_->authenticator(std::make_unique<broker::ConfigAuthenticator>(cfg_.auth)));
    endpoint_->attach(*broker_);
  }
  void stop() {
    clients_.clear();
    broker_.reset();
    endpoint_.reset();
  }
  void restart() {
    stop();
    start();
  }

  // Installs the §6.1 vector token as a stored device token of kKey, then restarts to load it.
  void seed_vector_token() {
    store_.data[std::string(kStorePrefix) + "at/" + kToken] =
        R"({"secret":")" + std::string(kTokenSecret) + R"(","key":")" + kKey + R"(","appid":"myappid"})";
    restart();
  }

  broker::testing::Client& client(mqtt::Version v = mqtt::Version::V311) {
    clients_.push_back(std::make_unique<broker::testing::Client>(*broker_, v));
    return *clients_.back();
  }
  static mqtt::Connect connect_packet(std::string id, std::optional<std::string> user = std::nullopt,
                                      std::optional<std::string> pass = std::nullopt,
                                      mqtt::Version v = mqtt::Version::V311) {
    mqtt::Connect c;
    c.protocol_name = v == mqtt::Version::V31 ? "MQIsdp" : "MQTT";
    c.version = v;
    c.client_id = std::move(id);
    c.clean_start = true;
    c.keep_alive = 10;
    c.username = std::move(user);
    c.password = std::move(pass);
    return c;
  }
  // CONNACK reason of a CONNECT, or nullopt when the broker answered something else.
  std::optional<mqtt::Reason> connack(broker::testing::Client& c, const mqtt::Connect& p) {
    c.send(p);
    for (auto& pkt : c.received()) {
      if (auto* a = std::get_if<mqtt::Connack>(&pkt)) return a->reason;
    }
    return std::nullopt;
  }
  // A connected microgear with the credentials of an issued token.
  broker::testing::Client& gear(const AccessToken& at, const std::string& key_secret) {
    auto& c = client();
    auto cred = microgear::mqtt_credentials(at.token, at.secret, at.key, key_secret, clock_.unix_seconds());
    EXPECT_EQ(connack(c, connect_packet(cred.client_id, cred.username, cred.password)),
              mqtt::Reason::Success);
    return c;
  }
  // Issues an access token straight through the registry (the HTTP flow has its own tests).
  AccessToken issue(const std::string& key, const std::string& alias = "") {
    const Key* k = endpoint_->registry().key(key);
    EXPECT_NE(k, nullptr);
    microgear::CallbackParams cb{"", k->appid, "NJS1b", alias.empty() ? "NJS1b" : alias};
    auto rt = endpoint_->registry().issue_request(*k, cb, "test", false);
    EXPECT_TRUE(rt.ok());
    std::optional<AccessToken> out;
    endpoint_->registry().approve((*rt)->token);
    endpoint_->registry().exchange((*rt)->token, [&](Result<AccessToken, Registry::AccessError> r) {
      EXPECT_TRUE(r.ok());
      if (r.ok()) out = *r;
    });
    return out.value_or(AccessToken{});
  }
  static void subscribe(broker::testing::Client& c, const std::string& filter, std::uint8_t qos = 0,
                        std::uint16_t id = 1) {
    mqtt::Subscribe s;
    s.packet_id = id;
    mqtt::SubscribeOptions o;
    o.max_qos = qos;
    s.subscriptions.push_back({filter, o});
    c.send(s);
  }
  static void publish(broker::testing::Client& c, const std::string& topic, const std::string& payload,
                      std::uint8_t qos = 0, bool retain = false) {
    mqtt::Publish p;
    p.topic = topic;
    p.payload = payload;
    p.qos = qos;
    p.retain = retain;
    p.packet_id = qos ? 7 : 0;
    c.send(p);
  }
  // Sends one HTTP request through the endpoint's router.
  std::unique_ptr<Answer> http(const std::string& raw, net::HttpPeer peer = Answer::default_peer()) {
    auto a = std::make_unique<Answer>(std::move(peer));
    endpoint_->handle(parse_request(raw), a->responder);
    return a;
  }

  config::Config cfg_ = netpie_config();
  ManualClock clock_;
  MemoryStore store_;
  std::unique_ptr<Endpoint> endpoint_;
  std::unique_ptr<broker::Broker> broker_;
  std::vector<std::unique_ptr<broker::testing::Client>> clients_;
};

}  // namespace gw::netpie::testing
