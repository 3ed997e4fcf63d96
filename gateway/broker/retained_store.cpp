// Implementation of the retained-message trie.
#include "gateway/broker/retained_store.hpp"

#include <map>
#include <string>
#include <vector>

#include "gateway/broker/subscription_trie.hpp"

namespace gw::broker {

struct RetainedStore::Node {
  Node* parent = nullptr;
  std::string level;
  std::map<std::string, std::unique_ptr<Node>, std::less<>> children;
  MessagePtr msg;
  std::int64_t updated_ms = 0;  // wall clock of the last set (unix ms; 0 = unknown)
};

RetainedStore::RetainedStore(std::size_t max_topics)
    : root_(std::make_unique<Node>()), max_topics_(max_topics) {}
RetainedStore::~RetainedStore() = default;

RetainedStore::SetResult RetainedStore::set(const MessagePtr& msg, std::int64_t updated_ms) {
  std::vector<std::string_view> levels;
  split_levels(msg->topic, levels);
  Node* n = root_.get();
  if (msg->payload.empty()) {
    for (auto l : levels) {
      auto it = n->children.find(l);
      if (it == n->children.end()) return SetResult::NothingToClear;
      n = it->second.get();
    }
    if (!n->msg) return SetResult::NothingToClear;
    n->msg.reset();
    --count_;
    while (n != root_.get() && !n->msg && n->children.empty()) {
      Node* p = n->parent;
      p->children.erase(n->level);
      n = p;
    }
    return SetResult::Cleared;
  }
  // Refuse a new topic past the bound before creating any node for it.
  if (count_ >= max_topics_) {
    Node* probe = root_.get();
    for (auto l : levels) {
      auto it = probe ? probe->children.find(l) : decltype(probe->children.end()){};
      probe = (probe && it != probe->children.end()) ? it->second.get() : nullptr;
      if (!probe) break;
    }
    if (!probe || !probe->msg) return SetResult::LimitReached;
  }
  for (auto l : levels) {
    auto it = n->children.find(l);
    if (it == n->children.end()) {
      auto child = std::make_unique<Node>();
      child->parent = n;
      child->level = std::string(l);
      it = n->children.emplace(child->level, std::move(child)).first;
    }
    n = it->second.get();
  }
  bool replaced = static_cast<bool>(n->msg);
  n->msg = msg;
  n->updated_ms = updated_ms;
  if (!replaced) ++count_;
  return replaced ? SetResult::Replaced : SetResult::Stored;
}

namespace {
template <typename NodeT, typename Fn>
void visit_all(const NodeT* n, const Fn& fn) {
  if (n->msg) fn(*n);
  for (const auto& [_, c] : n->children) visit_all(c.get(), fn);
}

template <typename NodeT, typename Fn>
void walk(const NodeT* n, const std::vector<std::string_view>& f, std::size_t i, const Fn& fn) {
  if (i == f.size()) {
    if (n->msg) fn(*n);
    return;
  }
  const bool at_root = n->parent == nullptr;
  if (f[i] == "#") {
    // '#' also matches the parent level itself ("a/#" matches "a").
    if (!at_root && n->msg) fn(*n);
    for (const auto& [level, c] : n->children) {
      if (at_root && !level.empty() && level.front() == '$') continue;  // MQTT 5.0 §4.7.2
      visit_all(c.get(), fn);
    }
    return;
  }
  if (f[i] == "+") {
    for (const auto& [level, c] : n->children) {
      if (at_root && !level.empty() && level.front() == '$') continue;
      walk(c.get(), f, i + 1, fn);
    }
    return;
  }
  auto it = n->children.find(f[i]);
  if (it != n->children.end()) walk(it->second.get(), f, i + 1, fn);
}
}  // namespace

void RetainedStore::match(std::string_view filter, const std::function<void(const MessagePtr&)>& fn) const {
  match_timed(filter, [&](const MessagePtr& m, std::int64_t) { fn(m); });
}

void RetainedStore::match_timed(std::string_view filter,
                                const std::function<void(const MessagePtr&, std::int64_t)>& fn) const {
  std::vector<std::string_view> levels;
  split_levels(filter, levels);
  walk(root_.get(), levels, 0, [&](const Node& n) { fn(n.msg, n.updated_ms); });
}

void RetainedStore::for_each(const std::function<void(const MessagePtr&)>& fn) const {
  visit_all(root_.get(), [&](const Node& n) { fn(n.msg); });
}

std::size_t RetainedStore::expire(Millis now) {
  std::vector<MessagePtr> expired;
  visit_all(root_.get(), [&](const Node& n) {
    if (n.msg->expiry_at != 0 && n.msg->expiry_at <= now) expired.push_back(n.msg);
  });
  for (const auto& m : expired) {
    auto clear = std::make_shared<Message>();
    clear->topic = m->topic;
    set(clear);
  }
  return expired.size();
}

}  // namespace gw::broker
