// Implementation of the daemon wiring. Start-up errors (a port in use, an unwritable state directory)
// are reported once and turn into exit code 1; after start-up nothing here exits on its own.
#include "gateway/app/app.hpp"

#include <sys/stat.h>
#include <uv.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <vector>

#include "gateway/app/check.hpp"
#include "gateway/app/http_port.hpp"
#include "gateway/app/sd_notify.hpp"
#include "gateway/app/state_dir.hpp"
#include "gateway/app/tls_listeners.hpp"
#include "gateway/app/ws_listeners.hpp"
#include "gateway/base/clock.hpp"
#include "gateway/base/log.hpp"
#include "gateway/broker/broker.hpp"
#include "gateway/broker/extension.hpp"
#include "gateway/broker/persistence.hpp"
#include "gateway/app/coap_report.hpp"
#include "gateway/coap/server.hpp"
#include "gateway/config/reload.hpp"
#include "gateway/net/http_server.hpp"
#include "gateway/net/tcp_server.hpp"
#include "gateway/net/tls.hpp"
#include "gateway/netpie/endpoint.hpp"
#include "gateway/ops/ops.hpp"
#include "gateway/uplink/mqtt_uplink.hpp"
#include "storage/store.hpp"

namespace gw::app {

namespace {

struct Daemon {
  // The configuration in effect (the file's, then each reload's reloadable parts). The NETPIE endpoint
  // refers to running.netpie, so a reload replaces that in place; declared first, it outlives the endpoint.
  config::Config running;
  uv_loop_t loop{};
  SteadyClock clock;
  std::unique_ptr<storage::Store> store;
  std::unique_ptr<broker::Persistence> persistence;
  std::unique_ptr<broker::Broker> broker;
  std::unique_ptr<net::Net> net;
  std::unique_ptr<netpie::Endpoint> netpie;                  // when netpie.enabled
  std::unique_ptr<net::HttpServer> http;                     // the listeners of protocol http
  std::unique_ptr<coap::Server> coap;                        // the listeners of protocol coap and coaps
  TlsListeners tls_listeners;                                // listeners with a tls: block
  std::vector<std::unique_ptr<uplink::MqttUplink>> uplinks;  // one per config uplink (the store is on)
  broker::ExtensionChain extensions;                         // NETPIE microgears, then device presence
  std::unique_ptr<broker::Extension> presence;
  std::unique_ptr<ops::Ops> ops;  // /healthz, /readyz, /metrics, /api/v1, the status page
  uv_timer_t tick{};
  uv_signal_t sigterm{}, sigint{}, sighup{};
  std::string config_path;
  ConfigOverrides overrides;  // the command line's, applied to every reloaded config
  bool stopping = false;
  ServiceNotifier notifier{notify_env_from_process()};  // systemd's READY/WATCHDOG/STATUS/STOPPING
  unsigned ticks = 0;
};

// The service manager's status line (`systemctl status`): what an operator checks first.
std::string status_line(const Daemon& d) {
  std::string s = std::to_string(d.broker->connection_count()) + " connections";
  if (d.store) s += ", outbox backlog " + std::to_string(d.store->stats().outbox_rows) + " messages";
  return s;
}

void stop(Daemon& d, const char* why) {
  if (d.stopping) return;
  d.stopping = true;
  GW_LOG(Info, "app", "shutting down (%s)", why);
  d.notifier.stopping(why);
  // The uplinks first: they stay up (bounded by stop_timeout_ms) for the offline status and the device
  // events the connections the broker now closes produce.
  for (auto& u : d.uplinks) u->stop();
  d.net->close_listeners();
  d.http->close();
  d.coap->close();  // its clients' connections end before the broker's shutdown
  d.broker->shutdown();
  uv_timer_stop(&d.tick);
  uv_close(reinterpret_cast<uv_handle_t*>(&d.tick), nullptr);
  for (auto* s : {&d.sigterm, &d.sigint, &d.sighup}) {
    uv_signal_stop(s);
    uv_close(reinterpret_cast<uv_handle_t*>(s), nullptr);
  }
}

// A start-up failure: closes whatever has been opened so far (uplinks, listeners, the store), lets the
// loop free the handles, and gives the exit code.
int abort_start(Daemon& d) {
  for (auto& u : d.uplinks) u->close();
  if (d.net) d.net->close_listeners();
  if (d.http) d.http->close();
  if (d.coap) d.coap->close();
  d.net.reset();
  if (d.store) d.store->close();
  uv_run(&d.loop, UV_RUN_DEFAULT);
  d.uplinks.clear();
  uv_loop_close(&d.loop);
  return 1;
}

log::SinkOptions sink_options(const config::Config& c) {
  log::SinkOptions o;
  o.output = log::parse_output(c.log_output).value_or(log::Output::Stderr);
  o.file = c.log_file;
  o.max_lines_per_second = c.log_max_lines_per_second;
  o.burst = c.log_burst;
  return o;
}

std::unique_ptr<broker::Authenticator> make_authenticator(Daemon& d, const config::Config& cfg) {
  std::unique_ptr<broker::Authenticator> auth =
      std::make_unique<broker::ConfigAuthenticator>(cfg.auth, &d.clock);
  // Microgear logins first; plain MQTT users fall through to the config's users.
  if (d.netpie) auth = d.netpie->authenticator(std::move(auth));
  return auth;
}

std::vector<broker::OutboxRoute> outbox_routes(const config::Config& c);
uplink::MqttUplinkOptions uplink_options(const config::Uplink& u);

// SIGHUP: re-reads the config file and applies what can change under connected clients (see
// config/reload.hpp and README.md "Reloading"); what needs a restart is logged, and a file that does not
// load keeps the running configuration.
void reload(Daemon& d) {
  if (d.config_path.empty()) {
    GW_LOG(Info, "app", "SIGHUP: running on the embedded default, nothing to reload");
    return;
  }
  auto next = config::load_file(d.config_path);
  if (!next) {
    // The loader reports every mistake, one per line; the log keeps one line per event.
    std::string why = next.error().message;
    std::replace(why.begin(), why.end(), '\n', ';');
    GW_LOG(Error, "app", "SIGHUP: reload failed, keeping the running configuration: %s", why.c_str());
    return;
  }
  if (d.overrides) d.overrides(*next);
  config::ReloadPlan plan = config::plan_reload(d.running, *next);
  // The log sink is set up again even when unchanged: a file is reopened, which is what log rotation
  // needs from a SIGHUP.
  if (auto failed = log::configure(sink_options(plan.effective))) {
    GW_LOG(Error, "app", "SIGHUP: %s; logging stays as it was", failed->c_str());
    plan.effective.log_output = d.running.log_output;
    plan.effective.log_file = d.running.log_file;
  }
  if (auto lvl = log::parse_level(plan.effective.log_level)) log::set_level(*lvl);
  for (const std::string& key : plan.restart) {
    GW_LOG(Warn, "app", "SIGHUP: changed %s: takes effect after restart", key.c_str());
  }
  d.tls_listeners.reload();  // logs each listener it reloads
  std::size_t ended = 0;
  d.running = plan.effective;  // in place: the NETPIE endpoint reads running.netpie
  if (plan.netpie && d.netpie) ended = d.netpie->reload();
  if (plan.auth) d.broker->set_authenticator(make_authenticator(d, d.running));
  if (plan.limits) d.broker->set_limits(d.running.limits);
  if (plan.outbox_routes && d.persistence) d.persistence->set_routes(outbox_routes(d.running));
  for (std::size_t i : plan.uplink_rules) {
    if (i >= d.uplinks.size()) continue;
    uplink::MqttUplinkOptions o = uplink_options(d.running.uplinks[i]);
    d.uplinks[i]->set_rules(std::move(o.up), std::move(o.down), std::move(o.topic_prefix), o.qos);
  }
  GW_LOG(Info, "app",
         "SIGHUP: reloaded %s: %s (log level %s, %zu microgear clients disconnected, %zu changes need a "
         "restart)",
         d.running.source.c_str(), plan.summary().c_str(), d.running.log_level.c_str(), ended,
         plan.restart.size());
}

void on_signal(uv_signal_t* h, int signum) {
  auto& d = *static_cast<Daemon*>(h->data);
  if (signum == SIGHUP) {
    reload(d);
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
  for (const config::Uplink& u : cfg.uplinks) {  // each uplink's quota inside the global bound
    storage::OutboxQuota q;
    q.max_rows = u.outbox.max_rows;
    q.max_bytes = u.outbox.max_bytes;
    q.max_age_s = u.outbox.max_age_s;
    q.policy = storage::parse_full_policy(u.outbox.policy).value_or(storage::FullPolicy::DropOldest);
    if (q.any()) o.outbox.quotas[u.name] = q;
  }
  o.history.filters = c.history_filters;
  o.history.max_age_s = c.history_max_age_s;
  o.history.max_rows = c.history_max_rows;
  o.history.max_page_rows = c.history_max_page_rows;
  o.history.max_scan_rows = c.history_max_scan_rows;
  o.feeds.raw_max_age_s = c.feeds_raw_max_age_s;
  o.feeds.minute_max_age_s = c.feeds_minute_max_age_s;
  o.feeds.hour_max_age_s = c.feeds_hour_max_age_s;
  o.feeds.max_points_per_field = c.feeds_max_points_per_field;
  o.feeds.max_fields_per_feed = c.feeds_max_fields_per_feed;
  o.feeds.max_query_rows = c.feeds_max_query_rows;
  o.feeds.max_query_points = c.feeds_max_query_points;
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

// Which client messages enter the outbox and for which uplink: each uplink's up rules, and
// store.outbox.filters for the first uplink (or for none yet: '' rows wait for an uplink).
std::vector<broker::OutboxRoute> outbox_routes(const config::Config& c) {
  std::vector<broker::OutboxRoute> routes;
  const std::string first = c.uplinks.empty() ? std::string() : c.uplinks.front().name;
  for (const config::Uplink& u : c.uplinks) {
    for (const config::RelayUp& r : u.up) routes.push_back({r.filter, u.name, r.lane});
  }
  for (const std::string& f : c.store.outbox_filters) routes.push_back({f, first, 1});
  return routes;
}

uplink::MqttUplinkOptions uplink_options(const config::Uplink& u) {
  uplink::MqttUplinkOptions o;
  o.name = u.name;
  o.host = u.host;
  o.port = u.port != 0 ? u.port : (u.tls.enabled ? 8883 : 1883);
  o.client_id = u.client_id.empty() ? "netpie-edge-" + u.name : u.client_id;
  if (!u.username.empty()) o.username = u.username;
  if (!u.password.empty()) o.password = u.password;
  o.keepalive_s = u.keepalive;
  o.clean_start = u.clean_start;
  o.version = u.version == "5" ? mqtt::Version::V5 : mqtt::Version::V311;
  for (const config::RelayUp& r : u.up) o.up.push_back({r.filter, r.strip, r.prefix, r.qos, r.lane});
  for (const config::RelayDown& r : u.down) o.down.push_back({r.filter, r.strip, r.prefix, r.qos, 1});
  o.topic_prefix = u.topic_prefix;
  o.qos = u.qos;
  o.max_inflight = u.max_inflight;
  o.rate_limit = u.rate_limit;
  o.replay_order = uplink::parse_replay_order(u.replay.order).value_or(uplink::ReplayOrder::PerOrigin);
  o.live_share = u.replay.live_share;
  o.backoff.base_ms = u.reconnect_min_ms;
  o.backoff.cap_ms = u.reconnect_max_ms;
  o.presence_topic = u.presence.topic;
  o.presence_devices = u.presence.devices;
  o.presence_max_retained = u.presence.max_retained;
  o.presence_full_policy = uplink::parse_presence_full_policy(u.presence.full_policy)
                               .value_or(uplink::PresenceFullPolicy::EvictOldestAbsent);
  o.stop_timeout_ms = u.stop_timeout_ms;
  o.tls_server_name = u.tls.server_name;
  if (u.profile == "netpie") {
    uplink::NetpieLogin n;
    n.flow.app_id = u.netpie.appid;
    n.flow.gear_key = u.netpie.key;
    n.flow.gear_secret = u.netpie.secret;
    n.flow.alias = u.netpie.alias;
    n.flow.auth_host = u.host;
    n.flow.auth_tls = u.tls.enabled;
    n.flow.auth_port = u.netpie.auth_port != 0 ? u.netpie.auth_port : u.port;
    n.flow.mqtt_tls = u.tls.enabled;
    n.flow.mqtt_port = u.netpie.mqtt_port;
    n.flow.retry = o.backoff;
    n.chat_topic = u.netpie.chat_topic;
    o.netpie = std::move(n);
  }
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

// Local device presence for the uplinks that relay it: every MQTT client's connect and end, with why.
class PresenceRelay final : public broker::Extension {
 public:
  explicit PresenceRelay(std::vector<std::unique_ptr<uplink::MqttUplink>>& uplinks) : uplinks_(uplinks) {}
  void on_connected(broker::Connection& c) override { tell(c, true, "connect"); }
  void on_disconnected(broker::Connection& c, bool graceful) override {
    std::string why = "connection lost";
    if (graceful) {
      why = "disconnect";
    } else if (c.close_reason() == mqtt::Reason::KeepAliveTimeout) {
      why = "keepalive timeout";
    } else if (static_cast<unsigned>(c.close_reason()) >= 0x80) {
      char code[48];
      std::snprintf(code, sizeof code, "closed by the gateway (reason 0x%02x)",
                    static_cast<unsigned>(c.close_reason()));
      why = code;
    }
    // The session requested at CONNECT (or DISCONNECT): expiry 0 (3.1.1 clean session) ends with the
    // connection, and on_session_ended follows.
    tell(c, false, why, c.session_expiry_requested() == 0);
  }
  // Clean sessions at their end, persistent ones at their expiry: the retained presence is cleared.
  void on_session_ended(const std::string& client_id) override {
    for (auto& u : uplinks_) u->device_session_ended(client_id);
  }

 private:
  void tell(broker::Connection& c, bool online, const std::string& why, bool session_ended = false) {
    for (auto& u : uplinks_) u->device_presence(c.identity().client_id, online, why, session_ended);
  }
  std::vector<std::unique_ptr<uplink::MqttUplink>>& uplinks_;
};

// Creates and starts every configured uplink: TLS contexts loaded (a bad file stops the start with its
// name), rows from before destinations given to the first uplink, rows of removed uplinks reported.
std::optional<std::string> start_uplinks(Daemon& d, const config::Config& cfg) {
  // Rows queued before destinations existed, or while no uplink was configured, go to the first uplink.
  d.store->outbox_claim("", cfg.uplinks.front().name, [](Result<storage::OutboxBacklog, storage::Status> r) {
    if (r && r.value().rows > 0) {
      GW_LOG(Info, "uplink", "%llu outbox rows without an uplink given to the first uplink",
             static_cast<unsigned long long>(r.value().rows));
    }
  });
  std::vector<std::string> names;
  for (const auto& u : cfg.uplinks) names.push_back(u.name);
  d.store->outbox_dests([names](Result<std::vector<storage::OutboxDest>, storage::Status> r) {
    if (!r) return;
    for (const storage::OutboxDest& dest : r.value()) {
      if (std::find(names.begin(), names.end(), dest.dest) != names.end()) continue;
      GW_LOG(Warn, "uplink",
             "%llu outbox rows are for uplink \"%s\", which is not configured; they stay queued until it is",
             static_cast<unsigned long long>(dest.backlog.rows), dest.dest.c_str());
    }
  });
  bool any_presence = false;
  for (std::size_t i = 0; i < cfg.uplinks.size(); ++i) {
    const config::Uplink& u = cfg.uplinks[i];
    auto options = uplink_options(u);
    options.sys_interval_ms = static_cast<Millis>(cfg.sys_interval_s) * 1000;
    const std::string where = "uplinks[" + std::to_string(i) + "] (" + u.name + "): ";
    if (u.tls.enabled) {
      auto ctx = net::TlsClientContext::load(tls_client_options(u.tls));
      if (!ctx) return where + ctx.error();
      options.tls = std::move(ctx).value();
      if (!u.tls.verify) {
        GW_LOG(Warn, "uplink", "%s: tls.verify is off: any certificate is accepted", u.name.c_str());
      }
    }
    any_presence = any_presence || !u.presence.devices.empty();
    auto up =
        std::make_unique<uplink::MqttUplink>(&d.loop, *d.store, d.clock, std::move(options), random_bits());
    up->set_sys_publisher([&d](const std::string& topic, const std::string& payload) {
      auto m = std::make_shared<broker::Message>();
      m->topic = topic;
      m->payload = payload;
      m->retain = true;
      d.broker->publish(m);
    });
    up->set_local_publisher([&d](uplink::LocalMessage lm) {
      // No sender: a message that came down never enters the outbox again.
      auto m = std::make_shared<broker::Message>();
      m->topic = std::move(lm.topic);
      m->payload = std::move(lm.payload);
      m->qos = lm.qos;
      m->retain = lm.retain;
      if (d.netpie) {
        d.netpie->gears().route(m);  // chat reaches alias holders, then the subscribers
      } else {
        d.broker->publish(m);
      }
    });
    if (u.profile == "netpie") {
      up->set_http(uplink::make_http_port(&d.loop, up->tls_context()));
    }
    d.uplinks.push_back(std::move(up));
  }
  if (d.netpie) {
    d.netpie->gears().set_alias_listener([&d](const std::string& appid, const std::string& alias, bool held) {
      for (auto& u : d.uplinks) u->local_alias(appid, alias, held);
    });
  }
  if (any_presence) {
    // Sessions the store kept have their presence retained upstream from the last run: counted first.
    for (const std::string& id : d.broker->session_ids())
      for (auto& u : d.uplinks) u->device_known(id);
    d.presence = std::make_unique<PresenceRelay>(d.uplinks);
    if (broker::Extension* e = d.broker->extension(); e != nullptr && e != &d.extensions) d.extensions.add(e);
    d.extensions.add(d.presence.get());
    d.broker->set_extension(&d.extensions);
  }
  for (auto& u : d.uplinks) u->start();
  return std::nullopt;
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

int run_daemon(const config::Config& file_cfg, const std::string& config_path, ConfigOverrides overrides) {
  if (auto lvl = log::parse_level(file_cfg.log_level)) log::set_level(*lvl);
  if (auto failed = log::configure(sink_options(file_cfg))) {
    GW_LOG(Error, "app", "%s", failed->c_str());
    return 1;
  }
  log::set_priority_prefix(log::stderr_is_journal());
  // The state directory holds device secrets and cloud tokens: everything the daemon creates is for
  // its own user only (the directory 0700; the database and its -wal and -shm files 0600).
  ::umask(077);
  auto state_dir = StateDir::claim(file_cfg.state_dir);
  if (!state_dir) {
    GW_LOG(Error, "app", "%s", state_dir.error().c_str());
    return 1;
  }
  if (!state_dir->warning().empty()) GW_LOG(Warn, "app", "%s", state_dir->warning().c_str());
  signal(SIGPIPE, SIG_IGN);

  Daemon d;
  d.config_path = config_path;
  d.overrides = std::move(overrides);
  d.running = file_cfg;
  const config::Config& cfg = d.running;
  uv_loop_init(&d.loop);
  if (cfg.netpie.enabled) {
    d.netpie = std::make_unique<netpie::Endpoint>(cfg.netpie, d.clock);
    for (const std::string& w : netpie::endpoint_port_warnings(cfg)) GW_LOG(Warn, "netpie", "%s", w.c_str());
  }
  d.broker = std::make_unique<broker::Broker>(cfg, d.clock, make_authenticator(d, cfg));
  if (cfg.store.enabled) {
    auto opened = storage::Store::open(store_options(cfg), d.clock);
    if (!opened) {
      GW_LOG(Error, "store", "%s", opened.error().message.c_str());
      return abort_start(d);
    }
    d.store = std::move(opened).value();
    if (!cfg.uplinks.empty()) {
      // The listener must be set before attach(); the uplinks themselves start once the listeners are up.
      // Only the uplinks that got rows read (gateway/uplink/README.md).
      d.store->set_outbox_listener([&d](std::uint64_t, const std::vector<std::string>& dests) {
        for (auto& u : d.uplinks) {
          if (std::find(dests.begin(), dests.end(), u->name()) != dests.end()) u->new_rows();
        }
      });
    }
    d.store->attach(&d.loop);
    d.persistence = std::make_unique<broker::Persistence>(*d.store, d.clock, outbox_routes(cfg));
    d.broker->set_persistence(d.persistence.get());
    if (auto r = d.broker->restore(); !r) {
      GW_LOG(Error, "store", "cannot restore state from %s: %s", d.store->path().c_str(), r.error().c_str());
      return abort_start(d);
    }
  }
  if (d.netpie) {
    if (auto r = d.netpie->open(d.store.get()); !r) {
      GW_LOG(Error, "netpie", "%s", r.error().c_str());
      return abort_start(d);
    }
    d.netpie->attach(*d.broker);
  }
  d.net = std::make_unique<net::Net>(&d.loop, *d.broker);
  auto netpie_routes = [&d](const http::Request& req, const net::HttpResponder& out) {
    if (d.netpie) {
      d.netpie->handle(req, out);
    } else {
      netpie::answer_not_found(req, out);
    }
  };
  d.http = std::make_unique<net::HttpServer>(
      &d.loop, http_limits(cfg.http),
      [&d, netpie_routes](const http::Request& req, const net::HttpResponder& out) {
        d.ops->handle(req, out, netpie_routes);
      });
  d.ops = std::make_unique<ops::Ops>(ops::Sources{d.broker.get(), d.store.get(), &d.uplinks, d.netpie.get(),
                                                  d.http.get(), &d.running, &d.clock, NETPIE_EDGE_VERSION});

  d.coap = std::make_unique<coap::Server>(&d.loop, *d.broker, d.clock, cfg.coap);
  add_coap_reports(*d.broker, d.ops->metrics(), d.coap);
  if (d.netpie) {
    d.coap->set_rest([&d](const http::Request& req, const net::HttpResponder& out) {
      return d.netpie->rest().handle(req, out) || d.netpie->feeds().handle(req, out);
    });
  }
  GW_LOG(Debug, "coap", "libcoap %s, DTLS backend %s", LIBCOAP_PACKAGE_VERSION,
         coap::Server::dtls_backend().c_str());
  if (auto r = d.tls_listeners.load(cfg); !r) {
    GW_LOG(Error, "net", "%s", r.error().c_str());
    return abort_start(d);
  }
  std::vector<std::string> ports;
  for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
    const auto& l = cfg.listeners[i];
    const bool coap = l.protocol == "coap" || l.protocol == "coaps";
    auto bound = coap ? d.coap->listen(l.name, l.bind, l.port, l.protocol == "coaps")
                 : l.protocol == "http"
                     ? d.http->listen(l.name, l.bind, l.port, d.tls_listeners.layers(cfg, i), l.tls.enabled)
                 : l.protocol == "ws"
                     ? d.net->listen(l.name, l.bind, l.port,
                                     websocket_layers(cfg.websocket, d.tls_listeners.layers(cfg, i)))
                     : d.net->listen(l.name, l.bind, l.port, d.tls_listeners.layers(cfg, i));
    if (!bound) {
      GW_LOG(Error, "net", "%s", bound.error().c_str());
      return abort_start(d);
    }
    GW_LOG(Info, "net", "listening %s on %s:%u%s", l.name.c_str(), l.bind.c_str(), *bound,
           l.tls.enabled ? " (TLS)" : "");
    ports.push_back(l.name + " " + l.bind + " " + std::to_string(*bound));
  }
  d.ops->set_listeners_bound(true);
  if (!cfg.ports_file.empty() && !write_ports_file(cfg.ports_file, ports)) {
    GW_LOG(Error, "app", "cannot write ports file %s: %s", cfg.ports_file.c_str(), std::strerror(errno));
    return abort_start(d);
  }

  if (!cfg.uplinks.empty() && d.store) {
    if (auto failed = start_uplinks(d, cfg)) {
      GW_LOG(Error, "uplink", "%s", failed->c_str());
      return abort_start(d);
    }
  }

  uv_timer_init(&d.loop, &d.tick);
  d.tick.data = &d;
  uv_timer_start(
      &d.tick,
      [](uv_timer_t* t) {
        auto* daemon = static_cast<Daemon*>(t->data);
        daemon->broker->tick();
        daemon->coap->tick();
        if (daemon->netpie) daemon->netpie->tick();
        daemon->ops->tick();
        if (++daemon->ticks % 10 == 0) daemon->notifier.status(status_line(*daemon));
        log::tick();
      },
      100, 100);
  for (auto [h, sig] : {std::pair{&d.sigterm, SIGTERM}, {&d.sigint, SIGINT}, {&d.sighup, SIGHUP}}) {
    uv_signal_init(&d.loop, h);
    h->data = &d;
    uv_signal_start(h, on_signal, sig);
  }
  GW_LOG(Info, "app", "netpie-edge %s started (config: %s, state directory: %s, log level: %s)",
         NETPIE_EDGE_VERSION, cfg.source.c_str(), state_dir->path().c_str(), cfg.log_level.c_str());
  // Every listener is bound and the store is open: clients can connect from now on.
  d.notifier.ready(&d.loop, status_line(d));

  uv_run(&d.loop, UV_RUN_DEFAULT);
  // The loop ends once every handle is closed: listeners, connections, timer and signals.
  d.net.reset();
  d.http.reset();
  d.coap.reset();
  uv_run(&d.loop, UV_RUN_DEFAULT);
  // Everything the broker wrote commits before the store closes; then its async handle is freed.
  if (d.store) d.store->close();
  uv_run(&d.loop, UV_RUN_DEFAULT);
  d.uplinks.clear();  // after the store: its last completions refer to the uplinks
  d.ops.reset();      // after the store too: its outbox peeks complete on the loop
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
