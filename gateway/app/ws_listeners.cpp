// The layers of a ws listener (see ws_listeners.hpp).
#include "gateway/app/ws_listeners.hpp"

#include <memory>
#include <utility>

#include "gateway/net/websocket_layer.hpp"

namespace gw::app {

net::ListenerLayers websocket_layers(const config::WebSocket& ws, net::ListenerLayers below) {
  auto options = std::make_shared<net::WebSocketOptions>();
  options->frames.max_frame_bytes = ws.max_frame_bytes;
  options->frames.max_message_bytes = ws.max_message_bytes;
  options->request.max_header_bytes = ws.max_header_bytes;
  net::ListenerLayers out = std::move(below);
  out.protocol = out.make ? "wss" : "ws";  // TLS below: wss
  out.make = [under = std::move(out.make), shared = std::shared_ptr<const net::WebSocketOptions>(options)] {
    std::vector<std::unique_ptr<net::Layer>> layers;
    if (under) layers = under();
    layers.push_back(net::make_websocket_layer(shared));
    return layers;
  };
  return out;
}

}  // namespace gw::app
