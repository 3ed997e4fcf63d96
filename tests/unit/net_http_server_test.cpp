// The HTTP server over real loopback sockets, the loop driven by the test thread: keep-alive and
// pipelining, answers given later, the bounds (header and body size, slowloris and idle deadlines,
// connection count), 100-continue, the ESP8266-RTOS request line, HEAD, a client vanishing before its
// answer, and a clean shutdown (every handle closed, uv_loop_close succeeds).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "gateway/net/http_server.hpp"

namespace gw::net {
namespace {

using Clock = std::chrono::steady_clock;

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override { uv_loop_init(&loop_); }
  void TearDown() override {
    for (int fd : fds_) ::close(fd);
    if (server_) server_->close();
    uv_run(&loop_, UV_RUN_DEFAULT);
    server_.reset();
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "a handle was left open";
  }

  void start(HttpLimits limits = {}) {
    server_ = std::make_unique<HttpServer>(
        &loop_, limits, [this](const http::Request& req, const HttpResponder& out) {
          requests_.push_back(req);
          if (hold_) {
            held_.push_back(out);
            return;
          }
          auto r = http::text_response(200, req.method + " " + req.target + " " + req.body);
          if (req.version_repaired) r.headers.add("X-Repaired", "yes");
          out.respond(std::move(r));
        });
    auto port = server_->listen("test", "127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.error();
    port_ = *port;
  }

  int connect_client() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port_);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    fds_.push_back(fd);
    pump_for(std::chrono::milliseconds(5));
    return fd;
  }
  void send_all(int fd, const std::string& s) {
    ASSERT_EQ(::send(fd, s.data(), s.size(), MSG_NOSIGNAL), static_cast<ssize_t>(s.size()));
  }
  // Runs the loop and reads what the server sent until `done(received, closed)` or the deadline.
  std::string read_until(int fd, const std::function<bool(const std::string&, bool)>& done,
                         std::chrono::milliseconds timeout = std::chrono::milliseconds(3000),
                         bool* closed = nullptr) {
    std::string got;
    bool eof = false;
    const auto end = Clock::now() + timeout;
    while (Clock::now() < end && !done(got, eof)) {
      uv_run(&loop_, UV_RUN_NOWAIT);
      char buf[65536];
      ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) {
        got.append(buf, static_cast<std::size_t>(n));
      } else if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
        eof = true;
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
    if (closed) *closed = eof;
    return got;
  }
  std::string read_responses(int fd, std::size_t n) {
    return read_until(fd, [n](const std::string& s, bool eof) {
      return eof || (count(s, "HTTP/1.1 ") >= n && complete(s));
    });
  }
  std::string read_to_close(int fd, std::chrono::milliseconds timeout = std::chrono::milliseconds(3000)) {
    bool closed = false;
    std::string s = read_until(
        fd, [](const std::string&, bool eof) { return eof; }, timeout, &closed);
    EXPECT_TRUE(closed) << "the server did not close; got: " << s;
    return s;
  }
  void pump_for(std::chrono::milliseconds d) {
    const auto end = Clock::now() + d;
    while (Clock::now() < end) {
      uv_run(&loop_, UV_RUN_NOWAIT);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  static std::size_t count(const std::string& s, const std::string& what) {
    std::size_t n = 0;
    for (auto p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
    return n;
  }
  // The last response's body is complete (by its Content-Length).
  static bool complete(const std::string& s) {
    auto start = s.rfind("HTTP/1.1 ");
    auto head_end = s.find("\r\n\r\n", start);
    if (head_end == std::string::npos) return false;
    auto cl = s.find("Content-Length: ", start);
    if (cl == std::string::npos || cl > head_end) return true;
    std::size_t len = std::stoul(s.substr(cl + 16));
    return s.size() >= head_end + 4 + len;
  }

  uv_loop_t loop_{};
  std::unique_ptr<HttpServer> server_;
  std::uint16_t port_ = 0;
  std::vector<int> fds_;
  std::vector<http::Request> requests_;
  bool hold_ = false;
  std::vector<HttpResponder> held_;
};

TEST_F(HttpServerTest, KeepAliveAndPipelinedRequestsAnsweredInOrder) {
  start();
  int fd = connect_client();
  send_all(fd, "GET /one HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string r1 = read_responses(fd, 1);
  EXPECT_EQ(r1.substr(0, 15), "HTTP/1.1 200 OK") << r1;
  EXPECT_NE(r1.find("Content-Length: 9\r\n"), std::string::npos) << r1;
  EXPECT_EQ(r1.find("Connection: close"), std::string::npos) << "kept alive";
  send_all(fd,
           "GET /two HTTP/1.1\r\nHost: x\r\n\r\nPUT /three HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /four "
           "HTTP/1.1\r\n\r\n");
  std::string r = read_responses(fd, 3);
  auto a = r.find("GET /two"), b = r.find("PUT /three abc"), c = r.find("GET /four");
  ASSERT_NE(a, std::string::npos) << r;
  ASSERT_NE(b, std::string::npos) << r;
  ASSERT_NE(c, std::string::npos) << r;
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_EQ(server_->stats().requests, 4u);
}

TEST_F(HttpServerTest, AnswersMayComeLaterAndWaitingRequestsKeepTheirTurn) {
  hold_ = true;
  start();
  int fd = connect_client();
  send_all(fd, "POST /slow HTTP/1.1\r\nContent-Length: 0\r\n\r\nGET /next HTTP/1.1\r\n\r\n");
  std::string r = read_until(fd, [&](const std::string&, bool) { return !held_.empty(); });
  r += read_until(
      fd, [](const std::string& s, bool) { return !s.empty(); }, std::chrono::milliseconds(50));
  ASSERT_EQ(held_.size(), 1u) << "the pipelined request waits for the first answer";
  EXPECT_EQ(r, "");
  held_[0].respond(http::text_response(201, "done"));
  held_[0].respond(http::text_response(500, "ignored: a second answer"));
  r += read_until(fd, [&](const std::string&, bool) { return held_.size() == 2; });
  ASSERT_EQ(held_.size(), 2u);
  held_[1].respond(http::text_response(200, "next"));
  r += read_until(fd,
                  [](const std::string& s, bool eof) { return eof || s.find("next") != std::string::npos; });
  EXPECT_EQ(r.find("HTTP/1.1 201"), 0u) << r;
  EXPECT_NE(r.find("next"), std::string::npos) << r;
  EXPECT_EQ(r.find("ignored"), std::string::npos);
}

TEST_F(HttpServerTest, AClientGoneBeforeItsAnswerIsForgotten) {
  hold_ = true;
  start();
  int fd = connect_client();
  send_all(fd, "GET /x HTTP/1.1\r\n\r\n");
  read_until(fd, [&](const std::string&, bool) { return !held_.empty(); });
  ::shutdown(fd, SHUT_RDWR);
  ::close(fd);
  fds_.clear();
  pump_for(std::chrono::milliseconds(20));
  // Reads pause while a request is handled, so the loss shows when the answer is written.
  held_.at(0).respond(http::text_response(200, "too late"));
  pump_for(std::chrono::milliseconds(50));
  EXPECT_EQ(server_->connections(), 0u);
  held_.at(0).respond(http::text_response(200, "and again"));  // the responder outlives the connection
}

TEST_F(HttpServerTest, AHandlerThatNeverAnswersIsCutOff) {
  hold_ = true;
  HttpLimits l;
  l.request_timeout_ms = 200;
  start(l);
  int fd = connect_client();
  send_all(fd, "GET /forever HTTP/1.1\r\n\r\n");
  std::string r = read_to_close(fd);
  EXPECT_EQ(r.substr(0, 12), "HTTP/1.1 503") << r;
  held_.at(0).respond(http::text_response(200, "late"));
}

TEST_F(HttpServerTest, OversizedHeadersGet431AndAClose) {
  HttpLimits l;
  l.parser.max_header_bytes = 1024;
  start(l);
  int fd = connect_client();
  send_all(fd, "GET / HTTP/1.1\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n");
  std::string r = read_to_close(fd);
  EXPECT_EQ(r.substr(0, 12), "HTTP/1.1 431") << r;
  EXPECT_NE(r.find("Connection: close"), std::string::npos);
  EXPECT_EQ(server_->stats().parse_errors, 1u);
  EXPECT_TRUE(requests_.empty());
}

TEST_F(HttpServerTest, OversizedBodiesGet413BeforeTheBodyIsRead) {
  HttpLimits l;
  l.parser.max_body = 1024;
  start(l);
  int fd = connect_client();
  send_all(fd, "PUT /x HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n" + std::string(4096, 'b'));
  std::string r = read_to_close(fd);
  EXPECT_EQ(r.substr(0, 12), "HTTP/1.1 413") << r;
}

TEST_F(HttpServerTest, SlowlorisGets408AndTheSilentOneIsClosed) {
  HttpLimits l;
  l.request_timeout_ms = 300;
  start(l);
  int slow = connect_client();
  int silent = connect_client();
  const auto t0 = Clock::now();
  // One header byte at a time, never finishing.
  std::string r;
  for (char ch : std::string("GET / HTTP/1.1\r\nHost: x\r\nX-a: b")) {
    send_all(slow, std::string(1, ch));
    r += read_until(
        slow, [](const std::string& s, bool eof) { return eof || !s.empty(); },
        std::chrono::milliseconds(15));
  }
  r += read_to_close(slow);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  EXPECT_EQ(r.substr(0, 12), "HTTP/1.1 408") << r;
  EXPECT_LT(took, 2000) << "the deadline counts from the request's first byte, not from the last";
  EXPECT_EQ(read_to_close(silent), "") << "a connection that never speaks is closed without an answer";
  EXPECT_EQ(server_->stats().timeouts, 1u);
  // The server still serves.
  int fd = connect_client();
  send_all(fd, "GET /ok HTTP/1.1\r\n\r\n");
  EXPECT_EQ(read_responses(fd, 1).substr(0, 12), "HTTP/1.1 200");
}

TEST_F(HttpServerTest, IdleKeptAliveConnectionsAreClosed) {
  HttpLimits l;
  l.idle_timeout_ms = 200;
  start(l);
  int fd = connect_client();
  send_all(fd, "GET / HTTP/1.1\r\n\r\n");
  std::string r = read_to_close(fd);
  EXPECT_EQ(count(r, "HTTP/1.1 200"), 1u);
}

TEST_F(HttpServerTest, ConnectionsOverTheLimitGet503) {
  HttpLimits l;
  l.max_connections = 2;
  start(l);
  connect_client();
  connect_client();
  int third = connect_client();
  std::string r = read_to_close(third);
  EXPECT_EQ(r.substr(0, 12), "HTTP/1.1 503") << r;
  EXPECT_EQ(server_->stats().refused_busy, 1u);
  // The refused one lingers until its client closes; then a slot is free again.
  for (int fd : fds_) ::close(fd);
  fds_.clear();
  pump_for(std::chrono::milliseconds(50));
  EXPECT_EQ(server_->connections(), 0u);
  int fourth = connect_client();
  send_all(fourth, "GET / HTTP/1.1\r\n\r\n");
  EXPECT_EQ(read_responses(fourth, 1).substr(0, 12), "HTTP/1.1 200");
}

TEST_F(HttpServerTest, ExpectContinueRtosRequestLineHeadAndClose) {
  start();
  int fd = connect_client();
  send_all(fd, "PUT /c HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
  std::string cont = read_until(
      fd, [](const std::string& s, bool eof) { return eof || s.find("\r\n\r\n") != std::string::npos; });
  EXPECT_EQ(cont, "HTTP/1.1 100 Continue\r\n\r\n");
  send_all(fd, "body");
  EXPECT_NE(read_responses(fd, 1).find("PUT /c body"), std::string::npos);
  // ESP8266-RTOS: "HTTP 1.1" and no Host.
  send_all(fd, "POST /api/rtoken HTTP 1.1\r\nContent-length: 0\r\n\r\n");
  std::string rtos = read_responses(fd, 1);
  EXPECT_EQ(rtos.substr(0, 12), "HTTP/1.1 200") << rtos;
  EXPECT_NE(rtos.find("X-Repaired: yes"), std::string::npos);
  // HEAD: the length of the body, not the body.
  send_all(fd, "HEAD /h HTTP/1.1\r\n\r\n");
  std::string head = read_until(
      fd, [](const std::string& s, bool eof) { return eof || s.find("\r\n\r\n") != std::string::npos; });
  EXPECT_NE(head.find("Content-Length: 8\r\n"), std::string::npos) << head;
  EXPECT_EQ(head.substr(head.find("\r\n\r\n") + 4), "");
  // Connection: close is honoured.
  send_all(fd, "GET /last HTTP/1.1\r\nConnection: close\r\n\r\n");
  std::string last = read_to_close(fd);
  EXPECT_NE(last.find("Connection: close"), std::string::npos);
  EXPECT_NE(last.find("GET /last"), std::string::npos);
}

TEST_F(HttpServerTest, MalformedRequestLineGets400) {
  start();
  int fd = connect_client();
  send_all(fd, std::string("\x16\x03\x01\x02\x00 garbage\r\n\r\n", 17));
  std::string r = read_to_close(fd);
  EXPECT_EQ(r.substr(0, 12), "HTTP/1.1 400") << r;
}

}  // namespace
}  // namespace gw::net
