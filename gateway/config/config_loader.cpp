// The YAML configuration loader. yaml-cpp only parses; this file walks the document against the schema of
// config.hpp and checks types, ranges and cross-field rules. Each problem becomes one line
// "file:line:column: key.path: message" (1-based), and all of them are collected so that --check-config
// shows every mistake at once. yaml-cpp throws, so the walk runs inside a catch-all in load_string() and
// the caller only ever sees a LoadError value (STYLE.md §9).
#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>
#include <span>
#include <sstream>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include "gateway/config/config.hpp"
#include "gateway/config/password.hpp"
#include "gateway/config/units.hpp"
#include "protocols/mqtt/topic.hpp"

namespace gw::config {
namespace {

constexpr std::size_t kMaxReportedErrors = 20;
constexpr std::size_t kMaxUplinks = 8;

constexpr std::array<std::string_view, 13> kRootKeys{
    "log",   "state_dir", "ports_file", "sys_interval", "listeners", "limits", "auth",
    "store", "http",      "netpie",     "uplinks",      "websocket", "coap"};
constexpr std::array<std::string_view, 24> kUplinkKeys{"name",
                                                       "profile",
                                                       "host",
                                                       "port",
                                                       "tls",
                                                       "client_id",
                                                       "username",
                                                       "password",
                                                       "netpie",
                                                       "keepalive",
                                                       "clean_start",
                                                       "version",
                                                       "topic_prefix",
                                                       "qos",
                                                       "up",
                                                       "down",
                                                       "presence",
                                                       "max_inflight",
                                                       "reconnect_min_ms",
                                                       "reconnect_max_ms",
                                                       "rate_limit",
                                                       "stop_timeout_ms",
                                                       "replay",
                                                       "outbox"};
// Live-first replay and the uplink's outbox quota (issue 18; conf/README.md "uplinks").
constexpr std::array<std::string_view, 2> kUplinkReplayKeys{"order", "live_share"};
constexpr std::array<std::string_view, 3> kReplayOrders{"per_origin", "per_lane", "none"};
constexpr std::array<std::string_view, 4> kUplinkOutboxKeys{"max_rows", "max_bytes", "max_age_s", "policy"};
constexpr std::array<std::string_view, 2> kUplinkProfiles{"mqtt", "netpie"};
constexpr std::array<std::string_view, 6> kUplinkTlsKeys{"enabled", "ca_file",   "server_name",
                                                         "verify",  "cert_file", "key_file"};
constexpr std::array<std::string_view, 7> kUplinkNetpieKeys{"appid",     "key",       "secret",    "alias",
                                                            "auth_port", "mqtt_port", "chat_topic"};
constexpr std::array<std::string_view, 5> kRelayUpKeys{"filter", "strip", "prefix", "qos", "lane"};
constexpr std::array<std::string_view, 4> kRelayDownKeys{"filter", "strip", "prefix", "qos"};
constexpr std::array<std::string_view, 4> kUplinkPresenceKeys{"topic", "devices", "max_retained",
                                                              "full_policy"};
constexpr std::array<std::string_view, 2> kPresenceFullPolicies{"evict_oldest_absent", "unretained"};
constexpr std::array<std::string_view, 2> kUplinkVersions{"3.1.1", "5"};
constexpr std::array<std::string_view, 3> kWebSocketKeys{"max_frame_bytes", "max_message_bytes",
                                                         "max_header_bytes"};
constexpr std::array<std::string_view, 6> kHttpKeys{"max_connections",    "max_header_bytes", "max_body",
                                                    "request_timeout_ms", "idle_timeout_ms",  "admin_users"};
constexpr std::array<std::string_view, 13> kNetpieKeys{"enabled",
                                                       "apps",
                                                       "endpoint_host",
                                                       "endpoint_port",
                                                       "clock_skew_s",
                                                       "mqtt_max_age_s",
                                                       "request_token_ttl_s",
                                                       "max_tokens_per_key",
                                                       "max_request_tokens",
                                                       "postbox_max_messages",
                                                       "postbox_max_bytes",
                                                       "atoken_hold_ms",
                                                       "atoken_max_held_per_key"};
constexpr std::array<std::string_view, 3> kNetpieAppKeys{"appid", "keys", "feeds"};
constexpr std::array<std::string_view, 3> kNetpieFeedKeys{"id", "api_keys", "fields"};
constexpr std::size_t kMaxFeedUnit = 32;
constexpr std::array<std::string_view, 6> kNetpieKeyKeys{"key",          "secret",  "kind",
                                                         "auto_approve", "enabled", "rights"};
constexpr std::array<std::string_view, 3> kNetpieRightsKeys{"publish", "subscribe", "max_qos"};
constexpr std::array<std::string_view, 2> kNetpieKeyKinds{"device", "session"};
constexpr std::size_t kMaxNetpieName = 64;         // AppID and key
constexpr std::size_t kMaxNetpieSecret = 256;      // OAuth consumer secret
constexpr std::uint16_t kDefaultHttpPort = 8080;   // gearauth's plain-HTTP port (docs/netpie-protocol.md §1)
constexpr std::uint16_t kDefaultHttpsPort = 8081;  // gearauth over TLS (docs/netpie-protocol.md §1)
constexpr std::uint16_t kDefaultMqttTlsPort = 8883;  // MQTT over TLS (IANA; docs/netpie-protocol.md §1)
constexpr std::uint16_t kDefaultWsPort = 8083;       // MQTT over WebSocket (docs/netpie-protocol.md §1)
constexpr std::uint16_t kDefaultWssPort = 8084;  // MQTT over secure WebSocket (docs/netpie-protocol.md §1)
constexpr std::array<std::string_view, 12> kStoreKeys{
    "enabled",         "file",         "synchronous",   "commit_window_us",
    "commit_max_rows", "qos0_durable", "max_db_bytes",  "queue_max_requests",
    "outbox",          "history",      "session_queue", "feeds"};
constexpr std::array<std::string_view, 4> kSessionQueueKeys{"max_rows", "max_bytes", "policy", "memory_rows"};
constexpr std::array<std::string_view, 5> kOutboxKeys{"filters", "max_rows", "max_bytes", "max_age_s",
                                                      "policy"};
constexpr std::array<std::string_view, 5> kHistoryKeys{"filters", "max_age_s", "max_rows", "max_page_rows",
                                                       "max_scan_rows"};
constexpr std::array<std::string_view, 7> kFeedStoreKeys{
    "raw_max_age_s",       "minute_max_age_s", "hour_max_age_s",  "max_points_per_field",
    "max_fields_per_feed", "max_query_rows",   "max_query_points"};
constexpr std::array<std::string_view, 2> kSynchronousModes{"normal", "full"};
constexpr std::array<std::string_view, 2> kFullPolicies{"reject_new", "drop_oldest"};
constexpr std::uint64_t kMaxAgeSeconds = 10ull * 365 * 24 * 3600;
constexpr std::array<std::string_view, 5> kLogKeys{"level", "output", "file", "max_lines_per_second",
                                                   "burst"};
constexpr std::array<std::string_view, 3> kLogOutputs{"stderr", "syslog", "file"};
constexpr std::uint64_t kMaxLogLines = 1'000'000;
constexpr std::array<std::string_view, 8> kListenerKeys{
    "name", "protocol", "bind", "port", "max_handshakes", "handshake_full_policy", "handshake_timeout_ms",
    "tls"};
constexpr std::array<std::string_view, 7> kListenerTlsKeys{
    "cert_file",          "key_file",       "ca_file", "require_client_cert", "use_identity_as_username",
    "session_cache_size", "idle_release_ms"};
constexpr std::array<std::string_view, 2> kAuthKeys{"anonymous", "users"};
constexpr std::array<std::string_view, 2> kUserKeys{"username", "password_hash"};

constexpr std::array<std::string_view, 5> kProtocols{"mqtt", "http", "ws", "coap", "coaps"};
constexpr std::uint16_t kDefaultCoapPort = 5683;   // RFC 7252 §6.1
constexpr std::uint16_t kDefaultCoapsPort = 5684;  // RFC 7252 §6.2
// (clang-format would put this list one key per line)
// clang-format off
constexpr std::array<std::string_view, 18> kCoapKeys{
    "pubsub", "netpie", "con_qos", "non_qos", "max_endpoints", "max_observers_per_endpoint", "max_observers",
    "max_observers_per_topic", "max_payload", "exchange_lifetime_s", "max_exchanges", "idle_timeout_s",
    "con_notify_interval_s", "receive_buffer", "psk", "cert_file", "key_file", "ca_file"};
// clang-format on
constexpr std::array<std::string_view, 2> kCoapPskKeys{"identity", "key"};
constexpr std::uint64_t kMaxSysInterval = 86400;  // one day
constexpr std::size_t kMaxListenerName = 64;
constexpr std::size_t kMaxUsername = 65535;  // an MQTT UTF-8 string, MQTT 5.0 §1.5.4

template <typename E>
struct Choice {
  std::string_view name;
  E value;
};
constexpr std::array<Choice<QueuePolicy>, 2> kQueuePolicies{{
    {"drop_oldest", QueuePolicy::DropOldest},
    {"drop_new", QueuePolicy::DropNew},
}};
constexpr std::array<Choice<HandshakeFullPolicy>, 2> kHandshakeFullPolicies{{
    {"close_oldest", HandshakeFullPolicy::CloseOldest},
    {"refuse_new", HandshakeFullPolicy::RefuseNew},
}};
constexpr std::array<Choice<SlowConsumerPolicy>, 2> kSlowConsumerPolicies{{
    {"drop_qos0", SlowConsumerPolicy::DropQos0},
    {"disconnect", SlowConsumerPolicy::Disconnect},
}};
constexpr std::array<Choice<Qos0FullPolicy>, 2> kQos0FullPolicies{{
    {"drop", Qos0FullPolicy::Drop},
    {"pause", Qos0FullPolicy::Pause},
}};
constexpr std::array<Choice<AnonymousPolicy>, 3> kAnonymousPolicies{{
    {"loopback", AnonymousPolicy::Loopback},
    {"allow", AnonymousPolicy::Allow},
    {"deny", AnonymousPolicy::Deny},
}};

// The numeric limits, as a table: key, accepted range, spelling, and the member it sets. The range is
// checked against the member's type at compile time.
enum class Kind { Count, Bytes };
struct LimitField {
  std::string_view key;
  std::uint64_t min;
  std::uint64_t max;
  Kind kind;
  void (*set)(Limits&, std::uint64_t);
};
template <auto Member, std::uint64_t Min, std::uint64_t Max>
constexpr LimitField limit(std::string_view key, Kind kind) {
  using T = std::remove_cvref_t<decltype(std::declval<Limits&>().*Member)>;
  static_assert(Min <= Max && Max <= std::numeric_limits<T>::max(), "range does not fit the field");
  return {key, Min, Max, kind, [](Limits& l, std::uint64_t v) { l.*Member = static_cast<T>(v); }};
}
// MQTT 5.0 §2.1.4: a Remaining Length of at most 268,435,455 after a fixed header of at most 5 bytes.
constexpr std::uint64_t kMaxMqttPacket = 268'435'460;
constexpr std::uint64_t kKiB = 1024;
constexpr std::uint64_t kUint32Max = std::numeric_limits<std::uint32_t>::max();
constexpr std::array kLimitFields{
    limit<&Limits::max_connections, 1, 1'000'000>("max_connections", Kind::Count),
    limit<&Limits::max_packet_size, 64, kMaxMqttPacket>("max_packet_size", Kind::Bytes),
    limit<&Limits::max_packet_size_before_connect, 64, kMaxMqttPacket>("max_packet_size_before_connect",
                                                                       Kind::Bytes),
    limit<&Limits::connect_timeout_ms, 100, 3'600'000>("connect_timeout_ms", Kind::Count),
    limit<&Limits::receive_maximum, 1, 65535>("receive_maximum", Kind::Count),
    limit<&Limits::max_inflight, 1, 65535>("max_inflight", Kind::Count),
    limit<&Limits::max_queued_messages, 1, 100'000'000>("max_queued_messages", Kind::Count),
    limit<&Limits::max_queued_bytes, kKiB, kKiB * kKiB * kKiB * kKiB>("max_queued_bytes", Kind::Bytes),
    limit<&Limits::write_high_watermark, kKiB, kKiB * kKiB * kKiB>("write_high_watermark", Kind::Bytes),
    limit<&Limits::topic_alias_maximum, 0, 65535>("topic_alias_maximum", Kind::Count),
    limit<&Limits::max_keepalive, 0, 65535>("max_keepalive", Kind::Count),
    limit<&Limits::max_session_expiry, 0, kUint32Max>("max_session_expiry", Kind::Count),
    limit<&Limits::max_retained, 0, 100'000'000>("max_retained", Kind::Count),
    limit<&Limits::max_subscriptions_per_client, 1, 1'000'000>("max_subscriptions_per_client", Kind::Count),
    limit<&Limits::max_topic_levels, 1, 65535>("max_topic_levels", Kind::Count),
    limit<&Limits::max_topic_length, 1, 65535>("max_topic_length", Kind::Bytes),
    limit<&Limits::max_subscription_bytes_per_client, kKiB, kKiB * kKiB * kKiB>(
        "max_subscription_bytes_per_client", Kind::Bytes),
    limit<&Limits::slow_subscriber_timeout_s, 0, 86400>("slow_subscriber_timeout", Kind::Count),
};

const std::vector<std::string_view>& limit_keys() {
  static const std::vector<std::string_view> keys = [] {
    std::vector<std::string_view> k;
    for (const LimitField& f : kLimitFields) k.push_back(f.key);
    k.push_back("queue_policy");
    k.push_back("slow_consumer_policy");
    k.push_back("qos0_full_policy");
    return k;
  }();
  return keys;
}

// A scalar as it appears in a message: quoted, control characters escaped, long ones cut.
std::string quote(std::string_view s) {
  constexpr std::size_t kMaxShown = 60;
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size() && i < kMaxShown; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > kMaxShown) out += "...";
  out += '"';
  return out;
}

std::string describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Scalar:
      return quote(n.Scalar());
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

template <typename List>
std::string join_names(const List& names) {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += ", ";
    out += [&]() -> std::string_view {
      if constexpr (std::is_same_v<std::remove_cvref_t<decltype(n)>, std::string_view>) {
        return n;
      } else {
        return n.name;
      }
    }();
  }
  return out;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string unknown_key_message(std::string_view key, std::span<const std::string_view> known) {
  std::string_view best;
  std::size_t best_distance = std::max<std::size_t>(2, key.size() / 3) + 1;
  for (std::string_view k : known) {
    std::size_t d = edit_distance(key, k);
    if (d < best_distance) {
      best = k;
      best_distance = d;
    }
  }
  std::string msg = "unknown key " + quote(key);
  if (!best.empty()) return msg + " (did you mean " + quote(best) + "?)";
  return msg + "; expected one of: " + join_names(known);
}

std::string child(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}
std::string element(const std::string& path, std::size_t index) {
  return path + "[" + std::to_string(index) + "]";
}
int line_of(const YAML::Mark& m) {
  return m.line + 1;
}

bool is_listener_name(std::string_view s) {
  if (s.empty() || s.size() > kMaxListenerName) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  });
}

