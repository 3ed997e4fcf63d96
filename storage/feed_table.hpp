// Feeds: numeric time series by (feed, field), the raw points and two rollups (1 minute, 1 hour:
// count, sum, min, max per bucket) kept up to date with every write, so a long range at a coarse
// granularity reads rollup rows, not raw points (storage/README.md "Feeds"). Runs on the storage
// thread inside the store's transaction; every request is all or nothing (its rollup rows are written
// by the same request), so a savepoint rollback leaves the tables consistent.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/base/clock.hpp"
#include "gateway/base/result.hpp"
#include "storage/feed_records.hpp"
#include "storage/sqlite_db.hpp"
#include "storage/status.hpp"

namespace gw::storage {

class FeedTable {
 public:
  FeedTable(const FeedOptions& options, const Clock& clock) : options_(options), clock_(clock) {}

  Status prepare(Db& db);
  Status load();  // fields and per-field point counts

  // Transaction bookkeeping (the in-memory field ids and counts follow the database).
  void begin() { saved_ = snapshot(); }
  void rolled_back() { restore(saved_); }
  struct Mark {
    std::size_t fields = 0;
    std::vector<std::uint64_t> counts;
    FeedCounts totals;
  };
  Mark mark() const { return snapshot(); }
  void rollback_to(const Mark& m) { restore(m); }

  // QuotaExceeded: the write would give the feed more than max_fields_per_feed fields (nothing written).
  Status write(const FeedWrite& w);
  // TooMany: the query would read more than max_query_rows rows or answer more than max_query_points.
  Status query(const FeedQuery& q, FeedResult& out);
  // Retention: each table's age bound, then the raw points per field bound (oldest first).
  Status prune(std::uint64_t* removed = nullptr);

  const FeedCounts& counts() const { return totals_; }
  bool empty() const { return fields_.empty(); }

 private:
  struct Field {
    std::int64_t id = 0;
    std::string feed;
    std::string name;
  };
  Mark snapshot() const { return Mark{fields_.size(), counts_, totals_}; }
  void restore(const Mark& m);
  Result<std::int64_t, Status> field_id(std::string_view feed, std::string_view name, bool create);
  std::size_t fields_of(std::string_view feed) const;
  Status add_rollup(std::int64_t field, std::int64_t res, std::int64_t bucket, std::int64_t n, double sum,
                    double mn, double mx);
  Status recompute_minute(std::int64_t field, std::int64_t bucket);
  Status recompute_hour(std::int64_t field, std::int64_t bucket);
  std::uint64_t& count_of(std::int64_t field);

  FeedOptions options_;
  const Clock& clock_;
  Db* db_ = nullptr;
  std::vector<Field> fields_;                                // in id order (ids ascend as fields are created)
  std::map<std::string, std::int64_t, std::less<>> by_key_;  // feed '\0' field -> id
  std::vector<std::uint64_t> counts_;                        // raw points per field, indexed like fields_
  FeedCounts totals_;
  Mark saved_;
  Stmt field_insert_, point_insert_, point_update_, rollup_add_, minute_from_raw_, hour_from_minutes_,
      rollup_put_, rollup_del_, raw_range_, rollup_range_, latest_, prune_raw_age_, prune_rollup_age_,
      prune_raw_rows_;
};

}  // namespace gw::storage
