// The `mqtt` uplink on a real libuv loop: a real Store in a temporary directory, the uplink's TcpClient,
// and a small fake MQTT 3.1.1 server written here from the spec's byte layouts (not the project's codec).
// Checks that rows reach the server in order and leave the store only once acknowledged, that new rows
// are picked up through the outbox listener, that a connection dropped with rows in flight requeues them
// (re-sends bounded by the window), and that every handle is freed: each test ends with uv_loop_close == 0.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <uv.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gateway/base/clock.hpp"
#include "gateway/uplink/mqtt_uplink.hpp"
#include "storage/store.hpp"

namespace gw::uplink {
namespace {

// An MQTT 3.1.1 server good for one test: CONNECT -> CONNACK 0, PUBLISH QoS 1 -> PUBACK (unless told to
// drop the connection), PINGREQ -> PINGRESP. Byte layouts from MQTT 3.1.1 §2.2 and §3.
class FakeServer {
 public:
  explicit FakeServer(uv_loop_t* loop) : loop_(loop) {
    uv_tcp_init(loop_, &listener_);
    listener_.data = this;
    sockaddr_in addr{};
    uv_ip4_addr("127.0.0.1", 0, &addr);
    uv_tcp_bind(&listener_, reinterpret_cast<const sockaddr*>(&addr), 0);
    uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 8, [](uv_stream_t* s, int status) {
      if (status == 0) static_cast<FakeServer*>(s->data)->accept();
    });
    sockaddr_storage bound{};
    int len = sizeof bound;
    uv_tcp_getsockname(&listener_, reinterpret_cast<sockaddr*>(&bound), &len);
    port_ = ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  }

  std::uint16_t port() const { return port_; }
  void close() {
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&listener_)))
      uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
    if (client_) drop();
  }

  // On the first connection, after this many PUBLISH packets, close it without acknowledging the rest.
  std::size_t drop_first_after = 0;
  std::vector<std::pair<std::string, std::string>> received;  // topic, payload
  int connects = 0;

 private:
  struct Client {
    FakeServer* server;
    uv_tcp_t tcp;
    std::string in;
    std::size_t publishes = 0;
  };

  void accept() {
    auto* c = new Client{this, {}, {}, 0};
    uv_tcp_init(loop_, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(reinterpret_cast<uv_stream_t*>(&listener_), reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0 ||
        client_ != nullptr) {
      uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp),
               [](uv_handle_t* h) { delete static_cast<Client*>(h->data); });
      return;
    }
    client_ = c;
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&c->tcp),
        [](uv_handle_t*, std::size_t, uv_buf_t* b) {
          static char buf[65536];
          *b = uv_buf_init(buf, sizeof buf);
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
          auto* cl = static_cast<Client*>(s->data);
          if (n < 0) {
            cl->server->drop();
            return;
          }
          cl->in.append(b->base, static_cast<std::size_t>(n));
          cl->server->parse();
        });
  }

  void drop() {
    Client* c = std::exchange(client_, nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp),
             [](uv_handle_t* h) { delete static_cast<Client*>(h->data); });
  }

  void send(std::string bytes) {
    uv_buf_t b = uv_buf_init(bytes.data(), static_cast<unsigned>(bytes.size()));
    int n = uv_try_write(reinterpret_cast<uv_stream_t*>(&client_->tcp), &b, 1);
    ASSERT_EQ(n, static_cast<int>(bytes.size())) << "the fake server writes small packets at once";
  }

  void parse() {
    while (client_) {
      std::string& in = client_->in;
      // Fixed header: type and flags, then the remaining length (1-4 bytes, 7 bits each; §2.2.3).
      std::size_t len = 0, pos = 1;
      int shift = 0;
      bool complete = false;
      while (pos < in.size() && pos <= 4) {
        auto byte = static_cast<std::uint8_t>(in[pos++]);
        len |= static_cast<std::size_t>(byte & 0x7f) << shift;
        shift += 7;
        if ((byte & 0x80) == 0) {
          complete = true;
          break;
        }
      }
      if (!complete || in.size() < pos + len) return;
      const auto first = static_cast<std::uint8_t>(in[0]);
      std::string body = in.substr(pos, len);
      in.erase(0, pos + len);
      switch (first >> 4) {
        case 1:  // CONNECT
          ++connects;
          send(std::string("\x20\x02\x00\x00", 4));  // CONNACK, session present 0, return code 0
          break;
        case 3: {  // PUBLISH
          const int qos = (first >> 1) & 3;
          const std::size_t tlen =
              (static_cast<std::uint8_t>(body[0]) << 8) | static_cast<std::uint8_t>(body[1]);
          std::string topic = body.substr(2, tlen);
          std::size_t at = 2 + tlen;
          std::string id;
          if (qos > 0) {
            id = body.substr(at, 2);
            at += 2;
          }
          ++client_->publishes;
          if (connects == 1 && drop_first_after != 0 && client_->publishes > drop_first_after) {
            drop();  // the packets behind it in the buffer are lost with the connection
            return;
          }
          received.emplace_back(std::move(topic), body.substr(at));
          if (qos == 1) send(std::string("\x40\x02", 2) + id);  // PUBACK
          break;
        }
        case 12:  // PINGREQ
          send(std::string("\xd0\x00", 2));
          break;
        default:  // DISCONNECT and anything else: nothing to answer
          break;
      }
    }
  }

  uv_loop_t* loop_;
  uv_tcp_t listener_{};
  std::uint16_t port_ = 0;
  Client* client_ = nullptr;
};

