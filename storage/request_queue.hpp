// The bounded queue from the loop thread to the storage thread, and the batching rule of group commit.
// A request carries a deadline (its submit time plus the commit window it asked for); the storage
// thread gathers requests until the earliest deadline in the batch passes or the row cap is reached,
// then commits them in one transaction. Producers wake the storage thread only when that changes
// something (it is idle, the row cap is reached, or an earlier deadline arrived), so a burst of
// submissions costs no syscalls. Full queue policy: push() refuses with QueueFull; nothing is queued.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <vector>

#include "storage/status.hpp"

namespace gw::storage {

struct Tables;

struct Request {
  using Time = std::chrono::steady_clock::time_point;
  Time deadline{};
  std::uint32_t rows = 1;    // counts against the row cap of a transaction
  std::size_t bytes = 0;     // counts against the queue's byte bound
  bool retry = true;         // fire-and-forget writes are kept and tried again after a failed transaction
  bool control = false;      // a flush barrier: carries no data and is never refused by the bound
  bool maintenance = false;  // the store's own pruning: its success says nothing about writes recovering
  Time first_failure{};      // when a kept fire-and-forget write first failed
  std::function<Status(Tables&)> apply;      // storage thread, inside the batch transaction; may be empty
  std::function<void(Status)> done;          // loop thread, after the commit; may be empty
  std::function<void(Status)> on_committed;  // storage thread, after the commit (sync calls, flush)
  // A request that is a set of independent, idempotent row operations (acks, releases, requeues, marks
  // by id; a session's deletion) can be divided when it alone does not fit the WAL's room: its parts,
  // apply (and divide) only, together doing what it does; empty when it is one operation. Storage
  // thread, outside a transaction (it may read). storage/README.md "Space: the disk bound".
  std::function<std::vector<Request>(Tables&)> divide;
};

class RequestQueue {
 public:
  using Time = Request::Time;
  RequestQueue(std::size_t max_requests, std::size_t max_bytes)
      : max_requests_(max_requests), max_bytes_(max_bytes) {}

  Status push(Request&& r);
  // Waits for a first request until `idle_until`, then gathers a batch into `out` (see the file
  // comment). Returns false once the queue is closed and empty.
  bool next_batch(std::vector<Request>& out, std::size_t max_rows, Time idle_until);
  void close();
  std::size_t size() const;

 private:
  enum class Waiting { No, Idle, Gathering };
  const std::size_t max_requests_;
  const std::size_t max_bytes_;
  mutable std::mutex m_;
  std::condition_variable cv_;
  std::deque<Request> q_;
  std::size_t bytes_ = 0;
  std::size_t rows_ = 0;
  bool closed_ = false;
  Waiting waiting_ = Waiting::No;
  std::size_t need_rows_ = 0;
  Time wake_by_{};
};

}  // namespace gw::storage
