// --check-config beyond the YAML schema: what the daemon would otherwise find only at start. The TLS
// material each uplink and listener names is loaded with the same code the daemon uses
// (net::TlsClientContext, net::TlsServerContext), so a
// missing, unreadable or garbage certificate, CA or key, or a key that is not the certificate's, is
// reported here; the state directory must be creatable and writable, and the directories of the ports
// file and of an absolute store.file must exist and be writable. Checking has no side effects: nothing
// is created.
#pragma once

#include <string>
#include <vector>

#include "gateway/config/config.hpp"
#include "gateway/net/tls.hpp"

namespace gw::app {

// The TLS client options an uplink's tls: section gives (the daemon and the check load the same).
net::TlsClientOptions tls_client_options(const config::UplinkTls& tls);
// The TLS server options a listener's tls: section gives.
net::TlsServerOptions tls_server_options(const config::ListenerTls& tls);
// A TLS server loader error about listener `index`, located like the config loader's errors.
std::string listener_tls_problem(const config::Config& cfg, std::size_t index, const std::string& error);

// One line per problem, "file:line:col: key: message" where the config file set the key (see
// config::Config::locate), e.g. "gw.yaml:9:16: uplinks[0].tls.ca_file: /x/ca.pem: cannot read: No such
// file or directory". Empty: everything the config names is usable.
std::vector<std::string> check_files(const config::Config& cfg);

}  // namespace gw::app
