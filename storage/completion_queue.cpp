// Implementation of the completion queue and its uv_async bridge.
#include "storage/completion_queue.hpp"

namespace gw::storage {

int CompletionQueue::attach(uv_loop_t* loop) {
  auto* h = new uv_async_t;
  int rc = uv_async_init(loop, h, [](uv_async_t* a) { static_cast<CompletionQueue*>(a->data)->run(); });
  if (rc != 0) {
    delete h;
    return rc;
  }
  h->data = this;
  // The handle alone does not keep the loop alive: sockets and timers do. So a daemon that is shutting
  // down leaves uv_run once its connections are closed, then close() runs what is left.
  uv_unref(reinterpret_cast<uv_handle_t*>(h));
  {
    std::lock_guard lk(m_);
    async_ = h;
  }
  // Completions posted before the loop was attached run on the loop's first turn.
  uv_async_send(h);
  return 0;
}

void CompletionQueue::detach() {
  uv_async_t* h = nullptr;
  {
    std::lock_guard lk(m_);
    h = async_;
    async_ = nullptr;
  }
  if (h == nullptr) return;
  h->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(h),
           [](uv_handle_t* p) { delete reinterpret_cast<uv_async_t*>(p); });
}

void CompletionQueue::post(std::vector<Completion>&& batch) {
  if (batch.empty()) return;
  uv_async_t* h = nullptr;
  {
    std::lock_guard lk(m_);
    bool was_empty = items_.empty();
    if (was_empty) {
      items_ = std::move(batch);
    } else {
      for (Completion& c : batch) items_.push_back(std::move(c));
    }
    // One wake-up per non-empty transition; uv_async_send coalesces anyway.
    if (was_empty) h = async_;
  }
  cv_.notify_all();
  if (h != nullptr) uv_async_send(h);
}

std::size_t CompletionQueue::run() {
  std::vector<Completion> items;
  {
    std::lock_guard lk(m_);
    items.swap(items_);
  }
  for (Completion& c : items) {
    if (c.fn) c.fn(c.status);
  }
  return items.size();
}

bool CompletionQueue::wait(std::chrono::milliseconds timeout) {
  std::unique_lock lk(m_);
  return cv_.wait_for(lk, timeout, [&] { return !items_.empty(); });
}

}  // namespace gw::storage
