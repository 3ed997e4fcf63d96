# The Debian package (deploy/README.md): `cpack -G DEB` in a build tree, or `cmake --build --preset release
# --target package`. It installs the binary, the service's default configuration as a conffile, the systemd
# unit, the manual page and the documentation; the maintainer scripts in deploy/debian/ add the system user
# and remove state on purge. The architecture is the one the tree builds for, so a cross tree gets its own.
include(GNUInstallDirs)

# The project's own install rules give the binary, the man page, the example config and this README; the files
# only the package has (conffile, unit, Debian changelog and copyright) are added to CPack's staging tree by
# deploy/debian/stage.cmake, so a `cmake --install --prefix ...` never writes /etc or the unit directory.
install(FILES ${PROJECT_SOURCE_DIR}/deploy/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})

set(_deb ${PROJECT_SOURCE_DIR}/deploy/debian)
# Debian wants the unit in systemd's own directory, not under the install prefix (/usr).
pkg_get_variable(GW_SYSTEMD_UNIT_DIR systemd systemdsystemunitdir)
if(NOT GW_SYSTEMD_UNIT_DIR)
  set(GW_SYSTEMD_UNIT_DIR /lib/systemd/system)
endif()
set(CPACK_GW_DEB_DIR ${_deb})
set(CPACK_GW_UNIT_DIR ${GW_SYSTEMD_UNIT_DIR})
set(CPACK_PRE_BUILD_SCRIPTS ${_deb}/stage.cmake)

# dpkg's name for the target architecture: dpkg itself for a native build; for a cross build the
# processor CMake targets (a toolchain file sets CMAKE_SYSTEM_PROCESSOR).
if(CMAKE_CROSSCOMPILING)
  set(_arch_map_aarch64 arm64)
  set(_arch_map_arm64 arm64)
  set(_arch_map_armv7l armhf)
  set(_arch_map_armhf armhf)
  set(_arch_map_arm armhf)
  set(_arch_map_x86_64 amd64)
  set(_arch_map_AMD64 amd64)
  set(_arch_map_i686 i386)
  set(_arch_map_riscv64 riscv64)
  set(GW_DEB_ARCH "${_arch_map_${CMAKE_SYSTEM_PROCESSOR}}")
  if(NOT GW_DEB_ARCH)
    message(WARNING "packaging: no Debian architecture known for ${CMAKE_SYSTEM_PROCESSOR}; set CPACK_DEBIAN_PACKAGE_ARCHITECTURE")
  endif()
else()
  find_program(GW_DPKG dpkg)
  if(GW_DPKG)
    execute_process(COMMAND ${GW_DPKG} --print-architecture OUTPUT_VARIABLE GW_DEB_ARCH OUTPUT_STRIP_TRAILING_WHITESPACE)
  endif()
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME netpie-edge)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
# The package's maintainer: the one value behind the control file's Maintainer, the changelog's trailer and
# the copyright file's Upstream-Contact (tests/packaging/deb_build.sh checks they agree, and agree with the
# OpenWrt package). The project has no mail domain of its own yet: whoever builds a package to publish sets
# their address here (-DGW_PACKAGE_MAINTAINER=...), as Debian's Maintainer field names the packager.
set(GW_PACKAGE_MAINTAINER "netpie-edge maintainers <netpie-edge@example.org>"
    CACHE STRING "Maintainer field of the .deb (name <address>)")
set(CPACK_PACKAGE_CONTACT "${GW_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "MQTT broker and NETPIE-compatible edge gateway")
# The synopsis is CPACK_PACKAGE_DESCRIPTION_SUMMARY; this is the extended description under it.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "An MQTT 3.1, 3.1.1 and 5.0 broker on one event loop with a SQLite store,\na local NETPIE-compatible endpoint for microgear devices, and uplinks that\nrelay messages to the cloud and keep them while it is unreachable.\nRuns as a systemd service.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
if(GW_DEB_ARCH)
  set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE ${GW_DEB_ARCH})
endif()
# Library dependencies from dpkg-shlibdeps; adduser for the postinst.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA "${_deb}/conffiles;${_deb}/postinst;${_deb}/prerm;${_deb}/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# Only the daemon: the tests, benchmarks and static libraries have no install rules.
include(CPack)
