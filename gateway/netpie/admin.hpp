// The owner's admin API on the HTTP listeners, for loopback peers only (anyone else gets 403):
// listing and approving waiting devices (dynamic authorization), listing and revoking access tokens,
// and pushing @info, @error or &resetendpoint to a connected gear. gateway/netpie/README.md lists the
// routes. Answers are JSON.
#pragma once

#include "gateway/net/http_server.hpp"
#include "gateway/netpie/microgears.hpp"
#include "gateway/netpie/registry.hpp"
#include "protocols/http/request.hpp"

namespace gw::netpie {

class Admin {
 public:
  Admin(Registry& registry, Microgears& gears);
  // True when the path is under /admin/ (the request is then answered).
  bool handle(const http::Request& req, const net::HttpResponder& out);

 private:
  Registry& registry_;
  Microgears& gears_;
};

}  // namespace gw::netpie
