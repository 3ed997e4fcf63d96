// TlsListeners (tls_listeners.hpp). Files are fingerprinted by size and modification time, which is what
// certbot-style renewals change; an unchanged listener is not reloaded, so its session ticket keys (and
// the sessions its clients could resume) survive a SIGHUP that was about something else.
#include "gateway/app/tls_listeners.hpp"

#include <sys/stat.h>

#include "gateway/app/check.hpp"
#include "gateway/base/log.hpp"
#include "gateway/net/tls_layer.hpp"

namespace gw::app {

struct TlsListeners::Entry {
  std::string name;
  net::TlsServerOptions options;
  bool identity_from_cn = false;
  std::shared_ptr<const net::TlsServerContext> current;
  std::string fingerprint;
};

namespace {

std::string fingerprint(const net::TlsServerOptions& o) {
  std::string out;
  for (const std::string* path : {&o.cert_file, &o.key_file, &o.client_ca_file}) {
    struct stat st {};
    if (path->empty() || ::stat(path->c_str(), &st) != 0) {
      out += "-;";
      continue;
    }
    out += std::to_string(st.st_size) + "," + std::to_string(st.st_mtim.tv_sec) + "." +
           std::to_string(st.st_mtim.tv_nsec) + "," + std::to_string(st.st_ino) + ";";
  }
  return out;
}

}  // namespace

Result<bool, std::string> TlsListeners::load(const config::Config& cfg) {
  entries_.assign(cfg.listeners.size(), nullptr);
  for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
    const config::Listener& l = cfg.listeners[i];
    if (!l.tls.enabled) continue;
    auto e = std::make_shared<Entry>();
    e->name = l.name;
    e->options = tls_server_options(l.tls);
    e->identity_from_cn = l.tls.use_identity_as_username;
    e->fingerprint = fingerprint(e->options);
    auto ctx = net::TlsServerContext::load(e->options);
    if (!ctx) return unexpected(listener_tls_problem(cfg, i, ctx.error()));
    e->current = std::move(ctx).value();
    entries_[i] = std::move(e);
  }
  return true;
}

net::ListenerLayers TlsListeners::layers(const config::Config& cfg, std::size_t index) const {
  net::ListenerLayers out;
  const config::Listener& l = cfg.listeners[index];
  out.max_handshakes = l.max_handshakes;
  out.when_full = l.handshake_full_policy == config::HandshakeFullPolicy::RefuseNew
                      ? net::HandshakeFullPolicy::RefuseNew
                      : net::HandshakeFullPolicy::CloseOldest;
  out.handshake_timeout_ms = l.handshake_timeout_ms;
  if (index >= entries_.size() || !entries_[index]) return out;
  std::shared_ptr<const Entry> e = entries_[index];
  out.protocol = "mqtts";                       // MQTT over TLS; an HTTPS listener's server ignores it
  out.idle_release_ms = l.tls.idle_release_ms;  // likewise
  out.make = [e] {
    std::vector<std::unique_ptr<net::Layer>> v;
    v.push_back(std::make_unique<net::TlsServerLayer>(e->current, e->identity_from_cn));
    return v;
  };
  return out;
}

std::size_t TlsListeners::reload() {
  std::size_t reloaded = 0;
  for (const auto& e : entries_) {
    if (!e) continue;
    std::string print = fingerprint(e->options);
    if (print == e->fingerprint) continue;
    auto ctx = net::TlsServerContext::load(e->options);
    if (!ctx) {
      GW_LOG(Error, "app", "SIGHUP: listener %s: TLS material not reloaded, keeping the running one: %s",
             e->name.c_str(), ctx.error().c_str());
      continue;
    }
    e->current = std::move(ctx).value();
    e->fingerprint = std::move(print);
    ++reloaded;
    GW_LOG(Info, "app",
           "SIGHUP: listener %s: certificate and key reloaded from %s (new connections use them)",
           e->name.c_str(), e->options.cert_file.c_str());
  }
  return reloaded;
}

}  // namespace gw::app
