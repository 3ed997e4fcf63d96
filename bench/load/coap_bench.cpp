// netpie-coap-bench: the CoAP load generator (bench/README.md "CoAP front end"). One libuv loop drives many
// CoAP endpoints (one UDP socket each, raw RFC 7252 datagrams built here) against a running netpie-edge, and
// an MQTT subscriber (bench/load/client.cpp) on the same loop receives what they publish, so latency is
// measured with one clock: the payload carries the send time. The same load as MQTT QoS 0/1 publishers runs
// against the same gateway in the same process, for the side-by-side table. Modes:
//   publish: per kind (coap-non, coap-con, mqtt-qos0, mqtt-qos1): E publishers, each with at most W messages
//            not yet delivered to the subscriber (a CoAP publish holds its slot until it is both answered and
//            delivered), N messages in all; delivered/s, p50/p99 publish->delivery.
//   fanout:  O CoAP observers of one topic (NON notifications); one MQTT publisher sends M messages, at most
//   W
//            not yet seen by every observer; notifications/s.
//   idle:    E endpoints each observe their own topic, then stay idle; the daemon's RSS before and after
//            (from /proc/<pid>/status) gives bytes per idle observed endpoint.
// Usage: netpie-coap-bench <mode> --host 127.0.0.1 --mqtt-port P --coap-port C [--pid PID] [-e E] [-n N] [-w
// W]
#include <sys/resource.h>
#include <uv.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "bench/load/client.hpp"
#include "bench/load/histogram.hpp"

namespace gw::bench {
namespace {

std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

struct Args {
  std::string mode;
  std::string host = "127.0.0.1";
  int mqtt_port = 1883;
  int coap_port = 5683;
  int pid = 0;
  int endpoints = 100;
  int messages = 200000;
  int window = 8;
  std::string kinds = "coap-non,coap-con,mqtt-qos0,mqtt-qos1";
};

// ---- raw CoAP
// ----------------------------------------------------------------------------------------------
void put_option(std::string& out, int& prev, int number, std::string_view value) {
  auto ext = [](int x, std::uint8_t& nib, std::string& extra) {
    if (x < 13) {
      nib = static_cast<std::uint8_t>(x);
    } else if (x < 269) {
      nib = 13;
      extra.push_back(static_cast<char>(x - 13));
    } else {
      nib = 14;
      extra.push_back(static_cast<char>((x - 269) >> 8));
      extra.push_back(static_cast<char>((x - 269) & 0xFF));
    }
  };
  std::uint8_t d = 0, l = 0;
  std::string de, le;
  ext(number - prev, d, de);
  ext(static_cast<int>(value.size()), l, le);
  out.push_back(static_cast<char>(d << 4 | l));
  out += de;
  out += le;
  out += value;
  prev = number;
}

// type 0 CON / 1 NON, code 1 GET / 3 PUT; path split on '/', one query; observe < 0: none.
std::string coap_request(int type, int code, std::uint16_t mid, std::uint32_t token, const std::string& path,
                         const std::string& query, int observe, std::string_view payload) {
  std::string out;
  out.push_back(static_cast<char>(0x40 | type << 4 | 4));
  out.push_back(static_cast<char>(code));
  out.push_back(static_cast<char>(mid >> 8));
  out.push_back(static_cast<char>(mid & 0xFF));
  for (int i = 3; i >= 0; --i) out.push_back(static_cast<char>((token >> (8 * i)) & 0xFF));
  int prev = 0;
  if (observe >= 0) put_option(out, prev, 6, observe == 0 ? std::string_view() : std::string_view("\x01", 1));
  std::size_t start = 0;
  while (start <= path.size()) {
    auto slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    put_option(out, prev, 11, std::string_view(path).substr(start, slash - start));
    start = slash + 1;
  }
  if (!query.empty()) put_option(out, prev, 15, query);
  if (!payload.empty()) {
    out.push_back(static_cast<char>(0xFF));
    out += payload;
  }
  return out;
}

struct Bench;

// A CoAP publish in the window: it holds its slot until it is answered and delivered to the subscriber (or
// counted lost after 2 s), so that the window bounds deliveries in flight as the MQTT rows' window does.
struct Slot {
  std::uint64_t sent_ns = 0;
  bool answered = false;
  bool delivered = false;
};

// One CoAP endpoint: a UDP socket of its own (its own source port).
struct Endpoint {
  Bench* bench = nullptr;
  uv_udp_t udp{};
  int index = 0;
  std::uint16_t mid = 0;
  std::unordered_map<std::uint32_t, Slot> inflight;  // token (the endpoint's publish number) -> its slot
  int sent = 0;
  int answered =
      0;  // its window opens one slot per answer, up to W (no burst of E * W datagrams at the start)
  std::uint64_t notifications = 0;
  bool registered = false;
};

struct Bench : ClientEvents {
  Args args;
  IoLoop io;
  sockaddr_in gw_coap{};
  sockaddr_in gw_mqtt{};
  std::vector<std::unique_ptr<Endpoint>> eps;
  std::vector<std::unique_ptr<Client>> pubs;  // MQTT publishers
  std::unique_ptr<Client> sub;
  Histogram lat;
  std::string kind;
  std::uint64_t delivered = 0, target = 0, sent_total = 0, answers = 0, errors = 0, acks = 0;
  std::uint64_t start_ns = 0, end_ns = 0, last_delivery_ns = 0, lost = 0;
  std::uint64_t lost_unanswered = 0;  // of `lost`: no answer within 2 s (the request or the answer dropped)
  bool subscribed = false;
  int mqtt_open = 0;
  std::function<void()> on_ready;
  uv_timer_t timer{};
  char rbuf[70000];

