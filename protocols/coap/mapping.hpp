// What a CoAP request (RFC 7252) means to the gateway: the pure part of the CoAP front end. The
// request's method, Uri-Path and Uri-Query option values and its Observe option (RFC 7641) become one
// Action: a publish, a retained read, an observe (subscribe) or its cancel, the optional connection mode
// (connect, heartbeat, disconnect), a NETPIE NB-IoT request (handed to the REST API's handler), the
// /.well-known/core listing, or an error with the CoAP response code to send. The two URI mappings are
// described in gateway/coap/README.md. No I/O, no clock, no libcoap: unit-tested and fuzzed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/http/url_encoding.hpp"

namespace gw::coap {

// CoAP method codes (RFC 7252 §12.1.1).
enum class Method : std::uint8_t { Get = 1, Post = 2, Put = 3, Delete = 4, Other = 0 };

// Response codes as class * 100 + detail: 204 is 2.04 Changed, 429 is 4.29 Too Many Requests (RFC 8516).
inline constexpr std::uint8_t code_byte(int c) {
  return static_cast<std::uint8_t>((c / 100) << 5 | (c % 100));
}

struct Request {
  Method method = Method::Other;
  bool confirmable = false;
  std::vector<std::string> path;   // Uri-Path option values, as sent
  std::vector<std::string> query;  // Uri-Query option values ("qos=1"), as sent
  std::optional<std::uint32_t> observe;
  std::size_t payload_bytes = 0;
};

struct Options {
  bool pubsub = true;        // ps/<topic>, mqtt/connection
  bool netpie = true;        // topic/<appid>/<topic>, microgear/<appid>/<alias>
  std::uint8_t con_qos = 1;  // a CON publish without ?qos=
  std::uint8_t non_qos = 0;  // a NON publish without ?qos=
  std::size_t max_topic_bytes = 65535;
};

enum class Kind : std::uint8_t {
  Error,       // answer `code` with `message`
  WellKnown,   // GET /.well-known/core
  Publish,     // topic, qos, retain
  Read,        // GET without Observe: the retained message of `topic` (a topic name, no wildcards)
  Observe,     // GET Observe 0: subscribe `topic` (a filter) with qos
  Unobserve,   // GET Observe 1: cancel the observation of `topic` with this token
  Connect,     // POST mqtt/connection?clientid=&username=&password=
  Heartbeat,   // PUT mqtt/connection?clientid=&token=
  Disconnect,  // DELETE mqtt/connection?clientid=&token=
  Netpie,      // a NETPIE NB-IoT path: `http_method` and `http_path` for the REST API
};

struct Action {
  Kind kind = Kind::Error;
  int code = 400;       // for Error
  std::string message;  // for Error: the diagnostic payload
  std::string topic;    // MQTT topic name or filter
  std::uint8_t qos = 0;
  bool retain = false;
  // Connection mode (EMQX's CoAP gateway names): client id, the token a connect returned, credentials.
  std::string clientid, token, username, password;
  bool has_password = false;
  // Netpie: the REST request it stands for ("PUT", "/topic/<appid>/<topic>") and its query parameters.
  std::string http_method, http_path;
  http::Params params;
};

// The mapping. Never fails: a request that means nothing gets Kind::Error with the code to answer (4.04
// unknown path, 4.05 method, 4.00 bad parameter or topic, 4.02 a bad Observe value).
Action map_request(const Request& r, const Options& o);

// Uri-Query values ("qos=1", "retain") as decoded name/value pairs.
http::Params query_params(const std::vector<std::string>& query);

// The topic of Uri-Path values from `from` on, joined with '/'. Each value is percent-decoded once, so a
// client that sends "%23" inside a path segment means '#' (RFC 7252 §6.4 decodes the URI before it
// becomes options; this accepts clients that did not).
std::string join_topic(const std::vector<std::string>& path, std::size_t from);

// The /.well-known/core listing (RFC 6690) of what is served.
std::string well_known_core(const Options& o);

}  // namespace gw::coap
