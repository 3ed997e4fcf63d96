// Time as an injected dependency (STYLE.md §10): the broker and the uplink read time only through a
// Clock, so keepalive, will delay, expiry and backoff are unit-tested with ManualClock.
#pragma once

#include <chrono>
#include <cstdint>

namespace gw {

using Millis = std::int64_t;  // monotonic milliseconds since an arbitrary origin

class Clock {
 public:
  virtual ~Clock() = default;
  virtual Millis now_ms() const = 0;              // monotonic
  virtual std::int64_t unix_seconds() const = 0;  // wall clock, for protocols that carry it
  // Wall clock in milliseconds (feed points are stamped with it).
  virtual std::int64_t unix_ms() const { return unix_seconds() * 1000; }
};

class SteadyClock final : public Clock {
 public:
  Millis now_ms() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  std::int64_t unix_seconds() const override {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  std::int64_t unix_ms() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

class ManualClock final : public Clock {
 public:
  Millis now_ms() const override { return now_; }
  std::int64_t unix_seconds() const override { return unix_base_ + now_ / 1000; }
  std::int64_t unix_ms() const override { return unix_base_ * 1000 + now_; }
  void advance(Millis ms) { now_ += ms; }
  void set_unix_base(std::int64_t s) { unix_base_ = s; }

 private:
  Millis now_ = 1'000'000;
  std::int64_t unix_base_ = 1'700'000'000;
};

}  // namespace gw
