// The broker's compact session storage: SessionTable (sessions by client id, open addressing with
// backward-shift erase) checked against a std::set through many inserts and erases, and Lazy<C>,
// the containers an idle session does not allocate.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gateway/broker/session.hpp"

namespace gw::broker {
namespace {

TEST(SessionTable, FindsWhatWasInsertedThroughErasesAndGrowth) {
  SessionTable t;
  std::set<std::string> ref;
  std::mt19937 rng(7);
  std::vector<std::string> ids;
  for (int i = 0; i < 3000; ++i) ids.push_back("client-" + std::to_string(i));
  for (int round = 0; round < 6; ++round) {
    std::shuffle(ids.begin(), ids.end(), rng);
    for (const auto& id : ids) {
      if (ref.contains(id)) continue;
      if (rng() % 3 == 0) continue;
      Session* s = t.insert(std::make_unique<Session>(id));
      ASSERT_EQ(s->client_id, id);
      ref.insert(id);
    }
    std::shuffle(ids.begin(), ids.end(), rng);
    for (const auto& id : ids) {
      if (!ref.contains(id) || rng() % 2 == 0) continue;
      Session* s = t.find(id);
      ASSERT_NE(s, nullptr) << id;
      t.erase(s);
      ref.erase(id);
    }
    ASSERT_EQ(t.size(), ref.size());
    for (const auto& id : ids) {
      Session* s = t.find(id);
      ASSERT_EQ(s != nullptr, ref.contains(id)) << id;
      if (s) {
        EXPECT_EQ(s->client_id, id);
      }
    }
    std::size_t seen = 0;
    t.for_each([&](Session& s) {
      EXPECT_TRUE(ref.contains(s.client_id));
      ++seen;
    });
    EXPECT_EQ(seen, ref.size());
  }
  EXPECT_EQ(t.find(""), nullptr);
}

TEST(SessionTable, EmptyTableFindsNothing) {
  SessionTable t;
  EXPECT_EQ(t.find("a"), nullptr);
  EXPECT_EQ(t.size(), 0u);
  t.insert(std::make_unique<Session>("a"));
  t.erase(t.find("a"));
  EXPECT_EQ(t.find("a"), nullptr);
  EXPECT_EQ(t.size(), 0u);
}

TEST(Lazy, EmptyReadsAllocateNothingAndWritesDo) {
  Session s("c");
  EXPECT_TRUE(s.subscriptions.empty());
  EXPECT_EQ(s.subscriptions.size(), 0u);
  EXPECT_EQ(s.subscriptions.begin(), s.subscriptions.end());
  EXPECT_EQ(s.subscriptions.find("a/b"), s.subscriptions.end());
  EXPECT_FALSE(s.subscriptions.contains("a/b"));
  const auto& cs = s.subscriptions;
  EXPECT_EQ(std::distance(cs.begin(), cs.end()), 0);
  EXPECT_FALSE(s.inbound_qos2.contains(std::uint16_t{1}));
  EXPECT_EQ(s.inbound_qos2.find(std::uint16_t{1}), s.inbound_qos2.end());
  EXPECT_EQ(std::find_if(s.inflight.begin(), s.inflight.end(), [](const InflightOut&) { return true; }),
            s.inflight.end());
  EXPECT_TRUE(s.queue.empty());

  s.subscriptions["b"].subscription_id = 2;
  s.subscriptions["a"].subscription_id = 1;
  ASSERT_EQ(s.subscriptions.size(), 2u);
  EXPECT_EQ(s.subscriptions.begin()->first, "a");  // filter order, as std::map
  auto it = s.subscriptions.find(std::string("a"));
  ASSERT_NE(it, s.subscriptions.end());
  s.subscriptions.erase(it);
  EXPECT_FALSE(s.subscriptions.contains("a"));
  EXPECT_TRUE(s.subscriptions.contains("b"));

  s.inbound_qos2[7] = 70;
  EXPECT_TRUE(s.inbound_qos2.contains(std::uint16_t{7}));
  s.inbound_qos2.erase(s.inbound_qos2.find(std::uint16_t{7}));
  EXPECT_TRUE(s.inbound_qos2.empty());

  Delivery d;
  d.qos = 1;
  s.queue.push_back(std::move(d));
  EXPECT_EQ(s.queue.size(), 1u);
  EXPECT_EQ(s.queue.front().qos, 1);
  s.queue.pop_front();
  EXPECT_TRUE(s.queue.empty());
}

}  // namespace
}  // namespace gw::broker
