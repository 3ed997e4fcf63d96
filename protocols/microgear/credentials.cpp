// MQTT credentials, revoke codes and token generation (see credentials.hpp).
#include "protocols/microgear/credentials.hpp"

#include <vector>

#include "protocols/microgear/crypto.hpp"
#include "protocols/microgear/oauth1.hpp"

namespace gw::microgear {
namespace {

std::string hmac_key(std::string_view token_secret, std::string_view gear_secret) {
  std::string key(token_secret);
  key.push_back('&');
  key.append(gear_secret);
  return key;
}

constexpr unsigned kRejectFrom = 256 - 256 % kTokenAlphabet.size();  // 248

}  // namespace

std::string mqtt_username(std::string_view gear_key, std::int64_t unix_time) {
  std::string out(gear_key);
  out.push_back('%');
  out.append(std::to_string(unix_time));
  return out;
}

std::string mqtt_password(std::string_view token, std::string_view token_secret, std::string_view gear_secret,
                          std::string_view username) {
  std::string message(token);
  message.push_back('%');
  message.append(username);
  return hmac_sha1_base64(hmac_key(token_secret, gear_secret), message);
}

MqttCredentials mqtt_credentials(std::string_view token, std::string_view token_secret,
                                 std::string_view gear_key, std::string_view gear_secret,
                                 std::int64_t unix_time) {
  MqttCredentials c;
  c.client_id = std::string(token);
  c.username = mqtt_username(gear_key, unix_time);
  c.password = mqtt_password(token, token_secret, gear_secret, c.username);
  return c;
}

std::optional<MqttUsername> parse_mqtt_username(std::string_view username) {
  const std::size_t pct = username.rfind('%');
  if (pct == std::string_view::npos || pct == 0) return std::nullopt;
  const std::string_view digits = username.substr(pct + 1);
  if (digits.empty() || digits.size() > 18) return std::nullopt;
  std::int64_t t = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    t = t * 10 + (c - '0');
  }
  return MqttUsername{username.substr(0, pct), t};
}

const char* to_string(CredentialCheck c) {
  switch (c) {
    case CredentialCheck::Ok:
      return "ok";
    case CredentialCheck::MalformedUsername:
      return "malformed username";
    case CredentialCheck::WrongKey:
      return "username names another key";
    case CredentialCheck::BadHmac:
      return "bad password";
    case CredentialCheck::StaleTimestamp:
      return "username time outside the window";
  }
  return "?";
}

CredentialCheck check_mqtt_credentials(std::string_view username, std::string_view password,
                                       std::string_view token, std::string_view token_secret,
                                       std::string_view gear_key, std::string_view gear_secret,
                                       std::int64_t now, const CredentialPolicy& policy) {
  const std::optional<MqttUsername> parsed = parse_mqtt_username(username);
  if (!parsed && policy.check_time) return CredentialCheck::MalformedUsername;
  if (policy.require_key_match) {
    const std::string_view key = parsed ? parsed->key : username;
    if (key != gear_key) return CredentialCheck::WrongKey;
  }
  if (!constant_time_equal(mqtt_password(token, token_secret, gear_secret, username), password)) {
    return CredentialCheck::BadHmac;
  }
  if (policy.check_time && check_time_window(parsed->time, now, policy.max_age_seconds,
                                             policy.max_ahead_seconds) != TimestampCheck::Ok) {
    return CredentialCheck::StaleTimestamp;
  }
  return CredentialCheck::Ok;
}

std::string revoke_code(std::string_view token, std::string_view token_secret, std::string_view gear_secret) {
  std::string code = hmac_sha1_base64(hmac_key(token_secret, gear_secret), token);
  for (char& c : code) {
    if (c == '/') c = '_';
  }
  return code;
}

bool check_revoke_code(std::string_view code, std::string_view token, std::string_view token_secret,
                       std::string_view gear_secret) {
  return constant_time_equal(revoke_code(token, token_secret, gear_secret), code);
}

std::optional<std::string> token_from_bytes(std::span<const std::uint8_t> random, std::size_t length) {
  std::string out;
  out.reserve(length);
  for (std::uint8_t b : random) {
    if (out.size() == length) break;
    if (b >= kRejectFrom) continue;
    out.push_back(kTokenAlphabet[b % kTokenAlphabet.size()]);
  }
  if (out.size() != length) return std::nullopt;
  return out;
}

std::string random_token(const RandomSource& rng, std::size_t length) {
  std::string out;
  std::vector<std::uint8_t> buf(2 * length + 8);
  while (out.size() < length) {
    rng(buf);
    for (std::uint8_t b : buf) {
      if (out.size() == length) break;
      if (b < kRejectFrom) out.push_back(kTokenAlphabet[b % kTokenAlphabet.size()]);
    }
  }
  return out;
}

}  // namespace gw::microgear
