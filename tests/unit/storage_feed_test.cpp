// Unit tests for the feed tables (storage/feed_table.*) against a temporary database, driven on the test
// thread with a manual clock: raw and bucketed reads, each aggregate checked against values computed
// here, rollups used for whole minutes and hours (and equal to the raw answer), the last write winning
// for a repeated millisecond (rollups recomputed), the field bound refusing a write whole, a rolled-back
// transaction leaving the in-memory ids and counts as the database, retention by age and by rows, and
// the query bounds.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "gateway/base/clock.hpp"
#include "storage/open.hpp"
#include "storage/tables.hpp"

namespace gw::storage {
namespace {

constexpr std::int64_t kT0 = 1'699'999'200'000;  // unix ms on a whole hour (472,222 h)

class FeedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/gw-storage-feeds-XXXXXX";
    const char* d = mkdtemp(tmpl);
    ASSERT_NE(d, nullptr);
    dir_ = d;
    clock_.set_unix_base(kT0 / 1000 + 86400);
    open_tables();
  }
  void TearDown() override {
    tables_.reset();
    db_.close();
    std::filesystem::remove_all(dir_);
  }
  void open_tables() {
    tables_.reset();
    db_.close();
    DbOptions o;
    o.path = dir_ + "/t.db";
    auto r = open_database(db_, o);
    ASSERT_TRUE(r) << r.error().message;
    tables_ = std::make_unique<Tables>(limits_, history_, options_, clock_);
    ASSERT_EQ(tables_->prepare(db_), Status::Ok) << db_.errmsg();
    ASSERT_EQ(tables_->feeds.load(), Status::Ok);
  }
  void tx(const std::function<void(Tables&)>& body) {
    ASSERT_EQ(db_.exec("BEGIN"), SQLITE_OK);
    tables_->begin();
    body(*tables_);
    ASSERT_EQ(tables_->before_commit(), Status::Ok);
    ASSERT_EQ(db_.exec("COMMIT"), SQLITE_OK) << db_.errmsg();
    tables_->committed();
  }
  Status write(std::int64_t ts, std::vector<FeedValue> values, std::string feed = "farm") {
    Status s = Status::Internal;
    tx([&](Tables& t) { s = t.feeds.write(FeedWrite{std::move(feed), ts, std::move(values)}); });
    return s;
  }
  FeedResult query(FeedQuery q) {
    FeedResult out;
    tx([&](Tables& t) { ASSERT_EQ(t.feeds.query(q, out), Status::Ok); });
    return out;
  }
  std::int64_t count(const char* sql) {
    std::int64_t n = -1;
    EXPECT_EQ(db_.query_int(sql, n), SQLITE_OK) << db_.errmsg();
    return n;
  }

  std::string dir_;
  ManualClock clock_;
  OutboxLimits limits_;
  HistoryOptions history_;
  FeedOptions options_;
  Db db_;
  std::unique_ptr<Tables> tables_;
};

// A value that varies inside every bucket, so avg, min and max differ.
double value_at(int i, int field) {
  return 20.0 + field * 10 + std::sin(i * 0.37) * 5 + (i % 7);
}

TEST_F(FeedTest, RawPointsInTimeOrderWithLatest) {
  ASSERT_EQ(write(kT0 + 2000, {{"temp", 25.5}, {"humid", 60}}), Status::Ok);
  ASSERT_EQ(write(kT0 + 1000, {{"temp", 24.5}}), Status::Ok);
  auto r = query(FeedQuery{.feed = "farm", .from_ms = kT0, .to_ms = kT0 + 5000});
  ASSERT_FALSE(r.too_many);
  ASSERT_EQ(r.series.size(), 2u);
  EXPECT_EQ(r.series[0].field, "temp");  // the order fields first came in
  EXPECT_EQ(r.series[0].values, (std::vector<FeedSample>{{kT0 + 1000, 24.5}, {kT0 + 2000, 25.5}}));
  EXPECT_EQ(r.series[0].latest, (FeedSample{kT0 + 2000, 25.5}));
  EXPECT_EQ(r.series[1].values, (std::vector<FeedSample>{{kT0 + 2000, 60}}));
  // A filter picks fields and their order; a field never written is left out.
  r = query(FeedQuery{.feed = "farm", .fields = {"humid", "nope"}, .from_ms = kT0, .to_ms = kT0 + 5000});
  ASSERT_EQ(r.series.size(), 1u);
  EXPECT_EQ(r.series[0].field, "humid");
  // Another feed's fields are its own.
  EXPECT_TRUE(query(FeedQuery{.feed = "other", .from_ms = kT0, .to_ms = kT0 + 5000}).series.empty());
  EXPECT_EQ(tables_->feeds.counts().points, 3u);
}

