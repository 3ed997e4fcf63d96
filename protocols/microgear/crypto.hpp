// The three primitives every NETPIE credential is built from: HMAC-SHA1, base64 and a constant-time
// comparison (docs/netpie-protocol.md §2, §3.2, §6.1). Thin wrappers over mbedTLS's libmbedcrypto so the rest
// of gw::microgear works on strings; no state, no randomness.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace gw::microgear {

using Sha1Digest = std::array<std::uint8_t, 20>;

Sha1Digest hmac_sha1(std::string_view key, std::string_view message);

// RFC 4648 §4 base64 with '=' padding (a SHA-1 digest gives 28 characters).
std::string base64_encode(const std::uint8_t* data, std::size_t len);

// base64(HMAC-SHA1(key, message)): the OAuth signature, MQTT password and revoke code shape.
std::string hmac_sha1_base64(std::string_view key, std::string_view message);

// Equality that takes the same time whatever the position of the first difference. The lengths are
// not secret (every value compared here has a fixed, public length) and may end it early.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace gw::microgear
