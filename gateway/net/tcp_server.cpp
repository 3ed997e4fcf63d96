// Implementation of the TCP transport. Error paths close the one socket concerned and never throw.
#include "gateway/net/tcp_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "gateway/base/log.hpp"
#include "gateway/net/listen.hpp"

namespace gw::net {
namespace {

// The graceful close's bounds (tcp_server.hpp). 2 s is several round trips of a slow cellular link, and a
// client needs one to read its DISCONNECT and close; one that has not closed by then (a slow-loris client)
// is closed anyway, and the daemon's stop waits no longer for it. 1 MiB is more than a client at full speed
// has in flight in its socket buffers when it is told to go; a client that sends more after our DISCONNECT
// is not listening, and reading on would only spend the loop's time on it.
constexpr std::uint64_t kCloseLingerMs = 2000;
constexpr std::size_t kCloseLingerBytes = 1024 * 1024;

}  // namespace

TcpConnection::TcpConnection(Net& net) : net_(net), conn_(net.broker_, *this) {
  uv_tcp_init(net.loop_, &handle_);
  handle_.data = this;
}

TcpConnection::~TcpConnection() = default;

void TcpConnection::start() {
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getpeername(&handle_, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    char ip[INET6_ADDRSTRLEN] = {0};
    int port = 0;
    if (ss.ss_family == AF_INET) {
      auto* in = reinterpret_cast<sockaddr_in*>(&ss);
      uv_ip4_name(in, ip, sizeof ip);
      port = ntohs(in->sin_port);
      loopback_ = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    } else if (ss.ss_family == AF_INET6) {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
      uv_ip6_name(in6, ip, sizeof ip);
      port = ntohs(in6->sin6_port);
      loopback_ = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
                  (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127);
    }
    peer_ = std::string(ip) + ":" + std::to_string(port);
  }
  uv_tcp_nodelay(&handle_, 1);
  uv_read_start(reinterpret_cast<uv_stream_t*>(&handle_), on_alloc, on_read);
}

void TcpConnection::on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) {
  auto* self = static_cast<TcpConnection*>(h->data);
  // One buffer for all connections: the broker copies out only a trailing partial packet.
  *buf = uv_buf_init(self->net_.read_buf_, sizeof self->net_.read_buf_);
}

void TcpConnection::on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  auto* self = static_cast<TcpConnection*>(s->data);
  if (self->linger_) {
    // Closing gracefully: what the client still sends is read and thrown away (below any layer), within
    // the bound, so the kernel never answers it with a reset; its end of the stream (or an error) ends
    // the close.
    if (n > 0 && (self->linger_->discarded += static_cast<std::size_t>(n)) <= kCloseLingerBytes) return;
    if (n > 0) {
      GW_LOG(Debug, "net", "closing %s: more than %zu bytes read after the close", self->peer_.c_str(),
             kCloseLingerBytes);
    }
    if (n != 0) self->hard_close();
    return;
  }
  if (n > 0) {
    if (self->layered_) {
      self->layers_read(std::string_view(buf->base, static_cast<std::size_t>(n)));
    } else {
      self->conn_.on_data(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(buf->base),
                                                        static_cast<std::size_t>(n)));
    }
    // A client that sends but does not read (its PUBACKs, SUBACKs ... pile up here) is not read from
    // until its socket drains: its output stays bounded by twice the watermark plus one read's worth.
    if (!self->closing_ && self->pending_bytes() >= 2 * self->net_.broker_.limits().write_high_watermark) {
      uv_read_stop(s);
      self->reading_paused_ = true;
      self->net_.broker_.stats().reads_paused++;
    }
    return;
  }
  if (n < 0) {
    if (n != UV_EOF)
      GW_LOG(Debug, "net", "read from %s: %s", self->peer_.c_str(), uv_strerror(static_cast<int>(n)));
    self->hard_close();
  }
}

void TcpConnection::send(std::string_view bytes) {
  if (closing_) return;
  if (layered_) {
    layered_->plain.append(bytes);  // encoded in flush(), so a batch becomes few records or frames
  } else {
    if (!pending_) pending_ = std::make_unique<std::string>();
    pending_->append(bytes);
  }
  if (!dirty_) {
    dirty_ = true;
    net_.mark_dirty(this);
  }
  if (!over_ && pending_bytes() >= net_.broker_.limits().write_high_watermark) over_ = true;
}

