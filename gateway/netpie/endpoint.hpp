// The NETPIE-compatible local endpoint as one object for the daemon to wire: the registry, postboxes,
// the microgear broker extension, the MQTT authenticator, and the HTTP handler that routes the
// gearauth API, the REST API and the admin API (with CORS for the HTML5 microgear). Order of use:
// construct, authenticator() for the broker, open() once the store is open, attach() once the broker
// exists, then serve; tick() from the daemon's timer.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "gateway/base/clock.hpp"
#include "gateway/base/result.hpp"
#include "gateway/broker/auth.hpp"
#include "gateway/broker/broker.hpp"
#include "gateway/config/config.hpp"
#include "gateway/net/http_server.hpp"
#include "gateway/netpie/admin.hpp"
#include "gateway/netpie/feeds.hpp"
#include "gateway/netpie/gearauth.hpp"
#include "gateway/netpie/history_api.hpp"
#include "gateway/netpie/microgears.hpp"
#include "gateway/netpie/postbox.hpp"
#include "gateway/netpie/registry.hpp"
#include "gateway/netpie/rest.hpp"
#include "protocols/microgear/credentials.hpp"
#include "storage/store.hpp"

namespace gw::netpie {

// getrandom(2): the kernel's CSPRNG, for tokens and secrets.
microgear::RandomSource system_random();

class Endpoint {
 public:
  Endpoint(const config::Netpie& cfg, const Clock& clock, microgear::RandomSource rng = system_random());
  ~Endpoint();

  // The broker's authenticator: microgears first, `fallback` (the config's users) for everyone else.
  std::unique_ptr<broker::Authenticator> authenticator(std::unique_ptr<broker::Authenticator> fallback);
  // Restores tokens and postboxes from the store (a blocking scan: start-up only) and keeps them there
  // from now on. Without a store (store.enabled: false) everything lives in memory.
  Result<std::size_t, std::string> open(storage::Store* store);
  void attach(broker::Broker& broker);

  void handle(const http::Request& req, const net::HttpResponder& out);
  void tick();  // sweeps expired tokens, at most once a second
  // Reload (SIGHUP): the caller has replaced the config::Netpie given at construction. Apps and keys are
  // rebuilt and the microgears of removed, re-keyed or disabled keys disconnected (NOT_AUTHORIZED);
  // returns how many. Bounds (postboxes, token quotas, clock skew) are read from the config as used.
  std::size_t reload();

  Registry& registry() { return registry_; }
  Gearauth& gearauth() { return gearauth_; }
  Microgears& gears() { return gears_; }
  Postboxes& postboxes() { return postboxes_; }
  Rest& rest() { return rest_; }     // the CoAP front end's NETPIE paths
  Feeds& feeds() { return feeds_; }  // the CoAP front end's feed/<feedid>

 private:
  class KvStore;
  const Clock& clock_;
  std::unique_ptr<KvStore> kv_;
  Registry registry_;
  Postboxes postboxes_;
  Microgears gears_;
  Gearauth gearauth_;
  Rest rest_;
  Admin admin_;
  Feeds feeds_;
  HistoryApi history_;
  storage::Store* store_ = nullptr;
  http::CorsPolicy cors_;
  Millis next_sweep_ = 0;
};

// The broker port in token answers (`netpie.endpoint_port`) is read only by the libraries that honour
// it (Arduino-Ethernet, ESP8266-RTOS, Node and Python of 2016); Node 0.8.1, ESP8266 1.2.4, Python 1.2
// and C# take the host alone and connect to 1883 (docs/netpie-protocol.md §5). The answer keeps naming
// endpoint_port, for the clients that use it; what the others will do is said at start instead: the
// warnings for a config whose endpoint port or MQTT listeners disagree with it (none when netpie is off).
std::vector<std::string> endpoint_port_warnings(const config::Config& cfg);

// The HTTP handler when the NETPIE endpoint is off: 404 for everything.
void answer_not_found(const http::Request& req, const net::HttpResponder& out);

}  // namespace gw::netpie
