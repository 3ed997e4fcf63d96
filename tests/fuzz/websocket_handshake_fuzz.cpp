// libFuzzer target for the WebSocket opening handshake: arbitrary bytes through the HTTP request parser, each
// complete request through accept_upgrade (protocols/websocket/handshake.hpp). An accepted upgrade must carry
// a 16-byte key, the Accept header computed from it and a sub-protocol the client offered; a refusal must be
// one of the statuses the listener answers, with Connection: close. Replayed in CTest with
// tests/fuzz/http_replay_fuzz.cpp.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocols/http/request_parser.hpp"
#include "protocols/http/response.hpp"
#include "protocols/websocket/handshake.hpp"

namespace {

using namespace gw;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const websocket::ServerOptions options{{"/", "/mqtt"}, {"mqtt", "mqttv3.1"}};
  std::string_view input(reinterpret_cast<const char*>(data), size);
  http::RequestParser parser;
  for (int requests = 0; requests < 64 && !input.empty(); ++requests) {
    const http::FeedResult r = parser.feed(input);
    input.remove_prefix(r.consumed);
    if (r.status != http::ParseStatus::Complete) break;
    const http::Request req = parser.take_request();
    const websocket::HandshakeResult h = websocket::accept_upgrade(req, options);
    const std::string wire = http::to_string(h.response);
    if (h.ok) {
      check(h.response.status == 101);
      check(req.method == "GET" && (req.path == "/" || req.path == "/mqtt"));
      const std::string_view accept = h.response.headers.get("Sec-WebSocket-Accept");
      check(accept.size() == 28);
      check(h.accepted.subprotocol.empty() || h.accepted.subprotocol == "mqtt" ||
            h.accepted.subprotocol == "mqttv3.1");
      if (!req.headers.has("Sec-WebSocket-Protocol")) check(h.accepted.subprotocol.empty());
    } else {
      const int s = h.response.status;
      check(s == 400 || s == 404 || s == 405 || s == 426);
      check(h.response.close);
      check(wire.find("Connection: close\r\n") != std::string::npos);
    }
  }
  return 0;
}
