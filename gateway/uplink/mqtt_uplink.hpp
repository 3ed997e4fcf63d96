// One cloud uplink: a connection to a cloud MQTT broker fed from this uplink's share of the durable
// outbox by the Drainer, and cloud topics brought down to local subscribers. Two profiles share it:
//   mqtt    static credentials (or a client certificate) to any MQTT 3.1.1/5 broker;
//   netpie  the NETPIE 2015 microgear login: the token flow (protocols/uplink/token_flow) over HTTP(S)
//           gives the MQTT client id, user name and HMAC password, with the access token cached in the
//           store's key/value table across restarts.
// It owns the socket (TcpClient, plain or TLS), one timer (session deadlines, backoff, token-flow waits,
// rate limit, status) and a fresh mqtt::ClientSession per connection; the store is the only retry queue.
// Runs on the loop thread; close() before destruction.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <variant>

#include "gateway/base/clock.hpp"
#include "gateway/uplink/drainer.hpp"
#include "gateway/uplink/tcp_client.hpp"
#include "protocols/mqtt/client_session.hpp"
#include "protocols/uplink/backoff.hpp"
#include "protocols/uplink/presence_table.hpp"
#include "protocols/uplink/relay.hpp"
#include "protocols/uplink/token_flow.hpp"
#include "storage/store.hpp"

namespace gw::net {
class TlsClientContext;
}

namespace gw::uplink {

// The netpie profile's login and namespace.
struct NetpieLogin {
  // Chat to an alias held by a local microgear (/<appid>/gearname/<alias>) is subscribed upstream while
  // the alias is held, and delivered locally.
  TokenFlowConfig flow;  // app id, key, secret, alias, token server, ports, TLS
  // Chat to the gateway's own alias (flow.alias) from the cloud is published locally on this topic; "":
  // dropped.
  std::string chat_topic;
};

struct MqttUplinkOptions {
  std::string name = "cloud";  // also the outbox destination
  std::string host;            // mqtt: the broker; netpie: the token server (flow.auth_host)
  std::uint16_t port = 1883;
  std::string client_id;
  std::optional<std::string> username;
  std::optional<std::string> password;
  std::uint16_t keepalive_s = 60;
  bool clean_start = false;
  std::vector<RelayRule> up;    // local -> cloud topic mapping (the outbox rows were chosen by them)
  std::vector<RelayRule> down;  // cloud filters subscribed and mapped to local topics
  std::string topic_prefix;     // rows no up rule matches
  std::uint8_t qos = 1;
  mqtt::Version version = mqtt::Version::V311;  // V311 or V5 (v5: the server's receive maximum)
  std::uint16_t max_inflight = 64;
  std::uint32_t rate_limit = 0;                       // rows per second upward; 0 = none
  ReplayOrder replay_order = ReplayOrder::PerOrigin;  // live-first replay (drainer.hpp)
  double live_share = 1.0;
  BackoffPolicy backoff;
  std::string presence_topic;    // the gateway's status ("online" retained / "offline" as will); "" = off
  std::string presence_devices;  // device presence topic prefix; "" = off
  std::size_t presence_max_retained = 10000;  // devices with retained presence upstream at most
  PresenceFullPolicy presence_full_policy = PresenceFullPolicy::EvictOldestAbsent;
  std::optional<NetpieLogin> netpie;
  std::shared_ptr<const net::TlsClientContext> tls;  // null: plain TCP
  std::string tls_server_name;                       // "" = the host connected to
  Millis status_interval_ms = 30'000;                // a status log line this often while there is a backlog
  Millis sys_interval_ms = 0;                        // $SYS/broker/uplink/<name>/... this often; 0 = off
  Millis stop_timeout_ms = 2'000;  // stop(): at most this long for the offline status and device events
};

// Publishes one retained $SYS value locally (the daemon hands it to the broker).
using SysPublish = std::function<void(const std::string& topic, const std::string& payload)>;
// Delivers a message that came down from the cloud to local subscribers. It is never relayed up again
// (the daemon publishes it without a sender, and only client messages enter the outbox).
struct LocalMessage {
  std::string topic;
  std::string payload;
  std::uint8_t qos = 0;
  bool retain = false;
};
using LocalPublish = std::function<void(LocalMessage)>;

// One HTTP request of the token flow; `done` runs later on the loop thread (never inside request()).
class HttpPort {
 public:
  virtual ~HttpPort() = default;
  using Done = std::function<void(std::variant<HttpResponse, HttpFailed>)>;
  virtual void request(const HttpRequest& r, Done done) = 0;
  virtual void cancel() = 0;  // the pending request's completion will not run
};

// Counters for logs and status; they add up with the store's: every row acked here left the outbox.
struct MqttUplinkStats {
  std::uint64_t connects = 0;          // CONNACK accepted
  std::uint64_t connect_failures = 0;  // resolve/connect/TLS errors and CONNACK refusals
  std::uint64_t disconnects = 0;       // connections lost after CONNACK
  std::uint64_t received = 0;          // messages that came down and were published locally
  std::uint64_t unmatched = 0;         // messages that came down and no down rule or alias wanted
  std::uint64_t echoes = 0;            // chat that came back down after going up, dropped
  std::uint64_t presence_events = 0;   // device presence events queued for the cloud
  std::uint64_t presence_refused = 0;  // device presence events the store refused (full, disk)
  std::uint64_t presence_cleared = 0;  // retained device presence cleared (sessions that ended for good)
  std::uint64_t presence_evicted = 0;  // retained device presence cleared to stay within max_retained
  std::uint64_t presence_plain = 0;    // device events sent up not retained: the presence table was full
  std::uint64_t presence_held = 0;     // devices with retained presence upstream now (the table's size)
  DrainStats drain;
};

class MqttUplink {
 public:
  enum class State { Idle, LoggingIn, Connecting, Online, Backoff, Closed };

