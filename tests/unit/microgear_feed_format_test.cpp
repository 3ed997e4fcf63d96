// Unit tests for the feed wire formats (protocols/microgear/feed_format.*): the REST data= form, the
// @writefeed JSON object and the ESP8266 unquoted-key form, quoted numbers, every refusal with its
// message, and the <n><unit> durations of since and granularity (singular and the plural the Freeboard
// datasource sends).
#include <gtest/gtest.h>

#include "protocols/microgear/feed_format.hpp"

namespace gw::microgear {
namespace {

std::vector<FieldValue> ok(std::string_view text, std::size_t max = 64) {
  auto r = parse_feed_values(text, max);
  EXPECT_TRUE(r) << text << ": " << (r ? "" : r.error());
  return r ? *r : std::vector<FieldValue>{};
}

std::string refused(std::string_view text, std::size_t max = 64) {
  auto r = parse_feed_values(text, max);
  EXPECT_FALSE(r) << text;
  return r ? "" : r.error();
}

TEST(FeedFormat, TheThreeWriteForms) {
  const std::vector<FieldValue> want{{"temp", 25.7}, {"humid", 52.4}};
  EXPECT_EQ(ok("temp:25.7,humid:52.4"), want);              // REST data=, CoAP payload
  EXPECT_EQ(ok(R"({"temp":25.7,"humid":52.4})"), want);     // Node JSON.stringify
  EXPECT_EQ(ok(R"({"temp": 25.7, "humid": 52.4})"), want);  // Python's {"k":v,...} with spaces
  EXPECT_EQ(ok("{temp:25.7,humid:52.4}"), want);            // ESP8266 README
  EXPECT_EQ(ok(" { temp : 25.7 , humid : 52.4 } \n"), want);
  EXPECT_EQ(ok(R"({"temp":"25.7","humid":"52.4"})"), want);  // numbers given as strings
  EXPECT_EQ(ok("a:-1,b:+2,c:1e3,d:.5,e:0"),
            (std::vector<FieldValue>{{"a", -1}, {"b", 2}, {"c", 1000}, {"d", 0.5}, {"e", 0}}));
}

TEST(FeedFormat, RefusalsNameTheFault) {
  EXPECT_EQ(refused(""), "no values: expected field:number pairs");
  EXPECT_EQ(refused("{}"), "no values: expected field:number pairs");
  EXPECT_EQ(refused("temp"), "expected ':' after field 'temp'");
  EXPECT_EQ(refused("temp:abc"), "value of field 'temp' is not a number: 'abc'");
  EXPECT_EQ(refused("temp:"), "value of field 'temp' is not a number: ''");
  EXPECT_EQ(refused("temp:nan"), "value of field 'temp' is not a number: 'nan'");
  EXPECT_EQ(refused("temp:inf"), "value of field 'temp' is not a number: 'inf'");
  EXPECT_EQ(refused("temp:0x10"), "value of field 'temp' is not a number: '0x10'");
  EXPECT_EQ(refused("temp:1e999"), "value of field 'temp' is not a number: '1e999'");
  EXPECT_EQ(refused(R"({"temp":true})"), "value of field 'temp' is not a number: 'true'");
  EXPECT_EQ(refused(R"({"temp":null})"), "value of field 'temp' is not a number: 'null'");
  EXPECT_EQ(refused("temp:1,temp:2"), "field 'temp' given twice");
  EXPECT_EQ(refused("temp:1,"), "a field:number pair expected after ','");
  EXPECT_EQ(refused("temp:1 humid:2"), "expected ',' between field:number pairs");
  EXPECT_EQ(refused("{temp:1"), "expected ',' or '}' after a value");
  EXPECT_EQ(refused("{temp:1} x"), "text after '}'");
  EXPECT_EQ(refused("te mp:1"), "expected ':' after field 'te'");
  EXPECT_EQ(refused("@x:1"), "bad field name '': 1 to 64 of A-Z a-z 0-9 _ . -");
  EXPECT_EQ(refused(R"({"a b":1})"), "bad field name 'a b': 1 to 64 of A-Z a-z 0-9 _ . -");
  EXPECT_EQ(refused(std::string(65, 'x') + ":1"),
            "bad field name 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...': 1 to 64 of A-Z a-z 0-9 _ . -");
  EXPECT_EQ(refused(R"({"temp:1})"), "unterminated field name");
  EXPECT_EQ(refused("a:1,b:2,c:3", 2), "more than 2 fields in one write");
}

TEST(FeedFormat, HugeFieldCountStopsAtTheBound) {
  std::string text;
  for (int i = 0; i < 100000; ++i) text += "f" + std::to_string(i) + ":1,";
  text.pop_back();
  EXPECT_EQ(refused(text, 64), "more than 64 fields in one write");
}

TEST(FeedFormat, Durations) {
  auto d = parse_duration("24hour");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->count, 24);
  EXPECT_EQ(d->unit, TimeUnit::Hour);
  EXPECT_EQ(d->ms(), 86'400'000);
  EXPECT_EQ(parse_duration("10minute")->ms(), 600'000);
  EXPECT_EQ(parse_duration("5minutes")->ms(), 300'000);  // the Freeboard datasource's plural
  EXPECT_EQ(parse_duration("1seconds")->ms(), 1000);
  EXPECT_EQ(parse_duration("2day")->ms(), 2 * 86'400'000ll);
  EXPECT_EQ(parse_duration("1month")->ms(), 30 * 86'400'000ll);
  EXPECT_EQ(parse_duration("1years")->ms(), 360 * 86'400'000ll);
  EXPECT_EQ(parse_duration("1000000year")->count, 1'000'000);
  EXPECT_EQ(unit_plural(TimeUnit::Minute), "minutes");
  for (const char* bad : {"", "hour", "0hour", "-1hour", "1", "1h", "1 hour", "1fortnight", "1000001second",
                          "99999999999999999999hour"}) {
    EXPECT_FALSE(parse_duration(bad)) << bad;
  }
}

TEST(FeedFormat, Names) {
  EXPECT_TRUE(valid_feed_id("farm.feed-1_A"));
  EXPECT_FALSE(valid_feed_id(""));
  EXPECT_FALSE(valid_feed_id("a/b"));
  EXPECT_FALSE(valid_feed_field(std::string(65, 'a')));
}

}  // namespace
}  // namespace gw::microgear
