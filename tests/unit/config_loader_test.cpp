// The YAML loader: defaults, the shipped conf/netpie-edge.yaml against default_config(), every key read,
// and each kind of error with the exact file:line:column and key path that the user will see.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "gateway/config/config.hpp"
#include "gateway/config/password.hpp"

namespace gw::config {
namespace {

// The error text for `yaml`, or "<loaded>" if it loads; the file is called t.yaml in messages.
std::string error_of(const std::string& yaml) {
  auto r = load_string(yaml, "t.yaml");
  if (r.ok()) return "<loaded>";
  return r.error().message;
}

Config load_ok(const std::string& yaml) {
  auto r = load_string(yaml, "t.yaml");
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? r.value() : Config{};
}

const std::string kAliceHash =
    "pbkdf2-sha256$1000$bmV0cGllLWVkZ2Utc2FsdA==$I2HHghzUDjyYGR5yWvyn8DvehH73BljPR9pUYwLoeFI=";

// ---- defaults ---------------------------------------------------------------------------------------

TEST(ConfigDefaults, MatchTheDocumentedValues) {
  Config c = default_config();
  EXPECT_EQ(c.source, "<embedded default>");
  EXPECT_EQ(c.log_level, "info");
  EXPECT_EQ(c.state_dir, "./netpie-edge-state");
  EXPECT_EQ(c.ports_file, "");
  EXPECT_EQ(c.sys_interval_s, 10u);
  ASSERT_EQ(c.listeners.size(), 1u);
  EXPECT_EQ(c.listeners[0].name, "mqtt");
  EXPECT_EQ(c.listeners[0].protocol, "mqtt");
  EXPECT_EQ(c.listeners[0].bind, "127.0.0.1");
  EXPECT_EQ(c.listeners[0].port, 1883);
  EXPECT_EQ(c.limits.max_connections, 10000u);
  EXPECT_EQ(c.limits.max_packet_size, 1048576u);
  EXPECT_EQ(c.limits.max_packet_size_before_connect, 16384u);
  EXPECT_EQ(c.limits.connect_timeout_ms, 10000u);
  EXPECT_EQ(c.limits.receive_maximum, 64);
  EXPECT_EQ(c.limits.max_inflight, 64);
  EXPECT_EQ(c.limits.max_queued_messages, 1000u);
  EXPECT_EQ(c.limits.max_queued_bytes, 16777216u);
  EXPECT_EQ(c.limits.queue_policy, QueuePolicy::DropOldest);
  EXPECT_EQ(c.limits.write_high_watermark, 1048576u);
  EXPECT_EQ(c.limits.slow_consumer_policy, SlowConsumerPolicy::DropQos0);
  EXPECT_EQ(c.limits.qos0_full_policy, Qos0FullPolicy::Drop);
  EXPECT_EQ(c.limits.slow_subscriber_timeout_s, 30u);
  EXPECT_EQ(c.limits.topic_alias_maximum, 16);
  EXPECT_EQ(c.limits.max_keepalive, 0);
  EXPECT_EQ(c.limits.max_session_expiry, 604800u);
  EXPECT_EQ(c.limits.max_retained, 100000u);
  EXPECT_EQ(c.limits.max_subscriptions_per_client, 1000u);
  EXPECT_EQ(c.limits.max_topic_levels, 128);
  EXPECT_EQ(c.limits.max_topic_length, 65535);
  EXPECT_EQ(c.limits.max_subscription_bytes_per_client, 1048576u);
  EXPECT_EQ(c.auth.anonymous, AnonymousPolicy::Loopback);
  EXPECT_TRUE(c.auth.users.empty());
}

TEST(ConfigDefaults, EmptyTextGivesDefaultsNamedAfterTheSource) {
  for (const char* text : {"", "\n", "# only a comment\n", "---\n", "~\n", "{}\n"}) {
    auto r = load_string(text, "given.yaml");
    ASSERT_TRUE(r.ok()) << "for " << text << ": " << r.error().message;
    EXPECT_EQ(r->source, "given.yaml");
    EXPECT_EQ(r->limits.max_inflight, 64);
    EXPECT_EQ(r->listeners.size(), 1u);
  }
}

TEST(ConfigDefaults, EmptyAndCommentOnlyFilesGiveDefaults) {
  for (const char* name : {"/empty.yaml", "/comments_only.yaml"}) {
    std::string path = std::string(GW_CONFIG_FIXTURES) + name;
    auto r = load_file(path);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->source, path);
    EXPECT_EQ(r->log_level, "info");
  }
}

TEST(ConfigDefaults, EmptySectionsKeepTheirDefaults) {
  Config c = load_ok("log:\nlimits:\nauth:\n  users:\nports_file:\n");
  EXPECT_EQ(c.log_level, "info");
  EXPECT_EQ(c.limits.max_connections, 10000u);
  EXPECT_TRUE(c.auth.users.empty());
  EXPECT_EQ(c.ports_file, "");
}

// ---- the shipped, documented file ---------------------------------------------------------------------

// Compares every field. The structured bindings stop compiling when a field is added to one of these
// structs, which is the reminder to document the new key in conf/ and to compare it here.
void expect_same(const Config& a, const Config& b) {
  const auto& [a_source, a_log_level, a_log_output, a_log_file, a_log_max_lines_per_second, a_log_burst,
               a_state_dir, a_ports_file, a_sys_interval_s, a_listeners, a_limits, a_auth, a_store, a_http,
               a_websocket, a_coap, a_netpie, a_uplinks, a_positions] = a;
  EXPECT_TRUE(a_coap == b.coap);
  (void)a_source;     // names the file; differs by design
  (void)a_positions;  // where the file set its keys; the embedded default has none
  EXPECT_EQ(a_log_level, b.log_level);
  EXPECT_EQ(a_log_output, b.log_output);
  EXPECT_EQ(a_log_file, b.log_file);
  EXPECT_EQ(a_log_max_lines_per_second, b.log_max_lines_per_second);
  EXPECT_EQ(a_log_burst, b.log_burst);
  EXPECT_EQ(a_state_dir, b.state_dir);
  EXPECT_EQ(a_ports_file, b.ports_file);
  EXPECT_EQ(a_sys_interval_s, b.sys_interval_s);

  ASSERT_EQ(a_listeners.size(), b.listeners.size());
  for (std::size_t i = 0; i < a_listeners.size(); ++i) {
    const auto& [name, protocol, bind, port, tls, max_handshakes, handshake_full_policy,
                 handshake_timeout_ms] = a_listeners[i];
    EXPECT_EQ(handshake_full_policy, b.listeners[i].handshake_full_policy);
    EXPECT_EQ(name, b.listeners[i].name);
    EXPECT_EQ(protocol, b.listeners[i].protocol);
    EXPECT_EQ(bind, b.listeners[i].bind);
    EXPECT_EQ(port, b.listeners[i].port);
    EXPECT_EQ(max_handshakes, b.listeners[i].max_handshakes);
    EXPECT_EQ(handshake_timeout_ms, b.listeners[i].handshake_timeout_ms);
    const auto& [enabled, cert_file, key_file, ca_file, require_client_cert, use_identity_as_username,
                 session_cache_size, idle_release_ms] = tls;
    EXPECT_EQ(enabled, b.listeners[i].tls.enabled);
    EXPECT_EQ(cert_file, b.listeners[i].tls.cert_file);
    EXPECT_EQ(key_file, b.listeners[i].tls.key_file);
    EXPECT_EQ(ca_file, b.listeners[i].tls.ca_file);
    EXPECT_EQ(require_client_cert, b.listeners[i].tls.require_client_cert);
    EXPECT_EQ(use_identity_as_username, b.listeners[i].tls.use_identity_as_username);
    EXPECT_EQ(session_cache_size, b.listeners[i].tls.session_cache_size);
    EXPECT_EQ(idle_release_ms, b.listeners[i].tls.idle_release_ms);
  }

  const Limits& bl = b.limits;
  const auto& [max_connections, max_packet_size, max_packet_size_before_connect, connect_timeout_ms,
               receive_maximum, max_inflight, max_queued_messages, max_queued_bytes, queue_policy,
               write_high_watermark, slow_consumer_policy, qos0_full_policy, slow_subscriber_timeout_s,
               topic_alias_maximum, max_keepalive, max_session_expiry, max_retained,
               max_subscriptions_per_client, max_topic_levels, max_topic_length,
               max_subscription_bytes_per_client] = a_limits;
  EXPECT_EQ(max_connections, bl.max_connections);
  EXPECT_EQ(max_packet_size, bl.max_packet_size);
  EXPECT_EQ(max_packet_size_before_connect, bl.max_packet_size_before_connect);
  EXPECT_EQ(connect_timeout_ms, bl.connect_timeout_ms);
  EXPECT_EQ(receive_maximum, bl.receive_maximum);
  EXPECT_EQ(max_inflight, bl.max_inflight);
  EXPECT_EQ(max_queued_messages, bl.max_queued_messages);
  EXPECT_EQ(max_queued_bytes, bl.max_queued_bytes);
  EXPECT_EQ(queue_policy, bl.queue_policy);
  EXPECT_EQ(write_high_watermark, bl.write_high_watermark);
  EXPECT_EQ(slow_consumer_policy, bl.slow_consumer_policy);
  EXPECT_EQ(qos0_full_policy, bl.qos0_full_policy);
  EXPECT_EQ(slow_subscriber_timeout_s, bl.slow_subscriber_timeout_s);
  EXPECT_EQ(topic_alias_maximum, bl.topic_alias_maximum);
  EXPECT_EQ(max_keepalive, bl.max_keepalive);
  EXPECT_EQ(max_session_expiry, bl.max_session_expiry);
  EXPECT_EQ(max_retained, bl.max_retained);
  EXPECT_EQ(max_subscriptions_per_client, bl.max_subscriptions_per_client);
  EXPECT_EQ(max_topic_levels, bl.max_topic_levels);
  EXPECT_EQ(max_topic_length, bl.max_topic_length);
  EXPECT_EQ(max_subscription_bytes_per_client, bl.max_subscription_bytes_per_client);

  const auto& [anonymous, users] = a_auth;
  EXPECT_EQ(anonymous, b.auth.anonymous);
  ASSERT_EQ(users.size(), b.auth.users.size());
  for (std::size_t i = 0; i < users.size(); ++i) {
    const auto& [username, password_hash] = users[i];
    EXPECT_EQ(username, b.auth.users[i].username);
    EXPECT_EQ(password_hash, b.auth.users[i].password_hash);
  }

  const Store& bs = b.store;
  const auto& [enabled, file, synchronous, commit_window_us, commit_max_rows, qos0_durable, max_db_bytes,
               queue_max_requests, outbox_filters, outbox_max_rows, outbox_max_bytes, outbox_max_age_s,
               outbox_policy, session_queue_max_rows, session_queue_max_bytes, session_queue_policy,
               session_queue_memory_rows, history_filters, history_max_age_s, history_max_rows,
               history_max_page_rows, history_max_scan_rows, feeds_raw_max_age_s, feeds_minute_max_age_s,
               feeds_hour_max_age_s, feeds_max_points_per_field, feeds_max_fields_per_feed,
               feeds_max_query_rows, feeds_max_query_points] = a_store;
  EXPECT_EQ(enabled, bs.enabled);
  EXPECT_EQ(file, bs.file);
  EXPECT_EQ(synchronous, bs.synchronous);
  EXPECT_EQ(commit_window_us, bs.commit_window_us);
  EXPECT_EQ(commit_max_rows, bs.commit_max_rows);
  EXPECT_EQ(qos0_durable, bs.qos0_durable);
  EXPECT_EQ(max_db_bytes, bs.max_db_bytes);
  EXPECT_EQ(queue_max_requests, bs.queue_max_requests);
  EXPECT_EQ(outbox_filters, bs.outbox_filters);
  EXPECT_EQ(outbox_max_rows, bs.outbox_max_rows);
  EXPECT_EQ(outbox_max_bytes, bs.outbox_max_bytes);
  EXPECT_EQ(outbox_max_age_s, bs.outbox_max_age_s);
  EXPECT_EQ(outbox_policy, bs.outbox_policy);
  EXPECT_EQ(session_queue_max_rows, bs.session_queue_max_rows);
  EXPECT_EQ(session_queue_max_bytes, bs.session_queue_max_bytes);
  EXPECT_EQ(session_queue_policy, bs.session_queue_policy);
  EXPECT_EQ(session_queue_memory_rows, bs.session_queue_memory_rows);
  EXPECT_EQ(history_filters, bs.history_filters);
  EXPECT_EQ(history_max_age_s, bs.history_max_age_s);
  EXPECT_EQ(history_max_rows, bs.history_max_rows);
  EXPECT_EQ(history_max_page_rows, bs.history_max_page_rows);
  EXPECT_EQ(history_max_scan_rows, bs.history_max_scan_rows);
  EXPECT_EQ(feeds_raw_max_age_s, bs.feeds_raw_max_age_s);
  EXPECT_EQ(feeds_minute_max_age_s, bs.feeds_minute_max_age_s);
  EXPECT_EQ(feeds_hour_max_age_s, bs.feeds_hour_max_age_s);
  EXPECT_EQ(feeds_max_points_per_field, bs.feeds_max_points_per_field);
  EXPECT_EQ(feeds_max_fields_per_feed, bs.feeds_max_fields_per_feed);
  EXPECT_EQ(feeds_max_query_rows, bs.feeds_max_query_rows);
  EXPECT_EQ(feeds_max_query_points, bs.feeds_max_query_points);

  const auto& [http_max_connections, http_max_header_bytes, http_max_body, http_request_timeout_ms,
               http_idle_timeout_ms, http_admin_users] = a_http;
  EXPECT_EQ(http_max_connections, b.http.max_connections);
  EXPECT_EQ(http_max_header_bytes, b.http.max_header_bytes);
  EXPECT_EQ(http_max_body, b.http.max_body);
  EXPECT_EQ(http_request_timeout_ms, b.http.request_timeout_ms);
  EXPECT_EQ(http_idle_timeout_ms, b.http.idle_timeout_ms);
  EXPECT_EQ(http_admin_users, b.http.admin_users);

  const auto& [ws_max_frame_bytes, ws_max_message_bytes, ws_max_header_bytes] = a_websocket;
  EXPECT_EQ(ws_max_frame_bytes, b.websocket.max_frame_bytes);
  EXPECT_EQ(ws_max_message_bytes, b.websocket.max_message_bytes);
  EXPECT_EQ(ws_max_header_bytes, b.websocket.max_header_bytes);

  const Netpie& bn = b.netpie;
  const auto& [np_enabled, np_apps, np_endpoint_host, np_endpoint_port, np_clock_skew_s, np_mqtt_max_age_s,
               np_request_token_ttl_s, np_max_tokens_per_key, np_max_request_tokens, np_postbox_max_messages,
               np_postbox_max_bytes, np_atoken_hold_ms, np_atoken_max_held_per_key] = a_netpie;
  EXPECT_EQ(np_enabled, bn.enabled);
  EXPECT_EQ(np_endpoint_host, bn.endpoint_host);
  EXPECT_EQ(np_endpoint_port, bn.endpoint_port);
  EXPECT_EQ(np_clock_skew_s, bn.clock_skew_s);
  EXPECT_EQ(np_mqtt_max_age_s, bn.mqtt_max_age_s);
  EXPECT_EQ(np_request_token_ttl_s, bn.request_token_ttl_s);
  EXPECT_EQ(np_max_tokens_per_key, bn.max_tokens_per_key);
  EXPECT_EQ(np_max_request_tokens, bn.max_request_tokens);
  EXPECT_EQ(np_postbox_max_messages, bn.postbox_max_messages);
  EXPECT_EQ(np_postbox_max_bytes, bn.postbox_max_bytes);
  EXPECT_EQ(np_atoken_hold_ms, bn.atoken_hold_ms);
  EXPECT_EQ(np_atoken_max_held_per_key, bn.atoken_max_held_per_key);
  ASSERT_EQ(np_apps.size(), bn.apps.size());
  for (std::size_t i = 0; i < np_apps.size(); ++i) {
    const auto& [appid, keys, feeds] = np_apps[i];
    EXPECT_EQ(appid, bn.apps[i].appid);
    ASSERT_EQ(feeds.size(), bn.apps[i].feeds.size());
    for (std::size_t j = 0; j < feeds.size(); ++j) {
      const auto& [feed_id, api_keys, fields] = feeds[j];
      EXPECT_EQ(feed_id, bn.apps[i].feeds[j].id);
      EXPECT_EQ(api_keys, bn.apps[i].feeds[j].api_keys);
      EXPECT_EQ(fields, bn.apps[i].feeds[j].fields);
    }
    ASSERT_EQ(keys.size(), bn.apps[i].keys.size());
    for (std::size_t j = 0; j < keys.size(); ++j) {
      const NetpieKey& bk = bn.apps[i].keys[j];
      const auto& [key, secret, kind, auto_approve, key_enabled, rights] = keys[j];
      EXPECT_EQ(key, bk.key);
      EXPECT_EQ(secret, bk.secret);
      EXPECT_EQ(kind, bk.kind);
      EXPECT_EQ(auto_approve, bk.auto_approve);
      EXPECT_EQ(key_enabled, bk.enabled);
      const auto& [publish, subscribe, max_qos] = rights;
      EXPECT_EQ(publish, bk.rights.publish);
      EXPECT_EQ(subscribe, bk.rights.subscribe);
      EXPECT_EQ(max_qos, bk.rights.max_qos);
    }
  }

  ASSERT_EQ(a_uplinks.size(), b.uplinks.size());
  for (std::size_t i = 0; i < a_uplinks.size(); ++i) {
    const Uplink& bu = b.uplinks[i];
    const auto& [u_name, u_profile, u_host, u_port, u_tls, u_client_id, u_username, u_password, u_netpie,
                 u_keepalive, u_clean_start, u_version, u_topic_prefix, u_qos, u_up, u_down, u_presence,
                 u_max_inflight, u_reconnect_min_ms, u_reconnect_max_ms, u_rate_limit, u_stop_timeout_ms,
                 u_replay, u_outbox] = a_uplinks[i];
    EXPECT_EQ(u_name, bu.name);
    EXPECT_EQ(u_profile, bu.profile);
    EXPECT_EQ(u_host, bu.host);
    EXPECT_EQ(u_port, bu.port);
    const auto& [t_enabled, t_ca_file, t_server_name, t_verify, t_cert_file, t_key_file] = u_tls;
    EXPECT_EQ(t_enabled, bu.tls.enabled);
    EXPECT_EQ(t_ca_file, bu.tls.ca_file);
    EXPECT_EQ(t_server_name, bu.tls.server_name);
    EXPECT_EQ(t_verify, bu.tls.verify);
    EXPECT_EQ(t_cert_file, bu.tls.cert_file);
    EXPECT_EQ(t_key_file, bu.tls.key_file);
    EXPECT_EQ(u_client_id, bu.client_id);
    EXPECT_EQ(u_username, bu.username);
    EXPECT_EQ(u_password, bu.password);
    const auto& [n_appid, n_key, n_secret, n_alias, n_auth_port, n_mqtt_port, n_chat_topic] = u_netpie;
    EXPECT_EQ(n_appid, bu.netpie.appid);
    EXPECT_EQ(n_key, bu.netpie.key);
    EXPECT_EQ(n_secret, bu.netpie.secret);
    EXPECT_EQ(n_alias, bu.netpie.alias);
    EXPECT_EQ(n_auth_port, bu.netpie.auth_port);
    EXPECT_EQ(n_mqtt_port, bu.netpie.mqtt_port);
    EXPECT_EQ(n_chat_topic, bu.netpie.chat_topic);
    EXPECT_EQ(u_keepalive, bu.keepalive);
    EXPECT_EQ(u_clean_start, bu.clean_start);
    EXPECT_EQ(u_version, bu.version);
    EXPECT_EQ(u_topic_prefix, bu.topic_prefix);
    EXPECT_EQ(u_qos, bu.qos);
    EXPECT_EQ(u_up, bu.up);
    EXPECT_EQ(u_down, bu.down);
    const auto& [p_topic, p_devices, p_max_retained, p_full_policy] = u_presence;
    EXPECT_EQ(p_topic, bu.presence.topic);
    EXPECT_EQ(p_devices, bu.presence.devices);
    EXPECT_EQ(p_max_retained, bu.presence.max_retained);
    EXPECT_EQ(p_full_policy, bu.presence.full_policy);
    EXPECT_EQ(u_rate_limit, bu.rate_limit);
    EXPECT_EQ(u_max_inflight, bu.max_inflight);
    EXPECT_EQ(u_reconnect_min_ms, bu.reconnect_min_ms);
    EXPECT_EQ(u_reconnect_max_ms, bu.reconnect_max_ms);
    EXPECT_EQ(u_stop_timeout_ms, bu.stop_timeout_ms);
    const auto& [r_order, r_live_share] = u_replay;
    EXPECT_EQ(r_order, bu.replay.order);
    EXPECT_EQ(r_live_share, bu.replay.live_share);
    const auto& [q_max_rows, q_max_bytes, q_max_age_s, q_policy] = u_outbox;
    EXPECT_EQ(q_max_rows, bu.outbox.max_rows);
    EXPECT_EQ(q_max_bytes, bu.outbox.max_bytes);
    EXPECT_EQ(q_max_age_s, bu.outbox.max_age_s);
    EXPECT_EQ(q_policy, bu.outbox.policy);
  }
}

// Live-first replay and the uplink's outbox quota (issue 18): parsed, and bad values named.
TEST(ConfigUplinks, ParsesReplayAndOutboxQuota) {
  auto r = load_string(
      "uplinks:\n  - name: cloud\n    host: h\n    replay:\n      order: none\n      live_share: 0.25\n"
      "    outbox:\n      max_rows: 5000\n      max_bytes: 1 MiB\n      max_age_s: 3600\n"
      "      policy: reject_new\n",
      "t.yaml");
  ASSERT_TRUE(r.ok()) << r.error().message;
  const Uplink& u = r->uplinks[0];
  EXPECT_EQ(u.replay.order, "none");
  EXPECT_EQ(u.replay.live_share, 0.25);
  EXPECT_EQ(u.outbox.max_rows, 5000u);
  EXPECT_EQ(u.outbox.max_bytes, 1024u * 1024);
  EXPECT_EQ(u.outbox.max_age_s, 3600);
  EXPECT_EQ(u.outbox.policy, "reject_new");
  auto bad =
      load_string("uplinks:\n  - name: cloud\n    host: h\n    replay:\n      live_share: 1.5\n", "t.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("uplinks[0].replay.live_share"), std::string::npos)
      << bad.error().message;
  bad = load_string("uplinks:\n  - name: cloud\n    host: h\n    replay:\n      order: fifo\n", "t.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("uplinks[0].replay.order"), std::string::npos) << bad.error().message;
}

// ---- uplinks -------------------------------------------------------------------------------------------

TEST(ConfigUplinks, ParsesEveryKey) {
  auto r = load_string(
      "store:\n  outbox:\n    filters: [\"up/#\"]\n"
      "uplinks:\n  - name: cloud\n    profile: mqtt\n    host: broker.example.com\n    port: 8883\n"
      "    client_id: gw-1\n    username: u\n    password: p w\n    keepalive: 30\n    clean_start: true\n"
      "    version: \"5\"\n    topic_prefix: site/a/\n    qos: 0\n    max_inflight: 16\n"
      "    reconnect_min_ms: 200\n    reconnect_max_ms: 5000\n",
      "t.yaml");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->uplinks.size(), 1u);
  const Uplink& u = r->uplinks[0];
  EXPECT_EQ(u.name, "cloud");
  EXPECT_EQ(u.profile, "mqtt");
  EXPECT_EQ(u.host, "broker.example.com");
  EXPECT_EQ(u.port, 8883);
  EXPECT_EQ(u.client_id, "gw-1");
  EXPECT_EQ(u.username, "u");
  EXPECT_EQ(u.password, "p w");
  EXPECT_EQ(u.keepalive, 30);
  EXPECT_TRUE(u.clean_start);
  EXPECT_EQ(u.version, "5");
  EXPECT_EQ(u.topic_prefix, "site/a/");
  EXPECT_EQ(u.qos, 0);
  EXPECT_EQ(u.max_inflight, 16);
  EXPECT_EQ(u.reconnect_min_ms, 200u);
  EXPECT_EQ(u.reconnect_max_ms, 5000u);
}

TEST(ConfigUplinks, ParsesTlsRulesPresenceAndTheNetpieProfile) {
  auto r = load_string(
      "uplinks:\n"
      "  - name: company\n    host: h\n"
      "    tls: {enabled: true, ca_file: /ca.pem, server_name: broker.local, verify: false,\n"
      "          cert_file: /c.pem, key_file: /k.pem}\n"
      "    up:\n      - {filter: alarm/#, prefix: site/alarm/, qos: 1, lane: 0}\n"
      "      - {filter: \"#\", strip: local/, prefix: site/, qos: 0}\n"
      "    down:\n      - {filter: site/cmd/#, strip: site/, prefix: cloud/}\n"
      "    presence: {topic: site/gw/status, devices: site/devices/, max_retained: 50, full_policy: "
      "unretained}\n"
      "    rate_limit: 500\n"
      "    stop_timeout_ms: 0\n"
      "  - name: netpie\n    profile: netpie\n    host: ga.netpie.io\n"
      "    netpie: {appid: App1, key: K3y, secret: s3cr3t, alias: gw, auth_port: 8080, mqtt_port: 1883,\n"
      "             chat_topic: gateway/chat}\n",
      "t.yaml");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->uplinks.size(), 2u);
  const Uplink& u = r->uplinks[0];
  EXPECT_EQ(u.tls, (UplinkTls{true, "/ca.pem", "broker.local", false, "/c.pem", "/k.pem"}));
  ASSERT_EQ(u.up.size(), 2u);
  EXPECT_EQ(u.up[0], (RelayUp{"alarm/#", "", "site/alarm/", 1, 0}));
  EXPECT_EQ(u.up[1], (RelayUp{"#", "local/", "site/", 0, 1}));
  ASSERT_EQ(u.down.size(), 1u);
  EXPECT_EQ(u.down[0], (RelayDown{"site/cmd/#", "site/", "cloud/", 1}));
  EXPECT_EQ(u.presence, (UplinkPresence{"site/gw/status", "site/devices/", 50, "unretained"}));
  EXPECT_EQ(u.rate_limit, 500u);
  EXPECT_EQ(u.stop_timeout_ms, 0u);
  const Uplink& n = r->uplinks[1];
  EXPECT_EQ(n.profile, "netpie");
  EXPECT_EQ(n.netpie, (UplinkNetpie{"App1", "K3y", "s3cr3t", "gw", 8080, 1883, "gateway/chat"}));
  EXPECT_TRUE(n.tls.enabled);  // TLS unless turned off
}

TEST(ConfigUplinks, DefaultsInsideAnUplink) {
  auto r = load_string("uplinks:\n  - name: c\n    host: 127.0.0.1\n", "t.yaml");
  ASSERT_TRUE(r.ok()) << r.error().message;
  const Uplink& u = r->uplinks.at(0);
  EXPECT_EQ(u.port, 0);  // 8883 with TLS, 1883 without
  EXPECT_TRUE(u.tls.enabled);
  EXPECT_TRUE(u.tls.verify);
  EXPECT_EQ(u.tls.ca_file, "");
  EXPECT_TRUE(u.up.empty());
  EXPECT_TRUE(u.down.empty());
  EXPECT_EQ(u.presence, UplinkPresence{});
  EXPECT_EQ(u.presence.max_retained, 10000u);
  EXPECT_EQ(u.presence.full_policy, "evict_oldest_absent");
  EXPECT_EQ(u.rate_limit, 0u);
  EXPECT_EQ(u.stop_timeout_ms, 2000u);
  EXPECT_EQ(u.qos, 1);
  EXPECT_FALSE(u.clean_start);
  EXPECT_EQ(u.version, "3.1.1");
  EXPECT_EQ(u.topic_prefix, "");
  EXPECT_EQ(u.max_inflight, 64);
}

TEST(ConfigUplinks, ErrorsArePositioned) {
  auto bad = [](const std::string& text) {
    auto r = load_string(text, "t.yaml");
    EXPECT_FALSE(r.ok()) << text;
    return r.ok() ? std::string() : r.error().message;
  };
  EXPECT_EQ(bad("uplinks:\n  - name: c\n    host: h\n    qos: 3\n"),
            "t.yaml:4:10: uplinks[0].qos: expected an integer from 0 to 2, got \"3\"");
  EXPECT_EQ(
      bad("uplinks:\n  - name: c\n    host: h\n    clean_start: true\n    up:\n      - {filter: a, qos: "
          "2}\n"),
      "t.yaml:2:5: uplinks[0]: QoS 2 upstream needs clean_start: false (the server must keep the session)");
  EXPECT_EQ(bad("uplinks:\n  - name: c\n"), "t.yaml:2:5: uplinks[0]: missing key \"host\"");
  EXPECT_EQ(
      bad("uplinks:\n  - name: c\n    host: h\n    presence: {max_retained: 0}\n"),
      "t.yaml:4:30: uplinks[0].presence.max_retained: expected an integer from 1 to 10000000, got \"0\"");
  EXPECT_EQ(
      bad("uplinks:\n  - name: c\n    host: h\n    presence: {full_policy: drop}\n"),
      "t.yaml:4:29: uplinks[0].presence.full_policy: expected one of evict_oldest_absent, unretained, got "
      "\"drop\"");
  EXPECT_EQ(bad("uplinks:\n  - name: c\n    host: h\n    profile: nope\n"),
            "t.yaml:4:14: uplinks[0].profile: expected one of mqtt, netpie, got \"nope\"");
  EXPECT_EQ(bad("uplinks:\n  - name: c\n    host: h\n    profile: netpie\n"),
            "t.yaml:2:5: uplinks[0].netpie: the netpie profile needs appid, key and secret");
  EXPECT_EQ(bad("uplinks:\n  - name: c\n    host: h\n    profile: netpie\n    username: u\n"
                "    netpie: {appid: a, key: k, secret: s}\n"),
            "t.yaml:2:5: uplinks[0]: client_id, username and password belong to the mqtt profile; the netpie "
            "profile logs in with its token (netpie.key and netpie.secret)");
  EXPECT_EQ(bad("uplinks:\n  - name: c\n    host: h\n    netpie: {appid: a}\n"),
            "t.yaml:4:13: uplinks[0].netpie: only for profile: netpie");
  EXPECT_EQ(bad("uplinks:\n  - name: c\n    host: h\n    tls: {cert_file: /c.pem}\n"),
            "t.yaml:4:10: uplinks[0].tls: cert_file and key_file go together (a client certificate needs its "
            "key)");
  EXPECT_EQ(bad("uplinks:\n  - name: c\n    host: h\n    up:\n      - {prefix: x/}\n"),
            "t.yaml:5:9: uplinks[0].up[0]: missing key \"filter\"");
  EXPECT_EQ(bad("uplinks:\n  - name: c\n    host: h\n    up:\n      - {filter: a/#/b}\n"),
            "t.yaml:5:18: uplinks[0].up[0].filter: not a valid MQTT topic filter: \"a/#/b\"");
  EXPECT_EQ(
      bad("uplinks:\n  - name: c\n    host: h\n    down:\n      - {filter: a, lane: 0}\n"),
      "t.yaml:5:21: uplinks[0].down[0]: unknown key \"lane\"; expected one of: filter, strip, prefix, qos");
  EXPECT_EQ(bad("uplinks:\n  - name: c\n    host: h\n    up:\n      - {filter: a, lane: 16}\n"),
            "t.yaml:5:27: uplinks[0].up[0].lane: expected an integer from 0 to 15, got \"16\"");
  EXPECT_EQ(bad("uplinks:\n  - name: c\n    host: h\n    topic_prefix: a/+/\n"),
            "t.yaml:4:19: uplinks[0].topic_prefix: not a valid topic prefix (no '+', '#' or NUL): \"a/+/\"");
  EXPECT_EQ(bad("uplinks:\n  - name: c\n    host: h\n    profile: netpie\n"
                "    netpie: {appid: a, key: k, secret: s, chat_topic: gw/chat}\n"),
            "t.yaml:5:13: uplinks[0].netpie: chat_topic needs an alias (chat reaches the gateway through its "
            "alias)");
  EXPECT_EQ(
      bad("uplinks:\n  - name: c\n    host: h\n    profile: netpie\n"
          "    netpie: {appid: a, key: k, secret: s, alias: g, chat_topic: gw/#}\n"),
      "t.yaml:5:65: uplinks[0].netpie.chat_topic: not a valid topic prefix (no '+', '#' or NUL): \"gw/#\"");
  EXPECT_EQ(bad("uplinks:\n  - name: c\n    host: h\n    stop_timeout_ms: 60001\n"),
            "t.yaml:4:22: uplinks[0].stop_timeout_ms: expected an integer from 0 to 60000, got \"60001\"");
  EXPECT_NE(bad("uplinks:\n  - name: c\n    host: h\n    hots: x\n").find("t.yaml:4:5: uplinks[0]: "),
            std::string::npos);
  EXPECT_EQ(
      bad("uplinks:\n  - name: c\n    host: h\n    profile: netpie\n    netpie: {appid: a, key: k, secret: " +
          std::string(257, 's') + "}\n"),
      "t.yaml:5:40: uplinks[0].netpie.secret: expected a non-empty string of at most 256 bytes (value not "
      "shown)\n"
      "t.yaml:5:13: uplinks[0].netpie: the netpie profile needs appid, key and secret");
  std::string nine = "uplinks:\n";
  for (int i = 0; i < 9; ++i) nine += "  - {name: u" + std::to_string(i) + ", host: h}\n";
  EXPECT_EQ(bad(nine), "t.yaml:10:5: uplinks[8]: at most 8 uplinks");
  EXPECT_EQ(
      bad("uplinks:\n  - name: a\n    host: h\n  - name: a\n    host: h\n"),
      "t.yaml:4:11: uplinks[1].name: duplicate uplink name \"a\" (first at line 2); the name keeps each "
      "uplink's share of the outbox apart");
  EXPECT_EQ(bad("store:\n  enabled: false\nuplinks:\n  - name: c\n    host: h\n"),
            "t.yaml:4:3: uplinks: an uplink needs the store (store.enabled: true): it drains the outbox");
  EXPECT_EQ(bad("uplinks:\n  - name: c\n    host: h\n    reconnect_min_ms: 500\n    reconnect_max_ms: 100\n"),
            "t.yaml:2:5: uplinks[0]: reconnect_max_ms must not be below reconnect_min_ms");
  // A password is never echoed.
  std::string pw = bad("uplinks:\n  - name: c\n    host: h\n    password: [sekrit]\n");
  EXPECT_EQ(pw.find("sekrit"), std::string::npos) << pw;
}

TEST(ConfigNetpie, ParsesAppsKeysRightsAndTheHttpSection) {
  auto r = load_string(
      "listeners:\n  - name: mqtt\n  - name: ga\n    protocol: http\n    bind: 127.0.0.9\n"
      "http:\n  max_connections: 10\n  max_header_bytes: 2KiB\n  max_body: 4KiB\n"
      "  request_timeout_ms: 500\n  idle_timeout_ms: 700\n"
      "  admin_users:\n    - username: owner\n"
      "      password_hash: "
      "\"pbkdf2-sha256$1000$bmV0cGllLWVkZ2Utc2FsdA==$I2HHghzUDjyYGR5yWvyn8DvehH73BljPR9pUYwLoeFI=\"\n"
      "netpie:\n  enabled: true\n  endpoint_host: gw.local\n  endpoint_port: 1884\n  clock_skew_s: 60\n"
      "  mqtt_max_age_s: 3600\n  request_token_ttl_s: 120\n  max_tokens_per_key: 3\n"
      "  max_request_tokens: 4\n  postbox_max_messages: 5\n  postbox_max_bytes: 2KiB\n"
      "  apps:\n    - appid: farm\n      keys:\n        - key: K1\n          secret: S1\n"
      "        - key: K2\n          secret: S2\n          kind: session\n          auto_approve: false\n"
      "          enabled: false\n          rights:\n            publish: [\"/a/#\"]\n"
      "            subscribe: [\"/+/b\", \"/c\"]\n            max_qos: 1\n",
      "n.yaml");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->listeners.size(), 2u);
  EXPECT_EQ(r->listeners[1].protocol, "http");
  EXPECT_EQ(r->listeners[1].port, 8080);  // the gearauth port when none is given
  EXPECT_EQ(r->http.max_connections, 10u);
  EXPECT_EQ(r->http.max_header_bytes, 2048u);
  EXPECT_EQ(r->http.max_body, 4096u);
  EXPECT_EQ(r->http.request_timeout_ms, 500u);
  EXPECT_EQ(r->http.idle_timeout_ms, 700u);
  ASSERT_EQ(r->http.admin_users.size(), 1u);
  EXPECT_EQ(r->http.admin_users[0].username, "owner");
  EXPECT_EQ(r->http.admin_users[0].password_hash, kAliceHash);
  const Netpie& n = r->netpie;
  EXPECT_TRUE(n.enabled);
  EXPECT_EQ(n.endpoint_host, "gw.local");
  EXPECT_EQ(n.endpoint_port, 1884);
  EXPECT_EQ(n.clock_skew_s, 60u);
  EXPECT_EQ(n.mqtt_max_age_s, 3600u);
  EXPECT_EQ(n.request_token_ttl_s, 120u);
  EXPECT_EQ(n.max_tokens_per_key, 3u);
  EXPECT_EQ(n.max_request_tokens, 4u);
  EXPECT_EQ(n.postbox_max_messages, 5u);
  EXPECT_EQ(n.postbox_max_bytes, 2048u);
  ASSERT_EQ(n.apps.size(), 1u);
  EXPECT_EQ(n.apps[0].appid, "farm");
  ASSERT_EQ(n.apps[0].keys.size(), 2u);
  const NetpieKey& k1 = n.apps[0].keys[0];
  EXPECT_EQ(k1.key, "K1");
  EXPECT_EQ(k1.secret, "S1");
  EXPECT_EQ(k1.kind, "device");
  EXPECT_TRUE(k1.auto_approve);
  EXPECT_TRUE(k1.enabled);
  EXPECT_EQ(k1.rights.publish, (std::vector<std::string>{"/#"}));
  EXPECT_EQ(k1.rights.max_qos, 2);
  const NetpieKey& k2 = n.apps[0].keys[1];
  EXPECT_EQ(k2.kind, "session");
  EXPECT_FALSE(k2.auto_approve);
  EXPECT_FALSE(k2.enabled);
  EXPECT_EQ(k2.rights.publish, (std::vector<std::string>{"/a/#"}));
  EXPECT_EQ(k2.rights.subscribe, (std::vector<std::string>{"/+/b", "/c"}));
  EXPECT_EQ(k2.rights.max_qos, 1);
}

