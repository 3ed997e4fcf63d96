# Cross-compiling for armhf (arm-linux-gnueabihf) with Debian's cross toolchain (crossbuild-essential-armhf) and multiarch
# -dev packages (libuv1-dev:armhf, ...): deploy/install-deps.sh --cross installs both. Programs built for the
# target (unit tests, gtest discovery) run under qemu-user with the target's multiarch
# libraries (/lib/arm-linux-gnueabihf, libc6:<arch>), so no binfmt_misc registration is needed.
set(GW_CROSS_TRIPLET arm-linux-gnueabihf)
set(GW_CROSS_PROCESSOR armv7l)
set(GW_CROSS_QEMU qemu-arm-static)
set(GW_CROSS_DEB_ARCH armhf)
include(${CMAKE_CURRENT_LIST_DIR}/debian-cross.cmake)