  MqttUplink(uv_loop_t* loop, storage::Store& store, const Clock& clock, MqttUplinkOptions options,
             RandomBits random);
  ~MqttUplink();
  MqttUplink(const MqttUplink&) = delete;
  MqttUplink& operator=(const MqttUplink&) = delete;

  // $SYS/broker/uplink/<name>/{state, backlog/rows, backlog/bytes, backlog/oldest_s (0: none queued),
  // published, acked, refused, connects, disconnects, received}, every sys_interval_ms and on state
  // changes (state only). Set before start().
  void set_sys_publisher(SysPublish publish) { sys_ = std::move(publish); }
  void set_local_publisher(LocalPublish publish) { local_ = std::move(publish); }
  // The netpie profile's HTTP client (required for it). Set before start().
  void set_http(std::unique_ptr<HttpPort> http) { http_ = std::move(http); }
  // Requeues this uplink's rows a previous run left in flight, then connects (netpie: reads the cached
  // token first).
  void start();
  // The store's outbox listener: new rows were committed.
  void new_rows();
  // A local device connected (online) or went away; `reason`: "disconnect", "keepalive timeout",
  // "connection lost", "taken over", ... Queued in the outbox as a retained message on
  // presence_devices + client_id (lane 0), so it survives outages in order. No-op when off.
  // `session_ends`: the device's session ends with this connection (a clean session): the event goes up
  // not retained (device_session_ended clears the topic next). Retained events are counted in a table
  // bounded by presence_max_retained; past it presence_full_policy applies (presence_table.hpp).
  void device_presence(const std::string& client_id, bool online, const std::string& reason,
                       bool session_ends = false);
  // The device's session ended for good (clean session at its end, persistent session expired): an
  // empty retained message clears presence_devices + client_id upstream, and it leaves the table.
  void device_session_ended(const std::string& client_id);
  // At start, before the first event: a session the store kept has retained presence upstream from an
  // earlier run (its last event, `offline` after a graceful stop). Counted as absent; past the bound
  // the full policy applies.
  void device_known(const std::string& client_id);
  // netpie profile: a local microgear of this app started (held) or stopped holding `alias`.
  void local_alias(const std::string& appid, const std::string& alias, bool held);
  // The daemon is stopping (SIGTERM): what the will would say on a crash goes up first. Online: the
  // status "offline" (retained, QoS 1) is published, and the uplink keeps draining until the broker has
  // reported every connected device gone, each of those device events (outbox rows, lane 0) was
  // acknowledged by the cloud and so was the status; not online: only until the device events are queued
  // (they go up after the next start). Then close(); at the latest after stop_timeout_ms. No reconnect
  // is attempted meanwhile, and a connection lost meanwhile closes at once.
  void stop();
  // Reload (SIGHUP): new relay rules without reconnecting. Up rules and the fallback mapping apply to rows
  // published from now on; while online, down filters no longer wanted are unsubscribed and new ones
  // (or ones with a new QoS) subscribed on the live session.
  void set_rules(std::vector<RelayRule> up, std::vector<RelayRule> down, std::string topic_prefix,
                 std::uint8_t qos);
  // Sends DISCONNECT if online, closes the socket and the timer (run the loop to free them).
  void close();

