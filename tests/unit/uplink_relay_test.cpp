// Relay rules (protocols/uplink/relay): topic rewriting up and down, first match wins, fallbacks.
#include "protocols/uplink/relay.hpp"

#include <gtest/gtest.h>

#include <string>

namespace gw::uplink {
namespace {

TEST(Relay, RewriteStripsOnlyALeadingMatchThenPrefixes) {
  EXPECT_EQ(rewrite("site/a/temp", "site/", "/app/"), "/app/a/temp");
  EXPECT_EQ(rewrite("other/a", "site/", "/app/"), "/app/other/a");  // strip does not apply
  EXPECT_EQ(rewrite("x/site/a", "site/", ""), "x/site/a");          // only at the start
  EXPECT_EQ(rewrite("a/b", "", ""), "a/b");
}

TEST(Relay, RewriteRefusesAnEmptyResult) {
  EXPECT_EQ(rewrite("site/", "site/", ""), std::nullopt);
  EXPECT_EQ(rewrite("site/", "site/", "p"), "p");
}

TEST(Relay, RewriteRefusesATooLongResult) {
  const std::string topic(65535, 'a');
  EXPECT_EQ(rewrite(topic, "", "p/"), std::nullopt);
}

TEST(Relay, MapUpUsesTheFirstMatchingRule) {
  std::vector<RelayRule> rules{{"alarm/#", "", "/app/alarm/", 1, 0}, {"#", "", "/app/bulk/", 0, 3}};
  auto a = map_up(rules, "unused/", 1, "alarm/fire", 1);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->topic, "/app/alarm/alarm/fire");
  EXPECT_EQ(a->qos, 1);
  auto b = map_up(rules, "unused/", 1, "temp", 1);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->topic, "/app/bulk/temp");
  EXPECT_EQ(b->qos, 0);  // the rule caps the row's QoS
}

TEST(Relay, MapUpFallsBackWhenNoRuleMatches) {
  std::vector<RelayRule> rules{{"alarm/#", "", "/x/", 1, 0}};
  auto m = map_up(rules, "edge/", 0, "temp/1", 1);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->topic, "edge/temp/1");
  EXPECT_EQ(m->qos, 0);
  auto keep = map_up({}, "", 1, "temp/1", 0);
  ASSERT_TRUE(keep);
  EXPECT_EQ(keep->topic, "temp/1");
  EXPECT_EQ(keep->qos, 0);  // never raised above the row's QoS
}

TEST(Relay, WildcardRulesDoNotMatchDollarTopics) {
  std::vector<RelayRule> rules{{"#", "", "up/", 1, 1}};
  auto m = map_up(rules, "fb/", 1, "$SYS/broker/uptime", 0);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->topic, "fb/$SYS/broker/uptime");  // '#' does not match '$' topics (MQTT 4.7.2)
}

TEST(Relay, MapDownNeedsAMatchingRule) {
  std::vector<RelayRule> rules{{"/app/cmd/#", "/app/", "cloud/", 1, 1}};
  EXPECT_EQ(map_down(rules, "/app/cmd/led"), "cloud/cmd/led");
  EXPECT_EQ(map_down(rules, "/app/other"), std::nullopt);
  EXPECT_EQ(map_down({}, "/app/cmd/led"), std::nullopt);
}

TEST(EchoFilter, AnEchoIsRecognisedOnceWithinTheWindow) {
  EchoFilter f(4, 1000);
  f.sent("/app/gearname/a", "hi", 0);
  EXPECT_FALSE(f.is_echo("/app/gearname/a", "other", 10));  // same topic, other payload
  EXPECT_FALSE(f.is_echo("/app/gearname/b", "hi", 10));     // same payload, other topic
  EXPECT_TRUE(f.is_echo("/app/gearname/a", "hi", 10));
  EXPECT_FALSE(f.is_echo("/app/gearname/a", "hi", 20)) << "consumed: the same chat sent again is new";
  f.sent("/app/gearname/a", "late", 0);
  EXPECT_FALSE(f.is_echo("/app/gearname/a", "late", 1001)) << "past the window";
}

TEST(EchoFilter, PastTheCapacityTheOldestIsForgotten) {
  EchoFilter f(3, 1000);
  for (int i = 0; i < 5; ++i) f.sent("t", std::to_string(i), i);
  EXPECT_EQ(f.size(), 3u);
  EXPECT_FALSE(f.is_echo("t", "0", 10));
  EXPECT_FALSE(f.is_echo("t", "1", 10));
  EXPECT_TRUE(f.is_echo("t", "2", 10));
  EXPECT_TRUE(f.is_echo("t", "4", 10));
  f.sent("t", "x", 5000);  // expired entries go when a new one is remembered
  EXPECT_EQ(f.size(), 1u);
}

}  // namespace
}  // namespace gw::uplink
