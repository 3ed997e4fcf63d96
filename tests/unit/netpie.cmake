# Unit tests for the NETPIE local endpoint (gateway/netpie): the gearauth API with the docs/netpie-protocol.md §3.2
# and §6.1 vectors, the registry, rights and postboxes, the microgear broker extension and MQTT
# authenticator over in-memory transports, and the REST API; all with a manual clock. The HTTP server
# of gateway/net is tested over real loopback sockets.
gw_unit_test(NAME netpie_unit_tests
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/netpie_gearauth_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/netpie_microgear_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/netpie_rest_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/netpie_registry_test.cpp
  LIBS gw_netpie)

gw_unit_test(NAME net_http_server_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/net_http_server_test.cpp
  LIBS gw_net)

# The transport stack between socket and protocol, with toy layers over memory.
gw_unit_test(NAME net_layer_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/net_layer_test.cpp
  LIBS gw_net)
