// What SIGHUP does with a freshly loaded configuration, decided without touching the daemon: which parts
// can change while clients stay connected (log, auth, NETPIE apps and keys, limits, relay rules) and
// which only take effect after a restart (listeners, the store, an uplink's endpoint, profile or
// credentials, netpie.enabled, ...). The daemon (gateway/app) applies the plan; README.md lists the same.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "gateway/config/config.hpp"

namespace gw::config {

struct ReloadPlan {
  // The configuration in effect after the reload: the new file's reloadable parts over the running
  // configuration. The parts that need a restart keep their running values, so the next SIGHUP reports
  // them again until the daemon restarts.
  Config effective;
  bool log = false;            // any log.* key
  bool auth = false;           // auth.anonymous, auth.users
  bool netpie = false;         // netpie apps, keys, rights and bounds (everything but netpie.enabled)
  bool limits = false;         // the limits that may change under connected clients
  bool outbox_routes = false;  // store.outbox.filters or an uplink's up rules: what enters the outbox
  std::vector<std::size_t> uplink_rules;  // uplinks (by index) whose relay rules changed
  // Dotted key names that changed but take effect after a restart, e.g. "listeners",
  // "uplinks[0].host", "limits.receive_maximum".
  std::vector<std::string> restart;

  bool changed() const {
    return log || auth || netpie || limits || outbox_routes || !uplink_rules.empty() || !restart.empty();
  }
  // "log, auth, netpie apps and keys, limits, relay rules of cloud": what was reloaded, for the summary
  // line; "no changes applied" when nothing was.
  std::string summary() const;
};

ReloadPlan plan_reload(const Config& running, const Config& next);

}  // namespace gw::config
