# Cross-compiling for arm64 (aarch64-linux-gnu) with Debian's cross toolchain (crossbuild-essential-arm64) and multiarch
# -dev packages (libuv1-dev:arm64, ...): deploy/install-deps.sh --cross installs both. Programs built for the
# target (unit tests, gtest discovery) run under qemu-user with the target's multiarch
# libraries (/lib/aarch64-linux-gnu, libc6:<arch>), so no binfmt_misc registration is needed.
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
# The loader and libc must come from one glibc build. `-L /usr/aarch64-linux-gnu` would take the loader from
# libc6-<arch>-cross (/lib/ld-linux-aarch64.so.1 under that prefix) while the loader then finds libc.so.6 of libc6:<arch>
# in /lib/aarch64-linux-gnu (the multiarch -dev packages depend on it): two glibc builds, which
# share private state (_rtld_global, GLIBC_PRIVATE) valid only within one build (Debian 12: 2.36-8cross1 vs
# 2.36-9+deb12u*), so the first pthread_create walks
# a garbage stack-cache list forever (100% CPU, no syscall; the store's first std::thread hung). `-L /` takes
# both from libc6:<arch>, as on the device; it also overrides any QEMU_LD_PREFIX in the environment.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64-static -L /)
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE arm64)
