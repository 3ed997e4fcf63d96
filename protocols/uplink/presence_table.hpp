// Which local devices have a retained presence message upstream (uplinks[].presence.devices), bounded by
// uplinks[].presence.max_retained so that generated client ids, which never come back, cannot pile up
// retained topics at the cloud. A device leaves the table when its session ends for good (the uplink
// clears its topic). When a device not in the table would take a place past the bound, the full policy
// decides: `evict_oldest_absent` clears the retained presence of the device that has been absent longest
// and takes its place (with every counted device online, the new one goes up not retained);
// `unretained` keeps the table as it is and the new device's events go up not retained. Pure logic: the
// uplink publishes what it decides.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace gw::uplink {

enum class PresenceFullPolicy { EvictOldestAbsent, Unretained };

// "evict_oldest_absent" | "unretained"; nullopt for anything else.
std::optional<PresenceFullPolicy> parse_presence_full_policy(std::string_view name);

class PresenceTable {
 public:
  PresenceTable(std::size_t max_retained, PresenceFullPolicy policy);

  struct Decision {
    bool retain = false;  // publish this event retained (false: the table is full, it goes up plain)
    std::string evicted;  // "" or a device whose retained presence must be cleared first (it left the table)
  };
  // `client_id` has a presence event to retain; `online`: whether the device is connected after it.
  Decision retain(const std::string& client_id, bool online);
  // The device's retained presence is cleared (its session ended for good). True when it was counted.
  bool forget(const std::string& client_id);

  std::size_t size() const { return entries_.size(); }
  std::size_t max_retained() const { return max_; }
  std::uint64_t evicted() const { return evicted_; }

 private:
  struct Entry {
    bool online = false;
    std::uint64_t absent_since = 0;  // key in absent_ while not online
  };
  std::size_t max_;
  PresenceFullPolicy policy_;
  std::unordered_map<std::string, Entry> entries_;
  std::map<std::uint64_t, std::string> absent_;  // absent devices by when they went absent, oldest first
  std::uint64_t seq_ = 0;
  std::uint64_t evicted_ = 0;
};

}  // namespace gw::uplink
