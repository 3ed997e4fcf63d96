// Starting and stopping the brokers under test as child processes, each with a generated configuration in
// its own work directory: netpie-edge (port 0, read back from its ports file) and Mosquitto (a free
// loopback port picked here), optionally with set_tcp_nodelay. The destructor always stops the child.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "gateway/base/result.hpp"

namespace gw::bench {

struct BrokerSpec {
  enum class Kind { Edge, Mosquitto };
  std::string label;  // "netpie-edge", "mosquitto", "mosquitto-nodelay"
  Kind kind = Kind::Edge;
  std::string binary;
  bool nodelay = false;             // Mosquitto only: set_tcp_nodelay true
  std::string edge_config;          // netpie-edge only: YAML appended to the generated configuration
  std::uint16_t max_inflight = 20;  // QoS 1/2 in flight to one client, in both brokers
  std::string edge_limits;          // netpie-edge only: more keys for its `limits` map
  // Used by the backlog-drain scenario (drain.cpp), which restarts an upstream Mosquitto; the defaults are
  // what every other scenario runs with.
  std::uint16_t port = 0;                      // Mosquitto: listen on this port (0 = a free one)
  bool keep_workdir = false;                   // do not empty the work directory first (a restart)
  bool persistence = false;                    // Mosquitto: persistence true, in the work directory
  std::uint32_t max_queued_messages = 100000;  // per-session queue, both brokers (Mosquitto: 0 = no bound)
  int sys_interval = 0;                        // netpie-edge: $SYS period, s
  std::string log_level = "warn";              // netpie-edge
  // Set: the broker's one listener runs TLS 1.2 with <tls_dir>/server.crt and server.key.
  std::string tls_dir;
  // The broker's one listener is MQTT over WebSocket (netpie-edge: protocol ws; Mosquitto: protocol
  // websockets, its libwebsockets listener), path /mqtt.
  bool websocket = false;
};

class BrokerProcess {
 public:
  static Result<std::unique_ptr<BrokerProcess>, std::string> start(const BrokerSpec& spec,
                                                                   const std::string& workdir);
  ~BrokerProcess();
  BrokerProcess(const BrokerProcess&) = delete;
  BrokerProcess& operator=(const BrokerProcess&) = delete;

  pid_t pid() const { return pid_; }
  std::uint16_t port() const { return port_; }
  // SIGTERM, then SIGKILL after 3 s. Returns "" or what went wrong (killed, non-zero exit); the suite
  // prints it under the table but keeps the run's figures, which were taken before the stop.
  std::string stop();

 private:
  BrokerProcess() = default;
  pid_t pid_ = 0;
  std::uint16_t port_ = 0;
  std::string log_path_;
};

}  // namespace gw::bench
