// An application message as the broker routes it: immutable once built, shared by every subscriber's
// queue (std::shared_ptr<const Message>), so fan-out copies a pointer, not the payload.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

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
  std::string sender;    // client id of the publisher, for no-local (MQTT 5.0 §3.8.3.1)

  std::size_t memory_size() const { return sizeof(Message) + topic.size() + payload.size(); }
};

using MessagePtr = std::shared_ptr<const Message>;

// Keeps only the properties that travel with a PUBLISH to subscribers; null when none remain.
std::shared_ptr<const mqtt::Properties> forwarded_properties(const mqtt::Properties& in);

}  // namespace gw::broker