// A numeric address as bytes, for comparing listeners; the family tells IPv4 from IPv6.
struct Address {
  int family = 0;
  std::array<unsigned char, 16> bytes{};
  bool wildcard() const {
    return std::all_of(bytes.begin(), bytes.end(), [](unsigned char b) { return b == 0; });
  }
  bool operator==(const Address&) const = default;
};
std::optional<Address> parse_address(const std::string& text) {
  Address a;
  if (inet_pton(AF_INET, text.c_str(), a.bytes.data()) == 1) {
    a.family = AF_INET;
    return a;
  }
  if (inet_pton(AF_INET6, text.c_str(), a.bytes.data()) == 1) {
    a.family = AF_INET6;
    return a;
  }
  return std::nullopt;
}

// AppIDs and keys travel in MQTT topics, user names ("<key>%<time>"), URL paths and "KEY:SECRET".
bool is_netpie_name(std::string_view s) {
  if (s.empty() || s.size() > kMaxNetpieName) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  });
}

class Loader {
 public:
  explicit Loader(std::string name) : name_(std::move(name)) {}

  void document(const YAML::Node& root, Config& c);

  void error(const YAML::Mark& mark, const std::string& path, const std::string& message) {
    if (errors_.size() >= kMaxReportedErrors) {
      ++unreported_;
      return;
    }
    std::string line = name_;
    if (!mark.is_null()) line += ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
    line += ": ";
    if (!path.empty()) line += path + ": ";
    errors_.push_back(line + message);
  }
  bool failed() const { return !errors_.empty(); }
  std::string report() const {
    std::string out;
    for (const std::string& e : errors_) {
      if (!out.empty()) out += '\n';
      out += e;
    }
    if (unreported_ > 0) out += "\n" + name_ + ": " + std::to_string(unreported_) + " more errors not shown";
    return out;
  }

