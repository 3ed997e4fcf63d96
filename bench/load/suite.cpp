// The suite's loop (scenario x repetition x broker, alternating the order) and its report. Progress goes
// to stderr, the tables to stdout as Markdown, so `netpie-bench suite ... > results.md` keeps only them.
#include "bench/load/suite.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>

#include "bench/load/broker_process.hpp"
#include "bench/load/drain.hpp"
#include "bench/load/load_run.hpp"
#include "bench/load/scenario.hpp"

namespace gw::bench {

namespace {

enum class Better { Higher, Lower, None };

struct Figure {
  std::string name;
  Better better;
  std::function<double(const RunResult&)> get;
};

std::vector<Figure> figures_for(const Scenario& s) {
  auto us = [](double q) { return [q](const RunResult& r) { return r.latency.quantile(q) / 1000.0; }; };
  if (s.kind == Scenario::Kind::Idle) {
    return {
        {"broker RSS per connection (bytes)", Better::Lower,
         [](const RunResult& r) { return r.mem_per_conn_bytes; }},
        {"broker peak RSS (MB)", Better::Lower,
         [](const RunResult& r) { return static_cast<double>(r.broker_peak_rss_kb) / 1024.0; }},
        {"time to connect all (s)", Better::Lower, [](const RunResult& r) { return r.connect_s; }},
    };
  }
  std::vector<Figure> f{
      {"delivered msg/s", Better::Higher, [](const RunResult& r) { return r.delivered_per_s; }},
      {"latency p50 (us)", Better::Lower, us(0.50)},
      {"latency p90 (us)", Better::Lower, us(0.90)},
      {"latency p99 (us)", Better::Lower, us(0.99)},
      {"latency p99.9 (us)", Better::Lower, us(0.999)},
      {"lost", Better::Lower, [](const RunResult& r) { return static_cast<double>(r.lost); }},
      {"duplicates", Better::Lower, [](const RunResult& r) { return static_cast<double>(r.duplicates); }},
      {"broker CPU (s)", Better::Lower, [](const RunResult& r) { return r.broker_cpu_s; }},
      {"broker CPU per delivery (us)", Better::Lower,
       [](const RunResult& r) {
         const double deliveries = r.delivered_per_s * r.window_s;
         // CPU is read over the whole publishing time, deliveries over the window after warmup: scale.
         const double cpu_in_window = r.publish_s > 0 ? r.broker_cpu_s * r.window_s / r.publish_s : 0;
         return deliveries > 0 ? cpu_in_window * 1e6 / deliveries : 0;
       }},
      {"broker peak RSS (MB)", Better::Lower,
       [](const RunResult& r) { return static_cast<double>(r.broker_peak_rss_kb) / 1024.0; }},
      {"load generator CPU (s)", Better::None, [](const RunResult& r) { return r.loadgen_cpu_s; }},
  };
  if (s.ack_window > 0) {
    // Open loop: what each broker acknowledged, delivered and lost (in memory: nothing is durably queued).
    auto count = [](std::uint64_t RunResult::*m) {
      return [m](const RunResult& r) { return static_cast<double>(r.*m); };
    };
    std::vector<Figure> open{
        {"sent", Better::None, count(&RunResult::sent)},
        {"delivered (distinct)", Better::Higher,
         [](const RunResult& r) { return static_cast<double>(r.expected - r.lost); }},
        {"lost %", Better::Lower,
         [](const RunResult& r) {
           return r.expected ? 100.0 * static_cast<double>(r.lost) / static_cast<double>(r.expected) : 0.0;
         }},
    };
    if (s.qos > 0) {
      open.insert(open.begin() + 1, Figure{"acknowledged", Better::None, count(&RunResult::acked)});
      open.push_back(Figure{"acknowledged, never delivered", Better::Lower, count(&RunResult::acked_lost)});
    }
    f.insert(f.begin() + 6, open.begin(), open.end());
  }
  if (s.rate > 0) {
    f.insert(f.begin() + 7, Figure{"sends behind schedule", Better::Lower,
                                   [](const RunResult& r) { return static_cast<double>(r.behind); }});
    f.push_back(Figure{"noise floor: generator 1 ms timer late p99 (us)", Better::None,
                       [](const RunResult& r) { return r.timer_lag.quantile(0.99) / 1000.0; }});
  }
  return f;
}

std::string num(double v) {
  char buf[64];
  if (std::isnan(v)) return "-";
  double a = std::fabs(v);
  if (a >= 10000) {
    // Thousands separators for the big counts and rates.
    std::snprintf(buf, sizeof buf, "%.0f", v);
    std::string s = buf, out;
    int digits = 0;
    for (auto it = s.rbegin(); it != s.rend(); ++it) {
      if (digits && digits % 3 == 0 && *it != '-') out.insert(out.begin(), ',');
      out.insert(out.begin(), *it);
      ++digits;
    }
    return out;
  }
  if (a >= 100 || v == std::floor(v)) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else if (a >= 10) {
    std::snprintf(buf, sizeof buf, "%.1f", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f", v);
  }
  return buf;
}

struct Stats {
  double min = NAN, median = NAN, max = NAN;
  std::size_t n = 0;
};

Stats stats_of(std::vector<double> v) {
  Stats s;
  s.n = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s.min = v.front();
  s.max = v.back();
  s.median = v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  return s;
}

std::string cell(const Stats& s) {
  if (s.n == 0) return "failed";
  if (s.n == 1) return num(s.median);
  return num(s.median) + " [" + num(s.min) + "-" + num(s.max) + "]";
}

std::string ratio(const Stats& edge, const Stats& other) {
  if (edge.n == 0 || other.n == 0 || std::isnan(edge.median) || std::isnan(other.median)) return "-";
  if (other.median == 0) return edge.median == 0 ? "=" : "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2fx", edge.median / other.median);
  return buf;
}

std::string describe(const Scenario& s) {
  char buf[512];
  if (s.kind == Scenario::Kind::Idle) {
    std::snprintf(buf, sizeof buf, "%u idle %sconnections (CONNECT only, MQTT %s)", s.connections,
                  s.tls ? "TLS 1.2 " : "", s.version == mqtt::Version::V5 ? "5" : "3.1.1");
    return buf;
  }
  std::string rate = s.rate > 0 ? num(s.rate) + " msg/s" : "max rate (window " + num(s.window) + ")";
  if (s.rate <= 0 && s.ack_window > 0) {
    rate = s.qos > 0 ? "max rate, open loop (" + num(s.ack_window) + " unacknowledged per publisher)"
                     : "max rate, open loop (only the socket holds a publisher back)";
  }
  std::snprintf(buf, sizeof buf, "%s%s%u pub -> %u sub, QoS %u/%u, %u B payload, %s, %.0f s (%.0f s warmup)",
                s.tls ? "TLS 1.2, " : "", s.websocket ? "WebSocket, " : "", s.publishers, s.subscribers,
                s.qos, s.sub_qos, s.payload, rate.c_str(), s.duration_s, s.warmup_s);
  return buf;
}

std::string first_line(const char* cmd, const char* grep) {
  std::string out;
  if (FILE* f = popen(cmd, "r")) {
    char buf[512];
    while (std::fgets(buf, sizeof buf, f)) {
      if (out.empty() && std::strstr(buf, grep)) out = buf;
    }
    pclose(f);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

std::string loadavg() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

// What the figures were measured on: they mean little without it.
void print_machine(const SuiteOptions& opt) {
  utsname u{};
  uname(&u);
  std::string cpu = first_line("cat /proc/cpuinfo", "model name");
  if (auto colon = cpu.find(':'); colon != std::string::npos) cpu = cpu.substr(colon + 2);
  std::printf("Machine: %ld CPUs (%s), Linux %s %s; load average at start %s.\n",
              sysconf(_SC_NPROCESSORS_ONLN), cpu.c_str(), u.release, u.machine, loadavg().c_str());
  if (!opt.mosquitto.empty()) {
    std::string cmd = opt.mosquitto + " -h 2>&1";
    std::printf("Mosquitto: %s.\n", first_line(cmd.c_str(), "version").c_str());
  }
}

struct Outcome {
  std::string broker;
  int run;
  RunResult result;
  std::string stop_problem;
};

void write_raw(std::ofstream& raw, const Scenario& s, const Outcome& o) {
  const RunResult& r = o.result;
  raw << s.name << '\t' << o.broker << '\t' << o.run << '\t' << (r.ok ? "ok" : "failed") << '\t'
      << r.delivered_per_s << '\t' << r.sent_per_s << '\t' << r.sent << '\t' << r.expected << '\t'
      << r.received << '\t' << r.lost << '\t' << r.duplicates << '\t' << r.unexpected << '\t' << r.behind
      << '\t' << r.stalls << '\t' << r.latency.quantile(0.5) << '\t' << r.latency.quantile(0.9) << '\t'
      << r.latency.quantile(0.99) << '\t' << r.latency.quantile(0.999) << '\t' << r.latency.max() << '\t'
      << r.broker_cpu_s << '\t' << r.broker_peak_rss_kb << '\t' << r.loadgen_cpu_s << '\t' << r.connections
      << '\t' << r.connect_s << '\t' << r.mem_per_conn_bytes << '\t' << r.error << '\n';
}

}  // namespace

int run_suite(const SuiteOptions& opt) {
  std::vector<Scenario> scenarios;
  for (const auto& path : opt.scenario_files) {
    auto s = load_scenario(path);
    if (!s) {
      std::fprintf(stderr, "netpie-bench: %s\n", s.error().c_str());
      return 1;
    }
    for (const auto& kv : opt.overrides) {
      auto r = apply_override(*s, kv);
      if (!r) {
        std::fprintf(stderr, "netpie-bench: %s\n", r.error().c_str());
        return 1;
      }
    }
    scenarios.push_back(*s);
  }
  std::ofstream raw;
  if (!opt.raw_path.empty()) {
    raw.open(opt.raw_path, std::ios::trunc);
    raw << "scenario\tbroker\trun\tstatus\tdelivered_per_s\tsent_per_s\tsent\texpected\treceived\tlost\t"
           "duplicates\tunexpected\tbehind\tstalls\tp50_ns\tp90_ns\tp99_ns\tp999_ns\tmax_ns\tbroker_cpu_s\t"
           "broker_peak_rss_kb\tloadgen_cpu_s\tconnections\tconnect_s\tmem_per_conn_bytes\terror\n";
  }

  bool all_ok = true;
  print_machine(opt);
  std::printf(
      "Each cell: median [min-max] over %d runs; ratios are netpie-edge / the other broker's median.\n",
      opt.runs);
  std::vector<std::string> summary;
  for (const auto& s : scenarios) {
    if (s.kind == Scenario::Kind::Drain) {  // starts and restarts its brokers itself; its own table
      if (!run_drain_scenario(s, opt)) all_ok = false;
      continue;
    }
    std::vector<BrokerSpec> brokers{{"netpie-edge", BrokerSpec::Kind::Edge, opt.edge, false}};
    if (!opt.mosquitto.empty()) {
      brokers.push_back({"mosquitto", BrokerSpec::Kind::Mosquitto, opt.mosquitto, false});
      if (s.mosquitto_nodelay)
        brokers.push_back({"mosquitto-nodelay", BrokerSpec::Kind::Mosquitto, opt.mosquitto, true});
    }
    for (auto& b : brokers) {
      b.max_inflight = s.max_inflight;
      b.max_queued_messages = s.max_queued;
      if (s.tls) b.tls_dir = opt.tls_dir;
      b.websocket = s.websocket;
      if (b.kind == BrokerSpec::Kind::Edge) {
        b.edge_config = s.edge_config;
        b.edge_limits = s.edge_limits;
      }
    }
    std::vector<Outcome> outcomes;
    for (int run = 0; run < opt.runs; ++run) {
      // Alternate the order so that drift on a shared machine does not favour one broker.
      std::vector<BrokerSpec> order = brokers;
      if (run % 2 == 1) std::reverse(order.begin(), order.end());
      for (const auto& b : order) {
        Outcome o{b.label, run + 1, {}};
        auto proc = BrokerProcess::start(b, opt.workdir + "/" + b.label);
        if (!proc) {
          o.result.error = proc.error();
        } else {
          Target t{"127.0.0.1", (*proc)->port(), (*proc)->pid(), s.tls ? opt.tls_dir + "/ca.crt" : ""};
          o.result = run_scenario(s, t);
          o.stop_problem = (*proc)->stop();
        }
        const RunResult& r = o.result;
        if (!r.ok) all_ok = false;
        if (s.kind == Scenario::Kind::Idle) {
          std::fprintf(stderr, "[%s %d/%d] %-17s %s %u conns, %.0f B/conn, peak %.1f MB %s\n", s.name.c_str(),
                       run + 1, opt.runs, b.label.c_str(), r.ok ? "ok" : "FAILED", r.connections,
                       r.mem_per_conn_bytes, r.broker_peak_rss_kb / 1024.0, r.error.c_str());
        } else {
          std::fprintf(
              stderr,
              "[%s %d/%d] %-17s %s %.0f msg/s, p50 %.0f us, p99 %.0f us, lost %llu, dup %llu, cpu %.2f s, "
              "loadgen cpu %.2f s %s\n",
              s.name.c_str(), run + 1, opt.runs, b.label.c_str(), r.ok ? "ok" : "FAILED", r.delivered_per_s,
              r.latency.quantile(0.5) / 1000.0, r.latency.quantile(0.99) / 1000.0,
              static_cast<unsigned long long>(r.lost), static_cast<unsigned long long>(r.duplicates),
              r.broker_cpu_s, r.loadgen_cpu_s, r.error.c_str());
        }
        if (!o.stop_problem.empty())
          std::fprintf(stderr, "  note: %s %s\n", b.label.c_str(), o.stop_problem.c_str());
        if (raw.is_open()) write_raw(raw, s, o);
        outcomes.push_back(std::move(o));
      }
    }

    // The table.
    std::printf("\n### %s\n%s%s%s\n\n", s.name.c_str(), s.description.empty() ? "" : s.description.c_str(),
                s.description.empty() ? "" : ". ", describe(s).c_str());
    std::string head = "| figure |", rule = "|---|";
    for (std::size_t k = 0; k < brokers.size(); ++k) {
      head += " " + brokers[k].label + " |";
      rule += "---:|";
      if (k > 0) {
        head += " edge / " + brokers[k].label + " |";
        rule += "---:|";
      }
    }
    std::printf("%s\n%s\n", head.c_str(), rule.c_str());
    std::map<std::string, Stats> by_broker_first;  // figure 0 per broker, for the summary
    auto figure_stats = [&](const Figure& f, const std::string& broker) {
      std::vector<double> v;
      for (const auto& o : outcomes) {
        if (o.broker == broker && o.result.ok) v.push_back(f.get(o.result));
      }
      return stats_of(v);
    };
    for (const auto& f : figures_for(s)) {
      std::string line = "| " + f.name + (f.better == Better::Higher ? " (higher is better)" : "") + " |";
      Stats edge = figure_stats(f, brokers[0].label);
      for (std::size_t k = 0; k < brokers.size(); ++k) {
        Stats st = k == 0 ? edge : figure_stats(f, brokers[k].label);
        line += " " + cell(st) + " |";
        if (k > 0) line += " " + ratio(edge, st) + " |";
      }
      std::printf("%s\n", line.c_str());
    }
    std::size_t failed = 0;
    std::map<std::string, std::string> stop_notes;
    for (const auto& o : outcomes) {
      if (!o.stop_problem.empty()) stop_notes[o.broker] = o.stop_problem;
    }
    for (const auto& [broker, what] : stop_notes) {
      std::printf("\nNote: %s, when stopped after a run: %s\n", broker.c_str(), what.c_str());
    }
    for (const auto& o : outcomes) {
      if (!o.result.ok) {
        ++failed;
        std::printf("\nRun %d of %s failed: %s\n", o.run, o.broker.c_str(), o.result.error.c_str());
      }
    }
    std::fflush(stdout);

    // The targets for this scenario, against the better of the Mosquitto variants.
    if (s.target.empty() || brokers.size() < 2) continue;
    auto best_mosquitto = [&](const Figure& f) {
      Stats best;
      for (std::size_t k = 1; k < brokers.size(); ++k) {
        Stats st = figure_stats(f, brokers[k].label);
        if (st.n == 0) continue;
        bool better =
            best.n == 0 || (f.better == Better::Higher ? st.median > best.median : st.median < best.median);
        if (better) best = st;
      }
      return best;
    };
    const auto figs = figures_for(s);
    auto find = [&](const std::string& name) {
      return *std::find_if(figs.begin(), figs.end(), [&](const Figure& f) { return f.name == name; });
    };
    char line[512];
    if (s.target == "throughput_2x" || s.target == "throughput_2x_lossless") {
      auto f = find("delivered msg/s");
      Stats e = figure_stats(f, "netpie-edge"), m = best_mosquitto(f);
      double x = m.n && m.median > 0 ? e.median / m.median : NAN;
      std::string verdict = !std::isnan(x) && x >= 2.0 ? "met" : "NOT met";
      std::string extra;
      if (s.target == "throughput_2x_lossless") {
        Stats lost = figure_stats(find("lost"), "netpie-edge");
        extra = ", lost max " + num(lost.max);
        if (!(lost.n && lost.max == 0)) verdict = "NOT met";
      }
      std::snprintf(line, sizeof line, "- %s: throughput %.2fx the best Mosquitto (target 2x)%s: %s",
                    s.name.c_str(), x, extra.c_str(), verdict.c_str());
    } else if (s.target == "acked_delivered_2x" || s.target == "loss_1pct_2x") {
      auto f = find("delivered msg/s");
      Stats e = figure_stats(f, "netpie-edge"), m = best_mosquitto(f);
      double x = m.n && m.median > 0 ? e.median / m.median : NAN;
      bool ok = !std::isnan(x) && x >= 2.0;
      std::string extra;
      if (s.target == "acked_delivered_2x") {
        Stats lost = figure_stats(find("acknowledged, never delivered"), "netpie-edge");
        extra = ", acknowledged but never delivered: max " + num(lost.max);
        ok = ok && lost.n && lost.max == 0;
      } else {
        Stats lost = figure_stats(find("lost %"), "netpie-edge");
        extra = ", lost max " + num(lost.max) + " %";
        ok = ok && lost.n && lost.max <= 1.0;
      }
      std::snprintf(line, sizeof line, "- %s: throughput %.2fx the best Mosquitto (target 2x)%s: %s",
                    s.name.c_str(), x, extra.c_str(), ok ? "met" : "NOT met");
    } else if (s.target == "p99_under_1ms") {
      Stats e = figure_stats(find("latency p99 (us)"), "netpie-edge");
      std::snprintf(line, sizeof line, "- %s: p99 %s us median, %s us worst run (target < 1000 us): %s",
                    s.name.c_str(), num(e.median).c_str(), num(e.max).c_str(),
                    e.n && e.max < 1000 ? "met" : "NOT met");
    } else {
      auto f = figures_for(s)[0];
      Stats e = figure_stats(f, "netpie-edge"), m = best_mosquitto(f);
      std::snprintf(line, sizeof line,
                    "- %s: %s B per idle connection vs Mosquitto %s B (target: no more): %s", s.name.c_str(),
                    num(e.median).c_str(), num(m.median).c_str(),
                    e.n && m.n && e.median <= m.median ? "met" : "NOT met");
    }
    if (failed)
      summary.push_back(std::string(line) + " (" + std::to_string(failed) + " failed runs)");
    else
      summary.push_back(line);
  }
  std::printf("\nLoad average at the end: %s.\n", loadavg().c_str());
  if (!summary.empty()) {
    std::printf("\n### Targets (against the better Mosquitto variant)\n\n");
    for (const auto& l : summary) std::printf("%s\n", l.c_str());
  }
  std::fflush(stdout);
  return all_ok ? 0 : 1;
}

}  // namespace gw::bench
