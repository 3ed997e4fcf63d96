// The metrics registry (gateway/ops/metrics.hpp): the text exposition format as Prometheus defines it
// (HELP and TYPE once per family, before its samples; escaped label values; cumulative histogram buckets
// with +Inf, _sum and _count), owned cells and collectors sharing a family, and the route label's bound.
#include <gtest/gtest.h>

#include "gateway/broker/stats.hpp"
#include "gateway/ops/metrics.hpp"
#include "gateway/ops/ops.hpp"

namespace gw::ops {
namespace {

TEST(Metrics, CounterAndGaugeFamiliesInFirstSeenOrder) {
  Registry r;
  r.counter("a_total", "A things", {{"protocol", "ws"}}).inc(3);
  r.gauge("b", "B now").set(2.5);
  EXPECT_EQ(r.render(),
            "# HELP a_total A things\n# TYPE a_total counter\na_total{protocol=\"ws\"} 3\n"
            "# HELP b B now\n# TYPE b gauge\nb 2.5\n");
}

TEST(Metrics, SameNameAndLabelsGiveTheSameCell) {
  Registry r;
  Counter& a = r.counter("x_total", "x", {{"k", "1"}});
  Counter& b = r.counter("x_total", "x", {{"k", "1"}});
  Counter& c = r.counter("x_total", "x", {{"k", "2"}});
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &c);
}

TEST(Metrics, CollectorAndOwnedCellShareOneFamilyHeader) {
  // The broker's MQTT rows come from a collector, a later listener adds its own cell: one HELP/TYPE.
  Registry r;
  r.add_collector([](Exposition& e) { e.gauge("conns", "Connections", {{"protocol", "mqtt"}}, 4); });
  r.gauge("conns", "Connections", {{"protocol", "coap"}}).set(1);
  EXPECT_EQ(r.render(),
            "# HELP conns Connections\n# TYPE conns gauge\nconns{protocol=\"mqtt\"} "
            "4\nconns{protocol=\"coap\"} 1\n");
}

TEST(Metrics, LabelValuesAndHelpAreEscaped) {
  Registry r;
  r.counter("e_total", "line\\one\ntwo \"q\"", {{"v", "a\"b\\c\nd"}}).inc();
  EXPECT_EQ(r.render(),
            "# HELP e_total line\\\\one\\ntwo \"q\"\n# TYPE e_total counter\n"
            "e_total{v=\"a\\\"b\\\\c\\nd\"} 1\n");
}

TEST(Metrics, HistogramIsCumulativeWithInfSumAndCount) {
  Registry r;
  Histogram& h = r.histogram("lat", "Latency", {10, 100});
  for (std::uint64_t v : {5, 10, 11, 100, 1000}) h.observe(v);
  EXPECT_EQ(r.render(),
            "# HELP lat Latency\n# TYPE lat histogram\n"
            "lat_bucket{le=\"10\"} 2\nlat_bucket{le=\"100\"} 4\nlat_bucket{le=\"+Inf\"} 5\n"
            "lat_sum 1126\nlat_count 5\n");
}

TEST(Metrics, HistogramBoundsScaledToSeconds) {
  Exposition e;
  const std::uint64_t bounds[] = {250, 1000};
  const std::uint64_t counts[] = {1, 0, 2};
  e.histogram("c_seconds", "C", {{"x", "y"}}, bounds, counts, 0.5, 1e-6);
  EXPECT_EQ(
      e.text(),
      "# HELP c_seconds C\n# TYPE c_seconds histogram\n"
      "c_seconds_bucket{x=\"y\",le=\"0.00025\"} 1\nc_seconds_bucket{x=\"y\",le=\"0.001\"} 1\n"
      "c_seconds_bucket{x=\"y\",le=\"+Inf\"} 3\nc_seconds_sum{x=\"y\"} 0.5\nc_seconds_count{x=\"y\"} 3\n");
}

TEST(Metrics, RouteLabelHasABoundedSetOfValues) {
  auto route = [](std::string path) {
    http::Request req;
    req.path = std::move(path);
    return route_of(req);
  };
  EXPECT_EQ(route("/"), "/");
  EXPECT_EQ(route("/metrics"), "/metrics");
  EXPECT_EQ(route("/api/v1/tokens/T/revoke"), "/api/v1/tokens");
  EXPECT_EQ(route("/api/v1/anything-else"), "/api/v1/other");
  EXPECT_EQ(route("/api/atoken"), "/api/atoken");
  EXPECT_EQ(route("/api/revoke/T/C"), "/api/revoke");
  EXPECT_EQ(route("/topic/app/a/b"), "/topic");
  EXPECT_EQ(route("/random-" + std::string(100, 'x')), "other");
}

TEST(ProtocolStats, RowsPerProtocolUpToABound) {
  broker::Stats s;
  EXPECT_EQ(s.protocol_index("mqtt"), 0);
  EXPECT_EQ(s.protocol_index("ws"), 1);
  EXPECT_EQ(s.protocol_index("ws"), 1);
  for (int i = 0; i < 40; ++i) s.protocol_index("p" + std::to_string(i));
  EXPECT_EQ(s.protocols.size(), broker::kMaxProtocols);
  EXPECT_EQ(s.protocols.back().name, "other");
  EXPECT_EQ(s.protocol_index("yet-another"), broker::kMaxProtocols - 1);
  EXPECT_EQ(s.protocol_index("ws"), 1);
}

}  // namespace
}  // namespace gw::ops

namespace gw::ops {
namespace {

// /readyz's reasons, from an Ops over a real broker and no store.
TEST(Readiness, ListenersThenStore) {
  config::Config cfg = config::default_config();
  ManualClock clock;
  broker::Broker b(cfg, clock, std::make_unique<broker::ConfigAuthenticator>(cfg.auth));
  Ops ops(Sources{&b, nullptr, nullptr, nullptr, nullptr, &cfg, &clock, "test"});
  EXPECT_EQ(ops.not_ready_reason(), "listeners not bound yet; store not open");
  ops.set_listeners_bound(true);
  EXPECT_EQ(ops.not_ready_reason(), "store not open");
  cfg.store.enabled = false;  // no store configured: nothing to wait for
  EXPECT_EQ(ops.not_ready_reason(), "");
  const std::string text = ops.metrics().render();
  EXPECT_NE(text.find("netpie_edge_ready 1\n"), std::string::npos);
  EXPECT_NE(text.find("netpie_edge_store_up 0\n"), std::string::npos);
  EXPECT_NE(text.find("netpie_edge_messages_dropped_total{reason=\"offline_qos0\"} 0\n"), std::string::npos);
}

}  // namespace
}  // namespace gw::ops
