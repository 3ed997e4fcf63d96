// The OAuth2-style token endpoints of microgear-python >= 1.2 and microgear-csharp (docs/netpie-protocol.md
// §3.4): the query strings both clients build, the redirect that carries the code, and the JSON reply in the
// exact shape C#'s string matching needs.
#include <gtest/gtest.h>

#include "protocols/microgear/oauth2.hpp"

namespace gw::microgear {
namespace {

TEST(OAuth2Authorize, CSharpQueryWithAlias) {
  // microgear.cs forToken(): "...&scope=appid:<AppID>%20alias:<alias>&state=mgrev:CSP".
  const auto r = parse_authorize_request(http::parse_query(
      "response_type=code&client_id=sXfqDcXHzbFXiLk&scope=appid:myappid%20alias:door&state=mgrev:CSP"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), (AuthorizeRequest{"sXfqDcXHzbFXiLk", "myappid", "door", "CSP"}));
}

TEST(OAuth2Authorize, PythonQueryWithPlusAndWithoutAlias) {
  const auto a = parse_authorize_request(http::parse_query(
      "response_type=code&client_id=K&scope=appid%3Amyappid+alias%3Agear&state=mgrev%3APY11k"));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->alias, "gear");
  EXPECT_EQ(a->mgrev, "PY11k");
  const auto b =
      parse_authorize_request(http::parse_query("response_type=code&client_id=K&scope=appid:myappid"));
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->alias);
  EXPECT_EQ(b->mgrev, "");
}

TEST(OAuth2Authorize, Errors) {
  EXPECT_EQ(
      parse_authorize_request(http::parse_query("response_type=token&client_id=K&scope=appid:a")).error(),
      OAuth2Error::UnsupportedResponseType);
  EXPECT_EQ(parse_authorize_request(http::parse_query("response_type=code&scope=appid:a")).error(),
            OAuth2Error::MissingParam);
  EXPECT_EQ(
      parse_authorize_request(http::parse_query("response_type=code&client_id=K&scope=alias:x")).error(),
      OAuth2Error::MissingParam);
  EXPECT_STREQ(rfc6749_error(OAuth2Error::UnsupportedResponseType), "unsupported_response_type");
}

TEST(OAuth2Authorize, ClientQueryRoundTrips) {
  const AuthorizeRequest r{"K", "myappid", "door", "CSP"};
  const std::string q = build_authorize_query(r);
  EXPECT_EQ(q, "response_type=code&client_id=K&scope=appid%3Amyappid%20alias%3Adoor&state=mgrev%3ACSP");
  EXPECT_EQ(parse_authorize_request(http::parse_query(q)).value(), r);
}

TEST(OAuth2Redirect, CodeIsLastAndAppearsOnce) {
  const std::string loc =
      authorize_redirect_location("http://192.168.1.10:8080/oauth2/code", "R3qT0k3nAbCdEf12");
  EXPECT_EQ(loc, "http://192.168.1.10:8080/oauth2/code?code=R3qT0k3nAbCdEf12");
  EXPECT_EQ(authorize_redirect_location("http://gw/cb?x=1", "T"), "http://gw/cb?x=1&code=T");
  // What C# does with the final URL: Replace("code=", "|").Split('|') must give exactly two parts.
  std::size_t count = 0;
  for (std::size_t at = loc.find("code="); at != std::string::npos; at = loc.find("code=", at + 1)) ++count;
  EXPECT_EQ(count, 1u);
  EXPECT_EQ(code_from_url(loc), "R3qT0k3nAbCdEf12");
  EXPECT_FALSE(code_from_url("http://gw/oauth2/authorize?response_type=code&client_id=K"));
  EXPECT_FALSE(code_from_url("http://gw/x?code="));
}

TEST(OAuth2Token, CSharpQuery) {
  const auto t =
      parse_token_request(http::parse_query("grant_type=authorization_code&code=R3qT0k3nAbCdEf12&client_id=K&"
                                            "client_secret=DNonzg2ivwS8ceksykGntrfQjxbL98&"
                                            "state=mgrev:CSP"));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t.value(), (TokenRequest{"R3qT0k3nAbCdEf12", "K", "DNonzg2ivwS8ceksykGntrfQjxbL98", "CSP"}));
  EXPECT_EQ(parse_token_request(http::parse_query(build_token_query(t.value()))).value(), t.value());
  EXPECT_EQ(parse_token_request(http::parse_query("grant_type=password&code=c&client_id=K&client_secret=S"))
                .error(),
            OAuth2Error::UnsupportedGrantType);
  EXPECT_EQ(
      parse_token_request(http::parse_query("grant_type=authorization_code&client_id=K&client_secret=S"))
          .error(),
      OAuth2Error::MissingParam);
  EXPECT_EQ(
      parse_token_request(http::parse_query("grant_type=authorization_code&code=c&client_id=K")).error(),
      OAuth2Error::MissingParam);
}

TEST(OAuth2Reply, ExactJsonAndWhatCSharpExtracts) {
  const TokenReply r{"T0k3nAbCdEfGh123", "S3cr3tS3cr3tS3cr3tS3cr3tS3cr3t12", TokenFlag::Persistent,
                     Endpoint{"192.168.1.10", 1883}};
  const std::string json = build_token_reply(r);
  EXPECT_EQ(
      json,
      "{\"access_token\":\"T0k3nAbCdEfGh123:S3cr3tS3cr3tS3cr3tS3cr3tS3cr3t12\",\"token_type\":\"bearer\","
      "\"flag\":\"P\",\"endpoint\":\"pie://192.168.1.10:1883\"}");
  // C#: the text between {"access_token":" and ","token_type" is "<token>:<secret>", and the endpoint
  // is what follows "endpoint":" up to "}.
  const std::string prefix = "{\"access_token\":\"";
  ASSERT_EQ(json.rfind(prefix, 0), 0u);
  const std::size_t tt = json.find("\",\"token_type\"");
  EXPECT_EQ(json.substr(prefix.size(), tt - prefix.size()),
            "T0k3nAbCdEfGh123:S3cr3tS3cr3tS3cr3tS3cr3tS3cr3t12");
  const std::size_t ep = json.find("\"endpoint\":\"") + 12;
  EXPECT_EQ(json.substr(ep, json.find("\"}", ep) - ep), "pie://192.168.1.10:1883");
  EXPECT_EQ(parse_token_reply(json).value(), r);
}

TEST(OAuth2Reply, ParserToleratesOrderAndRejectsGarbage) {
  const auto s = parse_token_reply(R"({ "endpoint": "pie://h:1", "flag": "S", "access_token": "a:b:c" })");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s.value(), (TokenReply{"a", "b:c", TokenFlag::Session, Endpoint{"h", 1}}));
  for (const char* bad : {"", "not json", "[]", R"({"access_token":"nocolon","endpoint":"pie://h:1"})",
                          R"({"access_token":"a:b"})", R"({"access_token":1,"endpoint":"pie://h:1"})",
                          R"({"access_token":"a:b","endpoint":"pie://h:1","flag":"Q"})",
                          R"({"access_token":"a:b","endpoint":"tcp://h:1"})"}) {
    EXPECT_EQ(parse_token_reply(bad).error(), OAuth2Error::MalformedReply) << bad;
  }
}

TEST(OAuth2Reply, ErrorJson) {
  EXPECT_EQ(build_error_json("invalid_grant", "code \"x\" unknown"),
            R"({"error":"invalid_grant","error_description":"code \"x\" unknown"})");
}

}  // namespace
}  // namespace gw::microgear
