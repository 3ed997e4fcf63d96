// Credentials of the NETPIE REST API (docs/netpie-protocol.md §9.1): HTTP Basic with user = key and password
// = secret (RFC 7617), or the query parameter "?auth=KEY:SECRET" (also used by the NB-IoT CoAP paths, §9.3).
// Only parsing: looking the key up and comparing the secret belongs to the caller.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "protocols/http/request.hpp"

namespace gw::http {

struct KeySecret {
  std::string key;
  std::string secret;
  bool operator==(const KeySecret&) const = default;
};

// "Basic <base64(KEY:SECRET)>": scheme case-insensitive, surrounding spaces tolerated, split at the
// first ':' (a secret may contain ':'). nullopt for another scheme, bad base64 or no ':'.
std::optional<KeySecret> parse_basic_auth(std::string_view header_value);

// "KEY:SECRET" as it comes out of the decoded ?auth= parameter. nullopt without ':' or empty key.
std::optional<KeySecret> parse_auth_param(std::string_view value);

// The Authorization header if it is Basic, else the first ?auth= query parameter.
std::optional<KeySecret> request_credentials(const Request& req);

// The header value a client sends: "Basic " + base64(key ":" secret).
std::string basic_auth_header(std::string_view key, std::string_view secret);

}  // namespace gw::http
