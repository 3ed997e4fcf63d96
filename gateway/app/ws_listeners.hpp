// The layers of a listener of protocol ws: whatever the listener has below (TLS for wss) and then the
// WebSocket layer (gateway/net/websocket_layer.hpp) with the config's bounds, the paths / and /mqtt, and the
// sub-protocols mqtt and mqttv3.1 (MQTT 5.0 §6.0; mqttv3.1 is what the HTML5 microgear's Paho offers on its
// MQTT 3.1 fallback).
#pragma once

#include "gateway/config/config.hpp"
#include "gateway/net/layer.hpp"

namespace gw::app {

// `below`: the listener's layers under WebSocket (none for ws, TLS for wss); its handshake bound and
// deadline are kept and cover the WebSocket upgrade too.
net::ListenerLayers websocket_layers(const config::WebSocket& ws, net::ListenerLayers below);

}  // namespace gw::app
