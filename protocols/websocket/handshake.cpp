// The WebSocket opening handshake (see handshake.hpp). Header field values that are lists (Connection,
// Upgrade, Sec-WebSocket-Protocol) may come as several header lines or comma-separated (RFC 9110 §5.3), and
// tokens compare case-insensitively except sub-protocol names (RFC 6455 §4.1: they are compared as sent).
#include "protocols/websocket/handshake.hpp"

#include <mbedtls/base64.h>
#include <mbedtls/md.h>

#include <array>

namespace gw::websocket {

namespace {

constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

std::string base64(std::string_view raw) {
  std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
  std::size_t n = 0;
  mbedtls_base64_encode(reinterpret_cast<unsigned char*>(out.data()), out.size(), &n,
                        reinterpret_cast<const unsigned char*>(raw.data()), raw.size());
  out.resize(n);
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls f(token) for every comma-separated element of every header line named `name`.
template <typename F>
void for_each_token(const http::Headers& headers, std::string_view name, F f) {
  for (const auto& h : headers.all()) {
    if (!http::iequals(h.name, name)) continue;
    std::string_view v = h.value;
    while (!v.empty()) {
      const std::size_t comma = v.find(',');
      const std::string_view token = trim(v.substr(0, comma));
      if (!token.empty() && f(token)) return;
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
}

bool has_token(const http::Headers& headers, std::string_view name, std::string_view token) {
  bool found = false;
  for_each_token(headers, name, [&](std::string_view t) { return found = http::iequals(t, token); });
  return found;
}

HandshakeResult refuse(int status, const char* what, std::string body = {}) {
  HandshakeResult r;
  r.what = what;
  r.response = http::text_response(status, body.empty() ? std::string(what) + "\n" : std::move(body), true);
  return r;
}

}  // namespace

std::string accept_key(std::string_view client_key) {
  std::string input(client_key);
  input.append(kGuid);
  std::array<unsigned char, 20> digest{};
  mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA1), reinterpret_cast<const unsigned char*>(input.data()),
             input.size(), digest.data());
  return base64(std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

HandshakeResult accept_upgrade(const http::Request& req, const ServerOptions& options) {
  bool path_ok = false;
  for (const auto& p : options.paths) path_ok = path_ok || req.path == p;
  if (!path_ok) return refuse(404, "no WebSocket endpoint at this path");
  // §4.2.1 items 1-6, in the order a client most likely gets wrong first.
  if (req.method != "GET") return refuse(405, "a WebSocket upgrade is a GET");
  if (req.version_minor < 1) return refuse(400, "a WebSocket upgrade needs HTTP/1.1");
  if (!has_token(req.headers, "Upgrade", "websocket")) {
    HandshakeResult r = refuse(426, "not a WebSocket upgrade (Upgrade: websocket missing)");
    r.response.headers.add("Upgrade", "websocket");
    return r;
  }
  if (!has_token(req.headers, "Connection", "upgrade")) return refuse(400, "Connection: Upgrade missing");
  if (trim(req.headers.get("Sec-WebSocket-Version")) != "13") {
    // §4.2.2 item 4: tell the client which version is spoken.
    HandshakeResult r = refuse(426, "Sec-WebSocket-Version must be 13");
    r.response.headers.add("Sec-WebSocket-Version", "13");
    return r;
  }
  const std::string_view key = trim(req.headers.get("Sec-WebSocket-Key"));
  std::array<unsigned char, 32> nonce{};
  std::size_t nonce_len = 0;
  // §4.2.1 item 5: a base64-encoded 16-byte value.
  if (key.empty() ||
      mbedtls_base64_decode(nonce.data(), nonce.size(), &nonce_len,
                            reinterpret_cast<const unsigned char*>(key.data()), key.size()) != 0 ||
      nonce_len != 16) {
    return refuse(400, "Sec-WebSocket-Key missing or not 16 bytes in base64");
  }

  HandshakeResult r;
  bool offered = false;
  for_each_token(req.headers, "Sec-WebSocket-Protocol", [&](std::string_view t) {
    offered = true;
    for (const auto& s : options.subprotocols) {
      if (t == s) {
        r.accepted.subprotocol = s;
        return true;
      }
    }
    return false;
  });
  if (offered && r.accepted.subprotocol.empty()) {
    std::string body = "no offered sub-protocol is spoken here; spoken:";
    for (const auto& s : options.subprotocols) body += " " + s;
    return refuse(400, "no offered sub-protocol is spoken here", body + "\n");
  }
  r.ok = true;
  r.accepted.path = req.path;
  r.response.status = 101;
  r.response.headers.add("Upgrade", "websocket");
  r.response.headers.add("Connection", "Upgrade");
  r.response.headers.add("Sec-WebSocket-Accept", accept_key(key));
  if (!r.accepted.subprotocol.empty())
    r.response.headers.add("Sec-WebSocket-Protocol", r.accepted.subprotocol);
  return r;
}

std::string client_key(std::string_view key_nonce) {
  return base64(key_nonce);
}

std::string client_request(std::string_view host, std::string_view path, std::string_view key_nonce,
                           const std::vector<std::string>& subprotocols) {
  std::string out;
  out.append("GET ").append(path).append(" HTTP/1.1\r\nHost: ").append(host);
  out.append(
      "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ");
  out.append(client_key(key_nonce)).append("\r\n");
  if (!subprotocols.empty()) {
    out.append("Sec-WebSocket-Protocol: ");
    for (std::size_t i = 0; i < subprotocols.size(); ++i) out.append(i ? ", " : "").append(subprotocols[i]);
    out.append("\r\n");
  }
  out.append("\r\n");
  return out;
}

}  // namespace gw::websocket
