# Micro-benchmarks for the store's outbox: group-commit throughput at several windows, row caps and
# synchronous modes; the latency group commit adds to an acknowledgement; bytes written per message.
#   cmake --build build/storage --target storage_outbox_bench && build/storage/bench/storage_outbox_bench
# The database goes to $GW_BENCH_DIR (default /var/tmp, a real disk); results are in bench/README.md.
if(GW_BUILD_BENCH)
  find_package(benchmark REQUIRED)
  add_executable(storage_outbox_bench ${CMAKE_CURRENT_LIST_DIR}/storage_outbox_bench.cpp)
  target_link_libraries(storage_outbox_bench PRIVATE gw_storage benchmark::benchmark)
  gw_target_warnings(storage_outbox_bench)
endif()
# The feed store: durable feed writes per second, bytes written per million points, and the query times
# of 30 days of 1 Hz points (storage/README.md "Feeds"; results in bench/README.md "Store: feeds").
#   cmake --build build/storage --target storage_feed_bench && build/storage/bench/storage_feed_bench
if(GW_BUILD_BENCH)
  add_executable(storage_feed_bench ${CMAKE_CURRENT_LIST_DIR}/storage_feed_bench.cpp)
  target_link_libraries(storage_feed_bench PRIVATE gw_storage)
  gw_target_warnings(storage_feed_bench)
endif()
