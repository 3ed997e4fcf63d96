#!/usr/bin/env bash
# Installs the Debian packages that building and running netpie-edge need; with --test, also what its
# test suite needs (test peers, tools, the npm test clients). Usage:
#   deploy/install-deps.sh           build + run (README's first command)
#   deploy/install-deps.sh --test    build + run + tests (README's second command, .ci/run), with --cross
#   deploy/install-deps.sh --cross   build + run + the arm64/armhf cross builds' toolchains, qemu-user, multiarch
#                                    libraries (the ctest label `cross`; tests/cross/cross_test.sh)
#   deploy/install-deps.sh --check [--test]   install nothing; list what is missing, exit 1 if anything is
# Idempotent and non-interactive: it says what it installed, or "nothing to install". It installs and never
# stops, kills or reconfigures anything: a Mosquitto broker (the system service the mosquitto package
# starts, or any other) is left running. Tests bind port 0, or their own 127.0.x.y loopback addresses, which
# Debian's default broker (127.0.0.1 and ::1 port 1883) does not block; the one test of the embedded default on
# 127.0.0.1:1883 skips, naming the holder, when that port is taken.
set -euo pipefail

test_deps=no
cross_deps=no
check=no
for arg in "$@"; do
  case "$arg" in
    --test) test_deps=yes cross_deps=yes ;;
    --cross) cross_deps=yes ;;
    --check) check=yes ;;
    -h | --help) sed -n '2,/^set /s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "install-deps: unknown argument $arg (try --help)" >&2; exit 2 ;;
  esac
done

DEB_PACKAGES=(
  # build and run
  build-essential cmake ninja-build pkg-config
  libuv1-dev libmbedtls-dev libsqlite3-dev libyaml-cpp-dev nlohmann-json3-dev libcli11-dev
  libhttp-parser-dev libcoap3-dev
)
if [ "$test_deps" = yes ]; then
  DEB_PACKAGES+=(
    # unit tests, benchmarks, the asan preset (clang's sanitizer runtime), format and lint
    libgtest-dev libgmock-dev libbenchmark-dev clang clang-format clang-tidy libclang-rt-14-dev
    # test peers
    mosquitto mosquitto-clients python3 python3-paho-mqtt libcoap3-bin curl openssl sqlite3
    chromium  # headless browser tests (WebSocket listeners, the HTML5 microgear, the status page)
    prometheus  # a real Prometheus scrapes /metrics; promtool checks the exposition format
    socat  # a TLS terminator in front of a gateway standing in for the NETPIE cloud (test_uplink_tls.py)
    iproute2  # ss: the CoAP listeners' socket receive buffer (test_coap.py)
    man-db  # `man -l` renders netpie-edge.8 in test_setup.py
    libjs-jquery  # jQuery for NETPIE's Freeboard feed datasource in Chromium (test_feeds.py)
    # integration-test runner (Debian pytest under /usr/bin/python3, with per-test timeouts)
    python3-pytest python3-pytest-timeout
    # packaging tests (ctest -L packaging): the .deb, its unit and the OpenWrt init script
    lintian shellcheck systemd dpkg-dev fakeroot file
  )
  # Node.js and npm: the machine image may ship its own Node 20 with npm; Debian's are used only when absent.
  if ! command -v npm >/dev/null 2>&1; then DEB_PACKAGES+=(nodejs npm); fi
fi

CROSS_ARCHS=(arm64 armhf)
if [ "$cross_deps" = yes ]; then
  # Cross builds (cmake/toolchains): Debian's cross toolchains, qemu-user to run the target's binaries, and
  # the target's libraries as multiarch packages. yaml-cpp and http-parser only as runtime libraries: their
  # Debian 12 -dev packages are not co-installable across architectures (installing libyaml-cpp-dev:armhf
  # removes libyaml-cpp-dev:amd64 and breaks the native build); CMakeLists.txt pairs the host's headers with
  # the target's shared library instead.
  DEB_PACKAGES+=(qemu-user-static binfmt-support)
  for a in "${CROSS_ARCHS[@]}"; do
    DEB_PACKAGES+=("crossbuild-essential-$a" "libc6:$a" "libuv1-dev:$a" "libmbedtls-dev:$a" "libsqlite3-dev:$a"
      "libgtest-dev:$a" "libgmock-dev:$a" "libyaml-cpp0.7:$a" "libhttp-parser2.9:$a" "libcoap3-dev:$a")
  done
fi

missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

# npm test peers (MQTT.js, node-coap and the official NETPIE microgear), pinned in tests/integration/package-lock.json.
# node_modules is current when it was made from this very lock file (the stamp holds the lock's hash).
here="$(cd "$(dirname "$0")/.." && pwd)"
npm_dir="$here/tests/integration"
npm_stamp="$npm_dir/node_modules/.install-deps.sha256"
npm_missing=no
if [ "$test_deps" = yes ]; then
  want="$(sha256sum "$npm_dir/package-lock.json" | cut -d' ' -f1)"
  if [ ! -f "$npm_stamp" ] || [ "$(cat "$npm_stamp")" != "$want" ]; then npm_missing=yes; fi
fi

if [ "$check" = yes ]; then
  if [ ${#missing[@]} -eq 0 ] && [ "$npm_missing" = no ]; then
    echo "install-deps: nothing to install"
    exit 0
  fi
  [ ${#missing[@]} -eq 0 ] || echo "install-deps: missing Debian packages: ${missing[*]}"
  [ "$npm_missing" = no ] || echo "install-deps: missing npm packages of tests/integration/package-lock.json"
  exit 1
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Foreign architectures are added only when a package of theirs is missing and they are not there yet.
  for a in "${CROSS_ARCHS[@]}"; do
    if [[ " ${missing[*]} " == *":$a "* ]] && ! dpkg --print-foreign-architectures | grep -qx "$a"; then
      $SUDO dpkg --add-architecture "$a"
    fi
  done
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  echo "install-deps: installed Debian packages: ${missing[*]}"
fi

if [ "$npm_missing" = yes ]; then
  # npm runs as the owner of the source tree (the user who ran sudo), never as root into someone else's
  # checkout: node_modules stays theirs.
  owner="$(stat -c %U "$npm_dir")"
  as_owner=()
  if [ "$(id -u)" = 0 ] && [ "$owner" != root ]; then
    as_owner=(runuser -u "$owner" -- env HOME="$(getent passwd "$owner" | cut -d: -f6)")
  fi
  echo "install-deps: installing npm packages of tests/integration/package-lock.json as $owner"
  (cd "$npm_dir" && "${as_owner[@]}" npm ci --no-audit --no-fund --silent)
  # shellcheck disable=SC2016  # $1 and $2 are the inner shell's arguments
  (cd "$npm_dir" && "${as_owner[@]}" sh -c 'echo "$1" >"$2"' sh "$want" "$npm_stamp")
  echo "install-deps: installed npm packages: $(cd "$npm_dir" && node -p \
    "Object.entries(require('./package.json').dependencies).map(([n, v]) => n + '@' + v).join(' ')")"
fi

if [ ${#missing[@]} -eq 0 ] && [ "$npm_missing" = no ]; then
  echo "install-deps: nothing to install"
fi
