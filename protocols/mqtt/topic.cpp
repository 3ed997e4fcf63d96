// Topic names and filters (MQTT 3.1.1 §4.7, MQTT 5.0 §4.7-§4.8): validation, matching of one filter
// against one name, and splitting of shared-subscription filters. The broker's subscription trie does
// its own walk; topic_matches is the reference it is tested against and what retained-message lookups
// use. Pure and allocation-free.
#include <cstring>
#include <optional>
#include <string_view>

#include "protocols/mqtt/topic.hpp"

namespace gw::mqtt {

namespace {

constexpr std::size_t kMaxTopicBytes = 65'535;  // a UTF-8 Encoded String's length field is 16 bits
constexpr std::string_view kSharePrefix = "$share/";

// Two memchr scans are much faster than find_first_of, which tests every byte against the set.
bool has_wildcard(std::string_view s) {
  return std::memchr(s.data(), '+', s.size()) != nullptr || std::memchr(s.data(), '#', s.size()) != nullptr;
}

// A filter without the $share prefix handling. MQTT 5.0 §4.7.1: '#' must be a whole level and the last
// one; '+' must be a whole level. Empty levels ("a//b", "/a", "a/") are allowed.
bool is_valid_plain_filter(std::string_view f) {
  if (f.empty() || f.size() > kMaxTopicBytes) return false;
  const std::size_t n = f.size();
  for (std::size_t i = 0; i < n; ++i) {
    const char c = f[i];
    if (c != '+' && c != '#') continue;
    const bool starts_level = i == 0 || f[i - 1] == '/';
    if (!starts_level) return false;
    if (c == '#') {
      if (i + 1 != n) return false;
    } else if (i + 1 != n && f[i + 1] != '/') {
      return false;
    }
  }
  return is_valid_utf8(f) && !has_control_character(f);
}

}  // namespace

bool is_valid_topic_name(std::string_view topic) {
  // MQTT 5.0 §4.7.3: at least one character; §4.7.1: no wildcards in a name.
  if (topic.empty() || topic.size() > kMaxTopicBytes) return false;
  if (has_wildcard(topic)) return false;
  return is_valid_utf8(topic) && !has_control_character(topic);
}

// "$share/" with nothing valid after it is still reported as a shared filter (with an empty group or
// filter), so that is_valid_filter rejects it instead of accepting it as an ordinary filter whose first
// level happens to be "$share" (MQTT 5.0 §4.8.2).
std::optional<SharedFilter> parse_shared(std::string_view filter) {
  if (filter.substr(0, kSharePrefix.size()) != kSharePrefix) return std::nullopt;
  const std::string_view rest = filter.substr(kSharePrefix.size());
  const std::size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return SharedFilter{rest, std::string_view{}};
  return SharedFilter{rest.substr(0, slash), rest.substr(slash + 1)};
}

bool is_valid_filter(std::string_view filter) {
  if (const auto shared = parse_shared(filter)) {
    // MQTT 5.0 §4.8.2: ShareName is at least one character, without '/', '+' or '#'; the filter after
    // it is an ordinary topic filter.
    if (shared->group.empty() || has_wildcard(shared->group)) return false;
    return filter.size() <= kMaxTopicBytes && is_valid_plain_filter(shared->filter) &&
           is_valid_utf8(shared->group) && !has_control_character(shared->group);
  }
  return is_valid_plain_filter(filter);
}

bool within_topic_bounds(std::string_view topic, std::size_t max_levels, std::size_t max_length) {
  if (topic.size() > max_length) return false;
  std::size_t levels = 1;
  for (const char *p = topic.data(), *end = p + topic.size();
       (p = static_cast<const char*>(std::memchr(p, '/', static_cast<std::size_t>(end - p)))) != nullptr;
       ++p) {
    if (++levels > max_levels) return false;
  }
  return true;
}

bool topic_matches(std::string_view filter, std::string_view topic) {
  // MQTT 5.0 §4.7.2: a filter starting with a wildcard does not match a name starting with '$'.
  if (!topic.empty() && topic.front() == '$' && !filter.empty() &&
      (filter.front() == '+' || filter.front() == '#')) {
    return false;
  }
  std::size_t fi = 0;
  std::size_t ti = 0;
  bool topic_done = false;  // every level of the topic has been matched
  for (;;) {
    std::size_t fe = filter.find('/', fi);
    const bool filter_last = fe == std::string_view::npos;
    if (filter_last) fe = filter.size();
    const std::string_view flevel = filter.substr(fi, fe - fi);

    // '#' matches this level and everything under it, and also the parent alone ("sport/#" matches
    // "sport", MQTT 5.0 §4.7.1.2).
    if (flevel == "#") return true;
    if (topic_done) return false;

    std::size_t te = topic.find('/', ti);
    const bool topic_last = te == std::string_view::npos;
    if (topic_last) te = topic.size();
    const std::string_view tlevel = topic.substr(ti, te - ti);

    // '+' matches exactly one level, including an empty one.
    if (flevel != "+" && flevel != tlevel) return false;
    if (filter_last) return topic_last;

    fi = fe + 1;
    if (topic_last) {
      topic_done = true;
    } else {
      ti = te + 1;
    }
  }
}

}  // namespace gw::mqtt
