// The outbox drainer (drainer.hpp). The store is the only retry queue: the session never holds more
// than the window, and a lost connection sends every outstanding row back to the store's queue, from
// where it is read again in order. Duplicates at the cloud are therefore bounded by the window. Reads
// run ahead of the window (at most max_batch rows held, the next read once half of them are gone), so
// a backlog drains without waiting on a store round trip per freed slot.
//
// Live first: two streams (backlog: ids up to the mark taken at connect; live: above it), one read in
// flight per stream, each holding at most max_batch rows; pick() gives each window slot to one of them.
// With no live traffic the live stream's one read comes back empty and the backlog drains exactly as a
// single stream would.
//
// A row the server refuses (v5 PUBACK >= 0x80, or a local check of a server limit such as its maximum
// packet size) is acknowledged away and counted: the same row would be refused again on every attempt,
// and keeping it would block the rows behind it for ever. The caller logs each refusal.
#include "gateway/uplink/drainer.hpp"

#include <algorithm>
#include <utility>

#include "protocols/mqtt/property_blob.hpp"

namespace gw::uplink {

std::optional<ReplayOrder> parse_replay_order(std::string_view name) {
  if (name == "per_origin") return ReplayOrder::PerOrigin;
  if (name == "per_lane") return ReplayOrder::PerLane;
  if (name == "none") return ReplayOrder::None;
  return std::nullopt;
}

std::string_view to_string(ReplayOrder o) {
  switch (o) {
    case ReplayOrder::PerOrigin:
      return "per_origin";
    case ReplayOrder::PerLane:
      return "per_lane";
    case ReplayOrder::None:
      return "none";
  }
  return "?";
}

Drainer::Drainer(OutboxPort& port, DrainOptions options) : port_(port), options_(std::move(options)) {
  if (options_.max_batch == 0) options_.max_batch = 1;
  if (options_.read_rows == 0 || options_.read_rows > options_.max_batch)
    options_.read_rows = options_.max_batch;
  options_.live_share = std::clamp(options_.live_share, 0.0, 1.0);
}

void Drainer::start() {
  ++stats_.requeues;
  port_.requeue({});
  live_.more = true;
}

void Drainer::connected(std::uint16_t window, PublishFn publish, ReleaseFn release) {
  connected_ = true;
  window_ = std::max<std::uint16_t>(window, 1);
  publish_ = std::move(publish);
  release_ = std::move(release);
  live_ = Stream{};
  backlog_ = Stream{};
  live_credit_ = 0;
  skip_.clear();
  origins_pending_ = false;
  // per_lane has no backlog of its own: one stream, everything in (lane, id) order.
  top_ = options_.order == ReplayOrder::PerLane ? 0 : port_.last_id();
  live_after_ = top_;
  backlog_done_ = top_ == 0;
  if (!backlog_done_ && options_.order == ReplayOrder::PerOrigin) {
    origins_pending_ = true;
    const std::uint64_t generation = generation_;
    const bool asked =
        port_.backlog_origins(top_, [this, generation](bool ok, std::vector<std::string> origins) {
          if (generation != generation_ || !origins_pending_) return;
          origins_pending_ = false;
          // Without the list no live row may pass the backlog: the live stream waits for the backlog's end.
          if (ok) {
            skip_ = std::move(origins);
          } else {
            live_.more = false;
          }
          pump();
        });
    if (!asked) {
      origins_pending_ = false;
      live_.more = false;  // read again once the backlog is done
    }
  }
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
  live_ = Stream{};  // read-ahead rows are in flight in the store: the requeue below covers them
  backlog_ = Stream{};
  origins_pending_ = false;
  if (!to_ack_.empty()) port_.ack(storage::to_ranges(std::exchange(to_ack_, {})));
  outstanding_.clear();
  ids_busy_.reset();
  topics_.clear();
  ++stats_.requeues;
  port_.requeue({});
}

void Drainer::new_rows() {
  // New rows are above the backlog's mark: the live stream's (the only one without a backlog).
  live_.more = true;
  if (live_.reading) live_.new_during_read = true;
  pump();
}
void Drainer::settle(std::uint64_t id) {
  if (outstanding_.erase(id) == 0) return;  // not ours (a stale event): nothing to acknowledge
  ids_busy_.reset(packet_id_of(id));
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
  pump();  // first: publishing from the read-ahead may settle rows (QoS 0, refusals) to acknowledge now
  // The acknowledgements first: a release closes the store's batch within 300 us, so the acks of this batch
  // of events commit in the same transaction as it instead of in one of their own (storage/README.md
  // "Released").
  if (!to_ack_.empty()) port_.ack(storage::to_ranges(std::exchange(to_ack_, {})));
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
  const bool waiting = !live_.ready.empty() || !backlog_.ready.empty() || live_.more || backlog_.more;
  if (!connected_ || !waiting || credit_ >= 1.0) return std::nullopt;
  return now + static_cast<Millis>((1.0 - credit_) * 1000.0 / cap) + 1;
}

void Drainer::pump() {
  if (!connected_) return;
  publish_ready();
  if (!backlog_done_ && backlog_.ready.empty() && !backlog_.more && !backlog_.reading) {
    // The backlog is sent (what is in flight went before anything read from now on): from here on one
    // stream reads everything, including the rows of the origins it left out.
    backlog_done_ = true;
    skip_.clear();
    live_.more = true;
    if (live_.reading) live_.new_during_read = true;  // that read had the old range: read again after it
  }
  // Read ahead: the next batch is fetched while the window is still busy with the last one, so the
  // window never waits for a store round trip. At most max_batch rows are held per stream.
  if (!backlog_done_) read(backlog_, false);
  if (!origins_pending_) read(live_, true);
}

void Drainer::read(Stream& s, bool live) {
  // With read_rows = max_batch: the next read once half are gone, asking for what is missing.
  const std::size_t missing = options_.max_batch - std::min<std::size_t>(s.ready.size(), options_.max_batch);
  if (s.reading || !s.more || missing < std::min(options_.read_rows, (options_.max_batch + 1) / 2)) return;
  const auto asked = static_cast<std::uint32_t>(std::min<std::size_t>(missing, options_.read_rows));
  OutboxPort::Range range;
  if (!backlog_done_) {
    if (live) {
      range.after_id = live_after_;
      range.skip_origins = skip_;
    } else {
      range.up_to_id = top_;
    }
  }
  const std::uint64_t generation = generation_;
  const std::uint64_t epoch = requeue_epoch_;
  s.reading = true;
  s.new_during_read = false;
  ++stats_.reads;
  bool submitted =
      port_.read(range, asked,
                 [this, generation, epoch, live](bool ok, std::vector<storage::OutboxRecord> rows,
                                                 std::uint64_t scanned_to) {
                   if (generation == generation_ && epoch != requeue_epoch_) {
                     requeue_stale(live, ok, rows);
                     return;
                   }
                   on_rows(generation, live, ok, std::move(rows), scanned_to);
                 });
  if (!submitted) {
    // The store's queue is full or it is stopping: try again on the next event (ack or new rows).
    s.reading = false;
    ++stats_.read_errors;
  }
}

void Drainer::requeue_stale(bool live, bool ok, const std::vector<storage::OutboxRecord>& rows) {
  Stream& s = live ? live_ : backlog_;
  s.reading = false;
  s.more = true;
  if (ok && !rows.empty()) {
    std::vector<std::uint64_t> back;
    back.reserve(rows.size());
    for (const storage::OutboxRecord& r : rows) back.push_back(r.id);
    ++stats_.requeues;
    port_.requeue(storage::to_ranges(std::move(back)));
  }
  pump();
}

void Drainer::on_rows(std::uint64_t generation, bool live, bool ok, std::vector<storage::OutboxRecord> rows,
                      std::uint64_t scanned_to) {
  if (generation != generation_) return;  // the connection it was for is gone; requeue covered them
  Stream& s = live ? live_ : backlog_;
  s.reading = false;
  if (!ok) {
    ++stats_.read_errors;
    return;  // retried on the next ack or new rows
  }
  // Every queued row up to scanned_to was returned now or left queued for the backlog's end (its origin's):
  // the next live read starts above them. (Once the backlog is done, reads take the whole range again.)
  if (live && !backlog_done_) live_after_ = std::max(live_after_, scanned_to);
  // A short read is not proof of an empty queue: the store also cuts a read by bytes (max_bytes, and
  // half its WAL share when the disk is small: storage/README.md "Space: the disk bound"). Only an
  // empty read says the queue is drained.
  s.more = !rows.empty() || s.new_during_read;
  for (storage::OutboxRecord& r : rows) s.ready.push_back(std::move(r));
  flush();
}

Drainer::Stream* Drainer::pick() {
  const bool live = !live_.ready.empty();
  const bool backlog = !backlog_.ready.empty();
  if (live && backlog) {
    live_credit_ += options_.live_share;
    if (live_credit_ >= 1.0) {
      live_credit_ -= 1.0;
      return &live_;
    }
    return &backlog_;
  }
  live_credit_ = 0;  // no debt builds up while one stream is alone
  if (live) return &live_;
  if (backlog) return &backlog_;
  return nullptr;
}

std::optional<mqtt::OutboundPublish> Drainer::build(storage::OutboxRecord& r) {
  std::int64_t remaining = 0;  // seconds of message expiry left; 0 = none
  if (r.msg.expiry_unix > 0 && options_.clock != nullptr && !r.released) {
    remaining = r.msg.expiry_unix - options_.clock->unix_seconds();
    if (remaining <= 0) {
      // MQTT 5.0 §3.3.2.3.3: expired while read ahead; never sent, acknowledged away.
      ++stats_.expired;
      to_ack_.push_back(r.id);
      return std::nullopt;
    }
  }
  auto mapped = map_up(options_.rules, options_.topic_prefix, options_.max_qos, r.msg.topic, r.msg.qos);
  if (!mapped) {
    ++stats_.refused;
    refused_rows_.push_back(RefusedRow{r.id, std::move(r.msg.topic), "the relay rule gives no valid topic"});
    to_ack_.push_back(r.id);
    return std::nullopt;
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
  const bool has_props = !r.msg.properties.empty() || remaining > 0;
  if (has_props && !options_.forward_properties) {
    ++stats_.properties_dropped;  // MQTT 3.1.1 has no properties
  } else if (has_props) {
    if (!r.msg.properties.empty()) {
      auto props = mqtt::decode_publish_properties(r.msg.properties);
      if (props) {
        p.properties = std::move(props).value();
      } else {
        ++stats_.properties_dropped;  // not ours to fail the row for: it goes without them
      }
    }
    // The response topic lives in the cloud's namespace too: the same rule maps it (MQTT 5.0 §4.10).
    if (p.properties.response_topic) {
      auto rt =
          map_up(options_.rules, options_.topic_prefix, options_.max_qos, *p.properties.response_topic, 0);
      if (rt) {
        p.properties.response_topic = std::move(rt->topic);
      } else {
        p.properties.response_topic.reset();
      }
    }
    // What is left of the interval (MQTT 5.0 §3.3.2.3.3: the receiver of a forwarded message gets the
    // remaining time).
    if (remaining > 0) p.properties.message_expiry_interval = static_cast<std::uint32_t>(remaining);
  }
  return p;
}

void Drainer::publish_ready() {
  std::vector<std::uint64_t> back;  // rows the session could not take now
  while (outstanding_.size() < window_ && publish_) {
    Stream* from = pick();
    if (from == nullptr) break;
    // Its packet id is still in flight with another row: wait for that one's acknowledgement (the next
    // event publishes again), keeping this stream's order.
    if (from->ready.front().msg.qos > 0 && ids_busy_.test(packet_id_of(from->ready.front().id))) break;
    if (options_.rate_limit != 0) {
      if (credit_ < 1.0) break;  // refill() publishes again when credit has grown
      credit_ -= 1.0;
    }
    storage::OutboxRecord r = std::move(from->ready.front());
    from->ready.pop_front();
    const bool live = from == &live_;
    auto built = build(r);
    if (!built) continue;
    mqtt::OutboundPublish p = std::move(*built);
    const std::uint8_t qos = p.qos;
    ++stats_.published;
    if (live && !backlog_done_) ++stats_.live_published;
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
          ids_busy_.set(packet_id_of(r.id));
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
        for (Stream* st : {&live_, &backlog_}) {
          for (const storage::OutboxRecord& rest : st->ready) back.push_back(rest.id);
          st->ready.clear();
          st->more = true;
        }
        break;
    }
  }
  if (!back.empty()) {
    live_after_ = top_;  // requeued live rows lie below the live mark: walk from the backlog's top again
    ++requeue_epoch_;    // reads still running return rows above these: they go back too (requeue_stale)
    ++stats_.requeues;
    port_.requeue(storage::to_ranges(std::move(back)));
  }
}

}  // namespace gw::uplink
