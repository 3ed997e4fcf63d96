# The part of the Debian cross toolchain files (cmake/toolchains/<triplet>.cmake) that is the same for every
# architecture; each file sets GW_CROSS_TRIPLET, GW_CROSS_PROCESSOR, GW_CROSS_QEMU and GW_CROSS_DEB_ARCH first.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR ${GW_CROSS_PROCESSOR})
set(CMAKE_C_COMPILER ${GW_CROSS_TRIPLET}-gcc)
set(CMAKE_CXX_COMPILER ${GW_CROSS_TRIPLET}-g++)
set(CMAKE_LIBRARY_ARCHITECTURE ${GW_CROSS_TRIPLET})
# Debian 12 ships no <triplet>-pkg-config wrapper: the host pkg-config reads the target's .pc files only.
set(PKG_CONFIG_EXECUTABLE pkg-config CACHE FILEPATH "pkg-config")
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/${GW_CROSS_TRIPLET}/pkgconfig:/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
# The loader and libc must come from one glibc build. `-L /usr/${GW_CROSS_TRIPLET}` would take the loader from
# libc6-<arch>-cross (the loader under that prefix) while the loader then finds libc.so.6 of libc6:<arch>
# in /lib/${GW_CROSS_TRIPLET} (the multiarch -dev packages depend on it): two glibc builds, which
# share private state (_rtld_global, GLIBC_PRIVATE) valid only within one build (Debian 12: 2.36-8cross1 vs
# 2.36-9+deb12u*), so the first pthread_create walks
# a garbage stack-cache list forever (100% CPU, no syscall; the store's first std::thread hung). `-L /` takes
# both from libc6:<arch>, as on the device; it also overrides any QEMU_LD_PREFIX in the environment.
set(CMAKE_CROSSCOMPILING_EMULATOR ${GW_CROSS_QEMU} -L /)
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE ${GW_CROSS_DEB_ARCH})