class UplinkLoop : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/gw-uplink-loop-XXXXXX";
    const char* d = mkdtemp(tmpl);
    ASSERT_NE(d, nullptr);
    dir_ = d;
    uv_loop_init(&loop_);
    storage::StoreOptions o;
    o.path = dir_ + "/store.db";
    o.maintenance_interval = std::chrono::hours(1);
    auto r = storage::Store::open(o, clock_);
    ASSERT_TRUE(r) << r.error().message;
    store_ = std::move(r.value());
    store_->set_outbox_listener([this](std::uint64_t, const std::vector<std::string>&) {
      if (uplink_) uplink_->new_rows();
    });
    store_->attach(&loop_);
    server_ = std::make_unique<FakeServer>(&loop_);
  }

  void TearDown() override {
    if (uplink_) uplink_->close();
    server_->close();
    store_->close();
    uv_run(&loop_, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "a handle was left open";
    uplink_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  void start_uplink(std::uint16_t max_inflight) {
    MqttUplinkOptions o;
    o.name = "t";
    o.host = "127.0.0.1";
    o.port = server_->port();
    o.client_id = "uplink-test";
    o.topic_prefix = "c/";
    o.max_inflight = max_inflight;
    o.backoff = BackoffPolicy{10, 50};
    uplink_ = std::make_unique<MqttUplink>(&loop_, *store_, clock_, o, [] { return std::uint64_t{42}; });
    uplink_->start();
  }

  void enqueue(int from, int count) {
    for (int i = from; i < from + count; ++i) {
      storage::OutboxMessage m;
      m.origin = "dev";
      m.dest = "t";  // the uplink's name: its share of the outbox
      m.topic = "up/dev";
      m.payload = "m" + std::to_string(i);
      m.qos = 1;
      ASSERT_EQ(store_->outbox_enqueue(std::move(m),
                                       [this](Result<storage::OutboxEnqueued, storage::Status> r) {
                                         if (r) ++committed_;
                                       }),
                storage::Status::Ok);
    }
    // Durable before the test looks at the store's counters (they follow commits).
    const int want = from + count;
    ASSERT_TRUE(run_until([&] { return committed_ == want; }));
  }

  // Runs the loop until `pred` holds, at most 10 s.
  bool run_until(std::function<bool()> pred) {
    struct Poll {
      std::function<bool()> pred;
      bool met = false;
    } poll{std::move(pred)};
    uv_timer_t timer;
    uv_timer_init(&loop_, &timer);
    timer.data = &poll;
    uv_timer_start(
        &timer,
        [](uv_timer_t* t) {
          auto* p = static_cast<Poll*>(t->data);
          if (p->pred()) {
            p->met = true;
            uv_stop(t->loop);
          }
        },
        5, 5);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!poll.met && std::chrono::steady_clock::now() < until) uv_run(&loop_, UV_RUN_ONCE);
    uv_timer_stop(&timer);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr);
    uv_run(&loop_, UV_RUN_NOWAIT);
    return poll.met;
  }

  std::string dir_;
  uv_loop_t loop_{};
  SteadyClock clock_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<FakeServer> server_;
  std::unique_ptr<MqttUplink> uplink_;
  int committed_ = 0;
};

TEST_F(UplinkLoop, DrainsInOrderAndPicksUpNewRows) {
  enqueue(0, 300);
  start_uplink(8);
  ASSERT_TRUE(run_until([&] { return store_->stats().outbox_rows == 0; })) << server_->received.size();
  enqueue(300, 50);  // online now: the outbox listener cues the uplink
  ASSERT_TRUE(run_until([&] { return server_->received.size() == 350 && store_->stats().outbox_rows == 0; }));
  for (std::size_t i = 0; i < server_->received.size(); ++i) {
    EXPECT_EQ(server_->received[i].first, "c/up/dev");
    EXPECT_EQ(server_->received[i].second, "m" + std::to_string(i));
  }
  EXPECT_EQ(uplink_->state(), MqttUplink::State::Online);
  const MqttUplinkStats s = uplink_->stats();
  EXPECT_EQ(s.drain.published, 350u);
  EXPECT_EQ(s.drain.acked, 350u);
  EXPECT_EQ(s.connects, 1u);
  EXPECT_EQ(store_->stats().outbox_acked, 350u);
}

TEST_F(UplinkLoop, ADroppedConnectionRequeuesAndResendsAtMostAWindow) {
  server_->drop_first_after = 40;
  enqueue(0, 200);
  start_uplink(8);
  ASSERT_TRUE(run_until([&] { return store_->stats().outbox_rows == 0; })) << server_->received.size();
  EXPECT_EQ(server_->connects, 2);
  // What the server accepted before the drop, then everything from the first row it had not acknowledged.
  std::vector<int> firsts;
  std::vector<bool> seen(200, false);
  for (const auto& [topic, payload] : server_->received) {
    const int n = std::stoi(payload.substr(1));
    if (!seen[static_cast<std::size_t>(n)]) {
      seen[static_cast<std::size_t>(n)] = true;
      firsts.push_back(n);
    }
  }
  ASSERT_EQ(firsts.size(), 200u);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(firsts[static_cast<std::size_t>(i)], i);
  const MqttUplinkStats s = uplink_->stats();
  EXPECT_EQ(s.disconnects, 1u);
  EXPECT_EQ(s.drain.acked, 200u);
  EXPECT_GT(s.drain.published, 200u);       // the rows in flight at the drop went again
  EXPECT_LE(s.drain.published, 200u + 8u);  // ... at most one window of them
  EXPECT_EQ(store_->stats().outbox_acked, 200u);
}

}  // namespace
}  // namespace gw::uplink
