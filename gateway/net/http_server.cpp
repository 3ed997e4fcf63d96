// Implementation of the HTTP server (state table in http_server.hpp). One request at a time per
// connection: reading pauses while the handler works, and pipelined bytes wait in the connection until
// the response is written. A closing response is followed by a half-close and a short drain of unread
// input, so the client reads the answer instead of a reset. Nothing here throws on network input.
#include "gateway/net/http_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>

#include "gateway/base/log.hpp"
#include "gateway/net/listen.hpp"

namespace gw::net {

namespace {

constexpr std::size_t kMaxDrainBytes = 1024 * 1024;  // unread input discarded after a closing answer
constexpr std::size_t kHardConnectionSlack = 64;     // past max_connections + this: close without a 503

struct SockName {
  std::string host;
  std::uint16_t port = 0;
  bool loopback = false;
};

SockName sock_name(const sockaddr_storage& ss) {
  SockName out;
  char ip[INET6_ADDRSTRLEN] = {0};
  if (ss.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
    uv_ip4_name(in, ip, sizeof ip);
    out.port = ntohs(in->sin_port);
    out.loopback = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  } else if (ss.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    uv_ip6_name(in6, ip, sizeof ip);
    out.port = ntohs(in6->sin6_port);
    out.loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
                   (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127);
  }
  out.host = ip;
  return out;
}

}  // namespace

HttpResponder::HttpResponder(HttpPeer peer, Sink sink)
    : state_(std::make_shared<State>(State{std::move(peer), std::move(sink), false})) {}

void HttpResponder::respond(http::Response r) const {
  if (state_->answered) return;
  state_->answered = true;
  if (state_->sink) state_->sink(std::move(r));
}

class HttpServer::Conn {
 public:
  enum class State { Reading, Handling, Writing, Draining, Closed };

  explicit Conn(HttpServer& server) : server_(server), parser_(server.limits_.parser) {
    uv_tcp_init(server.loop_, &handle_);
    handle_.data = this;
    link_ = std::make_shared<Link>(Link{this});
  }

  uv_tcp_t* handle() { return &handle_; }
  const HttpPeer& peer() const { return peer_; }

  void start() {
    read_peer();
    if (layered_) start_layers();
    deadline_ = now() + server_.limits_.request_timeout_ms;  // the first request, from the accept
    start_reading();
  }

  // Over max_connections: a 503 (written at once), then the close.
  void refuse_busy() {
    read_peer();
    keep_alive_ = false;
    state_ = State::Handling;
    auto r = http::text_response(503, "Service Unavailable: too many connections\n", true);
    r.headers.add("Retry-After", "1");
    send_response(std::move(r));
  }

  void tick(std::uint64_t t) {
    if (slot_ && t >= handshake_deadline_) {
      layered_->counts.timed_out++;
      GW_LOG(Debug, "http", "%s: %s: handshake not done within %u ms, closing", layered_->name.c_str(),
             peer_.address.c_str(), layered_->layers.handshake_timeout_ms);
      stack_.reset();  // its memory now, not in the close callback (called from outside the stack)
      close_now();
      return;
    }
    if (t < deadline_) return;
    switch (state_) {
      case State::Reading:
        if (request_started_) {
          server_.stats_.timeouts++;
          GW_LOG(Info, "http", "%s: request not complete within %u ms, answering 408", peer_.address.c_str(),
                 server_.limits_.request_timeout_ms);
          fail(408);
        } else {
          close_now();  // idle keep-alive connection (or an accepted one that never spoke)
        }
        break;
      case State::Writing:   // the client does not read its answer
      case State::Draining:  // linger over
        close_now();
        break;
      case State::Handling:
        // The handler did not answer in time (a stuck store, a bug): the client is not left hanging.
        GW_LOG(Warn, "http", "%s: no answer within %u ms, answering 503", peer_.address.c_str(),
               server_.limits_.request_timeout_ms);
        keep_alive_ = false;
        send_response(http::text_response(503, "Service Unavailable: no answer in time\n", true));
        break;
      case State::Closed:
        break;
    }
  }

  // The connection's listener has layers: they come with it (called before start()), with the
  // handshake slot the listener gave it.
  void set_layers(std::shared_ptr<LayeredListener> layered, LayeredListener::Slot slot, bool secure) {
    layered_ = std::move(layered);
    slot_ = slot;
    peer_.secure = secure;
  }

