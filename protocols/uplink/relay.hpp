// Relay rules: how a local topic maps to a cloud topic on the way up, and a cloud topic to a local one
// on the way down. Pure string functions over MQTT topic matching; the daemon's uplink applies them when
// it publishes an outbox row and when a subscribed cloud message arrives.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/base/clock.hpp"

namespace gw::uplink {

// One rule: messages whose topic matches `filter` map to prefix + (topic without the leading `strip`).
// `qos` caps the QoS (up: the publish; down: the subscription). `lane` is the outbox priority lane (up).
struct RelayRule {
  std::string filter;
  std::string strip;
  std::string prefix;
  std::uint8_t qos = 1;
  std::uint8_t lane = 1;
};

// prefix + (topic without strip when it starts with strip). nullopt when the result is not a valid
// topic name (empty, too long), e.g. a topic equal to `strip` with an empty prefix.
std::optional<std::string> rewrite(std::string_view topic, std::string_view strip, std::string_view prefix);

// The first rule whose filter matches `topic`, or nullptr.
const RelayRule* first_match(const std::vector<RelayRule>& rules, std::string_view topic);

struct UpMapping {
  std::string topic;
  std::uint8_t qos = 0;
};
// The cloud topic and QoS for a local message: by the first matching up rule, or, when none matches
// (rows queued through store.outbox.filters, or before a rule changed), `fallback_prefix` + topic at
// most `fallback_qos`. nullopt: the rewrite gives no valid topic (the caller refuses the row).
std::optional<UpMapping> map_up(const std::vector<RelayRule>& rules, std::string_view fallback_prefix,
                                std::uint8_t fallback_qos, std::string_view local_topic, std::uint8_t qos);

// The local topic for a cloud message: by the first matching down rule. nullopt: no rule matches (the
// message is not for us) or the rewrite gives no valid topic.
std::optional<std::string> map_down(const std::vector<RelayRule>& rules, std::string_view cloud_topic);

// Messages this gateway sent up, remembered so that the same message coming back down a subscription of
// ours (MQTT 3.1.1 has no no-local) is recognised as an echo. Keeps a hash of topic and payload for at
// most `window_ms`, and at most `capacity` of them: past it the oldest is forgotten (its echo, if it still
// comes, is then delivered as new).
class EchoFilter {
 public:
  EchoFilter(std::size_t capacity, Millis window_ms) : capacity_(capacity), window_ms_(window_ms) {}
  void sent(std::string_view topic, std::string_view payload, Millis now);
  // True once per remembered message: the echo is consumed.
  bool is_echo(std::string_view topic, std::string_view payload, Millis now);
  std::size_t size() const { return sent_.size(); }

 private:
  struct Sent {
    std::uint64_t hash;
    Millis at;
  };
  std::size_t capacity_;
  Millis window_ms_;
  std::deque<Sent> sent_;  // oldest first
};

}  // namespace gw::uplink
