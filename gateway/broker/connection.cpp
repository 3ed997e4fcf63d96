// Connection: framing, the CONNECT handshake, and dispatch of decoded packets to the broker.
// Malformed input and protocol violations close this one connection with the reason the spec gives
// (MQTT 5.0 §4.13); nothing here throws or asserts on network input.
#include "gateway/broker/connection.hpp"

#include "gateway/base/log.hpp"
#include "gateway/broker/broker.hpp"
#include "protocols/mqtt/names.hpp"
#include "protocols/mqtt/topic.hpp"

namespace gw::broker {

using mqtt::Reason;

namespace {

const char* version_name(mqtt::Version v) {
  switch (v) {
    case mqtt::Version::V31:
      return "3.1";
    case mqtt::Version::V311:
      return "3.1.1";
    case mqtt::Version::V5:
      return "5";
  }
  return "?";
}

// The trace line of one whole packet, in or out, read from its bytes so that both directions go through
// here: type, packet id, QoS and topic where the packet has them, and its size. Never the payload, the
// password or properties. Reads only within `packet` (an inbound packet may still be malformed).
void trace_packet(const char* dir, const std::string& client_id, std::string_view peer,
                  mqtt::ByteView packet) {
  if (packet.empty()) return;
  const auto type = static_cast<mqtt::PacketType>(packet[0] >> 4);
  std::size_t pos = 1;
  while (pos < packet.size() && pos < 5 && (packet[pos] & 0x80) != 0) ++pos;  // remaining length varint
  ++pos;
  auto u16 = [&](std::size_t at) -> int {
    return at + 2 <= packet.size() ? (packet[at] << 8) | packet[at + 1] : -1;
  };
  char detail[320] = "";
  if (type == mqtt::PacketType::Publish) {
    const int qos = (packet[0] >> 1) & 3;
    const int len = u16(pos);
    std::string_view topic;
    int id = -1;
    if (len >= 0 && pos + 2 + static_cast<std::size_t>(len) <= packet.size()) {
      topic = std::string_view(reinterpret_cast<const char*>(packet.data()) + pos + 2,
                               static_cast<std::size_t>(len));
      if (qos > 0) id = u16(pos + 2 + static_cast<std::size_t>(len));
    }
    constexpr std::size_t kMaxTopicShown = 200;
    std::snprintf(detail, sizeof detail, " id %d qos %d%s topic \"%.*s\"%s", id, qos,
                  packet[0] & 0x08 ? " dup" : "", static_cast<int>(std::min(topic.size(), kMaxTopicShown)),
                  topic.data(), packet[0] & 0x01 ? " retain" : "");
  } else if (type >= mqtt::PacketType::Puback && type <= mqtt::PacketType::Unsuback) {
    std::snprintf(detail, sizeof detail, " id %d", u16(pos));
  }
  GW_LOG(Trace, "broker", "%s client \"%s\" (%.*s): %s%s, %zu bytes", dir, client_id.c_str(),
         static_cast<int>(peer.size()), peer.data(), mqtt::type_name(type), detail, packet.size());
}

}  // namespace

Connection::Connection(Broker& broker, Transport& transport) : broker_(broker), transport_(transport) {
  last_rx_ = broker_.clock().now_ms();
  id_ = broker_.attach(*this);
}

Connection::~Connection() = default;

// MQTT 5.0 §3.1.2.11.4 [MQTT-3.1.2-24]: nothing larger than the client's Maximum Packet Size goes out.
// The Reason String and User Properties go first (the spec's rule for each packet that carries them,
// e.g. [MQTT-3.2.2-19], [MQTT-3.2.2-20]); a packet still too large is not sent [MQTT-3.1.2-25].
// Encodes into the broker's scratch buffer; true when it holds a packet that fits.
template <typename P>
bool Connection::encode_for_client(P& packet) {
  auto& buf = broker_.scratch();
  buf.clear();
  mqtt::encode(packet, version_, buf);
  if (client_max_packet_ == 0 || buf.size() <= client_max_packet_) return true;
  if constexpr (requires { packet.properties.reason_string; }) {
    packet.properties.reason_string.reset();
    packet.properties.user_properties.clear();
    buf.clear();
    mqtt::encode(packet, version_, buf);
    if (buf.size() <= client_max_packet_) return true;
  }
  GW_LOG(Info, "broker", "not sending a %s of %zu bytes to %s: over its maximum packet size %u",
         mqtt::type_name(mqtt::type_of(mqtt::Packet{packet})), buf.size(), identity_.client_id.c_str(),
         client_max_packet_);
  return false;
}

template <typename P>
void Connection::send(const P& packet) {
  if (transport_.takes_packets()) {
    transport_.packet(mqtt::Packet{packet});
    return;
  }
  P copy = packet;
  if (!encode_for_client(copy)) return;
  auto& buf = broker_.scratch();
  broker_.stats().bytes_sent += buf.size();
  write(buf);
}

void Connection::write(const mqtt::Buffer& packet) {
  if (log::enabled(log::Level::Trace)) {
    trace_packet("out", identity_.client_id, transport_.peer(),
                 mqtt::ByteView(reinterpret_cast<const std::uint8_t*>(packet.data()), packet.size()));
  }
  transport_.send(packet);
}

void Connection::log_end(const char* what, const char* why) {
  if (!log::enabled(log::Level::Info)) return;
  if (state_ == State::AwaitConnect) {
    GW_LOG(Info, "broker", "closed connection from %s before CONNECT: %s%s", transport_.peer().c_str(), what,
           why);
    return;
  }
  GW_LOG(Info, "broker", "client \"%s\" disconnected from %s (user %s): %s%s", identity_.client_id.c_str(),
         transport_.peer().c_str(), identity_.username.empty() ? "-" : identity_.username.c_str(), what, why);
}
template void Connection::send(const mqtt::Ack&);
template void Connection::send(const mqtt::Suback&);
template void Connection::send(const mqtt::Unsuback&);
template void Connection::send(const mqtt::Connack&);
template void Connection::send(const mqtt::Disconnect&);
template void Connection::send(const mqtt::Pingresp&);

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
    if (log::enabled(log::Level::Trace))
      trace_packet("in", identity_.client_id, transport_.peer(), data.subspan(off, frame.total()));
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
  if (state_ == State::Closing) return;
  if (log::enabled(log::Level::Info)) {
    char what[96];
    std::snprintf(what, sizeof what,
                  "protocol error %.*s (0x%02x): ", static_cast<int>(mqtt::reason_name(reason).size()),
                  mqtt::reason_name(reason).data(), static_cast<unsigned>(reason));
    log_end(what, why);
  }
  if (state_ == State::AwaitConnect) {
    // MQTT 3.1.1 §3.1.4: a CONNECT with an unsupported level gets CONNACK 1 then a close.
    if (reason == Reason::UnsupportedProtocolVersion) {
      auto& buf = broker_.scratch();
      buf.clear();
      mqtt::encode(mqtt::Connack{false, Reason::UnsupportedProtocolVersion, {}}, mqtt::Version::V311, buf);
      write(buf);
    }
    state_ = State::Closing;
    transport_.close();
    return;
  }
  close(reason, why);
}

