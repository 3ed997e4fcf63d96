// The NETPIE REST API subset on the local endpoint (docs/netpie-protocol.md §9): PUT/GET
// /topic/<appid>/<topic>
// [?retain], PUT /microgear/<appid>/<alias>, PUT/GET /postbox/<appid>/<box>[?tag=]. Authenticated by
// Basic KEY:SECRET or ?auth=KEY:SECRET against the app's keys, bound by the key's rights, answered in
// JSON with clear 4xx errors. A publish is answered only once whatever it had to store is durable.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include "gateway/broker/broker.hpp"
#include "gateway/net/http_server.hpp"
#include "gateway/netpie/microgears.hpp"
#include "gateway/netpie/postbox.hpp"
#include "gateway/netpie/registry.hpp"
#include "protocols/http/request.hpp"

namespace gw::netpie {

class Rest {
 public:
  Rest(Registry& registry, Microgears& gears, Postboxes& postboxes);
  void attach(broker::Broker& broker) { broker_ = &broker; }

  // True when the path belongs to this API (the request is then answered, now or later).
  bool handle(const http::Request& req, const net::HttpResponder& out);

 private:
  void publish(const Key& key, std::string topic, const http::Request& req, const net::HttpResponder& out);
  void read_retained(const Key& key, const std::string& topic, const net::HttpResponder& out);

  Registry& registry_;
  Microgears& gears_;
  Postboxes& postboxes_;
  broker::Broker* broker_ = nullptr;
};

// {"code":<status>,"message":"<text>"}: the shape of every REST answer that is not data.
http::Response rest_status(int status, std::string_view message);
// A JSON answer (invalid UTF-8 in strings replaced, never thrown).
http::Response json_response(int status, const nlohmann::json& j);
// A REST secret check whose time does not depend on where the strings differ or on their lengths.
bool secret_matches(const std::string& expected, const std::string& given);

}  // namespace gw::netpie
