// The load generator's connection: TCP on libuv, MQTT framing through the project's codec, and batched
// writes (a non-blocking write first, a queued uv_write for the rest). Errors close the one connection
// and are reported to ClientEvents; nothing throws.
#include "bench/load/client.hpp"

#include <array>
#include <cstring>

#include "protocols/websocket/handshake.hpp"

namespace gw::bench {

namespace {
constexpr std::size_t kMaxPacket = 16 * 1024 * 1024;
}

IoLoop::IoLoop() {
  uv_loop_init(&loop_);
  uv_check_init(&loop_, &check_);
  check_.data = this;
  uv_check_start(&check_, on_check);
  uv_unref(reinterpret_cast<uv_handle_t*>(&check_));
}

IoLoop::~IoLoop() {
  close();
  uv_run(&loop_, UV_RUN_DEFAULT);
  uv_loop_close(&loop_);
}

void IoLoop::close() {
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&check_))) {
    uv_close(reinterpret_cast<uv_handle_t*>(&check_), nullptr);
  }
}

void IoLoop::on_check(uv_check_t* h) {
  auto* self = static_cast<IoLoop*>(h->data);
  if (self->before_flush_) self->before_flush_();
  self->flush_all();
}

void IoLoop::flush_all() {
  // Flushing may fail a connection, whose callbacks may send on others: loop until nothing is dirty.
  while (!dirty_.empty()) {
    std::vector<Client*> batch;
    batch.swap(dirty_);
    for (Client* c : batch) c->flush();
  }
}

Client::Client(IoLoop& io, ClientEvents& events, std::uint32_t index)
    : io_(io), events_(events), index_(index) {}

void Client::connect(const sockaddr* addr) {
  uv_tcp_init(io_.loop(), &tcp_);
  tcp_.data = this;
  connect_req_.data = this;
  int rc = uv_tcp_connect(&connect_req_, &tcp_, addr, on_connect);
  if (rc != 0) fail(uv_err_name(rc));
}

void Client::on_connect(uv_connect_t* req, int status) {
  auto* self = static_cast<Client*>(req->data);
  if (status != 0) {
    self->fail(uv_err_name(status));
    return;
  }
  if (self->closing_) return;
  self->open_ = true;
  uv_tcp_nodelay(&self->tcp_, 1);  // we batch ourselves; Nagle would only add delay
  uv_read_start(reinterpret_cast<uv_stream_t*>(&self->tcp_), on_alloc, on_read);
  if (self->io_.websocket) {
    self->ws_ = std::make_unique<Ws>();
    self->ws_->mask_state += self->index_;
    self->wire_ += websocket::client_request("127.0.0.1", "/mqtt", "netpie-bench-key", {"mqtt"});
    self->touch();
    return;  // on_open with the 101
  }
  if (self->io_.tls) {
    self->tls_ = std::make_unique<net::TlsSession>(self->io_.tls, "localhost");
    self->wire_ += self->tls_->take_cipher();  // the ClientHello
    self->touch();
    return;  // on_open once the handshake is done
  }
  self->events_.on_open(*self);
}

void Client::tls_read(mqtt::ByteView cipher) {
  const bool was_open = tls_->handshake_done();
  tls_->feed(std::string_view(reinterpret_cast<const char*>(cipher.data()), cipher.size()));
  wire_ += tls_->take_cipher();
  if (tls_->has_cipher() || !wire_.empty()) touch();
  if (tls_->state() == net::TlsSession::State::Failed) {
    tls_error_ = tls_->error();
    fail(tls_error_.c_str());
    return;
  }
  if (!was_open && tls_->handshake_done()) {
    events_.on_open(*this);
    if (closing_) return;
  }
  std::string plain = tls_->take_plain();
  if (!plain.empty())
    received(mqtt::ByteView(reinterpret_cast<const std::uint8_t*>(plain.data()), plain.size()));
  if (tls_->peer_closed()) fail("TLS close_notify from the broker");
}

void Client::ws_read(mqtt::ByteView bytes) {
  std::string buf(reinterpret_cast<const char*>(bytes.data()), bytes.size());  // unmasked in place
  std::span<char> rest(buf.data(), buf.size());
  if (!ws_->open) {
    ws_->head.append(buf);
    const std::size_t end = ws_->head.find("\r\n\r\n");
    if (end == std::string::npos) return;
    if (ws_->head.rfind("HTTP/1.1 101", 0) != 0) {
      fail("WebSocket upgrade refused");
      return;
    }
    ws_->open = true;
    const std::size_t after = end + 4 - (ws_->head.size() - buf.size());  // frames behind the answer
    ws_->head.clear();
    rest = rest.subspan(after);
    events_.on_open(*this);
    if (closing_) return;
  }
  while (!closing_) {
    const websocket::Event e = ws_->decoder.next(rest);
    rest = rest.subspan(e.consumed);
    switch (e.kind) {
      case websocket::Event::Kind::NeedMore:
        return;
      case websocket::Event::Kind::Data:
        received(mqtt::ByteView(reinterpret_cast<const std::uint8_t*>(e.payload.data()), e.payload.size()));
        break;
      case websocket::Event::Kind::Ping:
      case websocket::Event::Kind::Pong:
        break;
      case websocket::Event::Kind::Close:
        fail("WebSocket close from the broker");
        return;
      case websocket::Event::Kind::Error:
        fail(e.what);
        return;
    }
  }
}

