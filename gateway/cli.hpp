// The command line: one definition of every flag and its help text, used by main.cpp to parse and by
// manpage.cpp to write netpie-edge.8 at build time, so --help and the man page cannot disagree.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "gateway/config/config.hpp"

namespace gw::cli {

struct CommandLine {
  std::string config_path;  // "" = the embedded default
  bool check_config = false;
  bool hash_password = false;
  int port = -1;     // -1 = not given
  std::string bind;  // "" = not given
  std::string state_dir;
  bool verbose = false;
  std::string log_level;
};

// What the daemon is, for --help's first line and the man page's NAME.
inline constexpr const char* kSummary = "MQTT broker and NETPIE edge gateway";

// The configuration without -c: config::default_config() (MQTT on 127.0.0.1:1883) and an http listener on
// 127.0.0.1:8080 for /healthz, /metrics and the status page (gateway/ops/README.md).
config::Config embedded_default();

// Declares every option on `app`, bound to `out`.
void define(CLI::App& app, CommandLine& out);

// The flags that change a loaded configuration: --port and --bind (the embedded default's listeners:
// --port is the MQTT port, and -p 0 puts the HTTP listener on any free port too; --bind is for both),
// --state-dir, --log-level and -v.
void apply(const CommandLine& line, config::Config& cfg);

}  // namespace gw::cli
