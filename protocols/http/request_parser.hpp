// Incremental, bounded HTTP/1.1 request parser over Debian's http-parser 2.9. Bytes in, one complete
// Request (or an Error carrying the status to answer) out; no socket, no clock. The request line is
// read here first so that ESP8266-RTOS's "POST /api/rtoken HTTP 1.1" can be repaired before
// http-parser sees it (docs/netpie-protocol.md §3.2, §11.3); everything after it is http-parser's job.
//
// State table (one transition function: feed()):
//   Line     --line ends, valid------------> Message   (request line handed to http-parser)
//   Line     --line too long / invalid-----> Failed
//   Message  --http-parser: message done---> Ready     (feed returns Complete)
//   Message  --limit hit / parse error-----> Failed    (feed returns Error, error() says which status)
//   Ready    --take_request(), keep-alive--> Line
//   Ready    --take_request(), close/upgr.-> Closed    (feed returns Closed, consumes nothing)
//   Failed, Closed: terminal.
#pragma once

#include <http_parser.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "protocols/http/request.hpp"

namespace gw::http {

struct Limits {
  std::size_t max_url = 4096;           // request-target bytes; more -> 414
  std::size_t max_header_bytes = 8192;  // sum over header lines of name + value + 4; more -> 431
  std::size_t max_headers = 64;         // header lines; more -> 431
  std::size_t max_body = 64 * 1024;     // decoded body bytes; more (or a larger Content-Length) -> 413
};

struct Error {
  int status = 400;       // 400, 413, 414, 431 or 505: what to answer before closing
  const char* what = "";  // static text for logs
};

enum class ParseStatus {
  NeedMore,  // every byte consumed; feed more
  Complete,  // a request is ready: take_request(); bytes after `consumed` are not yet parsed
  Error,     // error() tells the status; send it with Connection: close and stop reading
  Closed,    // the previous request ended the connection (close or upgrade); nothing consumed
};

struct FeedResult {
  ParseStatus status = ParseStatus::NeedMore;
  std::size_t consumed = 0;  // bytes of the fed span that were used
};

class RequestParser {
 public:
  explicit RequestParser(Limits limits = {});
  RequestParser(const RequestParser&) = delete;  // http-parser keeps a pointer back to us
  RequestParser& operator=(const RequestParser&) = delete;

  // Parses as much of `bytes` as belongs to the current request. Stops right after a complete
  // request, so pipelined requests come out one per call: feed the unconsumed rest again after
  // take_request(). While a request is waiting to be taken, returns Complete with consumed == 0.
  FeedResult feed(std::string_view bytes);

  // Moves the completed request out. Only valid after feed() returned Complete.
  Request take_request();

  // True once per request whose headers asked "Expect: 100-continue" and were accepted (body
  // size within limits); the caller may then send kContinueResponse (response.hpp).
  bool take_continue();

  // A request has started but is not complete (useful to choose 408 versus a silent close).
  bool in_progress() const;
  const Error& error() const { return error_; }

 private:
  enum class State { Line, Message, Ready, Closed, Failed };

  FeedResult fail(int status, const char* what, std::size_t consumed);
  bool start_message(std::string_view line);  // false -> error_ set
  void split_target();

  static int on_header_field(http_parser* p, const char* at, std::size_t len);
  static int on_header_value(http_parser* p, const char* at, std::size_t len);
  static int on_headers_complete(http_parser* p);
  static int on_body(http_parser* p, const char* at, std::size_t len);
  static int on_message_complete(http_parser* p);

  Limits limits_;
  State state_ = State::Line;
  http_parser parser_{};
  http_parser_settings settings_{};
  std::string line_;  // request line being collected
  Request req_;
  Error error_;
  std::size_t header_bytes_ = 0;
  bool in_value_ = false;  // last header callback was a value
  bool callback_failed_ = false;
  bool continue_pending_ = false;
};

}  // namespace gw::http
