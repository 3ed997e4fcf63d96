// The uplink's TCP transport (tcp_client.hpp). An attempt goes resolve -> connect -> [TLS handshake] ->
// up -> closing; a Conn block is freed when nothing of libuv refers to it any more: the resolver
// callback has run and the socket handle (if it was initialised) has been closed. With TLS, the socket
// carries the session's ciphertext and the owner sees only plaintext (pump_tls).
#include "gateway/uplink/tcp_client.hpp"

#include "gateway/net/tls.hpp"

#include <cstring>
#include <memory>
#include <utility>

namespace gw::uplink {

struct TcpClient::Conn {
  TcpClient* owner = nullptr;  // null once detached (closed by the caller or the client destroyed)
  uv_getaddrinfo_t resolve{};
  uv_connect_t connect_req{};
  uv_tcp_t tcp{};
  bool resolving = false;
  bool tcp_open = false;  // uv_tcp_init done, uv_close not yet completed
  bool closing = false;
  bool tcp_up = false;  // the socket is connected: writes may go
  bool up = false;      // the owner was told `connected` (TLS: after the handshake)
  std::uint16_t port = 0;
  std::string host;
  std::unique_ptr<net::TlsSession> tls;  // set when the owner asked for TLS
  std::string pending;                   // bytes not yet handed to libuv (TLS: ciphertext)
  struct WriteOp {
    uv_write_t req;
    std::string data;
  };
  std::unique_ptr<WriteOp> writing;
  char buf[16 * 1024];

  static int start_connect(uv_loop_t* loop, Conn* c, const sockaddr* addr);
  void on_tcp_up();
  void received(std::string_view bytes);
  void pump_tls();
  void maybe_free() {
    if (!resolving && !tcp_open) delete this;
  }
  // Ends the attempt: tells the owner (unless detached) and closes the socket.
  void end(const std::string& why) {
    if (closing) return;
    closing = true;
    up = false;
    tcp_up = false;
    if (owner) {
      TcpClient* o = owner;
      owner = nullptr;
      o->ended(why);
    }
    if (resolving) uv_cancel(reinterpret_cast<uv_req_t*>(&resolve));
    if (tcp_open && !uv_is_closing(reinterpret_cast<uv_handle_t*>(&tcp))) {
      uv_close(reinterpret_cast<uv_handle_t*>(&tcp), [](uv_handle_t* h) {
        auto* c = static_cast<Conn*>(h->data);
        c->tcp_open = false;
        c->maybe_free();
      });
    } else {
      maybe_free();
    }
  }
  void flush() {
    if (!tcp_up || writing || pending.empty()) return;
    uv_buf_t b = uv_buf_init(pending.data(), static_cast<unsigned>(pending.size()));
    int n = uv_try_write(reinterpret_cast<uv_stream_t*>(&tcp), &b, 1);
    if (n == UV_EAGAIN) n = 0;
    if (n < 0) {
      end(std::string("write: ") + uv_strerror(n));
      return;
    }
    pending.erase(0, static_cast<std::size_t>(n));
    if (pending.empty()) return;
    writing = std::make_unique<WriteOp>();
    writing->data = std::move(pending);
    pending.clear();
    writing->req.data = this;
    uv_buf_t wb = uv_buf_init(writing->data.data(), static_cast<unsigned>(writing->data.size()));
    int rc = uv_write(&writing->req, reinterpret_cast<uv_stream_t*>(&tcp), &wb, 1,
                      [](uv_write_t* req, int status) {
                        auto* c = static_cast<Conn*>(req->data);
                        c->writing.reset();
                        if (status < 0) {
                          if (status != UV_ECANCELED) c->end(std::string("write: ") + uv_strerror(status));
                          return;
                        }
                        c->flush();
                      });
    if (rc < 0) {
      writing.reset();
      end(std::string("write: ") + uv_strerror(rc));
    }
  }
};

// Starts the TCP connect of an attempt to a resolved address; returns the libuv status.
int TcpClient::Conn::start_connect(uv_loop_t* loop, Conn* c, const sockaddr* addr) {
  uv_tcp_init(loop, &c->tcp);
  c->tcp.data = c;
  c->tcp_open = true;
  uv_tcp_nodelay(&c->tcp, 1);
  c->connect_req.data = c;
  return uv_tcp_connect(&c->connect_req, &c->tcp, addr, [](uv_connect_t* creq, int st) {
    auto* cn = static_cast<Conn*>(creq->data);
    if (cn->closing) return;  // the close already ended it
    if (st < 0) {
      cn->end(std::string("connect: ") + uv_strerror(st));
      return;
    }
    cn->on_tcp_up();
  });
}

void TcpClient::Conn::on_tcp_up() {
  tcp_up = true;
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&tcp),
      [](uv_handle_t* h, std::size_t, uv_buf_t* b) {
        auto* x = static_cast<Conn*>(h->data);
        *b = uv_buf_init(x->buf, sizeof x->buf);
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
        auto* x = static_cast<Conn*>(s->data);
        if (n > 0) {
          x->received(std::string_view(b->base, static_cast<std::size_t>(n)));
        } else if (n < 0) {
          x->end(n == UV_EOF ? std::string("closed by peer")
                             : std::string("read: ") + uv_strerror(static_cast<int>(n)));
        }
      });
  if (tls) {
    pump_tls();  // the ClientHello
    return;
  }
  up = true;
  if (owner && owner->cb_.connected) owner->cb_.connected();
  flush();
}

