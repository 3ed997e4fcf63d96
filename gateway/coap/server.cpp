// The CoAP front end (see server.hpp and gateway/coap/README.md).
#include "gateway/coap/server.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <random>

#include "gateway/base/log.hpp"
#include "gateway/coap/request.hpp"

namespace gw::coap {

namespace {

constexpr std::uint16_t kFormatText = 0;
constexpr std::uint16_t kFormatJson = 50;
// Publishes one endpoint may have waiting for their PUBACK; below the broker's receive maximum, which
// would otherwise close the endpoint's connection (MQTT 5.0 §3.3.4).
constexpr std::size_t kMaxPendingPerEndpoint = 32;
// Notifications waiting for the next flush (one loop iteration) per endpoint; past it the oldest goes.
constexpr std::size_t kMaxQueuedNotifications = 256;
constexpr std::uint32_t kBusyMaxAge = 1;  // seconds a refused client should wait (Max-Age of 5.03/4.29)

std::string random_token() {
  static std::random_device rd;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%08x%08x", rd(), rd());
  return buf;
}

std::string address_string(const coap_address_t* a) {
  char buf[INET6_ADDRSTRLEN + 16] = {0};
  char host[INET6_ADDRSTRLEN] = {0};
  if (a->addr.sa.sa_family == AF_INET) {
    inet_ntop(AF_INET, &a->addr.sin.sin_addr, host, sizeof host);
    std::snprintf(buf, sizeof buf, "%s:%u", host, ntohs(a->addr.sin.sin_port));
  } else if (a->addr.sa.sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &a->addr.sin6.sin6_addr, host, sizeof host);
    std::snprintf(buf, sizeof buf, "[%s]:%u", host, ntohs(a->addr.sin6.sin6_port));
  }
  return buf;
}

bool is_loopback(const coap_address_t* a) {
  if (a->addr.sa.sa_family == AF_INET) return (ntohl(a->addr.sin.sin_addr.s_addr) >> 24) == 127;
  if (a->addr.sa.sa_family == AF_INET6) return IN6_IS_ADDR_LOOPBACK(&a->addr.sin6.sin6_addr);
  return false;
}

int code_of(mqtt::Reason r) {
  switch (r) {
    case mqtt::Reason::Success:
      return 204;
    case mqtt::Reason::NotAuthorized:
      return 403;
    case mqtt::Reason::QuotaExceeded:
      return 429;  // the outbox (or a stored session's queue) is full under reject_new
    case mqtt::Reason::BadUserNameOrPassword:
      return 401;
    case mqtt::Reason::PacketTooLarge:
      return 413;
    case mqtt::Reason::TopicNameInvalid:
      return 400;
    default:
      return 503;  // the store failed the write, or the broker is busy
  }
}

// HTTP status of the REST API -> CoAP code (RFC 8075 §7 in reverse, for the statuses REST answers).
int code_of_http(int status, bool get) {
  switch (status) {
    case 200:
      return get ? 205 : 204;
    case 400:
      return 400;
    case 401:
      return 401;
    case 403:
      return 403;
    case 404:
      return 404;
    case 405:
      return 405;
    case 413:
      return 413;
    case 507:  // not stored: the outbox or the store refused the message
      return 503;
    default:
      return status >= 500 ? 503 : 400;
  }
}

void log_handler(coap_log_t level, const char* message) {
  std::string m(message);
  while (!m.empty() && (m.back() == '\n' || m.back() == '\r')) m.pop_back();
  if (level <= LOG_ERR) {
    GW_LOG(Warn, "coap", "libcoap: %s", m.c_str());
  } else {
    GW_LOG(Debug, "coap", "libcoap: %s", m.c_str());
  }
}

// The UDP socket bound to `a` (address and port), or -1. libcoap 4.3.1 keeps its endpoints' sockets to
// itself, so the process's descriptors are searched for the datagram socket with that local address.
int find_udp_socket(const coap_address_t& a) {
  const auto matches = [&a](int fd) {
    int type = 0;
    socklen_t len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_DGRAM) return false;
    sockaddr_storage local{};
    len = sizeof local;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) return false;
    if (local.ss_family != a.addr.sa.sa_family) return false;
    if (local.ss_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(&local);
      return in->sin_port == a.addr.sin.sin_port && in->sin_addr.s_addr == a.addr.sin.sin_addr.s_addr;
    }
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&local);
    return local.ss_family == AF_INET6 && in6->sin6_port == a.addr.sin6.sin6_port &&
           std::memcmp(&in6->sin6_addr, &a.addr.sin6.sin6_addr, sizeof in6->sin6_addr) == 0;
  };
  if (DIR* dir = opendir("/proc/self/fd")) {
    int found = -1;
    while (const dirent* e = readdir(dir)) {
      if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
      const int fd = std::atoi(e->d_name);
      if (fd != dirfd(dir) && matches(fd)) {
        found = fd;
        break;
      }
    }
    closedir(dir);
    return found;
  }
  const int limit = std::min(getdtablesize(), 1 << 20);  // no /proc: every descriptor number
  for (int fd = 0; fd < limit; ++fd) {
    if (matches(fd)) return fd;
  }
  return -1;
}

// The receive buffer the kernel gives `fd`, in setsockopt's terms (getsockopt reports twice that: the
// kernel doubles the value for its bookkeeping).
std::uint64_t receive_buffer_of(int fd) {
  int got = 0;
  socklen_t len = sizeof got;
  if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len) != 0) return 0;
  return static_cast<std::uint64_t>(got) / 2;
}

// coap.receive_buffer: SO_RCVBUF of the listener's socket, so that a burst of datagrams waits in the kernel
// instead of overflowing it (RcvbufErrors). SO_RCVBUF is capped at net.core.rmem_max; SO_RCVBUFFORCE (root
// or CAP_NET_ADMIN) is not. Never fails the start: a smaller buffer is one warning.
void set_receive_buffer(const std::string& name, const std::string& where, const coap_address_t& a,
                        std::uint64_t want) {
  const int fd = find_udp_socket(a);
  if (fd < 0) {
    GW_LOG(Warn, "coap",
           "listener %s (%s): its socket was not found; receive buffer left at the system default",
           name.c_str(), where.c_str());
    return;
  }
  const int ask = static_cast<int>(want);  // at most 256 MiB (config)
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &ask, sizeof ask);
  if (receive_buffer_of(fd) < want) setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &ask, sizeof ask);
  const std::uint64_t got = receive_buffer_of(fd);
  if (got >= want) {
    GW_LOG(Debug, "coap", "listener %s (%s): receive buffer %llu bytes", name.c_str(), where.c_str(),
           static_cast<unsigned long long>(got));
    return;
  }
  std::string rmem_max = "?";
  std::ifstream("/proc/sys/net/core/rmem_max") >> rmem_max;
  GW_LOG(
      Warn, "coap",
      "listener %s (%s): receive buffer %llu bytes asked (coap.receive_buffer), %llu obtained: "
      "net.core.rmem_max is %s; raise it with 'sysctl -w net.core.rmem_max=%llu' (or run with CAP_NET_ADMIN)",
      name.c_str(), where.c_str(), static_cast<unsigned long long>(want),
      static_cast<unsigned long long>(got), rmem_max.c_str(), static_cast<unsigned long long>(want));
}

}  // namespace

