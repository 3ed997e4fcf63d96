// The subscription index: a trie over topic levels with `+` and `#` children and, per node, the plain
// subscriptions and the shared-subscription groups ($share/<group>/<filter>, MQTT 5.0 §4.8.2).
// Matching walks the topic's levels once; filters starting with a wildcard never match `$` topics
// (MQTT 5.0 §4.7.2). It stores session pointers; the broker removes a session's entries before freeing it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "protocols/mqtt/packets.hpp"

namespace gw::broker {

class Session;

struct SubEntry {
  Session* session = nullptr;
  mqtt::SubscribeOptions options;
  std::uint32_t subscription_id = 0;  // 0 = none
};

struct SharedGroup {
  std::string name;
  std::vector<SubEntry> members;
  std::size_t next = 0;  // round-robin cursor
};

class SubscriptionTrie {
 public:
  SubscriptionTrie();
  ~SubscriptionTrie();
  SubscriptionTrie(const SubscriptionTrie&) = delete;
  SubscriptionTrie& operator=(const SubscriptionTrie&) = delete;

  // Adds or replaces the subscription of `entry.session` on `filter` (which may be a $share filter).
  // Returns true when it did not exist before (MQTT 5.0 retain handling 1 needs to know).
  bool add(std::string_view filter, const SubEntry& entry);
  // Returns true when the subscription existed.
  bool remove(std::string_view filter, const Session* session);

  // Calls on_entry for each plain subscription matching `topic`, and on_group for each shared group
  // with at least one member matching it. Callbacks must not modify the trie.
  void match(std::string_view topic, const std::function<void(const SubEntry&)>& on_entry,
             const std::function<void(SharedGroup&)>& on_group);

  std::size_t size() const { return count_; }

  // Memory one subscription on `filter` may cost the trie, as if it shared no node: per level a node
  // with its entry and bucket array in the parent's map, and the level's name twice, from the sizes of
  // the types on the target (32- or 64-bit). An upper bound, checked against the allocator in
  // subscription_trie_test; sessions are charged it (issue 11).
  static std::size_t cost(std::string_view filter);

 private:
  struct Node;
  Node* find_or_create(std::string_view filter);
  std::unique_ptr<Node> root_;
  std::size_t count_ = 0;
};

// Splits a topic or filter into its levels ("a//b" -> "a", "", "b").
void split_levels(std::string_view topic, std::vector<std::string_view>& out);

}  // namespace gw::broker
