# Packaging tests (label `packaging`, deploy/README.md): the .deb built with CPack and checked (contents,
# lintian, systemd-analyze verify on the unit, install/remove/purge on this machine when asked), the OpenWrt
# init script (shellcheck, a run against stub procd functions), and integration.sd_notify (the daemon under
# a fake service manager). A test whose tool is missing exits 77 and is reported as skipped, saying why.
set(_pkg_dir ${CMAKE_CURRENT_LIST_DIR})
set(_pkg_out ${CMAKE_BINARY_DIR}/packaging-test)

add_test(NAME packaging.deb_build COMMAND sh ${_pkg_dir}/deb_build.sh ${CMAKE_BINARY_DIR} ${_pkg_out}/deb)
set_tests_properties(packaging.deb_build PROPERTIES FIXTURES_SETUP gw_deb)
add_test(NAME packaging.deb_lintian COMMAND sh ${_pkg_dir}/deb_lintian.sh ${_pkg_out}/deb)
add_test(NAME packaging.deb_install COMMAND sh ${_pkg_dir}/deb_install.sh ${_pkg_out}/deb)
set_tests_properties(packaging.deb_lintian packaging.deb_install PROPERTIES FIXTURES_REQUIRED gw_deb)
# Both install and build touch the same package file; the install test also changes the system.
# NETPIE_EDGE_PKG_INSTALL_TEST=1 or CI=true in ctest's environment lets it run.
set_tests_properties(packaging.deb_install PROPERTIES RUN_SERIAL ON)
add_test(NAME packaging.systemd_verify
         COMMAND sh ${_pkg_dir}/systemd_verify.sh ${PROJECT_SOURCE_DIR} $<TARGET_FILE:netpie-edge> ${_pkg_out}/systemd)
add_test(NAME packaging.openwrt_init COMMAND sh ${_pkg_dir}/openwrt_init.sh ${PROJECT_SOURCE_DIR} ${_pkg_out}/openwrt)
set_tests_properties(packaging.openwrt_init PROPERTIES ENVIRONMENT "NETPIE_EDGE_BIN=$<TARGET_FILE:netpie-edge>")

set(_pkg_tests packaging.deb_build packaging.deb_lintian packaging.deb_install packaging.systemd_verify
               packaging.openwrt_init)
set_tests_properties(${_pkg_tests} PROPERTIES LABELS packaging SKIP_RETURN_CODE 77 TIMEOUT 300)
if(TEST integration.sd_notify)
  set_tests_properties(integration.sd_notify PROPERTIES LABELS "integration;packaging")
endif()

# Builds without a preset, as distributions build (label build-flags, tests/packaging/build_flags.sh): GCC
# with dpkg-buildflags (-O2 and -Werror=format-security), GCC at -O3, clang at -Os; the daemon only.
foreach(_kind gcc-o2 gcc-o3 clang-os)
  add_test(NAME build-flags.${_kind}
           COMMAND sh ${_pkg_dir}/build_flags.sh ${PROJECT_SOURCE_DIR} ${CMAKE_BINARY_DIR}/build-flags ${_kind})
  set_tests_properties(build-flags.${_kind} PROPERTIES LABELS build-flags SKIP_RETURN_CODE 77 TIMEOUT 1200)
endforeach()
