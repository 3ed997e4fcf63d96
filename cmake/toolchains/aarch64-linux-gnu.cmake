# Cross-compiling for arm64 (aarch64-linux-gnu) with Debian's cross toolchain (crossbuild-essential-arm64) and multiarch
# -dev packages (libuv1-dev:arm64, ...): deploy/install-deps.sh --cross installs both. Programs built for the
# target (unit tests, gtest discovery) run under qemu-user with the target's multiarch
# libraries (/lib/aarch64-linux-gnu, libc6:<arch>), so no binfmt_misc registration is needed.
set(GW_CROSS_TRIPLET aarch64-linux-gnu)
set(GW_CROSS_PROCESSOR aarch64)
set(GW_CROSS_QEMU qemu-aarch64-static)
set(GW_CROSS_DEB_ARCH arm64)
include(${CMAKE_CURRENT_LIST_DIR}/debian-cross.cmake)
