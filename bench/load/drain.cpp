// The backlog-drain scenario (see drain.hpp for the steps). One run is one libuv loop in this thread with
// up to four kinds of client: the witness on the upstream Mosquitto, the watcher of netpie-edge's $SYS
// uplink topics, the publishers that fill the outbox, and the direct publisher to Mosquitto. The brokers are
// started and stopped from inside the loop's callbacks (BrokerProcess blocks for at most a few seconds).
#include "bench/load/drain.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "bench/load/broker_process.hpp"
#include "bench/load/client.hpp"
#include "bench/load/proc_stats.hpp"

namespace gw::bench {

namespace {

constexpr char kUplink[] = "drain";  // the uplink's name: $SYS/broker/uplink/drain/...
constexpr char kWitnessId[] = "nb-drain-witness";
constexpr std::uint32_t kMagic = 0x314E5244;  // "DRN1"
constexpr std::size_t kHead = 16;             // magic (4), publisher index (4), sequence number (8)
constexpr std::uint64_t kSecond = 1'000'000'000;
constexpr std::uint64_t kStall = 30 * kSecond;    // a step without progress for this long fails the run
constexpr std::uint64_t kSysWait = 5 * kSecond;   // $SYS backlog/rows comes once a second (sys_interval 1)
constexpr std::size_t kMaxPending = 1024 * 1024;  // per connection: past this a publisher waits

double secs(std::uint64_t ns) {
  return static_cast<double>(ns) / 1e9;
}

// netpie-edge's store and uplink for the drain: every bench/ message into the outbox, one uplink to the
// upstream Mosquitto at QoS 1 under up/. The uplink's configuration syntax lives only here.
std::string edge_config(const Scenario& s, std::uint16_t upstream_port, std::uint32_t inflight) {
  const std::uint64_t rows = std::max<std::uint64_t>(s.messages + 1000, 1000000);
  std::ostringstream y;
  y << "store: {max_db_bytes: 8GiB, outbox: {filters: ['bench/#'], max_rows: " << rows
    << ", max_bytes: 4GiB}}\n"
    << "uplinks: [{name: " << kUplink
    << ", profile: mqtt, tls: {enabled: false}, host: 127.0.0.1, port: " << upstream_port
    << ", client_id: nb-drain-uplink, version: '5', topic_prefix: up/, qos: 1, keepalive: 60, max_inflight: "
    << inflight << ", reconnect_min_ms: 50, reconnect_max_ms: 100}]\n";
  return y.str();
}

// A free loopback port below the ephemeral range: while the upstream is down, the uplink reconnects every
// 50-100 ms, and one of its own connections could otherwise take the port (a loopback self-connect).
std::uint16_t port_below_ephemeral_range() {
  unsigned low = 32768;
  if (std::ifstream f("/proc/sys/net/ipv4/ip_local_port_range"); f) f >> low;
  const unsigned lo = low > 13024 ? low - 12000 : 1024, hi = low > 1025 ? low - 1 : 1025;
  std::mt19937 rng(std::random_device{}());
  for (int i = 0; i < 200; ++i) {
    const auto port = static_cast<std::uint16_t>(std::uniform_int_distribution<unsigned>(lo, hi)(rng));
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    close(fd);
    if (ok) return port;
  }
  return 0;
}

std::vector<std::uint32_t> inflight_values(const std::string& list) {
  std::vector<std::uint32_t> out;
  std::stringstream in(list);
  for (std::string item; std::getline(in, item, ',');)
    out.push_back(static_cast<std::uint32_t>(std::stoul(item)));
  return out;
}

struct DrainResult {
  bool ok = false;
  std::string error;
  double fill_s = 0;               // first send to the last PUBACK from netpie-edge
  std::uint64_t backlog_rows = 0;  // $SYS backlog/rows before the upstream came back
  double online_s =
      0;  // upstream started -> the uplink's $SYS state "online" read (late while we wait for it)
  double drain_s = 0;          // upstream started -> the last new message at the witness
  std::uint64_t received = 0;  // at the witness, from the outbox (duplicates included)
  std::uint64_t duplicates = 0;
  std::uint64_t lost = 0;
  std::uint64_t out_of_order = 0;      // new messages below a publisher's highest so far
  std::uint64_t uplink_published = 0;  // netpie-edge's closing line: publishes, re-sends included
  double edge_cpu_s = 0;               // netpie-edge CPU from the upstream start to the last message
  double mosq_cpu_drain_s = 0;
  double direct_ack_s = 0;  // direct: first send to the last PUBACK
  double direct_all_s = 0;  // direct: first send to the last message at the witness
  double mosq_cpu_direct_s = 0;
};

class DrainRun final : public ClientEvents {
 public:
  DrainRun(const Scenario& s, std::uint32_t inflight, const SuiteOptions& opt)
      : s_(s), inflight_(inflight), opt_(opt), dir_(opt.workdir + "/drain") {}
  DrainResult go();

