// The daemon's configuration as plain values, with the documented defaults of conf/netpie-edge.yaml.
// Loading (YAML via yaml-cpp) lives in config_loader.*; errors name the file, line and key.
// Every bounded queue has its bound and its overflow policy here (STYLE.md §11).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/base/result.hpp"

namespace gw::config {

// The values of log.level (and of the --log-level flag), least severe first.
inline constexpr std::array<std::string_view, 5> kLogLevels{"trace", "debug", "info", "warn", "error"};

// What a listener does with a new connection when max_handshakes are in progress.
enum class HandshakeFullPolicy { CloseOldest, RefuseNew };

// TLS on a listener (gateway/net/tls_layer.hpp): MQTT over TLS (8883), HTTPS (8081).
struct ListenerTls {
  bool enabled = false;              // a `tls:` block is present
  std::string cert_file;             // PEM certificate chain of the listener (required)
  std::string key_file;              // its PEM private key (required)
  std::string ca_file;               // PEM CA that client certificates must chain to; "" = none are asked for
  bool require_client_cert = false;  // true: no valid client certificate, no handshake (needs ca_file)
  // mqtt listeners: a verified client certificate's CN is the MQTT user name (no password needed),
  // so what the broker's authorizer decides for that user name applies (Mosquitto's
  // use_identity_as_username). Needs ca_file.
  bool use_identity_as_username = false;
  std::uint32_t session_cache_size = 1000;  // resumable sessions by id (oldest evicted); tickets always on
  // mqtt and ws listeners: a connection idle this long gives the pages of its record buffers back to the
  // kernel (TlsSession::release_idle_memory); 0 = never.
  std::uint32_t idle_release_ms = 5000;
  bool operator==(const ListenerTls&) const = default;
};

struct Listener {
  std::string name = "mqtt";      // unique; used in logs and in the ports file
  std::string protocol = "mqtt";  // mqtt | http (8080) | ws (8083) | coap (UDP 5683) | coaps (DTLS 5684)
  std::string bind = "127.0.0.1";
  std::uint16_t port = 1883;  // 0 = any free port; the daemon reports what it bound (TLS: 8883, 8081)
  ListenerTls tls;
  // Connections still in a handshake (TLS) at once; past it `handshake_full_policy` decides:
  // close_oldest (the oldest handshake is closed to make room) or refuse_new (the new one is closed).
  std::uint32_t max_handshakes = 1000;
  HandshakeFullPolicy handshake_full_policy = HandshakeFullPolicy::CloseOldest;
  std::uint32_t handshake_timeout_ms = 10000;  // a handshake not done by then: the connection closes
  bool operator==(const Listener&) const = default;
};

// What happens when a session's queue of undelivered messages is full.
enum class QueuePolicy { DropOldest, DropNew };
// What happens to a subscriber whose socket does not drain (output buffer over the high watermark).
enum class SlowConsumerPolicy {
  DropQos0,    // QoS 0 messages to it are dropped (counted); QoS 1/2 wait in the session queue
  Disconnect,  // the connection is closed (its session keeps QoS 1/2 messages if persistent)
};
// What a QoS 0 message does when it meets a subscriber over its write high watermark.
enum class Qos0FullPolicy {
  Drop,   // dropped and counted (slow_consumer), as slow_consumer_policy says
  Pause,  // sent anyway, and the publisher is not read from until the subscriber drains (flow control)
};

struct Limits {
  std::uint32_t max_connections = 10000;
  std::uint32_t max_packet_size = 1024 * 1024;           // bytes, whole packet, after CONNECT
  std::uint32_t max_packet_size_before_connect = 16384;  // bytes, the first packet
  std::uint32_t connect_timeout_ms = 10000;              // CONNECT must arrive within this
  std::uint16_t receive_maximum = 64;        // QoS 1/2 in flight from a client (advertised in v5 CONNACK)
  std::uint16_t max_inflight = 64;           // QoS 1/2 in flight to a client (capped by its receive maximum)
  std::uint32_t max_queued_messages = 1000;  // per session, waiting for a slot or for the client
  std::uint64_t max_queued_bytes = 16ull * 1024 * 1024;  // per session
  QueuePolicy queue_policy = QueuePolicy::DropOldest;
  std::uint64_t write_high_watermark = 1024 * 1024;  // per connection output buffer, bytes
  SlowConsumerPolicy slow_consumer_policy = SlowConsumerPolicy::DropQos0;
  Qos0FullPolicy qos0_full_policy = Qos0FullPolicy::Drop;
  // Seconds a subscriber may hold publishers back (its queue full, publishers paused) before it is
  // disconnected; 0 = never.
  std::uint32_t slow_subscriber_timeout_s = 30;
  std::uint16_t topic_alias_maximum = 16;  // v5 aliases a client may set towards us
  std::uint16_t max_keepalive = 0;         // 0 = accept what the client asks; else v5 server keep alive cap
  std::uint32_t max_session_expiry = 7 * 24 * 3600;  // seconds; caps a v5 client's request
  std::uint32_t max_retained = 100000;  // retained topics; past it a new retained topic is not stored
  std::uint32_t max_subscriptions_per_client = 1000;
  // Topic shape (PUBLISH topics, subscription filters, will topics), as Mosquitto bounds it.
  std::uint16_t max_topic_levels = 128;
  std::uint16_t max_topic_length = 65535;  // bytes
  // Subscription-index memory one client may hold (estimated per filter, see SubscriptionTrie::cost).
  std::uint32_t max_subscription_bytes_per_client = 1024 * 1024;
  bool operator==(const Limits&) const = default;
};

struct User {
  std::string username;
  std::string password_hash;  // "pbkdf2-sha256$<iterations>$<salt base64>$<hash base64>"
  bool operator==(const User&) const = default;
};

enum class AnonymousPolicy { Loopback, Allow, Deny };

struct Auth {
  AnonymousPolicy anonymous = AnonymousPolicy::Loopback;  // anonymous only from 127.0.0.0/8 and ::1
  std::vector<User> users;
  bool operator==(const Auth&) const = default;
};

// The SQLite store (storage/README.md has the long form of each option).
struct Store {
  bool enabled = true;                    // false: nothing persists (sessions and retained live in memory)
  std::string file = "netpie-edge.db";    // inside state_dir unless absolute
  std::string synchronous = "normal";     // normal | full
  std::uint32_t commit_window_us = 2000;  // group commit window
  std::uint32_t commit_max_rows = 1000;   // group commit row cap
  bool qos0_durable = false;              // QoS 0 outbox messages wait for a commit too
  std::uint64_t max_db_bytes = 1024ull * 1024 * 1024;  // 0 = no cap
  std::uint64_t queue_max_requests = 65536;  // storage request queue bound (policy: refuse, with a reason)
  // Messages bound for the cloud: local topic filters whose messages enter the outbox.
  std::vector<std::string> outbox_filters;
  std::uint64_t outbox_max_rows = 1'000'000;
  std::uint64_t outbox_max_bytes = 256ull * 1024 * 1024;
  std::int64_t outbox_max_age_s = 7 * 24 * 3600;  // 0 = no age bound
  std::string outbox_policy = "reject_new";       // reject_new | drop_oldest
  // Persistent sessions' queues (store.session_queue): kept in the store, bounded per session; only
  // `memory_rows` of a connected session's queue are held in memory (storage/README.md).
  std::uint64_t session_queue_max_rows = 1'000'000;
  std::uint64_t session_queue_max_bytes = 256ull * 1024 * 1024;  // topic + payload
  std::string session_queue_policy = "reject_new";               // reject_new | drop_oldest
  std::uint32_t session_queue_memory_rows = 256;
  // Local history: topic filters recorded for queries, with their retention.
  std::vector<std::string> history_filters;
  std::int64_t history_max_age_s = 7 * 24 * 3600;
  std::uint64_t history_max_rows = 100'000;
  // GET /history bounds: rows one page may hold (a larger ?limit is refused) and rows one page may read.
  std::uint32_t history_max_page_rows = 1000;
  std::uint64_t history_max_scan_rows = 100'000;
  // Feeds (storage/README.md "Feeds"): retention per resolution, rows per field, and query bounds.
  std::int64_t feeds_raw_max_age_s = 7ll * 24 * 3600;
  std::int64_t feeds_minute_max_age_s = 90ll * 24 * 3600;
  std::int64_t feeds_hour_max_age_s = 5ll * 365 * 24 * 3600;
  std::uint64_t feeds_max_points_per_field = 10'000'000;
  std::uint32_t feeds_max_fields_per_feed = 64;
  std::uint64_t feeds_max_query_rows = 200'000;
  std::uint32_t feeds_max_query_points = 20'000;
  bool operator==(const Store&) const = default;
};

// The HTTP front end (listeners of protocol http): bounds that keep slow or hostile clients from
// holding it. Past max_connections a new connection gets 503 and is closed.
struct Http {
  std::uint32_t max_connections = 256;
  std::uint64_t max_header_bytes = 8192;     // header section; more -> 431
  std::uint64_t max_body = 256 * 1024;       // request body; more -> 413
  std::uint32_t request_timeout_ms = 10000;  // a started request must be complete within this -> 408
  std::uint32_t idle_timeout_ms = 30000;     // a keep-alive connection with no request is closed
  // The operator's page and /api/v1 (gateway/ops/README.md): loopback peers only, unless a peer on an
  // HTTPS listener gives the Basic credentials of one of these users (PBKDF2 hashes, like auth.users).
  std::vector<User> admin_users;
  bool operator==(const Http&) const = default;
};

// MQTT over WebSocket (listeners of protocol ws; gateway/net/websocket_layer.hpp). Frames and messages over
// their bound close the connection with 1009 (RFC 6455 §7.4.1); MQTT packets are bounded by limits.
struct WebSocket {
  std::uint64_t max_frame_bytes = 2 * 1024 * 1024;    // payload of one frame
  std::uint64_t max_message_bytes = 2 * 1024 * 1024;  // payload of one fragmented message
  std::uint64_t max_header_bytes = 8192;              // the upgrade request's header section; more -> 431
  bool operator==(const WebSocket&) const = default;
};

// The CoAP front end (listeners of protocol coap and coaps; gateway/coap/README.md): its URI mappings,
// the QoS a CON or NON publish gets, its bounds, and the DTLS credentials of coaps listeners.
struct CoapPsk {
  std::string identity;
  std::string key;
  bool operator==(const CoapPsk&) const = default;
};
struct Coap {
  bool pubsub = true;                             // ps/<topic>, mqtt/connection
  bool netpie = true;                             // topic/<appid>/<topic>, microgear/<appid>/<alias>
  std::uint8_t con_qos = 1;                       // QoS of a CON publish without ?qos=
  std::uint8_t non_qos = 0;                       // QoS of a NON publish without ?qos=
  std::uint32_t max_endpoints = 10000;            // remote address+port pairs served at once; past it 5.03
  std::uint32_t max_observers_per_endpoint = 16;  // past it 4.29 (refuse)
  std::uint32_t max_observers = 100000;           // in all; past it 4.29 (refuse)
  std::uint32_t max_observers_per_topic = 10000;  // of one topic filter; past it 4.29 (refuse)
  std::uint64_t max_payload = 64 * 1024;          // bytes of a request body after block-wise reassembly; 4.13
  std::uint32_t exchange_lifetime_s = 247;  // RFC 7252 §4.8.2: how long a CON answer is kept for retransmits
  std::uint32_t max_exchanges = 100000;     // that cache's bound; full: new CON requests get 5.03 (refuse)
  std::uint32_t idle_timeout_s = 300;       // an endpoint with no observer and no request is forgotten
  std::uint32_t con_notify_interval_s = 60;  // a NON observer gets a CON notification at least this often
  std::uint64_t receive_buffer = 2u << 20;   // SO_RCVBUF of each coap/coaps listener's socket (2 MiB)
  std::vector<CoapPsk> psk;                  // coaps: identities and keys
  std::string cert_file, key_file, ca_file;  // coaps: certificates (PEM)
  bool operator==(const Coap&) const = default;
};

// The NETPIE-compatible local endpoint (gateway/netpie/README.md). Rights filters are relative to the
// application, as a microgear writes topics ("/sensors/#" means "/<appid>/sensors/#").
struct NetpieRights {
  std::vector<std::string> publish{"/#"};
  std::vector<std::string> subscribe{"/#"};
  std::uint8_t max_qos = 2;
  bool operator==(const NetpieRights&) const = default;
};
struct NetpieKey {
  std::string key;
  std::string secret;
  std::string kind = "device";  // device (permanent token, flag P) | session (one-time token, flag S)
  bool auto_approve = true;     // false: /api/atoken answers 401 until the owner approves the key
  bool enabled = true;          // false: MQTT CONNACK 5, no new tokens
  NetpieRights rights;
  bool operator==(const NetpieKey&) const = default;
};
// A feed owned by the app (docs/netpie-protocol.md §7.3, §9.2; docs/netpie-feeds.md): its id (unique
// over every app), the api keys that may read and write it (microgears of the owning app may write it
// without one), and the units of its fields, in the order a read lists them. Fields not named here are
// taken too (unit ""), up to store.feeds.max_fields_per_feed.
struct NetpieFeedField {
  std::string name;
  std::string unit;
  bool operator==(const NetpieFeedField&) const = default;
};
struct NetpieFeed {
  std::string id;
  std::vector<std::string> api_keys;
  std::vector<NetpieFeedField> fields;
  bool operator==(const NetpieFeed&) const = default;
};
struct NetpieApp {
  std::string appid;
  std::vector<NetpieKey> keys;
  std::vector<NetpieFeed> feeds;
  bool operator==(const NetpieApp&) const = default;
};
struct Netpie {
  bool enabled = false;
  std::vector<NetpieApp> apps;
  std::string endpoint_host;           // broker host in token replies; "" = the host the client called
  std::uint16_t endpoint_port = 1883;  // broker port in token replies
  std::uint32_t clock_skew_s = 900;    // OAuth timestamps either way; MQTT username times ahead of us
  std::uint32_t mqtt_max_age_s = 0;    // MQTT username times behind us; 0 = no bound (mqtt.js reuses it)
  std::uint32_t request_token_ttl_s = 86400;  // unused request tokens and session tokens are dropped
  std::uint32_t max_tokens_per_key = 1000;    // live access tokens per key; more -> atoken 403
  std::uint32_t max_request_tokens = 10000;   // request tokens in all; more -> rtoken 503
  std::uint32_t postbox_max_messages = 100;   // per postbox; more -> refused (HTTP 507, @error)
  std::uint64_t postbox_max_bytes = 16ull * 1024 * 1024;  // all postboxes together
  // /api/atoken of a key not yet approved: the 401 is held this long (answered at once on approval), so a
  // client that polls in a loop (the HTML5 microgear) asks about once per hold; at most this many held per
  // key (policy answer_new: past it the 401 is sent at once).
  std::uint32_t atoken_hold_ms = 1000;
  std::uint32_t atoken_max_held_per_key = 16;
  bool operator==(const Netpie&) const = default;
};

// TLS towards a cloud endpoint (the uplink's broker and, for the netpie profile, the token server).
struct UplinkTls {
  bool enabled = true;      // TLS by default; false = plain TCP
  std::string ca_file;      // PEM CA bundle; "" = the system bundle (/etc/ssl/certs/ca-certificates.crt)
  std::string server_name;  // SNI and the name the certificate must carry; "" = host
  bool verify = true;       // false: any certificate is accepted (logged as a warning at start)
  std::string cert_file;    // client certificate (PEM), optional; needs key_file
  std::string key_file;
  bool operator==(const UplinkTls&) const = default;
};

// A relay rule upward: local messages on `filter` go to this uplink, to the cloud topic
// prefix + (topic without `strip`), at min(their QoS, qos), in priority lane `lane` (0 drains first).
struct RelayUp {
  std::string filter;
  std::string strip;  // a leading part of the local topic removed first ("" = none)
  std::string prefix;
  std::uint8_t qos = 1;
  std::uint8_t lane = 1;
  bool operator==(const RelayUp&) const = default;
};
// A relay rule downward: cloud messages on `filter` (subscribed upstream at `qos`) are published
// locally on prefix + (topic without `strip`).
struct RelayDown {
  std::string filter;
  std::string strip;
  std::string prefix;
  std::uint8_t qos = 1;
  bool operator==(const RelayDown&) const = default;
};

// The netpie profile's device identity (NETPIE 2015 microgear protocol).
struct UplinkNetpie {
  std::string appid;
  std::string key;
  std::string secret;
  std::string alias;            // the gateway's own alias; "" = none
  std::uint16_t auth_port = 0;  // token server port; 0 = 8081 with TLS, 8080 without
  std::uint16_t mqtt_port = 0;  // broker port; 0 = 8883 with TLS, else the port the token endpoint names
  std::string chat_topic;       // local topic for chat to `alias` from the cloud; "" = dropped
  bool operator==(const UplinkNetpie&) const = default;
};

// Presence relayed through this uplink. "" turns a part off.
struct UplinkPresence {
  // The gateway's own status: "online" published retained on every connect, "offline" as the last
  // will (retained) when the connection is lost without a DISCONNECT.
  std::string topic;
  // Local device presence: <devices><client id> gets {"event":..., "reason":...} (retained) on
  // connect, clean disconnect, keepalive timeout and other losses; queued in the outbox (lane 0).
  std::string devices;
  // Devices with retained presence upstream at most; past it `full_policy` decides (evict_oldest_absent:
  // the longest absent device's retained presence is cleared to make room; unretained: the new device's
  // events go up not retained). protocols/uplink/presence_table.hpp.
  std::uint32_t max_retained = 10000;
  std::string full_policy = "evict_oldest_absent";
  bool operator==(const UplinkPresence&) const = default;
};

// Live-first replay after an outage (gateway/uplink/README.md "Live first").
struct UplinkReplay {
  std::string order = "per_origin";  // per_origin | per_lane | none
  double live_share = 1.0;           // share of window slots live messages take while a backlog drains
  bool operator==(const UplinkReplay&) const = default;
};

// This uplink's share of the outbox, inside store.outbox's global bound (storage/README.md "Quotas per
// destination"). 0 = no bound of that kind.
struct UplinkOutboxQuota {
  std::uint64_t max_rows = 0;
  std::uint64_t max_bytes = 0;
  std::int64_t max_age_s = 0;
  std::string policy = "drop_oldest";  // reject_new | drop_oldest (its own rows only)
  bool operator==(const UplinkOutboxQuota&) const = default;
};

// A cloud uplink (gateway/uplink). Profiles: `mqtt` (any MQTT 3.1.1/5 broker with static credentials
// or a client certificate) and `netpie` (NETPIE 2015: token flow, HMAC password, AppID topics).
// Messages reach an uplink's outbox share through its `up` rules (and store.outbox.filters, which feed
// the first uplink); `down` rules bring cloud topics to local subscribers.
struct Uplink {
  std::string name;              // unique; used in logs, $SYS topics and as the outbox destination
  std::string profile = "mqtt";  // mqtt | netpie
  std::string host;              // broker (mqtt) or token server (netpie): DNS name or numeric address
  std::uint16_t port = 0;        // mqtt: 0 = 8883 with TLS, 1883 without; netpie: see netpie.auth_port
  UplinkTls tls;
  std::string client_id;         // mqtt: "" = "netpie-edge-<name>"
  std::string username;          // mqtt: "" = none
  std::string password;          // mqtt: "" = none
  UplinkNetpie netpie;           // netpie profile only
  std::uint16_t keepalive = 60;  // seconds; 0 = no PINGREQ
  bool clean_start = false;
  std::string version = "3.1.1";  // 3.1.1 | 5 (v5 honours the server's receive maximum)
  std::string topic_prefix;       // rows with no matching up rule: prepended to the local topic
  std::uint8_t qos = 1;           // 0 | 1: the highest QoS for rows with no matching up rule
  std::vector<RelayUp> up;
  std::vector<RelayDown> down;
  UplinkPresence presence;
  std::uint16_t max_inflight = 64;         // unacknowledged publishes at once (v5: capped by receive maximum)
  std::uint32_t reconnect_min_ms = 1000;   // reconnect backoff: first delay and lower bound
  std::uint32_t reconnect_max_ms = 60000;  // reconnect backoff: upper bound (decorrelated jitter between)
  std::uint32_t rate_limit = 0;            // messages per second upward; 0 = no limit (metered links)
  std::uint32_t stop_timeout_ms = 2000;    // graceful stop: offline status and device events, at most this
  UplinkReplay replay;
  UplinkOutboxQuota outbox;
  bool operator==(const Uplink&) const = default;
};

// Where a key was set in the file: 1-based line and column of its value.
struct Position {
  int line = 0;
  int column = 0;
  bool operator==(const Position&) const = default;
};

struct Config {
  std::string source = "<embedded default>";      // file name, for messages
  std::string log_level = "info";                 // trace, debug, info, warn, error
  std::string log_output = "stderr";              // stderr | syslog | file
  std::string log_file;                           // log.output file: appended to (required then)
  std::uint32_t log_max_lines_per_second = 50;    // line rate limit; 0 = none
  std::uint32_t log_burst = 500;                  // lines allowed at once above the rate
  std::string state_dir = "./netpie-edge-state";  // SQLite database and other state
  std::string ports_file;                         // if set: "<name> <host> <port>" per listener
  std::uint32_t sys_interval_s = 10;              // $SYS/broker/... publish period; 0 = off
  std::vector<Listener> listeners{Listener{}};
  Limits limits;
  Auth auth;
  Store store;
  Http http;
  WebSocket websocket;
  Coap coap;
  Netpie netpie;
  std::vector<Uplink> uplinks;  // empty: no cloud connection (the outbox only fills)
  // Every key the file set ("uplinks[0].tls.ca_file"), for errors found after loading, such as
  // --check-config's checks of the files a config names. Empty for the embedded default.
  std::map<std::string, Position> positions;

  // The start of an error line about `key`: "file:line:col: key" at the key, or at its nearest enclosing
  // key the file set ("uplinks[0].tls" for an unset "uplinks[0].tls.ca_file"), else "file: key".
  std::string locate(const std::string& key) const;

  bool operator==(const Config&) const = default;
};

// Errors read like "conf.yaml:12:5: limits.max_inflight: expected an integer from 1 to 65535".
struct LoadError {
  std::string message;
};

Config default_config();
// A numeric IPv4 or IPv6 address, as a listener's bind takes it (host names are not resolved).
bool is_numeric_address(const std::string& text);
Result<Config, LoadError> load_file(const std::string& path);
// `name` stands in for the file name in error messages.
Result<Config, LoadError> load_string(const std::string& yaml_text, const std::string& name);

}  // namespace gw::config
