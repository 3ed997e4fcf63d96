// The cloud uplink (mqtt_uplink.hpp). State table (mqtt profile):
//
//   state       input                         action                                        next
//   Idle        start()                       requeue in-flight rows, resolve + connect      Connecting
//   Connecting  socket (and TLS) up           CONNECT (fresh session; will = presence)       Connecting
//   Connecting  CONNACK accepted              backoff reset, subscribe down rules, "online",  Online
//                                             drainer reads
//   Connecting  socket/TLS error / CONNACK refused / timeout   requeue, backoff timer        Backoff
//   Online      socket lost / CloseTransport  acks written, in-flight rows requeued          Backoff
//   Backoff     timer                         resolve + connect                              Connecting
//   Online      stop()                        status "offline"; drain the device events     Online (stopping)
//   stopping    all went up / stop_timeout_ms / connection lost    close()                Closed
//   any         stop() when not online        wait for the device events to be queued, close()  Closed
//   any         close()                       DISCONNECT if online, close socket and timer   Closed
//
// The netpie profile puts the token flow in front: start() reads the cached token, the flow's actions
// (HTTP requests, cache writes, waits) run in LoggingIn, and its ConnectMqtt starts Connecting with the
// token's credentials. CONNACK results and lost connections go back to the flow, which decides (a new
// token after CONNACK 4, a wait after 5); its waits replace the uplink's own backoff.
#include "gateway/uplink/mqtt_uplink.hpp"

#include <algorithm>
#include <cstdio>
#include <utility>

#include <nlohmann/json.hpp>

#include "gateway/base/log.hpp"
#include "protocols/mqtt/topic.hpp"
#include "protocols/uplink/connack_text.hpp"