void TcpConnection::flush() {
  dirty_ = false;
  if (layered_ && !layered_->plain.empty() && !uv_is_closing(reinterpret_cast<uv_handle_t*>(&handle_))) {
    touch();
    std::string plain;
    plain.swap(layered_->plain);
    layered_->stack->from_protocol(plain);  // into pending_, through StackEnds::to_socket
    if (plain.capacity() <= 64 * 1024) {
      plain.clear();
      plain.swap(layered_->plain);  // keep the buffer of a busy connection
    }
  }
  if (write_ || uv_is_closing(reinterpret_cast<uv_handle_t*>(&handle_))) return;
  if (pending_ && !pending_->empty()) {
    std::string& pending = *pending_;
    uv_buf_t b = uv_buf_init(pending.data(), static_cast<unsigned>(pending.size()));
    int n = uv_try_write(reinterpret_cast<uv_stream_t*>(&handle_), &b, 1);
    if (n > 0) pending.erase(0, static_cast<std::size_t>(n));
    if (n < 0 && n != UV_EAGAIN) {
      hard_close();
      return;
    }
    if (!pending.empty()) {
      write_ = std::make_unique<WriteOp>();
      write_->data.swap(pending);
      write_->req.data = this;
      uv_buf_t wb = uv_buf_init(write_->data.data(), static_cast<unsigned>(write_->data.size()));
      if (uv_write(&write_->req, reinterpret_cast<uv_stream_t*>(&handle_), &wb, 1, on_write) != 0) {
        write_.reset();
        hard_close();
        return;
      }
    }
    // Keep a heap buffer of a busy connection (up to 64 KiB), so it is not grown again for every batch;
    // an empty one without heap capacity (e.g. after the CONNACK) costs nothing to make again.
    if (pending.empty() && (pending.capacity() > 64 * 1024 || pending.capacity() <= std::string().capacity()))
      pending_.reset();
  }
  // Also when nothing was left to write: the write that just completed may have been the last one, and
  // a subscriber waiting to drain (QoS 0 has no acknowledgement to pump its queue) must hear of it.
  if (over_ && pending_bytes() < net_.broker_.limits().write_high_watermark / 2) {
    over_ = false;
    if (!closing_) conn_.on_drain();
  }
  if (reading_paused_ && !closing_ && pending_bytes() < net_.broker_.limits().write_high_watermark / 2) {
    reading_paused_ = false;
    if (!flow_paused_) uv_read_start(reinterpret_cast<uv_stream_t*>(&handle_), on_alloc, on_read);
  }
  // Closing gracefully and everything written: the write side is shut down (the client reads its last
  // bytes, then the end of the stream).
  if (linger_ && !linger_->shut_down && !write_ && pending_bytes() == 0) {
    linger_->shut_down = true;
    if (uv_shutdown(&linger_->req, reinterpret_cast<uv_stream_t*>(&handle_), on_shutdown) != 0) hard_close();
  }
}

void TcpConnection::set_flow_paused(bool paused) {
  if (paused == flow_paused_) return;
  flow_paused_ = paused;
  if (closing_) return;
  auto* s = reinterpret_cast<uv_stream_t*>(&handle_);
  if (paused) {
    uv_read_stop(s);
  } else if (!reading_paused_) {
    uv_read_start(s, on_alloc, on_read);
  }
}

void TcpConnection::on_write(uv_write_t* req, int status) {
  auto* self = static_cast<TcpConnection*>(req->data);
  self->write_.reset();
  if (status < 0) {
    self->hard_close();
    return;
  }
  self->flush();  // the rest of the output; when closing, the shutdown once it is all out
}

void TcpConnection::close() {
  if (closing_) return;
  if (layered_) {
    // The layers say goodbye (close_notify, a close frame) after the broker's last bytes, then
    // StackEnds::close_socket lands in close_socket().
    if (!layered_->plain.empty()) {
      std::string plain;
      plain.swap(layered_->plain);
      layered_->stack->from_protocol(plain);
    }
    layered_->stack->close();
    close_socket();  // in case no layer passed the close down
    return;
  }
  close_socket();
}

void TcpConnection::close_socket() {
  if (closing_) return;
  closing_ = true;
  if (!write_) flush();
  // A peer with a write stuck over the watermark does not read: it would never let the close finish.
  if (write_ && pending_bytes() >= net_.broker_.limits().write_high_watermark) {
    hard_close();
    return;
  }
  linger();
  // The MQTT side ends in this loop iteration's check phase (Net::on_check), after the broker's call that
  // closed it has returned, while the socket lingers.
  if (!dirty_) {
    dirty_ = true;
    net_.mark_dirty(this);
  }
}

