// A small libuv server for loop tests of the uplink's clients: 127.0.0.1, port 0, plain or TLS (our
// TlsSession in server mode). A test gives a handler that sees each connection's plaintext so far and
// answers through the connection; replies are written in order and a close waits for them (TLS: after
// close_notify). Every handle lives on the heap and is freed in its close callback (the server may be
// destroyed first), so a test can end with uv_loop_close == 0.
#pragma once

#include <gtest/gtest.h>
#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gateway/net/tls.hpp"

namespace gw::testing {

class TestStreamServer {
 public:
  struct Conn {
    TestStreamServer* server;  // null once the server is gone
    uv_tcp_t tcp{};
    std::unique_ptr<net::TlsSession> tls;
    std::string in;  // plaintext received so far
    bool closing = false;
    bool handshake_seen = false;

    // Sends plaintext (encrypted when TLS).
    void send(std::string_view plain) {
      if (closing) return;
      if (!tls) {
        write_raw(std::string(plain));
        return;
      }
      tls->write(plain);
      write_raw(tls->take_cipher());
    }
    // Closes once everything sent so far has left (TLS: close_notify first).
    void close() {
      if (closing) return;
      if (tls) {
        tls->close();
        write_raw(tls->take_cipher());
      }
      closing = true;
      auto* req = new uv_shutdown_t;
      req->data = this;
      if (uv_shutdown(req, stream(), [](uv_shutdown_t* r, int) {
            static_cast<Conn*>(r->data)->close_now();
            delete r;
          }) != 0) {
        delete req;
        close_now();
      }
    }
    void close_now() {
      closing = true;
      if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&tcp)))
        uv_close(reinterpret_cast<uv_handle_t*>(&tcp), [](uv_handle_t* h) {
          auto* c = static_cast<Conn*>(h->data);
          if (c->server) c->server->forget(c);
          delete c;
        });
    }
    uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp); }
    void write_raw(std::string bytes) {
      if (bytes.empty()) return;
      struct Op {
        uv_write_t req;
        std::string data;
      };
      auto* op = new Op{{}, std::move(bytes)};
      uv_buf_t b = uv_buf_init(op->data.data(), static_cast<unsigned>(op->data.size()));
      if (uv_write(&op->req, stream(), &b, 1, [](uv_write_t* r, int) { delete reinterpret_cast<Op*>(r); }) !=
          0)
        delete op;
    }
  };
  using Handler = std::function<void(Conn&)>;  // called after new plaintext arrived in Conn::in

  TestStreamServer(uv_loop_t* loop, std::shared_ptr<const net::TlsServerContext> tls, Handler handler)
      : loop_(loop), tls_(std::move(tls)), handler_(std::move(handler)) {
    listener_ = new uv_tcp_t;
    uv_tcp_init(loop_, listener_);
    listener_->data = this;
    sockaddr_in addr{};
    uv_ip4_addr("127.0.0.1", 0, &addr);
    EXPECT_EQ(uv_tcp_bind(listener_, reinterpret_cast<const sockaddr*>(&addr), 0), 0);
    uv_listen(reinterpret_cast<uv_stream_t*>(listener_), 8, [](uv_stream_t* s, int status) {
      if (status == 0 && s->data) static_cast<TestStreamServer*>(s->data)->accept();
    });
    sockaddr_storage bound{};
    int len = sizeof bound;
    uv_tcp_getsockname(listener_, reinterpret_cast<sockaddr*>(&bound), &len);
    port_ = ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  }
  ~TestStreamServer() {
    close();
    for (Conn* c : conns_) c->server = nullptr;
  }
  TestStreamServer(const TestStreamServer&) = delete;
  TestStreamServer& operator=(const TestStreamServer&) = delete;

  std::uint16_t port() const { return port_; }
  // Stops listening and drops every connection at once.
  void close() {
    if (listener_) {
      listener_->data = nullptr;
      uv_close(reinterpret_cast<uv_handle_t*>(listener_),
               [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
      listener_ = nullptr;
    }
    for (Conn* c : conns_) c->close_now();
  }

  std::vector<std::string> tls_errors;  // why server-side sessions failed
  int accepted = 0;
  int peer_close_notifies = 0;

 private:
  void accept() {
    auto* c = new Conn;
    c->server = this;
    uv_tcp_init(loop_, &c->tcp);
    c->tcp.data = c;
    conns_.push_back(c);
    if (uv_accept(reinterpret_cast<uv_stream_t*>(listener_), c->stream()) != 0) {
      c->close_now();
      return;
    }
    ++accepted;
    if (tls_) c->tls = std::make_unique<net::TlsSession>(tls_);
    uv_read_start(
        c->stream(),
        [](uv_handle_t*, std::size_t, uv_buf_t* b) {
          static char buf[65536];
          *b = uv_buf_init(buf, sizeof buf);
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
          auto* cn = static_cast<Conn*>(s->data);
          if (n < 0) {
            cn->close_now();
            return;
          }
          cn->server->received(*cn, std::string_view(b->base, static_cast<std::size_t>(n)));
        });
  }

  void received(Conn& c, std::string_view bytes) {
    if (c.closing) return;
    if (!c.tls) {
      c.in.append(bytes);
      handler_(c);
      return;
    }
    c.tls->feed(bytes);
    c.write_raw(c.tls->take_cipher());
    for (std::string p = c.tls->take_plain(); !p.empty(); p = c.tls->take_plain()) c.in += p;
    if (c.tls->state() == net::TlsSession::State::Failed) {
      tls_errors.push_back(c.tls->error());
      c.close();
      return;
    }
    if (c.tls->peer_closed()) {
      ++peer_close_notifies;
      c.close_now();
      return;
    }
    if (c.tls->handshake_done()) handler_(c);
  }

  void forget(Conn* c) {
    for (auto it = conns_.begin(); it != conns_.end(); ++it) {
      if (*it == c) {
        conns_.erase(it);
        return;
      }
    }
  }

  uv_loop_t* loop_;
  std::shared_ptr<const net::TlsServerContext> tls_;
  Handler handler_;
  uv_tcp_t* listener_ = nullptr;
  std::uint16_t port_ = 0;
  std::vector<Conn*> conns_;  // each freed in its close callback
};

}  // namespace gw::testing