  void on_open(Client& c) override;
  void on_packet(Client& c, std::uint8_t header, mqtt::ByteView body) override;
  void on_closed(Client& c, const char* why) override;

 private:
  enum class Step { Subscribe, Watch, Fill, Backlog, Drain, Emptied, Direct, Done };
  enum class Role { Witness, Watcher, Filler, Direct };
  struct Pub {
    Client* client = nullptr;
    std::string topic;
    std::uint64_t quota = 0, sent = 0, acked = 0;
    std::uint32_t inflight = 0, window = 1;
    std::uint16_t next_id = 0;
  };

  Client& make(Role role, const sockaddr_in& to);
  void leave(Client& c);
  void fail(const std::string& why);
  void finish(const std::string& error);
  void progress() { last_progress_ = uv_hrtime(); }

  void witness_left();
  void start_fill();
  void fill(Pub& p);
  void on_ack(Client& c, std::uint16_t id);
  void on_sys(const mqtt::Publish& p);
  void on_witness(Client& c, const mqtt::Publish& p);
  void check_backlog();
  void start_drain();
  void check_emptied();
  void start_direct();
  void check_direct();
  void on_tick();

  const Scenario& s_;
  const std::uint32_t inflight_;
  const SuiteOptions& opt_;
  const std::string dir_;
  IoLoop io_;
  BrokerSpec mosq_spec_, edge_spec_;
  std::unique_ptr<BrokerProcess> mosq_, edge_;
  sockaddr_in up_addr_{}, edge_addr_{};
  Step step_ = Step::Subscribe;
  std::vector<std::unique_ptr<Client>> clients_;
  std::vector<Role> roles_;
  std::vector<bool> leaving_;
  std::vector<Pub> pubs_;  // the fill publishers, then the direct publisher
  std::uint32_t fillers_up_ = 0;
  std::vector<std::vector<bool>> seen_;  // per publisher: which sequence numbers reached the witness
  std::vector<std::uint64_t> next_new_;  // per publisher: highest first arrival + 1
  std::uint64_t unique_fill_ = 0, unique_direct_ = 0, fill_acked_ = 0;
  std::string payload_;
  std::string sys_rows_;  // the last $SYS backlog/rows
  uv_timer_t tick_{};
  std::uint64_t step_since_ = 0, last_progress_ = 0;
  std::uint64_t t_fill0_ = 0, t_up_ = 0, t_online_ = 0, t_direct0_ = 0, t_direct_acked_ = 0,
                t_direct_all_ = 0;
  double edge_cpu0_ = 0, mosq_cpu0_ = 0;
  bool finished_ = false;
  DrainResult r_;
};

DrainResult DrainRun::go() {
  payload_.assign(std::max<std::size_t>(s_.payload, kHead), 'x');
  const std::uint16_t up_port = port_below_ephemeral_range();
  if (up_port == 0) {
    r_.error = "no free port below the ephemeral range";
    return r_;
  }
  uv_ip4_addr("127.0.0.1", up_port, &up_addr_);
  mosq_spec_ = BrokerSpec{"mosquitto", BrokerSpec::Kind::Mosquitto, opt_.mosquitto, false};
  mosq_spec_.max_inflight = static_cast<std::uint16_t>(inflight_);  // also its v5 receive maximum
  mosq_spec_.port = up_port;
  mosq_spec_.persistence = true;
  mosq_spec_.max_queued_messages = 0;  // the witness may fall behind; nothing is dropped
  edge_spec_ = BrokerSpec{"netpie-edge", BrokerSpec::Kind::Edge, opt_.edge, false};
  edge_spec_.edge_config = edge_config(s_, up_port, inflight_);
  edge_spec_.sys_interval = 1;
  edge_spec_.log_level = "info";  // its closing line counts the uplink's publishes

  const std::uint32_t n = std::max<std::uint32_t>(s_.publishers, 1);
  pubs_.resize(n + 1);
  for (std::uint32_t i = 0; i < n; ++i) {
    pubs_[i].topic = expand("bench/drain/{i}", "i", i);
    pubs_[i].quota = s_.messages / n + (i < s_.messages % n ? 1 : 0);
    pubs_[i].window = std::clamp<std::uint32_t>(s_.window / n, 1, 65000);
  }
  pubs_[n].topic = "up/direct";
  pubs_[n].quota = s_.messages;
  pubs_[n].window = inflight_;
  seen_.resize(n + 1);
  next_new_.assign(n + 1, 0);
  for (std::uint32_t i = 0; i <= n; ++i) seen_[i].assign(pubs_[i].quota, false);

  uv_timer_init(io_.loop(), &tick_);
  tick_.data = this;
  uv_timer_start(
      &tick_, [](uv_timer_t* t) { static_cast<DrainRun*>(t->data)->on_tick(); }, 100, 100);
  progress();
  auto m = BrokerProcess::start(mosq_spec_, dir_ + "/mosquitto");
  if (!m) {
    finish(m.error());
  } else {
    mosq_ = std::move(*m);
    make(Role::Witness, up_addr_);  // step Subscribe
  }
  uv_run(io_.loop(), UV_RUN_DEFAULT);

  if (edge_) {
    std::string problem = edge_->stop();
    if (!problem.empty() && r_.ok) {
      r_.ok = false;
      r_.error = "netpie-edge: " + problem;
    }
    std::ifstream log(dir_ + "/netpie-edge/broker.log");
    std::string all((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
    std::smatch match;
    static const std::regex closed(R"(uplink: drain: closed \(published (\d+))");
    if (std::regex_search(all, match, closed)) r_.uplink_published = std::stoull(match[1]);
  }
  if (mosq_) mosq_->stop();
  return r_;
}

Client& DrainRun::make(Role role, const sockaddr_in& to) {
  clients_.push_back(std::make_unique<Client>(io_, *this, static_cast<std::uint32_t>(clients_.size())));
  roles_.push_back(role);
  leaving_.push_back(false);
  Client& c = *clients_.back();
  c.version = role == Role::Direct ? mqtt::Version::V5 : mqtt::Version::V311;
  c.connect(reinterpret_cast<const sockaddr*>(&to));
  return c;
}

void DrainRun::leave(Client& c) {
  leaving_[c.index()] = true;
  if (c.is_open()) {
    mqtt::encode(mqtt::Disconnect{}, c.version, c.out());
    c.flush();
  }
  c.close();
}

void DrainRun::on_open(Client& c) {
  mqtt::Connect cn;
  cn.protocol_name = "MQTT";
  cn.version = c.version;
  cn.keep_alive = 0;
  const Role role = roles_[c.index()];
  cn.clean_start = role != Role::Witness;
  cn.client_id = role == Role::Witness
                     ? std::string(kWitnessId)
                     : "nb-drain-" + std::to_string(c.index()) + "-" + std::to_string(getpid());
  mqtt::encode(cn, c.out());
  c.touch();
}

void DrainRun::on_packet(Client& c, std::uint8_t header, mqtt::ByteView body) {
  if (finished_) return;
  auto decoded = mqtt::decode(c.version, header, body);
  if (!decoded) {
    fail(std::string("undecodable packet: ") + decoded.error().what);
    return;
  }
  const Role role = roles_[c.index()];
  if (auto* p = std::get_if<mqtt::Publish>(&*decoded)) {
    if (role == Role::Watcher) {
      on_sys(*p);
    } else if (role == Role::Witness) {
      on_witness(c, *p);
    }
    return;
  }
  if (auto* ack = std::get_if<mqtt::Connack>(&*decoded)) {
    if (ack->reason != mqtt::Reason::Success) {
      fail("CONNACK refused, reason " + std::to_string(static_cast<int>(ack->reason)));
      return;
    }
    if (role == Role::Witness && step_ == Step::Subscribe) {
      mqtt::Subscribe sub;
      sub.packet_id = 1;
      sub.subscriptions.push_back(mqtt::Subscription{"up/#", {s_.sub_qos, false, false, 0}});
      mqtt::encode(sub, c.version, c.out());
      c.touch();
    } else if (role == Role::Witness) {
      if (!ack->session_present) fail("the witness's session did not survive the upstream's restart");
    } else if (role == Role::Watcher) {
      mqtt::Subscribe sub;
      sub.packet_id = 1;
      sub.subscriptions.push_back(
          mqtt::Subscription{std::string("$SYS/broker/uplink/") + kUplink + "/#", {}});
      mqtt::encode(sub, c.version, c.out());
      c.touch();
    } else if (role == Role::Filler) {
      if (++fillers_up_ == pubs_.size() - 1) start_fill();
    } else {
      t_direct0_ = uv_hrtime();
      mosq_cpu0_ = sample_process(mosq_->pid()).cpu_s;
      fill(pubs_.back());
    }
    return;
  }
  if (auto* sa = std::get_if<mqtt::Suback>(&*decoded)) {
    if (sa->reasons.empty() || static_cast<int>(sa->reasons[0]) >= 0x80) {
      fail("SUBSCRIBE refused");
      return;
    }
    if (role == Role::Witness) {
      leave(c);  // -> on_closed -> witness_left
    } else if (role == Role::Watcher) {
      step_ = Step::Fill;
      progress();
      for (std::size_t i = 0; i + 1 < pubs_.size(); ++i) pubs_[i].client = &make(Role::Filler, edge_addr_);
    }
    return;
  }
  if (auto* a = std::get_if<mqtt::Ack>(&*decoded)) {
    if (a->type == mqtt::PacketType::Puback) on_ack(c, a->packet_id);
  }
}

void DrainRun::on_closed(Client& c, const char* why) {
  if (finished_) return;
  if (leaving_[c.index()]) {
    if (roles_[c.index()] == Role::Witness && step_ == Step::Subscribe) witness_left();
    return;
  }
  static const char* const names[] = {"witness", "watcher", "fill publisher", "direct publisher"};
  fail(std::string(names[static_cast<int>(roles_[c.index()])]) + " lost: " + why);
}

// Step 1 done: Mosquitto keeps the witness's session on disk; netpie-edge starts with its upstream down.
void DrainRun::witness_left() {
  if (auto problem = mosq_->stop(); !problem.empty()) {
    fail("mosquitto: " + problem);
    return;
  }
  auto e = BrokerProcess::start(edge_spec_, dir_ + "/netpie-edge");
  if (!e) {
    fail(e.error());
    return;
  }
  edge_ = std::move(*e);
  uv_ip4_addr("127.0.0.1", edge_->port(), &edge_addr_);
  step_ = Step::Watch;
  progress();
  make(Role::Watcher, edge_addr_);
}

void DrainRun::start_fill() {
  t_fill0_ = uv_hrtime();
  for (std::size_t i = 0; i + 1 < pubs_.size(); ++i) fill(pubs_[i]);
}

void DrainRun::fill(Pub& p) {
  Client& c = *p.client;
  const auto idx = static_cast<std::uint32_t>(&p - pubs_.data());
  while (p.sent < p.quota && p.inflight < p.window && c.pending_bytes() < kMaxPending) {
    std::memcpy(payload_.data(), &kMagic, 4);
    std::memcpy(payload_.data() + 4, &idx, 4);
    std::memcpy(payload_.data() + 8, &p.sent, 8);
    if (++p.next_id == 0) p.next_id = 1;
    mqtt::encode_publish(c.out(), c.version, p.topic, payload_, 1, false, false, p.next_id, nullptr);
    ++p.sent;
    ++p.inflight;
  }
  c.touch();
}

void DrainRun::on_ack(Client& c, std::uint16_t) {
  const Role role = roles_[c.index()];
  if (role != Role::Filler && role != Role::Direct) return;
  Pub& p = role == Role::Direct
               ? pubs_.back()
               : *std::find_if(pubs_.begin(), pubs_.end(), [&](const Pub& x) { return x.client == &c; });
  if (p.inflight == 0) {
    fail("a PUBACK for nothing in flight");
    return;
  }
  --p.inflight;
  ++p.acked;
  progress();
  fill(p);
  if (role == Role::Filler) {
    if (++fill_acked_ < s_.messages) return;
    r_.fill_s = secs(uv_hrtime() - t_fill0_);
    for (std::size_t i = 0; i + 1 < pubs_.size(); ++i) leave(*pubs_[i].client);
    step_ = Step::Backlog;
    step_since_ = uv_hrtime();
    check_backlog();
    return;
  }
  if (p.acked == p.quota) {
    t_direct_acked_ = uv_hrtime();
    check_direct();
  }
}

void DrainRun::on_sys(const mqtt::Publish& p) {
  const std::string base = std::string("$SYS/broker/uplink/") + kUplink + "/";
  if (p.topic == base + "state") {
    if (p.payload == "online" && step_ == Step::Drain && t_online_ == 0) t_online_ = uv_hrtime();
  } else if (p.topic == base + "backlog/rows") {
    sys_rows_ = p.payload;
    if (step_ == Step::Backlog) check_backlog();
    if (step_ == Step::Emptied) check_emptied();
  }
}

void DrainRun::check_backlog() {
  if (sys_rows_ != std::to_string(s_.messages)) return;
  r_.backlog_rows = s_.messages;
  start_drain();
}

// Step 3: the upstream comes back; the witness returns to its session.
void DrainRun::start_drain() {
  mosq_spec_.keep_workdir = true;
  // Timed from before the start: BrokerProcess::start polls until Mosquitto listens, and the uplink may
  // connect and drain meanwhile. The drain time therefore includes Mosquitto's start-up and the uplink's
  // reconnect delay (at most reconnect_max_ms, 100 ms): a conservative figure.
  t_up_ = uv_hrtime();
  edge_cpu0_ = sample_process(edge_->pid()).cpu_s;
  auto m = BrokerProcess::start(mosq_spec_, dir_ + "/mosquitto");
  if (!m) {
    fail(m.error());
    return;
  }
  mosq_ = std::move(*m);
  mosq_cpu0_ = sample_process(mosq_->pid()).cpu_s;
  step_ = Step::Drain;
  progress();
  make(Role::Witness, up_addr_);
}

void DrainRun::on_witness(Client& c, const mqtt::Publish& p) {
  if (p.qos == 1) {
    mqtt::encode(mqtt::Ack{mqtt::PacketType::Puback, p.packet_id, mqtt::Reason::Success, {}}, c.version,
                 c.out());
    c.touch();
  }
  std::uint32_t magic = 0, pub = 0;
  std::uint64_t seq = 0;
  if (p.payload.size() >= kHead) {
    std::memcpy(&magic, p.payload.data(), 4);
    std::memcpy(&pub, p.payload.data() + 4, 4);
    std::memcpy(&seq, p.payload.data() + 8, 8);
  }
  if (magic != kMagic || pub >= pubs_.size() || seq >= seen_[pub].size()) {
    fail("an unexpected message at the witness on " + p.topic);
    return;
  }
  const bool direct = pub + 1 == pubs_.size();
  if (!direct) ++r_.received;
  if (seen_[pub][seq]) {
    if (!direct) ++r_.duplicates;
    return;
  }
  seen_[pub][seq] = true;
  if (seq < next_new_[pub]) ++r_.out_of_order;
  next_new_[pub] = std::max(next_new_[pub], seq + 1);
  progress();
  if (direct) {
    if (++unique_direct_ == s_.messages) {
      t_direct_all_ = uv_hrtime();
      check_direct();
    }
    return;
  }
  if (++unique_fill_ < s_.messages) return;
  const std::uint64_t now = uv_hrtime();
  if (t_online_ == 0) t_online_ = now;  // not seen (cannot happen while $SYS works)
  r_.online_s = secs(t_online_ - t_up_);
  r_.drain_s = secs(now - t_up_);
  r_.edge_cpu_s = sample_process(edge_->pid()).cpu_s - edge_cpu0_;
  r_.mosq_cpu_drain_s = sample_process(mosq_->pid()).cpu_s - mosq_cpu0_;
  step_ = Step::Emptied;
  step_since_ = now;
  check_emptied();
}

void DrainRun::check_emptied() {
  if (sys_rows_ != "0") return;
  step_ = Step::Direct;
  progress();
  pubs_.back().client = &make(Role::Direct, up_addr_);
}

void DrainRun::check_direct() {
  if (t_direct_acked_ == 0 || t_direct_all_ == 0) return;
  r_.direct_ack_s = secs(t_direct_acked_ - t_direct0_);
  r_.direct_all_s = secs(t_direct_all_ - t_direct0_);
  r_.mosq_cpu_direct_s = sample_process(mosq_->pid()).cpu_s - mosq_cpu0_;
  step_ = Step::Done;
  finish("");
}

void DrainRun::on_tick() {
  if (finished_) return;
  const std::uint64_t now = uv_hrtime();
  if (step_ == Step::Backlog && now - step_since_ > kSysWait) {
    fail("$SYS backlog/rows is " + sys_rows_ + " after the fill, expected " + std::to_string(s_.messages));
  } else if (step_ == Step::Emptied && now - step_since_ > kSysWait) {
    fail("$SYS backlog/rows is " + sys_rows_ + " after every message arrived, expected 0");
  } else if (now - last_progress_ > kStall) {
    static const char* const steps[] = {"subscribe", "watch",   "fill",   "backlog",
                                        "drain",     "emptied", "direct", "done"};
    fail(std::string("no progress for 30 s in step ") + steps[static_cast<int>(step_)] + " (filled " +
         std::to_string(fill_acked_) + ", at the witness " + std::to_string(unique_fill_) + " + " +
         std::to_string(unique_direct_) + " direct)");
  }
}

void DrainRun::fail(const std::string& why) {
  finish(why.empty() ? "failed" : why);
}

void DrainRun::finish(const std::string& error) {
  if (finished_) return;
  finished_ = true;
  r_.ok = error.empty();
  r_.error = error;
  for (std::size_t i = 0; i + 1 < seen_.size(); ++i) {
    r_.lost += static_cast<std::uint64_t>(std::count(seen_[i].begin(), seen_[i].end(), false));
  }
  if (r_.ok && r_.lost > 0) {
    r_.ok = false;
    r_.error = std::to_string(r_.lost) + " messages lost";
  }
  uv_timer_stop(&tick_);
  uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
  for (auto& c : clients_) {
    if (!c->closed()) leave(*c);
  }
  io_.close();
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace

bool run_drain_scenario(const Scenario& s, const SuiteOptions& opt) {
  std::printf(
      "\n### %s\n%s%s%llu messages of %u B queued by %u QoS 1 publishers (window %u in all) while the "
      "upstream Mosquitto is down; then it starts and the uplink drains them at QoS 1 to a witness "
      "subscribed "
      "at QoS %u. Mosquitto's max_inflight_messages = the uplink's max_inflight. Drain time: from starting "
      "Mosquitto to the last message at the witness. Direct: one publisher, the same window, to the same "
      "Mosquitto and witness.\n\n",
      s.name.c_str(), s.description.c_str(), s.description.empty() ? "" : ". ",
      static_cast<unsigned long long>(s.messages), s.payload, s.publishers, s.window, s.sub_qos);
  if (opt.mosquitto.empty()) {
    std::printf("Skipped: the upstream is Mosquitto (--mosquitto).\n");
    return true;
  }
  std::printf(
      "| uplink max_inflight | run | fill msg/s | backlog rows | online after (s) | drain (s) | **drain "
      "msg/s** | "
      "duplicates | uplink re-sends | netpie-edge CPU per msg (us) | Mosquitto CPU drain (s) | direct to "
      "Mosquitto, "
      "PUBACK msg/s | direct, all at witness msg/s | Mosquitto CPU direct (s) | drain / direct |\n"
      "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  bool all_ok = true;
  std::vector<std::string> summary, failures;
  for (std::uint32_t w : inflight_values(s.uplink_inflight)) {
    std::vector<double> drains, directs;
    for (int run = 1; run <= opt.runs; ++run) {
      std::fprintf(stderr, "[%s inflight %u %d/%d] ...\n", s.name.c_str(), w, run, opt.runs);
      DrainRun dr(s, w, opt);
      DrainResult r = dr.go();
      const double n = static_cast<double>(s.messages);
      const double fill = r.fill_s > 0 ? n / r.fill_s : 0, drain = r.drain_s > 0 ? n / r.drain_s : 0;
      const double direct = r.direct_ack_s > 0 ? n / r.direct_ack_s : 0;
      const double direct_all = r.direct_all_s > 0 ? n / r.direct_all_s : 0;
      const std::uint64_t resends = r.uplink_published > s.messages ? r.uplink_published - s.messages : 0;
      std::fprintf(
          stderr,
          "[%s inflight %u %d/%d] %s fill %.0f msg/s, drain %.0f msg/s in %.2f s, direct %.0f msg/s %s\n",
          s.name.c_str(), w, run, opt.runs, r.ok ? "ok" : "FAILED", fill, drain, r.drain_s, direct,
          r.error.c_str());
      if (!r.ok) {
        all_ok = false;
        failures.push_back("Run " + std::to_string(run) + " with max_inflight " + std::to_string(w) +
                           " failed: " + r.error);
        continue;
      }
      drains.push_back(drain);
      directs.push_back(direct);
      std::printf(
          "| %u | %d | %.0f | %llu | %.2f | %.2f | **%.0f** | %llu | %llu | %.2f | %.2f | %.0f | %.0f | %.2f "
          "| "
          "%.2fx |\n",
          w, run, fill, static_cast<unsigned long long>(r.backlog_rows), r.online_s, r.drain_s, drain,
          static_cast<unsigned long long>(r.duplicates), static_cast<unsigned long long>(resends),
          r.edge_cpu_s * 1e6 / n, r.mosq_cpu_drain_s, direct, direct_all, r.mosq_cpu_direct_s,
          direct > 0 ? drain / direct : 0);
      std::fflush(stdout);
    }
    if (!drains.empty()) {
      char line[256];
      std::snprintf(line, sizeof line,
                    "- max_inflight %u: drain %.0f msg/s, Mosquitto direct %.0f msg/s (medians of %zu)", w,
                    median(drains), median(directs), drains.size());
      summary.push_back(line);
    }
  }
  std::printf("\n");
  for (const auto& l : summary) std::printf("%s\n", l.c_str());
  for (const auto& l : failures) std::printf("\n%s\n", l.c_str());
  std::fflush(stdout);
  return all_ok;
}

}  // namespace gw::bench
