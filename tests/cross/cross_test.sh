#!/bin/sh
# The gateway cross-built for a Raspberry Pi / router architecture (arm64 or armhf) with Debian's cross
# toolchain and multiarch packages (deploy/install-deps.sh --cross installs them), through the presets
# <arch>-release: configure, build, report the stripped daemon's size, run the unit tests under qemu-user,
# and with --itest also integration tests against the emulated daemon (an MQTT round trip with
# mosquitto_pub/sub, a microgear login, a SIGKILL durability round). Exits 77 (CTest: skipped) with the
# reason when the toolchain or qemu is missing.
# Usage: cross_test.sh <source dir> <arch: arm64|armhf> [--itest]
set -eu
src=$1 arch=$2 itest=${3:-}
case $arch in
  arm64) triplet=aarch64-linux-gnu qemu=qemu-aarch64-static loader=/lib/ld-linux-aarch64.so.1 ;;
  armhf) triplet=arm-linux-gnueabihf qemu=qemu-arm-static loader=/lib/ld-linux-armhf.so.3 ;;
  *) echo "unknown architecture $arch"; exit 2 ;;
esac
for tool in "$triplet-g++" "$qemu"; do
  command -v "$tool" >/dev/null 2>&1 || { echo "SKIPPED: $tool is not installed (deploy/install-deps.sh --cross)"; exit 77; }
done
# The target's own loader and libc (libc6:<arch>): qemu runs the binaries with them (-L /, see the toolchain file).
[ -e "$loader" ] || { echo "SKIPPED: $loader is missing (libc6:$arch; deploy/install-deps.sh --cross)"; exit 77; }
for lib in libuv.so libmbedtls.so libsqlite3.so libyaml-cpp.so.0.7 libhttp_parser.so.2.9 libgtest.a; do
  [ -e "/usr/lib/$triplet/$lib" ] || { echo "SKIPPED: /usr/lib/$triplet/$lib is missing (deploy/install-deps.sh --cross)"; exit 77; }
done
src=$(cd "$src" && pwd)
cd "$src"
cmake --preset "$arch-release" >/dev/null
cmake --build --preset "$arch-release"
bin=build/$arch-release/gateway/netpie-edge
file "$bin" 2>/dev/null || true
"$triplet-strip" -o "build/$arch-release/netpie-edge.stripped" "$bin"
echo "stripped $arch binary: $(wc -c < "build/$arch-release/netpie-edge.stripped") bytes"
"$qemu" -L / "$bin" --version
ctest --preset "$arch-release"
if [ "$itest" = --itest ]; then
  # The emulated daemon (build/<arch>-release/netpie-edge-emulated execs it under qemu) against clients we did
  # not write: QoS round trips with mosquitto_pub/sub, the official Node microgear's login, alias and chat, and
  # SIGKILL durability (3 kills: each restart under emulation takes a few seconds).
  tmp=$PWD/build/$arch-release/itest-tmp
  cd tests/integration
  export NETPIE_EDGE_BIN="$src/build/$arch-release/netpie-edge-emulated" ITEST_BROKER=netpie-edge PYTHONDONTWRITEBYTECODE=1
  /usr/bin/python3 run_pytest.py test_qos.py -k "test_qos_roundtrip and mqttv311" --basetemp="$tmp/qos"
  /usr/bin/python3 run_pytest.py test_microgear.py -k test_two_microgears_set_aliases_chat_and_share_app_topics \
    --basetemp="$tmp/microgear"
  DURA_KILLS=3 /usr/bin/python3 run_pytest.py test_durability.py --basetemp="$tmp/durability"
fi
