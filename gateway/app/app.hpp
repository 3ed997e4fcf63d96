// The daemon's wiring: one libuv loop, the broker on it, the listeners, a tick timer, and the signals
// (SIGTERM/SIGINT shut down cleanly, SIGHUP reloads the log level from the config file).
// main.cpp only parses the command line and calls run_daemon().
#pragma once

#include <string>

#include "gateway/config/config.hpp"

namespace gw::app {

// Runs until SIGTERM/SIGINT. `config_path` is empty when running on the embedded default.
// Returns the process exit code.
int run_daemon(const config::Config& cfg, const std::string& config_path);

// `--version`: the daemon's version and the versions of mbedTLS, libuv and SQLite it runs with.
std::string version_text();

}  // namespace gw::app
