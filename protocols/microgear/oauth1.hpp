// OAuth 1.0a (RFC 5849) as NETPIE's gearauth uses it for /api/rtoken and /api/atoken (docs/netpie-protocol.md
// §3): parsing the Authorization header as every microgear writes it, the signature base string, the
// HMAC-SHA1 signature and its constant-time check (server side), and signing a request (client side,
// for the uplink). Pure: time, nonces and secrets are arguments; no I/O, no clock, no logging.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/base/result.hpp"
#include "protocols/http/request.hpp"
#include "protocols/http/url_encoding.hpp"

namespace gw::microgear {

using http::Param;
using http::Params;

// ---- Authorization header (RFC 5849 §3.5.1) ----

struct AuthorizationHeader {
  Params params;                     // percent-decoded, in header order; realm is kept apart
  std::optional<std::string> realm;  // PY-old sends realm="NETPIE" (docs/netpie-protocol.md §3.2)
};

enum class HeaderError {
  NotOAuth,        // another scheme (Basic, Bearer, ...) or empty
  Malformed,       // a parameter without '=' or an unterminated quoted value
  DuplicateParam,  // the same parameter twice (RFC 5849 §3.1 forbids it)
  TooManyParams,   // more than kMaxHeaderParams
};
const char* to_string(HeaderError e);
inline constexpr std::size_t kMaxHeaderParams = 32;

// Tolerates what the microgears send: "OAuth" in any case, quoted or unquoted values, realm anywhere,
// any spaces around ',' and '=', no comma at all between parameters, and values that were never
// percent-encoded (ESP8266/Arduino-Ethernet, §3.2) — decoding is tolerant and '+' stays '+'.
Result<AuthorizationHeader, HeaderError> parse_authorization(std::string_view value);

// ---- Signature base string (RFC 5849 §3.4.1) ----

// §3.4.1.2: lower-cased scheme and host, the port only when it is not the scheme's default (80 for
// http, 443 for https), then the path ("/" if empty), no query. `host` is a Host header value or a
// configured host, with or without ":port"; IPv6 literals in brackets are understood.
// ("http", "GA.netpie.io:8080", "/api/rtoken") -> "http://ga.netpie.io:8080/api/rtoken".
std::string base_string_uri(std::string_view scheme, std::string_view host, std::string_view path);

// §3.4.1.3.2: every parameter except oauth_signature, names and values percent_encode()d, sorted by
// encoded name then encoded value, joined as name=value with '&'.
std::string normalize_parameters(const Params& params);

// §3.4.1.1: upper-case method & enc(base URI) & enc(normalized parameters).
std::string signature_base_string(std::string_view method, std::string_view base_uri, const Params& params);

// §3.4.2: base64(HMAC-SHA1(enc(consumer secret) "&" enc(token secret), base string)). The token secret
// is empty for the request-token call.
std::string sign_hmac_sha1(std::string_view base_string, std::string_view consumer_secret,
                           std::string_view token_secret);

// ---- Server side ----

// §3.4.1.3.1: the signed parameters are the header's (realm excluded), the query's and, for an
// application/x-www-form-urlencoded body, the body's (old python clients put them there).
Params gather_params(const AuthorizationHeader* header, const Params& query, const Params* form_body);

enum class Verdict {
  Ok,
  MissingParam,                // no oauth_consumer_key, _signature_method, _signature, _timestamp or _nonce
  DuplicateParam,              // an oauth_* parameter twice across header, query and body
  UnsupportedSignatureMethod,  // anything but HMAC-SHA1
  UnsupportedVersion,          // oauth_version present and not "1.0"
  BadSignature,                // forged, wrong secret, or signed for another URL
};
const char* to_string(Verdict v);

// Checks oauth_signature against the parameters gathered from one request. `base_uri` is the URL
// the client signed, from base_string_uri() with the Host header (or the configured host when the
// request has none — ESP8266 GETs carry no Host, §4). Nonces are not checked: ESP8266-RTOS sends
// the constant "sdjkjdf8" (§3.2). Timestamps are checked separately (check_timestamp).
Verdict verify_hmac_sha1(std::string_view method, std::string_view base_uri, const Params& params,
                         std::string_view consumer_secret, std::string_view token_secret);

// The same three steps for a parsed HTTP request, which is what the gearauth endpoint has:
// - request_params: the Authorization header's parameters when it is OAuth (none when absent), the
//   query's, and the body's when Content-Type is application/x-www-form-urlencoded.
// - request_base_uri: `scheme` (the listener's: "http" or "https"), the authority of an absolute-form
//   target, else the Host header, else `fallback_host` (the configured gearauth host), and the path.
// - verify_request: both of the above, then verify_hmac_sha1. A non-OAuth or malformed
//   Authorization header gives MissingParam.
Result<Params, HeaderError> request_params(const http::Request& req);
std::string request_base_uri(const http::Request& req, std::string_view scheme,
                             std::string_view fallback_host);
Verdict verify_request(const http::Request& req, std::string_view scheme, std::string_view fallback_host,
                       std::string_view consumer_secret, std::string_view token_secret);

enum class TimestampCheck { Ok, Malformed, TooOld, TooNew };
// oauth_timestamp is decimal Unix seconds; accepted when now - max_age <= ts <= now + max_ahead.
// ESP8266 derives it from /api/time plus uptime, so small drifts are normal.
TimestampCheck check_timestamp(std::string_view timestamp, std::int64_t now, std::int64_t max_age,
                               std::int64_t max_ahead);
// The same window for an already parsed time (also used for the MQTT username's time, §6.1).
TimestampCheck check_time_window(std::int64_t ts, std::int64_t now, std::int64_t max_age,
                                 std::int64_t max_ahead);

// ---- Client side (the uplink acting as a microgear) ----

struct ClientRequest {
  std::string method = "POST";
  std::string base_uri;  // base_string_uri() of the URL called
  Params extra;          // query or form parameters sent outside the header (signed too)
  std::string consumer_key;
  std::string consumer_secret;
  std::string token;                    // empty: no oauth_token (request-token call)
  std::string token_secret;             // empty for the request-token call
  std::optional<std::string> callback;  // oauth_callback
  std::optional<std::string> verifier;  // oauth_verifier
  std::string nonce;
  std::int64_t timestamp = 0;
  std::optional<std::string> realm;  // written first, not signed
};

struct SignedRequest {
  std::string authorization;  // full header value: OAuth k="v",k="v",...
  std::string base_string;
  std::string signature;  // base64, not percent-encoded
};

// Builds and signs the protocol parameters like node-oauth does (sorted, every value percent-encoded
// and quoted, separated by ','), with oauth_signature_method HMAC-SHA1 and oauth_version 1.0.
SignedRequest sign_request(const ClientRequest& req);

}  // namespace gw::microgear