  // close_oldest made room for a newer handshake: the slot is gone already.
  void evicted() {
    slot_.reset();
    GW_LOG(Debug, "http", "%s: handshake closed to make room (close_oldest)", layered_->name.c_str());
    stack_.reset();  // its memory now, not in the close callback (called from outside the stack)
    close_now();
  }

  void close_now() {
    if (state_ == State::Closed) return;
    state_ = State::Closed;
    handshake_ended();
    link_->conn = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&handle_), on_close);
  }

 private:
  struct Link {
    Conn* conn;
  };
  struct WriteReq {
    uv_write_t req{};
    std::string data;
    Conn* conn = nullptr;
  };

  void start_layers() {
    StackEnds ends;
    ends.to_socket = [this](std::string_view bytes) { write_socket(std::string(bytes)); };
    ends.close_socket = [this] {
      if (state_ != State::Draining) close_when_written();
    };
    ends.to_protocol = [this](std::string_view bytes) {
      in_.append(bytes);
      pump();
    };
    ends.protocol_eof = [this] { close_now(); };
    ends.failed = [this](const std::string& why) {
      if (slot_) layered_->counts.failed++;
      GW_LOG(Info, "http", "%s: %s: %s", layered_->name.c_str(), peer_.address.c_str(), why.c_str());
      close_when_written();  // an alert the layer queued goes out first
    };
    stack_ = std::make_unique<LayerStack>(layered_->layers.make(), std::move(ends));
    handshake_deadline_ = now() + layered_->layers.handshake_timeout_ms;
  }

  void handshake_ended() {
    if (!slot_) return;
    layered_->release(*slot_);
    slot_.reset();
  }

  void close_when_written() {
    stop_reading();
    close_when_written_ = true;
    if (pending_writes_ == 0) close_now();
  }

  static std::uint64_t now_of(const HttpServer& s) { return uv_now(s.loop_); }
  std::uint64_t now() const { return now_of(server_); }

  void read_peer() {
    sockaddr_storage ss{};
    int len = sizeof ss;
    if (uv_tcp_getpeername(&handle_, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
      SockName p = sock_name(ss);
      peer_.address = p.host + ":" + std::to_string(p.port);
      peer_.loopback = p.loopback;
    }
    len = sizeof ss;
    if (uv_tcp_getsockname(&handle_, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
      SockName l = sock_name(ss);
      peer_.local_host = l.host;
      peer_.local_port = l.port;
    }
    uv_tcp_nodelay(&handle_, 1);
  }

  void start_reading() {
    if (reading_ || state_ == State::Closed) return;
    if (uv_read_start(reinterpret_cast<uv_stream_t*>(&handle_), on_alloc, on_read) == 0) {
      reading_ = true;
    } else {
      close_now();
    }
  }
  void stop_reading() {
    if (!reading_) return;
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&handle_));
    reading_ = false;
  }

  static void on_alloc(uv_handle_t*, std::size_t, uv_buf_t* buf) {
    // The loop is single-threaded and the bytes are consumed before the next read.
    static char shared[64 * 1024];
    *buf = uv_buf_init(shared, sizeof shared);
  }

  static void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
    auto* self = static_cast<Conn*>(s->data);
    if (n < 0) {
      self->close_now();  // EOF, reset: nothing more to answer
      return;
    }
    if (n == 0) return;
    if (self->state_ == State::Draining) {
      self->drained_ += static_cast<std::size_t>(n);
      if (self->drained_ > kMaxDrainBytes) self->close_now();
      return;
    }
    if (self->stack_) {
      self->stack_->from_socket(std::string_view(buf->base, static_cast<std::size_t>(n)));
      if (self->slot_ && !self->stack_->failed() && !self->stack_->opening()) {
        self->handshake_ended();
        self->layered_->counts.completed++;
      }
      return;
    }
    self->in_.append(buf->base, static_cast<std::size_t>(n));
    self->pump();
  }

  // Parses buffered input while the connection is free to take a request.
  void pump() {
    while (state_ == State::Reading && !in_.empty()) {
      if (!request_started_) {
        request_started_ = true;
        deadline_ = now() + server_.limits_.request_timeout_ms;
      }
      const http::FeedResult r = parser_.feed(in_);
      in_.erase(0, r.consumed);
      if (parser_.take_continue()) {
        write(std::string(http::kContinueResponse));
        if (state_ == State::Closed) return;
      }
      switch (r.status) {
        case http::ParseStatus::NeedMore:
          break;
        case http::ParseStatus::Complete:
          dispatch();
          return;
        case http::ParseStatus::Error:
          server_.stats_.parse_errors++;
          GW_LOG(Debug, "http", "%s: bad request (%s), answering %d", peer_.address.c_str(),
                 parser_.error().what, parser_.error().status);
          fail(parser_.error().status);
          return;
        case http::ParseStatus::Closed:
          close_now();
          return;
      }
    }
    if (in_.empty()) std::string().swap(in_);
  }

  void dispatch() {
    http::Request req = parser_.take_request();
    request_started_ = false;
    head_ = req.method == "HEAD";
    keep_alive_ = req.keep_alive && !req.upgrade;
    state_ = State::Handling;
    deadline_ = now() + server_.limits_.request_timeout_ms;
    stop_reading();
    server_.stats_.requests++;
    std::weak_ptr<Link> link = link_;
    HttpResponder responder(peer_, [link](http::Response resp) {
      if (auto l = link.lock(); l && l->conn) l->conn->send_response(std::move(resp));
    });
    GW_LOG(Debug, "http", "%s %s from %s", req.method.c_str(), req.target.c_str(), peer_.address.c_str());
    server_.handler_(req, responder);
  }

  void fail(int status) {
    stop_reading();
    keep_alive_ = false;
    head_ = false;
    state_ = State::Handling;
    std::string body(http::reason_phrase(status));
    body.push_back('\n');
    send_response(http::text_response(status, std::move(body), true));
  }

  void send_response(http::Response r) {
    if (state_ != State::Handling) return;
    if (!keep_alive_) r.close = true;
    if (r.close) keep_alive_ = false;
    std::string bytes;
    http::write_response(r, bytes, head_);
    state_ = State::Writing;
    deadline_ = now() + server_.limits_.request_timeout_ms;
    write(std::move(bytes));
  }

  void write(std::string bytes) {
    if (stack_) {
      stack_->from_protocol(bytes);  // lands in write_socket through StackEnds::to_socket
      return;
    }
    write_socket(std::move(bytes));
  }

  void write_socket(std::string bytes) {
    if (state_ == State::Closed) return;
    auto* w = new WriteReq;
    w->data = std::move(bytes);
    w->conn = this;
    w->req.data = w;
    uv_buf_t b = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
    if (uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&handle_), &b, 1, on_write) != 0) {
      delete w;
      close_now();
      return;
    }
    ++pending_writes_;
  }

  static void on_write(uv_write_t* req, int status) {
    auto* w = static_cast<WriteReq*>(req->data);
    Conn* self = w->conn;
    delete w;
    --self->pending_writes_;
    if (status < 0) {
      self->close_now();
      return;
    }
    if (self->close_when_written_) {
      if (self->pending_writes_ == 0) self->close_now();
      return;
    }
    if (self->pending_writes_ > 0 || self->state_ != State::Writing) return;
    if (self->keep_alive_) {
      self->state_ = State::Reading;
      self->deadline_ = self->now() + self->server_.limits_.idle_timeout_ms;
      self->start_reading();
      self->pump();
    } else {
      self->begin_draining();
    }
  }

  void begin_draining() {
    state_ = State::Draining;
    deadline_ = now() + server_.limits_.linger_ms;
    in_.clear();
    if (stack_) stack_->close();  // close_notify before the FIN
    if (state_ == State::Closed) return;
    shutdown_.data = this;
    if (uv_shutdown(&shutdown_, reinterpret_cast<uv_stream_t*>(&handle_), [](uv_shutdown_t*, int) {}) != 0) {
      close_now();
      return;
    }
    start_reading();
  }

  static void on_close(uv_handle_t* h) {
    auto* self = static_cast<Conn*>(h->data);
    self->server_.conns_.erase(self);
    delete self;
  }

  HttpServer& server_;
  std::shared_ptr<LayeredListener> layered_;  // null: plain TCP
  std::unique_ptr<LayerStack> stack_;
  std::uint64_t handshake_deadline_ = 0;
  std::optional<LayeredListener::Slot> slot_;  // set while the handshake is in progress
  bool close_when_written_ = false;
  uv_tcp_t handle_{};
  uv_shutdown_t shutdown_{};
  http::RequestParser parser_;
  std::shared_ptr<Link> link_;
  HttpPeer peer_;
  std::string in_;  // received, not yet parsed (pipelined requests wait here)
  State state_ = State::Reading;
  std::uint64_t deadline_ = 0;
  std::size_t drained_ = 0;
  int pending_writes_ = 0;
  bool reading_ = false;
  bool request_started_ = false;
  bool keep_alive_ = true;
  bool head_ = false;
};

