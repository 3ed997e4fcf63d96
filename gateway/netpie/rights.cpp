// Rights checks for microgears (see rights.hpp). Topic levels are compared as strings; filters were
// validated by the config loader and the broker before they get here.
#include "gateway/netpie/rights.hpp"

#include <string>
#include <vector>

#include "protocols/mqtt/topic.hpp"

namespace gw::netpie {

namespace {

std::vector<std::string_view> levels(std::string_view s) {
  std::vector<std::string_view> out;
  while (true) {
    const std::size_t slash = s.find('/');
    out.push_back(s.substr(0, slash));
    if (slash == std::string_view::npos) break;
    s.remove_prefix(slash + 1);
  }
  return out;
}

bool has_wildcard(std::string_view s) {
  return s.find_first_of("+#") != std::string_view::npos;
}

// "<prefix><x>/#" with a single, wildcard-free level x.
bool is_id_subscription(std::string_view filter, std::string_view prefix) {
  if (filter.substr(0, prefix.size()) != prefix) return false;
  filter.remove_prefix(prefix.size());
  if (filter.size() < 3 || filter.substr(filter.size() - 2) != "/#") return false;
  filter.remove_suffix(2);
  return !filter.empty() && filter.find('/') == std::string_view::npos && !has_wildcard(filter);
}

}  // namespace

bool covered_topic(const std::vector<std::string>& filters, std::string_view topic) {
  for (const auto& f : filters) {
    if (mqtt::topic_matches(f, topic)) return true;
  }
  return false;
}

bool filter_covers_any(const std::vector<std::string>& filters, std::string_view filter) {
  for (const auto& f : filters) {
    if (filter_covers(f, filter)) return true;
  }
  return false;
}

bool filter_covers(std::string_view allowed, std::string_view requested) {
  const auto a = levels(allowed);
  const auto r = levels(requested);
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i] == "#") return true;  // the rest, including nothing (MQTT 3.1.1 §4.7.1.2)
    if (i >= r.size()) return false;
    if (a[i] == "+") {
      if (r[i] == "#") return false;
      continue;
    }
    if (r[i] != a[i]) return false;
  }
  return r.size() == a.size();
}

bool may_publish(std::string_view appid, const Rights& rights, std::string_view topic) {
  const std::string prefix = "/" + std::string(appid) + "/";
  if (topic.substr(0, prefix.size()) != prefix) return false;
  const std::string_view rest = topic.substr(prefix.size());
  if (rest.empty() || rest.front() == '&') return false;
  constexpr std::string_view kWrite = "@writepostbox/";
  constexpr std::string_view kRead = "@readpostbox/";
  if (rest.substr(0, kWrite.size()) == kWrite) {
    return covered_topic(rights.publish, prefix + "@postbox/" + std::string(rest.substr(kWrite.size())));
  }
  if (rest.substr(0, kRead.size()) == kRead) {
    return covered_topic(rights.subscribe, prefix + "@postbox/" + std::string(rest.substr(kRead.size())));
  }
  if (rest.front() == '@') return true;  // @setalias and the other commands: the gateway answers them
  return covered_topic(rights.publish, topic);
}

bool may_subscribe(std::string_view appid, const Rights& rights, std::string_view filter) {
  const std::string prefix = "/" + std::string(appid) + "/";
  if (filter == prefix + "&present" || filter == prefix + "&absent") return true;
  if (is_id_subscription(filter, "/&id/") || is_id_subscription(filter, prefix + "&id/")) return true;
  if (filter.substr(0, prefix.size()) != prefix) return false;
  return filter_covers_any(rights.subscribe, filter);
}

}  // namespace gw::netpie
