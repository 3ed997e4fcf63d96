// The feed store under load (storage/README.md "Feeds"; results in bench/README.md "Store: feeds"):
//   writes:  durable feed writes (a completion each, at most 4096 outstanding, as REST and QoS 1 writers
//   wait)
//            of 1 and of 3 fields per write; points/s and bytes written per million points (the store's
//            counting VFS: WAL, database, journal);
//   queries: 30 days of 1 Hz points for one field (2,592,000 points), then the median and worst of 20 runs of
//            "30 days at 1-hour granularity, avg" (the hour rollups) and "the last hour, raw" (3,600 points),
//            each timed from submit to completion on the caller's thread, as the HTTP handler sees it.
// A plain program (no Google Benchmark): each phase runs once, with its own database in $GW_BENCH_DIR
// (default /var/tmp, a real disk).
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "gateway/base/clock.hpp"
#include "gateway/base/log.hpp"
#include "storage/store.hpp"

namespace {

using gw::storage::FeedQuery;
using gw::storage::FeedResult;
using gw::storage::FeedWrite;
using gw::storage::Status;
using gw::storage::Store;
using gw::storage::StoreOptions;
using Steady = std::chrono::steady_clock;

std::string bench_dir() {
  const char* env = std::getenv("GW_BENCH_DIR");
  std::string tmpl = std::string(env ? env : "/var/tmp") + "/gw-feed-bench-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  const char* d = mkdtemp(buf.data());
  return d ? d : "";
}

struct Bench {
  std::string dir;
  gw::SteadyClock clock;
  std::unique_ptr<Store> store;

  bool open() {
    gw::log::set_level(gw::log::Level::Warn);
    dir = bench_dir();
    if (dir.empty()) return false;
    StoreOptions o;
    o.path = dir + "/feeds.db";
    o.feeds.raw_max_age_s = 0;  // keep the 30 days of raw points the query phase writes
    o.feeds.max_points_per_field = 0;
    o.feeds.max_query_rows = 10'000'000;
    auto r = Store::open(o, clock);
    if (!r) return false;
    store = std::move(r.value());
    return true;  // no loop attached: completions run from run_completions()
  }
  ~Bench() {
    if (store) store->close();
    if (!dir.empty()) std::filesystem::remove_all(dir);
  }

  // Writes `writes` points of `fields` fields, one second apart from `start_ms`, with a completion each and
  // at most `outstanding` waiting; returns the seconds taken.
  double write(std::uint64_t writes, int fields, std::int64_t start_ms, std::uint64_t outstanding = 4096) {
    std::uint64_t sent = 0;
    std::uint64_t done = 0;
    std::uint64_t failed = 0;
    const auto t0 = Steady::now();
    while (done < writes) {
      while (sent < writes && sent - done < outstanding) {
        FeedWrite w;
        w.feed = "bench";
        w.ts_ms = start_ms + static_cast<std::int64_t>(sent) * 1000;
        for (int f = 0; f < fields; ++f)
          w.values.push_back(
              {"f" + std::to_string(f), 20.0 + static_cast<double>((sent * 7 + f) % 100) / 10});
        const Status s = store->feed_write(std::move(w), [&](Status st) {
          ++done;
          if (st != Status::Ok) ++failed;
        });
        if (s != Status::Ok) break;  // queue full: run completions first
        ++sent;
      }
      store->wait_completions(std::chrono::milliseconds(50));
      store->run_completions();
    }
    const double secs = std::chrono::duration<double>(Steady::now() - t0).count();
    if (failed) std::printf("  %llu writes failed\n", static_cast<unsigned long long>(failed));
    return secs;
  }

  // Median and worst of `runs` queries, in ms, submit to completion.
  std::pair<double, double> time_query(const FeedQuery& q, int runs, std::size_t& points) {
    std::vector<double> ms;
    for (int i = 0; i < runs; ++i) {
      bool answered = false;
      const auto t0 = Steady::now();
      store->feed_query(q, [&](gw::Result<FeedResult, Status> r) {
        answered = true;
        points = 0;
        if (r && !r->too_many) {
          for (const auto& s : r->series) points += s.values.size();
        }
      });
      while (!answered) {
        store->wait_completions(std::chrono::milliseconds(50));
        store->run_completions();
      }
      ms.push_back(std::chrono::duration<double, std::milli>(Steady::now() - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    return {ms[ms.size() / 2], ms.back()};
  }
};

void writes_phase(int fields, std::uint64_t writes) {
  Bench b;
  if (!b.open()) {
    std::printf("cannot open a store in $GW_BENCH_DIR\n");
    return;
  }
  const std::uint64_t bytes0 = b.store->stats().bytes_written;
  const std::int64_t start = b.clock.unix_ms() - static_cast<std::int64_t>(writes) * 1000;
  const double secs = b.write(writes, fields, start);
  b.store->flush();
  const auto st = b.store->stats();
  const double points = static_cast<double>(writes) * fields;
  std::printf(
      "durable writes, %d field(s) each: %llu writes = %.0f points in %.2f s: %.0f points/s (%.0f writes/s); "
      "%.0f MB written per 1M points (%llu transactions)\n",
      fields, static_cast<unsigned long long>(writes), points, secs, points / secs,
      static_cast<double>(writes) / secs, static_cast<double>(st.bytes_written - bytes0) / points,
      static_cast<unsigned long long>(st.transactions));
}

void query_phase() {
  Bench b;
  if (!b.open()) return;
  constexpr std::uint64_t kPoints = 30ull * 86'400;
  const std::int64_t now = b.clock.unix_ms();
  const std::int64_t start = now - static_cast<std::int64_t>(kPoints) * 1000;
  const double secs = b.write(kPoints, 1, start);
  b.store->flush();
  std::printf("30 days of 1 Hz points for one field: %llu points written in %.1f s; database %llu MB\n",
              static_cast<unsigned long long>(kPoints), secs,
              static_cast<unsigned long long>(std::filesystem::file_size(b.dir + "/feeds.db") >> 20));
  std::size_t points = 0;
  FeedQuery month{
      .feed = "bench", .fields = {"f0"}, .from_ms = start, .to_ms = now, .granularity_ms = 3'600'000};
  auto [m50, mmax] = b.time_query(month, 20, points);
  std::printf("30 days at 1-hour granularity (avg): %zu points, median %.2f ms, worst %.2f ms (20 runs)\n",
              points, m50, mmax);
  FeedQuery hour{.feed = "bench", .fields = {"f0"}, .from_ms = now - 3'600'000, .to_ms = now};
  auto [h50, hmax] = b.time_query(hour, 20, points);
  std::printf("the last hour, raw: %zu points, median %.2f ms, worst %.2f ms (20 runs)\n", points, h50, hmax);
  FeedQuery day{.feed = "bench",
                .fields = {"f0"},
                .from_ms = now - 86'400'000,
                .to_ms = now,
                .granularity_ms = 600'000};
  auto [d50, dmax] = b.time_query(day, 20, points);
  std::printf(
      "24 hours at 10-minute granularity (avg): %zu points, median %.2f ms, worst %.2f ms (20 runs)\n",
      points, d50, dmax);
}

}  // namespace

int main(int argc, char** argv) {
  const std::uint64_t writes = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 300'000;
  writes_phase(1, writes);
  writes_phase(3, writes);
  query_phase();
  return 0;
}
