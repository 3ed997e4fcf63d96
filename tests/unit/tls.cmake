# TLS: the certificates of tests/tls/make-test-ca.sh are made once per build tree by a CTest fixture
# (`tls_test_ca`), which every test here requires; the directory reaches the tests as GW_TEST_CA_DIR.
set(GW_TEST_CA_DIR ${CMAKE_BINARY_DIR}/tls-test-ca)
add_test(NAME tls_test_ca COMMAND sh ${PROJECT_SOURCE_DIR}/tests/tls/make-test-ca.sh ${GW_TEST_CA_DIR})
set_tests_properties(tls_test_ca PROPERTIES FIXTURES_SETUP tls_test_ca LABELS unit)

# gw_tls_test(NAME name SOURCES ... LIBS ...): like gw_unit_test, plus the fixture and the directory.
function(gw_tls_test)
  cmake_parse_arguments(T "" "NAME" "SOURCES;LIBS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main)
  target_compile_definitions(${T_NAME} PRIVATE GW_TEST_CA_DIR="${GW_TEST_CA_DIR}")
  gw_target_warnings(${T_NAME})
  gtest_discover_tests(${T_NAME} DISCOVERY_TIMEOUT 60
                       PROPERTIES LABELS unit FIXTURES_REQUIRED tls_test_ca)
endfunction()

# TlsSession client against TlsSession server in memory.
gw_tls_test(NAME net_tls_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/net_tls_test.cpp
  LIBS gw_tls)

# The uplink's TcpClient with TLS and its HttpClient on a real loop, against an in-process server.
gw_tls_test(NAME uplink_tls_loop_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/uplink_tls_loop_test.cpp
  LIBS gw_uplink)
