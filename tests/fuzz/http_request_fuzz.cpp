// libFuzzer target for gw::http::RequestParser. The first input byte picks the limits and a chunk
// size; the rest is fed twice — whole and in chunks — and both runs must produce the same requests
// and end the same way (a differential check of the incremental paths). Any request that comes
// out is also routed through the helpers a front end would call on it.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocols/http/basic_auth.hpp"
#include "protocols/http/request_parser.hpp"
#include "protocols/http/response.hpp"

namespace {

using gw::http::FeedResult;
using gw::http::ParseStatus;
using gw::http::Request;
using gw::http::RequestParser;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void summarise(const Request& r, std::string& out) {
  out += r.method + '\n' + r.target + '\n' + r.path + '\n' + r.query + '\n' + r.authority + '\n';
  for (const auto& h : r.headers.all()) out += h.name + ':' + h.value + '\n';
  out += r.body + '\n' + std::to_string(r.version_minor) + (r.keep_alive ? "K" : "-") +
         (r.upgrade ? "U" : "-") + (r.chunked ? "C" : "-") + (r.version_repaired ? "R" : "-") + '\n';
  // Exercise what a front end does with a request.
  (void)gw::http::request_credentials(r);
  (void)gw::http::path_segments(r.path);
  (void)gw::http::is_cors_preflight(r);
  (void)gw::http::to_string(gw::http::cors_preflight_response(r, {}));
}

std::string run(std::string_view data, const gw::http::Limits& limits, std::size_t chunk) {
  RequestParser p(limits);
  std::string out;
  int requests = 0;
  while (true) {
    std::string_view piece = data.substr(0, chunk);
    const FeedResult r = p.feed(piece);
    check(r.consumed <= piece.size());
    data.remove_prefix(r.consumed);
    if (r.status == ParseStatus::Complete) {
      (void)p.take_continue();
      summarise(p.take_request(), out);
      check(++requests <= 100000);
      continue;
    }
    if (r.status == ParseStatus::Error) {
      // Only the kind is compared: input that is both over a limit and malformed may be reported as
      // 431 or 400 depending on when http-parser hands over a partial header value.
      const int status = p.error().status;
      check(status == 400 || status == 413 || status == 414 || status == 431 || status == 505);
      return out + "error";
    }
    if (r.status == ParseStatus::Closed) return out + "closed";
    check(r.consumed == piece.size());  // NeedMore consumes everything it was given
    if (data.empty()) return out + (p.in_progress() ? "partial" : "idle");
    (void)p.take_continue();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t sel = data[0];
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  gw::http::Limits limits;
  if (sel & 0x80) {  // small limits, to reach every limit error
    limits.max_url = 16 + (sel & 0x0F);
    limits.max_header_bytes = 32 + (sel & 0x30);
    limits.max_headers = 1 + (sel & 0x03);
    limits.max_body = (sel & 0x40) ? 0 : 9;
  }
  const std::size_t chunk = 1 + (sel & 0x07);
  const std::string whole = run(input, limits, input.size() + 1);
  const std::string pieces = run(input, limits, chunk);
  check(whole == pieces);
  return 0;
}
