// protocols/coap/mapping: which action a CoAP request stands for (gateway/coap/README.md "URI mapping").
#include "protocols/coap/mapping.hpp"

#include <gtest/gtest.h>

namespace gw::coap {
namespace {

Request req(Method m, std::vector<std::string> path, std::vector<std::string> query = {}, bool con = true,
            std::optional<std::uint32_t> observe = std::nullopt) {
  Request r;
  r.method = m;
  r.path = std::move(path);
  r.query = std::move(query);
  r.confirmable = con;
  r.observe = observe;
  return r;
}

TEST(CoapMapping, PublishTakesQosAndRetainFromTheQueryOrTheMessageType) {
  Options o;
  Action a = map_request(req(Method::Put, {"ps", "home", "temp"}), o);
  EXPECT_EQ(a.kind, Kind::Publish);
  EXPECT_EQ(a.topic, "home/temp");
  EXPECT_EQ(a.qos, 1);  // CON
  EXPECT_FALSE(a.retain);
  a = map_request(req(Method::Post, {"ps", "t"}, {}, /*con=*/false), o);
  EXPECT_EQ(a.kind, Kind::Publish);
  EXPECT_EQ(a.qos, 0);  // NON
  a = map_request(req(Method::Post, {"ps", "t"}, {"qos=1", "retain"}, false), o);
  EXPECT_EQ(a.qos, 1);
  EXPECT_TRUE(a.retain);
  a = map_request(req(Method::Post, {"ps", "t"}, {"retain=false"}), o);
  EXPECT_FALSE(a.retain);
  o.con_qos = 0;
  EXPECT_EQ(map_request(req(Method::Put, {"ps", "t"}), o).qos, 0);
}

TEST(CoapMapping, BadParametersAndTopicsAre400) {
  Options o;
  for (auto q : {"qos=3", "qos=", "qos=01", "qos=x"}) {
    Action a = map_request(req(Method::Put, {"ps", "t"}, {q}), o);
    EXPECT_EQ(a.kind, Kind::Error) << q;
    EXPECT_EQ(a.code, 400) << q;
  }
  EXPECT_EQ(map_request(req(Method::Put, {"ps", "t"}, {"retain=maybe"}), o).code, 400);
  // Wildcards are for observing, not publishing.
  EXPECT_EQ(map_request(req(Method::Put, {"ps", "a", "#"}), o).code, 400);
  EXPECT_EQ(map_request(req(Method::Put, {"ps", "a", "%2B"}), o).code, 400);
  EXPECT_EQ(map_request(req(Method::Get, {"ps", "a", "+"}), o).code, 400);  // a read names one topic
}

TEST(CoapMapping, ObserveSubscribesToPercentEncodedWildcardsAndOneCancels) {
  Options o;
  Action a = map_request(req(Method::Get, {"ps", "sensors", "%23"}, {}, true, 0), o);
  EXPECT_EQ(a.kind, Kind::Observe);
  EXPECT_EQ(a.topic, "sensors/#");
  a = map_request(req(Method::Get, {"ps", "+", "temp"}, {"qos=1"}, true, 0), o);
  EXPECT_EQ(a.kind, Kind::Observe);
  EXPECT_EQ(a.topic, "+/temp");
  EXPECT_EQ(a.qos, 1);
  a = map_request(req(Method::Get, {"ps", "sensors", "#"}, {}, true, 1), o);
  EXPECT_EQ(a.kind, Kind::Unobserve);
  EXPECT_EQ(map_request(req(Method::Get, {"ps", "a#"}, {}, true, 0), o).code, 400);
  EXPECT_EQ(map_request(req(Method::Get, {"ps", "$share", "g", "t"}, {}, true, 0), o).code, 400);
  EXPECT_EQ(map_request(req(Method::Get, {"ps", "a"}, {}, true, 2), o).code, 402);
  Action read = map_request(req(Method::Get, {"ps", "a", "b"}), o);
  EXPECT_EQ(read.kind, Kind::Read);
  EXPECT_EQ(read.topic, "a/b");
}

TEST(CoapMapping, UnknownPathsAndMethods) {
  Options o;
  EXPECT_EQ(map_request(req(Method::Get, {}), o).code, 404);
  EXPECT_EQ(map_request(req(Method::Get, {"nothing"}), o).code, 404);
  EXPECT_EQ(map_request(req(Method::Put, {"ps"}), o).code, 404);
  EXPECT_EQ(map_request(req(Method::Delete, {"ps", "t"}), o).code, 405);
  EXPECT_EQ(map_request(req(Method::Get, {".well-known", "core"}), o).kind, Kind::WellKnown);
  o.pubsub = false;
  EXPECT_EQ(map_request(req(Method::Put, {"ps", "t"}), o).code, 404);
  o.netpie = false;
  EXPECT_EQ(map_request(req(Method::Put, {"topic", "app", "t"}), o).code, 404);
}

TEST(CoapMapping, ConnectionMode) {
  Options o;
  Action a =
      map_request(req(Method::Post, {"mqtt", "connection"}, {"clientid=c1", "username=u", "password=p"}), o);
  EXPECT_EQ(a.kind, Kind::Connect);
  EXPECT_EQ(a.clientid, "c1");
  EXPECT_EQ(a.username, "u");
  EXPECT_TRUE(a.has_password);
  EXPECT_EQ(a.password, "p");
  a = map_request(req(Method::Put, {"mqtt", "connection"}, {"clientid=c1", "token=abc"}), o);
  EXPECT_EQ(a.kind, Kind::Heartbeat);
  EXPECT_EQ(a.token, "abc");
  EXPECT_EQ(map_request(req(Method::Delete, {"mqtt", "connection"}, {"clientid=c1", "token=abc"}), o).kind,
            Kind::Disconnect);
  EXPECT_EQ(map_request(req(Method::Put, {"mqtt", "connection"}, {"clientid=c1"}), o).code, 401);
  EXPECT_EQ(map_request(req(Method::Post, {"mqtt", "connection"}), o).code, 400);
}

TEST(CoapMapping, NetpiePathsBecomeRestRequests) {
  Options o;
  // The NB-IoT library writes topic/<appid><topic>: the topic's own '/' splits it into path options.
  Action a =
      map_request(req(Method::Put, {"topic", "app1", "sensor", "a b"}, {"auth=K:S", "retain"}, false), o);
  EXPECT_EQ(a.kind, Kind::Netpie);
  EXPECT_EQ(a.http_method, "PUT");
  EXPECT_EQ(a.http_path, "/topic/app1/sensor/a%20b");
  ASSERT_EQ(a.params.size(), 2u);
  EXPECT_EQ(a.params[0].name, "auth");
  EXPECT_EQ(a.params[0].value, "K:S");
  a = map_request(req(Method::Get, {"topic", "app1", "sensor"}, {"auth=K:S"}), o);
  EXPECT_EQ(a.http_method, "GET");
  a = map_request(req(Method::Put, {"microgear", "app1", "lamp"}), o);
  EXPECT_EQ(a.http_path, "/microgear/app1/lamp");
  EXPECT_EQ(map_request(req(Method::Get, {"microgear", "app1", "lamp"}), o).code, 405);
  EXPECT_EQ(map_request(req(Method::Put, {"topic", "app1"}), o).code, 404);
}

TEST(CoapMapping, FeedPathsBecomeFeedRequests) {
  Options o;
  // NB-IoT: PUT feed/<feedid>?apikey= with the payload data=<field>:<number>,... (docs/netpie-protocol.md
  // §9.3).
  Action a = map_request(req(Method::Put, {"feed", "farm1"}, {"apikey=K1"}), o);
  EXPECT_EQ(a.kind, Kind::Netpie);
  EXPECT_EQ(a.http_method, "PUT");
  EXPECT_EQ(a.http_path, "/feed/farm1");
  ASSERT_EQ(a.params.size(), 1u);
  EXPECT_EQ(a.params[0].value, "K1");
  EXPECT_EQ(map_request(req(Method::Get, {"feed", "farm1"}, {"apikey=K1", "since=1hour"}), o).http_method,
            "GET");
  EXPECT_EQ(map_request(req(Method::Delete, {"feed", "farm1"}), o).code, 405);
  EXPECT_EQ(map_request(req(Method::Put, {"feed"}), o).code, 404);
  EXPECT_EQ(map_request(req(Method::Put, {"feed", "farm1", "extra"}), o).code, 404);
  o.netpie = false;
  EXPECT_EQ(map_request(req(Method::Put, {"feed", "farm1"}), o).code, 404);
}

TEST(CoapMapping, WellKnownCoreListsWhatIsServed) {
  Options o;
  EXPECT_NE(well_known_core(o).find("</ps>"), std::string::npos);
  EXPECT_NE(well_known_core(o).find("</topic>"), std::string::npos);
  EXPECT_NE(well_known_core(o).find("</feed>"), std::string::npos);
  o.netpie = false;
  EXPECT_EQ(well_known_core(o).find("</topic>"), std::string::npos);
}

}  // namespace
}  // namespace gw::coap
