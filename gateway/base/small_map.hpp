// A map over an unsorted std::vector for the few entries a connection or session holds (open QoS 2
// exchanges, ...): 24 bytes and no allocation while empty, linear lookup over a handful of entries.
// Iterators are invalidated by insertion and erasure, as with std::vector.
#pragma once

#include <algorithm>
#include <utility>
#include <vector>

namespace gw {

template <typename K, typename V>
class SmallMap {
 public:
  using value_type = std::pair<K, V>;
  using iterator = typename std::vector<value_type>::iterator;

  iterator begin() { return v_.begin(); }
  iterator end() { return v_.end(); }
  std::size_t size() const { return v_.size(); }
  bool empty() const { return v_.empty(); }

  iterator find(const K& k) {
    return std::find_if(v_.begin(), v_.end(), [&](const value_type& e) { return e.first == k; });
  }
  bool contains(const K& k) const {
    return std::any_of(v_.begin(), v_.end(), [&](const value_type& e) { return e.first == k; });
  }
  V& operator[](const K& k) {
    auto it = find(k);
    if (it != v_.end()) return it->second;
    v_.emplace_back(k, V{});
    return v_.back().second;
  }
  void erase(iterator it) {
    *it = std::move(v_.back());
    v_.pop_back();
    if (v_.empty()) std::vector<value_type>().swap(v_);
  }

 private:
  std::vector<value_type> v_;
};

}  // namespace gw
