// The registry (tokens, approval, persistence, expiry, the replay cache), rights (filter coverage,
// what a microgear may publish and subscribe to) and postbox storage, without the HTTP and MQTT layers.
#include <gtest/gtest.h>

#include <map>

#include "gateway/netpie/rights.hpp"
#include "tests/unit/netpie_fixture.hpp"

namespace gw::netpie::testing {
namespace {

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    clock_.set_unix_base(kVectorTime - clock_.now_ms() / 1000);
    make();
  }
  void make() {
    reg_ = std::make_unique<Registry>(cfg_.netpie, clock_, counting_random(), &store_);
    reg_->load(store_.entries());
  }
  const RequestToken* request(const std::string& key, const std::string& verifier = "NJS1b") {
    auto r =
        reg_->issue_request(*reg_->key(key), {"", reg_->key(key)->appid, "NJS1b", verifier}, "peer", false);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : nullptr;
  }
  std::optional<AccessToken> exchange(const std::string& rt) {
    std::optional<AccessToken> out;
    reg_->exchange(rt, [&](Result<AccessToken, Registry::AccessError> r) {
      if (r.ok()) out = *r;
    });
    return out;
  }

  config::Config cfg_ = netpie_config();
  ManualClock clock_;
  MemoryStore store_;
  std::unique_ptr<Registry> reg_;
};

TEST_F(RegistryTest, TokensHaveTheFixedWidthsAndAlphabet) {
  const RequestToken* rt = request(kKey, "alias1");
  EXPECT_EQ(rt->token.size(), microgear::kTokenLength);
  EXPECT_EQ(rt->secret.size(), microgear::kSecretLength);
  auto at = exchange(rt->token);
  ASSERT_TRUE(at);
  EXPECT_EQ(at->token.size(), 16u);
  EXPECT_EQ(at->secret.size(), 32u);
  for (char c : at->token + at->secret) EXPECT_NE(microgear::kTokenAlphabet.find(c), std::string::npos);
  EXPECT_EQ(at->alias, "alias1");
  EXPECT_EQ(at->appid, "myappid");
  // The library id as verifier means "no alias" (§3.2).
  auto plain = exchange(request(kKey)->token);
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->alias, "");
}

TEST_F(RegistryTest, RequestAndDeviceTokensAreRestoredSessionTokensAreNot) {
  const std::string pending = request("ApprovalKey0001")->token;
  auto device = exchange(request(kKey, "dev")->token);
  auto session = exchange(request("SessionKey00001")->token);
  ASSERT_TRUE(device && session);
  make();
  const RequestToken* rt = reg_->request(pending);
  ASSERT_NE(rt, nullptr) << "a device waiting for approval keeps its request token across restarts";
  EXPECT_FALSE(reg_->approved(*rt));
  ASSERT_NE(reg_->access(device->token), nullptr);
  EXPECT_EQ(reg_->access(device->token)->secret, device->secret);
  EXPECT_EQ(reg_->access(device->token)->alias, "dev");
  EXPECT_EQ(reg_->access(session->token), nullptr);
  EXPECT_EQ(reg_->live_tokens(kKey), 1u);
  // Approval is kept too.
  reg_->approve(pending);
  make();
  EXPECT_TRUE(reg_->approved(*reg_->request(pending)));
}

