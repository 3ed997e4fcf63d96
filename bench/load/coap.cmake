# netpie-coap-bench: the CoAP load generator (bench/load/coap_bench.cpp; bench/coap.sh runs it against a
# netpie-edge it starts). One libuv loop, one UDP socket per CoAP endpoint, raw datagrams; the MQTT side uses
# the load generator's client (client.cpp) and the project's codec.
add_executable(netpie-coap-bench ${CMAKE_CURRENT_LIST_DIR}/coap_bench.cpp ${CMAKE_CURRENT_LIST_DIR}/client.cpp)
target_include_directories(netpie-coap-bench PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(netpie-coap-bench PRIVATE gw_mqtt gw_tls gw_websocket PkgConfig::LIBUV)
gw_target_warnings(netpie-coap-bench)

# netpie-coap-floor: libcoap's own memory per server session (bench/load/coap_session_floor.cpp).
add_executable(netpie-coap-floor ${CMAKE_CURRENT_LIST_DIR}/coap_session_floor.cpp)
target_link_libraries(netpie-coap-floor PRIVATE PkgConfig::LIBCOAP)
gw_target_warnings(netpie-coap-floor)
