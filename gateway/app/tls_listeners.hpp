// TLS on the daemon's listeners: the server context of each listener with a `tls:` block, the layers its
// connections get (gateway/net/tls_layer.hpp), and SIGHUP's reload of certificates and keys. A reload
// swaps the context new connections use; live connections keep the one they started with (a shared
// pointer), so none is dropped. A certificate that does not load keeps the running one, logged.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "gateway/base/result.hpp"
#include "gateway/config/config.hpp"
#include "gateway/net/layer.hpp"
#include "gateway/net/tls.hpp"

namespace gw::app {

class TlsListeners {
 public:
  // Loads the TLS material of every listener that has some. The error reads like --check-config's
  // ("gw.yaml:7:18: listeners[1].tls.key_file: /x/k.pem: is not the key of ...").
  Result<bool, std::string> load(const config::Config& cfg);
  // The layers of listener `index` of the config given to load(): none for a plain listener.
  net::ListenerLayers layers(const config::Config& cfg, std::size_t index) const;
  // SIGHUP: reloads each listener whose files changed (size or modification time) since they were
  // loaded. Returns how many were reloaded; failures are logged and keep the running context.
  std::size_t reload();

 private:
  struct Entry;
  std::vector<std::shared_ptr<Entry>> entries_;  // by listener index; null = plain
};

}  // namespace gw::app
