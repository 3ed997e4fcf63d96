// The side-by-side suite: every scenario against netpie-edge and Mosquitto (with its defaults, and with
// set_tcp_nodelay true where the scenario says it matters), a fresh broker per run, the brokers'
// order alternating from one repetition to the next. Prints one table per scenario: each figure for
// each broker as median [min-max], the ratio of medians, and a summary against the targets.
#pragma once

#include <string>
#include <vector>

namespace gw::bench {

struct SuiteOptions {
  std::string edge;       // netpie-edge binary
  std::string mosquitto;  // mosquitto binary; "" = netpie-edge only
  std::vector<std::string> scenario_files;
  std::vector<std::string> overrides;  // key=value, applied to every scenario
  int runs = 3;
  std::string workdir = "/tmp/netpie-bench";
  std::string raw_path;  // every run as one tab-separated line; "" = none
  std::string tls_dir;   // certificates for scenarios with tls: true (tests/tls/make-test-ca.sh output)
};

// Returns 0 when every run completed (whatever the figures), 1 otherwise. Targets never fail it.
int run_suite(const SuiteOptions& opt);

}  // namespace gw::bench
