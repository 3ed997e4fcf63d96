# The benchmark's CI smoke run (label bench-smoke): every scenario of bench/scenarios for a fraction of a
# second against netpie-edge, and against Debian's mosquitto when it is installed, through the same
# netpie-bench suite that bench/run.sh uses. It keeps the tool working; it asserts no performance figure.
if(GW_BUILD_BENCH)
  add_test(NAME bench_smoke
           COMMAND /bin/sh ${CMAKE_CURRENT_LIST_DIR}/bench_smoke.sh $<TARGET_FILE:netpie-bench>
                   $<TARGET_FILE:netpie-edge> ${PROJECT_SOURCE_DIR}/bench/scenarios
                   ${CMAKE_CURRENT_BINARY_DIR}/bench-smoke)
  set_tests_properties(bench_smoke PROPERTIES LABELS bench-smoke TIMEOUT 300)
endif()
