// The `mqtt` uplink (mqtt_uplink.hpp). State table:
//
//   state       input                         action                                        next
//   Idle        start()                       requeue in-flight rows, resolve + connect      Connecting
//   Connecting  socket up                     CONNECT (fresh session)                        Connecting
//   Connecting  CONNACK accepted              backoff reset, drainer reads                   Online
//   Connecting  socket error / CONNACK refused / timeout   requeue, backoff timer            Backoff
//   Online      socket lost / CloseTransport  acks written, in-flight rows requeued          Backoff
//   Backoff     timer                         resolve + connect                              Connecting
//   any         close()                       DISCONNECT if online, close socket and timer   Closed
#include "gateway/uplink/mqtt_uplink.hpp"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "gateway/base/log.hpp"

namespace gw::uplink {

const char* to_string(MqttUplink::State s) {
  switch (s) {
    case MqttUplink::State::Idle:
      return "idle";
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
  bool read(std::uint32_t max_rows, ReadDone done) override {
    storage::OutboxReadOptions o;
    o.max_rows = max_rows;
    o.mark_inflight = true;
    auto s = store_.outbox_read(
        o, [this, done = std::move(done)](Result<std::vector<storage::OutboxRecord>, storage::Status> r) {
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
  void requeue(std::vector<storage::IdRange> ranges) override { store_.outbox_requeue(std::move(ranges)); }

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
      backoff_(options_.backoff, random_between_from(std::move(random))),
      port_(std::make_unique<StorePort>(*this, store)),
      drainer_(*port_, DrainOptions{options_.topic_prefix, options_.qos, 256}),
      tcp_(loop,
           TcpClient::Callbacks{[this] { on_transport_up(); }, [this](std::string_view b) { on_bytes(b); },
                                [this](const std::string& why) { on_transport_closed(why); }}) {
  timer_ = new uv_timer_t;
  uv_timer_init(loop_, timer_);
  timer_->data = this;
}

MqttUplink::~MqttUplink() {
  close();
}

MqttUplinkStats MqttUplink::stats() const {
  MqttUplinkStats s = stats_;
  s.drain = drainer_.stats();
  return s;
}

void MqttUplink::start() {
  if (state_ != State::Idle) return;
  drainer_.start();
  GW_LOG(Info, "uplink", "%s: mqtt uplink to %s:%u as %s (topic prefix \"%s\", qos %u)",
         options_.name.c_str(), options_.host.c_str(), options_.port, options_.client_id.c_str(),
         options_.topic_prefix.c_str(), options_.qos);
  next_status_at_ = clock_.now_ms() + options_.status_interval_ms;
  next_sys_at_ = clock_.now_ms() + options_.sys_interval_ms;
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
  limits.max_queued = std::max<std::size_t>(options_.max_inflight, 1);
  session_ = std::make_unique<mqtt::ClientSession>(limits);
  mqtt::ConnectOptions co;
  co.version = options_.version;
  co.client_id = options_.client_id;
  co.username = options_.username;
  co.password = options_.password;
  co.keep_alive_s = options_.keepalive_s;
  co.clean_start = options_.clean_start;
  session_->connect(std::move(co), clock_.now_ms());
  tcp_.connect(options_.host, options_.port);
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
    last_error_ = why;
  }
  schedule_reconnect();
}

void MqttUplink::after_input() {
  if (!session_) {
    arm_timer();
    return;
  }
  std::optional<std::string> close_why;
  for (mqtt::Event& e : session_->take_events()) {
    if (auto* c = std::get_if<mqtt::Connected>(&e)) {
      ++stats_.connects;
      set_state(State::Online);
      backoff_.reset();
      GW_LOG(Info, "uplink", "%s: online (%s:%u, session present %d, window %u, backlog %llu rows)",
             options_.name.c_str(), options_.host.c_str(), options_.port, c->session_present ? 1 : 0,
             session_->window(), static_cast<unsigned long long>(store_.stats().outbox_rows));
      drainer_.connected(session_->window(), [this](mqtt::OutboundPublish p) {
        return session_ ? session_->publish(std::move(p), clock_.now_ms())
                        : mqtt::PublishStatus::NotConnected;
      });
      if (!session_) break;
    } else if (auto* a = std::get_if<mqtt::PublishAcked>(&e)) {
      drainer_.acked(a->tag);
    } else if (auto* r = std::get_if<mqtt::PublishRefused>(&e)) {
      char why[32];
      std::snprintf(why, sizeof why, "reason 0x%02x", static_cast<unsigned>(r->reason));
      drainer_.refused(r->tag, why);
    } else if (auto* d = std::get_if<mqtt::PublishDropped>(&e)) {
      // Not expected (RejectNew, and the drainer never fills the queue): the row goes back to the store.
      port_->requeue(storage::to_ranges({d->tag}));
    } else if (auto* cr = std::get_if<mqtt::ConnackRefused>(&e)) {
      GW_LOG(Warn, "uplink", "%s: CONNACK refused (reason 0x%02x)", options_.name.c_str(),
             static_cast<unsigned>(cr->reason));
      last_error_ = "CONNACK refused";
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
  if (state_ == State::Backoff) at = std::min(at, reconnect_at_);
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
  if (state_ == State::Backoff && now >= reconnect_at_) {
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
    after_input();  // also pumps the drainer and re-arms
  } else {
    arm_timer();
  }
}

void MqttUplink::log_status() {
  const storage::StoreStats s = store_.stats();
  const DrainStats& d = drainer_.stats();
  if (s.outbox_rows == 0 && state_ == State::Online) return;  // nothing worth a line
  storage::OutboxReadOptions peek;
  peek.max_rows = 1;
  peek.mark_inflight = false;
  const std::string name = options_.name;
  const char* state = to_string(state_);
  const std::size_t outstanding = drainer_.outstanding();
  const Clock& clock = clock_;
  store_.outbox_read(peek, [=, &clock](Result<std::vector<storage::OutboxRecord>, storage::Status> r) {
    long long age = -1;
    if (r && !r.value().empty())
      age = static_cast<long long>(clock.unix_seconds() - r.value().front().enqueued_unix);
    GW_LOG(
        Info, "uplink",
        "%s: status %s, backlog %llu rows (%llu bytes), oldest queued %lld s, in flight %zu, published %llu, "
        "acked %llu, refused %llu",
        name.c_str(), state, static_cast<unsigned long long>(s.outbox_rows),
        static_cast<unsigned long long>(s.outbox_bytes), age, outstanding,
        static_cast<unsigned long long>(d.published), static_cast<unsigned long long>(d.acked),
        static_cast<unsigned long long>(d.refused));
  });
}

void MqttUplink::publish_sys(bool state_only) {
  if (!sys_ || options_.sys_interval_ms <= 0) return;
  const std::string base = "$SYS/broker/uplink/" + options_.name + "/";
  sys_(base + "state", to_string(state_));
  if (state_only) return;
  const storage::StoreStats s = store_.stats();
  const MqttUplinkStats u = stats();
  sys_(base + "backlog/rows", std::to_string(s.outbox_rows));
  sys_(base + "backlog/bytes", std::to_string(s.outbox_bytes));
  sys_(base + "published", std::to_string(u.drain.published));
  sys_(base + "acked", std::to_string(u.drain.acked));
  sys_(base + "refused", std::to_string(u.drain.refused));
  sys_(base + "connects", std::to_string(u.connects));
  sys_(base + "disconnects", std::to_string(u.disconnects));
  // The oldest queued row's age needs a look into the store (not marked in flight); "" when none is queued.
  storage::OutboxReadOptions peek;
  peek.max_rows = 1;
  peek.mark_inflight = false;
  SysPublish sys = sys_;
  const Clock& clock = clock_;
  store_.outbox_read(peek, [sys, alive = sys_alive_, topic = base + "backlog/oldest_s",
                            &clock](Result<std::vector<storage::OutboxRecord>, storage::Status> r) {
    if (!*alive) return;  // the uplink closed meanwhile (the daemon is stopping)
    std::int64_t age = 0;
    if (r && !r.value().empty()) age = clock.unix_seconds() - r.value().front().enqueued_unix;
    sys(topic, std::to_string(std::max<std::int64_t>(age, 0)));
  });
}

void MqttUplink::close() {
  if (state_ == State::Closed) return;
  const bool online = state_ == State::Online;
  state_ = State::Closed;
  *sys_alive_ = false;
  if (session_ && online) {
    session_->disconnect(mqtt::Reason::Success, clock_.now_ms());
    mqtt::Buffer out = session_->take_bytes();
    if (!out.empty()) tcp_.write(out);
  }
  tcp_.close();
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
