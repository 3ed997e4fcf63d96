// Broker lifecycle: connections attaching and leaving, sessions opened, taken over, expired; wills
// (immediate and delayed); keepalive and connect timeouts; and the $SYS/broker counters.
#include "gateway/broker/broker.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <optional>

#include "gateway/base/log.hpp"

namespace gw::broker {

using mqtt::Reason;

Broker::Broker(const config::Config& cfg, const Clock& clock, std::unique_ptr<Authenticator> auth)
    : limits_(cfg.limits),
      sys_interval_s_(cfg.sys_interval_s),
      clock_(clock),
      auth_(std::move(auth)),
      retained_(cfg.limits.max_retained),
      session_queue_{cfg.store.session_queue_max_rows, cfg.store.session_queue_max_bytes,
                     cfg.store.session_queue_policy != "drop_oldest",
                     std::max<std::uint32_t>(cfg.store.session_queue_memory_rows, 1)} {
  started_at_ = clock_.now_ms();
  next_sys_at_ = started_at_ + Millis(sys_interval_s_) * 1000;
}

void Broker::set_limits(const config::Limits& limits) {
  limits_ = limits;
  retained_.set_max_topics(limits.max_retained);
}

Broker::~Broker() {
  sessions_.for_each([&](Session& s) {
    for (const auto& [filter, sub] : s.subscriptions) trie_.remove(filter, &s);
  });
}

Session* Broker::find_session(std::string_view id) {
  return sessions_.find(id);
}

std::vector<std::string> Broker::session_ids() const {
  std::vector<std::string> ids;
  ids.reserve(sessions_.size());
  sessions_.for_each([&](const Session& s) { ids.push_back(s.client_id); });
  return ids;
}

std::uint64_t Broker::attach(Connection& c) {
  std::uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
    slots_[slot] = &c;
  } else {
    slot = static_cast<std::uint32_t>(slots_.size());
    slots_.push_back(&c);
  }
  ++connection_count_;
  return (++connection_ids_ << 32) | slot;
}

void Broker::detach(Connection& c) {
  const auto slot = static_cast<std::uint32_t>(c.id() & 0xFFFFFFFFu);
  if (slot >= slots_.size() || slots_[slot] != &c) return;
  slots_[slot] = nullptr;
  free_slots_.push_back(slot);
  --connection_count_;
}

Connection* Broker::connection_by_id(std::uint64_t id) {
  const auto slot = static_cast<std::uint32_t>(id & 0xFFFFFFFFu);
  if (slot >= slots_.size() || slots_[slot] == nullptr || slots_[slot]->id() != id) return nullptr;
  return slots_[slot];
}

Result<bool, std::string> Broker::restore() {
  if (!persistence_) return false;
  // Queues stay in the store: a session's head is paged in when its client connects.
  auto restored = persistence_->restore(0);
  if (!restored) return unexpected(restored.error());
  for (std::size_t i = 0; i < restored->retained.size(); ++i)
    retained_.set(restored->retained[i], restored->retained_updated_ms[i]);
  std::size_t messages = 0;
  for (auto& s : restored->sessions) {
    s->stored = true;
    for (const auto& [filter, sub] : s->subscriptions) {
      trie_.add(filter, SubEntry{s.get(), sub.options, sub.subscription_id});
      s->subscriptions.get().bytes += SubscriptionTrie::cost(filter);  // charged, never refused here
    }
    messages += s->queue.size() + s->inflight.size() + (s->stored_tail ? s->stored_tail->rows : 0);
    if (s->stored_tail) s->stored_tail->id = ++stored_ids_;
    sessions_.insert(std::move(s));
  }
  GW_LOG(Info, "store", "restored %zu sessions (%zu messages) and %zu retained messages",
         restored->sessions.size(), messages, restored->retained.size());
  ended_at_start_ = std::move(restored->expired);  // told to the extension at the first tick
  return true;
}

std::string Broker::assign_client_id() {
  char buf[40];
  std::snprintf(buf, sizeof buf, "netpie-edge-%" PRIx64 "-%" PRIu64, static_cast<std::uint64_t>(started_at_),
                ++assigned_ids_);
  return buf;
}

