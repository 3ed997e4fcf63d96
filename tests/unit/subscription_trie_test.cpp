// Subscription trie: matching table, shared groups, removal and pruning.
#include <gtest/gtest.h>

#include <malloc.h>

#include <algorithm>

#include "gateway/broker/session.hpp"
#include "gateway/broker/subscription_trie.hpp"

namespace gw::broker {
namespace {

std::vector<std::string> matches(SubscriptionTrie& t, const std::string& topic) {
  std::vector<std::string> out;
  t.match(
      topic, [&](const SubEntry& e) { out.push_back(e.session->client_id); },
      [&](SharedGroup& g) { out.push_back("group:" + g.name); });
  std::sort(out.begin(), out.end());
  return out;
}

// SubscriptionTrie::cost, what a session is charged per filter, is at least what the trie allocates for a
// filter that shares no node with others (measured with glibc's allocator statistics).
TEST(SubscriptionTrie, CostIsAnUpperBoundOfTheMemoryAFilterTakes) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer replaces malloc: glibc's mallinfo2 counts nothing (the asan preset)";
#endif
  // Built from the target's type sizes: it must hold on 32-bit targets (armhf) as on 64-bit ones. Level
  // names inline in std::string, just past its inline buffer, and long.
  for (const std::string& level : {std::string("x"), std::string(std::string().capacity() + 1, 'y'),
                                   std::string("a-level-name-longer-than-sso-buffers")}) {
    std::string filter = level;
    for (int i = 1; i < 128; ++i) filter += "/" + level;
    SubscriptionTrie t;
    Session s("c");
    const std::size_t before = mallinfo2().uordblks;
    t.add(filter, SubEntry{&s, {}, 0});
    const std::size_t used = mallinfo2().uordblks - before;
    EXPECT_GE(SubscriptionTrie::cost(filter), used) << level;
    EXPECT_LE(SubscriptionTrie::cost(filter), 2 * used) << "a needlessly loose bound: " << level;
    t.remove(filter, &s);
  }
}

TEST(SubscriptionTrie, MatchingTable) {
  struct Row {
    const char* filter;
    const char* topic;
    bool match;
  } rows[] = {
      {"a/b", "a/b", true},       {"a/b", "a/c", false},  {"a/+", "a/b", true},
      {"a/+", "a/b/c", false},    {"a/#", "a", true},     {"a/#", "a/b/c", true},
      {"#", "a/b", true},         {"#", "$SYS/x", false}, {"+/x", "$SYS/x", false},
      {"$SYS/#", "$SYS/x", true}, {"+", "", true},        {"+/+", "/", true},
      {"/+", "/x", true},         {"+", "/x", false},     {"a//b", "a//b", true},
      {"a/+/b", "a//b", true},    {"#", "/", true},       {"a/b/#", "a/b", true},
      {"a/b/#", "a/bc", false},   {"+/#", "a", true},     {"$SYS/+", "$SYS/a", true},
      {"x/+/#", "x/y", true},     {"A", "a", false},      {"a/#", "b/a", false},
  };
  for (const auto& r : rows) {
    SubscriptionTrie t;
    Session s("s");
    t.add(r.filter, SubEntry{&s, {}, 0});
    EXPECT_EQ(!matches(t, r.topic).empty(), r.match) << r.filter << " vs " << r.topic;
  }
}

TEST(SubscriptionTrie, AddReplaceRemoveAndPrune) {
  SubscriptionTrie t;
  Session a("a"), b("b");
  EXPECT_TRUE(t.add("x/+", SubEntry{&a, {}, 0}));
  EXPECT_FALSE(t.add("x/+", SubEntry{&a, {2}, 0}));  // replace
  EXPECT_TRUE(t.add("x/#", SubEntry{&b, {}, 0}));
  EXPECT_TRUE(t.add("$share/g/x/+", SubEntry{&b, {}, 0}));
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(matches(t, "x/y"), (std::vector<std::string>{"a", "b", "group:g"}));
  EXPECT_TRUE(t.remove("x/+", &a));
  EXPECT_FALSE(t.remove("x/+", &a));
  EXPECT_TRUE(t.remove("$share/g/x/+", &b));
  EXPECT_EQ(matches(t, "x/y"), (std::vector<std::string>{"b"}));
  EXPECT_TRUE(t.remove("x/#", &b));
  EXPECT_EQ(t.size(), 0u);
  EXPECT_TRUE(matches(t, "x/y").empty());
}

}  // namespace
}  // namespace gw::broker
