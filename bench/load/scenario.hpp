// A benchmark scenario as plain values: who publishes what to whom, at which QoS, rate and payload size,
// for how long. Scenarios live in bench/scenarios/*.yaml (named as in EMQ's open MQTT benchmark:
// fan-in, fan-out, p2p, idle connections, QoS 1) and can be overridden from the command line.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gateway/base/result.hpp"
#include "protocols/mqtt/packets.hpp"

namespace gw::bench {

struct Scenario {
  enum class Kind { Flow, Idle, Drain };
  std::string name;
  std::string description;
  Kind kind = Kind::Flow;
  // Flow: publishers publish to pub_topic, subscribers subscribe to sub_filter. "{i}" in pub_topic is the
  // publisher's index, "{j}" in sub_filter the subscriber's; delivery is expected wherever the filter
  // matches the topic, which is how losses are counted.
  std::uint32_t publishers = 1;
  std::uint32_t subscribers = 1;
  std::string pub_topic = "bench/{i}";
  std::string sub_filter = "bench/#";
  std::uint8_t qos = 0;         // of the PUBLISH packets sent
  std::uint8_t sub_qos = 0;     // requested in SUBSCRIBE
  std::uint32_t payload = 64;   // bytes; at least 24 (the timestamp header)
  double rate = 0;              // messages per second over all publishers; 0 = as fast as delivered
  std::uint32_t window = 1000;  // rate 0: messages outstanding (sent, not yet delivered), all publishers
  // rate 0, open loop: when > 0, delivery does not gate the publishers; each keeps at most this many QoS 1/2
  // PUBLISH unacknowledged (a client library's max in-flight; QoS 0: only its socket gates it). The run then
  // counts what the broker acknowledged and whether each acknowledged message was delivered.
  std::uint32_t ack_window = 0;
  double duration_s = 10;
  double warmup_s = 1;  // excluded from throughput and latency, still counted for losses
  double drain_s = 5;   // at most this long after the end for the last messages to arrive
  double quiet_s = 1;   // the drain also ends after this long without a delivery
  // Idle: this many connections, CONNECT only; the broker's memory is read this long after the last
  // CONNACK (lazily grown buffers, deferred frees; netpie-edge's TLS idle release after 5 s).
  std::uint32_t connections = 10000;
  double settle_s = 1;
  mqtt::Version version = mqtt::Version::V311;
  // What the issue asks of this scenario, checked in the suite's summary: "" (none), "throughput_2x",
  // "throughput_2x_lossless", "p99_under_1ms", "memory_per_connection".
  std::string target;
  // QoS 1/2 messages in flight from the broker to one subscriber, set alike in both brokers' configuration
  // (netpie-edge limits.max_inflight, Mosquitto max_inflight_messages). 20 is Mosquitto's default.
  std::uint16_t max_inflight = 20;
  // Per-session queue bound, in both brokers (netpie-edge limits.max_queued_messages, Mosquitto
  // max_queued_messages).
  std::uint32_t max_queued = 100000;
  // netpie-edge only: more `limits` keys, "key: value, key: value" (e.g. "qos0_full_policy: pause").
  std::string edge_limits;
  // YAML appended to netpie-edge's generated configuration (e.g. a store section); Mosquitto has none.
  std::string edge_config;
  // Whether the suite also runs Mosquitto with set_tcp_nodelay true for this scenario.
  bool mosquitto_nodelay = true;
  // Every client connects over TLS 1.2 to a TLS listener of each broker (certificates: the suite's
  // --tls-dir, made by tests/tls/make-test-ca.sh; bench/run.sh makes them).
  bool tls = false;
  // Every client speaks MQTT over WebSocket (masked binary frames, path /mqtt, sub-protocol mqtt) to a
  // WebSocket listener of each broker.
  bool websocket = false;
  // Drain (bench/load/drain.hpp): `messages` are queued in netpie-edge's outbox while its upstream Mosquitto
  // is down (by `publishers` at QoS 1, `window` outstanding in all), then the upstream starts and the
  // uplink drains them; once for each uplink max_inflight in the comma-separated `uplink_inflight`.
  std::uint64_t messages = 1000000;
  std::string uplink_inflight = "64";
};

Result<Scenario, std::string> load_scenario(const std::string& path);
// Applies "key=value" overrides (the same keys as the YAML files).
Result<bool, std::string> apply_override(Scenario& s, const std::string& key_value);
std::string expand(const std::string& pattern, const char* var, std::uint32_t n);

}  // namespace gw::bench
