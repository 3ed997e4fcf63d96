// HttpClient (http_client.hpp). One request at a time:
//   idle --start--> running --response complete | failure | timeout--> decided --next loop turn--> idle
// `decided` holds the outcome while a zero-delay timer carries it to `done`, so the callback never runs
// inside start() or inside a TcpClient callback, and the owner may destroy the client from it.
#include "gateway/uplink/http_client.hpp"

#include <utility>

namespace gw::uplink {

struct HttpClient::Timer {
  uv_timer_t handle;
  HttpClient* owner;
};

HttpClient::HttpClient(uv_loop_t* loop, std::shared_ptr<const net::TlsClientContext> tls,
                       HttpClientOptions options)
    : tls_(std::move(tls)),
      options_(options),
      tcp_(loop, TcpClient::Callbacks{[this] { on_connected(); }, [this](std::string_view b) { on_data(b); },
                                      [this](const std::string& why) { on_closed(why); }}),
      timer_(new Timer{{}, this}) {
  uv_timer_init(loop, &timer_->handle);
  timer_->handle.data = timer_;
  http_parser_settings_init(&settings_);
  settings_.on_body = &HttpClient::on_body;
  settings_.on_headers_complete = &HttpClient::on_headers_complete;
  settings_.on_message_complete = &HttpClient::on_message_complete;
}

HttpClient::~HttpClient() {
  cancel();
  timer_->owner = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_->handle),
           [](uv_handle_t* h) { delete static_cast<Timer*>(h->data); });
}

void HttpClient::start(const HttpRequest& request, Done done) {
  if (busy() || !done) return;
  done_ = std::move(done);
  outcome_.reset();
  received_ = 0;
  body_.clear();
  complete_ = false;
  head_ = request.method == "HEAD";
  http_parser_init(&parser_, HTTP_RESPONSE);
  parser_.data = this;

  // RFC 9112 §3: request-line, then the header fields exactly as the token flow made them.
  request_bytes_ = request.method + " " + request.path + " HTTP/1.1\r\n";
  for (const auto& h : request.headers) request_bytes_ += h.name + ": " + h.value + "\r\n";
  request_bytes_ += "\r\n";
  request_bytes_ += request.body;

  if (request.tls && !tls_) {
    finish(unexpected(std::string("https requested but no TLS context is configured")));
    return;
  }
  tcp_.set_tls(request.tls ? tls_ : nullptr);
  uv_timer_start(
      &timer_->handle,
      [](uv_timer_t* t) {
        auto* self = static_cast<Timer*>(t->data)->owner;
        if (self && !self->outcome_)
          self->finish(unexpected("timeout after " + std::to_string(self->options_.timeout_ms) + " ms"));
      },
      static_cast<std::uint64_t>(options_.timeout_ms), 0);
  tcp_.connect(request.host, request.port);
}

void HttpClient::cancel() {
  uv_timer_stop(&timer_->handle);
  tcp_.close();
  outcome_.reset();
  done_ = nullptr;
}

void HttpClient::on_connected() {
  tcp_.write(request_bytes_);
}

void HttpClient::on_data(std::string_view bytes) {
  if (outcome_) return;
  received_ += bytes.size();
  if (received_ > options_.max_response_bytes) {
    finish(unexpected("response too large (over " + std::to_string(options_.max_response_bytes) + " bytes)"));
    return;
  }
  http_parser_execute(&parser_, &settings_, bytes.data(), bytes.size());
  if (complete_) {
    finish(HttpResponse{static_cast<int>(parser_.status_code), std::move(body_)});
    return;
  }
  const auto err = HTTP_PARSER_ERRNO(&parser_);
  if (err != HPE_OK) finish(unexpected(std::string("bad HTTP response: ") + http_errno_description(err)));
}

void HttpClient::on_closed(const std::string& why) {
  if (outcome_ || !done_) return;
  if (received_ > 0 && HTTP_PARSER_ERRNO(&parser_) == HPE_OK) {
    // End of input: completes a body delimited by the connection's close (RFC 9112 §6.3, rule 8).
    http_parser_execute(&parser_, &settings_, nullptr, 0);
    if (complete_) {
      finish(HttpResponse{static_cast<int>(parser_.status_code), std::move(body_)});
      return;
    }
  }
  if (received_ == 0) {
    finish(unexpected(why));
  } else {
    finish(unexpected("connection closed before the response was complete (" + why + ")"));
  }
}

void HttpClient::finish(Outcome outcome) {
  outcome_ = std::move(outcome);
  tcp_.close();
  uv_timer_start(
      &timer_->handle,
      [](uv_timer_t* t) {
        auto* self = static_cast<Timer*>(t->data)->owner;
        if (self) self->deliver();
      },
      0, 0);
}

void HttpClient::deliver() {
  if (!outcome_ || !done_) return;
  Outcome out = std::move(*outcome_);
  outcome_.reset();
  Done done = std::exchange(done_, nullptr);
  done(std::move(out));  // last: it may destroy this client
}

int HttpClient::on_body(http_parser* p, const char* at, std::size_t len) {
  static_cast<HttpClient*>(p->data)->body_.append(at, len);
  return 0;
}

int HttpClient::on_headers_complete(http_parser* p) {
  // 1 tells http-parser that no body follows (RFC 9110 §9.3.2: a response to HEAD has none).
  return static_cast<HttpClient*>(p->data)->head_ ? 1 : 0;
}

int HttpClient::on_message_complete(http_parser* p) {
  auto* self = static_cast<HttpClient*>(p->data);
  if (p->status_code >= 100 &&
      p->status_code < 200) {  // an interim response (RFC 9110 §15.2): the final one follows
    self->body_.clear();
    return 0;
  }
  self->complete_ = true;
  http_parser_pause(p, 1);  // ignore anything after the response
  return 0;
}

}  // namespace gw::uplink
