// The command line's definition (cli.hpp). The footer is part of --help and of the man page's
// DESCRIPTION: there is deliberately no -d/--daemon.
#include "gateway/cli.hpp"

namespace gw::cli {

void define(CLI::App& app, CommandLine& out) {
  app.description(std::string("netpie-edge: ") + kSummary);
  app.set_help_flag("-h,--help", "print this help and exit");
  app.footer(
      "Without -c, netpie-edge runs its embedded default: MQTT on 127.0.0.1:1883, anonymous clients from "
      "loopback only, /healthz, /metrics and the status page on http://127.0.0.1:8080/, state in "
      "./netpie-edge-state (relative to the working directory). It stays in the "
      "foreground and logs to stderr; there is no -d/--daemon: run it under a supervisor such as systemd "
      "or procd, which restarts it and keeps its log. SIGTERM and SIGINT stop it cleanly; SIGHUP reloads "
      "the configuration file (what can change without a restart; --state-dir, --log-level and -v stay "
      "in force).");
  CLI::Option* config =
      app.add_option("-c,--config", out.config_path, "YAML configuration file (every key: conf/README.md)")
          ->type_name("FILE");
  app.add_flag("--check-config", out.check_config,
               "validate the configuration and every file it names (TLS certificates, keys and CAs, the "
               "state directory), print the problems as file:line:col: key: message, and exit");
  app.add_option("-p,--port", out.port,
                 "MQTT port of the embedded default's listener (0: any free port, for its HTTP listener too)")
      ->type_name("PORT")
      ->check(CLI::Range(0, 65535))
      ->excludes(config);
  app.add_option("--bind", out.bind, "numeric IPv4 or IPv6 address of the embedded default's listeners")
      ->type_name("ADDRESS")
      ->check(CLI::Validator(
          [](const std::string& s) {
            return config::is_numeric_address(s) ? std::string() : "expected a numeric IPv4 or IPv6 address";
          },
          "", "address"))
      ->excludes(config);
  app.add_option("--state-dir", out.state_dir,
                 "directory for the database and the lock file, instead of state_dir (created 0700)")
      ->type_name("DIR");
  CLI::Option* verbose = app.add_flag("-v,--verbose", out.verbose, "log at level debug");
  app.add_option("--log-level", out.log_level,
                 "log level instead of log.level: trace, debug, info, warn, error")
      ->type_name("LEVEL")
      ->check(CLI::IsMember(std::vector<std::string>(config::kLogLevels.begin(), config::kLogLevels.end())))
      ->excludes(verbose);
  app.add_flag("--hash-password", out.hash_password,
               "read a password on stdin, print its hash for auth.users[].password_hash, and exit");
  app.set_version_flag("--version", std::string("netpie-edge ") + NETPIE_EDGE_VERSION,
                       "print the version and exit");
}

config::Config embedded_default() {
  config::Config c = config::default_config();
  config::Listener http;
  http.name = "http";
  http.protocol = "http";
  http.port = 8080;
  c.listeners.push_back(http);
  return c;
}

void apply(const CommandLine& line, config::Config& cfg) {
  // --port and --bind exclude -c: these are the embedded default's listeners (MQTT first).
  if (line.port >= 0) cfg.listeners.front().port = static_cast<std::uint16_t>(line.port);
  for (std::size_t i = 1; i < cfg.listeners.size() && line.port == 0; ++i) cfg.listeners[i].port = 0;
  for (auto& l : cfg.listeners) {
    if (!line.bind.empty()) l.bind = line.bind;
  }
  if (!line.state_dir.empty()) {
    cfg.state_dir = line.state_dir;
    cfg.positions.erase("state_dir");  // errors about it are not at the file's line any more
  }
  if (line.verbose) cfg.log_level = "debug";
  if (!line.log_level.empty()) cfg.log_level = line.log_level;
}

}  // namespace gw::cli
