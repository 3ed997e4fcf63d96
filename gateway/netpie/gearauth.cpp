// The gearauth endpoints (see gearauth.hpp). Status codes follow what the clients do with them
// (docs/netpie-protocol.md §3.3): 401 on /api/atoken means "not authorized yet, retry with the same
// request token"; 500 means "request token unknown or not yours" (ESP8266 then starts over from
// /api/rtoken). Only a wait that can end (the owner's approval) may answer 401: anything else answered
// 401 keeps a device retrying until its flash is erased. Every refusal is logged once at Info with the
// key and the reason, never with a secret.
#include "gateway/netpie/gearauth.hpp"

#include "gateway/base/log.hpp"
#include "protocols/http/url_encoding.hpp"
#include "protocols/microgear/credentials.hpp"
#include "protocols/microgear/crypto.hpp"
#include "protocols/microgear/gearauth.hpp"
#include "protocols/microgear/oauth1.hpp"
#include "protocols/microgear/oauth2.hpp"

namespace gw::netpie {

namespace {

// A closing text reply: the embedded clients read the first body line until the server closes (§4).
http::Response reply(int status, std::string body, std::string content_type = "text/plain") {
  http::Response r;
  r.status = status;
  r.content_type = std::move(content_type);
  r.body = std::move(body);
  r.close = true;
  return r;
}

http::Response json_reply(int status, std::string body) {
  return reply(status, std::move(body), "application/json");
}

bool dns_or_ipv4(std::string_view h) {
  if (h.empty() || h.size() > 253) return false;
  for (char c : h) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

const char* timestamp_problem(microgear::TimestampCheck t) {
  switch (t) {
    case microgear::TimestampCheck::Ok:
      return nullptr;
    case microgear::TimestampCheck::Malformed:
      return "malformed oauth_timestamp";
    case microgear::TimestampCheck::TooOld:
      return "oauth_timestamp too old";
    case microgear::TimestampCheck::TooNew:
      return "oauth_timestamp in the future";
  }
  return "bad oauth_timestamp";
}

// The host a client without a Host header signed for: the address it connected to (§4: ESP8266 GETs
// carry no Host; its POSTs do).
std::string fallback_host(const net::HttpPeer& peer) {
  if (peer.local_host.find(':') != std::string::npos)
    return "[" + peer.local_host + "]:" + std::to_string(peer.local_port);
  return peer.local_host + ":" + std::to_string(peer.local_port);
}

// The checks shared by /api/rtoken and /api/atoken, after the consumer key is known: signature,
// timestamp window, replay. Returns the refusal text, or nullptr.
const char* check_oauth(Registry& reg, const http::Request& req, const net::HttpPeer& peer,
                        const microgear::Params& params, const std::string& consumer_secret,
                        const std::string& token_secret, int& status) {
  // The client signed the URI it used (§3.2): https on a TLS listener (NETPIE's 8081). A plain listener
  // may sit behind a TLS terminator, so there the signature is accepted for either scheme; the scheme is
  // no secret: the key, the nonce window and the replay check are what protect the call.
  const char* scheme = peer.secure ? "https" : "http";
  auto verdict =
      microgear::verify_hmac_sha1(req.method, microgear::request_base_uri(req, scheme, fallback_host(peer)),
                                  params, consumer_secret, token_secret);
  if (verdict == microgear::Verdict::BadSignature && !peer.secure) {
    verdict = microgear::verify_hmac_sha1(req.method,
                                          microgear::request_base_uri(req, "https", fallback_host(peer)),
                                          params, consumer_secret, token_secret);
  }
  if (verdict != microgear::Verdict::Ok) {
    status = verdict == microgear::Verdict::BadSignature ? 401 : 400;
    return microgear::to_string(verdict);
  }
  const std::string* ts = http::find_param(params, "oauth_timestamp");
  const auto skew = static_cast<std::int64_t>(reg.config().clock_skew_s);
  const auto tcheck = reg.config().clock_skew_s == 0 ? microgear::TimestampCheck::Ok
                                                     : microgear::check_timestamp(*ts, reg.now(), skew, skew);
  if (const char* problem = timestamp_problem(tcheck)) {
    status = 401;
    return problem;
  }
  std::int64_t t = 0;
  for (char c : *ts) t = t * 10 + (c - '0');
  if (reg.replayed(*http::find_param(params, "oauth_signature"), t)) {
    status = 401;
    return "replayed request (same signature seen before)";
  }
  return nullptr;
}

}  // namespace

Gearauth::Gearauth(Registry& registry) : registry_(registry) {
  registry_.set_approval_listener([this](const std::string& key) { approved(key); });
}

std::string Gearauth::endpoint_host(const http::Request& req, const net::HttpPeer& peer) const {
  if (!registry_.config().endpoint_host.empty()) return registry_.config().endpoint_host;
  std::string_view host = !req.authority.empty() ? std::string_view(req.authority) : req.headers.get("Host");
  if (const std::size_t colon = host.rfind(':'); colon != std::string_view::npos)
    host = host.substr(0, colon);
  if (dns_or_ipv4(host)) return std::string(host);
  std::string_view local = peer.local_host;
  constexpr std::string_view kMapped = "::ffff:";
  if (local.substr(0, kMapped.size()) == kMapped) local.remove_prefix(kMapped.size());
  if (dns_or_ipv4(local) && local != "0.0.0.0") return std::string(local);
  return "127.0.0.1";
}

bool Gearauth::handle(const http::Request& req, const net::HttpResponder& out) {
  const auto seg = http::path_segments(req.path);
  if (seg.empty()) return false;
  const bool get = req.method == "GET" || req.method == "HEAD";
  const bool post = req.method == "POST";
  if (seg[0] == "api") {
    const std::string what = seg.size() > 1 ? seg[1] : "";
    if ((what == "rtoken" || what == "atoken") && seg.size() == 2) {
      if (!post) {
        http::Response r = reply(405, "POST only\n");
        r.headers.add("Allow", "POST");
        out.respond(std::move(r));
      } else if (what == "rtoken") {
        rtoken(req, out);
      } else {
        atoken(req, out);
      }
      return true;
    }
    if (what == "time" && seg.size() == 2 && get) {
      out.respond(reply(200, std::to_string(registry_.now())));
      return true;
    }
    if (what == "endpoint" && seg.size() == 3 && get) {
      endpoint(seg[2], req, out);
      return true;
    }
    if (what == "revoke" && seg.size() == 4 && get) {
      revoke(seg[2], seg[3], out);
      return true;
    }
    out.respond(reply(404, "not found\n"));
    return true;
  }
  if (seg[0] == "oauth2" && seg.size() == 2) {
    if (seg[1] == "authorize" && (get || post)) {
      authorize(req, out);
    } else if (seg[1] == "token" && post) {
      token(req, out);
    } else if (seg[1] == "callback" && get) {
      out.respond(reply(200, "authorized\n"));
    } else {
      out.respond(json_reply(404, microgear::build_error_json("invalid_request", "no such endpoint")));
    }
    return true;
  }
  return false;
}

void Gearauth::rtoken(const http::Request& req, const net::HttpResponder& out) {
  const auto& peer = out.peer();
  auto params = microgear::request_params(req);
  if (!params) {
    GW_LOG(Info, "netpie", "rtoken from %s: %s", peer.address.c_str(), microgear::to_string(params.error()));
    out.respond(reply(400, "bad Authorization header\n"));
    return;
  }
  const std::string* ck = http::find_param(*params, "oauth_consumer_key");
  const Key* key = ck ? registry_.key(*ck) : nullptr;
  if (key == nullptr) {
    GW_LOG(Info, "netpie", "rtoken from %s: %s", peer.address.c_str(),
           ck ? "unknown key" : "no consumer key");
    out.respond(reply(ck ? 401 : 400, ck ? "unknown key\n" : "missing oauth_consumer_key\n"));
    return;
  }
  int status = 0;
  if (const char* problem = check_oauth(registry_, req, peer, *params, key->secret, "", status)) {
    GW_LOG(Info, "netpie", "rtoken for key %s from %s refused: %s", key->key.c_str(), peer.address.c_str(),
           problem);
    out.respond(reply(status, std::string(problem) + "\n"));
    return;
  }
  const std::string* callback = http::find_param(*params, "oauth_callback");
  auto cb = callback ? microgear::parse_callback(*callback)
                     : Result<microgear::CallbackParams, microgear::GearauthError>(
                           unexpected(microgear::GearauthError::MissingAppId));
  if (!cb) {
    GW_LOG(Info, "netpie", "rtoken for key %s from %s: oauth_callback without appid", key->key.c_str(),
           peer.address.c_str());
    out.respond(reply(400, "oauth_callback must carry appid\n"));
    return;
  }
  if (cb->appid != key->appid) {
    GW_LOG(Info, "netpie", "rtoken for key %s from %s: asked for app %s, the key belongs to %s",
           key->key.c_str(), peer.address.c_str(), cb->appid.c_str(), key->appid.c_str());
    out.respond(reply(401, "key does not belong to this appid\n"));
    return;
  }
  auto rt = registry_.issue_request(*key, *cb, peer.address, /*oauth2=*/false);
  if (!rt) {
    const bool busy = rt.error() == Registry::RequestError::TooMany;
    out.respond(reply(busy ? 503 : 401, busy ? "too many pending requests\n" : "key disabled\n"));
    return;
  }
  out.respond(reply(200, microgear::build_rtoken_body({(*rt)->token, (*rt)->secret}),
                    "application/x-www-form-urlencoded"));
}

void Gearauth::atoken(const http::Request& req, const net::HttpResponder& out) {
  const auto& peer = out.peer();
  auto params = microgear::request_params(req);
  if (!params) {
    out.respond(reply(400, "bad Authorization header\n"));
    return;
  }
  const std::string* ck = http::find_param(*params, "oauth_consumer_key");
  const std::string* rtoken = http::find_param(*params, "oauth_token");
  if (ck == nullptr || rtoken == nullptr) {
    out.respond(reply(400, "missing oauth_consumer_key or oauth_token\n"));
    return;
  }
  const Key* key = registry_.key(*ck);
  if (key == nullptr) {
    GW_LOG(Info, "netpie", "atoken from %s: unknown key", peer.address.c_str());
    out.respond(reply(401, "unknown key\n"));
    return;
  }
  const RequestToken* rt = registry_.request(*rtoken);
  if (rt == nullptr || rt->key != key->key || rt->secret.empty()) {
    // 500: the clients' "request token not found" (§3.3); ESP8266 starts over from /api/rtoken.
    GW_LOG(Info, "netpie", "atoken for key %s from %s: unknown request token", key->key.c_str(),
           peer.address.c_str());
    out.respond(reply(500, "request token not found\n"));
    return;
  }
  int status = 0;
  if (const char* problem = check_oauth(registry_, req, peer, *params, key->secret, rt->secret, status)) {
    GW_LOG(Info, "netpie", "atoken for key %s from %s refused: %s", key->key.c_str(), peer.address.c_str(),
           problem);
    out.respond(reply(status, std::string(problem) + "\n"));
    return;
  }
  if (const std::string* verifier = http::find_param(*params, "oauth_verifier");
      verifier && !rt->verifier.empty() && *verifier != rt->verifier) {
    // The ESP8266 library keeps its request token in EEPROM and recomputes the verifier from the current
    // alias: after an alias change (e.g. a power loss between setAlias and the token) they disagree.
    // 401 would be read as "not approved yet" forever; 500 makes it start over from /api/rtoken (§3.3).
    GW_LOG(Info, "netpie",
           "atoken for key %s from %s: oauth_verifier '%s' is not the request token's '%s' (alias changed?); "
           "answering 500 so the device asks for a new request token",
           key->key.c_str(), peer.address.c_str(), verifier->c_str(), rt->verifier.c_str());
    out.respond(reply(500, "request token not found\n"));
    return;
  }
  exchange(Held{*rtoken, key->key, endpoint_host(req, peer), out, 0}, /*may_hold=*/true);
}

void Gearauth::exchange(Held h, bool may_hold) {
  const std::string rtoken = h.rtoken;
  registry_.exchange(
      rtoken, [this, h = std::move(h), may_hold](Result<AccessToken, Registry::AccessError> r) {
        if (!r) {
          const auto e = r.error();
          if (e == Registry::AccessError::NotApproved && may_hold) {
            hold(h);
            return;
          }
          // 401 keeps the client waiting with its request token (approval pending, key disabled).
          const int code = e == Registry::AccessError::QuotaExceeded ? 403
                           : e == Registry::AccessError::StoreFailed ? 503
                           : e == Registry::AccessError::KeyUnknown  ? 500
                                                                     : 401;
          if (e != Registry::AccessError::NotApproved) {
            GW_LOG(Info, "netpie", "atoken for key %s refused: %s", h.key.c_str(), to_string(e));
          }
          h.out.respond(reply(code, std::string(to_string(e)) + "\n"));
          return;
        }
        microgear::AccessTokenReply body;
        body.flag =
            r->kind == KeyKind::Session ? microgear::TokenFlag::Session : microgear::TokenFlag::Persistent;
        body.token = r->token;
        body.secret = r->secret;
        body.endpoint = microgear::Endpoint{h.host, registry_.config().endpoint_port};
        h.out.respond(reply(200, microgear::build_atoken_body(body), "application/x-www-form-urlencoded"));
      });
}

// A key not yet approved: the 401 waits up to netpie.atoken_hold_ms, so a client that asks again as soon as
// it is answered (the HTML5 microgear, with a CORS pre-flight each time: about 120 requests a second) asks
// about once per hold. The owner's approval answers the held requests at once (approved()).
void Gearauth::hold(Held h) {
  const auto& cfg = registry_.config();
  auto& list = held_[h.key];
  if (cfg.atoken_hold_ms == 0 || list.size() >= cfg.atoken_max_held_per_key) {
    // Policy answer_new: past the bound (or with holding off) the 401 goes out at once.
    h.out.respond(reply(401, std::string(to_string(Registry::AccessError::NotApproved)) + "\n"));
    if (list.empty()) held_.erase(h.key);
    return;
  }
  h.deadline = registry_.now_ms() + cfg.atoken_hold_ms;
  list.push_back(std::move(h));
}

void Gearauth::approved(const std::string& key) {
  auto it = held_.find(key);
  if (it == held_.end()) return;
  std::vector<Held> list = std::move(it->second);
  held_.erase(it);
  GW_LOG(Info, "netpie", "key %s approved: answering its %zu held /api/atoken request(s) now", key.c_str(),
         list.size());
  for (Held& h : list) exchange(std::move(h), /*may_hold=*/false);
}

void Gearauth::tick() {
  const Millis now = registry_.now_ms();
  for (auto it = held_.begin(); it != held_.end();) {
    auto& list = it->second;
    std::size_t kept = 0;
    for (Held& h : list) {
      if (h.deadline <= now) {
        h.out.respond(reply(401, std::string(to_string(Registry::AccessError::NotApproved)) + "\n"));
      } else {
        list[kept++] = std::move(h);
      }
    }
    list.erase(list.begin() + static_cast<std::ptrdiff_t>(kept), list.end());
    it = list.empty() ? held_.erase(it) : std::next(it);
  }
}

std::size_t Gearauth::held() const {
  std::size_t n = 0;
  for (const auto& [key, list] : held_) n += list.size();
  return n;
}

void Gearauth::endpoint(const std::string& key, const http::Request& req, const net::HttpResponder& out) {
  if (registry_.key(key) == nullptr) {
    // An empty body: the Node library takes any body it gets as the endpoint (§4).
    out.respond(reply(404, ""));
    return;
  }
  out.respond(reply(200, microgear::format_endpoint(microgear::Endpoint{endpoint_host(req, out.peer()),
                                                                        registry_.config().endpoint_port})));
}

void Gearauth::revoke(const std::string& token, const std::string& code, const net::HttpResponder& out) {
  // The clients compare the body with "FAILED" (Node, ESP8266) or look at the status only (Python, §4).
  // Revoking is idempotent: the caller wants the token gone, and a token we do not know (never issued
  // here, or its tombstone forgotten) is gone. Answering FAILED would make the ESP8266 library keep that
  // token after CONNACK 4 and try it forever (§6.3).
  const AccessToken* at = registry_.access(token);
  const Key* key = at ? registry_.key(at->key) : nullptr;
  if (at == nullptr || key == nullptr) {
    GW_LOG(Info, "netpie", "revoke of token %s%s%s: unknown token, nothing to revoke; answering SUCCESS",
           token.c_str(), at ? " of key " : "", at ? at->key.c_str() : "");
    out.respond(reply(200, "SUCCESS"));
    return;
  }
  if (!microgear::check_revoke_code(code, at->token, at->secret, key->secret)) {
    GW_LOG(Info, "netpie", "revoke of token %s (key %s) refused: wrong revoke code", token.c_str(),
           key->key.c_str());
    out.respond(reply(403, "FAILED"));
    return;
  }
  if (at->revoked) {
    GW_LOG(Info, "netpie", "revoke of token %s (key %s): already revoked; answering SUCCESS", token.c_str(),
           key->key.c_str());
  }
  registry_.revoke(token);  // already revoked: still a success, the token is gone either way
  out.respond(reply(200, "SUCCESS"));
}

void Gearauth::authorize(const http::Request& req, const net::HttpResponder& out) {
  auto ar = microgear::parse_authorize_request(req.query_params);
  if (!ar) {
    out.respond(json_reply(400, microgear::build_error_json(microgear::rfc6749_error(ar.error()),
                                                            microgear::to_string(ar.error()))));
    return;
  }
  const Key* key = registry_.key(ar->client_id);
  if (key == nullptr || key->appid != ar->appid) {
    GW_LOG(Info, "netpie", "oauth2/authorize from %s: %s", out.peer().address.c_str(),
           key ? "key of another app" : "unknown key");
    out.respond(
        json_reply(401, microgear::build_error_json("unauthorized_client", "unknown key for this appid")));
    return;
  }
  microgear::CallbackParams cb;
  cb.appid = ar->appid;
  cb.mgrev = ar->mgrev;
  cb.verifier = ar->alias.value_or(ar->mgrev);
  auto rt = registry_.issue_request(*key, cb, out.peer().address, /*oauth2=*/true);
  if (!rt) {
    const bool busy = rt.error() == Registry::RequestError::TooMany;
    out.respond(json_reply(busy ? 503 : 401,
                           microgear::build_error_json("temporarily_unavailable",
                                                       busy ? "too many pending requests" : "key disabled")));
    return;
  }
  // Both clients follow the redirect and take what follows "code=" in the final URL; Python fetches
  // it, so it points back at this server, which answers 200 (docs/netpie-protocol.md §3.4; the target is our
  // choice).
  std::string_view host = req.headers.get("Host");
  const std::string authority = !host.empty() ? std::string(host) : fallback_host(out.peer());
  http::Response r;
  r.status = 302;
  r.close = true;
  r.headers.add("Location", microgear::authorize_redirect_location(
                                (out.peer().secure ? "https://" : "http://") + authority + "/oauth2/callback",
                                (*rt)->token));
  out.respond(std::move(r));
}

void Gearauth::token(const http::Request& req, const net::HttpResponder& out) {
  // Parameters in the query (both clients); a form body works too.
  http::Params params = req.query_params;
  if (http::iequals(req.headers.get("Content-Type").substr(0, 33), "application/x-www-form-urlencoded")) {
    for (auto& p : http::parse_query(req.body)) params.push_back(std::move(p));
  }
  auto tr = microgear::parse_token_request(params);
  if (!tr) {
    out.respond(json_reply(400, microgear::build_error_json(microgear::rfc6749_error(tr.error()),
                                                            microgear::to_string(tr.error()))));
    return;
  }
  const Key* key = registry_.key(tr->client_id);
  if (key == nullptr ||
      !microgear::constant_time_equal(microgear::hmac_sha1_base64("k", key->secret),
                                      microgear::hmac_sha1_base64("k", tr->client_secret))) {
    GW_LOG(Info, "netpie", "oauth2/token from %s: wrong client_id or client_secret",
           out.peer().address.c_str());
    out.respond(
        json_reply(401, microgear::build_error_json("invalid_client", "wrong client_id or client_secret")));
    return;
  }
  const RequestToken* rt = registry_.request(tr->code);
  if (rt == nullptr || rt->key != key->key) {
    out.respond(json_reply(400, microgear::build_error_json("invalid_grant", "unknown code")));
    return;
  }
  const std::string host = endpoint_host(req, out.peer());
  const std::uint16_t port = registry_.config().endpoint_port;
  registry_.exchange(tr->code, [out, host, port](Result<AccessToken, Registry::AccessError> r) {
    if (!r) {
      const auto e = r.error();
      const int status = e == Registry::AccessError::QuotaExceeded ? 403
                         : e == Registry::AccessError::StoreFailed ? 503
                                                                   : 401;
      const char* code = e == Registry::AccessError::NotApproved ? "authorization_pending" : "access_denied";
      out.respond(json_reply(status, microgear::build_error_json(code, to_string(e))));
      return;
    }
    microgear::TokenReply body;
    body.token = r->token;
    body.secret = r->secret;
    body.flag =
        r->kind == KeyKind::Session ? microgear::TokenFlag::Session : microgear::TokenFlag::Persistent;
    body.endpoint = microgear::Endpoint{host, port};
    out.respond(json_reply(200, microgear::build_token_reply(body)));
  });
}

}  // namespace gw::netpie
