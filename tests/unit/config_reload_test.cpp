// plan_reload(): which changes SIGHUP applies under connected clients and which wait for a restart, and
// that the effective configuration keeps the running values of the latter.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "gateway/config/reload.hpp"

namespace gw::config {
namespace {

Config load(const std::string& yaml) {
  auto r = load_string(yaml, "t.yaml");
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? r.value() : Config{};
}

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

const std::string kHash =
    "pbkdf2-sha256$1000$bmV0cGllLWVkZ2Utc2FsdA==$I2HHghzUDjyYGR5yWvyn8DvehH73BljPR9pUYwLoeFI=";

const std::string kUplink = R"(
uplinks:
  - name: cloud
    host: cloud.example
    tls: {enabled: false}
    up:
      - {filter: "sensors/#", prefix: "gw1/"}
    down:
      - {filter: "cmd/#", strip: "cmd/", prefix: "local/cmd/"}
)";

TEST(ReloadPlan, SameFileChangesNothing) {
  Config c = load("log: {level: info}\n" + kUplink);
  ReloadPlan p = plan_reload(c, c);
  EXPECT_FALSE(p.changed());
  EXPECT_EQ(p.summary(), "no changes applied");
  EXPECT_EQ(p.effective, c);
}

TEST(ReloadPlan, LogSectionIsReloaded) {
  Config a = load("log: {level: info}\n");
  Config b = load("log: {level: debug, output: file, file: /tmp/x.log, max_lines_per_second: 5, burst: 9}\n");
  ReloadPlan p = plan_reload(a, b);
  EXPECT_TRUE(p.log);
  EXPECT_TRUE(p.restart.empty());
  EXPECT_EQ(p.effective.log_level, "debug");
  EXPECT_EQ(p.effective.log_output, "file");
  EXPECT_EQ(p.effective.log_file, "/tmp/x.log");
  EXPECT_EQ(p.effective.log_max_lines_per_second, 5u);
  EXPECT_EQ(p.effective.log_burst, 9u);
  EXPECT_EQ(p.summary(), "log");
}

TEST(ReloadPlan, UsersAreReloaded) {
  Config a = load("auth: {anonymous: deny}\n");
  Config b =
      load("auth:\n  anonymous: deny\n  users:\n    - {username: alice, password_hash: \"" + kHash + "\"}\n");
  ReloadPlan p = plan_reload(a, b);
  EXPECT_TRUE(p.auth);
  EXPECT_FALSE(p.limits);
  EXPECT_TRUE(p.restart.empty());
  ASSERT_EQ(p.effective.auth.users.size(), 1u);
  EXPECT_EQ(p.effective.auth.users[0].username, "alice");
}

TEST(ReloadPlan, ListenerStoreAndStateDirNeedARestartAndKeepTheirRunningValues) {
  Config a = load("listeners: [{name: mqtt, port: 1883}]\nstate_dir: /a\nstore: {synchronous: normal}\n");
  Config b = load(
      "listeners: [{name: mqtt, port: 1884}]\nstate_dir: /b\nstore: {synchronous: full}\n"
      "http: {max_connections: 9}\nsys_interval: 3\n");
  ReloadPlan p = plan_reload(a, b);
  EXPECT_TRUE(has(p.restart, "listeners"));
  EXPECT_TRUE(has(p.restart, "state_dir"));
  EXPECT_TRUE(has(p.restart, "store"));
  EXPECT_TRUE(has(p.restart, "http"));
  EXPECT_TRUE(has(p.restart, "sys_interval"));
  EXPECT_EQ(p.effective.listeners[0].port, 1883);
  EXPECT_EQ(p.effective.state_dir, "/a");
  EXPECT_EQ(p.effective.store.synchronous, "normal");
  EXPECT_EQ(p.effective.sys_interval_s, 10u);
  EXPECT_EQ(p.summary(), "no changes applied");
  // The next reload of the same file reports them again: they still differ from what runs.
  EXPECT_EQ(plan_reload(p.effective, b).restart, p.restart);
}

TEST(ReloadPlan, LimitsPromisedInConnackWaitForARestart) {
  Config a = load("limits: {max_queued_messages: 10, receive_maximum: 20}\n");
  Config b = load("limits: {max_queued_messages: 30, receive_maximum: 5, topic_alias_maximum: 2}\n");
  ReloadPlan p = plan_reload(a, b);
  EXPECT_TRUE(p.limits);
  EXPECT_EQ(p.effective.limits.max_queued_messages, 30u);
  EXPECT_EQ(p.effective.limits.receive_maximum, 20);
  EXPECT_EQ(p.effective.limits.topic_alias_maximum, 16);
  EXPECT_TRUE(has(p.restart, "limits.receive_maximum"));
  EXPECT_TRUE(has(p.restart, "limits.topic_alias_maximum"));
  EXPECT_FALSE(has(p.restart, "limits.max_packet_size"));
}

TEST(ReloadPlan, NetpieAppsReloadButEnabledNeedsARestart) {
  const std::string app = R"(
  apps:
    - appid: App1
      keys:
        - {key: k1, secret: s1}
)";
  Config a = load("netpie:\n  enabled: true\n" + app);
  Config b = load("netpie:\n  enabled: true\n  apps: []\n");
  ReloadPlan p = plan_reload(a, b);
  EXPECT_TRUE(p.netpie);
  EXPECT_TRUE(p.restart.empty());
  EXPECT_TRUE(p.effective.netpie.apps.empty());

