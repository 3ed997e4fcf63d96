# Unit tests for protocols/coap: the URI mapping of the CoAP front end.
gw_unit_test(NAME coap_unit_tests
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/coap_mapping_test.cpp
  LIBS gw_coap_mapping)
