// Implementation of the feed tables. A new point is one INSERT into feed_points and one upsert into
// each rollup; a point written again for the same field and millisecond replaces the value (the last
// write wins) and its two rollup buckets are computed again (the minute from the raw points, the hour
// from the minutes), because a min or max cannot be taken back. Queries stream rows in time order and
// fold them into buckets here; every query reads at most max_query_rows rows.
#include "storage/feed_table.hpp"

#include <algorithm>
#include <limits>

namespace gw::storage {

namespace {

std::string key_of(std::string_view feed, std::string_view field) {
  std::string k(feed);
  k.push_back('\0');
  k.append(field);
  return k;
}

// Floor to a multiple of `step` (timestamps are >= 0; the callers check).
std::int64_t floor_to(std::int64_t t, std::int64_t step) {
  return t - t % step;
}

std::int64_t saturating_add(std::int64_t a, std::int64_t b) {
  return a > std::numeric_limits<std::int64_t>::max() - b ? std::numeric_limits<std::int64_t>::max() : a + b;
}

// One bucket being folded.
struct Fold {
  std::int64_t bucket = -1;
  std::int64_t n = 0;
  double sum = 0;
  double mn = 0;
  double mx = 0;
  void add(std::int64_t cn, double csum, double cmin, double cmax) {
    if (n == 0) {
      mn = cmin;
      mx = cmax;
    } else {
      mn = std::min(mn, cmin);
      mx = std::max(mx, cmax);
    }
    n += cn;
    sum += csum;
  }
  double value(FeedAggregate a) const {
    switch (a) {
      case FeedAggregate::Avg:
        return sum / static_cast<double>(n);
      case FeedAggregate::Min:
        return mn;
      case FeedAggregate::Max:
        return mx;
      case FeedAggregate::Sum:
        return sum;
      case FeedAggregate::Count:
        return static_cast<double>(n);
    }
    return 0;
  }
};

}  // namespace

Status FeedTable::prepare(Db& db) {
  db_ = &db;
  return status_from_sqlite(prepare_all(
      db.handle(),
      {
          {&field_insert_, "INSERT INTO feed_fields(feed, field) VALUES(?1, ?2)"},
          {&point_insert_, "INSERT OR IGNORE INTO feed_points(field_id, ts_ms, value) VALUES(?1, ?2, ?3)"},
          {&point_update_, "UPDATE feed_points SET value = ?3 WHERE field_id = ?1 AND ts_ms = ?2"},
          {&rollup_add_,
           "INSERT INTO feed_rollups(field_id, res, bucket_ms, n, vsum, vmin, vmax) "
           "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(field_id, res, bucket_ms) DO UPDATE SET "
           "n = n + excluded.n, vsum = vsum + excluded.vsum, vmin = min(vmin, excluded.vmin), "
           "vmax = max(vmax, excluded.vmax)"},
          {&minute_from_raw_,
           "SELECT count(*), total(value), min(value), max(value) FROM feed_points "
           "WHERE field_id = ?1 AND ts_ms BETWEEN ?2 AND ?3"},
          {&hour_from_minutes_,
           "SELECT total(n), total(vsum), min(vmin), max(vmax) FROM feed_rollups "
           "WHERE field_id = ?1 AND res = 60000 AND bucket_ms BETWEEN ?2 AND ?3"},
          {&rollup_put_,
           "INSERT OR REPLACE INTO feed_rollups(field_id, res, bucket_ms, n, vsum, vmin, vmax) "
           "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)"},
          {&rollup_del_, "DELETE FROM feed_rollups WHERE field_id = ?1 AND res = ?2 AND bucket_ms = ?3"},
          {&raw_range_,
           "SELECT ts_ms, value FROM feed_points WHERE field_id = ?1 AND ts_ms BETWEEN ?2 AND ?3 "
           "ORDER BY ts_ms LIMIT ?4"},
          {&rollup_range_,
           "SELECT bucket_ms, n, vsum, vmin, vmax FROM feed_rollups WHERE field_id = ?1 AND res = ?2 "
           "AND bucket_ms BETWEEN ?3 AND ?4 ORDER BY bucket_ms LIMIT ?5"},
          {&latest_, "SELECT ts_ms, value FROM feed_points WHERE field_id = ?1 ORDER BY ts_ms DESC LIMIT 1"},
          {&prune_raw_age_, "DELETE FROM feed_points WHERE field_id = ?1 AND ts_ms < ?2"},
          {&prune_rollup_age_,
           "DELETE FROM feed_rollups WHERE field_id = ?1 AND res = ?2 AND bucket_ms < ?3"},
          {&prune_raw_rows_,
           "DELETE FROM feed_points WHERE field_id = ?1 AND ts_ms < (SELECT ts_ms FROM feed_points "
           "WHERE field_id = ?1 ORDER BY ts_ms LIMIT 1 OFFSET ?2)"},
      }));
}

Status FeedTable::load() {
  fields_.clear();
  by_key_.clear();
  counts_.clear();
  totals_ = {};
  Stmt fields;
  Stmt counts;
  int rc =
      prepare_all(db_->handle(), {{&fields, "SELECT id, feed, field FROM feed_fields ORDER BY id"},
                                  {&counts, "SELECT field_id, count(*) FROM feed_points GROUP BY field_id"}});
  if (rc != SQLITE_OK) return status_from_sqlite(rc);
  while ((rc = fields.step()) == SQLITE_ROW) {
    Field f{fields.col_int(0), fields.col_str(1), fields.col_str(2)};
    by_key_[key_of(f.feed, f.name)] = f.id;
    fields_.push_back(std::move(f));
    counts_.push_back(0);
  }
  if (rc != SQLITE_DONE) return status_from_sqlite(rc);
  while ((rc = counts.step()) == SQLITE_ROW) {
    const std::uint64_t n = counts.col_u64(1);
    count_of(counts.col_int(0)) = n;
    totals_.points += n;
  }
  return status_from_sqlite(rc);
}

void FeedTable::restore(const Mark& m) {
  while (fields_.size() > m.fields) {
    by_key_.erase(key_of(fields_.back().feed, fields_.back().name));
    fields_.pop_back();
  }
  counts_ = m.counts;
  counts_.resize(fields_.size(), 0);
  totals_ = m.totals;
}

std::uint64_t& FeedTable::count_of(std::int64_t field) {
  // Ids ascend with fields_ (INTEGER PRIMARY KEY, never reused while rows exist): binary search.
  auto it = std::lower_bound(fields_.begin(), fields_.end(), field,
                             [](const Field& f, std::int64_t id) { return f.id < id; });
  if (it == fields_.end() || it->id != field) {
    static std::uint64_t scratch = 0;  // a row of a field we do not know: count it nowhere
    scratch = 0;
    return scratch;
  }
  return counts_[static_cast<std::size_t>(it - fields_.begin())];
}

std::size_t FeedTable::fields_of(std::string_view feed) const {
  return static_cast<std::size_t>(
      std::count_if(fields_.begin(), fields_.end(), [&](const Field& f) { return f.feed == feed; }));
}

Result<std::int64_t, Status> FeedTable::field_id(std::string_view feed, std::string_view name, bool create) {
  if (auto it = by_key_.find(key_of(feed, name)); it != by_key_.end()) return it->second;
  if (!create) return std::int64_t{0};
  field_insert_.bind_text(1, feed);
  field_insert_.bind_text(2, name);
  int rc = field_insert_.run();
  if (rc != SQLITE_DONE) return unexpected(status_from_sqlite(rc));
  const std::int64_t id = sqlite3_last_insert_rowid(db_->handle());
  fields_.push_back(Field{id, std::string(feed), std::string(name)});
  counts_.push_back(0);
  by_key_[key_of(feed, name)] = id;
  return id;
}

namespace {
// Runs an insert of one rollup row (?1 field, ?2 res, ?3 bucket, ?4 n, ?5 sum, ?6 min, ?7 max).
Status run_rollup(Stmt& st, std::int64_t field, std::int64_t res, std::int64_t bucket, std::int64_t n,
                  double sum, double mn, double mx) {
  st.bind(1, field);
  st.bind(2, res);
  st.bind(3, bucket);
  st.bind(4, n);
  sqlite3_bind_double(st.get(), 5, sum);
  sqlite3_bind_double(st.get(), 6, mn);
  sqlite3_bind_double(st.get(), 7, mx);
  return status_from_sqlite(st.run());
}

// Writes (or deletes, when empty) one rollup row from a count/total/min/max aggregate row.
Status put_rollup(Stmt& from, Stmt& put, Stmt& del, std::int64_t field, std::int64_t res,
                  std::int64_t bucket) {
  std::int64_t n = 0;
  double sum = 0;
  double mn = 0;
  double mx = 0;
  {
    StmtScope scope(from);
    from.bind(1, field);
    from.bind(2, bucket);
    from.bind(3, bucket + res - 1);
    int rc = from.step();
    if (rc != SQLITE_ROW) return status_from_sqlite(rc);
    n = from.col_int(0);
    sum = sqlite3_column_double(from.get(), 1);
    mn = sqlite3_column_double(from.get(), 2);
    mx = sqlite3_column_double(from.get(), 3);
  }
  if (n == 0) {
    del.bind(1, field);
    del.bind(2, res);
    del.bind(3, bucket);
    return status_from_sqlite(del.run());
  }
  return run_rollup(put, field, res, bucket, n, sum, mn, mx);
}
}  // namespace

Status FeedTable::add_rollup(std::int64_t field, std::int64_t res, std::int64_t bucket, std::int64_t n,
                             double sum, double mn, double mx) {
  return run_rollup(rollup_add_, field, res, bucket, n, sum, mn, mx);
}

Status FeedTable::recompute_minute(std::int64_t field, std::int64_t bucket) {
  return put_rollup(minute_from_raw_, rollup_put_, rollup_del_, field, kMinuteMs, bucket);
}

Status FeedTable::recompute_hour(std::int64_t field, std::int64_t bucket) {
  return put_rollup(hour_from_minutes_, rollup_put_, rollup_del_, field, kHourMs, bucket);
}

Status FeedTable::write(const FeedWrite& w) {
  if (w.ts_ms < 0) return Status::Internal;  // the callers check; a bucket must not be negative
  // The field bound is checked before anything is written: a refusal leaves nothing behind.
  std::size_t fresh = 0;
  for (const FeedValue& v : w.values) {
    if (!by_key_.contains(key_of(w.feed, v.field))) ++fresh;
  }
  if (fresh > 0 && fields_of(w.feed) + fresh > options_.max_fields_per_feed) return Status::QuotaExceeded;
  const std::int64_t minute = floor_to(w.ts_ms, kMinuteMs);
  const std::int64_t hour = floor_to(w.ts_ms, kHourMs);
  for (const FeedValue& v : w.values) {
    auto id = field_id(w.feed, v.field, true);
    if (!id) return id.error();
    point_insert_.bind(1, *id);
    point_insert_.bind(2, w.ts_ms);
    sqlite3_bind_double(point_insert_.get(), 3, v.value);
    int rc = point_insert_.run();
    if (rc != SQLITE_DONE) return status_from_sqlite(rc);
    Status s = Status::Ok;
    if (sqlite3_changes(db_->handle()) == 1) {
      count_of(*id) += 1;
      totals_.points += 1;
      s = add_rollup(*id, kMinuteMs, minute, 1, v.value, v.value, v.value);
      if (s == Status::Ok) s = add_rollup(*id, kHourMs, hour, 1, v.value, v.value, v.value);
    } else {
      point_update_.bind(1, *id);
      point_update_.bind(2, w.ts_ms);
      sqlite3_bind_double(point_update_.get(), 3, v.value);
      rc = point_update_.run();
      if (rc != SQLITE_DONE) return status_from_sqlite(rc);
      totals_.points_replaced += 1;
      s = recompute_minute(*id, minute);
      if (s == Status::Ok) s = recompute_hour(*id, hour);
    }
    if (s != Status::Ok) return s;
  }
  totals_.points_written += w.values.size();
  return Status::Ok;
}

Status FeedTable::query(const FeedQuery& q, FeedResult& out) {
  out = FeedResult{};
  std::vector<const Field*> fields;
  if (q.fields.empty()) {
    for (const Field& f : fields_) {
      if (f.feed == q.feed) fields.push_back(&f);
    }
  } else {
    for (const std::string& name : q.fields) {
      auto it = by_key_.find(key_of(q.feed, name));
      if (it == by_key_.end()) continue;
      for (const Field& f : fields_) {
        if (f.id == it->second) fields.push_back(&f);
      }
    }
    if (q.and_others) {
      for (const Field& f : fields_) {
        if (f.feed == q.feed && std::find(q.fields.begin(), q.fields.end(), f.name) == q.fields.end())
          fields.push_back(&f);
      }
    }
  }
  if (q.from_ms < 0 || q.to_ms < q.from_ms) return Status::Ok;
  const std::int64_t g = q.granularity_ms;
  // With a granularity every bucket whose start lies in [from, to] is whole.
  const std::int64_t from = g > 0 ? floor_to(q.from_ms, g) : q.from_ms;
  const std::int64_t to = g > 0 ? saturating_add(floor_to(q.to_ms, g), g - 1) : q.to_ms;
  const std::int64_t res = g > 0 && g % kHourMs == 0 ? kHourMs : g > 0 && g % kMinuteMs == 0 ? kMinuteMs : 0;
  const std::uint64_t budget = options_.max_query_rows;
  std::uint64_t points = 0;
  for (const Field* f : fields) {
    FeedSeries s;
    s.field = f->name;
    Fold fold;
    auto emit = [&] {
      if (fold.n > 0) s.values.emplace_back(fold.bucket, fold.value(q.aggregate));
      fold = Fold{};
    };
    auto take = [&](std::int64_t t, std::int64_t n, double sum, double mn, double mx) {
      if (g == 0) {
        s.values.emplace_back(t, sum);
        return;
      }
      const std::int64_t b = floor_to(t, g);
      if (b != fold.bucket) {
        emit();
        fold.bucket = b;
      }
      fold.add(n, sum, mn, mx);
    };
    Stmt& st = res > 0 ? rollup_range_ : raw_range_;
    {
      StmtScope scope(st);
      int i = 1;
      st.bind(i++, f->id);
      if (res > 0) st.bind(i++, res);
      st.bind(i++, from);
      st.bind(i++, to);
      // One row past what is left of the budget tells that the budget would not do.
      st.bind_u64(i++, budget - out.rows_read + 1);
      int rc;
      while ((rc = st.step()) == SQLITE_ROW) {
        if (++out.rows_read > budget) {
          out.too_many = true;
          return Status::Ok;
        }
        if (res > 0) {
          take(st.col_int(0), st.col_int(1), sqlite3_column_double(st.get(), 2),
               sqlite3_column_double(st.get(), 3), sqlite3_column_double(st.get(), 4));
        } else {
          const double v = sqlite3_column_double(st.get(), 1);
          take(st.col_int(0), 1, v, v, v);
        }
      }
      if (rc != SQLITE_DONE) return status_from_sqlite(rc);
    }
    emit();
    if (s.values.empty()) continue;
    points += s.values.size();
    if (points > options_.max_query_points) {
      out.too_many = true;
      return Status::Ok;
    }
    {
      StmtScope scope(latest_);
      latest_.bind(1, f->id);
      int rc = latest_.step();
      if (rc == SQLITE_ROW) {
        s.latest = {latest_.col_int(0), sqlite3_column_double(latest_.get(), 1)};
      } else if (rc == SQLITE_DONE) {
        s.latest = s.values.back();  // the raw points are gone (retention): the newest bucket stands in
      } else {
        return status_from_sqlite(rc);
      }
    }
    out.series.push_back(std::move(s));
  }
  return Status::Ok;
}

Status FeedTable::prune(std::uint64_t* removed) {
  std::uint64_t n = 0;
  const std::int64_t now_ms = clock_.unix_seconds() * 1000;
  // Age cutoffs fall on hour boundaries, so a bucket is never left with part of its raw points (a
  // replaced point recomputes its minute from them).
  auto cutoff = [&](std::int64_t max_age_s) {
    return floor_to(std::max<std::int64_t>(0, now_ms - max_age_s * 1000), kHourMs);
  };
  for (std::size_t i = 0; i < fields_.size(); ++i) {
    const std::int64_t id = fields_[i].id;
    if (options_.raw_max_age_s > 0) {
      prune_raw_age_.bind(1, id);
      prune_raw_age_.bind(2, cutoff(options_.raw_max_age_s));
      int rc = prune_raw_age_.run();
      if (rc != SQLITE_DONE) return status_from_sqlite(rc);
      const auto gone = static_cast<std::uint64_t>(sqlite3_changes64(db_->handle()));
      counts_[i] -= std::min(counts_[i], gone);
      n += gone;
    }
    if (options_.max_points_per_field > 0 && counts_[i] > options_.max_points_per_field) {
      prune_raw_rows_.bind(1, id);
      prune_raw_rows_.bind_u64(2, counts_[i] - options_.max_points_per_field);
      int rc = prune_raw_rows_.run();
      if (rc != SQLITE_DONE) return status_from_sqlite(rc);
      const auto gone = static_cast<std::uint64_t>(sqlite3_changes64(db_->handle()));
      counts_[i] -= std::min(counts_[i], gone);
      n += gone;
    }
    const std::pair<std::int64_t, std::int64_t> rollups[] = {{kMinuteMs, options_.minute_max_age_s},
                                                             {kHourMs, options_.hour_max_age_s}};
    for (auto [res, age] : rollups) {
      if (age <= 0) continue;
      prune_rollup_age_.bind(1, id);
      prune_rollup_age_.bind(2, res);
      prune_rollup_age_.bind(3, cutoff(age));
      int rc = prune_rollup_age_.run();
      if (rc != SQLITE_DONE) return status_from_sqlite(rc);
    }
  }
  totals_.points -= std::min(totals_.points, n);
  totals_.pruned += n;
  if (removed) *removed = n;
  return Status::Ok;
}

}  // namespace gw::storage
