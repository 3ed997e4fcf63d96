// Broker counters, published under $SYS/broker/... and read by tests and the benchmark. They add up:
// every message accepted is delivered, queued, expired or dropped for a named reason.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gw::broker {

enum class DropReason : std::uint8_t {
  QueueFull,       // a session's queue was at max_queued_messages/bytes (policy drop_oldest/drop_new)
  SlowConsumer,    // QoS 0 to a connection over its write high watermark (policy drop_qos0)
  OfflineQos0,     // QoS 0 for a persistent session that is not connected (not queued, MQTT 3.1.1 §4.4)
  Expired,         // MQTT 5 message expiry passed before delivery
  TooLarge,        // larger than the subscriber's Maximum Packet Size (MQTT 5.0 §3.1.2.11.4)
  NotAuthorized,   // publish refused by the authorization hook
  RetainedLimit,   // a new retained topic past max_retained
  SessionExpired,  // queued messages discarded with their expired session
  Refused,         // refused before routing (outbox full under reject_new ...): delivered nowhere
  // A persistent session's stored queue at store.session_queue.max_rows/max_bytes:
  SessionQueueOldest,    // drop_oldest dropped its oldest queued message
  SessionQueueRejected,  // reject_new refused the publish (v5 PUBACK 0x97, 3.1.1 none) or a will
  kCount,
};

constexpr std::string_view drop_reason_name(DropReason r) {
  switch (r) {
    case DropReason::QueueFull:
      return "queue_full";
    case DropReason::SlowConsumer:
      return "slow_consumer";
    case DropReason::OfflineQos0:
      return "offline_qos0";
    case DropReason::Expired:
      return "expired";
    case DropReason::TooLarge:
      return "too_large";
    case DropReason::NotAuthorized:
      return "not_authorized";
    case DropReason::RetainedLimit:
      return "retained_limit";
    case DropReason::SessionExpired:
      return "session_expired";
    case DropReason::Refused:
      return "refused";
    case DropReason::SessionQueueOldest:
      return "session_queue_oldest";
    case DropReason::SessionQueueRejected:
      return "session_queue_rejected";
    case DropReason::kCount:
      break;
  }
  return "unknown";
}

// MQTT connections and messages per listener protocol: Transport::protocol() names it ("mqtt" for
// TCP; a TLS or WebSocket transport overrides protocol() and gets its own row). The operator's metrics
// (gateway/ops) label by it.
struct ProtocolStats {
  std::string name;
  std::uint64_t connected = 0;              // connections past CONNECT now
  std::uint64_t connects = 0;               // CONNECTs accepted
  std::array<std::uint64_t, 3> received{};  // PUBLISH packets from clients, by QoS
  std::array<std::uint64_t, 3> sent{};      // PUBLISH packets to clients, by QoS
};
inline constexpr std::size_t kMaxProtocols = 16;  // names past it share the last row ("other")

struct Stats {
  std::vector<ProtocolStats> protocols{ProtocolStats{"mqtt"}};
  // The row of a protocol name, added on first use (a handful: one per transport kind).
  std::uint8_t protocol_index(std::string_view name) {
    for (std::size_t i = 0; i < protocols.size(); ++i) {
      if (protocols[i].name == name) return static_cast<std::uint8_t>(i);
    }
    if (protocols.size() + 1 >= kMaxProtocols) {
      if (protocols.size() + 1 == kMaxProtocols) protocols.push_back(ProtocolStats{"other"});
      return static_cast<std::uint8_t>(kMaxProtocols - 1);
    }
    protocols.push_back(ProtocolStats{std::string(name)});
    return static_cast<std::uint8_t>(protocols.size() - 1);
  }
  std::uint64_t connections_accepted = 0;
  std::uint64_t connections_refused = 0;  // CONNACK with a failure code, or over max_connections
  std::uint64_t protocol_errors = 0;      // connections closed for malformed input or violations
  std::uint64_t keepalive_timeouts = 0;
  std::uint64_t messages_received = 0;  // PUBLISH packets from clients
  std::uint64_t messages_sent = 0;      // PUBLISH packets to clients
  std::uint64_t bytes_received = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t wills_published = 0;
  // QoS 1/2 PUBLISH not acknowledged (or refused) because a store write failed.
  std::uint64_t store_refusals = 0;
  // We stopped reading from a client: it did not read its acks (output over twice the watermark), or
  // it published to a subscriber with no room (flow control, counted in flow_paused too).
  std::uint64_t reads_paused = 0;
  // Flow control (README "What an acknowledgement promises"): publishers paused because a subscriber's
  // queue was full, PUBACK/PUBREC held until it had room, subscribers disconnected for holding
  // publishers back longer than limits.slow_subscriber_timeout.
  std::uint64_t flow_paused = 0;
  std::uint64_t acks_withheld = 0;
  std::uint64_t slow_subscribers = 0;
  std::array<std::uint64_t, static_cast<std::size_t>(DropReason::kCount)> dropped{};

  void drop(DropReason r, std::uint64_t n = 1) { dropped[static_cast<std::size_t>(r)] += n; }
  std::uint64_t dropped_of(DropReason r) const { return dropped[static_cast<std::size_t>(r)]; }
};

}  // namespace gw::broker
