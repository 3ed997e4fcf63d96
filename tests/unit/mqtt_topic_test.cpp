// Topic names, topic filters, shared-subscription parsing and filter matching, as tables. Rows marked
// "spec" are the examples of MQTT 3.1.1 §4.7 and MQTT 5.0 §4.7-§4.8.
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "protocols/mqtt/topic.hpp"

namespace gw::mqtt {
namespace {

struct MatchRow {
  const char* filter;
  const char* topic;
  bool matches;
};

const MatchRow kMatches[] = {
    // Exact and multi-level wildcard.
    {"sport/tennis/player1", "sport/tennis/player1", true},
    {"sport/tennis/player1", "sport/tennis/player2", false},
    {"sport/tennis/player1/#", "sport/tennis/player1", true},                  // spec
    {"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},          // spec
    {"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},  // spec
    {"sport/#", "sport", true},                                                // spec
    {"sport/tennis/#", "sport/tennis", true},
    {"sport/tennis/#", "sport/tennisX", false},
    {"#", "sport/tennis", true},
    {"#", "a", true},
    {"#", "/", true},
    {"/#", "/", true},
    {"/#", "a", false},
    {"a/b/#", "a/b/", true},
    {"a/#", "a//b", true},
    // Single-level wildcard.
    {"sport/tennis/+", "sport/tennis/player1", true},           // spec
    {"sport/tennis/+", "sport/tennis/player1/ranking", false},  // spec
    {"sport/tennis/+", "sport/tennis", false},
    {"sport/+", "sport", false},  // spec
    {"sport/+", "sport/", true},  // spec: '+' matches an empty level
    {"+/+", "/finance", true},    // spec
    {"/+", "/finance", true},     // spec
    {"+", "/finance", false},     // spec
    {"+", "finance", true},
    {"+", "/", false},
    {"+/+", "/", true},
    {"a/+/b", "a//b", true},
    {"+/+/+", "a/b/c", true},
    {"+/+/+", "a/b", false},
    {"+/+", "a/b/c", false},
    {"+/tennis/#", "sport/tennis/player1", true},  // spec
    {"+/tennis/#", "sport/tennis", true},
    {"a/+/#", "a/b", true},
    // Levels compare exactly.
    {"a/b", "a/b/c", false},
    {"a/b/c", "a/b", false},
    {"a//b", "a//b", true},
    {"/", "/", true},
    {"A", "a", false},
    {"a ", "a", false},
    {"\xE0\xB8\x81/+", "\xE0\xB8\x81/\xE0\xB8\x82", true},
    // '$' topics (MQTT 5.0 §4.7.2).
    {"#", "$SYS/broker/load", false},                      // spec
    {"+/monitor/Clients", "$SYS/monitor/Clients", false},  // spec
    {"$SYS/#", "$SYS/monitor/Clients", true},              // spec
    {"$SYS/monitor/+", "$SYS/monitor/Clients", true},      // spec
    {"$SYS/#", "$SYS", true},
    {"$SYS/+", "$SYS/x", true},
    {"+", "$SYS", false},
    {"#", "$", false},
    {"a/+", "a/$b", true},  // the rule is about the first character only
    {"a/#", "a/$b", true},
    {"a/$b", "a/$b", true},
};

TEST(MqttTopicMatches, Table) {
  for (const auto& row : kMatches) {
    EXPECT_EQ(topic_matches(row.filter, row.topic), row.matches)
        << "filter '" << row.filter << "' topic '" << row.topic << "'";
  }
  EXPECT_GE(std::size(kMatches), 40u);
}

TEST(MqttTopicName, Validity) {
  EXPECT_TRUE(is_valid_topic_name("a"));
  EXPECT_TRUE(is_valid_topic_name("/"));
  EXPECT_TRUE(is_valid_topic_name("a/b/c"));
  EXPECT_TRUE(is_valid_topic_name("a//b"));
  EXPECT_TRUE(is_valid_topic_name("$SYS/x"));
  EXPECT_TRUE(is_valid_topic_name(" "));
  EXPECT_TRUE(is_valid_topic_name("\xE0\xB8\x81"));
  EXPECT_TRUE(is_valid_topic_name(std::string(65'535, 'a')));
  EXPECT_FALSE(is_valid_topic_name(std::string(65'536, 'a')));
  EXPECT_FALSE(is_valid_topic_name(""));
  EXPECT_FALSE(is_valid_topic_name("a+"));
  EXPECT_FALSE(is_valid_topic_name("+"));
  EXPECT_FALSE(is_valid_topic_name("a/#"));
  EXPECT_FALSE(is_valid_topic_name(std::string("a\0b", 3)));
  EXPECT_FALSE(is_valid_topic_name("a\xC0\x80"));
  // Control characters U+0001..U+001F and U+007F..U+009F (issue 11), at every place in the string.
  for (const char* c : {"\x01", "\x1F", "\x7F", "\xC2\x80", "\xC2\x9F"}) {
    for (const std::string& t :
         {std::string(c), "a/" + std::string(c), "abcdefgh/" + std::string(c) + "/z"}) {
      EXPECT_FALSE(is_valid_topic_name(t)) << t;
      EXPECT_FALSE(is_valid_filter(t)) << t;
      EXPECT_TRUE(has_control_character(t)) << t;
    }
  }
  EXPECT_TRUE(is_valid_topic_name("a \xC2\xA0 ~"));  // space, U+00A0 and '~' are not controls
  EXPECT_FALSE(has_control_character("abcdefghijklmnop\xC2\xA0~ "));
}

struct FilterRow {
  const char* filter;
  bool valid;
};

const FilterRow kFilters[] = {
    {"#", true},
    {"+", true},
    {"a/#", true},
    {"a/+/b", true},
    {"+/+", true},
    {"/#", true},
    {"/", true},
    {"a//b", true},
    {"$SYS/#", true},
    {"+/tennis/#", true},
    {"", false},
    {"a#", false},
    {"a/#/b", false},
    {"#/a", false},
    {"##", false},
    {"a+", false},
    {"a/b+", false},
    {"++", false},
    {"a/+b/c", false},
    {"a\xC0\x80", false},
    // Shared subscriptions (MQTT 5.0 §4.8.2).
    {"$share/g/a/b", true},
    {"$share/g/#", true},
    {"$share/g/+/x", true},
    {"$share/g//", true},
    {"$share/g/$share/h/x", true},  // the inner "$share" is an ordinary level
    {"$share/g", false},
    {"$share/g/", false},
    {"$share//a", false},
    {"$share/g+/a", false},
    {"$share/g#/a", false},
    {"$share/g/a#", false},
    {"$share/", false},
    {"$share", true},       // not a shared subscription: an ordinary one-level filter
    {"$sharex/g/a", true},  // likewise
};

// The broker's shape bound (limits.max_topic_levels / max_topic_length, issue 11).
TEST(MqttTopicBounds, LevelsAndLength) {
  EXPECT_TRUE(within_topic_bounds("", 1, 10));
  EXPECT_TRUE(within_topic_bounds("a", 1, 1));
  EXPECT_FALSE(within_topic_bounds("ab", 1, 1));
  EXPECT_FALSE(within_topic_bounds("a/b", 1, 10));
  EXPECT_TRUE(within_topic_bounds("a/b", 2, 10));
  EXPECT_TRUE(within_topic_bounds("/", 2, 10));
  EXPECT_FALSE(within_topic_bounds("//", 2, 10));
  std::string deep = "x";
  for (int i = 1; i < 128; ++i) deep += "/x";
  EXPECT_TRUE(within_topic_bounds(deep, 128, 65535));
  EXPECT_FALSE(within_topic_bounds(deep + "/", 128, 65535));
  EXPECT_FALSE(within_topic_bounds(std::string(30'000, '/'), 128, 65535));
}

TEST(MqttTopicFilter, Validity) {
  for (const auto& row : kFilters) {
    EXPECT_EQ(is_valid_filter(row.filter), row.valid) << "'" << row.filter << "'";
  }
  EXPECT_FALSE(is_valid_filter(std::string("a\0", 2)));
  EXPECT_TRUE(is_valid_filter(std::string(65'535, 'a')));
  EXPECT_FALSE(is_valid_filter(std::string(65'536, 'a')));
}

TEST(MqttTopicShared, Parse) {
  auto s = parse_shared("$share/group/a/b");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->group, "group");
  EXPECT_EQ(s->filter, "a/b");

  s = parse_shared("$share/g/#");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->group, "g");
  EXPECT_EQ(s->filter, "#");

  s = parse_shared("$share/g");  // malformed, but still a shared subscription (is_valid_filter refuses it)
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->group, "g");
  EXPECT_EQ(s->filter, "");

  EXPECT_FALSE(parse_shared("a/b").has_value());
  EXPECT_FALSE(parse_shared("$share").has_value());
  EXPECT_FALSE(parse_shared("$sharex/g/a").has_value());
  EXPECT_FALSE(parse_shared("$SHARE/g/a").has_value());
  EXPECT_FALSE(parse_shared("").has_value());
}

TEST(MqttTopicShared, InnerFilterMatches) {
  const auto s = parse_shared("$share/g/sensors/+/temp");
  ASSERT_TRUE(s.has_value());
  EXPECT_TRUE(topic_matches(s->filter, "sensors/room1/temp"));
  EXPECT_FALSE(topic_matches(s->filter, "sensors/room1/humidity"));
}

}  // namespace
}  // namespace gw::mqtt
