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

}  // namespace gw::uplink
