// netpie-bench: the load generator's command line. `run` drives one scenario against a broker that is
// already listening; `suite` starts netpie-edge and Mosquitto itself and runs every scenario against
// each, alternating, then prints the side-by-side tables (bench/run.sh calls it that way).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "bench/load/load_run.hpp"
#include "bench/load/scenario.hpp"
#include "bench/load/suite.hpp"

namespace {

int run_one(const std::string& file, const std::vector<std::string>& overrides, const gw::bench::Target& t) {
  gw::bench::Scenario s;
  s.name = "ad-hoc";
  if (!file.empty()) {
    auto loaded = gw::bench::load_scenario(file);
    if (!loaded) {
      std::fprintf(stderr, "netpie-bench: %s\n", loaded.error().c_str());
      return 1;
    }
    s = *loaded;
  }
  for (const auto& kv : overrides) {
    if (auto r = gw::bench::apply_override(s, kv); !r) {
      std::fprintf(stderr, "netpie-bench: %s\n", r.error().c_str());
      return 1;
    }
  }
  if (s.kind == gw::bench::Scenario::Kind::Drain) {
    std::fprintf(stderr, "netpie-bench: a drain scenario starts its own brokers: use `suite`\n");
    return 1;
  }
  auto r = gw::bench::run_scenario(s, t);
  if (s.kind == gw::bench::Scenario::Kind::Idle) {
    std::printf("%s: %u connections in %.2f s, broker RSS %.0f B per connection, peak %llu kB\n",
                s.name.c_str(), r.connections, r.connect_s, r.mem_per_conn_bytes,
                static_cast<unsigned long long>(r.broker_peak_rss_kb));
  } else {
    std::printf(
        "%s: delivered %.0f msg/s (sent %.0f msg/s) over %.1f s\n"
        "  latency us: p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  (%llu samples)\n"
        "  sent %llu  expected %llu  received %llu  lost %llu  duplicates %llu  unexpected %llu  behind %llu "
        " "
        "stalls %llu  unacked %llu\n"
        "  broker cpu %.2f s, peak rss %llu kB; load generator cpu %.2f s\n",
        s.name.c_str(), r.delivered_per_s, r.sent_per_s, r.window_s, r.latency.quantile(0.5) / 1e3,
        r.latency.quantile(0.9) / 1e3, r.latency.quantile(0.99) / 1e3, r.latency.quantile(0.999) / 1e3,
        static_cast<double>(r.latency.max()) / 1e3, static_cast<unsigned long long>(r.latency.count()),
        static_cast<unsigned long long>(r.sent), static_cast<unsigned long long>(r.expected),
        static_cast<unsigned long long>(r.received), static_cast<unsigned long long>(r.lost),
        static_cast<unsigned long long>(r.duplicates), static_cast<unsigned long long>(r.unexpected),
        static_cast<unsigned long long>(r.behind), static_cast<unsigned long long>(r.stalls),
        static_cast<unsigned long long>(r.unacked), r.broker_cpu_s,
        static_cast<unsigned long long>(r.broker_peak_rss_kb), r.loadgen_cpu_s);
  }
  if (!r.ok) std::fprintf(stderr, "netpie-bench: run failed: %s\n", r.error.c_str());
  return r.ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"netpie-bench: MQTT load generator; netpie-edge and Mosquitto side by side"};
  cli.require_subcommand(1);

  auto* run = cli.add_subcommand("run", "one scenario against a running broker");
  std::string file;
  std::vector<std::string> overrides;
  gw::bench::Target target;
  int pid = 0;
  run->add_option("-s,--scenario", file, "scenario YAML (bench/scenarios/*.yaml)");
  run->add_option("--set", overrides, "key=value overriding the scenario (e.g. rate=20000)")
      ->allow_extra_args(false);
  run->add_option("--host", target.host, "broker address (IPv4)");
  run->add_option("-p,--port", target.port, "broker port");
  run->add_option("--pid", pid, "broker process id, to read its CPU time and memory from /proc");

  auto* suite = cli.add_subcommand("suite", "start the brokers and run every scenario against each");
  gw::bench::SuiteOptions opt;
  suite->add_option("--edge", opt.edge, "netpie-edge binary")->required();
  suite->add_option("--mosquitto", opt.mosquitto, "mosquitto binary (omit to run netpie-edge only)");
  suite->add_option("--runs", opt.runs, "repetitions per broker and scenario")->check(CLI::Range(1, 100));
  suite->add_option("--set", opt.overrides, "key=value applied to every scenario (e.g. duration=2)")
      ->allow_extra_args(false);
  suite->add_option("--workdir", opt.workdir, "where the brokers' configurations and logs go");
  suite->add_option("--raw", opt.raw_path, "write every run as a tab-separated line to this file");
  suite->add_option("--tls-dir", opt.tls_dir, "certificates for tls scenarios (tests/tls/make-test-ca.sh)");
  suite->add_option("scenarios", opt.scenario_files, "scenario YAML files")->required();

  CLI11_PARSE(cli, argc, argv);
  if (run->parsed()) {
    target.pid = pid;
    return run_one(file, overrides, target);
  }
  return gw::bench::run_suite(opt);
}
