// The metrics registry behind GET /metrics: counters, gauges and histograms rendered in the Prometheus
// text exposition format (version 0.0.4). Two ways in, both one line for a subsystem:
//   - an owned cell: `Counter& c = registry.counter("netpie_edge_ws_frames_total", "...", {{"protocol",
//     "ws"}});` then `c.inc()` on the loop thread (the reference stays valid for the registry's life);
//   - a collector: `registry.add_collector([&](Exposition& e) { e.counter(...); })`, which reads a
//     subsystem's own stats struct at scrape time (the broker's, the store's, an uplink's).
// Samples of one family may come from several sources (the broker's MQTT rows and a CoAP listener's
// cell of the same family): the exposition groups them under one HELP/TYPE, in first-seen order, as the
// format requires. Single-threaded (the loop's): no locks. Pure: no I/O, no clock.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace gw::ops {

// Label pairs, in the order given (the format does not care; tests read them by name).
using Labels = std::vector<std::pair<std::string, std::string>>;

enum class MetricType { Counter, Gauge, Histogram };

// One rendering of the registry: families in first-seen order, each with its samples.
class Exposition {
 public:
  void counter(std::string_view name, std::string_view help, const Labels& labels, std::uint64_t value);
  void gauge(std::string_view name, std::string_view help, const Labels& labels, double value);
  // `counts[i]` is the number of observations <= bounds[i] (not cumulative); counts has one more slot,
  // for those above every bound. Written cumulative, with the +Inf bucket, _sum and _count.
  void histogram(std::string_view name, std::string_view help, const Labels& labels,
                 std::span<const std::uint64_t> bounds, std::span<const std::uint64_t> counts, double sum,
                 double bound_scale = 1.0);  // bounds are multiplied by it (µs bounds -> seconds)
  std::string text() const;
  std::size_t families() const { return families_.size(); }

 private:
  struct Family {
    std::string name;
    MetricType type;
    std::string help;
    std::string samples;
  };
  Family& family(std::string_view name, std::string_view help, MetricType type);
  static void sample(std::string& out, std::string_view name, const Labels& labels,
                     std::string_view extra_name, std::string_view extra_value, std::string_view value);

  std::vector<Family> families_;
  std::unordered_map<std::string, std::size_t> index_;
};

// A counter a subsystem owns and increments.
class Counter {
 public:
  void inc(std::uint64_t n = 1) { value_ += n; }
  std::uint64_t value() const { return value_; }

 private:
  std::uint64_t value_ = 0;
};

class Gauge {
 public:
  void set(double v) { value_ = v; }
  void add(double v) { value_ += v; }
  double value() const { return value_; }

 private:
  double value_ = 0;
};

// Fixed bounds, chosen at registration.
class Histogram {
 public:
  explicit Histogram(std::vector<std::uint64_t> bounds);
  void observe(std::uint64_t v);
  const std::vector<std::uint64_t>& bounds() const { return bounds_; }
  const std::vector<std::uint64_t>& counts() const { return counts_; }
  std::uint64_t sum() const { return sum_; }

 private:
  std::vector<std::uint64_t> bounds_;
  std::vector<std::uint64_t> counts_;  // bounds_.size() + 1
  std::uint64_t sum_ = 0;
};

class Registry {
 public:
  using Collector = std::function<void(Exposition&)>;

  // The same name and labels give the same cell.
  Counter& counter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge& gauge(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram& histogram(const std::string& name, const std::string& help, std::vector<std::uint64_t> bounds,
                       const Labels& labels = {});
  void add_collector(Collector c) { collectors_.push_back(std::move(c)); }

  // Collectors first, then the owned cells.
  Exposition collect() const;
  std::string render() const { return collect().text(); }

 private:
  struct Cell {
    std::string name;
    std::string help;
    Labels labels;
    MetricType type;
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
  };
  Cell& cell(const std::string& name, const std::string& help, const Labels& labels, MetricType type);

  std::vector<Collector> collectors_;
  std::vector<std::unique_ptr<Cell>> cells_;
  std::map<std::string, Cell*> by_key_;  // name + labels
};

// A label value or HELP text escaped as the text format wants (\\, \" in label values, \n).
std::string escape_label_value(std::string_view v);

}  // namespace gw::ops
