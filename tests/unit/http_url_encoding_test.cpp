// Percent-encoding tables (RFC 3986 §2 / RFC 5849 §3.6), tolerant decoding, and query/form parsing.
// The 256-octet table was generated independently with Python's urllib.parse.quote(safe='-._~').
#include <gtest/gtest.h>

#include <string>

#include "protocols/http/url_encoding.hpp"

namespace gw::http {
namespace {

TEST(PercentEncode, AllOctetsMatchPythonQuote) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  const std::string expected =
      "%00%01%02%03%04%05%06%07%08%09%0A%0B%0C%0D%0E%0F%10%11%12%13%14%15%16%17%18%19%1A%1B%1C%1D%1E%1F%20%"
      "21%22%23%"
      "24%25%26%27%28%29%2A%2B%2C-.%2F0123456789%3A%3B%3C%3D%3E%3F%40ABCDEFGHIJKLMNOPQRSTUVWXYZ%5B%5C%5D%5E_%"
      "60abcdefghijklmnopqrstuvwxyz%7B%7C%7D~%7F%80%81%82%83%84%85%86%87%88%89%8A%8B%8C%8D%8E%8F%90%91%92%93%"
      "94%95%"
      "96%97%98%99%9A%9B%9C%9D%9E%9F%A0%A1%A2%A3%A4%A5%A6%A7%A8%A9%AA%AB%AC%AD%AE%AF%B0%B1%B2%B3%B4%B5%B6%B7%"
      "B8%B9%"
      "BA%BB%BC%BD%BE%BF%C0%C1%C2%C3%C4%C5%C6%C7%C8%C9%CA%CB%CC%CD%CE%CF%D0%D1%D2%D3%D4%D5%D6%D7%D8%D9%DA%DB%"
      "DC%DD%"
      "DE%DF%E0%E1%E2%E3%E4%E5%E6%E7%E8%E9%EA%EB%EC%ED%EE%EF%F0%F1%F2%F3%F4%F5%F6%F7%F8%F9%FA%FB%FC%FD%FE%FF";
  EXPECT_EQ(percent_encode(all), expected);
}

TEST(PercentEncode, Rfc5849Examples) {
  // RFC 5849 §3.6 rules as applied in §3.4.1.3.2's example and NETPIE's endpoint (docs/netpie-protocol.md
  // §3.3).
  EXPECT_EQ(percent_encode("Ladies + Gentlemen"), "Ladies%20%2B%20Gentlemen");
  EXPECT_EQ(percent_encode("An encoded string!"), "An%20encoded%20string%21");
  EXPECT_EQ(percent_encode("Dogs, Cats & Mice"), "Dogs%2C%20Cats%20%26%20Mice");
  EXPECT_EQ(percent_encode("\xE2\x98\x83"), "%E2%98%83");  // U+2603 as UTF-8
  EXPECT_EQ(percent_encode("pie://gb.netpie.io:1883"), "pie%3A%2F%2Fgb.netpie.io%3A1883");
  EXPECT_EQ(percent_encode(""), "");
}

TEST(PercentDecode, HexOfEitherCaseAndTolerantOfBadEscapes) {
  EXPECT_EQ(percent_decode("%41%4a%4A"), "AJJ");
  EXPECT_EQ(percent_decode("100%"), "100%");
  EXPECT_EQ(percent_decode("%zz%4"), "%zz%4");
  EXPECT_EQ(percent_decode("%%41"), "%A");
  EXPECT_EQ(percent_decode("%00", PlusMeans::Plus), std::string(1, '\0'));
}

TEST(PercentDecode, PlusIsSpaceOnlyWhenAsked) {
  EXPECT_EQ(percent_decode("a+b%2Bc", PlusMeans::Plus), "a+b+c");
  EXPECT_EQ(percent_decode("a+b%2Bc", PlusMeans::Space), "a b+c");
}

TEST(PercentDecode, RoundTripsEveryOctet) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  EXPECT_EQ(percent_decode(percent_encode(all), PlusMeans::Space), all);
}

TEST(ParseQuery, OrderDuplicatesEmptiesAndDecoding) {
  const Params p = parse_query("a=1&b=&c&&a=2&d=x%20y+z&%3D=%26&=v");
  const Params expected{{"a", "1"}, {"b", ""}, {"c", ""}, {"a", "2"}, {"d", "x y z"}, {"=", "&"}, {"", "v"}};
  EXPECT_EQ(p, expected);
  ASSERT_NE(find_param(p, "a"), nullptr);
  EXPECT_EQ(*find_param(p, "a"), "1");
  EXPECT_EQ(find_param(p, "missing"), nullptr);
  EXPECT_TRUE(parse_query("").empty());
  EXPECT_TRUE(parse_query("&&&").empty());
}

TEST(ParseQuery, ValueMayContainEquals) {
  const Params p = parse_query("oauth_signature=abc=&x==");
  EXPECT_EQ(p, (Params{{"oauth_signature", "abc="}, {"x", "="}}));
}

TEST(BuildQuery, EncodesBothSidesAndRoundTrips) {
  const Params p{{"scope", ""}, {"appid", "my app"}, {"k&=", "v+/"}};
  const std::string q = build_query(p);
  EXPECT_EQ(q, "scope=&appid=my%20app&k%26%3D=v%2B%2F");
  EXPECT_EQ(parse_query(q), p);
}

TEST(PathSegments, DecodesEachSegmentKeepingPlus) {
  EXPECT_EQ(path_segments("/api/revoke/T0k3n/ab+c%3D"),
            (std::vector<std::string>{"api", "revoke", "T0k3n", "ab+c="}));
  EXPECT_EQ(path_segments("/topic/app/a%2Fb"), (std::vector<std::string>{"topic", "app", "a/b"}));
  EXPECT_EQ(path_segments("/a//b/"), (std::vector<std::string>{"a", "", "b", ""}));
  EXPECT_TRUE(path_segments("/").empty());
}

}  // namespace
}  // namespace gw::http
