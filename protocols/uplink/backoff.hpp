// Reconnect delays: exponential backoff with decorrelated jitter, sleep = min(cap, random(base, prev * 3)),
// so that many gateways cut off by the same outage do not come back in lock-step. Pure: the randomness
// is an injected function and the result is a number of milliseconds; the caller owns the timer.
// Shared by the MQTT reconnect loop and the NETPIE token flow.
#pragma once

#include <cstdint>
#include <functional>

#include "gateway/base/clock.hpp"

namespace gw::uplink {

// Uniformly random integer in [lo, hi] (both inclusive; lo <= hi is guaranteed by the callers).
using RandomBetween = std::function<std::int64_t(std::int64_t lo, std::int64_t hi)>;
// Uniformly random 64-bit words (a CSPRNG or a seeded engine in the wiring, a script in tests).
using RandomBits = std::function<std::uint64_t()>;

// Adapts a source of random words into RandomBetween without modulo bias: words from the incomplete
// last block of 2^64 (the top `2^64 mod span` values) are rejected and drawn again.
RandomBetween random_between_from(RandomBits bits);

struct BackoffPolicy {
  Millis base_ms = 1'000;  // first delay, and the lower bound of every delay
  Millis cap_ms = 60'000;  // upper bound of every delay
};

class Backoff {
 public:
  // A base below 1 ms is raised to 1 ms, a cap below the base is raised to the base, and both are
  // limited to 2^61 ms so that previous * 3 cannot overflow.
  Backoff(BackoffPolicy policy, RandomBetween random);

  // The delay before the next attempt: min(cap, random(base, previous * 3)); the first one after
  // construction or reset() draws from [base, base * 3].
  Millis next();
  // After a success: the next delay starts from the base again.
  void reset();

  // Delays handed out since the last reset (for logs and status).
  std::uint32_t attempts() const { return attempts_; }
  const BackoffPolicy& policy() const { return policy_; }

 private:
  BackoffPolicy policy_;
  RandomBetween random_;
  Millis prev_;
  std::uint32_t attempts_ = 0;
};

}  // namespace gw::uplink
