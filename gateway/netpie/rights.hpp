// What a microgear may publish and subscribe to (docs/netpie-protocol.md §2 "Scope", §7): its own
// application's topics within its key's rights, plus the control topics every official library uses
// (&present, &absent, the &id subscription, @setalias, the postbox commands). Pure functions over topic
// strings.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "gateway/netpie/registry.hpp"

namespace gw::netpie {

// Whether every topic `requested` can match is matched by `allowed` (both valid, non-shared filters):
// "/a/#" covers "/a/+/b" and "/a"; "/a/+" covers "/a/b" but not "/a/#".
bool filter_covers(std::string_view allowed, std::string_view requested);
// Whether one of `filters` matches the topic name / covers the filter.
bool covered_topic(const std::vector<std::string>& filters, std::string_view topic);
bool filter_covers_any(const std::vector<std::string>& filters, std::string_view filter);

// A microgear of `appid` with `rights` publishing `topic`. Refused: another app's topics, presence and
// other '&' topics (only the gateway writes them), and what the rights do not cover. Postbox commands
// count as publish (@writepostbox) and subscribe (@readpostbox) on "/<appid>/@postbox/<box>".
bool may_publish(std::string_view appid, const Rights& rights, std::string_view topic);

// A microgear subscribing `filter`: its app's &present/&absent, an &id subscription (Node and Python
// use "/&id/<token>/#", ESP8266 and C# "/<appid>/&id/<token>/#", HTML5 "/&id/undefined/#"), or a
// filter inside its app covered by the rights.
bool may_subscribe(std::string_view appid, const Rights& rights, std::string_view filter);

}  // namespace gw::netpie
