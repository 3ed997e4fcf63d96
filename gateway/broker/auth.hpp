// The authentication and authorization hook. The broker asks it on CONNECT, PUBLISH and SUBSCRIBE.
// ConfigAuthenticator is the foundation's implementation (anonymous policy + users from the config with
// PBKDF2 hashes); the NETPIE microgear HMAC check plugs into the same interface later.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "gateway/base/clock.hpp"
#include "gateway/config/config.hpp"
#include "protocols/mqtt/packets.hpp"

namespace gw::broker {

class Connection;

struct ConnectInfo {
  std::string_view client_id;
  const std::optional<std::string>* username = nullptr;
  const std::optional<std::string>* password = nullptr;
  bool loopback = false;
  std::string_view peer;
  Connection* conn = nullptr;  // to attach per-connection data (Connection::set_data) on success
  // The user name is a verified TLS client certificate's CN (Transport::peer_identity): the certificate
  // stands in for the password.
  bool certificate_identity = false;
};

struct ClientIdentity {
  std::string client_id;
  std::string username;  // empty for anonymous
};

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // Success, or the reason for the CONNACK (BadUserNameOrPassword, NotAuthorized, ...).
  virtual mqtt::Reason authenticate(const ConnectInfo& info) = 0;
  virtual bool can_publish(const ClientIdentity&, std::string_view /*topic*/) { return true; }
  virtual bool can_subscribe(const ClientIdentity&, std::string_view /*filter*/) { return true; }
  // Highest QoS the client may publish with (a higher PUBLISH is refused like an unauthorized one) and
  // be granted on SUBSCRIBE (a higher request is granted this QoS).
  virtual std::uint8_t max_qos(const ClientIdentity&) { return 2; }
};

class ConfigAuthenticator final : public Authenticator {
 public:
  // PBKDF2 runs on the loop thread (about 50 ms here at 100,000 iterations), so password checks that are
  // not already cached are bounded to kVerificationsPerSecond; past it a CONNECT is refused with Server
  // Busy (3.1.1: server unavailable) and the client retries later. Without a clock there is no bound.
  static constexpr int kVerificationsPerSecond = 4;
  explicit ConfigAuthenticator(const config::Auth& auth, const Clock* clock = nullptr);
  mqtt::Reason authenticate(const ConnectInfo& info) override;

 private:
  config::AnonymousPolicy anonymous_;
  std::unordered_map<std::string, std::string> users_;  // username -> pbkdf2 hash
  // PBKDF2 costs tens of milliseconds on a small board; a verified password is remembered (as its
  // SHA-256) so reconnect storms do not stall the loop. Cleared with the object on reload.
  std::unordered_map<std::string, std::string> verified_;
  const Clock* clock_;
  Millis budget_window_ = 0;  // start of the current one-second window
  int budget_used_ = 0;
};

}  // namespace gw::broker