// Every aggregate of 2 hours of 1 Hz points, at 10 s (raw points), 10 minutes (minute rollups) and
// 1 hour (hour rollups), against sums computed here.
TEST_F(FeedTest, AggregatesFromRawAndFromRollupsMatchComputed) {
  constexpr int kPoints = 7200;
  tx([&](Tables& t) {
    for (int i = 0; i < kPoints; ++i) {
      ASSERT_EQ(t.feeds.write(
                    FeedWrite{"farm", kT0 + i * 1000, {{"temp", value_at(i, 0)}, {"humid", value_at(i, 1)}}}),
                Status::Ok);
    }
  });
  EXPECT_EQ(count("SELECT count(*) FROM feed_rollups WHERE res = 60000"), 2 * 120);
  EXPECT_EQ(count("SELECT count(*) FROM feed_rollups WHERE res = 3600000"), 2 * 2);
  for (std::int64_t g : {10'000ll, 600'000ll, 3'600'000ll}) {
    std::map<std::int64_t, std::vector<double>> buckets;
    for (int i = 0; i < kPoints; ++i) buckets[(kT0 + i * 1000) / g * g].push_back(value_at(i, 1));
    for (FeedAggregate a : {FeedAggregate::Avg, FeedAggregate::Min, FeedAggregate::Max, FeedAggregate::Sum,
                            FeedAggregate::Count}) {
      auto r = query(FeedQuery{.feed = "farm",
                               .fields = {"humid"},
                               .from_ms = kT0,
                               .to_ms = kT0 + kPoints * 1000 - 1,
                               .granularity_ms = g,
                               .aggregate = a});
      ASSERT_FALSE(r.too_many) << g;
      ASSERT_EQ(r.series.size(), 1u);
      ASSERT_EQ(r.series[0].values.size(), buckets.size()) << g;
      // A rollup answer reads one row per minute or hour, not the raw points.
      EXPECT_EQ(r.rows_read, g == 10'000 ? 7200u : g == 600'000 ? 120u : 2u);
      std::size_t k = 0;
      for (const auto& [start, vs] : buckets) {
        double sum = 0, mn = vs[0], mx = vs[0];
        for (double v : vs) sum += v, mn = std::min(mn, v), mx = std::max(mx, v);
        const double want = a == FeedAggregate::Avg   ? sum / vs.size()
                            : a == FeedAggregate::Min ? mn
                            : a == FeedAggregate::Max ? mx
                            : a == FeedAggregate::Sum ? sum
                                                      : static_cast<double>(vs.size());
        EXPECT_EQ(r.series[0].values[k].first, start);
        EXPECT_NEAR(r.series[0].values[k].second, want, 1e-9 * std::max(1.0, std::abs(want)))
            << g << " " << k;
        ++k;
      }
    }
  }
}

