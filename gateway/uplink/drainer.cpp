// The outbox drainer (drainer.hpp). The store is the only retry queue: the session never holds more
// than the window, and a lost connection sends every outstanding row back to the store's queue, from
// where it is read again in order. Duplicates at the cloud are therefore bounded by the window. Reads
// run ahead of the window (at most max_batch rows held, the next read once half of them are gone), so
// a backlog drains without waiting on a store round trip per freed slot.
//
// A row the server refuses (v5 PUBACK >= 0x80, or a local check of a server limit such as its maximum
// packet size) is acknowledged away and counted: the same row would be refused again on every attempt,
// and keeping it would block the rows behind it for ever. The caller logs each refusal.
#include "gateway/uplink/drainer.hpp"

#include <algorithm>
#include <utility>

namespace gw::uplink {

Drainer::Drainer(OutboxPort& port, DrainOptions options) : port_(port), options_(std::move(options)) {
  if (options_.max_batch == 0) options_.max_batch = 1;
}

void Drainer::start() {
  ++stats_.requeues;
  port_.requeue({});
  more_ = true;
}

void Drainer::connected(std::uint16_t window, PublishFn publish, ReleaseFn release) {
  connected_ = true;
  window_ = std::max<std::uint16_t>(window, 1);
  publish_ = std::move(publish);
  release_ = std::move(release);
  more_ = true;
  pump();
}

void Drainer::disconnected() {
  if (!connected_) return;
  connected_ = false;
  publish_ = nullptr;
  release_ = nullptr;
  to_release_
      .clear();  // the next connection resends these PUBLISHes (DUP, same id); the server answers PUBREC
  ++generation_;
  reading_ = false;
  ready_.clear();  // marked in flight in the store: the requeue below covers them
  if (!to_ack_.empty()) port_.ack(storage::to_ranges(std::exchange(to_ack_, {})));
  outstanding_.clear();
  topics_.clear();
  ++stats_.requeues;
  port_.requeue({});
  more_ = true;
}

void Drainer::new_rows() {
  more_ = true;
  if (reading_) new_during_read_ = true;
  pump();
}

void Drainer::settle(std::uint64_t id) {
  if (outstanding_.erase(id) == 0) return;  // not ours (a stale event): nothing to acknowledge
  topics_.erase(id);
  to_ack_.push_back(id);
}

void Drainer::acked(mqtt::PublishTag tag) {
  if (!outstanding_.count(tag)) return;
  ++stats_.acked;
  settle(tag);
}

void Drainer::refused(mqtt::PublishTag tag, const std::string& why) {
  if (!outstanding_.count(tag)) return;
  ++stats_.refused;
  auto t = topics_.find(tag);
  refused_rows_.push_back(RefusedRow{tag, t == topics_.end() ? std::string() : t->second, why});
  settle(tag);
}

void Drainer::received(mqtt::PublishTag tag) {
  if (outstanding_.count(tag)) to_release_.push_back(tag);
}

void Drainer::flush() {
  if (!to_release_.empty()) {
    auto ids = std::exchange(to_release_, {});
    port_.release(ids, [this, generation = generation_, ids](bool ok) {
      if (!ok) {
        stats_.release_errors += ids.size();  // no PUBREL: the stall check reconnects, PUBREC comes again
        return;
      }
      stats_.released += ids.size();
      if (generation != generation_ || !release_) return;  // that connection is gone
      for (std::uint64_t id : ids) {
        if (outstanding_.count(id)) release_(id);
      }
    });
  }
  pump();  // first: publishing from the read-ahead may settle rows (QoS 0, refusals) to acknowledge now
  if (!to_ack_.empty()) port_.ack(storage::to_ranges(std::exchange(to_ack_, {})));
}

std::vector<RefusedRow> Drainer::take_refused() {
  return std::exchange(refused_rows_, {});
}

void Drainer::set_rules(std::vector<RelayRule> rules, std::string topic_prefix, std::uint8_t max_qos) {
  options_.rules = std::move(rules);
  options_.topic_prefix = std::move(topic_prefix);
  options_.max_qos = max_qos;
}

std::optional<Millis> Drainer::refill(Millis now) {
  if (options_.rate_limit == 0) return std::nullopt;
  const double cap = options_.rate_limit;
  if (refilled_at_ < 0) {
    credit_ = cap;
  } else if (now > refilled_at_) {
    credit_ = std::min(cap, credit_ + static_cast<double>(now - refilled_at_) * cap / 1000.0);
  }
  refilled_at_ = now;
  pump();
  if (!connected_ || (ready_.empty() && !more_) || credit_ >= 1.0) return std::nullopt;
  return now + static_cast<Millis>((1.0 - credit_) * 1000.0 / cap) + 1;
}

void Drainer::pump() {
  if (!connected_) return;
  publish_ready();
  // Read ahead: the next batch is fetched while the window is still busy with the last one, so the
  // window never waits for a store round trip. At most max_batch rows are held here.
  if (reading_ || !more_ || ready_.size() > options_.max_batch / 2) return;
  const auto asked = static_cast<std::uint32_t>(options_.max_batch - ready_.size());
  const std::uint64_t generation = generation_;
  reading_ = true;
  new_during_read_ = false;
  ++stats_.reads;
  bool submitted = port_.read(asked, [this, generation](bool ok, std::vector<storage::OutboxRecord> rows) {
    on_rows(generation, ok, std::move(rows));
  });
  if (!submitted) {
    // The store's queue is full or it is stopping: try again on the next event (ack or new rows).
    reading_ = false;
    ++stats_.read_errors;
  }
}

void Drainer::on_rows(std::uint64_t generation, bool ok, std::vector<storage::OutboxRecord> rows) {
  if (generation != generation_) return;  // the connection it was for is gone; requeue covered them
  reading_ = false;
  if (!ok) {
    ++stats_.read_errors;
    return;  // retried on the next ack or new rows
  }
  // A short read is not proof of an empty queue: the store also cuts a read by bytes (max_bytes, and
  // half its WAL share when the disk is small: storage/README.md "Space: the disk bound"). Only an
  // empty read says the queue is drained.
  more_ = !rows.empty() || new_during_read_;
  for (storage::OutboxRecord& r : rows) ready_.push_back(std::move(r));
  flush();
}

void Drainer::publish_ready() {
  std::vector<std::uint64_t> back;  // rows the session could not take now
  while (!ready_.empty() && outstanding_.size() < window_ && publish_) {
    if (options_.rate_limit != 0) {
      if (credit_ < 1.0) break;  // refill() publishes again when credit has grown
      credit_ -= 1.0;
    }
    storage::OutboxRecord r = std::move(ready_.front());
    ready_.pop_front();
    auto mapped = map_up(options_.rules, options_.topic_prefix, options_.max_qos, r.msg.topic, r.msg.qos);
    if (!mapped) {
      ++stats_.refused;
      refused_rows_.push_back(
          RefusedRow{r.id, std::move(r.msg.topic), "the relay rule gives no valid topic"});
      to_ack_.push_back(r.id);
      continue;
    }
    mqtt::OutboundPublish p;
    p.topic = std::move(mapped->topic);
    p.payload = std::move(r.msg.payload);
    p.qos = mapped->qos;
    p.retain = r.msg.retain;
    p.tag = r.id;
    if (p.qos > 0) {
      p.packet_id = packet_id_of(r.id);
      p.dup = r.attempts > 1;                 // read before: it may have reached the cloud
      p.released = r.released && p.qos == 2;  // the cloud answered PUBREC before: only PUBREL is left
    }
    const std::uint8_t qos = p.qos;
    ++stats_.published;
    const mqtt::PublishStatus s = publish_(std::move(p));
    switch (s) {
      case mqtt::PublishStatus::Sent:
      case mqtt::PublishStatus::Queued:
        if (qos == 0) {
          // QoS 0 has no acknowledgement: written is as far as it goes.
          ++stats_.acked;
          to_ack_.push_back(r.id);
        } else {
          outstanding_.insert(r.id);
          topics_.emplace(r.id, std::move(r.msg.topic));
        }
        break;
      case mqtt::PublishStatus::Refused:
      case mqtt::PublishStatus::Invalid:
        // Refused already produced a PublishRefused event for this tag; the row is not outstanding, so
        // that event is ignored and the refusal is recorded here, once.
        ++stats_.refused;
        refused_rows_.push_back(RefusedRow{r.id, std::move(r.msg.topic),
                                           s == mqtt::PublishStatus::Invalid ? "invalid topic" : "refused"});
        to_ack_.push_back(r.id);
        break;
      case mqtt::PublishStatus::QueueFull:
      case mqtt::PublishStatus::NotConnected:
        // The session cannot take more now: this row and the ones read behind it go back to the store.
        back.push_back(r.id);
        for (const storage::OutboxRecord& rest : ready_) back.push_back(rest.id);
        ready_.clear();
        more_ = true;
        break;
    }
  }
  if (!back.empty()) {
    ++stats_.requeues;
    port_.requeue(storage::to_ranges(std::move(back)));
  }
}

}  // namespace gw::uplink
