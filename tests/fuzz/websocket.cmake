# WebSocket codec fuzzing (protocols/websocket): websocket_frame_fuzz (the streaming frame decoder, whole
# against chunked, and re-framing) and websocket_handshake_fuzz (upgrade requests through the HTTP parser).
# Under clang each is a libFuzzer target built with its own instrumented copy of the codec sources; with any
# compiler a replay executable runs the checked-in corpus tests/fuzz/corpus/websocket/ under CTest.
#   CC=clang CXX=clang++ cmake -S . -B build/netpie-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
#   cmake --build build/netpie-fuzz --target websocket_frame_fuzz
#   build/netpie-fuzz/tests/websocket_frame_fuzz -runs=10000000 /tmp/ws-corpus tests/fuzz/corpus/websocket/frame
set(_gw_ws_fuzz_sources)
foreach(lib gw_websocket gw_http)
  get_target_property(_srcs ${lib} SOURCES)
  get_target_property(_dir ${lib} SOURCE_DIR)
  list(TRANSFORM _srcs PREPEND ${_dir}/)
  list(APPEND _gw_ws_fuzz_sources ${_srcs})
endforeach()

foreach(part frame handshake)
  set(target websocket_${part}_fuzz)
  add_executable(${target}_replay ${CMAKE_CURRENT_LIST_DIR}/${target}.cpp ${CMAKE_CURRENT_LIST_DIR}/http_replay_fuzz.cpp)
  target_link_libraries(${target}_replay PRIVATE gw_websocket)
  gw_target_warnings(${target}_replay)
  add_test(NAME ${target}_corpus COMMAND ${target}_replay ${CMAKE_CURRENT_LIST_DIR}/corpus/websocket/${part})
  set_tests_properties(${target}_corpus PROPERTIES LABELS fuzz)

  if(CMAKE_CXX_COMPILER_ID MATCHES Clang)
    add_executable(${target} ${CMAKE_CURRENT_LIST_DIR}/${target}.cpp ${_gw_ws_fuzz_sources})
    target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR})
    target_compile_options(${target} PRIVATE -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer
                                             -fno-sanitize-recover=undefined)
    target_link_options(${target} PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_libraries(${target} PRIVATE ${HTTP_PARSER_LIB} gw_mbedcrypto)
    gw_target_warnings(${target})
  endif()
endforeach()