 private:
  // Calls each(key, value, path) for every entry of a mapping whose key is one of `keys`; reports unknown
  // and repeated keys (yaml-cpp keeps repeats silently). A null node is an empty mapping.
  template <typename Fn>
  void mapping(const YAML::Node& map, const std::string& path, std::span<const std::string_view> keys,
               Fn&& each) {
    if (map.IsNull()) return;
    if (!map.IsMap()) {
      error(map.Mark(), path, "expected a mapping, got " + describe(map));
      return;
    }
    std::vector<std::pair<std::string, int>> seen;  // key, line
    for (const auto& entry : map) {
      const YAML::Node& k = entry.first;
      if (!k.IsScalar()) {
        error(k.Mark(), path, "expected a plain key, got " + describe(k));
        continue;
      }
      const std::string& key = k.Scalar();
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
        error(k.Mark(), path, unknown_key_message(key, keys));
        continue;
      }
      auto first = std::find_if(seen.begin(), seen.end(), [&](const auto& s) { return s.first == key; });
      if (first != seen.end()) {
        error(k.Mark(), child(path, key),
              "duplicate key (first set at line " + std::to_string(first->second) + ")");
        continue;
      }
      seen.emplace_back(key, line_of(k.Mark()));
      if (positions_ != nullptr) {
        // An empty value's mark is where the next token starts; the key is where the reader looks.
        const bool empty = entry.second.IsNull() || entry.second.Mark().is_null();
        const YAML::Mark& at = empty ? k.Mark() : entry.second.Mark();
        (*positions_)[child(path, key)] = Position{at.line + 1, at.column + 1};
      }
      each(std::string_view(key), entry.second, child(path, key));
    }
  }

  std::optional<std::uint64_t> integer(const YAML::Node& v, const std::string& path, std::uint64_t min,
                                       std::uint64_t max) {
    std::optional<std::uint64_t> n;
    if (v.IsScalar()) n = parse_uint(v.Scalar());
    if (n && *n >= min && *n <= max) return n;
    error(v.Mark(), path,
          "expected an integer from " + std::to_string(min) + " to " + std::to_string(max) + ", got " +
              describe(v));
    return std::nullopt;
  }

  std::optional<std::uint64_t> byte_size(const YAML::Node& v, const std::string& path, std::uint64_t min,
                                         std::uint64_t max) {
    std::optional<std::uint64_t> n;
    if (v.IsScalar()) n = parse_byte_size(v.Scalar());
    if (n && *n >= min && *n <= max) return n;
    error(v.Mark(), path,
          "expected a byte size from " + format_byte_size(min) + " to " + format_byte_size(max) +
              " (a number of bytes, or with a unit: KiB, MiB, GiB, KB, MB, GB), got " + describe(v));
    return std::nullopt;
  }

  std::optional<std::string> string(const YAML::Node& v, const std::string& path, bool allow_empty) {
    if (!v.IsScalar()) {
      error(v.Mark(), path, "expected a string, got " + describe(v));
      return std::nullopt;
    }
    if (!allow_empty && v.Scalar().empty()) {
      error(v.Mark(), path, "must not be empty");
      return std::nullopt;
    }
    return v.Scalar();
  }

  template <typename E, std::size_t N>
  std::optional<E> choice(const YAML::Node& v, const std::string& path,
                          const std::array<Choice<E>, N>& choices) {
    if (v.IsScalar()) {
      for (const Choice<E>& c : choices) {
        if (c.name == v.Scalar()) return c.value;
      }
    }
    error(v.Mark(), path, "expected one of " + join_names(choices) + ", got " + describe(v));
    return std::nullopt;
  }

  std::optional<std::string> word(const YAML::Node& v, const std::string& path,
                                  std::span<const std::string_view> words) {
    if (v.IsScalar() && std::find(words.begin(), words.end(), v.Scalar()) != words.end()) return v.Scalar();
    error(v.Mark(), path, "expected one of " + join_names(words) + ", got " + describe(v));
    return std::nullopt;
  }

  void log(const YAML::Node& map, const std::string& path, Config& c);
  void listeners(const YAML::Node& seq, const std::string& path, std::vector<Listener>& out);
  void limits(const YAML::Node& map, const std::string& path, Limits& out);
  void users(const YAML::Node& seq, const std::string& path, std::vector<User>& out);
  void store(const YAML::Node& map, const std::string& path, Store& out);
  void filters(const YAML::Node& seq, const std::string& path, std::vector<std::string>& out);
  void http(const YAML::Node& map, const std::string& path, Http& out);
  void websocket(const YAML::Node& map, const std::string& path, WebSocket& out);
  void coap(const YAML::Node& map, const std::string& path, Coap& out);
  void netpie(const YAML::Node& map, const std::string& path, Netpie& out);
  void netpie_apps(const YAML::Node& seq, const std::string& path, std::vector<NetpieApp>& out);
  void netpie_keys(const YAML::Node& seq, const std::string& path, std::vector<NetpieKey>& out,
                   std::vector<std::pair<std::string, int>>& seen_keys);
  void netpie_rights(const YAML::Node& map, const std::string& path, NetpieRights& out);
  void netpie_feeds(const YAML::Node& seq, const std::string& path, std::vector<NetpieFeed>& out,
                    std::vector<std::pair<std::string, int>>& seen_feeds);
  void relative_filters(const YAML::Node& seq, const std::string& path, std::vector<std::string>& out);
  void uplinks(const YAML::Node& seq, const std::string& path, std::vector<Uplink>& out);
  void uplink_tls(const YAML::Node& map, const std::string& path, UplinkTls& out);
  void listener_tls(const YAML::Node& map, const std::string& path, Listener& out);
  void uplink_netpie(const YAML::Node& map, const std::string& path, UplinkNetpie& out);
  void relay_rules(const YAML::Node& seq, const std::string& path, Uplink& u, bool up);
  std::optional<std::string> topic_part(const YAML::Node& v, const std::string& path);
  std::optional<std::string> topic_filter(const YAML::Node& v, const std::string& path);

  // Calls each(item, path) for every element of a list; a null node is an empty list.
  template <typename Fn>
  void list(const YAML::Node& seq, const std::string& path, const char* what, Fn&& each) {
    if (seq.IsNull()) return;
    if (!seq.IsSequence()) {
      error(seq.Mark(), path, std::string("expected a list of ") + what + ", got " + describe(seq));
      return;
    }
    std::size_t index = 0;
    for (const auto& item : seq) each(item, element(path, index++));
  }

  // A NETPIE name (appid, key, alias): 1 to kMaxNetpieName of [A-Za-z0-9_.-].
  std::optional<std::string> netpie_name(const YAML::Node& v, const std::string& path) {
    if (v.IsScalar() && is_netpie_name(v.Scalar())) return v.Scalar();
    error(v.Mark(), path,
          "expected 1 to " + std::to_string(kMaxNetpieName) + " letters, digits, '_', '-' or '.', got " +
              describe(v));
    return std::nullopt;
  }

  // A NETPIE name, unique among `seen` (name, line).
  std::optional<std::string> netpie_unique_name(const YAML::Node& v, const std::string& path,
                                                std::vector<std::pair<std::string, int>>& seen,
                                                const char* what, const char* note) {
    auto checked = netpie_name(v, path);
    if (!checked) return std::nullopt;
    const std::string& name = *checked;
    auto first = std::find_if(seen.begin(), seen.end(), [&](const auto& s) { return s.first == name; });
    if (first != seen.end()) {
      error(v.Mark(), path,
            std::string("duplicate ") + what + " " + quote(name) + " (first at line " +
                std::to_string(first->second) + ")" + note);
      return std::nullopt;
    }
    seen.emplace_back(name, line_of(v.Mark()));
    return name;
  }

  std::optional<bool> boolean(const YAML::Node& v, const std::string& path) {
    if (v.IsScalar()) {
      const std::string& s = v.Scalar();
      if (s == "true" || s == "yes" || s == "on") return true;
      if (s == "false" || s == "no" || s == "off") return false;
    }
    error(v.Mark(), path, "expected true or false, got " + describe(v));
    return std::nullopt;
  }

  std::string name_;
  std::map<std::string, Position>* positions_ = nullptr;  // the document's Config::positions
  std::vector<std::string> errors_;
  std::size_t unreported_ = 0;
};

void Loader::document(const YAML::Node& root, Config& c) {
  positions_ = &c.positions;
  if (!root.IsNull() && !root.IsMap()) {
    error(root.Mark(), "", "expected a mapping of configuration keys, got " + describe(root));
    return;
  }
  YAML::Mark uplinks_mark = YAML::Mark::null_mark();
  mapping(root, "", kRootKeys, [&](std::string_view key, const YAML::Node& v, const std::string& path) {
    if (key == "log") {
      log(v, path, c);
    } else if (key == "state_dir") {
      if (auto s = string(v, path, /*allow_empty=*/false)) c.state_dir = *s;
    } else if (key == "ports_file") {
      // Left empty (`ports_file:`) means no ports file, like "".
      if (v.IsNull()) {
        c.ports_file.clear();
      } else if (auto s = string(v, path, /*allow_empty=*/true)) {
        c.ports_file = *s;
      }
    } else if (key == "sys_interval") {
      if (auto n = integer(v, path, 0, kMaxSysInterval)) c.sys_interval_s = static_cast<std::uint32_t>(*n);
    } else if (key == "listeners") {
      listeners(v, path, c.listeners);
    } else if (key == "limits") {
      limits(v, path, c.limits);
    } else if (key == "store") {
      store(v, path, c.store);
    } else if (key == "http") {
      http(v, path, c.http);
    } else if (key == "websocket") {
      websocket(v, path, c.websocket);
    } else if (key == "coap") {
      coap(v, path, c.coap);
    } else if (key == "netpie") {
      netpie(v, path, c.netpie);
    } else if (key == "uplinks") {
      uplinks(v, path, c.uplinks);
      uplinks_mark = v.Mark();
    } else if (key == "auth") {
      mapping(v, path, kAuthKeys, [&](std::string_view k, const YAML::Node& a, const std::string& p) {
        if (k == "anonymous") {
          if (auto policy = choice(a, p, kAnonymousPolicies)) c.auth.anonymous = *policy;
        } else {
          users(a, p, c.auth.users);
        }
      });
    }
  });
  // The uplink drains the durable outbox; without the store there is nothing to drain.
  if (!c.uplinks.empty() && !c.store.enabled) {
    error(uplinks_mark, "uplinks", "an uplink needs the store (store.enabled: true): it drains the outbox");
  }
}

void Loader::log(const YAML::Node& map, const std::string& path, Config& c) {
  YAML::Mark output_mark = map.Mark();
  mapping(map, path, kLogKeys, [&](std::string_view key, const YAML::Node& v, const std::string& p) {
    if (key == "level") {
      if (auto s = word(v, p, kLogLevels)) c.log_level = *s;
    } else if (key == "output") {
      output_mark = v.Mark();
      if (auto s = word(v, p, kLogOutputs)) c.log_output = *s;
    } else if (key == "file") {
      if (auto s = string(v, p, /*allow_empty=*/false)) c.log_file = *s;
    } else if (key == "max_lines_per_second") {
      if (auto n = integer(v, p, 0, kMaxLogLines))
        c.log_max_lines_per_second = static_cast<std::uint32_t>(*n);
    } else if (key == "burst") {
      if (auto n = integer(v, p, 1, kMaxLogLines)) c.log_burst = static_cast<std::uint32_t>(*n);
    }
  });
  if (c.log_output == "file" && c.log_file.empty()) {
    error(output_mark, child(path, "output"), "output file needs log.file (the file to append to)");
  }
}