// ---- Endpoint: one CoAP client as an MQTT 5 client of the broker ---------------------------------------

struct Observer {
  std::string token;
  std::string filter;
  std::uint32_t sub_id = 0;
  std::uint8_t qos = 0;
  bool confirmable = false;  // every notification CON (QoS >= 1 observations)
  std::uint32_t seq = 2;     // Observe option value of the next notification (RFC 7641 §4.4)
  Millis last_con = 0;
};

class Endpoint final : public broker::Transport {
 public:
  Endpoint(Server& server, coap_session_t* session, std::string client_id, bool loopback)
      : server_(server),
        session_(session),
        peer_(address_string(coap_session_get_addr_remote(session))),
        client_id_(std::move(client_id)),
        loopback_(loopback),
        conn_(server.broker_, *this) {
    coap_session_reference(session_);
    last_seen_ = server.clock_.now_ms();
  }
  ~Endpoint() override {
    if (session_) coap_session_release(session_);
  }

  // Transport: what the broker sends this client, as values (Transport::takes_packets): no MQTT encode
  // and parse on either side.
  void send(std::string_view) override {}  // never called: takes_packets()
  bool takes_packets() const override { return true; }
  void packet(const mqtt::Packet& p) override;
  void deliver(const broker::Delivery& d, std::uint16_t packet_id) override;
  void close() override {
    if (closing_) return;
    closing_ = true;
    server_.schedule(*this);
  }
  std::size_t pending_bytes() const override { return 0; }
  void set_flow_paused(bool paused) override { paused_ = paused; }
  const std::string& peer() const override { return peer_; }
  bool peer_is_loopback() const override { return loopback_; }
  // The metrics' protocol label: CoAP clients get their own rows (Stats::protocols).
  std::string_view protocol() const override {
    return session_ != nullptr && coap_session_get_proto(session_) == COAP_PROTO_DTLS ? "coaps" : "coap";
  }

  // Hands an MQTT packet to the broker as if this client had sent it.
  template <typename P>
  void feed(P packet) {
    mqtt::Packet p{std::move(packet)};
    conn_.on_packet(p);
  }
  void feed_connect(const std::optional<std::string>& user, const std::optional<std::string>& password,
                    std::uint16_t keepalive) {
    mqtt::Connect c;
    c.protocol_name = "MQTT";
    c.version = mqtt::Version::V5;
    c.clean_start = true;
    c.keep_alive = keepalive;
    c.client_id = client_id_;
    c.username = user;
    c.password = password;
    connack_.reset();
    feed(std::move(c));
  }
  std::uint16_t next_packet_id() {
    if (++packet_id_ == 0) packet_id_ = 1;
    return packet_id_;
  }

  Server& server_;
  coap_session_t* session_;  // where notifications go (the latest one in connection mode)
  std::string peer_;
  std::string client_id_;
  bool loopback_;
  broker::Connection conn_;
  bool closing_ = false;
  bool scheduled_ = false;
  bool paused_ = false;
  bool connection_mode_ = false;
  std::string token_;  // connection mode
  Millis last_seen_ = 0;
  std::optional<mqtt::Reason> connack_;
  std::optional<mqtt::Reason> suback_;
  std::uint16_t packet_id_ = 0;
  std::uint32_t sub_ids_ = 0;
  std::vector<Observer> observers_;
  struct Waiting {
    std::uint16_t packet_id;
    std::optional<mqtt::Reason> result;  // set when the PUBACK came while the request was handled
    std::function<void(Server::Answer)> later;
  };
  std::vector<Waiting> waiting_;
  struct Note {
    std::string token;  // the observer's (checked at the flush: it may have been cancelled since)
    broker::MessagePtr msg;
  };
  // Notifications waiting for the flush after this loop iteration: a vector, empty (no heap block) while
  // idle, at most kMaxQueuedNotifications.
  std::vector<Note> notes_;
  std::vector<std::uint16_t> acks_;  // PUBACKs of QoS 1 deliveries, fed back at the flush
};

void Endpoint::packet(const mqtt::Packet& p) {
  if (auto* ca = std::get_if<mqtt::Connack>(&p)) {
    connack_ = ca->reason;
  } else if (auto* a = std::get_if<mqtt::Ack>(&p)) {
    if (a->type != mqtt::PacketType::Puback) return;
    for (auto it = waiting_.begin(); it != waiting_.end(); ++it) {
      if (it->packet_id != a->packet_id) continue;
      if (it->later) {
        auto later = std::move(it->later);
        waiting_.erase(it);
        Server::Answer ans;
        ans.code = code_of(a->reason);
        if (ans.code == 429 || ans.code == 503) ans.max_age = kBusyMaxAge;
        if (ans.code == 429) server_.stats_.outbox_full++;
        later(std::move(ans));
      } else {
        it->result = a->reason;
      }
      return;
    }
  } else if (auto* s = std::get_if<mqtt::Suback>(&p)) {
    suback_ = s->reasons.empty() ? mqtt::Reason::UnspecifiedError : s->reasons.front();
  }
}

void Endpoint::deliver(const broker::Delivery& d, std::uint16_t packet_id) {
  // One notification per observation the message matched (its subscription identifiers, MQTT 5.0 §3.3.4).
  for (std::uint32_t id : d.subscription_ids) {
    for (const Observer& o : observers_) {
      if (o.sub_id != id) continue;
      if (notes_.size() >= kMaxQueuedNotifications) {
        notes_.erase(notes_.begin());  // the oldest goes (slow_consumer); rare, so the shift is fine
        server_.broker_.stats().drop(broker::DropReason::SlowConsumer);
        server_.stats_.dropped_oldest++;
      }
      notes_.push_back(Note{o.token, d.msg});
    }
  }
  if (d.qos == 1) acks_.push_back(packet_id);
  server_.schedule(*this);
}

// ---- Server -------------------------------------------------------------------------------------------

Server::Server(uv_loop_t* loop, broker::Broker& broker, const Clock& clock, const config::Coap& cfg)
    : loop_(loop), broker_(broker), clock_(clock), cfg_(cfg) {
  map_options_.pubsub = cfg.pubsub;
  map_options_.netpie = cfg.netpie;
  map_options_.con_qos = cfg.con_qos;
  map_options_.non_qos = cfg.non_qos;
  map_options_.max_topic_bytes = broker.limits().max_topic_length;
  coap_startup();
  coap_set_log_handler(log_handler);
  coap_set_log_level(log::enabled(log::Level::Debug) ? LOG_INFO : LOG_ERR);
}

