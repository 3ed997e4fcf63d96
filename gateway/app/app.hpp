// The daemon's wiring: one libuv loop, the broker on it, the listeners, a tick timer, and the signals
// (SIGTERM/SIGINT shut down cleanly, SIGHUP reloads the config file: config/reload.hpp, README.md).
// main.cpp only parses the command line and calls run_daemon().
#pragma once

#include <functional>
#include <string>

#include "gateway/config/config.hpp"

namespace gw::app {

// What the command line sets over the file (port, bind address, state directory, log level); applied to
// every config a SIGHUP loads too, so they stay in force and are not reported as changes.
using ConfigOverrides = std::function<void(config::Config&)>;

// Runs until SIGTERM/SIGINT. `config_path` is empty when running on the embedded default.
// Returns the process exit code.
int run_daemon(const config::Config& cfg, const std::string& config_path, ConfigOverrides overrides = {});

// `--version`: the daemon's version and the versions of mbedTLS, libuv and SQLite it runs with.
std::string version_text();

}  // namespace gw::app
