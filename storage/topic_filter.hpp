// MQTT topic-filter matching for the history configuration (MQTT 5.0 §4.7): '+' matches one level,
// '#' the rest (including the parent level), and a filter starting with a wildcard does not match a
// topic starting with '$'. A small pure copy of the rule so storage does not depend on protocols/.
#pragma once

#include <string_view>

namespace gw::storage {

bool topic_matches(std::string_view filter, std::string_view topic);
bool has_wildcard(std::string_view filter);

}  // namespace gw::storage