void TcpConnection::linger() {
  auto* s = reinterpret_cast<uv_stream_t*>(&handle_);
  if (uv_is_closing(reinterpret_cast<uv_handle_t*>(s))) return;
  linger_ = std::make_unique<Linger>();
  linger_->timer = new uv_timer_t;
  uv_timer_init(net_.loop_, linger_->timer);
  linger_->timer->data = this;
  uv_timer_start(linger_->timer, on_linger_timeout, kCloseLingerMs, 0);
  // Reading goes on, or starts again when the output backlog or flow control had stopped it.
  if (reading_paused_ || flow_paused_) {
    reading_paused_ = flow_paused_ = false;
    uv_read_start(s, on_alloc, on_read);
  }
  if (!write_) flush();  // nothing left to write: the shutdown now
}

void TcpConnection::on_shutdown(uv_shutdown_t* req, int status) {
  // UV_ECANCELED: the handle is being closed already.
  if (status < 0 && status != UV_ECANCELED) static_cast<TcpConnection*>(req->handle->data)->hard_close();
}

void TcpConnection::on_linger_timeout(uv_timer_t* t) {
  auto* self = static_cast<TcpConnection*>(t->data);
  GW_LOG(Debug, "net", "closing %s: still open %llu ms after the close (%zu bytes read since)",
         self->peer_.c_str(), static_cast<unsigned long long>(kCloseLingerMs), self->linger_->discarded);
  self->hard_close();
}

void TcpConnection::end_mqtt() {
  if (mqtt_ended_) return;
  mqtt_ended_ = true;
  conn_.on_closed();
}

void TcpConnection::hard_close() {
  auto* h = reinterpret_cast<uv_handle_t*>(&handle_);
  if (uv_is_closing(h)) return;
  closing_ = true;
  if (linger_ && linger_->timer) {
    uv_timer_stop(linger_->timer);
    uv_close(reinterpret_cast<uv_handle_t*>(linger_->timer),
             [](uv_handle_t* t) { delete reinterpret_cast<uv_timer_t*>(t); });
    linger_->timer = nullptr;
  }
  uv_close(h, on_close);
}

void TcpConnection::on_close(uv_handle_t* h) {
  auto* self = static_cast<TcpConnection*>(h->data);
  if (self->layered_) {
    self->end_handshake();
    self->leave_idle_list();
  }
  self->end_mqtt();
  if (self->prev_ || self->next_ || self->net_.head_ == self) self->net_.unlink(self);
  std::erase(self->net_.dirty_, self);
  delete self;
}

