# MQTT codec unit tests: spec vectors for every packet type and level, rejections with their reason
# codes, framing, encode/decode round trips, topics and UTF-8.
gw_unit_test(NAME mqtt_codec_test
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/mqtt_decode_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/mqtt_reject_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/mqtt_encode_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/mqtt_frame_test.cpp
  LIBS gw_mqtt)

gw_unit_test(NAME mqtt_topic_test
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/mqtt_topic_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/mqtt_utf8_test.cpp
  LIBS gw_mqtt)
