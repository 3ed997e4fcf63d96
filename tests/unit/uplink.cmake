# Unit tests of the cloud uplink's pure cores, all on a manual clock: the MQTT client session
# (protocols/mqtt/client_session), the backoff and the microgear token flow (protocols/uplink).

gw_unit_test(NAME mqtt_client_session_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/mqtt_client_session_test.cpp
  LIBS gw_mqtt)

gw_unit_test(NAME uplink_unit_tests
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/uplink_backoff_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/uplink_token_flow_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/uplink_relay_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/uplink_connack_text_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/uplink_presence_table_test.cpp
  LIBS gw_uplink_core)
