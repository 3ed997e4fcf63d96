// Topic names and filters (MQTT 3.1.1 §4.7, MQTT 5.0 §4.7-§4.8): validation, matching, and
// shared-subscription parsing. Pure functions.
#pragma once

#include <optional>
#include <string_view>

namespace gw::mqtt {

// Well-formed UTF-8 with no U+0000 and no UTF-16 surrogates (MQTT 5.0 §1.5.4). Control characters
// U+0001..U+001F and U+007F..U+009F are allowed (the spec says "should not", not "must not").
bool is_valid_utf8(std::string_view s);

// Whether a well-formed UTF-8 string holds a control character, U+0001..U+001F or U+007F..U+009F.
// MQTT 5.0 §1.5.4 lets a receiver refuse them; topics and client ids with one are refused, as
// Mosquitto does.
bool has_control_character(std::string_view s);

// A topic name for PUBLISH: non-empty, at most 65,535 bytes, valid UTF-8 without control characters,
// no '+' or '#'.
bool is_valid_topic_name(std::string_view topic);

// A topic filter: non-empty, valid UTF-8 without control characters, '#' only as the whole last level,
// '+' only as a whole level. Shared filters ($share/<group>/<filter>) are valid when the group is
// non-empty without '+', '#', '/' and the inner filter is valid.
bool is_valid_filter(std::string_view filter);

// Whether a topic name or filter has at most `max_levels` levels ("a/b" has two, "" one) and at most
// `max_length` bytes. The broker's configurable shape bound (limits.max_topic_levels / max_topic_length).
bool within_topic_bounds(std::string_view topic, std::size_t max_levels, std::size_t max_length);

struct SharedFilter {
  std::string_view group;
  std::string_view filter;
};
// Splits "$share/group/filter"; nullopt when `filter` is not a shared subscription.
std::optional<SharedFilter> parse_shared(std::string_view filter);

// Whether a (non-shared, valid) filter matches a topic name. A filter starting with '+' or '#' does not
// match a topic starting with '$' (MQTT 5.0 §4.7.2).
bool topic_matches(std::string_view filter, std::string_view topic);

}  // namespace gw::mqtt