  // ---- MQTT events ----
  void on_open(Client& c) override {
    mqtt::Connect con;
    con.protocol_name = "MQTT";
    con.version = mqtt::Version::V311;
    con.client_id = "cb-" + std::to_string(c.index());
    mqtt::encode(con, c.out());
    c.touch();
  }
  void on_packet(Client& c, std::uint8_t header, mqtt::ByteView body) override {
    const int type = header >> 4;
    if (type == 2) {  // CONNACK
      if (&c == sub.get()) {
        mqtt::Subscribe s;
        s.packet_id = 1;
        mqtt::Subscription one;
        one.filter = "cb/#";
        one.options.max_qos = 1;
        s.subscriptions.push_back(one);
        mqtt::encode(s, mqtt::Version::V311, c.out());
        c.touch();
      } else if (++mqtt_open == static_cast<int>(pubs.size()) && on_ready) {
        on_ready();
      }
    } else if (type == 9) {  // SUBACK
      subscribed = true;
      if (on_ready && pubs.empty()) on_ready();
      if (on_ready && !pubs.empty() && mqtt_open == static_cast<int>(pubs.size())) on_ready();
    } else if (type == 3) {  // PUBLISH to the subscriber
      auto p = mqtt::decode(mqtt::Version::V311, header, body);
      if (!p) return;
      auto& pub = std::get<mqtt::Publish>(p.value());
      if (pub.qos == 1) {
        mqtt::encode(mqtt::Ack{mqtt::PacketType::Puback, pub.packet_id, mqtt::Reason::Success, {}},
                     mqtt::Version::V311, c.out());
        c.touch();
      }
      on_delivered(pub.payload);
    } else if (type == 4) {  // PUBACK to a publisher
      ++acks;
    }
  }
  void on_closed(Client&, const char* why) override {
    if (!done()) std::fprintf(stderr, "mqtt connection closed: %s\n", why);
  }

  bool done() const { return target != 0 && delivered >= target; }

  // payload: "<endpoint> <send ns> <token> <pad>"
  void on_delivered(const std::string& payload) {
    int e = 0;
    unsigned long long t = 0;
    unsigned token = 0;
    if (std::sscanf(payload.c_str(), "%d %llu %u", &e, &t, &token) != 3) return;
    lat.record(now_ns() - t);
    ++delivered;
    if (done()) {
      end_ns = now_ns();
      uv_stop(io.loop());
      return;
    }
    last_delivery_ns = now_ns();
    if (kind.rfind("coap", 0) == 0) {
      if (e >= 0 && e < static_cast<int>(eps.size())) settle(*eps[e], token, false, true);
    } else if (e >= 0 && e < static_cast<int>(pubs.size())) {
      fill_mqtt(e);
    }
  }