bool Broker::open_session(Connection& c, const std::string& client_id, bool clean_start,
                          std::uint32_t expiry) {
  Session* s = sessions_.find(client_id);
  if (s && s->conn && s->conn != &c) {
    // Session takeover (MQTT 5.0 §3.1.4-3). The old connection's will goes out unless the new one
    // resumes the session and the will has a delay (MQTT 5.0 §3.1.3.2.2). A session that was to end
    // with its connection (3.1.1 CleanSession=1, v5 Session Expiry 0) ends here: MQTT 3.1.1
    // [MQTT-3.1.2-6], so the new connection finds no session [MQTT-3.2.2-2] even with CleanSession=0.
    Connection* old = s->conn;
    GW_LOG(Info, "broker", "client %s taken over by %s", client_id.c_str(), c.transport().peer().c_str());
    const bool ends = !s->persistent();
    auto will = old->take_will();
    bool delayed = will && will->properties.will_delay_interval.value_or(0) > 0;
    if (will && !(delayed && !clean_start && !ends)) publish_will(client_id, std::move(*will));
    old->set_session(nullptr);
    s->conn = nullptr;
    old->close_with(Reason::SessionTakenOver, "session taken over");
    if (ends) {
      destroy_session(*s, DropReason::SessionExpired);
      s = nullptr;
    }
  }
  if (s && s->pending_will && !clean_start) s->pending_will.reset();  // reconnected within the will delay
  if (s && clean_start) {
    if (s->pending_will) publish_will(client_id, std::move(s->pending_will->will));
    destroy_session(*s, DropReason::SessionExpired);
    s = nullptr;
  }
  bool present = s != nullptr;
  if (!s) {
    s = sessions_.insert(std::make_unique<Session>(client_id));
  }
  s->conn = &c;
  s->expiry_interval = expiry;
  s->expires_at = 0;
  c.set_session(s);
  // Counted on the connection, not the session: a taken-over connection has no session any more but
  // still leaves through connection_lost, which gives its count back.
  c.counted_ = true;
  ++connected_;
  c.proto_ = stats_.protocol_index(c.transport().protocol());
  c.connected_at_ = clock_.now_ms();
  stats_.protocols[c.proto_].connected++;
  stats_.protocols[c.proto_].connects++;
  if (persistence_) {
    if (s->persistent() && !present) {
      persistence_->session_saved(*s);
      s->stored = true;
    } else if (s->stored) {
      if (s->persistent()) {
        persistence_->session_meta(*s);
      } else if (!s->stored_tail) {
        // Resumed with session expiry 0: it ends with this connection, so the store forgets it now.
        persistence_->session_deleted(s->client_id);
        s->stored = false;
      }
      // (With a stored queue it is still read from the store: the store forgets it when it ends.)
    }
  }
  return present;
}

void Broker::connection_lost(Connection& c) {
  if (c.counted_) {
    c.counted_ = false;
    --connected_;
    stats_.protocols[c.proto_].connected--;
  }
  Session* s = c.session();
  if (s == nullptr) return;  // never connected, or taken over
  struct Notify {
    Broker& b;
    Connection& c;
    std::optional<std::string> ended;  // the client id, when its session ended with this connection
    ~Notify() {
      if (!b.extension_) return;
      b.extension_->on_disconnected(c, c.graceful());
      if (ended) b.extension_->on_session_ended(*ended);
    }
  } notify{*this, c, {}};
  c.set_session(nullptr);
  s->conn = nullptr;
  const Millis now = clock_.now_ms();
  if (auto will = c.take_will()) {
    std::uint32_t delay = will->properties.will_delay_interval.value_or(0);
    if (delay > 0 && s->persistent()) {
      // MQTT 5.0 §3.1.3.2.2: published after the delay, or when the session ends if sooner.
      std::uint32_t wait = std::min(delay, s->expiry_interval);
      s->pending_will =
          std::make_unique<PendingWill>(PendingWill{std::move(*will), now + Millis(wait) * 1000});
    } else {
      publish_will(s->client_id, std::move(*will));
    }
  }
  if (!s->persistent()) {
    notify.ended = s->client_id;
    destroy_session(*s, DropReason::SessionExpired);
    return;
  }
  if (s->expiry_interval != Session::kNeverExpires) s->expires_at = now + Millis(s->expiry_interval) * 1000;
  if (persistence_ && s->stored) persistence_->session_meta(*s);
  release_window(*s);
  release_waiters(*s);  // offline, it holds no one back: its queue_policy applies from now on
}