void TcpConnection::start_layers(std::shared_ptr<LayeredListener> listener, LayeredListener::Slot slot) {
  layered_ = std::make_unique<Layered>();
  layered_->listener = std::move(listener);
  layered_->slot = slot;
  StackEnds ends;
  ends.to_socket = [this](std::string_view bytes) {
    if (uv_is_closing(reinterpret_cast<uv_handle_t*>(&handle_))) return;
    if (!pending_) pending_ = std::make_unique<std::string>();
    pending_->append(bytes);
    if (!dirty_) {
      dirty_ = true;
      net_.mark_dirty(this);
    }
  };
  ends.close_socket = [this] { close_socket(); };
  ends.to_protocol = [this](std::string_view bytes) {
    if (!closing_)
      conn_.on_data(
          std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
  };
  ends.protocol_eof = [this] { hard_close(); };
  ends.failed = [this](const std::string& why) {
    if (layered_->slot) layered_->listener->counts.failed++;
    GW_LOG(Info, "net", "%s: %s: %s", layered_->listener->name.c_str(), peer_.c_str(), why.c_str());
    close_socket();  // what the layer queued (an alert) goes out first
  };
  layered_->stack = std::make_unique<LayerStack>(layered_->listener->layers.make(), std::move(ends));
  layered_->handshake_deadline = uv_now(net_.loop_) + layered_->listener->layers.handshake_timeout_ms;
  net_.handshaking_.insert(this);
  if (!uv_is_active(reinterpret_cast<uv_handle_t*>(net_.handshake_timer_))) {
    const std::uint64_t period =
        std::clamp<std::uint64_t>(layered_->listener->layers.handshake_timeout_ms / 4, 10, 1000);
    uv_timer_start(net_.handshake_timer_, Net::on_handshake_timer, period, period);
  }
}

void TcpConnection::layers_read(std::string_view bytes) {
  touch();
  layered_->stack->from_socket(bytes);
  if (layered_->slot && !layered_->stack->failed() && !layered_->stack->opening()) {
    end_handshake();
    layered_->listener->counts.completed++;
    GW_LOG(Debug, "net", "%s: %s: %s", layered_->listener->name.c_str(), peer_.c_str(),
           layered_->stack->describe().c_str());
  }
}

void TcpConnection::drop_layers() {
  // The layers' memory (a TLS session holds about 33 KiB of record buffers) goes now, not in the close
  // callback: a flood of handshakes evicted within one loop iteration must not pile up. Called only
  // from outside the stack (eviction, the deadline timer), never from one of its callbacks.
  layered_->stack.reset();
  layered_->plain.clear();
  hard_close();
}

void TcpConnection::touch() {
  const std::uint32_t ms = layered_->listener->layers.idle_release_ms;
  if (ms == 0) return;
  layered_->last_active = uv_now(net_.loop_);
  if (layered_->idle_list != nullptr) {
    layered_->idle_list->splice(layered_->idle_list->end(), *layered_->idle_list, layered_->idle_pos);
    return;
  }
  std::list<TcpConnection*>& list = net_.idle_[ms];
  layered_->idle_pos = list.insert(list.end(), this);
  layered_->idle_list = &list;
  if (!uv_is_active(reinterpret_cast<uv_handle_t*>(net_.idle_timer_)))
    uv_timer_start(net_.idle_timer_, Net::on_idle_timer, net_.idle_period_ms_, net_.idle_period_ms_);
}

void TcpConnection::leave_idle_list() {
  if (layered_->idle_list == nullptr) return;
  layered_->idle_list->erase(layered_->idle_pos);
  layered_->idle_list = nullptr;
}

void TcpConnection::end_handshake() {
  if (layered_->slot) layered_->listener->release(*layered_->slot);
  layered_->slot.reset();
  net_.handshaking_.erase(this);
}

Net::Net(uv_loop_t* loop, broker::Broker& broker) : loop_(loop), broker_(broker) {
  check_ = new uv_check_t;
  uv_check_init(loop_, check_);
  check_->data = this;
  uv_check_start(check_, on_check);
  uv_unref(reinterpret_cast<uv_handle_t*>(check_));
  handshake_timer_ = new uv_timer_t;
  uv_timer_init(loop_, handshake_timer_);
  handshake_timer_->data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(handshake_timer_));
  idle_timer_ = new uv_timer_t;
  uv_timer_init(loop_, idle_timer_);
  idle_timer_->data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(idle_timer_));
}

void Net::on_idle_timer(uv_timer_t* t) {
  auto* self = static_cast<Net*>(t->data);
  const std::uint64_t now = uv_now(self->loop_);
  bool any = false;
  for (auto& [ms, list] : self->idle_) {
    while (!list.empty() && list.front()->layered_->last_active + ms <= now) {
      TcpConnection* c = list.front();
      c->leave_idle_list();  // back in a list at its next traffic
      if (c->closing_ || !c->layered_->stack) continue;
      std::size_t released = c->layered_->stack->release_idle();
      if (c->layered_->plain.empty()) {
        released +=
            c->layered_->plain.capacity() > std::string().capacity() ? c->layered_->plain.capacity() : 0;
        std::string().swap(c->layered_->plain);
      }
      // Nothing to release (e.g. still in its handshake) is not a release: it rejoins at its next traffic.
      if (released > 0) {
        GW_LOG(Debug, "net", "%s: %s: idle %u ms, %zu bytes released", c->layered_->listener->name.c_str(),
               c->peer_.c_str(), ms, released);
      }
    }
    any = any || !list.empty();
  }
  if (!any) uv_timer_stop(t);
}

void Net::on_handshake_timer(uv_timer_t* t) {
  auto* self = static_cast<Net*>(t->data);
  const std::uint64_t now = uv_now(self->loop_);
  std::vector<TcpConnection*> expired;
  for (TcpConnection* c : self->handshaking_) {
    if (c->layered_->handshake_deadline <= now) expired.push_back(c);
  }
  for (TcpConnection* c : expired) {
    c->layered_->listener->counts.timed_out++;
    GW_LOG(Debug, "net", "%s: %s: handshake not done within %u ms, closing",
           c->layered_->listener->name.c_str(), c->peer_.c_str(),
           c->layered_->listener->layers.handshake_timeout_ms);
    c->end_handshake();
    c->drop_layers();
  }
  if (self->handshaking_.empty()) uv_timer_stop(t);
}

