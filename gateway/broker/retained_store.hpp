// Retained messages (MQTT 5.0 §3.3.1.3): one per topic, replaced by a newer one, cleared by an empty
// payload. Kept in a trie over topic levels so a wildcard SUBSCRIBE visits only the branches it matches.
// Bounded by max_retained topics; a new topic past the bound is refused and counted by the caller.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

#include "gateway/broker/message.hpp"

namespace gw::broker {

class RetainedStore {
 public:
  explicit RetainedStore(std::size_t max_topics);
  ~RetainedStore();

  enum class SetResult { Stored, Replaced, Cleared, NothingToClear, LimitReached };
  // Stores msg for msg->topic, set at `updated_ms` (unix ms, 0 = unknown: REST's lastUpdated); an empty
  // payload removes the retained message of that topic.
  SetResult set(const MessagePtr& msg, std::int64_t updated_ms = 0);
  // Visits every retained message whose topic matches `filter` (a non-shared, valid filter).
  void match(std::string_view filter, const std::function<void(const MessagePtr&)>& fn) const;
  // The same, with the time each was set.
  void match_timed(std::string_view filter,
                   const std::function<void(const MessagePtr&, std::int64_t)>& fn) const;
  // Visits all retained messages (for persistence and $SYS).
  void for_each(const std::function<void(const MessagePtr&)>& fn) const;
  // Drops expired messages (MQTT 5 message expiry); returns how many.
  std::size_t expire(Millis now);
  std::size_t size() const { return count_; }
  // A lower bound than size() keeps what is stored and refuses new topics until it fits (reload).
  void set_max_topics(std::size_t max_topics) { max_topics_ = max_topics; }

 private:
  struct Node;
  std::unique_ptr<Node> root_;
  std::size_t max_topics_;
  std::size_t count_ = 0;
};

}  // namespace gw::broker
