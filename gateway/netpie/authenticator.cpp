// MicrogearAuthenticator (see authenticator.hpp). Reasons are logged at Info with the token, never
// with the password.
#include "gateway/netpie/authenticator.hpp"

#include <limits>

#include "gateway/base/log.hpp"
#include "gateway/broker/connection.hpp"
#include "gateway/netpie/microgears.hpp"
#include "gateway/netpie/rights.hpp"

namespace gw::netpie {

MicrogearAuthenticator::MicrogearAuthenticator(Registry& registry,
                                               std::unique_ptr<broker::Authenticator> fallback)
    : registry_(registry), fallback_(std::move(fallback)) {}

microgear::CredentialPolicy MicrogearAuthenticator::policy() const {
  const auto& cfg = registry_.config();
  microgear::CredentialPolicy p;
  // The skew bounds times ahead of us; mqtt_max_age_s (0 = none) those behind, because mqtt.js
  // reconnects with the user name of its first connection (docs/netpie-protocol.md §6.4).
  p.check_time = true;
  p.max_ahead_seconds = cfg.clock_skew_s;
  p.max_age_seconds = cfg.mqtt_max_age_s == 0 ? std::numeric_limits<std::int64_t>::max() / 4
                                              : static_cast<std::int64_t>(cfg.mqtt_max_age_s);
  p.require_key_match = false;  // Java sends its AppID there (§6.1); the HMAC covers the user name anyway
  return p;
}

mqtt::Reason MicrogearAuthenticator::authenticate(const broker::ConnectInfo& info) {
  const bool has_user = info.username && info.username->has_value();
  const AccessToken* at = registry_.access(info.client_id);
  if (at == nullptr) {
    // Not a token we issued. A client that still presents itself as a microgear of one of our keys
    // gets CONNACK 4, the answer that makes the libraries fetch a new token (§6.3).
    if (has_user) {
      auto u = microgear::parse_mqtt_username(**info.username);
      if (u && registry_.key(u->key) != nullptr) {
        GW_LOG(Info, "netpie",
               "CONNECT from %s of key %.*s: unknown access token %.*s (never issued here or forgotten); "
               "CONNACK 4 so the device asks for a new one",
               std::string(info.peer).c_str(), static_cast<int>(u->key.size()), u->key.data(),
               static_cast<int>(info.client_id.size()), info.client_id.data());
        return mqtt::Reason::BadUserNameOrPassword;
      }
    }
    return fallback_->authenticate(info);
  }
  const std::string token(info.client_id);
  if (at->revoked) {
    GW_LOG(Info, "netpie", "CONNECT with revoked token %s (key %s) refused: CONNACK 4", token.c_str(),
           at->key.c_str());
    return mqtt::Reason::BadUserNameOrPassword;
  }
  const Key* key = registry_.key(at->key);
  if (key == nullptr || key->appid != at->appid) return mqtt::Reason::BadUserNameOrPassword;
  if (!has_user || info.password == nullptr || !info.password->has_value()) {
    GW_LOG(Info, "netpie", "CONNECT with token %s without user name or password", token.c_str());
    return mqtt::Reason::BadUserNameOrPassword;
  }
  const auto check =
      microgear::check_mqtt_credentials(**info.username, **info.password, at->token, at->secret, key->key,
                                        key->secret, registry_.now(), policy());
  if (check != microgear::CredentialCheck::Ok) {
    GW_LOG(Info, "netpie", "CONNECT with token %s refused: %s", token.c_str(), microgear::to_string(check));
    return mqtt::Reason::BadUserNameOrPassword;
  }
  if (!key->enabled) {
    GW_LOG(Info, "netpie", "CONNECT with token %s refused: key %s is disabled", token.c_str(),
           key->key.c_str());
    return mqtt::Reason::NotAuthorized;  // CONNACK 5: the clients keep the token and retry later (§6.3)
  }
  if (info.conn != nullptr) {
    auto gear = std::make_unique<Gear>();
    gear->token = at->token;
    gear->appid = at->appid;
    gear->key = at->key;
    gear->kind = at->kind;
    info.conn->set_data(std::move(gear));
  }
  return mqtt::Reason::Success;
}

const Key* MicrogearAuthenticator::microgear_key(const broker::ClientIdentity& id) const {
  const AccessToken* at = registry_.access(id.client_id);
  if (at == nullptr) return nullptr;
  return registry_.key(at->key);
}

bool MicrogearAuthenticator::can_publish(const broker::ClientIdentity& id, std::string_view topic) {
  const AccessToken* at = registry_.access(id.client_id);
  if (at == nullptr) return fallback_->can_publish(id, topic);
  const Key* key = registry_.key(at->key);
  if (at->revoked || key == nullptr) return false;
  return may_publish(at->appid, key->rights, topic);
}

bool MicrogearAuthenticator::can_subscribe(const broker::ClientIdentity& id, std::string_view filter) {
  const AccessToken* at = registry_.access(id.client_id);
  if (at == nullptr) return fallback_->can_subscribe(id, filter);
  const Key* key = registry_.key(at->key);
  if (at->revoked || key == nullptr) return false;
  return may_subscribe(at->appid, key->rights, filter);
}

std::uint8_t MicrogearAuthenticator::max_qos(const broker::ClientIdentity& id) {
  if (const Key* key = microgear_key(id)) return key->rights.max_qos;
  return fallback_->max_qos(id);
}

}  // namespace gw::netpie
