// Implementation of the metrics registry and the text exposition format
// (https://prometheus.io/docs/instrumenting/exposition_formats/, text format 0.0.4): `# HELP` and
// `# TYPE` once per family, before its samples; label values escaped; histograms as cumulative
// `_bucket{le=...}` series ending in le="+Inf", then `_sum` and `_count`.
#include "gateway/ops/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace gw::ops {

namespace {

std::string number(std::uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

const char* type_name(MetricType t) {
  switch (t) {
    case MetricType::Counter:
      return "counter";
    case MetricType::Gauge:
      return "gauge";
    case MetricType::Histogram:
      return "histogram";
  }
  return "untyped";
}

// Label values escape backslash, double quote and newline; HELP text only backslash and newline.
std::string escape(std::string_view v, bool quote) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}
std::string escape_help(std::string_view v) {
  return escape(v, false);
}
}  // namespace

std::string escape_label_value(std::string_view v) {
  return escape(v, true);
}

Exposition::Family& Exposition::family(std::string_view name, std::string_view help, MetricType type) {
  auto it = index_.find(std::string(name));
  if (it != index_.end()) return families_[it->second];
  index_.emplace(std::string(name), families_.size());
  families_.push_back(Family{std::string(name), type, std::string(help), {}});
  return families_.back();
}

void Exposition::sample(std::string& out, std::string_view name, const Labels& labels,
                        std::string_view extra_name, std::string_view extra_value, std::string_view value) {
  out.append(name);
  if (!labels.empty() || !extra_name.empty()) {
    out.push_back('{');
    bool first = true;
    for (const auto& [k, v] : labels) {
      if (!first) out.push_back(',');
      first = false;
      out.append(k);
      out.append("=\"");
      out.append(escape_label_value(v));
      out.push_back('"');
    }
    if (!extra_name.empty()) {
      if (!first) out.push_back(',');
      out.append(extra_name);
      out.append("=\"");
      out.append(extra_value);
      out.push_back('"');
    }
    out.push_back('}');
  }
  out.push_back(' ');
  out.append(value);
  out.push_back('\n');
}

void Exposition::counter(std::string_view name, std::string_view help, const Labels& labels,
                         std::uint64_t value) {
  sample(family(name, help, MetricType::Counter).samples, name, labels, {}, {}, number(value));
}

void Exposition::gauge(std::string_view name, std::string_view help, const Labels& labels, double value) {
  sample(family(name, help, MetricType::Gauge).samples, name, labels, {}, {}, number(value));
}

void Exposition::histogram(std::string_view name, std::string_view help, const Labels& labels,
                           std::span<const std::uint64_t> bounds, std::span<const std::uint64_t> counts,
                           double sum, double bound_scale) {
  std::string& out = family(name, help, MetricType::Histogram).samples;
  const std::string bucket = std::string(name) + "_bucket";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    cumulative += i < counts.size() ? counts[i] : 0;
    sample(out, bucket, labels, "le", number(static_cast<double>(bounds[i]) * bound_scale),
           number(cumulative));
  }
  if (counts.size() > bounds.size()) cumulative += counts[bounds.size()];
  sample(out, bucket, labels, "le", "+Inf", number(cumulative));
  sample(out, std::string(name) + "_sum", labels, {}, {}, number(sum));
  sample(out, std::string(name) + "_count", labels, {}, {}, number(cumulative));
}

std::string Exposition::text() const {
  std::size_t size = 0;
  for (const Family& f : families_) size += f.samples.size() + f.help.size() + 2 * f.name.size() + 32;
  std::string out;
  out.reserve(size);
  for (const Family& f : families_) {
    out += "# HELP " + f.name + " " + escape_help(f.help) + "\n";
    out += "# TYPE " + f.name + " " + type_name(f.type) + "\n";
    out += f.samples;
  }
  return out;
}

Histogram::Histogram(std::vector<std::uint64_t> bounds) : bounds_(std::move(bounds)) {
  std::sort(bounds_.begin(), bounds_.end());
  counts_.assign(bounds_.size() + 1, 0);
}

void Histogram::observe(std::uint64_t v) {
  const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), v);
  counts_[static_cast<std::size_t>(it - bounds_.begin())] += 1;
  sum_ += v;
}

Registry::Cell& Registry::cell(const std::string& name, const std::string& help, const Labels& labels,
                               MetricType type) {
  std::string key = name;
  for (const auto& [k, v] : labels) key += '\0' + k + '\0' + v;
  if (auto it = by_key_.find(key); it != by_key_.end()) return *it->second;
  auto c = std::make_unique<Cell>();
  c->name = name;
  c->help = help;
  c->labels = labels;
  c->type = type;
  Cell& ref = *c;
  cells_.push_back(std::move(c));
  by_key_.emplace(std::move(key), &ref);
  return ref;
}

Counter& Registry::counter(const std::string& name, const std::string& help, const Labels& labels) {
  Cell& c = cell(name, help, labels, MetricType::Counter);
  if (!c.counter) c.counter = std::make_unique<Counter>();
  return *c.counter;
}

Gauge& Registry::gauge(const std::string& name, const std::string& help, const Labels& labels) {
  Cell& c = cell(name, help, labels, MetricType::Gauge);
  if (!c.gauge) c.gauge = std::make_unique<Gauge>();
  return *c.gauge;
}

Histogram& Registry::histogram(const std::string& name, const std::string& help,
                               std::vector<std::uint64_t> bounds, const Labels& labels) {
  Cell& c = cell(name, help, labels, MetricType::Histogram);
  if (!c.histogram) c.histogram = std::make_unique<Histogram>(std::move(bounds));
  return *c.histogram;
}

Exposition Registry::collect() const {
  Exposition e;
  for (const Collector& c : collectors_) c(e);
  for (const auto& c : cells_) {
    if (c->counter) e.counter(c->name, c->help, c->labels, c->counter->value());
    if (c->gauge) e.gauge(c->name, c->help, c->labels, c->gauge->value());
    if (c->histogram) {
      e.histogram(c->name, c->help, c->labels, c->histogram->bounds(), c->histogram->counts(),
                  static_cast<double>(c->histogram->sum()));
    }
  }
  return e;
}

}  // namespace gw::ops