  // ---- CoAP ----
  static void on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) {
    auto* ep = static_cast<Endpoint*>(h->data);
    *buf = uv_buf_init(ep->bench->rbuf, sizeof ep->bench->rbuf);
  }
  static void on_recv(uv_udp_t* h, ssize_t n, const uv_buf_t* buf, const sockaddr*, unsigned) {
    auto* ep = static_cast<Endpoint*>(h->data);
    if (n < 4) return;
    Bench& b = *ep->bench;
    const auto* d = reinterpret_cast<const std::uint8_t*>(buf->base);
    const int type = (d[0] >> 4) & 3;
    const int code = d[1];
    if (type == 0) {  // CON (a separate response or a CON notification): acknowledge
      const char ack[4] = {0x60, 0, static_cast<char>(d[2]), static_cast<char>(d[3])};
      b.send_raw(*ep, std::string(ack, 4));
    }
    if (code == 0) return;  // empty ACK: the answer follows
    if (code == 0x45 && ep->registered) {
      ++ep->notifications;
      ++b.delivered;
      if (b.done()) {
        b.end_ns = now_ns();
        uv_stop(b.io.loop());
      }
      return;
    }
    if (code == 0x45) {
      ep->registered = true;
      if (b.on_ready) b.on_ready();
      return;
    }
    const int tkl = d[0] & 0x0F;
    if (tkl != 4 || n < 8) return;
    const std::uint32_t token = static_cast<std::uint32_t>(d[4]) << 24 |
                                static_cast<std::uint32_t>(d[5]) << 16 |
                                static_cast<std::uint32_t>(d[6]) << 8 | d[7];
    b.settle(*ep, token, true, false, code >> 5 != 2);  // refused (4.29, 5.03): not delivered
  }
  // The publish `token` of `ep` was answered and/or delivered: once both, its slot opens (a late one, already
  // counted lost, is ignored).
  void settle(Endpoint& ep, std::uint32_t token, bool answer, bool delivery, bool refused = false) {
    auto it = ep.inflight.find(token);
    if (it == ep.inflight.end()) return;
    Slot& s = it->second;
    if (answer && !s.answered) {
      s.answered = true;
      ++answers;
      ++ep.answered;
      if (refused) {
        ++errors;
        delivery = true;  // nothing will be
      }
    }
    s.delivered = s.delivered || delivery;
    if (!s.answered || !s.delivered) return;
    ep.inflight.erase(it);
    fill_coap(ep);
  }
  void send_raw(Endpoint& ep, std::string data) {
    auto* req = new uv_udp_send_t;
    auto* copy = new std::string(std::move(data));
    req->data = copy;
    uv_buf_t buf = uv_buf_init(copy->data(), static_cast<unsigned>(copy->size()));
    uv_udp_send(req, &ep.udp, &buf, 1, reinterpret_cast<const sockaddr*>(&gw_coap),
                [](uv_udp_send_t* r, int) {
                  delete static_cast<std::string*>(r->data);
                  delete r;
                });
  }
  void open_endpoints(int n) {
    for (int i = 0; i < n; ++i) {
      auto ep = std::make_unique<Endpoint>();
      ep->bench = this;
      ep->index = i;
      ep->mid = static_cast<std::uint16_t>(i * 7919);
      uv_udp_init(io.loop(), &ep->udp);
      ep->udp.data = ep.get();
      sockaddr_in any{};
      uv_ip4_addr("127.0.0.1", 0, &any);
      int rc = uv_udp_bind(&ep->udp, reinterpret_cast<const sockaddr*>(&any), 0);
      // The answers (and, in fanout, the notifications) of one burst must fit: 1 MiB, where the default
      // (net.core.rmem_default, 208 KiB) holds 256 small datagrams.
      int rcvbuf = 1 << 20;
      if (rc == 0) rc = uv_recv_buffer_size(reinterpret_cast<uv_handle_t*>(&ep->udp), &rcvbuf);
      if (rc == 0) rc = uv_udp_recv_start(&ep->udp, on_alloc, on_recv);
      if (rc != 0) std::fprintf(stderr, "endpoint %d: %s\n", i, uv_strerror(rc));
      eps.push_back(std::move(ep));
    }
  }
  std::uint64_t quota(std::uint64_t count, int i) const {
    return args.messages / count + (static_cast<std::uint64_t>(i) < args.messages % count ? 1 : 0);
  }
  void fill_coap(Endpoint& ep) {
    const bool con = kind == "coap-con";
    while (static_cast<int>(ep.inflight.size()) < std::min(args.window, 1 + ep.answered) &&
           static_cast<std::uint64_t>(ep.sent) < quota(eps.size(), ep.index)) {
      char payload[64];
      std::snprintf(payload, sizeof payload, "%d %llu %d ..........", ep.index,
                    static_cast<unsigned long long>(now_ns()), ep.sent);
      send_raw(ep, coap_request(con ? 0 : 1, 3, ++ep.mid, static_cast<std::uint32_t>(ep.sent),
                                "ps/cb/" + std::to_string(ep.index), con ? "qos=1" : "qos=0", -1, payload));
      ep.inflight[static_cast<std::uint32_t>(ep.sent)] = Slot{now_ns(), false, false};
      ep.sent++;
      sent_total++;
    }
  }
  std::vector<int> mqtt_outstanding, mqtt_sent;
  void fill_mqtt(int i) {
    if (i >= 0) mqtt_outstanding[i]--;
    const int from = i < 0 ? 0 : i, to = i < 0 ? static_cast<int>(pubs.size()) : i + 1;
    for (int k = from; k < to; ++k) {
      Client& c = *pubs[k];
      while (mqtt_outstanding[k] < args.window &&
             static_cast<std::uint64_t>(mqtt_sent[k]) < quota(pubs.size(), k)) {
        char payload[64];
        std::snprintf(payload, sizeof payload, "%d %llu %d ..........", k,
                      static_cast<unsigned long long>(now_ns()), mqtt_sent[k]);
        mqtt::Publish p;
        p.qos = kind == "mqtt-qos1" ? 1 : 0;
        p.packet_id = p.qos ? static_cast<std::uint16_t>(mqtt_sent[k] % 65000 + 1) : 0;
        p.topic = "cb/" + std::to_string(k);
        p.payload = payload;
        mqtt::encode(p, mqtt::Version::V311, c.out());
        c.touch();
        mqtt_outstanding[k]++;
        mqtt_sent[k]++;
        sent_total++;
      }
    }
  }

