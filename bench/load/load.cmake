# netpie-bench: the libuv load generator and the side-by-side suite runner (bench/run.sh drives it).
# It reuses the project's MQTT codec (gw_mqtt) for every packet it sends and parses.
add_executable(netpie-bench
  ${CMAKE_CURRENT_LIST_DIR}/broker_process.cpp
  ${CMAKE_CURRENT_LIST_DIR}/client.cpp
  ${CMAKE_CURRENT_LIST_DIR}/drain.cpp
  ${CMAKE_CURRENT_LIST_DIR}/load_run.cpp
  ${CMAKE_CURRENT_LIST_DIR}/main.cpp
  ${CMAKE_CURRENT_LIST_DIR}/proc_stats.cpp
  ${CMAKE_CURRENT_LIST_DIR}/scenario.cpp
  ${CMAKE_CURRENT_LIST_DIR}/suite.cpp)
target_link_libraries(netpie-bench PRIVATE gw_mqtt gw_tls gw_websocket PkgConfig::LIBUV yaml-cpp)
gw_target_warnings(netpie-bench)
