// Unit tests for the storage request queue (storage/request_queue.*): the bound and its QueueFull
// policy, and the gather rule of group commit (a batch ends at the earliest deadline among its
// requests or at the row cap). Driven from one thread, so every case is deterministic.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <vector>

#include "storage/request_queue.hpp"

namespace gw::storage {
namespace {

using namespace std::chrono_literals;
using Time = Request::Time;

Request req(std::chrono::milliseconds in, std::uint32_t rows = 1, std::size_t bytes = 10) {
  Request r;
  r.deadline = std::chrono::steady_clock::now() + in;
  r.rows = rows;
  r.bytes = bytes;
  return r;
}

TEST(StorageRequestQueue, RefusesPastItsBoundsButNeverAFlushBarrier) {
  RequestQueue q(2, 1000);
  EXPECT_EQ(q.push(req(1s)), Status::Ok);
  EXPECT_EQ(q.push(req(1s)), Status::Ok);
  EXPECT_EQ(q.push(req(1s)), Status::QueueFull);
  Request barrier = req(0ms, 0, 0);
  barrier.control = true;
  EXPECT_EQ(q.push(std::move(barrier)), Status::Ok);
  EXPECT_EQ(q.size(), 3u);

  RequestQueue by_bytes(100, 25);
  EXPECT_EQ(by_bytes.push(req(1s, 1, 20)), Status::Ok);
  EXPECT_EQ(by_bytes.push(req(1s, 1, 20)), Status::QueueFull);
  EXPECT_EQ(by_bytes.push(req(1s, 1, 5)), Status::Ok);
}

TEST(StorageRequestQueue, WaitingRequestsShareOneBatchThatEndsAtTheEarliestDeadline) {
  RequestQueue q(100, 1 << 20);
  for (int i = 0; i < 5; ++i) ASSERT_EQ(q.push(req(10s)), Status::Ok);
  ASSERT_EQ(q.push(req(0ms)), Status::Ok);  // a reader: its deadline is now
  std::vector<Request> batch;
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(q.next_batch(batch, 1000, Time::max()));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);  // did not wait for the 10 s windows
  EXPECT_EQ(batch.size(), 6u);
  EXPECT_EQ(q.size(), 0u);
}

TEST(StorageRequestQueue, BatchWaitsForItsWindowThenCommits) {
  RequestQueue q(100, 1 << 20);
  ASSERT_EQ(q.push(req(50ms)), Status::Ok);
  std::vector<Request> batch;
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(q.next_batch(batch, 1000, Time::max()));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 45ms);
  EXPECT_EQ(batch.size(), 1u);
}

TEST(StorageRequestQueue, RowCapEndsABatchEarly) {
  RequestQueue q(100, 1 << 20);
  for (int i = 0; i < 7; ++i) ASSERT_EQ(q.push(req(10s, 2)), Status::Ok);
  std::vector<Request> batch;
  ASSERT_TRUE(q.next_batch(batch, 6, Time::max()));
  EXPECT_EQ(batch.size(), 3u);  // 3 x 2 rows reach the cap of 6
  batch.clear();
  ASSERT_TRUE(q.next_batch(batch, 6, Time::max()));
  EXPECT_EQ(batch.size(), 3u);
  EXPECT_EQ(q.size(), 1u);
}

TEST(StorageRequestQueue, AnEarlierDeadlineArrivingWhileGatheringWakesTheConsumer) {
  RequestQueue q(100, 1 << 20);
  ASSERT_EQ(q.push(req(10s)), Status::Ok);
  std::thread producer([&] {
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(q.push(req(0ms)), Status::Ok);
  });
  std::vector<Request> batch;
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(q.next_batch(batch, 1000, Time::max()));
  producer.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_EQ(batch.size(), 2u);
}

TEST(StorageRequestQueue, IdleTimeoutAndClose) {
  RequestQueue q(100, 1 << 20);
  std::vector<Request> batch;
  // Idle: returns after the idle deadline with nothing, for maintenance.
  ASSERT_TRUE(q.next_batch(batch, 1000, std::chrono::steady_clock::now() + 20ms));
  EXPECT_TRUE(batch.empty());
  // Closing ends a window early, drains what is queued, then reports the end; pushes are refused.
  ASSERT_EQ(q.push(req(10s)), Status::Ok);
  q.close();
  EXPECT_EQ(q.push(req(10s)), Status::Stopped);
  ASSERT_TRUE(q.next_batch(batch, 1000, Time::max()));
  EXPECT_EQ(batch.size(), 1u);
  batch.clear();
  EXPECT_FALSE(q.next_batch(batch, 1000, Time::max()));
}

}  // namespace
}  // namespace gw::storage
