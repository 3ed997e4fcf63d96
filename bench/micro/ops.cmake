# The operator's routes with 10,000 connected clients: loop time of /metrics, /api/v1/status, a client page.
#   cmake --build build/dev --target ops_bench && build/dev/bench/ops_bench
if(GW_BUILD_BENCH)
  find_package(benchmark REQUIRED)
  add_executable(ops_bench ${CMAKE_CURRENT_LIST_DIR}/ops_metrics_bench.cpp)
  target_link_libraries(ops_bench PRIVATE gw_ops benchmark::benchmark)
  gw_target_warnings(ops_bench)
endif()
