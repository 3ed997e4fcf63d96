// Micro-benchmarks for the broker's two topic indexes: SubscriptionTrie::match with 10k to 1M
// subscriptions (exact filters, a mix with '+' and '#', and one topic with many subscribers), adding and
// removing subscriptions, and RetainedStore lookups for exact and wildcard filters over 10k to 1M
// retained messages. Each index is built once per size and reused; heap bytes per entry are reported.
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gateway/broker/retained_store.hpp"
#include "gateway/broker/session.hpp"
#include "gateway/broker/subscription_trie.hpp"

namespace {

using gw::broker::Message;
using gw::broker::MessagePtr;
using gw::broker::RetainedStore;
using gw::broker::Session;
using gw::broker::SubEntry;
using gw::broker::SubscriptionTrie;

constexpr std::size_t kSessions = 1000;  // subscriptions are spread over this many sessions
constexpr std::size_t kSites = 100;      // topics look like site/<s>/dev/<d>/temp

std::size_t heap_in_use() {
  return mallinfo2().uordblks;
}

std::vector<std::unique_ptr<Session>>& sessions() {
  static std::vector<std::unique_ptr<Session>> all = [] {
    std::vector<std::unique_ptr<Session>> v;
    for (std::size_t i = 0; i < kSessions; ++i)
      v.push_back(std::make_unique<Session>("s" + std::to_string(i)));
    return v;
  }();
  return all;
}

std::string device_topic(std::size_t k) {
  return "site/" + std::to_string(k % kSites) + "/dev/" + std::to_string(k / kSites) + "/temp";
}

// The filter of subscription k in the "mixed" shape: 80% exact, 10% "site/<s>/+/<d>/temp", 10%
// "site/<s>/dev/<d>/#". Each device topic is matched by exactly one filter, but the walk has to try the
// '+' and '#' branches on the way.
std::string mixed_filter(std::size_t k) {
  const std::string site = "site/" + std::to_string(k % kSites);
  switch (k % 10) {
    case 8:
      return site + "/+/" + std::to_string(k / kSites) + "/temp";
    case 9:
      return site + "/dev/" + std::to_string(k / kSites) + "/#";
    default:
      return device_topic(k);
  }
}

struct TrieFixture {
  SubscriptionTrie trie;
  std::size_t bytes_per_sub = 0;
};

enum class Shape { Exact, Mixed };

TrieFixture& trie_of(Shape shape, std::size_t n) {
  static std::map<std::pair<int, std::size_t>, std::unique_ptr<TrieFixture>> cache;
  auto& slot = cache[{static_cast<int>(shape), n}];
  if (!slot) {
    auto before = heap_in_use();
    slot = std::make_unique<TrieFixture>();
    auto& s = sessions();
    for (std::size_t k = 0; k < n; ++k) {
      SubEntry e{s[k % kSessions].get(), {}, 0};
      slot->trie.add(shape == Shape::Exact ? device_topic(k) : mixed_filter(k), e);
    }
    slot->bytes_per_sub = (heap_in_use() - before) / n;
  }
  return *slot;
}

void match_bench(benchmark::State& state, Shape shape) {
  const auto n = static_cast<std::size_t>(state.range(0));
  auto& f = trie_of(shape, n);
  std::vector<std::string> topics;
  std::mt19937 rng(42);
  for (int i = 0; i < 1024; ++i) topics.push_back(device_topic(rng() % n));
  std::size_t matched = 0, i = 0;
  for (auto _ : state) {
    f.trie.match(
        topics[i++ & 1023], [&](const SubEntry&) { ++matched; },
        [&](gw::broker::SharedGroup&) { ++matched; });
  }
  benchmark::DoNotOptimize(matched);
  state.counters["matches/op"] = static_cast<double>(matched) / static_cast<double>(state.iterations());
  state.counters["heap B/sub"] = static_cast<double>(f.bytes_per_sub);
}

void BM_TrieMatchExact(benchmark::State& state) {
  match_bench(state, Shape::Exact);
}
BENCHMARK(BM_TrieMatchExact)->Arg(10'000)->Arg(100'000)->Arg(1'000'000);

void BM_TrieMatchMixedWildcards(benchmark::State& state) {
  match_bench(state, Shape::Mixed);
}
BENCHMARK(BM_TrieMatchMixedWildcards)->Arg(10'000)->Arg(100'000)->Arg(1'000'000);

// A miss: the topic shares the first levels with every subscription but matches none.
void BM_TrieMatchMiss(benchmark::State& state) {
  auto& f = trie_of(Shape::Exact, static_cast<std::size_t>(state.range(0)));
  std::size_t matched = 0;
  for (auto _ : state) {
    f.trie.match(
        "site/1/dev/none/temp", [&](const SubEntry&) { ++matched; }, [&](gw::broker::SharedGroup&) {});
  }
  benchmark::DoNotOptimize(matched);
}
BENCHMARK(BM_TrieMatchMiss)->Arg(10'000)->Arg(1'000'000);

// Fan-out: N sessions on one filter; the cost per delivered entry is what matters.
void BM_TrieMatchOneTopicManySubscribers(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  std::vector<std::unique_ptr<Session>> own;
  SubscriptionTrie trie;
  for (std::size_t k = 0; k < n; ++k) {
    own.push_back(std::make_unique<Session>("f" + std::to_string(k)));
    trie.add("bench/fan-out", SubEntry{own.back().get(), {}, 0});
  }
  std::size_t matched = 0;
  for (auto _ : state) {
    trie.match(
        "bench/fan-out", [&](const SubEntry&) { ++matched; }, [&](gw::broker::SharedGroup&) {});
  }
  benchmark::DoNotOptimize(matched);
  state.SetItemsProcessed(static_cast<std::int64_t>(matched));
}
BENCHMARK(BM_TrieMatchOneTopicManySubscribers)->Arg(100)->Arg(10'000);

// Subscribe and unsubscribe churn on a trie already holding N subscriptions (a new filter each time,
// so nodes are created and pruned).
void BM_TrieAddRemove(benchmark::State& state) {
  auto& f = trie_of(Shape::Mixed, static_cast<std::size_t>(state.range(0)));
  Session* s = sessions()[0].get();
  std::vector<std::string> filters;
  for (int i = 0; i < 1024; ++i)
    filters.push_back("site/" + std::to_string(i % kSites) + "/churn/" + std::to_string(i));
  std::size_t i = 0;
  for (auto _ : state) {
    const auto& filter = filters[i++ & 1023];
    f.trie.add(filter, SubEntry{s, {}, 0});
    f.trie.remove(filter, s);
  }
}
BENCHMARK(BM_TrieAddRemove)->Arg(10'000)->Arg(1'000'000);

struct RetainedFixture {
  RetainedStore store{100'000'000};
  std::size_t bytes_per_msg = 0;
};

RetainedFixture& retained_of(std::size_t n) {
  static std::map<std::size_t, std::unique_ptr<RetainedFixture>> cache;
  auto& slot = cache[n];
  if (!slot) {
    auto before = heap_in_use();
    slot = std::make_unique<RetainedFixture>();
    for (std::size_t k = 0; k < n; ++k) {
      auto m = std::make_shared<Message>();
      m->topic = device_topic(k);
      m->payload = "21.5";
      m->retain = true;
      slot->store.set(m);
    }
    slot->bytes_per_msg = (heap_in_use() - before) / n;
  }
  return *slot;
}

// A SUBSCRIBE to an exact topic looking up its retained message.
void BM_RetainedLookupExact(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  auto& f = retained_of(n);
  std::vector<std::string> filters;
  std::mt19937 rng(7);
  for (int i = 0; i < 1024; ++i) filters.push_back(device_topic(rng() % n));
  std::size_t found = 0, i = 0;
  for (auto _ : state) f.store.match(filters[i++ & 1023], [&](const MessagePtr&) { ++found; });
  benchmark::DoNotOptimize(found);
  state.counters["found/op"] = static_cast<double>(found) / static_cast<double>(state.iterations());
  state.counters["heap B/msg"] = static_cast<double>(f.bytes_per_msg);
}
BENCHMARK(BM_RetainedLookupExact)->Arg(10'000)->Arg(100'000)->Arg(1'000'000);

// "site/<s>/dev/+/temp": one site's devices (n / 100 messages).
void BM_RetainedLookupPlus(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  auto& f = retained_of(n);
  std::size_t found = 0, i = 0;
  for (auto _ : state) {
    f.store.match("site/" + std::to_string(i++ % kSites) + "/dev/+/temp",
                  [&](const MessagePtr&) { ++found; });
  }
  benchmark::DoNotOptimize(found);
  state.SetItemsProcessed(static_cast<std::int64_t>(found));
}
BENCHMARK(BM_RetainedLookupPlus)->Arg(10'000)->Arg(100'000)->Arg(1'000'000);

// "site/<s>/dev/<d>/#": one device's subtree.
void BM_RetainedLookupHash(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  auto& f = retained_of(n);
  std::vector<std::string> filters;
  std::mt19937 rng(9);
  for (int i = 0; i < 1024; ++i) {
    std::size_t k = rng() % n;
    filters.push_back("site/" + std::to_string(k % kSites) + "/dev/" + std::to_string(k / kSites) + "/#");
  }
  std::size_t found = 0, i = 0;
  for (auto _ : state) f.store.match(filters[i++ & 1023], [&](const MessagePtr&) { ++found; });
  benchmark::DoNotOptimize(found);
}
BENCHMARK(BM_RetainedLookupHash)->Arg(10'000)->Arg(1'000'000);

// A retained PUBLISH replacing the message of an existing topic.
void BM_RetainedReplace(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  auto& f = retained_of(n);
  std::vector<MessagePtr> msgs;
  std::mt19937 rng(11);
  for (int i = 0; i < 1024; ++i) {
    auto m = std::make_shared<Message>();
    m->topic = device_topic(rng() % n);
    m->payload = "22.0";
    m->retain = true;
    msgs.push_back(m);
  }
  std::size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(f.store.set(msgs[i++ & 1023]));
}
BENCHMARK(BM_RetainedReplace)->Arg(10'000)->Arg(1'000'000);

}  // namespace

BENCHMARK_MAIN();
