// Implementation of the operator's access rules (access.hpp). Credentials are checked with the same
// PBKDF2 verification as MQTT users (gateway/config/password.hpp); a wrong one costs the same time as a
// right one, and nothing here logs a credential.
#include "gateway/ops/access.hpp"

#include <arpa/inet.h>

#include "gateway/config/password.hpp"
#include "protocols/http/basic_auth.hpp"

namespace gw::ops {

namespace {

// The host part of a Host header ("127.0.0.1:8080", "[::1]:8080", "localhost").
std::string_view host_part(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    const auto end = host.find(']');
    return end == std::string_view::npos ? std::string_view() : host.substr(1, end - 1);
  }
  const auto colon = host.find(':');
  return colon == std::string_view::npos ? host : host.substr(0, colon);
}

bool names_an_address(std::string_view host) {
  const std::string h(host_part(host));
  if (h.empty()) return false;
  if (http::iequals(h, "localhost")) return true;
  unsigned char buf[16];
  return inet_pton(AF_INET, h.c_str(), buf) == 1 || inet_pton(AF_INET6, h.c_str(), buf) == 1;
}

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

}  // namespace

Verdict admin_access(const http::Request& req, const PeerInfo& peer,
                     const std::vector<config::User>& admins) {
  if (peer.loopback) {
    if (!names_an_address(req.headers.get("Host"))) {
      return {403, "the operator's page answers loopback requests for an address or localhost only (Host: " +
                       std::string(req.headers.get("Host")) + ")"};
    }
    return {};
  }
  if (!peer.tls)
    return {403, "the operator's page answers loopback clients only (or admin users over HTTPS)"};
  const std::string* header = req.headers.find("Authorization");
  const auto creds = header ? http::parse_basic_auth(*header) : std::nullopt;
  if (!creds) return {403, "admin credentials required"};
  for (const config::User& u : admins) {
    if (u.username == creds->key && config::verify_password(creds->secret, u.password_hash)) return {};
  }
  return {403, "bad admin credentials"};
}

Verdict same_site_write(const http::Request& req, bool need_json) {
  const std::string_view site = req.headers.get("Sec-Fetch-Site");
  if (!site.empty() && site != "same-origin" && site != "none") {
    return {403, "cross-site request refused (Sec-Fetch-Site: " + std::string(site) + ")"};
  }
  if (const std::string* origin = req.headers.find("Origin")) {
    std::string_view o = *origin;
    const auto scheme = o.find("://");
    const std::string_view authority =
        scheme == std::string_view::npos ? std::string_view() : o.substr(scheme + 3);
    if (authority.empty() || !http::iequals(authority, req.headers.get("Host"))) {
      return {403, "cross-site request refused (Origin: " + *origin + ")"};
    }
  }
  if (need_json) {
    std::string_view type = req.headers.get("Content-Type");
    type = type.substr(0, type.find(';'));
    while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
    if (!http::iequals(type, "application/json")) {
      return {415, "state-changing requests must be sent as Content-Type: application/json"};
    }
  }
  return {};
}

bool well_formed_query(std::string_view raw) {
  for (std::size_t i = 0; i < raw.size(); ++i) {
    const auto c = static_cast<unsigned char>(raw[i]);
    if (c < 0x20 || c == 0x7f) return false;
    if (c == '%') {
      if (i + 2 >= raw.size() || !is_hex(raw[i + 1]) || !is_hex(raw[i + 2])) return false;
      i += 2;
    }
  }
  return true;
}

}  // namespace gw::ops
