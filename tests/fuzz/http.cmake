# Fuzzing for protocols/http and protocols/microgear: one libFuzzer target per decoder family (clang
# only), each built with its own instrumented copy of the gw_http and gw_microgear sources so coverage
# reaches the parsers (http-parser itself is Debian's uninstrumented library). For every compiler, a
# replay executable per target runs the checked-in corpus tests/fuzz/corpus/http/ under CTest.
#   CC=clang CXX=clang++ cmake -S . -B build/netpie-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
#   cmake --build build/netpie-fuzz --target http_request_fuzz
#   build/netpie-fuzz/tests/http_request_fuzz -max_total_time=300 /tmp/http-corpus tests/fuzz/corpus/http
set(_gw_http_fuzz_sources)
foreach(lib gw_http gw_microgear)
  get_target_property(_srcs ${lib} SOURCES)
  get_target_property(_dir ${lib} SOURCE_DIR)
  list(TRANSFORM _srcs PREPEND ${_dir}/)
  list(APPEND _gw_http_fuzz_sources ${_srcs})
endforeach()
find_library(HTTP_PARSER_LIB http_parser REQUIRED)
find_package(nlohmann_json REQUIRED)

foreach(target http_request_fuzz http_oauth_header_fuzz http_gearauth_fuzz)
  add_executable(${target}_replay ${CMAKE_CURRENT_LIST_DIR}/${target}.cpp ${CMAKE_CURRENT_LIST_DIR}/http_replay_fuzz.cpp)
  target_link_libraries(${target}_replay PRIVATE gw_microgear gw_http)
  gw_target_warnings(${target}_replay)
  add_test(NAME ${target}_corpus COMMAND ${target}_replay ${CMAKE_CURRENT_LIST_DIR}/corpus/http)
  set_tests_properties(${target}_corpus PROPERTIES LABELS fuzz)

  if(CMAKE_CXX_COMPILER_ID MATCHES Clang)
    add_executable(${target} ${CMAKE_CURRENT_LIST_DIR}/${target}.cpp ${_gw_http_fuzz_sources})
    target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR})
    target_compile_options(${target} PRIVATE -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer
                                             -fno-sanitize-recover=undefined)
    target_link_options(${target} PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_libraries(${target} PRIVATE ${HTTP_PARSER_LIB} gw_mbedcrypto nlohmann_json::nlohmann_json)
    gw_target_warnings(${target})
  endif()
endforeach()
