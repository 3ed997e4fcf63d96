// The MQTT client session state machine (client_session.hpp): one transition per input, packets in
// through the codec, bytes and events out. The uplink owns the socket and the timer; this file only
// decides. Spec references are MQTT 3.1.1 (OASIS 2014) and MQTT 5.0 (OASIS 2019).
//
// State table (every state: transport_lost -> Offline, emitting RequestLost for each unanswered
// SUBSCRIBE/UNSUBSCRIBE and, if a CONNECT went out, Disconnected{why}):
//
//   state            input                        action                                        next
//   Offline          connect(opts)                keep opts                                     Offline
//   Offline          transport_connected          CONNECT if opts AwaitingConnack
//                                                 (no opts yet)                                 TransportUp
//   TransportUp      connect(opts)                CONNECT AwaitingConnack TransportUp      bytes protocol
//   error: the server spoke first        Closing AwaitingConnack  CONNACK 0                    Connected;
//   session lost -> requeue or drop    Connected
//                                                 in-flight; resend in-flight in order (PUBLISH
//                                                 with DUP, or PUBREL), then pump the queue
//   AwaitingConnack  CONNACK >= 1 / >= 0x80       ConnackRefused, CloseTransport                Closing
//   AwaitingConnack  another packet, bad bytes    protocol error (v5: DISCONNECT with reason)   Closing
//   AwaitingConnack  tick past connack timeout    CloseTransport(ConnackTimeout)                Closing
//   Connected        PUBLISH                      MessageReceived + PUBACK / PUBREC (QoS 2      Connected
//                                                 delivered once per packet id until PUBREL)
//   Connected        PUBREL                       PUBCOMP                                       Connected
//   Connected        PUBACK, PUBCOMP              PublishAcked / PublishRefused; pump           Connected
//   Connected        PUBREC                       PUBREL (or PublishRefused if >= 0x80; pump)   Connected
//   Connected        unmatched ack                counted as duplicate, ignored                 Connected
//   Connected        SUBACK / UNSUBACK            SubscribeAcked / UnsubscribeAcked             Connected
//   Connected        PINGRESP                     ping answered                                 Connected
//   Connected        DISCONNECT                   CloseTransport(ServerDisconnect)              Closing
//   Connected        tick idle >= keepalive       PINGREQ                                       Connected
//   Connected        tick ping unanswered         CloseTransport(KeepaliveTimeout)              Closing
//   Connected        tick no ack for stall time   CloseTransport(Stalled)                       Closing
//   Connected        bad bytes / misplaced packet protocol error (v5: DISCONNECT with reason)   Closing
//   Connected        disconnect()                 DISCONNECT, CloseTransport(UserDisconnect)    Closing
//   Closing          anything but transport_lost  ignored (publishes still queue)               Closing
#include "protocols/mqtt/client_session.hpp"

#include <algorithm>
#include <iterator>
#include <utility>

#include "protocols/mqtt/topic.hpp"

namespace gw::mqtt {
namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

bool is_failure(Reason r) {
  return static_cast<std::uint8_t>(r) >= 0x80;
}

// The largest packet MQTT can express: 268,435,455 bytes of remaining length plus the fixed header.
constexpr std::size_t kProtocolMaxPacket = 268'435'455 + 5;

}  // namespace

const char* to_string(PublishStatus s) {
  switch (s) {
    case PublishStatus::Sent:
      return "sent";
    case PublishStatus::Queued:
      return "queued";
    case PublishStatus::Refused:
      return "refused";
    case PublishStatus::QueueFull:
      return "queue_full";
    case PublishStatus::NotConnected:
      return "not_connected";
    case PublishStatus::Invalid:
      return "invalid";
  }
  return "?";
}

const char* to_string(CloseReason r) {
  switch (r) {
    case CloseReason::TransportLost:
      return "transport_lost";
    case CloseReason::ConnackTimeout:
      return "connack_timeout";
    case CloseReason::ConnackRefused:
      return "connack_refused";
    case CloseReason::KeepaliveTimeout:
      return "keepalive_timeout";
    case CloseReason::Stalled:
      return "stalled";
    case CloseReason::ProtocolError:
      return "protocol_error";
    case CloseReason::ServerDisconnect:
      return "server_disconnect";
    case CloseReason::UserDisconnect:
      return "user_disconnect";
  }
  return "?";
}