void Connection::close_with(Reason reason, const char* why) {
  if (state_ == State::Closing) return;
  if (log::enabled(log::Level::Info)) {
    switch (reason) {
      case Reason::KeepAliveTimeout:
        log_end("keepalive timeout", "");
        break;
      case Reason::SessionTakenOver:
        log_end("takeover (a new connection with the same client id)", "");
        break;
      case Reason::ServerShuttingDown:
        log_end("server shutdown", "");
        break;
      default: {
        // "slow consumer", "key removed from the configuration", "no CONNECT in time", ...
        char what[96];
        std::snprintf(what, sizeof what, "closed by the gateway (%.*s, 0x%02x): ",
                      static_cast<int>(mqtt::reason_name(reason).size()), mqtt::reason_name(reason).data(),
                      static_cast<unsigned>(reason));
        log_end(what, why);
      }
    }
  }
  close(reason, why);
}

void Connection::close(Reason reason, const char* why) {
  close_reason_ = reason;
  if (state_ == State::Connected && version_ == mqtt::Version::V5 && static_cast<int>(reason) >= 0x80) {
    mqtt::Disconnect d;
    d.reason = reason;
    if (why && *why) d.properties.reason_string = why;
    send(d);
  }
  state_ = State::Closing;
  transport_.close();
}

void Connection::on_closed() {
  if (state_ == State::Connected) log_end("connection lost", "");
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
  return dispatch(*decoded);
}

