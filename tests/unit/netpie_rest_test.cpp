// The REST API through the endpoint's router, with MQTT clients of the broker fixture on the other
// side: publish (plain and retained) reaching subscribers, retained reads, chat to an alias, postboxes
// with tags, Basic and ?auth= credentials, and the 4xx answers for wrong keys, foreign apps, rights
// and malformed paths.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "protocols/http/basic_auth.hpp"
#include "tests/unit/netpie_fixture.hpp"

namespace gw::netpie::testing {
namespace {

using mqtt::Reason;

std::string basic(const std::string& key = kKey, const std::string& secret = kSecret) {
  return "Authorization: " + http::basic_auth_header(key, secret) + "\r\n";
}

std::string request(const std::string& method, const std::string& target, const std::string& body = "",
                    const std::string& headers = basic()) {
  return method + " " + target + " HTTP/1.1\r\nHost: gw\r\n" + headers +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

nlohmann::json json_body(const Answer& a) {
  return nlohmann::json::parse(a.body(), nullptr, false);
}

class RestTest : public EndpointTest {
 protected:
  broker::testing::Client& watcher(const std::string& filter) {
    auto& c = client();
    auto p = connect_packet("watcher-" + std::to_string(clients_.size()));
    p.keep_alive = 0;
    EXPECT_EQ(connack(c, p), Reason::Success);
    subscribe(c, filter, 1);
    c.received();
    return c;
  }
};

TEST_F(RestTest, PutTopicReachesSubscribersAndGetReadsTheRetainedMessage) {
  auto& sub = watcher("/myappid/#");
  auto put = http(request("PUT", "/topic/myappid/room/temp?retain", "25.5"));
  ASSERT_EQ(put->status(), 200) << put->body();
  EXPECT_EQ(put->response->content_type, "application/json");
  EXPECT_EQ(json_body(*put)["code"], 200);
  auto got = sub.publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].topic, "/myappid/room/temp");
  EXPECT_EQ(got[0].payload, "25.5");
  EXPECT_EQ(got[0].qos, 1) << "REST publishes at QoS 1 (answered once stored)";
  auto read = http(request("GET", "/topic/myappid/room/temp"));
  ASSERT_EQ(read->status(), 200);
  auto j = json_body(*read);
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["payload"], "25.5");
  EXPECT_EQ(j[0]["topic"], "/myappid/room/temp");
  // Without ?retain nothing is kept; an empty retained body clears it.
  EXPECT_EQ(http(request("PUT", "/topic/myappid/room/hum", "40"))->status(), 200);
  EXPECT_TRUE(json_body(*http(request("GET", "/topic/myappid/room/hum"))).empty());
  EXPECT_EQ(http(request("PUT", "/topic/myappid/room/temp?retain", ""))->status(), 200);
  EXPECT_TRUE(json_body(*http(request("GET", "/topic/myappid/room/temp"))).empty());
  // Wildcards read several (%2B is '+').
  http(request("PUT", "/topic/myappid/a/x?retain", "1"));
  http(request("PUT", "/topic/myappid/a/y?retain", "2"));
  EXPECT_EQ(json_body(*http(request("GET", "/topic/myappid/a/%2B"))).size(), 2u);
}

TEST_F(RestTest, AuthQueryParameterAndRefusals) {
  EXPECT_EQ(
      http(request("PUT", "/topic/myappid/x?auth=" + std::string(kKey) + ":" + kSecret, "v", ""))->status(),
      200);
  auto none = http(request("PUT", "/topic/myappid/x", "v", ""));
  EXPECT_EQ(none->status(), 401);
  EXPECT_EQ(none->header("WWW-Authenticate"), "Basic realm=\"netpie-edge\"");
  EXPECT_EQ(json_body(*none)["code"], 401);
  EXPECT_EQ(http(request("PUT", "/topic/myappid/x", "v", basic(kKey, "wrong")))->status(), 401);
  EXPECT_EQ(http(request("PUT", "/topic/myappid/x", "v", basic("NoSuchKey", kSecret)))->status(), 401);
  EXPECT_EQ(http(request("PUT", "/topic/myappid/x?auth=" + std::string(kKey) + ":nope", "v", ""))->status(),
            401);
  // The key of another app.
  EXPECT_EQ(http(request("PUT", "/topic/otherapp/x", "v"))->status(), 403);
  // Rights: the limited key publishes under /sensors only, reads /sensors/+ and /cmd.
  const auto limited = basic("LimitedKey00001", "limited-secret-0123456789");
  EXPECT_EQ(http(request("PUT", "/topic/myappid/sensors/t", "1", limited))->status(), 200);
  EXPECT_EQ(http(request("PUT", "/topic/myappid/cmd", "1", limited))->status(), 403);
  EXPECT_EQ(http(request("GET", "/topic/myappid/cmd", "", limited))->status(), 200);
  EXPECT_EQ(http(request("GET", "/topic/myappid/%23", "", limited))->status(), 403);
  EXPECT_EQ(
      http(request("PUT", "/topic/myappid/x", "v", basic("DisabledKey0001", "disabled-secret-0123456789")))
          ->status(),
      403);
}

