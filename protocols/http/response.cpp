// Response serialisation and CORS helpers (see response.hpp).
#include "protocols/http/response.hpp"

#include <http_parser.h>

namespace gw::http {

std::string_view reason_phrase(int status) {
  switch (status) {
#define GW_HTTP_REASON(num, name, text) \
  case num:                             \
    return #text;
    HTTP_STATUS_MAP(GW_HTTP_REASON)
#undef GW_HTTP_REASON
    default:
      return "Unknown";
  }
}

void write_response(const Response& r, std::string& out, bool head_request) {
  out.append("HTTP/1.1 ");
  out.append(std::to_string(r.status));
  out.push_back(' ');
  out.append(r.reason.empty() ? reason_phrase(r.status) : std::string_view{r.reason});
  out.append("\r\n");
  if (!r.content_type.empty()) {
    out.append("Content-Type: ").append(r.content_type).append("\r\n");
  }
  for (const Header& h : r.headers.all()) {
    out.append(h.name).append(": ").append(h.value).append("\r\n");
  }
  const bool no_length = (r.status >= 100 && r.status < 200) || r.status == 204;
  if (!no_length) {
    // Exact spelling matters: ESP8266-RTOS matches "Content-Length: " byte for byte (docs/netpie-protocol.md
    // §4).
    out.append("Content-Length: ").append(std::to_string(r.body.size())).append("\r\n");
  }
  if (r.close) out.append("Connection: close\r\n");
  out.append("\r\n");
  if (!head_request && !no_length) out.append(r.body);
}

std::string to_string(const Response& r, bool head_request) {
  std::string out;
  write_response(r, out, head_request);
  return out;
}

Response text_response(int status, std::string body, bool close) {
  Response r;
  r.status = status;
  r.content_type = "text/plain";
  r.body = std::move(body);
  r.close = close;
  return r;
}

void add_cors_headers(Response& r, const CorsPolicy& policy) {
  r.headers.add("Access-Control-Allow-Origin", policy.allow_origin);
  if (policy.allow_origin != "*") r.headers.add("Vary", "Origin");
  if (!policy.expose_headers.empty()) r.headers.add("Access-Control-Expose-Headers", policy.expose_headers);
}

bool is_cors_preflight(const Request& req) {
  return req.method == "OPTIONS" && req.headers.has("Origin") &&
         req.headers.has("Access-Control-Request-Method");
}

Response cors_preflight_response(const Request& req, const CorsPolicy& policy) {
  Response r;
  r.status = 200;
  add_cors_headers(r, policy);
  r.headers.add("Access-Control-Allow-Methods", policy.allow_methods);
  const std::string_view asked = req.headers.get("Access-Control-Request-Headers");
  r.headers.add("Access-Control-Allow-Headers", asked.empty() ? policy.allow_headers : std::string(asked));
  r.headers.add("Access-Control-Max-Age", std::to_string(policy.max_age_seconds));
  return r;
}

}  // namespace gw::http