// The Python microgear throws its request token away after every 401 and asks for a new one: approval
// must belong to the key, or such a device never gets in.
TEST_F(RegistryTest, ApprovalIsPerKeyAndARetryingDeviceKeepsOneWaitingRequest) {
  // The key is looked up at each request: make() below replaces the registry and the keys it owns.
  auto ask = [&](const std::string& verifier, const std::string& peer) {
    const Key& k = *reg_->key("ApprovalKey0001");
    auto r = reg_->issue_request(k, {"", k.appid, "PY11k", verifier}, peer, /*oauth2=*/true);
    EXPECT_TRUE(r.ok());
    return r.ok() ? (*r)->token : std::string();
  };
  auto refused = [&](const std::string& rt) {
    bool not_approved = false;
    reg_->exchange(rt, [&](Result<AccessToken, Registry::AccessError> r) {
      not_approved = !r.ok() && r.error() == Registry::AccessError::NotApproved;
    });
    return not_approved;
  };
  const std::string first = ask("sensor", "10.0.0.5:40001");
  EXPECT_TRUE(refused(first));
  // The same device asks again from a new source port: its previous request is replaced, not piled up.
  const std::string second = ask("sensor", "10.0.0.5:40002");
  EXPECT_EQ(reg_->request(first), nullptr);
  ASSERT_NE(reg_->request(second), nullptr);
  // Another device of the same key (another address) keeps its own request.
  const std::string other = ask("sensor", "10.0.0.6:40001");
  EXPECT_EQ(reg_->requests().size(), 2u);
  EXPECT_FALSE(reg_->approved_at("ApprovalKey0001").has_value());
  // The owner approves through the request token the device held at the time...
  const Key* approved = reg_->approve(second);
  ASSERT_NE(approved, nullptr);
  EXPECT_EQ(approved->key, "ApprovalKey0001");
  EXPECT_EQ(reg_->approved_at("ApprovalKey0001"), clock_.unix_seconds());
  // ...but the device has already thrown it away: its next request token is granted, as is the other's.
  const std::string third = ask("sensor", "10.0.0.5:40003");
  EXPECT_NE(reg_->request(second), nullptr) << "an approved key's requests are not replaced";
  EXPECT_FALSE(refused(third));
  EXPECT_FALSE(refused(other));
  // The approval is durable.
  make();
  EXPECT_TRUE(reg_->key_approved(*reg_->key("ApprovalKey0001")));
  EXPECT_FALSE(refused(ask("sensor", "10.0.0.5:40004")));
  // A key is approved by name too; an unknown name approves nothing.
  EXPECT_EQ(reg_->approve("NoSuchKey000000"), nullptr);
  // Withdrawing the approval: new requests wait again, also after a restart.
  EXPECT_TRUE(reg_->deny("ApprovalKey0001"));
  const std::string later = ask("sensor", "10.0.0.5:40005");
  EXPECT_TRUE(refused(later));
  make();
  EXPECT_TRUE(refused(later));
  EXPECT_NE(reg_->approve("ApprovalKey0001"), nullptr);
  EXPECT_FALSE(refused(later));
}

TEST_F(RegistryTest, AnApprovedRequestStoredByAnOlderVersionApprovesItsKey) {
  store_.data[std::string(kStorePrefix) + "rt/OldRequestTok01"] =
      R"({"secret":"","key":"ApprovalKey0001","appid":"myappid","verifier":"dev","mgrev":"NJS1b",)"
      R"("created":1,"approved":true,"peer":"p","access":""})";
  make();
  EXPECT_TRUE(reg_->key_approved(*reg_->key("ApprovalKey0001")));
  EXPECT_TRUE(store_.data.contains(std::string(kStorePrefix) + "ak/ApprovalKey0001"));
}

TEST_F(RegistryTest, TokensOfKeysNoLongerConfiguredAreDropped) {
  auto at = exchange(request("OtherKey0000001")->token);
  ASSERT_TRUE(at);
  cfg_.netpie.apps.pop_back();  // otherapp and its key removed from the config
  make();
  EXPECT_EQ(reg_->access(at->token), nullptr);
  EXPECT_FALSE(store_.data.contains(std::string(kStorePrefix) + "at/" + at->token))
      << "erased from the store";
}

TEST_F(RegistryTest, ReloadDropsRemovedAndReKeyedTokensEndsDisabledOnesKeepsTheRest) {
  auto kept = exchange(request(kKey)->token);
  auto limited = exchange(request("LimitedKey00001")->token);
  auto removed = exchange(request("OtherKey0000001")->token);
  auto rekeyed = exchange(request("ApprovalKey0001")->token);  // not approved: no access token
  EXPECT_FALSE(rekeyed);
  const std::string pending = request("ApprovalKey0001")->token;
  ASSERT_TRUE(kept && limited && removed);

  auto& app = cfg_.netpie.apps[0];
  cfg_.netpie.apps.pop_back();  // otherapp and its key go
  for (auto& k : app.keys) {
    if (k.key == "LimitedKey00001") k.enabled = false;
    if (k.key == "ApprovalKey0001") k.secret = "a-new-secret-0123456789";
    if (k.key == kKey) k.rights.publish = {"/only/this"};
  }
  std::vector<Registry::Ended> ended = reg_->reload();
  std::map<std::string, std::string> why;
  for (const auto& e : ended) why[e.token] = e.why;
  EXPECT_EQ(why.size(), 2u);
  EXPECT_EQ(why[removed->token], "key removed from the configuration");
  EXPECT_EQ(why[limited->token], "key disabled");
  EXPECT_FALSE(why.contains(kept->token)) << "a key that remains keeps its clients";

  EXPECT_EQ(reg_->access(removed->token), nullptr);
  EXPECT_FALSE(store_.data.contains(std::string(kStorePrefix) + "at/" + removed->token));
  ASSERT_NE(reg_->access(limited->token), nullptr) << "a disabled key keeps its tokens";
  EXPECT_FALSE(reg_->key("LimitedKey00001")->enabled);
  EXPECT_EQ(reg_->request(pending), nullptr) << "the request token of a re-keyed key is dropped";
  ASSERT_NE(reg_->access(kept->token), nullptr);
  EXPECT_EQ(reg_->key(kKey)->rights.publish, std::vector<std::string>{"/myappid/only/this"});
  EXPECT_FALSE(reg_->has_app("otherapp"));
  EXPECT_EQ(reg_->key("OtherKey0000001"), nullptr);
}

