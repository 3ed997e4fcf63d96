// check_files() (check.hpp). The TLS loader's errors begin with the option they are about
// ("tls.key_file /x/k.pem: is not the key of ..."); that option is re-keyed to the uplink's (or listener's)
// place in the file so the line reads like the config loader's own errors.
#include "gateway/app/check.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace gw::app {

namespace {

// "" if a directory at `path` exists and is writable, or could be created (its nearest existing
// ancestor is a writable directory); else why not.
std::string directory_problem(const std::string& dir, bool may_create) {
  const std::filesystem::path path = std::filesystem::absolute(dir).lexically_normal();
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    if (!std::filesystem::is_directory(path, ec)) return path.string() + ": not a directory";
    if (::access(path.c_str(), W_OK | X_OK) != 0)
      return path.string() + ": not writable: " + std::strerror(errno);
    return "";
  }
  if (!may_create) return path.string() + ": no such directory";
  for (std::filesystem::path up = path.parent_path();; up = up.parent_path()) {
    if (!std::filesystem::exists(up, ec)) {
      if (up == up.parent_path()) break;
      continue;
    }
    if (!std::filesystem::is_directory(up, ec))
      return path.string() + ": cannot be created: " + up.string() + " is not a directory";
    if (::access(up.c_str(), W_OK | X_OK) != 0) {
      return path.string() + ": cannot be created in " + up.string() + ": " + std::strerror(errno);
    }
    return "";
  }
  return path.string() + ": cannot be created";
}

// The TLS loader's "tls.ca_file /x: message" as "<where <owner>.tls.ca_file>: /x: message", where owner
// is "uplinks[i]" or "listeners[i]".
std::string tls_problem(const config::Config& cfg, const std::string& owner, const std::string& error) {
  if (error.rfind("tls.", 0) != 0) return cfg.locate(owner + ".tls") + ": " + error;
  const std::size_t end = error.find_first_of(" :");
  std::string option = error.substr(0, end);
  if (option == "tls.client_ca_file") option = "tls.ca_file";  // a listener's name for it
  std::string rest = end == std::string::npos ? "" : error.substr(end);
  if (rest.rfind(": ", 0) == 0) rest.erase(0, 2);
  if (!rest.empty() && rest.front() == ' ') rest.erase(0, 1);
  return cfg.locate(owner + "." + option) + ": " + rest;
}

}  // namespace

std::string listener_tls_problem(const config::Config& cfg, std::size_t index, const std::string& error) {
  return tls_problem(cfg, "listeners[" + std::to_string(index) + "]", error);
}

net::TlsServerOptions tls_server_options(const config::ListenerTls& tls) {
  net::TlsServerOptions o;
  o.cert_file = tls.cert_file;
  o.key_file = tls.key_file;
  o.client_ca_file = tls.ca_file;
  o.require_client_cert = tls.require_client_cert;
  o.session_cache_size = tls.session_cache_size;
  return o;
}

net::TlsClientOptions tls_client_options(const config::UplinkTls& tls) {
  return net::TlsClientOptions{tls.enabled, tls.ca_file,   tls.server_name,
                               tls.verify,  tls.cert_file, tls.key_file};
}

std::vector<std::string> check_files(const config::Config& cfg) {
  std::vector<std::string> problems;
  if (auto p = directory_problem(cfg.state_dir, true); !p.empty()) {
    problems.push_back(cfg.locate("state_dir") + ": " + p);
  }
  if (!cfg.ports_file.empty()) {
    const std::string dir = std::filesystem::absolute(cfg.ports_file).parent_path().string();
    if (auto p = directory_problem(dir, false); !p.empty())
      problems.push_back(cfg.locate("ports_file") + ": " + p);
  }
  if (cfg.store.enabled && std::filesystem::path(cfg.store.file).is_absolute()) {
    const std::string dir = std::filesystem::path(cfg.store.file).parent_path().string();
    if (auto p = directory_problem(dir, false); !p.empty())
      problems.push_back(cfg.locate("store.file") + ": " + p);
  }
  for (std::size_t i = 0; i < cfg.uplinks.size(); ++i) {
    if (!cfg.uplinks[i].tls.enabled) continue;
    if (auto ctx = net::TlsClientContext::load(tls_client_options(cfg.uplinks[i].tls)); !ctx) {
      problems.push_back(tls_problem(cfg, "uplinks[" + std::to_string(i) + "]", ctx.error()));
    }
  }
  for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
    if (!cfg.listeners[i].tls.enabled) continue;
    if (auto ctx = net::TlsServerContext::load(tls_server_options(cfg.listeners[i].tls)); !ctx)
      problems.push_back(listener_tls_problem(cfg, i, ctx.error()));
  }
  return problems;
}

}  // namespace gw::app
