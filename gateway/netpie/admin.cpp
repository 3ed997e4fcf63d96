// Admin routes (see admin.hpp):
//   GET  /admin/requests                  request tokens: waiting for approval or not yet exchanged
//   GET  /admin/approvals                 keys that need the owner's approval: approved or not, the
//                                         latest request waiting on each
//   POST /admin/approve/<request token|key>  approve the key: its devices' /api/atoken succeed
//   POST /admin/deny/<request token>      forget the request (the device starts over)
//   POST /admin/deny/<key>                withdraw the key's approval, forget its waiting requests
//   GET  /admin/tokens                    access tokens (no secrets), online or not, revoked or not
//   POST /admin/revoke/<access token>     revoke and disconnect
//   POST /admin/push/<access token>/<info|error|resetendpoint>   body = payload
#include "gateway/netpie/admin.hpp"

#include <nlohmann/json.hpp>

#include "gateway/base/log.hpp"
#include "gateway/netpie/rest.hpp"
#include "protocols/http/url_encoding.hpp"

namespace gw::netpie {

namespace {
using nlohmann::json;

http::Response json_response(const json& j) {
  http::Response r;
  r.status = 200;
  r.content_type = "application/json";
  r.body = j.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}
}  // namespace

nlohmann::json requests_json(const Registry& registry) {
  const std::int64_t now = registry.now();
  json arr = json::array();
  for (const RequestToken* rt : registry.requests()) {
    arr.push_back(json{{"request_token", rt->token},
                       {"appid", rt->appid},
                       {"key", rt->key},
                       {"verifier", rt->verifier},
                       {"mgrev", rt->mgrev},
                       {"peer", rt->peer},
                       {"age_s", now - rt->created},
                       {"approved", registry.approved(*rt)},
                       {"exchanged", !rt->access_token.empty()}});
  }
  return arr;
}

nlohmann::json approvals_json(const Registry& registry) {
  // One entry per key that needs approval, in config order, with the newest request waiting on it.
  const std::int64_t now = registry.now();
  json arr = json::array();
  for (const auto& app : registry.config().apps) {
    for (const auto& ck : app.keys) {
      const Key* k = registry.key(ck.key);
      if (k == nullptr || k->auto_approve) continue;
      const RequestToken* latest = nullptr;
      std::size_t waiting = 0;
      for (const RequestToken* rt : registry.requests()) {  // oldest first
        if (rt->key != k->key || !rt->access_token.empty()) continue;
        ++waiting;
        latest = rt;
      }
      const auto at = registry.approved_at(k->key);
      json entry{{"key", k->key},
                 {"appid", k->appid},
                 {"approved", at.has_value()},
                 {"approved_at", at ? json(*at) : json(nullptr)},
                 {"waiting", waiting},
                 {"latest_request", nullptr}};
      if (latest != nullptr) {
        entry["latest_request"] = json{{"request_token", latest->token},
                                       {"verifier", latest->verifier},
                                       {"mgrev", latest->mgrev},
                                       {"peer", latest->peer},
                                       {"age_s", now - latest->created}};
      }
      arr.push_back(std::move(entry));
    }
  }
  return arr;
}

nlohmann::json tokens_json(const Registry& registry, const Microgears& gears) {
  const std::int64_t now = registry.now();
  json arr = json::array();
  for (const AccessToken* at : registry.tokens()) {
    arr.push_back(json{{"token", at->token},
                       {"appid", at->appid},
                       {"key", at->key},
                       {"kind", at->kind == KeyKind::Device ? "device" : "session"},
                       {"alias", at->alias},
                       {"online", gears.online(at->token)},
                       {"revoked", at->revoked},
                       {"age_s", now - at->issued}});
  }
  return arr;
}

Admin::Admin(Registry& registry, Microgears& gears) : registry_(registry), gears_(gears) {}

bool Admin::handle(const http::Request& req, const net::HttpResponder& out) {
  const auto seg = http::path_segments(req.path);
  if (seg.empty() || seg[0] != "admin") return false;
  if (!out.peer().loopback) {
    GW_LOG(Info, "netpie", "admin request %s %s from %s refused: not a loopback peer", req.method.c_str(),
           req.path.c_str(), out.peer().address.c_str());
    out.respond(rest_status(403, "the admin API answers loopback clients only"));
    return true;
  }
  const bool get = req.method == "GET" || req.method == "HEAD";
  const bool post = req.method == "POST";
  const std::string what = seg.size() > 1 ? seg[1] : "";

  if (what == "requests" && seg.size() == 2 && get) {
    out.respond(json_response(requests_json(registry_)));
    return true;
  }
  if (what == "approvals" && seg.size() == 2 && get) {
    out.respond(json_response(approvals_json(registry_)));
    return true;
  }
  if (what == "tokens" && seg.size() == 2 && get) {
    out.respond(json_response(tokens_json(registry_, gears_)));
    return true;
  }
  if ((what == "approve" || what == "deny" || what == "revoke") && seg.size() == 3) {
    if (!post) {
      http::Response r = rest_status(405, "POST only");
      r.headers.add("Allow", "POST");
      out.respond(std::move(r));
      return true;
    }
    if (what == "approve") {
      // Approval is per key (gateway/netpie/README.md): the owner approves "this device" once, whatever
      // request token it holds now or asks for later.
      const Key* k = registry_.approve(seg[2]);
      out.respond(k ? rest_status(200, "approved key " + k->key)
                    : rest_status(404, "no such request token or key: " + seg[2]));
      return true;
    }
    bool ok = what == "deny" ? registry_.deny(seg[2]) : false;
    if (what == "revoke") {
      const AccessToken* at = registry_.access(seg[2]);
      ok = at != nullptr;
      if (ok) registry_.revoke(seg[2]);  // already revoked: nothing to do, still done
    }
    const char* done = what == "deny" ? "denied " : "revoked ";
    const char* unknown = what == "deny" ? "no such request token or key: " : "no such token: ";
    out.respond(ok ? rest_status(200, done + seg[2]) : rest_status(404, unknown + seg[2]));
    return true;
  }
  if (what == "push" && seg.size() == 4) {
    if (!post) {
      http::Response r = rest_status(405, "POST only");
      r.headers.add("Allow", "POST");
      out.respond(std::move(r));
      return true;
    }
    Microgears::Push kind;
    if (seg[3] == "info") {
      kind = Microgears::Push::Info;
    } else if (seg[3] == "error") {
      kind = Microgears::Push::Error;
    } else if (seg[3] == "resetendpoint") {
      kind = Microgears::Push::ResetEndpoint;
    } else {
      out.respond(rest_status(400, "push what? info, error or resetendpoint"));
      return true;
    }
    const bool delivered = gears_.push(seg[2], kind, req.body);
    out.respond(delivered ? rest_status(200, "pushed")
                          : rest_status(404, "no live connection with that token"));
    return true;
  }
  out.respond(rest_status(404, "no such admin route"));
  return true;
}

}  // namespace gw::netpie
