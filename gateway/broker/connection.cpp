// Connection: framing, the CONNECT handshake, and dispatch of decoded packets to the broker.
// Malformed input and protocol violations close this one connection with the reason the spec gives
// (MQTT 5.0 §4.13); nothing here throws or asserts on network input.
#include "gateway/broker/connection.hpp"

#include "gateway/base/log.hpp"
#include "gateway/broker/broker.hpp"
#include "protocols/mqtt/topic.hpp"

namespace gw::broker {

using mqtt::Reason;

Connection::Connection(Broker& broker, Transport& transport) : broker_(broker), transport_(transport) {
  last_rx_ = broker_.clock().now_ms();
  id_ = broker_.attach(*this);
}

Connection::~Connection() = default;

template <typename P>
void Connection::send(const P& packet) {
  auto& buf = broker_.scratch();
  buf.clear();
  mqtt::encode(packet, version_, buf);
  broker_.stats().bytes_sent += buf.size();
  transport_.send(buf);
}
template void Connection::send(const mqtt::Ack&);
template void Connection::send(const mqtt::Suback&);
template void Connection::send(const mqtt::Unsuback&);

bool Connection::writable() const {
  return transport_.pending_bytes() < broker_.limits().write_high_watermark;
}

std::size_t Connection::send_window() const {
  return std::min<std::size_t>(broker_.limits().max_inflight, client_receive_maximum_);
}

void Connection::on_data(std::span<const std::uint8_t> bytes) {
  if (state_ == State::Closing) return;
  broker_.stats().bytes_received += bytes.size();
  if (state_ != State::AwaitConnect) last_rx_ = broker_.clock().now_ms();  // else: the accept time
  // Parse straight from the read buffer; only a trailing partial packet is copied into extras_->in.
  mqtt::ByteView data = bytes;
  std::unique_ptr<std::string>* in = extras_ ? &extras_->in : nullptr;
  const bool buffered = in && *in;
  if (buffered) {
    (*in)->append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    data = mqtt::ByteView(reinterpret_cast<const std::uint8_t*>((*in)->data()), (*in)->size());
  }
  std::size_t off = 0;
  while (state_ != State::Closing && off < data.size()) {
    // MQTT 3.1.1 §3.1.0-1: the first packet must be CONNECT. Judge it by its first byte, so a client
    // speaking another protocol (an HTTP request, TLS) is closed at once, not after the connect timeout.
    if (state_ == State::AwaitConnect && (data[off] >> 4) != static_cast<int>(mqtt::PacketType::Connect)) {
      protocol_error(Reason::ProtocolError, "first packet is not CONNECT");
      return;
    }
    std::size_t max = state_ == State::AwaitConnect ? broker_.limits().max_packet_size_before_connect
                                                    : broker_.limits().max_packet_size;
    auto frame = mqtt::parse_frame(data.subspan(off), max);
    if (frame.status == mqtt::FrameStatus::NeedMore) break;
    if (frame.status == mqtt::FrameStatus::Error) {
      protocol_error(frame.error.reason, frame.error.what);
      return;
    }
    auto body = data.subspan(off + frame.header_len, frame.remaining);
    off += frame.total();
    if (!handle_packet(frame.header, body)) break;
  }
  // handle_packet may have created the extras (a will, deferred acks): look again.
  in = extras_ ? &extras_->in : nullptr;
  if (state_ == State::Closing) {
    if (in) in->reset();
    return;
  }
  if (buffered) {
    (*in)->erase(0, off);
    if ((*in)->empty()) in->reset();  // idle connections hold no buffer
  } else if (off < data.size()) {
    extras().in =
        std::make_unique<std::string>(reinterpret_cast<const char*>(data.data() + off), data.size() - off);
  }
}

void Connection::protocol_error(Reason reason, const char* why) {
  broker_.stats().protocol_errors++;
  GW_LOG(Info, "broker", "closing %s (%s): %s (reason 0x%02x)", transport_.peer().c_str(),
         identity_.client_id.c_str(), why, static_cast<unsigned>(reason));
  if (state_ == State::AwaitConnect) {
    // MQTT 3.1.1 §3.1.4: a CONNECT with an unsupported level gets CONNACK 1 then a close.
    if (reason == Reason::UnsupportedProtocolVersion) {
      auto& buf = broker_.scratch();
      buf.clear();
      mqtt::encode(mqtt::Connack{false, Reason::UnsupportedProtocolVersion, {}}, mqtt::Version::V311, buf);
      transport_.send(buf);
    }
    state_ = State::Closing;
    transport_.close();
    return;
  }
  close_with(reason, why);
}

void Connection::close_with(Reason reason, const char* why) {
  if (state_ == State::Closing) return;
  close_reason_ = reason;
  if (state_ == State::Connected && version_ == mqtt::Version::V5 && static_cast<int>(reason) >= 0x80) {
    mqtt::Disconnect d;
    d.reason = reason;
    if (why && *why) d.properties.reason_string = why;
    auto& buf = broker_.scratch();
    buf.clear();
    mqtt::encode(d, version_, buf);
    transport_.send(buf);
  }
  state_ = State::Closing;
  transport_.close();
}

void Connection::on_closed() {
  if (state_ != State::Closing) state_ = State::Closing;
  broker_.connection_lost(*this);
  broker_.detach(*this);
}

void Connection::on_drain() {
  if (session_ && state_ == State::Connected) broker_.pump(*session_);
}

bool Connection::handle_packet(std::uint8_t header, mqtt::ByteView body) {
  auto decoded = mqtt::decode(version_, header, body);
  if (!decoded) {
    protocol_error(decoded.error().reason, decoded.error().what);
    return false;
  }
  mqtt::Packet& pkt = *decoded;
  if (state_ == State::AwaitConnect) {
    auto* c = std::get_if<mqtt::Connect>(&pkt);
    if (!c) {
      protocol_error(Reason::ProtocolError, "first packet is not CONNECT");  // MQTT 3.1.1 §3.1.0-1
      return false;
    }
    handle_connect(*c);
    return state_ != State::Closing;
  }
  auto& stats = broker_.stats();
  switch (pkt.index()) {
    case 0:                                                     // Connect
      protocol_error(Reason::ProtocolError, "second CONNECT");  // MQTT 5.0 §3.1.0-2
      return false;
    case 2:  // Publish
      stats.messages_received++;
      handle_publish(std::get<mqtt::Publish>(pkt));
      break;
    case 3: {  // PUBACK, PUBREC, PUBREL, PUBCOMP
      auto& a = std::get<mqtt::Ack>(pkt);
      switch (a.type) {
        case mqtt::PacketType::Puback:
          broker_.on_puback(*this, a.packet_id);
          break;
        case mqtt::PacketType::Pubrec:
          broker_.on_pubrec(*this, a.packet_id, a.reason);
          break;
        case mqtt::PacketType::Pubcomp:
          broker_.on_pubcomp(*this, a.packet_id);
          break;
        case mqtt::PacketType::Pubrel: {
          mqtt::Ack comp{mqtt::PacketType::Pubcomp, a.packet_id, Reason::Success, {}};
          auto it = session_->inbound_qos2.find(a.packet_id);
          if (it == session_->inbound_qos2.end()) {
            comp.reason = Reason::PacketIdentifierNotFound;
          } else {
            if (it->second != 0) broker_.persistence()->message_deleted(*session_, it->second);
            session_->inbound_qos2.erase(it);
          }
          send(comp);
          break;
        }
        default:
          break;
      }
      break;
    }
    case 4:  // Subscribe
      broker_.subscribe(*this, std::get<mqtt::Subscribe>(pkt));
      break;
    case 6:  // Unsubscribe
      broker_.unsubscribe(*this, std::get<mqtt::Unsubscribe>(pkt));
      break;
    case 8: {  // Pingreq
      auto& buf = broker_.scratch();
      buf.clear();
      mqtt::encode(mqtt::Pingresp{}, version_, buf);
      stats.bytes_sent += buf.size();
      transport_.send(buf);
      break;
    }
    case 10:  // Disconnect
      handle_disconnect(std::get<mqtt::Disconnect>(pkt));
      return false;
    case 11:  // Auth: no enhanced authentication method was accepted, so AUTH is a protocol error.
      protocol_error(Reason::ProtocolError, "AUTH without an authentication method");
      return false;
    default:  // CONNACK, SUBACK, UNSUBACK, PINGRESP are server-to-client only.
      protocol_error(Reason::ProtocolError, "packet type not allowed from a client");
      return false;
  }
  return state_ != State::Closing;
}

void Connection::refuse_connect(Reason reason, const char* why) {
  broker_.stats().connections_refused++;
  GW_LOG(Info, "broker", "refused CONNECT from %s (%s): %s", transport_.peer().c_str(),
         identity_.client_id.c_str(), why);
  auto& buf = broker_.scratch();
  buf.clear();
  mqtt::Connack ack{false, reason, {}};
  if (version_ == mqtt::Version::V5) ack.properties.reason_string = why;
  mqtt::encode(ack, version_, buf);
  transport_.send(buf);
  state_ = State::Closing;
  transport_.close();
}

void Connection::handle_connect(mqtt::Connect& c) {
  version_ = c.version;
  identity_.client_id = c.client_id;
  const auto& limits = broker_.limits();
  const bool v5 = version_ == mqtt::Version::V5;

  if (v5 && c.properties.authentication_method) {
    refuse_connect(Reason::BadAuthenticationMethod, "enhanced authentication is not supported");
    return;
  }
  if (c.will && !mqtt::is_valid_topic_name(c.will->topic)) {
    if (v5) {
      refuse_connect(Reason::TopicNameInvalid, "invalid will topic");
    } else {
      protocol_error(Reason::MalformedPacket, "invalid will topic");
    }
    return;
  }
  ConnectInfo info{c.client_id,       &c.username, &c.password, transport_.peer_is_loopback(),
                   transport_.peer(), this};
  if (auto r = broker_.authenticate(info); r != Reason::Success) {
    refuse_connect(r, r == Reason::NotAuthorized ? "not authorized" : "bad user name or password");
    return;
  }
  identity_.username = c.username.value_or("");
  if (broker_.connected_count() >= limits.max_connections) {
    refuse_connect(v5 ? Reason::ServerBusy : Reason::ServerUnavailable, "too many connections");
    return;
  }
  if (c.will && !broker_.authorizer().can_publish(identity_, c.will->topic)) {
    refuse_connect(Reason::NotAuthorized, "will topic not allowed");
    return;
  }

  mqtt::Connack ack;
  std::string client_id = c.client_id;
  if (client_id.empty()) {
    // MQTT 3.1.1 §3.1.3-8: an empty id needs a clean session; MQTT 5.0 §3.1.3-6: the server assigns one.
    if (!v5 && !c.clean_start) {
      refuse_connect(Reason::ClientIdentifierNotValid, "empty client id with a persistent session");
      return;
    }
    client_id = broker_.assign_client_id();
    if (v5) ack.properties.assigned_client_identifier = client_id;
    identity_.client_id = client_id;
  }

  // Session lifetime: MQTT 3.1.1 clean session 0 keeps it forever; MQTT 5 uses Session Expiry Interval.
  std::uint32_t expiry = 0;
  if (v5) {
    expiry = c.properties.session_expiry_interval.value_or(0);
    if (expiry > limits.max_session_expiry) {
      expiry = limits.max_session_expiry;
      ack.properties.session_expiry_interval = expiry;
    }
  } else {
    expiry = c.clean_start ? 0 : Session::kNeverExpires;
  }
  session_expiry_ = expiry;

  keep_alive_ = c.keep_alive;
  if (v5 && limits.max_keepalive != 0 && (keep_alive_ == 0 || keep_alive_ > limits.max_keepalive)) {
    keep_alive_ = limits.max_keepalive;
    ack.properties.server_keep_alive = keep_alive_;  // MQTT 5.0 §3.2.2.3.14
  }
  if (v5) {
    client_receive_maximum_ = c.properties.receive_maximum.value_or(65535);
    client_max_packet_ = c.properties.maximum_packet_size.value_or(0);
    ack.properties.receive_maximum = limits.receive_maximum;
    ack.properties.maximum_packet_size = limits.max_packet_size;
    ack.properties.topic_alias_maximum = limits.topic_alias_maximum;
  }
  if (c.will) extras().will = std::make_unique<mqtt::Will>(std::move(*c.will));

  ack.session_present = broker_.open_session(*this, client_id, c.clean_start, expiry);
  state_ = State::Connected;
  last_rx_ = broker_.clock().now_ms();  // keepalive runs from the CONNECT
  broker_.stats().connections_accepted++;
  GW_LOG(Debug, "broker", "client %s connected from %s (level %d, keepalive %u, session %s)",
         client_id.c_str(), transport_.peer().c_str(), static_cast<int>(version_), keep_alive_,
         ack.session_present ? "resumed" : "new");
  auto& buf = broker_.scratch();
  buf.clear();
  mqtt::encode(ack, version_, buf);
  broker_.stats().bytes_sent += buf.size();
  transport_.send(buf);
  broker_.resume(*this);
  if (auto* ext = broker_.extension()) ext->on_connected(*this);
}

void Connection::deliver_direct(const MessagePtr& m, std::uint8_t qos) {
  if (session_ && state_ == State::Connected) broker_.deliver_to(*session_, m, qos);
}

void Connection::handle_publish(mqtt::Publish& p) {
  const bool v5 = version_ == mqtt::Version::V5;
  // Topic aliases (MQTT 5.0 §3.3.2.3.4).
  if (v5 && p.properties.topic_alias) {
    std::uint16_t alias = *p.properties.topic_alias;
    if (alias == 0 || alias > broker_.limits().topic_alias_maximum) {
      protocol_error(Reason::TopicAliasInvalid, "topic alias out of range");
      return;
    }
    auto& slot = extras().topic_aliases;
    if (!slot) slot = std::make_unique<std::vector<std::string>>();
    auto& aliases = *slot;
    if (aliases.size() <= alias) aliases.resize(alias + 1u);
    if (p.topic.empty()) {
      if (aliases[alias].empty()) {
        protocol_error(Reason::ProtocolError, "unknown topic alias");
        return;
      }
      p.topic = aliases[alias];
    } else {
      aliases[alias] = p.topic;
    }
  }
  if (v5 && !p.properties.subscription_identifiers.empty()) {
    protocol_error(Reason::ProtocolError,
                   "subscription identifier in a client PUBLISH");  // MQTT 5.0 §3.3.4-6
    return;
  }
  if (p.topic.empty() || !mqtt::is_valid_topic_name(p.topic)) {
    protocol_error(v5 && p.topic.empty() ? Reason::ProtocolError : Reason::TopicNameInvalid,
                   "invalid topic name");
    return;
  }
  // MQTT 5.0 §3.3.4-9: QoS 1/2 PUBLISH not yet acknowledged count against our Receive Maximum.
  if (v5 && p.qos > 0 && pending_acks() + session_->inbound_qos2.size() >= broker_.limits().receive_maximum &&
      !(p.qos == 2 && session_->inbound_qos2.contains(p.packet_id))) {
    protocol_error(Reason::ReceiveMaximumExceeded, "receive maximum exceeded");
    return;
  }

  const bool allowed = p.qos <= broker_.authorizer().max_qos(identity_) &&
                       broker_.authorizer().can_publish(identity_, p.topic);
  const bool duplicate = p.qos == 2 && session_->inbound_qos2.contains(p.packet_id);
  auto* persistence = broker_.persistence();
  std::shared_ptr<Broker::PublishTicket> ticket;
  if (!allowed) {
    broker_.stats().drop(DropReason::NotAuthorized);
    if (auto* ext = broker_.extension()) ext->on_publish_refused(*this, p.topic);
  } else if (!duplicate) {
    auto msg = std::make_shared<Message>();
    msg->topic = std::move(p.topic);
    msg->payload = std::move(p.payload);
    msg->qos = p.qos;
    msg->retain = p.retain;
    auto& sender = extras().sender;
    if (!sender || *sender != identity_.client_id)
      sender = std::make_shared<const std::string>(identity_.client_id);
    msg->sender = sender;
    if (v5) {
      msg->props = forwarded_properties(p.properties);
      if (p.properties.message_expiry_interval) {
        msg->expiry_at = broker_.clock().now_ms() + Millis(*p.properties.message_expiry_interval) * 1000;
      }
    }
    auto* ext = broker_.extension();
    if (!(ext && ext->on_publish(*this, msg))) {
      if (p.qos > 0 && persistence) {
        ticket = std::make_shared<Broker::PublishTicket>();
        broker_.set_current_ticket(ticket);
      }
      broker_.publish(msg);
      broker_.set_current_ticket(nullptr);
    }
    if (p.qos == 2) {
      std::uint64_t seq = 0;
      if (persistence && session_->persistent() && session_->stored) {
        seq = ++session_->last_seq;
        persistence->inbound_qos2(*session_, seq, p.packet_id);
      }
      session_->inbound_qos2[p.packet_id] = seq;
    }
  }
  if (p.qos == 0) return;
  mqtt::Ack ack{p.qos == 1 ? mqtt::PacketType::Puback : mqtt::PacketType::Pubrec,
                p.packet_id,
                allowed ? Reason::Success : Reason::NotAuthorized,
                {}};
  if (!allowed && !v5) {
    // MQTT 3.1.1 has no way to refuse a PUBLISH: acknowledge and drop (as the spec's §4.7 authorization
    // note allows), so the client does not resend it forever.
    ack.reason = Reason::Success;
  }
  if (!ticket || !persistence->dirty()) {
    queue_ack(ack);
    return;
  }
  // Durable writes happened for this message (outbox, a persistent session's queue, retained): the
  // acknowledgement waits until they committed (storage/README.md "What is durable when").
  auto& acks = extras().acks;
  if (!acks) acks = std::make_unique<AckQueue>();
  const std::uint64_t number = acks->base + acks->q.size();
  acks->q.push_back(PendingAck{ack, false, false});
  persistence->barrier([&b = broker_, conn_id = id_, number, ticket](Reason r) {
    if (Connection* c = b.connection_by_id(conn_id)) {
      c->complete_ack(number, r != Reason::Success ? r : ticket->reason);
    }
  });
}

void Connection::queue_ack(const mqtt::Ack& ack) {
  if (pending_acks() == 0) {
    send(ack);
    return;
  }
  extras_->acks->q.push_back(PendingAck{ack, true, false});
}

void Connection::complete_ack(std::uint64_t ticket, Reason reason) {
  AckQueue* acks = extras_ ? extras_->acks.get() : nullptr;
  if (!acks || ticket < acks->base || ticket - acks->base >= acks->q.size()) return;
  PendingAck& pa = acks->q.at(ticket - acks->base);
  pa.ready = true;
  if (reason != Reason::Success) {
    broker_.stats().store_refusals++;
    if (pa.ack.type == mqtt::PacketType::Pubrec && session_) {
      // Not stored: forget the packet id so the client's retransmission is routed again.
      auto it = session_->inbound_qos2.find(pa.ack.packet_id);
      if (it != session_->inbound_qos2.end()) {
        if (it->second != 0) broker_.persistence()->message_deleted(*session_, it->second);
        session_->inbound_qos2.erase(it);
      }
    }
    if (version_ == mqtt::Version::V5) {
      pa.ack.reason = reason;
    } else {
      pa.suppress = true;
    }
  }
  flush_acks();
}

void Connection::flush_acks() {
  AckQueue* acks = extras_ ? extras_->acks.get() : nullptr;
  while (acks && !acks->q.empty() && acks->q.front().ready) {
    PendingAck pa = std::move(acks->q.front());
    acks->q.pop_front();
    ++acks->base;
    if (!pa.suppress && state_ == State::Connected) send(pa.ack);
  }
}

void Connection::handle_disconnect(const mqtt::Disconnect& d) {
  // MQTT 5.0 §3.14.2.2.2: a session expiry of 0 at CONNECT cannot be raised at DISCONNECT.
  if (d.properties.session_expiry_interval) {
    if (session_expiry_ == 0 && *d.properties.session_expiry_interval != 0) {
      protocol_error(Reason::ProtocolError, "session expiry raised from 0 at DISCONNECT");
      return;
    }
    session_expiry_ = std::min(*d.properties.session_expiry_interval, broker_.limits().max_session_expiry);
    if (session_) session_->expiry_interval = session_expiry_;
  }
  // A normal DISCONNECT discards the will; reason 0x04 asks for it to be published (MQTT 5.0 §3.14.2.1).
  if (d.reason != Reason::DisconnectWithWill && extras_) extras_->will.reset();
  graceful_ = true;
  state_ = State::Closing;
  transport_.close();
}

// The v5 properties a delivery goes out with: the forwarded ones, plus subscription identifiers and the
// remaining message expiry (MQTT 5.0 §3.3.2.3.3). Points at `extra` only when it had to add something.
static const mqtt::Properties* delivery_properties(const Delivery& d, Millis now, mqtt::Properties& extra) {
  const Message& m = *d.msg;
  if (d.subscription_ids.empty() && m.expiry_at == 0) return m.props.get();
  if (m.props) extra = *m.props;
  extra.subscription_identifiers = d.subscription_ids;
  if (m.expiry_at != 0) {
    Millis left = m.expiry_at > now ? m.expiry_at - now : 0;
    extra.message_expiry_interval = static_cast<std::uint32_t>((left + 999) / 1000);
  }
  return &extra;
}

bool Connection::fits(const Delivery& d) const {
  if (version_ != mqtt::Version::V5 || client_max_packet_ == 0) return true;
  mqtt::Properties extra;
  const auto* props = delivery_properties(d, broker_.clock().now_ms(), extra);
  return mqtt::publish_size(version_, d.msg->topic, d.msg->payload.size(), d.qos, props) <=
         client_max_packet_;
}

void Connection::send_publish(const Delivery& d, std::uint16_t packet_id, bool dup) {
  const Message& m = *d.msg;
  mqtt::Properties extra;
  const mqtt::Properties* props =
      version_ == mqtt::Version::V5 ? delivery_properties(d, broker_.clock().now_ms(), extra) : nullptr;
  auto& buf = broker_.scratch();
  buf.clear();
  mqtt::encode_publish(buf, version_, m.topic, m.payload, d.qos, d.retain, dup, packet_id, props);
  auto& stats = broker_.stats();
  stats.messages_sent++;
  stats.bytes_sent += buf.size();
  transport_.send(buf);
}

void Connection::send_pubrel(std::uint16_t packet_id) {
  send(mqtt::Ack{mqtt::PacketType::Pubrel, packet_id, Reason::Success, {}});
}

}  // namespace gw::broker
