// The "OAuth2-style" token endpoints that microgear-python >= 1.2 and microgear-csharp use instead of
// /api/rtoken + /api/atoken (docs/netpie-protocol.md §3.4): parsing /oauth2/authorize and /oauth2/token
// requests, building the redirect that carries the code and the JSON token reply, and the client-side
// inverses. Several shapes are UNCONFIRMED (§13 Q10); each choice below says what it satisfies.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "gateway/base/result.hpp"
#include "protocols/http/url_encoding.hpp"
#include "protocols/microgear/gearauth.hpp"

namespace gw::microgear {

enum class OAuth2Error {
  UnsupportedResponseType,  // response_type other than "code"
  UnsupportedGrantType,     // grant_type other than "authorization_code"
  MissingParam,             // client_id, scope appid, code or client_secret missing
  MalformedReply,           // token reply JSON unusable (client side)
};
const char* to_string(OAuth2Error e);

// RFC 6749 §5.2 error code for a request error ("invalid_request", "unsupported_response_type", ...).
const char* rfc6749_error(OAuth2Error e);

// ---- GET /oauth2/authorize?response_type=code&client_id=<key>&scope=appid:<AppID>[ alias:<alias>]
//      &state=mgrev:<mgrev> ----
struct AuthorizeRequest {
  std::string client_id;             // gear key
  std::string appid;                 // from scope "appid:<AppID>"
  std::optional<std::string> alias;  // from scope "alias:<alias>"
  std::string mgrev;                 // from state "mgrev:<mgrev>"; empty if absent
  bool operator==(const AuthorizeRequest&) const = default;
};
// Scope items are separated by spaces (Python sends '+' or %20, C# %20 — both decode to ' ');
// commas are accepted too. Unknown items are ignored.
Result<AuthorizeRequest, OAuth2Error> parse_authorize_request(const http::Params& query);
std::string build_authorize_query(const AuthorizeRequest& r);

// Location for the 302 answer: `redirect_base` + ('?' or '&') + "code=" + code. Both clients follow
// the redirect and take everything after "code=" in the *final* URL as the request token, and C#
// requires "code=" to occur exactly once, so the code is appended last and `redirect_base` must not
// contain "code=". Python's requests also fetches the target, so it should be a URL on the gateway
// that answers 200 (UNCONFIRMED what the real server redirects to).
std::string authorize_redirect_location(std::string_view redirect_base, std::string_view code);
// Client side: the text after the first "code=" in the final URL, or nullopt.
std::optional<std::string> code_from_url(std::string_view url);

// ---- POST /oauth2/token?grant_type=authorization_code&code=<code>&client_id=<key>
//      &client_secret=<secret>&state=mgrev:<mgrev> (parameters in the query; a form body works too) ----
struct TokenRequest {
  std::string code;
  std::string client_id;
  std::string client_secret;  // the gear secret, in clear: compare with constant_time_equal()
  std::string mgrev;
  bool operator==(const TokenRequest&) const = default;
};
Result<TokenRequest, OAuth2Error> parse_token_request(const http::Params& params);
std::string build_token_query(const TokenRequest& r);

// ---- Token reply JSON ----
struct TokenReply {
  std::string token;
  std::string secret;
  TokenFlag flag = TokenFlag::Persistent;
  Endpoint endpoint;
  bool operator==(const TokenReply&) const = default;
};
// Compact JSON in this exact key order:
//   {"access_token":"<token>:<secret>","token_type":"bearer","flag":"P","endpoint":"pie://<host>:<port>"}
// C# matches the literal prefix {"access_token":" and the literal ","token_type" right after the
// token, and reads the endpoint up to the closing "} — so endpoint must be last and nothing may be
// pretty-printed. The token_type value ("bearer") is UNCONFIRMED; no client reads it.
std::string build_token_reply(const TokenReply& r);
Result<TokenReply, OAuth2Error> parse_token_reply(std::string_view json);

// {"error":"<code>","error_description":"<text>"} (RFC 6749 §5.2), for a 400/401 answer.
std::string build_error_json(std::string_view error, std::string_view description);

}  // namespace gw::microgear
