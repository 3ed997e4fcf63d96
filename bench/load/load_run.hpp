// One run of one scenario against one broker that is already listening: connects the subscribers, then
// the publishers, publishes for the scenario's duration (at a fixed rate, or as fast as deliveries come
// back, with a bounded window of outstanding messages), drains, and reports what it measured.
// Everything runs on one libuv loop in the calling thread; the broker is another process.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "bench/load/histogram.hpp"
#include "bench/load/scenario.hpp"

namespace gw::bench {

struct Target {
  std::string host = "127.0.0.1";
  std::uint16_t port = 1883;
  pid_t pid = 0;       // the broker's process, for CPU and memory; 0 = not measured
  std::string tls_ca;  // Scenario::tls: the CA the broker's certificate (for "localhost") chains to
};

struct RunResult {
  bool ok = false;
  std::string error;  // why the run is not valid (setup failed, connections lost)

  // Flow scenarios. Throughput and latency cover [start + warmup, end); losses cover the whole run.
  double publish_s = 0;        // from the first publish to the end (the CPU figures cover this)
  double window_s = 0;         // after the warmup (the throughput and latency figures cover this)
  double delivered_per_s = 0;  // PUBLISH packets received by subscribers in the window, per second
  double sent_per_s = 0;       // PUBLISH packets sent by publishers in the window, per second
  std::uint64_t sent = 0;
  std::uint64_t expected = 0;    // sent x matching subscribers
  std::uint64_t received = 0;    // every PUBLISH a subscriber got
  std::uint64_t lost = 0;        // expected - distinct received
  std::uint64_t duplicates = 0;  // received more than once (same publisher, same sequence number)
  std::uint64_t unexpected = 0;  // not ours, or from a pair that should not match
  std::uint64_t behind = 0;      // fixed rate: messages the generator could not send on time
  std::uint64_t stalls = 0;      // max rate: windows written off after 0.5 s without progress
  std::uint64_t disconnects = 0;
  std::uint64_t unacked = 0;  // QoS 1/2 PUBLISH the broker had not acknowledged at the end
  // Open loop (Scenario::ack_window): QoS 1/2 PUBLISH the broker acknowledged (PUBACK/PUBREC < 0x80), and
  // how many (subscriber, message) deliveries of those never came: what the broker promised and lost.
  std::uint64_t acked = 0;
  std::uint64_t acked_lost = 0;
  Histogram latency;  // nanoseconds, publish to delivery, messages sent in the window
  // Fixed rate: how late the generator's own 1 ms timer fired (nanoseconds). It measures the machine's
  // scheduling noise, which no broker can beat: a latency figure is only as good as this floor.
  Histogram timer_lag;

  // Idle scenario.
  std::uint32_t connections = 0;
  double connect_s = 0;           // time to connect them all
  double mem_per_conn_bytes = 0;  // broker RSS growth per connection

  // The broker process (when Target::pid is set) and the load generator itself.
  double broker_cpu_s = 0;  // CPU seconds during the publishing window (warmup included)
  std::uint64_t broker_peak_rss_kb = 0;
  double loadgen_cpu_s = 0;
};

RunResult run_scenario(const Scenario& s, const Target& t);

}  // namespace gw::bench