TEST_F(RegistryTest, RevocationKeepsATombstoneAndTellsTheListener) {
  auto at = exchange(request(kKey)->token);
  std::vector<std::string> told;
  reg_->set_revocation_listener([&](const std::string& t) { told.push_back(t); });
  EXPECT_TRUE(reg_->revoke(at->token));
  EXPECT_FALSE(reg_->revoke(at->token));
  EXPECT_EQ(told, std::vector<std::string>{at->token});
  EXPECT_EQ(reg_->live_tokens(kKey), 0u);
  make();
  ASSERT_NE(reg_->access(at->token), nullptr);
  EXPECT_TRUE(reg_->access(at->token)->revoked);
  // Forgotten after 30 days.
  clock_.advance(31LL * 24 * 3600 * 1000);
  reg_->sweep();
  EXPECT_EQ(reg_->access(at->token), nullptr);
}

TEST_F(RegistryTest, ExpiryOfRequestTokensAndUnusedSessionTokens) {
  const std::string rt = request(kKey)->token;
  auto session = exchange(request("SessionKey00001")->token);
  auto used = exchange(request("SessionKey00001")->token);
  reg_->mark_used(used->token);
  clock_.advance((86400 + 1) * 1000LL);
  reg_->sweep();
  EXPECT_EQ(reg_->request(rt), nullptr);
  EXPECT_EQ(reg_->access(session->token), nullptr);
  EXPECT_NE(reg_->access(used->token), nullptr) << "a session token in use lives until its disconnect";
}

TEST_F(RegistryTest, RequestTokenBound) {
  cfg_.netpie.max_request_tokens = 2;
  make();
  request(kKey);
  request(kKey);
  auto third = reg_->issue_request(*reg_->key(kKey), {"", "myappid", "NJS1b", "NJS1b"}, "p", false);
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.error(), Registry::RequestError::TooMany);
  clock_.advance((86400 + 1) * 1000LL);  // the old ones expire and make room
  EXPECT_TRUE(reg_->issue_request(*reg_->key(kKey), {"", "myappid", "NJS1b", "NJS1b"}, "p", false).ok());
}

