# MQTT codec fuzzing. Under clang: a libFuzzer target, mqtt_decode_fuzz, built with its own instrumented
# copy of the codec sources so coverage reaches the decoder. With any compiler: mqtt_corpus_replay runs
# the same check over tests/fuzz/corpus/mqtt/ and is registered with CTest.
#   CC=clang CXX=clang++ cmake -S . -B build/fuzz -G Ninja && cmake --build build/fuzz --target mqtt_decode_fuzz
#   build/fuzz/tests/mqtt_decode_fuzz -max_total_time=300 /tmp/mqtt-corpus tests/fuzz/corpus/mqtt
get_target_property(_gw_mqtt_sources gw_mqtt SOURCES)
get_target_property(_gw_mqtt_dir gw_mqtt SOURCE_DIR)
list(TRANSFORM _gw_mqtt_sources PREPEND ${_gw_mqtt_dir}/)

add_executable(mqtt_corpus_replay ${CMAKE_CURRENT_LIST_DIR}/mqtt_decode_fuzz.cpp)
target_compile_definitions(mqtt_corpus_replay PRIVATE GW_FUZZ_REPLAY)
target_link_libraries(mqtt_corpus_replay PRIVATE gw_mqtt)
gw_target_warnings(mqtt_corpus_replay)
add_test(NAME mqtt_corpus_replay COMMAND mqtt_corpus_replay ${CMAKE_CURRENT_LIST_DIR}/corpus/mqtt)
set_tests_properties(mqtt_corpus_replay PROPERTIES LABELS fuzz)

if(CMAKE_CXX_COMPILER_ID MATCHES Clang)
  add_executable(mqtt_decode_fuzz ${CMAKE_CURRENT_LIST_DIR}/mqtt_decode_fuzz.cpp ${_gw_mqtt_sources})
  target_include_directories(mqtt_decode_fuzz PRIVATE ${PROJECT_SOURCE_DIR})
  target_compile_options(mqtt_decode_fuzz PRIVATE -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer)
  target_link_options(mqtt_decode_fuzz PRIVATE -fsanitize=fuzzer,address,undefined)
  gw_target_warnings(mqtt_decode_fuzz)
endif()