  // Every 250 ms: publishes not both answered and delivered after 2 s are lost (UDP; counted) and free their
  // window slot; endpoints whose observe registration got no answer register again; a CoAP publish run ends
  // once every request was answered and delivered, or lost, and the subscriber saw nothing new for 300 ms.
  uv_timer_t sweep{};
  std::string registration_path;  // fanout/idle: what each endpoint observes ("" = per endpoint)
  bool publishing = false;
  static void on_sweep(uv_timer_t* t) {
    Bench& b = *static_cast<Bench*>(t->data);
    const std::uint64_t now = now_ns();
    bool all_done = b.publishing;
    for (auto& ep : b.eps) {
      for (auto it = ep->inflight.begin(); it != ep->inflight.end();) {
        if (now - it->second.sent_ns > 2'000'000'000ull) {
          ++b.lost;
          if (!it->second.answered) ++b.lost_unanswered;
          it = ep->inflight.erase(it);
        } else {
          ++it;
        }
      }
      if (b.publishing) {
        b.fill_coap(*ep);
        if (!ep->inflight.empty() || static_cast<std::uint64_t>(ep->sent) < b.quota(b.eps.size(), ep->index))
          all_done = false;
      } else if (!ep->registered && ep->sent > 0) {
        const std::string path =
            b.registration_path.empty() ? "ps/idle/" + std::to_string(ep->index) : b.registration_path;
        b.send_raw(*ep, coap_request(0, 1, ++ep->mid, 1, path, "", 0, {}));
      }
    }
    if (all_done && now - b.last_delivery_ns > 300'000'000ull) {
      b.end_ns = b.last_delivery_ns;
      uv_stop(t->loop);
    }
  }