ClientSession::ClientSession(ClientLimits limits) : limits_(limits) {
  limits_.max_inflight = std::max<std::uint16_t>(limits_.max_inflight, 1);
}

std::uint16_t ClientSession::window() const {
  return std::min(limits_.max_inflight, server_.receive_maximum);
}

// ---- Connection life cycle ----

void ClientSession::connect(ConnectOptions options, Millis now) {
  options_ = std::move(options);
  if (state_ == State::TransportUp) send_connect(now);
}

void ClientSession::transport_connected(Millis now) {
  if (state_ != State::Offline) transport_lost(now);  // the caller reconnected without telling us
  state_ = State::TransportUp;
  if (options_) send_connect(now);
}

void ClientSession::send_connect(Millis now) {
  sent_options_ = *options_;
  const ConnectOptions& o = sent_options_;
  Connect c;
  c.version = o.version;
  c.protocol_name = o.version == Version::V31 ? "MQIsdp" : "MQTT";
  c.clean_start = o.clean_start;
  c.keep_alive = o.keep_alive_s;
  c.client_id = o.client_id;
  c.will = o.will;
  c.username = o.username;
  c.password = o.password;
  if (v5()) {
    // MQTT 5.0 §3.1.2.11: properties that equal their defaults are left out.
    if (o.session_expiry_s != 0) c.properties.session_expiry_interval = o.session_expiry_s;
    if (o.receive_maximum != 65535)
      c.properties.receive_maximum = std::max<std::uint16_t>(o.receive_maximum, 1);
    if (limits_.max_packet_size != 0) c.properties.maximum_packet_size = limits_.max_packet_size;
    if (o.topic_alias_maximum != 0) c.properties.topic_alias_maximum = o.topic_alias_maximum;
    c.properties.user_properties = o.user_properties;
    inbound_aliases_.assign(o.topic_alias_maximum, std::string{});
  } else {
    inbound_aliases_.clear();
  }
  write(c, now);
  connect_sent_ = true;
  connect_sent_at_ = now;
  last_received_at_ = now;
  ping_sent_at_.reset();
  state_ = State::AwaitingConnack;
}

void ClientSession::transport_lost(Millis /*now*/) {
  if (state_ == State::Offline) return;
  const bool had_connect = connect_sent_;
  state_ = State::Offline;
  in_.clear();
  out_.clear();  // never written: the transport is gone
  connect_sent_ = false;
  ping_sent_at_.reset();
  for (InFlight& f : inflight_) f.sent_here = false;
  sent_here_ = 0;
  for (const auto& [id, kind] : requests_) events_.push_back(RequestLost{id});
  requests_.clear();
  inbound_aliases_.clear();  // MQTT 5.0 §3.3.2.3.4: aliases live as long as the network connection
  if (had_connect) events_.push_back(Disconnected{close_why_, close_reason_});
  close_why_ = CloseReason::TransportLost;
  close_reason_ = Reason::Success;
}

void ClientSession::disconnect(Reason reason, Millis now) {
  switch (state_) {
    case State::Connected:
      write(Disconnect{reason, {}}, now);
      request_close(CloseReason::UserDisconnect, reason);
      break;
    case State::TransportUp:
    case State::AwaitingConnack:
      request_close(CloseReason::UserDisconnect, reason);
      break;
    case State::Offline:
    case State::Closing:
      break;
  }
}

void ClientSession::request_close(CloseReason why, Reason reason) {
  close_why_ = why;
  close_reason_ = reason;
  state_ = State::Closing;
  in_.clear();
  events_.push_back(CloseTransport{why, reason});
}

void ClientSession::protocol_error(Reason reason, Millis now) {
  ++stats_.protocol_errors;
  // MQTT 5.0 §4.13.1: the client may tell the server why before closing.
  if (v5() && connect_sent_) write(Disconnect{reason, {}}, now);
  request_close(CloseReason::ProtocolError, reason);
}

// ---- Bytes in ----

