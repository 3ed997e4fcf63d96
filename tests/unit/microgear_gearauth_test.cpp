// NETPIE gearauth payloads (docs/netpie-protocol.md §3.2, §3.3, §5, §11.4): oauth_callback parameters in
// every client's order, and the request-token / access-token reply bodies byte for byte.
#include <gtest/gtest.h>

#include "protocols/microgear/gearauth.hpp"

namespace gw::microgear {
namespace {

TEST(Callback, EveryClientsOrder) {
  const CallbackParams expected{"", "myappid", "X1a", "gear"};
  // Node; ESP8266 Arduino; PY-old; HTML5 / RTOS / Java (§3.2).
  for (const char* cb :
       {"scope=&appid=myappid&mgrev=X1a&verifier=gear", "appid=myappid&mgrev=X1a&scope=&verifier=gear",
        "scope=&mgrev=X1a&appid=myappid&verifier=gear", "scope=&appid=myappid&mgrev=X1a&verifier=gear"}) {
    const auto p = parse_callback(cb);
    ASSERT_TRUE(p.ok()) << cb;
    EXPECT_EQ(p.value(), expected) << cb;
  }
}

TEST(Callback, ScopeAliasAndMissingFields) {
  const auto p = parse_callback("appid=happyfarm&scope=r:/outdoor/temp,w:/light&verifier=my+gear");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->scope, "r:/outdoor/temp,w:/light");
  EXPECT_EQ(p->verifier, "my gear");
  EXPECT_EQ(p->mgrev, "");
  EXPECT_EQ(parse_callback("scope=&mgrev=NJS1b&verifier=x").error(), GearauthError::MissingAppId);
  EXPECT_EQ(parse_callback("appid=").error(), GearauthError::MissingAppId);
  EXPECT_EQ(parse_callback("").error(), GearauthError::MissingAppId);
}

TEST(Callback, BuildUsesNodeOrder) {
  EXPECT_EQ(build_callback({"", "myappid", "NJS1b", "mygear"}),
            "scope=&appid=myappid&mgrev=NJS1b&verifier=mygear");
  EXPECT_EQ(build_callback({"r:/a", "app", "m", "v w"}), "scope=r%3A%2Fa&appid=app&mgrev=m&verifier=v%20w");
}

TEST(RtokenBody, ExactShapeAndRoundTrip) {
  const RequestTokenReply r{"R3qT0k3nAbCdEf12", "RqS3cr3tRqS3cr3tRqS3cr3tRqS3cr3t"};
  const std::string body = build_rtoken_body(r);
  EXPECT_EQ(body,
            "oauth_token=R3qT0k3nAbCdEf12&oauth_token_secret=RqS3cr3tRqS3cr3tRqS3cr3tRqS3cr3t&"
            "oauth_callback_confirmed=true");
  EXPECT_EQ(parse_rtoken_body(body).value(), r);
  EXPECT_EQ(parse_rtoken_body(body + "\r\nsecond line ignored").value(), r);
}

TEST(RtokenBody, ParserToleratesOrderAndRejectsMissing) {
  EXPECT_EQ(parse_rtoken_body("oauth_token_secret=S&oauth_token=T").value(), (RequestTokenReply{"T", "S"}));
  EXPECT_EQ(parse_rtoken_body("oauth_token=T").error(), GearauthError::MissingField);
  EXPECT_EQ(parse_rtoken_body("oauth_token=&oauth_token_secret=S").error(), GearauthError::MissingField);
  EXPECT_EQ(parse_rtoken_body("").error(), GearauthError::MissingField);
}

TEST(AtokenBody, ExactShapeAsSection11Specifies) {
  const AccessTokenReply r{TokenFlag::Persistent, "T0k3nAbCdEfGh123", "S3cr3tS3cr3tS3cr3tS3cr3tS3cr3t12",
                           Endpoint{"gb.netpie.io", 1883}, std::nullopt};
  const std::string body = build_atoken_body(r);
  EXPECT_EQ(body,
            "flag=P&oauth_token=T0k3nAbCdEfGh123&oauth_token_secret=S3cr3tS3cr3tS3cr3tS3cr3tS3cr3t12&"
            "endpoint=pie%3A%2F%2Fgb.netpie.io%3A1883");
  // ESP8266 skips exactly 12 characters of the endpoint value before decoding (§3.3).
  const std::string value = body.substr(body.find("endpoint=") + 9);
  EXPECT_EQ(value.substr(0, 12), "pie%3A%2F%2F");
  EXPECT_EQ(parse_atoken_body(body).value(), r);
}

TEST(AtokenBody, SessionFlagAndLanAddress) {
  const AccessTokenReply r{TokenFlag::Session, "T", "S", Endpoint{"192.168.1.10", 1883}, std::nullopt};
  EXPECT_EQ(build_atoken_body(r),
            "flag=S&oauth_token=T&oauth_token_secret=S&endpoint=pie%3A%2F%2F192.168.1.10%3A1883");
  EXPECT_EQ(parse_atoken_body(build_atoken_body(r)).value(), r);
}

TEST(AtokenBody, ParserDefaultsAndErrors) {
  // No flag: P (PY-old); appkey read when present (Node caches it); lower-case hex accepted.
  const auto a = parse_atoken_body("oauth_token=T&oauth_token_secret=S&endpoint=pie%3a%2f%2fh%3a1&appkey=K");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->flag, TokenFlag::Persistent);
  EXPECT_EQ(a->endpoint, (Endpoint{"h", 1}));
  EXPECT_EQ(a->appkey, "K");
  EXPECT_EQ(parse_atoken_body("flag=X&oauth_token=T&oauth_token_secret=S&endpoint=pie%3A%2F%2Fh").error(),
            GearauthError::BadFlag);
  EXPECT_EQ(parse_atoken_body("flag=P&oauth_token=T&oauth_token_secret=S").error(),
            GearauthError::MissingField);
  EXPECT_EQ(parse_atoken_body("flag=P&oauth_token=T&oauth_token_secret=S&endpoint=mqtt%3A%2F%2Fh").error(),
            GearauthError::BadEndpoint);
}

TEST(Endpoint, FormatAndParse) {
  EXPECT_EQ(format_endpoint({"gb.netpie.io", 1883}), "pie://gb.netpie.io:1883");
  EXPECT_EQ(format_endpoint({"gb.netpie.io", std::nullopt}), "pie://gb.netpie.io");
  EXPECT_EQ(parse_endpoint("pie://gb.netpie.io:1883").value(), (Endpoint{"gb.netpie.io", 1883}));
  EXPECT_EQ(parse_endpoint("pie://gb.netpie.io").value(), (Endpoint{"gb.netpie.io", std::nullopt}));
  EXPECT_EQ(parse_endpoint("pie://h:65535").value(), (Endpoint{"h", 65535}));
  for (const char* bad : {"", "pie://", "pie://:1883", "pie://h:", "pie://h:0", "pie://h:65536", "pie://h:1x",
                          "pie://h:123456", "http://h:1"}) {
    EXPECT_EQ(parse_endpoint(bad).error(), GearauthError::BadEndpoint) << bad;
  }
}

}  // namespace
}  // namespace gw::microgear
