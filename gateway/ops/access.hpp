// Who may use the operator's page and API (gateway/ops/README.md "Access"), as pure decisions over a
// parsed request and what the server knows of its peer; the routes in ops.cpp call them first.
//   - Admin routes (the page, /api/v1): a loopback peer whose Host header names an address or
//     "localhost" (a DNS name pointing at 127.0.0.1 is how DNS rebinding reaches a loopback service);
//     any other peer only over HTTPS with the Basic credentials of an http.admin_users entry.
//   - State-changing requests (POST, also on the NETPIE /admin routes): refused when the browser says
//     they come from another site (Sec-Fetch-Site cross-site or same-site, or an Origin that is not the
//     Host), and, on /api/v1, unless the body is declared application/json: a type a cross-site form
//     cannot send and a cross-site script cannot send without a CORS preflight, which is never granted.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "gateway/config/config.hpp"
#include "protocols/http/request.hpp"

namespace gw::ops {

struct PeerInfo {
  bool loopback = false;
  bool tls = false;
};

struct Verdict {
  int status = 0;   // 0: allowed; else the status to answer (403, 415)
  std::string why;  // for the answer and the log
};

Verdict admin_access(const http::Request& req, const PeerInfo& peer, const std::vector<config::User>& admins);
// For POST (and other non-safe methods): the cross-site checks; `need_json`: the content type check too.
Verdict same_site_write(const http::Request& req, bool need_json);
// A query string that percent-decodes cleanly (every '%' followed by two hex digits) and has no
// control characters; parse_query's decoding is lenient, the operator's routes are not.
bool well_formed_query(std::string_view raw);

}  // namespace gw::ops