  void run_until_done(double limit_s) {
    uv_timer_init(io.loop(), &sweep);
    sweep.data = this;
    uv_timer_start(&sweep, on_sweep, 250, 250);
    uv_timer_init(io.loop(), &timer);
    timer.data = this;
    uv_timer_start(
        &timer, [](uv_timer_t* t) { uv_stop(t->loop); }, static_cast<std::uint64_t>(limit_s * 1000), 0);
    uv_run(io.loop(), UV_RUN_DEFAULT);
    uv_timer_stop(&timer);
    uv_timer_stop(&sweep);
  }
};

// Closes every handle so that the loop (and the process) can end.
void close_all(Bench& b) {
  std::fflush(stdout);
  for (auto& ep : b.eps) uv_close(reinterpret_cast<uv_handle_t*>(&ep->udp), nullptr);
  if (b.sub) b.sub->close();
  for (auto& p : b.pubs) p->close();
  if (b.timer.loop != nullptr) uv_close(reinterpret_cast<uv_handle_t*>(&b.timer), nullptr);
  if (b.sweep.loop != nullptr) uv_close(reinterpret_cast<uv_handle_t*>(&b.sweep), nullptr);
  b.io.set_before_flush(nullptr);
  b.io.close();
  uv_run(b.io.loop(), UV_RUN_DEFAULT);
}

void connect_mqtt(Bench& b, std::unique_ptr<Client>& c, std::uint32_t index) {
  c = std::make_unique<Client>(b.io, b, index);
  c->connect(reinterpret_cast<const sockaddr*>(&b.gw_mqtt));
}

long rss_kib(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

int publish_mode(const Args& a) {
  std::printf(
      "| kind | publishers | window | delivered | delivered/s | p50 ms | p99 ms | refused | lost (UDP) | of "
      "them unanswered |\n|---|---|---|---|---|---|---|---|---|---|\n");
  std::size_t pos = 0;
  while (pos < a.kinds.size()) {
    auto comma = a.kinds.find(',', pos);
    if (comma == std::string::npos) comma = a.kinds.size();
    const std::string kind = a.kinds.substr(pos, comma - pos);
    pos = comma + 1;
    Bench b;
    b.args = a;
    b.kind = kind;
    uv_ip4_addr(a.host.c_str(), a.coap_port, &b.gw_coap);
    uv_ip4_addr(a.host.c_str(), a.mqtt_port, &b.gw_mqtt);
    connect_mqtt(b, b.sub, 100000);
    bool coap = kind.rfind("coap", 0) == 0;
    bool started = false;
    b.on_ready = [&]() {
      if (started || !b.subscribed) return;
      if (!coap && b.mqtt_open < static_cast<int>(b.pubs.size())) return;
      started = true;
      b.target = static_cast<std::uint64_t>(a.messages);
      b.start_ns = now_ns();
      if (coap) {
        b.publishing = true;
        for (auto& ep : b.eps) b.fill_coap(*ep);
      } else {
        b.fill_mqtt(-1);
      }
    };
    if (coap) {
      b.open_endpoints(a.endpoints);
    } else {
      b.mqtt_outstanding.assign(a.endpoints, 0);
      b.mqtt_sent.assign(a.endpoints, 0);
      b.pubs.resize(a.endpoints);
      for (int i = 0; i < a.endpoints; ++i) connect_mqtt(b, b.pubs[i], static_cast<std::uint32_t>(i));
    }
    b.run_until_done(120);
    const double secs = static_cast<double>((b.end_ns ? b.end_ns : now_ns()) - b.start_ns) / 1e9;
    std::printf("| %s | %d | %d | %llu | %.0f | %.2f | %.2f | %llu | %llu | %llu |\n", kind.c_str(),
                a.endpoints, a.window, static_cast<unsigned long long>(b.delivered),
                static_cast<double>(b.delivered) / secs, static_cast<double>(b.lat.quantile(0.5)) / 1e6,
                static_cast<double>(b.lat.quantile(0.99)) / 1e6, static_cast<unsigned long long>(b.errors),
                static_cast<unsigned long long>(b.lost), static_cast<unsigned long long>(b.lost_unanswered));
    close_all(b);
  }
  return 0;
}

int fanout_mode(const Args& a) {
  Bench b;
  b.args = a;
  b.kind = "fanout";
  uv_ip4_addr(a.host.c_str(), a.coap_port, &b.gw_coap);
  uv_ip4_addr(a.host.c_str(), a.mqtt_port, &b.gw_mqtt);
  b.open_endpoints(a.endpoints);
  int registered = 0;
  b.pubs.resize(1);
  b.mqtt_outstanding.assign(1, 0);
  b.mqtt_sent.assign(1, 0);
  connect_mqtt(b, b.pubs[0], 0);
  bool started = false;
  std::uint64_t published = 0;
  // The publisher keeps at most `window` messages ahead of the slowest observer's count.
  auto pump = [&]() {
    std::uint64_t slowest = ~0ull;
    for (auto& ep : b.eps) slowest = std::min(slowest, ep->notifications);
    while (published < static_cast<std::uint64_t>(a.messages) && published < slowest + a.window) {
      mqtt::Publish p;
      p.topic = "fan/t";
      p.payload = "fan-out notification ..........";
      mqtt::encode(p, mqtt::Version::V311, b.pubs[0]->out());
      b.pubs[0]->touch();
      ++published;
    }
  };
  b.on_ready = [&]() {
    if (!started && ++registered == a.endpoints + 1) {  // every observer registered, and the publisher up
      started = true;
      b.target = static_cast<std::uint64_t>(a.messages) * a.endpoints;
      b.start_ns = now_ns();
      pump();
    }
  };
  b.registration_path = "ps/fan/t";
  for (auto& ep : b.eps) {
    b.send_raw(*ep, coap_request(0, 1, ++ep->mid, 1, "ps/fan/t", "", 0, {}));
    ep->sent = 1;
  }
  b.io.set_before_flush([&]() {
    if (started) pump();
  });
  b.run_until_done(120);
  const double secs = static_cast<double>((b.end_ns ? b.end_ns : now_ns()) - b.start_ns) / 1e9;
  std::printf("| observers | messages | window | notifications | notifications/s |\n|---|---|---|---|---|\n");
  std::printf("| %d | %d | %d | %llu | %.0f |\n", a.endpoints, a.messages, a.window,
              static_cast<unsigned long long>(b.delivered), static_cast<double>(b.delivered) / secs);
  close_all(b);
  return 0;
}

int idle_mode(const Args& a) {
  if (a.pid == 0) {
    std::fprintf(stderr, "idle needs --pid of the daemon\n");
    return 2;
  }
  Bench b;
  b.args = a;
  b.kind = "idle";
  uv_ip4_addr(a.host.c_str(), a.coap_port, &b.gw_coap);
  const long before = rss_kib(a.pid);
  b.open_endpoints(a.endpoints);
  int registered = 0;
  b.on_ready = [&]() {
    if (++registered == a.endpoints) uv_stop(b.io.loop());
  };
  // Registrations in batches of 500 per loop turn, so the socket buffers do not overflow.
  std::size_t next = 0;
  b.io.set_before_flush([&]() {
    for (int k = 0; k < 500 && next < b.eps.size(); ++k, ++next) {
      Endpoint& ep = *b.eps[next];
      b.send_raw(ep, coap_request(0, 1, ++ep.mid, 1, "ps/idle/" + std::to_string(ep.index), "", 0, {}));
      ep.sent = 1;
    }
  });
  b.run_until_done(120);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const long after = rss_kib(a.pid);
  std::printf(
      "| endpoints | registered | daemon RSS before KiB | after KiB | bytes per idle observed endpoint |\n"
      "|---|---|---|---|---|\n| %d | %d | %ld | %ld | %.0f |\n",
      a.endpoints, registered, before, after,
      registered ? static_cast<double>(after - before) * 1024.0 / registered : 0.0);
  close_all(b);
  return 0;
}

}  // namespace
}  // namespace gw::bench

