#!/bin/sh
# The side-by-side benchmark in one command: builds a release netpie-edge (CMake preset "release") and the
# load generator, then runs every scenario of bench/scenarios against netpie-edge and Debian's mosquitto
# (defaults, and set_tcp_nodelay true where it matters), alternating them over repeated runs, and prints
# the tables (Markdown on stdout, progress on stderr). Extra arguments go to `netpie-bench suite`, e.g.
#   bench/run.sh                      # 3 runs of everything, ~6 minutes
#   RUNS=5 bench/run.sh --set duration=20
#   bench/run.sh --set duration=2 -- bench/scenarios/1-fan-in.yaml   (scenario files after --)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${RUNS:-3}
mosquitto=${MOSQUITTO:-/usr/sbin/mosquitto}
work=${WORKDIR:-${TMPDIR:-/tmp}/netpie-bench}

cd "$root"
mkdir -p "$work"
echo "== building netpie-edge (preset release) and netpie-bench (build/bench, RelWithDebInfo)" >&2
build() { "$@" >"$work/build.log" 2>&1 || { tail -40 "$work/build.log" >&2; exit 1; }; }
build cmake --preset release
build cmake --build --preset release --target netpie-edge -j2
build cmake -S . -B build/bench -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGW_BUILD_TESTS=OFF
build cmake --build build/bench --target netpie-bench -j2
edge=$root/build/release/gateway/netpie-edge
bench=$root/build/bench/bench/netpie-bench

strip -o "$work/netpie-edge.stripped" "$edge"
size=$(stat -c %s "$work/netpie-edge.stripped")

# Scenario files: those given after "--", else all of bench/scenarios.
args="" files=""
while [ $# -gt 0 ]; do
  if [ "$1" = "--" ]; then shift; files="$*"; break; fi
  args="$args $1"; shift
done
[ -n "$files" ] || files=$(ls "$root"/bench/scenarios/*.yaml)

echo "Command: bench/run.sh $args${files:+ (scenarios: $(echo $files | xargs -n1 basename | tr '\n' ' '))}"
echo "netpie-edge: $(git -C "$root" rev-parse --short HEAD), CMake preset release (MinSizeRel + LTO);" \
     "stripped binary $size bytes (target < 2 MB: $([ "$size" -lt 2097152 ] && echo met || echo NOT met))."
# Certificates for the TLS scenarios (tls: true), made once per work directory.
sh "$root/tests/tls/make-test-ca.sh" "$work/certs" >/dev/null
# shellcheck disable=SC2086
"$bench" suite --edge "$edge" --mosquitto "$mosquitto" --runs "$runs" --workdir "$work/brokers" \
  --raw "$work/raw.tsv" --tls-dir "$work/certs" $args $files
