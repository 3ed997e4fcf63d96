// HTTP/1.1 response serialisation for the local HTTP front end and the NETPIE gearauth endpoint.
// The embedded microgears read the status from a fixed column and honour only "Content-Length: "
// (docs/netpie-protocol.md §4, §11.3), so a response is always "HTTP/1.1", never chunked, and always carries
// Content-Length (except 1xx/204, where RFC 9110 §8.6 forbids it). Also CORS helpers for HTML5.
#pragma once

#include <string>
#include <string_view>

#include "protocols/http/request.hpp"

namespace gw::http {

struct Response {
  int status = 200;
  std::string reason;        // empty: the standard phrase for `status`
  std::string content_type;  // empty: no Content-Type header
  Headers headers;           // extra headers, written in order after Content-Type
  std::string body;
  bool close = false;  // adds "Connection: close"
};

// Interim answer to "Expect: 100-continue" (RequestParser::take_continue()).
inline constexpr std::string_view kContinueResponse = "HTTP/1.1 100 Continue\r\n\r\n";

// Standard reason phrase ("Not Found"), or "Unknown" for codes http-parser does not list.
std::string_view reason_phrase(int status);

// Appends the serialised response to `out`:
//   HTTP/1.1 <status> <reason>\r\n [Content-Type] [extra headers] Content-Length [Connection: close] \r\n
//   body
// `head_request`: answer to HEAD — Content-Length of the body, but no body bytes (RFC 9110 §9.3.2).
void write_response(const Response& r, std::string& out, bool head_request = false);
std::string to_string(const Response& r, bool head_request = false);

// A small text/plain response; `close` for error answers that end the connection.
Response text_response(int status, std::string body, bool close = false);

// CORS (Fetch standard §3.2) for the HTML5 microgear, which calls the gearauth API cross-origin with
// a custom Authorization header (docs/netpie-protocol.md §4). The real server's headers are UNCONFIRMED;
// these defaults allow any origin without credentials, which is what XMLHttpRequest without withCredentials
// needs.
struct CorsPolicy {
  std::string allow_origin = "*";  // "*" or one origin; "*" is written as "*"
  std::string allow_methods = "GET, POST, PUT, DELETE, OPTIONS";
  std::string allow_headers = "Authorization, Content-Type";  // used when the preflight names none
  std::string expose_headers;                                 // empty: header omitted
  int max_age_seconds = 600;
};

// Adds Access-Control-Allow-Origin (and Expose-Headers, and Vary: Origin when a single origin is
// configured) to a normal response.
void add_cors_headers(Response& r, const CorsPolicy& policy);

// An OPTIONS request carrying Origin and Access-Control-Request-Method.
bool is_cors_preflight(const Request& req);

// 200 with an empty body that allows the requested method and headers (echoing
// Access-Control-Request-Headers when present); answers every preflight the same way.
Response cors_preflight_response(const Request& req, const CorsPolicy& policy);

}  // namespace gw::http
