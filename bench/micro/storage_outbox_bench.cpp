// Micro-benchmarks for the store's outbox with group commit, as the broker uses it: the loop thread
// enqueues QoS 1 messages (100-byte payload, 100 origins) with a completion each, and runs the
// completions from a uv loop (uv_async). Three views:
//   BM_OutboxThroughput: saturating load (at most `outstanding` un-acknowledged messages), durable msgs/s
//   BM_OutboxAckLatency: a fixed rate below saturation; the latency group commit adds to each PUBACK
//   BM_OutboxWear:       enqueue, read, ack, delete at steady state; bytes written per million messages
// Counters: p50_us / p99_us (enqueue -> completion), txn (transactions), rows_per_txn,
// MB_per_1M_msgs (the store's own count: WAL frames + checkpoint pages) and io_MB_per_1M_msgs (the
// process's write_bytes from /proc/self/io: what reached the block layer, file-system overhead included).
#include <benchmark/benchmark.h>
#include <stdlib.h>
#include <uv.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gateway/base/clock.hpp"
#include "gateway/base/log.hpp"
#include "storage/store.hpp"

namespace {

using gw::storage::OutboxEnqueued;
using gw::storage::OutboxMessage;
using gw::storage::Status;
using gw::storage::Store;
using gw::storage::StoreOptions;
using Clock = std::chrono::steady_clock;

std::uint64_t proc_write_bytes() {
  std::ifstream in("/proc/self/io");
  std::string key;
  std::uint64_t value = 0;
  while (in >> key >> value) {
    if (key == "write_bytes:") return value;
  }
  return 0;
}

// Where the database goes: $GW_BENCH_DIR, else /var/tmp (a real disk; /tmp may be a tmpfs).
std::string bench_dir() {
  const char* env = std::getenv("GW_BENCH_DIR");
  std::string base = env ? env : "/var/tmp";
  std::string tmpl = base + "/gw-storage-bench-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  const char* d = mkdtemp(buf.data());
  return d ? d : "";
}

struct Fixture {
  std::string dir;
  gw::SteadyClock clock;
  uv_loop_t loop{};
  std::unique_ptr<Store> store;
  std::vector<std::int64_t> latencies_ns;
  std::uint64_t sent = 0;
  std::uint64_t done = 0;
  std::uint64_t failed = 0;

  bool open(StoreOptions o) {
    gw::log::set_level(gw::log::Level::Warn);
    dir = bench_dir();
    if (dir.empty()) return false;
    o.path = dir + "/bench.db";
    uv_loop_init(&loop);
    auto r = Store::open(o, clock);
    if (!r) return false;
    store = std::move(r.value());
    return store->attach(&loop) == Status::Ok;
  }
  ~Fixture() {
    if (store) store->close();
    store.reset();
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    if (!dir.empty()) std::filesystem::remove_all(dir);
  }

  OutboxMessage message(std::uint64_t i) const {
    OutboxMessage m;
    m.origin = "dev" + std::to_string(i % 100);
    m.topic = "farm/" + m.origin + "/temp";
    m.payload.assign(100, static_cast<char>('a' + i % 26));
    m.qos = 1;
    return m;
  }

  // Sends `total` messages, at most `outstanding` un-acknowledged, at `rate` msgs/s (0 = as fast as
  // the store takes them), running the loop for the completions.
  void run_load(std::uint64_t total, std::uint64_t outstanding, double rate) {
    const std::uint64_t target_done = done + total;
    const std::uint64_t target_sent = sent + total;
    const auto start = Clock::now();
    const std::uint64_t sent_at_start = sent;
    while (done < target_done) {
      auto now = Clock::now();
      while (sent < target_sent && sent - done < outstanding) {
        if (rate > 0) {
          auto due = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                                 static_cast<double>(sent - sent_at_start) / rate));
          if (now < due) break;
        }
        const auto t0 = Clock::now();
        Status s = store->outbox_enqueue(message(sent), [this, t0](gw::Result<OutboxEnqueued, Status> r) {
          latencies_ns.push_back(
              std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
          if (!r) ++failed;
          ++done;
        });
        if (s != Status::Ok) {
          ++failed;  // refused at the queue: counts as done, never completes
          ++done;
        }
        ++sent;
      }
      bool blocked = sent == target_sent || sent - done >= outstanding;
      if (blocked) {
        uv_run(&loop, UV_RUN_ONCE);  // sleeps until the storage thread posts completions
      } else {
        uv_run(&loop, UV_RUN_NOWAIT);
        if (rate > 0) std::this_thread::sleep_for(std::chrono::microseconds(50));
      }
    }
  }

  // Reads up to `n` rows (marking them in flight) and acknowledges them, as the uplink would.
  void drain(std::uint32_t n) {
    bool finished = false;
    store->outbox_read(
        gw::storage::OutboxReadOptions{.max_rows = n, .max_bytes = 1ull << 30},
        [&](gw::Result<std::vector<gw::storage::OutboxRecord>, Status> r) {
          if (r && !r.value().empty()) {
            store->outbox_ack({gw::storage::IdRange{r.value().front().id, r.value().back().id}});
          }
          finished = true;
        });
    while (!finished) uv_run(&loop, UV_RUN_ONCE);
  }
};

double percentile(std::vector<std::int64_t>& v, double p) {
  if (v.empty()) return 0;
  std::size_t k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return static_cast<double>(v[k]) / 1000.0;  // microseconds
}

