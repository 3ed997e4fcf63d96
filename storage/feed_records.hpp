// The plain values of the feed store (NETPIE feeds kept on the gateway, storage/README.md "Feeds"): a
// write (one timestamp, numbers by field name), a query (a time range, optionally bucketed and
// aggregated) and its answer, and the options that bound them. No broker or HTTP types.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace gw::storage {

// Rollup resolutions kept beside the raw points (milliseconds): a query whose granularity is a
// multiple of one of them reads that table instead of the raw points.
inline constexpr std::int64_t kMinuteMs = 60'000;
inline constexpr std::int64_t kHourMs = 3'600'000;

// store.feeds.* (storage/README.md "Feeds"). Every bound has a policy: the retention bounds drop the
// oldest rows (a ring, as a chart wants); the query bounds refuse the query (TooMany).
struct FeedOptions {
  std::int64_t raw_max_age_s = 7ll * 24 * 3600;         // raw points older than this go (0 = no age bound)
  std::int64_t minute_max_age_s = 90ll * 24 * 3600;     // 1-minute rollups (0 = no age bound)
  std::int64_t hour_max_age_s = 5ll * 365 * 24 * 3600;  // 1-hour rollups (0 = no age bound)
  std::uint64_t max_points_per_field = 10'000'000;      // raw points per field; past it the oldest go
  std::uint32_t max_fields_per_feed = 64;               // distinct fields a feed may ever hold
  std::uint64_t max_query_rows = 200'000;               // stored rows one query may read; more -> TooMany
  std::uint32_t max_query_points = 20'000;              // points one answer may hold; more -> TooMany
};

struct FeedValue {
  std::string field;
  double value = 0;
};

struct FeedWrite {
  std::string feed;
  std::int64_t ts_ms = 0;  // the point's time (unix ms)
  std::vector<FeedValue> values;
};

enum class FeedAggregate { Avg, Min, Max, Sum, Count };

struct FeedQuery {
  std::string feed;
  std::vector<std::string> fields;  // empty = every field the feed holds, in the order they first came
  bool and_others = false;          // after `fields`, every other field the feed holds
  std::int64_t from_ms = 0;         // inclusive; with a granularity, the bucket holding it is whole
  std::int64_t to_ms = 0;           // inclusive
  std::int64_t granularity_ms = 0;  // 0 = raw points
  FeedAggregate aggregate = FeedAggregate::Avg;
};

using FeedSample = std::pair<std::int64_t, double>;  // [unix ms, value]

struct FeedSeries {
  std::string field;
  std::vector<FeedSample> values;  // time order; aggregated: [bucket start, aggregate]
  FeedSample latest{};             // the field's newest raw point
};

struct FeedResult {
  std::vector<FeedSeries> series;  // only fields with at least one value in the range
  std::uint64_t rows_read = 0;
  bool too_many = false;  // the query would pass max_query_rows or max_query_points: refuse it
};

// Rows the feed tables hold, and what retention removed since open.
struct FeedCounts {
  std::uint64_t points = 0;
  std::uint64_t points_written = 0;
  std::uint64_t points_replaced = 0;  // same field and millisecond written again: the last write wins
  std::uint64_t pruned = 0;
};

}  // namespace gw::storage
