// The operator's view on the HTTP listeners (gateway/ops/README.md): GET /healthz, GET /readyz,
// GET /metrics (Prometheus text format, from the metrics registry), GET /api/v1/... (JSON) with the
// owner's actions (approve or deny a waiting device, revoke a token), and the status page at /, embedded
// in the binary (status.html). It sits in front of the NETPIE endpoint's routes: every HTTP request
// passes through handle(), which counts it by route and status and applies the cross-site checks to
// state-changing /admin requests too, then answers its own routes or hands the request on.
// It reads the subsystems' own counters at scrape time and owns no state of theirs.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "gateway/base/clock.hpp"
#include "gateway/broker/broker.hpp"
#include "gateway/config/config.hpp"
#include "gateway/net/http_server.hpp"
#include "gateway/netpie/endpoint.hpp"
#include "gateway/ops/metrics.hpp"
#include "gateway/uplink/mqtt_uplink.hpp"
#include "protocols/http/request.hpp"
#include "storage/store.hpp"

namespace gw::ops {

// What the operator's view reads. Pointers stay valid while Ops lives; null: that part is off.
struct Sources {
  broker::Broker* broker = nullptr;
  storage::Store* store = nullptr;
  const std::vector<std::unique_ptr<uplink::MqttUplink>>* uplinks = nullptr;
  netpie::Endpoint* netpie = nullptr;
  const net::HttpServer* http = nullptr;
  const config::Config* config = nullptr;  // the running one (http.admin_users, store bounds)
  const Clock* clock = nullptr;
  std::string version;
};

// The embedded page (status.html, turned into a C++ array at build time by embed.cmake).
std::string_view status_page();

class Ops {
 public:
  explicit Ops(Sources sources);
  ~Ops();
  Ops(const Ops&) = delete;
  Ops& operator=(const Ops&) = delete;

  // Where subsystems add their own metrics (a counter, a gauge or a collector: one line each).
  Registry& metrics() { return metrics_; }
  // /readyz turns ready once every listener is bound (the daemon calls this after binding them).
  void set_listeners_bound(bool bound) { listeners_bound_ = bound; }
  // Every HTTP request comes here first; what is not the operator's goes to `next`.
  void handle(const http::Request& req, const net::HttpResponder& out, const net::HttpHandler& next);
  // From the daemon's timer: refreshes each uplink's oldest queued age (a store peek every 2 s).
  void tick();

  // Why the gateway is not ready ("" when it is): the store not open or refusing writes, listeners
  // not bound.
  std::string not_ready_reason() const;
  // The whole page's data in one answer (GET /api/v1/status): connected clients from `offset`, at most
  // `max_clients` of them.
  nlohmann::json status(std::size_t max_clients, std::size_t offset = 0) const;

 private:
  void serve(const http::Request& req, const net::HttpResponder& out, const std::string& route);
  void api(const http::Request& req, const net::HttpResponder& out, const std::vector<std::string>& seg);
  void add_collectors();
  void count_request(const std::string& route, int status);

  Sources src_;
  Registry metrics_;
  bool listeners_bound_ = false;
  Millis started_ = 0;
  Millis next_peek_ = 0;
  std::unordered_map<std::string, std::int64_t> oldest_age_s_;  // uplink -> age of its oldest queued row
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// The route label of a path: a fixed set, so that the label's values stay bounded whatever is asked.
std::string route_of(const http::Request& req);

}  // namespace gw::ops