HttpServer::HttpServer(uv_loop_t* loop, HttpLimits limits, HttpHandler handler)
    : loop_(loop), limits_(limits), handler_(std::move(handler)) {}

HttpServer::~HttpServer() {
  if (!conns_.empty() || !listeners_.empty() || timer_ != nullptr) {
    GW_LOG(Error, "http", "server destroyed before close(): %zu connections leaked", conns_.size());
  }
}

Result<std::uint16_t, std::string> HttpServer::listen(const std::string& name, const std::string& host,
                                                      std::uint16_t port, ListenerLayers layers,
                                                      bool secure) {
  auto* l = new Listener{this, name, {}, nullptr, secure};
  if (layers.make) l->layered = std::make_shared<LayeredListener>(name, std::move(layers));
  uv_tcp_init(loop_, &l->handle);
  l->handle.data = l;
  auto bound = bind_and_listen(&l->handle, name, host, port, 256, on_connection);
  if (!bound) {
    uv_close(reinterpret_cast<uv_handle_t*>(&l->handle),
             [](uv_handle_t* h) { delete static_cast<Listener*>(h->data); });
    return bound;
  }
  listeners_.push_back(l);
  if (timer_ == nullptr) {
    timer_ = new uv_timer_t;
    uv_timer_init(loop_, timer_);
    timer_->data = this;
    std::uint64_t shortest =
        std::min({limits_.request_timeout_ms, limits_.idle_timeout_ms, limits_.linger_ms});
    if (l->layered) shortest = std::min<std::uint64_t>(shortest, l->layered->layers.handshake_timeout_ms);
    const std::uint64_t every = std::clamp<std::uint64_t>(shortest / 4, 10, 250);
    uv_timer_start(timer_, on_timer, every, every);
    uv_unref(reinterpret_cast<uv_handle_t*>(timer_));  // connections and listeners keep the loop alive
  }
  return *bound;
}

