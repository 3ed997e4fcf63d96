// The bounded table of devices with retained presence upstream (protocols/uplink/presence_table): the
// bound holds past it under both full policies, the longest absent device is the one evicted, online
// devices are never evicted, and a device whose session ended leaves the table.
#include "protocols/uplink/presence_table.hpp"

#include <gtest/gtest.h>

namespace gw::uplink {
namespace {

TEST(PresenceTable, PolicyNames) {
  EXPECT_EQ(parse_presence_full_policy("evict_oldest_absent"), PresenceFullPolicy::EvictOldestAbsent);
  EXPECT_EQ(parse_presence_full_policy("unretained"), PresenceFullPolicy::Unretained);
  EXPECT_FALSE(parse_presence_full_policy("drop_oldest").has_value());
}

TEST(PresenceTable, PastTheBoundTheLongestAbsentDeviceIsEvicted) {
  PresenceTable t(3, PresenceFullPolicy::EvictOldestAbsent);
  for (const char* id : {"a", "b", "c"}) {
    auto d = t.retain(id, true);
    EXPECT_TRUE(d.retain);
    EXPECT_EQ(d.evicted, "");
  }
  // b goes away first, then a; c stays online.
  EXPECT_TRUE(t.retain("b", false).retain);
  EXPECT_TRUE(t.retain("a", false).retain);
  auto d = t.retain("d", true);
  EXPECT_TRUE(d.retain);
  EXPECT_EQ(d.evicted, "b") << "b has been absent longest";
  EXPECT_EQ(t.size(), 3u);
  // a comes back and goes again: now it is the most recent absence, so d's absence is older.
  t.retain("a", true);
  t.retain("d", false);
  t.retain("a", false);
  d = t.retain("e", false);
  EXPECT_EQ(d.evicted, "d");
  // Events of counted devices never evict anyone.
  d = t.retain("c", false);
  EXPECT_TRUE(d.retain);
  EXPECT_EQ(d.evicted, "");
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(t.evicted(), 2u);
}

TEST(PresenceTable, OnlineDevicesAreNeverEvicted) {
  PresenceTable t(2, PresenceFullPolicy::EvictOldestAbsent);
  t.retain("a", true);
  t.retain("b", true);
  auto d = t.retain("c", true);
  EXPECT_FALSE(d.retain) << "every counted device is online: the new one goes up not retained";
  EXPECT_EQ(d.evicted, "");
  EXPECT_EQ(t.size(), 2u);
  // Once one of them is absent, the next event of c takes its place.
  t.retain("a", false);
  d = t.retain("c", false);
  EXPECT_TRUE(d.retain);
  EXPECT_EQ(d.evicted, "a");
  EXPECT_EQ(t.size(), 2u);
}

TEST(PresenceTable, UnretainedPolicyKeepsTheTableAsItIs) {
  PresenceTable t(2, PresenceFullPolicy::Unretained);
  t.retain("a", false);
  t.retain("b", false);
  for (int i = 0; i < 100; ++i) {
    auto d = t.retain("gen-" + std::to_string(i), i % 2 == 0);
    EXPECT_FALSE(d.retain);
    EXPECT_EQ(d.evicted, "");
  }
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(t.evicted(), 0u);
  EXPECT_TRUE(t.retain("a", true).retain);
}

TEST(PresenceTable, AnEndedSessionLeavesTheTableAndMakesRoom) {
  PresenceTable t(2, PresenceFullPolicy::Unretained);
  t.retain("a", false);
  t.retain("b", true);
  EXPECT_FALSE(t.retain("c", true).retain);
  EXPECT_TRUE(t.forget("a"));
  EXPECT_FALSE(t.forget("a"));
  EXPECT_FALSE(t.forget("never-seen"));
  EXPECT_TRUE(t.retain("c", true).retain);
  EXPECT_EQ(t.size(), 2u);
  // A forgotten absent device is no longer a candidate for eviction.
  PresenceTable e(2, PresenceFullPolicy::EvictOldestAbsent);
  e.retain("x", false);
  e.retain("y", false);
  e.forget("x");
  e.retain("z", true);
  auto d = e.retain("w", true);
  EXPECT_EQ(d.evicted, "y");
}

}  // namespace
}  // namespace gw::uplink
