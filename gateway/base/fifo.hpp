// A FIFO over a std::vector with a moving head: no allocation until the first push (unlike libstdc++'s
// std::deque, which allocates ~600 bytes when constructed), so idle sessions stay small.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace gw {

template <typename T>
class Fifo {
 public:
  bool empty() const { return head_ == v_.size(); }
  std::size_t size() const { return v_.size() - head_; }
  T& front() { return v_[head_]; }
  const T& front() const { return v_[head_]; }
  T& at(std::size_t i) { return v_[head_ + i]; }
  void push_back(T&& x) { v_.push_back(std::move(x)); }
  void pop_front() {
    v_[head_] = T{};
    ++head_;
    if (head_ == v_.size()) {
      clear();
    } else if (head_ >= 64 && head_ * 2 >= v_.size()) {
      v_.erase(v_.begin(), v_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }
  void clear() {
    std::vector<T>().swap(v_);
    head_ = 0;
  }
  auto begin() { return v_.begin() + static_cast<std::ptrdiff_t>(head_); }
  auto end() { return v_.end(); }
  auto begin() const { return v_.begin() + static_cast<std::ptrdiff_t>(head_); }
  auto end() const { return v_.end(); }

 private:
  std::vector<T> v_;
  std::size_t head_ = 0;
};

}  // namespace gw
