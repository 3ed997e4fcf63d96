// ConfigAuthenticator: the anonymous policy and the users of the config file.
#include "gateway/broker/auth.hpp"

#include "gateway/base/mbedtls_compat.hpp"

#include "gateway/config/password.hpp"

namespace gw::broker {

namespace {
std::string sha256(std::string_view s) {
  unsigned char out[32];
  mbed::sha256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), out);
  return std::string(reinterpret_cast<char*>(out), sizeof out);
}
}  // namespace

ConfigAuthenticator::ConfigAuthenticator(const config::Auth& auth, const Clock* clock)
    : anonymous_(auth.anonymous), clock_(clock) {
  for (const auto& u : auth.users) users_[u.username] = u.password_hash;
}

mqtt::Reason ConfigAuthenticator::authenticate(const ConnectInfo& info) {
  const bool has_user = info.username && info.username->has_value();
  if (!has_user) {
    switch (anonymous_) {
      case config::AnonymousPolicy::Allow:
        return mqtt::Reason::Success;
      case config::AnonymousPolicy::Loopback:
        return info.loopback ? mqtt::Reason::Success : mqtt::Reason::NotAuthorized;
      case config::AnonymousPolicy::Deny:
        return mqtt::Reason::NotAuthorized;
    }
    return mqtt::Reason::NotAuthorized;
  }
  // Mosquitto's use_identity_as_username: the handshake proved the name; ACLs still apply to it.
  if (info.certificate_identity) return mqtt::Reason::Success;
  const std::string& name = **info.username;
  auto it = users_.find(name);
  if (it == users_.end()) {
    // An unknown user name: anonymous rules apply only to clients that send no user name at all.
    return mqtt::Reason::BadUserNameOrPassword;
  }
  if (!info.password || !info.password->has_value()) return mqtt::Reason::BadUserNameOrPassword;
  const std::string& password = **info.password;
  std::string digest = sha256(password);
  auto v = verified_.find(name);
  if (v != verified_.end() && v->second == digest) return mqtt::Reason::Success;
  if (clock_) {
    const Millis now = clock_->now_ms();
    if (now - budget_window_ >= 1000) {
      budget_window_ = now;
      budget_used_ = 0;
    }
    if (budget_used_ >= kVerificationsPerSecond) return mqtt::Reason::ServerBusy;
    ++budget_used_;
  }
  if (!config::verify_password(password, it->second)) return mqtt::Reason::BadUserNameOrPassword;
  verified_[name] = digest;
  return mqtt::Reason::Success;
}

}  // namespace gw::broker
