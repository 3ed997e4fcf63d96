// Password hashes for MQTT users, as stored in the config file's auth.users[].password_hash:
//   pbkdf2-sha256$<iterations>$<salt base64>$<hash base64>
// PBKDF2-HMAC-SHA256 (RFC 8018 §5.2) with a 32-byte output, standard padded base64 (RFC 4648 §4).
// Hashing costs `iterations` HMAC-SHA256 computations: about 50 ms at the default 100000 on one x86-64
// desktop core (measured by config_test), several times that on a small ARM board. A CONNECT check on
// the loop thread would stall every connection for that long; run it on a worker or cache the result.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace gw::config {

inline constexpr std::uint32_t kDefaultPasswordIterations = 100000;
// Bounds that a stored hash must respect. The iteration cap keeps a typo in the config from stalling
// every CONNECT; the salt bounds keep the text form short.
inline constexpr std::uint32_t kMaxPasswordIterations = 10'000'000;
inline constexpr std::size_t kMinSaltBytes = 1;
inline constexpr std::size_t kMaxSaltBytes = 64;
inline constexpr std::size_t kPasswordSaltBytes = 16;  // what make_password_hash draws

// The encoded hash of `password`, or an empty string if `salt` or `iterations` is outside the bounds
// above (so every non-empty result passes is_valid_password_hash).
std::string hash_password(std::string_view password, std::span<const std::uint8_t> salt,
                          std::uint32_t iterations = kDefaultPasswordIterations);

// hash_password with a fresh 16-byte salt from the kernel (getrandom, else /dev/urandom). Returns an
// empty string if no randomness could be read. Used by `netpie-edge --hash-password`.
std::string make_password_hash(std::string_view password);

// True if `password` hashes to `encoded`. False for a wrong password and for a malformed `encoded`.
// The final comparison is constant-time.
bool verify_password(std::string_view password, std::string_view encoded);

// Why `encoded` is not a well-formed hash ("unknown scheme ...", "salt is not valid base64", ...), or an
// empty string if it is one. The message never repeats the input, which might be a pasted password.
std::string_view password_hash_problem(std::string_view encoded);
bool is_valid_password_hash(std::string_view encoded);

}  // namespace gw::config
