// The `mqtt` uplink profile over plain TCP: one connection to a cloud MQTT broker with static
// credentials, fed from the durable outbox by the Drainer. It owns the socket (TcpClient), one timer
// (session deadlines, reconnect backoff, the status line) and a fresh mqtt::ClientSession per
// connection; the store is the only retry queue. Runs on the loop thread; close() before destruction.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "gateway/base/clock.hpp"
#include "gateway/uplink/drainer.hpp"
#include "gateway/uplink/tcp_client.hpp"
#include "protocols/mqtt/client_session.hpp"
#include "protocols/uplink/backoff.hpp"
#include "storage/store.hpp"

namespace gw::uplink {

struct MqttUplinkOptions {
  std::string name = "cloud";
  std::string host;
  std::uint16_t port = 1883;
  std::string client_id;
  std::optional<std::string> username;
  std::optional<std::string> password;
  std::uint16_t keepalive_s = 60;
  bool clean_start = false;
  std::string topic_prefix;
  std::uint8_t qos = 1;
  mqtt::Version version = mqtt::Version::V311;  // V311 or V5 (v5: the server's receive maximum)
  std::uint16_t max_inflight = 64;
  BackoffPolicy backoff;
  Millis status_interval_ms = 30'000;  // a status log line this often while there is a backlog
  Millis sys_interval_ms = 0;          // $SYS/broker/uplink/<name>/... this often; 0 = off
};

// Publishes one retained $SYS value locally (the daemon hands it to the broker).
using SysPublish = std::function<void(const std::string& topic, const std::string& payload)>;

// Counters for logs and status; they add up with the store's: every row acked here left the outbox.
struct MqttUplinkStats {
  std::uint64_t connects = 0;          // CONNACK accepted
  std::uint64_t connect_failures = 0;  // resolve/connect errors and CONNACK refusals
  std::uint64_t disconnects = 0;       // connections lost after CONNACK
  DrainStats drain;
};

class MqttUplink {
 public:
  enum class State { Idle, Connecting, Online, Backoff, Closed };

  MqttUplink(uv_loop_t* loop, storage::Store& store, const Clock& clock, MqttUplinkOptions options,
             RandomBits random);
  ~MqttUplink();
  MqttUplink(const MqttUplink&) = delete;
  MqttUplink& operator=(const MqttUplink&) = delete;

  // $SYS/broker/uplink/<name>/{state, backlog/rows, backlog/bytes, backlog/oldest_s (0: none queued),
  // published, acked, refused, connects, disconnects}, every sys_interval_ms and on state changes (state
  // only). Set before start().
  void set_sys_publisher(SysPublish publish) { sys_ = std::move(publish); }
  // Requeues rows a previous run left in flight, then connects.
  void start();
  // The store's outbox listener: new rows were committed.
  void new_rows();
  // Sends DISCONNECT if online, closes the socket and the timer (run the loop to free them).
  void close();

  State state() const { return state_; }
  MqttUplinkStats stats() const;

 private:
  class StorePort;
  void attempt();
  void on_transport_up();
  void on_bytes(std::string_view bytes);
  void on_transport_closed(const std::string& why);
  void after_input();  // events, bytes out, timer
  void schedule_reconnect();
  void arm_timer();
  void on_timer();
  void log_status();
  void publish_sys(bool state_only);
  void set_state(State s);

  uv_loop_t* loop_;
  storage::Store& store_;
  const Clock& clock_;
  MqttUplinkOptions options_;
  Backoff backoff_;
  std::unique_ptr<StorePort> port_;
  Drainer drainer_;
  TcpClient tcp_;
  std::unique_ptr<mqtt::ClientSession> session_;
  uv_timer_t* timer_ = nullptr;  // freed in its close callback
  State state_ = State::Idle;
  Millis reconnect_at_ = 0;
  Millis next_status_at_ = 0;
  Millis next_sys_at_ = 0;
  SysPublish sys_;
  std::shared_ptr<bool> sys_alive_ = std::make_shared<bool>(true);  // false once closed
  std::string last_error_;
  MqttUplinkStats stats_;
};

const char* to_string(MqttUplink::State s);

}  // namespace gw::uplink