  State state() const { return state_; }
  const std::string& name() const { return options_.name; }
  const std::shared_ptr<const net::TlsClientContext>& tls_context() const { return options_.tls; }
  MqttUplinkStats stats() const;

 private:
  class StorePort;
  void attempt();
  void connect_mqtt(const ConnectMqtt& c);
  void on_transport_up();
  void on_bytes(std::string_view bytes);
  void on_transport_closed(const std::string& why);
  void after_input();  // events, bytes out, timer
  void on_connected(const mqtt::Connected& c);
  void on_message(mqtt::Publish&& p);
  void schedule_reconnect();
  void arm_timer();
  void on_timer();
  void log_status();
  void oldest_queued_age(std::function<void(std::optional<std::int64_t>)> done);
  void publish_sys(bool state_only);
  void set_state(State s);
  bool stop_done() const;  // stop(): everything it waits for is there
  void enqueue_presence(const std::string& topic, std::string payload, bool retain);
  // Retain or not, as the presence table decides; clears the presence it evicts.
  bool admit_presence(const std::string& client_id, bool online);
  void clear_presence(const std::string& client_id);
  void publish_status(const char* status);
  // netpie profile
  void flow(const TokenInput& input);
  void on_cached_token(std::optional<std::string> value);
  std::string chat_topic(const std::string& alias) const;

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
  std::optional<Millis> credit_at_;  // rate limit: when the next row is allowed
  SysPublish sys_;
  LocalPublish local_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // false once closed
  std::string last_error_;
  MqttUplinkStats stats_;
  // Local devices connected now (client id -> connections; a take-over briefly counts two), from the
  // presence events when presence_devices is on: at most the broker's connection limit.
  std::unordered_map<std::string, std::uint32_t> devices_online_;
  // Devices with retained presence upstream, at most presence_max_retained.
  PresenceTable presence_table_{options_.presence_max_retained, options_.presence_full_policy};
  std::uint32_t status_unacked_ = 0;  // presence_topic publishes (QoS 1, tag 0) not yet acknowledged
  // stop(): from when, until when, and the device events queued since that have not gone up yet.
  bool stopping_ = false;
  Millis stop_started_ = 0;
  Millis stop_deadline_ = 0;
  std::uint32_t stop_enqueues_ = 0;              // device events submitted, id not yet known
  std::unordered_set<std::uint64_t> stop_rows_;  // their rows, until the cloud acknowledges them
  // netpie profile
  std::unique_ptr<TokenFlow> flow_;
  std::unique_ptr<HttpPort> http_;
  std::optional<Millis> flow_wait_until_;
  std::string connect_host_;  // mqtt: options_.host; netpie: the broker the token's endpoint names
  std::uint16_t connect_port_ = 0;
  std::string chat_prefix_;                     // netpie: "/<appid>/gearname/"
  std::string own_chat_topic_;                  // netpie with chat_topic: "/<appid>/gearname/<our alias>"
  std::optional<mqtt::Reason> refused_reason_;  // the CONNACK refusal of the attempt ending now
  std::set<std::string> aliases_;               // locally held aliases of our app: chat subscriptions
  // Chat this uplink sent up recently: the same message coming back down through our own chat
  // subscription is an echo, not new chat.
  EchoFilter echoes_;
};

const char* to_string(MqttUplink::State s);

}  // namespace gw::uplink