void Loader::listeners(const YAML::Node& seq, const std::string& path, std::vector<Listener>& out) {
  if (!seq.IsSequence()) {
    error(seq.Mark(), path, "expected a list of listeners, got " + describe(seq));
    return;
  }
  if (seq.size() == 0) {
    error(seq.Mark(), path, "expected at least one listener");
    return;
  }
  struct Seen {
    Listener listener;
    std::optional<Address> address;
    int line;
  };
  std::vector<Seen> seen;
  out.clear();
  std::size_t index = 0;
  for (const auto& item : seq) {
    const std::string p = element(path, index++);
    if (!item.IsMap()) {
      error(item.Mark(), p, "expected a mapping with name, protocol, bind and port, got " + describe(item));
      continue;
    }
    Listener l;
    YAML::Mark name_mark = item.Mark();
    YAML::Mark port_mark = item.Mark();
    std::string name_path = p;  // the listener itself when its name is the default one
    bool valid = true;
    bool port_given = false;
    mapping(item, p, kListenerKeys, [&](std::string_view key, const YAML::Node& v, const std::string& kp) {
      if (key == "name") {
        name_mark = v.Mark();
        name_path = kp;
        if (v.IsScalar() && is_listener_name(v.Scalar())) {
          l.name = v.Scalar();
        } else {
          valid = false;
          error(v.Mark(), kp,
                "expected a name of 1 to " + std::to_string(kMaxListenerName) +
                    " letters, digits, '_', '-' or '.', got " + describe(v));
        }
      } else if (key == "protocol") {
        if (auto s = word(v, kp, kProtocols)) l.protocol = *s;
      } else if (key == "bind") {
        if (v.IsScalar() && parse_address(v.Scalar())) {
          l.bind = v.Scalar();
        } else {
          valid = false;
          error(v.Mark(), kp,
                "expected a numeric IPv4 or IPv6 address (127.0.0.1, 0.0.0.0, ::1, ::), got " + describe(v));
        }
      } else if (key == "tls") {
        listener_tls(v, kp, l);
      } else if (key == "max_handshakes") {
        if (auto n = integer(v, kp, 1, 1'000'000)) l.max_handshakes = static_cast<std::uint32_t>(*n);
      } else if (key == "handshake_full_policy") {
        if (auto policy = choice(v, kp, kHandshakeFullPolicies)) l.handshake_full_policy = *policy;
      } else if (key == "handshake_timeout_ms") {
        if (auto n = integer(v, kp, 100, 600'000)) l.handshake_timeout_ms = static_cast<std::uint32_t>(*n);
      } else if (key == "port") {
        port_given = true;
        port_mark = v.Mark();
        if (auto n = integer(v, kp, 0, 65535)) {
          l.port = static_cast<std::uint16_t>(*n);
        } else {
          valid = false;
        }
      }
    });
    if (!port_given && l.protocol == "http") l.port = l.tls.enabled ? kDefaultHttpsPort : kDefaultHttpPort;
    if (!port_given && l.protocol == "mqtt" && l.tls.enabled) l.port = kDefaultMqttTlsPort;
    if (!port_given && l.protocol == "ws") l.port = l.tls.enabled ? kDefaultWssPort : kDefaultWsPort;
    if (l.tls.use_identity_as_username && l.protocol == "http")
      error(item.Mark(), child(child(p, "tls"), "use_identity_as_username"),
            "applies to mqtt and ws listeners only");
    if (!port_given && l.protocol == "coap") l.port = kDefaultCoapPort;
    if (!port_given && l.protocol == "coaps") l.port = kDefaultCoapsPort;
    if (l.tls.enabled && (l.protocol == "coap" || l.protocol == "coaps"))
      error(item.Mark(), child(p, "tls"),
            "not for coap listeners: coaps takes its DTLS keys from the coap section");
    if (valid) {
      // Names key the ports file and the logs; two sockets on one address and port cannot both bind.
      // A wildcard address overlaps every address of its family; "::" against IPv4 depends on
      // IPV6_V6ONLY, so it is left to bind() to decide.
      std::optional<Address> address = parse_address(l.bind);
      for (const Seen& s : seen) {
        if (s.listener.name == l.name) {
          error(
              name_mark, name_path,
              "duplicate listener name " + quote(l.name) + " (first at line " + std::to_string(s.line) + ")");
          valid = false;
          break;
        }
        // coap and coaps are UDP, the others TCP: a UDP and a TCP socket may share a port.
        const auto udp = [](const Listener& x) { return x.protocol == "coap" || x.protocol == "coaps"; };
        bool same_port = l.port != 0 && s.listener.port == l.port && udp(l) == udp(s.listener);
        bool overlap = address && s.address && address->family == s.address->family &&
                       (*address == *s.address || address->wildcard() || s.address->wildcard());
        if (same_port && overlap) {
          error(port_mark, child(p, "port"),
                l.bind + " port " + std::to_string(l.port) + " overlaps listener " + quote(s.listener.name) +
                    " (" + s.listener.bind + " port " + std::to_string(s.listener.port) + ", line " +
                    std::to_string(s.line) + ")");
          valid = false;
          break;
        }
      }
      if (valid) seen.push_back({l, address, line_of(item.Mark())});
    }
    out.push_back(std::move(l));
  }
}

void Loader::limits(const YAML::Node& map, const std::string& path, Limits& out) {
  std::optional<YAML::Mark> packet_mark;
  std::optional<YAML::Mark> before_connect_mark;
  bool sizes_valid = true;
  mapping(map, path, limit_keys(), [&](std::string_view key, const YAML::Node& v, const std::string& p) {
    if (key == "queue_policy") {
      if (auto policy = choice(v, p, kQueuePolicies)) out.queue_policy = *policy;
      return;
    }
    if (key == "slow_consumer_policy") {
      if (auto policy = choice(v, p, kSlowConsumerPolicies)) out.slow_consumer_policy = *policy;
      return;
    }
    if (key == "qos0_full_policy") {
      if (auto policy = choice(v, p, kQos0FullPolicies)) out.qos0_full_policy = *policy;
      return;
    }
    const LimitField& f = *std::find_if(kLimitFields.begin(), kLimitFields.end(),
                                        [&](const LimitField& lf) { return lf.key == key; });
    std::optional<std::uint64_t> n =
        f.kind == Kind::Bytes ? byte_size(v, p, f.min, f.max) : integer(v, p, f.min, f.max);
    if (n) f.set(out, *n);
    if (key == "max_packet_size") {
      packet_mark = v.Mark();
      sizes_valid = sizes_valid && n.has_value();
    } else if (key == "max_packet_size_before_connect") {
      before_connect_mark = v.Mark();
      sizes_valid = sizes_valid && n.has_value();
    }
  });
  // The first packet is read under the smaller bound; a larger one would never apply.
  if (sizes_valid && out.max_packet_size_before_connect > out.max_packet_size) {
    std::string before = std::to_string(out.max_packet_size_before_connect);
    std::string after = std::to_string(out.max_packet_size);
    if (before_connect_mark) {
      error(*before_connect_mark, child(path, "max_packet_size_before_connect"),
            "must not exceed limits.max_packet_size (" + after + "), got " + before);
    } else if (packet_mark) {
      error(*packet_mark, child(path, "max_packet_size"),
            "must be at least limits.max_packet_size_before_connect (" + before + ", its default), got " +
                after);
    }
  }
}

void Loader::users(const YAML::Node& seq, const std::string& path, std::vector<User>& out) {
  if (seq.IsNull()) return;
  if (!seq.IsSequence()) {
    error(seq.Mark(), path, "expected a list of users, got " + describe(seq));
    return;
  }
  std::vector<std::pair<std::string, int>> seen;  // username, line
  std::size_t index = 0;
  for (const auto& item : seq) {
    const std::string p = element(path, index++);
    if (!item.IsMap()) {
      error(item.Mark(), p, "expected a mapping with username and password_hash, got " + describe(item));
      continue;
    }
    User u;
    bool has_username = false;
    bool has_hash = false;
    mapping(item, p, kUserKeys, [&](std::string_view key, const YAML::Node& v, const std::string& kp) {
      if (key == "username") {
        has_username = true;
        auto name = string(v, kp, /*allow_empty=*/false);
        if (!name) return;
        if (name->size() > kMaxUsername) {
          error(v.Mark(), kp, "must be at most 65535 bytes long");
          return;
        }
        auto first = std::find_if(seen.begin(), seen.end(), [&](const auto& s) { return s.first == *name; });
        if (first != seen.end()) {
          error(v.Mark(), kp,
                "duplicate user " + quote(*name) + " (first at line " + std::to_string(first->second) + ")");
          return;
        }
        seen.emplace_back(*name, line_of(v.Mark()));
        u.username = *name;
      } else {
        has_hash = true;
        // The value is never echoed: a password pasted here by mistake must not end up in a log.
        if (!v.IsScalar()) {
          error(v.Mark(), kp, "expected a password hash string, got " + describe(v));
          return;
        }
        std::string_view problem = password_hash_problem(v.Scalar());
        if (!problem.empty()) {
          error(v.Mark(), kp,
                "not a valid password hash (" + std::string(problem) +
                    "); make one with netpie-edge --hash-password");
          return;
        }
        u.password_hash = v.Scalar();
      }
    });
    if (!has_username) error(item.Mark(), p, "missing key \"username\"");
    if (!has_hash) error(item.Mark(), p, "missing key \"password_hash\"");
    out.push_back(std::move(u));
  }
}

// A non-shared MQTT topic filter.
std::optional<std::string> Loader::topic_filter(const YAML::Node& v, const std::string& path) {
  auto f = string(v, path, /*allow_empty=*/false);
  if (!f) return std::nullopt;
  if (!mqtt::is_valid_filter(*f) || mqtt::parse_shared(*f)) {
    error(v.Mark(), path, "not a valid MQTT topic filter: " + quote(*f));
    return std::nullopt;
  }
  return f;
}

void Loader::filters(const YAML::Node& seq, const std::string& path, std::vector<std::string>& out) {
  out.clear();
  list(seq, path, "MQTT topic filters", [&](const YAML::Node& item, const std::string& p) {
    if (auto f = topic_filter(item, p)) out.push_back(*f);
  });
}

void Loader::store(const YAML::Node& map, const std::string& path, Store& out) {
  mapping(map, path, kStoreKeys, [&](std::string_view key, const YAML::Node& v, const std::string& p) {
    if (key == "enabled") {
      if (auto b = boolean(v, p)) out.enabled = *b;
    } else if (key == "file") {
      if (auto s = string(v, p, false)) out.file = *s;
    } else if (key == "synchronous") {
      if (auto s = word(v, p, kSynchronousModes)) out.synchronous = *s;
    } else if (key == "commit_window_us") {
      if (auto n = integer(v, p, 0, 1'000'000)) out.commit_window_us = static_cast<std::uint32_t>(*n);
    } else if (key == "commit_max_rows") {
      if (auto n = integer(v, p, 1, 1'000'000)) out.commit_max_rows = static_cast<std::uint32_t>(*n);
    } else if (key == "qos0_durable") {
      if (auto b = boolean(v, p)) out.qos0_durable = *b;
    } else if (key == "max_db_bytes") {
      if (auto n = byte_size(v, p, 0, 1ull << 44)) {
        if (*n != 0 && *n < 1024 * 1024) {
          error(v.Mark(), p, "must be 0 (no cap) or at least 1MiB");
        } else {
          out.max_db_bytes = *n;
        }
      }
    } else if (key == "queue_max_requests") {
      if (auto n = integer(v, p, 16, 10'000'000)) out.queue_max_requests = *n;
    } else if (key == "outbox") {
      mapping(v, p, kOutboxKeys, [&](std::string_view k, const YAML::Node& o, const std::string& op) {
        if (k == "filters") {
          filters(o, op, out.outbox_filters);
        } else if (k == "max_rows") {
          if (auto n = integer(o, op, 1, 1'000'000'000)) out.outbox_max_rows = *n;
        } else if (k == "max_bytes") {
          if (auto n = byte_size(o, op, 1024, 1ull << 44)) out.outbox_max_bytes = *n;
        } else if (k == "max_age_s") {
          if (auto n = integer(o, op, 0, kMaxAgeSeconds))
            out.outbox_max_age_s = static_cast<std::int64_t>(*n);
        } else if (k == "policy") {
          if (auto s = word(o, op, kFullPolicies)) out.outbox_policy = *s;
        }
      });
    } else if (key == "session_queue") {
      mapping(v, p, kSessionQueueKeys, [&](std::string_view k, const YAML::Node& o, const std::string& op) {
        if (k == "max_rows") {
          if (auto n = integer(o, op, 1, 1'000'000'000)) out.session_queue_max_rows = *n;
        } else if (k == "max_bytes") {
          if (auto n = byte_size(o, op, 1024, 1ull << 44)) out.session_queue_max_bytes = *n;
        } else if (k == "policy") {
          if (auto s = word(o, op, kFullPolicies)) out.session_queue_policy = *s;
        } else if (k == "memory_rows") {
          if (auto n = integer(o, op, 1, 65'535))
            out.session_queue_memory_rows = static_cast<std::uint32_t>(*n);
        }
      });
    } else if (key == "history") {
      mapping(v, p, kHistoryKeys, [&](std::string_view k, const YAML::Node& h, const std::string& hp) {
        if (k == "filters") {
          filters(h, hp, out.history_filters);
        } else if (k == "max_age_s") {
          if (auto n = integer(h, hp, 0, kMaxAgeSeconds))
            out.history_max_age_s = static_cast<std::int64_t>(*n);
        } else if (k == "max_rows") {
          if (auto n = integer(h, hp, 0, 1'000'000'000)) out.history_max_rows = *n;
        } else if (k == "max_page_rows") {
          if (auto n = integer(h, hp, 1, 100'000)) out.history_max_page_rows = static_cast<std::uint32_t>(*n);
        } else if (k == "max_scan_rows") {
          if (auto n = integer(h, hp, 1, 100'000'000)) out.history_max_scan_rows = *n;
        }
      });
    } else if (key == "feeds") {
      mapping(v, p, kFeedStoreKeys, [&](std::string_view k, const YAML::Node& f, const std::string& fp) {
        if (k == "raw_max_age_s" || k == "minute_max_age_s" || k == "hour_max_age_s") {
          if (auto n = integer(f, fp, 0, kMaxAgeSeconds)) {
            (k == "raw_max_age_s"      ? out.feeds_raw_max_age_s
             : k == "minute_max_age_s" ? out.feeds_minute_max_age_s
                                       : out.feeds_hour_max_age_s) = static_cast<std::int64_t>(*n);
          }
        } else if (k == "max_points_per_field") {
          if (auto n = integer(f, fp, 0, 10'000'000'000ull)) out.feeds_max_points_per_field = *n;
        } else if (k == "max_fields_per_feed") {
          if (auto n = integer(f, fp, 1, 10'000))
            out.feeds_max_fields_per_feed = static_cast<std::uint32_t>(*n);
        } else if (k == "max_query_rows") {
          if (auto n = integer(f, fp, 1, 100'000'000)) out.feeds_max_query_rows = *n;
        } else if (k == "max_query_points") {
          if (auto n = integer(f, fp, 1, 10'000'000))
            out.feeds_max_query_points = static_cast<std::uint32_t>(*n);
        }
      });
    }
  });
}

void Loader::http(const YAML::Node& map, const std::string& path, Http& out) {
  mapping(map, path, kHttpKeys, [&](std::string_view key, const YAML::Node& v, const std::string& p) {
    if (key == "max_connections") {
      if (auto n = integer(v, p, 1, 100'000)) out.max_connections = static_cast<std::uint32_t>(*n);
    } else if (key == "max_header_bytes") {
      if (auto n = byte_size(v, p, kKiB, kKiB * kKiB)) out.max_header_bytes = *n;
    } else if (key == "max_body") {
      if (auto n = byte_size(v, p, kKiB, 64 * kKiB * kKiB)) out.max_body = *n;
    } else if (key == "request_timeout_ms") {
      if (auto n = integer(v, p, 100, 3'600'000)) out.request_timeout_ms = static_cast<std::uint32_t>(*n);
    } else if (key == "idle_timeout_ms") {
      if (auto n = integer(v, p, 100, 3'600'000)) out.idle_timeout_ms = static_cast<std::uint32_t>(*n);
    } else if (key == "admin_users") {
      users(v, p, out.admin_users);
    }
  });
}

void Loader::websocket(const YAML::Node& map, const std::string& path, WebSocket& out) {
  mapping(map, path, kWebSocketKeys, [&](std::string_view key, const YAML::Node& v, const std::string& p) {
    if (key == "max_frame_bytes") {
      if (auto n = byte_size(v, p, 125, 256 * kKiB * kKiB)) out.max_frame_bytes = *n;
    } else if (key == "max_message_bytes") {
      if (auto n = byte_size(v, p, 125, 256 * kKiB * kKiB)) out.max_message_bytes = *n;
    } else if (key == "max_header_bytes") {
      if (auto n = byte_size(v, p, kKiB, kKiB * kKiB)) out.max_header_bytes = *n;
    }
  });
}

void Loader::coap(const YAML::Node& map, const std::string& path, Coap& out) {
  mapping(map, path, kCoapKeys, [&](std::string_view key, const YAML::Node& v, const std::string& p) {
    if (key == "pubsub" || key == "netpie") {
      if (auto b = boolean(v, p)) (key == "pubsub" ? out.pubsub : out.netpie) = *b;
    } else if (key == "con_qos" || key == "non_qos") {
      if (auto n = integer(v, p, 0, 2))
        (key == "con_qos" ? out.con_qos : out.non_qos) = static_cast<std::uint8_t>(*n);
    } else if (key == "max_endpoints") {
      if (auto n = integer(v, p, 1, 1'000'000)) out.max_endpoints = static_cast<std::uint32_t>(*n);
    } else if (key == "max_observers_per_endpoint") {
      if (auto n = integer(v, p, 0, 1000)) out.max_observers_per_endpoint = static_cast<std::uint32_t>(*n);
    } else if (key == "max_observers") {
      if (auto n = integer(v, p, 0, 10'000'000)) out.max_observers = static_cast<std::uint32_t>(*n);
    } else if (key == "max_observers_per_topic") {
      if (auto n = integer(v, p, 0, 10'000'000)) out.max_observers_per_topic = static_cast<std::uint32_t>(*n);
    } else if (key == "max_payload") {
      if (auto n = byte_size(v, p, 64, 16 * kKiB * kKiB)) out.max_payload = *n;
    } else if (key == "exchange_lifetime_s") {
      if (auto n = integer(v, p, 1, 3600)) out.exchange_lifetime_s = static_cast<std::uint32_t>(*n);
    } else if (key == "max_exchanges") {
      if (auto n = integer(v, p, 16, 10'000'000)) out.max_exchanges = static_cast<std::uint32_t>(*n);
    } else if (key == "idle_timeout_s") {
      if (auto n = integer(v, p, 1, 86400)) out.idle_timeout_s = static_cast<std::uint32_t>(*n);
    } else if (key == "con_notify_interval_s") {
      if (auto n = integer(v, p, 1, 86400)) out.con_notify_interval_s = static_cast<std::uint32_t>(*n);
    } else if (key == "receive_buffer") {
      if (auto n = byte_size(v, p, 16 * kKiB, 256 * kKiB * kKiB)) out.receive_buffer = *n;
    } else if (key == "psk") {
      out.psk.clear();
      list(v, p, "psk entries", [&](const YAML::Node& item, const std::string& ip) {
        CoapPsk psk;
        mapping(item, ip, kCoapPskKeys, [&](std::string_view k, const YAML::Node& x, const std::string& kp) {
          if (auto s = string(x, kp, /*allow_empty=*/false)) (k == "identity" ? psk.identity : psk.key) = *s;
        });
        if (psk.identity.empty() || psk.key.empty()) error(item.Mark(), ip, "expected identity and key");
        out.psk.push_back(std::move(psk));
      });
    } else if (auto s = string(v, p, /*allow_empty=*/true)) {
      (key == "cert_file" ? out.cert_file : key == "key_file" ? out.key_file : out.ca_file) = *s;
    }
  });
}

namespace {
// Every client splits the endpoint at ':' (docs/netpie-protocol.md §5): a DNS name or an IPv4 address, no
// IPv6.
bool is_endpoint_host(std::string_view s) {
  if (s.size() > 253) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
  });
}
}  // namespace

void Loader::relative_filters(const YAML::Node& seq, const std::string& path, std::vector<std::string>& out) {
  out.clear();
  if (seq.IsNull()) return;
  if (!seq.IsSequence()) {
    error(seq.Mark(), path, "expected a list of topic filters starting with '/', got " + describe(seq));
    return;
  }
  std::size_t index = 0;
  for (const auto& item : seq) {
    const std::string p = element(path, index++);
    auto f = string(item, p, /*allow_empty=*/false);
    if (!f) continue;
    // Checked as the filter the broker will use: "/<appid>" + f.
    if (f->front() != '/' || !mqtt::is_valid_filter("/app" + *f)) {
      error(item.Mark(), p,
            "expected a topic filter relative to the app, starting with '/', got " + quote(*f));
      continue;
    }
    out.push_back(*f);
  }
}

void Loader::netpie_rights(const YAML::Node& map, const std::string& path, NetpieRights& out) {
  mapping(map, path, kNetpieRightsKeys, [&](std::string_view key, const YAML::Node& v, const std::string& p) {
    if (key == "publish") {
      relative_filters(v, p, out.publish);
    } else if (key == "subscribe") {
      relative_filters(v, p, out.subscribe);
    } else if (key == "max_qos") {
      if (auto n = integer(v, p, 0, 2)) out.max_qos = static_cast<std::uint8_t>(*n);
    }
  });
}

void Loader::netpie_keys(const YAML::Node& seq, const std::string& path, std::vector<NetpieKey>& out,
                         std::vector<std::pair<std::string, int>>& seen_keys) {
  if (seq.IsNull()) return;
  if (!seq.IsSequence()) {
    error(seq.Mark(), path, "expected a list of keys, got " + describe(seq));
    return;
  }
  std::size_t index = 0;
  for (const auto& item : seq) {
    const std::string p = element(path, index++);
    if (!item.IsMap()) {
      error(item.Mark(), p, "expected a mapping with key and secret, got " + describe(item));
      continue;
    }
    NetpieKey k;
    bool has_key = false;
    bool has_secret = false;
    mapping(item, p, kNetpieKeyKeys, [&](std::string_view name, const YAML::Node& v, const std::string& kp) {
      if (name == "key") {
        has_key = true;
        if (auto key = netpie_unique_name(v, kp, seen_keys, "key", "; a key belongs to one app"))
          k.key = *key;
      } else if (name == "secret") {
        has_secret = true;
        // Never echoed: a secret must not end up in a log.
        bool printable = v.IsScalar() && std::all_of(v.Scalar().begin(), v.Scalar().end(), [](char c) {
                           return static_cast<unsigned char>(c) > 0x20 && c != 0x7f;
                         });
        if (!v.IsScalar() || v.Scalar().empty() || v.Scalar().size() > kMaxNetpieSecret || !printable) {
          error(v.Mark(), kp,
                "expected 1 to " + std::to_string(kMaxNetpieSecret) +
                    " printable characters without spaces (value not shown)");
          return;
        }
        k.secret = v.Scalar();
      } else if (name == "kind") {
        if (auto s = word(v, kp, kNetpieKeyKinds)) k.kind = *s;
      } else if (name == "auto_approve") {
        if (auto b = boolean(v, kp)) k.auto_approve = *b;
      } else if (name == "enabled") {
        if (auto b = boolean(v, kp)) k.enabled = *b;
      } else if (name == "rights") {
        netpie_rights(v, kp, k.rights);
      }
    });
    if (!has_key) error(item.Mark(), p, "missing key \"key\"");
    if (!has_secret) error(item.Mark(), p, "missing key \"secret\"");
    out.push_back(std::move(k));
  }
}

// netpie.apps[].feeds: [{id, api_keys: [...], fields: {name: unit, ...}}]; feed ids are unique over
// every app (REST /feed/<feedid> names no app).
void Loader::netpie_feeds(const YAML::Node& seq, const std::string& path, std::vector<NetpieFeed>& out,
                          std::vector<std::pair<std::string, int>>& seen_feeds) {
  if (seq.IsNull()) return;
  if (!seq.IsSequence()) {
    error(seq.Mark(), path, "expected a list of feeds, got " + describe(seq));
    return;
  }
  std::size_t index = 0;
  for (const auto& item : seq) {
    const std::string p = element(path, index++);
    if (!item.IsMap()) {
      error(item.Mark(), p, "expected a mapping with id, api_keys and fields, got " + describe(item));
      continue;
    }
    NetpieFeed feed;
    bool has_id = false;
    mapping(item, p, kNetpieFeedKeys, [&](std::string_view name, const YAML::Node& v, const std::string& fp) {
      if (name == "id") {
        has_id = true;
        if (auto id =
                netpie_unique_name(v, fp, seen_feeds, "feed id", "; feed ids are unique over every app"))
          feed.id = *id;
      } else if (name == "api_keys") {
        if (v.IsNull()) return;
        if (!v.IsSequence()) {
          error(v.Mark(), fp, "expected a list of api keys, got " + describe(v));
          return;
        }
        std::size_t k = 0;
        for (const auto& key : v) {
          if (auto s = netpie_name(key, element(fp, k++))) feed.api_keys.push_back(*s);
        }
      } else if (name == "fields") {
        if (v.IsNull()) return;
        if (!v.IsMap()) {
          error(v.Mark(), fp, "expected a mapping of field name to unit, got " + describe(v));
          return;
        }
        for (const auto& kv : v) {
          const YAML::Node& k = kv.first;
          const std::string kp = fp + "." + (k.IsScalar() ? k.Scalar() : std::string("?"));
          auto field = netpie_name(k, kp);
          const YAML::Node& unit = kv.second;
          const bool unit_ok = unit.IsNull() || (unit.IsScalar() && unit.Scalar().size() <= kMaxFeedUnit);
          if (!unit_ok) {
            error(unit.Mark(), kp,
                  "expected a unit of at most " + std::to_string(kMaxFeedUnit) + " bytes, got " +
                      describe(unit));
          }
          if (field && unit_ok)
            feed.fields.push_back(NetpieFeedField{*field, unit.IsNull() ? "" : unit.Scalar()});
        }
      }
    });
    if (!has_id) error(item.Mark(), p, "missing key \"id\"");
    out.push_back(std::move(feed));
  }
}

void Loader::netpie_apps(const YAML::Node& seq, const std::string& path, std::vector<NetpieApp>& out) {
  out.clear();
  if (seq.IsNull()) return;
  if (!seq.IsSequence()) {
    error(seq.Mark(), path, "expected a list of apps, got " + describe(seq));
    return;
  }
  std::vector<std::pair<std::string, int>> seen_apps;
  std::vector<std::pair<std::string, int>> seen_keys;
  std::vector<std::pair<std::string, int>> seen_feeds;
  std::size_t index = 0;
  for (const auto& item : seq) {
    const std::string p = element(path, index++);
    if (!item.IsMap()) {
      error(item.Mark(), p, "expected a mapping with appid and keys, got " + describe(item));
      continue;
    }
    NetpieApp app;
    bool has_appid = false;
    mapping(item, p, kNetpieAppKeys, [&](std::string_view name, const YAML::Node& v, const std::string& kp) {
      if (name == "appid") {
        has_appid = true;
        if (auto id = netpie_unique_name(v, kp, seen_apps, "appid", "")) app.appid = *id;
      } else if (name == "feeds") {
        netpie_feeds(v, kp, app.feeds, seen_feeds);
      } else {
        netpie_keys(v, kp, app.keys, seen_keys);
      }
    });
    if (!has_appid) error(item.Mark(), p, "missing key \"appid\"");
    out.push_back(std::move(app));
  }
}

void Loader::netpie(const YAML::Node& map, const std::string& path, Netpie& out) {
  mapping(map, path, kNetpieKeys, [&](std::string_view key, const YAML::Node& v, const std::string& p) {
    if (key == "enabled") {
      if (auto b = boolean(v, p)) out.enabled = *b;
    } else if (key == "apps") {
      netpie_apps(v, p, out.apps);
    } else if (key == "endpoint_host") {
      if (v.IsNull()) {
        out.endpoint_host.clear();
      } else if (v.IsScalar() && is_endpoint_host(v.Scalar())) {
        out.endpoint_host = v.Scalar();
      } else {
        error(v.Mark(), p,
              "expected a DNS name or an IPv4 address (clients split the endpoint at ':'), or \"\", got " +
                  describe(v));
      }
    } else if (key == "endpoint_port") {
      if (auto n = integer(v, p, 1, 65535)) out.endpoint_port = static_cast<std::uint16_t>(*n);
    } else if (key == "clock_skew_s") {
      if (auto n = integer(v, p, 0, kMaxAgeSeconds)) out.clock_skew_s = static_cast<std::uint32_t>(*n);
    } else if (key == "mqtt_max_age_s") {
      if (auto n = integer(v, p, 0, kMaxAgeSeconds)) out.mqtt_max_age_s = static_cast<std::uint32_t>(*n);
    } else if (key == "request_token_ttl_s") {
      if (auto n = integer(v, p, 60, kMaxAgeSeconds))
        out.request_token_ttl_s = static_cast<std::uint32_t>(*n);
    } else if (key == "max_tokens_per_key") {
      if (auto n = integer(v, p, 1, 1'000'000)) out.max_tokens_per_key = static_cast<std::uint32_t>(*n);
    } else if (key == "max_request_tokens") {
      if (auto n = integer(v, p, 1, 1'000'000)) out.max_request_tokens = static_cast<std::uint32_t>(*n);
    } else if (key == "postbox_max_messages") {
      if (auto n = integer(v, p, 1, 1'000'000)) out.postbox_max_messages = static_cast<std::uint32_t>(*n);
    } else if (key == "postbox_max_bytes") {
      if (auto n = byte_size(v, p, kKiB, kKiB * kKiB * kKiB)) out.postbox_max_bytes = *n;
    } else if (key == "atoken_hold_ms") {
      if (auto n = integer(v, p, 0, 60'000)) out.atoken_hold_ms = static_cast<std::uint32_t>(*n);
    } else if (key == "atoken_max_held_per_key") {
      if (auto n = integer(v, p, 1, 10'000)) out.atoken_max_held_per_key = static_cast<std::uint32_t>(*n);
    }
  });
}

// A topic prefix or strip part: glued to or cut from a valid topic name, so no wildcards or NUL.
std::optional<std::string> Loader::topic_part(const YAML::Node& v, const std::string& path) {
  if (v.IsNull()) return std::string();
  auto part = string(v, path, /*allow_empty=*/true);
  if (!part) return std::nullopt;
  if (part->find_first_of(std::string_view("+#\0", 3)) != std::string::npos ||
      !mqtt::is_valid_topic_name(*part + "x")) {
    error(v.Mark(), path, "not a valid topic prefix (no '+', '#' or NUL): " + quote(*part));
    return std::nullopt;
  }
  return part;
}

// A file name for TLS material: not checked for existence here (the daemon reports an unreadable file
// with its path when it loads it), only that it is a string.
void Loader::uplink_tls(const YAML::Node& map, const std::string& path, UplinkTls& out) {
  mapping(map, path, kUplinkTlsKeys, [&](std::string_view key, const YAML::Node& v, const std::string& p) {
    if (key == "enabled") {
      if (auto b = boolean(v, p)) out.enabled = *b;
    } else if (key == "verify") {
      if (auto b = boolean(v, p)) out.verify = *b;
    } else if (key == "server_name") {
      if (auto s = string(v, p, true)) out.server_name = *s;
    } else if (auto s = v.IsNull() ? std::optional<std::string>("") : string(v, p, true)) {
      (key == "ca_file" ? out.ca_file : key == "cert_file" ? out.cert_file : out.key_file) = *s;
    }
  });
  if (out.cert_file.empty() != out.key_file.empty()) {
    error(map.Mark(), path, "cert_file and key_file go together (a client certificate needs its key)");
  }
}

// A listener's TLS block: the files are checked when the daemon loads them (and by --check-config).
void Loader::listener_tls(const YAML::Node& map, const std::string& path, Listener& out) {
  ListenerTls& t = out.tls;
  t.enabled = true;
  mapping(map, path, kListenerTlsKeys, [&](std::string_view key, const YAML::Node& v, const std::string& p) {
    if (key == "require_client_cert") {
      if (auto b = boolean(v, p)) t.require_client_cert = *b;
    } else if (key == "use_identity_as_username") {
      if (auto b = boolean(v, p)) t.use_identity_as_username = *b;
    } else if (key == "session_cache_size") {
      if (auto n = integer(v, p, 0, 1'000'000)) t.session_cache_size = static_cast<std::uint32_t>(*n);
    } else if (key == "idle_release_ms") {
      if (auto n = integer(v, p, 0, 3'600'000)) t.idle_release_ms = static_cast<std::uint32_t>(*n);
    } else if (auto s = string(v, p, false)) {
      (key == "cert_file" ? t.cert_file : key == "key_file" ? t.key_file : t.ca_file) = *s;
    }
  });
  if (t.cert_file.empty() || t.key_file.empty())
    error(map.Mark(), path, "cert_file and key_file are required (the listener's certificate and its key)");
  if ((t.require_client_cert || t.use_identity_as_username) && t.ca_file.empty())
    error(map.Mark(), path,
          "require_client_cert and use_identity_as_username need ca_file (the CA client certificates chain "
          "to)");
}

void Loader::uplink_netpie(const YAML::Node& map, const std::string& path, UplinkNetpie& out) {
  mapping(map, path, kUplinkNetpieKeys, [&](std::string_view key, const YAML::Node& v, const std::string& p) {
    if (key == "auth_port" || key == "mqtt_port") {
      if (auto n = integer(v, p, 0, 65535)) (key == "auth_port" ? out.auth_port : out.mqtt_port) = *n;
    } else if (key == "chat_topic") {
      if (auto t = topic_part(v, p)) out.chat_topic = *t;  // a whole topic name: no wildcards either
    } else if (key == "secret") {
      if (!v.IsScalar() || v.Scalar().empty() || v.Scalar().size() > 256) {
        error(v.Mark(), p, "expected a non-empty string of at most 256 bytes (value not shown)");
        return;
      }
      out.secret = v.Scalar();
    } else if (key == "alias" && (v.IsNull() || (v.IsScalar() && v.Scalar().empty()))) {
      out.alias.clear();  // no alias
    } else if (auto name = netpie_name(v, p)) {
      (key == "appid" ? out.appid : key == "key" ? out.key : out.alias) = *name;
    }
  });
}

void Loader::relay_rules(const YAML::Node& seq, const std::string& path, Uplink& u, bool up) {
  list(seq, path, "relay rules", [&](const YAML::Node& item, const std::string& p) {
    RelayUp rule;  // a down rule uses the same fields but lane
    bool has_filter = false;
    const auto keys = up ? std::span<const std::string_view>(kRelayUpKeys)
                         : std::span<const std::string_view>(kRelayDownKeys);
    if (!item.IsMap()) {
      error(item.Mark(), p, "expected a mapping with at least \"filter\", got " + describe(item));
      return;
    }
    mapping(item, p, keys, [&](std::string_view key, const YAML::Node& v, const std::string& kp) {
      if (key == "filter") {
        has_filter = true;
        if (auto f = topic_filter(v, kp)) rule.filter = *f;
      } else if (key == "strip" || key == "prefix") {
        if (auto part = topic_part(v, kp)) (key == "strip" ? rule.strip : rule.prefix) = *part;
      } else if (key == "qos") {
        if (auto n = integer(v, kp, 0, 2)) rule.qos = static_cast<std::uint8_t>(*n);
      } else if (key == "lane") {
        if (auto n = integer(v, kp, 0, 15)) rule.lane = static_cast<std::uint8_t>(*n);
      }
    });
    if (!has_filter) {
      error(item.Mark(), p, "missing key \"filter\"");
    } else if (up) {
      u.up.push_back(std::move(rule));
    } else {
      u.down.push_back(
          RelayDown{std::move(rule.filter), std::move(rule.strip), std::move(rule.prefix), rule.qos});
    }
  });
}

void Loader::uplinks(const YAML::Node& seq, const std::string& path, std::vector<Uplink>& out) {
  out.clear();
  if (seq.IsNull()) return;
  if (!seq.IsSequence()) {
    error(seq.Mark(), path, "expected a list of uplinks, got " + describe(seq));
    return;
  }
  std::size_t index = 0;
  std::vector<std::pair<std::string, int>> names;
  for (const auto& item : seq) {
    const std::string p = element(path, index++);
    if (!item.IsMap()) {
      error(item.Mark(), p, "expected a mapping with name, host and port, got " + describe(item));
      continue;
    }
    if (index > kMaxUplinks) {
      error(item.Mark(), p, "at most " + std::to_string(kMaxUplinks) + " uplinks");
      continue;
    }
    Uplink u;
    bool has_name = false;
    bool has_host = false;
    bool has_mqtt_login = false;
    YAML::Mark netpie_mark = YAML::Mark::null_mark();
    mapping(item, p, kUplinkKeys, [&](std::string_view key, const YAML::Node& v, const std::string& kp) {
      if (key == "name") {
        has_name = true;
        if (!v.IsScalar() || !is_listener_name(v.Scalar())) {
          error(v.Mark(), kp,
                "expected a name of 1 to " + std::to_string(kMaxListenerName) +
                    " letters, digits, '_', '-' or '.', got " + describe(v));
          return;
        }
        auto first =
            std::find_if(names.begin(), names.end(), [&](const auto& n) { return n.first == v.Scalar(); });
        if (first != names.end()) {
          error(v.Mark(), kp,
                "duplicate uplink name " + quote(v.Scalar()) + " (first at line " +
                    std::to_string(first->second) +
                    "); the name keeps each uplink's share of the outbox apart");
          return;
        }
        names.emplace_back(v.Scalar(), line_of(v.Mark()));
        u.name = v.Scalar();
      } else if (key == "profile") {
        if (auto w = word(v, kp, kUplinkProfiles)) u.profile = *w;
      } else if (key == "host") {
        has_host = true;
        auto h = string(v, kp, /*allow_empty=*/false);
        if (!h) return;
        if (h->size() > 253 || std::any_of(h->begin(), h->end(), [](char c) {
              return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f;
            })) {
          error(v.Mark(), kp, "expected a DNS name or a numeric address, got " + describe(v));
          return;
        }
        u.host = *h;
      } else if (key == "port") {
        if (auto n = integer(v, kp, 0, 65535)) u.port = static_cast<std::uint16_t>(*n);
      } else if (key == "tls") {
        uplink_tls(v, kp, u.tls);
      } else if (key == "netpie") {
        netpie_mark = v.Mark();
        uplink_netpie(v, kp, u.netpie);
      } else if (key == "client_id") {
        if (v.IsNull()) return;
        has_mqtt_login = true;
        auto id = string(v, kp, /*allow_empty=*/true);
        if (!id) return;
        if (id->size() > kMaxUsername) {
          error(v.Mark(), kp, "must be at most 65535 bytes long");
          return;
        }
        u.client_id = *id;
      } else if (key == "username" || key == "password") {
        if (v.IsNull()) return;
        has_mqtt_login = true;
        if (!v.IsScalar() || v.Scalar().size() > kMaxUsername) {
          // The value is never echoed: it may be a secret.
          error(v.Mark(), kp, "expected a string of at most 65535 bytes (value not shown)");
          return;
        }
        (key == "username" ? u.username : u.password) = v.Scalar();
      } else if (key == "keepalive") {
        if (auto n = integer(v, kp, 0, 65535)) u.keepalive = static_cast<std::uint16_t>(*n);
      } else if (key == "clean_start") {
        if (auto b = boolean(v, kp)) u.clean_start = *b;
      } else if (key == "version") {
        if (auto w = word(v, kp, kUplinkVersions)) u.version = *w;
      } else if (key == "topic_prefix") {
        if (auto part = topic_part(v, kp)) u.topic_prefix = *part;
      } else if (key == "qos") {
        if (auto n = integer(v, kp, 0, 2)) u.qos = static_cast<std::uint8_t>(*n);
      } else if (key == "up" || key == "down") {
        relay_rules(v, kp, u, key == "up");
      } else if (key == "presence") {
        mapping(v, kp, kUplinkPresenceKeys,
                [&](std::string_view k, const YAML::Node& pv, const std::string& pp) {
                  if (k == "max_retained") {
                    if (auto n = integer(pv, pp, 1, 10'000'000))
                      u.presence.max_retained = static_cast<std::uint32_t>(*n);
                  } else if (k == "full_policy") {
                    if (auto w = word(pv, pp, kPresenceFullPolicies)) u.presence.full_policy = *w;
                  } else if (auto part = topic_part(pv, pp)) {
                    (k == "topic" ? u.presence.topic : u.presence.devices) = *part;
                  }
                });
      } else if (key == "max_inflight") {
        if (auto n = integer(v, kp, 1, 65535)) u.max_inflight = static_cast<std::uint16_t>(*n);
      } else if (key == "reconnect_min_ms") {
        if (auto n = integer(v, kp, 1, 3'600'000)) u.reconnect_min_ms = static_cast<std::uint32_t>(*n);
      } else if (key == "reconnect_max_ms") {
        if (auto n = integer(v, kp, 1, 3'600'000)) u.reconnect_max_ms = static_cast<std::uint32_t>(*n);
      } else if (key == "rate_limit") {
        if (auto n = integer(v, kp, 0, 10'000'000)) u.rate_limit = static_cast<std::uint32_t>(*n);
      } else if (key == "stop_timeout_ms") {
        if (auto n = integer(v, kp, 0, 60'000)) u.stop_timeout_ms = static_cast<std::uint32_t>(*n);
      } else if (key == "replay") {
        mapping(v, kp, kUplinkReplayKeys,
                [&](std::string_view k, const YAML::Node& rv, const std::string& rp) {
                  if (k == "order") {
                    if (auto w = word(rv, rp, kReplayOrders)) u.replay.order = *w;
                    return;
                  }
                  char* end = nullptr;
                  const std::string text = rv.IsScalar() ? rv.Scalar() : std::string();
                  const double share = text.empty() ? -1 : std::strtod(text.c_str(), &end);
                  if (text.empty() || end != text.c_str() + text.size() || !(share >= 0.0 && share <= 1.0)) {
                    error(rv.Mark(), rp,
                          "expected a number from 0 to 1 (the share of slots live messages take), got " +
                              describe(rv));
                    return;
                  }
                  u.replay.live_share = share;
                });
      } else if (key == "outbox") {
        mapping(v, kp, kUplinkOutboxKeys,
                [&](std::string_view k, const YAML::Node& o, const std::string& op) {
                  if (k == "max_rows") {
                    if (auto n = integer(o, op, 0, 1'000'000'000)) u.outbox.max_rows = *n;
                  } else if (k == "max_bytes") {
                    if (auto n = byte_size(o, op, 0, 1ull << 44)) u.outbox.max_bytes = *n;
                  } else if (k == "max_age_s") {
                    if (auto n = integer(o, op, 0, kMaxAgeSeconds))
                      u.outbox.max_age_s = static_cast<std::int64_t>(*n);
                  } else if (k == "policy") {
                    if (auto w = word(o, op, kFullPolicies)) u.outbox.policy = *w;
                  }
                });
      }
    });
    if (u.reconnect_max_ms < u.reconnect_min_ms) {
      error(item.Mark(), p, "reconnect_max_ms must not be below reconnect_min_ms");
    }
    if (!has_name) error(item.Mark(), p, "missing key \"name\"");
    if (!has_host) error(item.Mark(), p, "missing key \"host\"");
    // Exactly once across reconnects needs the server to keep our QoS 2 packet ids: a session that
    // survives the connection.
    const bool qos2 =
        u.qos == 2 || std::any_of(u.up.begin(), u.up.end(), [](const RelayUp& r) { return r.qos == 2; });
    if (qos2 && u.clean_start) {
      error(item.Mark(), p, "QoS 2 upstream needs clean_start: false (the server must keep the session)");
    }
    if (u.profile == "netpie") {
      if (u.netpie.appid.empty() || u.netpie.key.empty() || u.netpie.secret.empty()) {
        error(netpie_mark.is_null() ? item.Mark() : netpie_mark, child(p, "netpie"),
              "the netpie profile needs appid, key and secret");
      }
      if (has_mqtt_login) {
        error(item.Mark(), p,
              "client_id, username and password belong to the mqtt profile; the netpie profile logs in "
              "with its token (netpie.key and netpie.secret)");
      }
      if (u.version != "3.1.1")
        error(item.Mark(), child(p, "version"), "the netpie profile speaks MQTT 3.1.1");
      if (!u.netpie.chat_topic.empty() && u.netpie.alias.empty()) {
        error(netpie_mark.is_null() ? item.Mark() : netpie_mark, child(p, "netpie"),
              "chat_topic needs an alias (chat reaches the gateway through its alias)");
      }
    } else if (!netpie_mark.is_null()) {
      error(netpie_mark, child(p, "netpie"), "only for profile: netpie");
    }
    out.push_back(std::move(u));
  }
}

// yaml-cpp 0.7 (Debian 12) cannot be trusted to reject a stray ',' where a document should start:
// LoadAll() loops forever, allocating (jbeder/yaml-cpp#1040, fixed upstream after 0.7 by #1319), and
// Load() returns an empty document, which would pass for "all defaults". The event parser shows the
// stuck state as a second document starting where the first one did, so the stream is walked once
// with a handler that only records where documents start, before Load() builds the one document.
class DocumentStarts final : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override { marks.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
  }
  void OnMapEnd() override {}

  std::vector<YAML::Mark> marks;
};

struct StreamProblem {
  YAML::Mark mark;
  std::string message;
};

// Nothing if `text` holds at most one YAML document; else where and why not. May throw what yaml-cpp
// throws for a syntax error.
std::optional<StreamProblem> check_stream(const std::string& text) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  DocumentStarts starts;
  const std::vector<YAML::Mark>& m = starts.marks;
  while (m.size() < 3 && parser.HandleNextDocument(starts)) {
    if (m.size() >= 2 && m[m.size() - 1].pos == m[m.size() - 2].pos) {
      auto at = static_cast<std::size_t>(m.back().pos);
      std::string_view rest = at < text.size() ? std::string_view(text).substr(at, 1) : std::string_view();
      return StreamProblem{m.back(), "YAML syntax error: unexpected " + quote(rest)};
    }
  }
  if (m.size() > 1) return StreamProblem{m[1], "expected a single YAML document; another one starts here"};
  return std::nullopt;
}

}  // namespace

Config default_config() {
  return Config{};
}

bool is_numeric_address(const std::string& text) {
  return parse_address(text).has_value();
}

std::string Config::locate(const std::string& key) const {
  std::string k = key;
  while (!k.empty()) {
    if (auto it = positions.find(k); it != positions.end()) {
      return source + ":" + std::to_string(it->second.line) + ":" + std::to_string(it->second.column) + ": " +
             key;
    }
    const auto cut = k.find_last_of(".[");
    k.resize(cut == std::string::npos ? 0 : cut);
  }
  return source + ": " + key;
}

Result<Config, LoadError> load_string(const std::string& yaml_text, const std::string& name) {
  Loader loader(name);
  Config config = default_config();
  config.source = name;
  try {
    if (auto problem = check_stream(yaml_text)) {
      loader.error(problem->mark, "", problem->message);
    } else {
      loader.document(YAML::Load(yaml_text), config);
    }
  } catch (const YAML::DeepRecursion& e) {
    // yaml-cpp's own text for this one is "bad file".
    loader.error(e.mark, "",
                 "YAML syntax error: nested more than " + std::to_string(e.depth() - 1) + " levels deep");
  } catch (const YAML::Exception& e) {
    // ParserException and friends carry the position of the offending character.
    loader.error(e.mark, "", "YAML syntax error: " + e.msg);
  } catch (const std::exception& e) {
    loader.error(YAML::Mark::null_mark(), "", std::string("cannot load: ") + e.what());
  } catch (...) {
    loader.error(YAML::Mark::null_mark(), "", "cannot load: unknown error");
  }
  if (loader.failed()) return unexpected(LoadError{loader.report()});
  return config;
}

Result<Config, LoadError> load_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return unexpected(LoadError{path + ": cannot open: " + std::strerror(errno)});
  std::string text;
  char buf[16384];
  std::size_t n = 0;
  bool too_big = false;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
    text.append(buf, n);
    constexpr std::size_t kMaxConfigBytes = 16 * 1024 * 1024;  // far above any real config
    if (text.size() > kMaxConfigBytes) {
      too_big = true;
      break;
    }
  }
  int read_errno = std::ferror(f) ? errno : 0;
  std::fclose(f);
  if (read_errno != 0) return unexpected(LoadError{path + ": cannot read: " + std::strerror(read_errno)});
  if (too_big) return unexpected(LoadError{path + ": cannot read: larger than 16MiB"});
  return load_string(text, path);
}

}  // namespace gw::config
