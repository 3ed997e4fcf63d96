// The queue of a persistent session when the broker has a store (store.session_queue): every queued
// message is a Queued row of the store (written when it is queued, so a QoS >= 1 PUBLISH is acknowledged
// only once it is durably queued), and memory holds only the head of the queue while the client is
// connected (Session::queue, at most memory_rows messages). The rest, the tail, is a count (rows, bytes)
// and a seq (read_after): the store's Queued rows above it. This keeps a session that is offline for a
// day at a few dozen bytes of memory, however long its queue.
//
// Paging follows the outbox drainer's read-ahead (gateway/uplink/drainer.cpp): once the head is down to
// half of memory_rows, one read asks the store for what is missing, in seq order, and the rows join the
// head when it answers. Only one read is in flight per session; its number (StoredTail::reading) is
// forgotten when the client leaves or drop_oldest deletes rows, and a completion whose number is not
// current is discarded, its rows still being in the tail. While the tail is not empty new messages go
// to the tail, never to the head, so the send order is the queue order (MQTT 5.0 §4.6).
//
// The bound (rows and topic + payload bytes of the whole queue, head and tail; messages in flight are
// not counted) and its policy: reject_new refuses the publish before it reaches anyone
// (session_queue_full, asked by publish; v5 PUBACK 0x97, 3.1.1 no PUBACK); drop_oldest drops the head's
// first message, or when the head is empty the tail's oldest rows in the store (one delete).
#include <algorithm>

#include "gateway/base/log.hpp"
#include "gateway/broker/broker.hpp"

