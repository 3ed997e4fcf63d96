// The CoAP front end (RFC 7252, 7641, 7959; gateway/coap/README.md): libcoap 3 on the daemon's libuv loop
// (its epoll fd under a uv_poll, plus a uv_timer for its next timeout; no second thread), serving the
// listeners of protocol coap (UDP) and coaps (DTLS through libcoap's own backend, PSK or certificates).
//
// Each remote endpoint (or, in connection mode, each client id) is an MQTT 5 client of the broker
// inside the process: its requests become CONNECT, PUBLISH, SUBSCRIBE and UNSUBSCRIBE packets handed to a
// broker::Connection as values (no MQTT encode and parse: broker::Transport::takes_packets), and what the
// broker sends it (CONNACK, PUBACK, SUBACK, PUBLISH) becomes CoAP answers and notifications. So
// authentication, authorization, the outbox and its bound, retained messages, flow control, presence and $SYS
// see a CoAP client exactly as an MQTT one, and a CON publish is answered 2.04 only when its PUBACK would go:
// after the store committed what it had to.
//
// The NETPIE NB-IoT paths are handed to the REST API's handler (gateway/netpie/rest.cpp) as HTTP
// requests, so a key's rights apply exactly as for REST.
#pragma once

#include <coap3/coap.h>
#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gateway/base/clock.hpp"
#include "gateway/base/result.hpp"
#include "gateway/broker/broker.hpp"
#include "gateway/config/config.hpp"
#include "gateway/net/http_server.hpp"
#include "protocols/coap/mapping.hpp"

namespace gw::coap {

// Counters for $SYS and logs (gateway/coap/README.md "Counters").
struct Stats {
  std::uint64_t requests = 0;
  std::uint64_t publishes = 0;
  std::uint64_t notifications = 0;
  std::uint64_t con_notifications = 0;
  std::uint64_t duplicates = 0;         // CON retransmissions answered from the exchange cache
  std::uint64_t deferred = 0;           // answers that waited (for a store commit)
  std::uint64_t late_acks = 0;          // of those, sent piggybacked in a late ACK (one datagram)
  std::uint64_t refused_endpoints = 0;  // max_endpoints reached: 5.03
  std::uint64_t refused_exchanges = 0;  // max_exchanges reached: 5.03
  std::uint64_t refused_observers = 0;  // observer bounds reached (endpoint, topic, all): 4.29
  std::uint64_t refused_busy = 0;       // the endpoint's publishes in flight at the bound, or held: 5.03
  std::uint64_t outbox_full = 0;        // 4.29
  std::uint64_t observers_failed = 0;   // CON notification not acknowledged, or RST: removed
  std::uint64_t dropped_too_large = 0;  // a message bigger than one notification datagram
  std::uint64_t dropped_oldest = 0;     // notifications past the endpoint's queue bound: the oldest dropped
  std::uint64_t endpoints = 0;          // now
  std::uint64_t observers = 0;          // now
};

using RestHandler = std::function<bool(const http::Request&, const net::HttpResponder&)>;

class Endpoint;

class Server {
 public:
  Server(uv_loop_t* loop, broker::Broker& broker, const Clock& clock, const config::Coap& cfg);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The NETPIE paths' handler (the REST API); without one they answer 4.04.
  void set_rest(RestHandler h) { rest_ = std::move(h); }
  // Binds a coap (dtls = false) or coaps listener; returns the bound port, or why not.
  Result<std::uint16_t, std::string> listen(const std::string& name, const std::string& host,
                                            std::uint16_t port, bool dtls);
  // Expires remembered exchanges and idle endpoints. Call from the app's tick.
  void tick();
  // Ends every endpoint and closes the loop handles; the loop must run afterwards to free them.
  void close();
  const Stats& stats() const { return stats_; }
  // The counters as $SYS/broker/coap/... (gateway/coap/README.md "Counters"); the broker calls it at each
  // $SYS interval (Broker::add_sys_source).
  void publish_sys(const broker::Broker::SysPut& put) const;
  // Which DTLS library the linked libcoap uses ("OpenSSL 3.0.x", "GnuTLS ...", "none").
  static std::string dtls_backend();