void Connection::on_packet(mqtt::Packet& p) {
  if (state_ == State::Closing) return;
  if (state_ != State::AwaitConnect) last_rx_ = broker_.clock().now_ms();
  dispatch(p);
}

bool Connection::dispatch(mqtt::Packet& pkt) {
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
      stats.protocols[proto_].received[std::min<std::uint8_t>(std::get<mqtt::Publish>(pkt).qos, 2)]++;
      handle_publish(std::get<mqtt::Publish>(pkt));
      // Flow control: a subscriber had no room, so the rest of what was read waits (on_data keeps it).
      if (flow_blocked()) return false;
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
    case 8:  // Pingreq
      send(mqtt::Pingresp{});
      break;
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

void Connection::refuse_connect(Reason reason, const char* why, const std::optional<std::string>& user) {
  broker_.stats().connections_refused++;
  GW_LOG(Info, "broker", "refused CONNECT from %s: client \"%s\", user %s: %s (%.*s, 0x%02x)",
         transport_.peer().c_str(), identity_.client_id.c_str(), user ? user->c_str() : "-", why,
         static_cast<int>(mqtt::reason_name(reason).size()), mqtt::reason_name(reason).data(),
         static_cast<unsigned>(reason));
  mqtt::Connack ack{false, reason, {}};
  if (version_ == mqtt::Version::V5) ack.properties.reason_string = why;
  send(ack);
  state_ = State::Closing;
  transport_.close();
}

void Connection::handle_connect(mqtt::Connect& c) {
  version_ = c.version;
  identity_.client_id = c.client_id;
  const auto& limits = broker_.limits();
  const bool v5 = version_ == mqtt::Version::V5;

  if (v5) client_max_packet_ = c.properties.maximum_packet_size.value_or(0);  // for every answer below
  if (v5 && c.properties.authentication_method) {
    refuse_connect(Reason::BadAuthenticationMethod, "enhanced authentication is not supported", c.username);
    return;
  }
  if (c.will &&
      (!mqtt::is_valid_topic_name(c.will->topic) ||
       !mqtt::within_topic_bounds(c.will->topic, limits.max_topic_levels, limits.max_topic_length))) {
    if (v5) {
      refuse_connect(Reason::TopicNameInvalid, "invalid will topic", c.username);
    } else {
      protocol_error(Reason::MalformedPacket, "invalid will topic");
    }
    return;
  }
  // A listener with tls.use_identity_as_username: the verified client certificate's CN is the user name,
  // whatever the CONNECT says, and no password is needed (it would be one more secret on the device).
  std::string identity = transport_.peer_identity();
  if (!identity.empty()) {
    c.username = std::move(identity);
    c.password.reset();
  }
  ConnectInfo info{c.client_id,
                   &c.username,
                   &c.password,
                   transport_.peer_is_loopback(),
                   transport_.peer(),
                   this,
                   c.username.has_value() && !transport_.peer_identity().empty()};
  if (auto r = broker_.authenticate(info); r != Reason::Success) {
    const char* why = r == Reason::NotAuthorized ? "not authorized"
                      : r == Reason::ServerBusy  ? "too many password checks this second, retry later"
                                                 : "bad user name or password";
    refuse_connect(r, why, c.username);
    return;
  }
  identity_.username = c.username.value_or("");
  if (broker_.connected_count() >= limits.max_connections) {
    refuse_connect(v5 ? Reason::ServerBusy : Reason::ServerUnavailable, "too many connections", c.username);
    return;
  }
  if (c.will && !broker_.authorizer().can_publish(identity_, c.will->topic)) {
    refuse_connect(Reason::NotAuthorized, "will topic not allowed", c.username);
    return;
  }

  mqtt::Connack ack;
  std::string client_id = c.client_id;
  if (client_id.empty()) {
    // MQTT 3.1 §3.1: the client id is 1 to 23 characters, so an empty one is refused with CONNACK 2
    // (only 3.1.1 and 5.0 let the server assign one).
    if (version_ == mqtt::Version::V31) {
      refuse_connect(Reason::ClientIdentifierNotValid, "empty client id in MQTT 3.1", c.username);
      return;
    }
    // MQTT 3.1.1 §3.1.3-8: an empty id needs a clean session; MQTT 5.0 §3.1.3-6: the server assigns one.
    if (!v5 && !c.clean_start) {
      refuse_connect(Reason::ClientIdentifierNotValid, "empty client id with a persistent session",
                     c.username);
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
    ack.properties.receive_maximum = limits.receive_maximum;
    ack.properties.maximum_packet_size = limits.max_packet_size;
    ack.properties.topic_alias_maximum = limits.topic_alias_maximum;
  }
  // A CONNACK that cannot fit the client's Maximum Packet Size even without its optional strings is
  // not sent, so the connection is closed before it opens (or takes over) a session. Session Present
  // does not change the size.
  if (!encode_for_client(ack)) {
    broker_.stats().connections_refused++;
    state_ = State::Closing;
    transport_.close();
    return;
  }
  if (c.will) extras().will = std::make_unique<mqtt::Will>(std::move(*c.will));

  ack.session_present = broker_.open_session(*this, client_id, c.clean_start, expiry);
  state_ = State::Connected;
  last_rx_ = broker_.clock().now_ms();  // keepalive runs from the CONNECT
  broker_.stats().connections_accepted++;
  GW_LOG(Info, "broker", "client \"%s\" connected from %s: user %s, MQTT %s, %s session (%s), keepalive %u",
         client_id.c_str(), transport_.peer().c_str(),
         identity_.username.empty() ? "-" : identity_.username.c_str(), version_name(version_),
         expiry == 0 ? "clean" : "persistent", ack.session_present ? "resumed" : "new", keep_alive_);
  // The rest of what the client asked for, for debugging a device's settings.
  const mqtt::Will* w = will();
  GW_LOG(
      Debug, "broker",
      "client \"%s\": session expiry %u s, receive maximum %u, maximum packet size %u (0 = none), will %s%s",
      client_id.c_str(), expiry, static_cast<unsigned>(client_receive_maximum_), client_max_packet_,
      w ? "on " : "none", w ? w->topic.c_str() : "");
  send(ack);
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
  if (!mqtt::within_topic_bounds(p.topic, broker_.limits().max_topic_levels,
                                 broker_.limits().max_topic_length)) {
    protocol_error(Reason::TopicNameInvalid, "topic over limits.max_topic_levels or max_topic_length");
    return;
  }
  // MQTT 5.0 §3.3.4-9: QoS 1/2 PUBLISH not yet acknowledged count against our Receive Maximum.
  if (v5 && p.qos > 0 && at_receive_maximum() &&
      !(p.qos == 2 && session_->inbound_qos2.contains(p.packet_id))) {
    protocol_error(Reason::ReceiveMaximumExceeded, "receive maximum exceeded");
    return;
  }

  const bool allowed = p.qos <= broker_.authorizer().max_qos(identity_) &&
                       broker_.authorizer().can_publish(identity_, p.topic);
  const bool duplicate = p.qos == 2 && session_->inbound_qos2.contains(p.packet_id);
  auto* persistence = broker_.persistence();
  std::shared_ptr<Broker::PublishTicket> ticket;
  Reason refused = Reason::Success;  // refused before routing: delivered nowhere (Broker::publish)
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
    // The ticket is there while the extension looks too: a durable write it makes (a feed point) holds
    // the acknowledgement like the broker's own.
    if (p.qos > 0 && persistence) {
      ticket = std::make_shared<Broker::PublishTicket>();
      broker_.set_current_ticket(ticket);
    }
    auto* ext = broker_.extension();
    if (!(ext && ext->on_publish(*this, msg))) refused = broker_.publish_from(*this, msg);
    broker_.set_current_ticket(nullptr);
    if (p.qos == 2 && refused == Reason::Success) {
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
  if (refused != Reason::Success) {
    // Refused before it went anywhere (the outbox is full under reject_new, ...): v5 is told why;
    // MQTT 3.1.1 cannot refuse, so it gets no acknowledgement and resends later, like a failed commit.
    broker_.stats().store_refusals++;
    ack.reason = refused;
    if (v5) queue_ack(ack);
    return;
  }
  const bool durable = ticket && persistence->dirty();
  if (!durable && !flow_blocked()) {
    queue_ack(ack);
    return;
  }
  // The acknowledgement waits: for the commit of the durable writes this message caused (outbox, a
  // persistent session's queue, retained; storage/README.md "What is durable when"), and/or for room at
  // the subscribers whose queues it filled (flow_hold). It goes once both are met, in PUBLISH order.
  auto& acks = extras().acks;
  if (!acks) acks = std::make_unique<AckQueue>();
  const std::uint64_t number = acks->base + acks->q.size();
  acks->q.push_back(PendingAck{ack, static_cast<std::uint8_t>(int(durable) + int(flow_blocked())), false});
  if (flow_blocked()) {
    acks->flow_ticket = number;
    broker_.stats().acks_withheld++;
  }
  if (!durable) return;
  persistence->barrier([&b = broker_, conn_id = id_, number, ticket](Reason r) {
    if (Connection* c = b.connection_by_id(conn_id)) {
      c->complete_ack(number, r != Reason::Success ? r : ticket->reason);
    }
  });
}

void Connection::flow_hold() {
  if (flow_blocks_++ > 0) return;
  broker_.stats().flow_paused++;
  broker_.stats().reads_paused++;
  transport_.set_flow_paused(true);
}

void Connection::flow_release() {
  if (flow_blocks_ == 0 || --flow_blocks_ > 0) return;
  // Not reading was our choice, not the client's silence: its keepalive runs again from now.
  last_rx_ = broker_.clock().now_ms();
  if (AckQueue* acks = extras_ ? extras_->acks.get() : nullptr; acks && acks->flow_ticket != kNoTicket) {
    const std::uint64_t number = acks->flow_ticket;
    acks->flow_ticket = kNoTicket;
    complete_ack(number, Reason::Success);
  }
  if (state_ != State::Connected) return;
  // Packets read before the pause and not handled yet go first; one of them may pause it again.
  if (extras_ && extras_->in) on_data({});
  if (flow_blocks_ == 0 && state_ == State::Connected) transport_.set_flow_paused(false);
}

void Connection::queue_ack(const mqtt::Ack& ack) {
  if (pending_acks() == 0) {
    send(ack);
    return;
  }
  extras_->acks->q.push_back(PendingAck{ack, 0, false});
}

bool Connection::at_receive_maximum() const {
  const std::size_t max = broker_.limits().receive_maximum;
  const auto& qos2 = session_->inbound_qos2;  // received, not released yet: PUBREC sent or waiting
  const std::size_t waiting = pending_acks();
  if (waiting + qos2.size() < max) return false;  // an upper bound, and the common case
  if (waiting == 0) return true;
  // Exactly: a waiting PUBREC whose packet id is in the set is that message again (its own, or a
  // retransmission's). Counted twice, a client keeping Receive Maximum QoS 2 messages in flight while
  // their PUBRECs waited for a commit was disconnected at half of it.
  std::size_t n = qos2.size();
  for (const PendingAck& pa : extras_->acks->q) {
    if (pa.ack.type != mqtt::PacketType::Pubrec || !qos2.contains(pa.ack.packet_id)) ++n;
  }
  return n >= max;
}

void Connection::complete_ack(std::uint64_t ticket, Reason reason) {
  AckQueue* acks = extras_ ? extras_->acks.get() : nullptr;
  if (!acks || ticket < acks->base || ticket - acks->base >= acks->q.size()) return;
  PendingAck& pa = acks->q.at(ticket - acks->base);
  if (pa.waits > 0) --pa.waits;
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
  while (acks && !acks->q.empty() && acks->q.front().waits == 0) {
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
  log_end(d.reason == Reason::DisconnectWithWill ? "client DISCONNECT (with will)" : "client DISCONNECT", "");
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
  if (transport_.takes_packets()) {
    auto& stats = broker_.stats();
    stats.messages_sent++;
    stats.protocols[proto_].sent[std::min<std::uint8_t>(d.qos, 2)]++;
    transport_.deliver(d, packet_id);
    return;
  }
  const Message& m = *d.msg;
  mqtt::Properties extra;
  const mqtt::Properties* props =
      version_ == mqtt::Version::V5 ? delivery_properties(d, broker_.clock().now_ms(), extra) : nullptr;
  auto& buf = broker_.scratch();
  buf.clear();
  mqtt::encode_publish(buf, version_, m.topic, m.payload, d.qos, d.retain, dup, packet_id, props);
  auto& stats = broker_.stats();
  stats.messages_sent++;
  stats.protocols[proto_].sent[std::min<std::uint8_t>(d.qos, 2)]++;
  stats.bytes_sent += buf.size();
  write(buf);
}

void Connection::send_pubrel(std::uint16_t packet_id) {
  send(mqtt::Ack{mqtt::PacketType::Pubrel, packet_id, Reason::Success, {}});
}

}  // namespace gw::broker