void ClientSession::bytes_received(ByteView data, Millis now) {
  if (state_ == State::Offline || state_ == State::Closing) return;
  if (state_ == State::TransportUp) {  // MQTT-3.2.0-1: the server sends nothing before our CONNECT
    protocol_error(Reason::ProtocolError, now);
    return;
  }
  last_received_at_ = now;
  in_.append(reinterpret_cast<const char*>(data.data()), data.size());
  const std::size_t max = limits_.max_packet_size != 0 ? limits_.max_packet_size : kProtocolMaxPacket;
  std::size_t off = 0;
  while (state_ == State::AwaitingConnack || state_ == State::Connected) {
    const ByteView rest(reinterpret_cast<const std::uint8_t*>(in_.data()) + off, in_.size() - off);
    const Frame frame = parse_frame(rest, max);
    if (frame.status == FrameStatus::NeedMore) break;
    if (frame.status == FrameStatus::Error) {
      protocol_error(frame.error.reason, now);
      break;
    }
    auto decoded = decode(version(), frame.header, rest.subspan(frame.header_len, frame.remaining));
    off += frame.total();
    if (!decoded) {
      protocol_error(decoded.error().reason, now);
      break;
    }
    handle_packet(std::move(decoded).value(), now);
  }
  if (state_ == State::AwaitingConnack || state_ == State::Connected) {
    in_.erase(0, off);
  } else {
    in_.clear();
  }
}

void ClientSession::handle_packet(Packet&& packet, Millis now) {
  if (state_ == State::AwaitingConnack) {
    // MQTT 3.1.1 §3.2 / 5.0 §3.2: the first packet from the server is CONNACK (AUTH is not supported).
    if (const auto* c = std::get_if<Connack>(&packet)) {
      on_connack(*c, now);
    } else {
      protocol_error(Reason::ProtocolError, now);
    }
    return;
  }
  std::visit(Overloaded{
                 [&](Publish& p) { on_publish(std::move(p), now); },
                 [&](Ack& a) { on_ack(a, now); },
                 [&](Suback& s) { on_suback(s.packet_id, RequestKind::Subscribe, std::move(s.reasons)); },
                 [&](Unsuback& u) { on_suback(u.packet_id, RequestKind::Unsubscribe, std::move(u.reasons)); },
                 [&](Pingresp&) { ping_sent_at_.reset(); },
                 [&](Disconnect& d) { request_close(CloseReason::ServerDisconnect, d.reason); },
                 // CONNECT, a second CONNACK, SUBSCRIBE, UNSUBSCRIBE, PINGREQ and AUTH have no business
                 // coming from a server here.
                 [&](auto&) { protocol_error(Reason::ProtocolError, now); },
             },
             packet);
}

void ClientSession::on_connack(const Connack& c, Millis now) {
  if (c.reason != Reason::Success) {
    events_.push_back(ConnackRefused{c.reason, c.properties.reason_string, c.properties.server_reference});
    request_close(CloseReason::ConnackRefused, c.reason);
    return;
  }
  // MQTT 3.1.1 §3.2.2.2, 5.0 §3.2.2.1.1: after Clean Start a session cannot be present.
  if (c.session_present && sent_options_.clean_start) {
    protocol_error(Reason::ProtocolError, now);
    return;
  }
  Connected s;
  s.session_present = c.session_present;
  s.keep_alive_s = sent_options_.keep_alive_s;
  if (v5()) {
    const Properties& p = c.properties;
    s.receive_maximum = p.receive_maximum.value_or(65535);
    s.keep_alive_s = p.server_keep_alive.value_or(s.keep_alive_s);  // §3.2.2.3.14: the server's wins
    s.maximum_packet_size = p.maximum_packet_size.value_or(0);
    s.topic_alias_maximum = p.topic_alias_maximum.value_or(0);
    s.maximum_qos = p.maximum_qos.value_or(2);
    s.retain_available = p.retain_available.value_or(1) != 0;
    s.assigned_client_id = p.assigned_client_identifier;
  }
  server_ = s;
  state_ = State::Connected;
  last_progress_at_ = now;
  events_.push_back(server_);
  if (!c.session_present) after_session_lost();
  pump(now);
}

// The server has no session: what it knew about our in-flight messages and its QoS 2 deliveries is
// gone (MQTT 5.0 §4.4).
void ClientSession::after_session_lost() {
  inbound_qos2_.clear();
  std::deque<Queued> again;
  for (InFlight& f : inflight_) {
    if (f.stage == Stage::AwaitPubcomp ||
        f.stage == Stage::AwaitRelease) {  // PUBREC received: the server owns it
      ++stats_.acked;
      events_.push_back(PublishAcked{f.tag});
    } else if (limits_.session_lost_policy == SessionLostPolicy::Abandon) {
      ++stats_.session_lost_dropped;
      events_.push_back(PublishDropped{f.tag, DropReason::SessionLost});
    } else {
      f.packet.dup = false;
      f.packet.packet_id = 0;
      again.push_back(Queued{std::move(f.packet), f.tag});
    }
  }
  inflight_.clear();
  by_id_.clear();
  held_.clear();
  sent_here_ = 0;
  queue_.insert(queue_.begin(), std::make_move_iterator(again.begin()), std::make_move_iterator(again.end()));
}

