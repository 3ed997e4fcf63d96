# The operator's view: the metrics registry and its text format, the access rules, per-protocol counters.
gw_unit_test(NAME ops_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/ops_metrics_test.cpp ${CMAKE_CURRENT_LIST_DIR}/ops_access_test.cpp
  LIBS gw_ops)
