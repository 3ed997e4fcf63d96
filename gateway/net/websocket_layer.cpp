// The WebSocket layer (see websocket_layer.hpp).
//
// State table (one machine; the HTTP parser and the frame decoder are its parts):
//   Upgrade --request accepted--------------> Open    (101 sent; bytes behind the request are frames)
//   Upgrade --request refused / malformed---> Done    (HTTP error sent, stack failed: socket closes)
//   Open    --Close from the peer-----------> Done    (Close echoed, socket closes after it)
//   Open    --bad frame---------------------> Done    (Close with the code sent, stack failed)
//   Open    --the protocol closes-----------> Done    (Close 1000 sent, then the socket closes)
//   Upgrade --the protocol closes-----------> Done    (nothing to say: the socket closes)
#include "gateway/net/websocket_layer.hpp"

#include <string_view>
#include <utility>

#include "protocols/http/response.hpp"

namespace gw::net {

namespace {

// Reads are copied once into this buffer because the decoder unmasks in place and the layer below hands
// out read-only bytes. One buffer for the loop: a layer's from_below never runs inside another's (each is
// called from its own socket's read), and when it would, the guard falls back to a local buffer.
struct Scratch {
  std::string buf;
  bool busy = false;
};
Scratch& scratch() {
  static Scratch s;
  return s;
}

class WebSocketLayer final : public Layer {
 public:
  explicit WebSocketLayer(std::shared_ptr<const WebSocketOptions> options)
      : options_(std::move(options)),
        parser_(std::make_unique<http::RequestParser>(options_->request)),
        decoder_(websocket::Role::Server, options_->frames) {}

  void from_below(std::string_view bytes) override {
    if (state_ == State::Upgrade) {
      const http::FeedResult r = parser_->feed(bytes);
      switch (r.status) {
        case http::ParseStatus::NeedMore:
          return;
        case http::ParseStatus::Error:
        case http::ParseStatus::Closed: {  // Closed cannot happen before a first request; treated alike
          const http::Error& e = parser_->error();
          refuse(http::text_response(e.status, std::string(e.what) + "\n", true), e.what);
          return;
        }
        case http::ParseStatus::Complete:
          break;
      }
      const http::Request req = parser_->take_request();
      parser_.reset();  // an open connection keeps no HTTP state
      websocket::HandshakeResult h = websocket::accept_upgrade(req, options_->handshake);
      if (!h.ok) {
        refuse(h.response, h.what);
        return;
      }
      describe_ = "WebSocket " + h.accepted.path + (h.accepted.subprotocol.empty() ? "" : " ") +
                  h.accepted.subprotocol;
      state_ = State::Open;
      deliver_down(http::to_string(h.response));
      bytes.remove_prefix(r.consumed);
      if (bytes.empty()) return;
    }
    if (state_ != State::Open) return;
    Scratch& s = scratch();
    std::string local;
    std::string& buf = s.busy ? local : s.buf;
    const bool owner = !s.busy;
    s.busy = true;
    buf.assign(bytes);
    decode(buf);
    if (owner) {
      s.busy = false;
      if (s.buf.capacity() > 256 * 1024) std::string().swap(s.buf);  // keep no burst's worth
    }
  }

  void from_above(std::string_view bytes) override {
    // Before the upgrade the protocol has heard nothing, so it has nothing to say; after Done, nothing may.
    if (state_ != State::Open) return;
    std::string frame;
    frame.reserve(websocket::frame_header_size(bytes.size(), false) + bytes.size());
    websocket::write_frame_header(frame, websocket::Opcode::Binary, bytes.size());
    frame.append(bytes);
    deliver_down(frame);
  }

  void close() override {
    if (state_ == State::Open) {
      std::string frame;
      websocket::write_close(frame, websocket::kCloseNormal);
      deliver_down(frame);
    }
    state_ = State::Done;
    close_below();
  }

  bool opening() const override { return state_ == State::Upgrade; }
  std::string describe() const override { return describe_; }

 private:
  enum class State { Upgrade, Open, Done };

  void refuse(const http::Response& response, const char* what) {
    state_ = State::Done;
    deliver_down(http::to_string(response));
    fail(std::string("WebSocket upgrade refused (") + std::to_string(response.status) + "): " + what);
  }

  void decode(std::string& buf) {
    std::span<char> rest(buf.data(), buf.size());
    while (state_ == State::Open) {
      const websocket::Event e = decoder_.next(rest);
      rest = rest.subspan(e.consumed);
      switch (e.kind) {
        case websocket::Event::Kind::NeedMore:
          return;
        case websocket::Event::Kind::Data:
          deliver_up(e.payload);  // MQTT 5.0 §6.0: frame boundaries mean nothing to MQTT
          break;
        case websocket::Event::Kind::Ping: {  // RFC 6455 §5.5.2: answer with the same data
          std::string pong;
          websocket::write_frame(pong, websocket::Opcode::Pong, e.payload);
          deliver_down(pong);
          break;
        }
        case websocket::Event::Kind::Pong:
          break;
        case websocket::Event::Kind::Close: {
          // RFC 6455 §5.5.1: answer with a Close (echoing the code), then the server closes TCP first.
          state_ = State::Done;
          std::string frame;
          websocket::write_close(frame, e.code);
          deliver_down(frame);
          close_below();
          return;
        }
        case websocket::Event::Kind::Error: {
          state_ = State::Done;
          std::string frame;
          websocket::write_close(frame, e.code, e.what);
          deliver_down(frame);
          fail(std::string("WebSocket close ") + std::to_string(e.code) + ": " + e.what);
          return;
        }
      }
    }
  }

  std::shared_ptr<const WebSocketOptions> options_;
  State state_ = State::Upgrade;
  std::unique_ptr<http::RequestParser> parser_;  // only until the upgrade is answered
  websocket::Decoder decoder_;
  std::string describe_;
};

}  // namespace

std::unique_ptr<Layer> make_websocket_layer(std::shared_ptr<const WebSocketOptions> options) {
  return std::make_unique<WebSocketLayer>(std::move(options));
}

}  // namespace gw::net
