// The uplink's TcpClient with TLS and its HttpClient on a real libuv loop, against a small in-process
// server (tests/unit/test_stream_server.hpp: plain or TLS with our TlsSession in server mode) using the
// certificates of tests/tls/make-test-ca.sh. TcpClient: the handshake before `connected`, plaintext both
// ways (also 2 MiB), verification and client-certificate failures through `closed`, a server that does not
// speak TLS, close_notify both ways. HttpClient: Content-Length, chunked and read-until-close bodies, a
// 401, an oversize response, a timeout, a refused connection, a truncated response, cancel and destroy.
// Every test ends with uv_loop_close == 0.
#include <gtest/gtest.h>
#include <uv.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "gateway/net/tls.hpp"
#include "gateway/uplink/http_client.hpp"
#include "gateway/uplink/tcp_client.hpp"
#include "tests/unit/test_stream_server.hpp"
#include "tests/unit/tls_test_certs.hpp"

namespace gw::uplink {
namespace {

using namespace gw::testing;  // NOLINT: the test helpers
using Conn = TestStreamServer::Conn;

class LoopTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(uv_loop_init(&loop_), 0); }
  void TearDown() override {
    uv_run(&loop_, UV_RUN_DEFAULT);  // every handle of the test is closing by now
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "a handle was left open";
  }
  // Runs the loop until `done` holds (checked every 5 ms) or 10 s have passed; says which.
  bool run_until(const std::function<bool()>& done) {
    struct Check {
      uv_timer_t timer;
      const std::function<bool()>* done;
      int left = 2000;
    };
    auto* check = new Check{{}, &done};
    uv_timer_init(&loop_, &check->timer);
    check->timer.data = check;
    uv_timer_start(
        &check->timer,
        [](uv_timer_t* t) {
          auto* c = static_cast<Check*>(t->data);
          if ((*c->done)() || --c->left == 0) uv_stop(t->loop);
        },
        5, 5);
    if (!done()) uv_run(&loop_, UV_RUN_DEFAULT);
    uv_close(reinterpret_cast<uv_handle_t*>(&check->timer),
             [](uv_handle_t* h) { delete static_cast<Check*>(h->data); });
    return done();
  }
  // One request to its outcome (a failure text if none came within the guard).
  HttpClient::Outcome fetch(HttpClient& client, const HttpRequest& request) {
    std::optional<HttpClient::Outcome> got;
    client.start(request, [&got](HttpClient::Outcome o) { got.emplace(std::move(o)); });
    if (!run_until([&] { return got.has_value(); })) return unexpected(std::string("no outcome within 10 s"));
    return std::move(*got);
  }
  uv_loop_t loop_{};
};

// ---- TcpClient over TLS ----

struct ClientLog {
  int connected = 0;
  std::string data;
  std::optional<std::string> closed;
};

TcpClient::Callbacks logging(ClientLog& log, std::function<void()> on_connected = {}) {
  return {[&log, on_connected] {
            ++log.connected;
            if (on_connected) on_connected();
          },
          [&log](std::string_view b) { log.data += b; },
          [&log](const std::string& why) { log.closed = why; }};
}

void echo(Conn& c) {
  if (c.in.empty()) return;
  c.send(c.in);
  c.in.clear();
}

using UplinkTcpTls = LoopTest;

TEST_F(UplinkTcpTls, HandshakeThenPlaintextBothWays) {
  TestStreamServer server(&loop_, presenting("server"), echo);
  const std::string big(2 << 20, 'b');
  ClientLog log;
  TcpClient client(&loop_, logging(log));
  client.set_tls(trusting("ca.crt"));
  client.connect("127.0.0.1", server.port());
  ASSERT_TRUE(run_until([&] { return log.connected > 0 || log.closed; }));
  ASSERT_EQ(log.connected, 1) << log.closed.value_or("");
  EXPECT_TRUE(client.up());
  client.write("ping");
  ASSERT_TRUE(run_until([&] { return log.data.size() >= 4 || log.closed; }));
  EXPECT_EQ(log.data, "ping");
  log.data.clear();
  client.write(big);
  ASSERT_TRUE(run_until([&] { return log.data.size() >= big.size() || log.closed; }));
  EXPECT_TRUE(log.data == big) << log.data.size();
  EXPECT_FALSE(log.closed);
  EXPECT_TRUE(server.tls_errors.empty());
  client.close();
  server.close();
}

