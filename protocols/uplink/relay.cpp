#include "protocols/uplink/relay.hpp"

#include <algorithm>

#include "protocols/mqtt/topic.hpp"

namespace gw::uplink {

std::optional<std::string> rewrite(std::string_view topic, std::string_view strip, std::string_view prefix) {
  if (!strip.empty() && topic.substr(0, strip.size()) == strip) topic.remove_prefix(strip.size());
  std::string out;
  out.reserve(prefix.size() + topic.size());
  out.append(prefix).append(topic);
  if (!mqtt::is_valid_topic_name(out)) return std::nullopt;
  return out;
}

const RelayRule* first_match(const std::vector<RelayRule>& rules, std::string_view topic) {
  auto it = std::find_if(rules.begin(), rules.end(),
                         [&](const RelayRule& r) { return mqtt::topic_matches(r.filter, topic); });
  return it == rules.end() ? nullptr : &*it;
}

std::optional<UpMapping> map_up(const std::vector<RelayRule>& rules, std::string_view fallback_prefix,
                                std::uint8_t fallback_qos, std::string_view local_topic, std::uint8_t qos) {
  const RelayRule* r = first_match(rules, local_topic);
  auto topic = r ? rewrite(local_topic, r->strip, r->prefix) : rewrite(local_topic, {}, fallback_prefix);
  if (!topic) return std::nullopt;
  return UpMapping{std::move(*topic), std::min(qos, r ? r->qos : fallback_qos)};
}

std::optional<std::string> map_down(const std::vector<RelayRule>& rules, std::string_view cloud_topic) {
  const RelayRule* r = first_match(rules, cloud_topic);
  if (r == nullptr) return std::nullopt;
  return rewrite(cloud_topic, r->strip, r->prefix);
}

namespace {

// FNV-1a over topic, a NUL and payload: a collision costs one wrongly dropped or kept message.
std::uint64_t message_hash(std::string_view topic, std::string_view payload) {
  std::uint64_t h = 1469598103934665603ull;
  auto mix = [&](std::string_view s) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  };
  mix(topic);
  mix(std::string_view("\0", 1));
  mix(payload);
  return h;
}

}  // namespace

void EchoFilter::sent(std::string_view topic, std::string_view payload, Millis now) {
  while (!sent_.empty() && (sent_.size() >= capacity_ || now - sent_.front().at > window_ms_))
    sent_.pop_front();
  if (capacity_ > 0) sent_.push_back(Sent{message_hash(topic, payload), now});
}

bool EchoFilter::is_echo(std::string_view topic, std::string_view payload, Millis now) {
  const std::uint64_t h = message_hash(topic, payload);
  auto it = std::find_if(sent_.begin(), sent_.end(),
                         [&](const Sent& s) { return s.hash == h && now - s.at <= window_ms_; });
  if (it == sent_.end()) return false;
  sent_.erase(it);
  return true;
}

}  // namespace gw::uplink
