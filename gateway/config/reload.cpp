// plan_reload(): a field-by-field comparison of the running and the new configuration (see reload.hpp).
// Whole sections compare with their defaulted operator==; a section that is partly reloadable is compared
// with its reloadable fields masked, so a new key added to config.hpp is a restart-only key until it is
// deliberately made reloadable here.
#include "gateway/config/reload.hpp"

namespace gw::config {

namespace {

// MQTT 5 clients are told these in CONNACK (MQTT 5.0 §3.2.2.3.3, §3.2.2.3.6, §3.2.2.3.8) and hold us to
// them for the whole connection: lowering one under a connected client would turn its next packet into a
// protocol error. They change for everyone at the next start.
void plan_limits(const Limits& running, const Limits& next, ReloadPlan& plan) {
  Limits effective = next;
  auto keep = [&](auto member, const char* name) {
    if (running.*member != next.*member) {
      plan.restart.push_back(std::string("limits.") + name);
      effective.*member = running.*member;
    }
  };
  keep(&Limits::receive_maximum, "receive_maximum");
  keep(&Limits::topic_alias_maximum, "topic_alias_maximum");
  keep(&Limits::max_packet_size, "max_packet_size");
  if (effective != running) {
    plan.limits = true;
    plan.effective.limits = effective;
  }
}

// What an uplink's relay rules are: the up and down rules, and the mapping of rows no up rule matches.
void copy_rules(const Uplink& from, Uplink& to) {
  to.up = from.up;
  to.down = from.down;
  to.topic_prefix = from.topic_prefix;
  to.qos = from.qos;
}

// Names the restart-only keys of an uplink that differ (the connection: endpoint, profile, credentials,
// TLS, session, presence, pacing).
void uplink_restart_keys(const Uplink& a, const Uplink& b, const std::string& path,
                         std::vector<std::string>& out) {
  auto differs = [&](bool d, const char* key) {
    if (d) out.push_back(path + "." + key);
  };
  differs(a.profile != b.profile, "profile");
  differs(a.host != b.host, "host");
  differs(a.port != b.port, "port");
  differs(a.tls != b.tls, "tls");
  differs(a.client_id != b.client_id, "client_id");
  differs(a.username != b.username, "username");
  differs(a.password != b.password, "password");
  differs(a.netpie != b.netpie, "netpie");
  differs(a.keepalive != b.keepalive, "keepalive");
  differs(a.clean_start != b.clean_start, "clean_start");
  differs(a.version != b.version, "version");
  differs(a.presence != b.presence, "presence");
  differs(a.max_inflight != b.max_inflight, "max_inflight");
  differs(a.reconnect_min_ms != b.reconnect_min_ms, "reconnect_min_ms");
  differs(a.reconnect_max_ms != b.reconnect_max_ms, "reconnect_max_ms");
  differs(a.rate_limit != b.rate_limit, "rate_limit");
  differs(a.replay != b.replay, "replay");
  differs(a.outbox != b.outbox, "outbox");
}

void plan_uplinks(const Config& running, const Config& next, ReloadPlan& plan) {
  const auto& a = running.uplinks;
  const auto& b = next.uplinks;
  bool same_names = a.size() == b.size();
  for (std::size_t i = 0; same_names && i < a.size(); ++i) same_names = a[i].name == b[i].name;
  if (!same_names) {
    // Uplinks added, removed, renamed or reordered: each owns a connection and a share of the outbox.
    plan.restart.push_back("uplinks (added, removed or renamed)");
    return;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    Uplink masked = b[i];
    copy_rules(a[i], masked);
    if (masked != a[i]) {
      uplink_restart_keys(a[i], masked, "uplinks[" + std::to_string(i) + "] (" + a[i].name + ")",
                          plan.restart);
    }
    Uplink rules_only = a[i];
    copy_rules(b[i], rules_only);
    if (rules_only != a[i]) {
      plan.uplink_rules.push_back(i);
      copy_rules(b[i], plan.effective.uplinks[i]);
      if (a[i].up != b[i].up) plan.outbox_routes = true;
    }
  }
}

}  // namespace

ReloadPlan plan_reload(const Config& running, const Config& next) {
  ReloadPlan plan;
  plan.effective = running;
  plan.effective.source = next.source;
  plan.effective.positions = next.positions;  // where the file now sets its keys, for later messages

  if (running.log_level != next.log_level || running.log_output != next.log_output ||
      running.log_file != next.log_file ||
      running.log_max_lines_per_second != next.log_max_lines_per_second ||
      running.log_burst != next.log_burst) {
    plan.log = true;
    plan.effective.log_level = next.log_level;
    plan.effective.log_output = next.log_output;
    plan.effective.log_file = next.log_file;
    plan.effective.log_max_lines_per_second = next.log_max_lines_per_second;
    plan.effective.log_burst = next.log_burst;
  }
  if (running.state_dir != next.state_dir) plan.restart.push_back("state_dir");
  if (running.ports_file != next.ports_file) plan.restart.push_back("ports_file");
  if (running.sys_interval_s != next.sys_interval_s) plan.restart.push_back("sys_interval");
  if (running.listeners != next.listeners) plan.restart.push_back("listeners");
  if (running.http != next.http) plan.restart.push_back("http");
  if (running.websocket != next.websocket) plan.restart.push_back("websocket");

  if (running.auth != next.auth) {
    plan.auth = true;
    plan.effective.auth = next.auth;
  }
  plan_limits(running.limits, next.limits, plan);

  Store store = next.store;
  store.outbox_filters = running.store.outbox_filters;
  if (store != running.store) plan.restart.push_back("store");
  if (running.store.outbox_filters != next.store.outbox_filters) {
    plan.outbox_routes = true;
    plan.effective.store.outbox_filters = next.store.outbox_filters;
  }

  if (running.netpie.enabled != next.netpie.enabled) plan.restart.push_back("netpie.enabled");
  Netpie netpie = next.netpie;
  netpie.enabled = running.netpie.enabled;
  if (netpie != running.netpie) {
    plan.netpie = running.netpie.enabled;  // off: nothing runs that would use it
    plan.effective.netpie = netpie;
  }

  plan_uplinks(running, next, plan);
  return plan;
}

std::string ReloadPlan::summary() const {
  std::string out;
  auto add = [&](bool on, const std::string& what) {
    if (!on) return;
    if (!out.empty()) out += ", ";
    out += what;
  };
  add(log, "log");
  add(auth, "auth");
  add(netpie, "netpie apps and keys");
  add(limits, "limits");
  add(outbox_routes, "outbox routes");
  for (std::size_t i : uplink_rules) add(true, "relay rules of " + effective.uplinks[i].name);
  return out.empty() ? "no changes applied" : out;
}

}  // namespace gw::config
