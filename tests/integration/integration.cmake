# Integration tests: the real netpie-edge daemon driven by real clients (mosquitto_pub/sub, paho, MQTT.js).
# One CTest test per tests/integration/test_*.py file, so `ctest -j2` runs files in parallel; every file starts
# its own daemons on port 0. Runner: Debian's pytest under /usr/bin/python3 (it has paho-mqtt); run_pytest.py
# turns "no tests collected" into a failure. GW_ITEST_MOSQUITTO=ON also registers every file against Debian's
# mosquitto broker (label integration-mosquitto), which checks the tests themselves.
set(GW_ITEST_PYTHON /usr/bin/python3 CACHE FILEPATH "Python with pytest and paho-mqtt for the integration tests")
option(GW_ITEST_MOSQUITTO "Also run the integration tests against Debian's mosquitto broker" OFF)

set(_itest_dir ${CMAKE_CURRENT_LIST_DIR})
file(GLOB _itest_files CONFIGURE_DEPENDS ${_itest_dir}/test_*.py)

if(TARGET netpie-edge)
  set(_itest_bin $<TARGET_FILE:netpie-edge>)
  if(CMAKE_CROSSCOMPILING_EMULATOR)
    # A cross build (cmake/toolchains): the tests start the target's daemon through the emulator, from a
    # script that execs it, so the pid the tests signal (SIGTERM, SIGKILL) is the daemon's.
    list(JOIN CMAKE_CROSSCOMPILING_EMULATOR " " _itest_emu)
    file(GENERATE OUTPUT ${CMAKE_BINARY_DIR}/netpie-edge-emulated
         CONTENT "#!/bin/sh\nexec ${_itest_emu} $<TARGET_FILE:netpie-edge> \"$@\"\n"
         FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
    set(_itest_bin ${CMAKE_BINARY_DIR}/netpie-edge-emulated)
  endif()
else()
  # The daemon target does not exist yet: the tests are still registered, and fail saying why.
  message(WARNING "integration tests: no netpie-edge target; they will fail until it exists")
  set(_itest_bin ${CMAKE_BINARY_DIR}/netpie-edge-target-missing)
endif()

foreach(_file ${_itest_files})
  get_filename_component(_name ${_file} NAME_WE)
  string(REGEX REPLACE "^test_" "" _name ${_name})
  add_test(NAME integration.${_name}
           COMMAND ${GW_ITEST_PYTHON} ${_itest_dir}/run_pytest.py ${_file} --basetemp=${CMAKE_CURRENT_BINARY_DIR}/itest-tmp/${_name}
           WORKING_DIRECTORY ${_itest_dir})
  set_tests_properties(integration.${_name} PROPERTIES
                       LABELS integration TIMEOUT 600
                       ENVIRONMENT "NETPIE_EDGE_BIN=${_itest_bin};ITEST_BROKER=netpie-edge;PYTHONDONTWRITEBYTECODE=1")
  if(GW_ITEST_MOSQUITTO)
    add_test(NAME integration-mosquitto.${_name}
             COMMAND ${GW_ITEST_PYTHON} ${_itest_dir}/run_pytest.py ${_file} --basetemp=${CMAKE_CURRENT_BINARY_DIR}/itest-tmp/mosquitto-${_name}
             WORKING_DIRECTORY ${_itest_dir})
    set_tests_properties(integration-mosquitto.${_name} PROPERTIES
                         LABELS integration-mosquitto TIMEOUT 600
                         ENVIRONMENT "NETPIE_EDGE_BIN=${_itest_bin};ITEST_BROKER=mosquitto;PYTHONDONTWRITEBYTECODE=1")
  endif()
endforeach()

# test_ops_page binds the official microgear's fixed ports (8080, 1883) on its own 127.0.45.1.
if(TEST integration.ops_page)
  set_tests_properties(integration.ops_page PROPERTIES RESOURCE_LOCK netpie_fixed_addresses)
endif()

# test_browser_ws binds the HTML5 microgear's fixed ports (1883, 8080, 8083) on its own 127.0.43.1.
if(TEST integration.browser_ws)
  set_tests_properties(integration.browser_ws PROPERTIES RESOURCE_LOCK netpie_fixed_addresses)
endif()
