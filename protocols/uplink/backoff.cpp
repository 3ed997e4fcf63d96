// Decorrelated-jitter backoff and unbiased range reduction for injected random words (backoff.hpp).
#include "protocols/uplink/backoff.hpp"

#include <algorithm>
#include <limits>
#include <utility>

namespace gw::uplink {

RandomBetween random_between_from(RandomBits bits) {
  return [bits = std::move(bits)](std::int64_t lo, std::int64_t hi) -> std::int64_t {
    if (hi <= lo) return lo;
    const std::uint64_t span = static_cast<std::uint64_t>(hi) - static_cast<std::uint64_t>(lo) + 1;
    if (span == 0) return static_cast<std::int64_t>(bits());  // the full 64-bit range
    // Accept r < limit, where limit is the largest multiple of span that fits: 2^64 - (2^64 mod span).
    const std::uint64_t excess = (std::numeric_limits<std::uint64_t>::max() % span + 1) % span;
    const std::uint64_t limit = std::numeric_limits<std::uint64_t>::max() - excess;  // inclusive bound
    std::uint64_t r = bits();
    while (r > limit) r = bits();
    return static_cast<std::int64_t>(static_cast<std::uint64_t>(lo) + r % span);
  };
}

Backoff::Backoff(BackoffPolicy policy, RandomBetween random) : policy_(policy), random_(std::move(random)) {
  policy_.base_ms = std::max<Millis>(policy_.base_ms, 1);
  policy_.cap_ms = std::max(policy_.cap_ms, policy_.base_ms);
  // Keeps prev_ * 3 in range; no reconnect delay comes anywhere near 2^61 ms.
  constexpr Millis kMaxCap = std::numeric_limits<Millis>::max() / 4;
  policy_.base_ms = std::min(policy_.base_ms, kMaxCap);
  policy_.cap_ms = std::min(policy_.cap_ms, kMaxCap);
  prev_ = policy_.base_ms;
}

Millis Backoff::next() {
  const Millis hi = std::max(policy_.base_ms, prev_ * 3);
  const Millis drawn = std::clamp(random_(policy_.base_ms, hi), policy_.base_ms, hi);
  prev_ = std::min(policy_.cap_ms, drawn);
  ++attempts_;
  return prev_;
}

void Backoff::reset() {
  prev_ = policy_.base_ms;
  attempts_ = 0;
}

}  // namespace gw::uplink
