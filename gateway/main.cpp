// netpie-edge: the command line (its flags are defined in cli.cpp). Everything else lives in the
// libraries (gateway/app).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <string>

#include "gateway/app/app.hpp"
#include "gateway/app/check.hpp"
#include "gateway/cli.hpp"
#include "gateway/config/config.hpp"
#include "gateway/config/password.hpp"

int main(int argc, char** argv) {
  CLI::App app;
  gw::cli::CommandLine line;
  gw::cli::define(app, line);
  // The libraries' versions are the ones loaded at run time, which the CLI definition (shared with the man
  // page generator) does not link.
  app.set_version_flag(
      "--version", [] { return gw::app::version_text(); },
      "print the version and the mbedTLS, libuv and SQLite it runs with, and exit");
  CLI11_PARSE(app, argc, argv);

  if (line.hash_password) {
    std::string pw;
    std::getline(std::cin, pw);
    if (pw.empty()) {
      std::fprintf(stderr, "netpie-edge: empty password\n");
      return 1;
    }
    std::printf("%s\n", gw::config::make_password_hash(pw).c_str());
    return 0;
  }

  auto cfg = line.config_path.empty()
                 ? gw::Result<gw::config::Config, gw::config::LoadError>(gw::cli::embedded_default())
                 : gw::config::load_file(line.config_path);
  if (!cfg) {
    std::fprintf(stderr, "%s\n", cfg.error().message.c_str());
    return 1;
  }
  gw::cli::apply(line, *cfg);
  if (line.check_config) {
    const auto problems = gw::app::check_files(*cfg);
    for (const std::string& p : problems) std::fprintf(stderr, "%s\n", p.c_str());
    if (!problems.empty()) return 1;
    std::printf("%s: ok\n", cfg->source.c_str());
    return 0;
  }
  return gw::app::run_daemon(*cfg, line.config_path,
                             [line](gw::config::Config& reloaded) { gw::cli::apply(line, reloaded); });
}
