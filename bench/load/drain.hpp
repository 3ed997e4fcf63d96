// The backlog-drain scenario (`kind: drain`, bench/scenarios/8-backlog-drain.yaml): how fast netpie-edge's
// `mqtt` uplink empties a large outbox into an upstream Mosquitto once the upstream comes back, and, for
// comparison, how fast the same Mosquitto accepts the same number of QoS 1 messages straight from one
// publisher with the same in-flight window. The steps of one run:
//
//   1. Mosquitto (persistence on, its in-flight window = the uplink's max_inflight, no queue bound) starts;
//      the witness (MQTT 3.1.1, clean session off) subscribes to up/# at `sub_qos` and leaves; Mosquitto
//      stops and keeps that session on disk.
//   2. netpie-edge starts with bench/# in its outbox and an uplink to that (stopped) Mosquitto. A local
//      watcher subscribes to $SYS/broker/uplink/drain/#. `publishers` fill the outbox with `messages` QoS 1
//      messages (fill rate: first send to last PUBACK); the watcher must then read backlog/rows = messages.
//   3. Mosquitto starts again on the same port; the witness comes back to its session. Drain time: from
//      starting Mosquitto to the last new message at the witness (so it includes Mosquitto's start-up and
//      the uplink's reconnect delay, at most 100 ms). Every message must arrive,
//      first arrivals in order per publisher; duplicates are counted. The watcher must then read
//      backlog/rows = 0.
//   4. Direct: one publisher sends `messages` QoS 1 messages to the same Mosquitto, window = max_inflight;
//      time from the first send to the last PUBACK, and to the last message at the witness.
#pragma once

#include "bench/load/scenario.hpp"
#include "bench/load/suite.hpp"

namespace gw::bench {

// Runs the scenario opt.runs times for every value of s.uplink_inflight and prints its Markdown table to
// stdout (progress to stderr). Needs opt.mosquitto. Returns false when a run failed.
bool run_drain_scenario(const Scenario& s, const SuiteOptions& opt);

}  // namespace gw::bench
