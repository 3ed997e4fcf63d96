# Micro-benchmarks for the broker's topic indexes (subscription trie, retained store), 10k to 1M entries.
#   cmake --build build/bench --target broker_bench && build/bench/bench/broker_bench
if(GW_BUILD_BENCH)
  find_package(benchmark REQUIRED)
  add_executable(broker_bench ${CMAKE_CURRENT_LIST_DIR}/broker_bench.cpp)
  target_link_libraries(broker_bench PRIVATE gw_broker benchmark::benchmark)
  gw_target_warnings(broker_bench)
endif()
