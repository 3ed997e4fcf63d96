// Implementation of the request queue and the gather step of group commit.
#include "storage/request_queue.hpp"

namespace gw::storage {

Status RequestQueue::push(Request&& r) {
  bool wake = false;
  {
    std::lock_guard lk(m_);
    if (closed_) return Status::Stopped;
    if (!r.control && (q_.size() >= max_requests_ || (!q_.empty() && bytes_ + r.bytes > max_bytes_))) {
      return Status::QueueFull;
    }
    wake = waiting_ == Waiting::Idle ||
           (waiting_ == Waiting::Gathering && (rows_ + r.rows >= need_rows_ || r.deadline < wake_by_));
    bytes_ += r.bytes;
    rows_ += r.rows;
    q_.push_back(std::move(r));
  }
  if (wake) cv_.notify_one();
  return Status::Ok;
}

bool RequestQueue::next_batch(std::vector<Request>& out, std::size_t max_rows, Time idle_until) {
  std::unique_lock lk(m_);
  while (q_.empty() && !closed_) {
    waiting_ = Waiting::Idle;
    if (cv_.wait_until(lk, idle_until) == std::cv_status::timeout && q_.empty()) {
      waiting_ = Waiting::No;
      return true;  // idle: the caller does its maintenance
    }
  }
  if (q_.empty()) {
    waiting_ = Waiting::No;
    return false;  // closed and drained
  }
  Time deadline = Time::max();
  std::size_t rows = 0;
  while (true) {
    while (!q_.empty() && rows < max_rows) {
      Request& r = q_.front();
      rows += r.rows;
      rows_ -= r.rows;
      bytes_ -= r.bytes;
      if (r.deadline < deadline) deadline = r.deadline;
      out.push_back(std::move(r));
      q_.pop_front();
    }
    if (rows >= max_rows || closed_ || std::chrono::steady_clock::now() >= deadline) break;
    waiting_ = Waiting::Gathering;
    need_rows_ = max_rows - rows;
    wake_by_ = deadline;
    cv_.wait_until(lk, deadline);
  }
  waiting_ = Waiting::No;
  return true;
}

void RequestQueue::close() {
  {
    std::lock_guard lk(m_);
    closed_ = true;
  }
  cv_.notify_all();
}

std::size_t RequestQueue::size() const {
  std::lock_guard lk(m_);
  return q_.size();
}

}  // namespace gw::storage
