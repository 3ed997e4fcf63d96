// Implementation of the bounded table of devices with retained presence upstream: a map from client id
// to its state, and an ordered index of the absent ones so the longest absent is found in O(log n).
#include "protocols/uplink/presence_table.hpp"

namespace gw::uplink {

std::optional<PresenceFullPolicy> parse_presence_full_policy(std::string_view name) {
  if (name == "evict_oldest_absent") return PresenceFullPolicy::EvictOldestAbsent;
  if (name == "unretained") return PresenceFullPolicy::Unretained;
  return std::nullopt;
}

PresenceTable::PresenceTable(std::size_t max_retained, PresenceFullPolicy policy)
    : max_(max_retained), policy_(policy) {}

PresenceTable::Decision PresenceTable::retain(const std::string& client_id, bool online) {
  Decision d;
  auto it = entries_.find(client_id);
  if (it == entries_.end()) {
    if (entries_.size() >= max_) {
      if (policy_ != PresenceFullPolicy::EvictOldestAbsent || absent_.empty()) return d;
      auto oldest = absent_.begin();
      d.evicted = std::move(oldest->second);
      entries_.erase(d.evicted);
      absent_.erase(oldest);
      ++evicted_;
    }
    it = entries_.emplace(client_id, Entry{}).first;
    it->second.online = true;  // so the update below files it as absent when it is
  }
  Entry& e = it->second;
  if (!e.online) absent_.erase(e.absent_since);
  e.online = online;
  if (!online) {
    e.absent_since = ++seq_;
    absent_.emplace(e.absent_since, client_id);
  }
  d.retain = true;
  return d;
}

bool PresenceTable::forget(const std::string& client_id) {
  auto it = entries_.find(client_id);
  if (it == entries_.end()) return false;
  if (!it->second.online) absent_.erase(it->second.absent_since);
  entries_.erase(it);
  return true;
}

}  // namespace gw::uplink
