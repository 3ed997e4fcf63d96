# Unit tests for protocols/microgear: OAuth 1.0a and the NETPIE vectors, gearauth bodies, MQTT
# credentials and revoke codes, token generation, the OAuth2-style endpoints, the feed wire formats.
gw_unit_test(NAME microgear_unit_tests
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/microgear_oauth1_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/microgear_gearauth_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/microgear_credentials_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/microgear_oauth2_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/microgear_feed_format_test.cpp
  LIBS gw_microgear)
