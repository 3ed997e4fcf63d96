#!/bin/sh
# The project against mbedTLS 3.6 LTS (what Debian 13, Raspberry Pi OS and OpenWrt 24.10 ship), on a machine
# whose system mbedTLS is 2.28: builds the vendored 3.6 source tarball into a prefix (once; reused while it
# exists), configures a second build tree of the project against that prefix, checks that the binary really
# runs with 3.6, and runs every test that exercises mbedTLS: TLS, the uplink (TLS and token flow), gearauth
# and microgear signatures, password hashes, and the integration tests over TLS and with the official microgear.
# Exits 77 (CTest: skipped) with the reason when the tarball is not there (NETPIE_SHARED_DIR names another
# shared/ folder, e.g. for a worktree).
# Usage: build_and_test.sh <project source dir> <work dir>
set -eu
src=$1 work=$2
shared=${NETPIE_SHARED_DIR:-$src/../shared}  # the shared/ folder beside the checkout, unless named
tarball=$shared/vendor/mbedtls-3.6.6.tar.gz
if [ ! -f "$tarball" ]; then
  echo "SKIPPED: the mbedTLS 3.6 source tarball is not at $tarball (set NETPIE_SHARED_DIR to the folder that has vendor/)"
  exit 77
fi
mkdir -p "$work"
prefix=$work/mbedtls-3.6.6
if [ ! -f "$prefix/lib/cmake/MbedTLS/MbedTLSConfig.cmake" ]; then
  rm -rf "$work/mbedtls-src"
  mkdir -p "$work/mbedtls-src"
  tar xzf "$tarball" -C "$work/mbedtls-src"
  cmake -S "$work/mbedtls-src/mbedtls-3.6.6" -B "$work/mbedtls-src/build" -G Ninja -DENABLE_TESTING=OFF \
    -DENABLE_PROGRAMS=OFF -DGEN_FILES=OFF -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" >/dev/null
  cmake --build "$work/mbedtls-src/build" >/dev/null
  cmake --install "$work/mbedtls-src/build" >/dev/null
  rm -rf "$work/mbedtls-src"
fi

cmake -S "$src" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGW_WERROR=ON -DGW_BUILD_BENCH=OFF \
  -DCMAKE_PREFIX_PATH="$prefix" > "$work/configure.log"
grep -q -- '-- mbedTLS: 3\.6\.6' "$work/configure.log" || { cat "$work/configure.log"; echo "FAIL: CMake did not pick mbedTLS 3.6.6"; exit 1; }
units="net_tls_test tls_interop_test uplink_tls_loop_test uplink_unit_tests uplink_loop_test microgear_unit_tests netpie_unit_tests config_test broker_test"
# shellcheck disable=SC2086
cmake --build "$work/build" --target netpie-edge $units

# The headers, the library linked and the library loaded must all be 3.6.6 (a target compiled against the
# system's 2.28 headers would still link, and be silently wrong).
"$work/build/gateway/netpie-edge" --version
"$work/build/gateway/netpie-edge" --version | grep -qx 'mbedTLS 3\.6\.6' || { echo "FAIL: the daemon does not run with mbedTLS 3.6.6"; exit 1; }

sh "$src/tests/tls/make-test-ca.sh" "$work/build/tls-test-ca"  # what the tls_test_ca fixture makes
for t in $units; do
  echo "== $t"
  "$work/build/tests/$t" --gtest_brief=1
done
ctest --test-dir "$work/build" --output-on-failure -R '^integration\.(uplink_tls|uplink_netpie|microgear|gearauth_bad_input|microgear_recovery|tls_listeners|tls_microgear)$'