// ---- Outbound publishes ----

PublishStatus ClientSession::publish(OutboundPublish m, Millis now) {
  if (m.qos > 2 || !is_valid_topic_name(m.topic)) return PublishStatus::Invalid;
  Queued q;
  q.tag = m.tag;
  q.packet.qos = m.qos;
  q.packet.retain = m.retain;
  q.packet.topic = std::move(m.topic);
  q.packet.payload = std::move(m.payload);
  q.packet.properties = std::move(m.properties);
  q.packet.packet_id = m.qos == 0 ? 0 : m.packet_id;
  q.packet.dup = m.dup && m.qos > 0;
  q.released = m.released && m.qos == 2 && m.packet_id != 0;
  if (q.packet.packet_id != 0 && id_in_use(q.packet.packet_id)) return PublishStatus::QueueFull;

  if (m.qos == 0) {
    if (state_ != State::Connected) return PublishStatus::NotConnected;
    return transmit(std::move(q), now) ? PublishStatus::Sent : PublishStatus::Refused;
  }
  const bool can_send_now =
      state_ == State::Connected && queue_.empty() && sent_here_ < window() && sent_here_ == inflight_.size();
  if (can_send_now) {
    if (q.packet.packet_id == 0) {
      if (const auto id = allocate_id()) q.packet.packet_id = *id;
    }
    if (q.packet.packet_id != 0)
      return transmit(std::move(q), now) ? PublishStatus::Sent : PublishStatus::Refused;
  }
  if (queue_.size() >= limits_.max_queued) {
    if (limits_.queue_policy == QueueFullPolicy::RejectNew || queue_.empty()) {
      ++stats_.queue_full_rejected;
      return PublishStatus::QueueFull;
    }
    ++stats_.queue_full_dropped;
    events_.push_back(PublishDropped{queue_.front().tag, DropReason::QueueFull});
    queue_.pop_front();
  }
  queue_.push_back(std::move(q));
  return PublishStatus::Queued;
}

// Sends a PUBLISH for the first time, after checking it against what the server announced in CONNACK
// (MQTT 5.0 §3.2.2.3.4 Maximum QoS, §3.2.2.3.5 Retain Available, §3.2.2.3.6 Maximum Packet Size: the
// client must not send what they forbid). QoS 1/2 enter the in-flight list.
bool ClientSession::transmit(Queued&& q, Millis now) {
  const Publish& p = q.packet;
  if (q.released) {
    // The server took it on an earlier connection (PUBREC): only the release is left.
    write(Ack{PacketType::Pubrel, p.packet_id, Reason::Success, {}}, now);
    ++stats_.pubrels_resent;
    InFlight f;
    f.packet = std::move(q.packet);
    f.tag = q.tag;
    f.stage = Stage::AwaitPubcomp;
    f.sent_here = true;
    const std::uint16_t id = f.packet.packet_id;
    inflight_.push_back(std::move(f));
    by_id_[id] = std::prev(inflight_.end());
    if (sent_here_++ == 0) last_progress_at_ = now;
    return true;
  }
  std::optional<Reason> refusal;
  if (p.qos > server_.maximum_qos) {
    refusal = Reason::QosNotSupported;
  } else if (p.retain && !server_.retain_available) {
    refusal = Reason::RetainNotSupported;
  } else if (server_.maximum_packet_size != 0 &&
             publish_size(version(), p.topic, p.payload.size(), p.qos, v5() ? &p.properties : nullptr) >
                 server_.maximum_packet_size) {
    refusal = Reason::PacketTooLarge;
  }
  if (refusal) {
    ++stats_.refused;
    events_.push_back(PublishRefused{q.tag, *refusal});
    return false;
  }
  write(p, now);
  ++stats_.publishes_sent;
  if (p.qos == 0) return true;
  InFlight f;
  f.packet = std::move(q.packet);
  f.tag = q.tag;
  f.stage = f.packet.qos == 1 ? Stage::AwaitPuback : Stage::AwaitPubrec;
  f.sent_here = true;
  const std::uint16_t id = f.packet.packet_id;
  inflight_.push_back(std::move(f));
  by_id_[id] = std::prev(inflight_.end());
  if (sent_here_++ == 0) last_progress_at_ = now;  // the stall clock starts with the first message out
  return true;
}