void TcpClient::Conn::received(std::string_view bytes) {
  if (!tls) {
    if (owner && owner->cb_.data) owner->cb_.data(bytes);
    return;
  }
  tls->feed(bytes);
  pump_tls();
}

// After anything fed to or written through the session: its ciphertext goes to the socket, the end of
// the handshake becomes `connected`, plaintext becomes `data`, and a failure or the peer's close_notify
// ends the attempt. Every owner callback may close or destroy the client, hence the `closing` checks.
void TcpClient::Conn::pump_tls() {
  pending += tls->take_cipher();
  flush();
  if (closing) return;
  if (!up && tls->handshake_done()) {
    up = true;
    if (owner && owner->cb_.connected) owner->cb_.connected();
    if (closing) return;
  }
  for (std::string plain = tls->take_plain(); !plain.empty(); plain = tls->take_plain()) {
    if (owner && owner->cb_.data) owner->cb_.data(plain);
    if (closing) return;
  }
  if (tls->state() == net::TlsSession::State::Failed) {
    pending += tls->take_cipher();  // the alert, if mbedTLS made one
    flush();
    end(tls->error());
  } else if (tls->peer_closed()) {
    end("closed by peer (TLS close_notify)");
  } else if (tls->has_cipher()) {
    pending += tls->take_cipher();
    flush();
  }
}

TcpClient::TcpClient(uv_loop_t* loop, Callbacks callbacks) : loop_(loop), cb_(std::move(callbacks)) {}

TcpClient::~TcpClient() {
  if (conn_) {
    conn_->owner = nullptr;
    Conn* c = std::exchange(conn_, nullptr);
    c->end("destroyed");
  }
}

void TcpClient::set_tls(std::shared_ptr<const net::TlsClientContext> context, std::string server_name) {
  tls_ = std::move(context);
  tls_server_name_ = std::move(server_name);
}

bool TcpClient::up() const {
  return conn_ && conn_->up;
}

void TcpClient::ended(const std::string& why) {
  conn_ = nullptr;
  if (cb_.closed) cb_.closed(why);
}

void TcpClient::connect(const std::string& host, std::uint16_t port) {
  if (conn_) return;
  auto* c = new Conn;
  c->owner = this;
  c->port = port;
  c->host = host;
  if (tls_) c->tls = std::make_unique<net::TlsSession>(tls_, host, tls_server_name_);
  c->resolve.data = c;
  conn_ = c;
  // A numeric address needs no resolver (and nothing that could keep the loop waiting at shutdown).
  sockaddr_storage numeric{};
  if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&numeric)) == 0 ||
      uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&numeric)) == 0) {
    int rc = Conn::start_connect(loop_, c, reinterpret_cast<const sockaddr*>(&numeric));
    if (rc < 0) c->end(std::string("connect: ") + uv_strerror(rc));
    return;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  c->resolving = true;
  const std::string service = std::to_string(port);
  int rc = uv_getaddrinfo(
      loop_, &c->resolve,
      [](uv_getaddrinfo_t* req, int status, addrinfo* res) {
        auto* conn = static_cast<Conn*>(req->data);
        conn->resolving = false;
        if (conn->closing) {
          if (res) uv_freeaddrinfo(res);
          conn->maybe_free();
          return;
        }
        if (status < 0 || !res) {
          if (res) uv_freeaddrinfo(res);
          conn->end(std::string("resolve: ") + uv_strerror(status));
          return;
        }
        int crc = Conn::start_connect(req->loop, conn, res->ai_addr);
        uv_freeaddrinfo(res);
        if (crc < 0) conn->end(std::string("connect: ") + uv_strerror(crc));
      },
      host.c_str(), service.c_str(), &hints);
  if (rc < 0) {
    c->resolving = false;
    c->end(std::string("resolve: ") + uv_strerror(rc));
  }
}

void TcpClient::write(std::string_view bytes) {
  if (!conn_ || !conn_->up) return;
  if (conn_->tls) {
    conn_->tls->write(bytes);
    conn_->pump_tls();
    return;
  }
  conn_->pending.append(bytes);
  conn_->flush();
}

void TcpClient::close() {
  if (!conn_) return;
  Conn* c = std::exchange(conn_, nullptr);
  c->owner = nullptr;
  if (c->tls && c->tcp_up) {
    c->tls->close();
    c->pending += c->tls->take_cipher();
  }
  c->flush();  // a last try (a DISCONNECT), never blocking
  c->end("closed");
}

}  // namespace gw::uplink
