# WebSocket codec unit tests (protocols/websocket): RFC 6455 vectors, masking, fragmentation, control frames,
# close codes, limits, the opening handshake on the HTTP parser, incremental UTF-8.
gw_unit_test(NAME websocket_codec_test
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/websocket_frame_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/websocket_handshake_test.cpp
  LIBS gw_websocket)

# The WebSocket layer of the transport stack over memory (gateway/net/websocket_layer.hpp).
gw_unit_test(NAME net_websocket_layer_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/net_websocket_layer_test.cpp
  LIBS gw_ws_layer)
