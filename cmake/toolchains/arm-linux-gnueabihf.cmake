# Cross-compiling for armhf (arm-linux-gnueabihf) with Debian's cross toolchain (crossbuild-essential-armhf) and multiarch
# -dev packages (libuv1-dev:armhf, ...): deploy/install-deps.sh --cross installs both. Programs built for the
# target (unit tests, gtest discovery) run under qemu-user with the target's multiarch
# libraries (/lib/arm-linux-gnueabihf, libc6:<arch>), so no binfmt_misc registration is needed.
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
# The loader and libc must come from one glibc build. `-L /usr/arm-linux-gnueabihf` would take the loader from
# libc6-<arch>-cross (/lib/ld-linux-armhf.so.3 under that prefix) while the loader then finds libc.so.6 of libc6:<arch>
# in /lib/arm-linux-gnueabihf (the multiarch -dev packages depend on it): two glibc builds, which
# share private state (_rtld_global, GLIBC_PRIVATE) valid only within one build (Debian 12: 2.36-8cross1 vs
# 2.36-9+deb12u*), so the first pthread_create walks
# a garbage stack-cache list forever (100% CPU, no syscall; the store's first std::thread hung). `-L /` takes
# both from libc6:<arch>, as on the device; it also overrides any QEMU_LD_PREFIX in the environment.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-arm-static -L /)
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE armhf)
