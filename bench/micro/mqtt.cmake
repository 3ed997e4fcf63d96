# Micro-benchmarks for the MQTT codec (decode/encode per packet type, fan-out encoder, topic matching).
#   cmake --build build/dev --target mqtt_codec_bench && build/dev/bench/mqtt_codec_bench
if(GW_BUILD_BENCH)
  find_package(benchmark REQUIRED)
  add_executable(mqtt_codec_bench ${CMAKE_CURRENT_LIST_DIR}/mqtt_codec_bench.cpp)
  target_link_libraries(mqtt_codec_bench PRIVATE gw_mqtt benchmark::benchmark)
  gw_target_warnings(mqtt_codec_bench)
endif()