void report(benchmark::State& state, Fixture& f, const gw::storage::StoreStats& before,
            std::uint64_t io_before, std::uint64_t messages) {
  auto after = f.store->stats();
  const double n = static_cast<double>(messages);
  const double txn = static_cast<double>(after.transactions - before.transactions);
  state.counters["p50_us"] = percentile(f.latencies_ns, 0.50);
  state.counters["p99_us"] = percentile(f.latencies_ns, 0.99);
  state.counters["txn"] = txn;
  state.counters["rows_per_txn"] = txn > 0 ? n / txn : 0;
  state.counters["wal_pages_per_txn"] =
      txn > 0 ? static_cast<double>(after.wal_frames - before.wal_frames) / txn : 0;
  state.counters["MB_per_1M_msgs"] =
      static_cast<double>(after.bytes_written - before.bytes_written) / n * 1e6 / (1024.0 * 1024.0);
  state.counters["io_MB_per_1M_msgs"] =
      static_cast<double>(proc_write_bytes() - io_before) / n * 1e6 / (1024.0 * 1024.0);
  state.counters["failed"] = static_cast<double>(f.failed);
  state.SetItemsProcessed(static_cast<std::int64_t>(messages));
}

StoreOptions options_from(std::int64_t window_us, std::int64_t row_cap, std::int64_t full) {
  StoreOptions o;
  o.commit_window = std::chrono::microseconds(window_us);
  o.commit_max_rows = static_cast<std::uint32_t>(row_cap);
  o.synchronous = full ? gw::storage::Synchronous::Full : gw::storage::Synchronous::Normal;
  o.maintenance_interval = std::chrono::seconds(1);
  // For experiments: GW_BENCH_CHECKPOINT_PAGES overrides store.checkpoint_pages.
  if (const char* cp = std::getenv("GW_BENCH_CHECKPOINT_PAGES"))
    o.checkpoint_pages = static_cast<std::uint32_t>(std::atoi(cp));
  return o;
}

// Args: window_us, row_cap, synchronous (0 normal, 1 full), outstanding.
void BM_OutboxThroughput(benchmark::State& state) {
  Fixture f;
  if (!f.open(options_from(state.range(0), state.range(1), state.range(2)))) {
    state.SkipWithError("cannot open the store");
    return;
  }
  const std::uint64_t per_iteration = 100'000;
  auto before = f.store->stats();
  std::uint64_t io_before = proc_write_bytes();
  std::uint64_t messages = 0;
  for (auto _ : state) {
    f.run_load(per_iteration, static_cast<std::uint64_t>(state.range(3)), 0);
    messages += per_iteration;
  }
  report(state, f, before, io_before, messages);
}

// Args: window_us, synchronous, rate (msgs/s).
void BM_OutboxAckLatency(benchmark::State& state) {
  Fixture f;
  if (!f.open(options_from(state.range(0), 1000, state.range(1)))) {
    state.SkipWithError("cannot open the store");
    return;
  }
  const double rate = static_cast<double>(state.range(2));
  const auto per_iteration = static_cast<std::uint64_t>(rate * 2);  // two seconds of traffic
  f.run_load(100, 1'000'000, 0);  // warm up: the first pages of the tables exist
  f.latencies_ns.clear();
  auto before = f.store->stats();
  std::uint64_t io_before = proc_write_bytes();
  std::uint64_t messages = 0;
  for (auto _ : state) {
    f.run_load(per_iteration, 1'000'000, rate);
    messages += per_iteration;
  }
  report(state, f, before, io_before, messages);
}

// Args: window_us, synchronous. Enqueue 10,000, read and ack them, repeat: the outbox stays small,
// every row is inserted, marked in flight and deleted; checkpoints and vacuum run as configured.
void BM_OutboxWear(benchmark::State& state) {
  Fixture f;
  if (!f.open(options_from(state.range(0), 1000, state.range(1)))) {
    state.SkipWithError("cannot open the store");
    return;
  }
  auto before = f.store->stats();
  std::uint64_t io_before = proc_write_bytes();
  std::uint64_t messages = 0;
  for (auto _ : state) {
    for (int round = 0; round < 20; ++round) {
      f.run_load(10'000, 4096, 0);
      f.drain(10'000);
      messages += 10'000;
    }
  }
  f.store->flush();
  report(state, f, before, io_before, messages);
  state.counters["outbox_rows_left"] = static_cast<double>(f.store->stats().outbox_rows);
}

BENCHMARK(BM_OutboxThroughput)
    ->ArgNames({"window_us", "row_cap", "full", "outstanding"})
    ->Args({500, 1000, 0, 4096})
    ->Args({2000, 1000, 0, 4096})
    ->Args({5000, 1000, 0, 4096})
    ->Args({10000, 1000, 0, 4096})
    ->Args({2000, 100, 0, 4096})
    ->Args({2000, 10000, 0, 16384})
    ->Args({500, 1000, 1, 4096})
    ->Args({2000, 1000, 1, 4096})
    ->Args({5000, 1000, 1, 4096})
    ->Args({10000, 1000, 1, 4096})
    ->Iterations(3)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

BENCHMARK(BM_OutboxAckLatency)
    ->ArgNames({"window_us", "full", "rate"})
    ->Args({500, 0, 10000})
    ->Args({2000, 0, 10000})
    ->Args({5000, 0, 10000})
    ->Args({10000, 0, 10000})
    ->Args({500, 1, 10000})
    ->Args({2000, 1, 10000})
    ->Args({5000, 1, 10000})
    ->Args({10000, 1, 10000})
    ->Args({2000, 0, 1000})
    ->Args({2000, 0, 100})
    ->Args({20000, 0, 100})
    ->Args({50000, 0, 100})
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

BENCHMARK(BM_OutboxWear)
    ->ArgNames({"window_us", "full"})
    ->Args({2000, 0})
    ->Args({2000, 1})
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
