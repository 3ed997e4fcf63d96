#!/usr/bin/env bash
# Installs every Debian and npm package that building netpie-edge and running its test suite need.
# Idempotent and non-interactive: safe to run on every CI run and on a fresh Debian 12 machine.
set -euo pipefail

DEB_PACKAGES=(
  # build
  build-essential cmake ninja-build pkg-config clang clang-format clang-tidy libclang-rt-14-dev
  libuv1-dev libmbedtls-dev libsqlite3-dev sqlite3 libyaml-cpp-dev nlohmann-json3-dev libcli11-dev
  libhttp-parser-dev libcoap3-dev libgtest-dev libgmock-dev libbenchmark-dev
  # test peers
  mosquitto mosquitto-clients python3 python3-paho-mqtt libcoap3-bin curl openssl
  socat  # a TLS terminator in front of a gateway standing in for the NETPIE cloud (test_uplink_tls.py)
  # integration-test runner (Debian pytest under /usr/bin/python3, with per-test timeouts)
  python3-pytest python3-pytest-timeout
  # packaging tests (ctest -L packaging): the .deb, its unit and the OpenWrt init script
  lintian shellcheck systemd dpkg-dev fakeroot file
)
# Node.js and npm: the machine image may ship its own Node 20 with npm; Debian's are used only when absent.
if ! command -v npm >/dev/null 2>&1; then DEB_PACKAGES+=(nodejs npm); fi

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi

missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The broker package starts a system mosquitto on 1883; tests use their own instances on port 0-style
# ports, so the system service is stopped to keep 127.0.0.1:1883 free for tests that need fixed ports.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet mosquitto 2>/dev/null; then
  $SUDO systemctl stop mosquitto || true
fi
pkill -x mosquitto 2>/dev/null || true

# npm test peers (MQTT.js and the official NETPIE microgear), pinned in tests/integration/package.json.
here="$(cd "$(dirname "$0")/.." && pwd)"
if [ -f "$here/tests/integration/package.json" ]; then
  (cd "$here/tests/integration" && { [ -f package-lock.json ] && npm ci --no-audit --no-fund --silent || npm install --no-audit --no-fund --silent; })
fi
echo "install-deps: done"
