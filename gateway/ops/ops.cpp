// Implementation of the operator's view (ops.hpp): the routes, the access checks in front of them, the
// collectors that turn the subsystems' counters into metrics, and the JSON of /api/v1. Every answer is
// bounded: lists of clients are paged (at most kMaxPage per answer), the metrics are per protocol,
// reason, uplink and route, never per client.
#include "gateway/ops/ops.hpp"

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>

#include "gateway/base/log.hpp"
#include "gateway/netpie/admin.hpp"
#include "gateway/netpie/microgears.hpp"
#include "gateway/ops/access.hpp"
#include "protocols/http/response.hpp"
#include "protocols/http/url_encoding.hpp"

namespace gw::ops {

namespace {

using nlohmann::json;

constexpr std::size_t kMaxPage = 1000;       // clients per /api/v1/clients answer
constexpr std::size_t kDefaultPage = 100;    //   without ?limit=
constexpr std::size_t kStatusClients = 200;  // clients in /api/v1/status (the page)
constexpr Millis kPeekIntervalMs = 2000;     // oldest queued row of each uplink

http::Response json_answer(int status, const json& j) {
  http::Response r;
  r.status = status;
  r.content_type = "application/json";
  r.headers.add("Cache-Control", "no-store");
  r.body = j.dump(-1, ' ', false, json::error_handler_t::replace);
  r.body.push_back('\n');
  return r;
}

http::Response error_answer(int status, std::string_view why) {
  return json_answer(status, json{{"status", status}, {"error", why}});
}

http::Response method_not_allowed(const char* allow) {
  http::Response r = error_answer(405, std::string(allow) + " only");
  r.headers.add("Allow", allow);
  return r;
}

const char* qos_label(std::size_t q) {
  static const char* const names[] = {"0", "1", "2"};
  return names[q];
}

// ?limit=&offset=: decimal, bounded; nullopt when malformed.
std::optional<std::size_t> size_param(const http::Request& req, std::string_view name, std::size_t fallback,
                                      std::size_t max) {
  const std::string* v = http::find_param(req.query_params, name);
  if (v == nullptr) return fallback;
  std::size_t n = 0;
  const auto r = std::from_chars(v->data(), v->data() + v->size(), n);
  if (v->empty() || r.ec != std::errc() || r.ptr != v->data() + v->size() || n > max) return std::nullopt;
  return n;
}

}  // namespace

std::string route_of(const http::Request& req) {
  const auto seg = http::path_segments(req.path);
  if (seg.empty()) return "/";
  const std::string& first = seg[0];
  if (first == "healthz" || first == "readyz" || first == "metrics") return "/" + first;
  if (first == "api" && seg.size() >= 2) {
    if (seg[1] == "v1") {
      static const char* const lists[] = {"status", "clients", "uplinks", "netpie", "approvals", "tokens"};
      if (seg.size() < 3) return "/api/v1";
      for (const char* l : lists) {
        if (seg[2] == l) return "/api/v1/" + seg[2];
      }
      return "/api/v1/other";
    }
    if (seg[1] == "rtoken" || seg[1] == "atoken" || seg[1] == "endpoint" || seg[1] == "time" ||
        seg[1] == "revoke") {
      return "/api/" + seg[1];
    }
    return "/api/other";
  }
  if (first == "oauth2" && seg.size() >= 2 && (seg[1] == "authorize" || seg[1] == "token"))
    return "/oauth2/" + seg[1];
  if (first == "topic" || first == "microgear" || first == "postbox" || first == "admin") return "/" + first;
  return "other";
}

Ops::Ops(Sources sources) : src_(std::move(sources)) {
  started_ = src_.clock->now_ms();
  add_collectors();
}

Ops::~Ops() {
  *alive_ = false;
}

void Ops::count_request(const std::string& route, int status) {
  metrics_
      .counter("netpie_edge_http_requests_total", "HTTP requests answered, by route and status",
               {{"route", route}, {"status", std::to_string(status)}})
      .inc();
  // The token flow of local microgears (docs/netpie-protocol.md §3): its outcomes are its answers.
  static const char* const steps[] = {"/api/rtoken", "/api/atoken", "/api/revoke", "/oauth2/authorize",
                                      "/oauth2/token"};
  for (const char* s : steps) {
    if (route == s) {
      metrics_
          .counter("netpie_edge_token_flow_total",
                   "Local gearauth token flow answers, by step and HTTP status (200 issued, 401 refused or "
                   "waiting for the owner's approval, 4xx malformed)",
                   {{"step", route.substr(route.rfind('/') + 1)}, {"status", std::to_string(status)}})
          .inc();
    }
  }
}

void Ops::handle(const http::Request& req, const net::HttpResponder& out, const net::HttpHandler& next) {
  std::string route = route_of(req);
  // Counted when answered (an answer may come later, after a store commit).
  net::HttpResponder counted(out.peer(),
                             [this, out, route, alive = std::weak_ptr<bool>(alive_)](http::Response r) {
                               if (auto a = alive.lock(); a && *a) count_request(route, r.status);
                               out.respond(std::move(r));
                             });
  const bool ours = route == "/" || route == "/healthz" || route == "/readyz" || route == "/metrics" ||
                    route.starts_with("/api/v1");
  if (!ours) {
    // The NETPIE admin API changes state too: a browser's cross-site POST must not reach it.
    if (route == "/admin" && req.method != "GET" && req.method != "HEAD" && req.method != "OPTIONS") {
      if (Verdict v = same_site_write(req, false); v.status != 0) {
        GW_LOG(Info, "ops", "%s %s from %s refused: %s", req.method.c_str(), req.path.c_str(),
               out.peer().address.c_str(), v.why.c_str());
        counted.respond(error_answer(v.status, v.why));
        return;
      }
    }
    next(req, counted);
    return;
  }
  serve(req, counted, route);
}

void Ops::serve(const http::Request& req, const net::HttpResponder& out, const std::string& route) {
  if (!well_formed_query(req.query)) {
    out.respond(error_answer(400, "malformed query string"));
    return;
  }
  const bool get = req.method == "GET" || req.method == "HEAD";
  if (route == "/healthz") {
    // The loop answered: that is what this says. (A stuck loop answers nothing, and the client times out.)
    if (!get) return out.respond(method_not_allowed("GET"));
    return out.respond(http::text_response(200, "ok\n"));
  }
  if (route == "/readyz") {
    if (!get) return out.respond(method_not_allowed("GET"));
    const std::string why = not_ready_reason();
    return out.respond(why.empty() ? http::text_response(200, "ready\n")
                                   : http::text_response(503, "not ready: " + why + "\n"));
  }
  if (route == "/metrics") {
    if (!get) return out.respond(method_not_allowed("GET"));
    if (!req.query.empty()) return out.respond(error_answer(400, "/metrics takes no parameters"));
    http::Response r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = metrics_.render();
    return out.respond(std::move(r));
  }
  // The page and /api/v1: the owner's.
  const PeerInfo peer{out.peer().loopback, out.peer().secure};
  static const std::vector<config::User> none;
  if (Verdict v = admin_access(req, peer, src_.config ? src_.config->http.admin_users : none);
      v.status != 0) {
    GW_LOG(Info, "ops", "%s %s from %s refused: %s", req.method.c_str(), req.path.c_str(),
           out.peer().address.c_str(), v.why.c_str());
    return out.respond(error_answer(v.status, v.why));
  }
  if (route == "/") {
    if (!get) return out.respond(method_not_allowed("GET"));
    if (req.path != "/") return out.respond(error_answer(404, "no such page"));
    http::Response r;
    r.content_type = "text/html; charset=utf-8";
    r.headers.add("Cache-Control", "no-cache");
    // Everything is inline and from here; nothing may frame the page (its buttons change state).
    r.headers.add("Content-Security-Policy",
                  "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
                  "connect-src 'self'; frame-ancestors 'none'; form-action 'none'; base-uri 'none'");
    r.headers.add("X-Frame-Options", "DENY");
    r.headers.add("X-Content-Type-Options", "nosniff");
    r.headers.add("Referrer-Policy", "no-referrer");
    r.body = std::string(status_page());
    return out.respond(std::move(r));
  }
  api(req, out, http::path_segments(req.path));
}

void Ops::api(const http::Request& req, const net::HttpResponder& out, const std::vector<std::string>& seg) {
  const bool get = req.method == "GET" || req.method == "HEAD";
  const std::string what = seg.size() >= 3 ? seg[2] : "";
  for (const auto& [k, v] : req.query_params) {
    if (k != "limit" && k != "offset") return out.respond(error_answer(400, "unknown parameter: " + k));
  }
  if (seg.size() == 3 && get) {
    if (what == "status" || what == "clients") {
      const auto limit = size_param(req, "limit", what == "status" ? kStatusClients : kDefaultPage, kMaxPage);
      const auto offset = size_param(req, "offset", 0, SIZE_MAX / 2);
      if (!limit || !offset) {
        return out.respond(
            error_answer(400, "limit is 0.." + std::to_string(kMaxPage) + ", offset a number"));
      }
      json all = status(*limit, *offset);
      return out.respond(json_answer(200, what == "status" ? all : all["clients"]));
    }
    if (!req.query_params.empty()) return out.respond(error_answer(400, "this list takes no parameters"));
    json all = status(0);
    if (what == "uplinks") return out.respond(json_answer(200, all["uplinks"]));
    if (what == "netpie") return out.respond(json_answer(200, all["netpie"]));
    if (what == "approvals") return out.respond(json_answer(200, all["netpie"]["approvals"]));
    if (what == "tokens") return out.respond(json_answer(200, all["netpie"]["tokens"]));
    return out.respond(error_answer(404, "no such list"));
  }
  // POST /api/v1/approvals/<key or request token>/{approve,deny}, POST /api/v1/tokens/<token>/revoke
  const bool action =
      seg.size() == 5 && ((what == "approvals" && (seg[4] == "approve" || seg[4] == "deny")) ||
                          (what == "tokens" && seg[4] == "revoke"));
  if (!action) return out.respond(error_answer(404, "no such route"));
  if (req.method != "POST") return out.respond(method_not_allowed("POST"));
  if (Verdict v = same_site_write(req, true); v.status != 0) {
    GW_LOG(Info, "ops", "%s %s from %s refused: %s", req.method.c_str(), req.path.c_str(),
           out.peer().address.c_str(), v.why.c_str());
    return out.respond(error_answer(v.status, v.why));
  }
  if (src_.netpie == nullptr) return out.respond(error_answer(404, "the NETPIE endpoint is off"));
  netpie::Registry& reg = src_.netpie->registry();
  const std::string& id = seg[3];
  if (seg[4] == "approve") {
    const netpie::Key* k = reg.approve(id);
    GW_LOG(Info, "ops", "owner approved %s from %s: %s", id.c_str(), out.peer().address.c_str(),
           k ? "done" : "no such request token or key");
    return out.respond(k ? json_answer(200, json{{"approved", k->key}})
                         : error_answer(404, "no such request token or key: " + id));
  }
  if (seg[4] == "deny") {
    const bool ok = reg.deny(id);
    return out.respond(ok ? json_answer(200, json{{"denied", id}})
                          : error_answer(404, "no such request token or key: " + id));
  }
  if (reg.access(id) == nullptr) return out.respond(error_answer(404, "no such token: " + id));
  reg.revoke(id);  // already revoked: nothing to do, still done
  return out.respond(json_answer(200, json{{"revoked", id}}));
}

std::string Ops::not_ready_reason() const {
  std::vector<std::string> why;
  if (!listeners_bound_) why.push_back("listeners not bound yet");
  if (src_.config && src_.config->store.enabled) {
    if (src_.store == nullptr) {
      why.push_back("store not open");
    } else {
      const storage::StoreStats s = src_.store->stats();
      if (s.degraded) {
        why.push_back("store refuses writes (" + std::string(storage::to_string(s.last_error)) + ")");
      }
    }
  }
  std::string out;
  for (const auto& w : why) out += (out.empty() ? "" : "; ") + w;
  return out;
}

void Ops::tick() {
  if (src_.store == nullptr || src_.uplinks == nullptr) return;
  const Millis now = src_.clock->now_ms();
  if (now < next_peek_) return;
  next_peek_ = now + kPeekIntervalMs;
  for (const auto& up : *src_.uplinks) {
    storage::OutboxReadOptions peek;
    peek.dest = up->name();
    peek.max_rows = 1;
    peek.max_bytes = 1;
    peek.mark_inflight = false;
    std::weak_ptr<bool> alive = alive_;
    src_.store->outbox_read(peek, [this, alive, name = up->name()](
                                      Result<std::vector<storage::OutboxRecord>, storage::Status> r) {
      if (auto a = alive.lock(); !a || !*a) return;
      if (!r) return;
      oldest_age_s_[name] =
          r.value().empty()
              ? 0
              : std::max<std::int64_t>(0, src_.clock->unix_seconds() - r.value().front().enqueued_unix);
    });
  }
}

json Ops::status(std::size_t max_clients, std::size_t offset) const {
  const broker::Broker& b = *src_.broker;
  const broker::Stats& st = b.stats();
  const Millis now = src_.clock->now_ms();
  const std::int64_t unix_now = src_.clock->unix_seconds();
  json j;
  j["version"] = src_.version;
  j["uptime_s"] = (now - started_) / 1000;
  j["now"] = unix_now;
  const std::string why = not_ready_reason();
  j["ready"] = why.empty();
  j["not_ready_reason"] = why;
  std::uint64_t dropped = 0;
  json drops = json::object();
  for (std::size_t i = 0; i < st.dropped.size(); ++i) {
    dropped += st.dropped[i];
    drops[std::string(broker::drop_reason_name(static_cast<broker::DropReason>(i)))] = st.dropped[i];
  }
  json protos = json::array();
  for (const broker::ProtocolStats& p : st.protocols) {
    protos.push_back(
        json{{"protocol", p.name}, {"connected", p.connected}, {"received", p.received}, {"sent", p.sent}});
  }
  j["broker"] = json{{"connected", b.connected_count()},      {"connections", b.connection_count()},
                     {"sessions", b.session_count()},         {"subscriptions", b.subscription_count()},
                     {"retained", b.retained().size()},       {"messages_received", st.messages_received},
                     {"messages_sent", st.messages_sent},     {"bytes_received", st.bytes_received},
                     {"bytes_sent", st.bytes_sent},           {"dropped", dropped},
                     {"dropped_by_reason", std::move(drops)}, {"protocols", std::move(protos)}};
  if (src_.store != nullptr) {
    const storage::StoreStats s = src_.store->stats();
    j["store"] = json{{"open", true},
                      {"degraded", s.degraded},
                      {"last_error", s.degraded ? std::string(storage::to_string(s.last_error)) : ""},
                      {"transactions", s.transactions},
                      {"failed_transactions", s.failed_transactions},
                      {"bytes_written", s.bytes_written},
                      {"syncs", s.syncs},
                      {"disk_bytes", s.disk_bytes},
                      {"max_db_bytes", src_.config ? src_.config->store.max_db_bytes : 0},
                      {"outbox_rows", s.outbox_rows},
                      {"outbox_bytes", s.outbox_bytes}};
  } else {
    j["store"] = json{{"open", false}};
  }
  json ups = json::array();
  if (src_.uplinks != nullptr) {
    for (const auto& up : *src_.uplinks) {
      const uplink::MqttUplinkStats us = up->stats();
      const storage::OutboxBacklog bl =
          src_.store ? src_.store->outbox_backlog(up->name()) : storage::OutboxBacklog{};
      const auto age = oldest_age_s_.find(up->name());
      ups.push_back(json{{"name", up->name()},
                         {"state", uplink::to_string(up->state())},
                         {"backlog_rows", bl.rows},
                         {"backlog_bytes", bl.bytes},
                         {"oldest_s", age == oldest_age_s_.end() ? 0 : age->second},
                         {"connects", us.connects},
                         {"connect_failures", us.connect_failures},
                         {"disconnects", us.disconnects},
                         {"published", us.drain.published},
                         {"acked", us.drain.acked},
                         {"received", us.received}});
    }
  }
  j["uplinks"] = std::move(ups);

  json clients = json::array();
  std::size_t index = 0;
  for (broker::Connection* c : b.connection_slots()) {
    if (clients.size() >= max_clients) break;
    if (c == nullptr || c->state() != broker::Connection::State::Connected) continue;
    if (index++ < offset) continue;
    const broker::Session* s = c->session();
    json item{{"client_id", c->identity().client_id},
              {"protocol", st.protocols[c->protocol_index()].name},
              {"address", c->transport().peer()},
              {"connected_since", unix_now - (now - c->connected_at()) / 1000},
              {"subscriptions", s ? s->subscriptions.size() : 0},
              {"queued", s ? s->queue.size() + s->inflight.size() : 0}};
    if (const netpie::Gear* g = netpie::gear_of(*c))
      item["netpie"] = json{{"appid", g->appid}, {"alias", g->alias}};
    clients.push_back(std::move(item));
  }
  j["clients"] = json{{"total", b.connected_count()}, {"offset", offset}, {"items", std::move(clients)}};

  if (src_.netpie != nullptr) {
    netpie::Endpoint& ep = *src_.netpie;
    json apps = json::array();
    for (const auto& app : ep.registry().config().apps) {
      json online = json::array();
      for (broker::Connection* c : b.connection_slots()) {
        if (c == nullptr || c->state() != broker::Connection::State::Connected) continue;
        const netpie::Gear* g = netpie::gear_of(*c);
        if (g == nullptr || g->appid != app.appid) continue;
        online.push_back(json{
            {"alias", g->alias}, {"token", g->token}, {"key", g->key}, {"address", c->transport().peer()}});
        if (online.size() >= kMaxPage) break;
      }
      json keys = json::array();
      for (const auto& k : app.keys)
        keys.push_back(json{{"key", k.key}, {"kind", k.kind}, {"auto_approve", k.auto_approve}});
      apps.push_back(json{{"appid", app.appid}, {"keys", std::move(keys)}, {"online", std::move(online)}});
    }
    j["netpie"] = json{{"enabled", true},
                       {"apps", std::move(apps)},
                       {"approvals", netpie::approvals_json(ep.registry())},
                       {"tokens", netpie::tokens_json(ep.registry(), ep.gears())}};
  } else {
    j["netpie"] = json{
        {"enabled", false}, {"apps", json::array()}, {"approvals", json::array()}, {"tokens", json::array()}};
  }
  return j;
}

void Ops::add_collectors() {
  metrics_.add_collector([this](Exposition& e) {
    e.gauge("netpie_edge_build_info", "The running version (value 1)", {{"version", src_.version}}, 1);
    e.gauge("netpie_edge_uptime_seconds", "Seconds since the daemon started", {},
            static_cast<double>(src_.clock->now_ms() - started_) / 1000.0);
    e.gauge("netpie_edge_ready", "1 when /readyz answers 200", {}, not_ready_reason().empty() ? 1 : 0);
  });
  metrics_.add_collector([this](Exposition& e) {
    const broker::Broker& b = *src_.broker;
    const broker::Stats& st = b.stats();
    for (const broker::ProtocolStats& p : st.protocols) {
      const Labels proto{{"protocol", p.name}};
      e.gauge("netpie_edge_connections", "Client connections past CONNECT, by listener protocol", proto,
              static_cast<double>(p.connected));
      e.counter("netpie_edge_connects_total", "CONNECTs accepted, by listener protocol", proto, p.connects);
      for (std::size_t q = 0; q < 3; ++q) {
        e.counter("netpie_edge_messages_received_total", "PUBLISH packets from clients, by protocol and QoS",
                  {{"protocol", p.name}, {"qos", qos_label(q)}}, p.received[q]);
      }
      for (std::size_t q = 0; q < 3; ++q) {
        e.counter("netpie_edge_messages_sent_total", "PUBLISH packets to clients, by protocol and QoS",
                  {{"protocol", p.name}, {"qos", qos_label(q)}}, p.sent[q]);
      }
    }
    e.gauge("netpie_edge_connections_open", "Open MQTT connections, also those not past CONNECT yet", {},
            static_cast<double>(b.connection_count()));
    e.gauge("netpie_edge_sessions", "Sessions, connected or kept for absent persistent clients", {},
            static_cast<double>(b.session_count()));
    e.gauge("netpie_edge_subscriptions", "Subscriptions in the trie", {},
            static_cast<double>(b.subscription_count()));
    e.gauge("netpie_edge_retained_messages", "Retained messages", {},
            static_cast<double>(b.retained().size()));
    e.gauge("netpie_edge_flow_holding_sessions", "Sessions holding publishers back (flow control)", {},
            static_cast<double>(b.holding_sessions()));
    e.counter("netpie_edge_bytes_received_total", "Bytes read from MQTT clients", {}, st.bytes_received);
    e.counter("netpie_edge_bytes_sent_total", "Bytes written to MQTT clients", {}, st.bytes_sent);
    e.counter("netpie_edge_connections_refused_total",
              "CONNECTs refused (CONNACK failure or over max_connections)", {}, st.connections_refused);
    e.counter("netpie_edge_protocol_errors_total", "Connections closed for malformed input or violations", {},
              st.protocol_errors);
    e.counter("netpie_edge_keepalive_timeouts_total", "Connections closed for keepalive", {},
              st.keepalive_timeouts);
    e.counter("netpie_edge_wills_published_total", "Wills published", {}, st.wills_published);
    e.counter("netpie_edge_store_refusals_total", "QoS 1/2 PUBLISH refused because a store write failed", {},
              st.store_refusals);
    e.counter("netpie_edge_reads_paused_total", "Times reading from a client was paused", {},
              st.reads_paused);
    e.counter("netpie_edge_flow_paused_total", "Publishers paused by a full subscriber queue", {},
              st.flow_paused);
    e.counter("netpie_edge_acks_withheld_total", "PUBACK/PUBREC held until a subscriber had room", {},
              st.acks_withheld);
    e.counter("netpie_edge_slow_subscribers_total", "Subscribers disconnected for holding publishers back",
              {}, st.slow_subscribers);
    for (std::size_t i = 0; i < st.dropped.size(); ++i) {
      e.counter("netpie_edge_messages_dropped_total",
                "Messages dropped, by reason (README: bounded everywhere)",
                {{"reason", std::string(broker::drop_reason_name(static_cast<broker::DropReason>(i)))}},
                st.dropped[i]);
    }
  });
  metrics_.add_collector([this](Exposition& e) {
    if (src_.store == nullptr) {
      e.gauge("netpie_edge_store_up", "1 when the store is open", {}, 0);
      return;
    }
    const storage::StoreStats s = src_.store->stats();
    e.gauge("netpie_edge_store_up", "1 when the store is open", {}, 1);
    e.gauge("netpie_edge_store_degraded", "1 while the store refuses writes (disk full, I/O error)", {},
            s.degraded ? 1 : 0);
    e.counter("netpie_edge_store_commits_total", "Committed store transactions (group commits)", {},
              s.transactions);
    e.counter("netpie_edge_store_failed_commits_total", "Store transactions rolled back", {},
              s.failed_transactions);
    e.counter("netpie_edge_store_requests_total", "Requests applied in committed transactions", {},
              s.requests);
    e.histogram("netpie_edge_store_commit_seconds", "Duration of one store transaction, BEGIN to COMMIT", {},
                storage::kCommitLatencyBoundsUs, s.commit_us, static_cast<double>(s.commit_us_sum) / 1e6,
                1e-6);
    e.counter("netpie_edge_store_bytes_written_total",
              "Bytes SQLite wrote to the database, WAL and journal (flash wear)", {}, s.bytes_written);
    e.counter("netpie_edge_store_syncs_total", "fsync calls on the store's files", {}, s.syncs);
    e.counter("netpie_edge_store_checkpoints_total", "WAL checkpoints", {}, s.checkpoints);
    e.gauge("netpie_edge_store_disk_bytes", "Database, WAL, shm and reserve file on disk", {},
            static_cast<double>(s.disk_bytes));
    if (src_.config != nullptr) {
      e.gauge("netpie_edge_store_max_bytes", "store.max_db_bytes (0: no cap)", {},
              static_cast<double>(src_.config->store.max_db_bytes));
    }
    e.counter("netpie_edge_store_queue_full_total", "Store submissions refused: its queue was full", {},
              s.queue_full);
    e.gauge("netpie_edge_outbox_rows", "Outbox rows, all uplinks", {}, static_cast<double>(s.outbox_rows));
    e.gauge("netpie_edge_outbox_bytes", "Outbox bytes, all uplinks", {}, static_cast<double>(s.outbox_bytes));
    e.counter("netpie_edge_outbox_enqueued_total", "Messages that entered the outbox", {}, s.outbox_enqueued);
    e.counter("netpie_edge_outbox_acked_total", "Outbox rows the cloud acknowledged", {}, s.outbox_acked);
    for (std::size_t i = 0; i < storage::kDropReasonCount; ++i) {
      e.counter("netpie_edge_outbox_dropped_total", "Outbox messages refused or dropped, by reason",
                {{"reason", std::string(storage::to_string(static_cast<storage::DropReason>(i)))}},
                s.outbox_drops[i]);
    }
  });
  metrics_.add_collector([this](Exposition& e) {
    if (src_.uplinks == nullptr) return;
    static constexpr uplink::MqttUplink::State kStates[] = {
        uplink::MqttUplink::State::Idle,       uplink::MqttUplink::State::LoggingIn,
        uplink::MqttUplink::State::Connecting, uplink::MqttUplink::State::Online,
        uplink::MqttUplink::State::Backoff,    uplink::MqttUplink::State::Closed};
    for (const auto& up : *src_.uplinks) {
      const Labels name{{"uplink", up->name()}};
      for (auto s : kStates) {
        e.gauge("netpie_edge_uplink_state", "1 for the uplink's current state",
                {{"uplink", up->name()}, {"state", uplink::to_string(s)}}, up->state() == s ? 1 : 0);
      }
      const uplink::MqttUplinkStats us = up->stats();
      const storage::OutboxBacklog bl =
          src_.store ? src_.store->outbox_backlog(up->name()) : storage::OutboxBacklog{};
      const auto age = oldest_age_s_.find(up->name());
      e.gauge("netpie_edge_uplink_backlog_rows", "Outbox rows waiting for this uplink (queued or in flight)",
              name, static_cast<double>(bl.rows));
      e.gauge("netpie_edge_uplink_backlog_bytes", "Outbox bytes waiting for this uplink", name,
              static_cast<double>(bl.bytes));
      e.gauge("netpie_edge_uplink_backlog_oldest_seconds",
              "Age of the oldest queued row (0: none; refreshed every 2 s)", name,
              age == oldest_age_s_.end() ? 0.0 : static_cast<double>(age->second));
      e.counter("netpie_edge_uplink_connects_total", "Uplink connections accepted (CONNACK)", name,
                us.connects);
      e.counter("netpie_edge_uplink_connect_failures_total", "Uplink connection attempts that failed", name,
                us.connect_failures);
      e.counter("netpie_edge_uplink_disconnects_total",
                "Uplink connections lost after CONNACK (each is a reconnect)", name, us.disconnects);
      e.counter("netpie_edge_uplink_published_total", "Rows sent to the cloud (resends count)", name,
                us.drain.published);
      e.counter("netpie_edge_uplink_acked_total", "Rows the cloud acknowledged", name, us.drain.acked);
      e.counter("netpie_edge_uplink_refused_total", "Rows refused and acked away", name, us.drain.refused);
      e.counter("netpie_edge_uplink_received_total", "Messages that came down and were published locally",
                name, us.received);
      // Issue 18: live-first replay, expiry, v5 properties a 3.1.1 cloud cannot take, the uplink's quota.
      e.counter("netpie_edge_uplink_live_published_total",
                "Rows sent from the live stream while a backlog drained", name, us.drain.live_published);
      e.counter("netpie_edge_uplink_properties_dropped_total",
                "Rows sent to a 3.1.1 cloud without their v5 properties", name, us.drain.properties_dropped);
      const storage::OutboxDestDrops q =
          src_.store ? src_.store->outbox_dest_drops(up->name()) : storage::OutboxDestDrops{};
      e.counter("netpie_edge_uplink_expired_total", "Rows whose message expiry passed: deleted, never sent",
                name, q.message_expired + us.drain.expired);
      e.counter("netpie_edge_uplink_quota_dropped_total",
                "Rows this uplink's outbox quota dropped or refused",
                {{"uplink", up->name()}, {"reason", "dropped_oldest"}}, q.dropped_oldest);
      e.counter("netpie_edge_uplink_quota_dropped_total",
                "Rows this uplink's outbox quota dropped or refused",
                {{"uplink", up->name()}, {"reason", "rejected"}}, q.rejected);
      e.counter("netpie_edge_uplink_quota_dropped_total",
                "Rows this uplink's outbox quota dropped or refused",
                {{"uplink", up->name()}, {"reason", "expired"}}, q.expired);
    }
  });
  metrics_.add_collector([this](Exposition& e) {
    if (src_.http != nullptr) {
      const net::HttpStats& h = src_.http->stats();
      e.gauge("netpie_edge_http_connections", "Open HTTP connections", {},
              static_cast<double>(src_.http->connections()));
      e.counter("netpie_edge_http_accepted_total", "HTTP connections accepted", {}, h.accepted);
      e.counter("netpie_edge_http_refused_busy_total", "HTTP connections refused over max_connections", {},
                h.refused_busy);
      e.counter("netpie_edge_http_parse_errors_total", "Malformed HTTP requests (4xx)", {}, h.parse_errors);
      e.counter("netpie_edge_http_timeouts_total", "HTTP requests not complete in time (408)", {},
                h.timeouts);
    }
    if (src_.netpie != nullptr) {
      std::size_t live = 0, revoked = 0, online = 0;
      netpie::Endpoint& ep = *src_.netpie;
      for (const netpie::AccessToken* t : ep.registry().tokens()) {
        (t->revoked ? revoked : live) += 1;
        if (!t->revoked && ep.gears().online(t->token)) ++online;
      }
      e.gauge("netpie_edge_netpie_tokens", "Local access tokens", {{"state", "live"}},
              static_cast<double>(live));
      e.gauge("netpie_edge_netpie_tokens", "Local access tokens", {{"state", "revoked"}},
              static_cast<double>(revoked));
      e.gauge("netpie_edge_netpie_microgears_online", "Microgears connected with a local token", {},
              static_cast<double>(online));
      std::size_t waiting = 0;
      for (const netpie::RequestToken* rt : ep.registry().requests()) {
        if (rt->access_token.empty() && !ep.registry().approved(*rt)) ++waiting;
      }
      e.gauge("netpie_edge_netpie_approvals_waiting", "Device requests waiting for the owner's approval", {},
              static_cast<double>(waiting));
    }
  });
}

}  // namespace gw::ops
