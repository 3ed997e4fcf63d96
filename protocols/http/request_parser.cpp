// RequestParser (see request_parser.hpp for the state table). http-parser is re-initialised for every
// request and paused from on_message_complete, so each feed() stops exactly at a request boundary;
// limits are enforced in the callbacks, before anything unbounded is buffered.
#include "protocols/http/request_parser.hpp"

#include <climits>

namespace gw::http {
namespace {

// Longest method http-parser knows ("UNSUBSCRIBE", "MKCALENDAR") plus " HTTP/1.1\r\n" and spaces.
constexpr std::size_t kLineSlack = 32;
constexpr std::size_t kMaxMethod = 16;

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

}  // namespace

RequestParser::RequestParser(Limits limits) : limits_(limits) {
  http_parser_settings_init(&settings_);
  settings_.on_header_field = &RequestParser::on_header_field;
  settings_.on_header_value = &RequestParser::on_header_value;
  settings_.on_headers_complete = &RequestParser::on_headers_complete;
  settings_.on_body = &RequestParser::on_body;
  settings_.on_message_complete = &RequestParser::on_message_complete;
}

FeedResult RequestParser::fail(int status, const char* what, std::size_t consumed) {
  error_ = Error{status, what};
  state_ = State::Failed;
  return {ParseStatus::Error, consumed};
}

FeedResult RequestParser::feed(std::string_view bytes) {
  std::size_t used = 0;
  while (true) {
    switch (state_) {
      case State::Failed:
        return {ParseStatus::Error, used};
      case State::Closed:
        return {ParseStatus::Closed, used};
      case State::Ready:
        return {ParseStatus::Complete, used};
      case State::Line: {
        if (line_.empty()) {
          // RFC 9112 §2.2: ignore empty lines received before the request-line.
          while (used < bytes.size() && (bytes[used] == '\r' || bytes[used] == '\n')) ++used;
        }
        if (used == bytes.size()) return {ParseStatus::NeedMore, used};
        const std::string_view rest = bytes.substr(used);
        const std::size_t nl = rest.find('\n');
        const std::size_t take = nl == std::string_view::npos ? rest.size() : nl + 1;
        if (line_.size() + take > limits_.max_url + kLineSlack) {
          line_.append(rest.substr(0, kMaxMethod + 1));
          const bool has_method = line_.find(' ') <= kMaxMethod;
          line_.clear();
          return has_method ? fail(414, "request line too long", used)
                            : fail(400, "no method in request line", used);
        }
        line_.append(rest.substr(0, take));
        used += take;
        if (nl == std::string_view::npos) return {ParseStatus::NeedMore, used};
        const bool ok = start_message(line_);
        line_.clear();
        if (!ok) {
          state_ = State::Failed;
          return {ParseStatus::Error, used};
        }
        state_ = State::Message;
        break;
      }
      case State::Message: {
        const std::string_view rest = bytes.substr(used);
        if (rest.empty()) return {ParseStatus::NeedMore, used};
        used += http_parser_execute(&parser_, &settings_, rest.data(), rest.size());
        const auto err = HTTP_PARSER_ERRNO(&parser_);
        if (err == HPE_PAUSED) {
          http_parser_pause(&parser_, 0);
          state_ = State::Ready;
          return {ParseStatus::Complete, used};
        }
        if (callback_failed_) {
          state_ = State::Failed;
          return {ParseStatus::Error, used};
        }
        if (err == HPE_HEADER_OVERFLOW) return fail(431, "header section too large", used);
        if (err != HPE_OK) return fail(400, http_errno_description(err), used);
        return {ParseStatus::NeedMore, used};
      }
    }
  }
}

bool RequestParser::start_message(std::string_view line) {
  req_ = Request{};
  header_bytes_ = 0;
  in_value_ = false;
  callback_failed_ = false;
  continue_pending_ = false;

  if (ends_with(line, "\n")) line.remove_suffix(1);
  if (ends_with(line, "\r")) line.remove_suffix(1);
  std::string fixed(line);
  // ESP8266-RTOS writes "POST /api/rtoken HTTP 1.1" (docs/netpie-protocol.md §3.2); repair only that exact
  // form.
  if (ends_with(fixed, " HTTP 1.1") || ends_with(fixed, " HTTP 1.0")) {
    fixed[fixed.size() - 4] = '/';
    req_.version_repaired = true;
  }
  const std::string_view l = fixed;
  const std::size_t sp1 = l.find(' ');
  const std::size_t sp2 = l.rfind(' ');
  if (sp1 == std::string_view::npos || sp1 == 0 || sp1 == sp2) {
    error_ = Error{400, "malformed request line"};
    return false;
  }
  const std::string_view target = l.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = l.substr(sp2 + 1);
  if (target.size() > limits_.max_url) {
    error_ = Error{414, "request target too long"};
    return false;
  }
  // RFC 9112 §2.3: HTTP-version = "HTTP/" DIGIT "." DIGIT.
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || !is_digit(version[5]) || version[6] != '.' ||
      !is_digit(version[7])) {
    error_ = Error{400, "malformed HTTP version"};
    return false;
  }
  if (version[5] != '1') {
    error_ = Error{505, "only HTTP/1.x is supported"};
    return false;
  }
  req_.method = std::string(l.substr(0, sp1));
  req_.target = std::string(target);
  req_.version_minor = version[7] - '0';
  split_target();