int main(int argc, char** argv) {
  using gw::bench::Args;
  Args a;
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: %s publish|fanout|idle [--host H] [--mqtt-port P] [--coap-port C] [--pid PID] "
                 "[-e endpoints] [-n messages] [-w window] [--kinds coap-non,coap-con,mqtt-qos0,mqtt-qos1]\n",
                 argv[0]);
    return 2;
  }
  a.mode = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const char* v = argv[i + 1];
    if (k == "--host")
      a.host = v;
    else if (k == "--mqtt-port")
      a.mqtt_port = std::atoi(v);
    else if (k == "--coap-port")
      a.coap_port = std::atoi(v);
    else if (k == "--pid")
      a.pid = std::atoi(v);
    else if (k == "-e")
      a.endpoints = std::atoi(v);
    else if (k == "-n")
      a.messages = std::atoi(v);
    else if (k == "-w")
      a.window = std::atoi(v);
    else if (k == "--kinds")
      a.kinds = v;
  }
  rlimit r{};
  getrlimit(RLIMIT_NOFILE, &r);
  r.rlim_cur = r.rlim_max;
  setrlimit(RLIMIT_NOFILE, &r);
  if (a.mode == "publish") return gw::bench::publish_mode(a);
  if (a.mode == "fanout") return gw::bench::fanout_mode(a);
  if (a.mode == "idle") return gw::bench::idle_mode(a);
  std::fprintf(stderr, "unknown mode %s\n", a.mode.c_str());
  return 2;
}
