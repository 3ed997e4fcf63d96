# CPack pre-build script of the Debian package (deploy/packaging.cmake, CPACK_PRE_BUILD_SCRIPTS): runs on
# CPack's staging tree after the project's install rules, so the files only the package has stay out of a
# plain `cmake --install`: the conffile in /etc and the systemd unit (which live outside the /usr prefix),
# the Debian changelog and copyright (with the maintainer filled in), and the manual page compressed (Debian policy 12.1; gateway/ installs it as written).
set(_root "${CPACK_TEMPORARY_INSTALL_DIRECTORY}")
if(NOT EXISTS "${_root}${CPACK_PACKAGING_INSTALL_PREFIX}/bin/netpie-edge")
  message(FATAL_ERROR "stage.cmake: no staged binary under ${_root}${CPACK_PACKAGING_INSTALL_PREFIX}")
endif()
file(COPY "${CPACK_GW_DEB_DIR}/netpie-edge.yaml" DESTINATION "${_root}/etc/netpie-edge")
file(COPY "${CPACK_GW_DEB_DIR}/netpie-edge.service" DESTINATION "${_root}${CPACK_GW_UNIT_DIR}")
set(_doc "${_root}${CPACK_PACKAGING_INSTALL_PREFIX}/share/doc/netpie-edge")
configure_file("${CPACK_GW_DEB_DIR}/copyright" "${_doc}/copyright" @ONLY)
configure_file("${CPACK_GW_DEB_DIR}/changelog" "${_doc}/changelog" @ONLY)
# file(COPY), not file(INSTALL), which would put the files under $DESTDIR a second time. -n: no name or timestamp in the gzip header, so the package is reproducible.
execute_process(COMMAND gzip -9nf "${_doc}/changelog" "${_root}${CPACK_PACKAGING_INSTALL_PREFIX}/share/man/man8/netpie-edge.8"
                COMMAND_ERROR_IS_FATAL ANY)
