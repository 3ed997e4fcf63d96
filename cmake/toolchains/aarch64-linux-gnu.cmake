# Cross-compiling for arm64 (aarch64-linux-gnu) with Debian's cross toolchain (crossbuild-essential-arm64) and multiarch
# -dev packages (libuv1-dev:arm64, ...): deploy/install-deps.sh --cross installs both. Programs built for the
# target (unit tests, gtest discovery) run under qemu-user with the target's libraries from /usr/aarch64-linux-gnu,
# so no binfmt_misc registration is needed.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
# Debian 12 ships no <triplet>-pkg-config wrapper: the host pkg-config reads the target's .pc files only.
set(PKG_CONFIG_EXECUTABLE pkg-config CACHE FILEPATH "pkg-config")
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64-static -L /usr/aarch64-linux-gnu)
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE arm64)