// Fills the window: first in-flight messages not yet sent on this connection (after a reconnect with
// session present, in their original order: PUBLISH with DUP, or PUBREL past PUBREC — MQTT 3.1.1
// §4.4, 5.0 §4.4), then the queue.
void ClientSession::pump(Millis now) {
  if (state_ != State::Connected) return;
  const std::size_t w = window();
  if (sent_here_ < inflight_.size()) {
    for (InFlight& f : inflight_) {
      if (sent_here_ >= w) return;
      if (f.sent_here) continue;
      if (f.stage == Stage::AwaitRelease) continue;  // the caller releases it; it holds no slot to fill
      if (f.stage == Stage::AwaitPubcomp) {
        write(Ack{PacketType::Pubrel, f.packet.packet_id, Reason::Success, {}}, now);
        ++stats_.pubrels_resent;
      } else {
        f.packet.dup = true;  // MQTT 3.1.1 §3.3.1.1, 5.0 §3.3.1.1
        write(f.packet, now);
        ++stats_.publishes_resent;
      }
      f.sent_here = true;
      if (sent_here_++ == 0) last_progress_at_ = now;
    }
  }
  while (!queue_.empty() && sent_here_ < w) {
    Queued& front = queue_.front();
    if (front.packet.packet_id == 0) {
      const auto id = allocate_id();
      if (!id) return;
      front.packet.packet_id = *id;
    } else if (id_in_use(front.packet.packet_id)) {
      return;  // a caller-chosen id still held by an earlier message: wait for its acknowledgement
    }
    Queued q = std::move(front);
    queue_.pop_front();
    transmit(std::move(q), now);
  }
}

void ClientSession::on_ack(const Ack& a, Millis now) {
  const auto it = by_id_.find(a.packet_id);
  InFlight* f = it == by_id_.end() ? nullptr : &*it->second;
  switch (a.type) {
    case PacketType::Puback:
      if (f == nullptr || f->stage != Stage::AwaitPuback) {
        ++stats_.duplicate_acks;
        return;
      }
      finish(a.packet_id, a.reason, now);
      return;
    case PacketType::Pubrec:
      if (f != nullptr && f->stage == Stage::AwaitPubrec) {
        if (is_failure(a.reason)) {  // MQTT 5.0 §4.3.3: the flow ends here, no PUBREL
          finish(a.packet_id, a.reason, now);
          return;
        }
        last_progress_at_ = now;
        if (limits_.hold_pubrel) {
          f->stage = Stage::AwaitRelease;
          held_.emplace(f->tag, it->second);
          events_.push_back(PublishReceived{f->tag});
          return;
        }
        f->stage = Stage::AwaitPubcomp;
        write(Ack{PacketType::Pubrel, a.packet_id, Reason::Success, {}}, now);
        return;
      }
      ++stats_.duplicate_acks;
      if (f != nullptr && f->stage == Stage::AwaitRelease) return;  // PUBREL waits for release()
      // MQTT 5.0 §4.3.3 [MQTT-4.3.3-4]: PUBREL answers only a PUBREC below 0x80; a refusal repeated
      // after the flow ended gets nothing.
      if (is_failure(a.reason)) return;
      // A repeated PUBREC still gets its PUBREL so that the server can finish; for an id we do not
      // know, MQTT 5.0 §3.6.2.1 has PUBREL 0x92 (3.1.1 has no reason code: a plain PUBREL).
      if (f == nullptr) {
        write(Ack{PacketType::Pubrel, a.packet_id, Reason::PacketIdentifierNotFound, {}}, now);
      } else if (f->stage == Stage::AwaitPubcomp) {
        write(Ack{PacketType::Pubrel, a.packet_id, Reason::Success, {}}, now);
      }
      return;
    case PacketType::Pubcomp:
      if (f == nullptr || f->stage != Stage::AwaitPubcomp) {
        ++stats_.duplicate_acks;
        return;
      }
      // 0x92 means the server no longer knew the id at PUBREL: it had taken the message with PUBREC,
      // so this still completes the delivery.
      finish(a.packet_id, Reason::Success, now);
      return;
    case PacketType::Pubrel: {  // the second half of an inbound QoS 2 delivery
      const bool known = inbound_qos2_.erase(a.packet_id) > 0;
      write(Ack{PacketType::Pubcomp,
                a.packet_id,
                known ? Reason::Success : Reason::PacketIdentifierNotFound,
                {}},
            now);
      return;
    }
    default:
      protocol_error(Reason::ProtocolError, now);
      return;
  }
}

