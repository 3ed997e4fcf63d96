// Implementation of the daemon wiring. Start-up errors (a port in use, an unwritable state directory)
// are reported once and turn into exit code 1; after start-up nothing here exits on its own.
#include "gateway/app/app.hpp"

#include <uv.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <vector>

#include "gateway/base/clock.hpp"
#include "gateway/base/log.hpp"
#include "gateway/broker/broker.hpp"
#include "gateway/broker/persistence.hpp"
#include "gateway/net/http_server.hpp"
#include "gateway/net/tcp_server.hpp"
#include "gateway/netpie/endpoint.hpp"
#include "gateway/uplink/mqtt_uplink.hpp"
#include "storage/store.hpp"

namespace gw::app {

namespace {

struct Daemon {
  uv_loop_t loop{};
  SteadyClock clock;
  std::unique_ptr<storage::Store> store;
  std::unique_ptr<broker::Persistence> persistence;
  std::unique_ptr<broker::Broker> broker;
  std::unique_ptr<net::Net> net;
  std::unique_ptr<netpie::Endpoint> netpie;    // when netpie.enabled
  std::unique_ptr<net::HttpServer> http;       // the listeners of protocol http
  std::unique_ptr<uplink::MqttUplink> uplink;  // when uplinks is not empty (the store is then enabled)
  uv_timer_t tick{};
  uv_signal_t sigterm{}, sigint{}, sighup{};
  std::string config_path;
  bool stopping = false;
};

void stop(Daemon& d, const char* why) {
  if (d.stopping) return;
  d.stopping = true;
  GW_LOG(Info, "app", "shutting down (%s)", why);
  d.net->close_listeners();
  d.http->close();
  d.broker->shutdown();
  if (d.uplink) d.uplink->close();
  uv_timer_stop(&d.tick);
  uv_close(reinterpret_cast<uv_handle_t*>(&d.tick), nullptr);
  for (auto* s : {&d.sigterm, &d.sigint, &d.sighup}) {
    uv_signal_stop(s);
    uv_close(reinterpret_cast<uv_handle_t*>(s), nullptr);
  }
}

void on_signal(uv_signal_t* h, int signum) {
  auto& d = *static_cast<Daemon*>(h->data);
  if (signum == SIGHUP) {
    if (d.config_path.empty()) {
      GW_LOG(Info, "app", "SIGHUP: running on the embedded default, nothing to reload");
      return;
    }
    auto cfg = config::load_file(d.config_path);
    if (!cfg) {
      GW_LOG(Error, "app", "SIGHUP: reload failed, keeping the running configuration: %s",
             cfg.error().message.c_str());
      return;
    }
    if (auto lvl = log::parse_level(cfg->log_level)) {
      log::set_level(*lvl);
      GW_LOG(Info, "app", "SIGHUP: log level is now %s", cfg->log_level.c_str());
    }
    return;
  }
  stop(d, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

storage::StoreOptions store_options(const config::Config& cfg) {
  const auto& c = cfg.store;
  storage::StoreOptions o;
  std::filesystem::path file(c.file);
  o.path = file.is_absolute() ? file.string() : (std::filesystem::path(cfg.state_dir) / file).string();
  o.synchronous = storage::parse_synchronous(c.synchronous).value_or(storage::Synchronous::Normal);
  o.commit_window = std::chrono::microseconds(c.commit_window_us);
  o.commit_max_rows = c.commit_max_rows;
  o.qos0_durable = c.qos0_durable;
  o.max_db_bytes = c.max_db_bytes;
  o.queue_max_requests = c.queue_max_requests;
  o.outbox.max_rows = c.outbox_max_rows;
  o.outbox.max_bytes = c.outbox_max_bytes;
  o.outbox.max_age_s = c.outbox_max_age_s;
  o.outbox.policy = storage::parse_full_policy(c.outbox_policy).value_or(storage::FullPolicy::RejectNew);
  o.history.filters = c.history_filters;
  o.history.max_age_s = c.history_max_age_s;
  o.history.max_rows = c.history_max_rows;
  return o;
}

net::HttpLimits http_limits(const config::Http& c) {
  net::HttpLimits l;
  l.max_connections = c.max_connections;
  l.parser.max_header_bytes = c.max_header_bytes;
  l.parser.max_body = c.max_body;
  l.request_timeout_ms = c.request_timeout_ms;
  l.idle_timeout_ms = c.idle_timeout_ms;
  return l;
}

uplink::MqttUplinkOptions uplink_options(const config::Uplink& u) {
  uplink::MqttUplinkOptions o;
  o.name = u.name;
  o.host = u.host;
  o.port = u.port;
  o.client_id = u.client_id.empty() ? "netpie-edge-" + u.name : u.client_id;
  if (!u.username.empty()) o.username = u.username;
  if (!u.password.empty()) o.password = u.password;
  o.keepalive_s = u.keepalive;
  o.clean_start = u.clean_start;
  o.version = u.version == "5" ? mqtt::Version::V5 : mqtt::Version::V311;
  o.topic_prefix = u.topic_prefix;
  o.qos = u.qos;
  o.max_inflight = u.max_inflight;
  o.backoff.base_ms = u.reconnect_min_ms;
  o.backoff.cap_ms = u.reconnect_max_ms;
  return o;
}

// Reconnect jitter from the operating system's random source (getrandom behind std::random_device):
// gateways restarted by the same power cut must not reconnect in step.
uplink::RandomBits random_bits() {
  auto device = std::make_shared<std::random_device>();
  return [device]() -> std::uint64_t {
    return (static_cast<std::uint64_t>((*device)()) << 32) ^ static_cast<std::uint64_t>((*device)());
  };
}

bool write_ports_file(const std::string& path, const std::vector<std::string>& lines) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    if (!f) return false;
    for (const auto& l : lines) f << l << '\n';
    if (!f.flush()) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

}  // namespace

int run_daemon(const config::Config& cfg, const std::string& config_path) {
  if (auto lvl = log::parse_level(cfg.log_level)) log::set_level(*lvl);
  std::error_code ec;
  std::filesystem::create_directories(cfg.state_dir, ec);
  if (ec) {
    GW_LOG(Error, "app", "cannot create state directory %s: %s", cfg.state_dir.c_str(), ec.message().c_str());
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);

  Daemon d;
  d.config_path = config_path;
  uv_loop_init(&d.loop);
  std::unique_ptr<broker::Authenticator> auth =
      std::make_unique<broker::ConfigAuthenticator>(cfg.auth, &d.clock);
  if (cfg.netpie.enabled) {
    // Microgear logins first; plain MQTT users fall through to the config's users.
    d.netpie = std::make_unique<netpie::Endpoint>(cfg.netpie, d.clock);
    auth = d.netpie->authenticator(std::move(auth));
  }
  d.broker = std::make_unique<broker::Broker>(cfg, d.clock, std::move(auth));
  if (cfg.store.enabled) {
    auto opened = storage::Store::open(store_options(cfg), d.clock);
    if (!opened) {
      GW_LOG(Error, "store", "%s", opened.error().message.c_str());
      uv_loop_close(&d.loop);
      return 1;
    }
    d.store = std::move(opened).value();
    if (!cfg.uplinks.empty()) {
      // The listener must be set before attach(); the uplink itself starts once the listeners are up.
      d.store->set_outbox_listener([&d](std::uint64_t) {
        if (d.uplink) d.uplink->new_rows();
      });
    }
    d.store->attach(&d.loop);
    d.persistence = std::make_unique<broker::Persistence>(*d.store, d.clock, cfg.store.outbox_filters);
    d.broker->set_persistence(d.persistence.get());
    if (auto r = d.broker->restore(); !r) {
      GW_LOG(Error, "store", "cannot restore state from %s: %s", d.store->path().c_str(), r.error().c_str());
      d.store->close();
      uv_run(&d.loop, UV_RUN_DEFAULT);
      uv_loop_close(&d.loop);
      return 1;
    }
  }
  if (d.netpie) {
    if (auto r = d.netpie->open(d.store.get()); !r) {
      GW_LOG(Error, "netpie", "%s", r.error().c_str());
      if (d.store) d.store->close();
      uv_run(&d.loop, UV_RUN_DEFAULT);
      uv_loop_close(&d.loop);
      return 1;
    }
    d.netpie->attach(*d.broker);
  }
  d.net = std::make_unique<net::Net>(&d.loop, *d.broker);
  d.http = std::make_unique<net::HttpServer>(&d.loop, http_limits(cfg.http),
                                             [&d](const http::Request& req, const net::HttpResponder& out) {
                                               if (d.netpie) {
                                                 d.netpie->handle(req, out);
                                               } else {
                                                 netpie::answer_not_found(req, out);
                                               }
                                             });

  std::vector<std::string> ports;
  for (const auto& l : cfg.listeners) {
    auto bound =
        l.protocol == "http" ? d.http->listen(l.name, l.bind, l.port) : d.net->listen(l.name, l.bind, l.port);
    if (!bound) {
      GW_LOG(Error, "net", "%s", bound.error().c_str());
      d.net->close_listeners();
      d.http->close();
      d.net.reset();
      if (d.store) d.store->close();
      uv_run(&d.loop, UV_RUN_DEFAULT);
      uv_loop_close(&d.loop);
      return 1;
    }
    GW_LOG(Info, "net", "listening %s on %s:%u", l.name.c_str(), l.bind.c_str(), *bound);
    ports.push_back(l.name + " " + l.bind + " " + std::to_string(*bound));
  }
  if (!cfg.ports_file.empty() && !write_ports_file(cfg.ports_file, ports)) {
    GW_LOG(Error, "app", "cannot write ports file %s: %s", cfg.ports_file.c_str(), std::strerror(errno));
    return 1;
  }

  if (!cfg.uplinks.empty() && d.store) {
    auto options = uplink_options(cfg.uplinks.front());
    options.sys_interval_ms = static_cast<Millis>(cfg.sys_interval_s) * 1000;
    d.uplink =
        std::make_unique<uplink::MqttUplink>(&d.loop, *d.store, d.clock, std::move(options), random_bits());
    d.uplink->set_sys_publisher([&d](const std::string& topic, const std::string& payload) {
      auto m = std::make_shared<broker::Message>();
      m->topic = topic;
      m->payload = payload;
      m->retain = true;
      d.broker->publish(m);
    });
    d.uplink->start();
  }

  uv_timer_init(&d.loop, &d.tick);
  d.tick.data = &d;
  uv_timer_start(
      &d.tick,
      [](uv_timer_t* t) {
        auto* daemon = static_cast<Daemon*>(t->data);
        daemon->broker->tick();
        if (daemon->netpie) daemon->netpie->tick();
      },
      100, 100);
  for (auto [h, sig] : {std::pair{&d.sigterm, SIGTERM}, {&d.sigint, SIGINT}, {&d.sighup, SIGHUP}}) {
    uv_signal_init(&d.loop, h);
    h->data = &d;
    uv_signal_start(h, on_signal, sig);
  }
  GW_LOG(Info, "app", "netpie-edge %s started (config: %s)", NETPIE_EDGE_VERSION, cfg.source.c_str());

  uv_run(&d.loop, UV_RUN_DEFAULT);
  // The loop ends once every handle is closed: listeners, connections, timer and signals.
  d.net.reset();
  d.http.reset();
  uv_run(&d.loop, UV_RUN_DEFAULT);
  // Everything the broker wrote commits before the store closes; then its async handle is freed.
  if (d.store) d.store->close();
  uv_run(&d.loop, UV_RUN_DEFAULT);
  d.uplink.reset();  // after the store: its last completions refer to the uplink
  d.broker.reset();
  d.netpie.reset();  // after the broker, which holds its authenticator and extension
  d.persistence.reset();
  d.store.reset();
  int rc = uv_loop_close(&d.loop);
  if (rc != 0) {
    GW_LOG(Error, "app", "loop closed with handles still open: %s", uv_strerror(rc));
    return 1;
  }
  GW_LOG(Info, "app", "stopped cleanly");
  return 0;
}

}  // namespace gw::app
