// SUBSCRIBE and UNSUBSCRIBE: per-filter validation and authorization, the trie and the session's own
// list kept in step, the SUBACK/UNSUBACK, and the retained messages a new subscription receives
// (MQTT 5.0 §3.8.4, retain handling §3.8.3.1).
#include <algorithm>

#include "gateway/broker/broker.hpp"
#include "protocols/mqtt/topic.hpp"

namespace gw::broker {

using mqtt::Reason;

void Broker::subscribe(Connection& c, const mqtt::Subscribe& sub) {
  Session& s = *c.session();
  const bool v5 = c.version() == mqtt::Version::V5;
  std::uint32_t sub_id = 0;
  if (!sub.properties.subscription_identifiers.empty()) {
    if (sub.properties.subscription_identifiers.size() > 1) {
      c.close_with(Reason::ProtocolError, "more than one subscription identifier");  // MQTT 5.0 §3.8.2.1.2
      return;
    }
    sub_id = sub.properties.subscription_identifiers.front();
  }
  mqtt::Suback ack;
  ack.packet_id = sub.packet_id;
  struct RetainedJob {
    std::string filter;
    SubEntry entry;
  };
  std::vector<RetainedJob> retained_jobs;
  for (const auto& item : sub.subscriptions) {
    const auto& f = item.filter;
    auto shared = mqtt::parse_shared(f);
    // A filter past limits.max_topic_levels / max_topic_length is refused like an invalid one.
    if (!mqtt::is_valid_filter(f) ||
        !mqtt::within_topic_bounds(f, limits_.max_topic_levels, limits_.max_topic_length)) {
      ack.reasons.push_back(v5 ? Reason::TopicFilterInvalid : Reason::UnspecifiedError);
      continue;
    }
    if (shared && item.options.no_local) {
      c.close_with(Reason::ProtocolError, "no-local on a shared subscription");  // MQTT 5.0 §3.8.3.1
      return;
    }
    if (!authorizer().can_subscribe(c.identity(), f)) {
      ack.reasons.push_back(v5 ? Reason::NotAuthorized : Reason::UnspecifiedError);
      continue;
    }
    // Quotas on new filters: their count, and the subscription-index memory they may cost (a replaced
    // filter costs nothing more). Past either: 0x97 Quota exceeded (3.1.1: 0x80) for that filter.
    const bool added = !s.subscriptions.contains(f);
    const std::size_t cost = added ? SubscriptionTrie::cost(f) : 0;
    const std::uint64_t charged = s.subscriptions.empty() ? 0 : s.subscriptions.get().bytes;
    if (added && (s.subscriptions.size() >= limits_.max_subscriptions_per_client ||
                  charged + cost > limits_.max_subscription_bytes_per_client)) {
      ack.reasons.push_back(v5 ? Reason::QuotaExceeded : Reason::UnspecifiedError);
      continue;
    }
    SubEntry entry{&s, item.options, sub_id};
    entry.options.max_qos =
        std::min<std::uint8_t>({item.options.max_qos, 2, authorizer().max_qos(c.identity())});
    bool is_new = trie_.add(f, entry);
    s.subscriptions[f] = SessionSubscription{entry.options, sub_id};
    s.subscriptions.get().bytes += cost;
    if (persistence_ && s.stored) persistence_->subscribed(s, f, s.subscriptions[f]);
    ack.reasons.push_back(static_cast<Reason>(entry.options.max_qos));
    // Retained messages: never for shared subscriptions (MQTT 5.0 §4.8.2); per retain handling otherwise.
    if (!shared && (entry.options.retain_handling == 0 || (entry.options.retain_handling == 1 && is_new))) {
      retained_jobs.push_back(RetainedJob{f, entry});
    }
  }
  c.send(ack);
  const Millis now = clock_.now_ms();
  for (const auto& job : retained_jobs) {
    retained_.match(job.filter, [&](const MessagePtr& m) {
      if (m->expiry_at != 0 && m->expiry_at <= now) return;
      Delivery d;
      d.msg = m;
      d.qos = std::min(m->qos, job.entry.options.max_qos);
      d.retain = true;  // MQTT 3.1.1 §3.3.1.3: retained messages sent on subscribe carry RETAIN=1
      if (job.entry.subscription_id != 0) d.subscription_ids.push_back(job.entry.subscription_id);
      deliver(s, std::move(d));
    });
  }
}

void Broker::unsubscribe(Connection& c, const mqtt::Unsubscribe& u) {
  Session& s = *c.session();
  mqtt::Unsuback ack;
  ack.packet_id = u.packet_id;
  const bool v5 = c.version() == mqtt::Version::V5;
  for (const auto& f : u.filters) {
    // MQTT 5.0 §3.11.3: 0x8F for a filter that is not valid (3.1.1 closed the connection on an empty one
    // when decoding, MQTT-4.7.3-1).
    if (v5 && !mqtt::is_valid_filter(f)) {
      ack.reasons.push_back(Reason::TopicFilterInvalid);
      continue;
    }
    bool existed = false;
    auto it = s.subscriptions.find(f);
    if (it != s.subscriptions.end()) {
      trie_.remove(f, &s);
      s.subscriptions.erase(it);
      s.subscriptions.get().bytes -= SubscriptionTrie::cost(f);
      if (persistence_ && s.stored) persistence_->unsubscribed(s, f);
      existed = true;
    }
    if (v5) ack.reasons.push_back(existed ? Reason::Success : Reason::NoSubscriptionExisted);
  }
  c.send(ack);
}

}  // namespace gw::broker