  http_parser_init(&parser_, HTTP_REQUEST);
  parser_.data = this;
  fixed.append("\r\n");
  http_parser_execute(&parser_, &settings_, fixed.data(), fixed.size());
  const auto err = HTTP_PARSER_ERRNO(&parser_);
  if (err != HPE_OK) {
    error_ = Error{400, http_errno_description(err)};
    return false;
  }
  return true;
}

void RequestParser::split_target() {
  std::string_view t = req_.target;
  std::string_view rest;
  if (!t.empty() && t.front() == '/') {
    rest = t;  // origin-form
  } else if (t == "*") {
    // assign(count, ch) rather than a string literal: GCC 12 at -O3 reports a false -Wrestrict
    // (GCC bug 105329) for std::string::operator=(const char*) inlined here.
    req_.path.assign(1, '*');  // asterisk-form (OPTIONS *)
    return;
  } else if (const std::size_t s = t.find("://"); s != std::string_view::npos && s > 0) {
    const std::string_view after = t.substr(s + 3);  // absolute-form (requests through a proxy)
    const std::size_t end = after.find_first_of("/?#");
    req_.authority = std::string(after.substr(0, end));
    rest = end == std::string_view::npos ? std::string_view{} : after.substr(end);
  } else {
    req_.authority = std::string(t);  // authority-form (CONNECT host:port)
    return;
  }
  const std::size_t hash = rest.find('#');
  if (hash != std::string_view::npos) rest = rest.substr(0, hash);
  const std::size_t q = rest.find('?');
  req_.path = std::string(rest.substr(0, q));
  if (req_.path.empty()) req_.path.assign(1, '/');
  if (q != std::string_view::npos) {
    req_.query = std::string(rest.substr(q + 1));
    req_.query_params = parse_query(req_.query);
  }
}

int RequestParser::on_header_field(http_parser* p, const char* at, std::size_t len) {
  auto* self = static_cast<RequestParser*>(p->data);
  Headers& h = self->req_.headers;
  if (self->in_value_ || h.empty()) {
    if (h.size() >= self->limits_.max_headers) {
      self->error_ = Error{431, "too many header lines"};
      self->callback_failed_ = true;
      return -1;
    }
    h.add({}, {});
    self->header_bytes_ += 4;  // ": " and CRLF
  }
  self->in_value_ = false;
  self->header_bytes_ += len;
  if (self->header_bytes_ > self->limits_.max_header_bytes) {
    self->error_ = Error{431, "header section too large"};
    self->callback_failed_ = true;
    return -1;
  }
  h.all().back().name.append(at, len);
  return 0;
}

int RequestParser::on_header_value(http_parser* p, const char* at, std::size_t len) {
  auto* self = static_cast<RequestParser*>(p->data);
  Headers& h = self->req_.headers;
  if (h.empty()) h.add({}, {});
  self->in_value_ = true;
  self->header_bytes_ += len;
  if (self->header_bytes_ > self->limits_.max_header_bytes) {
    self->error_ = Error{431, "header section too large"};
    self->callback_failed_ = true;
    return -1;
  }
  h.all().back().value.append(at, len);
  return 0;
}

int RequestParser::on_headers_complete(http_parser* p) {
  auto* self = static_cast<RequestParser*>(p->data);
  Request& r = self->req_;
  for (Header& h : r.headers.all()) {
    const std::string_view v = trim(h.value);
    if (v.size() != h.value.size()) h.value = std::string(v);
  }
  r.chunked = (p->flags & F_CHUNKED) != 0;
  // Refuse an announced body that is too large before any of it arrives.
  if (!r.chunked && p->content_length != ULLONG_MAX && p->content_length > self->limits_.max_body) {
    self->error_ = Error{413, "Content-Length over the body limit"};
    self->callback_failed_ = true;
    return -1;
  }
  // RFC 9110 §10.1.1: only an HTTP/1.1 client waits for 100 Continue.
  self->continue_pending_ = r.version_minor >= 1 && iequals(r.headers.get("Expect"), "100-continue");
  return 0;
}

int RequestParser::on_body(http_parser* p, const char* at, std::size_t len) {
  auto* self = static_cast<RequestParser*>(p->data);
  if (self->req_.body.size() + len > self->limits_.max_body) {
    self->error_ = Error{413, "body over the limit"};
    self->callback_failed_ = true;
    return -1;
  }
  self->req_.body.append(at, len);
  return 0;
}

int RequestParser::on_message_complete(http_parser* p) {
  auto* self = static_cast<RequestParser*>(p->data);
  self->req_.keep_alive = http_should_keep_alive(p) != 0;
  self->req_.upgrade = p->upgrade != 0;
  self->continue_pending_ = false;
  http_parser_pause(p, 1);  // stop at the request boundary (pipelining)
  return 0;
}

Request RequestParser::take_request() {
  if (state_ != State::Ready) return Request{};
  Request out = std::move(req_);
  req_ = Request{};
  state_ = (out.keep_alive && !out.upgrade) ? State::Line : State::Closed;
  return out;
}

bool RequestParser::take_continue() {
  const bool r = continue_pending_ && state_ == State::Message;
  continue_pending_ = false;
  return r;
}

bool RequestParser::in_progress() const {
  return state_ == State::Message || (state_ == State::Line && !line_.empty());
}

}  // namespace gw::http
