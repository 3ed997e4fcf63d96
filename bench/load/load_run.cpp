// The load generator's run: publishers and subscribers as MQTT clients on one libuv loop. Each payload
// starts with a 24-byte header (magic, publisher index, sequence number, send time from the monotonic
// clock), so a subscriber measures latency and finds losses and duplicates without any shared table.
//
//   phase        event                                   next
//   Subscribers  all CONNACK + SUBACK                    Publishers
//   Publishers   all CONNACK                             Publishing
//   Idle         all CONNACK, then `settle` s (1)       Closing (memory measured)
//   Publishing   duration elapsed                        Draining
//   Draining     all delivered / 1 s quiet / drain_s     Closing
//   any          setup deadline, or a client lost early  Closing (result not ok)
#include "bench/load/load_run.hpp"

#include <unistd.h>

#include <cstring>
#include <memory>
#include <vector>

#include "bench/load/client.hpp"
#include "bench/load/proc_stats.hpp"
#include "protocols/mqtt/topic.hpp"

namespace gw::bench {

namespace {

constexpr std::uint32_t kMagic = 0x4E454247;  // "NEBG"
constexpr std::size_t kHeader = 24;
constexpr std::uint32_t kConnectConcurrency = 128;
constexpr std::size_t kMaxPending = 1024 * 1024;  // per connection: past this a publisher waits
constexpr std::uint64_t kMs = 1'000'000;
constexpr std::uint64_t kStall = 500 * kMs;

std::uint64_t ns_of(double seconds) {
  return static_cast<std::uint64_t>(seconds * 1e9);
}

// Which sequence numbers a subscriber got from one publisher.
struct SeqSet {
  std::vector<std::uint64_t> bits;
  // Returns false when `seq` was already there.
  bool insert(std::uint64_t seq) {
    std::size_t word = seq / 64;
    if (word >= bits.size()) bits.resize(word + 1 + bits.size() / 2);
    std::uint64_t mask = std::uint64_t{1} << (seq % 64);
    if (bits[word] & mask) return false;
    bits[word] |= mask;
    return true;
  }
  bool contains(std::uint64_t seq) const {
    std::size_t word = seq / 64;
    return word < bits.size() && (bits[word] >> (seq % 64) & 1) != 0;
  }
};

class Run final : public ClientEvents {
 public:
  Run(const Scenario& s, const Target& t) : s_(s), t_(t) {}
  RunResult go();

  void on_open(Client& c) override;
  void on_packet(Client& c, std::uint8_t header, mqtt::ByteView body) override;
  void on_closed(Client& c, const char* why) override;

 private:
  enum class Phase { Subscribers, Publishers, Idle, Publishing, Draining, Closing };
  struct Pub {
    std::string topic;
    std::uint64_t sent = 0;
    std::uint64_t receptions = 0;  // deliveries of its messages, over all subscribers
    std::uint64_t written_off = 0;
    std::uint32_t receivers = 0;  // subscribers whose filter matches its topic
    std::uint32_t inflight = 0;   // QoS 1/2 not yet acknowledged
    std::uint16_t next_id = 0;
    std::uint64_t last_progress = 0;
    bool ready = false;
    // Open loop: the sequence number each packet id carries now, and the sequence numbers acknowledged.
    std::vector<std::uint64_t> seq_of_id;
    SeqSet acked;
  };
  struct Sub {
    std::string filter;
    std::vector<SeqSet> from;  // by publisher index
  };

  bool is_sub(const Client& c) const { return s_.kind == Scenario::Kind::Flow && c.index() < subs_.size(); }
  Pub* pub_of(const Client& c) {
    if (s_.kind != Scenario::Kind::Flow || c.index() < subs_.size()) return nullptr;
    return &pubs_[c.index() - subs_.size()];
  }
  Client& client_of_pub(std::size_t i) { return *clients_[subs_.size() + i]; }

  void launch();
  void connected_one();
  void start_publishing();
  void begin_drain();
  void check_drained(std::uint64_t now);
  void finish(const std::string& error);
  void on_publish(Client& c, std::uint8_t header, mqtt::ByteView body);
  std::uint64_t outstanding(const Pub& p) const;
  bool can_send(std::size_t i);
  void publish_one(std::size_t i);
  void fill(std::size_t i);
  void on_tick();
  static void tick_cb(uv_timer_t* t) { static_cast<Run*>(t->data)->on_tick(); }

