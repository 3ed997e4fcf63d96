// Backoff with decorrelated jitter (protocols/uplink/backoff.hpp): the bounds of every delay, growth by
// at most 3x, the cap, reset on success, and the unbiased adapter from random words to a range. The
// randomness is scripted, so every expected delay is exact.
#include <gtest/gtest.h>

#include <cstdint>
#include <deque>
#include <limits>
#include <vector>

#include "protocols/uplink/backoff.hpp"

namespace gw::uplink {
namespace {

RandomBetween always_high() {
  return [](std::int64_t, std::int64_t hi) { return hi; };
}
RandomBetween always_low() {
  return [](std::int64_t lo, std::int64_t) { return lo; };
}

TEST(Backoff, HighestDrawsTripleUpToTheCap) {
  Backoff b({1'000, 60'000}, always_high());
  std::vector<Millis> got;
  for (int i = 0; i < 6; ++i) got.push_back(b.next());
  EXPECT_EQ(got, (std::vector<Millis>{3'000, 9'000, 27'000, 60'000, 60'000, 60'000}));
  EXPECT_EQ(b.attempts(), 6u);
}

TEST(Backoff, LowestDrawsStayAtTheBase) {
  Backoff b({500, 10'000}, always_low());
  for (int i = 0; i < 5; ++i) EXPECT_EQ(b.next(), 500);
}

TEST(Backoff, EachDrawIsBetweenTheBaseAndThreeTimesThePrevious) {
  std::vector<std::pair<std::int64_t, std::int64_t>> asked;
  std::deque<std::int64_t> script{2'000, 1'500, 4'000};
  Backoff b({1'000, 5'000}, [&](std::int64_t lo, std::int64_t hi) {
    asked.emplace_back(lo, hi);
    const std::int64_t v = script.front();
    script.pop_front();
    return v;
  });
  EXPECT_EQ(b.next(), 2'000);
  EXPECT_EQ(b.next(), 1'500);
  EXPECT_EQ(b.next(), 4'000);
  const std::vector<std::pair<std::int64_t, std::int64_t>> want{
      {1'000, 3'000}, {1'000, 6'000}, {1'000, 4'500}};
  EXPECT_EQ(asked, want);
}

TEST(Backoff, ResetStartsFromTheBaseAgain) {
  Backoff b({1'000, 60'000}, always_high());
  b.next();
  b.next();
  b.reset();
  EXPECT_EQ(b.attempts(), 0u);
  EXPECT_EQ(b.next(), 3'000);
}

TEST(Backoff, OutOfRangeDrawsAreClamped) {
  Backoff low({1'000, 60'000}, [](std::int64_t, std::int64_t) { return -5; });
  EXPECT_EQ(low.next(), 1'000);
  Backoff high({1'000, 60'000},
               [](std::int64_t, std::int64_t) { return std::numeric_limits<std::int64_t>::max(); });
  EXPECT_EQ(high.next(), 3'000);
  EXPECT_EQ(high.next(), 9'000);
}

TEST(Backoff, PolicyIsSanitised) {
  Backoff zero({0, 0}, always_high());
  EXPECT_EQ(zero.policy().base_ms, 1);
  EXPECT_EQ(zero.policy().cap_ms, 1);
  EXPECT_EQ(zero.next(), 1);
  Backoff inverted({5'000, 1'000}, always_high());
  EXPECT_EQ(inverted.policy().cap_ms, 5'000);
  EXPECT_EQ(inverted.next(), 5'000);
  Backoff huge({1, std::numeric_limits<Millis>::max()}, always_high());
  for (int i = 0; i < 100; ++i) EXPECT_GE(huge.next(), 1);  // no overflow into negative delays
}

// ---- random_between_from ----

RandomBits script(std::deque<std::uint64_t>& words) {
  return [&words]() {
    const std::uint64_t w = words.front();
    words.pop_front();
    return w;
  };
}

TEST(RandomBetweenFrom, MapsWordsIntoTheRange) {
  std::deque<std::uint64_t> words{0, 1, 2, 3, 10};
  RandomBetween r = random_between_from(script(words));
  EXPECT_EQ(r(100, 102), 100);
  EXPECT_EQ(r(100, 102), 101);
  EXPECT_EQ(r(100, 102), 102);
  EXPECT_EQ(r(100, 102), 100);
  EXPECT_EQ(r(-5, 5), 5);  // 10 % 11 = 10 -> -5 + 10
  EXPECT_TRUE(words.empty());
}

TEST(RandomBetweenFrom, RejectsTheIncompleteTopBlock) {
  // 2^64 mod 3 = 1: exactly one word (2^64 - 1) would favour the low end, so it is drawn again.
  std::deque<std::uint64_t> words{std::numeric_limits<std::uint64_t>::max(), 4};
  RandomBetween r = random_between_from(script(words));
  EXPECT_EQ(r(0, 2), 1);
  EXPECT_TRUE(words.empty());
  // A power-of-two span divides 2^64: nothing is rejected.
  std::deque<std::uint64_t> more{std::numeric_limits<std::uint64_t>::max()};
  RandomBetween p = random_between_from(script(more));
  EXPECT_EQ(p(0, 3), 3);
}

TEST(RandomBetweenFrom, DegenerateAndFullRanges) {
  std::deque<std::uint64_t> words{7};
  RandomBetween r = random_between_from(script(words));
  EXPECT_EQ(r(42, 42), 42);  // no word needed
  EXPECT_EQ(r(9, 3), 9);     // inverted: lo
  EXPECT_EQ(r(std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max()), 7);
  EXPECT_TRUE(words.empty());
}

TEST(RandomBetweenFrom, DrivesABackoff) {
  std::uint64_t state = 0x9E3779B97F4A7C15ull;
  Backoff b({100, 2'000}, random_between_from([&state]() {
              state ^= state << 13;  // xorshift64: any word source will do here
              state ^= state >> 7;
              state ^= state << 17;
              return state;
            }));
  Millis prev = 100;
  for (int i = 0; i < 1'000; ++i) {
    const Millis d = b.next();
    EXPECT_GE(d, 100);
    EXPECT_LE(d, std::min<Millis>(2'000, prev * 3));
    prev = d;
  }
}

}  // namespace
}  // namespace gw::uplink
