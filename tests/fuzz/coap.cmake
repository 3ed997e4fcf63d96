# Fuzzing for the CoAP front end's request path (gateway/coap/request.cpp, protocols/coap/mapping.cpp): a
# datagram through libcoap's parser into the URI mapping. The replay of tests/fuzz/corpus/coap runs in CTest
# with any compiler; the libFuzzer build needs clang:
#   CC=clang CXX=clang++ cmake -S . -B build/netpie-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
#   cmake --build build/netpie-fuzz --target coap_request_fuzz
#   build/netpie-fuzz/tests/coap_request_fuzz -runs=10000000 /tmp/coap-corpus tests/fuzz/corpus/coap
add_executable(coap_request_fuzz_replay ${CMAKE_CURRENT_LIST_DIR}/coap_request_fuzz.cpp
                                        ${CMAKE_CURRENT_LIST_DIR}/http_replay_fuzz.cpp)
target_link_libraries(coap_request_fuzz_replay PRIVATE gw_coap)
gw_target_warnings(coap_request_fuzz_replay)
add_test(NAME coap_request_fuzz_corpus COMMAND coap_request_fuzz_replay ${CMAKE_CURRENT_LIST_DIR}/corpus/coap)
set_tests_properties(coap_request_fuzz_corpus PROPERTIES LABELS fuzz)

if(CMAKE_CXX_COMPILER_ID MATCHES Clang)
  get_target_property(_coap_srcs gw_coap_mapping SOURCES)
  list(TRANSFORM _coap_srcs PREPEND ${PROJECT_SOURCE_DIR}/protocols/coap/)
  add_executable(coap_request_fuzz ${CMAKE_CURRENT_LIST_DIR}/coap_request_fuzz.cpp
                                   ${PROJECT_SOURCE_DIR}/gateway/coap/request.cpp ${_coap_srcs})
  target_include_directories(coap_request_fuzz PRIVATE ${PROJECT_SOURCE_DIR})
  target_compile_options(coap_request_fuzz PRIVATE -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer
                                                   -fno-sanitize-recover=undefined)
  target_link_options(coap_request_fuzz PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(coap_request_fuzz PRIVATE gw_http gw_mqtt PkgConfig::LIBCOAP)
  gw_target_warnings(coap_request_fuzz)
endif()