TEST_F(UplinkTcpTls, UnknownCaEndsTheAttemptWithTheReason) {
  TestStreamServer server(&loop_, presenting("server"), echo);
  ClientLog log;
  TcpClient client(&loop_, logging(log));
  client.set_tls(trusting("wrong-ca.crt"));
  client.connect("127.0.0.1", server.port());
  ASSERT_TRUE(run_until([&] { return log.closed.has_value(); }));
  EXPECT_EQ(log.connected, 0);
  EXPECT_EQ(*log.closed, "certificate verify failed for 127.0.0.1: not signed by a trusted CA (ca_file " +
                             cert_path("wrong-ca.crt") + ")");
  EXPECT_TRUE(client.idle());
  // The client's alert reached the server.
  ASSERT_TRUE(run_until([&] { return !server.tls_errors.empty(); }));
  EXPECT_NE(server.tls_errors[0].find("alert"), std::string::npos) << server.tls_errors[0];
  server.close();
}

TEST_F(UplinkTcpTls, ServerNameGivenToSetTlsIsChecked) {
  TestStreamServer server(&loop_, presenting("server"), echo);
  ClientLog log;
  TcpClient client(&loop_, logging(log));
  client.set_tls(trusting("ca.crt"), "other.example");
  client.connect("127.0.0.1", server.port());
  ASSERT_TRUE(run_until([&] { return log.closed.has_value(); }));
  EXPECT_EQ(
      *log.closed,
      "certificate verify failed for other.example: certificate name mismatch (expected other.example)");
  server.close();
}

TEST_F(UplinkTcpTls, ClientCertificateRequired) {
  TestStreamServer server(&loop_, presenting("server", "ca.crt"), echo);
  ClientLog without;
  TcpClient bare(&loop_, logging(without));
  bare.set_tls(trusting("ca.crt"));
  bare.connect("127.0.0.1", server.port());
  ASSERT_TRUE(run_until([&] { return without.closed.has_value(); }));
  EXPECT_EQ(without.connected, 0);
  EXPECT_EQ(*without.closed, "TLS handshake refused by the peer: alert handshake_failure (40)");

  net::TlsClientOptions o;
  o.ca_file = cert_path("ca.crt");
  o.cert_file = cert_path("client.crt");
  o.key_file = cert_path("client.key");
  ClientLog with;
  TcpClient client(&loop_, logging(with, [&] { client.write("hi"); }));
  client.set_tls(client_context(o));
  client.connect("127.0.0.1", server.port());
  ASSERT_TRUE(run_until([&] { return with.data == "hi" || with.closed; }));
  EXPECT_EQ(with.connected, 1) << with.closed.value_or("");
  client.close();
  server.close();
}