TEST(ConfigNetpie, RejectsBadAppsKeysAndRightsWithoutEchoingSecrets) {
  const std::string e = error_of(
      "netpie:\n  endpoint_host: \"::1\"\n  apps:\n    - appid: farm\n      keys:\n"
      "        - key: \"K%1\"\n          secret: \"has space\"\n"
      "        - key: K2\n          secret: S\n          kind: other\n"
      "          rights:\n            publish: [\"a/#\"]\n            max_qos: 3\n"
      "    - appid: farm\n      keys:\n        - key: K2\n          secret: S\n"
      "    - keys: []\n");
  EXPECT_NE(e.find("t.yaml:2:18: netpie.endpoint_host: expected a DNS name or an IPv4 address"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("netpie.apps[0].keys[0].key: expected 1 to 64 letters"), std::string::npos) << e;
  EXPECT_NE(e.find("netpie.apps[0].keys[0].secret: expected 1 to 256 printable characters"),
            std::string::npos)
      << e;
  EXPECT_EQ(e.find("has space"), std::string::npos) << "a secret was echoed: " << e;
  EXPECT_NE(e.find("netpie.apps[0].keys[1].kind: expected one of device, session"), std::string::npos) << e;
  EXPECT_NE(e.find("netpie.apps[0].keys[1].rights.publish[0]: expected a topic filter relative to the app"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("netpie.apps[0].keys[1].rights.max_qos: expected an integer from 0 to 2"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("netpie.apps[1].appid: duplicate appid \"farm\" (first at line 4)"), std::string::npos)
      << e;
  EXPECT_NE(e.find("netpie.apps[1].keys[0].key: duplicate key \"K2\" (first at line 8)"), std::string::npos)
      << e;
  EXPECT_NE(e.find("netpie.apps[2]: missing key \"appid\""), std::string::npos) << e;
  EXPECT_NE(error_of("listeners:\n  - protocol: lwm2m\n").find("expected one of mqtt, http, ws, coap, coaps"),
            std::string::npos);
  EXPECT_NE(error_of("http:\n  max_body: 10\n").find("http.max_body: expected a byte size from 1KiB"),
            std::string::npos);
}

TEST(ConfigStore, ParsesEveryKeyAndRejectsBadValues) {
  auto r = load_string(
      "store:\n  enabled: false\n  synchronous: full\n  commit_window_us: 500\n  max_db_bytes: 64MiB\n"
      "  outbox:\n    filters: [\"sensors/#\", \"+/alarm\"]\n    policy: drop_oldest\n    max_rows: 10\n"
      "  history:\n    filters: [\"a/b\"]\n    max_rows: 5\n",
      "s.yaml");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->store.enabled);
  EXPECT_EQ(r->store.synchronous, "full");
  EXPECT_EQ(r->store.commit_window_us, 500u);
  EXPECT_EQ(r->store.max_db_bytes, 64ull * 1024 * 1024);
  EXPECT_EQ(r->store.outbox_filters, (std::vector<std::string>{"sensors/#", "+/alarm"}));
  EXPECT_EQ(r->store.outbox_policy, "drop_oldest");
  EXPECT_EQ(r->store.outbox_max_rows, 10u);
  EXPECT_EQ(r->store.history_filters, (std::vector<std::string>{"a/b"}));
  EXPECT_EQ(r->store.history_max_rows, 5u);

  auto bad = load_string("store:\n  synchronous: extra\n  outbox:\n    filters: [\"a/#/b\"]\n", "s.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("s.yaml:2:16: store.synchronous: expected one of"), std::string::npos)
      << bad.error().message;
  EXPECT_NE(bad.error().message.find("store.outbox.filters[0]: not a valid MQTT topic filter"),
            std::string::npos)
      << bad.error().message;
}

TEST(ConfigShippedFile, LoadsAndEqualsTheEmbeddedDefault) {
  const std::string path = std::string(GW_SOURCE_DIR) + "/conf/netpie-edge.yaml";
  auto r = load_file(path);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->source, path);
  expect_same(r.value(), default_config());
}

// ---- every key is read --------------------------------------------------------------------------------

TEST(ConfigLoad, ReadsEveryKey) {
  const std::string path = std::string(GW_CONFIG_FIXTURES) + "/full.yaml";
  auto r = load_file(path);
  ASSERT_TRUE(r.ok()) << r.error().message;
  const Config& c = r.value();
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.state_dir, "/var/lib/netpie-edge");
  EXPECT_EQ(c.ports_file, "/tmp/netpie-edge.ports");
  EXPECT_EQ(c.sys_interval_s, 0u);
  ASSERT_EQ(c.listeners.size(), 2u);
  EXPECT_EQ(c.listeners[0].name, "lan");
  EXPECT_EQ(c.listeners[0].protocol, "mqtt");
  EXPECT_EQ(c.listeners[0].bind, "0.0.0.0");
  EXPECT_EQ(c.listeners[0].port, 1883);
  EXPECT_EQ(c.listeners[1].name, "local-v6");
  EXPECT_EQ(c.listeners[1].protocol, "mqtt");  // defaulted inside a listener
  EXPECT_EQ(c.listeners[1].bind, "::1");
  EXPECT_EQ(c.listeners[1].port, 0);
  const Limits& l = c.limits;
  EXPECT_EQ(l.max_connections, 500u);
  EXPECT_EQ(l.max_packet_size, 256u * 1024);
  EXPECT_EQ(l.max_packet_size_before_connect, 4096u);
  EXPECT_EQ(l.connect_timeout_ms, 5000u);
  EXPECT_EQ(l.receive_maximum, 32);
  EXPECT_EQ(l.max_inflight, 16);
  EXPECT_EQ(l.max_queued_messages, 200u);
  EXPECT_EQ(l.max_queued_bytes, 4'000'000u);
  EXPECT_EQ(l.queue_policy, QueuePolicy::DropNew);
  EXPECT_EQ(l.write_high_watermark, 512u * 1024);
  EXPECT_EQ(l.slow_consumer_policy, SlowConsumerPolicy::Disconnect);
  EXPECT_EQ(l.qos0_full_policy, Qos0FullPolicy::Pause);
  EXPECT_EQ(l.slow_subscriber_timeout_s, 5u);
  EXPECT_EQ(l.topic_alias_maximum, 0);
  EXPECT_EQ(l.max_keepalive, 300);
  EXPECT_EQ(l.max_session_expiry, 3600u);
  EXPECT_EQ(l.max_retained, 0u);
  EXPECT_EQ(l.max_subscriptions_per_client, 50u);
  EXPECT_EQ(l.max_topic_levels, 16);
  EXPECT_EQ(l.max_topic_length, 1024);
  EXPECT_EQ(l.max_subscription_bytes_per_client, 64u * 1024);
  EXPECT_EQ(c.auth.anonymous, AnonymousPolicy::Deny);
  ASSERT_EQ(c.auth.users.size(), 2u);
  EXPECT_EQ(c.auth.users[0].username, "alice");
  EXPECT_EQ(c.auth.users[0].password_hash, kAliceHash);
  EXPECT_EQ(c.auth.users[1].username, "bob");
  EXPECT_TRUE(verify_password("s3cret", c.auth.users[0].password_hash));
  EXPECT_TRUE(verify_password("passwd", c.auth.users[1].password_hash));
}

TEST(ConfigLoad, PartialSectionsKeepOtherDefaults) {
  Config c = load_ok("limits:\n  max_inflight: 8\n");
  EXPECT_EQ(c.limits.max_inflight, 8);
  EXPECT_EQ(c.limits.receive_maximum, 64);
  EXPECT_EQ(c.listeners.size(), 1u);
}

TEST(ConfigLoad, ListenersReplaceTheDefaultAndDefaultTheirOwnKeys) {
  Config c = load_ok("listeners:\n  - port: 0\n");
  ASSERT_EQ(c.listeners.size(), 1u);
  EXPECT_EQ(c.listeners[0].name, "mqtt");
  EXPECT_EQ(c.listeners[0].bind, "127.0.0.1");
  EXPECT_EQ(c.listeners[0].port, 0);
}

TEST(ConfigLoad, ListenerTlsIdleRelease) {
  Config c = load_ok(
      "listeners:\n  - {name: a, port: 1, tls: {cert_file: /c, key_file: /k}}\n"
      "  - {name: b, port: 2, tls: {cert_file: /c, key_file: /k, idle_release_ms: 0}}\n");
  EXPECT_EQ(c.listeners[0].tls.idle_release_ms, 5000u);
  EXPECT_EQ(c.listeners[1].tls.idle_release_ms, 0u);
  EXPECT_EQ(
      error_of("listeners:\n  - {port: 1, tls: {cert_file: /c, key_file: /k, idle_release_ms: 3600001}}\n"),
      "t.yaml:2:67: listeners[0].tls.idle_release_ms: expected an integer from 0 to 3600000, got "
      "\"3600001\"");
}

TEST(ConfigLoad, CoapListenersAndSection) {
  Config c = load_ok(
      "listeners:\n  - {name: m, port: 5683}\n  - {name: c, protocol: coap}\n  - {name: s, protocol: coaps}\n"
      "coap:\n  con_qos: 0\n  max_observers_per_endpoint: 3\n  max_observers_per_topic: 7\n  max_payload: "
      "1KiB\n"
      "  psk: [{identity: dev1, key: k1}]\n");
  ASSERT_EQ(c.listeners.size(), 3u);
  EXPECT_EQ(c.listeners[1].port, 5683);  // UDP: no clash with the TCP listener on 5683
  EXPECT_EQ(c.listeners[2].port, 5684);
  EXPECT_EQ(c.coap.con_qos, 0);
  EXPECT_EQ(c.coap.max_observers_per_endpoint, 3u);
  EXPECT_EQ(c.coap.max_observers_per_topic, 7u);
  EXPECT_EQ(Config{}.coap.max_observers_per_topic, 10000u);
  EXPECT_EQ(c.coap.max_payload, 1024u);
  ASSERT_EQ(c.coap.psk.size(), 1u);
  EXPECT_EQ(c.coap.psk[0].identity, "dev1");
  EXPECT_EQ(c.coap.psk[0].key, "k1");
  EXPECT_EQ(error_of("coap:\n  non_qos: 3\n"),
            "t.yaml:2:12: coap.non_qos: expected an integer from 0 to 2, got \"3\"");
  EXPECT_EQ(error_of("coap:\n  max_observers_per_topic: -1\n"),
            "t.yaml:2:28: coap.max_observers_per_topic: expected an integer from 0 to 10000000, got \"-1\"");
  EXPECT_EQ(
      error_of(
          "listeners:\n  - {name: a, protocol: coap, port: 9}\n  - {name: b, protocol: coaps, port: 9}\n"),
      "t.yaml:3:38: listeners[1].port: 127.0.0.1 port 9 overlaps listener \"a\" (127.0.0.1 port 9, line 2)");
}

// Issue 14: SO_RCVBUF of the coap/coaps listeners' sockets, a byte size from 16KiB to 256MiB (default 2MiB).
TEST(ConfigLoad, CoapReceiveBuffer) {
  EXPECT_EQ(Config{}.coap.receive_buffer, 2u * 1024 * 1024);
  EXPECT_EQ(load_ok("coap:\n  receive_buffer: 64KiB\n").coap.receive_buffer, 64u * 1024);
  EXPECT_EQ(load_ok("coap:\n  receive_buffer: 2MiB\n").coap.receive_buffer, 2u * 1024 * 1024);
  EXPECT_EQ(load_ok("coap:\n  receive_buffer: 16KiB\n").coap.receive_buffer, 16u * 1024);
  EXPECT_EQ(load_ok("coap:\n  receive_buffer: 256MiB\n").coap.receive_buffer, 256u * 1024 * 1024);
  EXPECT_EQ(load_ok("coap:\n  receive_buffer: 1000000\n").coap.receive_buffer, 1'000'000u);
  const std::string range =
      "expected a byte size from 16KiB to 256MiB (a number of bytes, or with a unit: KiB, MiB, GiB, KB, MB, "
      "GB), got ";
  for (const char* bad : {"16383", "257MiB", "1GiB", "0", "-1MiB", "2M", "lots"}) {
    EXPECT_EQ(error_of(std::string("coap:\n  receive_buffer: \"") + bad + "\"\n"),
              "t.yaml:2:19: coap.receive_buffer: " + range + "\"" + bad + "\"")
        << bad;
  }
}

TEST(ConfigLoad, ByteSizesTakeUnits) {
  auto bytes = [](const std::string& v) {
    return load_ok("limits:\n  max_queued_bytes: " + v + "\n").limits.max_queued_bytes;
  };
  EXPECT_EQ(bytes("16MiB"), 16u * 1024 * 1024);
  EXPECT_EQ(bytes("512KiB"), 512u * 1024);
  EXPECT_EQ(bytes("1GB"), 1'000'000'000u);
  EXPECT_EQ(bytes("2 GiB"), 2ull * 1024 * 1024 * 1024);
  EXPECT_EQ(bytes("1TiB"), 1ull << 40);
  EXPECT_EQ(bytes("64kb"), 64'000u);
  EXPECT_EQ(bytes("1024"), 1024u);
  EXPECT_EQ(bytes("\"8MiB\""), 8u * 1024 * 1024);
  Config c = load_ok("limits:\n  max_packet_size: 256MiB\n  write_high_watermark: 64KiB\n");
  EXPECT_EQ(c.limits.max_packet_size, 256u * 1024 * 1024);
  EXPECT_EQ(c.limits.write_high_watermark, 64u * 1024);
  // The MQTT maximum, which no unit spells exactly.
  EXPECT_EQ(load_ok("limits:\n  max_packet_size: 268435460\n").limits.max_packet_size, 268435460u);
}

TEST(ConfigLoad, RangeEndsAreAccepted) {
  Config c = load_ok(
      "sys_interval: 86400\n"
      "listeners:\n  - port: 65535\n"
      "limits:\n"
      "  max_inflight: 65535\n"
      "  receive_maximum: 1\n"
      "  max_packet_size: 64\n"
      "  max_packet_size_before_connect: 64\n"
      "  max_session_expiry: 4294967295\n");
  EXPECT_EQ(c.sys_interval_s, 86400u);
  EXPECT_EQ(c.listeners[0].port, 65535);
  EXPECT_EQ(c.limits.max_inflight, 65535);
  EXPECT_EQ(c.limits.receive_maximum, 1);
  EXPECT_EQ(c.limits.max_packet_size, 64u);
  EXPECT_EQ(c.limits.max_session_expiry, 4294967295u);
}

// Issue 11: the topic-shape bounds and the per-client subscription memory, with their ranges.
TEST(ConfigLoad, TopicShapeAndSubscriptionMemoryBounds) {
  Config c = load_ok(
      "limits:\n  max_topic_levels: 65535\n  max_topic_length: 1\n  max_subscription_bytes_per_client: "
      "1GiB\n");
  EXPECT_EQ(c.limits.max_topic_levels, 65535);
  EXPECT_EQ(c.limits.max_topic_length, 1);
  EXPECT_EQ(c.limits.max_subscription_bytes_per_client, 1024u * 1024 * 1024);
  EXPECT_EQ(error_of("limits:\n  max_topic_levels: 0\n"),
            "t.yaml:2:21: limits.max_topic_levels: expected an integer from 1 to 65535, got \"0\"");
  EXPECT_NE(error_of("limits:\n  max_topic_length: 64KiB\n").find("limits.max_topic_length:"),
            std::string::npos);
  EXPECT_NE(error_of("limits:\n  max_subscription_bytes_per_client: 1000\n")
                .find("limits.max_subscription_bytes_per_client:"),
            std::string::npos);
}

// ---- errors: syntax -----------------------------------------------------------------------------------

TEST(ConfigErrors, YamlSyntaxErrorNamesThePosition) {
  // The flow sequence opened on line 3 is still open when the block mapping resumes.
  const std::string path = std::string(GW_CONFIG_FIXTURES) + "/syntax_error.yaml";
  auto r = load_file(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, path + ":4:7: YAML syntax error: end of sequence flow not found");
}

TEST(ConfigErrors, YamlSyntaxErrorInline) {
  // The position is where yaml-cpp gave up: the second ':' on a line, the start of the key whose
  // indentation fits no open mapping, the alias that names no anchor.
  EXPECT_EQ(error_of("a: b: c\n"), "t.yaml:1:5: YAML syntax error: illegal map value");
  EXPECT_EQ(error_of("limits:\n  max_inflight: 1\n bad: 2\n"),
            "t.yaml:3:2: YAML syntax error: end of map not found");
  EXPECT_EQ(error_of("state_dir: &a x\nports_file: *b\n"),
            "t.yaml:2:13: YAML syntax error: the referenced anchor is not defined");
}

TEST(ConfigErrors, StrayCommaIsASyntaxError) {
  // yaml-cpp 0.7 loops forever in LoadAll() on these and Load() reads them as an empty document
  // (jbeder/yaml-cpp#1040); the loader must neither hang nor fall back to the defaults.
  EXPECT_EQ(error_of(","), "t.yaml:1:1: YAML syntax error: unexpected \",\"");
  EXPECT_EQ(error_of(",a\n"), "t.yaml:1:1: YAML syntax error: unexpected \",\"");
  EXPECT_EQ(error_of("# comment\n,# another\nlog:\n  level: info\n"),
            "t.yaml:2:1: YAML syntax error: unexpected \",\"");
  EXPECT_EQ(error_of("log:\n  level: info\n...\n,\n"), "t.yaml:4:1: YAML syntax error: unexpected \",\"");
}

TEST(ConfigErrors, DeepNestingIsAnErrorNotACrash) {
  // yaml-cpp counts its own recursion and gives up past a fixed depth; the parse must stop there too.
  std::string e = error_of("log: " + std::string(100000, '['));
  EXPECT_EQ(e.rfind("t.yaml:1:1: YAML syntax error: nested more than ", 0), 0u) << e;
  EXPECT_NE(e.find(" levels deep"), std::string::npos) << e;
}

TEST(ConfigErrors, MissingFile) {
  auto r = load_file("/nonexistent/netpie-edge.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "/nonexistent/netpie-edge.yaml: cannot open: No such file or directory");
}

TEST(ConfigErrors, DirectoryInsteadOfFile) {
  auto r = load_file(GW_CONFIG_FIXTURES);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, std::string(GW_CONFIG_FIXTURES) + ": cannot read: Is a directory");
}

TEST(ConfigErrors, MoreThanOneDocument) {
  EXPECT_EQ(error_of("log:\n  level: info\n---\nlog:\n  level: debug\n"),
            "t.yaml:3:1: expected a single YAML document; another one starts here");
  EXPECT_EQ(error_of("---\n---\n---\n"),
            "t.yaml:2:1: expected a single YAML document; another one starts here");
}

TEST(ConfigErrors, TopLevelMustBeAMapping) {
  EXPECT_EQ(error_of("- a\n- b\n"), "t.yaml:1:1: expected a mapping of configuration keys, got a list");
  EXPECT_EQ(error_of("hello\n"), "t.yaml:1:1: expected a mapping of configuration keys, got \"hello\"");
}

// ---- errors: keys -------------------------------------------------------------------------------------

TEST(ConfigErrors, UnknownKeySuggestsACloseOne) {
  EXPECT_EQ(error_of("limts:\n  max_inflight: 5\n"),
            "t.yaml:1:1: unknown key \"limts\" (did you mean \"limits\"?)");
  EXPECT_EQ(error_of("limits:\n  max_inflght: 5\n"),
            "t.yaml:2:3: limits: unknown key \"max_inflght\" (did you mean \"max_inflight\"?)");
  EXPECT_EQ(error_of("listeners:\n  - name: a\n    prot: 1884\n"),
            "t.yaml:3:5: listeners[0]: unknown key \"prot\" (did you mean \"port\"?)");
}

TEST(ConfigErrors, UnknownKeyWithoutAMatchListsTheKnownOnes) {
  EXPECT_EQ(error_of("colour: red\n"),
            "t.yaml:1:1: unknown key \"colour\"; expected one of: log, state_dir, ports_file, sys_interval, "
            "listeners, limits, auth, store, http, netpie, uplinks, websocket, coap");
  EXPECT_EQ(error_of("auth:\n  tokens: []\n"),
            "t.yaml:2:3: auth: unknown key \"tokens\"; expected one of: anonymous, users");
}

TEST(ConfigErrors, DuplicateKey) {
  EXPECT_EQ(error_of("limits:\n  max_inflight: 5\n  max_inflight: 6\n"),
            "t.yaml:3:3: limits.max_inflight: duplicate key (first set at line 2)");
}

TEST(ConfigErrors, KeyMustBeAPlainString) {
  EXPECT_EQ(error_of("limits:\n  [a, b]: 5\n"), "t.yaml:2:3: limits: expected a plain key, got a list");
}

// ---- errors: types and ranges -------------------------------------------------------------------------

TEST(ConfigErrors, WrongTypes) {
  EXPECT_EQ(error_of("limits: 5\n"), "t.yaml:1:9: limits: expected a mapping, got \"5\"");
  EXPECT_EQ(error_of("limits:\n  max_inflight: abc\n"),
            "t.yaml:2:17: limits.max_inflight: expected an integer from 1 to 65535, got \"abc\"");
  EXPECT_EQ(error_of("limits:\n  max_inflight: [1]\n"),
            "t.yaml:2:17: limits.max_inflight: expected an integer from 1 to 65535, got a list");
  EXPECT_EQ(error_of("limits:\n  max_inflight: 1.5\n"),
            "t.yaml:2:17: limits.max_inflight: expected an integer from 1 to 65535, got \"1.5\"");
  EXPECT_EQ(error_of("state_dir: [a]\n"), "t.yaml:1:12: state_dir: expected a string, got a list");
  EXPECT_EQ(error_of("state_dir: \"\"\n"), "t.yaml:1:12: state_dir: must not be empty");
  EXPECT_EQ(error_of("listeners:\n  name: mqtt\n"),
            "t.yaml:2:3: listeners: expected a list of listeners, got a mapping");
  EXPECT_EQ(error_of("listeners:\n  - mqtt\n"),
            "t.yaml:2:5: listeners[0]: expected a mapping with name, protocol, bind and port, got \"mqtt\"");
  EXPECT_EQ(error_of("auth:\n  users: alice\n"),
            "t.yaml:2:10: auth.users: expected a list of users, got \"alice\"");
}

TEST(ConfigErrors, EmptyValueForAnInteger) {
  // A key with nothing after it is null in YAML; the mark is where the value would have been.
  std::string e = error_of("listeners:\n  - port:\n    name: a\n");
  EXPECT_EQ(e, "t.yaml:3:5: listeners[0].port: expected an integer from 0 to 65535, got nothing");
}

TEST(ConfigErrors, OutOfRangeIntegers) {
  EXPECT_EQ(error_of("listeners:\n  - port: 70000\n"),
            "t.yaml:2:11: listeners[0].port: expected an integer from 0 to 65535, got \"70000\"");
  EXPECT_EQ(error_of("listeners:\n  - port: -1\n"),
            "t.yaml:2:11: listeners[0].port: expected an integer from 0 to 65535, got \"-1\"");
  EXPECT_EQ(error_of("limits:\n  receive_maximum: 0\n"),
            "t.yaml:2:20: limits.receive_maximum: expected an integer from 1 to 65535, got \"0\"");
  EXPECT_EQ(error_of("limits:\n  max_inflight: 65536\n"),
            "t.yaml:2:17: limits.max_inflight: expected an integer from 1 to 65535, got \"65536\"");
  EXPECT_EQ(error_of("sys_interval: 86401\n"),
            "t.yaml:1:15: sys_interval: expected an integer from 0 to 86400, got \"86401\"");
  EXPECT_EQ(
      error_of("limits:\n  max_session_expiry: 4294967296\n"),
      "t.yaml:2:23: limits.max_session_expiry: expected an integer from 0 to 4294967295, got \"4294967296\"");
  EXPECT_EQ(error_of("limits:\n  max_connections: 99999999999999999999999\n"),
            "t.yaml:2:20: limits.max_connections: expected an integer from 1 to 1000000, got "
            "\"99999999999999999999999\"");
}

TEST(ConfigErrors, ByteSizes) {
  const std::string packet_range =
      "expected a byte size from 64 to 268435460 (a number of bytes, or with a unit: KiB, MiB, GiB, KB, MB, "
      "GB), got ";
  EXPECT_EQ(error_of("limits:\n  max_packet_size: 63\n"),
            "t.yaml:2:20: limits.max_packet_size: " + packet_range + "\"63\"");
  EXPECT_EQ(error_of("limits:\n  max_packet_size: 268435461\n"),
            "t.yaml:2:20: limits.max_packet_size: " + packet_range + "\"268435461\"");
  EXPECT_EQ(error_of("limits:\n  max_packet_size: 1GiB\n"),
            "t.yaml:2:20: limits.max_packet_size: " + packet_range + "\"1GiB\"");
  const std::string queue_range =
      "expected a byte size from 1KiB to 1TiB (a number of bytes, or with a unit: KiB, MiB, GiB, KB, MB, "
      "GB), "
      "got ";
  for (const char* bad : {"16M", "1.5MiB", "MiB", "16 MiBs", "-1KiB", "0x100", "16MiB ", "2TiB", "1000"}) {
    std::string yaml = std::string("limits:\n  max_queued_bytes: \"") + bad + "\"\n";
    EXPECT_EQ(error_of(yaml), "t.yaml:2:21: limits.max_queued_bytes: " + queue_range + "\"" + bad + "\"")
        << bad;
  }
}

TEST(ConfigErrors, BeforeConnectMayNotExceedThePacketSize) {
  EXPECT_EQ(
      error_of("limits:\n  max_packet_size: 1KiB\n  max_packet_size_before_connect: 2KiB\n"),
      "t.yaml:3:35: limits.max_packet_size_before_connect: must not exceed limits.max_packet_size (1024), "
      "got 2048");
  // Only max_packet_size given: the default before-connect size (16KiB) is the conflict.
  EXPECT_EQ(
      error_of("limits:\n  max_packet_size: 4KiB\n"),
      "t.yaml:2:20: limits.max_packet_size: must be at least limits.max_packet_size_before_connect (16384, "
      "its default), got 4096");
  // Equal is fine; a smaller packet size with a smaller first packet is fine.
  EXPECT_EQ(error_of("limits:\n  max_packet_size: 4KiB\n  max_packet_size_before_connect: 4KiB\n"),
            "<loaded>");
  EXPECT_EQ(error_of("limits:\n  max_packet_size: 4KiB\n  max_packet_size_before_connect: 1KiB\n"),
            "<loaded>");
}

TEST(ConfigErrors, BadEnumValuesListTheAcceptedOnes) {
  EXPECT_EQ(error_of("limits:\n  qos0_full_policy: block\n"),
            "t.yaml:2:21: limits.qos0_full_policy: expected one of drop, pause, got \"block\"");
  EXPECT_EQ(error_of("limits:\n  queue_policy: drop_newest\n"),
            "t.yaml:2:17: limits.queue_policy: expected one of drop_oldest, drop_new, got \"drop_newest\"");
  EXPECT_EQ(error_of("limits:\n  slow_consumer_policy: block\n"),
            "t.yaml:2:25: limits.slow_consumer_policy: expected one of drop_qos0, disconnect, got \"block\"");
  EXPECT_EQ(error_of("auth:\n  anonymous: yes\n"),
            "t.yaml:2:14: auth.anonymous: expected one of loopback, allow, deny, got \"yes\"");
  EXPECT_EQ(error_of("log:\n  level: verbose\n"),
            "t.yaml:2:10: log.level: expected one of trace, debug, info, warn, error, got \"verbose\"");
  EXPECT_EQ(error_of("listeners:\n  - protocol: mqtts\n"),
            "t.yaml:2:15: listeners[0].protocol: expected one of mqtt, http, ws, coap, coaps, got \"mqtts\"");
}

// ---- errors: listeners --------------------------------------------------------------------------------

TEST(ConfigErrors, EmptyListenerList) {
  EXPECT_EQ(error_of("listeners: []\n"), "t.yaml:1:12: listeners: expected at least one listener");
}

TEST(ConfigErrors, DuplicateListenerNames) {
  EXPECT_EQ(error_of("listeners:\n"
                     "  - name: lan\n"
                     "    port: 1883\n"
                     "  - name: lan\n"
                     "    port: 1884\n"),
            "t.yaml:4:11: listeners[1].name: duplicate listener name \"lan\" (first at line 2)");
  // Both left at the default name "mqtt": the error points at the second listener.
  EXPECT_EQ(error_of("listeners:\n  - port: 1883\n  - port: 1884\n"),
            "t.yaml:3:5: listeners[1]: duplicate listener name \"mqtt\" (first at line 2)");
}

TEST(ConfigErrors, ListenersMayNotShareAnAddressAndPort) {
  EXPECT_EQ(error_of("listeners:\n"
                     "  - {name: a, bind: 127.0.0.1, port: 1883}\n"
                     "  - {name: b, bind: 0.0.0.0, port: 1883}\n"),
            "t.yaml:3:36: listeners[1].port: 0.0.0.0 port 1883 overlaps listener \"a\" (127.0.0.1 port 1883, "
            "line 2)");
  // Different families, different addresses, or port 0 do not clash.
  EXPECT_EQ(error_of("listeners:\n"
                     "  - {name: a, bind: 127.0.0.1, port: 1883}\n"
                     "  - {name: b, bind: 192.168.1.10, port: 1883}\n"
                     "  - {name: c, bind: '::', port: 1883}\n"
                     "  - {name: d, bind: 127.0.0.1, port: 0}\n"
                     "  - {name: e, bind: 127.0.0.1, port: 0}\n"),
            "<loaded>");
}

TEST(ConfigErrors, BadListenerNameAndAddress) {
  EXPECT_EQ(
      error_of("listeners:\n  - name: my listener\n"),
      "t.yaml:2:11: listeners[0].name: expected a name of 1 to 64 letters, digits, '_', '-' or '.', got "
      "\"my listener\"");
  EXPECT_EQ(
      error_of("listeners:\n  - bind: localhost\n"),
      "t.yaml:2:11: listeners[0].bind: expected a numeric IPv4 or IPv6 address (127.0.0.1, 0.0.0.0, ::1, "
      "::), got \"localhost\"");
}

// ---- errors: users ------------------------------------------------------------------------------------

TEST(ConfigErrors, DuplicateUsernames) {
  EXPECT_EQ(error_of("auth:\n"
                     "  users:\n"
                     "    - username: alice\n"
                     "      password_hash: \"" +
                     kAliceHash +
                     "\"\n"
                     "    - username: alice\n"
                     "      password_hash: \"" +
                     kAliceHash + "\"\n"),
            "t.yaml:5:17: auth.users[1].username: duplicate user \"alice\" (first at line 3)");
}

TEST(ConfigErrors, EmptyOrMissingUsername) {
  EXPECT_EQ(error_of("auth:\n  users:\n    - username: \"\"\n      password_hash: \"" + kAliceHash + "\"\n"),
            "t.yaml:3:17: auth.users[0].username: must not be empty");
  EXPECT_EQ(error_of("auth:\n  users:\n    - password_hash: \"" + kAliceHash + "\"\n"),
            "t.yaml:3:7: auth.users[0]: missing key \"username\"");
  EXPECT_EQ(error_of("auth:\n  users:\n    - username: bob\n"),
            "t.yaml:3:7: auth.users[0]: missing key \"password_hash\"");
}

TEST(ConfigErrors, MalformedPasswordHashIsNamedButNotEchoed) {
  auto hash_error = [](const std::string& value) {
    return error_of("auth:\n  users:\n    - username: bob\n      password_hash: \"" + value + "\"\n");
  };
  const std::string prefix = "t.yaml:4:22: auth.users[0].password_hash: not a valid password hash (";
  const std::string suffix = "); make one with netpie-edge --hash-password";
  // A plain-text password pasted by mistake must not appear in the message.
  std::string e = hash_error("hunter2");
  EXPECT_EQ(e, prefix + "unknown scheme; a hash starts with \"pbkdf2-sha256$\"" + suffix);
  EXPECT_EQ(e.find("hunter2"), std::string::npos);
  EXPECT_EQ(hash_error("pbkdf2-sha256$1000$bmV0cGllLWVkZ2Utc2FsdA=="),
            prefix + "expected 4 '$'-separated fields: scheme, iterations, salt, hash" + suffix);
  EXPECT_EQ(
      hash_error("pbkdf2-sha256$0$bmV0cGllLWVkZ2Utc2FsdA==$I2HHghzUDjyYGR5yWvyn8DvehH73BljPR9pUYwLoeFI="),
      prefix + "iteration count must be a decimal integer from 1 to 10000000" + suffix);
  EXPECT_EQ(hash_error("pbkdf2-sha256$1000$not base64!$I2HHghzUDjyYGR5yWvyn8DvehH73BljPR9pUYwLoeFI="),
            prefix + "salt is not canonical padded base64" + suffix);
  EXPECT_EQ(hash_error("pbkdf2-sha256$1000$bmV0cGllLWVkZ2Utc2FsdA==$I2HHghzUDjyYGR5yWvyn8DvehH73BljP"),
            prefix + "hash must be 32 bytes (44 base64 characters)" + suffix);
  EXPECT_EQ(error_of("auth:\n  users:\n    - username: bob\n      password_hash: [x]\n"),
            "t.yaml:4:22: auth.users[0].password_hash: expected a password hash string, got a list");
}

// ---- several errors -----------------------------------------------------------------------------------

TEST(ConfigErrors, AllErrorsAreReportedOnePerLine) {
  EXPECT_EQ(
      error_of("log:\n  level: loud\nlimits:\n  max_inflight: 0\n  bogus: 1\n"),
      "t.yaml:2:10: log.level: expected one of trace, debug, info, warn, error, got \"loud\"\n"
      "t.yaml:4:17: limits.max_inflight: expected an integer from 1 to 65535, got \"0\"\n"
      "t.yaml:5:3: limits: unknown key \"bogus\"; expected one of: max_connections, max_packet_size, "
      "max_packet_size_before_connect, connect_timeout_ms, receive_maximum, max_inflight, "
      "max_queued_messages, max_queued_bytes, write_high_watermark, topic_alias_maximum, max_keepalive, "
      "max_session_expiry, max_retained, max_subscriptions_per_client, max_topic_levels, max_topic_length, "
      "max_subscription_bytes_per_client, slow_subscriber_timeout, queue_policy, slow_consumer_policy, "
      "qos0_full_policy");
}

TEST(ConfigErrors, ManyErrorsAreCapped) {
  std::string yaml = "limits:\n";
  for (int i = 0; i < 25; ++i) yaml += "  unknown_" + std::to_string(i) + ": 1\n";
  std::string e = error_of(yaml);
  EXPECT_EQ(std::count(e.begin(), e.end(), '\n'), 20);
  EXPECT_NE(e.find("\nt.yaml: 5 more errors not shown"), std::string::npos) << e;
}

TEST(ConfigErrors, ControlCharactersInValuesAreEscaped) {
  EXPECT_EQ(error_of("log:\n  level: \"a\\tb\\\"c\"\n"),
            "t.yaml:2:10: log.level: expected one of trace, debug, info, warn, error, got \"a\\x09b\\\"c\"");
}

TEST(ConfigLog, ParsesOutputFileAndRateLimit) {
  Config c = load_ok(
      "log:\n  level: trace\n  output: file\n  file: /var/log/e.log\n  max_lines_per_second: 0\n"
      "  burst: 7\n");
  EXPECT_EQ(c.log_level, "trace");
  EXPECT_EQ(c.log_output, "file");
  EXPECT_EQ(c.log_file, "/var/log/e.log");
  EXPECT_EQ(c.log_max_lines_per_second, 0u);
  EXPECT_EQ(c.log_burst, 7u);
  EXPECT_EQ(load_ok("log: {output: syslog}\n").log_output, "syslog");
  EXPECT_EQ(error_of("log:\n  output: file\n"),
            "t.yaml:2:11: log.output: output file needs log.file (the file to append to)");
  EXPECT_EQ(error_of("log: {output: journal}\n"),
            "t.yaml:1:15: log.output: expected one of stderr, syslog, file, got \"journal\"");
  EXPECT_EQ(error_of("log: {burst: 0}\n"),
            "t.yaml:1:14: log.burst: expected an integer from 1 to 1000000, got \"0\"");
}

// ---- positions, for errors found after loading (--check-config's file checks) ---------------------

TEST(ConfigPositions, LocateNamesTheKeyOrItsNearestEnclosingKey) {
  Config c = load_ok(
      "state_dir: /var/lib/x\n"
      "uplinks:\n"
      "  - name: cloud\n"
      "    host: 127.0.0.1\n"
      "    tls:\n"
      "      ca_file: /x/ca.pem\n");
  EXPECT_EQ(c.locate("state_dir"), "t.yaml:1:12: state_dir");
  EXPECT_EQ(c.locate("uplinks[0].tls.ca_file"), "t.yaml:6:16: uplinks[0].tls.ca_file");
  // Not in the file: the tls: mapping that would hold it.
  EXPECT_EQ(c.locate("uplinks[0].tls.key_file"), "t.yaml:6:7: uplinks[0].tls.key_file");
  EXPECT_EQ(c.locate("ports_file"), "t.yaml: ports_file");
  EXPECT_EQ(default_config().locate("state_dir"), "<embedded default>: state_dir");
}

TEST(ConfigPositions, AnEmptyValueIsLocatedAtItsKey) {
  Config c = load_ok("ports_file:\n");
  EXPECT_EQ(c.locate("ports_file"), "t.yaml:1:1: ports_file");
}

}  // namespace
}  // namespace gw::config
