// Implementation of the broker's persistence: conversions between broker sessions/messages and the
// store's plain records. Times cross as wall-clock Unix seconds (the store outlives the process, the
// monotonic clock does not); order crosses as per-session sequence numbers, never as time.
#include "gateway/broker/persistence.hpp"

#include <algorithm>

#include "gateway/base/log.hpp"
#include "protocols/mqtt/property_blob.hpp"
#include "protocols/mqtt/topic.hpp"

namespace gw::broker {
namespace {

bool is_sys_topic(std::string_view topic) {
  return topic.substr(0, 5) == "$SYS/";
}

}  // namespace

using storage::MessageState;

mqtt::Reason reason_for(storage::Status st) {
  switch (st) {
    case storage::Status::Ok:
      return mqtt::Reason::Success;
    case storage::Status::QuotaExceeded:
    case storage::Status::DiskFull:
      // MQTT 5.0 §3.4.2.1: 0x97 "an implementation or administrative imposed limit has been exceeded":
      // the disk bound (store.max_db_bytes or the file system) is one, and it is push-back, not a fault.
      return mqtt::Reason::QuotaExceeded;
    case storage::Status::QueueFull:
    case storage::Status::Busy:
      return mqtt::Reason::ServerBusy;
    default:
      return mqtt::Reason::ImplementationSpecificError;  // read-only, I/O error, corrupt ...
  }
}

Persistence::Persistence(storage::Store& store, const Clock& clock, std::vector<OutboxRoute> routes)
    : store_(store), clock_(clock), routes_(std::move(routes)) {}

void Persistence::submitted(storage::Status st) {
  if (st == storage::Status::Ok) {
    dirty_ = true;
    return;
  }
  // The store refused the write (its queue is full or it stopped): counted and logged; the message
  // stays in memory, so only a crash before the next successful write could lose it.
  if (refused_++ % 1000 == 0) {
    GW_LOG(Warn, "store", "write refused (%s); %llu refused so far",
           std::string(storage::to_string(st)).c_str(), static_cast<unsigned long long>(refused_));
  }
}

std::int64_t Persistence::to_unix(Millis deadline) const {
  if (deadline == 0) return 0;
  return clock_.unix_seconds() + (deadline - clock_.now_ms() + 999) / 1000;
}

Millis Persistence::from_unix(std::int64_t unix_s) const {
  if (unix_s == 0) return 0;
  Millis at = clock_.now_ms() + (unix_s - clock_.unix_seconds()) * 1000;
  return at == 0 ? 1 : at;
}

namespace {
storage::SessionMeta meta_of(const Session& s, std::int64_t now_unix) {
  storage::SessionMeta m;
  m.client_id = s.client_id;
  m.expiry_interval_s = s.expiry_interval;
  m.disconnected_unix = s.conn ? 0 : now_unix;
  return m;
}
storage::Subscription sub_of(const std::string& filter, const SessionSubscription& sub) {
  storage::Subscription out;
  out.filter = filter;
  out.qos = sub.options.max_qos;
  out.no_local = sub.options.no_local;
  out.retain_as_published = sub.options.retain_as_published;
  out.retain_handling = sub.options.retain_handling;
  out.subscription_id = sub.subscription_id;
  return out;
}
}  // namespace

void Persistence::session_saved(const Session& s) {
  if (!s.persistent()) return;
  storage::SessionRecord r;
  r.meta = meta_of(s, clock_.unix_seconds());
  for (const auto& [filter, sub] : s.subscriptions) r.subscriptions.push_back(sub_of(filter, sub));
  submitted(store_.session_save(std::move(r)));
}

void Persistence::session_meta(const Session& s) {
  if (!s.persistent()) return;
  submitted(store_.session_put_meta(meta_of(s, clock_.unix_seconds())));
}

void Persistence::session_deleted(const std::string& client_id) {
  submitted(store_.session_delete(client_id));
}

void Persistence::subscribed(const Session& s, const std::string& filter, const SessionSubscription& sub) {
  if (s.persistent()) submitted(store_.session_subscribe(s.client_id, sub_of(filter, sub)));
}

void Persistence::unsubscribed(const Session& s, const std::string& filter) {
  if (s.persistent()) submitted(store_.session_unsubscribe(s.client_id, filter));
}

storage::SessionMessage Persistence::record_of(const Delivery& d, MessageState st,
                                               std::uint16_t packet_id) const {
  storage::SessionMessage m;
  m.seq = d.seq;
  m.packet_id = packet_id;
  m.state = st;
  m.qos = d.qos;
  m.retain = d.retain;
  m.topic = d.msg->topic;
  m.payload = d.msg->payload;
  mqtt::Properties props;
  if (d.msg->props) props = *d.msg->props;
  props.subscription_identifiers = d.subscription_ids;
  m.properties = mqtt::encode_publish_properties(props);
  m.expiry_unix = to_unix(d.msg->expiry_at);
  return m;
}

void Persistence::message_put(const Session& s, const Delivery& d, MessageState st, std::uint16_t packet_id) {
  submitted(store_.session_message_put(s.client_id, record_of(d, st, packet_id)));
}

bool Persistence::message_spill(const Session& s, const Delivery& d, std::function<void(mqtt::Reason)> done) {
  storage::Store::Done cb;
  if (done) cb = [done](storage::Status st) { done(reason_for(st)); };
  auto st = store_.session_message_put(s.client_id, record_of(d, MessageState::Queued, 0), std::move(cb));
  submitted(st);
  if (st != storage::Status::Ok && done) done(reason_for(st));
  return st == storage::Status::Ok;
}

bool Persistence::queue_read(const Session& s, std::uint64_t after_seq, std::uint32_t max_rows,
                             QueueReadDone done) {
  auto st = store_.session_queue_read(
      s.client_id, after_seq, max_rows,
      [this, done = std::move(done)](Result<std::vector<storage::SessionMessage>, storage::Status> r) {
        std::vector<Delivery> rows;
        if (!r) {
          done(false, std::move(rows));
          return;
        }
        rows.reserve(r->size());
        for (const auto& m : *r) rows.push_back(delivery_of(m));
        done(true, std::move(rows));
      });
  if (st != storage::Status::Ok) submitted(st);
  return st == storage::Status::Ok;
}

void Persistence::queue_drop(const Session& s, std::uint64_t after_seq, std::uint32_t rows,
                             std::function<void(storage::SessionQueued)> done) {
  storage::Store::SessionDropDone cb;
  if (done) {
    cb = [done = std::move(done)](Result<storage::SessionQueued, storage::Status> r) {
      done(r ? *r : storage::SessionQueued{});
    };
  }
  submitted(store_.session_queue_drop(s.client_id, after_seq, rows, std::move(cb)));
}

void Persistence::message_state(const Session& s, std::uint64_t seq, MessageState st,
                                std::uint16_t packet_id) {
  submitted(store_.session_message_update(s.client_id, seq, st, packet_id));
}

void Persistence::message_deleted(const Session& s, std::uint64_t seq) {
  submitted(store_.session_message_delete(s.client_id, seq));
}

void Persistence::inbound_qos2(const Session& s, std::uint64_t seq, std::uint16_t packet_id) {
  storage::SessionMessage m;
  m.seq = seq;
  m.packet_id = packet_id;
  m.state = MessageState::AwaitPubrel;
  m.qos = 2;
  submitted(store_.session_message_put(s.client_id, std::move(m)));
}

void Persistence::retained(const Message& m, std::int64_t updated_ms) {
  // $SYS values describe this process; a restart publishes fresh ones (mosquitto does not keep them either).
  if (is_sys_topic(m.topic)) return;
  storage::RetainedMessage r;
  r.topic = m.topic;
  r.payload = m.payload;
  if (m.props) r.properties = mqtt::encode_publish_properties(*m.props);
  r.qos = m.qos;
  r.expiry_unix = to_unix(m.expiry_at);
  r.updated_ms = updated_ms;
  submitted(store_.retained_set(std::move(r)));
}

void Persistence::history(const Message& m) {
  if (!store_.history_wants(m.topic)) return;
  storage::HistoryMessage h;
  h.topic = m.topic;
  h.payload = m.payload;
  if (m.props) h.properties = mqtt::encode_publish_properties(*m.props);
  h.qos = m.qos;
  submitted(store_.history_record(std::move(h)));
}

bool Persistence::outbox_wants(std::string_view topic) const {
  return std::any_of(routes_.begin(), routes_.end(),
                     [&](const OutboxRoute& r) { return mqtt::topic_matches(r.filter, topic); });
}

std::vector<const OutboxRoute*> Persistence::routes_for(std::string_view topic) const {
  // One row per destination, from its first matching route.
  std::vector<const OutboxRoute*> picked;
  for (const OutboxRoute& r : routes_) {
    if (!mqtt::topic_matches(r.filter, topic)) continue;
    const bool seen =
        std::any_of(picked.begin(), picked.end(), [&](const OutboxRoute* p) { return p->dest == r.dest; });
    if (!seen) picked.push_back(&r);
  }
  return picked;
}

namespace {
// A row's size as the outbox bounds count it (storage/README.md "Bounds": origin + topic + payload +
// properties).
std::uint64_t outbox_row_bytes(const Message& m, std::size_t props_bytes) {
  return m.sender_id().size() + m.topic.size() + m.payload.size() + props_bytes;
}
}  // namespace

storage::OutboxBacklog Persistence::growth(const std::string& dest, std::uint64_t bytes) const {
  const auto& quotas = store_.options().outbox.quotas;
  auto q = quotas.find(dest);
  if (q == quotas.end() || (q->second.max_rows == 0 && q->second.max_bytes == 0)) return {1, bytes};
  const storage::OutboxQuota& quota = q->second;
  if (quota.max_bytes > 0 && bytes > quota.max_bytes) return {};  // never fits: refused whatever the policy
  storage::OutboxBacklog cur = store_.outbox_backlog(dest);
  if (auto p = pending_->dests.find(dest); p != pending_->dests.end()) {
    cur.rows += p->second.rows;
    cur.bytes += p->second.bytes;
  }
  const bool over_rows = quota.max_rows > 0 && cur.rows + 1 > quota.max_rows;
  const bool over_bytes = quota.max_bytes > 0 && cur.bytes + bytes > quota.max_bytes;
  if (!over_rows && !over_bytes) return {1, bytes};
  if (quota.policy == storage::FullPolicy::RejectNew) return {};
  // drop_oldest deletes at least one of the destination's own rows for it: no row more, and its bytes
  // stay within the quota.
  const std::uint64_t room =
      quota.max_bytes > 0 && quota.max_bytes > cur.bytes ? quota.max_bytes - cur.bytes : 0;
  return {0, quota.max_bytes > 0 ? std::min(bytes, room) : bytes};
}

mqtt::Reason Persistence::outbox_admit(const Message& m) const {
  const storage::OutboxLimits& limits = store_.options().outbox;
  if (limits.policy != storage::FullPolicy::RejectNew) return mqtt::Reason::Success;
  const std::uint64_t row_bytes =
      outbox_row_bytes(m, m.props ? mqtt::encode_publish_properties(*m.props).size() : 0);
  // Only what the rows add: a row its uplink's quota refuses is not written, and does not count.
  std::uint64_t rows = 0;
  std::uint64_t bytes = 0;
  for (const OutboxRoute* r : routes_for(m.topic)) {
    const storage::OutboxBacklog g = growth(r->dest, row_bytes);
    rows += g.rows;
    bytes += g.bytes;
  }
  if (rows == 0 && bytes == 0) return mqtt::Reason::Success;
  const storage::StoreStats st = store_.stats();
  const bool over_rows = limits.max_rows > 0 && st.outbox_rows + pending_->rows + rows > limits.max_rows;
  const bool over_bytes =
      limits.max_bytes > 0 && st.outbox_bytes + pending_->bytes + bytes > limits.max_bytes;
  return over_rows || over_bytes ? mqtt::Reason::QuotaExceeded : mqtt::Reason::Success;
}

void Persistence::outbox_enqueue(const Message& m, std::function<void(mqtt::Reason)> done) {
  std::vector<const OutboxRoute*> picked = routes_for(m.topic);
  if (picked.empty()) {
    if (done) done(mqtt::Reason::Success);
    return;
  }
  // `done` runs once, after the last row's answer, with the first failure if any.
  struct Join {
    std::size_t pending;
    mqtt::Reason reason = mqtt::Reason::Success;
    std::function<void(mqtt::Reason)> done;
    void one(mqtt::Reason r) {
      if (r != mqtt::Reason::Success && reason == mqtt::Reason::Success) reason = r;
      if (--pending == 0 && done) done(reason);
    }
  };
  auto join = std::make_shared<Join>(Join{picked.size(), mqtt::Reason::Success, std::move(done)});
  std::string props;
  if (m.props) props = mqtt::encode_publish_properties(*m.props);
  for (const OutboxRoute* r : picked) {
    storage::OutboxMessage o;
    o.origin = std::string(m.sender_id());
    o.dest = r->dest;
    o.lane = r->lane;
    o.topic = m.topic;
    o.payload = m.payload;
    o.properties = props;
    o.qos = m.qos;
    o.retain = m.retain;
    o.expiry_unix = to_unix(m.expiry_at);  // MQTT 5 message expiry: the outbox honours it (never sent late)
    storage::Store::EnqueueDone cb;
    const storage::OutboxBacklog g = growth(r->dest, outbox_row_bytes(m, props.size()));
    if (join->done) {
      cb = [join, pending = pending_, g,
            dest = r->dest](Result<storage::OutboxEnqueued, storage::Status> res) {
        pending->rows -= g.rows;
        pending->bytes -= g.bytes;
        if (auto d = pending->dests.find(dest); d != pending->dests.end()) {
          d->second.rows -= g.rows;
          d->second.bytes -= g.bytes;
          if (d->second.rows == 0 && d->second.bytes == 0) pending->dests.erase(d);
        }
        join->one(res.ok() ? mqtt::Reason::Success : reason_for(res.error()));
      };
    }
    auto st = store_.outbox_enqueue(std::move(o), std::move(cb));
    submitted(st);
    if (st == storage::Status::Ok && join->done && (g.rows > 0 || g.bytes > 0)) {
      pending_->rows += g.rows;
      pending_->bytes += g.bytes;
      storage::OutboxBacklog& d = pending_->dests[r->dest];  // erased by the completion when back to 0
      d.rows += g.rows;
      d.bytes += g.bytes;
    }
    if (st != storage::Status::Ok && join->done) join->one(reason_for(st));
  }
}

void Persistence::barrier(std::function<void(mqtt::Reason)> done) {
  dirty_ = false;
  auto st = store_.barrier([done](storage::Status s) { done(reason_for(s)); });
  if (st != storage::Status::Ok) {
    submitted(st);
    done(reason_for(st));
  }
}

MessagePtr Persistence::make_message(const std::string& topic, const std::string& payload,
                                     const std::string& props, std::uint8_t qos, bool retain,
                                     std::int64_t expiry_unix) const {
  auto m = std::make_shared<Message>();
  m->topic = topic;
  m->payload = payload;
  m->qos = qos;
  m->retain = retain;
  m->expiry_at = from_unix(expiry_unix);
  if (!props.empty()) {
    auto p = mqtt::decode_publish_properties(props);
    if (p.ok()) {
      p->subscription_identifiers.clear();
      m->props = forwarded_properties(*p);
    }
  }
  return m;
}

Delivery Persistence::delivery_of(const storage::SessionMessage& m) const {
  Delivery d;
  d.seq = m.seq;
  d.qos = m.qos;
  d.retain = m.retain;
  d.msg = make_message(m.topic, m.payload, m.properties, m.qos, m.retain, m.expiry_unix);
  if (!m.properties.empty()) {
    if (auto p = mqtt::decode_publish_properties(m.properties); p.ok())
      d.subscription_ids = p->subscription_identifiers;
  }
  return d;
}

Result<Persistence::Restored, std::string> Persistence::restore(std::uint32_t max_queued) {
  Restored out;
  auto retained = store_.load_retained();
  if (!retained)
    return unexpected("loading retained messages: " + std::string(storage::to_string(retained.error())));
  for (auto& r : *retained) {
    if (is_sys_topic(r.topic)) {
      // Written by versions that kept $SYS values: the dead process's numbers are dropped, not restored.
      submitted(store_.retained_clear(r.topic));
      continue;
    }
    out.retained.push_back(make_message(r.topic, r.payload, r.properties, r.qos, true, r.expiry_unix));
    out.retained_updated_ms.push_back(r.updated_ms);
  }
  auto sessions = store_.load_sessions(max_queued, &out.expired);
  if (!sessions) return unexpected("loading sessions: " + std::string(storage::to_string(sessions.error())));
  const Millis now = clock_.now_ms();
  const std::int64_t now_unix = clock_.unix_seconds();
  for (auto& rec : *sessions) {
    auto s = std::make_unique<Session>(rec.meta.client_id);
    s->expiry_interval = rec.meta.expiry_interval_s;
    if (s->expiry_interval != Session::kNeverExpires) {
      // A session connected when the process died counts as disconnected from now.
      std::int64_t since = rec.meta.disconnected_unix != 0 ? rec.meta.disconnected_unix : now_unix;
      s->expires_at = now + (since + static_cast<std::int64_t>(s->expiry_interval) - now_unix) * 1000;
      if (s->expires_at <= 0) s->expires_at = 1;
    }
    for (auto& sub : rec.subscriptions) {
      SessionSubscription ss;
      ss.options.max_qos = sub.qos;
      ss.options.no_local = sub.no_local;
      ss.options.retain_as_published = sub.retain_as_published;
      ss.options.retain_handling = sub.retain_handling;
      ss.subscription_id = sub.subscription_id;
      s->subscriptions[sub.filter] = ss;
    }
    s->last_seq = rec.last_seq;
    storage::SessionQueued loaded;
    std::uint64_t last_loaded = 0;
    for (auto& m : rec.messages) {
      s->last_seq = std::max(s->last_seq, m.seq);
      if (m.state == MessageState::AwaitPubrel) {
        s->inbound_qos2[m.packet_id] = m.seq;
        continue;
      }
      Delivery d = delivery_of(m);
      if (m.state == MessageState::Queued) {
        loaded.rows++;
        loaded.bytes += stored_size(d);
        last_loaded = m.seq;
        s->queued_bytes += d.msg->memory_size();
        s->queue.push_back(std::move(d));
        continue;
      }
      InflightOut f;
      f.packet_id = m.packet_id;
      f.state = m.state == MessageState::AwaitPuback   ? InflightOut::State::AwaitPuback
                : m.state == MessageState::AwaitPubrec ? InflightOut::State::AwaitPubrec
                                                       : InflightOut::State::AwaitPubcomp;
      f.delivery = std::move(d);
      s->last_packet_id = std::max(s->last_packet_id, f.packet_id);
      s->inflight.push_back(std::move(f));
    }
    if (rec.queued.rows > 0) {
      // The queue beyond what was loaded stays in the store (stored_queue.cpp pages it in).
      s->stored_tail = std::make_unique<StoredTail>();
      s->stored_tail->rows = rec.queued.rows - std::min(rec.queued.rows, loaded.rows);
      s->stored_tail->bytes = rec.queued.bytes - std::min(rec.queued.bytes, loaded.bytes);
      s->stored_tail->window_bytes = loaded.bytes;
      s->stored_tail->read_after = last_loaded;
    }
    out.sessions.push_back(std::move(s));
  }
  return out;
}

}  // namespace gw::broker