void Client::on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) {
  auto* self = static_cast<Client*>(h->data);
  *buf = uv_buf_init(self->io_.read_buf_, sizeof self->io_.read_buf_);
}

void Client::on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  auto* self = static_cast<Client*>(s->data);
  if (n > 0) {
    auto bytes =
        mqtt::ByteView(reinterpret_cast<const std::uint8_t*>(buf->base), static_cast<std::size_t>(n));
    if (self->ws_) {
      self->ws_read(bytes);
    } else if (self->tls_) {
      self->tls_read(bytes);
    } else {
      self->received(bytes);
    }
    return;
  }
  if (n < 0) self->fail(n == UV_EOF ? "closed by the broker" : uv_err_name(static_cast<int>(n)));
}

void Client::received(mqtt::ByteView bytes) {
  // A packet split over reads: complete it from the front of this read (a few bytes at a time while
  // its length is unknown), hand it on, then parse the rest straight from the read buffer.
  while (!in_.empty() && !bytes.empty() && !closing_) {
    auto carried = mqtt::ByteView(reinterpret_cast<const std::uint8_t*>(in_.data()), in_.size());
    auto f = mqtt::parse_frame(carried, kMaxPacket);
    if (f.status == mqtt::FrameStatus::Error) {
      fail(f.error.what);
      return;
    }
    std::size_t want = f.header_len == 0 ? 1 : f.total() - in_.size();
    std::size_t take = want < bytes.size() ? want : bytes.size();
    in_.append(reinterpret_cast<const char*>(bytes.data()), take);
    bytes = bytes.subspan(take);
    if (f.header_len != 0 && in_.size() == f.total()) {
      std::string whole;
      whole.swap(in_);
      consume(mqtt::ByteView(reinterpret_cast<const std::uint8_t*>(whole.data()), whole.size()));
    }
  }
  if (!bytes.empty() && !closing_) consume(bytes);
}

void Client::consume(mqtt::ByteView data) {
  std::size_t off = 0;
  while (off < data.size() && !closing_) {
    auto frame = mqtt::parse_frame(data.subspan(off), kMaxPacket);
    if (frame.status == mqtt::FrameStatus::NeedMore) break;
    if (frame.status == mqtt::FrameStatus::Error) {
      fail(frame.error.what);
      return;
    }
    events_.on_packet(*this, frame.header, data.subspan(off + frame.header_len, frame.remaining));
    off += frame.total();
  }
  if (off < data.size() && !closing_) {
    in_.assign(reinterpret_cast<const char*>(data.data() + off), data.size() - off);
  }
}

void Client::touch() {
  if (!dirty_) {
    dirty_ = true;
    io_.dirty_.push_back(this);
  }
}

void Client::flush() {
  dirty_ = false;
  if (!open_ || closing_) return;
  if (tls_ && tls_->handshake_done() && !pending_.empty()) {
    tls_->write(pending_);  // one batch, few records
    pending_.clear();
    wire_ += tls_->take_cipher();
  }
  if (ws_ && ws_->open && !pending_.empty()) {
    // One masked frame per flush (RFC 6455 §5.3: a fresh key per frame; xorshift is enough for a bench).
    std::uint32_t& x = ws_->mask_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    const std::array<std::uint8_t, 4> mask{std::uint8_t(x), std::uint8_t(x >> 8), std::uint8_t(x >> 16),
                                           std::uint8_t(x >> 24)};
    websocket::write_frame(wire_, websocket::Opcode::Binary, pending_, true, &mask);
    pending_.clear();
  }
  std::string& out = (tls_ || ws_) ? wire_ : pending_;
  if (out.empty() || writing_active_) return;
  uv_buf_t b = uv_buf_init(out.data(), static_cast<unsigned>(out.size()));
  int n = uv_try_write(reinterpret_cast<uv_stream_t*>(&tcp_), &b, 1);
  if (n < 0 && n != UV_EAGAIN) {
    fail(uv_err_name(n));
    return;
  }
  if (n > 0) out.erase(0, static_cast<std::size_t>(n));
  if (out.empty()) return;
  writing_.swap(out);
  write_req_.data = this;
  uv_buf_t wb = uv_buf_init(writing_.data(), static_cast<unsigned>(writing_.size()));
  int rc = uv_write(&write_req_, reinterpret_cast<uv_stream_t*>(&tcp_), &wb, 1, on_write);
  if (rc != 0) {
    fail(uv_err_name(rc));
    return;
  }
  writing_active_ = true;
}

void Client::on_write(uv_write_t* req, int status) {
  auto* self = static_cast<Client*>(req->data);
  self->writing_active_ = false;
  self->writing_.clear();
  if (status != 0) {
    self->fail(uv_err_name(status));
    return;
  }
  if (!self->pending_.empty() || !self->wire_.empty()) self->touch();
}

void Client::fail(const char* why) {
  if (closing_) return;
  close_reason_ = why;
  close();
}

void Client::close() {
  if (closing_) return;
  closing_ = true;
  auto* h = reinterpret_cast<uv_handle_t*>(&tcp_);
  if (h->loop == nullptr) {  // never initialised
    closed_ = true;
    events_.on_closed(*this, close_reason_);
    return;
  }
  if (!uv_is_closing(h)) uv_close(h, on_close);
}

void Client::on_close(uv_handle_t* h) {
  auto* self = static_cast<Client*>(h->data);
  self->closed_ = true;
  self->open_ = false;
  self->events_.on_closed(*self, self->close_reason_);
}

}  // namespace gw::bench