  Config off = load("netpie:\n  enabled: false\n" + app);
  ReloadPlan q = plan_reload(a, off);
  EXPECT_TRUE(has(q.restart, "netpie.enabled"));
  EXPECT_TRUE(q.effective.netpie.enabled) << "keeps running until the restart";
  EXPECT_FALSE(q.netpie);

  // With the endpoint off, its apps are taken over but nothing is applied.
  Config c = load("netpie:\n  enabled: false\n");
  ReloadPlan r = plan_reload(c, off);
  EXPECT_FALSE(r.netpie);
  EXPECT_EQ(r.effective.netpie.apps.size(), 1u);
}

TEST(ReloadPlan, RelayRulesReloadEndpointAndCredentialsDoNot) {
  Config a = load(kUplink);
  std::string rules = kUplink;
  rules.replace(rules.find("cmd/#\", strip"), 5, "ctl/#");
  rules.replace(rules.find("gw1/"), 4, "gw2/");
  Config b = load(rules);
  ReloadPlan p = plan_reload(a, b);
  ASSERT_EQ(p.uplink_rules.size(), 1u);
  EXPECT_EQ(p.uplink_rules[0], 0u);
  EXPECT_TRUE(p.outbox_routes) << "an up rule changed";
  EXPECT_TRUE(p.restart.empty());
  EXPECT_EQ(p.effective.uplinks[0].down[0].filter, "ctl/#");
  EXPECT_EQ(p.effective.uplinks[0].up[0].prefix, "gw2/");
  EXPECT_EQ(p.summary(), "outbox routes, relay rules of cloud");

  std::string moved = kUplink;
  moved.replace(moved.find("cloud.example"), 13, "other.example");
  moved += "    password: secret\n";
  ReloadPlan q = plan_reload(a, load(moved));
  EXPECT_TRUE(q.uplink_rules.empty());
  EXPECT_TRUE(has(q.restart, "uplinks[0] (cloud).host"));
  EXPECT_TRUE(has(q.restart, "uplinks[0] (cloud).password"));
  EXPECT_EQ(q.effective.uplinks[0].host, "cloud.example");

  ReloadPlan r = plan_reload(a, load(""));
  EXPECT_TRUE(has(r.restart, "uplinks (added, removed or renamed)"));
  EXPECT_EQ(r.effective.uplinks.size(), 1u);
}

TEST(ReloadPlan, OutboxFiltersChangeTheRoutes) {
  Config a = load("store: {outbox: {filters: [\"a/#\"]}}\n");
  Config b = load("store: {outbox: {filters: [\"b/#\"]}}\n");
  ReloadPlan p = plan_reload(a, b);
  EXPECT_TRUE(p.outbox_routes);
  EXPECT_TRUE(p.restart.empty());
  EXPECT_EQ(p.effective.store.outbox_filters, std::vector<std::string>{"b/#"});
}

}  // namespace
}  // namespace gw::config