 private:
  friend class Endpoint;
  struct Answer {
    int code = 0;  // class * 100 + detail; 0 = not yet known
    std::string payload;
    std::uint16_t content_format = 0;  // 0 = text/plain, 50 = application/json
    std::uint32_t max_age = 0;         // seconds, with 4.29 / 5.03 (0 = option left out)
    std::int64_t observe = -1;         // >= 0: an Observe option (registration answer)
  };
  // A request whose answer comes later: a separate response (RFC 7252 §5.2.2).
  // A remembered exchange's key: the remote address and port, the message id and the transport. A plain
  // 22-byte value (no heap), hashed as bytes.
  struct ExchangeKey {
    std::uint8_t addr[16] = {};  // IPv4 in the first 4 bytes
    std::uint16_t port = 0;
    std::uint16_t mid = 0;
    std::uint8_t family = 0;  // 4 or 6
    std::uint8_t dtls = 0;
    bool operator==(const ExchangeKey&) const = default;
  };
  struct ExchangeKeyHash {
    std::size_t operator()(const ExchangeKey& k) const noexcept {
      return std::hash<std::string_view>{}(std::string_view(reinterpret_cast<const char*>(&k), sizeof k));
    }
  };
  // A CON request that is remembered (exchanges_) gets nothing until its answer is known, which then goes
  // piggybacked in a late ACK with the request's message id (RFC 7252 §5.2.1: one datagram); only if the
  // client retransmits first does it get an empty ACK (`acked`), and the answer a separate CON response
  // (§5.2.2). See gateway/coap/README.md "Durability and duplicates". While the request handler runs, an
  // answer that comes at once is kept in `early` and piggybacked by libcoap.
  struct Deferred {
    coap_session_t* session = nullptr;  // referenced while we hold it
    std::string token;
    bool confirmable = false;
    bool acked = false;       // an empty ACK went: the answer is a separate response
    bool remembered = false;  // `exchange` is in exchanges_
    bool in_handler = true;
    coap_mid_t mid = 0;  // the request's message id, for the late piggybacked ACK
    ExchangeKey exchange;
    std::optional<Answer> early;
  };
  // A remembered exchange: 2.04 without options (nearly every publish) is kept as its code alone; any other
  // answer in full.
  struct Exchange {
    Millis at = 0;
    std::shared_ptr<Deferred> waiting;  // while not done: the request whose answer is awaited
    std::unique_ptr<Answer> full;       // the answer, when not a bare code
    std::uint16_t code = 0;
    bool done = false;
    Answer answer() const;
  };
  static void on_request(coap_resource_t* r, coap_session_t* s, const coap_pdu_t* req, const coap_string_t* q,
                         coap_pdu_t* resp);
  void handle(coap_resource_t* r, coap_session_t* s, const coap_pdu_t* req, coap_pdu_t* resp);
  // Runs the request; returns the answer now, or code 0 when `later` will get it.
  Answer dispatch(const Action& a, const Request& r, coap_session_t* s, std::string body,
                  std::function<void(Answer)> later, const std::string& token);
  Answer publish(Endpoint& ep, const Action& a, std::string body, std::function<void(Answer)> later);
  Answer observe(Endpoint& ep, const Action& a, const std::string& token, bool confirmable);
  Answer unobserve(Endpoint& ep, const Action& a, const std::string& token);
  Answer read(Endpoint& ep, const Action& a);
  Answer netpie(const Action& a, coap_session_t* s, std::string body, std::function<void(Answer)> later);
  Answer connect(const Action& a, coap_session_t* s);
  Endpoint* endpoint_for(coap_session_t* s, const http::Params& params, Answer& refused);
  void send_deferred(const Deferred& d, const Answer& a);
  void fill(coap_resource_t* r, coap_session_t* s, const coap_pdu_t* req, coap_pdu_t* resp, const Answer& a);
  void remember(const ExchangeKey& key, const Answer& a);

  // Endpoints whose connection closed (destroyed after the call stack that closed them unwinds), and
  // endpoints with notifications or acks to send: both handled in the uv_check after each poll.
  void schedule(Endpoint& ep);
  static void on_check(uv_check_t* h);
  void flush();
  void destroy(Endpoint* ep);

  static void on_poll(uv_poll_t* h, int status, int events);
  static void on_timer(uv_timer_t* t);
  void process();  // runs libcoap's I/O without waiting, then arms the timer for its next timeout
  static void on_nack(coap_session_t* s, const coap_pdu_t* sent, const coap_nack_reason_t reason,
                      const coap_mid_t mid);
  static int on_event(coap_session_t* s, const coap_event_t event);
  static const coap_bin_const_t* on_psk_identity(coap_bin_const_t* identity, coap_session_t* s, void* arg);

  uv_loop_t* loop_;
  broker::Broker& broker_;
  const Clock& clock_;
  config::Coap cfg_;
  Options map_options_;
  RestHandler rest_;
  coap_context_t* ctx_ = nullptr;
  uv_poll_t* poll_ = nullptr;
  uv_timer_t* timer_ = nullptr;
  uv_check_t* check_ = nullptr;
  bool check_active_ = false;
  bool closed_ = false;
  bool dtls_set_ = false;
  std::unordered_map<coap_session_t*, Endpoint*> by_session_;
  std::unordered_map<std::string, Endpoint*> by_client_;  // connection mode
  std::vector<Endpoint*> pending_;                        // scheduled for the check
  std::unordered_map<ExchangeKey, Exchange, ExchangeKeyHash> exchanges_;
  std::deque<std::pair<Millis, ExchangeKey>> exchange_order_;
  // Observations per topic filter (coap.max_observers_per_topic); an entry goes with its last observer.
  std::unordered_map<std::string, std::uint32_t> per_topic_;
  void observer_gone(const std::string& filter);
  Stats stats_;
};

}  // namespace gw::coap