TEST_F(RegistryTest, ReplayCacheRemembersSignaturesForTheWindow) {
  EXPECT_FALSE(reg_->replayed("sig1", kVectorTime));
  EXPECT_TRUE(reg_->replayed("sig1", kVectorTime));
  EXPECT_FALSE(reg_->replayed("sig2", kVectorTime));
  clock_.advance(902'000);  // past the skew: the timestamp would be refused anyway
  EXPECT_FALSE(reg_->replayed("sig1", kVectorTime + 902));
}

TEST(Rights, FilterCoverage) {
  EXPECT_TRUE(filter_covers("/a/#", "/a/#"));
  EXPECT_TRUE(filter_covers("/a/#", "/a"));
  EXPECT_TRUE(filter_covers("/a/#", "/a/+/c"));
  EXPECT_TRUE(filter_covers("/a/+", "/a/b"));
  EXPECT_TRUE(filter_covers("/a/+", "/a/+"));
  EXPECT_FALSE(filter_covers("/a/+", "/a/#"));
  EXPECT_FALSE(filter_covers("/a/+", "/a/b/c"));
  EXPECT_FALSE(filter_covers("/a/b", "/a/+"));
  EXPECT_FALSE(filter_covers("/a/#", "/b/#"));
  EXPECT_FALSE(filter_covers("/a/b", "/a"));
}

TEST(Rights, WhatAMicrogearMayDo) {
  Rights all{{"/app/#"}, {"/app/#"}, 2};
  EXPECT_TRUE(may_publish("app", all, "/app/x"));
  EXPECT_TRUE(may_publish("app", all, "/app/@setalias/x"));
  EXPECT_TRUE(may_publish("app", all, "/app/@writepostbox/b"));
  EXPECT_FALSE(may_publish("app", all, "/app/&present"));
  EXPECT_FALSE(may_publish("app", all, "/other/x"));
  EXPECT_FALSE(may_publish("app", all, "/app"));
  EXPECT_FALSE(may_publish("app", all, "app/x"));
  EXPECT_FALSE(may_publish("app", all, "/apple/x")) << "an AppID that extends ours is another app";
  EXPECT_TRUE(may_subscribe("app", all, "/app/#"));
  EXPECT_TRUE(may_subscribe("app", all, "/app/&present"));
  EXPECT_TRUE(may_subscribe("app", all, "/&id/TOKEN/#"));
  EXPECT_TRUE(may_subscribe("app", all, "/app/&id/TOKEN/#"));
  EXPECT_FALSE(may_subscribe("app", all, "/&id/+/#"));
  EXPECT_FALSE(may_subscribe("app", all, "/&id/#"));
  EXPECT_FALSE(may_subscribe("app", all, "#"));
  EXPECT_FALSE(may_subscribe("app", all, "/+/x"));
  Rights sensors{{"/app/sensors/#"}, {"/app/cmd"}, 0};
  EXPECT_TRUE(may_publish("app", sensors, "/app/sensors/t"));
  EXPECT_FALSE(may_publish("app", sensors, "/app/cmd"));
  EXPECT_FALSE(may_publish("app", sensors, "/app/@writepostbox/b")) << "postbox writes need /@postbox/<box>";
  EXPECT_TRUE(may_subscribe("app", sensors, "/app/cmd"));
  EXPECT_FALSE(may_subscribe("app", sensors, "/app/+"));
  EXPECT_TRUE(may_subscribe("app", sensors, "/app/&absent"));
}

TEST(Postboxes, FifoTagsBoundsAndRestore) {
  config::Netpie cfg;
  cfg.postbox_max_messages = 3;
  cfg.postbox_max_bytes = 10;
  ManualClock clock;
  MemoryStore store;
  Postboxes pb(cfg, clock, &store);
  std::vector<std::optional<Postboxes::WriteError>> results;
  auto rec = [&](std::optional<Postboxes::WriteError> e) { results.push_back(e); };
  pb.write("app", "b", "aa", "", rec);
  pb.write("app", "b", "bb", "t", rec);
  pb.write("app", "c", "cccc", "", rec);
  pb.write("app", "c", "ddd", "", rec);  // 11 bytes in all: over the byte bound
  ASSERT_EQ(results.size(), 4u);
  EXPECT_FALSE(results[0] || results[1] || results[2]);
  EXPECT_EQ(results[3], Postboxes::WriteError::Full);
  EXPECT_EQ(pb.bytes(), 8u);
  Postboxes again(cfg, clock, &store);
  EXPECT_EQ(again.load(store.entries()), 3u);
  EXPECT_EQ(again.read("app", "b", "t")->msg, "bb");
  EXPECT_EQ(again.read("app", "b")->msg, "aa");
  EXPECT_FALSE(again.read("app", "b").has_value());
  EXPECT_EQ(again.read("app", "c")->msg, "cccc");
  EXPECT_TRUE(store.data.empty()) << "read messages are erased from the store";
  EXPECT_TRUE(Postboxes::valid_name("box-1"));
  EXPECT_FALSE(Postboxes::valid_name(""));
  EXPECT_FALSE(Postboxes::valid_name("a/b"));
  EXPECT_FALSE(Postboxes::valid_name("a+"));
  // Binary payloads survive the store format.
  const std::string binary("\0\n\xff\n", 4);
  again.write("app", "bin", binary, "", rec);
  Postboxes third(cfg, clock, &store);
  third.load(store.entries());
  EXPECT_EQ(third.read("app", "bin")->msg, binary);
}

}  // namespace
}  // namespace gw::netpie::testing