Net::~Net() {
  uv_check_stop(check_);
  uv_close(reinterpret_cast<uv_handle_t*>(check_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_check_t*>(h); });
  uv_close(reinterpret_cast<uv_handle_t*>(handshake_timer_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  uv_close(reinterpret_cast<uv_handle_t*>(idle_timer_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  close_listeners();
  for (TcpConnection* c = head_; c != nullptr; c = c->next_) c->hard_close();
}

void Net::mark_dirty(TcpConnection* c) {
  dirty_.push_back(c);
}

void Net::link(TcpConnection* c) {
  c->next_ = head_;
  if (head_) head_->prev_ = c;
  head_ = c;
  ++count_;
}

void Net::unlink(TcpConnection* c) {
  if (c->prev_) c->prev_->next_ = c->next_;
  if (c->next_) c->next_->prev_ = c->prev_;
  if (head_ == c) head_ = c->next_;
  c->prev_ = c->next_ = nullptr;
  --count_;
}

void Net::on_check(uv_check_t* h) {
  auto* self = static_cast<Net*>(h->data);
  // Flushing can make more connections dirty (on_drain pumps queues), so loop until quiet.
  while (!self->dirty_.empty()) {
    std::vector<TcpConnection*> batch;
    batch.swap(self->dirty_);
    for (auto* c : batch) {
      c->flush();  // closed connections leave dirty_ in their close callback, so c is alive
      if (c->closing_) c->end_mqtt();
    }
  }
}

Result<std::uint16_t, std::string> Net::listen(const std::string& name, const std::string& host,
                                               std::uint16_t port, ListenerLayers layers) {
  auto* l = new Listener{this, name, {}, nullptr};
  // A connection is released between idle_release_ms and that plus a quarter of the shortest one.
  if (layers.make && layers.idle_release_ms > 0)
    idle_period_ms_ =
        std::min(idle_period_ms_, std::clamp<std::uint64_t>(layers.idle_release_ms / 4, 10, 1000));
  if (layers.make) l->layered = std::make_shared<LayeredListener>(name, std::move(layers));
  uv_tcp_init(loop_, &l->handle);
  l->handle.data = l;
  auto bound = bind_and_listen(&l->handle, name, host, port, 1024, on_connection);
  if (!bound) {
    uv_close(reinterpret_cast<uv_handle_t*>(&l->handle),
             [](uv_handle_t* h) { delete static_cast<Listener*>(h->data); });
    return bound;
  }
  std::uint16_t actual = *bound;
  listeners_.push_back(l);
  return actual;
}

void Net::close_listeners() {
  for (auto* l : listeners_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&l->handle),
             [](uv_handle_t* h) { delete static_cast<Listener*>(h->data); });
  }
  listeners_.clear();
}

void Net::on_connection(uv_stream_t* server, int status) {
  auto* l = static_cast<Listener*>(server->data);
  Net* self = l->net;
  if (status < 0) {
    GW_LOG(Warn, "net", "accept on %s: %s", l->name.c_str(), uv_strerror(status));
    return;
  }
  auto* c = new TcpConnection(*self);
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(c->handle())) != 0) {
    c->hard_close();
    return;
  }
  // A hard cap on sockets protects file descriptors; the broker refuses CONNECTs past max_connections
  // with a reason code, and this cap leaves it room to do so.
  if (self->count_ >= self->broker_.limits().max_connections + 64) {
    self->broker_.stats().connections_refused++;
    c->hard_close();
    return;
  }
  std::optional<LayeredListener::Slot> slot;
  if (l->layered) {
    // close_oldest: the evicted connection's slot is already gone; it only has to close.
    slot = l->layered->admit([c] {
      c->layered_->slot.reset();
      c->net_.handshaking_.erase(c);
      GW_LOG(Debug, "net", "%s: %s: handshake closed to make room (close_oldest)",
             c->layered_->listener->name.c_str(), c->peer_.c_str());
      c->drop_layers();
    });
    if (!slot) {
      c->hard_close();
      return;
    }
  }
  self->link(c);
  if (l->layered) c->start_layers(l->layered, *slot);
  c->start();
}

}  // namespace gw::net
