// An HTTP/1.1 request as the request parser hands it over: method, target split into path and decoded
// query, headers with case-insensitive lookup (RFC 9110 §5.1), and the whole (de-chunked) body.
// Plain data: the front end routes on it, the microgear layer reads OAuth and Basic credentials from it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/http/url_encoding.hpp"

namespace gw::http {

// ASCII case-insensitive equality, for header names and tokens such as "close" or "OAuth".
bool iequals(std::string_view a, std::string_view b);

struct Header {
  std::string name;   // as sent
  std::string value;  // leading/trailing whitespace removed by the parser
};

class Headers {
 public:
  void add(std::string name, std::string value) { list_.push_back({std::move(name), std::move(value)}); }
  // First header named `name` (case-insensitive), or null.
  const std::string* find(std::string_view name) const;
  // Value of the first such header, or "" when absent.
  std::string_view get(std::string_view name) const;
  bool has(std::string_view name) const { return find(name) != nullptr; }
  std::size_t size() const { return list_.size(); }
  bool empty() const { return list_.empty(); }
  const std::vector<Header>& all() const { return list_; }
  std::vector<Header>& all() { return list_; }

 private:
  std::vector<Header> list_;
};

struct Request {
  std::string method;     // as on the wire, e.g. "POST"
  std::string target;     // raw request-target, e.g. "/api/revoke/T/C?x=1"
  std::string authority;  // host[:port] when the target was in absolute form, else empty
  std::string path;       // still percent-encoded; "/" for an absolute-form target without a path
  std::string query;      // raw query without '?', fragment dropped
  Params query_params;    // parse_query(query): decoded, '+' as space
  Headers headers;
  std::string body;               // Content-Length or de-chunked body, at most Limits::max_body bytes
  int version_minor = 1;          // HTTP/1.<minor>; only 1.0 and 1.1 are accepted
  bool keep_alive = true;         // false: answer with "Connection: close" and close after the response
  bool upgrade = false;           // Upgrade/CONNECT: bytes after this request belong to another protocol
  bool chunked = false;           // the body arrived with Transfer-Encoding: chunked
  bool version_repaired = false;  // request line said "HTTP 1.1" (ESP8266-RTOS, docs/netpie-protocol.md §3.2)
};

}  // namespace gw::http
