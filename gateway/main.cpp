// netpie-edge: the command line. Everything else lives in the libraries (gateway/app).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <string>

#include "gateway/app/app.hpp"
#include "gateway/config/config.hpp"
#include "gateway/config/password.hpp"

int main(int argc, char** argv) {
  CLI::App cli{"netpie-edge: MQTT/NETPIE edge gateway"};
  std::string config_path;
  bool check = false, hash = false;
  cli.add_option("-c,--config", config_path, "YAML configuration file (default: the embedded default)");
  cli.add_flag("--check-config", check, "validate the configuration and exit");
  cli.add_flag("--hash-password", hash, "read a password on stdin, print its hash for auth.users");
  cli.set_version_flag("--version", gw::app::version_text());
  CLI11_PARSE(cli, argc, argv);

  if (hash) {
    std::string pw;
    std::getline(std::cin, pw);
    if (pw.empty()) {
      std::fprintf(stderr, "netpie-edge: empty password\n");
      return 1;
    }
    std::printf("%s\n", gw::config::make_password_hash(pw).c_str());
    return 0;
  }

  auto cfg = config_path.empty()
                 ? gw::Result<gw::config::Config, gw::config::LoadError>(gw::config::default_config())
                 : gw::config::load_file(config_path);
  if (!cfg) {
    std::fprintf(stderr, "%s\n", cfg.error().message.c_str());
    return 1;
  }
  if (check) {
    std::printf("%s: ok\n", cfg->source.c_str());
    return 0;
  }
  return gw::app::run_daemon(*cfg, config_path);
}
