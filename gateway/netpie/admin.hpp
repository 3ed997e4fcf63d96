// The owner's admin API on the HTTP listeners, for loopback peers only (anyone else gets 403):
// listing and approving waiting devices (dynamic authorization), listing and revoking access tokens,
// and pushing @info, @error or &resetendpoint to a connected gear. gateway/netpie/README.md lists the
// routes. Answers are JSON.
#pragma once

#include <nlohmann/json.hpp>

#include "gateway/net/http_server.hpp"
#include "gateway/netpie/microgears.hpp"
#include "gateway/netpie/registry.hpp"
#include "protocols/http/request.hpp"

namespace gw::netpie {

// The lists the admin API answers with, shared with the operator's API (gateway/ops): tokens and
// request tokens by their public ids (never a secret), keys that need approval with their newest request.
nlohmann::json requests_json(const Registry& registry);
nlohmann::json approvals_json(const Registry& registry);
nlohmann::json tokens_json(const Registry& registry, const Microgears& gears);

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
