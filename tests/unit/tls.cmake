# TLS: the certificates of tests/tls/make-test-ca.sh are made once per build tree by a CTest fixture
# (`tls_test_ca`), which every test here requires; the directory reaches the tests as GW_TEST_CA_DIR.
set(GW_TEST_CA_DIR ${CMAKE_BINARY_DIR}/tls-test-ca)
add_test(NAME tls_test_ca COMMAND sh ${PROJECT_SOURCE_DIR}/tests/tls/make-test-ca.sh ${GW_TEST_CA_DIR})
set_tests_properties(tls_test_ca PROPERTIES FIXTURES_SETUP tls_test_ca LABELS unit)

# gw_tls_test(NAME name [LABEL label] SOURCES ... LIBS ...): like gw_unit_test (label `unit` unless given),
# plus the fixture and the directory.
function(gw_tls_test)
  cmake_parse_arguments(T "" "NAME;LABEL" "SOURCES;LIBS" ${ARGN})
  if(NOT T_LABEL)
    set(T_LABEL unit)
  endif()
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main)
  target_compile_definitions(${T_NAME} PRIVATE GW_TEST_CA_DIR="${GW_TEST_CA_DIR}")
  gw_target_warnings(${T_NAME})
  gtest_discover_tests(${T_NAME} DISCOVERY_TIMEOUT 60
                       PROPERTIES LABELS ${T_LABEL} FIXTURES_REQUIRED tls_test_ca)
endfunction()

# TlsSession client against TlsSession server in memory.
gw_tls_test(NAME net_tls_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/net_tls_test.cpp
  LIBS gw_tls)

# The uplink's TcpClient with TLS and its HttpClient on a real loop, against an in-process server.
gw_tls_test(NAME uplink_tls_loop_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/uplink_tls_loop_test.cpp
  LIBS gw_uplink)

# Against peers we did not write: OpenSSL's s_server and s_client (tls_interop_test), and Debian's mosquitto
# with mosquitto_pub judging the generated certificates themselves (check_with_mosquitto.py).
gw_tls_test(NAME tls_interop_test LABEL integration
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/tls_interop_test.cpp
  LIBS gw_uplink)
add_test(NAME integration.tls_certs_mosquitto
         COMMAND python3 ${PROJECT_SOURCE_DIR}/tests/tls/check_with_mosquitto.py ${GW_TEST_CA_DIR})
set_tests_properties(integration.tls_certs_mosquitto PROPERTIES
                     LABELS integration FIXTURES_REQUIRED tls_test_ca TIMEOUT 120)
