// The operator's access rules (gateway/ops/access.hpp): loopback with an address or localhost as Host,
// admin users only over HTTPS, cross-site and simple state-changing requests refused, query strings
// that do not percent-decode cleanly refused.
#include <gtest/gtest.h>

#include "gateway/config/password.hpp"
#include "gateway/ops/access.hpp"
#include "protocols/http/basic_auth.hpp"

namespace gw::ops {
namespace {

http::Request request(std::vector<std::pair<std::string, std::string>> headers) {
  http::Request r;
  r.method = "POST";
  for (auto& [k, v] : headers) r.headers.add(k, v);
  return r;
}

TEST(AdminAccess, LoopbackWithAnAddressOrLocalhostAsHost) {
  for (const char* host : {"127.0.0.1:8080", "localhost:8080", "[::1]:8080", "LOCALHOST", "127.0.0.1"}) {
    EXPECT_EQ(admin_access(request({{"Host", host}}), {true, false}, {}).status, 0) << host;
  }
  // A DNS name that resolved to loopback: how DNS rebinding reaches a loopback service.
  for (const char* host : {"evil.example:8080", "", "127.0.0.1.evil.example", "[::1"}) {
    EXPECT_EQ(admin_access(request({{"Host", host}}), {true, false}, {}).status, 403) << host;
  }
}

TEST(AdminAccess, OtherPeersNeedHttpsAndAnAdminUser) {
  const std::vector<config::User> admins{{"owner", config::make_password_hash("s3cret")}};
  const auto good =
      request({{"Host", "gw.lan"}, {"Authorization", http::basic_auth_header("owner", "s3cret")}});
  const auto bad = request({{"Host", "gw.lan"}, {"Authorization", http::basic_auth_header("owner", "nope")}});
  EXPECT_EQ(admin_access(good, {false, false}, admins).status, 403);  // plain HTTP: never
  EXPECT_EQ(admin_access(good, {false, true}, admins).status, 0);
  EXPECT_EQ(admin_access(bad, {false, true}, admins).status, 403);
  EXPECT_EQ(admin_access(request({{"Host", "gw.lan"}}), {false, true}, admins).status, 403);
  EXPECT_EQ(admin_access(good, {false, true}, {}).status, 403);  // no admin users configured
}

TEST(SameSiteWrite, BrowserSignalsOfAnotherSiteAreRefused) {
  EXPECT_EQ(same_site_write(request({{"Sec-Fetch-Site", "cross-site"}}), false).status, 403);
  EXPECT_EQ(same_site_write(request({{"Sec-Fetch-Site", "same-site"}}), false).status, 403);
  EXPECT_EQ(same_site_write(request({{"Sec-Fetch-Site", "same-origin"}}), false).status, 0);
  EXPECT_EQ(same_site_write(request({{"Sec-Fetch-Site", "none"}}), false).status, 0);
  EXPECT_EQ(same_site_write(request({{"Host", "127.0.0.1:8080"}, {"Origin", "http://127.0.0.1:8080"}}), false)
                .status,
            0);
  EXPECT_EQ(same_site_write(request({{"Host", "127.0.0.1:8080"}, {"Origin", "http://127.0.0.1:9090"}}), false)
                .status,
            403);
  EXPECT_EQ(same_site_write(request({{"Host", "127.0.0.1:8080"}, {"Origin", "null"}}), false).status, 403);
  EXPECT_EQ(same_site_write(request({}), false).status, 0);  // curl: no browser, no Origin
}

TEST(SameSiteWrite, ApiWritesMustBeJson) {
  EXPECT_EQ(same_site_write(request({{"Content-Type", "application/json"}}), true).status, 0);
  EXPECT_EQ(same_site_write(request({{"Content-Type", "Application/JSON; charset=utf-8"}}), true).status, 0);
  for (const char* simple :
       {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; b=x", ""}) {
    EXPECT_EQ(same_site_write(request({{"Content-Type", simple}}), true).status, 415) << simple;
  }
}

TEST(Query, WellFormedOrNot) {
  for (const char* ok : {"", "limit=10&offset=0", "a=%20b", "x=%7E", "flag"})
    EXPECT_TRUE(well_formed_query(ok)) << ok;
  for (const char* bad : {"%", "%2", "a=%zz", "a=%2g", "a=b%", "a=\x01"})
    EXPECT_FALSE(well_formed_query(bad)) << bad;
}

}  // namespace
}  // namespace gw::ops