namespace gw::uplink {
namespace {

constexpr std::uint32_t kSessionExpiryS = 7 * 24 * 3600;  // v5, clean_start false: a week offline
constexpr std::size_t kEchoMemory = 256;                  // chat messages remembered for echo detection ...
constexpr Millis kEchoWindowMs = 30'000;                  // ... for this long
constexpr std::string_view kGearname = "/gearname/";

// Rows the drainer holds read ahead of the window: four windows, at least 1024 and at most 4096 rows; each
// read asks for one window (at least 256 rows, at most 4096; also bounded to 1 MiB) as soon as that much
// is missing, so the store has the time of three windows' round trips upstream to answer before a freed
// slot finds nothing to send, and its transactions stay one window long (a live row's enqueue and read
// wait behind them). With one window held (the bound before) a drain at window 256 waited on the store a
// fifth of its time on a busy machine (bench/README.md "Outage").
std::uint32_t read_ahead(std::uint16_t max_inflight) {
  return std::clamp<std::uint32_t>(4u * max_inflight, 1024, 4096);
}
std::uint32_t read_rows(std::uint16_t max_inflight) {
  return std::clamp<std::uint32_t>(max_inflight, 256, 4096);
}

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

std::string token_to_json(const CachedToken& t) {
  nlohmann::json j{{"key", t.gear_key},
                   {"token", t.token},
                   {"secret", t.secret},
                   {"endpoint", microgear::format_endpoint(t.endpoint)},
                   {"flag", std::string(1, static_cast<char>(t.flag))},
                   {"revokecode", t.revoke_code}};
  return j.dump();
}

std::optional<CachedToken> token_from_json(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  CachedToken t;
  auto str = [&](const char* k) -> std::optional<std::string> {
    auto it = j.find(k);
    if (it == j.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  auto key = str("key");
  auto token = str("token");
  auto secret = str("secret");
  auto endpoint = str("endpoint");
  auto flag = str("flag");
  if (!key || !token || !secret || !endpoint || !flag || *flag != "P") return std::nullopt;
  auto e = microgear::parse_endpoint(*endpoint);
  if (!e) return std::nullopt;
  t.gear_key = *key;
  t.token = *token;
  t.secret = *secret;
  t.endpoint = std::move(e).value();
  t.flag = microgear::TokenFlag::Persistent;
  if (auto code = str("revokecode")) t.revoke_code = *code;  // absent in caches written before it was kept
  return t;
}

}  // namespace

const char* to_string(MqttUplink::State s) {
  switch (s) {
    case MqttUplink::State::Idle:
      return "idle";
    case MqttUplink::State::LoggingIn:
      return "logging_in";
    case MqttUplink::State::Connecting:
      return "connecting";
    case MqttUplink::State::Online:
      return "online";
    case MqttUplink::State::Backoff:
      return "backoff";
    case MqttUplink::State::Closed:
      return "closed";
  }
  return "?";
}

// The drainer's view of the store. A read's completion also flushes the bytes its publishes produced.
class MqttUplink::StorePort final : public OutboxPort {
 public:
  StorePort(MqttUplink& up, storage::Store& store) : up_(up), store_(store) {}
  bool read(const Range& range, std::uint32_t max_rows, ReadDone done) override {
    storage::OutboxReadOptions o;
    o.dest = up_.options_.name;
    o.max_rows = max_rows;
    o.mark_inflight = true;
    o.after_id = range.after_id;
    o.up_to_id = range.up_to_id;
    o.skip_origins = range.skip_origins;
    auto s = store_.outbox_scan(o, [this, done = std::move(done),
                                    after = range.after_id](Result<storage::OutboxScan, storage::Status> r) {
      const bool ok = r.ok();
      storage::OutboxScan scan;
      if (ok) {
        scan = std::move(r).value();
      } else {
        scan.scanned_to = after;
      }
      done(ok, std::move(scan.rows), scan.scanned_to);
      up_.after_input();
    });
    return s == storage::Status::Ok;
  }
  std::uint64_t last_id() override {
    // No rows of ours: nothing to replay (the backlog mark would only cost an empty read).
    if (store_.outbox_backlog(up_.options_.name).rows == 0) return 0;
    return store_.stats().outbox_last_id;
  }
  bool backlog_origins(std::uint64_t up_to_id, OriginsDone done) override {
    auto s = store_.outbox_origins(
        up_.options_.name, up_to_id,
        [this, done = std::move(done)](Result<std::vector<std::string>, storage::Status> r) {
          if (r) {
            done(true, std::move(r).value());
          } else {
            done(false, {});
          }
          up_.after_input();
        });
    return s == storage::Status::Ok;
  }
  void ack(std::vector<storage::IdRange> ranges) override { store_.outbox_ack(std::move(ranges)); }
  void release(std::vector<std::uint64_t> ids, std::function<void(bool ok)> done) override {
    auto st = store_.outbox_release(std::move(ids), [this, done](storage::Status s) {
      done(s == storage::Status::Ok);
      up_.after_input();  // the PUBRELs it let out
    });
    if (st != storage::Status::Ok) done(false);
  }
  void requeue(std::vector<storage::IdRange> ranges) override {
    // Empty: every row of this uplink in flight (other uplinks' rows stay in flight).
    if (ranges.empty()) {
      store_.outbox_requeue_all(up_.options_.name);
    } else {
      store_.outbox_requeue(std::move(ranges));
    }
  }

 private:
  MqttUplink& up_;
  storage::Store& store_;
};

MqttUplink::MqttUplink(uv_loop_t* loop, storage::Store& store, const Clock& clock, MqttUplinkOptions options,
                       RandomBits random)
    : loop_(loop),
      store_(store),
      clock_(clock),
      options_(std::move(options)),
      backoff_(options_.backoff, random_between_from(random)),
      port_(std::make_unique<StorePort>(*this, store)),
      drainer_(*port_, DrainOptions{options_.up, options_.topic_prefix, options_.qos,
                                    read_ahead(options_.max_inflight), read_rows(options_.max_inflight),
                                    options_.rate_limit, options_.replay_order, options_.live_share,
                                    options_.version == mqtt::Version::V5, &clock_}),
      tcp_(loop,
           TcpClient::Callbacks{[this] { on_transport_up(); }, [this](std::string_view b) { on_bytes(b); },
                                [this](const std::string& why) { on_transport_closed(why); }}),
      echoes_(kEchoMemory, kEchoWindowMs) {
  timer_ = new uv_timer_t;
  uv_timer_init(loop_, timer_);
  timer_->data = this;
  if (options_.tls) tcp_.set_tls(options_.tls, options_.tls_server_name);
  connect_host_ = options_.host;  // netpie: replaced by the broker the token's endpoint names
  connect_port_ = options_.port;
  if (options_.netpie) {
    chat_prefix_ = "/" + options_.netpie->flow.app_id + "/gearname/";
    if (!options_.netpie->chat_topic.empty() && !options_.netpie->flow.alias.empty())
      own_chat_topic_ = chat_topic(options_.netpie->flow.alias);
    auto bits = random;
    flow_ = std::make_unique<TokenFlow>(
        options_.netpie->flow,
        [bits](std::span<std::uint8_t> out) {
          for (std::size_t i = 0; i < out.size(); i += 8) {
            std::uint64_t v = bits();
            for (std::size_t k = 0; k < 8 && i + k < out.size(); ++k)
              out[i + k] = static_cast<std::uint8_t>(v >> (8 * k));
          }
        },
        random_between_from(bits));
  }
}

MqttUplink::~MqttUplink() {
  close();
}

MqttUplinkStats MqttUplink::stats() const {
  MqttUplinkStats s = stats_;
  s.drain = drainer_.stats();
  s.presence_held = presence_table_.size();
  return s;
}

void MqttUplink::start() {
  if (state_ != State::Idle) return;
  drainer_.start();
  const char* transport = options_.tls ? "TLS" : "plain TCP";
  if (flow_) {
    GW_LOG(Info, "uplink", "%s: netpie uplink, app %s, key %s, token server %s (%s), %zu up / %zu down rules",
           options_.name.c_str(), options_.netpie->flow.app_id.c_str(),
           options_.netpie->flow.gear_key.c_str(), options_.host.c_str(), transport, options_.up.size(),
           options_.down.size());
  } else {
    GW_LOG(Info, "uplink", "%s: mqtt uplink to %s:%u (%s) as %s, %zu up / %zu down rules",
           options_.name.c_str(), options_.host.c_str(), options_.port, transport, options_.client_id.c_str(),
           options_.up.size(), options_.down.size());
  }
  next_status_at_ = clock_.now_ms() + options_.status_interval_ms;
  next_sys_at_ = clock_.now_ms() + options_.sys_interval_ms;
  if (!flow_) {
    attempt();
    return;
  }
  set_state(State::LoggingIn);
  // The cached device token, if any: a restart reuses it instead of asking the token server again.
  auto st = store_.kv_get("uplink/" + options_.name + "/token",
                          [this, alive = alive_](Result<std::optional<std::string>, storage::Status> r) {
                            if (!*alive) return;
                            on_cached_token(r ? std::move(r).value() : std::nullopt);
                          });
  if (st != storage::Status::Ok) on_cached_token(std::nullopt);
  arm_timer();
}

void MqttUplink::on_cached_token(std::optional<std::string> value) {
  std::optional<CachedToken> cached;
  if (value) {
    cached = token_from_json(*value);
    if (!cached)
      GW_LOG(Warn, "uplink", "%s: the cached token is unreadable; asking for a new one",
             options_.name.c_str());
  }
  const std::string& key = options_.netpie->flow.gear_key;
  if (cached && cached->gear_key == key) {
    GW_LOG(Info, "uplink", "%s: using the cached token %s", options_.name.c_str(), cached->token.c_str());
  } else if (cached) {
    // A token belongs to the key it was issued to (docs/netpie-protocol.md §3.5): the configuration names
    // another key now.
    GW_LOG(Info, "uplink", "%s: the cached token %s was issued to key %s, not %s: %s, asking for a new one",
           options_.name.c_str(), cached->token.c_str(), cached->gear_key.c_str(), key.c_str(),
           cached->revoke_code.empty() ? "dropping it (no revoke code kept with it)" : "revoking it");
  }
  flow(Start{std::move(cached)});
}

// Applies one input to the token flow and performs what it asks.
void MqttUplink::flow(const TokenInput& input) {
  if (!flow_ || state_ == State::Closed) return;
  const auto actions = flow_->handle(input, clock_.unix_seconds());
  for (const TokenAction& a : actions) {
    std::visit(
        Overloaded{
            [&](const HttpRequest& r) {
              if (!http_) {
                last_error_ = "no HTTP client";
                return;
              }
              GW_LOG(Debug, "uplink", "%s: %s %s", options_.name.c_str(), r.method.c_str(), r.url.c_str());
              http_->request(r, [this, alive = alive_](std::variant<HttpResponse, HttpFailed> res) {
                if (!*alive) return;
                if (auto* f = std::get_if<HttpFailed>(&res)) {
                  GW_LOG(Warn, "uplink", "%s: token server: %s", options_.name.c_str(), f->what.c_str());
                  flow(*f);
                } else {
                  const auto& ok = std::get<HttpResponse>(res);
                  if (flow_->state() == TokenFlow::State::RevokingOld) {
                    GW_LOG(Info, "uplink", "%s: revoke of the old key's token: HTTP %d %.40s",
                           options_.name.c_str(), ok.status, ok.body.c_str());
                  } else if (ok.status != 200) {
                    GW_LOG(Info, "uplink", "%s: token server answered %d", options_.name.c_str(), ok.status);
                  }
                  flow(ok);
                }
              });
            },
            [&](const CacheStore& c) {
              store_.kv_put("uplink/" + options_.name + "/token", token_to_json(c.token));
            },
            [&](const CacheErase&) {
              GW_LOG(Info, "uplink", "%s: dropping the cached token", options_.name.c_str());
              store_.kv_erase("uplink/" + options_.name + "/token");
            },
            [&](const ConnectMqtt& c) { connect_mqtt(c); },
            [&](const Wait& w) {
              flow_wait_until_ = clock_.now_ms() + w.ms;
              if (state_ != State::Online) set_state(State::Backoff);
            },
        },
        a);
  }
  arm_timer();
}

void MqttUplink::connect_mqtt(const ConnectMqtt& c) {
  options_.client_id = c.client_id;
  options_.username = c.username;
  options_.password = c.password;
  connect_host_ = c.host;
  connect_port_ = c.port;
  attempt();
}

void MqttUplink::new_rows() {
  if (state_ == State::Closed) return;
  drainer_.new_rows();
}

void MqttUplink::set_state(State s) {
  if (s == state_) return;
  state_ = s;
  publish_sys(/*state_only=*/true);
}

void MqttUplink::attempt() {
  set_state(State::Connecting);
  mqtt::ClientLimits limits;
  limits.max_inflight = options_.max_inflight;
  limits.max_queued = std::max<std::size_t>(options_.max_inflight, 1) + 1;  // + the presence message
  limits.hold_pubrel = true;  // QoS 2: "the cloud has it" is made durable before PUBREL (Drainer::received)
  session_ = std::make_unique<mqtt::ClientSession>(limits);
  mqtt::ConnectOptions co;
  co.version = options_.version;
  co.client_id = options_.client_id;
  co.username = options_.username;
  co.password = options_.password;
  co.keep_alive_s = options_.keepalive_s;
  co.clean_start = options_.clean_start;
  // v5: a session that is not clean must outlive the connection, or the server forgets QoS 2 state.
  if (!options_.clean_start && options_.version == mqtt::Version::V5) co.session_expiry_s = kSessionExpiryS;
  if (!options_.presence_topic.empty()) {
    co.will = mqtt::Will{options_.presence_topic, "offline", 1, true, {}};
  }
  session_->connect(std::move(co), clock_.now_ms());
  tcp_.connect(connect_host_, connect_port_);
  arm_timer();
}

void MqttUplink::on_transport_up() {
  if (!session_) return;
  session_->transport_connected(clock_.now_ms());
  after_input();
}

void MqttUplink::on_bytes(std::string_view bytes) {
  if (!session_) return;
  session_->bytes_received(mqtt::ByteView(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()),
                           clock_.now_ms());
  after_input();
}

void MqttUplink::on_transport_closed(const std::string& why) {
  if (state_ == State::Closed) return;
  status_unacked_ = 0;
  if (stopping_) {
    // No reconnect while stopping: what did not go up stays in the outbox for the next start.
    if (session_) {
      session_->transport_lost(clock_.now_ms());
      session_->take_events();
      session_.reset();
    }
    GW_LOG(Warn, "uplink", "%s: connection lost while stopping (%s)", options_.name.c_str(), why.c_str());
    close();
    return;
  }
  const bool was_online = state_ == State::Online;
  if (session_) {
    session_->transport_lost(clock_.now_ms());
    session_->take_events();  // Disconnected only: we know
    session_.reset();
  }
  const std::size_t outstanding = drainer_.outstanding();
  drainer_.disconnected();
  if (was_online) {
    ++stats_.disconnects;
    GW_LOG(Warn, "uplink", "%s: connection lost (%s); %zu unacknowledged rows back to the outbox queue",
           options_.name.c_str(), why.c_str(), outstanding);
  } else {
    ++stats_.connect_failures;
    if (last_error_.empty()) last_error_ = why;
    GW_LOG(Warn, "uplink", "%s: cannot connect to %s:%u: %s", options_.name.c_str(), connect_host_.c_str(),
           connect_port_, last_error_.c_str());
  }
  if (flow_) {
    last_error_.clear();
    if (refused_reason_) {
      flow(ConnackResult{*std::exchange(refused_reason_, std::nullopt)});
    } else {
      flow(ConnectionLost{});
    }
    return;
  }
  schedule_reconnect();
}

void MqttUplink::on_connected(const mqtt::Connected& c) {
  ++stats_.connects;
  set_state(State::Online);
  backoff_.reset();
  if (flow_) flow(ConnackResult{mqtt::Reason::Success});
  const storage::OutboxBacklog backlog = store_.outbox_backlog(options_.name);
  GW_LOG(Info, "uplink", "%s: online (%s:%u, session present %d, window %u, backlog %llu rows)",
         options_.name.c_str(), connect_host_.c_str(), connect_port_, c.session_present ? 1 : 0,
         session_->window(), static_cast<unsigned long long>(backlog.rows));
  const Millis now = clock_.now_ms();
  // Subscriptions: the down rules, and (netpie) chat to the aliases local microgears hold.
  std::vector<mqtt::Subscription> subs;
  for (const RelayRule& r : options_.down) {
    mqtt::Subscription s;
    s.filter = r.filter;
    s.options.max_qos = r.qos;
    subs.push_back(std::move(s));
  }
  if (flow_) {
    for (const std::string& alias : aliases_) {
      mqtt::Subscription s;
      s.filter = chat_topic(alias);
      subs.push_back(std::move(s));
    }
  }
  if (!subs.empty()) (void)session_->subscribe(std::move(subs), {}, now);
  if (flow_ && !options_.netpie->flow.alias.empty()) {
    // The gateway's own alias (docs/netpie-protocol.md §7.2): chat to it comes down like any other subscribed
    // topic.
    mqtt::OutboundPublish a;
    a.topic = "/" + options_.netpie->flow.app_id + "/@setalias/" + options_.netpie->flow.alias;
    (void)session_->publish(std::move(a), now);
  }
  if (!options_.presence_topic.empty()) publish_status("online");
  drainer_.connected(
      session_->window(),
      [this](mqtt::OutboundPublish p) {
        if (!session_) return mqtt::PublishStatus::NotConnected;
        if (flow_ && (!aliases_.empty() || !own_chat_topic_.empty()) &&
            p.topic.find(kGearname) != std::string::npos) {
          echoes_.sent(p.topic, p.payload, clock_.now_ms());
        }
        return session_->publish(std::move(p), clock_.now_ms());
      },
      [this](mqtt::PublishTag tag) {
        if (session_) session_->release(tag, clock_.now_ms());
      });
  credit_at_ = drainer_.refill(now);
}

// The gateway's own status on presence_topic: retained, QoS 1, tag 0 (not an outbox row).
void MqttUplink::publish_status(const char* status) {
  mqtt::OutboundPublish p;
  p.topic = options_.presence_topic;
  p.payload = status;
  p.qos = 1;
  p.retain = true;
  const mqtt::PublishStatus st = session_->publish(std::move(p), clock_.now_ms());
  if (st == mqtt::PublishStatus::Sent || st == mqtt::PublishStatus::Queued) ++status_unacked_;
}

std::string MqttUplink::chat_topic(const std::string& alias) const {
  return chat_prefix_ + alias;
}

void MqttUplink::on_message(mqtt::Publish&& p) {
  LocalMessage m;
  if (auto local = map_down(options_.down, p.topic)) {
    m.topic = std::move(*local);
  } else if (flow_ && !options_.netpie->chat_topic.empty() && p.topic == own_chat_topic_) {
    // Chat to the gateway's own alias (docs/netpie-protocol.md §7.2: routed to us by our @setalias) goes to
    // the configured local topic; our own chat to it that came back is an echo.
    if (echoes_.is_echo(p.topic, p.payload, clock_.now_ms())) {
      ++stats_.echoes;
      return;
    }
    m.topic = options_.netpie->chat_topic;
  } else if (flow_ && p.topic.size() > chat_prefix_.size() &&
             p.topic.compare(0, chat_prefix_.size(), chat_prefix_) == 0 &&
             aliases_.count(p.topic.substr(chat_prefix_.size()))) {
    // Chat to an alias a local microgear holds. One we sent up ourselves comes back through the same
    // subscription (MQTT 3.1.1 has no no-local): the local holders had it already.
    if (echoes_.is_echo(p.topic, p.payload, clock_.now_ms())) {
      ++stats_.echoes;
      return;
    }
    m.topic = p.topic;  // the same namespace locally: the microgears extension routes it to the holders
  } else {
    ++stats_.unmatched;
    GW_LOG(Debug, "uplink", "%s: a cloud message on %s matches no down rule; ignored", options_.name.c_str(),
           p.topic.c_str());
    return;
  }
  m.payload = std::move(p.payload);
  m.qos = p.qos;
  m.retain = p.retain;
  ++stats_.received;
  if (local_) local_(std::move(m));
}

void MqttUplink::device_presence(const std::string& client_id, bool online, const std::string& reason,
                                 bool session_ends) {
  if (options_.presence_devices.empty() || state_ == State::Closed) return;
  if (online) {
    ++devices_online_[client_id];
  } else if (auto it = devices_online_.find(client_id); it != devices_online_.end() && --it->second == 0) {
    devices_online_.erase(it);
  }
  const std::string topic = options_.presence_devices + client_id;
  if (mqtt::is_valid_topic_name(topic)) {
    nlohmann::json j{{"client_id", client_id},
                     {"event", online ? "online" : "offline"},
                     {"reason", reason},
                     {"time", clock_.unix_seconds()}};
    // The end of a session that ends with its connection goes up not retained: whoever listens gets the
    // event, and device_session_ended clears the topic right after.
    const bool retain =
        (online || !session_ends) && admit_presence(client_id, devices_online_.contains(client_id));
    enqueue_presence(topic, j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), retain);
  }
  if (stopping_ && stop_done()) close();
}

void MqttUplink::device_session_ended(const std::string& client_id) {
  if (options_.presence_devices.empty() || state_ == State::Closed) return;
  presence_table_.forget(client_id);
  // Nothing stays retained upstream for a session that ended for good, so retained presence does not
  // pile up for client ids that never come back (generated ones above all): an empty retained message
  // clears the topic (MQTT 3.1.1 §3.3.1.3). Also for a device not counted now: an earlier run may have
  // left its presence retained.
  ++stats_.presence_cleared;
  clear_presence(client_id);
  if (stopping_ && stop_done()) close();
}

void MqttUplink::device_known(const std::string& client_id) {
  if (options_.presence_devices.empty()) return;
  admit_presence(client_id, false);
}

bool MqttUplink::admit_presence(const std::string& client_id, bool online) {
  auto d = presence_table_.retain(client_id, online);
  if (!d.evicted.empty()) {
    ++stats_.presence_evicted;
    GW_LOG(Debug, "uplink", "%s: %zu devices with retained presence (presence.max_retained): cleared %s's",
           options_.name.c_str(), presence_table_.max_retained(), d.evicted.c_str());
    clear_presence(d.evicted);
  }
  if (!d.retain) ++stats_.presence_plain;
  return d.retain;
}

void MqttUplink::clear_presence(const std::string& client_id) {
  const std::string topic = options_.presence_devices + client_id;
  if (mqtt::is_valid_topic_name(topic)) enqueue_presence(topic, "", true);
}

// One device presence row: lane 0, QoS 1, of this uplink.
void MqttUplink::enqueue_presence(const std::string& topic, std::string payload, bool retain) {
  storage::OutboxMessage m;
  m.origin = "$presence";
  m.dest = options_.name;
  m.lane = 0;
  m.topic = topic;
  m.payload = std::move(payload);
  m.qos = 1;
  m.retain = retain;
  ++stats_.presence_events;
  // While stopping, the row's id is kept until the cloud acknowledges it. The store runs completions in
  // submission order, so this one (with the id) comes before the read that could carry the row up.
  const bool awaited = stopping_;
  if (awaited) ++stop_enqueues_;
  auto st = store_.outbox_enqueue(
      std::move(m), [this, alive = alive_, awaited](Result<storage::OutboxEnqueued, storage::Status> r) {
        if (!*alive) return;
        if (!r) ++stats_.presence_refused;
        if (!awaited) return;
        --stop_enqueues_;
        if (r) stop_rows_.insert(r.value().id);
        if (stop_done()) close();
      });
  if (st != storage::Status::Ok) {
    ++stats_.presence_refused;
    if (awaited) --stop_enqueues_;
  }
}

void MqttUplink::local_alias(const std::string& appid, const std::string& alias, bool held) {
  if (!flow_ || appid != options_.netpie->flow.app_id) return;
  if (held ? !aliases_.insert(alias).second : aliases_.erase(alias) == 0) return;
  if (state_ != State::Online || !session_) return;
  const Millis now = clock_.now_ms();
  if (held) {
    mqtt::Subscription s;
    s.filter = chat_topic(alias);
    (void)session_->subscribe({std::move(s)}, {}, now);
  } else {
    (void)session_->unsubscribe({chat_topic(alias)}, {}, now);
  }
  after_input();
}

void MqttUplink::set_rules(std::vector<RelayRule> up, std::vector<RelayRule> down, std::string topic_prefix,
                           std::uint8_t qos) {
  drainer_.set_rules(up, topic_prefix, qos);
  std::vector<RelayRule> old_down = std::move(options_.down);
  options_.up = std::move(up);
  options_.down = std::move(down);
  options_.topic_prefix = std::move(topic_prefix);
  options_.qos = qos;
  GW_LOG(Info, "uplink", "%s: relay rules reloaded, %zu up / %zu down rules", options_.name.c_str(),
         options_.up.size(), options_.down.size());
  if (state_ != State::Online || !session_) return;  // the next connect subscribes the new down rules
  auto find = [](const std::vector<RelayRule>& rules, const std::string& filter) {
    return std::find_if(rules.begin(), rules.end(), [&](const RelayRule& r) { return r.filter == filter; });
  };
  std::vector<std::string> gone;
  for (const RelayRule& r : old_down) {
    // A chat subscription of a locally held alias stays whatever the rules say.
    const bool chat = flow_ && r.filter.size() > chat_prefix_.size() &&
                      r.filter.compare(0, chat_prefix_.size(), chat_prefix_) == 0 &&
                      aliases_.count(r.filter.substr(chat_prefix_.size())) != 0;
    if (find(options_.down, r.filter) == options_.down.end() && !chat &&
        std::find(gone.begin(), gone.end(), r.filter) == gone.end())
      gone.push_back(r.filter);
  }
  std::vector<mqtt::Subscription> subs;
  for (const RelayRule& r : options_.down) {
    auto before = find(old_down, r.filter);
    if (before != old_down.end() && before->qos == r.qos) continue;
    mqtt::Subscription s;
    s.filter = r.filter;
    s.options.max_qos = r.qos;
    subs.push_back(std::move(s));  // a SUBSCRIBE to a filter already held replaces its QoS (§3.8.4)
  }
  const Millis now = clock_.now_ms();
  if (!gone.empty()) (void)session_->unsubscribe(std::move(gone), {}, now);
  if (!subs.empty()) (void)session_->subscribe(std::move(subs), {}, now);
  after_input();
}

void MqttUplink::after_input() {
  if (!session_) {
    arm_timer();
    return;
  }
  std::optional<std::string> close_why;
  for (mqtt::Event& e : session_->take_events()) {
    if (auto* c = std::get_if<mqtt::Connected>(&e)) {
      on_connected(*c);
      if (!session_) break;
    } else if (auto* a = std::get_if<mqtt::PublishAcked>(&e)) {
      if (a->tag == 0) {
        if (status_unacked_ > 0) --status_unacked_;
      } else {
        drainer_.acked(a->tag);
        stop_rows_.erase(a->tag);
      }
    } else if (auto* rc = std::get_if<mqtt::PublishReceived>(&e)) {
      drainer_.received(rc->tag);
    } else if (auto* r = std::get_if<mqtt::PublishRefused>(&e)) {
      char why[32];
      std::snprintf(why, sizeof why, "reason 0x%02x", static_cast<unsigned>(r->reason));
      if (r->tag == 0 && status_unacked_ > 0) --status_unacked_;
      drainer_.refused(r->tag, why);
      stop_rows_.erase(r->tag);
    } else if (auto* d = std::get_if<mqtt::PublishDropped>(&e)) {
      // Not expected (RejectNew, and the drainer never fills the queue): the row goes back to the store.
      if (d->tag != 0) port_->requeue(storage::to_ranges({d->tag}));
    } else if (auto* m = std::get_if<mqtt::MessageReceived>(&e)) {
      on_message(std::move(m->publish));
    } else if (auto* sa = std::get_if<mqtt::SubscribeAcked>(&e)) {
      for (mqtt::Reason reason : sa->reasons) {
        if (static_cast<unsigned>(reason) >= 0x80) {
          GW_LOG(Warn, "uplink", "%s: the cloud refused a subscription (reason 0x%02x)",
                 options_.name.c_str(), static_cast<unsigned>(reason));
        }
      }
    } else if (auto* cr = std::get_if<mqtt::ConnackRefused>(&e)) {
      last_error_ = connack_text(options_.version, cr->reason);
      GW_LOG(Warn, "uplink", "%s: the server refused the connection: %s", options_.name.c_str(),
             last_error_.c_str());
      refused_reason_ = cr->reason;
    } else if (auto* ct = std::get_if<mqtt::CloseTransport>(&e)) {
      close_why = std::string("session: ") + mqtt::to_string(ct->why);
      break;
    }
  }
  for (const RefusedRow& r : drainer_.take_refused()) {
    GW_LOG(Warn, "uplink",
           "%s: outbox row %llu (topic \"%s\") refused by the server or a server limit (%s); "
           "dropped from the outbox",
           options_.name.c_str(), static_cast<unsigned long long>(r.id), r.topic.c_str(), r.why.c_str());
  }
  if (session_) drainer_.flush();
  if (session_) {
    mqtt::Buffer out = session_->take_bytes();
    if (!out.empty()) tcp_.write(out);
  }
  if (close_why) {
    tcp_.close();  // writes what it can (a DISCONNECT) without waiting
    on_transport_closed(*close_why);
    return;
  }
  if (stopping_ && stop_done()) {
    close();
    return;
  }
  arm_timer();
}

void MqttUplink::schedule_reconnect() {
  if (state_ == State::Closed) return;
  const Millis delay = backoff_.next();
  reconnect_at_ = clock_.now_ms() + delay;
  set_state(State::Backoff);
  GW_LOG(Info, "uplink", "%s: reconnecting in %lld ms (attempt %u%s%s)", options_.name.c_str(),
         static_cast<long long>(delay), backoff_.attempts(),
         last_error_.empty() ? "" : ", last error: ", last_error_.c_str());
  last_error_.clear();
  arm_timer();
}

void MqttUplink::arm_timer() {
  if (!timer_ || state_ == State::Closed) return;
  const Millis now = clock_.now_ms();
  Millis at = now + 1000;  // at least once a second: retry a refused store read, status line
  if (state_ == State::Backoff && !flow_) at = std::min(at, reconnect_at_);
  if (flow_wait_until_) at = std::min(at, *flow_wait_until_);
  if (credit_at_) at = std::min(at, *credit_at_);
  if (stopping_) at = std::min(at, stop_deadline_);
  if (options_.sys_interval_ms > 0) at = std::min(at, next_sys_at_);
  if (session_) {
    if (auto d = session_->next_deadline()) at = std::min(at, *d);
  }
  const auto wait = static_cast<std::uint64_t>(std::max<Millis>(at - now, 0));
  uv_timer_start(
      timer_, [](uv_timer_t* t) { static_cast<MqttUplink*>(t->data)->on_timer(); }, wait, 0);
}

void MqttUplink::on_timer() {
  const Millis now = clock_.now_ms();
  if (stopping_ && (now >= stop_deadline_ || stop_done())) {
    close();
    return;
  }
  if (flow_wait_until_ && now >= *flow_wait_until_ && !stopping_) {
    flow_wait_until_.reset();
    flow(TimerFired{});
    if (state_ == State::Closed) return;
  }
  if (!flow_ && state_ == State::Backoff && now >= reconnect_at_ && !stopping_) {
    attempt();
    return;
  }
  if (now >= next_status_at_) {
    next_status_at_ = now + options_.status_interval_ms;
    log_status();
  }
  if (options_.sys_interval_ms > 0 && now >= next_sys_at_) {
    next_sys_at_ = now + options_.sys_interval_ms;
    publish_sys(/*state_only=*/false);
  }
  if (session_) {
    session_->tick(now);
    credit_at_ = drainer_.refill(now);
    after_input();  // also pumps the drainer and re-arms
  } else {
    arm_timer();
  }
}

// The age of this uplink's oldest queued row (a peek into the store, not marked in flight); nullopt when
// none is queued or the read failed. `done` does not run once the uplink is closed.
void MqttUplink::oldest_queued_age(std::function<void(std::optional<std::int64_t>)> done) {
  storage::OutboxReadOptions peek;
  peek.dest = options_.name;
  peek.max_rows = 1;
  peek.mark_inflight = false;
  const Clock& clock = clock_;
  store_.outbox_read(peek, [done = std::move(done), alive = alive_,
                            &clock](Result<std::vector<storage::OutboxRecord>, storage::Status> r) {
    if (!*alive) return;  // the uplink closed meanwhile (the daemon is stopping)
    std::optional<std::int64_t> age;
    if (r && !r.value().empty()) age = clock.unix_seconds() - r.value().front().enqueued_unix;
    done(age);
  });
}

void MqttUplink::log_status() {
  const storage::OutboxBacklog s = store_.outbox_backlog(options_.name);
  const DrainStats& d = drainer_.stats();
  if (s.rows == 0 && state_ == State::Online) return;  // nothing worth a line
  oldest_queued_age([=, name = options_.name, state = to_string(state_),
                     outstanding = drainer_.outstanding()](std::optional<std::int64_t> age) {
    GW_LOG(
        Info, "uplink",
        "%s: status %s, backlog %llu rows (%llu bytes), oldest queued %lld s, in flight %zu, published %llu, "
        "acked %llu, refused %llu",
        name.c_str(), state, static_cast<unsigned long long>(s.rows),
        static_cast<unsigned long long>(s.bytes), static_cast<long long>(age.value_or(-1)), outstanding,
        static_cast<unsigned long long>(d.published), static_cast<unsigned long long>(d.acked),
        static_cast<unsigned long long>(d.refused));
  });
}

void MqttUplink::publish_sys(bool state_only) {
  if (!sys_ || options_.sys_interval_ms <= 0) return;
  const std::string base = "$SYS/broker/uplink/" + options_.name + "/";
  sys_(base + "state", to_string(state_));
  if (state_only) return;
  const storage::OutboxBacklog s = store_.outbox_backlog(options_.name);
  const MqttUplinkStats u = stats();
  sys_(base + "backlog/rows", std::to_string(s.rows));
  sys_(base + "backlog/bytes", std::to_string(s.bytes));
  sys_(base + "received", std::to_string(u.received));
  sys_(base + "published", std::to_string(u.drain.published));
  sys_(base + "acked", std::to_string(u.drain.acked));
  sys_(base + "refused", std::to_string(u.drain.refused));
  sys_(base + "connects", std::to_string(u.connects));
  sys_(base + "disconnects", std::to_string(u.disconnects));
  // Live-first replay, message expiry, v5 properties a 3.1.1 cloud could not take, and this uplink's
  // outbox quota (storage/README.md "Quotas per destination").
  sys_(base + "live_published", std::to_string(u.drain.live_published));
  sys_(base + "expired", std::to_string(u.drain.expired));
  sys_(base + "properties_dropped", std::to_string(u.drain.properties_dropped));
  const storage::OutboxDestDrops q = store_.outbox_dest_drops(options_.name);
  sys_(base + "quota/rejected", std::to_string(q.rejected));
  sys_(base + "quota/dropped_oldest", std::to_string(q.dropped_oldest));
  sys_(base + "quota/expired", std::to_string(q.expired));
  sys_(base + "message_expired", std::to_string(q.message_expired));
  // 0 when none is queued.
  oldest_queued_age([sys = sys_, topic = base + "backlog/oldest_s"](std::optional<std::int64_t> age) {
    sys(topic, std::to_string(std::max<std::int64_t>(age.value_or(0), 0)));
  });
}

void MqttUplink::stop() {
  if (state_ == State::Closed || stopping_) return;
  stopping_ = true;
  stop_started_ = clock_.now_ms();
  stop_deadline_ = stop_started_ + std::max<Millis>(options_.stop_timeout_ms, 0);
  const bool online = state_ == State::Online && session_;
  if (online && !options_.presence_topic.empty()) publish_status("offline");  // what the will would say
  GW_LOG(Info, "uplink", "%s: stopping (%s, %zu local devices connected; at most %lld ms)",
         options_.name.c_str(), online ? "online" : to_string(state_), devices_online_.size(),
         static_cast<long long>(options_.stop_timeout_ms));
  if (options_.stop_timeout_ms <= 0 || stop_done()) {
    close();
    return;
  }
  after_input();  // the status goes out now; the timer watches the deadline
}

// Every local device reported gone (its event queued), and, online, the status and those events
// acknowledged by the cloud. Not online nothing more can go up: the events wait in the outbox.
bool MqttUplink::stop_done() const {
  if (!devices_online_.empty()) return false;
  if (state_ != State::Online) return true;
  return status_unacked_ == 0 && stop_enqueues_ == 0 && stop_rows_.empty();
}

void MqttUplink::close() {
  if (state_ == State::Closed) return;
  if (stopping_) {
    const bool done = stop_done();
    log::logf(done ? log::Level::Info : log::Level::Warn, "uplink",
              "%s: stop %s after %lld ms (%zu devices still connected, %zu device events not acknowledged%s)",
              options_.name.c_str(), done ? "complete" : "cut short",
              static_cast<long long>(clock_.now_ms() - stop_started_), devices_online_.size(),
              stop_rows_.size() + stop_enqueues_, status_unacked_ > 0 ? ", status not acknowledged" : "");
  }
  const bool online = state_ == State::Online;
  state_ = State::Closed;
  *alive_ = false;
  if (session_ && online) {
    session_->disconnect(mqtt::Reason::Success, clock_.now_ms());
    mqtt::Buffer out = session_->take_bytes();
    if (!out.empty()) tcp_.write(out);
  }
  tcp_.close();
  http_.reset();  // its handles close now, and are freed by the loop's next turns
  if (flow_) flow_->handle(Stop{}, clock_.unix_seconds());
  session_.reset();
  drainer_.disconnected();  // acks written, in-flight rows back to the queue (before the store closes)
  const DrainStats& d = drainer_.stats();
  GW_LOG(Info, "uplink", "%s: closed (published %llu, acked %llu, refused %llu, connects %llu)",
         options_.name.c_str(), static_cast<unsigned long long>(d.published),
         static_cast<unsigned long long>(d.acked), static_cast<unsigned long long>(d.refused),
         static_cast<unsigned long long>(stats_.connects));
  if (timer_) {
    uv_timer_stop(timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(timer_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
    timer_ = nullptr;
  }
}

}  // namespace gw::uplink
