# Unit tests for gateway/base: the log line rate limiter (manual time), the syslog priority of each level,
# the file output and the names of log outputs.
gw_unit_test(NAME base_log_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/base_log_test.cpp
  LIBS gw_base)
