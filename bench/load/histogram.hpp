// A latency histogram for the load generator: log-linear buckets (64 sub-buckets per power of two, so
// every recorded value is kept within ~1.6%), constant memory, O(1) record. Values are nanoseconds.
// It answers the percentiles the benchmark prints (p50/p90/p99/p99.9) and merges across subscribers.
#pragma once

#include <array>
#include <bit>
#include <cstdint>

namespace gw::bench {

class Histogram {
 public:
  void record(std::uint64_t ns) {
    ++counts_[index_of(ns)];
    ++total_;
    if (ns > max_) max_ = ns;
  }
  void merge(const Histogram& o) {
    for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
    total_ += o.total_;
    if (o.max_ > max_) max_ = o.max_;
  }
  std::uint64_t count() const { return total_; }
  std::uint64_t max() const { return max_; }

  // The value at quantile q (0..1): the upper edge of the bucket holding that rank; 0 when empty.
  std::uint64_t quantile(double q) const {
    if (total_ == 0) return 0;
    auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total_ - 1)) + 1;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) {
        std::uint64_t hi = upper_of(i);
        return hi < max_ ? hi : max_;
      }
    }
    return max_;
  }

 private:
  static constexpr unsigned kSubBits = 6;  // 64 sub-buckets per power of two
  static constexpr std::size_t kSub = std::size_t{1} << kSubBits;
  static constexpr std::size_t kBuckets = kSub * (64 - kSubBits + 1);

  static std::size_t index_of(std::uint64_t v) {
    if (v < kSub) return static_cast<std::size_t>(v);
    unsigned top = 63u - static_cast<unsigned>(std::countl_zero(v));  // v >= 64, so top >= 6
    unsigned shift = top - kSubBits;
    return static_cast<std::size_t>((shift + 1) * kSub + ((v >> shift) - kSub));
  }
  static std::uint64_t upper_of(std::size_t i) {
    if (i < kSub) return i;
    std::size_t shift = i / kSub - 1;
    std::uint64_t base = (kSub + i % kSub) << shift;
    return base + ((std::uint64_t{1} << shift) - 1);
  }

  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t total_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace gw::bench