void ClientSession::finish(std::uint16_t id, Reason reason, Millis now) {
  const auto it = by_id_.find(id);
  const PublishTag tag = it->second->tag;
  if (it->second->sent_here) --sent_here_;
  inflight_.erase(it->second);
  by_id_.erase(it);
  last_progress_at_ = now;
  if (is_failure(reason)) {
    ++stats_.refused;
    events_.push_back(PublishRefused{tag, reason});
  } else {
    ++stats_.acked;
    events_.push_back(PublishAcked{tag});
  }
  pump(now);
}

// ---- Inbound publishes ----

void ClientSession::on_publish(Publish&& p, Millis now) {
  if (p.properties.topic_alias) {  // MQTT 5.0 §3.3.2.3.4
    const std::uint16_t alias = *p.properties.topic_alias;
    if (alias == 0 || alias > inbound_aliases_.size()) {
      protocol_error(Reason::TopicAliasInvalid, now);
      return;
    }
    std::string& known = inbound_aliases_[alias - 1];
    if (!p.topic.empty()) {
      known = p.topic;
    } else if (known.empty()) {
      protocol_error(Reason::ProtocolError, now);  // an alias that was never set
      return;
    } else {
      p.topic = known;
    }
    p.properties.topic_alias.reset();
  } else if (p.topic.empty()) {
    protocol_error(Reason::ProtocolError, now);
    return;
  }

  const std::uint16_t id = p.packet_id;
  switch (p.qos) {
    case 0:
      deliver(std::move(p));
      return;
    case 1:
      deliver(std::move(p));
      write(Ack{PacketType::Puback, id, Reason::Success, {}}, now);
      return;
    default:
      // Exactly once (MQTT 5.0 §4.3.3, method B): deliver on the first PUBLISH, remember the id until
      // PUBREL, and answer a redelivery with PUBREC only.
      if (inbound_qos2_.count(id) != 0) {
        ++stats_.inbound_duplicates;
      } else {
        if (v5() && inbound_qos2_.size() >= std::max<std::uint16_t>(sent_options_.receive_maximum, 1)) {
          protocol_error(Reason::ReceiveMaximumExceeded, now);  // §3.3.4
          return;
        }
        inbound_qos2_.insert(id);
        deliver(std::move(p));
      }
      write(Ack{PacketType::Pubrec, id, Reason::Success, {}}, now);
      return;
  }
}

void ClientSession::deliver(Publish&& p) {
  ++stats_.received;
  events_.push_back(MessageReceived{std::move(p)});
}

// ---- SUBSCRIBE / UNSUBSCRIBE ----

Result<std::uint16_t, RequestError> ClientSession::subscribe(std::vector<Subscription> subscriptions,
                                                             Properties properties, Millis now) {
  if (state_ != State::Connected) return unexpected(RequestError::NotConnected);
  if (subscriptions.empty()) return unexpected(RequestError::Invalid);
  for (const Subscription& s : subscriptions) {
    if (!is_valid_filter(s.filter) || s.options.max_qos > 2) return unexpected(RequestError::Invalid);
  }
  const auto id = allocate_id();
  if (!id) return unexpected(RequestError::NoPacketId);
  write(Subscribe{*id, std::move(properties), std::move(subscriptions)}, now);
  requests_[*id] = RequestKind::Subscribe;
  return *id;
}

Result<std::uint16_t, RequestError> ClientSession::unsubscribe(std::vector<std::string> filters,
                                                               Properties properties, Millis now) {
  if (state_ != State::Connected) return unexpected(RequestError::NotConnected);
  if (filters.empty()) return unexpected(RequestError::Invalid);
  for (const std::string& f : filters) {
    if (!is_valid_filter(f)) return unexpected(RequestError::Invalid);
  }
  const auto id = allocate_id();
  if (!id) return unexpected(RequestError::NoPacketId);
  write(Unsubscribe{*id, std::move(properties), std::move(filters)}, now);
  requests_[*id] = RequestKind::Unsubscribe;
  return *id;
}

