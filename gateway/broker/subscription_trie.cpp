// Implementation of the subscription trie. Nodes own their children; empty nodes are pruned on removal
// so the trie does not grow with churn.
#include "gateway/broker/subscription_trie.hpp"

#include <algorithm>
#include <cstddef>

#include "protocols/mqtt/topic.hpp"

namespace gw::broker {

namespace {
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
}  // namespace

struct SubscriptionTrie::Node {
  Node* parent = nullptr;
  std::string level;
  std::unordered_map<std::string, std::unique_ptr<Node>, StringHash, std::equal_to<>> children;
  std::unique_ptr<Node> plus;
  std::unique_ptr<Node> hash;
  std::vector<SubEntry> entries;
  std::vector<SharedGroup> groups;

  bool empty() const { return children.empty() && !plus && !hash && entries.empty() && groups.empty(); }
  Node* child(std::string_view l) {
    if (l == "+") return plus.get();
    if (l == "#") return hash.get();
    auto it = children.find(l);
    return it == children.end() ? nullptr : it->second.get();
  }
};

void split_levels(std::string_view topic, std::vector<std::string_view>& out) {
  out.clear();
  std::size_t start = 0;
  while (true) {
    std::size_t slash = topic.find('/', start);
    if (slash == std::string_view::npos) {
      out.push_back(topic.substr(start));
      return;
    }
    out.push_back(topic.substr(start, slash - start));
    start = slash + 1;
  }
}

std::size_t SubscriptionTrie::cost(std::string_view filter) {
  // Built from the types themselves, so the bound holds on 32- and 64-bit targets alike (armhf's
  // allocations are about half x86-64's). Every allocation is charged malloc's worst case on top: a size
  // word and the rounding to its alignment.
  constexpr std::size_t kAlloc = sizeof(std::size_t) + alignof(std::max_align_t) - 1;
  // Per level: the Node; its entry in the parent's map (next pointer, key, value, cached hash); the
  // bucket array a map allocates at its first insert (13 buckets in libstdc++).
  constexpr std::size_t kMapEntry =
      sizeof(void*) + sizeof(std::string) + sizeof(std::unique_ptr<Node>) + sizeof(std::size_t);
  constexpr std::size_t kPerLevel = sizeof(Node) + kMapEntry + 13 * sizeof(void*) + 3 * kAlloc;
  // The subscription: its entry in the node's vector, and the session's map node for the filter.
  constexpr std::size_t kPerSubscription = sizeof(SubEntry) + 128;
  // A string too long for the inline buffer is allocated: each level's name twice (the map's key and
  // Node::level), the filter once (the session's key).
  const std::size_t inline_chars = std::string().capacity();
  auto heap = [&](std::size_t chars) { return chars > inline_chars ? chars + 1 + kAlloc : 0; };
  std::size_t total = kPerSubscription + heap(filter.size());
  std::size_t start = 0;
  while (true) {
    const std::size_t slash = filter.find('/', start);
    const std::size_t end = slash == std::string_view::npos ? filter.size() : slash;
    total += kPerLevel + 2 * heap(end - start);
    if (slash == std::string_view::npos) return total;
    start = slash + 1;
  }
}

SubscriptionTrie::SubscriptionTrie() : root_(std::make_unique<Node>()) {}
SubscriptionTrie::~SubscriptionTrie() = default;

SubscriptionTrie::Node* SubscriptionTrie::find_or_create(std::string_view filter) {
  Node* n = root_.get();
  std::size_t start = 0;
  while (true) {
    std::size_t slash = filter.find('/', start);
    std::string_view l =
        filter.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    std::unique_ptr<Node>* slot;
    if (l == "+") {
      slot = &n->plus;
    } else if (l == "#") {
      slot = &n->hash;
    } else {
      auto it = n->children.find(l);
      if (it == n->children.end()) it = n->children.emplace(std::string(l), nullptr).first;
      slot = &it->second;
    }
    if (!*slot) {
      *slot = std::make_unique<Node>();
      (*slot)->parent = n;
      (*slot)->level = std::string(l);
    }
    n = slot->get();
    if (slash == std::string_view::npos) return n;
    start = slash + 1;
  }
}

bool SubscriptionTrie::add(std::string_view filter, const SubEntry& entry) {
  std::string_view group_name;
  if (auto shared = mqtt::parse_shared(filter)) {
    group_name = shared->group;
    filter = shared->filter;
  }
  Node* n = find_or_create(filter);
  std::vector<SubEntry>* list = &n->entries;
  if (!group_name.empty()) {
    auto g = std::find_if(n->groups.begin(), n->groups.end(),
                          [&](const SharedGroup& x) { return x.name == group_name; });
    if (g == n->groups.end()) {
      n->groups.push_back(SharedGroup{std::string(group_name), {}, 0});
      g = n->groups.end() - 1;
    }
    list = &g->members;
  }
  for (auto& e : *list) {
    if (e.session == entry.session) {
      e = entry;
      return false;
    }
  }
  list->push_back(entry);
  ++count_;
  return true;
}

bool SubscriptionTrie::remove(std::string_view filter, const Session* session) {
  std::string_view group_name;
  if (auto shared = mqtt::parse_shared(filter)) {
    group_name = shared->group;
    filter = shared->filter;
  }
  Node* n = root_.get();
  std::size_t start = 0;
  while (n) {
    std::size_t slash = filter.find('/', start);
    n = n->child(
        filter.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  if (!n) return false;
  bool removed = false;
  auto erase_from = [&](std::vector<SubEntry>& list) {
    auto it = std::find_if(list.begin(), list.end(), [&](const SubEntry& e) { return e.session == session; });
    if (it == list.end()) return;
    list.erase(it);
    removed = true;
  };
  if (group_name.empty()) {
    erase_from(n->entries);
  } else {
    auto g = std::find_if(n->groups.begin(), n->groups.end(),
                          [&](const SharedGroup& x) { return x.name == group_name; });
    if (g != n->groups.end()) {
      erase_from(g->members);
      if (g->members.empty()) n->groups.erase(g);
    }
  }
  if (!removed) return false;
  --count_;
  // Prune empty nodes up to the root.
  while (n != root_.get() && n->empty()) {
    Node* p = n->parent;
    if (p->plus.get() == n) {
      p->plus.reset();
    } else if (p->hash.get() == n) {
      p->hash.reset();
    } else {
      p->children.erase(n->level);
    }
    n = p;
  }
  return true;
}

namespace {
using EntryFn = std::function<void(const SubEntry&)>;
using GroupFn = std::function<void(SharedGroup&)>;

template <typename NodeT>
void emit(NodeT* n, const EntryFn& on_entry, const GroupFn& on_group) {
  for (const auto& e : n->entries) on_entry(e);
  for (auto& g : n->groups) on_group(g);
}

template <typename NodeT>
void walk(NodeT* n, const std::vector<std::string_view>& levels, std::size_t i, bool dollar,
          const EntryFn& on_entry, const GroupFn& on_group) {
  // A '#' child matches this level and everything below, including the parent level itself
  // ("sport/#" matches "sport", MQTT 5.0 §4.7.1.2), except at the root of a '$' topic.
  if (n->hash && !(dollar && i == 0)) emit(n->hash.get(), on_entry, on_group);
  if (i == levels.size()) {
    emit(n, on_entry, on_group);
    return;
  }
  if (n->plus && !(dollar && i == 0)) walk(n->plus.get(), levels, i + 1, dollar, on_entry, on_group);
  auto it = n->children.find(levels[i]);
  if (it != n->children.end()) walk(it->second.get(), levels, i + 1, dollar, on_entry, on_group);
}
}  // namespace

void SubscriptionTrie::match(std::string_view topic, const EntryFn& on_entry, const GroupFn& on_group) {
  thread_local std::vector<std::string_view> levels;
  split_levels(topic, levels);
  bool dollar = !topic.empty() && topic.front() == '$';
  walk(root_.get(), levels, 0, dollar, on_entry, on_group);
}

}  // namespace gw::broker