Server::~Server() {
  close();
}

std::string Server::dtls_backend() {
  const coap_tls_version_t* v = coap_get_tls_library_version();
  if (v == nullptr) return "none";
  switch (v->type) {
    case COAP_TLS_LIBRARY_OPENSSL:
      return "OpenSSL";
    case COAP_TLS_LIBRARY_GNUTLS:
      return "GnuTLS";
    case COAP_TLS_LIBRARY_MBEDTLS:
      return "Mbed TLS";
    case COAP_TLS_LIBRARY_TINYDTLS:
      return "TinyDTLS";
    default:
      return "none";
  }
}

Result<std::uint16_t, std::string> Server::listen(const std::string& name, const std::string& host,
                                                  std::uint16_t port, bool dtls) {
  if (closed_) return unexpected<std::string>(std::string("the CoAP server is closed"));
  if (ctx_ == nullptr) {
    ctx_ = coap_new_context(nullptr);
    if (ctx_ == nullptr) return unexpected<std::string>(std::string("cannot create the CoAP context"));
    coap_set_app_data(ctx_, this);
    coap_context_set_block_mode(ctx_, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
    coap_context_set_session_timeout(ctx_, cfg_.idle_timeout_s);
    coap_context_set_max_idle_sessions(ctx_, cfg_.max_endpoints);
    coap_register_nack_handler(ctx_, on_nack);
    coap_register_event_handler(ctx_, on_event);
    // One handler for every path: the unknown resource takes what no other matches; the named ones are
    // there for /.well-known/core (RFC 6690), which libcoap answers from the registered resources.
    coap_resource_t* any = coap_resource_unknown_init2(on_request, 0);
    for (auto m : {COAP_REQUEST_GET, COAP_REQUEST_POST, COAP_REQUEST_DELETE}) {
      coap_register_request_handler(any, m, on_request);
    }
    coap_add_resource(ctx_, any);
    auto named = [this](const char* path, const char* rt, bool obs) {
      coap_resource_t* r = coap_resource_init(coap_make_str_const(path), 0);
      for (auto m : {COAP_REQUEST_GET, COAP_REQUEST_POST, COAP_REQUEST_PUT, COAP_REQUEST_DELETE}) {
        coap_register_request_handler(r, m, on_request);
      }
      coap_add_attr(r, coap_make_str_const("rt"), coap_make_str_const(rt), 0);
      if (obs) coap_add_attr(r, coap_make_str_const("obs"), nullptr, 0);
      coap_add_resource(ctx_, r);
    };
    if (cfg_.pubsub) {
      named("ps", "\"core.ps\"", true);
      named("mqtt/connection", "\"mqtt.connection\"", false);
    }
    if (cfg_.netpie) {
      named("topic", "\"netpie.topic\"", false);
      named("microgear", "\"netpie.microgear\"", false);
    }
    const int fd = coap_context_get_coap_fd(ctx_);
    if (fd < 0)
      return unexpected<std::string>(
          std::string("libcoap was built without epoll: it cannot share the event loop"));
    poll_ = new uv_poll_t;
    uv_poll_init(loop_, poll_, fd);
    poll_->data = this;
    uv_poll_start(poll_, UV_READABLE, on_poll);
    timer_ = new uv_timer_t;
    uv_timer_init(loop_, timer_);
    timer_->data = this;
    uv_timer_start(timer_, on_timer, 1000, 1000);
    check_ = new uv_check_t;
    uv_check_init(loop_, check_);
    check_->data = this;
  }
  if (dtls) {
    if (!coap_dtls_is_supported())
      return unexpected<std::string>(name + ": this libcoap has no DTLS backend");
    if (cfg_.psk.empty() && cfg_.cert_file.empty())
      return unexpected<std::string>(name +
                                     ": a coaps listener needs coap.psk or coap.cert_file and coap.key_file");
    if (!dtls_set_) {
      dtls_set_ = true;
      if (!cfg_.psk.empty()) {
        coap_dtls_spsk_t s;
        std::memset(&s, 0, sizeof s);
        s.version = COAP_DTLS_SPSK_SETUP_VERSION;
        s.validate_id_call_back = on_psk_identity;
        s.id_call_back_arg = this;
        const std::string& first = cfg_.psk.front().key;
        s.psk_info.key.s = reinterpret_cast<const std::uint8_t*>(first.data());
        s.psk_info.key.length = first.size();
        if (!coap_context_set_psk2(ctx_, &s))
          return unexpected<std::string>(name + ": libcoap refused the PSK setup");
      }
      if (!cfg_.cert_file.empty()) {
        coap_dtls_pki_t p;
        std::memset(&p, 0, sizeof p);
        p.version = COAP_DTLS_PKI_SETUP_VERSION;
        p.verify_peer_cert = cfg_.ca_file.empty() ? 0 : 1;
        p.check_common_ca = cfg_.ca_file.empty() ? 0 : 1;
        p.cert_chain_validation = 1;
        p.cert_chain_verify_depth = 3;
        p.pki_key.key_type = COAP_PKI_KEY_PEM;
        p.pki_key.key.pem.public_cert = cfg_.cert_file.c_str();
        p.pki_key.key.pem.private_key = cfg_.key_file.c_str();
        p.pki_key.key.pem.ca_file = cfg_.ca_file.empty() ? nullptr : cfg_.ca_file.c_str();
        if (!coap_context_set_pki(ctx_, &p))
          return unexpected<std::string>(name + ": libcoap refused the certificate " + cfg_.cert_file +
                                         " or key " + cfg_.key_file);
      }
    }
  }
  coap_address_t addr;
  coap_address_init(&addr);
  if (inet_pton(AF_INET, host.c_str(), &addr.addr.sin.sin_addr) == 1) {
    addr.addr.sin.sin_family = AF_INET;
    addr.addr.sin.sin_port = htons(port);
    addr.size = sizeof(addr.addr.sin);
  } else if (inet_pton(AF_INET6, host.c_str(), &addr.addr.sin6.sin6_addr) == 1) {
    addr.addr.sin6.sin6_family = AF_INET6;
    addr.addr.sin6.sin6_port = htons(port);
    addr.size = sizeof(addr.addr.sin6);
  } else {
    return unexpected<std::string>(name + ": not a numeric address: " + host);
  }
  coap_endpoint_t* ep = coap_new_endpoint(ctx_, &addr, dtls ? COAP_PROTO_DTLS : COAP_PROTO_UDP);
  if (ep == nullptr) {
    return unexpected<std::string>(name + ": cannot bind " + host + " port " + std::to_string(port) +
                                   " (UDP" + (dtls ? ", DTLS" : "") + ")");
  }
  // "127.0.0.1:5683 UDP" or "[::1]:5684 DTLS": the bound port, also for port 0.
  std::string s = coap_endpoint_str(ep);
  const auto sp = s.rfind(' ');
  const auto colon = s.rfind(':', sp);
  std::uint16_t bound = port;
  if (colon != std::string::npos) bound = static_cast<std::uint16_t>(std::atoi(s.c_str() + colon + 1));
  if (addr.addr.sa.sa_family == AF_INET) {
    addr.addr.sin.sin_port = htons(bound);
  } else {
    addr.addr.sin6.sin6_port = htons(bound);
  }
  set_receive_buffer(name, s.substr(0, sp), addr, cfg_.receive_buffer);
  process();
  return bound;
}

const coap_bin_const_t* Server::on_psk_identity(coap_bin_const_t* identity, coap_session_t*, void* arg) {
  auto* self = static_cast<Server*>(arg);
  const std::string_view id(reinterpret_cast<const char*>(identity->s), identity->length);
  for (const config::CoapPsk& p : self->cfg_.psk) {
    if (p.identity != id) continue;
    // libcoap copies the key; the static holds it for the call.
    static coap_bin_const_t key;
    key.s = reinterpret_cast<const std::uint8_t*>(p.key.data());
    key.length = p.key.size();
    return &key;
  }
  GW_LOG(Info, "coap", "DTLS: unknown PSK identity refused");
  return nullptr;
}

void Server::on_poll(uv_poll_t* h, int, int) {
  static_cast<Server*>(h->data)->process();
}

void Server::on_timer(uv_timer_t* t) {
  auto* self = static_cast<Server*>(t->data);
  if (self->ctx_ == nullptr || self->closed_) return;
  // The backstop: libcoap's own timerfd (in its epoll set) wakes the poll for retransmissions and
  // session timeouts; this runs its timeout work once a second whatever happens.
  coap_tick_t now;
  coap_ticks(&now);
  coap_io_prepare_epoll(self->ctx_, now);
  self->process();
}

void Server::process() {
  if (ctx_ == nullptr || closed_) return;
  // What coap_io_process(ctx, COAP_IO_NO_WAIT) does, without its costs per datagram (bench/README.md
  // "CoAP front end", profile): libcoap 4.3.1 reads ONE datagram per ready listener per
  // coap_io_do_epoll call, and every call ends with coap_io_prepare_epoll, which walks every session
  // (O(endpoints)) and re-arms its timerfd (a syscall); coap_io_process adds one more of those before.
  // So each ready listener's event is handed over kBurst times in one call (a read that finds the socket
  // empty returns EAGAIN, which libcoap logs at debug level and ignores), and the rounds go on while
  // datagrams are waiting, up to kRounds: one loop iteration (whose end flushes the MQTT subscribers'
  // TCP writes and our notifications) serves up to kBurst * kRounds datagrams.
  constexpr int kEvents = 8;
  constexpr int kBurst = 16;
  constexpr int kRounds = 8;
  const int fd = coap_context_get_coap_fd(ctx_);
  epoll_event ready[kEvents];
  epoll_event batch[kEvents * kBurst];
  for (int round = 0; round < kRounds && ctx_ != nullptr && !closed_; ++round) {
    const int n = epoll_wait(fd, ready, kEvents, 0);
    if (n <= 0) break;
    std::size_t m = 0;
    for (int i = 0; i < n; ++i) {
      // data.ptr null is libcoap's timerfd (read once); otherwise a listener's socket.
      const int copies = ready[i].data.ptr == nullptr ? 1 : kBurst;
      for (int c = 0; c < copies; ++c) batch[m++] = ready[i];
    }
    coap_io_do_epoll(ctx_, batch, m);
  }
  flush();
}

// ---- requests -----------------------------------------------------------------------------------------

void Server::on_request(coap_resource_t* r, coap_session_t* s, const coap_pdu_t* req, const coap_string_t*,
                        coap_pdu_t* resp) {
  auto* self = static_cast<Server*>(coap_get_app_data(coap_session_get_context(s)));
  self->handle(r, s, req, resp);
}

void Server::handle(coap_resource_t* res, coap_session_t* s, const coap_pdu_t* req, coap_pdu_t* resp) {
  stats_.requests++;
  Request r = request_of(req);
  const std::string token = token_of(req);

  // A CON retransmission (same endpoint, same message id) is answered again, never run twice.
  // Only requests that change something are remembered: running a GET again is harmless (RFC 7252 §5.8.1),
  // and an Observe re-registration with the same token keeps the observation. The key is binary (address,
  // port, message id, transport): 9 bytes for IPv4, inside std::string's small buffer.
  ExchangeKey key;
  const bool remembered = r.confirmable && r.method != Method::Get;
  if (remembered) {
    const coap_address_t* a = coap_session_get_addr_remote(s);
    if (a->addr.sa.sa_family == AF_INET) {
      key.family = 4;
      std::memcpy(key.addr, &a->addr.sin.sin_addr, 4);
      key.port = a->addr.sin.sin_port;
    } else {
      key.family = 6;
      std::memcpy(key.addr, &a->addr.sin6.sin6_addr, 16);
      key.port = a->addr.sin6.sin6_port;
    }
    key.mid = static_cast<std::uint16_t>(coap_pdu_get_mid(req));
    key.dtls = coap_session_get_proto(s) == COAP_PROTO_DTLS;
    if (auto e = exchanges_.find(key); e != exchanges_.end()) {
      stats_.duplicates++;
      if (e->second.done) {
        fill(res, s, req, resp, e->second.answer());
      } else if (e->second.waiting) {
        // Still running and the client is retransmitting: an empty ACK (the response libcoap prepared)
        // stops it, and the answer follows as a separate CON response (RFC 7252 §5.2.2).
        e->second.waiting->acked = true;
      }
      return;
    }
    if (exchanges_.size() >= cfg_.max_exchanges) {
      stats_.refused_exchanges++;
      Answer busy{503, "too many exchanges in progress", kFormatText, kBusyMaxAge, -1};
      fill(res, s, req, resp, busy);
      return;
    }
  }

  size_t len = 0, offset = 0, total = 0;
  const std::uint8_t* data = nullptr;
  std::string body;
  if (coap_get_data_large(req, &len, &data, &offset, &total)) {
    if (total > cfg_.max_payload) {
      fill(res, s, req, resp, Answer{413, "payload over coap.max_payload", kFormatText, 0, -1});
      return;
    }
    body.assign(reinterpret_cast<const char*>(data), len);
  }
  r.payload_bytes = body.size();
  const Action a = map_request(r, map_options_);

  // The answer, now or later (a late ACK or a separate response once the store committed).
  auto deferred = std::make_shared<Deferred>();
  deferred->session = s;
  deferred->token = token;
  deferred->confirmable = r.confirmable;
  deferred->exchange = key;
  deferred->remembered = remembered;
  // While the handler runs, an answer given through `later` is kept for the piggybacked response; after
  // it, `later` sends it on its own (send_deferred).
  auto later = [this, deferred](Answer ans) {
    if (deferred->in_handler) {
      deferred->early = std::move(ans);
      return;
    }
    send_deferred(*deferred, ans);
    coap_session_release(deferred->session);
  };
  Answer ans = dispatch(a, r, s, std::move(body), later, token);
  deferred->in_handler = false;
  if (ans.code == 0 && deferred->early) ans = std::move(*deferred->early);
  if (ans.code != 0) {
    if (remembered) remember(key, ans);
    fill(res, s, req, resp, ans);
    return;
  }
  // Later: `later` holds a reference to the session until it answers; the exchange is remembered as
  // running.
  stats_.deferred++;
  coap_session_reference(s);
  deferred->mid = coap_pdu_get_mid(req);
  if (remembered) {
    Exchange& e = exchanges_[key];
    e.at = clock_.now_ms();
    e.waiting = deferred;
    exchange_order_.emplace_back(e.at, key);
  } else if (r.confirmable) {
    // Not remembered, so a retransmission would run again: the empty ACK goes now (RFC 7252 §5.2.2).
    deferred->acked = true;
    return;
  }
  // Nothing now: libcoap drops an empty NON response (its no_response()), so a remembered CON request gets
  // its answer piggybacked in a late ACK, a NON request a NON response (send_deferred).
  coap_pdu_set_type(resp, COAP_MESSAGE_NON);
}

Server::Answer Server::Exchange::answer() const {
  return full ? *full : Answer{code, "", kFormatText, 0, -1};
}

void Server::fill(coap_resource_t* res, coap_session_t* s, const coap_pdu_t* req, coap_pdu_t* resp,
                  const Answer& a) {
  coap_pdu_set_code(resp, static_cast<coap_pdu_code_t>(code_byte(a.code)));
  std::uint8_t buf[4];
  if (a.observe >= 0) {
    coap_add_option(resp, COAP_OPTION_OBSERVE,
                    coap_encode_var_safe(buf, sizeof buf, static_cast<unsigned>(a.observe) & 0xFFFFFF), buf);
  }
  if (a.payload.empty() && a.max_age == 0) return;
  if (a.code / 100 == 2 && !a.payload.empty()) {
    // Block2 (RFC 7959) when the body does not fit one datagram: libcoap serves the blocks.
    auto* copy = new std::string(a.payload);
    coap_add_data_large_response(
        res, s, req, resp, nullptr, a.content_format, -1, 0, copy->size(),
        reinterpret_cast<const std::uint8_t*>(copy->data()),
        [](coap_session_t*, void* p) { delete static_cast<std::string*>(p); }, copy);
    return;
  }
  coap_add_option(resp, COAP_OPTION_CONTENT_FORMAT, coap_encode_var_safe(buf, sizeof buf, a.content_format),
                  buf);
  if (a.max_age != 0) {
    coap_add_option(resp, COAP_OPTION_MAXAGE, coap_encode_var_safe(buf, sizeof buf, a.max_age), buf);
  }
  if (!a.payload.empty()) {
    const std::size_t room = coap_session_max_pdu_size(s) > 64 ? coap_session_max_pdu_size(s) - 64 : 0;
    coap_add_data(resp, std::min(a.payload.size(), room),
                  reinterpret_cast<const std::uint8_t*>(a.payload.data()));
  }
}

void Server::send_deferred(const Deferred& d, const Answer& a) {
  if (d.remembered) remember(d.exchange, a);
  if (closed_) return;
  const bool piggyback = d.confirmable && !d.acked;
  const coap_pdu_type_t type = piggyback       ? COAP_MESSAGE_ACK
                               : d.confirmable ? COAP_MESSAGE_CON
                                               : COAP_MESSAGE_NON;
  if (piggyback) stats_.late_acks++;
  coap_pdu_t* pdu =
      coap_pdu_init(type, static_cast<coap_pdu_code_t>(code_byte(a.code)),
                    piggyback ? d.mid : coap_new_message_id(d.session), coap_session_max_pdu_size(d.session));
  if (pdu == nullptr) return;
  coap_add_token(pdu, d.token.size(), reinterpret_cast<const std::uint8_t*>(d.token.data()));
  std::uint8_t buf[4];
  coap_add_option(pdu, COAP_OPTION_CONTENT_FORMAT, coap_encode_var_safe(buf, sizeof buf, a.content_format),
                  buf);
  if (a.max_age != 0)
    coap_add_option(pdu, COAP_OPTION_MAXAGE, coap_encode_var_safe(buf, sizeof buf, a.max_age), buf);
  if (!a.payload.empty()) {
    const std::size_t room =
        coap_session_max_pdu_size(d.session) > 64 ? coap_session_max_pdu_size(d.session) - 64 : 0;
    coap_add_data(pdu, std::min(a.payload.size(), room),
                  reinterpret_cast<const std::uint8_t*>(a.payload.data()));
  }
  coap_send(d.session, pdu);
}

void Server::remember(const ExchangeKey& key, const Answer& a) {
  auto [it, fresh] = exchanges_.try_emplace(key);
  Exchange& e = it->second;
  if (fresh) {
    e.at = clock_.now_ms();
    exchange_order_.emplace_back(e.at, key);
  }
  e.done = true;
  e.waiting.reset();
  e.code = static_cast<std::uint16_t>(a.code);
  const bool bare = a.payload.empty() && a.max_age == 0 && a.observe < 0 && a.content_format == kFormatText;
  if (bare) {
    e.full.reset();
  } else {
    e.full = std::make_unique<Answer>(a);
  }
}

Server::Answer Server::dispatch(const Action& a, const Request& r, coap_session_t* s, std::string body,
                                std::function<void(Answer)> later, const std::string& token) {
  switch (a.kind) {
    case Kind::Error:
      return Answer{a.code, a.message, kFormatText, 0, -1};
    case Kind::WellKnown:
      return Answer{205, well_known_core(map_options_), 40, 0, -1};
    case Kind::Netpie:
      return netpie(a, s, std::move(body), std::move(later));
    case Kind::Connect:
      return connect(a, s);
    default:
      break;
  }
  const http::Params params = query_params(r.query);
  Answer refused;
  Endpoint* ep = endpoint_for(s, params, refused);
  if (ep == nullptr) return refused;
  ep->last_seen_ = clock_.now_ms();
  switch (a.kind) {
    case Kind::Publish:
      return publish(*ep, a, std::move(body), std::move(later));
    case Kind::Read:
      return read(*ep, a);
    case Kind::Observe:
      return observe(*ep, a, token, r.confirmable);
    case Kind::Unobserve:
      return unobserve(*ep, a, token);
    case Kind::Heartbeat:
      ep->feed(mqtt::Pingreq{});
      return Answer{204, "", kFormatText, 0, -1};
    case Kind::Disconnect:
      ep->feed(mqtt::Disconnect{});
      return Answer{202, "", kFormatText, 0, -1};
    default:
      return Answer{500, "unhandled", kFormatText, 0, -1};
  }
}

Endpoint* Server::endpoint_for(coap_session_t* s, const http::Params& params, Answer& refused) {
  // Connection mode: ?clientid=&token= names the connection, wherever the request comes from.
  if (const std::string* cid = http::find_param(params, "clientid")) {
    auto it = by_client_.find(*cid);
    const std::string* tok = http::find_param(params, "token");
    if (it == by_client_.end() || it->second->closing_ || tok == nullptr || *tok != it->second->token_) {
      refused = Answer{401, "unknown clientid or token; POST mqtt/connection first", kFormatText, 0, -1};
      return nullptr;
    }
    Endpoint* ep = it->second;
    if (ep->session_ != s) {
      coap_session_reference(s);
      coap_session_release(ep->session_);
      ep->session_ = s;
    }
    return ep;
  }
  if (auto it = by_session_.find(s); it != by_session_.end() && !it->second->closing_) return it->second;
  if (by_session_.size() + by_client_.size() >= cfg_.max_endpoints) {
    stats_.refused_endpoints++;
    refused = Answer{503, "too many CoAP endpoints (coap.max_endpoints)", kFormatText, kBusyMaxAge, -1};
    return nullptr;
  }
  const coap_address_t* remote = coap_session_get_addr_remote(s);
  auto* ep = new Endpoint(*this, s, "coap-" + address_string(remote), is_loopback(remote));
  by_session_[s] = ep;
  stats_.endpoints = by_session_.size() + by_client_.size();
  ep->feed_connect(std::nullopt, std::nullopt, 0);
  if (!ep->connack_ || *ep->connack_ != mqtt::Reason::Success) {
    refused = Answer{401, "anonymous CoAP clients are not allowed here (auth.anonymous); use mqtt/connection",
                     kFormatText, 0, -1};
    ep->close();
    return nullptr;
  }
  return ep;
}

Server::Answer Server::connect(const Action& a, coap_session_t* s) {
  if (auto it = by_client_.find(a.clientid); it != by_client_.end()) {
    // A new connection takes the client id over, as an MQTT CONNECT would.
    it->second->feed(mqtt::Disconnect{});
    it->second->client_id_ += "\x01";  // no longer found by its id
    by_client_.erase(it);
  }
  if (by_session_.size() + by_client_.size() >= cfg_.max_endpoints) {
    stats_.refused_endpoints++;
    return Answer{503, "too many CoAP endpoints (coap.max_endpoints)", kFormatText, kBusyMaxAge, -1};
  }
  const coap_address_t* remote = coap_session_get_addr_remote(s);
  auto* ep = new Endpoint(*this, s, a.clientid, is_loopback(remote));
  ep->connection_mode_ = true;
  ep->token_ = random_token();
  by_client_[a.clientid] = ep;
  stats_.endpoints = by_session_.size() + by_client_.size();
  std::optional<std::string> user, password;
  if (!a.username.empty()) user = a.username;
  if (a.has_password) password = a.password;
  // The broker's keepalive ends a connection whose heartbeats stop (MQTT 5.0 §3.1.2.10: 1.5 times).
  ep->feed_connect(user, password,
                   static_cast<std::uint16_t>(std::min<std::uint32_t>(cfg_.idle_timeout_s, 65535)));
  if (!ep->connack_ || *ep->connack_ != mqtt::Reason::Success) {
    const int code = ep->connack_ && (*ep->connack_ == mqtt::Reason::NotAuthorized) ? 403 : 401;
    by_client_.erase(a.clientid);
    ep->close();
    return Answer{code, "connection refused", kFormatText, 0, -1};
  }
  return Answer{201, ep->token_, kFormatText, 0, -1};
}

Server::Answer Server::publish(Endpoint& ep, const Action& a, std::string body,
                               std::function<void(Answer)> later) {
  stats_.publishes++;
  if (ep.paused_ || ep.waiting_.size() >= kMaxPendingPerEndpoint) {
    // UDP cannot push back: a client whose publishes are held by flow control, or that has too many
    // waiting for the store, is asked to wait (counted).
    stats_.refused_busy++;
    return Answer{503, "busy: retry after Max-Age", kFormatText, kBusyMaxAge, -1};
  }
  mqtt::Publish p;
  p.qos = std::min<std::uint8_t>(a.qos, 1);  // QoS 2's extra round trip buys nothing over the CoAP exchange
  p.retain = a.retain;
  p.topic = a.topic;
  p.payload = std::move(body);
  if (p.qos == 0) {
    ep.feed(std::move(p));
    return Answer{204, "", kFormatText, 0, -1};
  }
  const std::uint16_t id = p.packet_id = ep.next_packet_id();
  ep.waiting_.push_back(Endpoint::Waiting{id, std::nullopt, nullptr});
  ep.feed(std::move(p));
  auto it = std::find_if(ep.waiting_.begin(), ep.waiting_.end(),
                         [&](const Endpoint::Waiting& w) { return w.packet_id == id; });
  if (it == ep.waiting_.end()) return Answer{503, "endpoint closed", kFormatText, kBusyMaxAge, -1};
  if (it->result) {
    Answer ans{code_of(*it->result), "", kFormatText, 0, -1};
    if (ans.code == 429 || ans.code == 503) ans.max_age = kBusyMaxAge;
    if (ans.code == 429) stats_.outbox_full++;
    ep.waiting_.erase(it);
    return ans;
  }
  it->later = std::move(later);  // the PUBACK waits for the store commit (or for room at subscribers)
  return Answer{};
}

Server::Answer Server::read(Endpoint& ep, const Action& a) {
  if (!broker_.authorizer().can_subscribe(ep.conn_.identity(), a.topic)) {
    return Answer{403, "not allowed to read " + a.topic, kFormatText, 0, -1};
  }
  std::optional<std::string> value;
  broker_.retained().match(a.topic, [&](const broker::MessagePtr& m) { value = m->payload; });
  if (!value) return Answer{404, "no retained message", kFormatText, 0, -1};
  return Answer{205, std::move(*value), kFormatText, 0, -1};
}

Server::Answer Server::observe(Endpoint& ep, const Action& a, const std::string& token, bool confirmable) {
  // Re-registration with the same token (RFC 7641 §4.1): the observation is kept, answered again.
  for (const Observer& o : ep.observers_) {
    if (o.token == token && o.filter == a.topic) return Answer{205, "", kFormatText, 0, o.seq};
  }
  if (ep.observers_.size() >= cfg_.max_observers_per_endpoint || stats_.observers >= cfg_.max_observers) {
    stats_.refused_observers++;
    return Answer{429, "too many observations (coap.max_observers_per_endpoint, coap.max_observers)",
                  kFormatText, kBusyMaxAge, -1};
  }
  const auto on_topic = per_topic_.find(a.topic);
  if ((on_topic == per_topic_.end() ? 0 : on_topic->second) >= cfg_.max_observers_per_topic) {
    stats_.refused_observers++;
    return Answer{429, "too many observations of " + a.topic + " (coap.max_observers_per_topic)", kFormatText,
                  kBusyMaxAge, -1};
  }
  Observer o;
  o.token = token;
  o.filter = a.topic;
  o.qos = std::min<std::uint8_t>(a.qos, 1);
  o.confirmable = o.qos > 0;
  o.sub_id = ++ep.sub_ids_;
  o.last_con = clock_.now_ms();
  ep.observers_.push_back(o);  // before SUBSCRIBE: retained messages it sends find the observer
  mqtt::Subscribe sub;
  sub.packet_id = ep.next_packet_id();
  sub.properties.subscription_identifiers.push_back(o.sub_id);
  mqtt::Subscription one;
  one.filter = a.topic;
  one.options.max_qos = o.qos;
  sub.subscriptions.push_back(one);
  ep.suback_.reset();
  ep.feed(sub);
  const bool granted = ep.suback_ && static_cast<unsigned>(*ep.suback_) < 0x80;
  if (!granted) {
    std::erase_if(ep.observers_, [&](const Observer& x) { return x.sub_id == o.sub_id; });
    ep.notes_.clear();
    return Answer{403, "not allowed to observe " + a.topic, kFormatText, 0, -1};
  }
  stats_.observers++;
  ++per_topic_[a.topic];
  GW_LOG(Debug, "coap", "%s observes %s (qos %u)", ep.peer_.c_str(), a.topic.c_str(), unsigned(o.qos));
  (void)confirmable;
  return Answer{205, "", kFormatText, 0, 1};
}

Server::Answer Server::unobserve(Endpoint& ep, const Action& a, const std::string& token) {
  auto it = std::find_if(ep.observers_.begin(), ep.observers_.end(),
                         [&](const Observer& o) { return o.token == token || o.filter == a.topic; });
  if (it != ep.observers_.end()) {
    const std::string filter = it->filter;
    GW_LOG(Debug, "coap", "%s stops observing %s", ep.peer_.c_str(), filter.c_str());
    ep.observers_.erase(it);
    stats_.observers--;
    observer_gone(filter);
    const bool still = std::any_of(ep.observers_.begin(), ep.observers_.end(),
                                   [&](const Observer& o) { return o.filter == filter; });
    if (!still) {
      mqtt::Unsubscribe u;
      u.packet_id = ep.next_packet_id();
      u.filters.push_back(filter);
      ep.feed(u);
    }
  }
  return Answer{205, "", kFormatText, 0, -1};
}

Server::Answer Server::netpie(const Action& a, coap_session_t* s, std::string body,
                              std::function<void(Answer)> later) {
  if (!rest_) return Answer{404, "the NETPIE endpoint is off (netpie.enabled)", kFormatText, 0, -1};
  http::Request req;
  req.method = a.http_method;
  req.path = a.http_path;
  req.query_params = a.params;
  req.body = std::move(body);
  net::HttpPeer peer;
  const coap_address_t* remote = coap_session_get_addr_remote(s);
  peer.address = "coap:" + address_string(remote);
  peer.loopback = is_loopback(remote);
  const bool get = a.http_method == "GET";
  net::HttpResponder out(peer, [later, get](http::Response resp) {
    Answer ans;
    ans.code = code_of_http(resp.status, get);
    ans.content_format = resp.content_type == "application/json" ? kFormatJson : kFormatText;
    if (ans.code == 503) ans.max_age = kBusyMaxAge;
    // A GET returns the data; a PUT's {"code","message"} is kept only for errors.
    if (get || ans.code / 100 != 2) ans.payload = std::move(resp.body);
    later(std::move(ans));
  });
  if (!rest_(req, out)) return Answer{404, "unknown path", kFormatText, 0, -1};
  return Answer{};  // the responder called `later` already (in the handler) or will
}

// ---- notifications, acks and closing: after each poll ------------------------------------------------

void Server::schedule(Endpoint& ep) {
  if (!ep.scheduled_) {
    ep.scheduled_ = true;
    pending_.push_back(&ep);
  }
  if (!check_active_ && check_ != nullptr) {
    check_active_ = true;
    uv_check_start(check_, on_check);
  }
}

void Server::on_check(uv_check_t* h) {
  static_cast<Server*>(h->data)->flush();
}

void Server::flush() {
  while (!pending_.empty()) {
    std::vector<Endpoint*> batch;
    batch.swap(pending_);
    for (Endpoint* ep : batch) {
      ep->scheduled_ = false;
      if (ep->closing_) {
        destroy(ep);
        continue;
      }
      const Millis now = clock_.now_ms();
      std::vector<Endpoint::Note> notes;
      notes.swap(ep->notes_);
      for (const Endpoint::Note& n : notes) {
        if (ep->session_ == nullptr) break;
        const std::string& payload = n.msg->payload;
        auto o = std::find_if(ep->observers_.begin(), ep->observers_.end(),
                              [&](const Observer& x) { return x.token == n.token; });
        if (o == ep->observers_.end()) continue;
        const bool con = o->confirmable || now - o->last_con >= Millis(cfg_.con_notify_interval_s) * 1000;
        const std::size_t max = coap_session_max_pdu_size(ep->session_);
        if (payload.size() + o->token.size() + 24 > max) {
          stats_.dropped_too_large++;
          broker_.stats().drop(broker::DropReason::TooLarge);
          continue;
        }
        coap_pdu_t* pdu = coap_pdu_init(con ? COAP_MESSAGE_CON : COAP_MESSAGE_NON, COAP_RESPONSE_CODE_CONTENT,
                                        coap_new_message_id(ep->session_), max);
        if (pdu == nullptr) continue;
        coap_add_token(pdu, o->token.size(), reinterpret_cast<const std::uint8_t*>(o->token.data()));
        std::uint8_t buf[4];
        coap_add_option(pdu, COAP_OPTION_OBSERVE, coap_encode_var_safe(buf, sizeof buf, o->seq++ & 0xFFFFFF),
                        buf);
        coap_add_option(pdu, COAP_OPTION_CONTENT_FORMAT, coap_encode_var_safe(buf, sizeof buf, kFormatText),
                        buf);
        coap_add_data(pdu, payload.size(), reinterpret_cast<const std::uint8_t*>(payload.data()));
        if (con) {
          o->last_con = now;
          stats_.con_notifications++;
        }
        stats_.notifications++;
        coap_send(ep->session_, pdu);
      }
      // QoS 1 deliveries are acknowledged once libcoap has them (it retransmits CON notifications and
      // tells on_nack when one fails; the observer is then removed).
      std::vector<std::uint16_t> acks;
      acks.swap(ep->acks_);
      for (std::uint16_t id : acks)
        ep->feed(mqtt::Ack{mqtt::PacketType::Puback, id, mqtt::Reason::Success, {}});
    }
  }
  if (check_active_ && pending_.empty()) {
    check_active_ = false;
    uv_check_stop(check_);
  }
}

void Server::destroy(Endpoint* ep) {
  for (auto& w : ep->waiting_) {
    if (w.later) w.later(Answer{503, "connection closed", kFormatText, kBusyMaxAge, -1});
  }
  ep->waiting_.clear();
  stats_.observers -= ep->observers_.size();
  for (const Observer& o : ep->observers_) observer_gone(o.filter);
  ep->observers_.clear();
  ep->conn_.on_closed();
  if (auto it = by_session_.find(ep->session_); it != by_session_.end() && it->second == ep)
    by_session_.erase(it);
  if (auto it = by_client_.find(ep->client_id_); it != by_client_.end() && it->second == ep)
    by_client_.erase(it);
  stats_.endpoints = by_session_.size() + by_client_.size();
  std::erase(pending_, ep);
  delete ep;
}

void Server::publish_sys(const broker::Broker::SysPut& put) const {
  const Stats& s = stats_;
  put("coap/requests", s.requests);
  put("coap/publishes", s.publishes);
  put("coap/notifications/non", s.notifications - s.con_notifications);
  put("coap/notifications/con", s.con_notifications);
  put("coap/duplicates", s.duplicates);
  put("coap/deferred", s.deferred);
  put("coap/late_acks", s.late_acks);
  put("coap/refused/endpoints", s.refused_endpoints);
  put("coap/refused/exchanges", s.refused_exchanges);
  put("coap/refused/observers", s.refused_observers);
  put("coap/refused/busy", s.refused_busy);
  put("coap/refused/outbox_full", s.outbox_full);
  put("coap/observers/failed", s.observers_failed);
  put("coap/dropped/too_large", s.dropped_too_large);
  put("coap/dropped/queue_full", s.dropped_oldest);
  put("coap/endpoints", s.endpoints);
  put("coap/observers", s.observers);
}

void Server::observer_gone(const std::string& filter) {
  auto t = per_topic_.find(filter);
  if (t != per_topic_.end() && --t->second == 0) per_topic_.erase(t);
}

void Server::on_nack(coap_session_t* s, const coap_pdu_t* sent, const coap_nack_reason_t reason,
                     const coap_mid_t) {
  auto* self = static_cast<Server*>(coap_get_app_data(coap_session_get_context(s)));
  if (reason != COAP_NACK_TOO_MANY_RETRIES && reason != COAP_NACK_RST) return;
  const coap_bin_const_t tok = coap_pdu_get_token(sent);
  const std::string token(reinterpret_cast<const char*>(tok.s), tok.length);
  auto drop_from = [&](Endpoint* ep) {
    auto it = std::find_if(ep->observers_.begin(), ep->observers_.end(),
                           [&](const Observer& o) { return o.token == token; });
    if (it == ep->observers_.end()) return;
    self->stats_.observers_failed++;
    Action a;
    a.topic = it->filter;
    self->unobserve(*ep, a, token);
  };
  if (auto it = self->by_session_.find(s); it != self->by_session_.end()) drop_from(it->second);
  for (auto& [id, ep] : self->by_client_) {
    if (ep->session_ == s) drop_from(ep);
  }
}

int Server::on_event(coap_session_t* s, const coap_event_t event) {
  if (event != COAP_EVENT_SERVER_SESSION_DEL) return 0;
  auto* self = static_cast<Server*>(coap_get_app_data(coap_session_get_context(s)));
  if (auto it = self->by_session_.find(s); it != self->by_session_.end()) {
    Endpoint* ep = it->second;
    self->by_session_.erase(it);
    ep->session_ = nullptr;  // libcoap is freeing it; our reference went with it
    ep->feed(mqtt::Disconnect{});
  }
  return 0;
}

void Server::tick() {
  const Millis now = clock_.now_ms();
  const Millis life = Millis(cfg_.exchange_lifetime_s) * 1000;
  while (!exchange_order_.empty() && now - exchange_order_.front().first >= life) {
    auto it = exchanges_.find(exchange_order_.front().second);
    // An exchange still running stays (its answer is not sent yet); it is looked at again next tick.
    if (it != exchanges_.end() && !it->second.done) break;
    if (it != exchanges_.end() && it->second.at == exchange_order_.front().first) exchanges_.erase(it);
    exchange_order_.pop_front();
  }
  // Anonymous endpoints with nothing to keep them end after the idle timeout (the connection mode's
  // end is the broker's keepalive).
  const Millis idle = Millis(cfg_.idle_timeout_s) * 1000;
  std::vector<Endpoint*> idle_eps;
  for (auto& [s, ep] : by_session_) {
    if (ep->observers_.empty() && ep->waiting_.empty() && now - ep->last_seen_ >= idle && !ep->closing_) {
      idle_eps.push_back(ep);
    }
  }
  for (Endpoint* ep : idle_eps) ep->feed(mqtt::Disconnect{});
}

void Server::close() {
  if (closed_) return;
  std::vector<Endpoint*> all;
  for (auto& [s, ep] : by_session_) all.push_back(ep);
  for (auto& [c, ep] : by_client_) all.push_back(ep);
  for (Endpoint* ep : all) {
    if (!ep->closing_) ep->feed(mqtt::Disconnect{});
  }
  flush();
  // Whatever did not close by itself goes now.
  std::vector<Endpoint*> rest;
  for (auto& [s, ep] : by_session_) rest.push_back(ep);
  for (auto& [c, ep] : by_client_) rest.push_back(ep);
  for (Endpoint* ep : rest) destroy(ep);
  closed_ = true;
  if (poll_ != nullptr) {
    uv_poll_stop(poll_);
    uv_close(reinterpret_cast<uv_handle_t*>(poll_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    poll_ = nullptr;
  }
  if (timer_ != nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(timer_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
    timer_ = nullptr;
  }
  if (check_ != nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(check_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_check_t*>(h); });
    check_ = nullptr;
  }
  if (ctx_ != nullptr) {
    coap_free_context(ctx_);
    ctx_ = nullptr;
  }
}

}  // namespace gw::coap
