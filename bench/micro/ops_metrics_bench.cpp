// The loop time of the operator's routes with 10,000 connected clients (bench/README.md "Operator's
// view"): GET /metrics (every collector, the exposition text), GET /api/v1/status (the page's poll:
// overview plus the first 200 clients) and GET /api/v1/clients?limit=1000. Each runs exactly as on the
// daemon's loop, through Ops::handle with an answer sink instead of a socket; the broker is real, its
// clients are Connections over in-memory transports that CONNECTed and SUBSCRIBEd, and the store is a
// real SQLite store in a temporary directory. Answer bytes are reported beside the time.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "gateway/base/log.hpp"
#include "gateway/broker/broker.hpp"
#include "gateway/ops/ops.hpp"
#include "protocols/mqtt/codec.hpp"
#include "storage/store.hpp"

namespace {

using namespace gw;

constexpr std::size_t kClients = 10000;

struct NullTransport final : broker::Transport {
  std::string peer_name;
  void send(std::string_view) override {}
  void close() override {}
  std::size_t pending_bytes() const override { return 0; }
  void set_flow_paused(bool) override {}
  const std::string& peer() const override { return peer_name; }
  bool peer_is_loopback() const override { return true; }
};

struct Client {
  NullTransport transport;
  std::unique_ptr<broker::Connection> conn;
  void write(const mqtt::Buffer& b) {
    conn->on_data(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(b.data()), b.size()));
  }
};

struct World {
  config::Config cfg = config::default_config();
  SteadyClock clock;
  std::filesystem::path dir;
  std::unique_ptr<storage::Store> store;
  std::unique_ptr<broker::Broker> broker;
  std::vector<std::unique_ptr<Client>> clients;
  std::vector<std::unique_ptr<uplink::MqttUplink>> uplinks;
  std::unique_ptr<ops::Ops> ops;

  World() {
    log::set_level(log::Level::Warn);  // 10,000 connect lines are not the benchmark
    cfg.limits.max_connections = kClients + 10;
    cfg.auth.anonymous = config::AnonymousPolicy::Allow;
    dir = std::filesystem::temp_directory_path() / ("ops-bench-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    storage::StoreOptions so;
    so.path = (dir / "bench.db").string();
    store = std::move(storage::Store::open(so, clock)).value();
    broker =
        std::make_unique<broker::Broker>(cfg, clock, std::make_unique<broker::ConfigAuthenticator>(cfg.auth));
    for (std::size_t i = 0; i < kClients; ++i) {
      auto c = std::make_unique<Client>();
      c->transport.peer_name = "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250) + ":40000";
      c->conn = std::make_unique<broker::Connection>(*broker, c->transport);
      mqtt::Connect connect;
      connect.protocol_name = "MQTT";
      connect.client_id = "device-" + std::to_string(i);
      connect.keep_alive = 60;
      mqtt::Buffer b;
      mqtt::encode(connect, b);
      c->write(b);
      mqtt::Subscribe sub;
      sub.packet_id = 1;
      sub.subscriptions.push_back({"dev/" + std::to_string(i) + "/cmd", {1}});
      b.clear();
      mqtt::encode(sub, mqtt::Version::V311, b);
      c->write(b);
      clients.push_back(std::move(c));
    }
    ops = std::make_unique<ops::Ops>(
        ops::Sources{broker.get(), store.get(), &uplinks, nullptr, nullptr, &cfg, &clock, "bench"});
    ops->set_listeners_bound(true);
  }
  ~World() {
    ops.reset();
    for (auto& c : clients) c->conn->on_closed();
    clients.clear();
    store->close();
    std::filesystem::remove_all(dir);
  }
};

World& world() {
  static World w;
  return w;
}

void run(benchmark::State& state, const std::string& target) {
  World& w = world();
  if (w.broker->connected_count() != kClients) {
    state.SkipWithError("clients did not all connect");
    return;
  }
  http::Request req;
  req.method = "GET";
  req.target = target;
  const auto q = target.find('?');
  req.path = target.substr(0, q);
  if (q != std::string::npos) {
    req.query = target.substr(q + 1);
    req.query_params = http::parse_query(req.query);
  }
  req.headers.add("Host", "127.0.0.1:8080");
  net::HttpPeer peer{"127.0.0.1:50000", "127.0.0.1", 8080, true, false};
  std::size_t bytes = 0;
  int status = 0;
  const net::HttpHandler next = [](const http::Request&, const net::HttpResponder&) {};
  for (auto _ : state) {
    net::HttpResponder out(peer, [&](http::Response r) {
      bytes = r.body.size();
      status = r.status;
      benchmark::DoNotOptimize(r.body.data());
    });
    w.ops->handle(req, out, next);
  }
  if (status != 200) state.SkipWithError(("status " + std::to_string(status)).c_str());
  state.counters["answer_bytes"] = static_cast<double>(bytes);
  state.counters["clients"] = static_cast<double>(w.broker->connected_count());
}

void BM_Metrics(benchmark::State& state) {
  run(state, "/metrics");
}
void BM_StatusJson(benchmark::State& state) {
  run(state, "/api/v1/status");
}
void BM_Clients1000(benchmark::State& state) {
  run(state, "/api/v1/clients?limit=1000");
}

BENCHMARK(BM_Metrics)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_StatusJson)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Clients1000)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
