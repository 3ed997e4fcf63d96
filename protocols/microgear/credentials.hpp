// Credentials derived from a NETPIE access token (docs/netpie-protocol.md §2, §6.1): the MQTT CONNECT client
// id, username and HMAC-SHA1 password, their server-side check, the revoke code, and generation of new tokens
// and secrets from caller-supplied random bytes. Pure: the time and the randomness are inputs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace gw::microgear {

// Fixed widths of the embedded clients' EEPROM/flash token stores (§2, §11.4).
inline constexpr std::size_t kTokenLength = 16;
inline constexpr std::size_t kSecretLength = 32;

// ---- MQTT CONNECT (§6.1) ----

struct MqttCredentials {
  std::string client_id;  // the access token
  std::string username;   // "<gearkey>%<unixtime>"
  std::string password;   // base64(HMAC-SHA1(tokensecret "&" gearsecret, token "%" username)), 28 chars
};

std::string mqtt_username(std::string_view gear_key, std::int64_t unix_time);
// The HMAC is over the username exactly as sent, whatever its shape (Java sends "<AppID>%<time>").
std::string mqtt_password(std::string_view token, std::string_view token_secret, std::string_view gear_secret,
                          std::string_view username);
MqttCredentials mqtt_credentials(std::string_view token, std::string_view token_secret,
                                 std::string_view gear_key, std::string_view gear_secret,
                                 std::int64_t unix_time);

struct MqttUsername {
  std::string_view key;   // text before the last '%'
  std::int64_t time = 0;  // decimal seconds after it
};
// "<key>%<digits>" (split at the last '%'); nullopt without '%', with an empty key, or a time that is
// not 1..18 decimal digits.
std::optional<MqttUsername> parse_mqtt_username(std::string_view username);

enum class CredentialCheck {
  Ok,
  MalformedUsername,  // not "<key>%<time>" while the policy requires a time
  WrongKey,           // key part differs from the gear key while the policy requires it to match
  BadHmac,            // password does not match: wrong token secret, gear secret or username
  StaleTimestamp,     // time outside [now - max_age, now + max_ahead]
};
const char* to_string(CredentialCheck c);

// Whether the NETPIE 2015 broker checked the key part or the freshness is UNCONFIRMED (§13 Q3), so
// both are policy. Caution: mqtt.js reconnects with the *same* username (§6.4), so a long-connected
// Node microgear presents an old time on reconnect. Answer StaleTimestamp with CONNACK 4: the client
// then fetches a new token and builds a fresh username (§6.3); CONNACK 5 would make it retry the
// stale one forever.
struct CredentialPolicy {
  bool check_time = true;
  std::int64_t max_age_seconds = 24 * 3600;
  std::int64_t max_ahead_seconds = 3600;
  bool require_key_match = false;  // Java sends its AppID where the key belongs (§6.1)
};

// Checks in this order: username shape, key, HMAC (constant-time), time window. The caller found
// `token`/`token_secret` by the CONNECT client id and `gear_key`/`gear_secret` by the token's key.
CredentialCheck check_mqtt_credentials(std::string_view username, std::string_view password,
                                       std::string_view token, std::string_view token_secret,
                                       std::string_view gear_key, std::string_view gear_secret,
                                       std::int64_t now, const CredentialPolicy& policy = {});

// ---- Revoke code (§2): base64(HMAC-SHA1(tokensecret "&" gearsecret, token)) with '/' -> '_' ----
std::string revoke_code(std::string_view token, std::string_view token_secret, std::string_view gear_secret);
// Constant-time check of the code from GET /api/revoke/<token>/<code> (§4).
bool check_revoke_code(std::string_view code, std::string_view token, std::string_view token_secret,
                       std::string_view gear_secret);

// ---- New tokens and secrets ----

// [A-Za-z0-9] only: tokens travel in MQTT topics (/&id/<token>/#), URL path segments, unencoded form
// bodies that clients split at '&' and '=', and fixed-width EEPROM slots (§2, §7.4, §11.4).
inline constexpr std::string_view kTokenAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

// Maps uniformly random bytes to `length` characters of kTokenAlphabet by rejection sampling (bytes
// >= 248 are skipped, so every character has probability 1/62). nullopt when the bytes run out
// first; 2 * length bytes are enough except with negligible probability.
std::optional<std::string> token_from_bytes(std::span<const std::uint8_t> random, std::size_t length);

// Fills the span with cryptographically secure random bytes (the caller's CTR-DRBG or getrandom).
using RandomSource = std::function<void(std::span<std::uint8_t>)>;
std::string random_token(const RandomSource& rng, std::size_t length);
inline std::string make_token(const RandomSource& rng) {
  return random_token(rng, kTokenLength);
}
inline std::string make_secret(const RandomSource& rng) {
  return random_token(rng, kSecretLength);
}

}  // namespace gw::microgear
