# The cross builds (label cross), registered in native trees only: one test per architecture runs
# tests/cross/cross_test.sh, which configures and builds the <arch>-release preset (build/<arch>-release in
# the source tree), prints the stripped daemon's size and runs the unit tests under qemu-user; arm64 also
# runs integration tests against its emulated daemon. Each skips (77), naming what is missing, without the
# cross toolchain, qemu or the multiarch libraries (deploy/install-deps.sh --cross). Both build from
# scratch at most once per CI run (ccache makes later runs cheap). The arm64 run starts the official
# microgear on its fixed loopback addresses, so it shares their resource lock (tests/mbedtls3/mbedtls3.cmake).
if(NOT CMAKE_CROSSCOMPILING)
  add_test(NAME cross.arm64 COMMAND /bin/sh ${CMAKE_CURRENT_LIST_DIR}/cross_test.sh ${PROJECT_SOURCE_DIR} arm64 --itest)
  # armhf is opt-in (GW_CROSS_ARMHF=ON) for CI time only: a second cross build and its unit tests under qemu-arm
  # would add minutes to every CI run while arm64 already covers the cross path (its units pass; see
  # deploy/README.md for the time it takes). Without it CI neither builds nor tests armhf.
  option(GW_CROSS_ARMHF "Also build for armhf and run its unit tests under qemu-arm (label cross)" OFF)
  if(GW_CROSS_ARMHF)
    add_test(NAME cross.armhf COMMAND /bin/sh ${CMAKE_CURRENT_LIST_DIR}/cross_test.sh ${PROJECT_SOURCE_DIR} armhf)
    set_tests_properties(cross.armhf PROPERTIES LABELS cross TIMEOUT 2400 SKIP_RETURN_CODE 77)
  endif()
  set_tests_properties(cross.arm64 PROPERTIES LABELS cross TIMEOUT 2400 SKIP_RETURN_CODE 77
                                              RESOURCE_LOCK netpie_fixed_addresses)
endif()