void HttpServer::close_listeners() {
  for (auto* l : listeners_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&l->handle),
             [](uv_handle_t* h) { delete static_cast<Listener*>(h->data); });
  }
  listeners_.clear();
}

void HttpServer::close() {
  close_listeners();
  for (Conn* c : std::vector<Conn*>(conns_.begin(), conns_.end())) c->close_now();
  if (timer_ != nullptr) {
    uv_timer_stop(timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(timer_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
    timer_ = nullptr;
  }
}

void HttpServer::on_timer(uv_timer_t* t) {
  auto* self = static_cast<HttpServer*>(t->data);
  const std::uint64_t now = uv_now(self->loop_);
  for (Conn* c : std::vector<Conn*>(self->conns_.begin(), self->conns_.end())) {
    if (self->conns_.contains(c)) c->tick(now);
  }
}

void HttpServer::on_connection(uv_stream_t* server, int status) {
  auto* l = static_cast<Listener*>(server->data);
  HttpServer* self = l->server;
  if (status < 0) {
    GW_LOG(Warn, "http", "accept on %s: %s", l->name.c_str(), uv_strerror(status));
    return;
  }
  auto* c = new Conn(*self);
  self->conns_.insert(c);
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(c->handle())) != 0) {
    c->close_now();
    return;
  }
  self->stats_.accepted++;
  if (l->layered) {
    auto slot = l->layered->admit([c] { c->evicted(); });
    if (!slot) {
      c->close_now();  // no answer is possible before a handshake
      return;
    }
    c->set_layers(l->layered, *slot, l->secure);
  }
  // conns_ already counts the new one.
  if (self->conns_.size() > self->limits_.max_connections) {
    self->stats_.refused_busy++;
    // Layered (TLS) connections cannot be told anything before their handshake: they just close.
    if (self->conns_.size() > self->limits_.max_connections + kHardConnectionSlack || l->layered) {
      c->close_now();  // file descriptors matter more than a polite answer
    } else {
      c->refuse_busy();
    }
    return;
  }
  c->start();
}

}  // namespace gw::net
