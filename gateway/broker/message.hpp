// An application message as the broker routes it: immutable once built, shared by every subscriber's
// queue (std::shared_ptr<const Message>), so fan-out copies a pointer, not the payload.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "gateway/base/clock.hpp"
#include "protocols/mqtt/packets.hpp"

namespace gw::broker {

struct Message {
  std::string topic;
  std::string payload;
  std::uint8_t qos = 0;
  bool retain = false;
  // MQTT 5.0 §3.3.2.3: the properties forwarded to subscribers unchanged (payload format, content type,
  // response topic, correlation data, user properties). Null when there are none.
  std::shared_ptr<const mqtt::Properties> props;
  Millis expiry_at = 0;  // monotonic deadline from Message Expiry Interval; 0 = never expires
  // Client id of the publisher, for no-local (MQTT 5.0 §3.8.3.1) and the outbox origin; shared with the
  // connection, so a message does not copy (and, past 15 bytes, allocate) the id. Null for the broker.
  std::shared_ptr<const std::string> sender;

  std::string_view sender_id() const { return sender ? std::string_view(*sender) : std::string_view(); }

  std::size_t memory_size() const { return sizeof(Message) + topic.size() + payload.size(); }
};

using MessagePtr = std::shared_ptr<const Message>;

// Keeps only the properties that travel with a PUBLISH to subscribers; null when none remain.
std::shared_ptr<const mqtt::Properties> forwarded_properties(const mqtt::Properties& in);

}  // namespace gw::broker
