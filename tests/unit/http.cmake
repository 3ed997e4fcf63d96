# Unit tests for protocols/http: percent-encoding, the request parser, responses, CORS, Basic auth.
gw_unit_test(NAME http_unit_tests
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/http_url_encoding_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/http_request_parser_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/http_response_test.cpp
  LIBS gw_http)