TEST_F(FeedTest, BucketsAreWholeAtTheEdgesOfTheRange) {
  for (int i = 0; i < 120; ++i) ASSERT_EQ(write(kT0 + i * 1000, {{"t", double(i)}}), Status::Ok);
  // from falls inside the first minute: that minute is whole, as its rollup is.
  auto r = query(FeedQuery{.feed = "farm",
                           .from_ms = kT0 + 30'000,
                           .to_ms = kT0 + 61'000,
                           .granularity_ms = 60'000,
                           .aggregate = FeedAggregate::Count});
  ASSERT_EQ(r.series.size(), 1u);
  EXPECT_EQ(r.series[0].values, (std::vector<FeedSample>{{kT0, 60}, {kT0 + 60'000, 60}}));
  // The same from raw points (a granularity that is no multiple of a minute) gives whole buckets too.
  r = query(FeedQuery{.feed = "farm",
                      .from_ms = kT0 + 30'000,
                      .to_ms = kT0 + 61'000,
                      .granularity_ms = 40'000,
                      .aggregate = FeedAggregate::Count});
  EXPECT_EQ(r.series[0].values, (std::vector<FeedSample>{{kT0 + 0, 40}, {kT0 + 40'000, 40}}));
}

TEST_F(FeedTest, RepeatedMillisecondReplacesAndRecomputesRollups) {
  ASSERT_EQ(write(kT0 + 1000, {{"t", 10}}), Status::Ok);
  ASSERT_EQ(write(kT0 + 2000, {{"t", 50}}), Status::Ok);
  ASSERT_EQ(write(kT0 + 2000, {{"t", 20}}), Status::Ok);  // the last write wins
  EXPECT_EQ(tables_->feeds.counts().points, 2u);
  EXPECT_EQ(tables_->feeds.counts().points_replaced, 1u);
  for (std::int64_t g : {60'000ll, 3'600'000ll}) {
    auto mx = query(FeedQuery{.feed = "farm",
                              .from_ms = kT0,
                              .to_ms = kT0 + 5000,
                              .granularity_ms = g,
                              .aggregate = FeedAggregate::Max});
    EXPECT_EQ(mx.series[0].values, (std::vector<FeedSample>{{kT0, 20}})) << g;  // 50 is gone from the max
    auto avg = query(FeedQuery{.feed = "farm", .from_ms = kT0, .to_ms = kT0 + 5000, .granularity_ms = g});
    EXPECT_EQ(avg.series[0].values, (std::vector<FeedSample>{{kT0, 15}})) << g;
  }
}

TEST_F(FeedTest, FieldBoundRefusesTheWholeWrite) {
  options_.max_fields_per_feed = 2;
  open_tables();
  ASSERT_EQ(write(kT0, {{"a", 1}, {"b", 2}}), Status::Ok);
  EXPECT_EQ(write(kT0 + 1000, {{"a", 3}, {"c", 4}}), Status::QuotaExceeded);
  EXPECT_EQ(count("SELECT count(*) FROM feed_points"), 2);
  EXPECT_EQ(count("SELECT count(*) FROM feed_fields"), 2);
  EXPECT_EQ(write(kT0, {{"c", 1}}, "another"), Status::Ok);  // the bound is per feed
}

TEST_F(FeedTest, RollbackLeavesIdsAndCountsAsTheDatabase) {
  ASSERT_EQ(write(kT0, {{"a", 1}}), Status::Ok);
  ASSERT_EQ(db_.exec("BEGIN"), SQLITE_OK);
  tables_->begin();
  ASSERT_EQ(tables_->feeds.write(FeedWrite{"farm", kT0 + 1000, {{"a", 2}, {"b", 3}}}), Status::Ok);
  EXPECT_EQ(tables_->feeds.counts().points, 3u);
  ASSERT_EQ(db_.exec("ROLLBACK"), SQLITE_OK);
  tables_->rolled_back();
  EXPECT_EQ(tables_->feeds.counts().points, 1u);
  // "b" is unknown again: writing it creates it anew (same id reused), and its point counts.
  ASSERT_EQ(write(kT0 + 2000, {{"b", 4}}), Status::Ok);
  auto r = query(FeedQuery{.feed = "farm", .fields = {"b"}, .from_ms = kT0, .to_ms = kT0 + 5000});
  ASSERT_EQ(r.series.size(), 1u);
  EXPECT_EQ(r.series[0].values, (std::vector<FeedSample>{{kT0 + 2000, 4}}));
  // What load() counts from the database agrees with what was kept in memory.
  const FeedCounts before = tables_->feeds.counts();
  open_tables();
  EXPECT_EQ(tables_->feeds.counts().points, before.points);
}

TEST_F(FeedTest, RetentionByAgePerResolutionAndByRows) {
  options_.raw_max_age_s = 3600;
  options_.minute_max_age_s = 2 * 3600;
  options_.hour_max_age_s = 0;
  options_.max_points_per_field = 100;
  open_tables();
  // Now is kT0 + 1 day: points 3 hours old, and 200 recent ones.
  const std::int64_t now = clock_.unix_seconds() * 1000;
  ASSERT_EQ(write(now - 3 * 3'600'000, {{"t", 1}}), Status::Ok);
  for (int i = 0; i < 200; ++i) ASSERT_EQ(write(now - 200'000 + i * 1000, {{"t", double(i)}}), Status::Ok);
  std::uint64_t removed = 0;
  tx([&](Tables& t) { ASSERT_EQ(t.feeds.prune(&removed), Status::Ok); });
  EXPECT_EQ(removed, 1u + 100u);  // the old point by age, then the 100 oldest of the rest by rows
  EXPECT_EQ(count("SELECT count(*) FROM feed_points"), 100);
  EXPECT_EQ(tables_->feeds.counts().points, 100u);
  EXPECT_EQ(count("SELECT min(value) FROM feed_points"), 100);
  // The old minute rollup went with its age bound; the hour rollups have none.
  std::int64_t old_minutes = -1;
  const std::string sql = "SELECT count(*) FROM feed_rollups WHERE res = 60000 AND bucket_ms < " +
                          std::to_string(now - 2 * 3'600'000);
  ASSERT_EQ(db_.query_int(sql.c_str(), old_minutes), SQLITE_OK);
  EXPECT_EQ(old_minutes, 0);
  const std::string hours = "SELECT count(*) FROM feed_rollups WHERE res = 3600000 AND bucket_ms < " +
                            std::to_string(now - 2 * 3'600'000);
  std::int64_t old_hours = -1;
  ASSERT_EQ(db_.query_int(hours.c_str(), old_hours), SQLITE_OK);
  EXPECT_EQ(old_hours, 1);
  // The rollups still hold all 201 points: a coarse read keeps the history the raw table let go.
  auto r = query(FeedQuery{.feed = "farm",
                           .from_ms = now - 4 * 3'600'000,
                           .to_ms = now,
                           .granularity_ms = 3'600'000 * 4ll,
                           .aggregate = FeedAggregate::Count});
  double total = 0;
  for (const auto& [t, v] : r.series[0].values) total += v;
  EXPECT_EQ(total, 201);
}

TEST_F(FeedTest, QueryBoundsRefuseWithTooMany) {
  options_.max_query_rows = 50;
  options_.max_query_points = 30;
  open_tables();
  tx([&](Tables& t) {
    for (int i = 0; i < 100; ++i)
      ASSERT_EQ(t.feeds.write(FeedWrite{"farm", kT0 + i * 1000, {{"t", 1.0}}}), Status::Ok);
  });
  // 100 raw points to read: over the row bound.
  auto r = query(FeedQuery{.feed = "farm", .from_ms = kT0, .to_ms = kT0 + 100'000});
  EXPECT_TRUE(r.too_many);
  EXPECT_TRUE(r.series.empty() || r.rows_read <= 51);
  EXPECT_LE(r.rows_read, 51u);
  // 40 raw points fit the row bound but not the point bound.
  r = query(FeedQuery{.feed = "farm", .from_ms = kT0, .to_ms = kT0 + 39'000});
  EXPECT_TRUE(r.too_many);
  // 30 fit both.
  r = query(FeedQuery{.feed = "farm", .from_ms = kT0, .to_ms = kT0 + 29'000});
  EXPECT_FALSE(r.too_many);
  EXPECT_EQ(r.series[0].values.size(), 30u);
  // Bucketed from the minute rollups: 2 rows read, whatever the raw count.
  r = query(FeedQuery{.feed = "farm", .from_ms = kT0, .to_ms = kT0 + 100'000, .granularity_ms = 60'000});
  EXPECT_FALSE(r.too_many);
  EXPECT_EQ(r.rows_read, 2u);
}

}  // namespace
}  // namespace gw::storage
