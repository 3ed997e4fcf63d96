// The NETPIE-specific payloads of the gearauth token flow (docs/netpie-protocol.md §3.2, §3.3, §5, §11.4):
// the parameters hidden in oauth_callback, the request-token and access-token reply bodies, and the
// "pie://host:port" endpoint string. Builders for our local endpoint, parsers for our uplink.
// Pure string work; which token to issue and whether to approve is the caller's business.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/base/result.hpp"

namespace gw::microgear {

enum class GearauthError {
  MissingAppId,  // oauth_callback without a non-empty appid
  MissingField,  // a reply without oauth_token, oauth_token_secret (or endpoint, for atoken)
  BadEndpoint,   // not "pie://host[:port]" with a port in 1..65535
  BadFlag,       // flag other than P or S
};
const char* to_string(GearauthError e);

// ---- oauth_callback (§3.2) ----
// The callback value (already percent-decoded from the header) is a query string in any order:
// scope, appid, mgrev, verifier — Node, ESP8266, PY-old, HTML5 and RTOS each use another order.
struct CallbackParams {
  std::string scope;     // usually empty
  std::string appid;     // required
  std::string mgrev;     // library id, e.g. "NJS1b"; empty if absent
  std::string verifier;  // alias or mgrev; empty if absent
  bool operator==(const CallbackParams&) const = default;
};
Result<CallbackParams, GearauthError> parse_callback(std::string_view callback);
// Node's order: "scope=..&appid=..&mgrev=..&verifier=..", values percent-encoded.
std::string build_callback(const CallbackParams& p);

// ---- Endpoint (§5) ----
// Host must be a DNS name or an IPv4 address: every client splits the string at ':'.
struct Endpoint {
  std::string host;
  std::optional<std::uint16_t> port;  // Arduino-Ethernet defaults to 1883 when absent
  bool operator==(const Endpoint&) const = default;
};
std::string format_endpoint(const Endpoint& e);  // "pie://gb.netpie.io:1883"; plain in /api/endpoint
Result<Endpoint, GearauthError> parse_endpoint(std::string_view s);

// ---- Request-token reply (§3.2, §11.4) ----
struct RequestTokenReply {
  std::string token;   // 16 characters (kTokenLength)
  std::string secret;  // 32 characters (kSecretLength)
  bool operator==(const RequestTokenReply&) const = default;
};
// "oauth_token=<t>&oauth_token_secret=<s>&oauth_callback_confirmed=true": exactly three fields in that
// order, because the Java/Android parsers are positional (field order inferred, UNCONFIRMED).
std::string build_rtoken_body(const RequestTokenReply& r);
// Reads the first line of the body as a query string; field order free.
Result<RequestTokenReply, GearauthError> parse_rtoken_body(std::string_view body);

// ---- Access-token reply (§3.3, §11.4) ----
enum class TokenFlag : char { Persistent = 'P', Session = 'S' };
struct AccessTokenReply {
  TokenFlag flag = TokenFlag::Persistent;
  std::string token;
  std::string secret;
  Endpoint endpoint;
  std::optional<std::string> appkey;  // read if present (Node caches it); never written (§3.3)
  bool operator==(const AccessTokenReply&) const = default;
};
// "flag=P&oauth_token=<t>&oauth_token_secret=<s>&endpoint=pie%3A%2F%2F<host>%3A<port>": four fields in
// the order the Android parser expects (inferred, UNCONFIRMED), the endpoint percent-encoded with
// upper-case hex because ESP8266 skips exactly 12 characters ("pie%3A%2F%2F") and decodes only A-F.
std::string build_atoken_body(const AccessTokenReply& r);
// First body line as a query string; flag defaults to P when absent (PY-old, §2).
Result<AccessTokenReply, GearauthError> parse_atoken_body(std::string_view body);

}  // namespace gw::microgear