  const Scenario& s_;
  Target t_;
  IoLoop io_;
  sockaddr_in addr_{};
  std::vector<std::unique_ptr<Client>> clients_;
  std::vector<Sub> subs_;
  std::vector<Pub> pubs_;
  std::vector<std::size_t> ready_;
  Phase phase_ = Phase::Subscribers;
  std::size_t next_ = 0;       // next client to connect
  std::size_t phase_end_ = 0;  // clients [.., phase_end_) belong to the current setup phase
  std::uint32_t in_progress_ = 0;
  std::size_t done_ = 0;  // clients of the current phase ready
  uv_timer_t tick_{};
  uv_timer_t deadline_{};
  std::string payload_;
  std::uint64_t per_pub_window_ = 0;
  std::uint64_t t_setup_ = 0, t0_ = 0, measure_from_ = 0, t_end_ = 0, t_settled_ = 0;
  std::uint64_t last_progress_ = 0;
  std::uint64_t last_tick_ = 0;
  std::uint64_t scheduled_ = 0;
  std::size_t rr_ = 0;
  std::uint64_t measured_delivered_ = 0, measured_sent_ = 0, unique_ = 0;
  double cpu_at_start_ = 0, self_cpu_at_start_ = 0;
  std::uint64_t base_rss_kb_ = 0;
  RunResult r_;
};

RunResult Run::go() {
  if (uv_ip4_addr(t_.host.c_str(), t_.port, &addr_) != 0) {
    r_.error = "bad address " + t_.host;
    return r_;
  }
  payload_.assign(s_.payload < kHeader ? kHeader : s_.payload, 'x');
  io_.websocket = s_.websocket;
  if (s_.tls) {
    auto ctx = net::TlsClientContext::load({true, t_.tls_ca, "localhost", true, "", ""});
    if (!ctx) {
      r_.error = ctx.error();
      return r_;
    }
    io_.tls = std::move(ctx).value();
  }
  std::uint32_t n = 0;
  if (s_.kind == Scenario::Kind::Idle) {
    n = s_.connections;
    phase_ = Phase::Idle;
    phase_end_ = n;
  } else {
    subs_.resize(s_.subscribers);
    pubs_.resize(s_.publishers);
    for (std::uint32_t j = 0; j < s_.subscribers; ++j) subs_[j].filter = expand(s_.sub_filter, "j", j);
    for (std::uint32_t i = 0; i < s_.publishers; ++i) {
      pubs_[i].topic = expand(s_.pub_topic, "i", i);
      for (const auto& sub : subs_) pubs_[i].receivers += mqtt::topic_matches(sub.filter, pubs_[i].topic);
    }
    n = s_.subscribers + s_.publishers;
    phase_ = s_.subscribers > 0 ? Phase::Subscribers : Phase::Publishers;
    phase_end_ = s_.subscribers > 0 ? s_.subscribers : n;
    std::uint64_t w = s_.window / (s_.publishers ? s_.publishers : 1);
    per_pub_window_ = w ? w : 1;
  }
  clients_.reserve(n);
  for (std::uint32_t k = 0; k < n; ++k) {
    clients_.push_back(std::make_unique<Client>(io_, *this, k));
    clients_.back()->version = s_.version;
  }
  uv_timer_init(io_.loop(), &tick_);
  tick_.data = this;
  uv_timer_init(io_.loop(), &deadline_);
  deadline_.data = this;
  // Setup must finish in bounded time whatever the broker does. Over TLS every connection costs a full
  // handshake (public-key operations: milliseconds of CPU each on a small machine), so 10,000 of them get
  // 600 s.
  uv_timer_start(
      &deadline_,
      [](uv_timer_t* t) {
        auto* self = static_cast<Run*>(t->data);
        if (self->phase_ == Phase::Subscribers || self->phase_ == Phase::Publishers ||
            self->phase_ == Phase::Idle) {
          self->finish(self->s_.tls ? "setup did not finish within 600 s"
                                    : "setup did not finish within 120 s");
        }
      },
      s_.tls ? 600'000 : 120'000, 0);
  io_.set_before_flush([this] {
    // Max-rate mode: publishers that got deliveries back refill their window once per loop iteration.
    std::vector<std::size_t> batch;
    batch.swap(ready_);
    for (auto i : batch) {
      pubs_[i].ready = false;
      if (phase_ == Phase::Publishing && s_.rate <= 0) fill(i);
    }
  });
  t_setup_ = uv_hrtime();
  if (phase_ == Phase::Idle) base_rss_kb_ = sample_process(t_.pid).rss_kb;
  if (n == 0) {
    finish("nothing to run");
  } else {
    launch();
  }
  uv_run(io_.loop(), UV_RUN_DEFAULT);
  return r_;
}

void Run::launch() {
  while (in_progress_ < kConnectConcurrency && next_ < phase_end_) {
    ++in_progress_;
    clients_[next_++]->connect(reinterpret_cast<const sockaddr*>(&addr_));
  }
}

void Run::on_open(Client& c) {
  mqtt::Connect cn;
  cn.protocol_name = s_.version == mqtt::Version::V31 ? "MQIsdp" : "MQTT";
  cn.version = s_.version;
  cn.clean_start = true;
  cn.keep_alive = 0;  // runs are short; no PINGREQ traffic to muddy the figures
  const char* role = s_.kind == Scenario::Kind::Idle ? "i" : is_sub(c) ? "s" : "p";
  cn.client_id = std::string("nb-") + role + std::to_string(c.index()) + "-" + std::to_string(getpid());
  mqtt::encode(cn, c.out());
  c.touch();
}

void Run::connected_one() {
  --in_progress_;
  ++done_;
  if (done_ < phase_end_) {
    launch();
    return;
  }
  if (phase_ == Phase::Subscribers) {
    phase_ = Phase::Publishers;
    phase_end_ = clients_.size();
    if (next_ < phase_end_) {
      launch();
      return;
    }
  }
  if (phase_ == Phase::Publishers) {
    start_publishing();
    return;
  }
  if (phase_ == Phase::Idle) {
    t_settled_ = uv_hrtime();
    r_.connections = static_cast<std::uint32_t>(done_);
    r_.connect_s = static_cast<double>(t_settled_ - t_setup_) / 1e9;
    // Let the broker settle (lazily grown buffers, deferred frees) before reading its memory.
    uv_timer_start(
        &tick_,
        [](uv_timer_t* t) {
          auto* self = static_cast<Run*>(t->data);
          auto after = sample_process(self->t_.pid);
          self->r_.mem_per_conn_bytes =
              (static_cast<double>(after.rss_kb) - static_cast<double>(self->base_rss_kb_)) * 1024.0 /
              static_cast<double>(self->r_.connections);
          self->finish("");
        },
        static_cast<std::uint64_t>(s_.settle_s * 1000), 0);
  }
}

void Run::on_packet(Client& c, std::uint8_t header, mqtt::ByteView body) {
  const auto type = static_cast<mqtt::PacketType>(header >> 4);
  if (type == mqtt::PacketType::Publish) {
    on_publish(c, header, body);
    return;
  }
  auto decoded = mqtt::decode(c.version, header, body);
  if (!decoded) {
    finish(std::string("undecodable packet from the broker: ") + decoded.error().what);
    return;
  }
  switch (type) {
    case mqtt::PacketType::Connack: {
      const auto& ack = std::get<mqtt::Connack>(*decoded);
      if (ack.reason != mqtt::Reason::Success) {
        finish("CONNACK refused, reason " + std::to_string(static_cast<int>(ack.reason)));
        return;
      }
      if (is_sub(c)) {
        mqtt::Subscribe sub;
        sub.packet_id = 1;
        sub.subscriptions.push_back(
            mqtt::Subscription{subs_[c.index()].filter, {s_.sub_qos, false, false, 0}});
        mqtt::encode(sub, c.version, c.out());
        c.touch();
      } else {
        connected_one();
      }
      return;
    }
    case mqtt::PacketType::Suback: {
      const auto& ack = std::get<mqtt::Suback>(*decoded);
      if (ack.reasons.empty() || static_cast<int>(ack.reasons[0]) >= 0x80) {
        finish("SUBSCRIBE refused");
        return;
      }
      connected_one();
      return;
    }
    case mqtt::PacketType::Puback:
    case mqtt::PacketType::Pubcomp:
    case mqtt::PacketType::Pubrec:
    case mqtt::PacketType::Pubrel: {
      const auto& a = std::get<mqtt::Ack>(*decoded);
      if (type == mqtt::PacketType::Pubrel) {  // we are the QoS 2 receiver
        mqtt::encode(mqtt::Ack{mqtt::PacketType::Pubcomp, a.packet_id, mqtt::Reason::Success, {}}, c.version,
                     c.out());
        c.touch();
        return;
      }
      if (type == mqtt::PacketType::Pubrec) {  // we are the QoS 2 sender
        mqtt::encode(mqtt::Ack{mqtt::PacketType::Pubrel, a.packet_id, mqtt::Reason::Success, {}}, c.version,
                     c.out());
        c.touch();
        return;
      }
      Pub* p = pub_of(c);
      if (p && p->inflight > 0) {
        --p->inflight;
        if (!p->seq_of_id.empty() && static_cast<int>(a.reason) < 0x80) {
          p->acked.insert(p->seq_of_id[a.packet_id]);
          ++r_.acked;
        }
        p->last_progress = uv_hrtime();
        std::size_t i = c.index() - subs_.size();
        if (phase_ == Phase::Publishing && !p->ready) {
          p->ready = true;
          ready_.push_back(i);
        }
        if (phase_ == Phase::Draining) check_drained(uv_hrtime());
      }
      return;
    }
    case mqtt::PacketType::Disconnect:
      finish("DISCONNECT from the broker");
      return;
    default:
      return;
  }
}

void Run::on_publish(Client& c, std::uint8_t header, mqtt::ByteView body) {
  const std::uint64_t now = uv_hrtime();
  auto decoded = mqtt::decode(c.version, header, body);
  if (!decoded) {
    finish(std::string("undecodable PUBLISH: ") + decoded.error().what);
    return;
  }
  const auto& p = std::get<mqtt::Publish>(*decoded);
  if (p.qos == 1 || p.qos == 2) {
    auto t = p.qos == 1 ? mqtt::PacketType::Puback : mqtt::PacketType::Pubrec;
    mqtt::encode(mqtt::Ack{t, p.packet_id, mqtt::Reason::Success, {}}, c.version, c.out());
    c.touch();
  }
  ++r_.received;
  std::uint32_t magic = 0, pub = 0;
  std::uint64_t seq = 0, ts = 0;
  if (p.payload.size() >= kHeader) {
    std::memcpy(&magic, p.payload.data(), 4);
    std::memcpy(&pub, p.payload.data() + 4, 4);
    std::memcpy(&seq, p.payload.data() + 8, 8);
    std::memcpy(&ts, p.payload.data() + 16, 8);
  }
  if (magic != kMagic || pub >= pubs_.size() || !is_sub(c) ||
      !mqtt::topic_matches(subs_[c.index()].filter, pubs_[pub].topic)) {
    ++r_.unexpected;
    return;
  }
  auto& from = subs_[c.index()].from;
  if (from.size() < pubs_.size()) from.resize(pubs_.size());
  if (!from[pub].insert(seq)) {
    ++r_.duplicates;
    return;
  }
  ++unique_;
  last_progress_ = now;
  if (ts >= measure_from_ && ts < t_end_) r_.latency.record(now - ts);
  if (now >= measure_from_ && now < t_end_) ++measured_delivered_;
  Pub& src = pubs_[pub];
  ++src.receptions;
  src.last_progress = now;
  if (phase_ == Phase::Publishing && s_.rate <= 0 && !src.ready) {
    src.ready = true;
    ready_.push_back(pub);
  }
  if (phase_ == Phase::Draining) check_drained(now);
}

std::uint64_t Run::outstanding(const Pub& p) const {
  if (p.receivers == 0) return 0;
  std::uint64_t done = p.receptions / p.receivers + p.written_off;
  return p.sent > done ? p.sent - done : 0;
}

bool Run::can_send(std::size_t i) {
  const Pub& p = pubs_[i];
  Client& c = client_of_pub(i);
  if (!c.is_open() || c.pending_bytes() >= kMaxPending) return false;
  if (s_.ack_window > 0 && s_.rate <= 0) return s_.qos == 0 || p.inflight < s_.ack_window;
  const std::uint64_t window = s_.rate > 0 ? 60000 : per_pub_window_;
  if (s_.qos > 0 && p.inflight >= window) return false;
  return s_.rate > 0 || outstanding(p) < per_pub_window_;
}

void Run::publish_one(std::size_t i) {
  Pub& p = pubs_[i];
  Client& c = client_of_pub(i);
  const std::uint64_t ts = uv_hrtime();
  const auto idx = static_cast<std::uint32_t>(i);
  std::memcpy(payload_.data(), &kMagic, 4);
  std::memcpy(payload_.data() + 4, &idx, 4);
  std::memcpy(payload_.data() + 8, &p.sent, 8);
  std::memcpy(payload_.data() + 16, &ts, 8);
  std::uint16_t id = 0;
  if (s_.qos > 0) {
    if (++p.next_id == 0) p.next_id = 1;
    id = p.next_id;
    ++p.inflight;
    if (s_.ack_window > 0) {
      if (p.seq_of_id.empty()) p.seq_of_id.resize(65536);
      p.seq_of_id[id] = p.sent;
    }
  }
  mqtt::encode_publish(c.out(), s_.version, p.topic, payload_, s_.qos, false, false, id, nullptr);
  c.touch();
  ++p.sent;
  if (ts >= measure_from_) ++measured_sent_;
}

void Run::fill(std::size_t i) {
  while (can_send(i)) publish_one(i);
}

void Run::start_publishing() {
  uv_timer_stop(&deadline_);
  phase_ = Phase::Publishing;
  cpu_at_start_ = sample_process(t_.pid).cpu_s;
  self_cpu_at_start_ = self_cpu_seconds();
  t0_ = uv_hrtime();
  measure_from_ = t0_ + ns_of(s_.warmup_s);
  t_end_ = t0_ + ns_of(s_.duration_s);
  if (measure_from_ > t_end_) measure_from_ = t0_;
  last_progress_ = t0_;
  for (auto& p : pubs_) p.last_progress = t0_;
  if (s_.rate <= 0) {
    for (std::size_t i = 0; i < pubs_.size(); ++i) fill(i);
    io_.flush_all();
  }
  uv_timer_start(&tick_, tick_cb, 1, 1);
}

void Run::on_tick() {
  const std::uint64_t now = uv_hrtime();
  if (phase_ == Phase::Draining) {
    check_drained(now);
    return;
  }
  if (phase_ != Phase::Publishing) return;
  if (now >= t_end_) {
    begin_drain();
    return;
  }
  if (s_.rate > 0) {
    if (last_tick_ != 0 && now >= measure_from_)
      r_.timer_lag.record(now - last_tick_ > kMs ? now - last_tick_ - kMs : 0);
    last_tick_ = now;
    // Fixed rate: whatever is due by now, spread round-robin over the publishers; a publisher that cannot
    // take more (socket backed up, QoS window full) loses its slot, which is counted as "behind".
    const auto target = static_cast<std::uint64_t>(s_.rate * static_cast<double>(now - t0_) / 1e9);
    while (scheduled_ < target) {
      ++scheduled_;
      bool sent = false;
      for (std::size_t k = 0; k < pubs_.size() && !sent; ++k) {
        std::size_t i = rr_++ % pubs_.size();
        if (can_send(i)) {
          publish_one(i);
          sent = true;
        }
      }
      if (!sent) ++r_.behind;
    }
    io_.flush_all();
    return;
  }
  if (s_.ack_window > 0) {
    // Open loop: nothing is written off (what was acknowledged must arrive); publishers whose socket
    // drained take more.
    for (std::size_t i = 0; i < pubs_.size(); ++i) fill(i);
    io_.flush_all();
    return;
  }
  // Max rate: a window that made no progress for a while is written off (its messages are lost, and the
  // loss is counted at the end), so one dropped message cannot stall a publisher for good.
  for (std::size_t i = 0; i < pubs_.size(); ++i) {
    Pub& p = pubs_[i];
    if (now - p.last_progress > kStall && (outstanding(p) >= per_pub_window_ || p.inflight > 0)) {
      p.written_off += outstanding(p);
      if (p.inflight > 0 && s_.qos > 0) p.inflight = 0;
      p.last_progress = now;
      ++r_.stalls;
      fill(i);
    }
  }
  io_.flush_all();
}

void Run::begin_drain() {
  phase_ = Phase::Draining;
  r_.broker_cpu_s = sample_process(t_.pid).cpu_s - cpu_at_start_;
  r_.loadgen_cpu_s = self_cpu_seconds() - self_cpu_at_start_;
  last_progress_ = uv_hrtime();
  check_drained(last_progress_);
}

void Run::check_drained(std::uint64_t now) {
  std::uint64_t expected = 0;
  bool acked = true;
  for (const auto& p : pubs_) {
    expected += p.sent * p.receivers;
    acked = acked && p.inflight == 0;
  }
  const bool all_in = unique_ >= expected && (s_.qos == 0 || acked);
  if (all_in || now - last_progress_ > ns_of(s_.quiet_s) || now - t_end_ > ns_of(s_.drain_s)) finish("");
}

void Run::on_closed(Client& c, const char* why) {
  if (phase_ == Phase::Closing) return;
  ++r_.disconnects;
  finish(std::string("client ") + std::to_string(c.index()) + " lost: " + why);
}

void Run::finish(const std::string& error) {
  if (phase_ == Phase::Closing) return;
  const Phase was = phase_;
  phase_ = Phase::Closing;
  r_.error = error;
  r_.ok = error.empty();
  if (was == Phase::Publishing) {  // ended early: still report CPU over what ran
    r_.broker_cpu_s = sample_process(t_.pid).cpu_s - cpu_at_start_;
    r_.loadgen_cpu_s = self_cpu_seconds() - self_cpu_at_start_;
  }
  r_.broker_peak_rss_kb = sample_process(t_.pid).peak_rss_kb;
  if (s_.kind == Scenario::Kind::Flow) {
    for (const auto& p : pubs_) {
      r_.unacked += p.inflight;
      r_.sent += p.sent;
      r_.expected += p.sent * p.receivers;
    }
    r_.lost = r_.expected > unique_ ? r_.expected - unique_ : 0;
    for (std::size_t i = 0; i < pubs_.size(); ++i) {
      if (pubs_[i].seq_of_id.empty()) continue;
      for (const auto& sub : subs_) {
        if (!mqtt::topic_matches(sub.filter, pubs_[i].topic)) continue;
        const SeqSet* got = i < sub.from.size() ? &sub.from[i] : nullptr;
        for (std::uint64_t seq = 0; seq < pubs_[i].sent; ++seq) {
          if (pubs_[i].acked.contains(seq) && !(got && got->contains(seq))) ++r_.acked_lost;
        }
      }
    }
    const std::uint64_t end = t_end_ ? t_end_ : uv_hrtime();
    r_.window_s = end > measure_from_ && measure_from_ ? static_cast<double>(end - measure_from_) / 1e9 : 0;
    r_.publish_s = end > t0_ && t0_ ? static_cast<double>(end - t0_) / 1e9 : 0;
    if (r_.window_s > 0) {
      r_.delivered_per_s = static_cast<double>(measured_delivered_) / r_.window_s;
      r_.sent_per_s = static_cast<double>(measured_sent_) / r_.window_s;
    }
  }
  uv_timer_stop(&tick_);
  uv_timer_stop(&deadline_);
  uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&deadline_), nullptr);
  mqtt::Buffer bye;
  mqtt::encode(mqtt::Disconnect{}, s_.version, bye);
  for (auto& c : clients_) {
    if (c->is_open()) {
      c->send(bye);
      c->flush();
    }
    c->close();
  }
  io_.close();
}

}  // namespace

RunResult run_scenario(const Scenario& s, const Target& t) {
  auto run = std::make_unique<Run>(s, t);  // ~300 KB of buffers: keep it off the stack
  return run->go();
}

}  // namespace gw::bench
