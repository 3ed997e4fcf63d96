// Fan-out and the outbound QoS machinery: matching a message against the trie, merging overlapping
// subscriptions of one session into one delivery, the in-flight window, the bounded session queue with
// its overflow policy, slow consumers, and the PUBACK/PUBREC/PUBCOMP transitions.
//
//   in-flight entry   event            next
//   AwaitPuback       PUBACK           (removed)           QoS 1
//   AwaitPubrec       PUBREC < 0x80    AwaitPubcomp, PUBREL sent
//   AwaitPubrec       PUBREC >= 0x80   (removed), no PUBREL; a repeated one is ignored
//   AwaitPubcomp      PUBCOMP          (removed)           QoS 2
//   any               reconnect        resent: PUBLISH with DUP, or PUBREL (MQTT 5.0 §4.4)
#include <algorithm>

#include "gateway/base/log.hpp"
#include "gateway/broker/broker.hpp"

namespace gw::broker {

using mqtt::Reason;

Reason Broker::publish_from(Connection& from, const MessagePtr& msg) {
  Connection* outer = publisher_;
  publisher_ = &from;
  const Reason r = publish(msg);
  publisher_ = outer;
  return r;
}

Reason Broker::publish(const MessagePtr& msg) {
  // Admission before delivery: a refused message must not reach anyone, or the client's retry of it
  // makes a duplicate. What can be known now is checked now; a write that fails later, at its commit,
  // is what README "What an acknowledgement promises" describes.
  // Only a client's QoS 1/2 PUBLISH has an acknowledgement to carry a refusal; the rest (QoS 0, wills,
  // the gateway's own messages) stays best effort: the outbox alone may refuse it, local delivery goes on.
  const bool to_outbox = persistence_ && !msg->sender_id().empty() && persistence_->outbox_wants(msg->topic);
  const bool refusable = publisher_ != nullptr && msg->qos > 0;
  if (to_outbox && refusable) {
    if (Reason r = persistence_->outbox_admit(*msg); r != Reason::Success) {
      stats_.drop(DropReason::Refused);
      return r;
    }
  }
  if (++match_epoch_ == 0) {
    // The epoch wrapped (2^32 messages): forget every session's mark so no stale one matches again.
    sessions_.for_each([](Session& s) { s.match_epoch = 0; });
    match_epoch_ = 1;
  }
  target_count_ = 0;
  std::vector<SharedPick>& shared = shared_picks_;
  shared.clear();
  trie_.match(
      msg->topic,
      [&](const SubEntry& e) {
        Session* s = e.session;
        if (e.options.no_local && s->client_id == msg->sender_id()) return;
        if (s->match_epoch != match_epoch_) {
          s->match_epoch = match_epoch_;
          s->match_index = static_cast<std::uint32_t>(target_count_);
          if (target_count_ == targets_.size()) targets_.push_back(Target{});
          Target& t = targets_[target_count_++];
          t.session = s;
          t.qos = e.options.max_qos;
          t.retain_as_published = e.options.retain_as_published;
          t.ids.clear();
          if (e.subscription_id != 0) t.ids.push_back(e.subscription_id);
          return;
        }
        Target& t = targets_[s->match_index];
        t.qos = std::max(t.qos, e.options.max_qos);
        t.retain_as_published |= e.options.retain_as_published;
        if (e.subscription_id != 0) t.ids.push_back(e.subscription_id);
      },
      [&](SharedGroup& g) {
        // MQTT 5.0 §4.8.2: one member of the group gets it; prefer connected members, round robin.
        const std::size_t n = g.members.size();
        for (std::size_t k = 0; k < n; ++k) {
          const SubEntry& e = g.members[(g.next + k) % n];
          if (e.session->conn != nullptr || k + 1 == n) {
            g.next = (g.next + k + 1) % n;
            shared.push_back(SharedPick{e.session, e});
            return;
          }
        }
      });
  // Persistent sessions' stored queues (store.session_queue under reject_new) are checked before anything
  // is routed (stored_queue.cpp).
  if (refusable && refuses_any(*msg)) return Reason::QuotaExceeded;
  if (msg->retain) {
    const std::int64_t updated_ms = clock_.unix_ms();  // one reading for memory and the store
    auto r = retained_.set(msg, updated_ms);
    if (r == RetainedStore::SetResult::LimitReached) {
      stats_.drop(DropReason::RetainedLimit);
    } else if (persistence_ && r != RetainedStore::SetResult::NothingToClear) {
      persistence_->retained(*msg, updated_ms);
    }
  }
  // Messages bound for the cloud enter the outbox; a failure only known at its commit (I/O error, disk
  // full) reaches the publisher through its ticket. Broker-generated topics ($SYS) never go up.
  if (to_outbox) {
    std::function<void(Reason)> done;
    if (ticket_) {
      done = [t = ticket_](Reason r) {
        if (r != Reason::Success && t->reason == Reason::Success) t->reason = r;
      };
    }
    persistence_->outbox_enqueue(*msg, std::move(done));
  }
  if (persistence_) persistence_->history(*msg);
  // deliver() never publishes (closing a slow consumer only starts an asynchronous close; a publisher
  // held back is released later, from pump()), so targets_ stays as the match filled it for the loop.
  for (std::size_t i = 0; i < target_count_; ++i) {
    Target& t = targets_[i];
    Delivery d;
    d.msg = msg;
    d.qos = std::min(msg->qos, t.qos);
    d.retain = t.retain_as_published && msg->retain;  // MQTT 3.1.1 §3.3.1.3: cleared when live
    d.subscription_ids = t.ids;
    deliver(*t.session, std::move(d));
  }
  for (auto& pick : shared) {
    Delivery d;
    d.msg = msg;
    d.qos = std::min(msg->qos, pick.entry.options.max_qos);
    d.retain = pick.entry.options.retain_as_published && msg->retain;
    if (pick.entry.subscription_id != 0) d.subscription_ids.push_back(pick.entry.subscription_id);
    deliver(*pick.session, std::move(d));
  }
  return Reason::Success;
}

void Broker::deliver_to(Session& s, const MessagePtr& m, std::uint8_t qos) {
  Delivery d;
  d.msg = m;
  d.qos = std::min(qos, m->qos);
  deliver(s, std::move(d));
}

void Broker::deliver(Session& s, Delivery&& d) {
  if (d.msg->expiry_at != 0 && d.msg->expiry_at <= clock_.now_ms()) {
    stats_.drop(DropReason::Expired);
    return;
  }
  Connection* c = s.conn;
  if (c == nullptr || c->state() != Connection::State::Connected) {
    if (d.qos == 0) {
      stats_.drop(DropReason::OfflineQos0);
      return;
    }
    if (s.persistent() && persistence_) d.seq = ++s.last_seq;
    enqueue(s, std::move(d));
    return;
  }
  if (!c->fits(d)) {
    stats_.drop(DropReason::TooLarge);
    return;
  }
  if (d.qos == 0) {
    if (!c->writable() && limits_.qos0_full_policy == config::Qos0FullPolicy::Pause && may_hold(s)) {
      // Over the watermark by this one message; the publisher waits until the socket drains.
      c->send_publish(d, 0, false);
      hold(s);
      return;
    }
    if (!c->writable()) {
      if (limits_.slow_consumer_policy == config::SlowConsumerPolicy::Disconnect) {
        c->close_with(mqtt::Reason::ImplementationSpecificError, "slow consumer");
      }
      stats_.drop(DropReason::SlowConsumer);
      return;
    }
    c->send_publish(d, 0, false);
    return;
  }
  if (s.persistent() && persistence_) d.seq = ++s.last_seq;
  const bool tail = s.stored_tail && s.stored_tail->rows > 0;  // older messages wait in the store
  if (s.queue.empty() && !tail && s.inflight.size() < c->send_window() && c->writable()) {
    send_inflight(s, std::move(d), false);
  } else {
    enqueue(s, std::move(d));
  }
}

bool Broker::queue_full(const Session& s, std::size_t size) const {
  return s.queue.size() >= limits_.max_queued_messages || s.queued_bytes + size > limits_.max_queued_bytes;
}

bool Broker::make_room(Session& s, std::size_t size) {
  while (queue_full(s, size)) {
    if (limits_.queue_policy == config::QueuePolicy::DropNew || s.queue.empty()) {
      stats_.drop(DropReason::QueueFull);
      return false;
    }
    s.queued_bytes -= s.queue.front().msg->memory_size();
    if (s.queue.front().seq != 0) persistence_->message_deleted(s, s.queue.front().seq);
    s.queue.pop_front();
    stats_.drop(DropReason::QueueFull);
  }
  return true;
}

void Broker::enqueue(Session& s, Delivery&& d) {
  if ((s.persistent() || s.stored_tail) && persistence_) {
    enqueue_stored(s, std::move(d));
    return;
  }
  // In memory (a clean session, or no store). Online with a publisher to hold back: the message is
  // queued past the bound and the publisher waits (flow control); otherwise queue_policy decides.
  const std::size_t size = d.msg->memory_size();
  if (queue_full(s, size) && may_hold(s)) {
    hold(s);
  } else if (!make_room(s, size)) {
    return;
  }
  s.queued_bytes += size;
  s.queue.push_back(std::move(d));
  close_if_slow(s);
}

void Broker::close_if_slow(Session& s) {
  if (s.conn && s.conn->state() == Connection::State::Connected && !s.conn->writable() &&
      limits_.slow_consumer_policy == config::SlowConsumerPolicy::Disconnect) {
    s.conn->close_with(mqtt::Reason::ImplementationSpecificError, "slow consumer");
  }
}

bool Broker::may_hold(const Session& s) const {
  return publisher_ != nullptr && publisher_->session() != &s &&
         publisher_->state() == Connection::State::Connected && s.conn != nullptr &&
         s.conn->state() == Connection::State::Connected;
}

void Broker::hold(Session& s) {
  Waiters& w = full_[&s];
  if (w.conns.empty()) w.since = clock_.now_ms();
  const std::uint64_t id = publisher_->id();
  if (std::find(w.conns.begin(), w.conns.end(), id) != w.conns.end()) return;
  w.conns.push_back(id);
  publisher_->flow_hold();
}

void Broker::release_if_room(Session& s) {
  if (full_.empty()) return;
  auto it = full_.find(&s);
  if (it == full_.end()) return;
  // Hysteresis: waiters go once the queue is down to half its bounds, so they do not wake for every
  // single acknowledgement.
  Connection* c = s.conn;
  if (c && (s.queue.size() > limits_.max_queued_messages / 2 ||
            s.queued_bytes > limits_.max_queued_bytes / 2 || !c->writable()))
    return;
  release_waiters(s);
}

void Broker::release_waiters(Session& s) {
  release(take_waiters(s));
}

std::vector<std::uint64_t> Broker::take_waiters(const Session& s) {
  auto it = full_.find(&s);
  if (it == full_.end()) return {};
  std::vector<std::uint64_t> conns = std::move(it->second.conns);
  full_.erase(it);
  return conns;
}

void Broker::release(const std::vector<std::uint64_t>& conns) {
  // Released publishers handle what they had read, which may hold them on a session again.
  for (std::uint64_t id : conns) {
    if (Connection* p = connection_by_id(id)) p->flow_release();
  }
}

void Broker::send_inflight(Session& s, Delivery&& d, bool from_queue) {
  InflightOut f;
  f.packet_id = s.next_packet_id();
  f.state = d.qos == 1 ? InflightOut::State::AwaitPuback : InflightOut::State::AwaitPubrec;
  if (d.seq != 0) {
    auto st = d.qos == 1 ? storage::MessageState::AwaitPuback : storage::MessageState::AwaitPubrec;
    if (from_queue) {
      persistence_->message_state(s, d.seq, st, f.packet_id);
    } else {
      persistence_->message_put(s, d, st, f.packet_id);
    }
  }
  f.delivery = std::move(d);
  s.conn->send_publish(f.delivery, f.packet_id, false);
  s.inflight.push_back(std::move(f));
}

void Broker::pump(Session& s) {
  Connection* c = s.conn;
  if (c == nullptr || c->state() != Connection::State::Connected) return;
  const Millis now = clock_.now_ms();
  while (!s.queue.empty() && s.inflight.size() < c->send_window() && c->writable()) {
    Delivery d = std::move(s.queue.front());
    s.queue.pop_front();
    s.queued_bytes -= d.msg->memory_size();
    if (s.stored_tail) s.stored_tail->window_bytes -= stored_size(d);
    const bool expired = d.msg->expiry_at != 0 && d.msg->expiry_at <= now;
    if (expired || !c->fits(d)) {
      stats_.drop(expired ? DropReason::Expired : DropReason::TooLarge);
      if (d.seq != 0) persistence_->message_deleted(s, d.seq);
      continue;
    }
    send_inflight(s, std::move(d), true);
  }
  if (s.stored_tail) read_stored(s);
  release_if_room(s);
}

void Broker::resume(Connection& c) {
  Session& s = *c.session();
  // MQTT 5.0 §4.4: resend unacknowledged PUBLISH (with DUP) and PUBREL, in their original order.
  for (auto& f : s.inflight) {
    if (f.state == InflightOut::State::AwaitPubcomp) {
      c.send_pubrel(f.packet_id);
    } else {
      c.send_publish(f.delivery, f.packet_id, true);
    }
  }
  pump(s);
}

namespace {
std::vector<InflightOut>::iterator find_inflight(Session& s, std::uint16_t id) {
  return std::find_if(s.inflight.begin(), s.inflight.end(),
                      [&](const InflightOut& f) { return f.packet_id == id; });
}
}  // namespace

void Broker::on_puback(Connection& c, std::uint16_t id) {
  Session& s = *c.session();
  auto it = find_inflight(s, id);
  if (it == s.inflight.end() || it->state != InflightOut::State::AwaitPuback) return;  // duplicate or unknown
  if (it->delivery.seq != 0) persistence_->message_deleted(s, it->delivery.seq);
  s.inflight.erase(it);
  pump(s);
}

void Broker::on_pubrec(Connection& c, std::uint16_t id, mqtt::Reason reason) {
  Session& s = *c.session();
  auto it = find_inflight(s, id);
  const bool refused = static_cast<int>(reason) >= 0x80;
  // MQTT 5.0 §4.3.3 [MQTT-4.3.3-4]: PUBREL answers only a PUBREC below 0x80. A refusal ends the flow;
  // a repeated one, for an id already forgotten, gets nothing (not even PUBREL 0x92).
  if (refused && (it == s.inflight.end() || it->state != InflightOut::State::AwaitPubrec)) return;
  if (it == s.inflight.end() || it->state == InflightOut::State::AwaitPuback) {
    // MQTT 5.0 §4.3.3: answer with PUBREL "Packet Identifier not found" so the client can clean up.
    if (c.version() == mqtt::Version::V5) {
      c.send(mqtt::Ack{mqtt::PacketType::Pubrel, id, mqtt::Reason::PacketIdentifierNotFound, {}});
    } else {
      c.send_pubrel(id);
    }
    return;
  }
  if (refused) {  // the client refused the message: the exchange ends here
    if (it->delivery.seq != 0) persistence_->message_deleted(s, it->delivery.seq);
    s.inflight.erase(it);
    pump(s);
    return;
  }
  it->state = InflightOut::State::AwaitPubcomp;
  if (it->delivery.seq != 0)
    persistence_->message_state(s, it->delivery.seq, storage::MessageState::AwaitPubcomp, id);
  it->delivery.msg = nullptr;  // only the packet id is needed from here on
  c.send_pubrel(id);
}

void Broker::on_pubcomp(Connection& c, std::uint16_t id) {
  Session& s = *c.session();
  auto it = find_inflight(s, id);
  if (it == s.inflight.end() || it->state != InflightOut::State::AwaitPubcomp) return;
  if (it->delivery.seq != 0) persistence_->message_deleted(s, it->delivery.seq);
  s.inflight.erase(it);
  pump(s);
}

}  // namespace gw::broker