void Broker::publish_will(const std::string& client_id, mqtt::Will&& will) {
  stats_.wills_published++;
  GW_LOG(Debug, "broker", "publishing will of %s on %s", client_id.c_str(), will.topic.c_str());
  auto msg = std::make_shared<Message>();
  msg->topic = std::move(will.topic);
  msg->payload = std::move(will.payload);
  msg->qos = will.qos;
  msg->retain = will.retain;
  msg->sender = std::make_shared<const std::string>(client_id);
  msg->props = forwarded_properties(will.properties);
  if (will.properties.message_expiry_interval) {
    msg->expiry_at = clock_.now_ms() + Millis(*will.properties.message_expiry_interval) * 1000;
  }
  publish(msg);
}

void Broker::destroy_session(Session& s, DropReason why) {
  const std::uint64_t queued = s.queue.size() + (s.stored_tail ? s.stored_tail->rows : 0);
  if (queued != 0) stats_.drop(why, queued);
  for (const auto& [filter, sub] : s.subscriptions) trie_.remove(filter, &s);
  if (persistence_ && s.stored) persistence_->session_deleted(s.client_id);
  const std::vector<std::uint64_t> waiters = take_waiters(s);
  sessions_.erase(&s);  // destroys s
  release(waiters);     // whoever waited for room there publishes on (now without it)
}

void Broker::tick() {
  const Millis now = clock_.now_ms();
  // Keepalive (MQTT 5.0 §3.1.2.10: one and a half times the interval) and CONNECT timeouts.
  std::vector<Connection*> expired;
  for (Connection* c : slots_) {
    if (c == nullptr) continue;
    if (c->state() == Connection::State::AwaitConnect) {
      if (now - c->created_at() > Millis(limits_.connect_timeout_ms)) expired.push_back(c);
    } else if (c->state() == Connection::State::Connected && c->keep_alive() != 0 && !c->flow_blocked()) {
      // (a client we do not read from, by flow control, cannot be judged by what it sends)
      if (now - c->last_activity() > Millis(c->keep_alive()) * 1500) expired.push_back(c);
    }
  }
  for (Connection* c : expired) {
    if (c->state() == Connection::State::Connected) {
      stats_.keepalive_timeouts++;
      GW_LOG(Info, "broker", "keepalive timeout: %s (%s)", c->identity().client_id.c_str(),
             c->transport().peer().c_str());
      c->close_with(Reason::KeepAliveTimeout, "keep alive timeout");
    } else {
      c->close_with(Reason::MaximumConnectTime, "no CONNECT in time");
    }
  }
  // A subscriber that held publishers back too long goes (MQTT has no way to slow it down), so one
  // stuck client cannot stall the healthy ones: its session's end releases them.
  if (limits_.slow_subscriber_timeout_s != 0 && !full_.empty()) {
    std::vector<Session*> slow;
    for (const auto& [s, w] : full_) {
      if (s->conn && s->conn->state() == Connection::State::Connected &&
          now - w.since >= Millis(limits_.slow_subscriber_timeout_s) * 1000)
        slow.push_back(const_cast<Session*>(s));
    }
    for (Session* s : slow) {
      Connection* c = s->conn;
      if (c == nullptr || c->state() != Connection::State::Connected) continue;  // released meanwhile
      stats_.slow_subscribers++;
      GW_LOG(Info, "broker", "slow subscriber: %s (%s) held publishers back for %u s; disconnecting",
             c->identity().client_id.c_str(), c->transport().peer().c_str(),
             limits_.slow_subscriber_timeout_s);
      c->close_with(Reason::ImplementationSpecificError, "slow subscriber");
      // Closing: it holds no one from now (its socket may take a while to go).
      release_waiters(*s);
    }
  }
  if (!ended_at_start_.empty()) {
    // Sessions that expired while the daemon was down (the store deleted them at restore), told once
    // the daemon's extensions are in place.
    const std::vector<std::string> ended = std::move(ended_at_start_);
    ended_at_start_.clear();
    if (extension_) {
      for (const std::string& id : ended) extension_->on_session_ended(id);
    }
  }
  if (now >= next_expiry_scan_) {
    next_expiry_scan_ = now + 1000;
    std::vector<Session*> ended;
    sessions_.for_each([&](Session& s) {
      if (s.pending_will && s.pending_will->at <= now) {
        publish_will(s.client_id, std::move(s.pending_will->will));
        s.pending_will.reset();
      }
      if (!s.conn && s.expires_at != 0 && s.expires_at <= now) ended.push_back(&s);
      if (s.conn && s.stored_tail) read_stored(s);  // a read that failed is tried again
    });
    for (Session* s : ended) {
      if (s->pending_will) publish_will(s->client_id, std::move(s->pending_will->will));
      GW_LOG(Debug, "broker", "session %s expired", s->client_id.c_str());
      const std::string client_id = s->client_id;
      destroy_session(*s, DropReason::SessionExpired);
      if (extension_) extension_->on_session_ended(client_id);
    }
    stats_.drop(DropReason::Expired, retained_.expire(now));
  }
  if (sys_interval_s_ != 0 && now >= next_sys_at_) {
    next_sys_at_ = now + Millis(sys_interval_s_) * 1000;
    publish_sys();
  }
}

