# Unit tests for gateway/config: the YAML loader and its error messages, byte sizes, password hashes, and
# the reload plan (what SIGHUP applies, what waits for a restart).
# They read the shipped conf/netpie-edge.yaml, so the documented defaults cannot drift from the code.
gw_unit_test(NAME config_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/config_loader_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/config_units_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/config_password_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/config_reload_test.cpp
  LIBS gw_config)
target_compile_definitions(config_test PRIVATE
  GW_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
  GW_CONFIG_FIXTURES="${CMAKE_CURRENT_LIST_DIR}/fixtures/config")
