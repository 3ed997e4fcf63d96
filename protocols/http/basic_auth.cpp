// Basic / ?auth= credential parsing (see basic_auth.hpp); base64 comes from mbedTLS.
#include "protocols/http/basic_auth.hpp"

#include <mbedtls/base64.h>

namespace gw::http {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<KeySecret> parse_auth_param(std::string_view value) {
  const std::size_t colon = value.find(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  return KeySecret{std::string(value.substr(0, colon)), std::string(value.substr(colon + 1))};
}

std::optional<KeySecret> parse_basic_auth(std::string_view header_value) {
  std::string_view v = trim(header_value);
  constexpr std::string_view kScheme = "Basic";
  if (v.size() <= kScheme.size() || !iequals(v.substr(0, kScheme.size()), kScheme)) return std::nullopt;
  if (v[kScheme.size()] != ' ' && v[kScheme.size()] != '\t') return std::nullopt;
  const std::string_view b64 = trim(v.substr(kScheme.size()));
  if (b64.empty()) return std::nullopt;
  std::string raw(b64.size(), '\0');
  std::size_t n = 0;
  if (mbedtls_base64_decode(reinterpret_cast<unsigned char*>(raw.data()), raw.size(), &n,
                            reinterpret_cast<const unsigned char*>(b64.data()), b64.size()) != 0) {
    return std::nullopt;
  }
  raw.resize(n);
  return parse_auth_param(raw);
}

std::optional<KeySecret> request_credentials(const Request& req) {
  if (const std::string* h = req.headers.find("Authorization")) {
    if (auto ks = parse_basic_auth(*h)) return ks;
  }
  if (const std::string* a = find_param(req.query_params, "auth")) return parse_auth_param(*a);
  return std::nullopt;
}

std::string basic_auth_header(std::string_view key, std::string_view secret) {
  std::string plain;
  plain.append(key).append(":").append(secret);
  std::string out(4 * ((plain.size() + 2) / 3) + 1, '\0');
  std::size_t n = 0;
  mbedtls_base64_encode(reinterpret_cast<unsigned char*>(out.data()), out.size(), &n,
                        reinterpret_cast<const unsigned char*>(plain.data()), plain.size());
  out.resize(n);
  return "Basic " + out;
}

}  // namespace gw::http