TEST_F(RestTest, MalformedRequestsGet400And405And404) {
  EXPECT_EQ(http(request("PUT", "/topic/myappid", "v"))->status(), 400);
  EXPECT_EQ(http(request("PUT", "/topic/myappid/", "v"))->status(), 400);
  EXPECT_EQ(http(request("PUT", "/topic/myappid/a/%2B", "v"))->status(), 400)
      << "no wildcard in a published topic";
  EXPECT_EQ(http(request("PUT", "/topic/myappid/a//b", "v"))->status(), 400);
  EXPECT_EQ(http(request("PUT", "/topic/myappid/&present", "{}"))->status(), 400)
      << "presence is the gateway's";
  EXPECT_EQ(http(request("PUT", "/topic/myappid/@setalias/x", ""))->status(), 400);
  EXPECT_EQ(http(request("PUT", "/postbox/myappid/a%2Fb", "v"))->status(), 400);
  auto del = http(request("DELETE", "/topic/myappid/x"));
  EXPECT_EQ(del->status(), 405);
  EXPECT_EQ(del->header("Allow"), "GET, PUT");
  EXPECT_EQ(http(request("GET", "/microgear/myappid/lamp"))->status(), 405);
  EXPECT_EQ(http(request("GET", "/nothing/here"))->status(), 404);
}

TEST_F(RestTest, ChatToAnAliasReachesItsHolders) {
  const AccessToken at = issue(kKey, "lamp");
  auto& g = gear(at, kSecret);
  g.received();
  auto a = http(request("PUT", "/microgear/myappid/lamp", "on"));
  ASSERT_EQ(a->status(), 200) << a->body();
  auto got = g.publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].topic, "/myappid/gearname/lamp");
  EXPECT_EQ(got[0].payload, "on");
  // The same through /topic.
  EXPECT_EQ(http(request("PUT", "/topic/myappid/gearname/lamp", "off"))->status(), 200);
  EXPECT_EQ(g.publishes().size(), 1u);
}

TEST_F(RestTest, PostboxesAreFifoWithTagsAndBounded) {
  EXPECT_EQ(http(request("PUT", "/postbox/myappid/inbox", "one"))->status(), 200);
  EXPECT_EQ(http(request("PUT", "/postbox/myappid/inbox?tag=red", "two"))->status(), 200);
  EXPECT_EQ(http(request("PUT", "/postbox/myappid/inbox", "three"))->status(), 200);
  auto red = json_body(*http(request("GET", "/postbox/myappid/inbox?tag=red")));
  ASSERT_EQ(red.size(), 1u);
  EXPECT_EQ(red[0]["msg"], "two");
  EXPECT_EQ(red[0]["tag"], "red");
  EXPECT_EQ(red[0]["ts"], kVectorTime);
  EXPECT_EQ(json_body(*http(request("GET", "/postbox/myappid/inbox")))[0]["msg"], "one");
  // Written over MQTT, read over REST: one store.
  const AccessToken at = issue(kKey);
  auto& g = gear(at, kSecret);
  publish(g, "/myappid/@writepostbox/inbox", "four");
  EXPECT_EQ(json_body(*http(request("GET", "/postbox/myappid/inbox")))[0]["msg"], "three");
  EXPECT_EQ(json_body(*http(request("GET", "/postbox/myappid/inbox")))[0]["msg"], "four");
  EXPECT_TRUE(json_body(*http(request("GET", "/postbox/myappid/inbox"))).empty());
  // Survives a restart.
  EXPECT_EQ(http(request("PUT", "/postbox/myappid/keep", "kept"))->status(), 200);
  restart();
  EXPECT_EQ(json_body(*http(request("GET", "/postbox/myappid/keep")))[0]["msg"], "kept");
  // Bounded: refused with 507, nothing dropped.
  cfg_.netpie.postbox_max_messages = 2;
  restart();
  EXPECT_EQ(http(request("PUT", "/postbox/myappid/full", "1"))->status(), 200);
  EXPECT_EQ(http(request("PUT", "/postbox/myappid/full", "2"))->status(), 200);
  EXPECT_EQ(http(request("PUT", "/postbox/myappid/full", "3"))->status(), 507);
  EXPECT_EQ(endpoint_->postboxes().size("myappid", "full"), 2u);
}

TEST_F(RestTest, PostboxWriteIsAnsweredOnceDurable) {
  store_.defer = true;
  auto a = http(request("PUT", "/postbox/myappid/slow", "x"));
  EXPECT_FALSE(a->response.has_value());
  store_.run_pending();
  EXPECT_EQ(a->status(), 200);
  store_.defer = false;
  store_.fail = true;
  EXPECT_EQ(http(request("PUT", "/postbox/myappid/slow", "y"))->status(), 507);
  EXPECT_EQ(endpoint_->postboxes().size("myappid", "slow"), 1u)
      << "a message that was not stored is not kept";
}

}  // namespace
}  // namespace gw::netpie::testing
