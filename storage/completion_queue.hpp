// Completions from the storage thread to the loop thread. The storage thread posts the completions of
// a committed batch; a uv_async_t on the caller's loop runs them on the loop thread. Without a loop
// (tests, tools) the owner calls run() itself. The uv_async_t is freed in its close callback, so the
// loop must run once after detach() for the handle to close (libuv rule).
#pragma once

#include <uv.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <vector>

#include "storage/status.hpp"

namespace gw::storage {

struct Completion {
  std::function<void(Status)> fn;
  Status status = Status::Ok;
};

class CompletionQueue {
 public:
  CompletionQueue() = default;
  ~CompletionQueue() = default;
  CompletionQueue(const CompletionQueue&) = delete;
  CompletionQueue& operator=(const CompletionQueue&) = delete;

  int attach(uv_loop_t* loop);                 // loop thread; 0 or a libuv error
  void detach();                               // loop thread; only once no thread posts any more
  void post(std::vector<Completion>&& batch);  // any thread
  std::size_t run();                           // the owner (loop) thread
  // Waits until something is posted or the timeout passes (for owners without a loop).
  bool wait(std::chrono::milliseconds timeout);

 private:
  std::mutex m_;
  std::condition_variable cv_;
  std::vector<Completion> items_;
  uv_async_t* async_ = nullptr;
};

}  // namespace gw::storage
