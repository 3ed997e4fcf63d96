// The MQTT authenticator when the NETPIE endpoint is on: a CONNECT whose client id is an access token
// of the registry (or whose user name looks like "<configured key>%<time>") is checked as a microgear
// (docs/netpie-protocol.md §6.1: HMAC-SHA1 password over "<token>%<username>", the time in the user name
// within the configured window): CONNACK 4 for an unknown or revoked token or a bad password, 5 for a
// disabled key. Everyone else goes to the fallback (the config's users and anonymous policy), unchanged.
// Publish and subscribe rights of microgears come from their key (rights.hpp).
#pragma once

#include <memory>

#include "gateway/broker/auth.hpp"
#include "gateway/netpie/registry.hpp"
#include "protocols/microgear/credentials.hpp"

namespace gw::netpie {

class MicrogearAuthenticator final : public broker::Authenticator {
 public:
  MicrogearAuthenticator(Registry& registry, std::unique_ptr<broker::Authenticator> fallback);

  mqtt::Reason authenticate(const broker::ConnectInfo& info) override;
  bool can_publish(const broker::ClientIdentity& id, std::string_view topic) override;
  bool can_subscribe(const broker::ClientIdentity& id, std::string_view filter) override;
  std::uint8_t max_qos(const broker::ClientIdentity& id) override;

  microgear::CredentialPolicy policy() const;

 private:
  // The key of a live microgear token used as this client id, or null for everyone else.
  const Key* microgear_key(const broker::ClientIdentity& id) const;

  Registry& registry_;
  std::unique_ptr<broker::Authenticator> fallback_;
};

}  // namespace gw::netpie