void ClientSession::on_suback(std::uint16_t id, RequestKind kind, std::vector<Reason> reasons) {
  const auto it = requests_.find(id);
  if (it == requests_.end() || it->second != kind) {
    ++stats_.duplicate_acks;
    return;
  }
  requests_.erase(it);
  if (kind == RequestKind::Subscribe) {
    events_.push_back(SubscribeAcked{id, std::move(reasons)});
  } else {
    events_.push_back(UnsubscribeAcked{id, std::move(reasons)});
  }
}

bool ClientSession::release(PublishTag tag, Millis now) {
  const auto h = held_.lower_bound(tag);  // the first of equal keys: the one held longest
  if (h == held_.end() || h->first != tag) return false;
  const auto it = h->second;
  held_.erase(h);
  it->stage = Stage::AwaitPubcomp;
  if (state_ == State::Connected && it->sent_here) {
    write(Ack{PacketType::Pubrel, it->packet.packet_id, Reason::Success, {}}, now);
  } else {
    // Held since an earlier connection (or offline now): pump() sends the PUBREL when the window and
    // the connection allow, now if connected.
    if (it->sent_here) --sent_here_;
    it->sent_here = false;
    pump(now);
  }
  return true;
}

// ---- Packet ids ----

bool ClientSession::id_in_use(std::uint16_t id) const {
  return by_id_.count(id) != 0 || requests_.count(id) != 0;
}

// Round robin over 1..65535, skipping ids held by in-flight publishes and pending requests
// (MQTT 5.0 §2.2.1: an id is free again once its acknowledgement has arrived).
std::optional<std::uint16_t> ClientSession::allocate_id() {
  for (std::uint32_t n = 0; n < 65535; ++n) {
    const std::uint16_t id = next_id_;
    next_id_ = next_id_ == 65535 ? 1 : static_cast<std::uint16_t>(next_id_ + 1);
    if (!id_in_use(id)) return id;
  }
  return std::nullopt;
}

// ---- Time ----

void ClientSession::tick(Millis now) {
  if (state_ == State::AwaitingConnack) {
    if (now - connect_sent_at_ >= limits_.connack_timeout_ms) {
      request_close(CloseReason::ConnackTimeout, Reason::Success);
    }
    return;
  }
  if (state_ != State::Connected) return;
  if (ping_sent_at_ && now - std::max(*ping_sent_at_, last_received_at_) >= limits_.ping_timeout_ms) {
    ++stats_.keepalive_timeouts;
    request_close(CloseReason::KeepaliveTimeout, Reason::KeepAliveTimeout);
    return;
  }
  // Acknowledgements not advancing while "connected": a half-open TCP connection or a wedged server.
  if (limits_.stall_timeout_ms > 0 && sent_here_ > 0 && now - last_progress_at_ >= limits_.stall_timeout_ms) {
    ++stats_.stalls;
    request_close(CloseReason::Stalled, Reason::Success);
    return;
  }
  // MQTT 3.1.1 §3.1.2.10: no more than Keep Alive seconds between two control packets we send.
  if (!ping_sent_at_ && keepalive_ms() > 0 && now - last_sent_at_ >= keepalive_ms()) {
    write(Pingreq{}, now);
    ping_sent_at_ = now;
    ++stats_.pings_sent;
  }
}

std::optional<Millis> ClientSession::next_deadline() const {
  if (state_ == State::AwaitingConnack) return connect_sent_at_ + limits_.connack_timeout_ms;
  if (state_ != State::Connected) return std::nullopt;
  std::optional<Millis> at;
  const auto consider = [&at](Millis t) { at = at ? std::min(*at, t) : t; };
  if (ping_sent_at_) {
    consider(std::max(*ping_sent_at_, last_received_at_) + limits_.ping_timeout_ms);
  } else if (keepalive_ms() > 0) {
    consider(last_sent_at_ + keepalive_ms());
  }
  if (limits_.stall_timeout_ms > 0 && sent_here_ > 0) consider(last_progress_at_ + limits_.stall_timeout_ms);
  return at;
}

// ---- Output ----

Buffer ClientSession::take_bytes() {
  Buffer b;
  b.swap(out_);
  return b;
}

std::vector<Event> ClientSession::take_events() {
  std::vector<Event> e;
  e.swap(events_);
  return e;
}

}  // namespace gw::mqtt
