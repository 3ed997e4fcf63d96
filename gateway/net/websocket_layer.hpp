// The WebSocket layer of the transport stack (layer.hpp): MQTT over WebSocket (MQTT 5.0 §6, MQTT 3.1.1 §6),
// on plain TCP (ws, port 8083) or above TLS (wss, 8084). It answers the HTTP upgrade (protocols/websocket
// handshake, bounded by the HTTP request parser's limits), then carries the protocol's bytes in binary frames
// both ways: what the peer sends, split into frames anyhow, goes up as one byte stream; what the protocol
// sends goes down as one frame per batch. Pings are answered, a Close is echoed and ends the connection, and
// bad input gets its close code (1002, 1003, 1007, 1009) or HTTP error before this connection alone closes.
#pragma once

#include <memory>
#include <string>

#include "gateway/net/layer.hpp"
#include "protocols/http/request_parser.hpp"
#include "protocols/websocket/frame.hpp"
#include "protocols/websocket/handshake.hpp"

namespace gw::net {

struct WebSocketOptions {
  websocket::ServerOptions handshake{{"/", "/mqtt"}, {"mqtt", "mqttv3.1"}};
  websocket::DecoderLimits frames;  // binary only (MQTT 5.0 §6.0), bounded frames and messages
  http::Limits request{.max_url = 1024, .max_header_bytes = 8192, .max_headers = 64, .max_body = 0};
};

// A new connection's WebSocket layer; the options are shared by every connection of the listener.
std::unique_ptr<Layer> make_websocket_layer(std::shared_ptr<const WebSocketOptions> options);

}  // namespace gw::net
