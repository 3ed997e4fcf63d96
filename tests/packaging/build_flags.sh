#!/bin/sh
# Builds the daemon the way packagers do, without a preset (so GW_WERROR is off, as in a distribution's own
# build): GCC with Debian's dpkg-buildflags (-O2, hardening), GCC at -O3, and clang at -Os (OpenWrt's
# optimisation). Each must configure and build; the built daemon must start far enough to print --version.
# One tree per build under <work dir>, daemon target only (no tests, no bench), so this stays a few minutes.
# Usage: build_flags.sh <source dir> <work dir> <gcc-o2|gcc-o3|clang-os>
set -eu
src=$1 work=$2 kind=$3
case $kind in
  gcc-o2)
    command -v dpkg-buildflags >/dev/null 2>&1 || { echo "SKIPPED: dpkg-buildflags (dpkg-dev) is not installed"; exit 77; }
    cc=gcc cxx=g++ cflags=$(dpkg-buildflags --get CFLAGS) cxxflags=$(dpkg-buildflags --get CXXFLAGS)
    ldflags=$(dpkg-buildflags --get LDFLAGS) ;;
  gcc-o3) cc=gcc cxx=g++ cflags=-O3 cxxflags=-O3 ldflags= ;;
  clang-os)
    command -v clang++ >/dev/null 2>&1 || { echo "SKIPPED: clang++ is not installed"; exit 77; }
    cc=clang cxx=clang++ cflags=-Os cxxflags=-Os ldflags= ;;
  *) echo "unknown build kind $kind"; exit 2 ;;
esac
tree=$work/$kind
rm -rf "$tree"
echo "== $kind: CC=$cc CXX=$cxx CXXFLAGS=$cxxflags"
CC=$cc CXX=$cxx CFLAGS=$cflags CXXFLAGS=$cxxflags LDFLAGS=$ldflags \
  cmake -S "$src" -B "$tree" -G Ninja -DCMAKE_BUILD_TYPE=None -DGW_BUILD_TESTS=OFF -DGW_BUILD_BENCH=OFF >/dev/null
cmake --build "$tree" --target netpie-edge
"$tree/gateway/netpie-edge" --version