TEST_F(UplinkTcpTls, AServerThatDoesNotSpeakTls) {
  TestStreamServer server(&loop_, nullptr, [](Conn& c) {
    c.send("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    c.close();
  });
  ClientLog log;
  TcpClient client(&loop_, logging(log));
  client.set_tls(trusting("ca.crt"));
  client.connect("127.0.0.1", server.port());
  ASSERT_TRUE(run_until([&] { return log.closed.has_value(); }));
  EXPECT_EQ(log.connected, 0);
  EXPECT_EQ(log.closed->rfind("TLS handshake failed: ", 0), 0u) << *log.closed;
  server.close();
}

TEST_F(UplinkTcpTls, CloseNotifyBothWays) {
  TestStreamServer server(&loop_, presenting("server"), [](Conn& c) {
    if (c.in == "bye") c.close();  // close_notify, then FIN
  });
  ClientLog log;
  TcpClient client(&loop_, logging(log));
  client.set_tls(trusting("ca.crt"));
  client.connect("127.0.0.1", server.port());
  ASSERT_TRUE(run_until([&] { return log.connected > 0 || log.closed; }));
  client.write("bye");
  ASSERT_TRUE(run_until([&] { return log.closed.has_value(); }));
  EXPECT_EQ(*log.closed, "closed by peer (TLS close_notify)");

  // Our close() sends close_notify; `closed` is not called for it.
  ClientLog log2;
  TcpClient client2(&loop_, logging(log2));
  client2.set_tls(trusting("ca.crt"));
  client2.connect("127.0.0.1", server.port());
  ASSERT_TRUE(run_until([&] { return log2.connected > 0 || log2.closed; }));
  client2.close();
  ASSERT_TRUE(run_until([&] { return server.peer_close_notifies == 1; }));
  EXPECT_FALSE(log2.closed);
  server.close();
}

// ---- HttpClient ----

// Answers `response` once a whole request (headers and Content-Length body) is in; keeps the request.
TestStreamServer::Handler answer(std::string response, std::string* request = nullptr,
                                 bool then_close = false) {
  return [response, request, then_close](Conn& c) {
    const auto end = c.in.find("\r\n\r\n");
    if (end == std::string::npos) return;
    std::size_t body = 0;
    if (auto at = c.in.find("Content-Length: "); at != std::string::npos && at < end)
      body = std::stoul(c.in.substr(at + 16));
    if (c.in.size() < end + 4 + body) return;
    if (request) *request = c.in;
    c.in.clear();
    c.send(response);
    if (then_close) c.close();
  };
}

HttpRequest post(std::uint16_t port, bool tls = false) {
  HttpRequest r;
  r.method = "POST";
  r.tls = tls;
  r.host = "127.0.0.1";
  r.port = port;
  r.url = std::string(tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port) + "/api/rtoken";
  r.path = "/api/rtoken";
  r.headers = {{"Host", "127.0.0.1:" + std::to_string(port)},
               {"Authorization", "OAuth oauth_consumer_key=\"k\""},
               {"Content-Type", "application/x-www-form-urlencoded"},
               {"Content-Length", "3"},
               {"Connection", "close"}};
  r.body = "a=b";
  return r;
}

using UplinkHttp = LoopTest;

struct Outcomes {
  int calls = 0;
  std::optional<HttpClient::Outcome> last;
  HttpClient::Done done() {
    return [this](HttpClient::Outcome o) {
      ++calls;
      last.emplace(std::move(o));
    };
  }
};

TEST_F(UplinkHttp, PlainContentLengthAndTheRequestAsGiven) {
  std::string request;
  TestStreamServer server(&loop_, nullptr,
                          answer("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", &request));
  HttpClient client(&loop_, nullptr);
  Outcomes out;
  client.start(post(server.port()), out.done());
  EXPECT_TRUE(client.busy());
  ASSERT_TRUE(run_until([&] { return out.calls > 0; }));
  ASSERT_TRUE(out.last->ok()) << out.last->error();
  EXPECT_EQ(out.last->value().status, 200);
  EXPECT_EQ(out.last->value().body, "hello");
  EXPECT_EQ(request, "POST /api/rtoken HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(server.port()) +
                         "\r\nAuthorization: OAuth oauth_consumer_key=\"k\"\r\n"
                         "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n"
                         "Connection: close\r\n\r\na=b");
  EXPECT_FALSE(client.busy());
  server.close();
}

TEST_F(UplinkHttp, TlsChunkedBody) {
  TestStreamServer server(
      &loop_, presenting("server"),
      answer("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"));
  HttpClient client(&loop_, trusting("ca.crt"));
  const auto out = fetch(client, post(server.port(), true));
  ASSERT_TRUE(out.ok()) << out.error();
  EXPECT_EQ(out.value().status, 200);
  EXPECT_EQ(out.value().body, "hello world");
  server.close();
}

TEST_F(UplinkHttp, UnauthorizedIsAResponseWithItsBody) {
  TestStreamServer server(
      &loop_, presenting("server"),
      answer("HTTP/1.1 401 Unauthorized\r\nContent-Length: 18\r\n\r\nnot authorized yet"));
  HttpClient client(&loop_, trusting("ca.crt"));
  const auto out = fetch(client, post(server.port(), true));
  ASSERT_TRUE(out.ok()) << out.error();
  EXPECT_EQ(out.value().status, 401);
  EXPECT_EQ(out.value().body, "not authorized yet");
  server.close();
}

TEST_F(UplinkHttp, BodyUntilTheServerCloses) {
  for (bool tls : {false, true}) {
    TestStreamServer server(
        &loop_, tls ? presenting("server") : nullptr,
        answer("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close", nullptr, true));
    HttpClient client(&loop_, trusting("ca.crt"));
    const auto out = fetch(client, post(server.port(), tls));
    ASSERT_TRUE(out.ok()) << out.error();
    EXPECT_EQ(out.value().body, "until close") << "tls " << tls;
    server.close();
  }
}

// Each byte of the response in its own write and TLS record, so records and reads split it anywhere.
TEST_F(UplinkHttp, ResponseInOneByteRecords) {
  const std::string response =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
  TestStreamServer server(&loop_, presenting("server"), [&response](Conn& c) {
    if (c.in.find("\r\n\r\na=b") == std::string::npos) return;
    c.in.clear();
    for (char ch : response) c.send(std::string(1, ch));
  });
  HttpClient client(&loop_, trusting("ca.crt"));
  const auto out = fetch(client, post(server.port(), true));
  ASSERT_TRUE(out.ok()) << out.error();
  EXPECT_EQ(out.value().body, "abcde");
  server.close();
}

// RFC 9110 §15.2: an interim 1xx response comes before the final one; §9.3.2: a HEAD response has no body
// even when it announces a length.
TEST_F(UplinkHttp, InterimResponseAndHead) {
  TestStreamServer server(
      &loop_, nullptr,
      answer("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"));
  HttpClient client(&loop_, nullptr);
  const auto out = fetch(client, post(server.port()));
  ASSERT_TRUE(out.ok()) << out.error();
  EXPECT_EQ(out.value().status, 201);
  EXPECT_EQ(out.value().body, "ok");

  TestStreamServer head_server(&loop_, nullptr, answer("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"));
  HttpRequest head = post(head_server.port());
  head.method = "HEAD";
  head.headers = {{"Host", "127.0.0.1"}};
  head.body.clear();
  const auto h = fetch(client, head);
  ASSERT_TRUE(h.ok()) << h.error();
  EXPECT_EQ(h.value().status, 200);
  EXPECT_EQ(h.value().body, "");
  head_server.close();
  server.close();
}

TEST_F(UplinkHttp, TruncatedResponse) {
  TestStreamServer server(&loop_, nullptr,
                          answer("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf", nullptr, true));
  HttpClient client(&loop_, nullptr);
  const auto out = fetch(client, post(server.port()));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error(), "connection closed before the response was complete (closed by peer)");
  server.close();
}

