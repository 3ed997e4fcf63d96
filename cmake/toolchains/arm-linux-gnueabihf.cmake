# Cross-compiling for armhf (arm-linux-gnueabihf) with Debian's cross toolchain (crossbuild-essential-armhf) and multiarch
# -dev packages (libuv1-dev:armhf, ...): deploy/install-deps.sh --cross installs both. Programs built for the
# target (unit tests, gtest discovery) run under qemu-user with the target's libraries from /usr/arm-linux-gnueabihf,
# so no binfmt_misc registration is needed.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR armv7l)
set(CMAKE_C_COMPILER arm-linux-gnueabihf-gcc)
set(CMAKE_CXX_COMPILER arm-linux-gnueabihf-g++)
set(CMAKE_LIBRARY_ARCHITECTURE arm-linux-gnueabihf)
# Debian 12 ships no <triplet>-pkg-config wrapper: the host pkg-config reads the target's .pc files only.
set(PKG_CONFIG_EXECUTABLE pkg-config CACHE FILEPATH "pkg-config")
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/arm-linux-gnueabihf/pkgconfig:/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-arm-static -L /usr/arm-linux-gnueabihf)
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE armhf)
