# The build against mbedTLS 3.6 (label mbedtls3): one CTest test that builds the vendored 3.6 tarball and a
# second tree of the project against it, and runs the TLS, uplink, gearauth and microgear tests there
# (build_and_test.sh). Skipped, with the reason, when the tarball is absent. It runs integration tests that
# bind the official microgear's fixed ports on fixed loopback addresses, so it shares a resource lock with
# the same tests of this tree.
add_test(NAME mbedtls3
         COMMAND /bin/sh ${CMAKE_CURRENT_LIST_DIR}/build_and_test.sh ${PROJECT_SOURCE_DIR} ${CMAKE_BINARY_DIR}/mbedtls3)
set_tests_properties(mbedtls3 PROPERTIES LABELS mbedtls3 TIMEOUT 1800 SKIP_RETURN_CODE 77
                                         RESOURCE_LOCK netpie_fixed_addresses)
foreach(_t uplink_tls uplink_netpie microgear gearauth_bad_input microgear_recovery tls_microgear)
  if(TEST integration.${_t})
    set_tests_properties(integration.${_t} PROPERTIES RESOURCE_LOCK netpie_fixed_addresses)
  endif()
endforeach()