void Broker::publish_sys() {
  auto put = [&](const std::string& topic, std::uint64_t value) {
    auto m = std::make_shared<Message>();
    m->topic = "$SYS/broker/" + topic;
    m->payload = std::to_string(value);
    m->retain = true;
    publish(m);
  };
  put("uptime", static_cast<std::uint64_t>((clock_.now_ms() - started_at_) / 1000));
  put("clients/connected", connected_);
  put("clients/total", sessions_.size());
  put("messages/received", stats_.messages_received);
  put("messages/sent", stats_.messages_sent);
  put("bytes/received", stats_.bytes_received);
  put("bytes/sent", stats_.bytes_sent);
  put("retained messages/count", retained_.size());
  put("subscriptions/count", trie_.size());
  put("wills/published", stats_.wills_published);
  put("connections/reads_paused", stats_.reads_paused);
  put("connections/flow_paused", stats_.flow_paused);
  put("connections/slow_subscribers", stats_.slow_subscribers);
  put("messages/acks_withheld", stats_.acks_withheld);
  std::uint64_t waiting = 0, acks_waiting = 0;
  for (Connection* c : slots_) {
    if (c == nullptr || !c->flow_blocked()) continue;
    ++waiting;
    if (c->flow_ack_held()) ++acks_waiting;
  }
  put("clients/flow_waiting", waiting);
  put("messages/acks_waiting", acks_waiting);
  put("connections/refused", stats_.connections_refused);
  put("connections/protocol_errors", stats_.protocol_errors);
  put("connections/keepalive_timeouts", stats_.keepalive_timeouts);
  for (std::size_t i = 0; i < stats_.dropped.size(); ++i) {
    put("messages/dropped/" + std::string(drop_reason_name(static_cast<DropReason>(i))), stats_.dropped[i]);
  }
  for (const auto& source : sys_sources_) source(put);
}

void Broker::shutdown() {
  std::vector<Connection*> all;
  for (Connection* c : slots_) {
    if (c != nullptr) all.push_back(c);
  }
  for (Connection* c : all) c->close_with(Reason::ServerShuttingDown, "server shutting down");
}

}  // namespace gw::broker
