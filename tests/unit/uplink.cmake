# Unit tests of the cloud uplink's pure cores, all on a manual clock: the MQTT client session
# (protocols/mqtt/client_session), the backoff and the microgear token flow (protocols/uplink).
# protocols/CMakeLists.txt builds only the folders it lists; until it lists uplink, the library is
# added from here so that the tests build either way.
if(NOT TARGET gw_uplink_core)
  add_subdirectory(${PROJECT_SOURCE_DIR}/protocols/uplink ${PROJECT_BINARY_DIR}/protocols/uplink)
endif()

gw_unit_test(NAME mqtt_client_session_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/mqtt_client_session_test.cpp
  LIBS gw_mqtt)

gw_unit_test(NAME uplink_unit_tests
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/uplink_backoff_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/uplink_token_flow_test.cpp
  LIBS gw_uplink_core)