TEST_F(UplinkHttp, OversizeResponse) {
  const std::string body((1 << 20) + 1, 'x');
  TestStreamServer server(
      &loop_, presenting("server"),
      answer("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body));
  HttpClient client(&loop_, trusting("ca.crt"));
  const auto out = fetch(client, post(server.port(), true));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error(), "response too large (over 1048576 bytes)");

  // The bound is the option's: a smaller one refuses a small response.
  HttpClient small(&loop_, trusting("ca.crt"), HttpClientOptions{15'000, 64});
  const auto out2 = fetch(small, post(server.port(), true));
  ASSERT_FALSE(out2.ok());
  EXPECT_EQ(out2.error(), "response too large (over 64 bytes)");
  server.close();
}

TEST_F(UplinkHttp, Timeout) {
  TestStreamServer server(&loop_, presenting("server"), [](Conn&) {});  // never answers
  HttpClient client(&loop_, trusting("ca.crt"), HttpClientOptions{200, 1 << 20});
  const auto out = fetch(client, post(server.port(), true));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error(), "timeout after 200 ms");
  EXPECT_EQ(server.accepted, 1);
  server.close();
}

TEST_F(UplinkHttp, ConnectionRefused) {
  std::uint16_t port = 0;
  {
    TestStreamServer gone(&loop_, nullptr, [](Conn&) {});
    port = gone.port();
  }
  uv_run(&loop_, UV_RUN_NOWAIT);  // the listener's close completes: nothing listens on `port` now
  HttpClient client(&loop_, nullptr);
  const auto out = fetch(client, post(port));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error(), "connect: connection refused");
}

TEST_F(UplinkHttp, TlsFailureIsTheFailureText) {
  TestStreamServer server(&loop_, presenting("server"),
                          answer("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
  HttpClient client(&loop_, trusting("wrong-ca.crt"));
  const auto out = fetch(client, post(server.port(), true));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error(), "certificate verify failed for 127.0.0.1: not signed by a trusted CA (ca_file " +
                             cert_path("wrong-ca.crt") + ")");
  server.close();
}

TEST_F(UplinkHttp, HttpsWithoutAContextFailsFromTheLoop) {
  HttpClient client(&loop_, nullptr);
  Outcomes out;
  client.start(post(1, true), out.done());
  EXPECT_EQ(out.calls, 0) << "done must not run inside start()";
  ASSERT_TRUE(run_until([&] { return out.calls > 0; }));
  EXPECT_EQ(out.last->error(), "https requested but no TLS context is configured");
}

TEST_F(UplinkHttp, CancelAndDestroyCallNothing) {
  TestStreamServer server(&loop_, presenting("server"), [](Conn&) {});
  Outcomes out;
  HttpClient client(&loop_, trusting("ca.crt"));
  client.start(post(server.port(), true), out.done());
  auto doomed = std::make_unique<HttpClient>(&loop_, trusting("ca.crt"));
  doomed->start(post(server.port(), true), out.done());
  ASSERT_TRUE(run_until([&] { return server.accepted == 2; }));
  client.cancel();
  EXPECT_FALSE(client.busy());
  doomed.reset();
  // Give late events (the server's handshake replies, the closes) a chance to reach a callback.
  bool later = false;
  uv_timer_t t;
  uv_timer_init(&loop_, &t);
  t.data = &later;
  uv_timer_start(
      &t, [](uv_timer_t* h) { *static_cast<bool*>(h->data) = true; }, 100, 0);
  ASSERT_TRUE(run_until([&] { return later; }));
  uv_close(reinterpret_cast<uv_handle_t*>(&t), nullptr);
  EXPECT_EQ(out.calls, 0);

  // The client is reusable after cancel(), and `done` may destroy it.
  TestStreamServer plain(&loop_, nullptr, answer("HTTP/1.1 204 No Content\r\n\r\n"));
  client.start(post(plain.port()), out.done());
  ASSERT_TRUE(run_until([&] { return out.calls > 0; }));
  ASSERT_TRUE(out.last->ok()) << out.last->error();
  EXPECT_EQ(out.last->value().status, 204);
  auto owner = std::make_unique<HttpClient>(&loop_, nullptr);
  int status = 0;
  owner->start(post(plain.port()), [&](HttpClient::Outcome o) {
    status = o.ok() ? o.value().status : -1;
    owner.reset();
  });
  ASSERT_TRUE(run_until([&] { return status != 0; }));
  EXPECT_EQ(status, 204);
  EXPECT_EQ(owner, nullptr);
  plain.close();
  server.close();
  uv_run(&loop_, UV_RUN_DEFAULT);  // `t` lives on this stack: its close must complete here
}

}  // namespace
}  // namespace gw::uplink