namespace gw::broker {

namespace {
std::uint64_t minus(std::uint64_t a, std::uint64_t b) {
  return a > b ? a - b : 0;
}
}  // namespace

bool Broker::session_queue_full(const Session& s, std::uint64_t bytes) const {
  if (!persistence_ || !(s.persistent() || s.stored_tail) || !session_queue_.reject_new) return false;
  const StoredTail* q = s.stored_tail.get();
  const std::uint64_t rows = s.queue.size() + (q ? q->rows : 0);
  const std::uint64_t queued_bytes = q ? q->window_bytes + q->bytes : 0;
  return rows + 1 > session_queue_.max_rows || queued_bytes + bytes > session_queue_.max_bytes;
}

bool Broker::refuses_any(const Message& m) {
  if (!persistence_ || !session_queue_.reject_new || m.qos == 0) return false;
  const std::uint64_t bytes = m.topic.size() + m.payload.size();
  bool refused = false;
  for (std::size_t i = 0; i < target_count_ && !refused; ++i) {
    refused = targets_[i].qos > 0 && session_queue_full(*targets_[i].session, bytes);
  }
  // Shared subscriptions: the member picked this time (publish's round robin).
  for (std::size_t i = 0; i < shared_picks_.size() && !refused; ++i) {
    const SharedPick& p = shared_picks_[i];
    refused = p.entry.options.max_qos > 0 && session_queue_full(*p.session, bytes);
  }
  if (!refused) return false;
  stats_.drop(DropReason::SessionQueueRejected);  // publish returns QuotaExceeded to the publisher
  return true;
}

bool Broker::make_stored_room(Session& s, std::uint64_t bytes) {
  StoredTail& q = *s.stored_tail;
  const auto& lim = session_queue_;
  auto rows = [&] { return s.queue.size() + q.rows; };
  while (rows() + 1 > lim.max_rows || q.window_bytes + q.bytes + bytes > lim.max_bytes) {
    if (lim.reject_new) return false;
    if (!s.queue.empty()) {
      // drop_oldest: the head's first message is the oldest queued.
      Delivery& old = s.queue.front();
      q.window_bytes -= stored_size(old);
      s.queued_bytes -= old.msg->memory_size();
      persistence_->message_deleted(s, old.seq);
      s.queue.pop_front();
      stats_.drop(DropReason::SessionQueueOldest);
      continue;
    }
    if (q.rows == 0) return false;  // the message alone is larger than max_bytes
    // The oldest rows are in the store: one delete of as many as the bound needs (the bytes by the
    // tail's average row, corrected when the store says what it deleted).
    std::uint64_t n = rows() + 1 > lim.max_rows ? rows() + 1 - lim.max_rows : 0;
    const std::uint64_t over = minus(q.window_bytes + q.bytes + bytes, lim.max_bytes);
    const std::uint64_t avg = std::max<std::uint64_t>(q.bytes / q.rows, 1);
    n = std::clamp<std::uint64_t>(std::max(n, (over + avg - 1) / avg), 1,
                                  std::min<std::uint64_t>(q.rows, 65535));
    const std::uint64_t guess = n == q.rows ? q.bytes : std::min(q.bytes, n * avg);
    q.rows -= n;
    q.bytes -= guess;
    q.reading = 0;  // a read in flight may return the rows deleted now: it is discarded
    stats_.drop(DropReason::SessionQueueOldest, n);
    persistence_->queue_drop(s, q.read_after, static_cast<std::uint32_t>(n),
                             [this, id = s.client_id, tail = q.id, guess](storage::SessionQueued got) {
                               Session* t = find_tail(id, tail);
                               if (t == nullptr || got.rows == 0) return;
                               t->stored_tail->bytes = minus(t->stored_tail->bytes + guess, got.bytes);
                             });
  }
  return true;
}

void Broker::enqueue_stored(Session& s, Delivery&& d) {
  if (!s.stored_tail) {
    s.stored_tail = std::make_unique<StoredTail>();
    s.stored_tail->id = ++stored_ids_;
  }
  StoredTail& q = *s.stored_tail;
  // A session resumed with expiry 0 keeps its stored queue until it ends: later messages join it in order.
  if (d.seq == 0) d.seq = ++s.last_seq;
  const std::uint64_t bytes = stored_size(d);
  if (!make_stored_room(s, bytes)) {
    // reject_new: publish refused client messages already (refuses_any); this is a will or a message
    // the broker made, which has nobody to tell.
    stats_.drop(DropReason::SessionQueueRejected);
    if (ticket_ && ticket_->reason == mqtt::Reason::Success) ticket_->reason = mqtt::Reason::QuotaExceeded;
    return;
  }
  const bool connected = s.conn && s.conn->state() == Connection::State::Connected;
  const std::size_t memory = d.msg->memory_size();
  if (connected && q.rows == 0 && s.queue.size() < session_queue_.memory_rows &&
      s.queued_bytes + memory <= limits_.max_queued_bytes) {
    // The head has room and nothing older waits in the store: queued in memory and in the store.
    persistence_->message_put(s, d, storage::MessageState::Queued, 0);
    q.window_bytes += bytes;
    q.read_after = d.seq;
    s.queued_bytes += memory;
    s.queue.push_back(std::move(d));
  } else {
    // The tail: only in the store. The publisher's acknowledgement waits for this write's commit.
    std::function<void(mqtt::Reason)> done;
    if (ticket_) {
      done = [t = ticket_](mqtt::Reason r) {
        if (r != mqtt::Reason::Success && t->reason == mqtt::Reason::Success) t->reason = r;
      };
    }
    if (persistence_->message_spill(s, d, std::move(done))) {
      q.rows++;
      q.bytes += bytes;
    }
  }
  close_if_slow(s);
}

void Broker::read_stored(Session& s) {
  StoredTail& q = *s.stored_tail;
  Connection* c = s.conn;
  if (c == nullptr || c->state() != Connection::State::Connected) return;
  if (q.reading != 0 || q.rows == 0 || s.queue.size() > session_queue_.memory_rows / 2) return;
  const auto asked = static_cast<std::uint32_t>(session_queue_.memory_rows - s.queue.size());
  const std::uint64_t read = ++stored_ids_;
  q.reading = read;
  q.rows_at_read = q.rows;
  const bool sent = persistence_->queue_read(
      s, q.read_after, asked, [this, id = s.client_id, read, asked](bool ok, std::vector<Delivery> rows) {
        on_stored_rows(id, read, asked, ok, std::move(rows));
      });
  if (!sent) q.reading = 0;  // the store's queue is full: tick() asks again
}

void Broker::on_stored_rows(const std::string& client_id, std::uint64_t read, std::uint32_t asked, bool ok,
                            std::vector<Delivery> rows) {
  Session* s = sessions_.find(client_id);
  if (s == nullptr || !s->stored_tail || s->stored_tail->reading != read) return;  // stale
  StoredTail& q = *s->stored_tail;
  q.reading = 0;
  if (!ok) return;  // tick() asks again
  for (Delivery& d : rows) {
    const std::uint64_t bytes = stored_size(d);
    q.rows = minus(q.rows, 1);
    q.bytes = minus(q.bytes, bytes);
    q.window_bytes += bytes;
    q.read_after = d.seq;
    s->queued_bytes += d.msg->memory_size();
    s->queue.push_back(std::move(d));
  }
  // Fewer rows than the tail had when the read was submitted: the missing writes failed (the store
  // refused them, and their publishers were told); the count follows the store.
  const std::uint64_t expected = std::min<std::uint64_t>(asked, q.rows_at_read);
  if (rows.size() < expected) {
    GW_LOG(Warn, "broker", "session %s: %llu queued messages were not in the store", client_id.c_str(),
           static_cast<unsigned long long>(expected - rows.size()));
    q.rows = minus(q.rows, expected - rows.size());
    if (q.rows == 0) q.bytes = 0;
  }
  pump(*s);
}

void Broker::release_window(Session& s) {
  if (!s.stored_tail) return;
  StoredTail& q = *s.stored_tail;
  q.reading = 0;
  if (s.queue.empty()) return;
  // Every queued message of the head is a Queued row of the store, and the tail is above them: the tail
  // now starts just below the head's first message.
  q.read_after = s.queue.front().seq - 1;
  q.rows += s.queue.size();
  q.bytes += q.window_bytes;
  q.window_bytes = 0;
  s.queued_bytes = 0;
  s.queue.get().clear();
}

Session* Broker::find_tail(const std::string& client_id, std::uint64_t tail_id) {
  Session* s = sessions_.find(client_id);
  return s != nullptr && s->stored_tail && s->stored_tail->id == tail_id ? s : nullptr;
}

}  // namespace gw::broker
